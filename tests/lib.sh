# Helpers for the shell tests. Sourced; expects DF_BIN, DF_SRCDIR, DF_SAMPLE
# from make check (Makefile.am's AM_TESTS_ENVIRONMENT).
set -u
: "${DF_BIN:?DF_BIN must name the deepfried program}"
: "${DF_SRCDIR:?DF_SRCDIR must name the source tree}"
: "${DF_SAMPLE:=$DF_SRCDIR/data/mnist-sample}"
: "${MPIRUN:=mpirun}"
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
export OPENBLAS_NUM_THREADS=1
# Quieter, faster Open MPI on one machine
export OMPI_MCA_btl=self,vader OMPI_MCA_rmaps_base_oversubscribe=1

TMP=$(mktemp -d "${TMPDIR:-/tmp}/deepfried-test.XXXXXX")
trap 'rm -rf "$TMP"' EXIT
failures=0

fail() { echo "FAIL: $*" >&2; failures=$((failures + 1)); }
pass() { echo "ok: $*"; }

# The sample data as --set options.
SAMPLE_DATA=(--set "data.train_images=$DF_SAMPLE/train-images-idx3-ubyte.gz"
             --set "data.train_labels=$DF_SAMPLE/train-labels-idx1-ubyte.gz"
             --set "data.test_images=$DF_SAMPLE/t10k-images-idx3-ubyte.gz"
             --set "data.test_labels=$DF_SAMPLE/t10k-labels-idx1-ubyte.gz")

# Run a command with a time limit so a hang fails the test instead of CI.
bounded() { timeout --kill-after=5 "$@"; }

finish() {
    if [ "$failures" -gt 0 ]; then
        echo "$failures check(s) failed" >&2
        exit 1
    fi
    exit 0
}
