#!/usr/bin/env bash
# The service's speed with real model sizes, in one sitting: an MRNet run (AlexNet features at
# 256x256, every slice) and a VGG16-features + SVM run, each made here on synthetic phantoms
# (a quick fit: the figures are about time, not accuracy), then `cruciate bench --service` with
# both: decode + forward in-process beside upload-to-result through the service, with the model
# loaded per job (as before the analyser pool) and kept by 1 and 2 analysers.
#
#   bench/service.sh FIXTURES      # FIXTURES: ../shared/fixtures (the AlexNet and VGG16 weights
#                                  # in torchvision's layout, any will do for timing)
#
# Writes target/bench/service-DATE.md and prints it. Needs a release build (made here).
set -euo pipefail
cd "$(dirname "$0")/.."
fixtures=${1:-${CRUCIATE_FIXTURES:-../shared/fixtures}}
exams=${EXAMS:-12}
# A features run explains by Grad-CAM through the backbone (one pass, as a prediction);
# FEATURE_EXAMS lowers its count where that pass is slow.
feature_exams=${FEATURE_EXAMS:-$exams}
out=target/bench/service
mkdir -p "$out"
stamp=$(date -u +%Y-%m-%dT%H%MZ)
cargo build --release -q -p cruciate
bin=target/release/cruciate
if [ ! -f "$out/phantoms/manifest.csv" ]; then
    "$bin" synth --exams 40 --size 256 --slices 24..36 --format dicom --out "$out/phantoms"
fi
if [ ! -f "$out/mrnet/run.json" ]; then
    "$bin" train --manifest "$out/phantoms/manifest.csv" --config configs/mrnet.toml \
        --weights "$fixtures/parity/mrnet-s1/alexnet_torchvision.safetensors" \
        --epochs 1 --out "$out/mrnet"
fi
if [ ! -f "$out/vgg16-svm/run.json" ]; then
    "$bin" features --manifest "$out/phantoms/manifest.csv" --backbone vgg16 \
        --weights "$fixtures/parity/mrnet-s1/vgg16_features_torchvision.safetensors" \
        --out "$out/features"
    "$bin" svm train --features "$out/features" --out "$out/vgg16-svm"
fi
{
    echo "Measured $stamp by bench/service.sh (EXAMS=$exams, FEATURE_EXAMS=$feature_exams), $(nproc) cores"
    echo
    echo '```text'
    "$bin" bench --service --exams "$exams" --run "$out/mrnet"
    "$bin" bench --service --exams "$feature_exams" --run "$out/vgg16-svm"
    echo '```'
} | tee "$out/../service-$stamp.md"
