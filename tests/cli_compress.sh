#!/usr/bin/env bash
# deepfried compress (paper Section 7): a trained LeNet's ip1 replaced by
# its rank-K SVD as two dense layers, written as a checkpoint that inspect,
# eval and train (fine-tuning, resumable) take like any other; near full
# rank it predicts like the original; every bad argument exits 2 with one
# line naming it and leaves no output file behind.
source "$(dirname "$0")/lib.sh"

# Every command that trains runs inside $TMP (or names its run.dir), so
# that nothing lands in the build tree's runs/.
ref=$DF_SRCDIR/conf/mnist-lenet-reference.conf
( cd "$TMP" && bounded 120 "$DF_BIN" train "$ref" "${SAMPLE_DATA[@]}" \
      --set solver.iterations=30 --set solver.test_interval=0 --set run.threads=1 ) \
    >"$TMP/train.out" 2>&1 || fail "training exited $?"
ckpt=$TMP/runs/mnist-lenet-reference/ckpt-00000030.h5
[ -f "$ckpt" ] || { fail "no checkpoint $ckpt"; finish; }

# The number after "LABEL: A -> " in the compress output, commas removed.
after() { sed -n "s/^$1: [0-9,]* -> \([0-9,]*\).*/\1/p" "$2" | tr -d ,; }
before() { sed -n "s/^$1: \([0-9,]*\) -> .*/\1/p" "$2" | tr -d ,; }
# inspect's parameter column for a layer, commas removed.
layer_params() { awk -v l="$1" '$1 == l { gsub(",", "", $4); print $4 }' "$2"; }
total_params() { sed -n 's/^total trainable parameters: //p' "$1" | tr -d ,; }
eval_line() { grep -o 'test error [0-9.]*% on [0-9]* images (test loss [0-9.]*)' "$1"; }

# ---- compress ip1 (500 x 800) at rank 50 ----
out=$TMP/lenet-ip1-rank50.h5
bounded 60 "$DF_BIN" compress "$ckpt" --layer ip1 --rank 50 -o "$out" >"$TMP/c50.out" 2>&1 ||
    fail "compress exited $?: $(cat "$TMP/c50.out")"
cat "$TMP/c50.out"
grep -q 'ip1 .*500 outputs x 800 inputs -> rank 50' "$TMP/c50.out" || fail "compress: no shape line"
# 800 x 500 + 500 -> 50 x 800 + 500 x 50 + 500
[ "$(before 'layer parameters' "$TMP/c50.out")" = 400500 ] &&
[ "$(after 'layer parameters' "$TMP/c50.out")" = 65500 ] || fail "compress: wrong layer counts"
grep -q 'relative Frobenius error .*: 0\.[0-9]* (from the discarded singular values: 0\.[0-9]*)' \
    "$TMP/c50.out" || fail "compress: no relative error line"
grep -q 'energy kept .*: [0-9.]*%' "$TMP/c50.out" || fail "compress: no energy line"

"$DF_BIN" inspect "$ckpt" >"$TMP/inspect-src.out" 2>&1 || fail "inspect of the source exited $?"
"$DF_BIN" inspect "$out" >"$TMP/inspect.out" 2>&1 || fail "inspect of $out exited $?"
[ "$(total_params "$TMP/inspect-src.out")" = "$(before 'network trainable parameters' "$TMP/c50.out")" ] ||
    fail "network count before differs from inspect of the source"
[ "$(total_params "$TMP/inspect.out")" = "$(after 'network trainable parameters' "$TMP/c50.out")" ] &&
    pass "network parameters after: $(total_params "$TMP/inspect.out") (inspect agrees)" ||
    fail "network count after differs from inspect: $(total_params "$TMP/inspect.out")"
[ "$(layer_params ip1_svd "$TMP/inspect.out")" = 40000 ] &&
[ "$(layer_params ip1 "$TMP/inspect.out")" = 25500 ] &&
[ "$(layer_params ip2 "$TMP/inspect.out")" = "$(layer_params ip2 "$TMP/inspect-src.out")" ] ||
    fail "inspect: wrong per-layer counts: $(cat "$TMP/inspect.out")"
grep -q 'ip1_svd .*dense .* 50 ' "$TMP/inspect.out" || fail "inspect: ip1_svd should output 50"
grep -q 'checkpoint of mnist-lenet-reference-ip1-rank50 at step 0 ' "$TMP/inspect.out" ||
    fail "inspect: new run name / step 0 missing"
# the layers around ip1 are the trained ones, untouched: their tensors
# are byte-identical (h5dump: hdf5-tools, which launch/deps.sh installs)
if command -v h5dump >/dev/null; then
    for t in conv1/weight conv2/bias ip2/weight ip1/bias; do
        was=$(h5dump -d "/params/$t" "$ckpt" | sed 1,3d)
        [ -n "$was" ] && [ "$was" = "$(h5dump -d "/params/$t" "$out" | sed 1,3d)" ] ||
            fail "tensor $t changed"
    done
    h5dump -d /params/ip1_svd/bias "$out" >/dev/null 2>&1 && fail "ip1_svd has a bias"
else
    fail "h5dump not found (apt-get install hdf5-tools): the untouched tensors cannot be checked"
fi

# ---- eval works on it ----
bounded 60 "$DF_BIN" eval "$out" >"$TMP/eval50.out" 2>&1 && eval_line "$TMP/eval50.out" >/dev/null &&
    pass "eval rank 50: $(eval_line "$TMP/eval50.out")" || fail "eval of $out: $(cat "$TMP/eval50.out")"

# ---- near full rank, the compressed net predicts like the original ----
bounded 60 "$DF_BIN" eval "$ckpt" >"$TMP/eval-src.out" 2>&1 || fail "eval of the source exited $?"
bounded 60 "$DF_BIN" compress "$ckpt" --layer ip1 --rank 499 -o "$TMP/r499.h5" >"$TMP/c499.out" 2>&1 ||
    fail "compress at rank 499 exited $?"
grep -q 'note: at rank 499 .* more parameters' "$TMP/c499.out" || fail "no note that rank 499 saves nothing"
bounded 60 "$DF_BIN" eval "$TMP/r499.h5" >"$TMP/eval499.out" 2>&1 || fail "eval of rank 499 exited $?"
src_err=$(eval_line "$TMP/eval-src.out" | grep -o 'test error [0-9.]*%')
r499_err=$(eval_line "$TMP/eval499.out" | grep -o 'test error [0-9.]*%')
src_loss=$(eval_line "$TMP/eval-src.out" | sed 's/.*test loss \([0-9.]*\))/\1/')
r499_loss=$(eval_line "$TMP/eval499.out" | sed 's/.*test loss \([0-9.]*\))/\1/')
[ -n "$src_err" ] && [ "$src_err" = "$r499_err" ] &&
    awk -v a="$src_loss" -v b="$r499_loss" 'BEGIN { d = a - b; exit !(d < 2e-3 && d > -2e-3) }' &&
    pass "rank 499 ~ original: $r499_err, loss $r499_loss vs $src_loss" ||
    fail "rank 499 gives '$r499_err' loss $r499_loss, the original '$src_err' loss $src_loss"

# ---- fine-tuning: train OUT.h5, from its parameters, at step 0 ----
# One step at a negligible learning rate ends where it started: its final
# evaluation is the compressed model's (a fresh init would be near chance).
bounded 60 "$DF_BIN" train "$out" --set solver.iterations=1 --set solver.base_lr=1e-20 \
    --set run.threads=1 --set "run.dir=$TMP/ft-check" >"$TMP/ft-check.out" 2>&1 ||
    fail "fine-tune check exited $?: $(cat "$TMP/ft-check.out")"
[ "$(eval_line "$TMP/ft-check.out")" = "$(eval_line "$TMP/eval50.out")" ] &&
    pass "fine-tuning starts from the compressed parameters" ||
    fail "fine-tuning did not start from $out: '$(eval_line "$TMP/ft-check.out")' vs '$(eval_line "$TMP/eval50.out")'"
# The real thing, from another directory: the run goes to runs/<new name>
# there (data paths are the absolute ones stored), then --resume auto
# continues it.
mkdir -p "$TMP/cwd"
( cd "$TMP/cwd" && bounded 120 "$DF_BIN" train "$out" --set solver.iterations=20 \
      --set solver.test_interval=0 --set run.threads=1 --set checkpoint.interval=10 ) \
    >"$TMP/ft.out" 2>&1 || fail "fine-tuning exited $?: $(cat "$TMP/ft.out")"
ftdir=$TMP/cwd/runs/mnist-lenet-reference-ip1-rank50
grep -q "starting from the parameters of $out" "$TMP/ft.out" || fail "fine-tune: no 'starting from' line"
[ -f "$ftdir/ckpt-00000010.h5" ] && [ -f "$ftdir/ckpt-00000020.h5" ] &&
    pass "fine-tuning wrote checkpoints in runs/mnist-lenet-reference-ip1-rank50" ||
    fail "fine-tuning checkpoints missing: $(ls -R "$TMP/cwd")"
"$DF_BIN" inspect "$ftdir/ckpt-00000020.h5" | grep -q '^ip1_svd .*dense' ||
    fail "the fine-tuned checkpoint lost ip1_svd"
( cd "$TMP/cwd" && bounded 120 "$DF_BIN" train "$out" --set solver.iterations=30 \
      --set solver.test_interval=0 --set run.threads=1 --set checkpoint.interval=10 --resume auto ) \
    >"$TMP/ft2.out" 2>&1 || fail "resumed fine-tuning exited $?: $(cat "$TMP/ft2.out")"
grep -q 'resuming from .*ckpt-00000020.h5 at step 20' "$TMP/ft2.out" && [ -f "$ftdir/ckpt-00000030.h5" ] &&
    pass "--resume auto continues the fine-tuning run" ||
    fail "fine-tune resume: $(cat "$TMP/ft2.out")"
# data-parallel fine-tuning: rank 0 loads, every rank starts from it
bounded 120 "$MPIRUN" -np 2 --oversubscribe "$DF_BIN" train "$out" --set solver.iterations=4 \
    --set solver.test_interval=0 --set run.threads=1 --set "run.dir=$TMP/ft-np2" \
    >"$TMP/ft-np2.out" 2>&1 && grep -q 'identical on 2 ranks' "$TMP/ft-np2.out" &&
    pass "fine-tuning on 2 ranks" || fail "fine-tuning on 2 ranks: $(cat "$TMP/ft-np2.out")"
# Training from a checkpoint uses runs/<run.name>: for an ordinary
# checkpoint that is its own run directory, which is refused (the new run
# would prune it); a new run.name is the way out.
( cd "$TMP" && "$DF_BIN" train "$ckpt" --set solver.iterations=2 --set run.threads=1 ) \
    >"$TMP/own.out" 2>"$TMP/err"; status=$?
[ "$status" -eq 2 ] && grep -q 'its own directory.*--set run.name=' "$TMP/err" &&
    [ -f "$ckpt" ] && [ ! -f "$TMP/runs/mnist-lenet-reference/ckpt-00000002.h5" ] &&
    pass "training into the source's own run directory refused" ||
    fail "own-directory refusal: exit $status, $(cat "$TMP/err")"

# ---- errors: exit 2, one line naming the culprit, no output left ----
mkdir -p "$TMP/o"
x=$TMP/o/x.h5
expect_error() {   # WHAT PATTERN ARGS...
    local what=$1 pattern=$2
    shift 2
    "$DF_BIN" compress "$@" >/dev/null 2>"$TMP/err"
    local status=$?
    if [ "$status" -ne 2 ]; then
        fail "$what: exit $status, expected 2 ($(cat "$TMP/err"))"
    elif ! grep -q -- "$pattern" "$TMP/err" || [ "$(wc -l <"$TMP/err")" -ne 1 ]; then
        fail "$what: message '$(cat "$TMP/err")' lacks '$pattern'"
    elif [ -n "$(ls -A "$TMP/o")" ]; then
        fail "$what: left $(ls -A "$TMP/o") behind"
    else
        pass "$what: $(cat "$TMP/err")"
    fi
}
expect_error "unknown layer" "nope.*dense layers: ip1, ip2" "$ckpt" --layer nope --rank 5 -o "$x"
expect_error "conv layer" "conv1.*conv layer" "$ckpt" --layer conv1 --rank 5 -o "$x"
expect_error "rank 0" "--rank" "$ckpt" --layer ip1 --rank 0 -o "$x"
expect_error "rank = min(m, n)" "--rank 500.*between 1 and 499" "$ckpt" --layer ip1 --rank 500 -o "$x"
expect_error "rank > min(m, n)" "--rank 900" "$ckpt" --layer ip1 --rank 900 -o "$x"
expect_error "rank not a number" "--rank 'ten'" "$ckpt" --layer ip1 --rank ten -o "$x"
expect_error "missing -o" "missing -o" "$ckpt" --layer ip1 --rank 5
expect_error "missing --layer" "missing --layer" "$ckpt" --rank 5 -o "$x"
expect_error "absent checkpoint" "absent.h5" "$TMP/absent.h5" --layer ip1 --rank 5 -o "$x"
head -c 4000 "$ckpt" >"$TMP/cut.h5"
expect_error "truncated checkpoint" "cut.h5" "$TMP/cut.h5" --layer ip1 --rank 5 -o "$x"
expect_error "a config, not a checkpoint" "mnist-lenet-reference.conf" "$ref" --layer ip1 --rank 5 -o "$x"
expect_error "compressed twice" "already has a layer called ip1_svd" "$out" --layer ip1 --rank 5 -o "$x"
# an existing output is kept unless --force
echo keep-me >"$x"
"$DF_BIN" compress "$ckpt" --layer ip1 --rank 5 -o "$x" >/dev/null 2>"$TMP/err"; status=$?
[ "$status" -eq 2 ] && grep -q 'already exists.*--force' "$TMP/err" && [ "$(cat "$x")" = keep-me ] &&
    pass "existing output refused: $(cat "$TMP/err")" || fail "existing output: exit $status, $(cat "$TMP/err")"
"$DF_BIN" compress "$ckpt" --layer ip1 --rank 5 -o "$x" --force >/dev/null 2>"$TMP/err" &&
    "$DF_BIN" inspect "$x" | grep -q 'total trainable parameters: 37,580' &&
    [ "$(ls -A "$TMP/o")" = x.h5 ] && pass "--force replaces it, nothing else left" ||
    fail "--force: $(cat "$TMP/err"); $(ls -A "$TMP/o")"
finish
