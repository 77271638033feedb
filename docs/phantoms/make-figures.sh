#!/usr/bin/env bash
# Regenerates the phantom figures of docs/phantoms: 4 synthetic exams per ACL grade, each a
# `cruciate export` montage of the slices that cross the ligament (the manifest's roi).
set -euo pipefail
cd "$(dirname "$0")/../.."
cargo build --release -q
work=$(mktemp -d)
target/release/cruciate synth --out "$work" --exams 16 --seed 2026 --balance equal --slices 28..32 >/dev/null
for grade in 0 1 2 3; do
  rm -f "docs/phantoms/grade$grade"_*.png
  tail -n +2 "$work/manifest.csv" | awk -F, -v g="$grade" '$3 == g' | while IFS=, read -r id path label split roi; do
    read -r s0 s1 _ <<<"$roi"
    target/release/cruciate export "$work/$path" --out "$work/png/$id" --slices "$s0..$s1" >/dev/null
    cp "$work/png/$id/montage.png" "docs/phantoms/grade${grade}_exam$id.png"
  done
done
rm -rf "$work"
ls docs/phantoms/*.png
