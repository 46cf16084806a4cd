#!/usr/bin/env bash
# Damaged checkpoints are never loaded silently: a byte flipped anywhere
# (200 offsets: the integrity header, the HDF5 superblock, the data), a
# truncated or zero-filled file, a deleted `latest` are each detected with
# one clear line and exit 2, never a crash or a hang; --resume auto falls
# back to the previous checkpoint (and the model still ends bit-identical,
# since training is deterministic); --resume of a damaged file exits 2. A config whose architecture changed is refused
# naming the key; an unwritable checkpoint directory stops the run with a
# clear message and a non-zero exit, earlier checkpoints intact. A
# checkpoint made with 2 ranks resumes on 1 and on 4.
source "$(dirname "$0")/lib.sh"
: "${DF_COMPARE:?DF_COMPARE must name tests/compare_params}"

conf="$DF_SRCDIR/conf/mnist-adaptive-fastfood-1024-dropout.conf"
opts=("${SAMPLE_DATA[@]}" --set solver.display=10 --set solver.test_interval=0
      --set run.threads=1 --set checkpoint.interval=10 --set checkpoint.keep=5)
train() { bounded 120 "$DF_BIN" train "$conf" "${opts[@]}" "$@"; }

# a 40-step run leaves ckpt 20, 30, 40 (keep 5: also 10); then the straight 60
train --set solver.iterations=40 --set "run.dir=$TMP/base" >"$TMP/base.out" 2>&1 ||
    fail "base run exited $?"
train --set solver.iterations=60 --set "run.dir=$TMP/straight" --dump-params "$TMP/straight.f32" \
    >/dev/null 2>&1 || fail "straight run exited $?"
[ "$(cat "$TMP/base/latest")" = ckpt-00000040.h5 ] || fail "latest is '$(cat "$TMP/base/latest")'"

# Every damaged copy of a real checkpoint is refused by `deepfried inspect`
# (which reads it as eval does) with exit 2 and one line that names the
# file and says "checksum mismatch" or "truncated": never a crash (status
# >= 128, a sanitizer's abort) or a hang (bounded).
good=$TMP/base/ckpt-00000040.h5
dmg=$TMP/damaged.h5
size=$(stat -c %s "$good")
bounded 60 "$DF_BIN" inspect "$good" >/dev/null 2>&1 || fail "inspect of the intact checkpoint exited $?"
refused() {  # what: inspect $dmg must refuse it clearly
    bounded 20 "$DF_BIN" inspect "$dmg" >/dev/null 2>"$TMP/damaged.err"
    local status=$?
    if [ "$status" -ne 2 ] || [ "$(wc -l <"$TMP/damaged.err")" -ne 1 ] ||
        ! grep -q "^deepfried: $dmg: " "$TMP/damaged.err" ||
        ! grep -Eq "checksum mismatch|truncated" "$TMP/damaged.err"; then
        fail "$1: exit $status: $(head -c 400 "$TMP/damaged.err")"
        return 1
    fi
}
byte_at() { od -An -tu1 -j "$1" -N1 "$good" | tr -d ' '; }
flipped=0 flip_failures=$failures
# the header's fields, the superblock, then 180 offsets spread evenly
for at in 0 7 14 15 16 20 24 28 32 36 39 40 200 511 512 515 520 530 540 560 \
    $(seq 0 179 | awk -v n="$size" '{ printf "%d ", int((n - 1) * $1 / 179) }'); do
    cp "$good" "$dmg"
    printf "\\$(printf %o $(( $(byte_at "$at") ^ 0x20 )))" |
        dd of="$dmg" bs=1 seek="$at" conv=notrunc status=none
    cmp -s "$good" "$dmg" && { fail "byte $at: not flipped"; continue; }
    refused "byte $at of $size flipped" || true
    flipped=$((flipped + 1))
done
[ "$failures" -eq "$flip_failures" ] && pass "$flipped flipped bytes: each refused in one line"
for len in 0 1 15 100 511 512 513 4096 $((size / 2)) $((size - 1)); do
    cp "$good" "$dmg"
    truncate -s "$len" "$dmg"
    refused "truncated to $len bytes" || true
done
cp "$good" "$dmg"; dd if=/dev/zero of="$dmg" bs=4096 seek=2 count=1 conv=notrunc status=none
refused "a zeroed 4 KB block" || true
dd if=/dev/zero of="$dmg" bs=512 count=1 conv=notrunc status=none
refused "the zeroed integrity header" || true
dd if=/dev/zero of="$dmg" bs="$size" count=1 conv=notrunc status=none
refused "zero-filled" || true
# a format-1 file (no integrity header): one line saying so
tail -c +513 "$good" >"$dmg"
bounded 20 "$DF_BIN" inspect "$dmg" >/dev/null 2>"$TMP/damaged.err"; status=$?
[ "$status" -eq 2 ] && grep -q "no integrity header; files written before format 2" "$TMP/damaged.err" ||
    fail "format 1: exit $status: $(cat "$TMP/damaged.err")"

# flip one byte in the middle of the file's longest run of non-zero bytes:
# the parameter data (od and awk find it: nothing beyond coreutils and mawk)
flip_byte() {
    local at
    at=$(od -An -v -tu1 -w1 "$1" | awk '
        $1 != 0 { if (start < 0) start = NR - 1; next }
        start >= 0 { if (NR - 1 - start > best_len) { best_len = NR - 1 - start; best = start }
                     start = -1 }
        BEGIN { start = -1; best_len = 0 }
        END { if (start >= 0 && NR - start > best_len) { best_len = NR - start; best = start }
              if (best_len == 0) exit 1
              print best + int(best_len / 2) }') || { fail "flip_byte: no non-zero run in $1"; return 1; }
    printf "\\$(printf %o $(( $(od -An -tu1 -j "$at" -N1 "$1" | tr -d ' ') ^ 0x10 )))" |
        dd of="$1" bs=1 seek="$at" conv=notrunc status=none
}

# copy the base run, damage its newest checkpoint, resume auto to 60 steps
damaged() {  # name: copy base, damage it by $2, resume auto to 60 steps
    local name=$1 how=$2 dir=$TMP/$1
    cp -r "$TMP/base" "$dir"
    local f=$dir/ckpt-00000040.h5 size
    size=$(stat -c %s "$f")
    case $how in
        flip) flip_byte "$f" ;;
        header) printf 'X' | dd of="$f" bs=1 seek=24 conv=notrunc status=none ;;  # its length
        truncate) truncate -s $((size / 2)) "$f" ;;
        zero) dd if=/dev/zero of="$f" bs="$size" count=1 conv=notrunc status=none ;;
        nolatest) rm -f "$dir/latest" ;;
    esac
    train --set solver.iterations=60 --set "run.dir=$dir" --resume auto \
        --dump-params "$TMP/$name.f32" >"$TMP/$name.out" 2>"$TMP/$name.err"
}

for how in flip header truncate zero; do
    damaged "$how" "$how"; status=$?
    [ "$status" -eq 0 ] || fail "$how: resume auto exited $status: $(cat "$TMP/$how.err")"
    grep -q "cannot resume from .*ckpt-00000040.h5" "$TMP/$how.err" ||
        fail "$how: damage not reported: $(cat "$TMP/$how.err")"
    grep -q "resuming from .*ckpt-00000030.h5 at step 30" "$TMP/$how.out" ||
        fail "$how: did not fall back to step 30"
    cmp -s "$TMP/straight.f32" "$TMP/$how.f32" && pass "$how: detected, fell back, same model" ||
        fail "$how: final parameters differ from the straight run"
done
damaged nolatest nolatest; status=$?
[ "$status" -eq 0 ] || fail "no latest: exited $status: $(cat "$TMP/nolatest.err")"
grep -q "resuming from .*ckpt-00000040.h5 at step 40" "$TMP/nolatest.out" ||
    fail "no latest: should resume from the newest file, step 40"

# an explicitly named damaged checkpoint: exit 2, one line naming the file
# (a fresh copy: the fallback runs above rewrote their step-40 checkpoints)
cp -r "$TMP/base" "$TMP/explicit"
flip_byte "$TMP/explicit/ckpt-00000040.h5"
train --set solver.iterations=60 --set "run.dir=$TMP/x" --resume "$TMP/explicit/ckpt-00000040.h5" \
    >/dev/null 2>"$TMP/explicit.err"; status=$?
[ "$status" -eq 2 ] || fail "explicit damaged checkpoint: exit $status, expected 2"
grep -q "ckpt-00000040.h5" "$TMP/explicit.err" || fail "explicit: message lacks the file"
[ "$(wc -l <"$TMP/explicit.err")" -eq 1 ] || fail "explicit: expected one line: $(cat "$TMP/explicit.err")"
printf 'not hdf5' >"$TMP/junk.h5"
train --set solver.iterations=60 --set "run.dir=$TMP/x" --resume "$TMP/junk.h5" \
    >/dev/null 2>"$TMP/junk.err"; status=$?
[ "$status" -eq 2 ] || fail "junk checkpoint: exit $status, expected 2: $(cat "$TMP/junk.err")"

# architecture changed: refused, naming the key
cp -r "$TMP/base" "$TMP/arch"
train --set solver.iterations=60 --set "run.dir=$TMP/arch" --resume auto --set ff.features=2048 \
    >/dev/null 2>"$TMP/arch.err"; status=$?
[ "$status" -eq 2 ] || fail "changed architecture: exit $status, expected 2"
grep -q "layer ff.features" "$TMP/arch.err" && grep -q 1024 "$TMP/arch.err" ||
    fail "changed architecture: message should name ff.features and 1024: $(cat "$TMP/arch.err")"

# unwritable checkpoint directory: clear error, non-zero, earlier intact
cp -r "$TMP/base" "$TMP/ro"
sums_before=$(cd "$TMP/ro" && sha256sum ckpt-*.h5 latest)
touch "$TMP/plainfile"
train --set solver.iterations=60 --set "run.dir=$TMP/ro" --resume auto \
    --set "checkpoint.dir=$TMP/plainfile/sub" >/dev/null 2>"$TMP/ro.err"; status=$?
[ "$status" -ne 0 ] || fail "unwritable checkpoint dir: exit 0"
grep -q "plainfile/sub" "$TMP/ro.err" || fail "unwritable: message lacks the path: $(cat "$TMP/ro.err")"
[ "$sums_before" = "$(cd "$TMP/ro" && sha256sum ckpt-*.h5 latest)" ] ||
    fail "unwritable: earlier checkpoints changed"
# a read-only directory (where root can be stopped: chattr +i, if the
# file system supports it)
if chattr +i "$TMP/ro" 2>/dev/null; then
    train --set solver.iterations=60 --set "run.dir=$TMP/ro" --resume auto \
        >/dev/null 2>"$TMP/ro2.err"; status=$?
    chattr -i "$TMP/ro"
    [ "$status" -ne 0 ] || fail "immutable checkpoint dir: exit 0"
    grep -q "$TMP/ro" "$TMP/ro2.err" || fail "immutable: message lacks the dir: $(cat "$TMP/ro2.err")"
    [ "$sums_before" = "$(cd "$TMP/ro" && sha256sum ckpt-*.h5 latest)" ] ||
        fail "immutable: earlier checkpoints changed"
    ! ls "$TMP/ro"/*.tmp >/dev/null 2>&1 || fail "immutable: a .tmp was left"
else
    echo "(chattr +i not supported here: read-only directory case skipped)"
fi

# P = 2 checkpoint resumes on P = 1 and P = 4 (same global batch), 30 steps
# after the resume within 1e-6 of the straight P = 2 run. On the kink-free
# tests/conf/smooth-fastfood-dropout.conf: with ReLU or max pooling, float
# summation order flips a kink at a step that depends on the BLAS kernel
# (mpi_equivalence.sh says why; measured here: at most 2e-8 at step 60
# on every kernel, docs/testing.md).
smooth=$DF_SRCDIR/tests/conf/smooth-fastfood-dropout.conf
mp() { local np=$1; shift; bounded 120 "$MPIRUN" -np "$np" --oversubscribe --bind-to none \
        "$DF_BIN" train "$smooth" "${opts[@]}" "$@"; }
mp 2 --set solver.iterations=30 --set "run.dir=$TMP/p2" >/dev/null 2>&1 || fail "P=2 run exited $?"
mp 2 --set solver.iterations=60 --set "run.dir=$TMP/p2straight" --dump-params "$TMP/p2straight.f32" \
    >/dev/null 2>&1 || fail "P=2 straight exited $?"
for np in 1 4; do
    cp -r "$TMP/p2" "$TMP/p2to$np"
    mp "$np" --set solver.iterations=60 --set "run.dir=$TMP/p2to$np" --resume auto \
        --dump-params "$TMP/p2to$np.f32" >"$TMP/p2to$np.out" 2>&1 || fail "P=2 -> P=$np exited $?"
    grep -q "resuming from .* at step 30 (written by 2 ranks)" "$TMP/p2to$np.out" ||
        fail "P=2 -> P=$np: did not resume at step 30"
    "$DF_COMPARE" "$TMP/p2straight.f32" "$TMP/p2to$np.f32" 1e-6 ||
        fail "P=2 -> P=$np differs from the straight P=2 run"
done
finish
