#!/usr/bin/env bash
# Runs every fuzz target in turn with `cargo fuzz` on the nightly toolchain, for the given
# number of seconds each (default 60), or for a number of executions each:
#   fuzz/run.sh 600            # ten minutes a target
#   fuzz/run.sh 0 10000000     # ten million executions a target, however long that takes
# A crash stops the script; its input is under fuzz/artifacts/<target>/, to turn into a unit
# test. Each target's last libFuzzer status line (executions, rate) is printed at its end.
set -euo pipefail
seconds="${1:-60}"
runs="${2:--1}"
cd "$(dirname "$0")"
for target in $(cargo +nightly fuzz list); do
    echo "== $target: ${seconds}s, ${runs} runs"
    cargo +nightly fuzz run "$target" -- -max_total_time="$seconds" -runs="$runs" -rss_limit_mb=4096 -timeout=10 \
        -print_final_stats=1 2>&1 | grep -E "^(#[0-9]+|Done|stat::number_of_executed_units|stat::average_exec_per_sec|==[0-9]+==|SUMMARY|panicked)" | tail -5
done
