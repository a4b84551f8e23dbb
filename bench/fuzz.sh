#!/usr/bin/env bash
# Fuzzing: builds every cargo-fuzz target of fuzz/ and runs each, one after another, for SECONDS
# (default 600) from its seed corpus fuzz/corpus/<target>/ (read only: new inputs go to a
# scratch corpus under fuzz/scratch/, removed at the start of each run). Installs nothing:
# cargo-fuzz comes from scripts/install-deps.sh.
#
# Each run has an RSS limit (-rss_limit_mb) and a per-input time limit (-timeout); a crash, a
# hang past the limit or an out-of-memory stops that target and leaves the input in
# fuzz/artifacts/<target>/. Prints, per target, executions, executions per second, corpus
# size (inputs and bytes), peak RSS and findings; exits non-zero if any target found something.
#
# Usage: bench/fuzz.sh [SECONDS] [TARGET...]    e.g. bench/fuzz.sh 30, bench/fuzz.sh 600 aci_import
set -euo pipefail
secs=${1:-600}; shift || true
here=$(cd "$(dirname "$0")/.." && pwd)
cd "$here/fuzz"
command -v cargo-fuzz >/dev/null || { echo "fuzz.sh: cargo-fuzz is missing (scripts/install-deps.sh installs it)" >&2; exit 2; }
# cargo-fuzz passes nightly-only flags (-Z sanitizer options); the stable toolchain accepts
# them with RUSTC_BOOTSTRAP.
export RUSTC_BOOTSTRAP=1
# Optimised, with debug assertions and overflow checks (cargo-fuzz's default). No sanitizer:
# the targets are safe Rust, whose failures (panics, overflows, hangs, unbounded memory)
# libFuzzer catches by itself; AddressSanitizer only slows each execution (see "Fuzzing" in
# docs/architecture.md for the measurement).
flags=(--sanitizer none)
rss_mb=${FUZZ_RSS_MB:-1024}
timeout_s=${FUZZ_TIMEOUT:-10}
targets=("$@"); [ $# -gt 0 ] || mapfile -t targets < <(cargo fuzz list)
start=$(date +%s)
if [ $# -eq 0 ]; then
    cargo fuzz build "${flags[@]}"
else
    for t in "${targets[@]}"; do cargo fuzz build "${flags[@]}" "$t"; done
fi
echo "fuzz.sh: built ${#targets[@]} targets in $(($(date +%s) - start)) s; running each for $secs s"
failed=0; passed=0
printf '%-16s %12s %9s %8s %10s %8s  %s\n' target executions exec/s corpus "corpus KB" "peak MB" findings
for t in "${targets[@]}"; do
    scratch="scratch/$t"; artifacts="artifacts/$t"; log="scratch/$t.log"
    rm -rf "$scratch"; mkdir -p "$scratch" "$artifacts" "corpus/$t"
    rc=0
    "target/x86_64-unknown-linux-gnu/release/$t" "$scratch" "corpus/$t" \
        -max_total_time="$secs" -rss_limit_mb="$rss_mb" -timeout="$timeout_s" \
        -artifact_prefix="$artifacts/" -print_final_stats=1 >"$log" 2>&1 || rc=$?
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
    rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -n 1)
    rss=$(sed -n 's/^stat::peak_rss_mb: *//p' "$log" | tail -n 1)
    count=$(find "$scratch" "corpus/$t" -type f | wc -l)
    kb=$(( $(find "$scratch" "corpus/$t" -type f -printf '%s\n' | awk '{s+=$1} END {print s+0}') / 1024 ))
    findings=$(sed -n 's/^SUMMARY: libFuzzer: //p' "$log" | head -n 1)
    if [ "$rc" -ne 0 ] || [ -n "$findings" ]; then
        failed=1
        art=$(grep -o "Test unit written to .*" "$log" | head -n 1 | sed 's/Test unit written to //')
        findings="FOUND (exit $rc): ${findings:-see fuzz/$log} ${art:+fuzz/$art}"
        # What the target said: the panic and its message, or libFuzzer's error.
        grep -E -m 1 -A 2 "panicked at|ERROR: libFuzzer" "$log" | cut -c 1-300 | sed 's/^/    /' >&2 || true
    else
        findings=none; passed=$((passed + 1))
    fi
    printf '%-16s %12s %9s %8s %10s %8s  %s\n' "$t" "${execs:-?}" "${rate:-?}" "$count" "$kb" \
        "${rss:-?}" "$findings"
done
echo "fuzz.sh: $(($(date +%s) - start)) s in all"
# The plain closing line test reports read: a target passes if it found nothing.
echo "fuzz: $passed passed, $((${#targets[@]} - passed)) failed"
exit "$failed"
