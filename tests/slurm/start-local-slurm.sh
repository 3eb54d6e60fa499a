#!/usr/bin/env bash
# Install (apt: slurm-wlm, munge), configure and start a single-node SLURM cluster on localhost
# with fake GPUs, for the SLURM end-to-end tests. Needs root. Idempotent: packages are installed
# once, configs rewritten, running daemons left alone. Daemons bind to loopback only; their pids
# are kept under $LOCAL_SLURM_DIR/run for stop-local-slurm.sh.
#
# Partitions match profiles/slurm: "cpu" (default) and "gpu"; the node has gres gpu:fake:N whose
# device files are links to /dev/null (SLURM insists on device files for GPU GRES).
set -euo pipefail

LOCAL_SLURM_DIR=${LOCAL_SLURM_DIR:-/var/lib/pvsflow-slurm}
FAKE_GPUS=${FAKE_GPUS:-2}
NODE_CPUS=${NODE_CPUS:-$(nproc)}
mem_total_mb=$(awk '/^MemTotal:/ {print int($2 / 1024)}' /proc/meminfo)
NODE_MEM_MB=${NODE_MEM_MB:-$((mem_total_mb > 3072 ? mem_total_mb - 2048 : 1024))}
D=$LOCAL_SLURM_DIR
RUN=$D/run
LOG=$D/log
ETC=/etc/slurm
NODE=localhost

say() { echo "[local-slurm] $*"; }
die() { echo "[local-slurm] ERROR: $*" >&2; exit 1; }
[ "$(id -u)" = 0 ] || die "must run as root"

missing=()
for package in slurm-wlm munge; do
    dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" || missing+=("$package")
done
if [ ${#missing[@]} -gt 0 ]; then
    say "installing ${missing[*]}"
    # Keep the packages' init scripts from starting daemons during installation.
    policy_created=0
    if [ ! -e /usr/sbin/policy-rc.d ]; then
        printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d
        policy_created=1
    fi
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" > /dev/null
    [ "$policy_created" = 1 ] && rm -f /usr/sbin/policy-rc.d
fi

# Daemons run in a private UTS namespace named "localhost" so that, with NoInAddrAny, they bind
# 127.0.0.1 whatever the machine's hostname resolves to.
if unshare --uts true 2> /dev/null; then
    start_daemon() { unshare --uts -- sh -c "hostname $NODE && exec $*"; }
else
    start_daemon() { sh -c "exec $*"; }
fi
BIND_ADDR=127.0.0.1

mkdir -p "$D/state" "$D/spool" "$LOG" "$RUN" "$D/dev" "$ETC"
rm -f "$D"/dev/fakegpu*
for ((i = 0; i < FAKE_GPUS; i++)); do ln -s /dev/null "$D/dev/fakegpu$i"; done

tmp=$(mktemp -d)
cat > "$tmp/slurm.conf" << CONF
# written by pvsflow tests/slurm/start-local-slurm.sh
ClusterName=pvsflow
SlurmctldHost=$NODE($BIND_ADDR)
CommunicationParameters=NoCtldInAddrAny,NoInAddrAny
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
SlurmctldPort=6817
SlurmdPort=6818
StateSaveLocation=$D/state
SlurmdSpoolDir=$D/spool
SlurmctldPidFile=$RUN/slurmctld.pid
SlurmdPidFile=$RUN/slurmd.pid
SlurmctldLogFile=$LOG/slurmctld.log
SlurmdLogFile=$LOG/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
MpiDefault=none
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
JobCompType=jobcomp/none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU_Memory
SlurmdParameters=config_overrides
DefMemPerCPU=512
ReturnToService=2
# Finished jobs stay visible to squeue (the plugin's status check) for 5 minutes.
MinJobAge=300
KillWait=5
GresTypes=gpu
NodeName=$NODE NodeAddr=$BIND_ADDR NodeHostname=$NODE CPUs=$NODE_CPUS RealMemory=$NODE_MEM_MB Gres=gpu:fake:$FAKE_GPUS State=UNKNOWN
PartitionName=cpu Nodes=$NODE Default=YES MaxTime=INFINITE State=UP
PartitionName=gpu Nodes=$NODE Default=NO MaxTime=INFINITE State=UP
CONF
cat > "$tmp/gres.conf" << CONF
AutoDetect=off
NodeName=$NODE Name=gpu Type=fake File=$D/dev/fakegpu[0-$((FAKE_GPUS - 1))]
CONF
cat > "$tmp/cgroup.conf" << CONF
CgroupPlugin=autodetect
IgnoreSystemdOnFailure=yes
CONF

alive() { # NAME PIDFILE: the pid in PIDFILE is a live process called NAME
    local pid
    [ -s "$2" ] && pid=$(cat "$2") && [ -r "/proc/$pid/comm" ] && [ "$(cat "/proc/$pid/comm")" = "$1" ]
}
stop_daemon() { # NAME PIDFILE
    alive "$1" "$2" || return 0
    local pid
    pid=$(cat "$2")
    kill -TERM "$pid" 2> /dev/null || true
    for _ in $(seq 1 100); do [ -d "/proc/$pid" ] || break; sleep 0.1; done
    kill -KILL "$pid" 2> /dev/null || true
    rm -f "$2"
}
wait_for() { # SECONDS WHAT COMMAND...
    local seconds=$1 what=$2
    shift 2
    for ((i = 0; i < seconds * 5; i++)); do "$@" > /dev/null 2>&1 && return 0; sleep 0.2; done
    die "timed out waiting for $what (logs in $LOG)"
}

changed=0
for file in slurm.conf gres.conf cgroup.conf; do
    if ! cmp -s "$tmp/$file" "$ETC/$file"; then
        install -m 644 "$tmp/$file" "$ETC/$file"
        changed=1
    fi
done
rm -rf "$tmp"
if [ "$changed" = 1 ]; then # node and GRES definitions need real restarts
    stop_daemon slurmd "$RUN/slurmd.pid"
    stop_daemon slurmctld "$RUN/slurmctld.pid"
fi

[ -s /etc/munge/munge.key ] || mungekey --create --keyfile=/etc/munge/munge.key
chown munge:munge /etc/munge/munge.key && chmod 400 /etc/munge/munge.key
if ! (munge -n | unmunge) > /dev/null 2>&1; then
    mkdir -p /run/munge && chown munge:munge /run/munge
    runuser -u munge -- /usr/sbin/munged --pid-file=/run/munge/munged.pid
    wait_for 10 munged sh -c 'munge -n | unmunge'
    cp /run/munge/munged.pid "$RUN/munged.pid" # we started it, so we stop it
fi
if ! alive slurmctld "$RUN/slurmctld.pid"; then
    say "starting slurmctld"
    start_daemon /usr/sbin/slurmctld -c
    wait_for 30 slurmctld scontrol ping
fi
if ! alive slurmd "$RUN/slurmd.pid"; then
    say "starting slurmd"
    start_daemon /usr/sbin/slurmd -N "$NODE"
fi

resumed=0
for ((i = 0; i < 300; i++)); do
    state=$(sinfo -h -N -n "$NODE" -o '%T' 2> /dev/null | head -1 || true)
    case "$state" in
        idle | mixed | allocated | completing)
            say "ready: $(sinfo -h -N -n "$NODE" -o 'CPUs=%c Mem=%mMB Gres=%G' | head -1)"
            exit 0
            ;;
        *drain* | down*)
            [ "$resumed" = 0 ] && scontrol update NodeName="$NODE" State=RESUME 2> /dev/null || true
            resumed=1
            ;;
        inval*) die "node invalid: $(sinfo -h -N -o '%E')" ;;
    esac
    sleep 0.2
done
die "node $NODE not usable (state '$state')"
