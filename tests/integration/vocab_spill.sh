#!/usr/bin/env bash
# vocab_spill.sh - bounded memory: a vocabulary far bigger than --memory-limit is counted exactly
# at np 1, 2 and 3 (every rank's tables spill several times to --tmp-dir, the owners' shares and
# the output sort too), equal to sort | uniq -c, with any --reduce, --sort key, --top, --min-count
# and --output-per-rank, and as the tsv and ngram jobs' sums (awk), and merges that may open
# only a few runs at once (multi-pass); the limit can come from SLURM_MEM_PER_NODE alone; a
# --tmp-dir that fills up is an error naming it that leaves nothing behind, and so is a result
# whose file system fills; a signal while spill files exist leaves nothing behind either (they
# have no name). Sizes are kept small for CI: the limit is small
# instead (bench/bench-vocab.sh has the large sizes).
# shellcheck source-path=SCRIPTDIR source=lib.bash
source "$(dirname "$0")/lib.bash"
TAB=$(printf '\t')

gen_keys() {
    local tool=$MRC_BUILD_DIR/tests/gen_keys
    [ -x "$tool" ] || fail "gen_keys not built ($tool)"
    "$tool" "$@" >/dev/null
}

# 1.2 M distinct keys, 3 M tokens with Zipf repeats, 4 a line, shuffled, in 6 files (~30 MB).
gen_keys "$T/keys" 1200000 --tokens 3000000 --dist zipf --per-line 4 --order shuffle --files 6 --seed 3
cat "$T"/keys/* | tr ' ' '\n' | grep -v '^$' | sort | uniq -c |
    awk '{ print $2 "\t" $1 }' | sort -t "$TAB" -k2,2nr -k1,1 >"$T/exp.tsv"
sort -t "$TAB" -k1,1 "$T/exp.tsv" >"$T/exp-key.tsv"
[ "$(wc -l <"$T/exp.tsv")" -gt 1000000 ] || fail "the oracle has too few keys"
mkdir -p "$T/spill"

# metric FILE EXPR : a Python expression over the metrics m.
metric() { python3 -c 'import json,sys; m=json.load(open(sys.argv[1])); print(eval(sys.argv[2]))' "$1" "$2"; }

# check NAME NP EXPECTED ARGS... : the run's result equals EXPECTED, every rank spilled, and the
# tmp dir holds nothing afterwards.
check() {
    local name=$1 np=$2 exp=$3
    shift 3
    run_mrc_ok "$np" --quiet --tmp-dir "$T/spill" --metrics "$T/m.json" --output "$T/out.tsv" \
        "$@" "${IN:-$T/keys}"
    assert_same "$exp" "$T/out.tsv" "$name np $np $*"
    local runs
    runs=$(metric "$T/m.json" 'min(r["spill_runs"] for r in m["ranks"])')
    [ "$runs" -ge 2 ] || fail "$name np $np: a rank spilled $runs runs (expected several)"
    [ "$(metric "$T/m.json" 'm["distinct_keys"]')" = "$(wc -l <"$T/exp.tsv")" ] ||
        fail "$name np $np: distinct_keys differs from the oracle's"
    # written by ranges: the ranks' ranges are the result's lines and bytes (else 0)
    local ranges want="0 0"
    ranges=$(metric "$T/m.json" '"%d %d" % tuple(sum(r["output_range_" + k] for r in m["ranks"]) for k in ("lines", "bytes"))')
    [ "$(metric "$T/m.json" 'm["config"]["output_ranges"]')" = True ] &&
        want="$(wc -l <"$T/out.tsv") $(wc -c <"$T/out.tsv")"
    [ "$ranges" = "$want" ] || fail "$name np $np: the ranks' ranges hold $ranges lines and bytes, not $want"
    nothing_left "$T/spill" "$name np $np: the tmp dir"
    log "ok: $name np $np $* (fewest runs per rank: $runs)"
}

# np 1 with --progress: the steps of a spilled run, and within the sorting step the keys sorted
# so far (after every buffer with the test hook MRC_TEST_STEP_EACH), rising to every key of the
# result, and the sorted runs written, rising but at the last buffer (kept in memory when it
# takes at most half the budget)
MRC_TEST_STEP_EACH=1 check "spilled" 1 "$T/exp.tsv" --memory-limit 16M --threads 2 \
    --chunk-size 1M --progress always
grep -Eq '^mrcount: [0-9.]+ s: merging the tables with [0-9]+ spilled runs \(' "$T/stderr" ||
    fail "progress: no merging step: $(cat "$T/stderr")"
{ grep -E '^mrcount: [0-9.]+ s: [0-9]+ keys sorted so far, [0-9]+ runs? in ' "$T/stderr" || :; } |
    sed -E 's/^.* s: ([0-9]+) keys .*, ([0-9]+) runs? in .*$/\1 \2/' >"$T/sorted"
awk -v n="$(wc -l <"$T/exp.tsv")" 'NF != 2 || $1 <= k || $2 < r || $1 > n { bad = 1 }
    NR > 1 && $2 == r { same++ } { k = $1; r = $2 }
    END { exit bad || NR < 2 || k != n || same > 1 }' "$T/sorted" ||
    fail "progress: the keys sorted within the step: $(cat "$T/stderr")"
# At np >= 2 the ranks cut their sorted shares at splitters they agree on, and each writes its
# range of the result in place (config.output_ranges); 1 to 3 threads (segments a rank: its
# threads), both orders, --min-count. To standard output (or a file rank 1 cannot see, the test
# hook MRC_TEST_OUTPUT_UNSHARED) rank 0 appends the other ranks' lines; with the test hook
# MRC_TEST_OUTPUT_MERGE rank 0 merges every rank's share: the same result.
for np in 2 3; do
    check "spilled" "$np" "$T/exp.tsv" --memory-limit 16M --threads 2 --chunk-size 1M
    [ "$(metric "$T/m.json" 'm["config"]["output_ranges"] and m["config"]["output_in_place"]')" = True ] ||
        fail "spilled np $np: the ranks did not write their ranges in place"
done
check "by key" 2 "$T/exp-key.tsv" --memory-limit 16M --sort key
check "by key" 3 "$T/exp-key.tsv" --memory-limit 16M --sort key --threads 3
check "one thread" 3 "$T/exp.tsv" --memory-limit 16M --threads 1
# a few hundred lines: each rank's range within a page or two, its threads' segments in the
# edges rank 0 writes
awk -F "$TAB" '$2 >= 300' "$T/exp.tsv" >"$T/exp-300.tsv"
check "--min-count 300" 3 "$T/exp-300.tsv" --memory-limit 16M --threads 3 --min-count 300
MRC_TEST_OUTPUT_MERGE=1 check "rank 0 merging" 3 "$T/exp.tsv" --memory-limit 16M --threads 2
[ "$(metric "$T/m.json" 'm["config"]["output_ranges"]')" = False ] ||
    fail "spilled np 3 MRC_TEST_OUTPUT_MERGE=1: by ranges"
for np in 2 3; do
    run_mrc_ok "$np" --quiet --tmp-dir "$T/spill" --memory-limit 16M --threads 2 \
        --metrics "$T/m.json" "$T/keys"
    assert_same "$T/exp.tsv" "$T/stdout" "spilled np $np to standard output"
    [ "$(metric "$T/m.json" 'm["config"]["output_ranges"] and not m["config"]["output_in_place"]')" = True ] ||
        fail "spilled np $np to standard output: rank 0 did not append the ranges"
    nothing_left "$T/spill" "spilled np $np to standard output: the tmp dir"
    log "ok: spilled np $np to standard output (rank 0 appends the ranges)"
done
MRC_TEST_OUTPUT_UNSHARED=2 check "a file rank 2 cannot see" 3 "$T/exp-key.tsv" \
    --memory-limit 16M --threads 2 --sort key
[ "$(metric "$T/m.json" 'm["config"]["output_ranges"] and not m["config"]["output_in_place"]')" = True ] ||
    fail "spilled np 3, the file unshared: rank 0 did not append the ranges"
# A rank that fails before the ranks agree on the cut (the others must not wait for it there),
# an owner before it serves its lines or edges, rank 0 after writing its range, an owner at the
# end of the output, with the ranges written in place and appended by rank 0: exit 1 naming
# the rank, no result, no temporary, nothing in the tmp dir.
for shared in 1 0; do
    for c in "1:sort:fail 3" "0:sort:oom 2" "1:stream:fail 3" "2:stream:oom 3" "0:output:fail 2" \
        "1:output:oom 3"; do
        read -r spec np <<<"$c"
        IFS=: read -r rank phase kind <<<"$spec"
        if [ "$kind" = fail ]; then cause="injected fault \(MRC_FAULT\) in $phase\$"; else
            cause="out of memory \(MRC_FAULT\)"; fi
        what="spilled, ranges (shared $shared), MRC_FAULT=$spec np $np"
        mkdir -p "$T/res"
        MRC_TEST_OUTPUT_UNSHARED=$((1 - shared)) MRC_FAULT=$spec run_mrc "$np" --quiet \
            --tmp-dir "$T/spill" --memory-limit 16M --threads 2 --output "$T/res/out.tsv" "$T/keys"
        assert_status 1 "$what"
        assert_one_error "^mrcount: rank $rank: .*$cause" "$what"
        nothing_left "$T/res" "$what: the result's directory"
        nothing_left "$T/spill" "$what: the tmp dir"
        log "ok: $what"
    done
done
# A full --tmp-dir on one rank when what it receives in the output's exchange spills (the test
# hook MRC_TEST_EXCHANGE_FULL: the file system has room for the map's and the sort's runs): the
# rank goes on through the exchange's phases flagging its failure, and the run ends with exit 1
# naming the rank and the dir, nothing left behind, in place and appended.
for shared in 1 0; do
    for c in "1 2" "2 3"; do
        read -r rank np <<<"$c"
        what="spilled, ranges (shared $shared), rank $rank of $np finds the tmp dir full in the exchange"
        mkdir -p "$T/res"
        MRC_TEST_OUTPUT_UNSHARED=$((1 - shared)) MRC_TEST_EXCHANGE_FULL=$rank run_mrc "$np" \
            --quiet --tmp-dir "$T/spill" --memory-limit 16M --threads 2 --output "$T/res/out.tsv" \
            "$T/keys"
        assert_status 1 "$what"
        assert_one_error "^mrcount: rank $rank: $T/spill: no space left" "$what"
        nothing_left "$T/res" "$what: the result's directory"
        nothing_left "$T/spill" "$what: the tmp dir"
        log "ok: $what"
    done
done
# Multi-pass merges: a merge may open only 2 or 3 runs (the test hook MRC_TEST_FAN_IN), so the
# map's runs and the output sort's runs are merged in groups first (which drops the cut of the
# sorted shares: rank 0 merges them).
MRC_TEST_FAN_IN=2 check "fan-in 2" 1 "$T/exp.tsv" --memory-limit 16M --threads 2
MRC_TEST_FAN_IN=3 check "fan-in 3" 2 "$T/exp-key.tsv" --memory-limit 16M --sort key
for reduce in reduce shuffle auto; do
    check "--reduce $reduce" 2 "$T/exp.tsv" --memory-limit 16M --reduce "$reduce"
    # the reduce asked for is the bounded shuffle after a spill: the metrics and stderr say so
    n=$(grep -c 'reduce ran as the shuffle' "$T/stderr" || true)
    if [ "$reduce" = reduce ]; then
        [ "$(metric "$T/m.json" 'm["config"]["reduce_fallback"]')" = True ] || fail "--reduce reduce spilled: no reduce_fallback"
        assert_stderr_has "^mrcount: note: --reduce reduce ran as the shuffle: a rank spilled its tables to disk$" \
            "--reduce reduce spilled"
        [ "$n" = 1 ] || fail "--reduce reduce spilled: $n notes, not one"
    else
        [ "$n" = 0 ] || fail "--reduce $reduce: a note about the reduce"
    fi
done
head -n 1000 "$T/exp.tsv" >"$T/exp-top.tsv"
check "--top" 3 "$T/exp-top.tsv" --memory-limit 16M --top 1000
awk -F "$TAB" '$2 >= 3' "$T/exp.tsv" >"$T/exp-min.tsv"
check "--min-count" 2 "$T/exp-min.tsv" --memory-limit 16M --min-count 3

# The line jobs, whose keys go through an add queue (src/map/addq.h) that a spill may interrupt:
# the same keys one a line with a value (0-6, so some keys sum to 0) as tsv rows and as ngram
# v2 rows, equal to awk's sums.
mkdir -p "$T/tsv" "$T/ngram"
for f in "$T"/keys/*; do
    tr ' ' '\n' <"$f" | grep -v '^$' | awk -v OFS="$TAB" '{ print $0, NR % 7 }' >"$T/tsv/${f##*/}"
    awk -F "$TAB" -v OFS="$TAB" '{ print $1, 1900 + $2, $2, 1 }' "$T/tsv/${f##*/}" \
        >"$T/ngram/${f##*/}"
done
cat "$T"/tsv/* | awk -F "$TAB" -v OFS="$TAB" '{ s[$1] += $2 } END { for (k in s) print k, s[k] }' |
    sort -t "$TAB" -k2,2nr -k1,1 >"$T/exp-sum.tsv"
IN=$T/tsv check "tsv job" 2 "$T/exp-sum.tsv" --job tsv --value-column 2 --memory-limit 16M --threads 2
IN=$T/ngram check "ngram job" 1 "$T/exp-sum.tsv" --job ngram --memory-limit 16M --threads 2

# --output-per-rank: the parts, concatenated and sorted, are the table.
run_mrc_ok 3 --quiet --tmp-dir "$T/spill" --memory-limit 16M --output-per-rank "$T/parts" "$T/keys"
cat "$T"/parts/part-*.tsv | sort -t "$TAB" -k2,2nr -k1,1 >"$T/parts.tsv"
assert_same "$T/exp.tsv" "$T/parts.tsv" "--output-per-rank, spilled"
nothing_left "$T/spill" "--output-per-rank: the tmp dir"
log "ok: --output-per-rank, spilled"

# The limit from SLURM_MEM_PER_NODE alone (MiB for the node: 2 ranks share 200, less the
# headroom): spills, and the metrics name the source.
SLURM_MEM_PER_NODE=200 run_mrc_ok 2 --quiet --tmp-dir "$T/spill" --metrics "$T/m.json" \
    --output "$T/out.tsv" "$T/keys"
assert_same "$T/exp.tsv" "$T/out.tsv" "SLURM_MEM_PER_NODE"
metric "$T/m.json" 'm["ranks"][0]["memory_limit_source"]' | grep -q SLURM_MEM_PER_NODE ||
    fail "SLURM_MEM_PER_NODE: the metrics do not name it as the limit's source"
[ "$(metric "$T/m.json" 'min(r["spill_runs"] for r in m["ranks"])')" -ge 1 ] ||
    fail "SLURM_MEM_PER_NODE: nothing spilled"
grep -q "may use .* less than it needs" "$T/stderr" && fail "SLURM_MEM_PER_NODE=200: warned of too little memory"
log "ok: SLURM_MEM_PER_NODE alone"
# Too little for a rank (64 MB for 2 ranks: 32 MiB each, the floor of the tables alone): one
# warning a node, which says so, and the run still exact (no real limit here)
SLURM_MEM_PER_NODE=64 run_mrc_ok 2 --quiet --tmp-dir "$T/spill" --output "$T/out.tsv" "$T/keys"
assert_same "$T/exp.tsv" "$T/out.tsv" "SLURM_MEM_PER_NODE=64"
[ "$(grep -c "^mrcount: warning: rank 0 may use 32 MiB (SLURM_MEM_PER_NODE=64 / 2 ranks), less than it needs" "$T/stderr")" = 1 ] ||
    fail "SLURM_MEM_PER_NODE=64: not one warning of too little memory: $(cat "$T/stderr")"
log "ok: SLURM_MEM_PER_NODE=64 for 2 ranks: warned once"

# A tmp dir that fills up: exit 1 naming it, no result, nothing left in it.
mkdir -p "$T/tiny"
if mount -t tmpfs -o size=1m tmpfs "$T/tiny" 2>/dev/null; then
    at_exit_umount() { umount "$T/tiny" 2>/dev/null || true; }
    at_exit at_exit_umount
    for np in 1 2; do
        run_mrc "$np" --tmp-dir "$T/tiny" --memory-limit 16M --output "$T/full.tsv" "$T/keys"
        assert_status 1 "full tmp dir np $np"
        assert_one_error "$T/tiny: no space left" "full tmp dir np $np"
        [ ! -e "$T/full.tsv" ] || fail "full tmp dir np $np: a result was left"
        nothing_left "$T/tiny" "full tmp dir np $np"
        log "ok: a full tmp dir at np $np"
    done
    # The result on a file system that fills up (written without --sync, so the page cache
    # takes it first): exit 1 naming the result, no result and no temporary left.
    for np in 1 2; do
        run_mrc "$np" --tmp-dir "$T/spill" --output "$T/tiny/result.tsv" "$T/keys"
        assert_status 1 "full result fs np $np"
        assert_one_error "$T/tiny/result.tsv: [Nn]o space left" "full result fs np $np"
        nothing_left "$T/tiny" "full result fs np $np"
        log "ok: a result that fills its file system at np $np"
    done
    umount "$T/tiny"
else
    log "skip: cannot mount a tmpfs here (not root?): the full tmp dir case"
fi

# An unwritable tmp dir: the error names it.
run_mrc 2 --tmp-dir "$T/no/such/dir" --memory-limit 16M --output "$T/bad.tsv" "$T/keys"
assert_status 1 "missing tmp dir"
assert_one_error "$T/no/such/dir" "missing tmp dir"
# ... refused before the map even where nothing would spill (no limit asked, a small input):
# a run that would spill hours in must not learn only then that it cannot
printf 'a b a\n' >"$T/small.txt"
run_mrc 2 --tmp-dir "$T/no/such/dir" --output "$T/bad.tsv" "$T/small.txt"
assert_status 1 "missing tmp dir, nothing to spill"
assert_one_error "$T/no/such/dir: cannot (use as the temporary directory|create a temporary file)" \
    "missing tmp dir, nothing to spill"
[ ! -e "$T/bad.tsv" ] || fail "missing tmp dir: a result was written"
# The default ($TMPDIR here, unusable: under a regular file; Open MPI's own session directory
# kept in /tmp) only warns, as a run that never spills does not need it; the same directory
# asked for, on the command line or in a config file, is refused like any other.
: >"$T/afile"
export OMPI_MCA_orte_tmpdir_base=/tmp
TMPDIR="$T/afile/sub" run_mrc_ok 2 --output "$T/dflt.tsv" "$T/small.txt"
assert_stderr_has "warning: $T/afile/sub: cannot" "an unusable default tmp dir"
[ "$(tr '\t' ' ' <"$T/dflt.tsv" | sort | tr '\n' ,)" = "a 2,b 1," ] ||
    fail "an unusable default tmp dir: a wrong result"
TMPDIR="$T/afile/sub" run_mrc 2 --tmp-dir "$T/afile/sub" --output "$T/bad.tsv" "$T/small.txt"
assert_status 1 "the default tmp dir given explicitly"
assert_one_error "$T/afile/sub: cannot" "the default tmp dir given explicitly"
printf '[run]\ntmp-dir = %s\n' "$T/afile/sub" >"$T/tmp.ini"
TMPDIR="$T/afile/sub" run_mrc 2 --config "$T/tmp.ini" --output "$T/bad.tsv" "$T/small.txt"
assert_status 1 "the default tmp dir in a config file"
assert_one_error "$T/afile/sub: cannot" "the default tmp dir in a config file"
[ ! -e "$T/bad.tsv" ] || fail "the default tmp dir given: a result was written"
unset OMPI_MCA_orte_tmpdir_base
log "ok: a missing tmp dir"

# A signal while spill files exist: rank 1 holds after its tables went to runs (MRC_FAULT), its
# unnamed spill files open; SIGTERM to it: the run stops with the signal's status, no result, and
# nothing in the tmp dir.
MRC_FAULT=1:local_merge:hang timeout -k 10 60 "${MPIRUN[@]}" 2 "$MRCOUNT" --quiet \
    --tmp-dir "$T/spill" --memory-limit 16M --output "$T/sig.tsv" "$T/keys" >/dev/null \
    2>"$T/stderr" </dev/null &
pid=$!
wait_until 120 grep -q '(pid [0-9]*): MRC_FAULT holds local_merge ' "$T/stderr" || true
held=$(sed -n 's/.*(pid \([0-9]*\)): MRC_FAULT holds local_merge .*/\1/p' "$T/stderr" | head -1)
[ -n "$held" ] || fail "SIGTERM while spilled: rank 1 never held"
nfiles=$(find "/proc/$held/fd" -lname "$T/spill/*" 2>/dev/null | wc -l)
[ "$nfiles" -gt 0 ] || fail "SIGTERM while spilled: rank 1 holds no spill file"
kill -TERM "$held"
rc=0
wait "$pid" || rc=$?
[ "$rc" != 0 ] || fail "SIGTERM while spilled: exit 0"
[ ! -e "$T/sig.tsv" ] || fail "SIGTERM while spilled: a result was left"
nothing_left "$T/spill" "SIGTERM while spilled"
log "ok: SIGTERM while $nfiles spill files were open (status $rc)"

# Keys of megabytes that spill: 50 distinct 4 MB tokens under --memory-limit 16M spill 50 runs;
# a merge of them all held one key per run (256 MiB peak RSS; 1 GiB at 100 tokens). The runs
# are merged a few at a time first: exact, and the peak a few keys, not one per run. (Not under
# ASan, whose shadow memory is RSS too, nor with few cores' timings in mind: 10-25 s.)
if [ -z "${ASAN_OPTIONS:-}" ]; then
    rm -rf "$T/keys" "$T/small.txt"
    mkdir -p "$T/long"
    perl -e 'for my $i (0 .. 49) { print sprintf("k%07d", ($i * 37) % 50) x 500000, "\n" }' >"$T/long/a.txt"
    awk '{ print $1 "\t1" }' "$T/long/a.txt" | sort -t "$TAB" -k1,1 >"$T/exp-long.tsv"
    run_single --quiet --threads 2 --memory-limit 16M --tmp-dir "$T/spill" --metrics "$T/m.json" \
        --output "$T/out.tsv" "$T/long"
    assert_status 0 "50 keys of 4 MB under --memory-limit 16M"
    assert_same "$T/exp-long.tsv" "$T/out.tsv" "50 keys of 4 MB under --memory-limit 16M"
    runs=$(metric "$T/m.json" "m['ranks'][0]['spill_runs']")
    rss=$(metric "$T/m.json" "m['ranks'][0]['peak_rss_bytes'] >> 20")
    [ "$runs" -ge 10 ] || fail "50 keys of 4 MB: $runs spill runs (the case wants many)"
    [ "$rss" -lt 160 ] || fail "50 keys of 4 MB under --memory-limit 16M: peak RSS $rss MiB"
    nothing_left "$T/spill" "50 keys of 4 MB"
    log "ok: 50 keys of 4 MB under --memory-limit 16M: exact, $runs spill runs, peak RSS $rss MiB"
fi
log "PASS"
