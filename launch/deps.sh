#!/usr/bin/env bash
# Installs the Debian packages deepfried needs to build and test, if any
# are missing, then builds it (autoreconf, configure, make) in the source
# tree. Sourced by quickstart.sh and test.sh; safe to run again.
set -euo pipefail

DF_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
DF_PACKAGES=(build-essential autoconf automake libtool pkg-config make
             libopenmpi-dev openmpi-bin libopenblas-dev libhdf5-openmpi-dev
             hdf5-tools zlib1g-dev libcmocka-dev ca-certificates)

df_log() { printf '[deepfried] %s\n' "$*" >&2; }

df_install_packages() {
    local missing=()
    for p in "$@"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' ||
            missing+=("$p")
    done
    [ ${#missing[@]} -eq 0 ] && return 0
    local sudo=()
    [ "$(id -u)" -ne 0 ] && sudo=(sudo)
    df_log "installing ${missing[*]}"
    "${sudo[@]}" apt-get update -qq
    DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq \
        --no-install-recommends "${missing[@]}" >/dev/null
}

df_build() {
    cd "$DF_ROOT"
    if [ ! -x configure ] || [ configure.ac -nt configure ]; then
        df_log "autoreconf"
        autoreconf -fi >/dev/null
    fi
    if [ ! -f Makefile ] || [ configure -nt Makefile ]; then
        df_log "configure"
        ./configure -q "$@"
    fi
    df_log "make"
    make -s -j"$(nproc)"
}

# Open MPI refuses root unless told; these machines run as root.
if [ "$(id -u)" -eq 0 ]; then
    export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
fi
