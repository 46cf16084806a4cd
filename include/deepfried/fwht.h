/* Fast Walsh-Hadamard transform: x <- H x with H the unnormalised
 * Hadamard matrix (entries +-1), in place, O(d log d), d a power of two. */
#ifndef DEEPFRIED_FWHT_H
#define DEEPFRIED_FWHT_H

#include <stddef.h>

#define DF_FWHT_MAX_LOG2 24

/* Scalar reference: the textbook butterfly, kept for tests. */
void df_fwht_reference(float *x, size_t d);

/* Fast path over `rows` contiguous vectors of length d (row stride d).
 * The path is chosen once, at the first call, for the CPU it runs on:
 * "avx512", "avx2" or "portable" (see df_fwht_path); the environment
 * variable DEEPFRIED_FWHT=reference|portable|avx2|avx512 overrides the
 * choice, for tests and benchmarks. Safe to call from several threads. */
void df_fwht_rows(float *x, size_t rows, size_t d);

/* What df_fwht_rows runs, for --version and benchmark headers: the path's
 * name and a description, and a note when DEEPFRIED_FWHT asked for a path
 * this build or CPU cannot run (df_fwht_rows then uses the best one). */
const char *df_fwht_path(void);

/* Short name of the path df_fwht_rows runs ("avx512", "avx2", ...). */
const char *df_fwht_path_name(void);

/* A path's rows function, for comparing paths in tests and benchmarks. */
typedef void (*df_fwht_rows_fn)(float *x, size_t rows, size_t d);

/* The paths this build contains and this CPU can run, fastest first,
 * ending with "portable" and "reference"; NULL-terminated. */
const char *const *df_fwht_paths_available(void);

/* The rows function of the named path, or NULL when this build lacks it
 * or this CPU cannot run it. */
df_fwht_rows_fn df_fwht_rows_for(const char *path);

/* 1 if d is a power of two >= 1. */
int df_is_pow2(size_t d);
/* Smallest power of two >= n (n >= 1). */
size_t df_next_pow2(size_t n);

#endif
