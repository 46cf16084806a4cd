#!/usr/bin/env bash
# Bring up a throwaway one-node Slurm cluster (slurmctld + slurmd + munged)
# under BASE, for tests: Debian 12's Slurm 22.05, no systemd, no cgroups,
# no accounting. Needs root (the daemons run as root, munged as munge).
#
#   tests/slurm/slurm-up.sh BASE     then: source BASE/env (sets SLURM_CONF)
#   tests/slurm/slurm-down.sh BASE   stops what this started
#
# Installs slurmctld, slurmd, slurm-client and munge with apt-get when they
# are missing. The node is sized from nproc and /proc/meminfo (a node
# configured bigger than the machine would be drained), but has at least
# SLURM_MIN_CPUS CPUs (default 1; more than nproc is allowed through
# SlurmdParameters=config_overrides). Ports are free ones picked at random,
# so a cluster someone else started on this machine is left alone.
# cred_expire=5 (the minimum) because a requeued job waits that long before
# it may start again (the default, 120 s, is too slow for a test).
# Exit status 0 once the node is idle; 1 with the reason on stderr.
set -euo pipefail
BASE=${1:?usage: slurm-up.sh BASE}
die() { echo "slurm-up: $*" >&2; exit 1; }
[ "$(id -u)" -eq 0 ] || die "needs root (slurmd and munged are started here)"
mkdir -p "$BASE"
BASE=$(cd "$BASE" && pwd)
# munged refuses a socket directory others cannot reach, and AF_UNIX paths
# are at most 107 bytes
chmod 0755 "$BASE"
[ ${#BASE} -le 60 ] || die "$BASE: path too long for munge's socket; use a shorter one"

# ---- 1. packages ----
PKGS=(slurmctld slurmd slurm-client munge)
have_all() {
    local c
    for c in slurmctld slurmd sbatch squeue scontrol scancel munged mungekey munge unmunge; do
        command -v "$c" >/dev/null || return 1
    done
}
if ! have_all; then
    command -v apt-get >/dev/null || die "slurm is not installed and there is no apt-get"
    export DEBIAN_FRONTEND=noninteractive
    echo "slurm-up: installing ${PKGS[*]}" >&2
    apt-get install -y -q --no-install-recommends "${PKGS[@]}" >"$BASE/apt.log" 2>&1 ||
        { apt-get update -q >>"$BASE/apt.log" 2>&1 &&
          apt-get install -y -q --no-install-recommends "${PKGS[@]}" >>"$BASE/apt.log" 2>&1; } ||
        die "apt-get install ${PKGS[*]} failed: $(tail -n 2 "$BASE/apt.log" | tr '\n' ' ')"
    have_all || die "installed ${PKGS[*]} but a command is still missing"
fi

# ---- 2. layout ----
mkdir -p "$BASE"/{etc,spool/ctld,spool/d,log,run,munge}
chown munge:munge "$BASE/munge"
chmod 0755 "$BASE/munge"

# ---- 3. slurm.conf ----
# Addresses, not only names: a machine without an /etc/hosts entry for
# localhost (a bare debootstrap root) must still reach its daemons.
port_free() { ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
ctld_port=
for _ in $(seq 50); do
    p=$((20000 + RANDOM % 20000))
    if port_free "$p" && port_free $((p + 1)); then ctld_port=$p; break; fi
done
[ -n "$ctld_port" ] || die "found no free TCP port pair"
cpus=$(nproc)
overrides=
if [ "${SLURM_MIN_CPUS:-1}" -gt "$cpus" ]; then
    cpus=$SLURM_MIN_CPUS
    overrides=SlurmdParameters=config_overrides
fi
mem_mb=$(( $(awk '/^MemTotal:/ {print int($2 / 1024)}' /proc/meminfo) * 9 / 10 ))
conf=$BASE/etc/slurm.conf
cat >"$conf" <<CONF
# written by deepfried's tests/slurm/slurm-up.sh
ClusterName=dftest
SlurmctldHost=localhost(127.0.0.1)
SlurmctldPort=$ctld_port
SlurmdPort=$((ctld_port + 1))
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$BASE/munge/munge.socket.2,cred_expire=5
StateSaveLocation=$BASE/spool/ctld
SlurmdSpoolDir=$BASE/spool/d
SlurmctldPidFile=$BASE/run/slurmctld.pid
SlurmdPidFile=$BASE/run/slurmd.pid
SlurmctldLogFile=$BASE/log/slurmctld.log
SlurmdLogFile=$BASE/log/slurmd.log
SlurmctldDebug=info
SlurmdDebug=info
MailProg=/bin/true
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
SchedulerType=sched/backfill
SchedulerParameters=bf_interval=1,sched_interval=2
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
MpiDefault=none
ReturnToService=2
KillWait=5
MinJobAge=300
SlurmdTimeout=300
InactiveLimit=0
$overrides
NodeName=localhost NodeAddr=127.0.0.1 CPUs=$cpus RealMemory=$mem_mb State=UNKNOWN
PartitionName=debug Nodes=localhost Default=YES MaxTime=INFINITE State=UP
CONF
export SLURM_CONF=$conf
printf 'export SLURM_CONF=%q\n' "$conf" >"$BASE/env"

# ---- 4. munged (as munge; its key must be its own, mode 0600) ----
sock=$BASE/munge/munge.socket.2
[ -s "$BASE/munge/munge.key" ] ||
    runuser -u munge -- mungekey --create --keyfile="$BASE/munge/munge.key"
runuser -u munge -- munged --key-file="$BASE/munge/munge.key" --socket="$sock" \
    --pid-file="$BASE/munge/munged.pid" --log-file="$BASE/munge/munged.log" \
    --seed-file="$BASE/munge/munged.seed" </dev/null >>"$BASE/log/daemons.out" 2>&1 ||
    die "munged did not start: $(tail -n 2 "$BASE/munge/munged.log" 2>/dev/null | tr '\n' ' ')"
ok=
for _ in $(seq 50); do
    if munge -S "$sock" -n </dev/null 2>/dev/null | unmunge -S "$sock" >/dev/null 2>&1; then
        ok=1; break
    fi
    sleep 0.1
done
[ -n "$ok" ] || die "munge credentials do not round-trip through $sock"

# ---- 5. slurmctld, slurmd (they daemonize; pids in $BASE/run) ----
slurmctld </dev/null >>"$BASE/log/daemons.out" 2>&1 ||
    die "slurmctld did not start: $(tail -n 2 "$BASE/log/slurmctld.log" 2>/dev/null | tr '\n' ' ')"
slurmd -N localhost </dev/null >>"$BASE/log/daemons.out" 2>&1 ||
    die "slurmd did not start: $(tail -n 2 "$BASE/log/slurmd.log" 2>/dev/null | tr '\n' ' ')"

# ---- 6. wait for an idle node ----
state=
for _ in $(seq 150); do
    state=$(sinfo -h -n localhost -o %T 2>/dev/null || true)
    [ "$state" = idle ] && break
    sleep 0.2
done
[ "$state" = idle ] ||
    die "node state '${state:-unknown}' after 30 s: $(tail -n 3 "$BASE/log/slurmctld.log" 2>/dev/null | tr '\n' ' ')"
echo "slurm-up: node localhost idle, $cpus CPUs, $mem_mb MB, slurmctld port $ctld_port; SLURM_CONF=$conf" >&2
