#!/usr/bin/env bash
# threads_np.sh - whole runs at np 1-3 with 2 threads a rank on the paths where a rank's threads
# and MPI meet: the thread pool under MPI_Init_thread, the dynamic schedule's RMA counter, the
# threads' spills and their parallel merge, the bounded shuffle and the owners' parallel sort,
# ranges written in place from several threads of several ranks, the progress thread, the
# checkpoint writer; each result equal to sort | uniq -c. CI runs it in the TSan stage (label
# threads) against the TSan build, where any report makes the rank exit 66 and the test fail;
# tsan.supp holds the reports of Open MPI's own locks (not ours). Small on purpose: under TSan
# a run is 5-15x slower.
# shellcheck source-path=SCRIPTDIR source=lib.bash
source "$(dirname "$0")/lib.bash"
TAB=$(printf '\t')
export TSAN_OPTIONS="${TSAN_OPTIONS:+$TSAN_OPTIONS:}suppressions=$MRC_SOURCE_DIR/tests/integration/tsan.supp"

tool=$MRC_BUILD_DIR/tests/gen_keys
[ -x "$tool" ] || fail "gen_keys not built ($tool)"
# 400 k distinct keys, 1.2 M tokens with Zipf repeats, 4 a line, shuffled, in 5 files (~13 MB):
# several spills a rank under 16M
"$tool" "$T/keys" 400000 --tokens 1200000 --dist zipf --per-line 4 --order shuffle --files 5 \
    --seed 7 >/dev/null
cat "$T"/keys/* | tr ' ' '\n' | grep -v '^$' | sort | uniq -c |
    awk '{ print $2 "\t" $1 }' | sort -t "$TAB" -k2,2nr -k1,1 >"$T/exp.tsv"
sort -t "$TAB" -k1,1 "$T/exp.tsv" >"$T/exp-key.tsv"
[ "$(wc -l <"$T/exp.tsv")" = 400000 ] || fail "the oracle does not have the 400000 keys"
mkdir -p "$T/spill"

# metric FILE EXPR : a Python expression over the metrics m.
metric() { python3 -c 'import json,sys; m=json.load(open(sys.argv[1])); print(eval(sys.argv[2]))' "$1" "$2"; }

# check NAME NP EXPECTED SPILLS ARGS... : the result equals EXPECTED, every rank ran 2 threads
# (and spilled when SPILLS is 1), nothing is left in the tmp dir.
check() {
    local name=$1 np=$2 exp=$3 spills=$4
    shift 4
    run_mrc_ok "$np" --threads 2 --tmp-dir "$T/spill" --metrics "$T/m.json" \
        --output "$T/out.tsv" "$@" "$T/keys"
    assert_same "$exp" "$T/out.tsv" "$name np $np $*"
    [ "$(metric "$T/m.json" 'min(len(r["threads"]) for r in m["ranks"])')" = 2 ] ||
        fail "$name np $np: a rank did not run 2 threads"
    if [ "$spills" = 1 ]; then
        [ "$(metric "$T/m.json" 'min(r["spill_runs"] for r in m["ranks"])')" -ge 2 ] ||
            fail "$name np $np: a rank did not spill"
    fi
    nothing_left "$T/spill" "$name np $np: the tmp dir"
    log "ok: $name np $np $*"
}

check "in memory" 2 "$T/exp.tsv" 0 --quiet
check "spilled, shuffle, ranges in place" 3 "$T/exp.tsv" 1 --quiet --memory-limit 16M \
    --reduce shuffle --chunk-size 1M
check "spilled, by key" 2 "$T/exp-key.tsv" 1 --quiet --memory-limit 16M --sort key
check "dynamic schedule, reduce" 2 "$T/exp.tsv" 0 --quiet --schedule dynamic --chunk-size 256k \
    --reduce reduce
check "progress and checkpoints" 2 "$T/exp.tsv" 1 --progress always --memory-limit 16M \
    --checkpoint "$T/ck" --checkpoint-interval 1s --chunk-size 512k
[ ! -e "$T/ck" ] || fail "progress and checkpoints: the checkpoint was not removed"
check "one rank, spilled" 1 "$T/exp.tsv" 1 --quiet --memory-limit 16M --chunk-size 1M

# each rank writes its own part from its threads
run_mrc_ok 2 --threads 2 --quiet --tmp-dir "$T/spill" --memory-limit 16M --reduce shuffle \
    --output-per-rank "$T/parts" "$T/keys"
cat "$T"/parts/part-*.tsv | sort -t "$TAB" -k2,2nr -k1,1 >"$T/out.tsv"
assert_same "$T/exp.tsv" "$T/out.tsv" "--output-per-rank np 2"
nothing_left "$T/spill" "--output-per-rank np 2: the tmp dir"
log "ok: --output-per-rank np 2"
