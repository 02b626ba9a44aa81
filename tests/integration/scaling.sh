#!/usr/bin/env bash
# scaling.sh - jobs/scaling, the scaling-experiment driver, on a tiny sweep under mpirun: misuse
# exits 2 with the usage; --dry-run prints one line per run and touches nothing; the plan's
# (sweep, ranks, threads, reduce, chunk) points match a list written here by hand, at 2 cores
# and on paper at 6 cores and 2 threads per rank; a real sweep (2 cores, 3 MiB, 1 run) gives
# results.csv with exactly those rows, every distinct_keys equal to the perl oracle's count of
# its input, every run's result equal to the first, and the PNGs; a 1-core sweep makes only the
# plots of its sweep; --plot-only redoes them; an existing results.csv is refused; a failed run
# and a run with another result are reported and exit 1 after the rest of the sweep; a --job tsv
# sweep on its own input records its records.
# shellcheck source-path=SCRIPTDIR source=lib.bash
source "$(dirname "$0")/lib.bash"

DRIVER=$MRC_SOURCE_DIR/jobs/scaling
export MRC_TIMEOUT # per run of the driver too
COLS=id,sweep,ranks,threads,cores,reduce,reduce_used,schedule,chunk_size,input_bytes,run,seconds,discover_s,distribute_s,map_s,local_merge_s,combine_s,output_s,mb_per_s,mb_per_s_per_core,distinct_keys,tokens,peak_rss_max_bytes,load_imbalance,same_result,chunk_option,input,launch_s,records

# drive ARGS... : the driver, bounded in time; status in $RC, output in $T/out and $T/err.
drive() {
    RC=0
    timeout -k 10 300 "$DRIVER" "$@" >"$T/out" 2>"$T/err" </dev/null || RC=$?
    case $RC in 124 | 137) fail "timed out: jobs/scaling $*" ;; esac
    return 0
}

# plan_points FILE : "sweep ranks threads reduce chunk" of each run line of a --dry-run plan.
plan_points() {
    grep -v '^#' "$1" | sed -E 's/^id=[^ ]+ sweep=([^ ]+) ranks=([^ ]+) threads=([^ ]+) cores=[^ ]+ reduce=([^ ]+) chunk=([^ ]+) run=.*/\1 \2 \3 \4 \5/'
}

# --- misuse: exit 2 and the usage on stderr; --help on stdout ---------------------------------
for args in "--bogus" "--sweeps strong,nope" "--runs 0" "--cores x" "--size -1" "--size 0" \
    "--chunks 3X" "--launcher foo" "--threads-per-rank 3 --cores 2" "--out" "-- --threads 2" \
    "-- -o x.tsv" "--input $T/nonexistent" "--plot-only $T" "-- --job ngram" \
    "--input $T -- --job=tsv"; do
    read -r -a a <<<"$args"
    drive --dry-run "${a[@]}"
    [ "$RC" = 2 ] || fail "jobs/scaling $args: exit status $RC, expected 2"
    grep -q '^usage: jobs/scaling' "$T/err" || fail "jobs/scaling $args: no usage on stderr"
done
drive --help
[ "$RC" = 0 ] && grep -q '^usage: jobs/scaling' "$T/out" && grep -q -- '--dry-run' "$T/out" ||
    fail "--help: exit $RC or no usage on stdout"
log "ok: misuse exits 2 with the usage, --help exits 0"

# --- the plan at 2 cores: dry run, against a list written by hand --------------------------------
ARGS=(--cores 2 --size 3 --files 4 --runs 1 --chunks "1M,4M,auto" --vocab 20000 --seed 7)
cat >"$T/expected" <<'EOF'
strong 1 1 auto auto
strong 2 1 auto auto
weak 1 1 auto auto
weak 2 1 auto auto
hybrid 1 2 auto auto
hybrid 2 1 auto auto
combine 2 1 reduce auto
combine 2 1 shuffle auto
chunk 2 1 auto 1M
chunk 2 1 auto 4M
chunk 2 1 auto auto
EOF
drive --dry-run --out "$T/run" "${ARGS[@]}"
[ "$RC" = 0 ] || fail "--dry-run: exit status $RC: $(cat "$T/err")"
[ ! -e "$T/run" ] || fail "--dry-run created $T/run"
cp "$T/out" "$T/plan"
[ "$(grep -vc '^#' "$T/plan")" = 11 ] || fail "--dry-run: $(grep -vc '^#' "$T/plan") run lines, expected 11"
plan_points "$T/plan" >"$T/planned"
assert_same "$T/expected" "$T/planned" "--dry-run points at 2 cores"
grep -q ' cmd=mpirun -np 2 .*--reduce shuffle .*--metrics ' "$T/plan" ||
    fail "--dry-run: no mpirun command line with --reduce shuffle in the plan: $(cat "$T/plan")"

# Runs repeat in rounds; 6 cores: hybrid and combine use every divisor; 2 threads per rank.
drive --dry-run --cores 6 --runs 2 --sweeps hybrid,combine
plan_points "$T/out" | sort | uniq -c | awk '{ print $1, $2, $3, $4, $5 }' >"$T/planned6"
cat >"$T/expected6" <<'EOF'
2 combine 2 3 reduce
2 combine 2 3 shuffle
2 combine 3 2 reduce
2 combine 3 2 shuffle
2 combine 6 1 reduce
2 combine 6 1 shuffle
2 hybrid 1 6 auto
2 hybrid 2 3 auto
2 hybrid 3 2 auto
2 hybrid 6 1 auto
EOF
assert_same "$T/expected6" "$T/planned6" "--dry-run points at 6 cores, 2 runs"
drive --dry-run --cores 6 --threads-per-rank 2 --sweeps strong,weak,chunk --chunks 8M --runs 1
plan_points "$T/out" >"$T/plannedT"
printf '%s\n' "strong 1 2 auto auto" "strong 2 2 auto auto" "strong 3 2 auto auto" \
    "weak 1 2 auto auto" "weak 2 2 auto auto" "weak 3 2 auto auto" "chunk 3 2 auto 8M" >"$T/expectedT"
assert_same "$T/expectedT" "$T/plannedT" "--dry-run points at 6 cores, 2 threads per rank"
log "ok: --dry-run plans (2 cores, 6 cores, 2 threads per rank) and creates nothing"

# --- the real sweep ------------------------------------------------------------------------------
drive --out "$T/run" "${ARGS[@]}"
if [ "$RC" != 0 ]; then
    tail -30 "$T/err" >&2
    fail "sweep: exit status $RC"
fi
R=$T/run
assert_same "$T/plan" "$R/plan.txt" "plan.txt vs --dry-run"
# env.txt: "field: value" a line (mrcount's was three: --version's output whole)
awk '!/^[a-z]+: / { print; bad = 1 } END { exit bad }' "$R/env.txt" || fail "env.txt: not field: value (above)"
grep -qxF "mrcount: $MRCOUNT ($("$MRCOUNT" --version | head -n 1))" "$R/env.txt" ||
    fail "env.txt: no mrcount line with --version's first line: $(grep mrcount "$R/env.txt")"
grep -q '^libraries: Unicode .*; reads gzip' "$R/env.txt" || fail "env.txt: $(grep libraries "$R/env.txt")"
[ "$(head -1 "$R/results.csv")" = "$COLS" ] || fail "results.csv header: $(head -1 "$R/results.csv")"
[ "$(wc -l <"$R/results.csv")" = 12 ] || fail "results.csv: $(wc -l <"$R/results.csv") lines, expected 12"
awk -F, 'NR > 1 { print $2, $3, $4, $6, $26 }' "$R/results.csv" >"$T/got"
assert_same "$T/expected" "$T/got" "results.csv points"
awk -F, 'NR > 1 && ($25 != "true" || $5 != $3 * $4 || $12 <= 0 || $11 != 1) { print; bad = 1 } END { exit bad }' \
    "$R/results.csv" || fail "rows with a different result, wrong cores or no time (above)"
awk -F, 'NR > 1 && $2 == "chunk" && ($26 == "1M" && $9 != 1048576 || $26 == "4M" && $9 != 4194304) { bad = 1 } END { exit bad }' \
    "$R/results.csv" || fail "chunk sweep: chunk_size is not the one asked for"
grep -q ',combine,2,1,2,reduce,reduce,' "$R/results.csv" && grep -q ',combine,2,1,2,shuffle,shuffle,' "$R/results.csv" ||
    fail "combine sweep: reduce_used is not the --reduce asked for"
for id in $(awk -F, 'NR > 1 { print $1 }' "$R/results.csv"); do
    [ -s "$R/metrics/$id.json" ] || fail "no metrics for $id"
done

# distinct_keys of every row against the oracle's count for its input (an @list of files).
declare -A KEYS=()
while IFS=, read -r id input keys; do
    if [ -z "${KEYS[$input]:-}" ]; then
        mapfile -t files <"${input#@}"
        KEYS[$input]=$(oracle "${files[@]}" | wc -l)
        log "oracle: ${#files[@]} files of $input: ${KEYS[$input]} distinct"
    fi
    [ "$keys" = "${KEYS[$input]}" ] || fail "$id: distinct_keys $keys, oracle ${KEYS[$input]}"
done < <(awk -F, 'NR > 1 { print $1 "," $27 "," $21 }' "$R/results.csv")
[ "${#KEYS[@]}" = 2 ] || fail "expected 2 inputs (fixed, and weak at 2 ranks), found ${#KEYS[@]}"
for f in "$R"/outputs/ref-*.tsv; do
    [ "$(wc -l <"$f")" -gt 0 ] || fail "$f is empty"
done

# check_pngs DIR NAME... : each DIR/NAME.png is a non-empty PNG.
check_pngs() {
    local dir=$1 name sig
    shift
    for name in "$@"; do
        [ -s "$dir/$name.png" ] || fail "no $dir/$name.png"
        sig=$(head -c 8 "$dir/$name.png" | od -An -tx1 | tr -d ' \n')
        [ "$sig" = 89504e470d0a1a0a ] || fail "$dir/$name.png is not a PNG (starts with $sig)"
    done
}
ALL_PNGS=(strong-speedup strong-efficiency weak-efficiency throughput phases combine chunk)
check_pngs "$R" "${ALL_PNGS[@]}"
grep -q '^strong   2x1' "$R/summary.txt" || fail "summary.txt has no strong 2x1 line"
log "ok: 11 runs, rows as planned, distinct keys = oracle, same results, 7 PNGs"

# --- --plot-only, and a refused second sweep into the same directory -----------------------------
rm -f "$R"/*.png
drive --plot-only "$R"
[ "$RC" = 0 ] || fail "--plot-only: exit status $RC: $(cat "$T/err")"
check_pngs "$R" "${ALL_PNGS[@]}"
drive --out "$R" "${ARGS[@]}"
[ "$RC" = 2 ] && grep -q 'results.csv exists' "$T/err" || fail "a second sweep into $R: exit status $RC"

# --- one core, one sweep: one point per plot, and only the plots of that sweep -------------------
drive --out "$T/one" --cores 1 --sweeps strong,combine --size 1 --runs 2 --input "@$T/run/inputs/units-1.txt"
[ "$RC" = 0 ] || fail "1-core sweep: exit status $RC: $(tail -5 "$T/err")"
[ "$(wc -l <"$T/one/results.csv")" = 3 ] || fail "1-core sweep: expected 2 rows"
grep -q 'combine sweep needs 2 cores' "$T/err" || fail "1-core sweep: no warning about the combine sweep"
[ ! -e "$T/one/corpus" ] || fail "1-core sweep with --input generated a corpus"
check_pngs "$T/one" strong-speedup strong-efficiency throughput phases
for name in weak-efficiency combine chunk; do
    [ ! -e "$T/one/$name.png" ] || fail "1-core strong sweep made $name.png"
done
log "ok: --plot-only, refused rerun, 1-core strong sweep with its 4 plots only"

# --- another job on its own input: records and distinct keys as an awk oracle counts them --------
awk 'BEGIN { for (i = 0; i < 5000; i++) printf "k%d\t%d\n", i % 777, i }' >"$T/tab.tsv"
drive --out "$T/tsv" --cores 1 --sweeps strong --runs 1 --input "$T/tab.tsv" -- --job tsv --value-column 2
[ "$RC" = 0 ] || fail "--job tsv sweep: exit status $RC: $(tail -5 "$T/err")"
awk -F, 'NR > 1 { print $21, $22, $29 }' "$T/tsv/results.csv" >"$T/got-tsv"
printf '%s  %s\n' "$(cut -f1 "$T/tab.tsv" | sort -u | wc -l)" "$(wc -l <"$T/tab.tsv")" >"$T/expected-tsv"
assert_same "$T/expected-tsv" "$T/got-tsv" "--job tsv sweep: distinct_keys, no tokens, records"
log "ok: a --job tsv sweep on its --input; another job without --input or with weak refused"

# --- a run that fails and a run whose result differs: the sweep goes on, then exits 1 -------------
cat >"$T/fake-mrcount" <<'EOF'
#!/usr/bin/env bash
# mrcount, except that --chunk-size 1M fails and --chunk-size 4M appends a line to the result.
args=" $* "
[[ $args != *" --chunk-size 1M "* ]] || exit 1
"$REAL_MRCOUNT" "$@" || exit
out="" prev=""
for a in "$@"; do
    [ "$prev" != --output ] || out=$a
    prev=$a
done
if [[ $args == *" --chunk-size 4M "* ]] && [ "${OMPI_COMM_WORLD_RANK:-0}" = 0 ]; then
    printf 'bogus\t1\n' >>"$out"
fi
EOF
chmod +x "$T/fake-mrcount"
export REAL_MRCOUNT=$MRCOUNT
MRCOUNT=$T/fake-mrcount drive --out "$T/bad" --cores 2 --sweeps chunk \
    --chunks 64k,1M,4M --runs 1 --input "@$T/run/inputs/units-1.txt"
[ "$RC" = 1 ] || fail "a sweep with a failed run: exit status $RC, expected 1"
grep -q 'FAILED: 1 of 3 runs: chunk-2x1-1M-r1' "$T/err" || fail "no FAILED line for the 1M run"
grep -q 'DIFFERENT RESULTS: chunk-2x1-4M-r1' "$T/err" || fail "no DIFFERENT RESULTS line for the 4M run"
awk -F, 'NR > 1 { print $26, $25 }' "$T/bad/results.csv" >"$T/got-bad"
printf '%s\n' "64k true" "4M false" >"$T/expected-bad"
assert_same "$T/expected-bad" "$T/got-bad" "rows of the sweep with a failed run"
[ -s "$T/bad/outputs/chunk-2x1-4M-r1.tsv" ] || fail "the differing result was not kept"
check_pngs "$T/bad" chunk
log "ok: a failed run and a different result are reported, the rest is recorded, exit 1"
log "PASS"
