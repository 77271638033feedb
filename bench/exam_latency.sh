#!/usr/bin/env bash
# Whole-exam latency as a user meets it, Cruciate beside a Python pipeline (pydicom, numpy,
# PyTorch) doing the same work on the same zipped DICOM exams, back to back in one sitting:
# read the zip, decode, choose the sagittal series, resample, forward, explanation, result
# files; per exam, for MRNet and for VGG16 features + SVM.
#
#   bench/exam_latency.sh [PYTHON]   # PYTHON: an interpreter with torch, torchvision, pydicom
#                                    # and scikit-learn
#
# The Cruciate runs are trained here on synthetic DICOM phantoms (their speed does not depend on
# how well they were trained). Writes target/bench/exam/latency-DATE.md and prints it.
set -euo pipefail
cd "$(dirname "$0")/.."
python=${1:-python3}
exams=${EXAMS:-12}
out=target/bench/exam
mkdir -p "$out"
cargo build --release -q -p cruciate
cruciate=target/release/cruciate
export CRUCIATE_LOG=warn
if [ ! -f "$out/mrnet-run/summary.json" ] || [ ! -f "$out/svm-run/run.json" ]; then
    rm -rf "$out/train" "$out/mrnet-run" "$out/feats" "$out/svm-run"
    "$cruciate" synth --out "$out/train" --exams 60 --size 256 --seed 4 \
        --difficulty realistic --balance equal --format dicom > /dev/null
    "$cruciate" train --manifest "$out/train/manifest.csv" --config configs/mrnet.toml \
        --epochs 2 --out "$out/mrnet-run" > /dev/null
    "$cruciate" features --manifest "$out/train/manifest.csv" --backbone vgg16 \
        --slices central:8 --pool max,mean --size 224 --out "$out/feats" > /dev/null
    "$cruciate" svm train --features "$out/feats" --task binary --out "$out/svm-run" > /dev/null
fi
stamp=$(date -u +%Y-%m-%dT%H%MZ)
{
    "$cruciate" bench --exam --json --run "$out/mrnet-run" --run "$out/svm-run" \
        --zips "$out/zips" --exams "$exams"
    "$python" bench/exam_pipeline.py --json --zips "$out/zips"
} > "$out/latency-$stamp.jsonl"
{
    echo "Measured $stamp by bench/exam_latency.sh, $(nproc) cores"
    echo
    "$python" bench/exam_table.py < "$out/latency-$stamp.jsonl"
} | tee "$out/latency-$stamp.md"
