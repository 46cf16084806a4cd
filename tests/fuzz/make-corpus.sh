#!/usr/bin/env bash
# Rebuild the seed corpus in tests/fuzz/corpus/ (checked in; run by hand
# when a reader's format changes). Small on purpose: each file < 64 KB.
#   tests/fuzz/make-corpus.sh BUILDDIR [SECTION...]   # BUILDDIR holds a built deepfried
# SECTIONs (default: all):
#   config/      conf files, and one with --set overrides after NUL bytes
#   idx/         tiny image+label pairs from the MNIST sample, stored each
#                way fuzz_idx.c's first byte can say (plain, raw .gz,
#                compressed by the harness, .gz sibling)
#   checkpoint/  real checkpoints of fuzz_checkpoint.c's two tiny nets,
#                written by deepfried train, each as raw-* (byte 0 = 0, the
#                file as on disk) and sealed-* (byte 0 = 1, the HDF5 part
#                after the integrity header)
#   latest/      checkpoint directories for fuzz_latest.c: `latest`, then
#                the entries, NUL-separated
#   args/        command lines for fuzz_args.c, NUL-separated words (train,
#                eval, inspect and compress)
set -euo pipefail
src=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
bin=$(cd "${1:?usage: make-corpus.sh BUILDDIR [config|idx|checkpoint|latest|args]...}" && pwd)/deepfried
shift
sections=${*:-config idx checkpoint latest args}
want() { [[ " $sections " == *" $1 "* ]]; }
[ -x "$bin" ] || { echo "no deepfried program in $1" >&2; exit 1; }
out="$src/tests/fuzz/corpus"
sample="$src/data/mnist-sample"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# ---- config ----
if want config; then
rm -f "$out"/config/*
mkdir -p "$out/config"
for c in mnist-lenet-reference mnist-adaptive-fastfood-1024-dropout mnist-fastfood-2048 \
         fashion-mnist-adaptive-fastfood-1024; do
    cp "$src/conf/$c.conf" "$out/config/$c.conf"
done
{ cat "$src/conf/mnist-fastfood-1024.conf"
  printf '\0solver.lr_policy=step\0solver.stepsize=100\0ff.sigma=0.05\0layer.ip2.outputs=10'
} >"$out/config/fastfood-1024-with-overrides"
fi

# ---- idx ----
if want idx; then
# the first n items of the sample, with the header's count set to n
be32() { printf "\\x$(printf %02x $(($1 >> 24 & 255)))\\x$(printf %02x $(($1 >> 16 & 255)))\\x$(printf %02x $(($1 >> 8 & 255)))\\x$(printf %02x $(($1 & 255)))"; }
le16() { printf "\\x$(printf %02x $(($1 & 255)))\\x$(printf %02x $(($1 >> 8 & 255)))"; }
images() { # n rows cols: n images from the sample (28x28) or synthetic
    if [ "$2" -eq 28 ]; then
        { be32 $((0x803)); be32 "$1"; be32 28; be32 28
          head -c $((16 + $1 * 784)) "$tmp/train-images" | tail -c $(($1 * 784)); }
    else
        { be32 $((0x803)); be32 "$1"; be32 "$2"; be32 "$3"
          head -c $((16 + $1 * $2 * $3)) "$tmp/train-images" | tail -c $(($1 * $2 * $3)); }
    fi
}
labels() { { be32 $((0x801)); be32 "$1"
             head -c $((8 + $1)) "$tmp/train-labels" | tail -c "$1"; }; }
seed() { # name mode images-file labels-file
    { printf "\\x$(printf %02x "$2")"; le16 "$(stat -c %s "$3")"; cat "$3" "$4"; } >"$out/idx/$1"
}
rm -f "$out"/idx/*
mkdir -p "$out/idx"
# (whole files first: a reader closing a pipe early would trip pipefail)
gzip -dc "$sample/train-images-idx3-ubyte.gz" >"$tmp/train-images"
gzip -dc "$sample/train-labels-idx1-ubyte.gz" >"$tmp/train-labels"
images 3 28 28 >"$tmp/im3"; labels 3 >"$tmp/lb3"
images 4 2 3 >"$tmp/im4"; labels 4 >"$tmp/lb4"
gzip -9nc "$tmp/im3" >"$tmp/im3.gz"; gzip -9nc "$tmp/lb3" >"$tmp/lb3.gz"
seed mnist3-plain 0 "$tmp/im3" "$tmp/lb3"               # both plain
seed mnist3-rawgz $((1 | 1 << 2)) "$tmp/im3.gz" "$tmp/lb3.gz"   # gzip bytes in *.gz files
seed mnist3-gzip $((2 | 2 << 2 | 16)) "$tmp/im3" "$tmp/lb3"    # compressed by the harness, 10 classes
seed mnist3-sibling $((3 | 0 << 2)) "$tmp/im3" "$tmp/lb3"     # images found as the .gz sibling
seed tiny4-2x3-plain 0 "$tmp/im4" "$tmp/lb4"
seed tiny4-2x3-mixed $((0 | 2 << 2)) "$tmp/im4" "$tmp/lb4"
fi

# ---- checkpoint ----
if want checkpoint; then
# The nets of fuzz_checkpoint.c's TINY_CONF: keep the two in step.
tiny_conf() { cat <<CONF
[run]
name = fuzz-tiny
seed = 3
[data]
train_images = train-images-idx3-ubyte.gz
train_labels = train-labels-idx1-ubyte.gz
test_images = t10k-images-idx3-ubyte.gz
test_labels = t10k-labels-idx1-ubyte.gz
[solver]
batch = 16
iterations = 20
display = 5
test_interval = 10
[checkpoint]
interval = 10
[layer pool]
type = maxpool
kernel = 4
[layer ff]
type = fastfood
features = 10
adaptive = $1
sigma = 0.1
[layer loss]
type = softmax_loss
CONF
}
rm -f "$out"/checkpoint/*
mkdir -p "$out/checkpoint"
for kind in adaptive fixed; do
    flag=true; [ "$kind" = fixed ] && flag=false
    tiny_conf "$flag" >"$tmp/$kind.conf"
    # run from the sample directory: the stored config names no path of this machine
    (cd "$sample" && OPENBLAS_NUM_THREADS=1 "$bin" train "$tmp/$kind.conf" --set "run.dir=$tmp/run-$kind" \
        --set run.threads=1) >"$tmp/$kind.out" 2>&1 || { cat "$tmp/$kind.out" >&2; exit 1; }
    ckpt="$tmp/run-$kind/$(cat "$tmp/run-$kind/latest")"
    # fuzz_checkpoint.c's byte 0: 0 = raw (the whole file), 1 = sealed (the
    # HDF5 part; the harness writes the integrity header)
    { printf '\0'; cat "$ckpt"; } >"$out/checkpoint/raw-$kind"
    { printf '\1'; tail -c +513 "$ckpt"; } >"$out/checkpoint/sealed-$kind"
done
fi

# ---- latest ----
# byte 0: bits 0-1 latest absent/file/directory, bits 2-7 max (0: all);
# then latest's content, NUL, the entries NUL-separated (NAME/ = directory)
latest_seed() { # name flags content entries...
    local name=$1 flags=$2 content=$3
    shift 3
    { printf "\\x$(printf %02x "$flags")%s" "$content"; for e in "$@"; do printf '\0%s' "$e"; done
    } >"$out/latest/$name"
}
if want latest; then
rm -f "$out"/latest/*
mkdir -p "$out/latest"
nl=$'\n'
run=(ckpt-00000100.h5 ckpt-00000200.h5 ckpt-00000300.h5 ckpt-00000150.h5.tmp latest.tmp metrics.csv)
latest_seed newest 1 "ckpt-00000300.h5$nl" "${run[@]}"
latest_seed restarted-from-older 1 "ckpt-00000200.h5$nl" "${run[@]}"
latest_seed no-latest 0 "" "${run[@]}"
latest_seed latest-is-a-directory 2 "" "${run[@]}"
latest_seed latest-names-a-missing-file 1 "ckpt-00000400.h5$nl" "${run[@]}"
latest_seed latest-leads-outside 1 "../ckpt-00000300.h5$nl" "${run[@]}"
latest_seed latest-crlf-max-1 $((1 | 1 << 2)) "ckpt-00000100.h5\r$nl" "${run[@]}"
latest_seed long-steps-and-a-directory 1 "ckpt-1234567890123456789.h5$nl" \
    ckpt-1234567890123456789.h5 ckpt-123456789012345678.h5 ckpt-7.h5/ ckpt-07.h5 ckpt-.h5
fi

# ---- args ----
# byte 0: bit 0 train's options, bit 1 the first word is DEEPFRIED_INJECT_NAN
args_seed() { # name flags words...
    local name=$1 flags=$2 first=1
    shift 2
    { printf "\\x$(printf %02x "$flags")"
      for w in "$@"; do [ "$first" ] || printf '\0'; first=; printf '%s' "$w"; done
    } >"$out/args/$name"
}
if want args; then
rm -f "$out"/args/*
mkdir -p "$out/args"
args_seed train 1 conf/mnist-lenet-reference.conf --set solver.batch=128 --set=ff.sigma=0.05 \
    --resume auto --quiet --profile --dump-params final.f32
args_seed train-resume-file 1 --resume=runs/x/ckpt-00000500.h5 conf/a.conf
args_seed train-inject-nan 3 1:20 conf/a.conf --set solver.iterations=40
args_seed inspect 0 runs/x/ckpt-00000500.h5 --set data.test_images=t10k-images-idx3-ubyte.gz
args_seed eval-help 0 --help
args_seed inspect-train-option 0 a.conf --quiet
args_seed set-without-value 1 a.conf --set
args_seed two-files 0 a.conf b.conf
args_seed dash-is-a-file 0 -
# compress's words (the harness gives every input to both parsers)
args_seed compress 0 runs/x/ckpt-00000030.h5 --layer ip1 --rank 50 -o ip1-rank50.h5 --force \
    --set data.test_images=t10k-images-idx3-ubyte.gz
args_seed compress-assign 0 --layer=ip1 --rank=16777216 --output=out.h5 --set=run.threads=1 a.h5
args_seed compress-rank-too-big 0 a.h5 --layer ip1 --rank 16777217 -o out.h5
args_seed compress-rank-not-a-number 0 a.h5 --layer ip1 --rank ten -o out.h5
args_seed compress-missing-output 0 a.h5 --layer ip1 --rank 5
args_seed compress-output-without-value 0 a.h5 --layer ip1 --rank 5 -o
args_seed compress-help-then-bad-rank 0 --help --rank 0
fi

find "$out" -type f -size +64k -printf 'too large: %p (%s bytes)\n' | grep . >&2 && exit 1
du -sh "$out"
ls -l "$out"/*
