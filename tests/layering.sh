#!/bin/sh
# The layering rules of docs/design.md, read off the #include lines:
#   core < kernels < layers < model < io, dist < train < cli
# a file may include headers of its own folder's rank or below (io and
# dist are peers that do not include each other); mpi.h only under
# src/dist, hdf5.h only under src/io. The public headers
# (include/deepfried/*.h) belong to the folder that implements them and
# obey the same rules. Fails naming each offending file and include.
# Standalone: sh tests/layering.sh [SRCDIR]
set -u
root=${1:-${DF_SRCDIR:-$(dirname "$0")/..}}

# the folder a public header belongs to
header_dir() {
    case "$1" in
    error.h|rng.h|clock.h) echo core ;;
    fwht.h|svd.h) echo kernels ;;
    layers.h|fastfood.h|layer_spec.h|layer_kind.h) echo layers ;;
    net.h|solver.h) echo model ;;
    config.h|data.h|checkpoint.h|metrics.h) echo io ;;
    dist.h) echo dist ;;
    train.h|model.h|compress.h) echo train ;;
    cli_args.h) echo cli ;;
    *) echo unknown ;;
    esac
}

rank() {
    case "$1" in
    core) echo 0 ;; kernels) echo 1 ;; layers) echo 2 ;; model) echo 3 ;;
    io|dist) echo 4 ;; train) echo 5 ;; cli) echo 6 ;; *) echo 99 ;;
    esac
}

# may a file of folder $1 include a header of folder $2?
allowed() {
    [ "$1" = "$2" ] && return 0
    case "$1:$2" in io:dist|dist:io) return 1 ;; esac
    [ "$(rank "$2")" -le "$(rank "$1")" ]
}

check_tree() {
    bad=0
    for f in "$1"/src/*/*.[ch] "$1"/include/deepfried/*.h; do
        [ -f "$f" ] || continue
        case "$f" in
        */include/deepfried/*) dir=$(header_dir "${f##*/}") ;;
        *) dir=${f%/*}; dir=${dir##*/} ;;
        esac
        if [ "$(rank "$dir")" = 99 ]; then
            echo "layering: ${f#$1/}: not in a known folder (docs/design.md, Layout)"
            bad=1
            continue
        fi
        # the include lines, as "name or <name
        for inc in $(sed -n 's/^[[:space:]]*#[[:space:]]*include[[:space:]]*\([<"][^>"]*\)[>"].*/\1/p' "$f"); do
            case "$inc" in
            '<mpi.h') [ "$dir" = dist ] || { echo "layering: ${f#$1/}: includes <mpi.h>: only src/dist may"; bad=1; } ; continue ;;
            '<hdf5.h'|'<H5'*) [ "$dir" = io ] || { echo "layering: ${f#$1/}: includes ${inc}>: only src/io may"; bad=1; } ; continue ;;
            '<'*) continue ;;   # the system's and other libraries' headers
            esac
            inc=${inc#\"}
            case "$inc" in
            deepfried/*) to=$(header_dir "${inc#deepfried/}") ;;
            config.h) to=any ;;     # the build's own (autoconf) settings
            deepfried.h) to=cli ;;  # the whole library in one include
            */*) to=${inc%%/*} ;;   # a folder's private header
            *) if [ -f "${f%/*}/$inc" ]; then to=$dir; else to=unknown; fi ;;
            esac
            [ "$to" = any ] && continue
            if [ "$(rank "$to")" = 99 ]; then
                echo "layering: ${f#$1/}: includes \"$inc\", which belongs to no known folder"
                bad=1
            elif ! allowed "$dir" "$to"; then
                echo "layering: ${f#$1/}: includes \"$inc\" ($to), but $dir may not depend on $to"
                bad=1
            fi
        done
    done
    return $bad
}

# The check itself must catch a violation: a layer that reads the config.
tmp=$(mktemp -d "${TMPDIR:-/tmp}/deepfried-layering.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
mkdir -p "$tmp/src/layers" "$tmp/include/deepfried"
printf '#include "deepfried/layers.h"\n#include "deepfried/config.h"\n' >"$tmp/src/layers/bad.c"
if check_tree "$tmp" >"$tmp/out"; then
    echo "FAIL: the check let src/layers/bad.c include deepfried/config.h"
    exit 1
fi
grep -q 'src/layers/bad.c: includes "deepfried/config.h" (io)' "$tmp/out" || {
    echo "FAIL: the check did not name the offending file:"; cat "$tmp/out"; exit 1; }

if check_tree "$root"; then
    echo "ok: every #include under src/ and include/deepfried/ keeps the layering rules"
    exit 0
fi
echo "FAIL: layering rules broken (docs/design.md, Layout)"
exit 1
