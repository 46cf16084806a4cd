#!/usr/bin/env bash
# eval and inspect on a checkpoint: eval reproduces the training run's
# final test error exactly, inspect shows the step, the layers and the same
# parameter checksum; bad checkpoint paths exit 2 with one line.
source "$(dirname "$0")/lib.sh"

test_data=(--set "data.test_images=$DF_SAMPLE/t10k-images-idx3-ubyte.gz"
           --set "data.test_labels=$DF_SAMPLE/t10k-labels-idx1-ubyte.gz")
bounded 120 "$DF_BIN" train "$DF_SRCDIR/conf/mnist-adaptive-fastfood-1024.conf" "${SAMPLE_DATA[@]}" \
    --set solver.iterations=30 --set solver.test_interval=0 --set run.threads=1 \
    --set "run.dir=$TMP/run" >"$TMP/train.out" 2>&1 || fail "training exited $?"
ckpt=$TMP/run/ckpt-00000030.h5
[ -f "$ckpt" ] || fail "no final checkpoint $ckpt"

want=$(grep -o 'test error [0-9.]*% on [0-9]* images' "$TMP/train.out")
got=$(bounded 60 "$DF_BIN" eval "$ckpt" "${test_data[@]}" | grep -o 'test error [0-9.]*% on [0-9]* images')
[ -n "$want" ] && [ "$want" = "$got" ] && pass "eval: $got" || fail "eval gave '$got', training said '$want'"
# eval under mpirun splits the test set and sums: the same figure
got2=$(bounded 60 "$MPIRUN" -np 2 --oversubscribe "$DF_BIN" eval "$ckpt" "${test_data[@]}" |
       grep -o 'test error [0-9.]*% on [0-9]* images')
[ "$want" = "$got2" ] || fail "eval on 2 ranks gave '$got2', expected '$want'"

out=$("$DF_BIN" inspect "$ckpt" "${test_data[@]}")
grep -q 'at step 30 ' <<<"$out" || fail "inspect lacks the step"
grep -q '^ff .*fastfood' <<<"$out" || fail "inspect lacks the ff layer"
grep -q 'total trainable parameters: 38,892' <<<"$out" || fail "inspect: wrong parameter count"
sum_train=$(grep -o 'parameter checksum: [0-9a-f]*' "$TMP/train.out")
sum_inspect=$(grep -o 'parameter checksum: [0-9a-f]*' <<<"$out")
[ "$sum_train" = "$sum_inspect" ] || fail "checksums differ: '$sum_train' vs '$sum_inspect'"

"$DF_BIN" eval "$TMP/missing.h5" >/dev/null 2>"$TMP/err"; status=$?
[ "$status" -eq 2 ] && grep -q missing.h5 "$TMP/err" || fail "missing checkpoint: exit $status, $(cat "$TMP/err")"
# a test set that is not there (a run moved to another directory, its
# config's paths relative): one line naming the file and the override
"$DF_BIN" eval "$ckpt" --set "data.test_images=$TMP/gone-images.gz" >/dev/null 2>"$TMP/err"; status=$?
[ "$status" -eq 2 ] && [ "$(wc -l <"$TMP/err")" -eq 1 ] && grep -q 'gone-images.gz: cannot open' "$TMP/err" &&
    grep -qF -- '--set data.test_images=PATH' "$TMP/err" ||
    fail "missing test set: exit $status, $(cat "$TMP/err")"
head -c 300 "$ckpt" >"$TMP/cut.h5"
"$DF_BIN" eval "$TMP/cut.h5" >/dev/null 2>"$TMP/err"; status=$?
[ "$status" -eq 2 ] && [ "$(wc -l <"$TMP/err")" -eq 1 ] || fail "truncated checkpoint: exit $status, $(cat "$TMP/err")"
finish
