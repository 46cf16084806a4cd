#!/usr/bin/env bash
# A bad data file stops `deepfried train` before any work, with exit status 2
# and one line on stderr that names the file: wrong magic, truncated,
# label out of range, image/label count mismatch, missing file.
#
# Run by `make check` with DF_BIN (the program), DF_SAMPLE (the embedded
# MNIST sample) and DF_SRCDIR (the source tree) in the environment.
set -euo pipefail

: "${DF_BIN:?DF_BIN must name the deepfried program}"
: "${DF_SAMPLE:?DF_SAMPLE must name the MNIST sample directory}"
: "${DF_SRCDIR:?DF_SRCDIR must name the source tree}"

conf=$DF_SRCDIR/conf/mnist-lenet-reference.conf
train_images=$DF_SAMPLE/train-images-idx3-ubyte.gz
train_labels=$DF_SAMPLE/train-labels-idx1-ubyte.gz
test_images=$DF_SAMPLE/t10k-images-idx3-ubyte.gz
test_labels=$DF_SAMPLE/t10k-labels-idx1-ubyte.gz

for f in "$DF_BIN" "$conf" "$train_images" "$train_labels" "$test_images" "$test_labels"; do
    if [[ ! -e $f ]]; then
        echo "cli_bad_data: missing $f" >&2
        exit 1
    fi
done

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# Big-endian 32-bit integer $1 as 4 raw bytes.
be32() {
    local shift
    for shift in 24 16 8 0; do
        printf '%b' "\\0$(printf '%o' $(($1 >> shift & 255)))"
    done
}

# ---- the bad files, each made from the real sample ----

# Labels where images belong: the magic says 0x00000801, not 0x00000803.
cp "$train_labels" "$tmp/wrong-magic-images.gz"

# Images cut off in the middle of the payload, stored plain (no .gz).
gzip -dc "$train_images" >"$tmp/whole-images"
head -c $((16 + 1234 * 784 + 100)) "$tmp/whole-images" >"$tmp/truncated-images"

# Labels whose first label is 12, beyond MNIST's ten classes.
{
    be32 $((0x00000801))
    be32 5000
    be32 12 | tail -c 1
    gzip -dc "$train_labels" | tail -c +10
} | gzip >"$tmp/out-of-range-labels.gz"

# 1000 labels for 5000 images.
cp "$test_labels" "$tmp/too-few-labels.gz"

# ---- running the program on them ----

failures=0

# expect_rejected WHAT BAD_PATH IMAGES LABELS
expect_rejected() {
    local what=$1 bad=$2 images=$3 labels=$4 status=0 lines
    rm -rf "$tmp/run"
    "$DF_BIN" train "$conf" \
        --set data.train_images="$images" \
        --set data.train_labels="$labels" \
        --set data.test_images="$test_images" \
        --set data.test_labels="$test_labels" \
        --set solver.iterations=1 \
        --set run.dir="$tmp/run" \
        >"$tmp/stdout" 2>"$tmp/stderr" || status=$?
    lines=$(wc -l <"$tmp/stderr")
    if [[ $status -ne 2 ]]; then
        echo "FAIL $what: exit status $status, expected 2" >&2
    elif ! grep -qF -- "$bad" "$tmp/stderr"; then
        echo "FAIL $what: stderr does not name $bad" >&2
    elif [[ $lines -ne 1 ]]; then
        echo "FAIL $what: $lines lines on stderr, expected one" >&2
    else
        echo "ok   $what: $(cat "$tmp/stderr")"
        return 0
    fi
    sed 's/^/     stderr: /' "$tmp/stderr" >&2
    failures=$((failures + 1))
}

expect_rejected "wrong magic" "$tmp/wrong-magic-images.gz" \
    "$tmp/wrong-magic-images.gz" "$train_labels"
expect_rejected "truncated images" "$tmp/truncated-images" \
    "$tmp/truncated-images" "$train_labels"
expect_rejected "label out of range" "$tmp/out-of-range-labels.gz" \
    "$train_images" "$tmp/out-of-range-labels.gz"
expect_rejected "image/label count mismatch" "$tmp/too-few-labels.gz" \
    "$train_images" "$tmp/too-few-labels.gz"
expect_rejected "missing file" "$tmp/no-such-images.gz" \
    "$tmp/no-such-images.gz" "$train_labels"

# A held-out range that runs past the training set's 5,000 sample images.
status=0
"$DF_BIN" train "$conf" \
    --set data.train_images="$train_images" --set data.train_labels="$train_labels" \
    --set data.test_images="$test_images" --set data.test_labels="$test_labels" \
    --set data.holdout=1000 --set data.holdout_start=4500 \
    --set solver.iterations=1 --set run.dir="$tmp/run" >"$tmp/stdout" 2>"$tmp/stderr" || status=$?
if [[ $status -eq 2 && $(wc -l <"$tmp/stderr") -eq 1 ]] &&
   grep -qF "key 'data.holdout_start': items 4500..5499 held out but the training set has only 5000" \
       "$tmp/stderr"; then
    echo "ok   held-out range past the end: $(cat "$tmp/stderr")"
else
    echo "FAIL held-out range past the end: exit status $status" >&2
    sed 's/^/     stderr: /' "$tmp/stderr" >&2
    failures=$((failures + 1))
fi

# A run directory that is a file: refused before the first step (status 1,
# a file-system failure), not when the first metrics line is written.
: >"$tmp/run-is-a-file"
status=0
"$DF_BIN" train "$conf" \
    --set data.train_images="$train_images" \
    --set data.train_labels="$train_labels" \
    --set data.test_images="$test_images" \
    --set data.test_labels="$test_labels" \
    --set solver.iterations=200 --set solver.display=1 \
    --set run.dir="$tmp/run-is-a-file" \
    >"$tmp/stdout" 2>"$tmp/stderr" || status=$?
if [[ $status -ne 1 ]]; then
    echo "FAIL run dir is a file: exit status $status, expected 1" >&2
    failures=$((failures + 1))
elif grep -q '^step ' "$tmp/stdout"; then
    echo "FAIL run dir is a file: trained before refusing it" >&2
    failures=$((failures + 1))
elif [[ $(wc -l <"$tmp/stderr") -ne 1 ]] ||
     ! grep -qF -- "$tmp/run-is-a-file" "$tmp/stderr"; then
    echo "FAIL run dir is a file: expected one stderr line naming it" >&2
    sed 's/^/     stderr: /' "$tmp/stderr" >&2
    failures=$((failures + 1))
else
    echo "ok   run dir is a file: $(cat "$tmp/stderr")"
fi

if ((failures > 0)); then
    echo "cli_bad_data: $failures case(s) failed" >&2
    exit 1
fi
echo "cli_bad_data: all cases rejected as expected"
