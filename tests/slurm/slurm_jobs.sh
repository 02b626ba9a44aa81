#!/usr/bin/env bash
# slurm_jobs.sh - the Slurm batch jobs of jobs/ on a real one-node Slurm cluster (cluster.sh):
# wordcount.sbatch and ngram.sbatch equal the oracles on generated inputs, with the ranks bound
# to distinct cores by srun; the job array counts three corpora, one table each; a job with a
# missing input ends FAILED with the file named in its log and no result; a small scaling sweep
# under scaling.sbatch gives results.csv with the planned rows and PNG plots; the batch job of an
# installation (cmake --install), submitted with the module's MRC_ROOT, runs the installed binary
# and config; a job stopped by SIGUSR1 (the warning before its time limit) checkpoints, requeues
# itself and resumes to the same table; a job cancelled with a plain scancel stops and ends
# CANCELLED, not requeued, its log saying where its checkpoint stays. The cluster is always
# stopped, on failure too.
# Skips (exit 77) when Slurm is not installed, unless MRC_REQUIRE_SLURM=1 (CI sets it).
# shellcheck source-path=SCRIPTDIR source=../integration/lib.bash
source "$(dirname "$0")/../integration/lib.bash"

HERE=$(cd "$(dirname "$0")" && pwd)
WAIT=${MRC_SLURM_WAIT:-120} # per job; the CTest limit (900 s) covers them all

for tool in slurmctld slurmd munged sbatch; do
    if ! command -v "$tool" >/dev/null; then
        [ "${MRC_REQUIRE_SLURM:-0}" = 1 ] && fail "$tool not installed (apt-get install slurm-wlm munge)"
        log "SKIP: $tool not installed (apt-get install slurm-wlm munge)"
        exit 77
    fi
done
[ "$(id -u)" = 0 ] || {
    log "SKIP: the throwaway cluster runs its daemons as root"
    exit 77
}

CL=$T/cluster
_stop_cluster() {
    if [ "$1" != 0 ]; then
        "$HERE/cluster.sh" logs "$CL" >&2 || true
        for f in "$T"/sub/*.log; do
            [ -f "$f" ] && sed "s|^|  ${f##*/}: |" "$f" | tail -n 20 >&2
        done
    fi
    "$HERE/cluster.sh" down "$CL"
}
at_exit _stop_cluster

# Inputs: two small corpora for the word count, three for the array, v2 ngram exports.
gen_corpus "$T/words" 3 --files 4 --seed 11 >/dev/null
mkdir -p "$T/array"
for i in 0 1 2; do
    gen_corpus "$T/array/corpus$i" 1 --files 2 --seed $((20 + i)) >/dev/null
done
gen_ngrams "$T/ngrams" 2 --format v2 --order 2 --files 3 --seed 5 >/dev/null
printf '# corpora of the array job, one a line\n%s\n\n%s\n%s\n' \
    "$T/array/corpus0" "$T/array/corpus1" "$T/array/corpus2" >"$T/corpora.txt"

chmod 755 "$T" # munged wants every directory above its socket searchable by all
"$HERE/cluster.sh" up "$CL" || fail "the Slurm cluster did not start"
# shellcheck source=/dev/null
source "$CL/env.sh"

# Jobs run as submitted from $T/sub: logs and job directories land there.
mkdir -p "$T/sub"
cd "$T/sub"
export MRC_ROOT=$MRC_SOURCE_DIR MRCOUNT
unset OMPI_MCA_rmaps_base_oversubscribe
submit() { sbatch --parsable "$@" || fail "sbatch $* refused"; }
words=$(submit "$MRC_SOURCE_DIR/jobs/wordcount.sbatch" "$T/words")
ngram=$(submit "$MRC_SOURCE_DIR/jobs/ngram.sbatch" "$T/ngrams")
array=$(submit --array=0-2 "$MRC_SOURCE_DIR/jobs/wordcount-array.sbatch" "$T/corpora.txt")
broken=$(submit "$MRC_SOURCE_DIR/jobs/wordcount.sbatch" "$T/words" "$T/no-such-corpus")
scaling=$(submit "$MRC_SOURCE_DIR/jobs/scaling.sbatch" --size 1 --runs 1)
# Installed: the batch job of an installation (cmake --install) submitted as a module's user
# would, with MRC_ROOT as the module sets it and neither the checkout nor MRCOUNT in sight.
cmake --install "$MRC_BUILD_DIR" --prefix "$T/prefix" >"$T/install.log" 2>&1 || fail "cmake --install failed"
installed=$(MRC_ROOT=$T/prefix/share/mrcount env -u MRCOUNT -u MRC_BUILD_DIR \
    sbatch --parsable "$T/prefix/share/mrcount/jobs/wordcount.sbatch" "$T/words") || fail "sbatch of the installed job refused"
log "submitted: wordcount $words, ngram $ngram, array $array, broken $broken, scaling $scaling, installed $installed"

# wordcount.sbatch: 2 ranks x 1 thread, each on its own core, the oracle's table.
"$HERE/cluster.sh" wait "$CL" "$words" "$WAIT" || fail "wordcount job $words did not complete"
oracle "$T"/words/* >"$T/words.expected"
assert_same "$T/words.expected" "wordcount-$words/words.tsv" "wordcount.sbatch"
[ -s "wordcount-$words.log" ] || fail "no log wordcount-$words.log"
read -r nranks cores < <(python3 -c '
import json, sys
m = json.load(open(sys.argv[1]))
cores = sorted(t["core"] for r in m["ranks"] for t in r["threads"])
print(m["config"]["ranks"], ",".join(map(str, cores)))' "wordcount-$words/metrics.json")
[ "$nranks" = 2 ] || fail "wordcount.sbatch ran $nranks ranks, not 2"
[ "$cores" = "0,1" ] || fail "wordcount.sbatch threads on cores '$cores', not one each on 0 and 1"

# ngram.sbatch: the awk oracle of the documented rule (v2, match counts, all years, tags kept).
"$HERE/cluster.sh" wait "$CL" "$ngram" "$WAIT" || fail "ngram job $ngram did not complete"
ngram_oracle v2 match 0 9999 keep 0 "$T"/ngrams/* >"$T/ngram.expected"
assert_same "$T/ngram.expected" "ngram-$ngram/ngrams.tsv" "ngram.sbatch"

# The array: one table per corpus, in the task's own directory.
"$HERE/cluster.sh" wait "$CL" "$array" "$WAIT" || fail "array job $array did not complete"
for i in 0 1 2; do
    oracle "$T/array/corpus$i"/* >"$T/array$i.expected"
    assert_same "$T/array$i.expected" "wordcount-${array}_$i/words.tsv" "array task $i"
    [ -s "wordcount-${array}_$i.log" ] || fail "no log for array task $i"
done

# The installed job: the oracle's table, from the installed binary and config.
"$HERE/cluster.sh" wait "$CL" "$installed" "$WAIT" || fail "installed wordcount job $installed did not complete"
assert_same "$T/words.expected" "wordcount-$installed/words.tsv" "installed wordcount.sbatch"
grep -qxF "wordcount: mrcount $T/prefix/bin/mrcount (installation)" "wordcount-$installed.log" ||
    fail "the installed job did not run the installed binary: $(grep 'wordcount: mrcount' "wordcount-$installed.log")"
grep -qxF "wordcount: config $T/prefix/share/mrcount/configs/words.ini" "wordcount-$installed.log" ||
    fail "the installed job did not use the installed config"

# A missing input: the job fails, its log names the file, and it leaves no result behind.
rc=0
"$HERE/cluster.sh" wait "$CL" "$broken" "$WAIT" || rc=$?
[ "$rc" = 1 ] || fail "the job with a missing input ended with wait status $rc, not a failure"
grep -q "no-such-corpus" "wordcount-$broken.log" || fail "the failed job's log does not name the missing input"
[ ! -e "wordcount-$broken/words.tsv" ] || fail "the failed job left words.tsv behind"
[ -z "$(find "wordcount-$broken" -name '*.tmp*' 2>/dev/null)" ] || fail "the failed job left a temporary file"

# scaling.sbatch: every sweep as srun steps in one allocation of 2 cores: the planned rows, one
# result for every layout (the oracle's), each step's threads on distinct cores, and the plots.
"$HERE/cluster.sh" wait "$CL" "$scaling" "$WAIT" || fail "scaling job $scaling did not complete"
S=scaling-$scaling
cat >"$T/rows.expected" <<'ROWS'
strong 1 1 auto auto
strong 2 1 auto auto
weak 1 1 auto auto
weak 2 1 auto auto
hybrid 1 2 auto auto
hybrid 2 1 auto auto
combine 2 1 reduce auto
combine 2 1 shuffle auto
chunk 2 1 auto 1M
chunk 2 1 auto 4M
chunk 2 1 auto 16M
chunk 2 1 auto 64M
chunk 2 1 auto auto
ROWS
python3 -c '
import csv, sys
rows = list(csv.DictReader(open(sys.argv[1])))
for r in rows:
    print(r["sweep"], r["ranks"], r["threads"], r["reduce"], r["chunk_option"])
bad = [r["id"] for r in rows if r["same_result"] != "true"]
if bad: sys.exit("results differ between layouts: %s" % bad)' "$S/results.csv" >"$T/rows.actual" ||
    fail "scaling results.csv unreadable or results differ"
sort "$T/rows.expected" >"$T/rows.expected.sorted"
sort "$T/rows.actual" >"$T/rows.actual.sorted"
assert_same "$T/rows.expected.sorted" "$T/rows.actual.sorted" "scaling.sbatch rows (sweep ranks threads reduce chunk)"
# Two inputs (1 and 2 units of the weak sweep); the driver keeps one result of each, ref-*.tsv.
matched=0
for units in 1 2; do
    mapfile -t files <"$S/inputs/units-$units.txt"
    oracle "${files[@]}" >"$T/scaling-$units.expected"
    for ref in "$S"/outputs/ref-*.tsv; do
        cmp -s "$T/scaling-$units.expected" "$ref" && matched=$((matched + 1))
    done
done
[ "$matched" = 2 ] && [ "$(find "$S/outputs" -name '*.tsv' | wc -l)" = 2 ] ||
    fail "scaling.sbatch: the kept results are not the oracle's tables of its two inputs ($matched matched)"
for id in strong-2x1-r1 hybrid-1x2-r1; do
    cores=$(python3 -c '
import json, sys
m = json.load(open(sys.argv[1]))
print(",".join(sorted(str(t["core"]) for r in m["ranks"] for t in r["threads"])))' "$S/metrics/$id.json")
    [ "$cores" = "0,1" ] || fail "scaling step $id: threads on cores '$cores', not one each on 0 and 1"
done
for png in strong-speedup strong-efficiency weak-efficiency throughput phases combine chunk; do
    [ "$(head -c 8 "$S/$png.png" 2>/dev/null | od -An -tx1 | tr -d ' \n')" = 89504e470d0a1a0a ] ||
        fail "scaling.sbatch: $png.png missing or not a PNG"
done

# Stop, checkpoint, requeue, resume: the warning Slurm sends before a time limit
# (--signal=B:USR1@120) sent by hand once the step has counted some pieces (the map slowed by the
# test hook MRC_TEST_PIECE_PAUSE_US, 12 files: 12 pieces of 2 s for 2 workers). The job passes
# SIGTERM on to its ranks, which keep their work in the checkpoint and exit 143; the job requeues
# itself, starts again with the same id, directory and log, resumes, and ends with the oracle's
# table, having skipped what the first start counted, and no checkpoint left.
gen_corpus "$T/resume" 2 --files 12 --seed 31 >/dev/null
resume=$(MRC_TEST_PIECE_PAUSE_US=2000000 submit "$MRC_SOURCE_DIR/jobs/wordcount.sbatch" "$T/resume")
R=wordcount-$resume
# the step has started: the job logged its plan
wait_until 120 grep -q "^wordcount: results in" "$R.log" 2>/dev/null || fail "resumable job $resume never started"
sleep 5
timeout 10 scancel --batch --signal=USR1 "$resume" || fail "scancel --batch --signal=USR1 $resume refused"
# Slurm makes a requeued job wait 2 minutes (Reason=BeginTime); the test starts it at once.
end=$((SECONDS + 60))
while [ "$SECONDS" -lt "$end" ]; do
    info=$(timeout 10 scontrol -o show job "$resume")
    [[ $info == *Restarts=1* && $info == *JobState=PENDING* ]] && break
    sleep 0.1
done
[[ $info == *Restarts=1* ]] || fail "job $resume was not requeued: $info"
# Not in the second its first start was killed: slurmd refuses a launch whose credential is not
# newer (in whole seconds) than the one it revoked ("Job credential revoked"), and the job would
# end FAILED. Slurm's own 2-minute hold is there for that.
sleep 2
timeout 10 scontrol update JobId="$resume" StartTime=now || fail "cannot move the start of job $resume"
"$HERE/cluster.sh" wait "$CL" "$resume" "$WAIT" || fail "resumable job $resume did not complete"
oracle "$T"/resume/* >"$T/resume.expected"
assert_same "$T/resume.expected" "$R/words.tsv" "wordcount.sbatch stopped, requeued and resumed"
grep -q "requeueing job $resume" "$R.log" || fail "job $resume did not requeue itself: $(tail -5 "$R.log")"
grep -q "start 2 of job $resume: resuming from" "$R.log" || fail "job $resume did not start again"
skipped=$(python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))["checkpoint"]["resumed"]["pieces_skipped"])' "$R/metrics.json")
[ "$skipped" -gt 0 ] && [ "$skipped" -lt 12 ] ||
    fail "the resumed start skipped $skipped of 12 pieces (want some, not all)"
[ ! -e "$R/checkpoint" ] || fail "the checkpoint of job $resume is still there after success"
log "ok: a job stopped by SIGUSR1 requeued itself and resumed ($skipped of 12 pieces kept)"

# A plain scancel (SIGTERM to the batch script and the step) is a cancel: the step stops, the
# job ends CANCELLED and is not requeued, and its log says where the checkpoint stays.
cancel=$(MRC_TEST_PIECE_PAUSE_US=2000000 submit "$MRC_SOURCE_DIR/jobs/wordcount.sbatch" "$T/resume")
C=wordcount-$cancel
wait_until 120 grep -q "^wordcount: results in" "$C.log" 2>/dev/null || fail "job $cancel never started"
sleep 5
timeout 10 scancel "$cancel" || fail "scancel $cancel refused"
end=$((SECONDS + 60))
while [ "$SECONDS" -lt "$end" ]; do
    info=$(timeout 10 scontrol -o show job "$cancel")
    [[ $info == *JobState=CANCELLED* || $info == *JobState=PENDING* ]] && break
    sleep 0.1
done
[[ $info == *JobState=CANCELLED* && $info == *Restarts=0* ]] ||
    fail "job $cancel, cancelled, was not left CANCELLED: $info"
# the batch script's last lines (its SIGKILL comes KillWait later)
wait_until 30 grep -q "its checkpoint stays in" "$C.log" 2>/dev/null || true
grep -q "^wordcount: step ended (status [0-9]*); its checkpoint stays in .*/$C/checkpoint: to resume, resubmit with CKPT_DIR=" "$C.log" ||
    fail "job $cancel: the log does not say where the checkpoint stays: $(tail -5 "$C.log")"
if grep -q "requeueing job $cancel" "$C.log"; then fail "job $cancel, cancelled, requeued itself"; fi
[ ! -e "$C/words.tsv" ] || fail "job $cancel, cancelled, left a result"
log "ok: a job cancelled with scancel stopped, ended CANCELLED, and said where its checkpoint stays"

log "OK: wordcount, ngram, array and scaling jobs under Slurm equal their oracles; failures fail; a stopped job resumes"
