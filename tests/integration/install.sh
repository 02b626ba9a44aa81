#!/usr/bin/env bash
# install.sh - mrcount installed like an HPC module: `cmake --install` of the build into a
# temporary prefix gives the documented layout (binary, man page, configs, jobs, README, demo
# generators); the prefix is then moved, and everything runs from the moved copy with the
# checkout out of reach (no MRCOUNT, MRC_ROOT, MRC_BUILD_DIR; run from another directory): the
# installed binary prints the build's version and counts like the oracle under mpirun; the
# workstation jobs use the installed binary, config and demo generator; the Slurm jobs, run from
# a spool copy as sbatch does (with a stand-in srun), find their common part and the installed
# binary through MRC_ROOT (what the module sets) and through PATH alone. The man page renders
# with groff (and man) without a warning, names every option and short option of --help, every
# environment variable the sources read, and the version.
# shellcheck source-path=SCRIPTDIR source=lib.bash
source "$(dirname "$0")/lib.bash"

command -v groff >/dev/null || fail "groff not installed (apt-get install groff-base)"

# ---- the layout ---------------------------------------------------------------------------
cmake --install "$MRC_BUILD_DIR" --prefix "$T/prefix" >"$T/install.log" 2>&1 || {
    sed 's/^/  install: /' "$T/install.log" | tail -20 >&2
    fail "cmake --install $MRC_BUILD_DIR --prefix $T/prefix failed"
}
P=$T/moved # a module tree is often copied or moved after it is built
mv "$T/prefix" "$P"
for f in bin/mrcount share/man/man1/mrcount.1 share/doc/mrcount/README.md \
    share/mrcount/jobs/installed.bash libexec/mrcount/gen_corpus libexec/mrcount/gen_ngrams; do
    [ -f "$P/$f" ] || fail "the installation has no $f"
done
[ -x "$P/bin/mrcount" ] || fail "bin/mrcount is not executable"
cmp -s "$MRC_SOURCE_DIR/README.md" "$P/share/doc/mrcount/README.md" || fail "share/doc/mrcount/README.md is not the README"
for f in "$MRC_SOURCE_DIR"/configs/*.ini "$MRC_SOURCE_DIR"/jobs/*; do
    sub=$(basename "$(dirname "$f")")/$(basename "$f")
    cmp -s "$f" "$P/share/mrcount/$sub" || fail "share/mrcount/$sub is missing or differs from the checkout's"
    [ ! -x "$f" ] || [ -x "$P/share/mrcount/$sub" ] || fail "share/mrcount/$sub lost its execute bit"
done
log "ok: the layout (moved from the install prefix)"

# Everything below runs as a user of the module would: from another directory, nothing of the
# checkout in the environment, the build tree not on PATH.
mkdir -p "$T/home"
cd "$T/home"
export -n MRCOUNT MRC_BUILD_DIR MRC_SOURCE_DIR MRC_ROOT # kept here, hidden from what runs
BUILD_MRCOUNT=$MRCOUNT
clean_path=$(printf '%s' "$PATH" | tr ':' '\n' | grep -vxF "$MRC_BUILD_DIR" | paste -sd: -)

# ---- the installed binary -----------------------------------------------------------------
"$P/bin/mrcount" --version >"$T/version" 2>"$T/stderr" || fail "installed mrcount --version failed"
"$BUILD_MRCOUNT" --version >"$T/version.build" 2>/dev/null
assert_same "$T/version.build" "$T/version" "installed --version (the build's)"
project_version=$(sed -n 's/^project(mrcount VERSION \([0-9.]*\).*/\1/p' "$MRC_SOURCE_DIR/CMakeLists.txt")
grep -Eq "^mrcount $project_version( \([^)]+\))?\$" <(head -1 "$T/version") ||
    fail "--version says '$(head -1 "$T/version")', not 'mrcount $project_version [(git description)]'"

gen_corpus "$T/text" 1 --files 3 --seed 7 >/dev/null
oracle "$T"/text/* >"$T/text.expected"
MRCOUNT=$P/bin/mrcount
run_mrc_ok 2 --quiet -o "$T/text.tsv" "$T/text"
assert_same "$T/text.expected" "$T/text.tsv" "installed mrcount at np 2"
MRCOUNT=$BUILD_MRCOUNT
log "ok: the installed binary ($(head -1 "$T/version"))"

# ---- the workstation jobs, installed ------------------------------------------------------
# job_run NAME ARGS... : PREFIX/share/mrcount/jobs/NAME from $T/home, PATH without the build.
job_run() {
    local name=$1
    shift
    RC=0
    PATH=$clean_path timeout -k 10 300 "$P/share/mrcount/jobs/$name" "$@" >"$T/stdout" 2>"$T/stderr" </dev/null || RC=$?
    assert_status 0 "installed jobs/$name $*"
}
job_run wordcount-local.sh "$T/text"
assert_stderr_has "running: .* $P/bin/mrcount " "wordcount-local.sh runs the installed binary"
head -20 "$T/text.expected" >"$T/top20.expected"
assert_same "$T/top20.expected" "$T/home/out/wordcount.tsv" "installed wordcount-local.sh (out/ of the current directory)"
# --output given to the job: the result and the top printed are that file's, out/ untouched
job_run wordcount-local.sh --output "$T/mine.tsv" --top 3 "$T/text"
head -3 "$T/text.expected" >"$T/top3.expected"
assert_same "$T/top3.expected" "$T/mine.tsv" "wordcount-local.sh --output FILE"
awk -F '\t' '{ printf "%12d  %s\n", $NF, $1 }' "$T/top3.expected" >"$T/top3.printed"
grep '^ *[0-9]' "$T/stdout" >"$T/printed" || true
assert_same "$T/top3.printed" "$T/printed" "wordcount-local.sh --output FILE prints that file's top"
assert_same "$T/top20.expected" "$T/home/out/wordcount.tsv" "wordcount-local.sh --output FILE leaves out/ alone"
# the same through short options run together (-qo FILE, -qk3): mrcount reads them so
rm -f "$T/mine.tsv"
job_run wordcount-local.sh -qo "$T/mine.tsv" -qk3 "$T/text"
assert_same "$T/top3.expected" "$T/mine.tsv" "wordcount-local.sh -qo FILE -qk3"
grep '^ *[0-9]' "$T/stdout" >"$T/printed" || true
assert_same "$T/top3.printed" "$T/printed" "wordcount-local.sh -qo FILE prints that file's top"
assert_same "$T/top20.expected" "$T/home/out/wordcount.tsv" "wordcount-local.sh -qo FILE leaves out/ alone"

gen_ngrams "$T/ngrams" 1 --format v2 --files 2 --seed 3 >/dev/null
ngram_oracle v2 match 0 9999 keep 0 "$T"/ngrams/* >"$T/ngram.all"
head -20 "$T/ngram.all" >"$T/ngram.expected"
job_run ngram-local.sh "$T/ngrams"
assert_stderr_has "running: .* $P/bin/mrcount --config $P/share/mrcount/configs/ngram-v2.ini " \
    "ngram-local.sh runs the installed binary with the installed config"
assert_same "$T/ngram.expected" "$T/home/out/ngram.tsv" "installed ngram-local.sh"
# a relative --config given to the job names the installation's configs/ (none in $T/home)
job_run ngram-local.sh --config configs/ngram-v2.ini --top 5 "$T/ngrams"
assert_stderr_has "running: .* --config $P/share/mrcount/configs/ngram-v2.ini --top 5 " \
    "ngram-local.sh --config configs/ngram-v2.ini from another directory"
head -5 "$T/ngram.all" >"$T/ngram5.expected"
assert_same "$T/ngram5.expected" "$T/home/out/ngram.tsv" "installed ngram-local.sh --config configs/..."

# No INPUT: the demo corpus, made by the installed generator.
MRC_DEMO_DIR=$T/demo DEMO_SIZE_MIB=1 job_run wordcount-local.sh
assert_stderr_has "making the demo input" "wordcount-local.sh without INPUT"
[ -d "$T/demo/corpus" ] || fail "no demo corpus made by the installed gen_corpus"
oracle "$T"/demo/corpus/* >"$T/demo.all"
head -20 "$T/demo.all" >"$T/demo.expected"
assert_same "$T/demo.expected" "$T/home/out/wordcount.tsv" "installed wordcount-local.sh on the demo corpus"
log "ok: the workstation jobs run the installed binary, config and generator"

# ---- the Slurm jobs, installed (a stand-in srun: no Slurm needed) --------------------------
mkdir -p "$T/fakebin" "$T/spool"
cat >"$T/fakebin/srun" <<'SRUN'
#!/usr/bin/env bash
# srun stand-in: drops srun's options and runs the step's command once (an MPI singleton).
while [ $# -gt 0 ] && [[ $1 == -* ]]; do shift; done
exec "$@"
SRUN
chmod +x "$T/fakebin/srun"
# sbatch_run ID ENV... : wordcount.sbatch as Slurm runs it: a copy in a spool directory, from the
# submit directory $T/home, with the given environment.
sbatch_run() {
    local id=$1
    shift
    cp "$P/share/mrcount/jobs/wordcount.sbatch" "$T/spool/slurm_script"
    RC=0
    env -u MRC_ROOT -u MRCOUNT SLURM_JOB_ID="$id" SLURM_SUBMIT_DIR="$T/home" "$@" \
        timeout -k 10 120 bash "$T/spool/slurm_script" "$T/text" >"$T/stdout" 2>"$T/stderr" </dev/null || RC=$?
    assert_status 0 "wordcount.sbatch (spool copy) with $*"
    assert_same "$T/text.expected" "$T/home/wordcount-$id/words.tsv" "wordcount.sbatch with $*"
    grep -qxF "wordcount: mrcount $P/bin/mrcount (installation)" "$T/stdout" ||
        fail "wordcount.sbatch with $*: did not log the installed binary: $(grep 'mrcount ' "$T/stdout")"
    grep -qxF "wordcount: config $P/share/mrcount/configs/words.ini" "$T/stdout" ||
        fail "wordcount.sbatch with $*: did not use the installed config"
}
sbatch_run 101 MRC_ROOT="$P/share/mrcount" PATH="$T/fakebin:$clean_path"
sbatch_run 102 PATH="$T/fakebin:$P/bin:$clean_path"
# A time limit under 3 minutes (squeue stand-in: 1:00): the SIGUSR1 warning is ignored and the
# step runs to its end (a requeue at every start would never finish). The map is slowed (a pause
# after each piece) so that the warning comes while the step runs.
printf '#!/bin/sh\necho 1:00\n' >"$T/fakebin/squeue"
chmod +x "$T/fakebin/squeue"
cp "$P/share/mrcount/jobs/wordcount.sbatch" "$T/spool/slurm_script"
env -u MRCOUNT SLURM_JOB_ID=103 SLURM_SUBMIT_DIR="$T/home" MRC_ROOT="$P/share/mrcount" \
    PATH="$T/fakebin:$clean_path" MRC_TEST_PIECE_PAUSE_US=3000000 \
    timeout -k 10 120 bash "$T/spool/slurm_script" "$T/text" >"$T/stdout" 2>"$T/stderr" </dev/null &
job=$!
wait_until 60 pgrep -P "$job" >/dev/null || true
shell=$(pgrep -P "$job" | head -n 1) || fail "the short-limit job started no batch shell"
sleep 0.5
kill -USR1 "$shell" # timeout's child: the batch shell
RC=0
wait "$job" || RC=$?
assert_status 0 "wordcount.sbatch under a 1-minute limit, warned"
grep -q 'SIGUSR1 ignored' "$T/stderr" || fail "short limit: no 'SIGUSR1 ignored' in the log: $(cat "$T/stderr")"
assert_same "$T/text.expected" "$T/home/wordcount-103/words.tsv" "wordcount.sbatch under a 1-minute limit"
rm -f "$T/fakebin/squeue"
log "ok: the batch jobs from a spool copy, through MRC_ROOT and through PATH; a short limit takes no warning"

# ---- the man page -------------------------------------------------------------------------
page=$P/share/man/man1/mrcount.1
groff -man -Tutf8 -ww -P-cbou "$page" >"$T/page.txt" 2>"$T/groff.err" || fail "groff failed on mrcount.1"
[ ! -s "$T/groff.err" ] || fail "groff -ww warns on mrcount.1: $(head -5 "$T/groff.err")"
if command -v man >/dev/null; then
    MANWIDTH=80 man --warnings -l "$page" >"$T/man.txt" 2>"$T/man.err" || fail "man -l failed on mrcount.1"
    [ ! -s "$T/man.err" ] || fail "man -l warns on mrcount.1: $(head -5 "$T/man.err")"
    grep -q 'ENVIRONMENT' "$T/man.txt" || fail "man -l rendered no ENVIRONMENT section"
fi
"$P/bin/mrcount" --help >"$T/help" 2>/dev/null || fail "installed mrcount --help failed"
mapfile -t longs < <(grep -oE -- '--[a-z][a-z0-9-]*' "$T/help" | sort -u)
[ "${#longs[@]}" -gt 20 ] || fail "--help lists only ${#longs[@]} long options"
for opt in "${longs[@]}"; do
    grep -qF -- "${opt//-/\\-}" "$page" || fail "the man page lacks $opt (as ${opt//-/\\-})"
done
mapfile -t shorts < <(grep -oE '^  -[A-Za-z],' "$T/help" | tr -d ' ,')
for opt in "${shorts[@]}"; do
    grep -qF -- "\\fB\\$opt\\fR, " "$page" || fail "the man page lacks the short option $opt"
done
mapfile -t envs < <(grep -rhoE '(getenv|knob|env_is)\("[A-Z][A-Z0-9_]*"\)' "$MRC_SOURCE_DIR/src" |
    sed -E 's/.*"(.*)".*/\1/' | sort -u)
[ "${#envs[@]}" -ge 8 ] || fail "found only ${#envs[@]} environment variables in the sources"
for var in "${envs[@]}"; do
    grep -qw -- "$var" "$T/page.txt" || fail "the man page does not name the environment variable $var"
done
version_roff=$(head -1 "$T/version" | sed 's/-/\\-/g')
grep -F '.TH MRCOUNT 1 ' "$page" | grep -qF "\"$version_roff\"" ||
    fail "the man page's .TH does not carry '$(head -1 "$T/version")'"
log "ok: the man page renders cleanly and names ${#longs[@]} options, ${#shorts[@]} short ones, ${#envs[@]} variables"
