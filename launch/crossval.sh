#!/usr/bin/env bash
# K-fold cross-validation on the training set, for choosing settings
# without looking at the test set. Fold k (k = 1..K) holds out training
# images [(k-1) F, k F), trains on all the others with seed k, and scores
# the fold it held out; the script prints each fold's error, then the mean
# and standard deviation. Two settings run with the same DF_FOLDS and
# DF_FOLD_SIZE see the same folds and seeds: their folds pair up.
#
#   bash launch/crossval.sh NAME CONF [--set KEY=VALUE ...]
#   bash launch/crossval.sh cv-af1024 conf/mnist-adaptive-fastfood-1024.conf
#   bash launch/crossval.sh cv-af1024-sigma0.05 conf/mnist-adaptive-fastfood-1024.conf \
#       --set ff.sigma=0.05
#
# Environment: DF_FOLDS (5), DF_FOLD_SIZE (10000: five folds cover the
# first 50,000 MNIST training images), DF_JOBS (1; 2 runs two folds at a
# time, one process and one thread each), DF_WORK (runs/crossval),
# DF_BIN (./deepfried).
#
# Restartable: fold k lives in DF_WORK/NAME/fold-k and is marked done when
# it finishes; a finished fold is not run again and an interrupted one
# resumes from its newest intact checkpoint. Builds nothing: run
# launch/quickstart.sh or make first.
set -euo pipefail

usage() {
    sed -n '2,/^set -euo/{/^set -euo/d;s/^# \{0,1\}//;p}' "$0"
}
if [ $# -lt 2 ] || [ "$1" = -h ] || [ "$1" = --help ]; then
    usage
    [ $# -ge 1 ] && { [ "$1" = -h ] || [ "$1" = --help ]; } && exit 0
    exit 2
fi
name=$1 conf=$2
shift 2
folds=${DF_FOLDS:-5}
fold_size=${DF_FOLD_SIZE:-10000}
jobs=${DF_JOBS:-1}
work=${DF_WORK:-runs/crossval}
bin=${DF_BIN:-./deepfried}

die() { printf 'crossval: %s\n' "$*" >&2; exit 2; }
case $name in
    '' | */* | .*) die "NAME '$name' must be a plain directory name" ;;
esac
[ -f "$conf" ] || die "$conf: no such config file"
[ -x "$bin" ] || die "$bin: not an executable program (build first, or set DF_BIN)"
for v in folds fold_size jobs; do
    [[ ${!v} =~ ^[1-9][0-9]*$ ]] || die "$v must be a positive integer, got '${!v}'"
done

# run_fold K [OPTION...]: trains fold K unless it is done; its log is
# fold-K/train.log.
run_fold() {
    local k=$1 dir=$work/$name/fold-$1 rc=0
    shift
    [ -f "$dir/done" ] && return 0
    mkdir -p "$dir"
    "$bin" train "$conf" --set run.dir="$dir" --set run.seed="$k" --set run.threads=1 \
        --set data.holdout="$fold_size" --set data.holdout_start=$(( (k - 1) * fold_size )) \
        --set data.eval_on=holdout "$@" --resume auto >>"$dir/train.log" 2>&1 || rc=$?
    if [ "$rc" -ne 0 ]; then
        printf 'crossval: fold %d failed (exit %d); the end of %s:\n' "$k" "$rc" "$dir/train.log" >&2
        tail -n 3 "$dir/train.log" >&2
        return "$rc"
    fi
    sed -n 's/^holdout error \([0-9.]*\)% on.*/\1/p' "$dir/train.log" | tail -n 1 >"$dir/done"
}

status=0
pids=()
for k in $(seq 1 "$folds"); do
    run_fold "$k" "$@" &
    pids+=($!)
    if [ "${#pids[@]}" -ge "$jobs" ]; then
        wait "${pids[0]}" || status=1
        pids=("${pids[@]:1}")
    fi
done
for p in "${pids[@]}"; do
    wait "$p" || status=1
done
if [ "$status" -ne 0 ]; then
    echo "crossval: not every fold finished; fix what is shown above and run the same" \
         "command again (finished folds are kept)" >&2
    exit 1
fi

for k in $(seq 1 "$folds"); do
    printf 'fold %d (images %d..%d, seed %d): held-out error %s%%\n' "$k" \
        $(( (k - 1) * fold_size )) $(( k * fold_size - 1 )) "$k" "$(cat "$work/$name/fold-$k/done")"
done
for k in $(seq 1 "$folds"); do cat "$work/$name/fold-$k/done"; done | awk -v name="$name" '
    { x[NR] = $1; s += $1 }
    END {
        m = s / NR
        for (i = 1; i <= NR; i++) v += (x[i] - m) ^ 2
        sd = NR > 1 ? sqrt(v / (NR - 1)) : 0
        printf "%s: mean held-out error %.3f%% +- %.3f (sd over %d folds)\n", name, m, sd, NR
    }'
