#!/usr/bin/env bash
# Stop the cluster started by start-local-slurm.sh: cancel its jobs, then signal the daemons by
# the pids it recorded (nothing is killed by name).
set -uo pipefail
LOCAL_SLURM_DIR=${LOCAL_SLURM_DIR:-/var/lib/pvsflow-slurm}
RUN=$LOCAL_SLURM_DIR/run

alive() {
    local pid
    [ -s "$2" ] && pid=$(cat "$2") && [ -r "/proc/$pid/comm" ] && [ "$(cat "/proc/$pid/comm")" = "$1" ]
}
stop_daemon() {
    if ! alive "$1" "$2"; then rm -f "$2"; return 0; fi
    local pid
    pid=$(cat "$2")
    echo "[local-slurm] stopping $1 (pid $pid)"
    kill -TERM "$pid" 2> /dev/null || true
    for _ in $(seq 1 150); do [ -d "/proc/$pid" ] || break; sleep 0.1; done
    kill -KILL "$pid" 2> /dev/null || true
    rm -f "$2"
}

if alive slurmctld "$RUN/slurmctld.pid"; then
    jobs=$(squeue -h -o %i 2> /dev/null | tr '\n' ' ')
    if [ -n "${jobs// /}" ]; then
        # shellcheck disable=SC2086
        scancel $jobs 2> /dev/null || true
        for _ in $(seq 1 75); do
            [ -z "$(squeue -h -t running,completing -o %i 2> /dev/null)" ] && break
            sleep 0.2
        done
    fi
fi
stop_daemon slurmd "$RUN/slurmd.pid"
stop_daemon slurmctld "$RUN/slurmctld.pid"
stop_daemon munged "$RUN/munged.pid"
echo "[local-slurm] stopped"
