#!/usr/bin/env bash
# progress.sh - the progress line (percent, MB/s, ETA, ranks mapping) goes to rank 0's stderr
# when the user's stderr is a terminal (--progress auto), under mpirun as well as alone; never
# into a file or a pipe unless --progress always; never with --progress never. The terminal is a
# pseudo-terminal from script(1) (util-linux/bsdutils). Pass/fail never depends on timings: the
# line is drawn at least once, at the end of the map phase, whenever it is drawn at all.
# shellcheck source-path=SCRIPTDIR source=lib.bash
source "$(dirname "$0")/lib.bash"

D=$T/data
gen_corpus "$D" 16 --files 4 --seed 51
LINE='ETA [0-9]+s ranks mapping'
oracle "$D"/*.txt >"$T/expected.tsv"
STEP='^mrcount: [0-9]+\.[0-9] s: (combining|merging|sorting|writing) '

# has_line FILE WHAT / no_line FILE WHAT : the progress line is in FILE, or is not.
has_line() {
    grep -Eq "$LINE" "$1" || fail "$2: no progress line in $(head -c 300 "$1" | cat -A)"
    grep -Eq '100\.0%' "$1" || fail "$2: the progress line never reached 100%"
}
no_line() {
    if grep -Eq "$LINE" "$1"; then fail "$2: a progress line where none belongs"; fi
    if grep -Eq "$STEP" "$1"; then fail "$2: a step line where no progress belongs"; fi
}

# in_pty COMMAND... : run the command on a pseudo-terminal (its stdin, stdout and stderr),
# bounded in time; what it wrote to the terminal is in $T/pty.
in_pty() {
    local cmd
    cmd=$(printf '%q ' timeout -k 10 "$MRC_TIMEOUT" "$@")
    RC=0
    SHELL=/bin/bash timeout -k 10 "$((MRC_TIMEOUT + 20))" script -qec "$cmd" /dev/null \
        >"$T/pty" 2>&1 </dev/null || RC=$?
    case $RC in 124 | 137) fail "timed out on a pseudo-terminal: $*" ;; esac
    [ "$RC" = 0 ] || fail "exit status $RC on a pseudo-terminal: $*"
}

MRC=("$MRCOUNT" --threads 1 --quiet --output "$T/out.tsv")
NP2=("${MPIRUN[@]}" 2 "${MRC[@]}")

# --- a terminal: auto draws, under mpirun (mpirun's stderr is the terminal) and alone ----------
if command -v script >/dev/null; then
    in_pty "${NP2[@]}" --progress auto "$D"
    has_line "$T/pty" "np 2, auto, on a terminal"
    in_pty "${MRC[@]}" --progress auto "$D"
    has_line "$T/pty" "singleton, auto, on a terminal"
    log "ok: auto draws on a terminal (np 2 and alone)"

    in_pty "${NP2[@]}" --progress never "$D"
    no_line "$T/pty" "np 2, never, on a terminal"
    log "ok: never draws nothing on a terminal"

    # stdout on the terminal, stderr into a file or a pipe: auto stays quiet.
    # shellcheck disable=SC2016 # "$@" and "$0" are the inner shell's
    in_pty bash -c '"$@" 2>"$0"' "$T/err-file" "${NP2[@]}" --progress auto "$D"
    no_line "$T/err-file" "np 2, auto, stderr to a file (terminal around)"
    no_line "$T/pty" "np 2, auto, stderr to a file (terminal around)"
    # shellcheck disable=SC2016
    in_pty bash -c '"$@" 2>&1 >/dev/null | cat >"$0"' "$T/err-pipe" "${NP2[@]}" --progress auto "$D"
    no_line "$T/err-pipe" "np 2, auto, stderr to a pipe (terminal around)"
    log "ok: auto draws nothing into a file or a pipe, even from a terminal"
else
    log "skip: no script(1) to make a pseudo-terminal (apt-get install bsdutils)"
fi

# --- no terminal at all (the steps after the map: lines of their own as well) --------------------
run_mrc_ok 2 --threads 1 --quiet --output "$T/out.tsv" --progress auto "$D"
no_line "$T/stderr" "np 2, auto, stderr to a file"
timeout -k 10 "$MRC_TIMEOUT" "${NP2[@]}" --progress always "$D" 2>&1 >/dev/null </dev/null |
    cat >"$T/always-pipe" || fail "np 2, always, stderr to a pipe: exit status $?"
has_line "$T/always-pipe" "np 2, always, stderr to a pipe"
# ... as lines a log can hold: no carriage return, each frame a line of its own (one as the map
# begins if it is still mapping at the first exchange, one every 10 s, one at the end)
if grep -q $'\r' "$T/always-pipe"; then fail "np 2, always, into a pipe: a carriage return"; fi
grep -Eq '^mrcount: \[#{30}\] 100\.0% .* ranks mapping 0$' "$T/always-pipe" ||
    fail "np 2, always, into a pipe: no last line of its own: $(cat -A "$T/always-pipe")"
# ... then the steps after the map, in order, each a line of its own with rank 0's clock: the
# map's bar stops at 100% while a big result is still sorted and written
steps=$(sed -n '/100\.0% .* ranks mapping 0$/,$p' "$T/always-pipe" | grep -E "$STEP" |
    sed -E 's/^mrcount: [0-9.]+ s: //') || true
want="combining the tables of 2 ranks
sorting the result
writing $(wc -l <"$T/expected.tsv") lines to $T/out.tsv"
[ "$steps" = "$want" ] || fail "np 2, always: the steps after the map: $(cat -A "$T/always-pipe")"
run_mrc_ok 1 --threads 1 --quiet --output "$T/spilled.tsv" --progress always \
    --memory-limit 16M --top 3 "$D"
grep -Eq "$STEP" "$T/stderr" || fail "np 1, always, into a file: no step line"
grep -Eq '^mrcount: [0-9.]+ s: writing 3 lines to ' "$T/stderr" ||
    fail "np 1, always, --top 3: the writing step: $(cat "$T/stderr")"
# ... and within the writing step, the lines written so far (every 10 s; the test hook
# MRC_TEST_STEP_EACH makes it every chunk or 65536 lines): rising, each of the whole result's
# count, none past it
lines=$(wc -l <"$T/expected.tsv")
for np in 1 2; do
    MRC_TEST_STEP_EACH=1 run_mrc_ok "$np" --threads 2 --quiet --output "$T/out.tsv" \
        --progress always "$D"
    written_re='^mrcount: [0-9.]+ s: [0-9]+ of [0-9]+ lines written \([0-9]+%\)$'
    { grep -E "$written_re" "$T/stderr" || :; } |
        sed -E 's/^.* s: ([0-9]+) of ([0-9]+) .*$/\1 \2/' >"$T/written"
    awk -v n="$lines" 'NF != 2 || $2 != n || $1 <= last || $1 > n { bad = 1 } { last = $1 }
        END { exit bad || NR < 2 }' "$T/written" ||
        fail "np $np: the lines written within the step ($lines lines): $(cat "$T/stderr")"
    assert_same "$T/expected.tsv" "$T/out.tsv" "np $np, lines written shown"
done
run_mrc_ok 2 --threads 1 --quiet --output "$T/out.tsv" --progress never "$D"
no_line "$T/stderr" "np 2, never, stderr to a file"
log "ok: into a file or a pipe only with always"

assert_same "$T/expected.tsv" "$T/out.tsv" "the result with progress on"
log "PASS"
