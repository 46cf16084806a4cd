#!/usr/bin/env bash
# The single-process tests (unit tests and fuzz replays) under valgrind
# memcheck: no invalid access, no use of an uninitialised value, no
# definitely lost block. Library noise only in tests/sanitizers/valgrind.supp.
# Run by make check and alone by make check-valgrind; skipped in sanitizer
# builds (valgrind cannot run ASan programs) and without valgrind.
#   DF_VALGRIND_FLAGS="--track-origins=yes" make check-valgrind   # to dig
set -u
: "${DF_BIN:?run through make check or make check-valgrind}"
: "${DF_SRCDIR:?}" "${DF_VALGRIND_PROGRAMS:?}"
if [ -n "${DF_SANITIZED:-}" ]; then
    echo "SKIP: a sanitizer build; valgrind needs the plain one"
    exit 77
fi
if ! command -v valgrind >/dev/null; then
    echo "SKIP: valgrind is not installed (apt-get install valgrind)"
    exit 77
fi
builddir=$(dirname "$DF_BIN")
supp="$DF_SRCDIR/tests/sanitizers/valgrind.supp"
failures=0
for prog in $DF_VALGRIND_PROGRAMS; do
    start=$(date +%s)
    # shellcheck disable=SC2086 # DF_VALGRIND_FLAGS is a list of options
    # --trace-children: a test that runs itself again (test_fwht) is
    # checked in both processes, and sees the same (valgrind's) CPU in both
    valgrind -q --trace-children=yes --error-exitcode=101 --leak-check=full \
        --show-leak-kinds=definite --errors-for-leak-kinds=definite \
        --suppressions="$supp" ${DF_VALGRIND_FLAGS:-} \
        "$builddir/$prog" >"$builddir/$prog.valgrind.out" 2>&1
    status=$?
    secs=$(($(date +%s) - start))
    case $status in
    0) echo "ok: $prog (${secs} s)" ;;
    101)
        echo "FAIL: $prog: valgrind found errors or definite leaks:"
        grep '^==[0-9]*==' "$builddir/$prog.valgrind.out" | head -n 60
        failures=$((failures + 1)) ;;
    *)
        echo "FAIL: $prog exited $status under valgrind:"
        tail -n 30 "$builddir/$prog.valgrind.out"
        failures=$((failures + 1)) ;;
    esac
    rm -f "$builddir/$prog.valgrind.out"
done
[ "$failures" -eq 0 ] || { echo "$failures program(s) failed under valgrind"; exit 1; }
