#!/usr/bin/env bash
# The data-parallel contract: after 30 steps (dropout on) P = 2 and P = 4
# ranks end with the parameters of P = 1, up to float summation order, for
# the reference LeNet and a Fastfood LeNet; every replica holds the same
# bits; bf16 gradients stay within a stated tolerance of fp32.
source "$(dirname "$0")/lib.sh"
: "${DF_COMPARE:?DF_COMPARE must name tests/compare_params}"

# Relative tolerance for P ranks vs 1 (the contract: 1e-5; measured ~3e-8),
# and for bf16 vs fp32 communication: bf16 keeps 8 bits of mantissa, so each
# step's gradient is off by a few 2^-8 relative (docs/data-parallel.md); the
# 30-step drift measured here was 4.7e-4 (norm-wise; 7e-4 with the bf16
# operator used before), so 5e-3 leaves room for other seeds.
P_TOL=1e-5
BF16_TOL=5e-3

# The Fastfood model runs at the Xavier-like init scale sigma = 1/sqrt(800).
# At the tuned sigma = 0.1 of conf/, P = 2 and P = 1 agree to 3e-9 after 5
# steps, but between steps 5 and 15 one ReLU or max-pool kink flips and the
# difference jumps to 1e-4 (measured; P = 4 stayed at 1e-8): chaotic
# amplification of float summation order, not a broken contract. The
# tuned config is checked over those first 5 steps below.
FF_SIGMA=(--set ff.sigma=0.0353553)

train() {  # name ranks conf [options]
    local name=$1 np=$2 conf=$3
    shift 3
    bounded 120 "$MPIRUN" -np "$np" --oversubscribe --bind-to none "$DF_BIN" train \
        "$DF_SRCDIR/conf/$conf.conf" "${SAMPLE_DATA[@]}" --set solver.iterations="${STEPS:-30}" \
        --set solver.display=10 --set solver.test_interval=0 --set run.threads=1 \
        --set "run.dir=$TMP/$name" --dump-params "$TMP/$name.f32" "$@" >"$TMP/$name.out" 2>&1 ||
        fail "$name: exited $?: $(tail -n 3 "$TMP/$name.out")"
}

for conf in mnist-lenet-reference mnist-adaptive-fastfood-1024-dropout; do
    extra=()
    [ "$conf" = mnist-lenet-reference ] || extra=("${FF_SIGMA[@]}")
    train "$conf-p1" 1 "$conf" "${extra[@]}"
    for np in 2 4; do
        train "$conf-p$np" "$np" "$conf" "${extra[@]}"
        grep -q "identical on $np ranks" "$TMP/$conf-p$np.out" ||
            fail "$conf P=$np: replicas not reported identical"
        if "$DF_COMPARE" "$TMP/$conf-p1.f32" "$TMP/$conf-p$np.f32" "$P_TOL"; then
            pass "$conf: P=$np equals P=1"
        else
            fail "$conf: P=$np differs from P=1 by more than $P_TOL"
        fi
    done
done

# the tuned config as shipped, over the steps before any kink flips
conf=mnist-adaptive-fastfood-1024-dropout
STEPS=5 train tuned-p1 1 "$conf"
STEPS=5 train tuned-p2 2 "$conf"
"$DF_COMPARE" "$TMP/tuned-p1.f32" "$TMP/tuned-p2.f32" 1e-7 ||
    fail "tuned $conf: P=2 differs from P=1 after 5 steps"

# bf16 on the wire: close to fp32, but not equal (else it was not applied)
train bf16-p2 2 "$conf" --set comm.dtype=bf16 "${FF_SIGMA[@]}"
grep -q 'allreduce 0.078 MB/step' "$TMP/bf16-p2.out" ||
    fail "bf16 should halve the bytes: $(grep -m1 -o 'allreduce [0-9.]* MB' "$TMP/bf16-p2.out")"
"$DF_COMPARE" "$TMP/$conf-p1.f32" "$TMP/bf16-p2.f32" "$BF16_TOL" ||
    fail "bf16 drifted from fp32 by more than $BF16_TOL"
"$DF_COMPARE" "$TMP/$conf-p1.f32" "$TMP/bf16-p2.f32" 0 --differ >/dev/null ||
    fail "bf16 gave exactly the fp32 parameters: was it applied?"
finish
