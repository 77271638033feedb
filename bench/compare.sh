#!/usr/bin/env bash
# Cruciate against PyTorch on this machine, back to back, in one sitting: the same workloads
# (MRNet forward and training step on 32 x 256x256; VGG16, ResNet-18, ResNet-50 and SqueezeNet
# forward on 8 x 224x224; ResNet-50's and `small`'s training steps), medians of the same number
# of runs, merged into one Markdown table with the CPU named.
#
#   bench/compare.sh [--backbones] [PYTHON]   # PYTHON: an interpreter with torch and torchvision
#
# --backbones: the backbones' forward passes and the two training steps alone.
#
# Writes target/bench/compare-DATE.md and prints it. Needs a release build of cruciate (built
# here if missing) and, for the PyTorch side, `pip install torch torchvision`.
set -euo pipefail
cd "$(dirname "$0")/.."
only=()
if [[ ${1:-} == --backbones ]]; then
    only=(--backbones)
    shift
fi
python=${1:-python3}
repeat=${REPEAT:-7}
out=target/bench
mkdir -p "$out"
stamp=$(date -u +%Y-%m-%dT%H%MZ)
cargo build --release -q -p cruciate
{
    target/release/cruciate bench --json --repeat "$repeat" "${only[@]}"
    "$python" bench/pytorch_bench.py --json --repeat "$repeat" "${only[@]}"
} > "$out/compare-$stamp.jsonl"
{
    echo "Measured $stamp by bench/compare.sh (REPEAT=$repeat), $(nproc) cores"
    echo
    "$python" bench/table.py < "$out/compare-$stamp.jsonl"
} | tee "$out/compare-$stamp.md"
