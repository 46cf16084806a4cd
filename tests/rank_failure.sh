#!/usr/bin/env bash
# A failure on a rank other than 0 — its data file unreadable, an
# allocation failure or an I/O error at set-up, in a step, in evaluation or
# in checkpointing, a SIGKILL mid-step, replicas that diverged — ends every
# rank within 30 s with one line that names the rank and the cause, the
# right exit status, the last checkpoint intact, and --resume auto
# continuing from it. DEEPFRIED_INJECT_FAULT=RANK:KIND:WHERE[:STEP] injects.
source "$(dirname "$0")/lib.sh"

CONF="$DF_SRCDIR/conf/mnist-adaptive-fastfood-1024.conf"
COMMON=("${SAMPLE_DATA[@]}" --set solver.iterations=60 --set solver.display=10
        --set solver.test_interval=20 --set checkpoint.interval=20 --set run.threads=1)
MPI=("$MPIRUN" --oversubscribe --bind-to none)

# check NAME EXPECTED_STATUS MESSAGE_REGEX LATEST_STEP -- mpirun arguments...
# (the run directory is $TMP/NAME)
check() {
    local name=$1 want=$2 pattern=$3 latest=$4
    shift 5
    local dir="$TMP/$name" start status elapsed n
    start=$(date +%s)
    bounded 60 "${MPI[@]}" "$@" >"$TMP/$name.out" 2>"$TMP/$name.err"
    status=$?
    elapsed=$(( $(date +%s) - start ))
    [ "$status" -ne 124 ] && [ "$status" -ne 137 -o "$want" = 137 ] ||
        fail "$name: timed out (status $status): the ranks hung"
    [ "$elapsed" -lt 30 ] || fail "$name: took ${elapsed}s to stop"
    [ "$status" -eq "$want" ] || fail "$name: exit status $status, expected $want: $(cat "$TMP/$name.err")"
    n=$(grep -cE "$pattern" "$TMP/$name.err")
    [ "$n" -eq 1 ] || fail "$name: expected one line matching '$pattern', got $n: $(cat "$TMP/$name.err")"
    n=$(grep -c '^deepfried: ' "$TMP/$name.err")
    [ "$name" = kill ] || [ "$n" -eq 1 ] || fail "$name: expected one deepfried line, got $n"
    if [ "$latest" != - ]; then
        [ "$(cat "$dir/latest" 2>/dev/null)" = "ckpt-$(printf %08d "$latest").h5" ] ||
            fail "$name: latest is '$(cat "$dir/latest" 2>/dev/null)', expected step $latest"
        ! ls "$dir"/*.tmp >/dev/null 2>&1 || fail "$name: a .tmp file was left"
        bounded 60 "${MPI[@]}" -np 2 "$DF_BIN" train "$CONF" "${COMMON[@]}" \
            --set solver.iterations=$((latest + 10)) --set "run.dir=$dir" --resume auto \
            >"$TMP/$name.resume" 2>&1 ||
            fail "$name: --resume auto failed: $(cat "$TMP/$name.resume")"
        grep -q "resuming from $dir/ckpt-$(printf %08d "$latest").h5 at step $latest" \
            "$TMP/$name.resume" || fail "$name: did not resume from step $latest"
    fi
    echo "$name: status $status in ${elapsed}s: $(grep -E "$pattern" "$TMP/$name.err" | head -1)"
}

host='\([^)]+\)'
# only rank 1's training images missing (MPMD: two command lines)
check data 2 "^deepfried: rank 1 $host: .*cannot read data file" - -- \
    -np 1 "$DF_BIN" train "$CONF" "${COMMON[@]}" --set "run.dir=$TMP/data" : \
    -np 1 "$DF_BIN" train "$CONF" "${COMMON[@]}" --set "run.dir=$TMP/data" \
    --set "data.train_images=$TMP/missing-idx3-ubyte.gz"
[ ! -e "$TMP/data/latest" ] || fail "data: a checkpoint was written"

fault() {   # fault NAME SPEC STATUS PATTERN LATEST
    check "$1" "$3" "$4" "$5" -- -np 2 -x DEEPFRIED_INJECT_FAULT="$2" "$DF_BIN" train "$CONF" \
        "${COMMON[@]}" --set "run.dir=$TMP/$1"
}
fault setup 1:enomem:setup 1 "^deepfried: rank 1 $host: out of memory in set-up" -
fault step 1:eio:step:30 1 "^deepfried: rank 1 $host: I/O error in a training step at step 30" 20
fault eval 1:enomem:eval:30 1 "^deepfried: rank 1 $host: out of memory in evaluation at step 40" 20
fault save 1:eio:checkpoint:30 1 "^deepfried: rank 1 $host: I/O error in checkpointing at step 40" 20
fault diverge 1:diverge:step:25 1 "^deepfried: replicas diverged before the checkpoint of step 40: rank 1's" 20
# mpirun ends the job and names the rank; the others do not wait for it
fault kill 1:kill:step:30 137 "rank 1 .* exited on signal 9" 20

# A second trainer in a locked run directory (here the first is stopped
# with SIGSTOP so that its files hold still): refused at once, status 2,
# nothing changed; also when a launcher deepfried does not recognise
# starts two one-rank trainers in one directory.
lock="$TMP/lock"
"$DF_BIN" train "$CONF" "${SAMPLE_DATA[@]}" --set solver.iterations=100000 --set run.threads=1 \
    --set checkpoint.interval=20 --set "run.dir=$lock" >"$TMP/first.out" 2>&1 &
first=$!
for _ in $(seq 100); do [ -f "$lock/latest" ] && break; sleep 0.2; done
kill -STOP "$first"
before=$(cd "$lock" && md5sum -- * | sort)
start=$(date +%s)
bounded 30 "${MPI[@]}" -np 2 "$DF_BIN" train "$CONF" "${COMMON[@]}" --set "run.dir=$lock" \
    >"$TMP/second.out" 2>"$TMP/second.err"
status=$?
[ "$status" -eq 2 ] || fail "second trainer: exit status $status, expected 2"
[ $(( $(date +%s) - start )) -lt 15 ] || fail "second trainer: not refused at once"
n=$(grep -cE "^deepfried: rank 0 $host: run directory $lock is in use by another trainer \(pid $first " "$TMP/second.err")
[ "$n" -eq 1 ] || fail "second trainer: expected one refusal naming pid $first: $(cat "$TMP/second.err")"
grep -q -- '--mpi=pmix' "$TMP/second.err" || fail "second trainer: the message does not say what to do"
# a launcher deepfried does not recognise: two independent worlds of one
bounded 30 "${MPI[@]}" -np 2 env -u OMPI_COMM_WORLD_SIZE -u PMIX_RANK "$DF_BIN" train "$CONF" \
    "${COMMON[@]}" --set "run.dir=$lock" >"$TMP/worlds.out" 2>"$TMP/worlds.err"
status=$?
[ "$status" -eq 2 ] || fail "worlds of one: exit status $status, expected 2"
grep -q "^deepfried: run directory $lock is in use" "$TMP/worlds.err" ||
    fail "worlds of one: not refused: $(cat "$TMP/worlds.err")"
after=$(cd "$lock" && md5sum -- * | sort)
[ "$before" = "$after" ] || fail "the first run's files changed: $before // $after"
kill -CONT "$first"
kill -KILL "$first"
wait "$first" 2>/dev/null
# srun without an MPI plugin deepfried knows: refused before any work
SLURM_STEP_NUM_TASKS=2 bounded 30 "$DF_BIN" train "$CONF" "${COMMON[@]}" \
    --set "run.dir=$TMP/srun" >/dev/null 2>"$TMP/srun.err"
status=$?
[ "$status" -eq 2 ] || fail "srun --mpi=none: exit status $status, expected 2"
grep -q "^deepfried: srun started 2 tasks, but not through an MPI plugin .*--mpi=pmix" \
    "$TMP/srun.err" || fail "srun --mpi=none: $(cat "$TMP/srun.err")"
[ ! -e "$TMP/srun" ] || fail "srun --mpi=none: the run directory was made"
# kill -9 leaves no stale lock
bounded 60 "$DF_BIN" train "$CONF" "${COMMON[@]}" --set "run.dir=$lock" --resume auto \
    --set solver.iterations=1 --quiet >"$TMP/after.out" 2>&1 ||
    fail "after kill -9 of the holder: $(cat "$TMP/after.out")"
finish
