/* Fast Walsh-Hadamard transform, in place, unnormalised (Sylvester order):
 * (H x)_i = sum_j (-1)^popcount(i & j) x_j.
 *
 * This file holds the scalar reference, the portable path and the run-time
 * choice between them and the x86 kernels (fwht_avx512.c, fwht_avx2.c):
 * one build runs on any x86-64 node and uses the widest vectors the node
 * has. docs/performance.md has the measured speed of each path. */
#include "deepfried/fwht.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fwht_impl.h"

int df_is_pow2(size_t d)
{
    return d != 0 && (d & (d - 1)) == 0;
}

size_t df_next_pow2(size_t n)
{
    size_t d = 1;
    while (d < n)
        d <<= 1;
    return d;
}

void df_fwht_reference(float *x, size_t d)
{
    for (size_t h = 1; h < d; h <<= 1)
        for (size_t i = 0; i < d; i += 2 * h)
            for (size_t j = i; j < i + h; j++) {
                float a = x[j], b = x[j + h];
                x[j] = a + b;
                x[j + h] = a - b;
            }
}

/* ---- portable path: plain C with GCC/clang vector types (SSE2 on any
 * x86-64, NEON on arm64), for CPUs without AVX2 and other ISAs ---- */

typedef float v4f __attribute__((vector_size(16)));

static inline v4f load4(const float *p)
{
    v4f v;
    memcpy(&v, p, sizeof v);   /* unaligned load */
    return v;
}

static inline void store4(float *p, v4f v)
{
    memcpy(p, &v, sizeof v);
}

/* The first three levels (h = 1, 2, 4) on each group of 8: strides that
 * short do not vectorise as plain loops, so do them as one radix-8 step
 * held in registers. */
static void fwht_radix8_base(float *restrict x, size_t d)
{
    for (size_t i = 0; i < d; i += 8) {
        float *v = x + i;
        float a0 = v[0] + v[1], a1 = v[0] - v[1];
        float a2 = v[2] + v[3], a3 = v[2] - v[3];
        float a4 = v[4] + v[5], a5 = v[4] - v[5];
        float a6 = v[6] + v[7], a7 = v[6] - v[7];
        float b0 = a0 + a2, b2 = a0 - a2, b1 = a1 + a3, b3 = a1 - a3;
        float b4 = a4 + a6, b6 = a4 - a6, b5 = a5 + a7, b7 = a5 - a7;
        v[0] = b0 + b4; v[4] = b0 - b4;
        v[1] = b1 + b5; v[5] = b1 - b5;
        v[2] = b2 + b6; v[6] = b2 - b6;
        v[3] = b3 + b7; v[7] = b3 - b7;
    }
}

/* Two levels at once (h and 2h, h >= 8): one pass over memory instead of
 * two, four floats per vector op. */
static void fwht_radix4_level(float *restrict x, size_t d, size_t h)
{
    for (size_t i = 0; i < d; i += 4 * h) {
        float *p0 = x + i, *p1 = p0 + h, *p2 = p1 + h, *p3 = p2 + h;
        for (size_t j = 0; j < h; j += 4) {
            v4f q0 = load4(p0 + j), q1 = load4(p1 + j);
            v4f q2 = load4(p2 + j), q3 = load4(p3 + j);
            v4f a0 = q0 + q1, a1 = q0 - q1, a2 = q2 + q3, a3 = q2 - q3;
            store4(p0 + j, a0 + a2);
            store4(p2 + j, a0 - a2);
            store4(p1 + j, a1 + a3);
            store4(p3 + j, a1 - a3);
        }
    }
}

static void fwht_radix2_level(float *restrict x, size_t d, size_t h)
{
    for (size_t i = 0; i < d; i += 2 * h) {
        float *p0 = x + i, *p1 = p0 + h;
        for (size_t j = 0; j < h; j += 4) {
            v4f a = load4(p0 + j), b = load4(p1 + j);
            store4(p0 + j, a + b);
            store4(p1 + j, a - b);
        }
    }
}

static void fwht_portable(float *x, size_t d)
{
    if (d < 8) {
        df_fwht_reference(x, d);
        return;
    }
    fwht_radix8_base(x, d);
    size_t h = 8;
    for (; 4 * h <= d; h *= 4)
        fwht_radix4_level(x, d, h);
    if (h < d)
        fwht_radix2_level(x, d, h);
}

void df_fwht_rows_portable(float *x, size_t rows, size_t d)
{
    for (size_t r = 0; r < rows; r++)
        fwht_portable(x + r * d, d);
}

static void fwht_rows_reference(float *x, size_t rows, size_t d)
{
    for (size_t r = 0; r < rows; r++)
        df_fwht_reference(x + r * d, d);
}

/* ---- run-time choice of path ---- */

typedef struct fwht_path {
    const char *name;
    const char *about;
    df_fwht_rows_fn rows;
    int (*cpu_runs)(void);   /* 1 if this CPU (and OS) can run it */
} fwht_path;

static int cpu_runs_any(void)
{
    return 1;
}

#if DF_FWHT_X86
/* __builtin_cpu_supports also checks that the OS saves the ymm/zmm state. */
static int cpu_runs_avx512(void)
{
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx512f");
}

static int cpu_runs_avx2(void)
{
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
}
#endif

/* Fastest first: the automatic choice is the first one the CPU runs. */
static const fwht_path paths[] = {
#if DF_FWHT_X86
    {"avx512", "AVX-512F, radix-16 blocks in zmm registers",
     df_fwht_rows_avx512, cpu_runs_avx512},
    {"avx2", "AVX2+FMA, radix-8 blocks in ymm registers",
     df_fwht_rows_avx2, cpu_runs_avx2},
#endif
    {"portable", "C with 4-float vector types, radix-8 base + radix-4 levels",
     df_fwht_rows_portable, cpu_runs_any},
    {"reference", "scalar textbook butterfly", fwht_rows_reference, cpu_runs_any},
};
#define N_PATHS (sizeof paths / sizeof paths[0])

static struct {
    const fwht_path *chosen;
    char about[256];
    const char *available[N_PATHS + 1];
} fwht_state;
static pthread_once_t fwht_once = PTHREAD_ONCE_INIT;

static const fwht_path *path_by_name(const char *name)
{
    for (size_t i = 0; i < N_PATHS; i++)
        if (strcmp(paths[i].name, name) == 0)
            return &paths[i];
    return NULL;
}

static void choose_path(void)
{
    size_t n = 0;
    for (size_t i = 0; i < N_PATHS; i++)
        if (paths[i].cpu_runs())
            fwht_state.available[n++] = paths[i].name;
    fwht_state.available[n] = NULL;
    const fwht_path *best = path_by_name(fwht_state.available[0]);

    const char *want = getenv("DEEPFRIED_FWHT");
    const fwht_path *asked = want && *want ? path_by_name(want) : NULL;
    const char *how = "chosen for this CPU";
    char note[96];
    if (!want || !*want) {
        fwht_state.chosen = best;
    } else if (!asked) {
        fwht_state.chosen = best;
        snprintf(note, sizeof note,
                 "DEEPFRIED_FWHT=%.24s is not a path (reference|portable|avx2|avx512)",
                 want);
        how = note;
    } else if (!asked->cpu_runs()) {
        fwht_state.chosen = best;
        snprintf(note, sizeof note,
                 "DEEPFRIED_FWHT=%s: this CPU cannot run it", asked->name);
        how = note;
    } else {
        fwht_state.chosen = asked;
        how = "set by DEEPFRIED_FWHT";
    }
    snprintf(fwht_state.about, sizeof fwht_state.about, "%s (%s; %s)",
             fwht_state.chosen->name, fwht_state.chosen->about, how);
}

static const fwht_path *chosen_path(void)
{
    pthread_once(&fwht_once, choose_path);
    return fwht_state.chosen;
}

void df_fwht_rows(float *x, size_t rows, size_t d)
{
    chosen_path()->rows(x, rows, d);
}

const char *df_fwht_path(void)
{
    chosen_path();
    return fwht_state.about;
}

const char *df_fwht_path_name(void)
{
    return chosen_path()->name;
}

const char *const *df_fwht_paths_available(void)
{
    chosen_path();
    return fwht_state.available;
}

df_fwht_rows_fn df_fwht_rows_for(const char *path)
{
    chosen_path();
    for (size_t i = 0; fwht_state.available[i]; i++)
        if (strcmp(fwht_state.available[i], path) == 0)
            return path_by_name(path)->rows;
    return NULL;
}
