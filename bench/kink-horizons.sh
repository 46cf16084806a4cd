#!/usr/bin/env bash
# Measures, for every OpenBLAS kernel this machine can run, how far apart the
# rank-count, thread-count and resume-on-another-rank-count equivalence runs
# of tests/ drift as training goes on: the norm-wise relative difference of
# the parameters at steps 1, 2, 3, 5, ... 100 (DF_STEPS) against the run they are compared
# with. The difference stays at float rounding (1e-9..1e-7) until a ReLU or
# max-pool kink flips on one side and not the other; then it jumps by orders
# of magnitude. The tests compare inside the horizon this script shows to be
# free of such flips for every kernel (docs/testing.md has the table).
#
#   bash bench/kink-horizons.sh [KERNEL...]    (from a built tree; default: all below)
#
# Prints CSV: kernel,config,comparison,step,relative_difference. KERNEL is
# an OPENBLAS_CORETYPE value, or "auto" for the one OpenBLAS picks itself;
# DF_CONFIGS limits the configs (names: the case below), DF_STEPS the steps
# compared (ascending; the runs train to the last).
# Not a test: 5-10 minutes per kernel and config set on 2 idle cores (a
# checkpoint every step, read back at each step compared).
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OPENBLAS_NUM_THREADS=1
export OMPI_MCA_btl=self,vader OMPI_MCA_rmaps_base_oversubscribe=1
bin=./deepfried compare=tests/compare_params
[ -x "$bin" ] && [ -x "$compare" ] || { echo "build first (make; make tests/compare_params)" >&2; exit 1; }

kernels=("$@")
[ ${#kernels[@]} -gt 0 ] || kernels=(auto Haswell SkylakeX Cooperlake Zen Sandybridge Nehalem Prescott)
read -r -a steps <<<"${DF_STEPS:-1 2 3 5 10 20 30 40 60 100}"
last=${steps[${#steps[@]}-1]}
s=data/mnist-sample
data=(--set "data.train_images=$s/train-images-idx3-ubyte.gz" --set "data.train_labels=$s/train-labels-idx1-ubyte.gz"
      --set "data.test_images=$s/t10k-images-idx3-ubyte.gz" --set "data.test_labels=$s/t10k-labels-idx1-ubyte.gz")
tmp=$(mktemp -d "${TMPDIR:-/tmp}/kink-horizons.XXXXXX")
trap 'rm -rf "$tmp"' EXIT

train() {  # dir ranks threads conf [options]: 100 steps, a checkpoint every 5
    local dir=$1 np=$2 threads=$3 conf=$4
    shift 4
    timeout 300 mpirun -np "$np" --bind-to none "$bin" train "$conf" "${data[@]}" \
        --set solver.iterations="$last" --set solver.display=100 --set solver.test_interval=0 \
        --set run.threads="$threads" --set checkpoint.interval=1 --set checkpoint.keep=1000 \
        --set "run.dir=$dir" "$@" >"$dir.log" 2>&1 || echo "run $dir failed: $(tail -n 2 "$dir.log")" >&2
}
dump() {  # dir step conf [options] -> the parameters of checkpoint step as raw float32
    local dir=$1 step=$2 conf=$3
    shift 3
    "$bin" train "$conf" "${data[@]}" --set solver.iterations="$step" --set solver.test_interval=0 \
        --set "run.dir=$tmp/dump" --resume "$(printf '%s/ckpt-%08d.h5' "$dir" "$step")" \
        --dump-params "$dir.$step.f32" "$@" >/dev/null 2>&1
}
diff_of() { "$compare" "$1" "$2" 1 | sed -n 's/.*relative difference \([^ ]*\) .*/\1/p'; }

echo "kernel,config,comparison,step,relative_difference"
for kernel in "${kernels[@]}"; do
    if [ "$kernel" = auto ]; then unset OPENBLAS_CORETYPE; else export OPENBLAS_CORETYPE=$kernel; fi
    for config in ${DF_CONFIGS:-reference af1024-dropout-xavier af1024-dropout-tuned smooth-lenet smooth-fastfood-dropout}; do
        case $config in
            reference) conf=conf/mnist-lenet-reference.conf opts=() ;;
            af1024-dropout-xavier) conf=conf/mnist-adaptive-fastfood-1024-dropout.conf opts=(--set ff.sigma=0.0353553) ;;
            af1024-dropout-tuned) conf=conf/mnist-adaptive-fastfood-1024-dropout.conf opts=() ;;
            smooth-*) conf=tests/conf/$config.conf opts=() ;;
            *) echo "unknown config $config" >&2; exit 1 ;;
        esac
        d=$tmp/$kernel-$config
        train "$d-p1" 1 1 "$conf" "${opts[@]}"
        train "$d-p2" 2 1 "$conf" "${opts[@]}"
        train "$d-p4" 4 1 "$conf" "${opts[@]}"
        train "$d-t2" 1 2 "$conf" "${opts[@]}"
        train "$d-t3" 1 3 "$conf" "${opts[@]}"
        train "$d-p2t2" 2 2 "$conf" "${opts[@]}"
        # a P = 2 checkpoint of step 30 resumed on 1 and on 4 ranks
        for np in 1 4; do
            [ "$last" -gt 30 ] || continue
            mkdir -p "$d-r$np"
            cp "$d-p2"/ckpt-0000001?.h5 "$d-p2"/ckpt-0000002?.h5 "$d-p2"/ckpt-00000030.h5 "$d-r$np"/
            echo ckpt-00000030.h5 >"$d-r$np/latest"
            timeout 300 mpirun -np "$np" --bind-to none "$bin" train "$conf" "${data[@]}" \
                --set solver.iterations="$last" --set solver.display=100 --set solver.test_interval=0 \
                --set run.threads=1 --set checkpoint.interval=1 --set checkpoint.keep=1000 \
                --set "run.dir=$d-r$np" --resume auto "${opts[@]}" >"$d-r$np.log" 2>&1 ||
                echo "resume $d-r$np failed: $(tail -n 2 "$d-r$np.log")" >&2
        done
        for step in "${steps[@]}"; do
            for run in p1 p2 p4 t2 t3 p2t2 r1 r4; do
                [ "$run" != r1 ] && [ "$run" != r4 ] || [ "$step" -gt 30 ] || continue
                dump "$d-$run" "$step" "$conf" "${opts[@]}"
            done
            for pair in p1:p2 p1:p4 p1:t2 p1:t3 p1:p2t2 p2:r1 p2:r4; do
                a=${pair%%:*} b=${pair##*:}
                [ -f "$d-$a.$step.f32" ] && [ -f "$d-$b.$step.f32" ] || continue
                echo "$kernel,$config,$b-vs-$a,$step,$(diff_of "$d-$a.$step.f32" "$d-$b.$step.f32")"
            done
        done
        rm -rf "$d"-*
    done
done
