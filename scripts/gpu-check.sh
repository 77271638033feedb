#!/usr/bin/env bash
# GPU check: the PyTorch parity tests held on a GPU, then `cruciate bench` and PyTorch's same
# workloads (bench/pytorch_bench.py --device cuda) on the same card, back to back, merged into
# one table by bench/table.py.
#
#   scripts/gpu-check.sh                          # builds here with cargo (--features gpu)
#   CRUCIATE_GPU_BIN=DIR scripts/gpu-check.sh     # a GPU host without Rust: DIR holds the
#                                                 # binaries scripts/gpu-bundle.sh made elsewhere
#
# The GPU route is Burn's wgpu backend on Vulkan (SPIR-V kernels): it builds offline from
# crates alone, and needs at run time only libvulkan.so.1 (Debian/Ubuntu `libvulkan1`) and the
# GPU vendor's Vulkan driver (NVIDIA's ships with its display driver). Environment:
#   CRUCIATE_FIXTURES  fixtures (default ../shared/fixtures); CRUCIATE_PARITY_FIXTURE may name a
#                      folder holding just the MRNet parity files instead (gpu-bundle.sh copies them)
#   CRUCIATE_DEVICE    the GPU (default vulkan:0)
#   PYTHON             an interpreter with torch (CUDA) and torchvision (default python3)
#   REPEAT             timed runs per figure (default 7)
# Writes target/bench/gpu-DATE.{jsonl,md} (or under $GPU_CHECK_OUT) and prints the table.
set -euo pipefail
cd "$(dirname "$0")/.."
export CRUCIATE_FIXTURES="${CRUCIATE_FIXTURES:-../shared/fixtures}"
export CRUCIATE_DEVICE="${CRUCIATE_DEVICE:-vulkan:0}"
python=${PYTHON:-python3}
repeat=${REPEAT:-7}
out=${GPU_CHECK_OUT:-target/bench}
mkdir -p "$out"
stamp=$(date -u +%Y-%m-%dT%H%MZ)

if ! ldconfig -p | grep -q 'libvulkan\.so\.1'; then
    echo "gpu-check: no libvulkan.so.1 (install libvulkan1, or unpack it and run ldconfig)" >&2
    exit 2
fi
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader || true

# The parity tests on the GPU: MRNet activations, logits, loss and gradients, CAM and Grad-CAM
# against PyTorch; VGG16 features and MRNet gradients against the CPU.
parity_tests=(parity_mrnet_features_logits_loss_and_gradients parity_cam_and_grad_cam
    gpu_vgg16_features_and_mrnet_gradients_match_the_cpu)
# A failure is reported at the end: the bench still runs, its figures marked by the failure.
status=0
if [[ -n "${CRUCIATE_GPU_BIN:-}" ]]; then
    cruciate="$CRUCIATE_GPU_BIN/cruciate"
    echo "== parity on $CRUCIATE_DEVICE ($CRUCIATE_GPU_BIN/parity)"
    "$CRUCIATE_GPU_BIN/parity" --exact "${parity_tests[@]}" --test-threads 1 --nocapture ||
        status=$?
else
    cargo build --release -q -p cruciate --features gpu
    cruciate=target/release/cruciate
    echo "== parity on $CRUCIATE_DEVICE"
    cargo test --release -q -p cruciate-models --features vulkan --test parity -- \
        --exact "${parity_tests[@]}" --test-threads 1 --nocapture || status=$?
fi

echo "== PyTorch on cuda, then the bench on $CRUCIATE_DEVICE"
"$python" bench/pytorch_bench.py --json --device cuda --repeat "$repeat" > "$out/gpu-$stamp.jsonl"
"$cruciate" --device "$CRUCIATE_DEVICE" bench --json --repeat "$repeat" >> "$out/gpu-$stamp.jsonl" ||
    status=$?
{
    echo "Measured $stamp by scripts/gpu-check.sh (REPEAT=$repeat)"
    echo
    "$python" bench/table.py < "$out/gpu-$stamp.jsonl"
} | tee "$out/gpu-$stamp.md"
if [[ "$status" != 0 ]]; then
    echo "gpu-check: FAILED (status $status): see the parity tests or the bench above" >&2
fi
exit "$status"
