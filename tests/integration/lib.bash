# lib.bash - shared helpers for the integration tests (sourced, never run: CTest runs only *.sh).
# Sets up a private temp dir ($T, removed on exit), the mpirun command line from $MRC_MPIRUN, and
# an independent perl oracle for the words job. Tests call `run_mrc NP ARGS...`, which never hangs:
# every launch is bounded by `timeout`.
# Environment (set by tests/CMakeLists.txt; defaults let a test run by hand from the repo):
#   MRCOUNT        the mrcount binary          (default: $MRC_BUILD_DIR/mrcount)
#   MRC_BUILD_DIR  the CMake build tree         (default: $MRC_SOURCE_DIR/build)
#   MRC_SOURCE_DIR the repository               (default: two levels above this file)
#   MRC_MPIRUN     launcher, ending in -np      (default: "mpiexec --oversubscribe -np")
#   MRC_TIMEOUT    seconds allowed per launch   (default: 60)

set -euo pipefail
export LC_ALL=C

MRC_SOURCE_DIR=${MRC_SOURCE_DIR:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
MRC_BUILD_DIR=${MRC_BUILD_DIR:-$MRC_SOURCE_DIR/build}
MRCOUNT=${MRCOUNT:-$MRC_BUILD_DIR/mrcount}
MRC_MPIRUN=${MRC_MPIRUN:-mpiexec --oversubscribe -np}
MRC_TIMEOUT=${MRC_TIMEOUT:-60}
MRC_WRAP=() # run_single's wrapper command, if any
read -r -a MPIRUN <<<"$MRC_MPIRUN"
MPIEXEC=${MPIEXEC:-${MPIRUN[0]}}
if [ "$(id -u)" = 0 ]; then # Open MPI refuses to run as root without these
    export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
fi
TEST_NAME=$(basename "$0" .sh)
# Tests run the same inside a Slurm job or beside a caller's launcher options: SLURM_* (memory
# limit, CPUs per task, jobs/scaling's choice of srun) and MPIRUN_ARGS/SRUN_ARGS are the test's
# to set (with either set outside, jobs/scaling plans srun or other mpirun lines).
while read -r _mrc_v; do unset "$_mrc_v"; done < <(compgen -e | grep -E '^(SLURM_|MPIRUN_ARGS$|SRUN_ARGS$)' || true)

log() { printf '[%s] %s\n' "$TEST_NAME" "$*" >&2; }
fail() {
    printf '[%s] FAIL: %s\n' "$TEST_NAME" "$*" >&2
    exit 1
}

[ -x "$MRCOUNT" ] || fail "mrcount binary not found at '$MRCOUNT' (build first, or set MRCOUNT)"

T=$(mktemp -d "${TMPDIR:-/tmp}/mrc-$TEST_NAME.XXXXXX")
# at_exit FUNCTION : call FUNCTION EXIT_STATUS when the test ends, before $T is removed (last
# registered, first called); it must not exit.
_mrc_at_exit=()
at_exit() { _mrc_at_exit=("$1" "${_mrc_at_exit[@]}"); }
_mrc_cleanup() {
    local rc=$? f
    for f in "${_mrc_at_exit[@]}"; do
        "$f" "$rc" || true
    done
    if [ "$rc" != 0 ] && [ -n "${MRC_KEEP_TMP:-}" ]; then
        log "keeping $T"
    else
        chmod -R u+rwx "$T" 2>/dev/null || true
        rm -rf "$T"
    fi
    exit "$rc"
}
trap _mrc_cleanup EXIT
trap 'exit 130' INT TERM

# wait_until SECONDS CMD... : poll CMD (every 50 ms) until it succeeds (0) or SECONDS of wall
# time pass (1). A deadline, not a count of polls: a loaded machine (CI's sanitizer stages beside
# other jobs) slows the polls too.
wait_until() {
    local end=$((SECONDS + $1))
    shift
    while :; do
        "$@" && return 0
        [ "$SECONDS" -lt "$end" ] || return 1
        sleep 0.05
    done
}

# run_mrc NP ARGS... : mrcount under mpirun with NP ranks, bounded in time. Leaves the exit
# status in $RC (never fails itself), stdout in $T/stdout, stderr in $T/stderr.
run_mrc() {
    local np=$1
    shift
    RC=0
    timeout -k 10 "$MRC_TIMEOUT" "${MPIRUN[@]}" "$np" "$MRCOUNT" "$@" \
        >"$T/stdout" 2>"$T/stderr" </dev/null || RC=$?
    case $RC in 124 | 137) fail "timed out after ${MRC_TIMEOUT}s: mpirun -np $np mrcount $*" ;; esac
    return 0
}

# run_mrc_ok NP ARGS... : run_mrc and require exit status 0.
run_mrc_ok() {
    run_mrc "$@"
    if [ "$RC" != 0 ]; then
        sed 's/^/  stderr: /' "$T/stderr" | head -40 >&2
        fail "exit status $RC from: mpirun -np $*"
    fi
}

# run_single ARGS... : mrcount as an MPI singleton (no mpirun), same conventions as run_mrc;
# under the command in the array MRC_WRAP when it is set (strace, say).
run_single() {
    RC=0
    timeout -k 10 "$MRC_TIMEOUT" "${MRC_WRAP[@]}" "$MRCOUNT" "$@" >"$T/stdout" 2>"$T/stderr" \
        </dev/null || RC=$?
    case $RC in 124 | 137) fail "timed out after ${MRC_TIMEOUT}s: mrcount $*" ;; esac
    return 0
}

# oracle [--alnum] [--fold] [--sort-key] [--ngrams N] [--break line|paragraph|none] FILES... :
# the words job computed by perl from the documented rule: a token is a maximal run of bytes
# other than space \t \n \v \f \r (or of [A-Za-z0-9'] with --alnum); --fold lower-cases ASCII A-Z
# only; --ngrams N keys N consecutive tokens joined by one space, never across a file nor a
# break found in the bytes between two tokens (--break line, the default: an LF; paragraph: an
# LF, ASCII whitespace, an LF; none: no break); output "key\tcount" sorted by count descending
# then key bytewise (or by key bytewise with --sort-key).
oracle() {
    local alnum=0 fold=0 bykey=0 ngrams=1 brk=line
    while [ $# -gt 0 ]; do
        case $1 in
        --alnum) alnum=1 ;;
        --fold) fold=1 ;;
        --sort-key) bykey=1 ;;
        --ngrams) ngrams=$2 && shift ;;
        --break) brk=$2 && shift ;;
        *) break ;;
        esac
        shift
    done
    perl -e '
        use strict; use warnings;
        my ($alnum, $fold, $bykey, $n, $brk) = splice(@ARGV, 0, 5);
        my %c;
        my $tok = $alnum ? qr/[A-Za-z0-9\x27]+/ : qr/[^ \t\n\r\x0b\f]+/;
        my $gapre = $brk eq "line" ? qr/\n/ : $brk eq "paragraph" ? qr/\n[ \t\n\r\x0b\f]*\n/ : undef;
        local $/;                                   # slurp whole files, bytes only
        for my $f (@ARGV) {
            open(my $fh, "<:raw", $f) or die "oracle: $f: $!\n";
            my $d = <$fh>;
            close $fh;
            next unless defined $d;
            $d =~ tr/A-Z/a-z/ if $fold;
            if ($n == 1) {
                if ($alnum) { $c{$_}++ for $d =~ /[A-Za-z0-9\x27]+/g; }
                else        { $c{$_}++ for grep { length } split /[ \t\n\r\x0b\f]+/, $d; }
                next;
            }
            my @w;                                  # the current sequence
            my $end = 0;                            # where the previous token ended
            while ($d =~ /$tok/g) {
                my ($t, $s, $e) = ($&, $-[0], $+[0]);
                @w = () if defined $gapre && substr($d, $end, $s - $end) =~ $gapre;
                push @w, $t;
                shift @w if @w > $n;
                $c{join " ", @w}++ if @w == $n;
                $end = $e;
            }
        }
        binmode STDOUT;
        my @k = $bykey ? sort keys %c : sort { $c{$b} <=> $c{$a} || $a cmp $b } keys %c;
        print "$_\t$c{$_}\n" for @k;
    ' "$alnum" "$fold" "$bykey" "$ngrams" "$brk" "$@"
}

# total_of FILE : sum of the count column of a result.
total_of() { awk -F '\t' '{ t += $NF } END { printf "%d\n", t }' "$1"; }

# assert_same EXPECTED ACTUAL WHAT : byte-identical files, or a short diff and failure.
assert_same() {
    if ! cmp -s "$1" "$2"; then
        log "expected $1 ($(wc -l <"$1") lines) vs actual $2 ($(wc -l <"$2") lines):"
        diff "$1" "$2" | head -20 | cat -A >&2 || true
        fail "$3: output differs"
    fi
}

# assert_stderr_has REGEX WHAT : the last run's stderr matches an extended regex.
assert_stderr_has() {
    if ! grep -Eq -- "$1" "$T/stderr"; then
        sed 's/^/  stderr: /' "$T/stderr" | head -20 >&2
        fail "$2: stderr does not match /$1/"
    fi
}

# errors : the "mrcount: " lines of the last run's stderr that are not warnings or notes.
errors() { grep '^mrcount: ' "$T/stderr" | grep -Ev '^mrcount: (warning|note): ' || true; }

# assert_status STATUS WHAT : the last run ($RC) ended with STATUS, or its stderr and a failure.
assert_status() {
    if [ "$RC" != "$1" ]; then
        sed 's/^/  stderr: /' "$T/stderr" | head -20 >&2
        fail "$2: exit status $RC, expected $1"
    fi
}

# assert_one_error REGEX WHAT : the last run printed exactly one error line, matching REGEX.
assert_one_error() {
    local n
    n=$(errors | wc -l)
    if [ "$n" != 1 ] || ! errors | grep -Eq -- "$1"; then
        sed 's/^/  stderr: /' "$T/stderr" | head -20 >&2
        fail "$2: expected exactly one error line matching /$1/, got $n"
    fi
}

# nothing_left DIR WHAT : DIR is empty (no result, temporary, metrics or part left behind).
nothing_left() {
    local left
    left=$(find "$1" -mindepth 1)
    [ -z "$left" ] || fail "$2: left behind: $(echo "$left" | tr '\n' ' ')"
}

# gen_corpus ARGS... : the build's corpus generator (compiled here if the build lacks it).
gen_corpus() {
    local tool=$MRC_BUILD_DIR/tests/gen_corpus
    if [ ! -x "$tool" ]; then
        tool=$T/.gen_corpus
        [ -x "$tool" ] || cc -std=c11 -O2 -o "$tool" "$MRC_SOURCE_DIR/tests/tools/gen_corpus.c" -lm
    fi
    "$tool" "$@"
}

# gen_ngrams ARGS... : the build's ngram export generator (compiled here if the build lacks it).
gen_ngrams() {
    local tool=$MRC_BUILD_DIR/tests/gen_ngrams
    if [ ! -x "$tool" ]; then
        tool=$T/.gen_ngrams
        [ -x "$tool" ] || cc -std=c11 -O2 -o "$tool" "$MRC_SOURCE_DIR/tests/tools/gen_ngrams.c" -lz -lm
    fi
    "$tool" "$@"
}

# ngram_oracle FORMAT VALUE YMIN YMAX POS FOLD FILES... : the documented rule in awk (inputs are
# well-formed here; bad records have their own test): key = the ngram column; v1/v2 sum the
# match (column 3) or volume (v1: 5, v2: 4) count of rows within [YMIN, YMAX]; v3 sums the
# entries "year,match,volumes" within it. A token is tagged as word_TAG (non-empty word) or a
# lone _TAG_; untagged keeps ngrams with no tagged token, tagged only those with one; strip
# drops the _TAG suffix of word_TAG tokens; fold lower-cases all but the tags. Output sorted
# like mrcount's: count descending, then key bytewise.
ngram_oracle() {
    local fmt=$1 value=$2 ymin=$3 ymax=$4 pos=$5 fold=$6
    shift 6
    awk -F '\t' -v fmt="$fmt" -v value="$value" -v ymin="$ymin" -v ymax="$ymax" \
        -v pos="$pos" -v fold="$fold" '
    BEGIN { TAGS = "(NOUN|VERB|ADJ|ADV|PRON|DET|ADP|NUM|CONJ|PRT|X|\\.)" }
    function keyof(raw,    n, t, i, out, tok, tagged, any, base, tag) {
        n = split(raw, t, " ")
        out = ""; any = 0
        for (i = 1; i <= n; i++) {
            tok = t[i]; tagged = 0
            if (tok ~ ("^_" TAGS "_$")) {
                tagged = 1
            } else if (tok ~ ("^.+_" TAGS "$")) {
                tagged = 1
                base = tok; sub("_[^_]*$", "", base)
                tag = substr(tok, length(base) + 1)
                if (fold) base = tolower(base)
                tok = (pos == "strip") ? base : base tag
            } else if (fold) {
                tok = tolower(tok)
            }
            any = any || tagged
            out = out (i > 1 ? " " : "") tok
        }
        if (pos == "untagged" && any) return ""
        if (pos == "tagged" && !any) return ""
        return out "\t"
    }
    {
        k = keyof($1)
        if (k == "") next
        if (fmt == "v3") {
            for (i = 2; i <= NF; i++) {
                split($i, e, ",")
                if (e[1] + 0 >= ymin && e[1] + 0 <= ymax) { c[k] += (value == "match" ? e[2] : e[3]); seen[k] = 1 }
            }
        } else if ($2 + 0 >= ymin && $2 + 0 <= ymax) {
            col = value == "match" ? 3 : (fmt == "v1" ? 5 : 4)
            c[k] += $col; seen[k] = 1
        }
    }
    END { for (k in seen) printf "%s%.0f\n", k, c[k] }
    ' "$@" | sort -t "$(printf '\t')" -k2,2nr -k1,1
}
