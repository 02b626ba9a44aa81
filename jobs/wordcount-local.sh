#!/usr/bin/env bash
# wordcount-local.sh - the workstation job: count the words of INPUTs with every core of this
# machine and print the 20 most frequent.
#
# usage: jobs/wordcount-local.sh [MRCOUNT-OPTION...] [INPUT...]
#   With no arguments, counts a demo corpus (256 MiB of generated English-like text in 16 files,
#   made once with gen_corpus (the build's, or an installation's PREFIX/libexec/mrcount/) under
#   $MRC_DEMO_DIR, default /tmp/mrcount-demo).
#   Arguments are passed to mrcount after this job's defaults, so `--top 50` or `--fold-case`
#   override or add to them; INPUT is files, directories, globs or @list.txt.
# Launch: mpirun -np RANKS --map-by slot:PE=THREADS --bind-to core mrcount --threads THREADS,
#   with RANKS x THREADS = the cores of this machine (default RANKS=1, THREADS=cores/RANKS).
# Env: RANKS, THREADS; MRCOUNT (default: installed, PREFIX/bin/mrcount; in a checkout,
#   build/mrcount, configured and built if missing and none is on PATH; else mrcount on PATH);
#   OUT_DIR (default out/ in the checkout; installed, out/ in the current directory): gets
#   wordcount.tsv and wordcount.metrics.json, unless --output or --metrics name other files
#   (the top 20 is then read from the --output named, or was written by mrcount with
#   --output -);
#   MRC_DEMO_DIR, DEMO_SIZE_MIB (256); MRC_TIMEOUT (seconds, default 7200) bounds the run.
set -euo pipefail

JOB=wordcount
JOB_ARGS=()
TITLE="Most frequent words (count, word):"
DEMO_NAME=corpus
DEMO_TOOL=gen_corpus
DEMO_ARGS=(--files 16)
DEMO_WHAT="of English-like text in 16 files"
# shellcheck source=jobs/local.bash
source "$(dirname "${BASH_SOURCE[0]}")/local.bash" "$@"
