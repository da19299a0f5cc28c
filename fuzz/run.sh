#!/usr/bin/env bash
# Runs every fuzz target for the given number of seconds each (default 60), one after the
# other, with `cargo fuzz` on the nightly toolchain. A crash stops the script; its input is
# under fuzz/artifacts/<target>/, to turn into a unit test.
#   fuzz/run.sh 600
set -euo pipefail
seconds="${1:-60}"
cd "$(dirname "$0")"
for target in $(cargo +nightly fuzz list); do
    echo "== $target: ${seconds}s"
    cargo +nightly fuzz run "$target" -- -max_total_time="$seconds" -rss_limit_mb=4096 -timeout=10
done
