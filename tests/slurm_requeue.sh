#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR
# slurm_job_checkpoints_requeues_and_resumes_bit_identically:
# launch/slurm.sbatch under a real (local, one-node) Slurm. The batch shell
# gets SIGUSR1, as --signal=B:USR1@N sends it before a time limit (here at
# a known moment, with scancel --signal=USR1 --batch); deepfried checkpoints
# and exits 75, the script requeues the job, the job resumes with --resume
# auto and finishes with the parameters of an uninterrupted run, bit for bit.
# Starts its own slurmctld/slurmd/munged (tests/slurm/slurm-up.sh, installing
# Slurm with apt-get when missing); skips (77) when that cannot be done.
# shellcheck source=lib.sh
source "$(dirname "$0")/lib.sh"

STEPS=400          # ~10+ s of training on 2 ranks, so the signal lands mid-run
INTERVAL=25        # checkpoint.interval
SIGNAL_AT=50       # signal once the job's output shows this step
DEADLINE=240       # seconds for the whole test
slurm_dir=$DF_SRCDIR/tests/slurm
sbatch_script=$DF_SRCDIR/launch/slurm.sbatch
conf=$DF_SRCDIR/conf/mnist-adaptive-fastfood-1024.conf

skip() { echo "SKIP: $*"; exit 77; }
elapsed() { echo "$((SECONDS - t0))s"; }
[ "$(id -u)" -eq 0 ] || skip "starting a local Slurm needs root"
command -v slurmctld >/dev/null || command -v apt-get >/dev/null ||
    skip "Slurm is not installed and there is no apt-get to install it"
[ -r "$sbatch_script" ] || { echo "FAIL: $sbatch_script missing" >&2; exit 1; }
# a job running this test must not leak its own Slurm settings into ours
while read -r v; do unset "$v"; done < <(compgen -e | grep '^SLURM_' || true)

# munged wants a short socket path whose directories it can traverse
SLURM_BASE=$(mktemp -d /tmp/df-slurm.XXXXXX)
job=
# shellcheck disable=SC2317  # run by the EXIT trap
cleanup() {
    [ -n "$job" ] && scancel "$job" 2>/dev/null
    bash "$slurm_dir/slurm-down.sh" "$SLURM_BASE" 2>/dev/null
    rm -rf "$SLURM_BASE" "$TMP"
}
trap cleanup EXIT
t0=$SECONDS

# ---- bring Slurm up while the reference run trains ----
# (at least 2 CPUs on the node: the job asks for 2 tasks)
SLURM_MIN_CPUS=2 bounded 90 bash "$slurm_dir/slurm-up.sh" "$SLURM_BASE" >"$TMP/slurm-up.log" 2>&1 &
up_pid=$!

opts=("${SAMPLE_DATA[@]}" --set "solver.iterations=$STEPS" --set "checkpoint.interval=$INTERVAL"
      --set solver.display=25 --set solver.test_interval=0 --set run.threads=1)
bounded 150 "$MPIRUN" -np 2 --oversubscribe --bind-to none "$DF_BIN" train "$conf" "${opts[@]}" \
    --set "run.dir=$TMP/straight" --dump-params "$TMP/straight.f32" >"$TMP/straight.out" 2>&1 ||
    { echo "FAIL: straight run exited $?: $(tail -n 5 "$TMP/straight.out")" >&2; exit 1; }
want=$(sed -n 's/^parameter checksum: \([0-9a-f]*\).*/\1/p' "$TMP/straight.out")
[ -n "$want" ] || { echo "FAIL: straight run printed no checksum" >&2; exit 1; }
echo "straight run, 2 ranks, $STEPS steps: checksum $want ($(elapsed))"

if ! wait "$up_pid"; then
    cat "$TMP/slurm-up.log"
    skip "could not start a local Slurm within 90 s: $(tail -n 1 "$TMP/slurm-up.log")"
fi
# shellcheck source=/dev/null
source "$SLURM_BASE/env"
export SLURM_CONF
echo "slurm up ($(elapsed))"

# ---- the job ----
out=$TMP/job/job.out
mkdir -p "$TMP/job"
job=$(cd "$TMP/job" && DEEPFRIED=$DF_BIN sbatch --parsable --ntasks=2 --cpus-per-task=1 \
          --time=10 --output="$out" "$sbatch_script" "$conf" "${opts[@]}" \
          --set "run.dir=$TMP/job/run" --dump-params "$TMP/job/final.f32") ||
    { echo "FAIL: sbatch refused the script" >&2; exit 1; }
job=${job%%;*}
echo "submitted job $job ($(elapsed))"

dump_logs() {
    echo "---- job output"; cat "$out" 2>/dev/null
    echo "---- scontrol show job"; scontrol show job "$job" 2>&1
    echo "---- slurmctld.log (tail)"; tail -n 20 "$SLURM_BASE/log/slurmctld.log"
}
give_up() { echo "FAIL: $*" >&2; dump_logs >&2; exit 1; }

# wait for the training to pass SIGNAL_AT, then signal the batch shell
state=
until grep -q "^step $SIGNAL_AT/$STEPS " "$out" 2>/dev/null; do
    state=$(squeue -h -j "$job" -o %T 2>/dev/null)
    [ -n "$state" ] || give_up "job ended before step $SIGNAL_AT was seen"
    [ $((SECONDS - t0)) -lt $DEADLINE ] || give_up "no step $SIGNAL_AT within ${DEADLINE}s"
    sleep 0.2
done
scancel --signal=USR1 --batch "$job" || give_up "scancel --signal=USR1 --batch failed"
echo "job running, past step $SIGNAL_AT: sent SIGUSR1 to the batch shell ($(elapsed))"

# follow the job until it is gone, noting its state changes
last=RUNNING
while :; do
    state=$(squeue -h -j "$job" -o %T 2>/dev/null)
    [ -n "$state" ] || break
    [ "$state" != "$last" ] && echo "job $state ($(elapsed))" && last=$state
    [ $((SECONDS - t0)) -lt $DEADLINE ] || give_up "job not done within ${DEADLINE}s"
    sleep 1
done
echo "job gone from the queue ($(elapsed))"

# ---- what happened ----
# check OK-MESSAGE FAIL-MESSAGE COMMAND...: pass or fail on the command
check() {
    local ok=$1 ko=$2
    shift 2
    if "$@"; then pass "$ok"; else fail "$ko"; fi
}
info=$(scontrol show job "$job" 2>/dev/null)   # kept MinJobAge (300 s) after the end
if [ -n "$info" ]; then
    jobstate=$(grep -o 'JobState=[A-Z_]*' <<<"$info" | cut -d= -f2)
    exitcode=$(grep -o ' ExitCode=[0-9:]*' <<<"$info" | cut -d= -f2)
    check "job $jobstate, exit code $exitcode" "job $jobstate, exit code $exitcode" \
        [ "$jobstate:$exitcode" = COMPLETED:0:0 ]
    restarts=$(grep -o 'Restarts=[0-9]*' <<<"$info" | cut -d= -f2)
    check "Slurm counts ${restarts:-0} restart(s)" "Slurm counts no restart" [ "${restarts:-0}" -ge 1 ]
else
    check "job output says finished" "job output does not say finished" \
        grep -q 'slurm.sbatch: finished' "$out"
fi
check "the trap got SIGUSR1" "the batch shell's trap never reported SIGUSR1" \
    grep -q 'slurm.sbatch: caught SIGUSR1' "$out"
stop_step=$(sed -n 's/.*stopped by a signal after step \([0-9]*\);.*/\1/p' "$out" | head -n 1)
check "deepfried checkpointed at step $stop_step on the signal" \
    "no 'stopped by a signal' checkpoint in the output" [ -n "$stop_step" ]
check "status 75 led to a requeue" "no requeue after status 75" \
    grep -q 'checkpointed (status 75); requeueing' "$out"
check "the job ran again (SLURM_RESTART_COUNT=1)" "no second run with SLURM_RESTART_COUNT=1" \
    grep -q 'restart count 1,' "$out"
resume_step=$(sed -n 's/^resuming from .* at step \([0-9]*\) .*/\1/p' "$out" | head -n 1)
check "resumed at step $resume_step, where it stopped" \
    "resumed at step '$resume_step', stopped at '$stop_step'" \
    [ "${resume_step:-none}" = "${stop_step:-none}" ]
got=$(sed -n 's/^parameter checksum: \([0-9a-f]*\).*/\1/p' "$out" | tail -n 1)
check "final checksum $got equals the straight run's" "final checksum '$got', straight run $want" \
    [ "$got" = "$want" ]
check "final parameters byte-identical to the straight run's" \
    "final parameters differ from the straight run's (or were not dumped)" \
    cmp -s "$TMP/straight.f32" "$TMP/job/final.f32"

[ "$failures" -eq 0 ] || dump_logs >&2
echo "---- the job's output (signal, checkpoint, requeue, resume, finish):"
cat "$out"
echo "total $(elapsed)"
finish
