#!/usr/bin/env bash
# Data-parallel training with mpirun, on one machine or across several.
#
#   launch/mpirun.sh CONF [deepfried train options...]
#
# Environment:
#   RANKS=P           ranks in all (default 2)
#   HOSTFILE=FILE     run across the machines in FILE (Open MPI hostfile:
#                     one "hostname slots=N" line per machine); without it,
#                     all ranks run on this machine
#   RANKS_PER_NODE=N  with HOSTFILE: ranks placed on each machine (default:
#                     the slots the hostfile gives)
#   THREADS=T         threads per rank (default: cores / ranks on the node)
#   DEEPFRIED=PATH    the program (default: the one built in this tree)
#
# Examples:
#   launch/mpirun.sh conf/mnist-adaptive-fastfood-1024.conf
#   RANKS=8 HOSTFILE=hosts RANKS_PER_NODE=4 launch/mpirun.sh conf/mnist-lenet-reference.conf
# which runs, respectively:
#   mpirun -np 2 --bind-to none ./deepfried train CONF
#   mpirun -np 8 --hostfile hosts --map-by ppr:4:node --bind-to none ./deepfried train CONF
# Across machines, deepfried, the config and the data must be at the same
# paths on every machine (a shared file system, or copies); rank 0 writes
# the run directory.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
[ $# -ge 1 ] || { sed -n '2,27p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; exit 2; }

ranks=${RANKS:-2}
bin=${DEEPFRIED:-$here/deepfried}
[ -x "$bin" ] || { echo "mpirun.sh: $bin not found: build first (bash launch/quickstart.sh or make)" >&2; exit 2; }

args=(-np "$ranks" --bind-to none)
if [ -n "${HOSTFILE:-}" ]; then
    [ -r "$HOSTFILE" ] || { echo "mpirun.sh: HOSTFILE $HOSTFILE: not readable" >&2; exit 2; }
    args+=(--hostfile "$HOSTFILE")
    [ -n "${RANKS_PER_NODE:-}" ] && args+=(--map-by "ppr:${RANKS_PER_NODE}:node")
elif [ "$ranks" -gt "$(nproc)" ]; then
    args+=(--oversubscribe)   # more ranks than cores: allowed, but slow
fi
if [ "$(id -u)" -eq 0 ]; then
    export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
fi
threads=()
[ -n "${THREADS:-}" ] && threads=(--set "run.threads=$THREADS")

conf=$1
shift
echo "+ mpirun ${args[*]} $bin train $conf ${threads[*]} $*" >&2
exec mpirun "${args[@]}" "$bin" train "$conf" "${threads[@]}" "$@"
