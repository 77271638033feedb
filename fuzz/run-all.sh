#!/usr/bin/env bash
# Runs every fuzz target for SECONDS (default 600) each, two at a time; logs to fuzz/logs/.
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
secs=${1:-600}
mkdir -p "$here/logs"
run() { (cd "$here" && RUSTC_BOOTSTRAP=1 cargo fuzz run -O "$1" -- -max_total_time="$secs" -rss_limit_mb=4096 -timeout=30 >"logs/$1.log" 2>&1; echo "exit $?" >>"logs/$1.log"); }
run dicom & run pickle & wait
run nifti & run npy & wait
run any
