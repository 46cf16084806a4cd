/* Helpers for the elementwise kernels that GCC compiles once per CPU
 * family (fastfood.c, layers/conv.c): PER_CPU builds a function for
 * AVX-512, AVX2 and baseline x86-64, the loader picking one at start-up
 * (one binary for login and compute nodes); VLOAD/VSTORE move a GCC
 * vector through memcpy, so any alignment is fine and no vector-typed
 * value crosses a function boundary. */
#ifndef DEEPFRIED_PER_CPU_H
#define DEEPFRIED_PER_CPU_H

#include <string.h>

#define VLOAD(v, p) memcpy(&(v), (p), sizeof(v))
#define VSTORE(p, v) memcpy((p), &(v), sizeof(v))

#if defined(__x86_64__) && defined(__linux__) && defined(__has_attribute)
#if __has_attribute(target_clones)
#define PER_CPU __attribute__((target_clones("avx512f", "avx2", "default")))
#endif
#endif
#ifndef PER_CPU
#define PER_CPU
#endif

#endif
