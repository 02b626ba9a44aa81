#!/usr/bin/env bash
# bench-files.sh - a corpus of many small files (a folder of documents, one tweet or article a
# file): mrcount's words job against the Python baseline and `wc -w`, side by side in one
# hyperfine run. Here the costs per file count (discovery's lookups, an open, a read and a
# close per file, the dynamic schedule's pulls), not the tokenizer.
#
# usage: bench/bench-files.sh [FILES_DIR [RESULTS_DIR]]
#   FILES_DIR    default $BENCH_DIR or /tmp/mrc-bench/files-50k; made if missing: BENCH_FILES
#                (50000) files of 50-800 words (about 0.3-5 KB), in 20 directories, cut at random
#                (seed 1) from the first 8 MB of the make-corpus.sh text (BENCH_CORPUS, default
#                /tmp/mrc-bench/corpus-1g, built if missing)
#   RESULTS_DIR  default bench/results; gets bench-files-<stamp>.{md,json,summary.md}
# Env: MRCOUNT (default build/mrcount, built if missing), MRC_SHARED, BENCH_RUNS (3),
#      BENCH_TIMEOUT (3600 s per run), BENCH_FILES (50000).
# Needs: hyperfine, python3, Open MPI.
set -euo pipefail
BENCH=bench-files.sh
# shellcheck source=bench/lib.bash
source "$(dirname "${BASH_SOURCE[0]}")/lib.bash"
DIR=${1:-${BENCH_DIR:-/tmp/mrc-bench/files-50k}}
RESULTS=${2:-$ROOT/bench/results}
NFILES=${BENCH_FILES:-50000}
bench_need hyperfine python3 mpirun
bench_build mrcount
if [ ! -d "$DIR" ]; then
    CORPUS=${BENCH_CORPUS:-/tmp/mrc-bench/corpus-1g}
    bench_corpus "$CORPUS" 1024
    say "cutting $NFILES files into $DIR"
    python3 - "$CORPUS" "$DIR" "$NFILES" <<'EOF'
import glob, os, random, sys
corpus, out, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
random.seed(1)
with open(sorted(glob.glob(corpus + "/part*.txt"))[0], "rb") as f:
    words = f.read(8 << 20).split()
per_dir = (n + 19) // 20
for i in range(n):
    d = "%s/d%02d" % (out, i // per_dir)
    os.makedirs(d, exist_ok=True)
    k = random.randint(50, 800)
    s = random.randint(0, len(words) - k)
    with open("%s/f%06d.txt" % (d, i), "wb") as f:
        f.write(b" ".join(words[s:s + k]) + b"\n")
EOF
fi
find "$DIR" -type f -name '*.txt' | sort >"${TMPDIR:-/tmp}/bench-files.list.$$"
list=${TMPDIR:-/tmp}/bench-files.list.$$
nfiles=$(wc -l <"$list")
bytes=$(xargs cat -- <"$list" | wc -c) # also warms the page cache
mkdir -p "$RESULTS"
stamp=$(date +%Y%m%d-%H%M%S)
out=$RESULTS/bench-files-$stamp
tmp=$(mktemp -d "${TMPDIR:-/tmp}/mrc-bench.XXXXXX")
mv "$list" "$tmp/files.list"
list=$tmp/files.list
trap 'rm -rf "$tmp"' EXIT

mrc() { # mrc NAME MPIRUN-ARGS... -- MRCOUNT-ARGS... (the directory as the input)
    local name=$1
    shift
    # shellcheck disable=SC2016 # $$ is for the run's shell
    printf '%s --metrics %s.$$.metrics.json' "$(mrc_cmd "$name" "$(q "$DIR")" "$@")" "$(q "$tmp/$name")"
}
# the Python baseline in one process with every file (a command line cannot hold 50,000 names)
PYRUN='import runpy, sys
script, lst = sys.argv[1], sys.argv[2]
sys.argv = [script, "--mode", "words", "--procs", "2"] + open(lst).read().splitlines()
runpy.run_path(script, run_name="__main__")'
names=(mrc-1x1 mrc-1x2 mrc-2x1 mrc-2x1-dynamic python wc)
cmds=("$(mrc mrc-1x1 -np 1 --bind-to core -- --threads 1)"
    "$(mrc mrc-1x2 -np 1 --map-by slot:PE=2 -- --threads 2)"
    "$(mrc mrc-2x1 -np 2 -- --threads 1)"
    "$(mrc mrc-2x1-dynamic -np 2 -- --threads 1 --schedule dynamic)"
    "timeout $LIMIT python3 -c $(q "$PYRUN") $(q "$SHARED_BENCH/seed_mapreduce.py") $(q "$list")"
    "timeout $LIMIT xargs -a $(q "$list") env LC_ALL=C wc -w | awk '\$2 == \"total\" { t += \$1 } END { print t }'")

say "files: $nfiles in $DIR, $bytes bytes; $(nproc) cores; $RUNS runs each"
time_all "$out"
peak_memory

# every mrcount layout the same table; its total equals wc -w's and the Python baseline's, whose
# top 20 it matches too (the same token rule: ASCII whitespace)
checks=()
for n in mrc-1x2 mrc-2x1 mrc-2x1-dynamic; do
    cmp -s "$tmp/mrc-1x1.tsv" "$tmp/$n.tsv" || checks+=("MISMATCH: $n output differs from mrc-1x1")
done
mrc_total=$(awk -F '\t' '{ t += $NF } END { printf "%d", t }' "$tmp/mrc-1x1.tsv")
py_total=$(sed -n 's/^#total\t//p' "$tmp/python.stdout")
wc_total=$(cat "$tmp/wc.stdout")
checks+=("mrcount total tokens: $mrc_total, distinct: $(wc -l <"$tmp/mrc-1x1.tsv")")
[ "$wc_total" = "$mrc_total" ] && checks+=("wc -w total: same") ||
    checks+=("MISMATCH: wc -w total $wc_total")
if [ "$py_total" != "$mrc_total" ]; then
    checks+=("MISMATCH: python total $py_total")
elif cmp -s <(head -n 20 "$tmp/mrc-1x1.tsv") <(head -n 20 "$tmp/python.stdout"); then
    checks+=("python baseline: same total and top 20")
else
    checks+=("MISMATCH: python top 20")
fi

python3 - "$out.json" "$bytes" "$nfiles" "$tmp" "${names[@]}" >"$out.summary.md" <<'EOF'
import glob, json, re, statistics, sys
path, nbytes, nfiles, tmp, names = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4], sys.argv[5:]
res = {r["command"]: r for r in json.load(open(path))["results"]}
med = {n: res[n]["median"] for n in names if n in res}
def peak(n):
    try:
        m = re.search(r"tree-RSS ([0-9.]+) MiB", open("%s/%s.peak" % (tmp, n)).read())
        return "%.0f" % float(m.group(1)) if m else "-"
    except OSError:
        return "-"
def phases(n):
    ms = [json.load(open(f)) for f in glob.glob("%s/%s.*.metrics.json" % (tmp, n))]
    if not ms:
        return "-", "-"
    return tuple("%.3f" % statistics.median(m["phases"][p]["max"] for m in ms)
                 for p in ("discover", "map"))
print("| command | median s | files/s | MB/s | discover s | map s | peak RSS MiB (tree) "
      "| vs python | vs wc |")
print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
for n in names:
    d, m = phases(n)
    print("| %s | %.2f | %.0f | %.0f | %s | %s | %s | %s | %s |" % (
        n, med[n], nfiles / med[n], nbytes / 1e6 / med[n], d, m, peak(n),
        "%.2fx" % (med["python"] / med[n]), "%.2fx" % (med["wc"] / med[n])))
print()
print("(%d files, %d bytes; speed-ups are baseline median / command median; mrcount's "
      "discover and map are medians of its metrics, slowest rank)" % (nfiles, nbytes))
EOF
summary_end "$out"
