#!/usr/bin/env bash
# Data-parallel figures on this machine: training images/s for P = 1 with 2
# and 1 threads (run.threads) and P = 2 with 1 thread each, the communication wait
# not hidden by backward, and the bytes allreduced per step, for the
# reference LeNet and the Adaptive Fastfood 1024/2048 LeNets (fp32, bf16).
# Each configuration runs STEPS steps REPEATS times; the table shows medians.
#   bench/data-parallel.sh [STEPS] [REPEATS]
# Not a test: prints measured figures only.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
bin=${DEEPFRIED:-$root/deepfried}
steps=${1:-400}
repeats=${2:-3}
s=$root/data/mnist-sample
data=(--set "data.train_images=$s/train-images-idx3-ubyte.gz" --set "data.train_labels=$s/train-labels-idx1-ubyte.gz"
      --set "data.test_images=$s/t10k-images-idx3-ubyte.gz" --set "data.test_labels=$s/t10k-labels-idx1-ubyte.gz")
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

median() { sort -g | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

# one run: prints "img/s wait_ms MB/step" from the steady-state progress lines
run() {  # ranks threads conf dtype
    local np=$1 threads=$2 conf=$3 dtype=$4 over=()
    [ "$np" -gt "$(nproc)" ] && over=(--oversubscribe)
    mpirun -np "$np" --bind-to none "${over[@]}" "$bin" train "$root/conf/$conf.conf" "${data[@]}" \
        --set solver.iterations="$steps" --set solver.display=50 --set solver.test_interval=0 \
        --set checkpoint.interval=0 --set run.threads="$threads" --set comm.dtype="$dtype" \
        --set "run.dir=$tmp/run" >"$tmp/out" 2>&1
    # skip the first window (start-up)
    grep '^step [0-9]*/' "$tmp/out" | tail -n +2 |
        sed -E 's/.*\| ([0-9.]+) img\/s .*allreduce ([0-9.]+) MB\/step, wait ([0-9.]+) ms/\1 \3 \2/' |
        awk '{ i += $1; w += $2; mb = $3; n++ } END { printf "%.0f %.2f %.3f\n", i / n, w / n, mb }'
}

echo "# deepfried data-parallel benchmark, $(date -u +%Y-%m-%dT%H:%MZ)"
echo "# CPU: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(nproc) cores"
echo "# OPENBLAS_CORETYPE=${OPENBLAS_CORETYPE:-unset}; $steps steps of global batch 64 on the MNIST sample, median of $repeats runs"
printf '| model | comm | ranks x threads | img/s | comm wait ms/step | step ms | wait share | MB allreduced/step |\n'
printf '| --- | --- | --- | ---: | ---: | ---: | ---: | ---: |\n'
for conf in mnist-lenet-reference mnist-adaptive-fastfood-1024 mnist-adaptive-fastfood-2048; do
    for setup in "1 2 fp32" "1 1 fp32" "2 1 fp32" "2 1 bf16"; do
        read -r np threads dtype <<<"$setup"
        : >"$tmp/rows"
        for _ in $(seq "$repeats"); do run "$np" "$threads" "$conf" "$dtype" >>"$tmp/rows"; done
        ips=$(cut -d' ' -f1 "$tmp/rows" | median)
        wait_ms=$(cut -d' ' -f2 "$tmp/rows" | median)
        mb=$(cut -d' ' -f3 "$tmp/rows" | median)
        step_ms=$(awk -v i="$ips" 'BEGIN { printf "%.1f", 64000 / i }')
        share=$(awk -v w="$wait_ms" -v s="$step_ms" 'BEGIN { printf "%.0f%%", 100 * w / s }')
        printf '| %s | %s | %s x %s | %s | %s | %s | %s | %s |\n' "$conf" "$dtype" "$np" "$threads" \
            "$ips" "$wait_ms" "$step_ms" "$share" "$mb"
    done
done
