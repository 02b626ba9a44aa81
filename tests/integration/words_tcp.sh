#!/usr/bin/env bash
# words_tcp.sh - the combine over TCP instead of shared memory (what ranks on different nodes
# use): np 2 with `--mca btl tcp,self`, both combines, against the perl oracle.
# shellcheck source-path=SCRIPTDIR source=lib.bash
source "$(dirname "$0")/lib.bash"

gen_corpus "$T/data" 4 --files 4 --seed 31
oracle "$T"/data/*.txt >"$T/expected.tsv"

# Open MPI's TCP transport skips the loopback interface by default; in a container with no other
# network interface, allow it (both ranks are on this host anyway).
tcp_mca=(--mca btl "tcp,self")
other_ifaces=$(find /sys/class/net -mindepth 1 -maxdepth 1 ! -name lo 2>/dev/null | wc -l)
[ "$other_ifaces" -gt 0 ] || tcp_mca+=(--mca btl_tcp_if_include lo)

# MRC_MPIRUN ends in -np, so the MCA arguments go between the launcher and -np.
tcp_run() {
    RC=0
    timeout -k 10 "$MRC_TIMEOUT" "$MPIEXEC" --oversubscribe "${tcp_mca[@]}" -np 2 \
        "$MRCOUNT" --quiet --output "$T/out.tsv" "$@" "$T/data" \
        >"$T/stdout" 2>"$T/stderr" </dev/null || RC=$?
    case $RC in 124 | 137) fail "timed out: --mca btl tcp,self -np 2 mrcount $*" ;; esac
    if [ "$RC" != 0 ]; then
        sed 's/^/  stderr: /' "$T/stderr" | head -40 >&2
        fail "exit status $RC: --mca btl tcp,self -np 2 mrcount $*"
    fi
    assert_same "$T/expected.tsv" "$T/out.tsv" "btl tcp,self np 2 $*"
    log "ok: btl tcp,self np 2 $*"
}

tcp_run --threads 1
tcp_run --threads 2 --chunk-size 256k --reduce reduce
tcp_run --threads 1 --chunk-size 64k --reduce auto
log "PASS"
