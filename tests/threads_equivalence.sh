#!/usr/bin/env bash
# The layers' threads (run.threads): one process with T threads ends with
# the parameters of one thread up to float summation order (the same 1e-5
# contract as P ranks), a thread count gives the same bits run after run,
# and ranks and threads combine.
source "$(dirname "$0")/lib.sh"
: "${DF_COMPARE:?DF_COMPARE must name tests/compare_params}"

TOL=1e-5
# 20 steps: the reference LeNet with 2 threads stayed at 2e-8 from 1 thread
# through step 20, then between steps 20 and 30 one ReLU or max-pool kink
# flipped and the difference jumped to 1.1e-5 (measured; 3 threads stayed
# at 3e-8): float summation order amplified, as mpi_equivalence.sh notes.
STEPS=20
# Xavier-like sigma, as in mpi_equivalence.sh (why: the comment there)
FF_SIGMA=(--set ff.sigma=0.0353553)

train() {  # name ranks threads conf [options]
    local name=$1 np=$2 threads=$3 conf=$4
    shift 4
    bounded 180 "$MPIRUN" -np "$np" --oversubscribe --bind-to none "$DF_BIN" train \
        "$DF_SRCDIR/conf/$conf.conf" "${SAMPLE_DATA[@]}" --set solver.iterations=$STEPS \
        --set solver.display=10 --set solver.test_interval=0 --set run.threads="$threads" \
        --set "run.dir=$TMP/$name" --dump-params "$TMP/$name.f32" "$@" >"$TMP/$name.out" 2>&1 ||
        fail "$name: exited $?: $(tail -n 3 "$TMP/$name.out")"
}

for conf in mnist-lenet-reference mnist-adaptive-fastfood-1024-dropout; do
    extra=()
    [ "$conf" = mnist-lenet-reference ] || extra=("${FF_SIGMA[@]}")
    train "$conf-t1" 1 1 "$conf" "${extra[@]}"
    for threads in 2 3; do
        train "$conf-t$threads" 1 "$threads" "$conf" "${extra[@]}"
        grep -q "1 rank (64 per rank, $threads threads each)" "$TMP/$conf-t$threads.out" ||
            fail "$conf: the banner does not say $threads threads: $(head -n 2 "$TMP/$conf-t$threads.out")"
        if "$DF_COMPARE" "$TMP/$conf-t1.f32" "$TMP/$conf-t$threads.f32" "$TOL"; then
            pass "$conf: $threads threads equal 1 thread"
        else
            fail "$conf: $threads threads differ from 1 thread by more than $TOL"
        fi
    done
    # a summation split that restarts is still a fixed one: same bits again
    train "$conf-t2-again" 1 2 "$conf" "${extra[@]}"
    cmp -s "$TMP/$conf-t2.f32" "$TMP/$conf-t2-again.f32" ||
        fail "$conf: two runs with 2 threads ended with different parameters"
done

conf=mnist-adaptive-fastfood-1024-dropout
train p2t2 2 2 "$conf" "${FF_SIGMA[@]}"
grep -q "identical on 2 ranks" "$TMP/p2t2.out" || fail "P=2 x 2 threads: replicas not reported identical"
"$DF_COMPARE" "$TMP/$conf-t1.f32" "$TMP/p2t2.f32" "$TOL" ||
    fail "P=2 x 2 threads differs from 1 rank x 1 thread by more than $TOL"
pass "2 ranks x 2 threads equal 1 rank x 1 thread"

# run.threads unset: one thread per CPU the rank may run on (affinity, as
# Slurm or mpirun --bind-to set it), divided among the node's ranks
if command -v taskset >/dev/null; then
    bounded 60 taskset -c 0 "$DF_BIN" train "$DF_SRCDIR/conf/$conf.conf" "${SAMPLE_DATA[@]}" \
        --set solver.iterations=2 --set solver.test_interval=0 --set "run.dir=$TMP/auto1" \
        >"$TMP/auto1.out" 2>&1 || fail "taskset -c 0: exited $?"
    grep -q "(64 per rank, 1 thread each)" "$TMP/auto1.out" ||
        fail "bound to one CPU, the default should be 1 thread: $(head -n 1 "$TMP/auto1.out")"
    cpus=$(taskset -c -p $$ | sed 's/.*: //')
    if [ "$(nproc)" -ge 2 ]; then
        bounded 60 taskset -c 0,1 "$DF_BIN" train "$DF_SRCDIR/conf/$conf.conf" "${SAMPLE_DATA[@]}" \
            --set solver.iterations=2 --set solver.test_interval=0 --set "run.dir=$TMP/auto2" \
            >"$TMP/auto2.out" 2>&1 || fail "taskset -c 0,1: exited $?"
        grep -q "(64 per rank, 2 threads each)" "$TMP/auto2.out" ||
            fail "bound to two CPUs, the default should be 2 threads: $(head -n 1 "$TMP/auto2.out")"
    fi
    pass "default run.threads follows the CPUs the process may use (ours: $cpus)"
fi
finish
