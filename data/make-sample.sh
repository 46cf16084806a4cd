#!/usr/bin/env bash
# Regenerate data/mnist-sample/ from the full MNIST: the first 5000 training
# and the first 1000 test images with their labels, as gzipped IDX files
# whose header counts say so.
#
#   data/make-sample.sh [SRCDIR]
#
# SRCDIR holds the four MNIST IDX files, plain or .gz (default data/mnist,
# where data/fetch-mnist.sh puts them). gzip -9n leaves out the name and
# time stamp, so the same input always gives byte-identical output.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
src=${1:-$here/mnist}
dest=$here/mnist-sample
n_train=5000
n_test=1000
side=28

log() { printf 'make-sample: %s\n' "$*" >&2; }

# The 4 bytes of $1 as a big-endian unsigned 32-bit integer.
be32() {
    local shift
    for shift in 24 16 8 0; do
        printf '%b' "\\0$(printf '%o' $(($1 >> shift & 255)))"
    done
}

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# Decompress (or copy) $1 from SRCDIR into the scratch dir; prints the path.
# A file, not a pipe, feeds head below: head stopping early on a pipe would
# kill the writer with SIGPIPE, which pipefail turns into a failure.
plain_copy() {
    local name=$1
    if [[ -f $src/$name.gz ]]; then
        gzip -dc "$src/$name.gz" >"$tmp/$name"
    elif [[ -f $src/$name ]]; then
        cp "$src/$name" "$tmp/$name"
    else
        log "missing $src/$name(.gz); run data/fetch-mnist.sh first"
        exit 1
    fi
    printf '%s\n' "$tmp/$name"
}

# Header + the first $3 items of $4 bytes each from IDX file $1, gzipped to $2.
cut_idx() {
    local in=$1 out=$2 n=$3 item_bytes=$4 header_bytes=$5
    {
        if ((header_bytes == 16)); then
            be32 $((0x00000803)); be32 "$n"; be32 "$side"; be32 "$side"
        else
            be32 $((0x00000801)); be32 "$n"
        fi
        head -c $((header_bytes + n * item_bytes)) "$in" | tail -c +$((header_bytes + 1))
    } | gzip -9n >"$out.tmp"
    mv "$out.tmp" "$out"
    log "wrote $out ($n items, $(wc -c <"$out") bytes)"
}

mkdir -p "$dest"
for set in train:$n_train t10k:$n_test; do
    name=${set%%:*}
    n=${set#*:}
    images=$(plain_copy "$name-images-idx3-ubyte")
    labels=$(plain_copy "$name-labels-idx1-ubyte")
    cut_idx "$images" "$dest/$name-images-idx3-ubyte.gz" "$n" $((side * side)) 16
    cut_idx "$labels" "$dest/$name-labels-idx1-ubyte.gz" "$n" 1 8
    rm -f "$images" "$labels"
done
