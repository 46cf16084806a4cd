#!/bin/sh
# End to end: `deepfried train` refuses a bad config before doing any work,
# with exit status exactly 2 and one line on stderr that names the file (and
# the line and key where there is one).
#
# Environment (set by `make check`): DF_BIN, the deepfried program. Runs in
# any directory; everything it writes goes to a temporary directory.

me=cli_bad_config
if [ -z "${DF_BIN:-}" ] || [ ! -x "$DF_BIN" ]; then
    echo "$me: DF_BIN='${DF_BIN:-}' is not an executable program" >&2
    exit 1
fi

tmp=$(mktemp -d "${TMPDIR:-/tmp}/df-cli-bad-config.XXXXXX") || exit 1
trap 'rm -rf "$tmp"' EXIT
trap 'exit 1' HUP INT TERM

# Stand-in data files: every case fails at config validation, before any
# data is read, so they only need to exist.
mkdir "$tmp/data"
for f in train-images train-labels test-images test-labels; do
    : >"$tmp/data/$f.gz"
done

# A valid config starting with [data] (so train_images is on its line 2).
valid_body() {
    cat <<EOF
[data]
train_images = $tmp/data/train-images.gz
train_labels = $tmp/data/train-labels.gz
test_images = $tmp/data/test-images.gz
test_labels = $tmp/data/test-labels.gz

[run]
dir = $tmp/run

[layer conv1]
type = conv
outputs = 4
kernel = 5

[layer pool1]
type = maxpool
kernel = 2

[layer ip1]
type = dense
outputs = 10

[layer loss]
type = softmax_loss
EOF
}

# write_conf FILE [LINES...]: the given lines first, then the valid body,
# so an error in LINES has a known line number.
write_conf() {
    file=$1
    shift
    : >"$file"
    for line in "$@"; do
        printf '%s\n' "$line" >>"$file"
    done
    valid_body >>"$file"
}

failures=0

# rejected NAME NEEDLE... -- ARGS...: run "$DF_BIN" ARGS, expect status 2
# and exactly one stderr line containing every NEEDLE.
rejected() {
    name=$1
    shift
    n_needles=0
    while [ "$#" -gt 0 ] && [ "$1" != "--" ]; do
        n_needles=$((n_needles + 1))
        printf '%s\n' "$1" >"$tmp/needle.$n_needles"
        shift
    done
    shift   # the "--"
    "$DF_BIN" "$@" >"$tmp/stdout" 2>"$tmp/stderr" </dev/null
    rc=$?
    problem=
    lines=$(awk 'END { print NR }' "$tmp/stderr")
    if [ "$rc" -ne 2 ]; then
        problem="exit status $rc, want 2"
    elif [ "$lines" -ne 1 ]; then
        problem="$lines lines on stderr, want exactly 1"
    else
        i=1
        while [ "$i" -le "$n_needles" ]; do
            needle=$(cat "$tmp/needle.$i")
            if ! grep -F -q -e "$needle" "$tmp/stderr"; then
                problem="stderr does not mention '$needle'"
                break
            fi
            i=$((i + 1))
        done
    fi
    if [ -n "$problem" ]; then
        failures=$((failures + 1))
        echo "FAIL: $name: $problem"
        echo "  command: $DF_BIN $*"
        sed 's/^/  stderr: /' "$tmp/stderr"
    else
        echo "ok: $name: $(cat "$tmp/stderr")"
    fi
    rm -f "$tmp"/needle.*
}

conf=$tmp/unknown-key.conf
write_conf "$conf" "[solver]" "batchsize = 64"
rejected "unknown key" "$conf:2:" "solver.batchsize" -- train "$conf"

conf=$tmp/unknown-section.conf
write_conf "$conf" "[solverr]" "batch = 64"
rejected "unknown section" "$conf:1:" "solverr" -- train "$conf"

conf=$tmp/bad-number.conf
write_conf "$conf" "[solver]" "batch = 6x4"
rejected "bad number" "$conf:2:" "solver.batch" "6x4" -- train "$conf"

conf=$tmp/out-of-range.conf
write_conf "$conf" "[solver]" "momentum = 1.5"
rejected "value out of range" "$conf:2:" "solver.momentum" -- train "$conf"

conf=$tmp/missing-data.conf
valid_body | sed "s|^train_images = .*|train_images = $tmp/nowhere/train.gz|" >"$conf"
rejected "missing data file" "$conf:2:" "data.train_images" "$tmp/nowhere/train.gz" \
    -- train "$conf"

conf=$tmp/holdout-start-alone.conf
valid_body | sed '1a holdout_start = 100' >"$conf"
rejected "holdout_start without holdout" "$conf:2:" "data.holdout_start" "data.holdout is 0" \
    -- train "$conf"

conf=$tmp/good.conf
write_conf "$conf"
rejected "bad --set value" "--set solver.batch=abc" "solver.batch" \
    -- train "$conf" --set solver.batch=abc
rejected "--set of an unknown key" "--set solver.nokey=1" "solver.nokey" \
    -- train "$conf" --set solver.nokey=1
rejected "--set without a value" "solver.batch" \
    -- train "$conf" --set solver.batch

rejected "nonexistent config file" "$tmp/absent.conf" -- train "$tmp/absent.conf"

mkdir "$tmp/adir.conf"
rejected "config that is a directory" "$tmp/adir.conf" -- train "$tmp/adir.conf"

: >"$tmp/empty.conf"
rejected "empty config file" "$tmp/empty.conf" -- train "$tmp/empty.conf"

if [ "$failures" -ne 0 ]; then
    echo "$me: $failures case(s) failed"
    exit 1
fi
echo "$me: all cases passed"
exit 0
