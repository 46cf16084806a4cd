#!/usr/bin/env bash
# Stop the cluster that tests/slurm/slurm-up.sh started under BASE: cancel
# its jobs (so no job's processes outlive it), then stop slurmd, slurmctld
# and munged by the PIDs in their pid files. Safe to run more than once.
#   tests/slurm/slurm-down.sh BASE
set -uo pipefail
BASE=${1:?usage: slurm-down.sh BASE}
conf=$BASE/etc/slurm.conf

alive() { kill -0 "$1" 2>/dev/null; }
pid_of() { [ -s "$1" ] && cat "$1"; }

# 1. jobs: cancel, and give their processes KillWait (5 s) and a bit to go
ctld=$(pid_of "$BASE/run/slurmctld.pid" || true)
if [ -f "$conf" ] && [ -n "$ctld" ] && alive "$ctld"; then
    jobs=$(SLURM_CONF=$conf squeue -h -o %i 2>/dev/null || true)
    if [ -n "$jobs" ]; then
        # shellcheck disable=SC2086  # one job id per word
        SLURM_CONF=$conf scancel $jobs 2>/dev/null
        for _ in $(seq 100); do
            [ -z "$(SLURM_CONF=$conf squeue -h -o %i 2>/dev/null)" ] && break
            sleep 0.1
        done
    fi
fi

# 2. daemons, newest first
for pf in "$BASE/run/slurmd.pid" "$BASE/run/slurmctld.pid" "$BASE/munge/munged.pid"; do
    pid=$(pid_of "$pf") || continue
    alive "$pid" || continue
    kill -TERM "$pid"
    for _ in $(seq 50); do alive "$pid" || break; sleep 0.1; done
    alive "$pid" && kill -KILL "$pid"
    echo "slurm-down: stopped $(basename "$pf" .pid) (pid $pid)" >&2
done
exit 0
