#!/usr/bin/env bash
# errors.sh - failures end cleanly: exit 1 for runtime failures on any rank with one
# "mrcount: <file>: <cause>" message and no result file left behind, exit 2 for bad usage or
# configuration, and never a hang (stdin is kept open and every launch is under `timeout`).
# Also --help/--version manners, and a FIFO inside an input directory being skipped.
# shellcheck source-path=SCRIPTDIR source=lib.bash
source "$(dirname "$0")/lib.bash"

mkdir -p "$T/data" "$T/out"
printf 'one two two\nthree three three\n' >"$T/data/a.txt"

# Standard input is a pipe that never delivers data nor EOF: a binary that reads it would hang.
mkfifo "$T/stdin.fifo"
exec 9<>"$T/stdin.fifo"

# run_open NP|single ARGS... : like run_mrc / run_single, with the never-ending stdin.
run_open() {
    local np=$1
    shift
    RC=0
    if [ "$np" = single ]; then
        timeout -k 10 "$MRC_TIMEOUT" "$MRCOUNT" "$@" >"$T/stdout" 2>"$T/stderr" <"$T/stdin.fifo" || RC=$?
    else
        timeout -k 10 "$MRC_TIMEOUT" "${MPIRUN[@]}" "$np" "$MRCOUNT" "$@" \
            >"$T/stdout" 2>"$T/stderr" <"$T/stdin.fifo" || RC=$?
    fi
    case $RC in 124 | 137) fail "hang: killed after ${MRC_TIMEOUT}s: ($np) mrcount $*" ;; esac
    return 0
}

# expect STATUS WHAT : the last run exited with STATUS ("nonzero" accepts 1 or 2).
expect() {
    local ok=0
    case $1 in
    nonzero) [ "$RC" = 1 ] || [ "$RC" = 2 ] && ok=1 ;;
    *) [ "$RC" = "$1" ] && ok=1 ;;
    esac
    if [ "$ok" != 1 ]; then
        sed 's/^/  stderr: /' "$T/stderr" | head -20 >&2
        fail "$2: exit status $RC, expected $1"
    fi
}

# stderr_names TEXT WHAT : stderr has an "mrcount: " message containing TEXT (fixed string).
stderr_names() {
    if ! grep -F -- "$1" "$T/stderr" | grep -q 'mrcount: '; then
        sed 's/^/  stderr: /' "$T/stderr" | head -20 >&2
        fail "$2: no 'mrcount: ...' message naming '$1' on stderr"
    fi
}

# no_result WHAT : the output directory is still empty (no result, no temporary file).
no_result() {
    local left
    left=$(find "$T/out" -mindepth 1)
    [ -z "$left" ] || fail "$1: files left behind: $left"
}

# --- runtime failures: exit 1, the file named, no result ---------------------------------------
missing=$T/data/no-such-file.txt
for np in 1 3; do
    run_open "$np" --output "$T/out/r.tsv" "$missing"
    expect 1 "missing input, np $np"
    stderr_names "no-such-file.txt" "missing input, np $np"
    no_result "missing input, np $np"
    run_open "$np" --output "$T/out/r.tsv" "$T/data/a.txt" "$missing" "$T/data"
    expect 1 "missing input among good ones, np $np"
    stderr_names "no-such-file.txt" "missing input among good ones, np $np"
    no_result "missing input among good ones, np $np"
    log "ok: missing input, np $np"
done
# the summary message is said once, not once per rank
n=$(grep -c 'no-such-file.txt' "$T/stderr" || true)
[ "$n" -le 2 ] || fail "missing input at np 3: the error is repeated $n times on stderr"

# Unreadable inputs. These tests run as root in CI, where chmod 000 does not stop reading, so the
# portable cases are a dangling symlink and a FIFO named directly; chmod 000 only when not root.
ln -s "$T/data/gone.txt" "$T/data/dangling.txt"
run_open 2 --output "$T/out/r.tsv" "$T/data/dangling.txt"
expect 1 "dangling symlink"
stderr_names "dangling.txt" "dangling symlink"
no_result "dangling symlink"
rm "$T/data/dangling.txt"
log "ok: dangling symlink named as input"

mkfifo "$T/fifo-input"
run_open 2 --output "$T/out/r.tsv" "$T/fifo-input"
expect 1 "FIFO named as input"
stderr_names "fifo-input" "FIFO named as input"
no_result "FIFO named as input"
log "ok: FIFO named as input"

if [ "$(id -u)" != 0 ]; then
    printf 'secret\n' >"$T/unreadable.txt"
    chmod 000 "$T/unreadable.txt"
    run_open 2 --output "$T/out/r.tsv" "$T/unreadable.txt"
    expect 1 "unreadable file"
    stderr_names "unreadable.txt" "unreadable file"
    no_result "unreadable file"
    log "ok: unreadable file"
else
    log "skip: chmod 000 (running as root, permissions do not apply)"
fi

# --output in a directory that does not exist: exit 1, nothing created
run_open 2 --output "$T/out/missing-dir/r.tsv" "$T/data/a.txt"
expect 1 "--output in a missing directory"
stderr_names "missing-dir" "--output in a missing directory"
no_result "--output in a missing directory"
log "ok: --output in a missing directory"

# A result past RLIMIT_FSIZE (`ulimit -f`, some batch systems): exit 1 naming the file, nothing
# left; not death by SIGXFSZ with PATH.tmp.PID left behind (status 153 before the fix).
awk 'BEGIN { for (i = 0; i < 2000000; i++) printf "k%07d\n", i }' >"$T/many.txt" # ~22 MB result
for np in single 2; do
    RC=0
    (
        ulimit -f 16384 # KiB; Open MPI's own shared-memory files need a few MiB
        run_open "$np" --output "$T/out/r.tsv" "$T/many.txt"
        exit "$RC"
    ) || RC=$?
    expect 1 "a result past ulimit -f ($np)"
    stderr_names "r.tsv" "a result past ulimit -f ($np)"
    grep -q 'File too large' "$T/stderr" || fail "a result past ulimit -f ($np): cause not given"
    no_result "a result past ulimit -f ($np)"
done
rm -f "$T/many.txt"
log "ok: a result past ulimit -f"

# --- standard input is not an input ------------------------------------------------------------
run_open 2 -
expect 2 "'-' as input"
assert_stderr_has 'mrcount: ' "'-' as input"
run_open single -
expect 2 "'-' as input (singleton)"
log "ok: '-' refused with status $RC"

run_open 2
expect 2 "no inputs"
assert_stderr_has 'mrcount: ' "no inputs"
run_open single --quiet
expect 2 "no inputs (singleton)"
log "ok: no inputs refused with status $RC"

# --- usage and configuration errors: exit 2 ----------------------------------------------------
run_open single --no-such-option "$T/data/a.txt"
expect 2 "unknown option"
assert_stderr_has 'no-such-option' "unknown option"
assert_stderr_has '[Uu]sage|--help' "unknown option"
run_open 2 --no-such-option "$T/data/a.txt"
expect 2 "unknown option under mpirun"
log "ok: unknown option"

bad_values=(
    "--threads abc" "--threads 0" "--chunk-size 12q" "--chunk-size 1k" "--tokens words"
    "--sort size" "--schedule never" "--reduce gather" "--top -3" "--job none"
)
for bad in "${bad_values[@]}"; do
    read -r -a args <<<"$bad"
    run_open single "${args[@]}" "$T/data/a.txt"
    expect 2 "bad value: $bad"
    assert_stderr_has "${args[0]}" "bad value: $bad"
done
log "ok: bad option values"

run_open single --config "$T/no-such.ini" "$T/data/a.txt"
expect 2 "missing --config file"
stderr_names "no-such.ini" "missing --config file"
printf '[run]\nthreads = 2\nbogus-key = 1\n' >"$T/bad.ini"
run_open 2 --config "$T/bad.ini" "$T/data/a.txt"
expect 2 "unknown INI key"
stderr_names "bogus-key" "unknown INI key"
printf '[run]\nthreads = lots\n' >"$T/bad-value.ini"
run_open single --config "$T/bad-value.ini" "$T/data/a.txt"
expect 2 "bad INI value"
stderr_names "bad-value.ini" "bad INI value"
log "ok: config errors"

# --- --help and --version ----------------------------------------------------------------------
for how in single 1; do
    run_open "$how" --help
    expect 0 "--help ($how)"
    grep -q 'Usage: mrcount' "$T/stdout" || fail "--help ($how): no 'Usage: mrcount' on stdout"
    grep -q -- '--threads' "$T/stdout" || fail "--help ($how): options not listed"
    run_open "$how" --version
    expect 0 "--version ($how)"
    grep -Eq '^mrcount [0-9]+\.[0-9]+\.[0-9]+' "$T/stdout" || fail "--version ($how): got '$(head -c 200 "$T/stdout")'"
    # the second line: the Unicode data of --tokens unicode and the library it comes from
    sed -n 2p "$T/stdout" | grep -Eq '^Unicode [0-9]+\.[0-9]+\.[0-9]+ \(utf8proc [0-9]+\.[0-9]+\.[0-9]+\)$' ||
        fail "--version ($how): no 'Unicode X.Y.Z (utf8proc A.B.C)' line: got '$(head -c 200 "$T/stdout")'"
    # the third: the decompression libraries, zstd's and xz's versions as pkg-config knows them
    reads=$(sed -n 3p "$T/stdout")
    [[ $reads =~ ^reads\ gzip\ \((isa-l|zlib)\ [0-9.]+\),\ zstd\ [0-9.]+,\ xz\ [0-9.]+,\ bzip2\ [0-9.]+$ ]] ||
        fail "--version ($how): third line '$reads'"
    if command -v pkg-config >/dev/null && zv=$(pkg-config --modversion libzstd liblzma 2>/dev/null); then
        read -r -d '' zstd_v xz_v <<<"$zv" || true
        [[ $reads == *"zstd $zstd_v, xz $xz_v,"* ]] || fail "--version: '$reads', pkg-config says zstd $zstd_v, xz $xz_v"
    fi
done
project_version=$(sed -n 's/^project(mrcount VERSION \([0-9.]*\).*/\1/p' "$MRC_SOURCE_DIR/CMakeLists.txt")
if [ -n "$project_version" ]; then
    grep -q "^mrcount $project_version\b" "$T/stdout" || fail "--version does not say $project_version"
fi
log "ok: --help, --version"

# --- a FIFO inside an input directory is skipped with a warning, and the run succeeds ----------
mkfifo "$T/data/pipe.fifo"
oracle "$T/data/a.txt" >"$T/expected.tsv"
run_open 2 --output "$T/out/r.tsv" "$T/data"
expect 0 "FIFO inside an input directory"
assert_same "$T/expected.tsv" "$T/out/r.tsv" "FIFO inside an input directory"
grep -q 'pipe.fifo' "$T/stderr" || fail "FIFO inside an input directory: no warning naming it"
log "ok: FIFO inside a directory skipped"

# --- a file name with a newline and an escape sequence: the message stays one line, the
# control bytes shown as '?' --------------------------------------------------------------------
mkdir -p "$T/odd"
odd="$T/odd/a"$'\n'"b"$'\e'"[31m.gz"
printf 'not gzip' >"$odd"
run_open 2 --output "$T/out/r.tsv" "$T/odd"
expect 1 "a file name with control bytes"
[ "$(grep -c '^mrcount: ' "$T/stderr")" = 1 ] && grep -q "odd/a?b?\[31m.gz: not a gzip file" "$T/stderr" ||
    { sed 's/^/  stderr: /' "$T/stderr" | cat -A | head >&2; fail "a file name with control bytes: not one printable line"; }
! grep -q $'\e' "$T/stderr" || fail "a file name with control bytes: an escape reached stderr"
rm -rf "$T/odd"
log "ok: control bytes of a file name made printable"

exec 9>&-
log "PASS"
