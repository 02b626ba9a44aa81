#!/usr/bin/env bash
# bench-vocab.sh - big vocabularies ("vocabularies bigger than memory, faster than sort | uniq -c"):
#   30m      30 M distinct keys (key1x ... key30000000x, one a line): mrcount 1x1, 1x2 and 2x1
#            beside sort | uniq -c, mawk and the Python baseline, runs interleaved: seconds, peak
#            RSS, mrcount's phase breakdown and the output phase's share of the run;
#   100m     100 M distinct keys under --memory-limit at np 1 and 2 (one thread a rank) and np 1
#            with 2 threads: seconds, spill bytes and peak RSS per rank against the limit;
#   english  the 1 GiB English corpus at 1x1 and 1x2: seconds and map MB/s (no spill expected);
#   ngram    the 30m part's keys as Google Books v2 rows (key TAB 2000 TAB 1-7 TAB 1, one a key),
#            --job ngram at 1x1, 1x2 and 2x1 beside sort-count.sh and awk-count.sh ngram: a 2- to
#            5-gram export's cardinality (not in the default parts).
# Every run goes through peakmem.py (peak RSS of the process tree, mpirun's ranks included).
#
# usage: bench/bench-vocab.sh [WORK_DIR [RESULTS_DIR]]
#   WORK_DIR     generated key files (default /tmp/mrc-bench/vocab); kept between runs
#   RESULTS_DIR  default bench/results; gets bench-vocab-<stamp>.md (the tables) and
#                bench-vocab-<stamp>/ (runs.tsv: every run; the metrics JSON of every mrcount run)
# Env: MRCOUNT, MRC_SHARED, BENCH_RUNS (3), BENCH_TIMEOUT (3600 s per run) as in lib.bash;
#      BENCH_PARTS ("30m 100m english"; "ngram" too); BENCH_COMMANDS (30m and ngram parts: subset
#      of "mrc-1x1 mrc-1x2 mrc-2x1 sort mawk python", default all; ngram has no python; 30m also
#      has mrc-2x1-merge and mrc-2x1-append, not in the default: 2 x 1 with rank 0 merging every
#      rank's share, the output before the output by ranges, and with rank 0 appending rank 1's
#      lines, the output by ranges on a path the ranks do not share); BENCH_KEYS (30000000), BENCH_BIG_KEYS (100000000);
#      BENCH_TOKENS, BENCH_BIG_TOKENS (0: each key once; more: repeats, see gen_keys --tokens);
#      BENCH_DIST (zipf), BENCH_ORDER (seq), BENCH_PER_LINE (1), BENCH_FILES (8) for gen_keys;
#      BENCH_SETTLE (5: seconds of quiet before each run, see run_interleaved);
#      BENCH_MEMORY_LIMIT (1G); BENCH_SORT_MEM (4G); BENCH_DIR (the English corpus, default
#      /tmp/mrc-bench/corpus-1g, made by ../shared/bench/make-corpus.sh if missing),
#      BENCH_SIZE_MIB (1024: its size when made).
# Needs: mawk, python3, Open MPI; gen_keys next to MRCOUNT (<build>/tests/gen_keys) or in
#        build/tests (built if missing); make-corpus.sh needs dict-gcide dict-foldoc dict-jargon
#        bible-kjv.
set -euo pipefail
BENCH=bench-vocab.sh
# shellcheck source=bench/lib.bash
source "$(dirname "${BASH_SOURCE[0]}")/lib.bash"
WORK=${1:-/tmp/mrc-bench/vocab}
RESULTS=${2:-$ROOT/bench/results}
PARTS=" ${BENCH_PARTS:-30m 100m english} "
WANT=" ${BENCH_COMMANDS:-mrc-1x1 mrc-1x2 mrc-2x1 sort mawk python} "
KEYS=${BENCH_KEYS:-30000000}
BIG_KEYS=${BENCH_BIG_KEYS:-100000000}
TOKENS=${BENCH_TOKENS:-0}
SETTLE=${BENCH_SETTLE:-5}
BIG_TOKENS=${BENCH_BIG_TOKENS:-0}
DIST=${BENCH_DIST:-zipf}
ORDER=${BENCH_ORDER:-seq}
PER_LINE=${BENCH_PER_LINE:-1}
NFILES=${BENCH_FILES:-8}
MEMORY_LIMIT=${BENCH_MEMORY_LIMIT:-1G}
SORT_MEM=${BENCH_SORT_MEM:-4G}
CORPUS=${BENCH_DIR:-/tmp/mrc-bench/corpus-1g}
SIZE_MIB=${BENCH_SIZE_MIB:-1024}
bench_need mpirun python3 mawk timeout
bench_build mrcount gen_keys
mkdir -p "$WORK" "$RESULTS"
stamp=$(date +%Y%m%d-%H%M%S)
out=$RESULTS/bench-vocab-$stamp.md
keep=$RESULTS/bench-vocab-$stamp
log=$keep/runs.tsv
mkdir -p "$keep"
tmp=$(mktemp -d "${TMPDIR:-/tmp}/mrc-bench.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
checks=()

# keyset KEYS TOKENS : the directory of that key set under WORK, generated (to a temporary name,
# then renamed) unless already there; its files are listed in the array `files`.
keyset() {
    local keys=$1 tokens=$2 dir args
    args=(--order "$ORDER" --files "$NFILES" --seed 1)
    dir=$WORK/keys-$keys-$ORDER-f$NFILES
    if [ "$tokens" != 0 ] && [ "$tokens" != "$keys" ]; then
        args+=(--tokens "$tokens" --dist "$DIST")
        dir+=-t$tokens-$DIST
    fi
    if [ "$PER_LINE" != 1 ]; then
        args+=(--per-line "$PER_LINE")
        dir+=-l$PER_LINE
    fi
    if [ ! -d "$dir" ]; then
        say "generating $dir (gen_keys $keys ${args[*]})"
        rm -rf "$dir.part"
        "$(bench_tool gen_keys)" "$dir.part" "$keys" "${args[@]}"
        mv "$dir.part" "$dir"
    fi
    mapfile -t files < <(find "$dir" -maxdepth 1 -type f -name 'part*.txt' | sort)
    [ "${#files[@]}" -gt 0 ] || { echo "$BENCH: no part*.txt in $dir" >&2; exit 1; }
    say "$dir: ${#files[@]} files, $(cat -- "${files[@]}" | wc -c) bytes (page cache warmed)"
}

# mrc NAME MPIRUN-ARGS... -- MRCOUNT-ARGS... : an mrcount command of the current part on $inputs,
# its result in $tmp/PART-NAME.tsv and each run's metrics in $keep/PART-NAME.<run>.json (@RUN@ is
# replaced at run time).
mrc() {
    local name=$part-$1
    shift
    printf '%s --progress never --metrics %s' "$(mrc_cmd "$name" "$inputs" "$@")" "$(q "$keep/$name").@RUN@.json"
}

names=() cmds=()
# add NAME CMD : one command of the current part (for the 30m and ngram parts only when
# BENCH_COMMANDS has it).
add() {
    if { [ "$part" != 30m ] && [ "$part" != ngram ]; } || [[ $WANT == *" $1 "* ]]; then
        names+=("$1")
        cmds+=("$2")
    fi
}

# run_interleaved : BENCH_RUNS rounds, each running every command of names/cmds once under
# peakmem.py, its output in $tmp/PART-NAME.{stdout,stderr} (last run); one line per run in $log
# (part, name, run, status, wall s, CPU s of the tree (user + sys), tree RSS MiB, the 1-minute
# load average when the run started, metrics file, sys s of the tree).
# Each run starts after SETTLE quiet seconds: on a VM whose guest reports freed pages to the
# host (virtio-balloon free page reporting), memory touched within ~2 s of another process
# freeing it is cheap and memory touched later costs a host fault (30 M keys, 2 threads: sys
# 0.4 s right after another run, 3.0 s after 8 s), so without the pause a command's figures
# depend on the command before it. Before that pause the command's last result is removed and
# every dirty page written back (sync): a result of 420 MB replaced by the next run's cost
# mrcount's rename 0.6-0.8 s of output phase at 1 x 1 (ext4 flushes a file renamed over
# another, and the old one's pages were still being written back) while a baseline's shell
# truncated its old result before the timed command began; and a command should not pay for
# the writeback of the one before it.
# A timeout (status 124) marks the command and skips its later runs; mrcount refusing an option
# (status 2, as for --memory-limit before it exists) marks the command "rejected"; any other
# failure ends the benchmark.
run_interleaved() {
    local r i name f rc wall cpu sys rss load status
    local -A skip=()
    for ((r = 1; r <= RUNS; r++)); do
        for i in "${!names[@]}"; do
            name=${names[$i]}
            [ -z "${skip[$name]:-}" ] || continue
            f=$tmp/$part-$name
            say "$part run $r/$RUNS: $name"
            rc=0
            rm -f "$tmp/$name.tsv" "$f.stdout"
            sync
            sleep "$SETTLE"
            read -r load _ </proc/loadavg
            python3 "$SHARED_BENCH/peakmem.py" -- bash -c "${cmds[$i]//@RUN@/$r}" \
                >"$f.stdout" 2>"$f.stderr" || rc=$?
            wall=$(sed -n 's/^peakmem: wall \([0-9.]*\)s.*/\1/p' "$f.stderr")
            cpu=$(sed -n 's/^peakmem: .* user \([0-9.]*\)s  sys \([0-9.]*\)s.*/\1 \2/p' "$f.stderr" | mawk '{ printf "%.2f", $1 + $2 }')
            sys=$(sed -n 's/^peakmem: .* sys \([0-9.]*\)s.*/\1/p' "$f.stderr")
            rss=$(sed -n 's/^peakmem: .*tree-RSS \([0-9.]*\) MiB.*/\1/p' "$f.stderr")
            status=ok
            if [ "$rc" = 124 ]; then
                status=timeout skip[$name]=1
                say "  $name timed out after $LIMIT s; not run again"
                checks+=("$part: $name timed out after $LIMIT s in run $r (BENCH_TIMEOUT): no figures from it")
            elif [ "$rc" = 2 ] && [[ $name == mrc-* ]] && grep -q '^mrcount: .*option' "$f.stderr"; then
                status=rejected skip[$name]=1
                grep -m 1 '^mrcount: ' "$f.stderr" >"$f.rejected"
                checks+=("$part: $name: this mrcount rejects its options: \`$(cat "$f.rejected")\`")
                sed 's/^/  /' "$f.rejected" >&2
            elif [ "$rc" != 0 ]; then
                tail -n 20 "$f.stderr" >&2
                echo "$BENCH: $name failed (exit $rc)" >&2
                exit 1
            fi
            printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$part" "$name" "$r" "$status" "$wall" "$cpu" "$rss" "$load" \
                "$([[ $name == mrc-* ]] && echo "$keep/$part-$name.$r.json" || echo -)" "$sys" >>"$log"
            say "  $status, ${wall} s, CPU ${cpu} s (sys $sys), tree RSS ${rss} MiB (load at start $load)"
        done
    done
}

# check_counts NAME... : every mrcount result of the part is byte-identical to the first, its
# distinct count (lines, and distinct_keys in every run's metrics) and total are those generated
# (EXPECT_DISTINCT, EXPECT_TOTAL, when set), and each baseline's #total, #distinct and top 20
# agree with it. Findings go to `checks`.
check_counts() {
    local n f ref="" total distinct m_distinct b_total b_distinct
    for n in "$@"; do
        f=$tmp/$part-$n
        if [[ $n != mrc-* ]] || [ ! -f "$f.tsv" ] || [ -f "$f.rejected" ]; then continue; fi
        if [ -z "$ref" ]; then
            ref=$f
        elif ! cmp -s "$ref.tsv" "$f.tsv"; then
            checks+=("MISMATCH ($part): $n result differs from ${ref##*/}")
        fi
        m_distinct=$(python3 -c 'import glob, json, sys
print(",".join(sorted({str(json.load(open(f))["distinct_keys"]) for f in glob.glob(sys.argv[1] + ".*.json")})))' "$keep/$part-$n")
        [ -z "${EXPECT_DISTINCT:-}" ] || [ "$m_distinct" = "$EXPECT_DISTINCT" ] ||
            checks+=("MISMATCH ($part): $n metrics distinct_keys $m_distinct, generated $EXPECT_DISTINCT")
    done
    [ -n "$ref" ] || return 0
    total=$(mawk -F '\t' '{ t += $NF } END { printf "%.0f", t }' "$ref.tsv")
    distinct=$(wc -l <"$ref.tsv")
    if [ -n "${EXPECT_DISTINCT:-}" ] && { [ "$distinct" != "$EXPECT_DISTINCT" ] || [ "$total" != "$EXPECT_TOTAL" ]; }; then
        checks+=("MISMATCH ($part): mrcount total $total / distinct $distinct, generated $EXPECT_TOTAL / $EXPECT_DISTINCT")
    else
        checks+=("$part: mrcount results identical across layouts; total $total, distinct $distinct (result lines and metrics distinct_keys)${EXPECT_DISTINCT:+, as generated}: OK")
    fi
    for n in "$@"; do
        f=$tmp/$part-$n
        if [[ $n == mrc-* ]] || [ ! -s "$f.stdout" ]; then continue; fi
        b_total=$(sed -n 's/^#total\t//p' "$f.stdout")
        b_distinct=$(sed -n 's/^#distinct\t//p' "$f.stdout")
        if [ "$b_total" = "$total" ] && [ "$b_distinct" = "$distinct" ] &&
            cmp -s <(head -n 20 "$ref.tsv") <(head -n 20 "$f.stdout"); then
            checks+=("$part: $n: same total, distinct count and top 20: OK")
        else
            checks+=("MISMATCH ($part): $n total $b_total / distinct $b_distinct / top 20 differ from mrcount")
        fi
    done
}

{
    echo "# bench-vocab $(date -u +%Y-%m-%dT%H:%MZ) on $(hostname), $(nproc) cores, runs=$RUNS (medians, runs interleaved)"
    echo
    echo "mrcount: $MRC ($("$MRC" --version | head -n 1)); load before: $(uptime | sed 's/.*load average: //')"
} >"$out"
printf 'part\tname\trun\tstatus\twall_s\tcpu_s\ttree_rss_mib\tload\tmetrics\tsys_s\n' >"$log"

if [[ $PARTS == *" 30m "* ]]; then
    part=30m
    keyset "$KEYS" "$TOKENS"
    inputs=$(q "${files[@]}")
    names=() cmds=()
    add mrc-1x1 "$(mrc mrc-1x1 -np 1 --bind-to none -- --threads 1)"
    add mrc-1x2 "$(mrc mrc-1x2 -np 1 --bind-to none -- --threads 2)"
    add mrc-2x1 "$(mrc mrc-2x1 -np 2 -- --threads 1)"
    add mrc-2x1-merge "MRC_TEST_OUTPUT_MERGE=1 $(mrc mrc-2x1-merge -np 2 -- --threads 1)"
    add mrc-2x1-append "MRC_TEST_OUTPUT_UNSHARED=1 $(mrc mrc-2x1-append -np 2 -- --threads 1)"
    add sort "SORT_MEM=$SORT_MEM timeout $LIMIT $(q "$SHARED_BENCH/sort-count.sh") words $inputs"
    add mawk "timeout $LIMIT $(q "$SHARED_BENCH/awk-count.sh") words $inputs"
    add python "timeout $LIMIT python3 $(q "$SHARED_BENCH/seed_mapreduce.py") --mode words --procs 2 $inputs"
    [ "${#names[@]}" -gt 0 ] || { echo "$BENCH: BENCH_COMMANDS selects nothing" >&2; exit 2; }
    run_interleaved
    EXPECT_DISTINCT=$KEYS EXPECT_TOTAL=$((TOKENS > KEYS ? TOKENS : KEYS))
    check_counts "${names[@]}"
    {
        echo
        echo "## 30m: $KEYS distinct keys, $EXPECT_TOTAL tokens ($ORDER order, $PER_LINE a line, ${#files[@]} files, $(cat -- "${files[@]}" | wc -c) bytes)"
        echo
        python3 - "$log" 30m "$(nproc)" "${names[@]}" <<'EOF'
import csv, json, os, statistics, sys
log, part, cores, names = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4:]
rows = [r for r in csv.DictReader(open(log), delimiter="\t") if r["part"] == part]
PH = ("discover", "distribute", "map", "local_merge", "combine", "output")
def runs(n):
    return [r for r in rows if r["name"] == n and r["status"] == "ok"]
def status(n):
    return {r["status"] for r in rows if r["name"] == n} - {"ok"}
med = {n: statistics.median(float(r["wall_s"]) for r in runs(n)) for n in names if runs(n)}
def metrics(n):
    return [json.load(open(r["metrics"])) for r in runs(n)] if n.startswith("mrc-") else []
print("| command | median s | vs sort\\|uniq -c | CPU s | sys s | peak RSS GiB (tree) | peak RSS GiB (max rank) "
      "| run s (metrics) | " + " | ".join(PH) + " | output: exchange / sort / write | output share |")
print("|---|---:|---:|---:|---:|---:|---:|---:|" + "---:|" * len(PH) + "---:|---:|")
share = {}
for n in names:
    if n not in med:
        print("| %s | %s |" % (n, ", ".join(sorted(status(n))) or "not run") + " - |" * (7 + len(PH)))
        continue
    rss = max(float(r["tree_rss_mib"]) for r in runs(n)) / 1024
    ms = metrics(n)
    cells = ["-"] * (4 + len(PH))
    if ms:
        m = lambda f: statistics.median(f(x) for x in ms)
        run = m(lambda x: x["seconds"])
        share[n] = m(lambda x: x["phases"]["output"]["max"] / x["seconds"])
        cells = ["%.2f" % (m(lambda x: max(r["peak_rss_bytes"] for r in x["ranks"])) / 2**30), "%.2f" % run]
        cells += ["%.2f" % m(lambda x, p=p: x["phases"][p]["max"]) for p in PH]
        cells += [" / ".join("%.2f" % m(lambda x, k=k: max(r.get("output_%s_seconds" % k, 0)
                                                        for r in x["ranks"]))
                             for k in ("exchange", "sort", "write"))]
        cells += ["%.0f%%" % (100 * share[n])]
    ratio = "%.2fx" % (med["sort"] / med[n]) if "sort" in med else "-"
    cpu = statistics.median(float(r["cpu_s"]) for r in runs(n))
    sys_s = statistics.median(float(r.get("sys_s") or 0) for r in runs(n))
    print("| %s | %.2f | %s | %.1f | %.1f | %.2f | %s |" % (n, med[n], ratio, cpu, sys_s, rss, " | ".join(cells)))
print()
print("(median s: whole command, wall, mpirun's start-up included; vs sort|uniq -c: speed-up = sort's "
      "median / the command's; CPU s: user + sys of the whole tree (median), a check on the machine's "
      "load: far below cores x seconds means the command waited; sys s: its kernel part (page faults of "
      "fresh memory, I/O); each run after %s s of quiet (BENCH_SETTLE); peak RSS (tree): peakmem.py over the process tree, highest of the runs; "
      "max rank, run s and phases: medians of mrcount's metrics (phases.*.max, slowest rank); "
      "output: the output phase's parts (output_*_seconds, the largest of the ranks); "
      "output share = phases.output.max / run s)" % os.environ.get("BENCH_SETTLE", "5"))
print()
def r(a, b):
    return "%.2fx" % (med[b] / med[a]) if a in med and b in med else "n/a (not run)"
print("Targets:")
print()
print("- mrc-1x2 speed / sort|uniq -c speed = %s (target >= 3x)" % r("mrc-1x2", "sort"))
ms = metrics("mrc-1x1")
if ms:
    rank = statistics.median(max(r["peak_rss_bytes"] for r in x["ranks"]) for x in ms) / 2**30
    tree = max(float(r["tree_rss_mib"]) for r in runs("mrc-1x1")) / 1024
    print("- mrc-1x1 peak RSS = %.2f GiB (rank), %.2f GiB (tree, mpirun included) (target <= 1.5)" % (rank, tree))
else:
    print("- mrc-1x1 peak RSS: n/a (not run)")
print("- output share of the run: %s (target <= 15%%)" % (
    ", ".join("%s %.0f%%" % (n, 100 * s) for n, s in share.items()) or "n/a (not run)"))
EOF
    } >>"$out"
fi

if [[ $PARTS == *" 100m "* ]]; then
    part=100m
    keyset "$BIG_KEYS" "$BIG_TOKENS"
    inputs=$(q "${files[@]}")
    names=() cmds=()
    add mrc-np1 "$(mrc mrc-np1 -np 1 --bind-to none -- --threads 1 --memory-limit "$MEMORY_LIMIT")"
    add mrc-np2 "$(mrc mrc-np2 -np 2 -- --threads 1 --memory-limit "$MEMORY_LIMIT")"
    # one rank on every core: a workstation's default (the spilled output cut among its threads)
    add mrc-np1x2 "$(mrc mrc-np1x2 -np 1 --bind-to none -- --threads 2 --memory-limit "$MEMORY_LIMIT")"
    run_interleaved
    EXPECT_DISTINCT=$BIG_KEYS EXPECT_TOTAL=$((BIG_TOKENS > BIG_KEYS ? BIG_TOKENS : BIG_KEYS))
    check_counts "${names[@]}"
    {
        echo
        echo "## 100m: $BIG_KEYS distinct keys, $EXPECT_TOTAL tokens, --memory-limit $MEMORY_LIMIT (one thread per rank, but mrc-np1x2; ${#files[@]} files, $(cat -- "${files[@]}" | wc -c) bytes)"
        echo
        python3 - "$log" 100m "$MEMORY_LIMIT" "$tmp" "${names[@]}" <<'EOF'
import csv, json, os, statistics, sys
log, part, limit_arg, tmp, names = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4], sys.argv[5:]
units = {"": 1, "k": 2**10, "m": 2**20, "g": 2**30, "t": 2**40}
num = limit_arg.rstrip("kKmMgGtTbB")
limit = float(num) * units[limit_arg[len(num):len(num) + 1].lower()]
rows = [r for r in csv.DictReader(open(log), delimiter="\t") if r["part"] == part]
def gib(b):
    return "%.2f" % (b / 2**30)
print("| command | median s | CPU s | run s (metrics) | map / local_merge / combine / output s "
      "| spill bytes per rank | peak RSS GiB per rank | worst rank peak / limit | peak RSS GiB (tree) |")
print("|---|---:|---:|---:|---|---|---|---:|---:|")
for n in names:
    ok = [r for r in rows if r["name"] == n and r["status"] == "ok"]
    bad = sorted({r["status"] for r in rows if r["name"] == n} - {"ok"})
    if not ok:
        why = ", ".join(bad) or "not run"
        if os.path.exists("%s/%s-%s.rejected" % (tmp, part, n)):
            why = "rejected: `%s`" % open("%s/%s-%s.rejected" % (tmp, part, n)).read().strip()
        print("| %s | %s | - | - | - | - | - | - | - |" % (n, why))
        continue
    ms = [json.load(open(r["metrics"])) for r in ok]
    med = lambda f: statistics.median(f(x) for x in ms)
    nr = len(ms[0]["ranks"])
    spill = []
    for k in range(nr):
        vals = [x["ranks"][k].get("spill_bytes") for x in ms]
        spill.append("%.0f (%.0f MiB)" % (statistics.median(vals), statistics.median(vals) / 2**20)
                     if None not in vals else "n/a")
    peaks = [med(lambda x, k=k: x["ranks"][k]["peak_rss_bytes"]) for k in range(nr)]
    print("| %s | %.2f | %.1f | %.2f | %s | %s | %s | %.2fx | %.2f |" % (
        n, statistics.median(float(r["wall_s"]) for r in ok),
        statistics.median(float(r["cpu_s"]) for r in ok), med(lambda x: x["seconds"]),
        " / ".join("%.2f" % med(lambda x, p=p: x["phases"][p]["max"]) for p in ("map", "local_merge", "combine", "output")),
        " / ".join(spill), " / ".join(gib(p) for p in peaks), max(peaks) / limit,
        max(float(r["tree_rss_mib"]) for r in ok) / 1024))
print()
print("(per rank: rank 0 / rank 1; spill bytes: ranks[].spill_bytes of the metrics, n/a when this "
      "mrcount does not report it; peak / limit: the target is <= 1.10x of %s = %.0f bytes)" % (limit_arg, limit))
EOF
    } >>"$out"
fi

if [[ $PARTS == *" english "* ]]; then
    part=english
    bench_corpus "$CORPUS" "$SIZE_MIB"
    bytes=$(cat -- "${files[@]}" | wc -c) # also warms the page cache
    inputs=$(q "${files[@]}")
    names=() cmds=()
    add mrc-1x1 "$(mrc mrc-1x1 -np 1 --bind-to none -- --threads 1)"
    add mrc-1x2 "$(mrc mrc-1x2 -np 1 --bind-to none -- --threads 2)"
    run_interleaved
    unset EXPECT_DISTINCT EXPECT_TOTAL
    check_counts "${names[@]}"
    {
        echo
        echo "## english: $CORPUS (${#files[@]} files, $bytes bytes)"
        echo
        python3 - "$log" english "$bytes" "${names[@]}" <<'EOF'
import csv, json, statistics, sys
log, part, nbytes, names = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4:]
rows = [r for r in csv.DictReader(open(log), delimiter="\t") if r["part"] == part]
print("| command | median s | CPU s | run s (metrics) | run MB/s | map s | map MB/s | output s "
      "| spill bytes per rank | peak RSS GiB (max rank) |")
print("|---|---:|---:|---:|---:|---:|---:|---:|---|---:|")
for n in names:
    ok = [r for r in rows if r["name"] == n and r["status"] == "ok"]
    if not ok:
        print("| %s | not run | - | - | - | - | - | - | - | - |" % n)
        continue
    ms = [json.load(open(r["metrics"])) for r in ok]
    med = lambda f: statistics.median(f(x) for x in ms)
    run, mapped = med(lambda x: x["seconds"]), med(lambda x: x["phases"]["map"]["max"])
    spill = " / ".join("%.0f" % r["spill_bytes"] if "spill_bytes" in r else "n/a" for r in ms[-1]["ranks"])
    print("| %s | %.2f | %.1f | %.2f | %.0f | %.2f | %.0f | %.2f | %s | %.2f |" % (
        n, statistics.median(float(r["wall_s"]) for r in ok),
        statistics.median(float(r["cpu_s"]) for r in ok), run, nbytes / 1e6 / run, mapped,
        nbytes / 1e6 / mapped, med(lambda x: x["phases"]["output"]["max"]), spill,
        med(lambda x: max(r["peak_rss_bytes"] for r in x["ranks"])) / 2**30))
print()
print("(MB/s = corpus bytes / seconds; map s = phases.map.max; medians of the runs; spill bytes "
      "from the last run, n/a when this mrcount does not report them)")
EOF
    } >>"$out"
fi

if [[ $PARTS == *" ngram "* ]]; then
    part=ngram
    keyset "$KEYS" "$TOKENS"
    ngdir=$WORK/ngram-$(basename "$(dirname "${files[0]}")")
    if [ ! -d "$ngdir" ]; then
        say "generating $ngdir (v2 rows of the keys)"
        rm -rf "$ngdir.part"
        mkdir -p "$ngdir.part"
        for f in "${files[@]}"; do
            mawk -v OFS='\t' '{ for (i = 1; i <= NF; i++) print $i, 2000, (NR + i) % 7 + 1, 1 }' "$f" \
                >"$ngdir.part/googlebooks-eng-all-2gram-20120701-$(basename "$f" .txt)"
        done
        mv "$ngdir.part" "$ngdir"
    fi
    mapfile -t files < <(find "$ngdir" -maxdepth 1 -type f | sort)
    inputs=$(q "${files[@]}")
    names=() cmds=()
    add mrc-1x1 "$(mrc mrc-1x1 -np 1 --bind-to none -- --job ngram --threads 1)"
    add mrc-1x2 "$(mrc mrc-1x2 -np 1 --bind-to none -- --job ngram --threads 2)"
    add mrc-2x1 "$(mrc mrc-2x1 -np 2 -- --job ngram --threads 1)"
    add sort "SORT_MEM=$SORT_MEM timeout $LIMIT $(q "$SHARED_BENCH/sort-count.sh") ngram $inputs"
    add mawk "timeout $LIMIT $(q "$SHARED_BENCH/awk-count.sh") ngram $inputs"
    [ "${#names[@]}" -gt 0 ] || { echo "$BENCH: BENCH_COMMANDS selects nothing" >&2; exit 2; }
    run_interleaved
    unset EXPECT_DISTINCT EXPECT_TOTAL
    check_counts "${names[@]}"
    {
        echo
        echo "## ngram: the keys of the 30m part as v2 rows (${#files[@]} files, $(cat -- "${files[@]}" | wc -c) bytes)"
        echo
        python3 - "$log" ngram "${names[@]}" <<'EOF'
import csv, json, statistics, sys
log, part, names = sys.argv[1], sys.argv[2], sys.argv[3:]
rows = [r for r in csv.DictReader(open(log), delimiter="\t") if r["part"] == part]
ok = {n: [r for r in rows if r["name"] == n and r["status"] == "ok"] for n in names}
med = {n: statistics.median(float(r["wall_s"]) for r in ok[n]) for n in names if ok[n]}
print("| command | median s | vs sort-count.sh | vs awk-count.sh | CPU s | peak RSS GiB (tree) "
      "| map / local_merge / combine / output s |")
print("|---|---:|---:|---:|---:|---:|---|")
for n in names:
    if n not in med:
        print("| %s | not run | - | - | - | - | - |" % n)
        continue
    vs = lambda b: "%.2fx" % (med[b] / med[n]) if b in med else "-"
    phases = "-"
    if n.startswith("mrc-"):
        ms = [json.load(open(r["metrics"])) for r in ok[n]]
        phases = " / ".join("%.2f" % statistics.median(x["phases"][p]["max"] for x in ms)
                            for p in ("map", "local_merge", "combine", "output"))
    print("| %s | %.2f | %s | %s | %.1f | %.2f | %s |" % (
        n, med[n], vs("sort"), vs("mawk"), statistics.median(float(r["cpu_s"]) for r in ok[n]),
        max(float(r["tree_rss_mib"]) for r in ok[n]) / 1024, phases))
print()
print("(medians of the runs; vs X = X's median / the command's; phases: medians of phases.*.max)")
EOF
    } >>"$out"
fi

{
    echo
    echo "Load after: $(uptime | sed 's/.*load average: //')"
    echo
    echo "Checks:"
    echo
    for c in "${checks[@]}"; do echo "- $c"; done
} >>"$out"
cat "$out"
say "results: $out $log"
if printf '%s\n' "${checks[@]}" | grep -q MISMATCH; then
    exit 1
fi
