#!/usr/bin/env bash
# CUDA check on a GPU machine: build with the `cuda` feature, run the parity tests on the GPU,
# time the benchmark on the GPU and, for comparison, on the CPU in the same session.
# Usage: scripts/gpu-check.sh   (CRUCIATE_FIXTURES defaults to ../shared/fixtures)
#
# Build requirement: Burn 0.22.1's CUDA backend depends on cubecl-cuda 0.11.3, which always
# builds cubecl-llvm (nvptx) whose build script (tracel-llvm-bundler) downloads an LLVM bundle
# into ~/.local/share/tracel/. Machines that cannot reach its download host (the lent GPU
# machines, this project's CPU machine) need that folder copied in first.
set -euo pipefail
if ! ls -d "${HOME}"/.local/share/tracel/tracel-llvm-* >/dev/null 2>&1; then
    echo "gpu-check: no LLVM bundle in ~/.local/share/tracel (needed to build Burn's CUDA backend); see the header of this script" >&2
    exit 2
fi
cd "$(dirname "$0")/.."
export CRUCIATE_FIXTURES="${CRUCIATE_FIXTURES:-../shared/fixtures}"
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader || true
cargo build --release --features cuda -p cruciate
echo "== parity on cuda:0"
cargo test --release --features cuda -p cruciate-models --test parity
echo "== bench on cuda:0"
./target/release/cruciate bench --repeat 5
echo "== bench on the CPU (same binary, CRUCIATE_DEVICE=cpu)"
CRUCIATE_DEVICE=cpu ./target/release/cruciate bench --repeat 3
