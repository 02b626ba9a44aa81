# slurm.bash - the common part of the Slurm batch jobs (sourced by jobs/*.sbatch, never run):
# find the binary, check the config and the inputs, pass the CPUs per task on to srun, make the
# job's own output directory, and log the plan.
# The job script sets, before sourcing: JOB (a short name for the directory), CONFIG (an INI
# file, absolute or relative to MRC_ROOT), INPUTS (an array of mrcount INPUTs).
# It gets: MRC_ROOT, MRCOUNT, CONFIG (absolute), THREADS (per rank), OUT (the job's directory),
# CKPT (the job's checkpoint directory, $OUT/checkpoint) and mrc_step, which runs the step so that
# a job stopped by its time limit resumes where it stopped (see below).
# MRC_ROOT is the directory above this file's jobs/, with configs/ beside it: a checkout, or
# PREFIX/share/mrcount of an installation. sbatch runs a copy of the job script from its spool
# directory, so the job script sources this file from $MRC_ROOT (`module load mrcount` sets it),
# else from the directory sbatch was called from (a checkout), else from beside the mrcount on
# PATH (PATH/../share/mrcount).
# Env overrides: MRCOUNT (default, the first found: the installation's PREFIX/bin/mrcount, the
# checkout's build/mrcount ($MRC_BUILD_DIR), the mrcount on PATH), OUT_DIR (where the job's
# directory goes; default the submit directory), CKPT_DIR (the checkpoint directory; "none": no
# checkpoint), MRC_MAX_REQUEUES (default 10: the requeues one job may ask for).
# shellcheck shell=bash disable=SC2154 # JOB, CONFIG, INPUTS are set by the sourcing script
set -euo pipefail

die() {
    printf '%s: %s\n' "$JOB" "$*" >&2
    exit 1
}

MRC_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# shellcheck source=jobs/locate.bash
source "$MRC_ROOT/jobs/locate.bash"
mrc_locate "$MRC_ROOT"
MRCOUNT=$MRC_BIN
[ -n "$MRCOUNT" ] || die "no mrcount in $MRC_ROOT (build the checkout, or load the mrcount module, or set MRCOUNT)"
[ -x "$MRCOUNT" ] || die "no mrcount at $MRCOUNT (submit from the checkout after building it, or set MRCOUNT)"
[[ $CONFIG == /* ]] || CONFIG=$MRC_ROOT/$CONFIG
[ -r "$CONFIG" ] || die "cannot read the config $CONFIG"
[ "${#INPUTS[@]}" -gt 0 ] || die "no INPUT given: sbatch $JOB.sbatch INPUT... (files, directories, globs, @list.txt)"

# Slurm 22.05 and later: srun no longer inherits --cpus-per-task from the batch step.
if [ -n "${SLURM_CPUS_PER_TASK:-}" ]; then
    export SRUN_CPUS_PER_TASK=$SLURM_CPUS_PER_TASK
fi
THREADS=${SLURM_CPUS_PER_TASK:-1}
if [ "$(id -u)" = 0 ]; then # Open MPI refuses root unless told
    export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
fi

# One directory per job (per array task), named by the job id: reruns never overwrite.
id=${SLURM_JOB_ID:-local}
if [ -n "${SLURM_ARRAY_JOB_ID:-}" ]; then
    id=${SLURM_ARRAY_JOB_ID}_${SLURM_ARRAY_TASK_ID}
fi
OUT=${OUT_DIR:-${SLURM_SUBMIT_DIR:-$PWD}}/$JOB-$id
mkdir -p "$OUT"

printf '%s: job %s on %s: %s rank(s) x %s thread(s)\n' "$JOB" "$id" "${SLURM_JOB_NODELIST:-?}" \
    "${SLURM_NTASKS:-?}" "$THREADS"
printf '%s: mrcount %s (%s)\n' "$JOB" "$MRCOUNT" "$MRC_BIN_FROM"
printf '%s: config %s\n%s: inputs %s\n%s: results in %s\n' "$JOB" "$CONFIG" "$JOB" "${INPUTS[*]}" "$JOB" "$OUT"

# ---- stop, checkpoint, requeue ----
# With `#SBATCH --signal=B:USR1@120` Slurm sends SIGUSR1 to this script 2 minutes before the time
# limit (scancel --batch --signal=USR1 does the same by hand). mrc_step passes SIGTERM on to the
# step's ranks; mrcount finishes the pieces in hand, writes its checkpoint to $CKPT and exits 143;
# then the job requeues itself (`#SBATCH --requeue`), keeps its id, its directory and its log
# (`#SBATCH --open-mode=append`), and the next start of the same command resumes from $CKPT:
# only the bytes not yet counted are read, at any rank count. SIGTERM to this script is a cancel
# (`scancel JOBID`, or the limit itself): the step stops the same way, but the job is not
# requeued; its checkpoint stays for a resubmission with CKPT_DIR. (A SIGTERM warning could not
# tell the time limit from scancel, whose SIGTERM would then requeue a cancelled job.) The
# checkpoint is written every --checkpoint-interval (5 min) as well, so a job killed without
# warning (a node failure, then requeued by Slurm) loses at most that much. $CKPT must be on a
# file system every node sees.
CKPT=${CKPT_DIR:-$OUT/checkpoint}
MRC_MAX_REQUEUES=${MRC_MAX_REQUEUES:-10}
if [ "${SLURM_RESTART_COUNT:-0}" -gt 0 ]; then
    printf '%s: start %s of job %s: resuming from %s\n' "$JOB" "$((SLURM_RESTART_COUNT + 1))" "$id" "$CKPT"
fi

# mrc_limit_s LIMIT : a Slurm time limit as squeue prints it (%l: [D-]HH:MM:SS, MM:SS,
# UNLIMITED...) in seconds; nothing for one that is not a number of seconds.
mrc_limit_s() {
    local t=$1 d=0 h=0 m=0 s=0
    if [[ $t =~ ^([0-9]+)-(.*)$ ]]; then
        d=${BASH_REMATCH[1]}
        t=${BASH_REMATCH[2]}
    fi
    if [[ $t =~ ^([0-9]+):([0-9]+):([0-9]+)$ ]]; then
        h=${BASH_REMATCH[1]} m=${BASH_REMATCH[2]} s=${BASH_REMATCH[3]}
    elif [[ $t =~ ^([0-9]+):([0-9]+)$ ]]; then
        m=${BASH_REMATCH[1]} s=${BASH_REMATCH[2]}
    elif [[ $t =~ ^([0-9]+)$ && $d != 0 ]]; then
        h=$t
    else
        return 0
    fi
    echo $((((10#$d * 24 + 10#$h) * 60 + 10#$m) * 60 + 10#$s))
}

# The warning comes 2 minutes before the limit (#SBATCH --signal=B:USR1@120): under a limit of
# less than 3 minutes a start would get under a minute of work before it stops and requeues,
# again and again (Slurm holds a requeued job about 2 minutes). Such a job takes no warning: it
# runs to its limit, where Slurm's SIGTERM stops it as a scancel does (its checkpoint kept).
MRC_REQUEUE=1
if [ -n "${SLURM_JOB_ID:-}" ] && command -v squeue >/dev/null; then
    _mrc_limit=$(squeue -h -j "$SLURM_JOB_ID" -o %l 2>/dev/null | head -n 1 || true)
    _mrc_limit_s=$(mrc_limit_s "$_mrc_limit")
    if [ -n "$_mrc_limit_s" ] && [ "$_mrc_limit_s" -lt 180 ]; then
        MRC_REQUEUE=0
        printf '%s: time limit %s: under 3 minutes, so the SIGUSR1 warning 2 minutes before it is ignored and the job is not requeued (give --time 3 or more to checkpoint, requeue and resume)\n' "$JOB" "$_mrc_limit" >&2
    fi
fi

# mrc_step SRUN_ARGS... : srun SRUN_ARGS (ending with mrcount and its arguments) with
# --checkpoint $CKPT added, in the background so that this shell can take signals while the step
# runs: SIGUSR1 stops the step (SIGTERM to its tasks) and requeues the job; SIGTERM stops it and
# ends the job. Returns the step's status (a requeue kills this script first).
mrc_step() {
    local args=("$@") pid rc=0 stopping=0 cancelled=0
    if [ "$CKPT" != none ]; then
        args+=(--checkpoint "$CKPT")
    fi
    _mrc_usr1() {
        if [ "$MRC_REQUEUE" = 0 ]; then
            printf '%s: SIGUSR1 ignored (time limit under 3 minutes): the step goes on\n' "$JOB" >&2
            return 0
        fi
        stopping=1
        printf '%s: SIGUSR1 (the time limit is near): the step writes its checkpoint and stops\n' "$JOB" >&2
        # the job's steps, not this batch shell; else srun itself, which forwards it
        scancel --signal=TERM "$SLURM_JOB_ID" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true
    }
    _mrc_term() {
        cancelled=1
        printf '%s: SIGTERM (%s): the step stops; the job is not requeued\n' "$JOB" \
            "$([ "$MRC_REQUEUE" = 1 ] && echo cancelled || echo 'cancelled, or the time limit')" >&2
        kill -TERM "$pid" 2>/dev/null || true
    }
    trap _mrc_usr1 USR1
    trap _mrc_term TERM
    srun "${args[@]}" &
    pid=$!
    # wait returns early (status > 128) when a trapped signal arrives; wait again until srun ends
    while :; do
        wait "$pid" && rc=0 || rc=$?
        kill -0 "$pid" 2>/dev/null || break
    done
    trap - USR1 TERM
    if [ "$rc" != 0 ] && [ "$CKPT" != none ] && [ -d "$CKPT" ] &&
        { [ "$stopping" = 0 ] || [ "$cancelled" = 1 ]; }; then
        # a cancelled or failed step: its work stays for a resubmission (a new job, a new directory)
        printf '%s: step ended (status %s); its checkpoint stays in %s: to resume, resubmit with CKPT_DIR=%s (after fixing the cause of a failure); else remove it\n' \
            "$JOB" "$rc" "$CKPT" "$CKPT" >&2
        return "$rc"
    fi
    if [ "$stopping" = 1 ] && [ "$rc" != 0 ] && [ "$CKPT" != none ]; then
        if [ "${SLURM_RESTART_COUNT:-0}" -ge "$MRC_MAX_REQUEUES" ]; then
            printf '%s: stopped after %s requeues (MRC_MAX_REQUEUES); the checkpoint stays in %s: resubmit with CKPT_DIR=%s\n' \
                "$JOB" "${SLURM_RESTART_COUNT:-0}" "$CKPT" "$CKPT" >&2
            return "$rc"
        fi
        printf '%s: step stopped (status %s) with its checkpoint in %s; requeueing job %s\n' \
            "$JOB" "$rc" "$CKPT" "$SLURM_JOB_ID" >&2
        if scontrol requeue "$SLURM_JOB_ID"; then
            # the requeue ends this script; exiting first could end the job as FAILED instead
            sleep 300
        else
            printf '%s: scontrol requeue failed: resubmit with CKPT_DIR=%s\n' "$JOB" "$CKPT" >&2
        fi
    fi
    return "$rc"
}
