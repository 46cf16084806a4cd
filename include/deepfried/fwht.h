/* Fast Walsh-Hadamard transform: x <- H x with H the unnormalised
 * Hadamard matrix (entries +-1), in place, O(d log d), d a power of two. */
#ifndef DEEPFRIED_FWHT_H
#define DEEPFRIED_FWHT_H

#include <stddef.h>

#define DF_FWHT_MAX_LOG2 24

/* Scalar reference: the textbook butterfly, kept for tests. */
void df_fwht_reference(float *x, size_t d);

/* Fast path over `rows` contiguous vectors of length d (row stride d). */
void df_fwht_rows(float *x, size_t rows, size_t d);

/* Name of the fast path this build and CPU use (for --version, benches). */
const char *df_fwht_path(void);

/* 1 if d is a power of two >= 1. */
int df_is_pow2(size_t d);
/* Smallest power of two >= n (n >= 1). */
size_t df_next_pow2(size_t n);

#endif
