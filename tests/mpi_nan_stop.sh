#!/usr/bin/env bash
# A NaN loss on one rank stops every rank at the same step, with one clear
# message and a non-zero exit, within seconds: no hang, no rank left behind.
source "$(dirname "$0")/lib.sh"

start=$(date +%s)
DEEPFRIED_INJECT_NAN=1:10 bounded 60 "$MPIRUN" -np 2 --oversubscribe --bind-to none \
    -x DEEPFRIED_INJECT_NAN "$DF_BIN" train "$DF_SRCDIR/conf/mnist-adaptive-fastfood-1024.conf" \
    "${SAMPLE_DATA[@]}" --set solver.iterations=500 --set solver.display=1 \
    --set solver.test_interval=0 --set run.threads=1 --set "run.dir=$TMP/run" \
    >"$TMP/out" 2>"$TMP/err"
status=$?
elapsed=$(( $(date +%s) - start ))
cat "$TMP/err"
[ "$status" -ne 0 ] || fail "exit status 0 after a NaN loss"
[ "$status" -ne 124 ] && [ "$status" -ne 137 ] || fail "timed out: the ranks hung"
[ "$elapsed" -lt 30 ] || fail "took ${elapsed}s to stop"
n=$(grep -c 'NaN or Inf at step 10 on 1 of 2 ranks' "$TMP/err")
[ "$n" -eq 1 ] || fail "expected one message naming step 10 and 1 of 2 ranks, got $n: $(cat "$TMP/err")"
grep -q '^step 10/500' "$TMP/out" || fail "progress did not reach step 10"
! grep -q '^step 11/500' "$TMP/out" || fail "training went on past the NaN"
finish
