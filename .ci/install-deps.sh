#!/usr/bin/env bash
# install-deps.sh - the Debian/Ubuntu packages mrcount needs to build, test and run its demo.
# Used by .ci/run and by the README's fresh-machine instructions. Needs root (or sudo).
# Env: MRC_DEPS_EXTRA="pkg ..." adds packages; MRC_DEPS_BENCH=1 adds the benchmark inputs' sources.
set -euo pipefail

packages=(
    build-essential cmake pkg-config              # toolchain
    libopenmpi-dev openmpi-bin                    # MPI (Open MPI 4.1 on Debian 12)
    libhwloc-dev hwloc                            # core placement
    zlib1g-dev libxxhash-dev libinih-dev          # .gz inputs, hashing, --config FILE.ini
    libutf8proc-dev                               # --tokens unicode (Unicode data)
    libisal-dev                                   # .gz inputs, fast path (ISA-L igzip)
    libzstd-dev liblzma-dev libbz2-dev            # .zst, .xz and .bz2 inputs
    libcmocka-dev                                 # unit tests
    perl mawk python3                             # integration-test oracles and baselines
    strace                                        # --sync test: the fsync calls
    bzip2 xz-utils zstd lz4                       # compressed inputs of the tests (lz4: refused)
    groff-base man-db                             # the man page's test renders it (groff, man -l)
    manpages-fr manpages-de manpages-ru manpages-el  # real UTF-8 text for the Unicode oracle test
    slurm-wlm munge                               # Slurm batch jobs, tested on a one-node cluster
    gnuplot-nox                                   # scaling plots (jobs/scaling)
    clang                                         # ThreadSanitizer build in CI
    valgrind                                      # memcheck runs in CI
)
if [ "${MRC_DEPS_BENCH:-0}" = 1 ]; then
    packages+=(hyperfine dict-gcide dict-foldoc dict-jargon bible-kjv)
fi
if [ -n "${MRC_DEPS_EXTRA:-}" ]; then
    read -r -a extra <<<"$MRC_DEPS_EXTRA"
    packages+=("${extra[@]}")
fi

sudo=()
if [ "$(id -u)" != 0 ]; then
    command -v sudo >/dev/null || { echo "install-deps.sh: run as root or install sudo" >&2; exit 1; }
    sudo=(sudo)
fi

echo "==> apt-get install ${packages[*]}"
"${sudo[@]}" apt-get update
"${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${packages[@]}"
