#!/usr/bin/env bash
# Build the libFuzzer harnesses (clang, ./configure --enable-fuzzing, in a
# build directory of their own) and run one for SECONDS from the seed
# corpus; then print executions per second, coverage and crashes.
#   tests/fuzz/run.sh NAME SECONDS [libFuzzer options...]
# NAME: config, idx, latest, args, or checkpoint (byte 0 of each input picks
# raw or sealed, see fuzz_checkpoint.c), checkpoint-raw or checkpoint-sealed
# (the same harness held to one mode, each with a corpus of its own).
# e.g. a longer run on 4 cores:  tests/fuzz/run.sh idx 3600 -fork=4
# Environment:
#   DF_FUZZ_BUILD  build directory (default ${TMPDIR:-/tmp}/deepfried-fuzz);
#                  it keeps the grown corpus (corpus/NAME) and any crashing
#                  input (crashes/NAME/) between runs
#   DF_FUZZ_NICE   nice level of the fuzzer (default 19: the machine is shared)
# A crash, leak, timeout or failed harness check exits 1 and names the
# input; copy it to tests/fuzz/regressions/NAME/ with the fix.
set -euo pipefail
usage() {
    echo "usage: $0 config|idx|checkpoint|checkpoint-raw|checkpoint-sealed|latest|args SECONDS [libFuzzer options...]" >&2
    exit 2
}
[ $# -ge 2 ] || usage
name=$1 seconds=$2
shift 2
harness=$name
case $name in
config) max_len=8192 ;;         # the conf files are 2-3 KB
idx) max_len=16384 ;;           # a few 28x28 images, plain or gzip
checkpoint) max_len=65536 ;;    # the seed checkpoints are < 64 KB
checkpoint-raw | checkpoint-sealed)
    harness=checkpoint max_len=65536
    export DF_FUZZ_CHECKPOINT_MODE=${name#checkpoint-} ;;
latest) max_len=2048 ;;         # a pointer and a few dozen names
args) max_len=8192 ;;           # up to 600 words
*) usage ;;
esac
[[ $seconds =~ ^[0-9]+$ ]] || usage

src=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
build=${DF_FUZZ_BUILD:-${TMPDIR:-/tmp}/deepfried-fuzz}
mkdir -p "$build"
build=$(cd "$build" && pwd)
log() { printf '[fuzz] %s\n' "$*" >&2; }

# A source tree configured in place cannot also host a VPATH build: build
# from a copy of its files then (git's list of them, else make distdir).
# Only files whose content changed are copied, and they get a new time,
# so make rebuilds exactly what changed.
if [ -f "$src/config.status" ]; then
    tree="$build/src"
    mkdir -p "$tree"
    if git -C "$src" rev-parse --is-inside-work-tree >/dev/null 2>&1; then
        (cd "$src" && git ls-files -co --exclude-standard) | while IFS= read -r f; do
            [ -f "$src/$f" ] && ! cmp -s "$src/$f" "$tree/$f" || continue
            mkdir -p "$tree/$(dirname "$f")"
            cp "$src/$f" "$tree/$f"
        done
    else
        make -s -C "$src" distdir distdir="$tree" >/dev/null
    fi
else
    tree=$src
fi
if [ ! -x "$tree/configure" ] || [ "$tree/configure.ac" -nt "$tree/configure" ]; then
    log "autoreconf"
    (cd "$tree" && autoreconf -fi >/dev/null 2>&1)
fi
obj="$build/obj"
mkdir -p "$obj"
if [ ! -f "$obj/Makefile" ] || [ "$tree/configure" -nt "$obj/Makefile" ]; then
    log "configure CC=clang --enable-fuzzing"
    (cd "$obj" && "$tree/configure" -q CC=clang --enable-fuzzing)
fi
log "make tests/fuzz/fuzz_$harness"
make -s -C "$obj" -j"${DF_FUZZ_JOBS:-$(nproc)}" "tests/fuzz/fuzz_$harness" >"$build/make.log" 2>&1 ||
    { tail -n 40 "$build/make.log" >&2; exit 1; }

work="$build/corpus/$name" crashes="$build/crashes/$name"
mkdir -p "$work" "$crashes"
dict=()
[ -f "$src/tests/fuzz/$harness.dict" ] && dict=(-dict="$src/tests/fuzz/$harness.dict")
# As make check's sanitizer pass: full unwinding on malloc, because HDF5
# has no frame pointers and its leak suppressions (lsan.supp) name
# functions below its entry points; malloc returns NULL for a size it can
# never satisfy, as glibc's does (HDF5 and our readers check for it;
# libFuzzer's -malloc_limit_mb still reports any allocation over 2 GB).
export ASAN_OPTIONS="halt_on_error=1:abort_on_error=1:detect_leaks=1:fast_unwind_on_malloc=0:allocator_may_return_null=1:${ASAN_OPTIONS:-}"
export LSAN_OPTIONS="suppressions=$src/tests/sanitizers/lsan.supp:${LSAN_OPTIONS:-}"
export UBSAN_OPTIONS="halt_on_error=1:abort_on_error=1:print_stacktrace=1:${UBSAN_OPTIONS:-}"
export OPENBLAS_NUM_THREADS=1
# the harnesses' scratch files, gone after the run even if inputs crashed
scratch_base=/dev/shm
[ -w "$scratch_base" ] || scratch_base=${TMPDIR:-/tmp}
DF_FUZZ_TMP=$(mktemp -d "$scratch_base/df-fuzz-run.XXXXXX")
export DF_FUZZ_TMP
trap 'rm -rf "$DF_FUZZ_TMP"' EXIT
out="$build/fuzz-$name.log"
log "fuzz_$harness${DF_FUZZ_CHECKPOINT_MODE:+ ($DF_FUZZ_CHECKPOINT_MODE)} for $seconds s (log: $out)"
status=0
TIMEFORMAT='%U %S'  # the fuzzer's CPU seconds (with -fork: its children's too)
# work first: libFuzzer adds what it finds to the first corpus directory
{ time (cd "$crashes" && nice -n "${DF_FUZZ_NICE:-19}" "$obj/tests/fuzz/fuzz_$harness" \
    -max_total_time="$seconds" -max_len="$max_len" -timeout=10 -rss_limit_mb=2048 \
    -print_final_stats=1 -artifact_prefix="$crashes/" "${dict[@]}" "$@" \
    "$work" "$src/tests/fuzz/corpus/$harness" >"$out" 2>&1) || status=$?; } 2>"$build/cpu-$name"
cpu=$(awk '{ printf "%.0f", $1 + $2 }' "$build/cpu-$name")

# The summary: libFuzzer's last status line (plain: "#N DONE cov: ...",
# -fork: "#N: cov: ... exec/s ..."), its final stats, the artifacts.
last=$(grep -E '^#[0-9]+' "$out" | tail -n 1 || true)
execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$out" | tail -n 1)
[ -n "$execs" ] || execs=$(grep -oE '^#[0-9]+' <<<"$last" | tr -d '#' || true)
rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$out" | tail -n 1)
[ -n "$rate" ] || [ -z "$execs" ] || [ "$seconds" -eq 0 ] || rate=$((execs / seconds))
cov=$(grep -oE 'cov: [0-9]+' <<<"$last" | grep -oE '[0-9]+' || true)
ft=$(grep -oE 'ft: [0-9]+' <<<"$last" | grep -oE '[0-9]+' || true)
corp=$(grep -oE 'corp: [0-9]+' <<<"$last" | grep -oE '[0-9]+' || true)
artifacts=$(find "$crashes" -maxdepth 1 -type f \( -name 'crash-*' -o -name 'leak-*' \
    -o -name 'timeout-*' -o -name 'oom-*' -o -name 'slow-unit-*' \) -newer "$build/make.log" | sort)
found=$(grep -c . <<<"$artifacts" || true)
echo "fuzz_$name: ${seconds} s (${cpu} CPU s), ${execs:-?} execs, ${rate:-?} execs/s, cov: ${cov:-?}, ft: ${ft:-?}, corpus: ${corp:-?} inputs, crashes: $found (in $crashes)"
# One line per new artifact: what it does now, and the innermost frames.
for a in $artifacts; do
    report=$(cd "$crashes" && timeout 60 "$obj/tests/fuzz/fuzz_$harness" "$a" 2>&1 || true)
    kind=$(grep -m1 -oE 'ERROR: [A-Za-z]+Sanitizer: [A-Za-z-]+|ERROR: libFuzzer: [a-z-]+|fuzz check failed: .*|runtime error: .*' <<<"$report" | cut -c1-120 || true)
    frames=$(grep -E '^ +#[0-9]+ ' <<<"$report" | grep -oE ' in [A-Za-z_][A-Za-z_0-9]*' | sed 's/ in //' |
        grep -vE '^(malloc|calloc|realloc|free|__interceptor|__asan|__sanitizer|fuzzer|main|__libc)' |
        head -n 6 | paste -sd '<' - || true)
    echo "  $(basename "$a"): ${kind:-no longer fails (fixed, or it needed earlier inputs)}${frames:+ | $frames}"
done
if [ "$status" -ne 0 ]; then
    echo "fuzz_$name stopped with status $status; see $out" >&2
    exit 1
fi
[ "$found" -eq 0 ]
