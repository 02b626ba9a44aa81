#!/usr/bin/env bash
# bad_inputs.sh - the bad-input matrix, every case at np 2 and np 3 under a time bound.
# Bad bytes are data: NUL, lone CR, CRLF, invalid UTF-8, a 5 MB binary file, an empty file, an
# empty directory, a whitespace-only file and a 300 MB token with no delimiter are counted
# exactly by the token rule (exit 0, the perl oracle's table; the huge token compared byte for
# byte), and a 300 MB ngram line with no TAB is one malformed record (an error with --strict).
# Compressed data in a plain file (lz4, zip; gzip, bzip2, xz, zstd not named for it), tar archives
# (also .tar.gz) and UTF-16/32 text are errors naming the file and the format.
# Bad paths each have one behaviour: an error (exit 1) naming the path with no result file left
# behind (missing, unreadable, unlistable, a symlink loop, dangling link, FIFO or socket named
# directly, a non-regular @list, a file that shrinks, vanishes or is replaced by a FIFO after
# discovery), or skipped with a warning naming it (FIFOs, sockets, devices, dangling links and
# symlink loops inside a directory); a directory named in an @list or matched by a glob is
# walked; --exclude leaves out what it matches. No case may hang: every launch is bounded by
# `timeout`.
MRC_TIMEOUT=${MRC_TIMEOUT:-30} # per launch; the 300 MB cases get HUGE_TIMEOUT
# MRC_HUGE_BYTES: the size of the huge token (default 300000000)
HUGE_TIMEOUT=${HUGE_TIMEOUT:-180}
# shellcheck source-path=SCRIPTDIR source=lib.bash
source "$(dirname "$0")/lib.bash"

NPS=(2 3)
OUT=$T/out # every run writes its result here; after an error it must stay empty
mkdir -p "$OUT"

# expect_status STATUS WHAT : the last run exited with STATUS.
expect_status() {
    if [ "$RC" != "$1" ]; then
        sed 's/^/  stderr: /' "$T/stderr" | head -20 >&2
        fail "$2: exit status $RC, expected $1"
    fi
}

# expect_error NP TEXT WHAT : the last run failed with exit 1, one "mrcount: [rank N: ]..."
# line containing TEXT (fixed string), and left no result (nor its PATH.tmp.PID) behind.
expect_error() {
    local np=$1 text=$2 what="$3 (np $1)"
    expect_status 1 "$what"
    if ! grep -F -- "$text" "$T/stderr" | grep -Eq '^mrcount: (rank [0-9]+: )?'; then
        sed 's/^/  stderr: /' "$T/stderr" | head -20 >&2
        fail "$what: no 'mrcount: ...' message with '$text'"
    fi
    local left
    left=$(find "$OUT" -mindepth 1)
    [ -z "$left" ] || fail "$what: files left behind after the error: $left"
    log "ok: $what: $(grep -F -- "$text" "$T/stderr" | head -1)"
}

# expect_table EXPECTED WHAT : the last run succeeded with exactly the EXPECTED table.
expect_table() {
    expect_status 0 "$2"
    assert_same "$1" "$OUT/r.tsv" "$2"
    rm -f "$OUT/r.tsv"
}

# expect_warning TEXT WHAT : the last run warned once, on one line, about TEXT (fixed string).
expect_warning() {
    local n
    n=$(grep -F -- "$1" "$T/stderr" | grep -c '^mrcount: warning: ' || true)
    if [ "$n" != 1 ]; then
        sed 's/^/  stderr: /' "$T/stderr" | head -30 >&2
        fail "$2: expected one 'mrcount: warning: ...$1' line, found $n"
    fi
}

# ---------------------------------------------------------------------------------------------
# Bad bytes are data.
B=$T/bytes
mkdir -p "$B/empty-dir"
printf 'x\0y \0\0 z\0\n\0\nx\0y\n\0\0' >"$B/nul.bin"
printf 'a\rb\r\rc a\r' >"$B/lone-cr.txt"
printf 'a b\r\nc a\r\n\r\nb\r\nend\r\n' >"$B/crlf.txt"
printf 'a \xff\xfe caf\xc3 caf\xc3\xa9 \xe2\x80 \x80abc \xc0\xaf\xed\xa0\x80 \xff\xfe\n' >"$B/bad-utf8.txt"
: >"$B/empty.txt"
printf ' \t\n\r\v\f  \r\n\n\t' >"$B/whitespace.txt"
# 5 MB of deterministic pseudo-random bytes (every byte value, whitespace included): rotations
# of one seeded MiB, so each MiB differs.
perl -e 'srand(20240607); my $b = join "", map { chr(int(rand(256))) } 1 .. (1 << 20);
    binmode STDOUT; my $left = 5_000_000;
    for (my $i = 1; $left > 0; $i++) {
        my $r = ($i * 7919) % length($b); my $blk = substr($b, $r) . substr($b, 0, $r);
        $blk = substr($blk, 0, $left) if length($blk) > $left; print $blk; $left -= length($blk);
    }' >"$B/random.bin"
[ "$(wc -c <"$B/random.bin")" = 5000000 ] || fail "random.bin: generator wrote the wrong size"

for f in nul.bin lone-cr.txt crlf.txt bad-utf8.txt random.bin empty.txt whitespace.txt; do
    oracle "$B/$f" >"$T/expected.tsv"
    for np in "${NPS[@]}"; do
        run_mrc "$np" --quiet --chunk-size 1M --output "$OUT/r.tsv" "$B/$f"
        expect_table "$T/expected.tsv" "$f (np $np)"
    done
    log "ok: $f ($(wc -l <"$T/expected.tsv") keys) at np ${NPS[*]}"
done
: >"$T/nothing.tsv"
for np in "${NPS[@]}"; do
    run_mrc "$np" --quiet --output "$OUT/r.tsv" "$B/empty-dir"
    expect_table "$T/nothing.tsv" "empty directory (np $np)"
done
log "ok: empty directory: an empty result"

# A binary file as an ngram export: every line is a malformed record, counted and reported.
for np in "${NPS[@]}"; do
    run_mrc "$np" --quiet --job ngram --output "$OUT/r.tsv" "$B/random.bin"
    expect_table "$T/nothing.tsv" "random.bin as --job ngram (np $np)"
    assert_stderr_has '^mrcount: warning: [0-9]+ malformed records? skipped in 1 file$' \
        "random.bin as --job ngram (np $np)"
done
log "ok: random.bin as --job ngram: malformed records skipped and reported"

# ---------------------------------------------------------------------------------------------
# Data that is not UTF-8 text is not counted as bytes: lz4, pzstd and zip files (as their tools
# write them, when installed), gzip, bzip2, xz and zstd data in a file not named for it, tar archives
# (plain and .tar.gz) and UTF-16/32 text are refused by every piece of the file, naming the file
# and the format, split across ranks; text that merely starts like a signature is data.
Z=$T/packed
mkdir -p "$Z"
perl -e 'print "w", $_ % 997, ($_ % 13 ? " " : "\n") for 1 .. 40000' >"$Z/plain.txt"
gzip -c "$Z/plain.txt" >"$Z/gzip-data.txt"
packed=("$Z/gzip-data.txt|gzip-compressed data in a file whose name does not end in .gz")
# bzip2, xz and zstd data is read only in a file named for it (.bz2, .xz, .zst: compressed.sh)
for tool in "bzip2 -c|bz2.txt|bzip2-compressed data in a file whose name does not end in .bz2" \
    "xz -c|xz.txt|xz-compressed data in a file whose name does not end in .xz" \
    "zstd -q -c|zst.txt|zstd-compressed data in a file whose name does not end in .zst" \
    "pzstd -q -c|pzst|zstd-compressed data in a file whose name does not end in .zst" \
    "lz4 -q -c|lz4|lz4-compressed data, which mrcount does not read" \
    "lz4 -q -l -c|lz4l|lz4-compressed data, which mrcount does not read"; do
    IFS='|' read -r cmd ext said <<<"$tool"
    if command -v "${cmd%% *}" >/dev/null; then
        $cmd "$Z/plain.txt" >"$Z/plain.txt.$ext"
        packed+=("$Z/plain.txt.$ext|$said")
    else
        log "note: ${cmd%% *} is not installed: its output is not tried"
    fi
done
if command -v zip >/dev/null; then
    (cd "$Z" && zip -q plain.zip plain.txt)
    packed+=("$Z/plain.zip|a zip archive, which mrcount does not read")
fi
# tar archives as tar(1) writes them (GNU, POSIX pax, ustar), plain and as .tar.gz; UTF-16 and
# UTF-32 text as iconv writes it (with a byte-order mark), plain and gzipped
for format in gnu pax ustar; do
    tar -C "$Z" --format=$format -cf "$Z/plain-$format.tar" plain.txt
    packed+=("$Z/plain-$format.tar|a tar archive, which mrcount does not read")
done
tar -C "$Z" -czf "$Z/plain.tar.gz" plain.txt
packed+=("$Z/plain.tar.gz|a tar archive compressed with gzip, which mrcount does not read")
iconv -f UTF-8 -t UTF-16 "$Z/plain.txt" >"$Z/utf16.txt"
packed+=("$Z/utf16.txt|UTF-16 text (it starts with a byte-order mark)")
iconv -f UTF-8 -t UTF-32 "$Z/plain.txt" >"$Z/utf32.txt"
packed+=("$Z/utf32.txt|UTF-32 text (it starts with a byte-order mark)")
gzip -c "$Z/utf16.txt" >"$Z/utf16.txt.gz"
packed+=("$Z/utf16.txt.gz|UTF-16 text compressed with gzip")
for entry in "${packed[@]}"; do
    file=${entry%%|*}
    for np in "${NPS[@]}"; do
        run_mrc "$np" --chunk-size 4096 --output "$OUT/r.tsv" "$Z/plain.txt" "$file"
        expect_error "$np" "$file: ${entry#*|}" "foreign ${file#"$Z/"}"
    done
done
printf 'BZh91AY&SZ is not bzip2\nPK is not zip\n' >"$Z/looks-packed.txt"
oracle "$Z/looks-packed.txt" >"$T/expected.tsv"
for np in "${NPS[@]}"; do
    run_mrc "$np" --quiet --output "$OUT/r.tsv" "$Z/looks-packed.txt"
    expect_table "$T/expected.tsv" "text that starts like a signature (np $np)"
done
log "ok: data that is not UTF-8 text refused (${#packed[@]} files), look-alike text counted"

# ---------------------------------------------------------------------------------------------
# Bad paths named directly: an error naming the path, no result, no hang.
P=$T/paths
mkdir -p "$P/dir/sub" "$P/special/sub"
printf 'one two\n' >"$P/dir/a.txt"
printf 'two three\n' >"$P/dir/sub/b.txt"
ln -s loop-b "$P/loop-a"
ln -s loop-a "$P/loop-b"
ln -s nowhere "$P/dangling"
mkfifo "$P/fifo"
perl -MIO::Socket::UNIX -e 'IO::Socket::UNIX->new(Type => SOCK_STREAM(), Local => $ARGV[0],
    Listen => 1) or die "socket $ARGV[0]: $!\n"' "$P/socket"
printf '%s\n' "$P/dir" >"$P/list-of-dir.txt"

# PATH EXIT-TEXT (a case per line; the path is also in the message)
bad_named=(
    "$P/missing.txt|$P/missing.txt: No such file or directory"
    "$P/loop-a|$P/loop-a: Too many levels of symbolic links"
    "$P/dangling|$P/dangling: dangling symbolic link (what it names does not exist)"
    "$P/fifo|$P/fifo: is a FIFO (named pipe), not a regular file or directory"
    "$P/socket|$P/socket: is a socket, not a regular file or directory"
    "@$P/fifo|$P/fifo: is a FIFO (named pipe), not a list of paths"
    "@$P/dir|$P/dir: is a directory, not a list of paths"
    "@$P/missing-list.txt|$P/missing-list.txt: No such file or directory"
)
for entry in "${bad_named[@]}"; do
    arg=${entry%%|*}
    text=${entry#*|}
    for np in "${NPS[@]}"; do
        run_mrc "$np" --output "$OUT/r.tsv" "$P/dir/a.txt" "$arg"
        expect_error "$np" "$text" "named ${arg#"$T/"}"
    done
done

# A directory is walked wherever it is named: an argument, an @list line, a glob match.
oracle "$P/dir/a.txt" "$P/dir/sub/b.txt" >"$T/expected.tsv"
for np in "${NPS[@]}"; do
    run_mrc "$np" --quiet --output "$OUT/r.tsv" "@$P/list-of-dir.txt"
    expect_table "$T/expected.tsv" "directory named in an @list (np $np)"
    run_mrc "$np" --quiet --output "$OUT/r.tsv" "$P/di?"
    expect_table "$T/expected.tsv" "glob matching a directory (np $np)"
done
log "ok: a directory in an @list or matched by a glob is walked"

# A wildcard never matches "." or "..", as in bash and Python's glob: 'dir/.*' is the hidden
# files of dir (glob(3) also gave dir/. and dir/.., whose walk counted the parent's tree).
printf 'hidden words\n' >"$P/dir/sub/.hidden"
oracle "$P/dir/sub/.hidden" >"$T/expected.tsv"
for np in "${NPS[@]}"; do
    run_mrc "$np" --quiet --output "$OUT/r.tsv" "$P/dir/sub/.*"
    expect_table "$T/expected.tsv" "'sub/.*' takes .hidden alone (np $np)"
done
run_mrc 2 --quiet --output "$OUT/r.tsv" "$P/dir/sub/.?"
expect_error 2 "$P/dir/sub/.?: no file matches this pattern" "'sub/.?' matches only . and .."
rm "$P/dir/sub/.hidden"

# --exclude: a tree that holds a .tar.gz and UTF-16 text beside its text fails naming the file
# and the way round it; with patterns (options, or [input] exclude lines in an INI file) the
# rest is counted exactly, an excluded directory is never entered (its FIFO neither opened nor
# warned about), and the summary and metrics count what was left out.
X=$T/exclude
mkdir -p "$X/text/sub" "$X/text/old"
printf 'one two two\n' >"$X/text/a.txt"
printf 'two three\n' >"$X/text/sub/b.txt"
printf 'gone\n' >"$X/text/old/c.txt"
mkfifo "$X/text/old/fifo"
tar -C "$X" -czf "$X/text/sub/archive.tar.gz" text/a.txt
printf 'utf16 words\n' | iconv -f UTF-8 -t UTF-16 >"$X/text/notes utf16.txt"
oracle "$X/text/a.txt" "$X/text/sub/b.txt" >"$T/expected.tsv"
printf '[input]\ninputs = %s\nexclude =\n  *.tar.gz\n  *utf16*\n  old\n' "$X/text" >"$X/ex.ini"
for np in "${NPS[@]}"; do
    run_mrc "$np" --output "$OUT/r.tsv" "$X/text"
    expect_error "$np" "which mrcount does not read" "a tree with an archive and UTF-16 text"
    assert_stderr_has "$X/text/(notes utf16.txt|sub/archive.tar.gz): .*; to skip it: --exclude GLOB" \
        "the refusal shows --exclude (np $np)"
    run_mrc "$np" --output "$OUT/r.tsv" --exclude '*.tar.gz' --exclude '* utf16.txt' \
        --exclude '*/text/old' "$X/text"
    assert_stderr_has '^mrcount: 2 files \(3 excluded\),' "summary counts the excluded (np $np)"
    if grep -q '^mrcount: warning: ' "$T/stderr"; then fail "excluded FIFO warned about (np $np)"; fi
    expect_table "$T/expected.tsv" "--exclude on a walk (np $np)"
    run_mrc "$np" --quiet --output "$OUT/r.tsv" --config "$X/ex.ini" --metrics "$X/m.json"
    expect_table "$T/expected.tsv" "[input] exclude lines (np $np)"
    python3 -c 'import json, sys
m = json.load(open(sys.argv[1]))
assert m["files"] == 2 and m["paths_excluded"] == 3, (m["files"], m["paths_excluded"])
assert m["config"]["exclude"] == ["*.tar.gz", "*utf16*", "old"], m["config"]["exclude"]' \
        "$X/m.json" || fail "metrics of --exclude (np $np)"
    oracle "$X/text/a.txt" >"$T/expected-a.tsv"
    run_mrc "$np" --quiet --output "$OUT/r.tsv" --config "$X/ex.ini" --exclude 'b.*'
    expect_table "$T/expected-a.tsv" "[input] exclude and --exclude add up (np $np)"
done
log "ok: --exclude leaves out what it matches, named in the refusal, counted in the metrics"

# Inside a directory, what cannot be read as data is skipped with a warning and never opened:
# FIFO, socket, device, dangling link, symlink loops (a <-> b, and a link back up the tree).
S=$P/special
printf 'alpha beta\n' >"$S/a.txt"
printf 'beta gamma\n' >"$S/sub/c.txt"
mkfifo "$S/fifo"
perl -MIO::Socket::UNIX -e 'IO::Socket::UNIX->new(Type => SOCK_STREAM(), Local => $ARGV[0],
    Listen => 1) or die "socket $ARGV[0]: $!\n"' "$S/socket"
ln -s /dev/null "$S/device"
ln -s nowhere "$S/dangling"
ln -s loop-b "$S/loop-a"
ln -s loop-a "$S/loop-b"
ln -s .. "$S/sub/up"
oracle "$S/a.txt" "$S/sub/c.txt" >"$T/expected.tsv"
for np in "${NPS[@]}"; do
    run_mrc "$np" --quiet --output "$OUT/r.tsv" "$S"
    expect_table "$T/expected.tsv" "special entries in a directory (np $np)"
    expect_warning "$S/fifo: a FIFO (named pipe), skipped (never opened)" "FIFO in a directory"
    expect_warning "$S/socket: a socket, skipped (never opened)" "socket in a directory"
    expect_warning "$S/device: a character device, skipped (never opened)" "device in a directory"
    expect_warning "$S/dangling: dangling symbolic link, skipped" "dangling link in a directory"
    expect_warning "$S/loop-a: symbolic link loop, not followed" "symlink loop in a directory"
    expect_warning "$S/loop-b: symbolic link loop, not followed" "symlink loop in a directory"
    expect_warning "$S/sub/up: directory already entered" "link back up the tree"
done
log "ok: FIFO, socket, device, dangling link and symlink loops in a directory: warned, skipped"

# ---------------------------------------------------------------------------------------------
# Unreadable inputs. Root reads everything, so these run as nobody (65534) through setpriv or
# runuser, without Open MPI's root variables, on files in a directory nobody may enter but not
# list; skipped with the reason when neither tool can switch users here.
as_nobody=()
if [ "$(id -u)" != 0 ]; then
    as_nobody=(env)
elif command -v setpriv >/dev/null && setpriv --reuid=65534 --regid=65534 --clear-groups true 2>/dev/null; then
    as_nobody=(setpriv --reuid=65534 --regid=65534 --clear-groups env)
elif command -v runuser >/dev/null && runuser -u nobody -- true 2>/dev/null; then
    as_nobody=(runuser -u nobody -- env)
fi
if [ "${#as_nobody[@]}" = 0 ]; then
    log "skip: unreadable inputs (running as root and neither setpriv nor runuser can become nobody)"
else
    U=$T/unreadable
    mkdir -p "$U/out" "$U/home" "$U/dir" "$U/listing/locked"
    printf 'secret\n' >"$U/secret.txt"
    printf 'ok\n' >"$U/dir/ok.txt"
    printf 'secret\n' >"$U/dir/secret.txt"
    printf 'ok\n' >"$U/listing/ok.txt"
    printf 'x\n' >"$U/listing/locked/x.txt"
    chmod 000 "$U/secret.txt" "$U/dir/secret.txt" "$U/listing/locked"
    chmod 711 "$T"
    chmod 755 "$U" "$U/dir" "$U/listing"
    chmod 777 "$U/out" "$U/home"
    # the binary may sit in a checkout nobody can enter (a private clone): nobody runs a copy
    cp "$MRCOUNT" "$U/mrcount"
    chmod 755 "$U/mrcount"
    # run_nobody NP ARGS... : run_mrc as nobody, the result directory $U/out.
    run_nobody() {
        local np=$1
        shift
        RC=0
        timeout -k 10 "$MRC_TIMEOUT" "${as_nobody[@]}" -u OMPI_ALLOW_RUN_AS_ROOT \
            -u OMPI_ALLOW_RUN_AS_ROOT_CONFIRM HOME="$U/home" "${MPIRUN[@]}" "$np" "$U/mrcount" "$@" \
            >"$T/stdout" 2>"$T/stderr" </dev/null || RC=$?
        case $RC in 124 | 137) fail "timed out after ${MRC_TIMEOUT}s: (nobody) mpirun -np $np mrcount $*" ;; esac
    }
    unreadable=(
        "$U/secret.txt|$U/secret.txt: Permission denied"
        "$U/dir|$U/dir/secret.txt: Permission denied"
        "$U/listing|$U/listing/locked: Permission denied"
    )
    for entry in "${unreadable[@]}"; do
        arg=${entry%%|*}
        text=${entry#*|}
        for np in "${NPS[@]}"; do
            run_nobody "$np" --output "$U/out/r.tsv" "$arg"
            OUT=$U/out expect_error "$np" "$text" "unreadable ${arg#"$T/"}"
        done
    done
    chmod 700 "$T"
fi

# ---------------------------------------------------------------------------------------------
# A file that changes between discovery and reading: MRC_FAULT holds rank 0 at the end of
# discovery; meanwhile the file shrinks, vanishes or becomes a FIFO. Each is an error naming the
# file, never a silently short table nor a hang on the FIFO.
perl -e 'print "w$_ " for 1 .. 200000' >"$T/changing.orig"
# Two gzip members; cut back to the first one, the file still inflates cleanly, only shorter.
perl -e 'print "g$_ " for 1 .. 1000' | gzip -c >"$T/changing-gz.first"
cp "$T/changing-gz.first" "$T/changing-gz.orig"
perl -e 'print "h$_ " for 1 .. 1000' | gzip -c >>"$T/changing-gz.orig"
# run_changed NP ACTION [NAME ORIG] : a run over $T/NAME (changing.txt), a copy of ORIG
# ($T/changing.orig), held 2 s after discovery, ACTION (a shell command) run once rank 0 says it
# is held.
run_changed() {
    local np=$1 action=$2 name=${3:-changing.txt} orig=${4:-$T/changing.orig} pid
    cp "$orig" "$T/$name"
    : >"$T/stderr"
    MRC_FAULT=0:discover:sleep:2 timeout -k 10 "$MRC_TIMEOUT" "${MPIRUN[@]}" "$np" "$MRCOUNT" \
        --chunk-size 1M --output "$OUT/r.tsv" "$T/$name" \
        >"$T/stdout" 2>"$T/stderr" </dev/null &
    pid=$!
    if ! wait_until 120 grep -q 'MRC_FAULT holds discover' "$T/stderr"; then
        wait "$pid" || true
        fail "MRC_FAULT=0:discover:sleep:2 did not hold rank 0 (stderr: $(head -c 300 "$T/stderr"))"
    fi
    eval "$action"
    RC=0
    wait "$pid" || RC=$?
    case $RC in 124 | 137) fail "timed out after ${MRC_TIMEOUT}s: changing file, np $np, $action" ;; esac
    rm -f "$T/$name"
}
for np in "${NPS[@]}"; do
    run_changed "$np" 'truncate -s 300000 "$T/changing.txt"'
    expect_error "$np" "$T/changing.txt: file shrank while being read (expected at least" \
        "file shrank after discovery"
    run_changed "$np" 'rm "$T/changing.txt"'
    expect_error "$np" "$T/changing.txt: No such file or directory" "file vanished after discovery"
    run_changed "$np" 'rm "$T/changing.txt" && mkfifo "$T/changing.txt"'
    expect_error "$np" "$T/changing.txt: no longer a regular file (replaced since discovery)" \
        "file replaced by a FIFO after discovery"
    run_changed "$np" 'cp "$T/changing-gz.first" "$T/changing.gz"' changing.gz "$T/changing-gz.orig"
    expect_error "$np" "$T/changing.gz: file shrank while being read (expected at least $(wc -c <"$T/changing-gz.orig") bytes, found $(wc -c <"$T/changing-gz.first"))" \
        ".gz cut between its members after discovery"
done

# A file whose size is not its contents (sysfs: 4096 bytes said, a line read): an error that
# says so, not a short count (where the machine has such a file).
sysf=/sys/kernel/mm/transparent_hugepage/enabled
if [ -r "$sysf" ] && [ "$(stat -c %s "$sysf")" -gt "$(wc -c <"$sysf")" ]; then
    run_mrc 2 --quiet --output "$OUT/r.tsv" "$sysf"
    expect_error 2 "$sysf: the file ends before byte" "a size that is not the contents"
else
    log "skip: no sysfs file whose size is not its contents here"
fi

# ---------------------------------------------------------------------------------------------
# A 300 MB token with no delimiter: counted exactly, once, with its exact bytes (no size limit;
# it costs about its size in the reader's buffer and again in the table of the rank that reads
# it). Here "a b zTOKEN b c": sorted by count, the token is the last line, after 12 bytes.
# The same file as an ngram export is one line with no TAB: one malformed record.
H=$T/huge
mkdir -p "$H"
N=${MRC_HUGE_BYTES:-300000000} # the CI sanitizer stage makes it smaller
MB=$((N / 1000000))
perl -e 'srand(7); my $b = join "", map { chr(int(rand(256))) } 1 .. (1 << 20);
    $b =~ tr/ \t\n\r\x0b\f/ABCDEF/; binmode STDOUT; print "a b z"; my $left = $ARGV[0] - 1;
    for (my $i = 1; $left > 0; $i++) {
        my $r = ($i * 7919) % length($b); my $blk = substr($b, $r) . substr($b, 0, $r);
        $blk = substr($blk, 0, $left) if length($blk) > $left; print $blk; $left -= length($blk);
    }
    print " b c\n"' "$N" >"$H/token.txt"
[ "$(wc -c <"$H/token.txt")" = $((4 + N + 5)) ] || fail "token.txt: generator wrote the wrong size"
for np in "${NPS[@]}"; do
    t0=$(date +%s.%N)
    MRC_TIMEOUT=$HUGE_TIMEOUT run_mrc "$np" --quiet --metrics "$H/metrics.json" \
        --output "$OUT/r.tsv" "$H/token.txt"
    t1=$(date +%s.%N)
    expect_status 0 "$MB MB token (np $np)"
    size=$(wc -c <"$OUT/r.tsv")
    [ "$size" = $((12 + N + 3)) ] || fail "$MB MB token (np $np): result is $size bytes, expected $((12 + N + 3))"
    [ "$(head -c 12 "$OUT/r.tsv")" = "$(printf 'b\t2\na\t1\nc\t1\n')" ] ||
        fail "$MB MB token (np $np): short keys wrong: $(head -c 12 "$OUT/r.tsv" | od -c | head -2)"
    cmp -s -i 12:4 -n "$N" "$OUT/r.tsv" "$H/token.txt" || fail "$MB MB token (np $np): key bytes differ"
    [ "$(tail -c 3 "$OUT/r.tsv")" = "$(printf '\t1\n')" ] || fail "$MB MB token (np $np): count is not 1"
    rss=$(grep -o '"peak_rss_bytes": *[0-9]*' "$H/metrics.json" | grep -o '[0-9]*$' | sort -n | tail -1)
    # (a small MRC_HUGE_BYTES, in the sanitizer stage, does not check the footprint)
    [ -n "$rss" ] && { [ "$N" -lt 100000000 ] || [ "$rss" -lt $((4 * N)) ]; } ||
        fail "$MB MB token (np $np): peak RSS ${rss:-?} bytes is over 4x the token"
    log "ok: $MB MB token at np $np: exact, $(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f", b - a }') s, max peak RSS $((rss >> 20)) MiB"
    rm -f "$OUT/r.tsv" "$H/metrics.json"

    MRC_TIMEOUT=$HUGE_TIMEOUT run_mrc "$np" --quiet --job ngram --output "$OUT/r.tsv" "$H/token.txt"
    expect_table "$T/nothing.tsv" "$MB MB ngram line (np $np)"
    assert_stderr_has "^mrcount: warning: 1 malformed record skipped in 1 file$" "$MB MB ngram line (np $np)"
    assert_stderr_has "token.txt:1: missing columns" "$MB MB ngram line (np $np)"
    MRC_TIMEOUT=$HUGE_TIMEOUT run_mrc "$np" --quiet --job ngram --strict --output "$OUT/r.tsv" "$H/token.txt"
    expect_error "$np" "$H/token.txt:1: missing columns" "$MB MB ngram line with --strict"
done
log "PASS"
