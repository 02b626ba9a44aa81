#!/usr/bin/env bash
# bench-combine.sh - the scale-out figures of the combine and the schedule, from mrcount's own
# metrics (medians of BENCH_RUNS runs, all in one invocation so that ratios are comparable):
#   1. combine seconds and peak RSS, --reduce reduce vs shuffle, at np 2, 4, 8 (oversubscribed on
#      small machines: read ratios) on vocabularies of 10^4, 10^6 and 10^7 keys, with the worst
#      ratio of a rank's peak RSS to its serialized table;
#   2. static vs dynamic schedule makespan (map phase, slowest rank) on a skewed input: one big
#      .gz among many tiny files;
#   3. 2 ranks vs 1 rank on the 1 GiB corpus (speed-up, and the combine's share of the run).
#
# usage: bench/bench-combine.sh [WORK_DIR [RESULTS_DIR]]
#   WORK_DIR     generated corpora (default /tmp/mrc-bench/combine); kept between runs
#   RESULTS_DIR  default bench/results; gets bench-combine-<stamp>.md
# Env: MRCOUNT, MRC_SHARED, BENCH_RUNS (3), BENCH_TIMEOUT (3600 s per run) as in lib.bash;
#      BENCH_VOCABS ("10000 1000000 10000000"), BENCH_NPS ("2 4 8"), BENCH_PARTS ("combine skew
#      scale"), BENCH_DIR (the 1 GiB corpus, default /tmp/mrc-bench/corpus-1g; made by
#      ../shared/bench/make-corpus.sh if missing), BENCH_SKEW_MIB (256: the big file).
set -euo pipefail
BENCH=bench-combine.sh
# shellcheck source=bench/lib.bash
source "$(dirname "${BASH_SOURCE[0]}")/lib.bash"
WORK=${1:-/tmp/mrc-bench/combine}
RESULTS=${2:-$ROOT/bench/results}
VOCABS=${BENCH_VOCABS:-10000 1000000 10000000}
NPS=${BENCH_NPS:-2 4 8}
PARTS=" ${BENCH_PARTS:-combine skew scale} "
CORPUS=${BENCH_DIR:-/tmp/mrc-bench/corpus-1g}
SKEW_MIB=${BENCH_SKEW_MIB:-256}
bench_need mpirun python3 gzip mawk
bench_build mrcount gen_corpus
GEN=$(dirname "$MRC")/tests/gen_corpus
mkdir -p "$WORK" "$RESULTS"
out=$RESULTS/bench-combine-$(date +%Y%m%d-%H%M%S).md
tmp=$(mktemp -d "${TMPDIR:-/tmp}/mrc-bench.XXXXXX")
trap 'rm -rf "$tmp"' EXIT

# runs NAME NP MRCOUNT-ARGS... : BENCH_RUNS runs with metrics in $tmp/NAME.<i>.json.
runs() {
    local name=$1 np=$2 i
    shift 2
    for ((i = 1; i <= RUNS; i++)); do
        # the combine's own peak RSS (combine_peak_rss_bytes), for the ratio below
        MRC_TEST_RSS_WINDOW=1 timeout "$LIMIT" mpirun --oversubscribe -np "$np" "$MRC" --quiet --progress never \
            --output "$tmp/$name.tsv" --metrics "$tmp/$name.$i.json" "$@" ||
            { echo "$BENCH: $name failed" >&2; exit 1; }
    done
    if [ -f "$tmp/first.tsv" ]; then
        cmp -s "$tmp/first.tsv" "$tmp/$name.tsv" || { echo "$BENCH: $name: result differs" >&2; exit 1; }
    else
        cp "$tmp/$name.tsv" "$tmp/first.tsv"
    fi
}

# summary NAME : one line of medians: seconds, map max, combine max, peak RSS max, the tables
# held at the combine's peak (worst rank), reduce_used.
summary() {
    python3 - "$tmp" "$1" "$RUNS" <<'PY'
import json, statistics, sys
tmp, name, runs = sys.argv[1], sys.argv[2], int(sys.argv[3])
ms = [json.load(open(f"{tmp}/{name}.{i}.json")) for i in range(1, runs + 1)]
med = lambda f: statistics.median(f(m) for m in ms)
# copies of the table the combine held at its peak: the rank's table (resident when the
# combine starts) plus what the combine added, over the largest table it held (own, range, result)
def ratio(m):
    return max((r["table_bytes"] + r["combine_peak_rss_bytes"] - r["combine_start_rss_bytes"]) /
               max(r["table_bytes"], r["range_bytes"], r["result_bytes"], 1) for r in m["ranks"])
print("%.3f %.3f %.3f %.1f %.2f %s" % (
    med(lambda m: m["seconds"]), med(lambda m: m["phases"]["map"]["max"]),
    med(lambda m: m["phases"]["combine"]["max"]),
    med(lambda m: max(r["peak_rss_bytes"] for r in m["ranks"])) / 2**20,
    med(ratio), ms[0]["config"]["reduce_used"]))
PY
}

{
    echo "# bench-combine $(date -u +%Y-%m-%dT%H:%MZ) on $(hostname), $(nproc) cores, runs=$RUNS (medians)"
    echo
    echo "mrcount: $MRC ($("$MRC" --version))"
} >"$out"

if [[ $PARTS == *" combine "* ]]; then
    {
        echo
        echo "## 1. combine: reduce vs shuffle (one thread per rank; oversubscribed beyond $(nproc) ranks)"
        echo
        echo "| keys | np | combine | s (combine) | s (run) | peak RSS MiB (max rank) | tables held at the combine peak (worst rank) |"
        echo "|---|---|---|---|---|---|---|"
    } >>"$out"
    for V in $VOCABS; do
        dir=$WORK/vocab-$V
        if [ ! -f "$dir/.done" ]; then
            # 8 files; each key lands in about 3 of them (random), so ranks' tables overlap.
            say "generating $dir ($V keys)"
            rm -rf "$dir" && mkdir -p "$dir"
            for f in 0 1 2 3 4 5 6 7; do
                mawk -v V="$V" -v f="$f" 'BEGIN { srand(1000 + f); for (i = 0; i < V; i++) if (rand() < 0.375) print "key" i }' >"$dir/p$f.txt"
            done
            touch "$dir/.done"
        fi
        rm -f "$tmp/first.tsv"
        for np in $NPS; do
            for mode in reduce shuffle; do
                say "keys $V np $np $mode"
                runs "v$V-np$np-$mode" "$np" --threads 1 --reduce "$mode" "$dir"
                read -r secs _ comb rss ratio _ < <(summary "v$V-np$np-$mode")
                echo "| $V | $np | $mode | $comb | $secs | $rss | $ratio |" >>"$out"
            done
        done
    done
fi

if [[ $PARTS == *" skew "* ]]; then
    dir=$WORK/skew
    if [ ! -f "$dir/.done" ]; then
        say "generating $dir (one ${SKEW_MIB} MiB .gz among 40 tiny files)"
        rm -rf "$dir" && mkdir -p "$dir"
        "$GEN" "$tmp/big" "$SKEW_MIB" --files 1 --seed 31
        gzip -c "$tmp/big/part0000.txt" >"$dir/big.txt.gz"
        rm -rf "$tmp/big"
        "$GEN" "$tmp/small" 4 --files 40 --seed 32
        mv "$tmp"/small/*.txt "$dir/"
        touch "$dir/.done"
    fi
    {
        echo
        echo "## 2. static vs dynamic schedule on a skewed input (one ${SKEW_MIB} MiB .gz + 40 files of 100 KiB; map phase = slowest rank)"
        echo
        echo "| np | schedule | s (map, makespan) | s (run) |"
        echo "|---|---|---|---|"
    } >>"$out"
    rm -f "$tmp/first.tsv"
    for np in 2 4; do
        for sched in static dynamic; do
            say "skew np $np $sched"
            runs "skew-np$np-$sched" "$np" --threads 1 --schedule "$sched" --chunk-size 64k "$dir"
            read -r secs map _ < <(summary "skew-np$np-$sched")
            echo "| $np | $sched | $map | $secs |" >>"$out"
        done
    done
fi

if [[ $PARTS == *" scale "* ]]; then
    bench_corpus "$CORPUS" 1024
    cat "$CORPUS"/part*.txt >/dev/null # warm the page cache
    {
        echo
        echo "## 3. 2 ranks vs 1 rank on $CORPUS (one thread per rank, bound by mpirun)"
        echo
        echo "| ranks | s (run) | s (map) | s (combine) | combine share | speed-up | map speed-up |"
        echo "|---|---|---|---|---|---|---|"
    } >>"$out"
    rm -f "$tmp/first.tsv"
    base='' base_map=''
    for np in 1 2; do
        say "1 GiB corpus, np $np"
        runs "scale-np$np" "$np" --threads 1 "$CORPUS"
        read -r secs map comb _ < <(summary "scale-np$np")
        base=${base:-$secs} base_map=${base_map:-$map}
        share=$(awk -v c="$comb" -v s="$secs" 'BEGIN { printf "%.1f%%", 100 * c / s }')
        up=$(awk -v b="$base" -v s="$secs" 'BEGIN { printf "%.2fx", b / s }')
        map_up=$(awk -v b="$base_map" -v s="$map" 'BEGIN { printf "%.2fx", b / s }')
        echo "| $np | $secs | $map | $comb | $share | $up | $map_up |" >>"$out"
    done
fi

cat "$out"
say "written $out"
