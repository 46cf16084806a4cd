#!/usr/bin/env bash
# The layers' threads (run.threads): one process with T threads ends with
# the parameters of one thread up to float summation order (the same
# contract as P ranks), a thread count gives the same bits run after run,
# and ranks and threads combine.
source "$(dirname "$0")/lib.sh"
: "${DF_COMPARE:?DF_COMPARE must name tests/compare_params}"

# Without OpenMP every thread count is one thread: nothing here would be
# tested, so say so instead of passing.
if ! "$DF_BIN" --version | grep -q '^threads: OpenMP'; then
    echo "SKIP: $DF_BIN is built without OpenMP ($("$DF_BIN" --version | grep '^threads:'))"
    exit 77
fi

# Why these configs, horizons and tolerances: as in mpi_equivalence.sh
# (T threads sum a weight gradient in T pieces, as T ranks do). The long
# checks run the kink-free tests/conf/smooth-*.conf for 100 steps at 1e-6
# (measured: at most 9e-8 on every kernel); the shipped configs, with ReLU
# and max pooling, are checked over the 3 steps measured to be free of
# kink flips on every kernel (docs/testing.md, bench/kink-horizons.sh).
TOL=1e-6
SHORT_TOL=1e-7
SHORT_STEPS=3

train() {  # name ranks threads conf steps [options]
    local name=$1 np=$2 threads=$3 conf=$4 steps=$5
    shift 5
    bounded 180 "$MPIRUN" -np "$np" --oversubscribe --bind-to none "$DF_BIN" train \
        "$conf" "${SAMPLE_DATA[@]}" --set solver.iterations="$steps" \
        --set solver.display=10 --set solver.test_interval=0 --set run.threads="$threads" \
        --set "run.dir=$TMP/$name" --dump-params "$TMP/$name.f32" "$@" >"$TMP/$name.out" 2>&1 ||
        fail "$name: exited $?: $(tail -n 3 "$TMP/$name.out")"
}

for model in smooth-lenet smooth-fastfood-dropout; do
    conf=$DF_SRCDIR/tests/conf/$model.conf
    train "$model-t1" 1 1 "$conf" 100
    for threads in 2 3; do
        train "$model-t$threads" 1 "$threads" "$conf" 100
        grep -q "1 rank (64 per rank, $threads threads each)" "$TMP/$model-t$threads.out" ||
            fail "$model: the banner does not say $threads threads: $(head -n 2 "$TMP/$model-t$threads.out")"
        if "$DF_COMPARE" "$TMP/$model-t1.f32" "$TMP/$model-t$threads.f32" "$TOL"; then
            pass "$model: $threads threads equal 1 thread after 100 steps"
        else
            fail "$model: $threads threads differ from 1 thread by more than $TOL"
        fi
    done
    # a summation split that restarts is still a fixed one: same bits again
    train "$model-t2-again" 1 2 "$conf" 100
    cmp -s "$TMP/$model-t2.f32" "$TMP/$model-t2-again.f32" ||
        fail "$model: two runs with 2 threads ended with different parameters"
done

model=smooth-fastfood-dropout
train p2t2 2 2 "$DF_SRCDIR/tests/conf/$model.conf" 100
grep -q "identical on 2 ranks" "$TMP/p2t2.out" || fail "P=2 x 2 threads: replicas not reported identical"
"$DF_COMPARE" "$TMP/$model-t1.f32" "$TMP/p2t2.f32" "$TOL" &&
    pass "2 ranks x 2 threads equal 1 rank x 1 thread" ||
    fail "P=2 x 2 threads differs from 1 rank x 1 thread by more than $TOL"

# the shipped configs, over the steps measured to be free of kink flips
for conf in mnist-lenet-reference mnist-adaptive-fastfood-1024-dropout; do
    train "$conf-t1" 1 1 "$DF_SRCDIR/conf/$conf.conf" "$SHORT_STEPS"
    for threads in 2 3; do
        train "$conf-t$threads" 1 "$threads" "$DF_SRCDIR/conf/$conf.conf" "$SHORT_STEPS"
        "$DF_COMPARE" "$TMP/$conf-t1.f32" "$TMP/$conf-t$threads.f32" "$SHORT_TOL" &&
            pass "$conf: $threads threads equal 1 thread after $SHORT_STEPS steps" ||
            fail "$conf: $threads threads differ from 1 after $SHORT_STEPS steps by more than $SHORT_TOL"
    done
done

# run.threads unset: one thread per CPU the rank may run on (affinity, as
# Slurm or mpirun --bind-to set it), divided among the node's ranks. The
# CPUs used are the first of those this test may run on (a CI runner may be
# bound to any of them).
if command -v taskset >/dev/null; then
    cpus=$(taskset -c -p $$ | sed 's/.*: //')
    allowed=()
    IFS=, read -r -a ranges <<<"$cpus"
    for r in "${ranges[@]}"; do
        if [[ $r == *-* ]]; then allowed+=($(seq "${r%-*}" "${r#*-}")); else allowed+=("$r"); fi
    done
    bounded 60 taskset -c "${allowed[0]}" "$DF_BIN" train "$DF_SRCDIR/conf/$conf.conf" "${SAMPLE_DATA[@]}" \
        --set solver.iterations=2 --set solver.test_interval=0 --set "run.dir=$TMP/auto1" \
        >"$TMP/auto1.out" 2>&1 || fail "taskset -c ${allowed[0]}: exited $?"
    grep -q "(64 per rank, 1 thread each)" "$TMP/auto1.out" ||
        fail "bound to one CPU, the default should be 1 thread: $(head -n 1 "$TMP/auto1.out")"
    if [ "${#allowed[@]}" -ge 2 ]; then
        two=${allowed[0]},${allowed[1]}
        bounded 60 taskset -c "$two" "$DF_BIN" train "$DF_SRCDIR/conf/$conf.conf" "${SAMPLE_DATA[@]}" \
            --set solver.iterations=2 --set solver.test_interval=0 --set "run.dir=$TMP/auto2" \
            >"$TMP/auto2.out" 2>&1 || fail "taskset -c $two: exited $?"
        grep -q "(64 per rank, 2 threads each)" "$TMP/auto2.out" ||
            fail "bound to two CPUs, the default should be 2 threads: $(head -n 1 "$TMP/auto2.out")"
    else
        echo "(one CPU allowed here: the two-CPU default is not checked)"
    fi
    pass "default run.threads follows the CPUs the process may use (ours: $cpus)"
fi
finish
