/* The layers' own threads. Convolution, pooling and dense layers split a
 * batch (or a weight gradient's rows) over `threads` OpenMP threads, each
 * calling a single-threaded BLAS; a build without OpenMP runs one. Work is
 * split in fixed contiguous blocks (schedule(static)), so a given thread
 * count always computes the same sums in the same order. */
#ifndef DEEPFRIED_PARALLEL_H
#define DEEPFRIED_PARALLEL_H

#ifdef _OPENMP
#include <omp.h>
static inline int df_thread_index(void) { return omp_get_thread_num(); }
static inline int df_thread_count(void) { return omp_get_num_threads(); }
#else
static inline int df_thread_index(void) { return 0; }
static inline int df_thread_count(void) { return 1; }
#endif

/* Block t of `threads` contiguous blocks of [0, n): [*lo, *hi). */
static inline void df_block(int n, int t, int threads, int *lo, int *hi)
{
    *lo = (int)((long long)n * t / threads);
    *hi = (int)((long long)n * (t + 1) / threads);
}

#endif
