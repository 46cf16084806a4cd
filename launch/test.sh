#!/usr/bin/env bash
# One command from a fresh Debian 12 machine to the whole test suite:
# installs what is missing, builds, runs make check (unit tests, MPI and
# command-line tests on the embedded MNIST sample) and make distcheck.
#   bash launch/test.sh
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/deps.sh"

# dataset-fashion-mnist: the data tests check that Fashion-MNIST loads too
df_install_packages "${DF_PACKAGES[@]}" dataset-fashion-mnist
df_build
cd "$DF_ROOT"
df_log "make check"
status=0
make -s check -j"$(nproc)" 2>&1 | tee check.out || status=1
if [ "$status" -ne 0 ]; then
    # the failing tests' own logs say what went wrong
    for log in $(grep -l -E '^:test-result: (FAIL|ERROR)' tests/*.trs 2>/dev/null); do
        echo "==== ${log%.trs}.log" >&2
        tail -n 40 "${log%.trs}.log" >&2
    done
fi
passed=$(sed -n 's/^# PASS: *//p' check.out | tail -n 1)
failed=$(( $(sed -n 's/^# FAIL: *//p' check.out | tail -n 1) + $(sed -n 's/^# ERROR: *//p' check.out | tail -n 1) ))
rm -f check.out
[ "$status" -eq 0 ] || { echo "make check: ${passed:-0} passed, ${failed:-1} failed"; exit 1; }

df_log "make distcheck"
if ! make -s distcheck -j"$(nproc)" >distcheck.log 2>&1; then
    tail -n 60 distcheck.log >&2
    echo "make check: ${passed} passed, 0 failed; make distcheck failed"
    exit 1
fi
rm -f distcheck.log
echo "tests: ${passed} passed, ${failed} failed"
