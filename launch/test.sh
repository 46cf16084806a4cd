#!/usr/bin/env bash
# One command from a fresh Debian 12 machine to the whole test suite:
# installs what is missing, builds, runs make check (unit tests, MPI and
# command-line tests on the embedded MNIST sample, valgrind, fuzz
# regressions) and make distcheck, then make check again in a separate
# AddressSanitizer + UBSan build (docs/hardening.md; DF_SANITIZER_PASS=0
# skips that pass).
#   bash launch/test.sh
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/deps.sh"

# dataset-fashion-mnist: the data tests check that Fashion-MNIST loads too;
# valgrind: tests/valgrind.sh runs the single-process tests under memcheck
df_install_packages "${DF_PACKAGES[@]}" dataset-fashion-mnist valgrind
df_build
cd "$DF_ROOT"
df_log "make check"
status=0
make -s check -j"$(nproc)" 2>&1 | tee check.out || status=1
if [ "$status" -ne 0 ]; then
    # the failing tests' own logs say what went wrong
    for log in $(grep -l -E '^:test-result: (FAIL|ERROR)' tests/*.trs tests/fuzz/*.trs 2>/dev/null); do
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
echo "make check: ${passed} passed, ${failed} failed"

# The whole suite again, built with AddressSanitizer and UBSan in a build
# directory of its own from the files make dist ships (a VPATH build), MPI
# tests included. What is suppressed, and why: tests/sanitizers/lsan.supp.
san_passed=0 san_failed=0
if [ "${DF_SANITIZER_PASS:-1}" != 0 ]; then
    df_log "make check, sanitizer build (ASan + UBSan)"
    san_start=$(date +%s)
    san=$(mktemp -d "${TMPDIR:-/tmp}/deepfried-san.XXXXXX")
    make -s distdir distdir="$san/src" >/dev/null
    mkdir "$san/build"
    if ! (cd "$san/build" && "$san/src/configure" -q --enable-sanitizers &&
          make -s -j"$(nproc)") >"$san/build.log" 2>&1; then
        tail -n 40 "$san/build.log" >&2
        echo "make check: ${passed} passed, ${failed} failed; the sanitizer build failed ($san/build.log)"
        exit 1
    fi
    san_status=0
    (cd "$san/build" && make -s check -j"$(nproc)") 2>&1 | tee "$san/check.out" || san_status=1
    san_passed=$(sed -n 's/^# PASS: *//p' "$san/check.out" | tail -n 1)
    san_fail=$(sed -n 's/^# FAIL: *//p' "$san/check.out" | tail -n 1)
    san_error=$(sed -n 's/^# ERROR: *//p' "$san/check.out" | tail -n 1)
    san_failed=$(( ${san_fail:-0} + ${san_error:-0} ))
    if [ "$san_status" -ne 0 ]; then
        for log in $(grep -l -E '^:test-result: (FAIL|ERROR)' "$san"/build/tests/*.trs \
                     "$san"/build/tests/fuzz/*.trs 2>/dev/null); do
            echo "==== ${log%.trs}.log" >&2
            tail -n 40 "${log%.trs}.log" >&2
        done
        # the sanitizers' own reports (stderr of many tests is not in their log)
        for report in "$san"/build/tests/sanitizer-report.*; do
            [ -f "$report" ] || continue
            echo "==== $report" >&2
            head -n 60 "$report" >&2
        done
        san_failed=$(( san_failed > 0 ? san_failed : 1 ))
        df_log "sanitizer build kept in $san"
    else
        rm -rf "$san"
    fi
    df_log "sanitizer pass: $(( $(date +%s) - san_start )) s"
    echo "make check (sanitizers): ${san_passed:-0} passed, ${san_failed} failed"
fi
echo "tests: $(( passed + ${san_passed:-0} )) passed, $(( failed + san_failed )) failed"
[ "$(( failed + san_failed ))" -eq 0 ]
