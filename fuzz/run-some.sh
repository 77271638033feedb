#!/usr/bin/env bash
# Runs the named fuzz targets in parallel for SECONDS each: run-some.sh SECONDS TARGET...
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
secs=$1; shift
mkdir -p "$here/logs"
(cd "$here" && RUSTC_BOOTSTRAP=1 cargo fuzz build -O >/dev/null 2>&1)
for t in "$@"; do
  (cd "$here" && RUSTC_BOOTSTRAP=1 cargo fuzz run -O "$t" -- -max_total_time="$secs" -rss_limit_mb=4096 -malloc_limit_mb=2048 -timeout=30 >"logs/$t.log" 2>&1; echo "exit $?" >>"logs/$t.log") &
done
wait
