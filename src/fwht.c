/* Fast Walsh-Hadamard transform, in place, unnormalised (Sylvester order):
 * (H x)_i = sum_j (-1)^popcount(i & j) x_j. */
#include "deepfried/fwht.h"

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

/* Two levels at once (h and 2h): one pass over memory instead of two,
 * with contiguous inner loops the compiler turns into full-width vector
 * add/sub. */
static void fwht_radix4_level(float *restrict x, size_t d, size_t h)
{
    for (size_t i = 0; i < d; i += 4 * h) {
        float *restrict p0 = x + i, *restrict p1 = p0 + h;
        float *restrict p2 = p1 + h, *restrict p3 = p2 + h;
        for (size_t j = 0; j < h; j++) {
            float a0 = p0[j] + p1[j], a1 = p0[j] - p1[j];
            float a2 = p2[j] + p3[j], a3 = p2[j] - p3[j];
            p0[j] = a0 + a2;
            p2[j] = a0 - a2;
            p1[j] = a1 + a3;
            p3[j] = a1 - a3;
        }
    }
}

static void fwht_radix2_level(float *restrict x, size_t d, size_t h)
{
    for (size_t i = 0; i < d; i += 2 * h) {
        float *restrict p0 = x + i, *restrict p1 = p0 + h;
        for (size_t j = 0; j < h; j++) {
            float a = p0[j], b = p1[j];
            p0[j] = a + b;
            p1[j] = a - b;
        }
    }
}

static void fwht_fast(float *x, size_t d)
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

void df_fwht_rows(float *x, size_t rows, size_t d)
{
    for (size_t r = 0; r < rows; r++)
        fwht_fast(x + r * d, d);
}

const char *df_fwht_path(void)
{
    return "portable (radix-8 base + radix-4 levels, compiler-vectorised)";
}
