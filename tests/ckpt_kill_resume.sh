#!/usr/bin/env bash
# Interrupted and resumed equals uninterrupted, byte for byte: a run killed
# with kill -9 at random moments (some during checkpoint writes) and resumed
# with --resume auto each time ends with exactly the parameters of a
# straight run; likewise a run stopped by SIGTERM (exit 75) and resumed.
# No trial may lose more than checkpoint.interval steps.
source "$(dirname "$0")/lib.sh"

STEPS=600
INTERVAL=5
conf="$DF_SRCDIR/conf/mnist-adaptive-fastfood-1024-dropout.conf"
opts=("${SAMPLE_DATA[@]}" --set solver.iterations=$STEPS --set solver.display=1
      --set solver.test_interval=0 --set run.threads=1 --set checkpoint.interval=$INTERVAL
      --set checkpoint.keep=3)

t0=$(date +%s%N)
bounded 120 "$DF_BIN" train "$conf" "${opts[@]}" --set "run.dir=$TMP/straight" \
    --dump-params "$TMP/straight.f32" >"$TMP/straight.out" 2>&1 ||
    fail "straight run exited $?: $(tail -n 3 "$TMP/straight.out")"
# the kill schedule follows this machine's speed: a whole run took this
# many seconds (fixed 0.2-2 s sleeps let a fast build finish the run
# between two kills)
run_s=$(awk -v ns=$(( $(date +%s%N) - t0 )) 'BEGIN { printf "%.3f", ns / 1e9 }')
echo "straight run: $STEPS steps in $run_s s"

# newest checkpointed step in a run dir (0 if none)
saved_step() {
    local f
    f=$(cat "$1/latest" 2>/dev/null) || { echo 0; return; }
    f=${f#ckpt-}
    echo $((10#${f%.h5}))
}

# kill -9 at a random moment, resume, repeat; RANDOM seeded for a
# reproducible schedule that can be changed with KILL_SEED
RANDOM=${KILL_SEED:-4242}
run=$TMP/killed
trials=0 lost_too_much=0
for attempt in $(seq 1 12); do
    before=$(saved_step "$run")
    "$DF_BIN" train "$conf" "${opts[@]}" --set "run.dir=$run" --resume auto \
        --dump-params "$TMP/killed.f32" >>"$TMP/killed.out" 2>&1 &
    pid=$!
    # 5% .. 35% of a straight run (start-up included): several kills per
    # run, at random steps, some during checkpoint writes
    sleep "$(awk -v r=$RANDOM -v t="$run_s" 'BEGIN { printf "%.3f", t * (0.05 + 0.30 * r / 32767) }')"
    if kill -0 "$pid" 2>/dev/null; then
        kill -KILL "$pid"
        wait "$pid" 2>/dev/null
        trials=$((trials + 1))
        # progress is flushed every step: the last line is the last step done
        done_steps=$(grep -o '^step [0-9]*/' "$TMP/killed.out" | tail -n 1 | tr -dc 0-9)
        after=$(saved_step "$run")
        echo "attempt $attempt: killed after step ${done_steps:-0}, newest checkpoint at step $after"
        [ "$after" -ge "$before" ] || fail "checkpoint went backwards: $before -> $after"
        if [ $(( ${done_steps:-0} - after )) -gt $INTERVAL ]; then
            lost_too_much=$((lost_too_much + 1))
        fi
        ls "$run"/*.tmp >/dev/null 2>&1 && echo "(killed during a checkpoint write at attempt $attempt)"
    else
        wait "$pid"
        status=$?
        [ "$status" -eq 0 ] || fail "resumed run exited $status: $(tail -n 3 "$TMP/killed.out")"
        break
    fi
done
[ -f "$TMP/killed.f32" ] || {
    bounded 120 "$DF_BIN" train "$conf" "${opts[@]}" --set "run.dir=$run" --resume auto \
        --dump-params "$TMP/killed.f32" >>"$TMP/killed.out" 2>&1 || fail "final resume exited $?"
}
echo "kill -9 trials: $trials"
[ "$trials" -ge 2 ] || fail "only $trials kill trials happened"
grep -o 'resuming from [^ ]* at step [0-9]*' "$TMP/killed.out" | sed 's/^/  /'
[ "$lost_too_much" -eq 0 ] || fail "$lost_too_much trials lost more than $INTERVAL steps"
cmp -s "$TMP/straight.f32" "$TMP/killed.f32" &&
    pass "kill -9 and resume: byte-identical to the straight run" ||
    fail "kill -9 and resume: parameters differ from the straight run"

# Wait until the run writing $1 (process $2) has printed step $3: a signal
# is sent mid-run on any machine, never during start-up (before the handler
# is installed) nor after the end (fixed sleeps did one or the other on a
# much faster or slower machine).
wait_for_step() {
    local deadline=$((SECONDS + 60))
    until grep -q "^step $3/" "$1" 2>/dev/null; do
        kill -0 "$2" 2>/dev/null || { fail "$1: the run ended before step $3"; return 1; }
        [ "$SECONDS" -lt "$deadline" ] || { fail "$1: no step $3 within 60 s"; return 1; }
        sleep 0.05
    done
}

# SIGTERM: checkpoint, exit 75, resume, identical
run=$TMP/term
"$DF_BIN" train "$conf" "${opts[@]}" --set "run.dir=$run" >"$TMP/term.out" 2>&1 &
pid=$!
wait_for_step "$TMP/term.out" "$pid" $((STEPS / 3))
kill -TERM "$pid"
wait "$pid"
status=$?
[ "$status" -eq 75 ] || fail "SIGTERM: exit status $status, expected 75: $(tail -n 2 "$TMP/term.out")"
grep -q 'stopped by a signal after step' "$TMP/term.out" || fail "SIGTERM: no stop message"
stopped=$(saved_step "$run")
[ "$stopped" -gt 0 ] && [ "$stopped" -lt $STEPS ] || fail "SIGTERM: checkpoint at step '$stopped'"
bounded 120 "$DF_BIN" train "$conf" "${opts[@]}" --set "run.dir=$run" --resume auto \
    --dump-params "$TMP/term.f32" >>"$TMP/term.out" 2>&1 || fail "resume after SIGTERM exited $?"
grep -q "resuming from .* at step $stopped " "$TMP/term.out" || fail "SIGTERM: did not resume at step $stopped"
cmp -s "$TMP/straight.f32" "$TMP/term.f32" &&
    pass "SIGTERM at step $stopped and resume: byte-identical" ||
    fail "SIGTERM and resume: parameters differ from the straight run"

# SIGUSR1 to mpirun reaches the ranks: 2 ranks stop at the same step
run=$TMP/usr1
"$MPIRUN" -np 2 --oversubscribe --bind-to none "$DF_BIN" train "$conf" "${opts[@]}" \
    --set "run.dir=$run" >"$TMP/usr1.out" 2>&1 &
pid=$!
wait_for_step "$TMP/usr1.out" "$pid" $((STEPS / 3))
kill -USR1 "$pid"
wait "$pid"
status=$?
[ "$status" -eq 75 ] || fail "SIGUSR1 via mpirun: exit status $status, expected 75"
[ "$(grep -c 'stopped by a signal' "$TMP/usr1.out")" -le 1 ] || fail "SIGUSR1: more than one stop message"
finish
