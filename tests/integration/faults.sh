#!/usr/bin/env bash
# faults.sh - a failure on any rank, in any phase, ends every rank within seconds with status 1,
# exactly one "mrcount: rank N: ..." line naming the rank (and the file, when one is involved)
# and the cause, and nothing left behind: no result, no PATH.tmp.PID, no metrics, no parts.
# The failures are injected with the test-only MRC_FAULT=RANK:PHASE[:KIND] (README, "Errors"):
# every phase at least once on rank 0 and once on another rank, at np 2 and 3, every KIND
# (fail, oom, sleep/hang, abort), a malformed MRC_FAULT (status 2). A failing job under mpirun
# takes ~2.4 s (Open MPI's teardown), so the matrix below is chosen, not exhaustive.
# shellcheck source-path=SCRIPTDIR source=lib.bash
source "$(dirname "$0")/lib.bash"

BOUND=20 # seconds a failing run may take, teardown included
D=$T/data
OUT=$T/out
mkdir -p "$OUT"
# 4 files of 0.25 MiB: one split each, so at np 2 and 3 every rank maps a file.
gen_corpus "$D" 1 --files 4 --seed 7

# go NP|single ARGS... : mrcount (under mpirun with NP ranks, or alone) with MRC_FAULT as the
# caller exported it, bounded by `timeout` (lib.bash's run_mrc takes 137 for a timeout, but a
# killed rank exits 137 too: here only the time decides). Status in $RC, seconds in $SECS.
go() {
    local np=$1 t0 ms cmd=("$MRCOUNT")
    shift
    [ "$np" = single ] || cmd=("${MPIRUN[@]}" "$np" "$MRCOUNT")
    RC=0
    t0=$(date +%s%N)
    # (in a subshell whose stderr is dropped: bash's "Killed" note on a killed rank is noise)
    (timeout -k 5 "$MRC_TIMEOUT" "${cmd[@]}" "$@" >"$T/stdout" 2>"$T/stderr" </dev/null ||
        exit $?) 2>/dev/null || RC=$?
    ms=$((($(date +%s%N) - t0) / 1000000))
    SECS=$((ms / 1000)).$(printf '%03d' $((ms % 1000)))
    [ "$ms" -lt $((MRC_TIMEOUT * 1000)) ] || fail "hang: killed after ${MRC_TIMEOUT}s: ($np) $*"
}

# check WHAT STATUS MESSAGE_REGEX : status, bounded time, exactly one error line matching the
# regex (none checked when it is empty), nothing left. Logs the case for the table.
check() {
    local what=$1 status=$2 regex=$3
    assert_status "$status" "$what"
    [ "${SECS%.*}" -lt "$BOUND" ] || fail "$what: took ${SECS}s (bound ${BOUND}s)"
    if [ -n "$regex" ]; then assert_one_error "$regex" "$what"; fi
    nothing_left "$OUT" "$what"
    log "ok: $what: status $RC in ${SECS}s"
}

ARGS=(--output "$OUT/r.tsv" --metrics "$OUT/m.json" --quiet)
CAUSE_FAIL='injected fault \(MRC_FAULT\) in'
CAUSE_OOM='out of memory \(MRC_FAULT\)'

# --- singleton: every phase, rank 0 (no rank named in the message of a run of one) -------------
kind=fail
for phase in discover distribute place map local_merge combine output metrics; do
    MRC_FAULT=0:$phase:$kind go single "${ARGS[@]}" "$D"
    if [ $kind = fail ]; then cause="$CAUSE_FAIL"; else cause="$CAUSE_OOM"; fi
    [ $phase = map ] && file="$D/part[0-9]+\\.txt: " || file=""
    check "singleton $phase $kind" 1 "^mrcount: $file.*$cause"
    if errors | grep 'rank ' >/dev/null; then fail "singleton $phase: a rank named in a run of one"; fi
    if [ $kind = fail ]; then kind=oom; else kind=fail; fi
done

# --- under mpirun: every phase on rank 0 and on another rank, np 2 and 3 -----------------------
# RANK:PHASE:KIND NP FILE : FILE=1 when the message must name an input file (a map worker's).
cases=(
    "0:discover:fail 2 0" "2:discover:oom 3 0"
    "0:distribute:oom 3 0" "1:distribute:fail 2 0"
    "0:place:fail 2 0" "1:place:oom 3 0"
    "0:map:fail 3 1" "1:map:oom 2 1"
    "0:local_merge:oom 2 0" "2:local_merge:fail 3 0"
    "0:combine:fail 3 0" "1:combine:oom 2 0"
    "0:output:fail 2 0" "1:output:fail 3 0"
    "0:metrics:oom 3 0" "1:metrics:fail 2 0"
    "1:stream:fail 2 0" "2:stream:oom 3 0" # named by the owner, not by rank 0 that relays it
)
for c in "${cases[@]}"; do
    read -r spec np named <<<"$c"
    IFS=: read -r rank phase kind <<<"$spec"
    if [ "$kind" = fail ]; then cause="$CAUSE_FAIL $phase\$"; else cause="$CAUSE_OOM"; fi
    [ "$named" = 1 ] && file="$D/part[0-9]+\\.txt: " || file=""
    MRC_FAULT=$spec go "$np" "${ARGS[@]}" "$D"
    check "np $np, rank $rank, $phase, $kind" 1 "^mrcount: rank $rank: $file.*$cause"
done

# The output by ranges (--reduce shuffle: every rank formats its range of the output order and
# writes it into rank 0's file, but for the edges it serves to rank 0; or, the file not shared,
# MRC_TEST_OUTPUT_UNSHARED, serves all its lines to rank 0): an owner fails before it serves
# (rank 0 relays its error), rank 0 fails after writing (the owners are told to stop), an owner
# fails at the end of the output. Nothing is left: no result, no temporary.
config() { python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["config"][sys.argv[2]])' "$1" "$2"; }
for shared in 0 1; do
    if [ $shared = 1 ]; then mode="written in place"; else mode="appended by rank 0"; fi
    MRC_TEST_OUTPUT_UNSHARED=$((1 - shared)) run_mrc_ok 3 --reduce shuffle "${ARGS[@]}" "$D"
    [ "$(config "$OUT/m.json" output_ranges)" = True ] ||
        fail "np 3 --reduce shuffle: the output was not by ranges"
    [ "$(config "$OUT/m.json" output_in_place)" = "$([ $shared = 1 ] && echo True || echo False)" ] ||
        fail "np 3 --reduce shuffle: the lines were not $mode"
    rm -f "$OUT"/*
    for c in "1:stream:fail 2" "2:stream:oom 3" "0:output:fail 3" "1:output:oom 2"; do
        read -r spec np <<<"$c"
        IFS=: read -r rank phase kind <<<"$spec"
        if [ "$kind" = fail ]; then cause="$CAUSE_FAIL $phase\$"; else cause="$CAUSE_OOM"; fi
        MRC_TEST_OUTPUT_UNSHARED=$((1 - shared)) MRC_FAULT=$spec go "$np" --reduce shuffle \
            "${ARGS[@]}" "$D"
        check "np $np, --reduce shuffle (output by ranges, $mode), rank $rank, $phase, $kind" 1 \
            "^mrcount: rank $rank: .*$cause"
    done
done

# --output-per-rank: rank 1 fails after writing its part, then after rank 0 wrote the manifest:
# the parts, the manifest and the directory the run made are all removed.
for spec in 1:output:fail 1:metrics:oom; do
    IFS=: read -r rank phase kind <<<"$spec"
    MRC_FAULT=$spec go 3 --output-per-rank "$OUT/parts" --metrics "$OUT/m.json" --quiet "$D"
    check "np 3, --output-per-rank, rank $rank, $phase, $kind" 1 "^mrcount: rank $rank: "
done

# --dynamic schedule: a worker fails while ranks pull splits from rank 0's counter.
MRC_FAULT=1:map:fail go 2 --schedule dynamic "${ARGS[@]}" "$D"
check "np 2, --schedule dynamic, rank 1, map, fail" 1 "^mrcount: rank 1: $D/part[0-9]+\\.txt: $CAUSE_FAIL map\$"

# --- abort: a rank killed outright (SIGKILL). mpirun ends the job (status 137: the rank's), and
# nothing is left: rank 1 dies after rank 0 put the result in place, which rank 0's handler
# removes when mpirun sends it SIGTERM. No message is required from a crashed run.
for c in "1:map:abort 2" "0:combine:abort 3" "1:output:abort 2"; do
    read -r spec np <<<"$c"
    MRC_FAULT=$spec go "$np" "${ARGS[@]}" "$D"
    [ "$RC" != 0 ] || fail "$spec at np $np: exit status 0 after a rank was killed"
    check "np $np, ${spec//:/, }" "$RC" ""
done
MRC_FAULT=0:discover:abort go single "${ARGS[@]}" "$D"
check "singleton, discover, abort" 137 ""

# --- sleep and hang: a held rank delays the run, which still succeeds; a hung map worker is
# released when another rank fails ----------------------------------------------------------------
run_mrc_ok 2 "${ARGS[@]}" "$D"
cp "$OUT/r.tsv" "$T/expected.tsv"
rm -f "$OUT"/*
MRC_FAULT='1:map:sleep:1,*:combine:sleep:0.2' go 2 "${ARGS[@]}" "$D"
[ "$RC" = 0 ] || fail "held run: exit status $RC"
assert_same "$T/expected.tsv" "$OUT/r.tsv" "held run"
[ "$(grep -c 'MRC_FAULT holds' "$T/stderr")" = 3 ] || fail "held run: expected 3 hold notes"
[ "${SECS%.*}" -ge 1 ] || fail "held run: took ${SECS}s, less than its 1 s sleep"
rm -f "$OUT"/*
log "ok: np 2, rank 1 map sleep:1 and every rank combine sleep:0.2: status 0 in ${SECS}s, same result"

MRC_FAULT=1:map:hang,0:map:fail go 2 "${ARGS[@]}" "$D"
check "np 2, rank 1 map hang, rank 0 map fail" 1 "^mrcount: rank 0: $D/part[0-9]+\\.txt: $CAUSE_FAIL map\$"
MRC_FAULT=0:discover:sleep:0.2,1:place:oom go 2 "${ARGS[@]}" "$D"
check "np 2, rank 0 discover sleep:0.2, rank 1 place oom" 1 "^mrcount: rank 1: place: $CAUSE_OOM"

# --- a malformed MRC_FAULT is a usage error: status 2, one message, nothing run ---------------
for bad in x 0 0:mapx 0:map:boom -1:map 1.5:map 0:map:sleep: 0:map:sleep:-1 0:map:sleep:2x 1:map; do
    MRC_FAULT=$bad go single "${ARGS[@]}" "$D"
    check "malformed MRC_FAULT='$bad'" 2 "^mrcount: MRC_FAULT: '$bad'"
done
MRC_FAULT=0:discover:fial go 2 "${ARGS[@]}" "$D"
check "malformed MRC_FAULT under mpirun" 2 "^mrcount: rank 0: MRC_FAULT: '0:discover:fial'"
MRC_FAULT='' go single "${ARGS[@]}" "$D"
[ "$RC" = 0 ] || fail "empty MRC_FAULT: exit status $RC"
assert_same "$T/expected.tsv" "$OUT/r.tsv" "empty MRC_FAULT"
log "ok: an empty MRC_FAULT injects nothing"

log "PASS"
