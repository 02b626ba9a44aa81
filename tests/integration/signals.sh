#!/usr/bin/env bash
# signals.sh - SIGTERM (Slurm's time limit) and SIGINT (Ctrl-C) during any phase stop every rank
# within seconds, leave no result, temporary, metrics or part behind, and end with the
# conventional status: 128 + the signal for mrcount alone (143, 130); under mpirun, what
# Open MPI 4.1's mpirun chooses when it is signalled itself (1: it forwards SIGTERM to the
# ranks, for SIGINT too, and sends SIGKILL 1 s later), and 143 when one rank alone gets SIGTERM.
# The run is held inside a phase with the test-only MRC_FAULT=RANK:PHASE:hang, whose note
# "MRC_FAULT holds PHASE" on stderr says when to send the signal. CI also runs it against the
# TSan build (label threads: the signal handler, the stop flag polled by the thread pool, the
# progress thread and the cleanup of a run cut short); as in threads_np.sh, a report makes the
# rank exit 66 and tsan.supp holds Open MPI's own.
# shellcheck source-path=SCRIPTDIR source=lib.bash
source "$(dirname "$0")/lib.bash"
export TSAN_OPTIONS="${TSAN_OPTIONS:+$TSAN_OPTIONS:}suppressions=$MRC_SOURCE_DIR/tests/integration/tsan.supp"

BOUND=10 # seconds from the signal to the end of the run
D=$T/data
OUT=$T/out
mkdir -p "$OUT"
gen_corpus "$D" 1 --files 4 --seed 11
ARGS=(--output "$OUT/r.tsv" --metrics "$OUT/m.json" --quiet)
# A script's background job ignores SIGINT; reset both signals before exec, as a terminal would.
DEFAULT_SIGNALS=(perl -e '$SIG{INT} = $SIG{TERM} = "DEFAULT"; exec @ARGV or die "exec: $!\n"')

BG=
stop_bg() { [ -z "$BG" ] || kill "$BG" 2>/dev/null || true; }
at_exit stop_bg

# start NP|single ARGS... : mrcount in the background under timeout (pid $BG), MRC_FAULT as the
# caller exported it.
start() {
    local np=$1 cmd=("$MRCOUNT")
    shift
    [ "$np" = single ] || cmd=("${MPIRUN[@]}" "$np" "$MRCOUNT")
    : >"$T/stderr"
    timeout -k 5 "$MRC_TIMEOUT" "${DEFAULT_SIGNALS[@]}" "${cmd[@]}" "$@" \
        >"$T/stdout" 2>"$T/stderr" </dev/null &
    BG=$!
}

# held_or_ended PHASE : a rank announced it holds PHASE, or the run in the background ended.
held_or_ended() { grep -q "(pid [0-9]*): MRC_FAULT holds $1 " "$T/stderr" || ! kill -0 "$BG" 2>/dev/null; }

# held PHASE : wait until a rank announces it holds PHASE; its pid in $HELD_PID.
held() {
    wait_until 120 held_or_ended "$1" || true
    HELD_PID=$(sed -n "s/.*(pid \([0-9]*\)): MRC_FAULT holds $1 .*/\1/p" "$T/stderr" | head -1)
    [ -z "$HELD_PID" ] || return 0
    sed 's/^/  stderr: /' "$T/stderr" | head -20 >&2
    fail "the run never held in $1"
}

# children PID : its child processes, from /proc (no procps needed).
children() {
    local f line ppid
    for f in /proc/[0-9]*/stat; do
        { read -r line <"$f"; } 2>/dev/null || continue
        read -r _ ppid _ <<<"${line##*) }"
        if [ "$ppid" = "$1" ]; then
            f=${f#/proc/}
            echo "${f%/stat}"
        fi
    done
}

# launcher_pid : the process timeout runs (mrcount alone, or mpirun).
launcher_pid() { children "$BG" | head -1; }

# rank_pid RANK : the pid of rank RANK under mpirun (a child of mpirun on this node).
rank_pid() {
    local p
    for p in $(children "$(launcher_pid)"); do
        if tr '\0' '\n' <"/proc/$p/environ" 2>/dev/null | grep -x "OMPI_COMM_WORLD_RANK=$1" >/dev/null; then
            echo "$p"
            return 0
        fi
    done
    fail "no process for rank $1"
}

# signal_and_wait SIG PID : send SIG to PID, wait for the run; $RC its status, $SECS the seconds
# from the signal to its end.
signal_and_wait() {
    local t0 ms
    t0=$(date +%s%N)
    kill -s "$1" "$2"
    RC=0
    wait "$BG" || RC=$?
    BG=
    ms=$((($(date +%s%N) - t0) / 1000000))
    SECS=$((ms / 1000)).$(printf '%03d' $((ms % 1000)))
    [ "$ms" -lt $((MRC_TIMEOUT * 1000)) ] || fail "hang: killed after ${MRC_TIMEOUT}s"
}

# check WHAT STATUS [MESSAGE_REGEX] : status, promptness, nothing left; with a regex, exactly
# one error line, matching it.
check() {
    local what=$1 status=$2 regex=${3:-}
    assert_status "$status" "$what"
    [ "${SECS%.*}" -lt "$BOUND" ] || fail "$what: took ${SECS}s after the signal (bound ${BOUND}s)"
    nothing_left "$OUT" "$what"
    if [ -n "$regex" ]; then assert_one_error "$regex" "$what"; fi
    log "ok: $what: status $RC, ${SECS}s after the signal"
}

# --- mrcount alone: every phase, SIGTERM and SIGINT: 128 + the signal -------------------------
for phase in discover distribute place map local_merge combine output metrics; do
    for sig in TERM INT; do
        MRC_FAULT=0:$phase:hang start single "${ARGS[@]}" "$D"
        held "$phase"
        signal_and_wait "$sig" "$HELD_PID"
        [ $sig = TERM ] && status=143 || status=130
        check "alone, SIG$sig in $phase" $status "^mrcount: stopped by SIG$sig\$"
    done
done

# --- a signal before MPI starts (MRC_TEST_SIGNAL_AT_START raises it in every rank): caught, the
# rank still connects to mpirun and the run stops at its first agreement (a rank killed while
# connecting could leave mpirun waiting forever); a second one kills, so that a start-up that
# hangs still ends on a second Ctrl-C.
for np in single 2; do
    MRC_TEST_SIGNAL_AT_START=1 start "$np" "${ARGS[@]}" "$D"
    RC=0
    wait "$BG" || RC=$?
    BG=''
    SECS=0
    [ "$np" = single ] && want='^mrcount: stopped by SIGTERM$' || want='^mrcount: rank 0: stopped by SIGTERM$'
    check "$np: SIGTERM before MPI starts" 143 "$want"
    MRC_TEST_SIGNAL_AT_START=2 start "$np" "${ARGS[@]}" "$D"
    RC=0
    wait "$BG" || RC=$?
    BG=''
    check "$np: two SIGTERMs before MPI starts (the second kills)" 143
    if grep -q 'stopped by' "$T/stderr"; then fail "$np: the second SIGTERM was caught"; fi
done

# --- mrcount alone, a signal while rank 0 walks a big tree: the walk ends at the next entry, it
# does not finish first. 60,000 empty files named 25 times; a full run's metrics give the walk's
# time, and the stopped run must end in well under half of it. -----------------------------------
W=$T/tree
perl -e 'for my $d (0 .. 59) { mkdir sprintf("%s/d%02d", $ARGV[0], $d) or die "mkdir: $!";
    for my $f (0 .. 999) { open(my $h, ">", sprintf("%s/d%02d/f%03d", $ARGV[0], $d, $f)) or die "$!" } }' \
    "$(mkdir -p "$W" && echo "$W")"
tree_args=()
for ((i = 0; i < 25; i++)); do tree_args+=("$W"); done
"$MRCOUNT" --quiet --output "$T/tree.tsv" --metrics "$T/tree.json" "${tree_args[@]}" ||
    fail "a run over the tree failed"
walk=$(sed -n 's/.*"discover": *{"min": *\([0-9.]*\).*/\1/p' "$T/tree.json")
run=$(sed -n 's/.*"seconds": *\([0-9.]*\).*/\1/p' "$T/tree.json" | head -1)
phases=$(grep -o '"max": *[0-9.]*' "$T/tree.json" | head -6 | awk '{ s += $2 } END { print s }')
[ -n "$walk" ] && [ -n "$run" ] || fail "no discover time in the tree run's metrics"
rm -f "$T/tree.tsv" "$T/tree.json"
if awk -v w="$walk" 'BEGIN { exit !(w >= 1.0) }'; then
    start single "${ARGS[@]}" "${tree_args[@]}"
    # The walk holds no file open for long, so time it: a third of the way into the walk, after
    # the start-up the full run measured (its seconds less its phases).
    sleep "$(awk -v s="$run" -v p="$phases" -v w="$walk" 'BEGIN { printf "%.3f", s - p + w / 3 }')"
    pid=$(launcher_pid)
    signal_and_wait TERM "$pid"
    check "alone, SIGTERM while walking a tree (a full walk: ${walk}s)" 143 '^mrcount: stopped by SIGTERM$'
    awk -v s="$SECS" -v w="$walk" 'BEGIN { exit !(s < w / 2) }' ||
        fail "SIGTERM during the walk: stopped after ${SECS}s, a full walk takes ${walk}s"
else
    log "skip: the tree walk takes ${walk}s here, too short to tell an interrupted walk apart"
fi
rm -rf "$W"

# --- mpirun signalled: it sends every rank SIGCONT, SIGTERM 1 s later (for SIGINT too), SIGKILL
# 1 s after that, and exits 1. The ranks' one message says so when it gets out before mpirun
# does. ----------------------------------------------------------------------------------------
# RANK:PHASE NP SIG [--output-per-rank]
cases=(
    "1:map 2 TERM" "1:combine 2 TERM" "1:map 2 INT"
    "0:output 2 TERM"            # the result is in place: the handler removes it
    "2:metrics 3 TERM per-rank") # the parts, the manifest and the directory are removed
for c in "${cases[@]}"; do
    read -r spec np sig per <<<"$c"
    args=("${ARGS[@]}")
    [ -z "$per" ] || args=(--output-per-rank "$OUT/parts" --metrics "$OUT/m.json" --quiet)
    MRC_FAULT=$spec:hang start "$np" "${args[@]}" "$D"
    held "${spec#*:}"
    signal_and_wait "$sig" "$(launcher_pid)"
    check "mpirun -np $np ${per:+--output-per-rank }gets SIG$sig, rank ${spec%%:*} held in ${spec#*:}" 1
    [ "$(errors | wc -l)" -le 1 ] || fail "more than one error line"
    if errors | grep -v 'stopped by SIGTERM' >/dev/null; then fail "an error line that is not the signal's"; fi
done

# --- one rank alone gets SIGTERM (a kill, or a node's time limit): every rank stops, all with
# status 143, and the message names the rank -------------------------------------------------
# The held rank itself: it stops holding, and the others learn it at the next agreement.
MRC_FAULT=1:map:hang start 2 "${ARGS[@]}" "$D"
held map
signal_and_wait TERM "$HELD_PID"
check "np 2, SIGTERM to rank 1 held in map" 143 '^mrcount: rank 1: stopped by SIGTERM$'

# A rank waiting for the others in an agreement while one is held (busy): after 2 s it gives
# up, removes its files and ends the job (MPI_Abort); mpirun's SIGTERM then reaches the busy one.
MRC_FAULT=1:combine:hang start 2 "${ARGS[@]}" "$D"
held combine
signal_and_wait TERM "$(rank_pid 0)"
check "np 2, SIGTERM to rank 0 while rank 1 holds in combine" 143 \
    '^mrcount: rank 0: stopped by SIGTERM; the other ranks did not stop within 2 s'

# Rank 1 holds before it streams its share of the result to rank 0, which waits for it; rank 1
# gets SIGTERM: its stop reaches rank 0 in the stream, and the run stops as a signal (rank 0
# named the stop as its own failure, status 1, before the stream relayed the owner's code).
MRC_FAULT=1:stream:hang start 2 "${ARGS[@]}" "$D"
held stream
signal_and_wait TERM "$HELD_PID"
check "np 2, SIGTERM to rank 1 held before its stream" 143 '^mrcount: rank 1: stopped by SIGTERM$'

# The same with the output by ranges (rank 1 formatted its lines and holds before serving them).
MRC_FAULT=1:stream:hang start 2 --reduce shuffle "${ARGS[@]}" "$D"
held stream
signal_and_wait TERM "$HELD_PID"
check "np 2, output by ranges, SIGTERM to rank 1 held before its stream" 143 \
    '^mrcount: rank 1: stopped by SIGTERM$'

# Rank 0 holds after putting the result in place; rank 1 gets SIGTERM: nothing is left.
MRC_FAULT=0:output:hang start 2 "${ARGS[@]}" "$D"
held output
[ -f "$OUT/r.tsv" ] || fail "rank 0 holds in output, but the result is not in place yet"
signal_and_wait TERM "$(rank_pid 1)"
check "np 2, SIGTERM to rank 1 while rank 0 holds in output" 143 '^mrcount: rank 1: stopped by SIGTERM'

# --- the output waits on a reader: a pipe whose reader does not read (a paused pager, a stalled
# consumer), a FIFO result that has no reader yet. The output waits as a blocking write or open
# would, but a signal still stops the run (caught with SA_RESTART, a blocked write() or open()
# would be restarted and the run would wait for its reader forever). ---------------------------
# stuck_pipe FD : wait until the pipe on FD holds bytes that nobody reads and the writer adds no
# more for half a second: it is full, and the writer waits.
stuck_pipe() {
    python3 - "$1" "$MRC_TIMEOUT" <<'EOF'
import fcntl, struct, sys, termios, time
fd, end = int(sys.argv[1]), time.time() + float(sys.argv[2])
last, since = -1, time.time()
while time.time() < end:
    n = struct.unpack("i", fcntl.ioctl(fd, termios.FIONREAD, b"\0\0\0\0"))[0]
    if n != last:
        last, since = n, time.time()
    elif n > 0 and time.time() - since >= 0.5:
        sys.exit(0)
    time.sleep(0.05)
sys.exit(1)
EOF
}
F=$T/reader.fifo
mkfifo "$F"
for sig in TERM INT; do
    exec 3<>"$F" # the reader that never reads (O_RDWR: this open does not wait)
    : >"$T/stderr"
    timeout -k 5 "$MRC_TIMEOUT" "${DEFAULT_SIGNALS[@]}" "$MRCOUNT" --output - --metrics "$OUT/m.json" \
        --quiet "$D" >"$F" 2>"$T/stderr" </dev/null &
    BG=$!
    stuck_pipe 3 || fail "the result (341 KB) never filled the pipe"
    signal_and_wait "$sig" "$(launcher_pid)"
    exec 3<&-
    [ $sig = TERM ] && status=143 || status=130
    check "alone, SIG$sig while standard output is a pipe nobody reads" $status \
        "^mrcount: stopped by SIG$sig\$"
done
# The result is a FIFO that no process opens: the run maps, then waits at the open. The map of
# this corpus takes well under the 3 s waited here (a signal that comes before still stops it).
G=$T/nobody.fifo
mkfifo "$G"
start single --output "$G" --metrics "$OUT/m.json" --quiet "$D"
sleep 3
signal_and_wait TERM "$(launcher_pid)"
check "alone, SIGTERM while the result, a FIFO, has no reader" 143 '^mrcount: stopped by SIGTERM$'
start 2 --output "$G" --metrics "$OUT/m.json" --quiet "$D"
sleep 3
signal_and_wait TERM "$(rank_pid 0)"
check "np 2, SIGTERM to rank 0 while the result, a FIFO, has no reader" 143 \
    '^mrcount: rank 0: stopped by SIGTERM'

log "PASS"
