#!/usr/bin/env bash
# ngram-local.sh - the workstation ngram job: sum Google Books Ngram match counts per ngram over
# INPUTs (v2 exports, plain or .gz, per configs/ngram-v2.ini) with every core of this machine and
# print the 20 most frequent.
#
# usage: jobs/ngram-local.sh [MRCOUNT-OPTION...] [INPUT...]
#   With no arguments, counts a demo export (256 MiB of generated v2 1-gram data in 8 gzip files,
#   made once with the build's gen_ngrams tool under $MRC_DEMO_DIR, default /tmp/mrcount-demo).
#   For v3 data pass `--config configs/ngram-v3.ini` (the later --config wins).
#   Arguments are passed to mrcount after this job's defaults, so `--top 50` or `--fold-case`
#   override or add to them; INPUT is files, directories, globs or @list.txt.
# Launch: mpirun -np RANKS --map-by slot:PE=THREADS --bind-to core mrcount --threads THREADS,
#   with RANKS x THREADS = the cores of this machine (default RANKS=1, THREADS=cores/RANKS).
# Env: RANKS, THREADS; MRCOUNT (default build/mrcount, configured and built if missing);
#   OUT_DIR (default out/ in the repository): gets ngram.tsv and ngram.metrics.json;
#   MRC_DEMO_DIR, DEMO_SIZE_MIB (256); MRC_TIMEOUT (seconds, default 7200) bounds the run.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD=${MRC_BUILD_DIR:-$ROOT/build}
MRC=${MRCOUNT:-$BUILD/mrcount}
DEMO_DIR=${MRC_DEMO_DIR:-/tmp/mrcount-demo}
DEMO_SIZE_MIB=${DEMO_SIZE_MIB:-256}
OUT_DIR=${OUT_DIR:-$ROOT/out}
LIMIT=${MRC_TIMEOUT:-7200}

say() { printf 'ngram-local: %s\n' "$*" >&2; }
die() {
    say "$*"
    exit 1
}
positive() { [[ $2 =~ ^[1-9][0-9]*$ ]] || die "$1 must be a positive integer, not '$2'"; }

if [ "$(id -u)" = 0 ]; then # Open MPI refuses root unless told
    export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
fi
command -v mpirun >/dev/null || die "mpirun not found (apt-get install openmpi-bin, or .ci/install-deps.sh)"

# The binary (and the corpus tool for the demo), built once if this checkout has no build yet.
need_build=()
[ -x "$MRC" ] || need_build+=(mrcount)
[ $# -gt 0 ] || [ -d "$DEMO_DIR/ngram-v2" ] || [ -x "$BUILD/tests/gen_ngrams" ] || need_build+=(gen_ngrams)
if [ "${#need_build[@]}" -gt 0 ]; then
    [ -z "${MRCOUNT:-}" ] || [ -x "$MRC" ] || die "MRCOUNT=$MRC is not an executable"
    say "building ${need_build[*]} (Release) in $BUILD"
    [ -f "$BUILD/CMakeCache.txt" ] || cmake -S "$ROOT" -B "$BUILD" -DCMAKE_BUILD_TYPE=Release >/dev/null
    cmake --build "$BUILD" -j "$(nproc)" --target "${need_build[@]}" >/dev/null
fi

inputs=("$@")
if [ $# -eq 0 ]; then
    corpus=$DEMO_DIR/ngram-v2
    if [ ! -d "$corpus" ]; then
        say "making the demo export: $DEMO_SIZE_MIB MiB of v2 1-grams in 8 .gz files under $corpus"
        mkdir -p "$DEMO_DIR"
        part=$(mktemp -d "$DEMO_DIR/corpus.tmp.XXXXXX")
        chmod 755 "$part" # mktemp makes it private; the corpus is not
        trap 'rm -rf "$part"' EXIT
        "$BUILD/tests/gen_ngrams" "$part" "$DEMO_SIZE_MIB" --format v2 --files 8 --gzip
        mv -T "$part" "$corpus" 2>/dev/null || rm -rf "$part" # another run may have won the race
        trap - EXIT
    fi
    inputs=("$corpus")
fi

# Ranks x threads: fill the cores of this machine (the cpuset we may use), one thread per core.
cores=$(hwloc-calc --number-of core all 2>/dev/null || true)
[[ $cores =~ ^[1-9][0-9]*$ ]] || cores=$(nproc)
ranks=${RANKS:-1}
positive RANKS "$ranks"
threads=${THREADS:-$((cores / ranks > 0 ? cores / ranks : 1))}
positive THREADS "$threads"
if [ $((ranks * threads)) -le "$cores" ]; then
    launch=(mpirun -np "$ranks" --map-by "slot:PE=$threads" --bind-to core)
else
    say "warning: $ranks ranks x $threads threads > $cores cores: oversubscribing, unbound"
    launch=(mpirun -np "$ranks" --oversubscribe --bind-to none)
fi

mkdir -p "$OUT_DIR"
result=$OUT_DIR/ngram.tsv
metrics=$OUT_DIR/ngram.metrics.json
cmd=("${launch[@]}" "$MRC" --config "$ROOT/configs/ngram-v2.ini" --threads "$threads" --top 20
    --output "$result" --metrics "$metrics" "${inputs[@]}")
say "$ranks rank(s) x $threads thread(s) on $cores cores"
say "running: ${cmd[*]}"
rc=0
timeout -k 30 "$LIMIT" "${cmd[@]}" || rc=$?
case $rc in
0) ;;
124 | 137) die "stopped after ${LIMIT}s (MRC_TIMEOUT)" ;;
*) die "mrcount failed (exit status $rc)" ;;
esac

echo
echo "Most frequent ngrams (match count, ngram):"
awk -F '\t' '{ printf "%12d  %s\n", $NF, $1 }' "$result"
echo
say "result:  $result"
say "metrics: $metrics"
