#!/usr/bin/env bash
# tests/fuzz/run.sh - fuzz every harness of a -DMRC_FUZZ=ON build for a bounded time, up to
# MRC_FUZZ_JOBS at once (one core each), each from a scratch copy of its seed corpus (tests/ is
# never written). Prints per harness the executions and the time; exits 1 if any harness crashed,
# leaked, timed out or ran out of memory, keeping the input that did it (path printed).
#   Usage: tests/fuzz/run.sh BUILD_DIR [SECONDS]
# SECONDS per harness: the argument, else MRC_FUZZ_SECONDS, else 60.
# Env: MRC_FUZZ_ARTIFACTS (default BUILD_DIR/fuzz-artifacts) where failing inputs and logs go;
#      MRC_FUZZ_HARNESSES (default: all) e.g. "fuzz_words fuzz_ngram";
#      MRC_FUZZ_KEEP_CORPUS=DIR keeps each grown corpus in DIR/<harness> (to inspect or minimize);
#      MRC_FUZZ_JOBS (default: the cores, nproc) harnesses fuzzed at the same time.
set -euo pipefail

usage() {
    echo "usage: tests/fuzz/run.sh BUILD_DIR [SECONDS]" >&2
    exit 2
}
if [ $# -lt 1 ] || [ $# -gt 2 ]; then usage; fi
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
BUILD=$(cd "$1" && pwd)
SECS=${2:-${MRC_FUZZ_SECONDS:-60}}
[[ $SECS =~ ^[1-9][0-9]*$ ]] || usage
JOBS=${MRC_FUZZ_JOBS:-$(nproc 2>/dev/null || echo 1)}
[[ $JOBS =~ ^[1-9][0-9]*$ ]] || usage
ART=${MRC_FUZZ_ARTIFACTS:-$BUILD/fuzz-artifacts}
mkdir -p "$ART"
ART=$(cd "$ART" && pwd)

harnesses=()
if [ -n "${MRC_FUZZ_HARNESSES:-}" ]; then
    read -r -a harnesses <<<"$MRC_FUZZ_HARNESSES"
else
    for src in "$HERE"/fuzz_*.c; do
        harnesses+=("$(basename "$src" .c)")
    done
fi

scratch=$(mktemp -d "${TMPDIR:-/tmp}/mrc-fuzz.XXXXXX")
trap 'rm -rf "$scratch"' EXIT

export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}

# fuzz_one HARNESS : fuzz it; its report line (and what it found) goes to $scratch/HARNESS.out,
# its executions, seconds and exit status to $scratch/HARNESS.sum. @return 1 if it failed.
fuzz_one() {
    local h=$1 out=$scratch/$1.out
    local bin=$BUILD/tests/fuzz/$h corpus=$scratch/$h log=$scratch/$h.log
    if [ ! -x "$bin" ]; then
        echo "$h: $bin not built (configure with -DMRC_FUZZ=ON -DCMAKE_C_COMPILER=clang)" >"$out"
        echo "0 0 127" >"$scratch/$h.sum"
        return 1
    fi
    mkdir -p "$corpus"
    cp -R "$HERE/corpus/$h/." "$corpus/"
    local args=(-max_total_time="$SECS" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1
        -artifact_prefix="$ART/$h-")
    [ -f "$HERE/dict/$h.dict" ] && args+=(-dict="$HERE/dict/$h.dict")
    local t0=$SECONDS rc=0
    "$bin" "${args[@]}" "$corpus" >"$log" 2>&1 || rc=$?
    local secs=$((SECONDS - t0)) runs cov result=ok
    runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
    cov=$(grep -o 'cov: [0-9]*' "$log" | tail -1 | cut -d' ' -f2)
    runs=${runs:-0}
    [ "$rc" = 0 ] || { result="FAILED (exit $rc)"; cp "$log" "$ART/$h.log"; }
    {
        printf '%-12s %12s %8s %8s %7s  %s\n' "$h" "$runs" "$secs" \
            "$((runs / (secs > 0 ? secs : 1)))" "${cov:-?}" "$result"
        if [ "$rc" != 0 ]; then
            grep -E 'invariant failed|ERROR: (AddressSanitizer|LeakSanitizer|libFuzzer)|runtime error|SUMMARY' \
                "$log" | sed -n 's/^/    /; 1,5p' || true
            sed -n "s|.*Test unit written to \(.*\)|    input kept: \1|p" "$log"
            echo "    log: $ART/$h.log"
            echo "    replay: $bin <input>"
        fi
    } >"$out"
    echo "$runs $secs $rc" >"$scratch/$h.sum"
    if [ -n "${MRC_FUZZ_KEEP_CORPUS:-}" ]; then
        mkdir -p "$MRC_FUZZ_KEEP_CORPUS/$h"
        cp -R "$corpus/." "$MRC_FUZZ_KEEP_CORPUS/$h/"
    fi
    [ "$rc" = 0 ]
}

# JOBS at a time; each harness's lines printed in the harnesses' order once all are done
running=0
for h in "${harnesses[@]}"; do
    if [ "$running" -ge "$JOBS" ]; then
        wait -n || true
        running=$((running - 1))
    fi
    fuzz_one "$h" &
    running=$((running + 1))
done
wait || true

failed=()
total_runs=0
total_secs=0
printf '%-12s %12s %8s %8s %7s  %s\n' harness executions seconds exec/s cov result
for h in "${harnesses[@]}"; do
    runs=0 secs=0 rc=1
    cat "$scratch/$h.out" 2>/dev/null || echo "$h: no report (the script failed around it)"
    [ -f "$scratch/$h.sum" ] && read -r runs secs rc <"$scratch/$h.sum"
    [ "$rc" = 0 ] || failed+=("$h")
    total_runs=$((total_runs + runs))
    total_secs=$((total_secs + secs))
done
echo "total: $total_runs executions in ${total_secs}s of fuzzing (${#harnesses[@]} harnesses, $JOBS at a time)"
if [ "${#failed[@]}" -gt 0 ]; then
    echo "fuzzing FAILED: ${failed[*]} (failing inputs under $ART)" >&2
    exit 1
fi
