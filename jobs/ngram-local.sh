#!/usr/bin/env bash
# ngram-local.sh - the workstation ngram job: sum Google Books Ngram match counts per ngram over
# INPUTs (v2 exports, plain or .gz, per configs/ngram-v2.ini) with every core of this machine and
# print the 20 most frequent.
#
# usage: jobs/ngram-local.sh [MRCOUNT-OPTION...] [INPUT...]
#   With no arguments, counts a demo export (256 MiB of generated v2 1-gram data in 8 gzip files,
#   made once with gen_ngrams (the build's, or an installation's PREFIX/libexec/mrcount/) under
#   $MRC_DEMO_DIR, default /tmp/mrcount-demo).
#   For v3 data pass `--config configs/ngram-v3.ini` (the later --config wins).
#   Arguments are passed to mrcount after this job's defaults, so `--top 50` or `--fold-case`
#   override or add to them; INPUT is files, directories, globs or @list.txt.
# Launch: mpirun -np RANKS --map-by slot:PE=THREADS --bind-to core mrcount --threads THREADS,
#   with RANKS x THREADS = the cores of this machine (default RANKS=1, THREADS=cores/RANKS).
# Env: RANKS, THREADS; MRCOUNT (default: installed, PREFIX/bin/mrcount; in a checkout,
#   build/mrcount, configured and built if missing and none is on PATH; else mrcount on PATH);
#   OUT_DIR (default out/ in the checkout; installed, out/ in the current directory): gets
#   ngram.tsv and ngram.metrics.json, unless --output or --metrics name other files (the top 20
#   is then read from the --output named, or was written by mrcount with --output -);
#   MRC_DEMO_DIR, DEMO_SIZE_MIB (256); MRC_TIMEOUT (seconds, default 7200) bounds the run.
set -euo pipefail

JOB=ngram
JOB_ARGS=(--config "$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)/configs/ngram-v2.ini")
TITLE="Most frequent ngrams (match count, ngram):"
DEMO_NAME=ngram-v2
DEMO_TOOL=gen_ngrams
DEMO_ARGS=(--format v2 --files 8 --gzip)
DEMO_WHAT="of v2 1-grams in 8 .gz files"
# shellcheck source=jobs/local.bash
source "$(dirname "${BASH_SOURCE[0]}")/local.bash" "$@"
