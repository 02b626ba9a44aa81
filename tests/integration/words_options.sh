#!/usr/bin/env bash
# words_options.sh - the options users reach for, each against the perl oracle: --tokens alnum,
# --fold-case, --top, --sort key, --output FILE (renamed into place, no temporary left),
# --metrics (valid JSON with per-phase timings), --config FILE.ini (and the command line beating
# it), @list.txt inputs and glob inputs expanded by mrcount itself.
# shellcheck source-path=SCRIPTDIR source=lib.bash
source "$(dirname "$0")/lib.bash"

D=$T/data
mkdir -p "$D"
gen_corpus "$D" 1.5 --files 3 --seed 21 --vocab 20000
# hand-made text for case folding and alnum tokens: apostrophes, digits, punctuation, UTF-8
printf "Don't STOP, don't stop: DON'T!\tIt's 2024 -- it's 1984? Caf\xc3\xa9 CAF\xc3\x89 caf\xc3\xa9\n\xc3\x84rger \xc3\xa4rger ARGER x_y x-y O'Neil o'neil\r\n" \
    >"$D/mixed.txt"
printf 'ignored by the glob\n' >"$D/notes.md"
txt=("$D"/part0000.txt "$D"/part0001.txt "$D"/part0002.txt "$D"/mixed.txt)

# run_vs NAME EXPECTED NP ARGS... : run with --output and compare with EXPECTED
run_vs() {
    local what=$1 expected=$2 np=$3
    shift 3
    run_mrc_ok "$np" --quiet --output "$T/out.tsv" "$@"
    assert_same "$expected" "$T/out.tsv" "$what"
    log "ok: $what"
}

oracle "${txt[@]}" >"$T/words.tsv"
oracle --alnum "${txt[@]}" >"$T/alnum.tsv"
oracle --fold "${txt[@]}" >"$T/fold.tsv"
oracle --alnum --fold "${txt[@]}" >"$T/alnum-fold.tsv"
oracle --sort-key "${txt[@]}" >"$T/bykey.tsv"
oracle --fold --sort-key "${txt[@]}" >"$T/fold-bykey.tsv"
head -n 10 "$T/words.tsv" >"$T/top10.tsv"

run_vs "--tokens alnum" "$T/alnum.tsv" 2 --tokens alnum "${txt[@]}"
run_vs "--fold-case" "$T/fold.tsv" 2 --threads 2 --fold-case "${txt[@]}"
run_vs "--tokens alnum --fold-case" "$T/alnum-fold.tsv" 3 --tokens alnum --fold-case --chunk-size 64k "${txt[@]}"
run_vs "--tokens whitespace (explicit)" "$T/words.tsv" 1 --tokens whitespace "${txt[@]}"
run_vs "--top 10" "$T/top10.tsv" 2 --top 10 "${txt[@]}"
run_vs "--sort key" "$T/bykey.tsv" 2 --sort key "${txt[@]}"
run_vs "--sort key --fold-case" "$T/fold-bykey.tsv" 3 --sort key --fold-case "${txt[@]}"

# --output FILE: the file is complete, nothing temporary is left next to it, and an existing
# file is replaced
mkdir -p "$T/outdir"
printf 'stale\n' >"$T/outdir/result.tsv"
run_mrc_ok 2 --quiet --output "$T/outdir/result.tsv" "${txt[@]}"
assert_same "$T/words.tsv" "$T/outdir/result.tsv" "--output FILE"
leftover=$(find "$T/outdir" -mindepth 1 ! -name result.tsv)
[ -z "$leftover" ] || fail "--output left files behind: $leftover"
[ ! -s "$T/stdout" ] || fail "--output FILE also wrote to stdout"
log "ok: --output FILE"

# --sync: the same result, and (strace, on rank 0's process) the result and the metrics file
# fsync'd before their renames, their directory after; without it, no fsync at all
run_vs "--sync" "$T/words.tsv" 2 --sync --threads 2 "${txt[@]}"
if command -v strace >/dev/null; then
    for mode in --sync --no-sync; do
        MRC_WRAP=(strace -f -qq -e 'trace=fsync,rename' -o "$T/strace.txt")
        run_single "$mode" --quiet --output "$T/outdir/synced.tsv" --metrics "$T/outdir/m.json" \
            "${txt[@]}"
        MRC_WRAP=()
        [ "$RC" = 0 ] || fail "$mode under strace: exit status $RC"
        assert_same "$T/words.tsv" "$T/outdir/synced.tsv" "$mode under strace"
        fsyncs=$(grep -c 'fsync(' "$T/strace.txt" || true)
        renames=$(grep -c 'rename(.*synced.tsv' "$T/strace.txt" || true)
        [ "$renames" = 1 ] || fail "$mode: the result renamed $renames times (strace)"
        if [ "$mode" = --sync ]; then
            # the result's fsync comes before its rename
            awk '/fsync\(/ { f = 1 } /rename\(.*synced.tsv/ { exit !f }' "$T/strace.txt" ||
                fail "--sync: no fsync before the result's rename"
            [ "$fsyncs" -ge 4 ] || fail "--sync: $fsyncs fsync calls, want result, metrics and their directory"
        else
            [ "$fsyncs" = 0 ] || fail "--no-sync: $fsyncs fsync calls"
        fi
    done
    rm -f "$T/outdir/synced.tsv" "$T/outdir/m.json"
    log "ok: --sync fsyncs the result and the metrics, the default does not"
else
    log "strace not installed: --sync's fsync calls not checked (.ci/install-deps.sh installs it)"
fi

# --metrics: valid JSON; per-phase seconds, and the token total agrees with the oracle
run_mrc_ok 2 --quiet --output "$T/out.tsv" --metrics "$T/m.json" "${txt[@]}"
assert_same "$T/words.tsv" "$T/out.tsv" "--metrics run"
python3 - "$T/m.json" "$(total_of "$T/words.tsv")" <<'EOF' || fail "--metrics: bad metrics file"
import json, sys
path, total = sys.argv[1], int(sys.argv[2])
with open(path) as f:
    m = json.load(f)                      # raises on invalid JSON
assert isinstance(m, dict), "metrics is not a JSON object"
keys, numbers = set(), {}
def walk(x, trail):
    if isinstance(x, dict):
        for k, v in x.items():
            keys.add(k.lower())
            walk(v, trail + [k.lower()])
    elif isinstance(x, list):
        for v in x:
            walk(v, trail)
    elif isinstance(x, (int, float)) and not isinstance(x, bool):
        numbers.setdefault(trail[-1] if trail else "", []).append(x)
walk(m, [])
text = " ".join(sorted(keys))
missing = [p for p in ("discover", "distribute", "map", "merge", "combine", "output") if p not in text]
assert not missing, "no key for phase(s) %s in %s" % (missing, sorted(keys))
tok = [v for k, vs in numbers.items() if "token" in k for v in vs]
assert tok, "no token count in metrics"
assert total in tok, "token counts %s in metrics, oracle says %d" % (tok, total)
EOF
log "ok: --metrics JSON"

# --config FILE.ini, and the command line wins over it
cat >"$T/run.ini" <<EOF
; a run configuration, the same keys as the long options
[input]
inputs = ${txt[*]}

[job]
job = words
fold-case = true

[run]
threads = 2
chunk-size = 128k

[output]
top = 5
EOF
head -n 5 "$T/fold.tsv" >"$T/fold-top5.tsv"
run_vs "--config" "$T/fold-top5.tsv" 2 --config "$T/run.ini"
head -n 3 "$T/fold.tsv" >"$T/fold-top3.tsv"
run_vs "--config + --top 3 (CLI wins)" "$T/fold-top3.tsv" 2 --config "$T/run.ini" --top 3
head -n 5 "$T/words.tsv" >"$T/top5.tsv"
run_vs "--config + --no-fold-case (CLI wins)" "$T/top5.tsv" 2 --config "$T/run.ini" --no-fold-case
oracle --fold "$D/mixed.txt" >"$T/mixed.tsv"
head -n 5 "$T/mixed.tsv" >"$T/mixed-top5.tsv"
run_vs "--config + CLI inputs replace [input]" "$T/mixed-top5.tsv" 1 --config "$T/run.ini" "$D/mixed.txt"

# @list.txt: one path a line
printf '%s\n' "$D/part0002.txt" "$D/mixed.txt" >"$T/list.txt"
oracle "$D/part0002.txt" "$D/mixed.txt" >"$T/list.tsv"
run_vs "@list.txt" "$T/list.tsv" 2 "@$T/list.txt"

# globs are expanded by mrcount (quoted here, so the shell does not); *.md is not matched
run_vs "glob input" "$T/words.tsv" 2 "$D/*.txt"
oracle "$D/part0000.txt" "$D/part0001.txt" >"$T/glob2.tsv"
run_vs "glob with [] and ?" "$T/glob2.tsv" 3 "$D/part000[0-1].tx?"

# Where the metrics go: "-" is standard output; a FIFO (as a device would be) is written in
# place, never replaced by a rename (run as root, -m /dev/null once made /dev/null a file); one
# path for the result and the metrics, or an input's, is refused before anything is written.
run_mrc_ok 2 --quiet --output "$T/m-out.tsv" --metrics - "$D/part0000.txt"
python3 -c 'import json,sys; m = json.load(sys.stdin); assert m["files"] == 1' <"$T/stdout" ||
    fail "--metrics -: no metrics JSON on standard output"
mkfifo "$T/m.fifo"
timeout 60 cat "$T/m.fifo" >"$T/m.fifo.out" & # bounded: a run that fails first never opens it
reader=$!
run_mrc_ok 2 --quiet --output "$T/m-out.tsv" --metrics "$T/m.fifo" "$D/part0000.txt"
wait "$reader" || fail "--metrics FIFO: its reader got nothing in 60 s"
[ -p "$T/m.fifo" ] || fail "--metrics FIFO: the FIFO was replaced"
python3 -c 'import json,sys; json.load(open(sys.argv[1]))' "$T/m.fifo.out" ||
    fail "--metrics FIFO: the reader got no metrics JSON"
run_mrc 2 --output "$T/same" --metrics "$T/./same" "$D/part0000.txt"
assert_status 2 "--output and --metrics on one path"
[ ! -e "$T/same" ] || fail "--output and --metrics on one path: something was written"
# an input as the result or the metrics: named, or found in an input directory (the last
# run's result left there would be counted, then replaced)
mkdir -p "$T/indir"
cp "$D/part0000.txt" "$T/in.txt"
cp "$D/part0000.txt" "$T/indir/old-result.tsv"
for args in "--metrics $T/in.txt" "--output $T/in.txt" "--output $T/indir/old-result.tsv"; do
    # shellcheck disable=SC2086 # word splitting of the option list is intended
    run_mrc 2 $args "$T/in.txt" "$T/indir"
    assert_status 1 "'$args'"
    assert_one_error "would replace the input" "'$args'"
    cmp -s "$D/part0000.txt" "$T/in.txt" && cmp -s "$D/part0000.txt" "$T/indir/old-result.tsv" ||
        fail "'$args': an input was changed"
done
# ... and so are an @list and the --config file the run was read from (they were replaced)
printf '%s\n' "$T/in.txt" >"$T/in.list"
printf '[input]\ninputs = %s\n' "$T/in.txt" >"$T/in.ini"
cp "$T/in.list" "$T/in.list.orig"
cp "$T/in.ini" "$T/in.ini.orig"
for args in "--output $T/in.list" "--metrics $T/in.list" "--output $T/in.ini" "--metrics $T/./in.ini"; do
    # shellcheck disable=SC2086 # word splitting of the option list is intended
    run_mrc 2 --config "$T/in.ini" $args "@$T/in.list"
    assert_status 1 "'$args'"
    assert_one_error "would replace the (input @|config file ).*in\.(list|ini)" "'$args'"
    cmp -s "$T/in.list" "$T/in.list.orig" && cmp -s "$T/in.ini" "$T/in.ini.orig" ||
        fail "'$args': the list or the config file was changed"
done
# A result's name of 246-255 bytes: its temporary (PATH.tmp.PID) is cut to fit NAME_MAX
# (it failed: "File name too long").
long=$(printf 'r%.0s' $(seq 1 248)).tsv # 252 bytes
run_mrc_ok 2 --quiet --output "$T/$long" --metrics "$T/${long%.tsv}.json" "$T/in.txt"
oracle "$T/in.txt" >"$T/long-expected.tsv"
assert_same "$T/long-expected.tsv" "$T/$long" "a 252-byte result name"
[ -z "$(find "$T" -maxdepth 1 -name '*.tmp.*')" ] || fail "a long result name left a temporary"
rm -f "$T/$long" "$T/${long%.tsv}.json"
# A symbolic link as the result or the metrics is written through: its target is replaced,
# the link stays.
mkdir -p "$T/store"
echo old >"$T/store/r.tsv"
echo old >"$T/store/m.json"
ln -s "$T/store/r.tsv" "$T/r-link.tsv"
ln -s store/m.json "$T/m-link.json"
oracle "$D/part0000.txt" >"$T/p0.tsv"
run_mrc_ok 2 --quiet --output "$T/r-link.tsv" --metrics "$T/m-link.json" "$D/part0000.txt"
[ -L "$T/r-link.tsv" ] && [ -L "$T/m-link.json" ] || fail "an output link was replaced"
assert_same "$T/p0.tsv" "$T/store/r.tsv" "--output through a link"
python3 -c 'import json,sys; json.load(open(sys.argv[1]))' "$T/store/m.json" ||
    fail "--metrics through a link: no JSON in its target"
# Permissions: a new result or metrics file gets what a shell's > gives (0666 less the umask),
# a replaced one keeps its own, whether both ranks wrote it in place or rank 0 alone (np 1).
old_umask=$(umask)
umask 002
rm -f "$T/perm.tsv" "$T/perm.json"
run_mrc_ok 2 --quiet --output "$T/perm.tsv" --metrics "$T/perm.json" "$D/part0000.txt"
umask "$old_umask"
[ "$(stat -c %a "$T/perm.tsv") $(stat -c %a "$T/perm.json")" = "664 664" ] ||
    fail "umask 002: result and metrics made $(stat -c %a "$T/perm.tsv" "$T/perm.json" | xargs)"
for np in 1 2; do
    chmod 0600 "$T/perm.tsv"
    chmod 0640 "$T/perm.json"
    run_mrc_ok "$np" --quiet --reduce shuffle --output "$T/perm.tsv" --metrics "$T/perm.json" \
        "$D/part0000.txt"
    assert_same "$T/p0.tsv" "$T/perm.tsv" "np $np: a 0600 result replaced"
    [ "$(stat -c %a "$T/perm.tsv") $(stat -c %a "$T/perm.json")" = "600 640" ] ||
        fail "np $np: replaced 0600 and 0640, now $(stat -c %a "$T/perm.tsv" "$T/perm.json" | xargs)"
done
# A dangling link is written through to the file it names (as a shell's > does), also along a
# chain of dangling links; a link into a directory that does not exist, or a loop, is refused
# naming it, and the link stays (it was replaced by a regular file, exit 0).
ln -s chain2.tsv "$T/chain1.tsv"
ln -s store/made.tsv "$T/chain2.tsv"
run_mrc_ok 1 --quiet --output "$T/chain1.tsv" "$D/part0000.txt"
[ -L "$T/chain1.tsv" ] && [ -L "$T/chain2.tsv" ] || fail "a dangling output link was replaced"
assert_same "$T/p0.tsv" "$T/store/made.tsv" "--output through dangling links"
ln -s "$T/no-such-dir/x.tsv" "$T/dangling.tsv"
ln -s loop.json "$T/loop.json"
for args in "--output $T/dangling.tsv" "--metrics $T/loop.json"; do
    # shellcheck disable=SC2086 # word splitting of the option list is intended
    run_mrc 1 $args "$D/part0000.txt"
    assert_status 1 "'$args'"
    assert_one_error "(a symbolic link)" "'$args'"
    [ -L "${args#* }" ] || fail "'$args': the link was replaced"
done
assert_stderr_has "Too many levels of symbolic links"
# ... and before the map: with a failure injected into rank 1's map, the output's error is the
# one reported, and nothing was made
for args in "--output $T/no-such-dir/r.tsv" "--metrics $T/no-such-dir/m.json" "--output $T/store"; do
    # shellcheck disable=SC2086 # word splitting of the option list is intended
    MRC_FAULT=1:map run_mrc 2 $args "$D/part0000.txt"
    assert_status 1 "'$args' (before the map)"
    assert_one_error "(No such file or directory|Is a directory)" "'$args' (before the map)"
done
[ ! -e "$T/no-such-dir" ] || fail "an output probe made a directory"
# /dev/stdout and /dev/stderr are links (through /proc/PID/fd) to a rank's pipes to mpirun,
# which realpath() cannot resolve: written in place, as the pipes they are
run_mrc_ok 2 --quiet --output /dev/stdout --metrics /dev/stderr "$D/part0000.txt"
assert_same "$T/p0.tsv" "$T/stdout" "--output /dev/stdout (a pipe)"
grep -q '"distinct_keys"' "$T/stderr" || fail "--metrics /dev/stderr (a pipe): no metrics"
# Behind /dev/stdout or /dev/fd/N may be a regular file (a shell's redirection, a batch job's
# log): written through the descriptor at its offset, never replaced by a rename, so what the
# shell writes before and after stays in it; a descriptor that is not open is refused, naming it
RC=0
{
    echo before
    timeout -k 10 "$MRC_TIMEOUT" "${MRC_WRAP[@]}" "$MRCOUNT" --quiet --output /dev/stdout \
        --metrics /dev/fd/3 "$D/part0000.txt" 3>>"$T/fd3.log" </dev/null || RC=$?
    echo after
} >"$T/log.txt" 2>"$T/stderr"
assert_status 0 "--output /dev/stdout (a regular file)"
{
    echo before
    cat "$T/p0.tsv"
    echo after
} >"$T/log.expected"
assert_same "$T/log.expected" "$T/log.txt" "--output /dev/stdout (a regular file)"
python3 -c 'import json,sys; json.load(open(sys.argv[1]))' "$T/fd3.log" ||
    fail "--metrics /dev/fd/3 (a file): no JSON in it"
run_single --output /dev/fd/9 "$D/part0000.txt"
assert_status 1 "--output /dev/fd/9 (not open)"
assert_one_error "/dev/fd/9: Bad file descriptor" "--output /dev/fd/9 (not open)"
# ... and a run that fails after writing there does not remove the file behind it (the shell's,
# not a temporary of ours): what is written stays, the lines around it too
RC=0
{
    echo before
    MRC_FAULT=0:output timeout -k 10 "$MRC_TIMEOUT" "${MRC_WRAP[@]}" "$MRCOUNT" --quiet \
        --output /dev/stdout "$D/part0000.txt" </dev/null || RC=$?
    echo after
} >"$T/log.txt" 2>"$T/stderr"
assert_status 1 "--output /dev/stdout, a fault after the output"
[ -f "$T/log.txt" ] && [ "$(head -1 "$T/log.txt")" = before ] &&
    [ "$(tail -1 "$T/log.txt")" = after ] ||
    fail "--output /dev/stdout, a fault after the output: the shell's file was removed or cut"
# ... and one given non-blocking (a parent's pipe, as some runners make them) is waited on as a
# blocking one would be, not failed with EAGAIN ("-" too)
for out in /dev/stdout -; do
    timeout -k 10 "$MRC_TIMEOUT" python3 - "$T/nb.tsv" "$out" "${MRC_WRAP[@]}" "$MRCOUNT" \
        "$D/part0000.txt" <<'PY' || fail "--output $out into a non-blocking pipe: see above"
import fcntl, os, subprocess, sys, time
out, where, cmd = sys.argv[1], sys.argv[2], sys.argv[3:-1]
r, w = os.pipe()
fcntl.fcntl(w, fcntl.F_SETFL, fcntl.fcntl(w, fcntl.F_GETFL) | os.O_NONBLOCK)
p = subprocess.Popen(cmd + ["--quiet", "--output", where, sys.argv[-1]], stdout=w,
                     stdin=subprocess.DEVNULL)
os.close(w)
time.sleep(1)  # the reader is late: the pipe fills
data = bytearray()
while True:
    b = os.read(r, 65536)
    if not b:
        break
    data += b
open(out, "wb").write(data)
sys.exit(p.wait())
PY
    assert_same "$T/p0.tsv" "$T/nb.tsv" "--output $out into a non-blocking pipe"
done
log "ok: --metrics to standard output, to a FIFO, through links, to descriptors; paths that clash refused"

# --- a launcher's binding that leaves cores idle: one note from the node, the count still right -
# mpirun binds a rank to one core by default; with no thread count asked for, the run follows
# the binding and says how many cores it leaves to nobody. Not when unbound or asked for.
if [ "$(nproc)" -ge 2 ]; then
    bound() {
        RC=0
        timeout -k 10 "$MRC_TIMEOUT" "$MPIEXEC" "$@" -o "$T/b.tsv" "${txt[@]}" \
            >"$T/stdout" 2>"$T/stderr" </dev/null || RC=$?
        assert_status 0 "mpiexec $*"
        assert_same "$T/b.tsv" "$T/all.expected" "mpiexec $*"
    }
    oracle "${txt[@]}" >"$T/all.expected"
    idle=$(($(nproc) - 1))
    bound -np 1 --bind-to core "$MRCOUNT"
    assert_stderr_has "^mrcount: note: $idle of the $(nproc) cores of this node stays? idle, bound to no rank \(mpirun binds" \
        "one rank bound to one core"
    [ "$(grep -c 'note:' "$T/stderr")" = 1 ] || fail "one rank bound to one core: not one note"
    # two ranks bound to the same core (--cpu-set): one note, from rank 0, not one a rank
    bound -np 2 --oversubscribe --cpu-set 0 --bind-to core "$MRCOUNT"
    assert_stderr_has "^mrcount: note: $idle of the $(nproc) cores of this node stays? idle" \
        "two ranks bound to core 0"
    [ "$(grep -c 'note:' "$T/stderr")" = 1 ] || fail "two ranks bound to core 0: not one note"
    for args in "-np 1 --bind-to none $MRCOUNT" "-np 1 --bind-to core $MRCOUNT --threads 1"; do
        read -r -a a <<<"$args"
        bound "${a[@]}"
        if grep -q 'note:' "$T/stderr"; then fail "mpiexec $args: a note about idle cores"; fi
    done
    log "ok: a binding that leaves $idle core(s) idle is noted once; no note unbound or with --threads"

    # more threads than cores: one warning from rank 0, not one a rank
    bound -np 3 --oversubscribe --bind-to core:overload-allowed "$MRCOUNT" --threads 2
    assert_stderr_has "^mrcount: warning: 3 of the 3 ranks run more threads than cores \(oversubscribed; rank 0 runs 2 threads on 1 core\)$" \
        "3 ranks of 2 threads on a core each"
    [ "$(grep -c 'warning:' "$T/stderr")" = 1 ] || fail "3 oversubscribed ranks: not one warning"
    bound -np 1 --bind-to core "$MRCOUNT" --threads 2
    assert_stderr_has "^mrcount: warning: rank 0 runs 2 threads on 1 core \(oversubscribed\)$" "1 rank of 2 threads on a core"
    [ "$(grep -c 'warning:' "$T/stderr")" = 1 ] || fail "1 oversubscribed rank: not one warning"
    bound -np 3 --oversubscribe --bind-to core:overload-allowed "$MRCOUNT" --threads 1
    if grep -q 'warning:' "$T/stderr"; then fail "3 ranks of 1 thread a core: a warning"; fi
    log "ok: ranks with more threads than cores warned about once, by rank 0"
fi

# the summary line's counts, one of each in the singular, more in the plural
printf 'one\n' >"$D/one.word"
printf 'one two\n' >"$D/two.word"
run_mrc_ok 1 --threads 1 -o "$T/one.tsv" "$D/one.word"
assert_stderr_has '^mrcount: 1 file, [0-9.]+ MB, 1 token, 1 distinct, .*\(1 rank x 1 thread\)$' \
    "summary of one file, token, rank and thread"
run_mrc_ok 2 --threads 2 -o "$T/two.tsv" "$D/one.word" "$D/two.word"
assert_stderr_has '^mrcount: 2 files, [0-9.]+ MB, 3 tokens, 2 distinct, .*\(2 ranks x 2 threads\)$' \
    "summary of two files, three tokens, two ranks of two threads"
log "ok: the summary line says 1 file, 1 token, 1 rank x 1 thread, and plurals past one"
log "PASS"
