#!/usr/bin/env bash
# bench-words.sh - mrcount's words job against the baselines, side by side in one hyperfine run,
# on the shared 1 GiB English corpus, plus the peak memory of each command's process tree.
#
# usage: bench/bench-words.sh [CORPUS_DIR [RESULTS_DIR]]
#   CORPUS_DIR   default $BENCH_DIR or /tmp/mrc-bench/corpus-1g; built with make-corpus.sh if missing
#   RESULTS_DIR  default bench/results; gets bench-words-<stamp>.{md,json,summary.md}
# Env: MRCOUNT (default build/mrcount, built if missing), MRC_SHARED (default ../shared, relative
#      to the repository), BENCH_SIZE_MIB (1024), BENCH_RUNS (3), BENCH_TIMEOUT (3600 s per run),
#      BENCH_COMMANDS (subset of "mrc-1x1 mrc-1x2 mrc-2x1 python mawk wc", default all).
# Needs: hyperfine, mawk, python3, Open MPI; make-corpus.sh needs dict-gcide dict-foldoc dict-jargon
#        bible-kjv (.ci/install-deps.sh with MRC_DEPS_BENCH=1 installs them).
set -euo pipefail
BENCH=bench-words.sh
# shellcheck source=bench/lib.bash
source "$(dirname "${BASH_SOURCE[0]}")/lib.bash"
CORPUS=${1:-${BENCH_DIR:-/tmp/mrc-bench/corpus-1g}}
RESULTS=${2:-$ROOT/bench/results}
SIZE_MIB=${BENCH_SIZE_MIB:-1024}
WANT=" ${BENCH_COMMANDS:-mrc-1x1 mrc-1x2 mrc-2x1 python mawk wc} "
bench_need hyperfine mawk python3 mpirun
bench_build mrcount
bench_corpus "$CORPUS" "$SIZE_MIB"
bytes=$(cat -- "${files[@]}" | wc -c) # also warms the page cache, so no run reads from disk
mkdir -p "$RESULTS"
stamp=$(date +%Y%m%d-%H%M%S)
out=$RESULTS/bench-words-$stamp
tmp=$(mktemp -d "${TMPDIR:-/tmp}/mrc-bench.XXXXXX")
trap 'rm -rf "$tmp"' EXIT

inputs=$(q "${files[@]}")
mrc() { # mrc NAME MPIRUN-ARGS... -- MRCOUNT-ARGS...
    local name=$1
    shift
    # every run (bash -c under hyperfine, so $$ differs) leaves its own metrics file
    # shellcheck disable=SC2016 # $$ is for the run's shell
    printf '%s --metrics %s.$$.metrics.json' "$(mrc_cmd "$name" "$inputs" "$@")" "$(q "$tmp/$name")"
}
names=() cmds=()
add() { if [[ $WANT == *" $1 "* ]]; then names+=("$1"); cmds+=("$2"); fi; }
add mrc-1x1 "$(mrc mrc-1x1 -np 1 --bind-to core -- --threads 1)"
add mrc-1x2 "$(mrc mrc-1x2 -np 1 --map-by slot:PE=2 -- --threads 2)"
add mrc-2x1 "$(mrc mrc-2x1 -np 2 -- --threads 1)"
add python "timeout $LIMIT python3 $(q "$SHARED_BENCH/seed_mapreduce.py") --mode words --procs 2 $inputs"
add mawk "timeout $LIMIT $(q "$SHARED_BENCH/awk-count.sh") words $inputs"
add wc "timeout $LIMIT env LC_ALL=C wc -w $inputs"
[ "${#names[@]}" -gt 0 ] || { echo "bench-words.sh: BENCH_COMMANDS selects nothing" >&2; exit 2; }

say "corpus: ${#files[@]} files, $bytes bytes; $(nproc) cores; $RUNS runs each"
time_all "$out"

peak_memory

# Cross-checks: every mrcount layout gives the same table, whose top 20 and total match the
# Python baseline (same token rule); mawk's default FS does not split on \r \v \f, so its
# total is shown, not compared.
checks=()
same_results
if [ -n "$ref" ]; then
    mrc_total=$(awk -F '\t' '{ t += $NF } END { printf "%d", t }' "$tmp/$ref.tsv")
    checks+=("mrcount total tokens: $mrc_total, distinct: $(wc -l <"$tmp/$ref.tsv")")
    if [ -f "$tmp/python.stdout" ]; then
        py_total=$(sed -n 's/^#total\t//p' "$tmp/python.stdout")
        if [ "$py_total" = "$mrc_total" ] && cmp -s <(head -n 20 "$tmp/$ref.tsv") <(head -n 20 "$tmp/python.stdout"); then
            checks+=("python baseline: same total and top 20: OK")
        else
            checks+=("MISMATCH: python total $py_total / top 20 differ from mrcount")
        fi
    fi
    [ ! -f "$tmp/mawk.stdout" ] || checks+=("mawk total (FS splits only on space/tab/newline): $(sed -n 's/^#total\t//p' "$tmp/mawk.stdout")")
fi

python3 - "$out.json" "$bytes" "$tmp" "${names[@]}" >"$out.summary.md" <<'EOF'
import glob, json, re, statistics, sys
path, nbytes, tmp, names = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4:]
res = {r["command"]: r for r in json.load(open(path))["results"]}
med = {n: res[n]["median"] for n in names if n in res}
def peak(n, what):
    try:
        m = re.search(what + r" ([0-9.]+) MiB", open("%s/%s.peak" % (tmp, n)).read())
        return float(m.group(1)) if m else None
    except OSError:
        return None
def ratio(base, n):
    return "%.2fx" % (med[base] / med[n]) if base in med else "-"
def engine(n):
    """mrcount's own figures from its metrics, medians over the runs: MB/s over its run (from
    MPI_Init to the result written) and over the map phase (slowest rank)."""
    ms = [json.load(open(f)) for f in glob.glob("%s/%s.*.metrics.json" % (tmp, n))]
    if not ms:
        return "-", "-"
    run = statistics.median(m["seconds"] for m in ms)
    mapped = statistics.median(m["phases"]["map"]["max"] for m in ms)
    return "%.0f" % (nbytes / 1e6 / run), "%.0f" % (nbytes / 1e6 / mapped)
print("| command | median s | MB/s | mrcount run MB/s | map MB/s | peak RSS MiB (tree) "
      "| peak PSS MiB (tree) | vs mawk | vs python |")
print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
for n in names:
    rss, pss = peak(n, "tree-RSS"), peak(n, "tree-PSS")
    run, mapped = engine(n)
    print("| %s | %.2f | %.0f | %s | %s | %s | %s | %s | %s |" % (
        n, med[n], nbytes / 1e6 / med[n], run, mapped,
        "%.0f" % rss if rss is not None else "-",
        "%.0f" % pss if pss is not None else "-", ratio("mawk", n), ratio("python", n)))
print()
print("(%d bytes; ratios are speed-ups: baseline median / command median. MB/s is the whole "
      "command, mpirun's start-up included; mrcount run and map MB/s come from its metrics)"
      % nbytes)
EOF
summary_end "$out" "$inputs" "CORPUS/part*.txt"
