#!/usr/bin/env bash
# cluster.sh - a throwaway one-node Slurm cluster for the tests: munged, slurmctld and slurmd
# from Debian's slurm-wlm and munge, started by hand (no systemd), everything (config, key,
# sockets, spool, logs, pid files) under one directory, on free TCP ports, as root.
#
# usage: tests/slurm/cluster.sh up DIR          start; returns when the node is IDLE
#        tests/slurm/cluster.sh down DIR        cancel the jobs, stop the daemons DIR started
#        tests/slurm/cluster.sh wait DIR JOBID [SECONDS]
#                                               wait for a job (or a whole array) to end; exit 0
#                                               only if every task ended COMPLETED with 0:0
#        tests/slurm/cluster.sh logs DIR        the tails of the daemons' logs (for a failure)
# Clients need SLURM_CONF=DIR/slurm.conf (`source DIR/env.sh` sets it).
# What this relies on (Slurm 22.05, Open MPI 4.1, Debian 12):
# - the node line is exactly what `slurmd -C` prints, or the node registers INVALID and drains;
# - MpiDefault=pmix: with Debian's Open MPI, srun's pmi2 fails in MPI_Init;
# - EnforcePartLimits=ALL: a request the node cannot hold fails at sbatch, never pends forever;
# - `down` only signals processes whose command line names DIR, so it never stops a cluster
#   that belongs to someone else, and it is safe to call twice or after a failed `up`.
set -uo pipefail

say() { printf 'cluster: %s\n' "$*" >&2; }
die() {
    say "error: $*"
    exit 1
}

# paths DIR: the cluster's files.
paths() {
    [ -n "${1:-}" ] || die "missing DIR"
    DIR=$(realpath -m -- "$1")
    CONF=$DIR/slurm.conf
    SOCK=$DIR/munge/socket
    export SLURM_CONF=$CONF
}

# ours PIDFILE NAME: the pid in PIDFILE if it is a live NAME process started for DIR.
ours() {
    local pid
    [ -r "$1" ] || return 1
    pid=$(tr -dc '0-9' 2>/dev/null <"$1") || return 1
    [ -n "$pid" ] && [ -r "/proc/$pid/cmdline" ] || return 1
    [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = "$2" ] || return 1
    [ "$(awk '{ print $3 }' "/proc/$pid/stat" 2>/dev/null)" != Z ] || return 1
    tr '\0' ' ' <"/proc/$pid/cmdline" | grep -F -- "$DIR" >/dev/null || return 1
    echo "$pid"
}

# until_true SECONDS CMD...: poll CMD every 0.2 s; fail after SECONDS.
until_true() {
    local end=$((SECONDS + $1))
    shift
    until "$@" >/dev/null 2>&1; do
        [ "$SECONDS" -lt "$end" ] || return 1
        sleep 0.2
    done
}

# in_use PORT: a TCP socket of any state has it as its local port (a listener, or one end of a
# connection: Open MPI's TCP connections of a test running beside this one take such ports).
in_use() { ss -Htan "sport = :$1" 2>/dev/null | grep -q .; }

# free_port: a TCP port no socket uses, below the kernel's ephemeral range, where the ports of
# outgoing connections come from (a port of 20000-40000 once collided with one: slurmd failed
# with "Address already in use" while MPI tests ran beside it).
free_port() {
    local p lo=32768 hi
    read -r lo _ </proc/sys/net/ipv4/ip_local_port_range 2>/dev/null || lo=32768
    hi=$((lo - 1))
    [ "$hi" -ge 11000 ] || die "the ephemeral port range starts at $lo: no room below it"
    for p in $(shuf -i 10000-"$hi" -n 50); do
        in_use "$p" || {
            echo "$p"
            return 0
        }
    done
    die "no free TCP port found"
}

node_state() {
    timeout 10 scontrol -o show node 2>/dev/null | grep -o 'State=[A-Z_+*]*' | head -1 | cut -d= -f2
}

cmd_up() {
    paths "$1"
    [ "$(id -u)" = 0 ] || die "must run as root (SlurmUser=root)"
    local c
    for c in munged munge unmunge slurmctld slurmd scontrol sbatch ss; do
        command -v "$c" >/dev/null || die "$c not found (apt-get install slurm-wlm munge)"
    done
    [ "${#SOCK}" -lt 100 ] || die "DIR too long for a unix socket path: $SOCK"
    mkdir -p "$DIR/munge" "$DIR/state" "$DIR/spool" "$DIR/log" || die "cannot create $DIR"
    chmod 755 "$DIR" "$DIR/munge" # munged checks every directory above its socket

    # munge: a fresh key, its own socket
    head -c 1024 /dev/urandom >"$DIR/munge/key" && chmod 400 "$DIR/munge/key" || die "munge key"
    timeout 20 munged --key-file="$DIR/munge/key" --socket="$SOCK" --pid-file="$DIR/munge/pid" \
        --log-file="$DIR/log/munged.log" --seed-file="$DIR/munge/seed" ||
        die "munged did not start: $(tail -2 "$DIR/log/munged.log" 2>/dev/null)"
    until_true 15 bash -c "munge -S '$SOCK' -n | unmunge -S '$SOCK'" || die "munge does not answer on $SOCK"

    local node ctld_port slurmd_port
    node=$(timeout 30 slurmd -C 2>/dev/null | grep -m1 '^NodeName=') || die "slurmd -C failed"
    ctld_port=$(free_port)
    slurmd_port=$(free_port)
    [ "$ctld_port" != "$slurmd_port" ] || slurmd_port=$((ctld_port + 1))
    cat >"$CONF" <<EOF
# written by tests/slurm/cluster.sh for a test run; removed with the directory
ClusterName=mrctest
SlurmctldHost=$(hostname -s)(127.0.0.1)
SlurmUser=root
SlurmdUser=root
SlurmctldPort=$ctld_port
SlurmdPort=$slurmd_port
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$SOCK
StateSaveLocation=$DIR/state
SlurmdSpoolDir=$DIR/spool
SlurmctldPidFile=$DIR/slurmctld.pid
SlurmdPidFile=$DIR/slurmd.pid
SlurmctldLogFile=$DIR/log/slurmctld.log
SlurmdLogFile=$DIR/log/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/affinity
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
SchedulerType=sched/backfill
SchedulerParameters=batch_sched_delay=0,sched_min_interval=0
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
MpiDefault=pmix
EnforcePartLimits=ALL
MailProg=/bin/true
ReturnToService=2
InactiveLimit=0
MinJobAge=600
KillWait=5
Waittime=0
$node NodeAddr=127.0.0.1 State=UNKNOWN
PartitionName=debug Nodes=ALL Default=YES MaxTime=INFINITE State=UP OverSubscribe=NO
EOF
    printf 'export SLURM_CONF=%q\n' "$CONF" >"$DIR/env.sh"

    # -c: no state from an earlier run; both daemons fork themselves
    timeout 30 slurmctld -f "$CONF" -c || die "slurmctld did not start: $(tail -3 "$DIR/log/slurmctld.log" 2>/dev/null)"
    until_true 20 timeout 5 scontrol ping || die "slurmctld does not answer: $(tail -3 "$DIR/log/slurmctld.log" 2>/dev/null)"
    timeout 30 slurmd -f "$CONF" || die "slurmd did not start: $(tail -3 "$DIR/log/slurmd.log" 2>/dev/null)"

    local end=$((SECONDS + ${MRC_SLURM_UP_TIMEOUT:-60})) state name resumed=0
    while state=$(node_state) && [[ $state != IDLE* ]]; do
        if [[ $state =~ DOWN|DRAIN|INVAL ]] && [ "$resumed" = 0 ]; then
            name=${node%% *}
            timeout 10 scontrol update nodename="${name#NodeName=}" state=resume 2>/dev/null
            resumed=1
        fi
        [ "$SECONDS" -lt "$end" ] || die "node not IDLE (state '$state'): $(tail -3 "$DIR/log/slurmd.log" 2>/dev/null)"
        sleep 0.3
    done
    say "up in $DIR (slurmctld :$ctld_port, slurmd :$slurmd_port)"
}

# stop PIDFILE NAME: TERM, then KILL after 15 s; only our own process.
stop() {
    local pid i
    pid=$(ours "$1" "$2") || return 0
    kill -TERM "$pid" 2>/dev/null
    for ((i = 0; i < 150; i++)); do
        ours "$1" "$2" >/dev/null || return 0
        sleep 0.1
    done
    say "$2 ($pid) ignored SIGTERM; killing it"
    kill -KILL "$pid" 2>/dev/null
}

cmd_down() {
    paths "$1"
    [ -d "$DIR" ] || return 0
    if ours "$DIR/slurmctld.pid" slurmctld >/dev/null; then
        timeout 10 scancel --full --quiet --user=root 2>/dev/null
        until_true 20 bash -c '[ -z "$(timeout 5 squeue -h -o %i 2>/dev/null)" ]' ||
            say "jobs still listed; stopping anyway"
    fi
    stop "$DIR/slurmd.pid" slurmd
    stop "$DIR/slurmctld.pid" slurmctld
    stop "$DIR/munge/pid" munged
    say "down: $DIR"
}

cmd_wait() {
    paths "$1"
    local id=${2:?JOBID} limit=${3:-300} end info states codes
    end=$((SECONDS + limit))
    while :; do
        info=$(timeout 10 scontrol -o show job "$id" 2>&1)
        states=$(grep -o 'JobState=[A-Z_]*' <<<"$info" | cut -d= -f2 | sort -u | tr '\n' ' ')
        [[ -n $states && ! $states =~ PENDING|RUNNING|CONFIGURING|COMPLETING|SUSPENDED|REQUEUE|RESIZING|STAGE_OUT|SIGNALING ]] && break
        if [ "$SECONDS" -ge "$end" ]; then
            say "job $id still '$states' after ${limit}s; cancelling it"
            timeout 10 scancel "$id"
            return 124
        fi
        sleep 0.5
    done
    codes=$(grep -o 'ExitCode=[0-9:]*' <<<"$info" | cut -d= -f2 | sort -u | tr '\n' ' ')
    say "job $id: $states(exit $codes)"
    [ "$states" = "COMPLETED " ] && [ "$codes" = "0:0 " ]
}

cmd_logs() {
    paths "$1"
    local f
    for f in "$DIR"/log/*.log; do
        [ -f "$f" ] && { echo "--- $f"; tail -n 20 "$f"; }
    done
}

case "${1:-}" in
up | down | logs) "cmd_$1" "${2:-}" ;;
wait) cmd_wait "${2:-}" "${3:-}" "${4:-}" ;;
*)
    echo "usage: $0 up DIR | down DIR | wait DIR JOBID [SECONDS] | logs DIR" >&2
    exit 2
    ;;
esac
