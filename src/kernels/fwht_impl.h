/* Internal to the FWHT: the kernels behind df_fwht_rows, one per
 * instruction set, which fwht.c chooses between at run time. Each has the
 * contract of df_fwht_rows (rows contiguous vectors of length d, d a power
 * of two, in place, unnormalised, any alignment). */
#ifndef DEEPFRIED_FWHT_IMPL_H
#define DEEPFRIED_FWHT_IMPL_H

#include <stddef.h>

/* The x86-64 kernels use function-level target attributes, so one build
 * carries them all and a CPU without AVX-512 or AVX2 never runs them. */
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define DF_FWHT_X86 1
#else
#define DF_FWHT_X86 0
#endif

/* Compiler-vectorised C, any CPU. */
void df_fwht_rows_portable(float *x, size_t rows, size_t d);

#if DF_FWHT_X86
/* AVX2 + FMA (ymm). */
void df_fwht_rows_avx2(float *x, size_t rows, size_t d);
/* AVX-512F (zmm). */
void df_fwht_rows_avx512(float *x, size_t rows, size_t d);
#endif

#endif
