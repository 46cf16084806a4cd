/* Shared by the bench/ programs: a clock, medians, and the header every
 * table starts with (machine, date, load, FWHT path, BLAS and threads), so
 * a table pasted into docs/performance.md says where it came from. */
#ifndef BENCH_COMMON_H
#define BENCH_COMMON_H

#include <stddef.h>

/* Nanoseconds on the benchmark's clock: the monotonic wall clock, or,
 * after bench_use_cpu_time(1), this thread's CPU time, which leaves out
 * the time other processes hold the core (for a shared, busy machine;
 * single-threaded work only). */
double bench_now_ns(void);
void bench_use_cpu_time(int on);

/* Median of v[0..n) (sorts v). */
double bench_median(double *v, size_t n);

/* Header lines, each starting with "# ": program, date, CPU model, load
 * average, the FWHT path df_fwht_rows runs, the OpenBLAS core and thread
 * count, and OPENBLAS_CORETYPE / OPENBLAS_NUM_THREADS / OMP_NUM_THREADS as
 * the environment sets them. */
void bench_print_header(const char *program);

/* Keep a computed value alive so the compiler cannot drop the work. */
void bench_sink(double v);

#endif
