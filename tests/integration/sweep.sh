#!/usr/bin/env bash
# sweep.sh - a random differential test of the words and tsv jobs (tests/tools/sweep.py):
# MRC_SWEEP_RUNS configurations (default 20; seed MRC_SWEEP_SEED, default 1) of random inputs and
# options (ranks, threads, schedule, chunk size, --reduce, --memory-limit with spills, --sort,
# --top, --min-count, --output-per-rank, every token rule, --fold-case, --normalize, n-grams and
# their breaks; tsv delimiters, columns and --header), each result compared byte for byte with a
# Python oracle written from README's rules, nothing left in --tmp-dir or beside the result. A
# failure prints the configuration and its command; with MRC_KEEP_TMP set its inputs are kept
# under $T/keep.
# shellcheck source-path=SCRIPTDIR source=lib.bash
source "$(dirname "$0")/lib.bash"
command -v python3 >/dev/null || fail "python3 not found"
keep=()
[ -n "${MRC_KEEP_TMP:-}" ] && keep=(--keep "$T/keep")
TMPDIR=$T python3 "$MRC_SOURCE_DIR/tests/tools/sweep.py" --mrcount "$MRCOUNT" --mpirun "$MRC_MPIRUN" \
    "${keep[@]}" || fail "mrcount and the oracle disagree (above)"
log "ok: every configuration equal to the oracle"
