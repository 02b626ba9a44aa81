#!/usr/bin/env bash
# bench-ngram.sh - mrcount's ngram job against the baselines on generated Google Books Ngram v2
# 1-gram files, plain and gzip, side by side in two hyperfine runs (plain, then gzip), plus the
# peak memory of each command's process tree.
#
# usage: bench/bench-ngram.sh [DATA_DIR [RESULTS_DIR]]
#   DATA_DIR     plain files, default $BENCH_DIR/ngram-v2-1g ($BENCH_DIR default /tmp/mrc-bench;
#                ngram-v2-<N>m when BENCH_SIZE_MIB=N is not 1024); the same files gzipped are in
#                DATA_DIR-gz. Both are made with gen_ngrams (--format v2 --files 8 --seed 1) if missing.
#   RESULTS_DIR  default bench/results; gets bench-ngram-<stamp>-{plain,gz}.{md,json} and .summary.md
# Env: MRCOUNT (default build/mrcount, built if missing), MRC_SHARED (default ../shared, relative
#      to the repository), BENCH_SIZE_MIB (1024), BENCH_RUNS (3), BENCH_TIMEOUT (3600 s per run),
#      BENCH_COMMANDS (subset of "mrc-1x1 mrc-1x2 mrc-2x1 mawk python mrc-gz-1x1 mrc-gz-2x1
#      zcat-1 zcat-2", default all).
# Needs: hyperfine, mawk, python3, gzip (zcat), Open MPI; gen_ngrams next to MRCOUNT
#        (<build>/tests/gen_ngrams) or in build/tests (built if missing).
set -euo pipefail
BENCH=bench-ngram.sh
# shellcheck source=bench/lib.bash
source "$(dirname "${BASH_SOURCE[0]}")/lib.bash"
SIZE_MIB=${BENCH_SIZE_MIB:-1024}
if [ "$SIZE_MIB" = 1024 ]; then tag=1g; else tag=${SIZE_MIB}m; fi
DATA=${1:-${BENCH_DIR:-/tmp/mrc-bench}/ngram-v2-$tag}
DATA_GZ=$DATA-gz
RESULTS=${2:-$ROOT/bench/results}
WANT=" ${BENCH_COMMANDS:-mrc-1x1 mrc-1x2 mrc-2x1 mawk python mrc-gz-1x1 mrc-gz-2x1 zcat-1 zcat-2} "
bench_need hyperfine mawk python3 mpirun zcat xargs
bench_build mrcount gen_ngrams
gen() { # gen OUTDIR [--gzip]: the data set, written to a temporary name and renamed when complete
    local dir=$1 tool
    shift
    [ ! -d "$dir" ] || return 0
    tool=$(dirname "$MRC")/tests/gen_ngrams
    [ -x "$tool" ] || tool=$ROOT/build/tests/gen_ngrams
    if [ ! -x "$tool" ]; then
        say "building gen_ngrams in $ROOT/build"
        [ -f "$ROOT/build/CMakeCache.txt" ] || cmake -S "$ROOT" -B "$ROOT/build" -DCMAKE_BUILD_TYPE=Release >/dev/null
        cmake --build "$ROOT/build" -j "$(nproc)" --target gen_ngrams >/dev/null
    fi
    say "generating ${SIZE_MIB} MiB of v2 1-grams in $dir ($*)"
    mkdir -p "$(dirname "$dir")"
    rm -rf "$dir.part"
    "$tool" "$dir.part" "$SIZE_MIB" --format v2 --files 8 --seed 1 "$@"
    mv "$dir.part" "$dir"
}
listing() { find "$1" -maxdepth 1 -type f -name 'googlebooks-eng-all-1gram-20120701-*' | sort; }

names=() cmds=() groups=()
add() { if [[ $WANT == *" $1 "* ]]; then names+=("$1"); groups+=("$2"); cmds+=("$3"); fi; }
want_group() { # any selected command of this group?
    local n
    for n in "$@"; do [[ $WANT != *" $n "* ]] || return 0; done
    return 1
}
files=() gzfiles=()
if want_group mrc-1x1 mrc-1x2 mrc-2x1 mawk python; then
    gen "$DATA"
    mapfile -t files < <(listing "$DATA")
    [ "${#files[@]}" -gt 0 ] || { echo "bench-ngram.sh: no v2 1-gram files in $DATA" >&2; exit 1; }
fi
if want_group mrc-gz-1x1 mrc-gz-2x1 zcat-1 zcat-2; then
    gen "$DATA_GZ" --gzip
    mapfile -t gzfiles < <(listing "$DATA_GZ")
    [ "${#gzfiles[@]}" -gt 0 ] || { echo "bench-ngram.sh: no v2 1-gram .gz files in $DATA_GZ" >&2; exit 1; }
fi

# Sizes and checksums; reading everything once also warms the page cache, so no run reads from
# disk. The uncompressed size of the .gz files is what every MB/s figure divides.
checks=()
bytes=0 gzbytes=0
if [ "${#files[@]}" -gt 0 ]; then
    read -r sum bytes < <(cat -- "${files[@]}" | cksum)
fi
if [ "${#gzfiles[@]}" -gt 0 ]; then
    gzbytes=$(cat -- "${gzfiles[@]}" | wc -c)
    read -r gzsum gzraw < <(zcat -- "${gzfiles[@]}" | cksum)
    if [ "${#files[@]}" -eq 0 ]; then
        bytes=$gzraw
    elif [ "$gzsum $gzraw" != "$sum $bytes" ]; then
        checks+=("MISMATCH: the .gz files do not decompress to the plain files ($gzraw vs $bytes bytes)")
    fi
fi
mkdir -p "$RESULTS"
stamp=$(date +%Y%m%d-%H%M%S)
out=$RESULTS/bench-ngram-$stamp
tmp=$(mktemp -d "${TMPDIR:-/tmp}/mrc-bench.XXXXXX")
trap 'rm -rf "$tmp"' EXIT

inputs=$(q "${files[@]}")
gzinputs=$(q "${gzfiles[@]}")
mrc() { # mrc NAME INPUTS MPIRUN-ARGS... -- MRCOUNT-ARGS... (the ngram job on v2 exports)
    mrc_cmd "$@" --job ngram --format v2
}
add mrc-1x1 plain "$(mrc mrc-1x1 "$inputs" -np 1 --bind-to core -- --threads 1)"
add mrc-1x2 plain "$(mrc mrc-1x2 "$inputs" -np 1 --map-by slot:PE=2 -- --threads 2)"
add mrc-2x1 plain "$(mrc mrc-2x1 "$inputs" -np 2 -- --threads 1)"
add mawk plain "timeout $LIMIT $(q "$SHARED_BENCH/awk-count.sh") ngram $inputs"
add python plain "timeout $LIMIT python3 $(q "$SHARED_BENCH/seed_mapreduce.py") --mode ngram --procs 2 $inputs"
add mrc-gz-1x1 gz "$(mrc mrc-gz-1x1 "$gzinputs" -np 1 --bind-to core -- --threads 1)"
add mrc-gz-2x1 gz "$(mrc mrc-gz-2x1 "$gzinputs" -np 2 -- --threads 1)"
add zcat-1 gz "timeout $LIMIT zcat $gzinputs >/dev/null"
# two zcat processes at once, each over half of the files (xargs fails if either does)
half=$(((${#gzfiles[@]} + 1) / 2))
add zcat-2 gz "printf '%s\\0' $gzinputs | timeout $LIMIT xargs -0 -P 2 -n $half zcat >/dev/null"
[ "${#names[@]}" -gt 0 ] || { echo "bench-ngram.sh: BENCH_COMMANDS selects nothing" >&2; exit 2; }

load_before=$(uptime)
say "plain: ${#files[@]} files, $bytes bytes; gzip: ${#gzfiles[@]} files, $gzbytes bytes;" \
    "$(nproc) cores; $RUNS runs each"
say "load before: $load_before"
for g in plain gz; do
    hf=()
    for i in "${!names[@]}"; do [ "${groups[$i]}" != "$g" ] || hf+=(-n "${names[$i]}" "${cmds[$i]}"); done
    [ "${#hf[@]}" -gt 0 ] || continue
    say "hyperfine: $g"
    hyperfine --shell=bash --runs "$RUNS" --export-markdown "$out-$g.md" --export-json "$out-$g.json" "${hf[@]}"
done

peak_memory
load_after=$(uptime)
say "load after: $load_after"

# Cross-checks: every mrcount run (plain and gzip, every layout) writes the same table, and its
# top 20, total and distinct count equal those of each baseline (mawk and Python sum the same
# match_count column per ngram). mawk's printf %d clamps at 2^31-1 (mawk 1.3.4 20200120), so when
# awk-count.sh's output shows that clamp, its counts are not comparable: the distinct count still
# is, and the same mawk sums are then printed with %.0f (exact below 2^53) in one untimed run.
same_results
if [ -n "$ref" ]; then
    mrc_total=$(python3 -c 'import sys; print(sum(int(l.rsplit(b"\t", 1)[1]) for l in sys.stdin.buffer))' <"$tmp/$ref.tsv")
    mrc_distinct=$(wc -l <"$tmp/$ref.tsv")
    checks+=("mrcount total match_count: $mrc_total, distinct ngrams: $mrc_distinct")
    for b in mawk python; do
        [ -f "$tmp/$b.stdout" ] || continue
        b_total=$(sed -n 's/^#total\t//p' "$tmp/$b.stdout")
        b_distinct=$(sed -n 's/^#distinct\t//p' "$tmp/$b.stdout")
        if [ "$b" = mawk ] && [ "$b_total" = 2147483647 ] && [ "$mrc_total" != 2147483647 ]; then
            if [ "$b_distinct" != "$mrc_distinct" ]; then
                checks+=("MISMATCH: mawk distinct $b_distinct differs from mrcount"); continue
            fi
            say "mawk printed counts clamped at 2^31-1: re-running its sums with %.0f for the check"
            mawk 'BEGIN { FS = "\t" } { c[$1] += $3 } END { for (w in c) { printf "%s\t%.0f\n", w, c[w]; t += c[w] }
                  printf "%.0f\n", t > "/dev/stderr" }' "${files[@]}" 2>"$tmp/mawk-exact.total" |
                sort -t "$(printf '\t')" -k2,2nr -k1,1 >"$tmp/mawk-exact.tsv"
            head -n 20 "$tmp/mawk-exact.tsv" >"$tmp/mawk-exact.top"
            b_total=$(cat "$tmp/mawk-exact.total")
            if [ "$b_total" = "$mrc_total" ] && cmp -s <(head -n 20 "$tmp/$ref.tsv") "$tmp/mawk-exact.top"; then
                checks+=("mawk baseline: same distinct count; awk-count.sh prints counts with %d, which mawk clamps at 2147483647 (its #total and top-20 counts read 2147483647); the same mawk sums printed with %.0f give the same total and top 20: OK")
            else
                checks+=("MISMATCH: mawk sums printed with %.0f: total $b_total / top 20 differ from mrcount")
            fi
        elif [ "$b_total" = "$mrc_total" ] && [ "$b_distinct" = "$mrc_distinct" ] &&
            cmp -s <(head -n 20 "$tmp/$ref.tsv") <(head -n 20 "$tmp/$b.stdout"); then
            checks+=("$b baseline: same total, distinct count and top 20: OK")
        else
            checks+=("MISMATCH: $b total $b_total / distinct $b_distinct / top 20 differ from mrcount")
        fi
    done
fi

python3 - "$out" "$bytes" "$gzbytes" "$tmp" "${names[@]}" >"$out.summary.md" <<'EOF'
import json, os, re, sys
out, nbytes, gzbytes, tmp, names = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4], sys.argv[5:]
med = {}
for g in ("plain", "gz"):
    if os.path.exists(out + "-" + g + ".json"):
        for r in json.load(open(out + "-" + g + ".json"))["results"]:
            med[r["command"]] = r["median"]
def gz(n):
    return n.startswith(("mrc-gz-", "zcat-"))
def peak(n, what):
    try:
        m = re.search(what + r" ([0-9.]+) MiB", open("%s/%s.peak" % (tmp, n)).read())
        return float(m.group(1)) if m else None
    except OSError:
        return None
def ratio(base, n):
    return "%.2fx" % (med[base] / med[n]) if base in med else "-"
def mib(x):
    return "%.0f" % x if x is not None else "-"
print("| command | median s | MB/s | gz MB/s | peak RSS MiB (tree) | peak PSS MiB (tree) | vs mawk | vs python | vs zcat-1 |")
print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
for n in names:
    print("| %s | %.2f | %.0f | %s | %s | %s | %s | %s | %s |" % (
        n, med[n], nbytes / 1e6 / med[n], "%.0f" % (gzbytes / 1e6 / med[n]) if gz(n) else "-",
        mib(peak(n, "tree-RSS")), mib(peak(n, "tree-PSS")),
        "-" if gz(n) else ratio("mawk", n), "-" if gz(n) else ratio("python", n),
        ratio("zcat-1", n) if gz(n) else "-"))
print()
print("(%d bytes uncompressed, %d bytes gzip; MB/s = uncompressed bytes / median, gz MB/s = "
      "compressed bytes / median; ratios are speed-ups: baseline median / command median)"
      % (nbytes, gzbytes))
print()
def r(a, b):  # speed of a over speed of b
    return "%.2f" % (med[b] / med[a]) if a in med and b in med else "n/a (not run)"
print("Targets:")
print()
print("- plain 1 core: mrc-1x1 speed / mawk speed = %s (target >= 4)" % r("mrc-1x1", "mawk"))
print("- gzip per core: mrc-gz-1x1 rate / zcat-1 rate = %s (target >= 0.8)" % r("mrc-gz-1x1", "zcat-1"))
print("- plain 2 cores: mrc-2x1 speed-up over mrc-1x1 = %s (mrc-1x2: %s); mrc-2x1 speed / mawk speed "
      "= %s (mawk uses 1 core)" % (r("mrc-2x1", "mrc-1x1"), r("mrc-1x2", "mrc-1x1"), r("mrc-2x1", "mawk")))
print("- gzip 2 cores: mrc-gz-2x1 rate / zcat-2 rate = %s; mrc-gz-2x1 speed-up over mrc-gz-1x1 = %s"
      % (r("mrc-gz-2x1", "zcat-2"), r("mrc-gz-2x1", "mrc-gz-1x1")))
EOF
{
    echo
    echo "Data: DATA=$DATA (${#files[@]} files), DATA-gz=$DATA_GZ (${#gzfiles[@]} files);" \
        "$(nproc) cores; $RUNS hyperfine runs each"
    echo
    echo "Load: before \`$load_before\`; after \`$load_after\`"
    echo
    echo "Commands:"
    for i in "${!names[@]}"; do
        c=${cmds[$i]}
        [ -z "$inputs" ] || c=${c//"$inputs"/DATA/googlebooks-eng-all-1gram-20120701-*}
        [ -z "$gzinputs" ] || c=${c//"$gzinputs"/DATA-gz/googlebooks-eng-all-1gram-20120701-*.gz}
        echo "- ${names[$i]}: \`${c//"$tmp"/TMP}\`"
    done
    echo
    for c in "${checks[@]}"; do echo "- $c"; done
} >>"$out.summary.md"

echo
cat "$out.summary.md"
say "results: $out-plain.{md,json} $out-gz.{md,json} $out.summary.md"
if printf '%s\n' "${checks[@]}" | grep -q MISMATCH; then
    exit 1
fi
