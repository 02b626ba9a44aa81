# slurm.bash - the common part of the Slurm batch jobs (sourced by jobs/*.sbatch, never run):
# find the binary, check the config and the inputs, pass the CPUs per task on to srun, make the
# job's own output directory, and log the plan.
# The job script sets, before sourcing: JOB (a short name for the directory), CONFIG (an INI
# file, absolute or relative to MRC_ROOT), INPUTS (an array of mrcount INPUTs).
# It gets: MRC_ROOT, MRCOUNT, CONFIG (absolute), THREADS (per rank), OUT (the job's directory).
# MRC_ROOT is the directory above this file's jobs/, with configs/ beside it: a checkout, or
# PREFIX/share/mrcount of an installation. sbatch runs a copy of the job script from its spool
# directory, so the job script sources this file from $MRC_ROOT (`module load mrcount` sets it),
# else from the directory sbatch was called from (a checkout), else from beside the mrcount on
# PATH (PATH/../share/mrcount).
# Env overrides: MRCOUNT (default, the first found: the installation's PREFIX/bin/mrcount, the
# checkout's build/mrcount ($MRC_BUILD_DIR), the mrcount on PATH), OUT_DIR (where the job's
# directory goes; default the submit directory).
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
[ "${#INPUTS[@]}" -gt 0 ] || die "no INPUT given: sbatch ${0##*/} INPUT... (files, directories, globs, @list.txt)"

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
