#!/usr/bin/env bash
# A short training run on the embedded MNIST sample lowers the loss, gets
# far below chance (90% error), writes metrics.csv; the same seed is
# bit-identical, plainly and under mpirun -np 1; another seed is not.
source "$(dirname "$0")/lib.sh"

conf="$DF_SRCDIR/conf/mnist-adaptive-fastfood-1024-dropout.conf"
common=("${SAMPLE_DATA[@]}" --set solver.iterations=300 --set solver.display=50
        --set solver.test_interval=150 --set run.threads=1)

bounded 300 "$DF_BIN" train "$conf" "${common[@]}" --set "run.dir=$TMP/a" >"$TMP/a.out" 2>&1 ||
    fail "training run a exited $? : $(tail -n 3 "$TMP/a.out")"
cat "$TMP/a.out"

first_loss=$(grep -m1 -o 'loss [0-9.]*' "$TMP/a.out" | awk '{print $2}')
last_loss=$(grep 'step 300/300' "$TMP/a.out" | grep -o 'loss [0-9.]*' | awk '{print $2}')
err=$(grep -o 'test error [0-9.]*%' "$TMP/a.out" | tail -n 1 | grep -o '[0-9.]*')
[ -n "$first_loss" ] && [ -n "$last_loss" ] || fail "no progress lines with 'loss'"
awk -v a="$first_loss" -v b="$last_loss" 'BEGIN { exit !(b < 0.5 * a) }' ||
    fail "loss did not fall by half: $first_loss -> $last_loss"
awk -v e="$err" 'BEGIN { exit !(e != "" && e < 15) }' ||
    fail "test error '$err%' not below 15% (chance is 90%)"
grep -q 'img/s' "$TMP/a.out" || fail "progress line lacks img/s"
grep -q 'ETA' "$TMP/a.out" || fail "progress line lacks ETA"
grep -q 'trainable parameters: 38,892' "$TMP/a.out" || fail "parameter count missing or wrong"
[ -f "$TMP/a/metrics.csv" ] || fail "no metrics.csv in the run directory"
rows=$(($(wc -l <"$TMP/a/metrics.csv") - 1))
[ "$rows" -ge 6 ] || fail "metrics.csv has $rows rows, expected >= 6"
head -n 1 "$TMP/a/metrics.csv" | grep -q '^step,epoch,loss,lr' || fail "metrics.csv header"

# the same seed again, under mpirun -np 1: the same bits
bounded 300 "$MPIRUN" -np 1 "$DF_BIN" train "$conf" "${common[@]}" --set "run.dir=$TMP/b" \
    >"$TMP/b.out" 2>&1 || fail "mpirun -np 1 run exited $?: $(tail -n 3 "$TMP/b.out")"
sum_a=$(grep 'parameter checksum' "$TMP/a.out")
sum_b=$(grep 'parameter checksum' "$TMP/b.out")
[ -n "$sum_a" ] && [ "$sum_a" = "$sum_b" ] || fail "same seed differs: '$sum_a' vs '$sum_b'"
# losses and errors identical; timing columns (8-10) naturally differ
cut -d, -f1-7 "$TMP/a/metrics.csv" >"$TMP/a.cols"
cut -d, -f1-7 "$TMP/b/metrics.csv" >"$TMP/b.cols"
cmp -s "$TMP/a.cols" "$TMP/b.cols" || fail "same seed gives different metrics"

# another seed: different bits (so the comparison above can fail)
bounded 300 "$DF_BIN" train "$conf" "${common[@]}" --set solver.iterations=20 \
    --set run.seed=2 --set "run.dir=$TMP/c" >"$TMP/c.out" 2>&1 || fail "seed-2 run exited $?"
bounded 300 "$DF_BIN" train "$conf" "${common[@]}" --set solver.iterations=20 \
    --set "run.dir=$TMP/d" >"$TMP/d.out" 2>&1 || fail "seed-1 short run exited $?"
[ "$(grep 'parameter checksum' "$TMP/c.out")" != "$(grep 'parameter checksum' "$TMP/d.out")" ] ||
    fail "seeds 1 and 2 give the same parameters"
finish
