#!/usr/bin/env bash
# One command from a fresh Debian 12 machine to the whole test suite:
# installs what is missing, builds, runs make check (unit tests, MPI and
# command-line tests on the embedded MNIST sample) and make distcheck.
#   bash launch/test.sh
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/deps.sh"

df_install_packages "${DF_PACKAGES[@]}"
df_build
cd "$DF_ROOT"
df_log "make check"
if ! make -s check -j"$(nproc)"; then
    cat test-suite.log >&2 || true
    exit 1
fi
df_log "make distcheck"
make -s distcheck -j"$(nproc)" >/dev/null
df_log "all tests passed"
