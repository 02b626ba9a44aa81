# local.bash - the body of the workstation jobs (sourced by jobs/*-local.sh, never run): find
# mrcount (jobs/locate.bash: $MRCOUNT, an installation's own, the checkout's build, PATH; in a
# checkout, build what is missing), make the demo input once when no INPUT is given, fill this
# machine's cores with ranks x threads under mpirun, run mrcount bounded in time, and print the
# top 20. It runs from a checkout or from an installation (PREFIX/share/mrcount/jobs).
# The job script sets, before sourcing: JOB (output names), JOB_ARGS (mrcount options of the job),
# TITLE (heading of the top 20), DEMO_NAME (directory under $MRC_DEMO_DIR), DEMO_TOOL (generator:
# build/tests/ of a checkout, PREFIX/libexec/mrcount/ installed), DEMO_ARGS (its options after
# OUTDIR SIZE_MiB), DEMO_WHAT (for the message).
# shellcheck shell=bash disable=SC2154 # the job variables above are set by the sourcing script
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# shellcheck source=jobs/locate.bash
source "$ROOT/jobs/locate.bash"
mrc_locate "$ROOT"
BUILD=$MRC_BUILD
MRC=${MRC_BIN:-$BUILD/mrcount} # none yet: a checkout builds its own
DEMO_DIR=${MRC_DEMO_DIR:-/tmp/mrcount-demo}
DEMO_SIZE_MIB=${DEMO_SIZE_MIB:-256}
if [ "$MRC_INSTALLED" = 1 ]; then
    OUT_DIR=${OUT_DIR:-${PWD%/}/out} # not into the installation
else
    OUT_DIR=${OUT_DIR:-$ROOT/out}
fi
LIMIT=${MRC_TIMEOUT:-7200}

say() { printf '%s-local: %s\n' "$JOB" "$*" >&2; }
die() {
    say "$*"
    exit 1
}
positive() { [[ $2 =~ ^[1-9][0-9]*$ ]] || die "$1 must be a positive integer, not '$2'"; }

# A relative --config that names no file here is taken beside jobs/ (configs/ngram-v3.ini), as
# the job's own config is, so that it works from any directory.
beside_root() {
    if [[ $1 != /* ]] && [ ! -e "$1" ] && [ -e "$ROOT/$1" ]; then echo "$ROOT/$1"; else echo "$1"; fi
}
# The result and the metrics go to OUT_DIR unless the arguments name them (the top 20 is then
# printed from the file named; nothing more when it is standard output or not a file).
result=$OUT_DIR/$JOB.tsv
metrics=$OUT_DIR/$JOB.metrics.json
args=()
while [ $# -gt 0 ]; do
    case $1 in
    --) break ;; # INPUTs follow
    --config | -c)
        args+=("$1")
        [ $# -lt 2 ] || { args+=("$(beside_root "$2")") && shift; }
        ;;
    --config=*) args+=("--config=$(beside_root "${1#--config=}")") ;;
    --output | -o | --metrics | -m)
        [ $# -ge 2 ] || die "option '$1' requires an argument"
        if [[ $1 == --output || $1 == -o ]]; then result=$2; else metrics=$2; fi
        shift
        ;;
    --output=*) result=${1#--output=} ;;
    --metrics=*) metrics=${1#--metrics=} ;;
    -o?*) result=${1#-o} ;;
    -m?*) metrics=${1#-m} ;;
    -[qhV]?*) # short flags run together, maybe ending in an option and its value (-qo FILE)
        flags=${1#-}
        flags=${flags%%[!qhV]*}
        for ((i = 0; i < ${#flags}; i++)); do args+=("-${flags:i:1}"); done
        rest=${1#-"$flags"}
        if [ -n "$rest" ]; then # taken again alone: -oFILE, -o FILE, -t4, -c FILE
            shift
            set -- "-$rest" "$@"
            continue
        fi
        ;;
    *) args+=("$1") ;;
    esac
    shift
done
set -- "${args[@]}" "$@"

if [ "$(id -u)" = 0 ]; then # Open MPI refuses root unless told
    export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
fi
command -v mpirun >/dev/null || die "mpirun not found (apt-get install openmpi-bin, or .ci/install-deps.sh)"
# (One machine needs only shared memory: mrcount itself picks Open MPI's ob1 PML when all its
# ranks are on one node and OMPI_MCA_pml is unset, sparing MPI_Init's fabric probe.)

# The binary (and the corpus tool for the demo), built once if this checkout has no build yet.
need_build=()
[ -x "$MRC" ] || need_build+=(mrcount)
[ $# -gt 0 ] || [ -d "$DEMO_DIR/$DEMO_NAME" ] || [ -x "$MRC_TOOLS/$DEMO_TOOL" ] || need_build+=("$DEMO_TOOL")
if [ "${#need_build[@]}" -gt 0 ]; then
    [ -z "${MRCOUNT:-}" ] || [ -x "$MRC" ] || die "MRCOUNT=$MRC is not an executable"
    if [ "$MRC_INSTALLED" = 1 ]; then
        [ -x "$MRC" ] || die "no mrcount in this installation ($MRC) nor on PATH (set MRCOUNT)"
        die "no $DEMO_TOOL in $MRC_TOOLS to make the demo input: name INPUTs"
    fi
    say "building ${need_build[*]} (Release) in $BUILD"
    [ -f "$BUILD/CMakeCache.txt" ] || cmake -S "$ROOT" -B "$BUILD" -DCMAKE_BUILD_TYPE=Release >/dev/null
    cmake --build "$BUILD" -j "$(nproc)" --target "${need_build[@]}" >/dev/null
fi

inputs=("$@")
if [ $# -eq 0 ]; then
    corpus=$DEMO_DIR/$DEMO_NAME
    if [ ! -d "$corpus" ]; then
        say "making the demo input: $DEMO_SIZE_MIB MiB $DEMO_WHAT under $corpus"
        mkdir -p "$DEMO_DIR"
        part=$(mktemp -d "$DEMO_DIR/corpus.tmp.XXXXXX")
        chmod 755 "$part" # mktemp makes it private; the corpus is not
        trap 'rm -rf "$part"' EXIT
        "$MRC_TOOLS/$DEMO_TOOL" "$part" "$DEMO_SIZE_MIB" "${DEMO_ARGS[@]}"
        mv -T "$part" "$corpus" 2>/dev/null || rm -rf "$part" # another run may have won the race
        trap - EXIT
    fi
    inputs=("$corpus")
fi

# Ranks x threads: fill the cores of this machine (the cpuset we may use), one thread per core.
cores=$(hwloc-calc --number-of core all 2>/dev/null || true)
[[ $cores =~ ^[1-9][0-9]*$ ]] || cores=$(nproc)
ranks=${RANKS:-1}
positive RANKS "$ranks"
threads=${THREADS:-$((cores / ranks > 0 ? cores / ranks : 1))}
positive THREADS "$threads"
if [ $((ranks * threads)) -le "$cores" ]; then
    launch=(mpirun -np "$ranks" --map-by "slot:PE=$threads" --bind-to core)
else
    say "warning: $ranks ranks x $threads threads > $cores cores: oversubscribing, unbound"
    launch=(mpirun -np "$ranks" --oversubscribe --bind-to none)
fi

mkdir -p "$OUT_DIR"
cmd=("${launch[@]}" "$MRC" "${JOB_ARGS[@]}" --threads "$threads" --top 20 --output "$result"
    --metrics "$metrics" "${inputs[@]}")
[ "$MRC_BIN_FROM" != PATH ] || say "using the mrcount on PATH: $MRC"
say "$ranks rank(s) x $threads thread(s) on $cores cores"
say "running: ${cmd[*]}"
rc=0
timeout -k 30 "$LIMIT" "${cmd[@]}" || rc=$?
case $rc in
0) ;;
124 | 137) die "stopped after ${LIMIT}s (MRC_TIMEOUT)" ;;
*)
    say "mrcount failed (exit status $rc)"
    exit "$rc"
    ;;
esac

if [ "$result" != - ] && [ -f "$result" ]; then
    echo
    echo "$TITLE"
    awk -F '\t' '{ printf "%12d  %s\n", $NF, $1 }' "$result"
    echo
fi
say "result:  $result"
say "metrics: $metrics"
