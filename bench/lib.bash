# lib.bash - what the benchmark scripts share (sourced by bench/bench-*.sh, never run): the
# repository and ../shared/bench paths, the common knobs, the tool check, building mrcount when
# missing, shell quoting for hyperfine, an mrcount command under mpirun, and the peak-memory pass.
# The sourcing script sets BENCH (its name, for messages) first.
# shellcheck shell=bash disable=SC2154,SC2034 # BENCH/names/cmds/tmp come from the sourcing script; RUNS, LIMIT are used by it
set -euo pipefail
export LC_ALL=C

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
SHARED_BENCH=$(cd "$ROOT" && cd "${MRC_SHARED:-../shared}/bench" && pwd) ||
    { echo "$BENCH: no ${MRC_SHARED:-../shared}/bench next to $ROOT (set MRC_SHARED)" >&2; exit 2; }
RUNS=${BENCH_RUNS:-3}
LIMIT=${BENCH_TIMEOUT:-3600}
MRC=${MRCOUNT:-$ROOT/build/mrcount}
if [ "$(id -u)" = 0 ]; then
    export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
fi

say() { printf '==> %s\n' "$*" >&2; }

# bench_need TOOL... : each tool is on PATH, or exit 2.
bench_need() {
    local tool
    for tool in "$@"; do
        command -v "$tool" >/dev/null || { echo "$BENCH: $tool not found" >&2; exit 2; }
    done
}

# bench_build TARGET... : a Release build of the targets in build/ when $MRC is missing.
bench_build() {
    [ ! -x "$MRC" ] || return 0
    [ -z "${MRCOUNT:-}" ] || { echo "$BENCH: MRCOUNT=$MRC is not executable" >&2; exit 2; }
    say "building $* (Release) in $ROOT/build"
    cmake -S "$ROOT" -B "$ROOT/build" -DCMAKE_BUILD_TYPE=Release >/dev/null
    cmake --build "$ROOT/build" -j "$(nproc)" --target "$@" >/dev/null
}

# bench_tool NAME : the path of the test tool NAME (tests/NAME.c, tests/bench/NAME.c), next to
# MRCOUNT (<build>/tests/NAME) or in build/tests, built there when it is in neither.
bench_tool() {
    local tool
    tool=$(dirname "$MRC")/tests/$1
    [ -x "$tool" ] || tool=$ROOT/build/tests/$1
    if [ ! -x "$tool" ]; then
        say "building $1 in $ROOT/build"
        [ -f "$ROOT/build/CMakeCache.txt" ] || cmake -S "$ROOT" -B "$ROOT/build" -DCMAKE_BUILD_TYPE=Release >/dev/null
        cmake --build "$ROOT/build" -j "$(nproc)" --target "$1" >/dev/null
    fi
    printf '%s' "$tool"
}

# bench_corpus DIR MIB : the English corpus of MIB MiB in DIR, made by make-corpus.sh when
# missing; its part*.txt files, sorted, in the array `files` (none: exit 1).
bench_corpus() {
    local dir=$1 mib=$2
    if [ ! -d "$dir" ]; then
        say "building the $mib MiB corpus in $dir (make-corpus.sh)"
        mkdir -p "$(dirname "$dir")"
        "$SHARED_BENCH/make-corpus.sh" "$dir" "$mib" >/dev/null
    fi
    mapfile -t files < <(find "$dir" -maxdepth 1 -type f -name 'part*.txt' | sort)
    [ "${#files[@]}" -gt 0 ] || { echo "$BENCH: no part*.txt in $dir" >&2; exit 1; }
}

# same_results [PREFIX] : every mrcount result among names ($tmp/NAME.tsv) equals the first one,
# whose name goes to `ref` (empty: no mrcount command); a difference goes to `checks` as a
# MISMATCH, after PREFIX.
same_results() {
    local n
    ref=""
    for n in "${names[@]}"; do
        [[ $n == mrc-* ]] || continue
        if [ -z "$ref" ]; then ref=$n; elif ! cmp -s "$tmp/$ref.tsv" "$tmp/$n.tsv"; then
            checks+=("MISMATCH: ${1:-}$n output differs from $ref"); fi
    done
}

q() { # shell-quote words for hyperfine / bash -c, space-separated
    local s
    s=$(printf '%q ' "$@")
    printf '%s' "${s% }"
}

# mrc_cmd NAME INPUTS MPIRUN-ARGS... -- MRCOUNT-ARGS... : the command line of one mrcount run,
# its result in $tmp/NAME.tsv; INPUTS is already quoted.
mrc_cmd() {
    local name=$1 in=$2 pre=() post=()
    shift 2
    while [ "$1" != -- ]; do pre+=("$1"); shift; done
    shift
    post=("$@")
    printf 'timeout %s mpirun %s %s --quiet --output %s %s' "$LIMIT" "$(q "${pre[@]}")" \
        "$(q "$MRC" "${post[@]}")" "$(q "$tmp/$name.tsv")" "$in"
}

# peak_memory : each command of names/cmds once under peakmem.py; its stdout in
# $tmp/NAME.stdout, its report in $tmp/NAME.peak; a failed command ends the benchmark.
peak_memory() {
    local i
    say "peak memory (peakmem.py, one run each)"
    for i in "${!names[@]}"; do
        python3 "$SHARED_BENCH/peakmem.py" -- bash -c "${cmds[$i]}" >"$tmp/${names[$i]}.stdout" 2>"$tmp/${names[$i]}.peak" ||
            { cat "$tmp/${names[$i]}.peak" >&2; echo "$BENCH: ${names[$i]} failed" >&2; exit 1; }
        grep '^peakmem:' "$tmp/${names[$i]}.peak" | sed "s/^/  ${names[$i]}: /" >&2
    done
}

# time_all OUT : every command of names/cmds in one hyperfine run, side by side: OUT.md, OUT.json.
time_all() {
    local i hf=()
    for i in "${!names[@]}"; do hf+=(-n "${names[$i]}" "${cmds[$i]}"); done
    hyperfine --shell=bash --runs "$RUNS" --export-markdown "$1.md" --export-json "$1.json" "${hf[@]}"
}

# summary_end OUT [FROM TO] : the commands (FROM shown as TO in each) and the checks appended to
# OUT.summary.md, which is printed; exits 1 when a check says MISMATCH.
summary_end() {
    local out=$1 from=${2:-} to=${3:-} i c
    {
        echo
        echo "Commands:"
        for i in "${!names[@]}"; do
            c=${cmds[$i]}
            [ -z "$from" ] || c=${c//"$from"/$to}
            echo "- ${names[$i]}: \`$c\`"
        done
        echo
        for c in "${checks[@]}"; do echo "- $c"; done
    } >>"$out.summary.md"
    echo
    cat "$out.summary.md"
    say "results: $out.md $out.json $out.summary.md"
    if printf '%s\n' "${checks[@]}" | grep -q MISMATCH; then
        exit 1
    fi
}
