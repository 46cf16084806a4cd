/* FWHT kernel for AVX2 + FMA (ymm, 8 floats), chosen at run time by
 * fwht.c on CPUs without AVX-512; function-level target, like
 * fwht_avx512.c, whose layout it follows with 16 ymm registers instead of
 * 32 zmm:
 *   bits 0-2   lanes of a ymm: x * sign + shuffle(x); bit 2 in the base
 *              pass, bits 0-1 in the last pass (which would otherwise be
 *              store-bound);
 *   bits 3-5   the 8 ymm of a 64-float base block (radix 8);
 *   bits 6-11  radix-8/4/2 passes at strides >= 64 floats within a
 *              4096-float (16 KiB, L1-resident) block;
 *   bits 12+   radix-4/2 passes over the whole vector (>= 16 KiB strides:
 *              few streams per L1 set). */
#include "fwht_impl.h"

#if DF_FWHT_X86
#include <immintrin.h>

#define KERNEL static inline __attribute__((target("avx2,fma"), always_inline))

#define L1_BLOCK 4096

typedef struct lane_signs {
    __m256 s1, s2, s4;   /* -1 where lane bit 0, 1, 2 is set */
} lane_signs;

KERNEL lane_signs make_lane_signs(void)
{
    lane_signs s;
    s.s1 = _mm256_setr_ps(1, -1, 1, -1, 1, -1, 1, -1);
    s.s2 = _mm256_setr_ps(1, 1, -1, -1, 1, 1, -1, -1);
    s.s4 = _mm256_setr_ps(1, 1, 1, 1, -1, -1, -1, -1);
    return s;
}

#define LANE_H1(v) v = _mm256_fmadd_ps(v, sg.s1, _mm256_permute_ps(v, 0xB1))
#define LANE_H2(v) v = _mm256_fmadd_ps(v, sg.s2, _mm256_permute_ps(v, 0x4E))
#define LANE_H4(v) v = _mm256_fmadd_ps(v, sg.s4, _mm256_permute2f128_ps(v, v, 0x01))

#define BF(a, b) do { __m256 t_ = a; a = _mm256_add_ps(t_, b); b = _mm256_sub_ps(t_, b); } while (0)
#define R2(a, b) BF(a, b)
#define R4(a, b, c, d) do { BF(a, b); BF(c, d); BF(a, c); BF(b, d); } while (0)
#define R8(a, b, c, d, e, f, g, h) do { R4(a, b, c, d); R4(e, f, g, h); \
    BF(a, e); BF(b, f); BF(c, g); BF(d, h); } while (0)

#define LD(k) __m256 v##k = _mm256_loadu_ps(p + (k) * h)
#define ST(k) _mm256_storeu_ps(p + (k) * h, v##k)
#define EACH2(M) M(v0); M(v1)
#define EACH4(M) EACH2(M); M(v2); M(v3)
#define EACH8(M) EACH4(M); M(v4); M(v5); M(v6); M(v7)

/* 64 contiguous floats: index bits 2-5, and bits 0-1 too if low_lanes. */
KERNEL void base64(float *p, lane_signs sg, const int low_lanes)
{
    const size_t h = 8;
    LD(0); LD(1); LD(2); LD(3); LD(4); LD(5); LD(6); LD(7);
    if (low_lanes) {
        EACH8(LANE_H1);
        EACH8(LANE_H2);
    }
    EACH8(LANE_H4);
    R8(v0, v1, v2, v3, v4, v5, v6, v7);
    ST(0); ST(1); ST(2); ST(3); ST(4); ST(5); ST(6); ST(7);
}

/* Radix-r passes over n floats: levels h, 2h, ... (h >= 8 floats), and
 * lane bits 0-1 of every vector if low_lanes. */
KERNEL void pass2(float *x, size_t n, size_t h, lane_signs sg, const int low_lanes)
{
    for (size_t i = 0; i < n; i += 2 * h)
        for (float *p = x + i; p < x + i + h; p += 8) {
            LD(0); LD(1);
            if (low_lanes) {
                EACH2(LANE_H1);
                EACH2(LANE_H2);
            }
            R2(v0, v1);
            ST(0); ST(1);
        }
}

KERNEL void pass4(float *x, size_t n, size_t h, lane_signs sg, const int low_lanes)
{
    for (size_t i = 0; i < n; i += 4 * h)
        for (float *p = x + i; p < x + i + h; p += 8) {
            LD(0); LD(1); LD(2); LD(3);
            if (low_lanes) {
                EACH4(LANE_H1);
                EACH4(LANE_H2);
            }
            R4(v0, v1, v2, v3);
            ST(0); ST(1); ST(2); ST(3);
        }
}

KERNEL void pass8(float *x, size_t n, size_t h, lane_signs sg, const int low_lanes)
{
    for (size_t i = 0; i < n; i += 8 * h)
        for (float *p = x + i; p < x + i + h; p += 8) {
            LD(0); LD(1); LD(2); LD(3); LD(4); LD(5); LD(6); LD(7);
            if (low_lanes) {
                EACH8(LANE_H1);
                EACH8(LANE_H2);
            }
            R8(v0, v1, v2, v3, v4, v5, v6, v7);
            ST(0); ST(1); ST(2); ST(3); ST(4); ST(5); ST(6); ST(7);
        }
}

/* Levels at strides 64 .. n/2 of an n-float block (n <= L1_BLOCK: at most
 * six) in two passes; the last carries lane bits 0-1 if low_lanes. */
KERNEL void block_levels(float *x, size_t n, lane_signs sg, const int low_lanes)
{
    size_t h = 64;
    if (n >= 64 * 64) {   /* six levels: 8 x 8 */
        pass8(x, n, h, sg, 0);
        h *= 8;
    } else if (n == 64 * 32) {   /* five: 4 x 8 */
        pass4(x, n, h, sg, 0);
        h *= 4;
    } else if (n == 64 * 16) {   /* four: 4 x 4 */
        pass4(x, n, h, sg, 0);
        h *= 4;
    }
    switch (n / h) {
    case 2:  pass2(x, n, h, sg, low_lanes); break;
    case 4:  pass4(x, n, h, sg, low_lanes); break;
    case 8:  pass8(x, n, h, sg, low_lanes); break;
    default: break;   /* n == 64 */
    }
}

/* One vector, d >= 64. */
KERNEL void fwht_avx2(float *x, size_t d, lane_signs sg)
{
    if (d <= L1_BLOCK) {
        if (d == 64) {
            base64(x, sg, 1);
            return;
        }
        for (size_t i = 0; i < d; i += 64)
            base64(x + i, sg, 0);
        block_levels(x, d, sg, 1);
        return;
    }
    for (size_t b = 0; b < d; b += L1_BLOCK) {
        for (size_t i = 0; i < L1_BLOCK; i += 64)
            base64(x + b + i, sg, 0);
        block_levels(x + b, L1_BLOCK, sg, 0);
    }
    int k = 0;   /* levels left: bits 12 .. log2(d)-1 */
    for (size_t t = L1_BLOCK; t < d; t <<= 1)
        k++;
    size_t h = L1_BLOCK;
    if (k & 1) {
        if (k == 1)
            pass2(x, d, h, sg, 1);
        else
            pass2(x, d, h, sg, 0);
        h *= 2;
        k--;
    }
    for (; k > 0; k -= 2, h *= 4) {
        if (k == 2)
            pass4(x, d, h, sg, 1);
        else
            pass4(x, d, h, sg, 0);
    }
}

__attribute__((target("avx2,fma")))
void df_fwht_rows_avx2(float *x, size_t rows, size_t d)
{
    if (d < 64) {
        df_fwht_rows_portable(x, rows, d);
        return;
    }
    const lane_signs sg = make_lane_signs();
    for (size_t r = 0; r < rows; r++)
        fwht_avx2(x + r * d, d, sg);
}

#endif
