#!/usr/bin/env bash
# bench-scaling.sh - what one core and a second core bring to a whole command ("one core near its
# limit"): mrcount 1x1, 1x2 and 2x1 beside LC_ALL=C wc -w on the English corpus at several sizes,
# in interleaved rounds (one run of each command in turn, `sync` and a pause before each), so a
# host that slows down or speeds up during the benchmark moves every command alike. hyperfine
# (bench-words.sh) runs each command's runs together: on a shared VM whose speed drifts by 10-30%
# within minutes, a ratio of two commands measured minutes apart is the drift's as much as theirs.
# Reports per size: the median whole-command seconds (mpirun's start-up and the result file
# included), the ratios of the medians (1x1 against wc -w, 1x2 and 2x1 against 1x1) and the median
# and range of the same ratios taken round by round. Each round also measures what the machine
# gives two threads at that moment (tests/bench/bench_cores: the same integer loop, and loads
# within L2, on one thread and split over two, alternated): a VM's two vCPUs may be two cores or
# share one, from minute to minute, and no 1x2 run scales past that. The summary gives that
# ceiling beside the 1x2 and 2x1 ratios of the same rounds.
#
# usage: bench/bench-scaling.sh [RESULTS_DIR]
#   RESULTS_DIR  default bench/results; gets bench-scaling-<stamp>.md and bench-scaling-<stamp>.tsv
#                (every run: size, round, command, seconds)
# Env: MRCOUNT, MRC_SHARED, BENCH_TIMEOUT as in lib.bash; BENCH_RUNS (7 rounds); BENCH_SIZES (MiB,
#      "256 1024"; the corpus of N MiB is /tmp/mrc-bench/corpus-1g for 1024, else
#      /tmp/mrc-bench/corpus-<N>m, made by make-corpus.sh when missing); BENCH_COMMANDS (subset of
#      "mrc-1x1 mrc-1x2 mrc-2x1 wc", default all); BENCH_SETTLE (1: seconds of quiet before a run);
#      BENCH_CEILING (1; 0: no bench_cores rounds, which need 2 CPUs).
# Needs: Open MPI, python3; make-corpus.sh needs dict-gcide dict-foldoc dict-jargon bible-kjv.
set -euo pipefail
BENCH=bench-scaling.sh
# shellcheck source=bench/lib.bash
source "$(dirname "${BASH_SOURCE[0]}")/lib.bash"
RESULTS=${1:-$ROOT/bench/results}
RUNS=${BENCH_RUNS:-7}
SIZES=${BENCH_SIZES:-256 1024}
WANT=" ${BENCH_COMMANDS:-mrc-1x1 mrc-1x2 mrc-2x1 wc} "
SETTLE=${BENCH_SETTLE:-1}
CEILING=${BENCH_CEILING:-1}
bench_need mpirun python3 timeout
bench_build mrcount
cores=
if [ "$CEILING" != 0 ] && [ "$(nproc)" -ge 2 ]; then cores=$(bench_tool bench_cores); fi
mkdir -p "$RESULTS"
stamp=$(date +%Y%m%d-%H%M%S)
out=$RESULTS/bench-scaling-$stamp
tmp=$(mktemp -d "${TMPDIR:-/tmp}/mrc-bench.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
: >"$out.tsv"
checks=()

for size in $SIZES; do
    if [ "$size" = 1024 ]; then corpus=/tmp/mrc-bench/corpus-1g; else corpus=/tmp/mrc-bench/corpus-${size}m; fi
    bench_corpus "$corpus" "$size"
    cat -- "${files[@]}" >/dev/null # the page cache: no run reads from disk
    inputs=$(q "${files[@]}")
    names=() cmds=()
    add() { if [[ $WANT == *" $1 "* ]]; then names+=("$1"); cmds+=("$2"); fi; }
    add mrc-1x1 "$(mrc_cmd mrc-1x1 "$inputs" -np 1 --bind-to core -- --threads 1)"
    add mrc-1x2 "$(mrc_cmd mrc-1x2 "$inputs" -np 1 --map-by slot:PE=2 -- --threads 2)"
    add mrc-2x1 "$(mrc_cmd mrc-2x1 "$inputs" -np 2 -- --threads 1)"
    add wc "timeout $LIMIT env LC_ALL=C wc -w $inputs"
    [ "${#names[@]}" -gt 0 ] || { echo "$BENCH: BENCH_COMMANDS selects nothing" >&2; exit 2; }
    for ((r = 1; r <= RUNS; r++)); do
        for i in "${!names[@]}"; do
            sync
            sleep "$SETTLE"
            t0=$(date +%s.%N)
            bash -c "${cmds[$i]}" >"$tmp/${names[$i]}.stdout" 2>"$tmp/${names[$i]}.stderr" ||
                { tail -n 20 "$tmp/${names[$i]}.stderr" >&2; echo "$BENCH: ${names[$i]} failed" >&2; exit 1; }
            t1=$(date +%s.%N)
            s=$(python3 -c 'import sys; print("%.3f" % (float(sys.argv[2]) - float(sys.argv[1])))' "$t0" "$t1")
            printf '%s\t%s\t%s\t%s\n' "$size" "$r" "${names[$i]}" "$s" >>"$out.tsv"
            say "$size MiB round $r/$RUNS: ${names[$i]} $s s"
        done
        if [ -n "$cores" ]; then # "alu T=2 ratio median 1.97 (...)": ceiling-alu 1.97
            "$cores" 2 3 150 | awk -v size="$size" -v r="$r" \
                '$3 == "ratio" { printf "%s\t%s\tceiling-%s\t%s\n", size, r, $1, $5 }' >>"$out.tsv"
            say "$size MiB round $r/$RUNS: two-thread ceiling $(grep -P "^$size\t$r\tceiling" "$out.tsv" | cut -f3,4 | tr '\n\t' ' =')"
        fi
    done
    # every layout gives the same table (its total is not wc -w's: the corpus holds bytes >= 0x80,
    # which wc -w in the C locale counts differently; bench-words.sh checks it against Python)
    same_results "$size MiB: "
    [ -z "$ref" ] || checks+=("$size MiB: the mrcount layouts' results are identical: OK")
    rm -f "$tmp"/*.tsv
done

{
    echo "# bench-scaling $(date -u +%Y-%m-%dT%H:%MZ) on $(hostname), $(nproc) cores, $RUNS interleaved rounds"
    echo
    echo "mrcount: $MRC ($("$MRC" --version 2>/dev/null | head -n 1))"
    echo
    python3 - "$out.tsv" <<'EOF'
import collections, statistics, sys
runs = collections.defaultdict(dict)  # (size, round) -> command -> seconds
for line in open(sys.argv[1]):
    size, rnd, name, s = line.split("\t")
    runs[(int(size), int(rnd))][name] = float(s)
pairs = [("wc", "mrc-1x1", "1x1 vs wc -w"), ("mrc-1x1", "mrc-1x2", "1x2 vs 1x1"),
         ("mrc-1x1", "mrc-2x1", "2x1 vs 1x1")]
print("| MiB | " + " | ".join("%s median s" % n for n in ("mrc-1x1", "mrc-1x2", "mrc-2x1", "wc"))
      + " | " + " | ".join("%s (medians; rounds: median, min-max)" % p[2] for p in pairs) + " |")
print("|---:|" + "---:|" * 4 + "---|" * len(pairs))
for size in sorted({k[0] for k in runs}):
    rounds = [v for k, v in sorted(runs.items()) if k[0] == size]
    med = {n: statistics.median(r[n] for r in rounds if n in r)
           for n in ("mrc-1x1", "mrc-1x2", "mrc-2x1", "wc") if any(n in r for r in rounds)}
    cells = ["%.3f" % med[n] if n in med else "-" for n in ("mrc-1x1", "mrc-1x2", "mrc-2x1", "wc")]
    for base, n, _ in pairs:
        per = [r[base] / r[n] for r in rounds if base in r and n in r]
        cells.append("%.2fx; %.2f, %.2f-%.2f" % (med[base] / med[n], statistics.median(per), min(per),
                                                  max(per)) if per else "-")
    print("| %d | %s |" % (size, " | ".join(cells)))
ceil = [(k, v) for k, v in sorted(runs.items()) if "ceiling-alu" in v]
if ceil:
    print()
    print("What the machine gave two threads in the same rounds (bench_cores: t(1 thread) /"
          " t(2 threads) for the same work; 2.00 = two whole cores; alu: integer operations, which"
          " two hardware threads of one core share; l2: dependent loads in L2, which they overlap):")
    print()
    print("| MiB | ceiling alu (rounds: median, min-max) | ceiling l2 | 1x2 vs 1x1 | 2x1 vs 1x1 |")
    print("|---:|---|---|---|---|")
    for size in sorted({k[0] for k, _ in ceil}):
        rounds = [v for k, v in ceil if k[0] == size]
        cells = []
        for c in ("ceiling-alu", "ceiling-l2"):
            xs = [r[c] for r in rounds if c in r]
            cells.append("%.2f, %.2f-%.2f" % (statistics.median(xs), min(xs), max(xs)) if xs else "-")
        for n in ("mrc-1x2", "mrc-2x1"):
            xs = [r["mrc-1x1"] / r[n] for r in rounds if "mrc-1x1" in r and n in r]
            cells.append("%.2f, %.2f-%.2f" % (statistics.median(xs), min(xs), max(xs)) if xs else "-")
        print("| %d | %s |" % (size, " | ".join(cells)))
print()
print("(whole commands, wall seconds; a ratio is a speed-up: the baseline's seconds / the command's."
      " Targets of issue 16: 1x1 >= 2.1x wc -w; 1x2 >= 1.9x 1x1 at 256 MiB as at 1 GiB)")
EOF
    echo
    for c in "${checks[@]}"; do echo "- $c"; done
} >"$out.md"
cat "$out.md"
say "results: $out.md $out.tsv"
if printf '%s\n' "${checks[@]}" | grep -q MISMATCH; then exit 1; fi
