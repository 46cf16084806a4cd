#!/usr/bin/env bash
# Train deepfried under PBS/Torque (or PBS Pro), surviving walltime limits:
# checkpoint shortly before the walltime, requeue, resume.
#
#   qsub -v CONF=conf/mnist-lenet-reference.conf launch/pbs.sh
#   qsub -l walltime=4:00:00 -l nodes=1:ppn=8 \
#        -v CONF=conf/x.conf,TRAIN_ARGS="--set solver.iterations=20000" launch/pbs.sh
#
# Submit from the top of the source tree: the job runs in $PBS_O_WORKDIR.
# Environment (give it with qsub -v):
#   CONF=FILE          the config (required)
#   TRAIN_ARGS="..."   more deepfried train options, split on spaces
#                      (Torque's qsub -F "args" works too, but is not carried
#                      over when the job resubmits itself, see below)
#   DEEPFRIED=PATH     the program (default: $PBS_O_WORKDIR/deepfried)
#   NP=P               ranks (default: the lines of $PBS_NODEFILE, i.e. ppn or mpiprocs)
#   LEAD=SECONDS       checkpoint this long before the walltime (default 120;
#                      more than one checkpoint save plus one training step)
#   WALLTIME=HH:MM:SS  the job's walltime, if `qstat -f` cannot tell it
#   MPIRUN=CMD         the MPI launcher (default: mpirun)
#   MPIRUN_ARGS="..."  extra launcher options, split on spaces (default: --bind-to none)
#   REQUEUE=auto|qrerun|qsub|none   how to continue after a checkpoint (default auto)
#   SCRIPT=PATH        this script, for resubmission (default: $PBS_O_WORKDIR/launch/pbs.sh)
#
# How it works. PBS has no early-warning signal like Slurm's --signal: at
# the walltime it sends SIGTERM to every process of the job and SIGKILL
# kill_delay seconds later (a queue setting: a few seconds by default, too
# short to save a checkpoint, and mpirun aborts on SIGTERM). So this script
# reads the walltime and sets a timer: LEAD seconds before the end it sends
# SIGUSR1 to mpirun, which forwards it to the ranks; they finish the step,
# rank 0 saves a checkpoint and deepfried exits with status 75. A SIGTERM to
# this script (qdel, or a walltime the timer missed) is forwarded the same
# way, as a last attempt. On status 75 the job continues:
#   qrerun $PBS_JOBID  puts the same job back in the queue (needs `#PBS -r y`
#                      and, on most sites, operator or manager rights);
#   qsub               if qrerun is refused: submits this script again as a
#                      new job, with the same CONF/TRAIN_ARGS/... and walltime
#                      (other qsub -l options from the command line are lost:
#                      put them in the #PBS lines below);
# then it exits 0. The new run starts with --resume auto. Any other status
# is passed through: 0 finished, 2 bad input, 1 failure.
#
#PBS -N deepfried
#PBS -r y
#PBS -j oe
#PBS -l walltime=24:00:00
#PBS -l nodes=1:ppn=2
# PBS Pro instead of the nodes line:  #PBS -l select=1:ncpus=2:mpiprocs=2
set -uo pipefail   # not -e: the statuses of wait are handled below

say() { echo "pbs.sh: $*"; }

cd "${PBS_O_WORKDIR:-.}" || exit 1
# the settings given to this job, to give them to a resubmitted one
given=()
for v in CONF TRAIN_ARGS DEEPFRIED NP LEAD WALLTIME MPIRUN MPIRUN_ARGS REQUEUE SCRIPT; do
    [ -n "${!v+set}" ] && given+=("$v")
done
if [ $# -ge 1 ] && [ "${1#-}" = "$1" ]; then
    CONF=$1
    shift
fi
: "${CONF:?set CONF: qsub -v CONF=conf/x.conf launch/pbs.sh}"
DEEPFRIED=${DEEPFRIED:-$PWD/deepfried}
[ -x "$DEEPFRIED" ] || { say "$DEEPFRIED: no such program (set DEEPFRIED)"; exit 2; }
[ -r "$CONF" ] || { say "$CONF: cannot read the config"; exit 2; }
read -r -a train_args <<<"${TRAIN_ARGS:-}"
MPIRUN=${MPIRUN:-mpirun}
read -r -a mpirun_args <<<"${MPIRUN_ARGS---bind-to none}"
if [ -n "${PBS_NODEFILE:-}" ] && [ -r "$PBS_NODEFILE" ]; then
    NP=${NP:-$(wc -l <"$PBS_NODEFILE")}
    mpirun_args+=(--hostfile "$PBS_NODEFILE")
fi
NP=${NP:-1}
LEAD=${LEAD:-120}
if [ "$(id -u)" -eq 0 ]; then
    export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
fi

# The walltime in seconds: $WALLTIME, else what qstat says, else none.
to_seconds() {  # [[HH:]MM:]SS -> seconds
    local IFS=: s=0 f
    for f in $1; do s=$((s * 60 + 10#$f)); done
    echo "$s"
}
walltime=${WALLTIME:-}
if [ -z "$walltime" ] && [ -n "${PBS_JOBID:-}" ] && command -v qstat >/dev/null; then
    walltime=$(qstat -f "$PBS_JOBID" 2>/dev/null |
        sed -n 's/^ *Resource_List\.walltime *= *\([0-9:]*\).*/\1/p' | head -n 1)
fi

say "job ${PBS_JOBID:-?} start $(date '+%F %T'), $NP rank(s), walltime ${walltime:-unknown}"

mpipid=
caught=
# shellcheck disable=SC2317  # run by the traps
forward() {
    caught=$1
    if [ -n "$mpipid" ] && kill -0 "$mpipid" 2>/dev/null; then
        say "caught SIG$1 at $(date '+%T'): asking deepfried to checkpoint and stop"
        kill -USR1 "$mpipid" 2>/dev/null || true
    fi
}
trap 'forward USR1' USR1
trap 'forward TERM' TERM

"$MPIRUN" -np "$NP" "${mpirun_args[@]}" "$DEEPFRIED" train "$CONF" --resume auto \
    "${train_args[@]}" "$@" &
mpipid=$!

timer=
if [ -n "$walltime" ]; then
    delay=$(( $(to_seconds "$walltime") - LEAD ))
    [ "$delay" -lt 1 ] && delay=1
    say "will checkpoint in $delay s ($LEAD s before the walltime)"
    # a subshell that sends this script SIGUSR1 after the delay; killed
    # (with its sleep) when the run ends first
    (
        trap 'kill "$sp" 2>/dev/null; exit 0' TERM
        sleep "$delay" &
        sp=$!
        wait "$sp" && kill -USR1 $$
    ) &
    timer=$!
else
    say "walltime unknown: no timer (set WALLTIME); relying on SIGTERM"
fi

# wait returns 128+signal when a trap fires: wait again for mpirun's own
# status. 127 from the second wait means the first status was mpirun's.
wait "$mpipid"
status=$?
while [ "$status" -gt 128 ] && [ -n "$caught" ]; do
    caught=
    wait "$mpipid"
    s=$?
    [ "$s" -eq 127 ] && break
    status=$s
done
[ -n "$timer" ] && kill "$timer" 2>/dev/null

resubmit() {
    local script=${SCRIPT:-$PWD/launch/pbs.sh} IFS=,
    export "${given[@]}"
    qsub ${walltime:+-l "walltime=$walltime"} -v "${given[*]}" "$script"
}

case $status in
0)  say "finished at $(date '+%T')" ;;
75)
    say "deepfried checkpointed (status 75)"
    case ${REQUEUE:-auto} in
    auto)
        qrerun "$PBS_JOBID" && exit 0
        say "qrerun refused: submitting this script again"
        resubmit && exit 0
        ;;
    qrerun) qrerun "$PBS_JOBID" && exit 0 ;;
    qsub)   resubmit && exit 0 ;;
    none)   say "REQUEUE=none: resubmit by hand, the run resumes from its checkpoint" ;;
    esac
    say "could not requeue: resubmit by hand, the run resumes from its last checkpoint"
    ;;
*)  say "deepfried exited with status $status" ;;
esac
exit "$status"
