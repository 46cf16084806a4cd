#!/usr/bin/env bash
# inspect prints every layer and the trainable parameter counts of the
# paper's Table 1 models; --help and --version work.
source "$(dirname "$0")/lib.sh"

count() {  # total printed by inspect for a config
    "$DF_BIN" inspect "$DF_SRCDIR/conf/$1.conf" "${SAMPLE_DATA[@]}" |
        sed -n 's/^total trainable parameters: //p' | tr -d ,
}
# conv1 520 + conv2 25,050 + ip2 10 x features + 10, plus the middle layer:
# ip1 800x500 + 500 + ip2 5,010; Fastfood 3 d k with d = 1024
expect() { [ "$(count "$1")" = "$2" ] && pass "$1: $2" || fail "$1: got '$(count "$1")', expected $2"; }
expect mnist-lenet-reference 431080
expect mnist-adaptive-fastfood-1024 38892
expect mnist-adaptive-fastfood-1024-dropout 38892
expect mnist-adaptive-fastfood-2048 52204
# non-adaptive: S, G, B fixed, not trained
expect mnist-fastfood-1024 35820
expect mnist-fastfood-2048 46060

out=$("$DF_BIN" inspect "$DF_SRCDIR/conf/mnist-lenet-reference.conf" "${SAMPLE_DATA[@]}")
for layer in conv1 pool1 conv2 pool2 ip1 relu1 ip2 loss; do
    grep -q "^$layer " <<<"$out" || fail "inspect lacks layer $layer"
done
grep -q '^conv1 .* 20x24x24 ' <<<"$out" || fail "conv1 output shape"
grep -q '^pool2 .* 50x4x4 ' <<<"$out" || fail "pool2 output shape"

"$DF_BIN" --help | grep -q 'train CONF' || fail "--help lacks train"
"$DF_BIN" train --help | grep -q -- '--set' || fail "train --help lacks --set"
"$DF_BIN" --version | grep -q 'FWHT path' || fail "--version lacks the FWHT path"
"$DF_BIN" frobnicate >/dev/null 2>&1; [ $? -eq 2 ] || fail "unknown command should exit 2"
"$DF_BIN" train >/dev/null 2>&1; [ $? -eq 2 ] || fail "train without CONF should exit 2"
finish
