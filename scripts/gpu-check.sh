#!/usr/bin/env bash
# CUDA check on a GPU machine: build with the `cuda` feature, run the parity tests on the GPU,
# time the benchmark on the GPU and, for comparison, on the CPU in the same session.
# Usage: scripts/gpu-check.sh   (CRUCIATE_FIXTURES defaults to ../shared/fixtures)
set -euo pipefail
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
