#!/usr/bin/env bash
# deepfried against PyTorch (CPU) on the same LeNets, the same solver and
# batch 64: training images/s of bench/bench_train and
# bench/peers/lenet_torch.py, run INTERLEAVED (deepfried, PyTorch,
# deepfried, PyTorch, ... for each model and thread count) so that whatever
# else the machine does slows both alike. Each run gives the median of its
# REPS blocks of STEPS steps after a warm-up; the table shows the median
# over ROUNDS runs of each, and deepfried / PyTorch.
#   bench/compare-pytorch.sh [ROUNDS] [STEPS]
# Environment: THREADS (default "1 2"), MODELS (default "reference
# fastfood-1024 fastfood-2048"), REPS (3), WARMUP (20), DATA (the MNIST
# directory; default data/mnist if fetched, else data/mnist-sample),
# PYTHON (/usr/bin/python3: Debian's python3-torch), BENCH_TRAIN.
# Not a test and not in make check: prints measured figures only.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
bench=${BENCH_TRAIN:-$root/bench/bench_train}
peer=$root/bench/peers/lenet_torch.py
python=${PYTHON:-/usr/bin/python3}
rounds=${1:-5}
steps=${2:-50}
reps=${REPS:-3}
warmup=${WARMUP:-20}
threads=${THREADS:-1 2}
models=${MODELS:-reference fastfood-1024 fastfood-2048}
if [ -z "${DATA:-}" ]; then
    DATA=$root/data/mnist-sample
    [ -e "$root/data/mnist/train-images-idx3-ubyte.gz" ] && DATA=$root/data/mnist
fi

die() { echo "compare-pytorch.sh: $*" >&2; exit 1; }
[ -x "$bench" ] || die "$bench not found: build it first (make)"
command -v "$python" >/dev/null 2>&1 || die "no Python at $python (set PYTHON)"
torch_version=$("$python" -c 'import torch; print(torch.__version__)' 2>/dev/null) ||
    die "PyTorch is not installed for $python: apt-get install python3-torch (Debian), or set PYTHON to a Python that has torch"

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
results=$tmp/results

median() { sort -g | awk '{ v[NR] = $1 } END { if (NR == 0) print "nan"; else print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

# the img_s of a run's "result ..." line, appended as "impl model threads img_s"
record() {  # impl model threads output-file
    local line
    line=$(grep '^result ' "$4" | tail -n 1) || die "$1 $2 $3 threads: no result line: $(tail -n 3 "$4")"
    echo "$1 $2 $3 $(sed -E 's/.* img_s=([0-9.]+).*/\1/' <<<"$line")" >>"$results"
}

"$bench" --models reference --threads 1 --steps 1 --reps 1 --warmup 0 --data "$DATA" |
    grep '^# [CFO]' >"$tmp/header" || die "bench_train failed on $DATA"
echo "# compare-pytorch.sh: deepfried bench_train vs PyTorch $torch_version, batch 64, $(date -u '+%Y-%m-%d %H:%M UTC')"
cat "$tmp/header"
echo "# load average at start: $(cat /proc/loadavg)"
echo "# data: $DATA; per run: $warmup warm-up steps, median of $reps blocks of $steps steps;"
echo "# $rounds runs of each, deepfried and PyTorch alternating; the table: medians over the runs"
echo "# PyTorch: OMP_NUM_THREADS=N, OPENBLAS_NUM_THREADS=1, torch.set_num_threads(N);"
echo "# deepfried: run.threads=N (the layers split the batch over N threads, OpenBLAS single-threaded)"

common=(--steps "$steps" --reps "$reps" --warmup "$warmup" --data "$DATA")
for t in $threads; do
    for r in $(seq "$rounds"); do
        for m in $models; do
            "$bench" --models "$m" --threads "$t" "${common[@]}" >"$tmp/out" 2>&1 ||
                die "bench_train $m $t threads failed: $(tail -n 3 "$tmp/out")"
            record deepfried "$m" "$t" "$tmp/out"
            "$python" "$peer" --model "$m" --threads "$t" "${common[@]}" >"$tmp/out" 2>&1 ||
                die "lenet_torch.py $m $t threads failed: $(tail -n 3 "$tmp/out")"
            record pytorch "$m" "$t" "$tmp/out"
        done
    done
done

echo "# load average at end: $(cat /proc/loadavg)"
echo
echo "| model | threads | deepfried img/s | PyTorch img/s | deepfried / PyTorch |"
echo "|---|---:|---:|---:|---:|"
for m in $models; do
    for t in $threads; do
        df=$(awk -v m="$m" -v t="$t" '$1 == "deepfried" && $2 == m && $3 == t { print $4 }' "$results" | median)
        pt=$(awk -v m="$m" -v t="$t" '$1 == "pytorch" && $2 == m && $3 == t { print $4 }' "$results" | median)
        awk -v m="$m" -v t="$t" -v a="$df" -v b="$pt" \
            'BEGIN { printf "| %s | %s | %.0f | %.0f | %.2f |\n", m, t, a, b, (b > 0 ? a / b : 0) }'
    done
done
echo
echo "# every run, images/s (impl model threads: runs in order):"
for impl in deepfried pytorch; do
    for m in $models; do
        for t in $threads; do
            echo "#   $impl $m $t: $(awk -v i="$impl" -v m="$m" -v t="$t" \
                '$1 == i && $2 == m && $3 == t { printf "%.0f ", $4 }' "$results")"
        done
    done
done
