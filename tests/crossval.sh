#!/usr/bin/env bash
# launch/crossval.sh: fold k holds out its own block of training items and
# trains with seed k; the summary is the mean of the folds; a second call
# trains nothing and prints the same; a bad config exits 2 naming it.
source "$(dirname "$0")/lib.sh"

cv() {
    bounded 300 env DF_WORK="$TMP/cv" DF_FOLDS=3 DF_FOLD_SIZE=1000 DF_JOBS=2 DF_BIN="$DF_BIN" \
        bash "$DF_SRCDIR/launch/crossval.sh" "$@"
}
args=(t "$DF_SRCDIR/conf/mnist-lenet-reference.conf" "${SAMPLE_DATA[@]}"
      --set solver.iterations=20 --set solver.test_interval=0)

cv "${args[@]}" >"$TMP/out1" 2>&1 || fail "crossval exited $?: $(tail -n 3 "$TMP/out1")"
cat "$TMP/out1"
for k in 1 2 3; do
    a=$(((k - 1) * 1000)) b=$((k * 1000 - 1))
    grep -qF "4000 training images, evaluating on holdout (1000 images; training items $a..$b held out)" \
        "$TMP/cv/t/fold-$k/train.log" || fail "fold $k did not hold out items $a..$b"
    grep -q "^fold $k (images $a..$b, seed $k): held-out error [0-9.]*%$" "$TMP/out1" ||
        fail "no summary line for fold $k"
done
want=$(sed -n 's/^fold .*held-out error \([0-9.]*\)%$/\1/p' "$TMP/out1" |
       awk '{ s += $1 } END { if (NR == 3) printf "%.3f", s / NR }')
grep -q "^t: mean held-out error $want% " "$TMP/out1" ||
    fail "the mean line is not the folds' mean $want: $(tail -n 1 "$TMP/out1")"

# restartable: finished folds are not trained again
before=$(cat "$TMP"/cv/t/fold-*/train.log | md5sum)
cv "${args[@]}" >"$TMP/out2" 2>&1 || fail "second call exited $?"
[ "$before" = "$(cat "$TMP"/cv/t/fold-*/train.log | md5sum)" ] || fail "second call trained again"
cmp -s "$TMP/out1" "$TMP/out2" || fail "second call printed something else"

# a fold that lost its done mark resumes from its checkpoint (whose stored
# config holds the fold's holdout_start) and scores the same
rm "$TMP/cv/t/fold-2/done"
cv "${args[@]}" >"$TMP/out4" 2>&1 || fail "third call exited $?: $(tail -n 3 "$TMP/out4")"
grep -q "resuming from .*fold-2/ckpt-00000020.h5" "$TMP/cv/t/fold-2/train.log" ||
    fail "fold 2 did not resume from its checkpoint"
cmp -s "$TMP/out1" "$TMP/out4" || fail "the resumed fold changed the summary: $(cat "$TMP/out4")"

cv u "$TMP/none.conf" >"$TMP/out3" 2>&1
status=$?
[ "$status" -eq 2 ] && grep -q "none.conf: no such config file" "$TMP/out3" ||
    fail "missing config: exit $status, $(cat "$TMP/out3")"
finish
