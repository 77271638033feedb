#!/usr/bin/env bash
# Builds what scripts/gpu-check.sh needs on a GPU host that has no Rust toolchain, on this
# machine (x86-64 Linux, cargo), offline: the `cruciate` binary with the GPU route
# (--features gpu) and the parity test binary, stripped, plus the MRNet parity fixture files
# those tests read. Copy DIR to the GPU host and run
#   CRUCIATE_GPU_BIN=DIR CRUCIATE_PARITY_FIXTURE=DIR/mrnet-s1 scripts/gpu-check.sh
#
#   scripts/gpu-bundle.sh DIR        # CRUCIATE_FIXTURES: where parity/mrnet-s1 is read from
#
# oneDNN is left out (CRUCIATE_DNNL=off) unless CRUCIATE_DNNL says otherwise: the GPU needs it
# not, and a binary linked to it does not start on a host without libdnnl.so.2 (as found on
# the lent GPU host). With CRUCIATE_DNNL=required the host needs Debian's libdnnl2 too.
set -euo pipefail
export CRUCIATE_DNNL="${CRUCIATE_DNNL:-off}"
dir=${1:?usage: scripts/gpu-bundle.sh DIR}
cd "$(dirname "$0")/.."
fixtures="${CRUCIATE_FIXTURES:-../shared/fixtures}/parity/mrnet-s1"
mkdir -p "$dir/mrnet-s1"
cargo build --release -q -p cruciate --features gpu
parity=$(cargo test --release -q -p cruciate-models --features vulkan --test parity --no-run \
    --message-format json | python3 -c '
import json, sys
for line in sys.stdin:
    m = json.loads(line)
    if m.get("reason") == "compiler-artifact" and m["target"]["name"] == "parity" and m.get("executable"):
        print(m["executable"])')
target=$(cargo metadata --format-version 1 --no-deps | python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')
install -m 755 "$target/release/cruciate" "$dir/cruciate"
install -m 755 "$parity" "$dir/parity"
strip "$dir/cruciate" "$dir/parity"
for f in meta.json input.npy activations.npy slice_features.npy logits.npy \
    alexnet_torchvision.safetensors mrnet_head.safetensors grad_head_weight.npy \
    grad_conv1_weight.npy grad_conv5_bias.npy cam_raw.npy gradcam_raw.npy volume_u8.npy \
    argmax_slice_per_feature.npy; do
    install -m 644 "$fixtures/$f" "$dir/mrnet-s1/$f"
done
du -sh "$dir"
