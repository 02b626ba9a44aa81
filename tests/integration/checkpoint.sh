#!/usr/bin/env bash
# checkpoint.sh - --checkpoint DIR. A run stopped by SIGTERM (sent to every rank, as Slurm's
# step kill does) at several points of its map exits 143, leaves no result, and keeps its work;
# the same command run again resumes it, possibly stopped again (a third generation), and ends
# with a result equal to the oracle's, its metrics saying what was skipped, and DIR removed.
# For words and ngram, plain and compressed (.gz; words also .zst .xz .bz2), static and dynamic,
# at np 1-3, resumed at another rank count than it stopped at. Then: a rank SIGKILLed inside a
# checkpoint (its run written, its manifest not) and a torn manifest are ignored and the result
# stays exact; an input changed between the runs, or another option, is refused (exit 2)
# unless --checkpoint-reset; --keep-checkpoint keeps DIR, and a run over it maps nothing; a
# file of the user's in DIR stays (and DIR); a second run on a DIR in use is refused.
# The map is slowed with the test hook MRC_TEST_PIECE_PAUSE_US (a pause after each piece) and
# small pieces, so the signal lands where the test wants it: after so many pieces are kept.
# shellcheck source-path=SCRIPTDIR source=lib.bash
source "$(dirname "$0")/lib.bash"

# A script's background job ignores SIGINT; reset the signals before exec, as a terminal would.
# shellcheck disable=SC2016 # perl code
DEFAULT_SIGNALS=(perl -e '$SIG{INT} = $SIG{TERM} = "DEFAULT"; exec @ARGV or die "exec: $!\n"')
OUT=$T/out
mkdir -p "$OUT"

gen_corpus "$T/words" 1 --files 3 --seed 21
mkdir -p "$T/words-gz"
gen_corpus "$T/wgz-src" 1 --files 10 --seed 22
i=0 # compressed files of every codec: each is one piece, read whole
for f in "$T/wgz-src"/*; do
    case $((i++ % 4)) in
    0) gzip -c "$f" >"$T/words-gz/$(basename "$f").gz" ;;
    1) zstd -q -c "$f" >"$T/words-gz/$(basename "$f").zst" ;;
    2) xz -c "$f" >"$T/words-gz/$(basename "$f").xz" ;;
    3) bzip2 -c "$f" >"$T/words-gz/$(basename "$f").bz2" ;;
    esac
done
cp "$T/words/part0000.txt" "$T/words-gz/" # a plain file among the .gz ones
gen_ngrams "$T/ngram" 1 --format v2 --order 2 --files 3 --seed 23
gen_ngrams "$T/ngram-gz" 1 --format v2 --order 2 --files 10 --seed 24 --gzip

BG=
stop_bg() { [ -z "$BG" ] || kill "$BG" 2>/dev/null || true; }
at_exit stop_bg

# start NP ARGS... : mrcount in the background (mpirun for NP > 0, alone for NP = 0), pid $BG.
start() {
    local np=$1 cmd=("$MRCOUNT")
    shift
    [ "$np" = 0 ] || cmd=("${MPIRUN[@]}" "$np" "$MRCOUNT")
    : >"$T/stderr"
    timeout -k 5 "$MRC_TIMEOUT" "${DEFAULT_SIGNALS[@]}" "${cmd[@]}" "$@" \
        >"$T/stdout" 2>"$T/stderr" </dev/null &
    BG=$!
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

# pids_of_ranks : the mrcount processes of the run in the background (under timeout, alone or
# under mpirun).
pids_of_ranks() {
    local p q
    for p in $(children "$BG"); do
        if [ "$(readlink "/proc/$p/exe")" = "$(readlink -f "$MRCOUNT")" ]; then
            echo "$p"
        else
            for q in $(children "$p"); do echo "$q"; done
        fi
    done
}

# kept DIR GEN : the pieces its manifests of generation GEN hold.
kept() { cat "$1"/r*-g"$2"-w*.manifest 2>/dev/null | grep -c '^piece ' || true; }

# kept_or_ended NPIECES DIR GEN : DIR's manifests of generation GEN hold NPIECES pieces, or the
# run in the background has ended.
kept_or_ended() { [ "$(kept "$2" "$3")" -ge "$1" ] || ! kill -0 "$BG" 2>/dev/null; }

# term_ranks : SIGTERM every rank of the run in the background; its status in $RC.
term_ranks() {
    local p
    for p in $(pids_of_ranks); do kill -TERM "$p" 2>/dev/null || true; done
    RC=0
    wait "$BG" || RC=$?
    BG=
}

# stop_after NPIECES DIR GEN : wait until DIR's manifests of generation GEN (the run in the
# background) hold NPIECES pieces, then SIGTERM every rank; the run must end with 143, no
# result, its work kept.
stop_after() {
    local want=$1 dir=$2 gen=$3
    wait_until 120 kept_or_ended "$want" "$dir" "$gen" || true
    [ "$(kept "$dir" "$gen")" -ge "$want" ] || {
        sed 's/^/  stderr: /' "$T/stderr" | head >&2
        fail "the run never kept $want pieces in $dir"
    }
    term_ranks
    assert_status 143 "SIGTERM after $want pieces"
    nothing_left "$OUT" "SIGTERM after $want pieces"
    assert_stderr_has "the same command resumes it" "SIGTERM after $want pieces"
    [ "$(kept "$dir" "$gen")" -ge "$want" ] || fail "the checkpoint lost pieces at the stop"
}

# metric FILE KEY : a number from the metrics' "checkpoint" object.
metric() { sed -n "s/.*\"$2\": *\([0-9]*\).*/\1/p" "$1" | head -1; }

# run_case JOB INPUT NP1 NP2 NP3 PAUSE_US STOP1 STOP2 ARGS... : stop at np NP1 after STOP1
# pieces, resume at NP2 and stop after STOP2 more, resume at NP3 to the end; compare with the
# oracle.
run_case() {
    local job=$1 input=$2 np1=$3 np2=$4 np3=$5 pause=$6 s1=$7 s2=$8
    shift 8
    local dir=$T/ckpt what
    what="$job $(basename "$input") np $np1 -> $np2 -> $np3 $*"
    local args=(--job "$job" --chunk-size 4096 --checkpoint "$dir" --checkpoint-interval 0.05
        --output "$OUT/r.tsv" --quiet "$@" "$input")
    rm -rf "$dir"
    MRC_TEST_PIECE_PAUSE_US=$pause start "$np1" "${args[@]}"
    stop_after "$s1" "$dir" 1
    MRC_TEST_PIECE_PAUSE_US=$pause start "$np2" "${args[@]}"
    stop_after "$s2" "$dir" 2
    if [ "$np3" = 0 ]; then run_single "${args[@]}" --metrics "$T/m.json"; else run_mrc "$np3" "${args[@]}" --metrics "$T/m.json"; fi
    assert_status 0 "$what: the last resume"
    assert_same "$T/exp-$job-$(basename "$input").tsv" "$OUT/r.tsv" "$what"
    [ ! -e "$dir" ] || fail "$what: the checkpoint directory is still there after success"
    local skipped manifests gen
    skipped=$(metric "$T/m.json" pieces_skipped)
    manifests=$(metric "$T/m.json" manifests)
    gen=$(metric "$T/m.json" generation)
    if [ "${skipped:-0}" -lt $((s1 + s2)) ] || [ "${manifests:-0}" = 0 ] || [ "$gen" != 3 ]; then
        fail "$what: metrics say pieces_skipped=$skipped manifests=$manifests generation=$gen"
    fi
    rm -f "$OUT/r.tsv" "$T/m.json"
    log "ok: $what (generation 3 skipped $skipped pieces)"
}

oracle "$T/words"/* >"$T/exp-words-words.tsv"
for f in "$T/wgz-src"/* "$T/words/part0000.txt"; do cat "$f"; done >"$T/wgz-all.txt"
oracle "$T/wgz-all.txt" >"$T/exp-words-words-gz.tsv"
ngram_oracle v2 match 0 9999 all 0 "$T/ngram"/* >"$T/exp-ngram-ngram.tsv"
for f in "$T/ngram-gz"/*; do gzip -dc "$f"; done >"$T/ngram-all.tsv"
ngram_oracle v2 match 0 9999 all 0 "$T/ngram-all.tsv" >"$T/exp-ngram-ngram-gz.tsv"

# JOB INPUT NP1 NP2 NP3 PAUSE STOP1 STOP2 ARGS (NP 0: mrcount alone)
run_case words "$T/words" 0 2 3 20000 20 40
run_case words "$T/words" 3 1 2 20000 30 30 --schedule dynamic
run_case words "$T/words-gz" 2 3 1 500000 2 2 --chunk-size 64k
run_case ngram "$T/ngram" 1 3 2 20000 20 40 --format v2 --reduce reduce
run_case ngram "$T/ngram-gz" 3 2 0 500000 2 2 --format v2 --schedule dynamic

# --- SIGKILL inside a checkpoint: rank 1 holds in its worker's 3rd checkpoint, after the run
# file is written and before the manifest; killed there, it leaves a run no manifest names. ---
dir=$T/ckpt
args=(--chunk-size 4096 --checkpoint "$dir" --checkpoint-interval 0.05 --output "$OUT/r.tsv"
    --quiet "$T/words")
rm -rf "$dir"
MRC_TEST_PIECE_PAUSE_US=20000 MRC_TEST_CKPT_HOLD=3 start 2 "${args[@]}"
held_pid() { sed -n 's/.*rank 1 (pid \([0-9]*\)): MRC_TEST_CKPT_HOLD holds.*/\1/p' "$T/stderr" | head -1; }
wait_until 120 grep -q 'rank 1 (pid [0-9]*): MRC_TEST_CKPT_HOLD holds' "$T/stderr" ||
    fail "rank 1 never held in a checkpoint"
held=$(held_pid)
kill -KILL "$held"
RC=0
wait "$BG" || RC=$?
BG=
[ "$RC" != 0 ] || fail "a rank was killed, yet the run succeeded"
nothing_left "$OUT" "SIGKILL mid-checkpoint"
orphans=0
for f in "$dir"/*.run; do
    grep -q "^run $(basename "$f") " "$dir"/*.manifest || orphans=$((orphans + 1))
done
[ "$orphans" -gt 0 ] || fail "SIGKILL mid-checkpoint left no torn run to ignore"
# a torn manifest beside it: a copy of one cut short (no "end" line) under another worker's name
m=$(ls "$dir"/r0-g1-w0.manifest)
head -n 4 "$m" >"$dir/r0-g1-w7.manifest"
run_mrc_ok 2 "${args[@]}" --keep-checkpoint
assert_same "$T/exp-words-words.tsv" "$OUT/r.tsv" "resume after SIGKILL mid-checkpoint"
for f in "$dir"/*.run; do
    grep -q "^run $(basename "$f") " "$dir"/*.manifest || fail "$(basename "$f"): a torn run was not removed"
done
log "ok: SIGKILL mid-checkpoint ($orphans torn runs) and a torn manifest: ignored, the result exact"

# --- a stop before the map wrote anything: the message does not claim work was kept --------
rm -rf "$T/ckpt0"
MRC_FAULT=0:place:hang start 2 --checkpoint "$T/ckpt0" --output "$OUT/r.tsv" "$T/words"
wait_until 120 grep -q 'MRC_FAULT holds place' "$T/stderr" || fail "the run never held in place"
term_ranks
assert_status 143 "SIGTERM before the map"
assert_stderr_has "holds no finished work yet" "SIGTERM before the map"
if grep -q "the work done so far is kept" "$T/stderr"; then fail "SIGTERM before the map: work claimed kept"; fi
rm -rf "$T/ckpt0"
log "ok: a stop before the map says that nothing was kept"

# --- --keep-checkpoint: DIR stays complete; the same command maps nothing and gives the same
# result -------------------------------------------------------------------------------------
run_mrc_ok 1 "${args[@]}" --keep-checkpoint --metrics "$T/m.json"
assert_same "$T/exp-words-words.tsv" "$OUT/r.tsv" "a run over a complete checkpoint"
grep -q '"bytes_read": 0,' "$T/m.json" || fail "a run over a complete checkpoint read input"
log "ok: --keep-checkpoint keeps DIR; a run over it maps nothing and gives the same result"
# a file of the user's in DIR: the checkpoint goes, the file and DIR stay, and a note says so
echo "my notes" >"$dir/NOTES.txt"
run_mrc_ok 1 "${args[@]}"
assert_same "$T/exp-words-words.tsv" "$OUT/r.tsv" "a run over a checkpoint beside a file of the user's"
[ "$(ls -A "$dir")" = NOTES.txt ] || fail "DIR with a file of the user's: left $(ls -A "$dir" | tr '\n' ' ')"
grep -q "^mrcount: note: $dir: the checkpoint is removed, the directory kept" "$T/stderr" ||
    fail "DIR with a file of the user's: no note: $(cat "$T/stderr")"
log "ok: a file of the user's in DIR stays, with DIR, and a note says so"
rm -f "$dir/NOTES.txt"
run_mrc_ok 1 "${args[@]}" --keep-checkpoint # a complete checkpoint again, for what follows

# --- changed state: another input or another option is refused with exit 2 ------------------
touch -d '2001-01-01' "$T/words/part0001.txt"
rm -f "$OUT/r.tsv" "$T/m.json"
run_mrc 2 "${args[@]}"
assert_status 2 "an input changed"
assert_one_error "checkpoint is of another run .*part0001.txt" "an input changed"
[ ! -e "$OUT/r.tsv" ] || fail "a refused run left a result"
run_mrc 1 "${args[@]}" --fold-case
assert_status 2 "another option"
assert_one_error "checkpoint is of another run" "another option"
run_mrc_ok 3 "${args[@]}" --checkpoint-reset
assert_same "$T/exp-words-words.tsv" "$OUT/r.tsv" "--checkpoint-reset"
[ ! -e "$dir" ] || fail "--checkpoint-reset: DIR left after success"
log "ok: a changed input and another option refused (exit 2); --checkpoint-reset starts over"

# --- two runs on one DIR: the second is refused (exit 2) naming the holder; the first goes on
# to its exact result -------------------------------------------------------------------------
rm -rf "$dir" "$OUT/r.tsv"
MRC_TEST_PIECE_PAUSE_US=20000 start 1 "${args[@]}"
wait_until 120 test -s "$dir/lock" || fail "two runs: the first run never took DIR's lock"
run_single "${args[@]}"
assert_status 2 "a second run on a DIR in use"
assert_one_error "ckpt: the checkpoint is in use by another run \(pid [0-9]+ on " "a second run on a DIR in use"
rc=0
wait "$BG" || rc=$?
BG=
[ "$rc" = 0 ] || fail "two runs: the first run ended with status $rc"
assert_same "$T/exp-words-words.tsv" "$OUT/r.tsv" "the first of two runs on one DIR"
[ ! -e "$dir" ] || fail "two runs: DIR left after the first run's success"
log "ok: a second run on a DIR in use refused (exit 2, the holder named); the first one exact"

# --- DIR names a file: exit 2 ---------------------------------------------------------------
: >"$T/afile"
run_mrc 1 --checkpoint "$T/afile" --output "$OUT/r.tsv" "$T/words"
assert_status 2 "--checkpoint names a file"
assert_one_error "afile: not a directory" "--checkpoint names a file"
log "PASS"
