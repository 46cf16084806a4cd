/* FWHT kernel for AVX-512F (zmm, 16 floats), chosen at run time by
 * fwht.c; compiled with a function-level target so the rest of the build
 * stays baseline x86-64.
 *
 * Index bits of x and where each level of the transform happens:
 *   bits 0-3   lanes of a zmm: in-register, x * sign + shuffle(x) (one
 *              shuffle and one FMA per vector and level);
 *   bits 4-7   the 16 zmm of a 256-float block: pure add/sub butterflies
 *              in registers (radix 16);
 *   bits 8-11  a radix-2/4/8/16 pass over memory at stride 256 floats
 *              (1 KiB), within a 4096-float block (16 KiB, L1-resident);
 *   bits 12+   radix-4/2 passes over the whole vector. Strides there are
 *              >= 16 KiB, so every stream maps to the same L1 sets; radix 4
 *              keeps that to 4 lines per set.
 * Levels commute, so each pass may take any subset. A zmm store costs two
 * cycles here (32 bytes per cycle) and shuffles and FMAs compete with the
 * adds for the four FP pipes, so lane levels h = 4, 8 go with the 256-float
 * base pass and h = 1, 2 with the last pass, which would otherwise be
 * store-bound (measured: 1024 floats in 8.7 instead of 10.4 cycles per
 * vector with all four lane levels in the base pass). */
#include "fwht_impl.h"

#if DF_FWHT_X86
#include <immintrin.h>

#define KERNEL static inline __attribute__((target("avx512f"), always_inline))

#define L1_BLOCK 4096   /* floats finished in L1 before the wide passes */

typedef struct lane_signs {
    __m512 s1, s2, s4, s8;   /* -1 where lane bit 0, 1, 2, 3 is set */
} lane_signs;

KERNEL lane_signs make_lane_signs(void)
{
    lane_signs s;
    s.s1 = _mm512_setr_ps(1, -1, 1, -1, 1, -1, 1, -1, 1, -1, 1, -1, 1, -1, 1, -1);
    s.s2 = _mm512_setr_ps(1, 1, -1, -1, 1, 1, -1, -1, 1, 1, -1, -1, 1, 1, -1, -1);
    s.s4 = _mm512_setr_ps(1, 1, 1, 1, -1, -1, -1, -1, 1, 1, 1, 1, -1, -1, -1, -1);
    s.s8 = _mm512_setr_ps(1, 1, 1, 1, 1, 1, 1, 1, -1, -1, -1, -1, -1, -1, -1, -1);
    return s;
}

/* One level on a lane bit: lane i gets x_i + x_(i^h) below, x_(i^h) - x_i
 * above, as x * sign + partner. */
#define LANE_H1(v) v = _mm512_fmadd_ps(v, sg.s1, _mm512_permute_ps(v, 0xB1))
#define LANE_H2(v) v = _mm512_fmadd_ps(v, sg.s2, _mm512_permute_ps(v, 0x4E))
#define LANE_H4(v) v = _mm512_fmadd_ps(v, sg.s4, _mm512_shuffle_f32x4(v, v, 0xB1))
#define LANE_H8(v) v = _mm512_fmadd_ps(v, sg.s8, _mm512_shuffle_f32x4(v, v, 0x4E))

/* Butterfly (a, b) <- (a + b, a - b). The add/sub run on the two FADD
 * pipes only; BFF computes the difference as -(b * 1) + a on the FMA pipes
 * instead (needs `one` in scope), which pass16 uses for half its levels so
 * that both pipe pairs work (measured 2-4% faster for d >= 4096). */
#define BF(a, b) do { __m512 t_ = a; a = _mm512_add_ps(t_, b); b = _mm512_sub_ps(t_, b); } while (0)
#define BFF(a, b) do { __m512 t_ = a; a = _mm512_add_ps(t_, b); b = _mm512_fnmadd_ps(b, one, t_); } while (0)
#define R2(a, b) BF(a, b)
#define R4(a, b, c, d) do { BF(a, b); BF(c, d); BF(a, c); BF(b, d); } while (0)
#define R8(a, b, c, d, e, f, g, h) do { R4(a, b, c, d); R4(e, f, g, h); \
    BF(a, e); BF(b, f); BF(c, g); BF(d, h); } while (0)
#define R16(a0, a1, a2, a3, a4, a5, a6, a7, a8, a9, a10, a11, a12, a13, a14, a15) do { \
    R8(a0, a1, a2, a3, a4, a5, a6, a7); R8(a8, a9, a10, a11, a12, a13, a14, a15); \
    BF(a0, a8); BF(a1, a9); BF(a2, a10); BF(a3, a11); \
    BF(a4, a12); BF(a5, a13); BF(a6, a14); BF(a7, a15); } while (0)
/* R8 and R16 with the last level (R8F) or two (R16F) in BFF form */
#define R8F(a, b, c, d, e, f, g, h) do { R4(a, b, c, d); R4(e, f, g, h); \
    BFF(a, e); BFF(b, f); BFF(c, g); BFF(d, h); } while (0)
#define R16F(a0, a1, a2, a3, a4, a5, a6, a7, a8, a9, a10, a11, a12, a13, a14, a15) do { \
    R8F(a0, a1, a2, a3, a4, a5, a6, a7); R8F(a8, a9, a10, a11, a12, a13, a14, a15); \
    BFF(a0, a8); BFF(a1, a9); BFF(a2, a10); BFF(a3, a11); \
    BFF(a4, a12); BFF(a5, a13); BFF(a6, a14); BFF(a7, a15); } while (0)

#define LD(k) __m512 v##k = _mm512_loadu_ps(p + (k) * h)
#define ST(k) _mm512_storeu_ps(p + (k) * h, v##k)
#define EACH4(M) M(v0); M(v1); M(v2); M(v3)
#define EACH8(M) EACH4(M); M(v4); M(v5); M(v6); M(v7)
#define EACH16(M) EACH8(M); M(v8); M(v9); M(v10); M(v11); M(v12); M(v13); M(v14); M(v15)

/* 256 contiguous floats: index bits 2-7, and bits 0-1 too if low_lanes. */
KERNEL void base256(float *p, lane_signs sg, const int low_lanes)
{
    const size_t h = 16;
    LD(0); LD(1); LD(2); LD(3); LD(4); LD(5); LD(6); LD(7);
    LD(8); LD(9); LD(10); LD(11); LD(12); LD(13); LD(14); LD(15);
    if (low_lanes) {
        EACH16(LANE_H1);
        EACH16(LANE_H2);
    }
    EACH16(LANE_H4);
    EACH16(LANE_H8);
    R16(v0, v1, v2, v3, v4, v5, v6, v7, v8, v9, v10, v11, v12, v13, v14, v15);
    ST(0); ST(1); ST(2); ST(3); ST(4); ST(5); ST(6); ST(7);
    ST(8); ST(9); ST(10); ST(11); ST(12); ST(13); ST(14); ST(15);
}

/* Radix-r passes over n floats: levels h, 2h, ... (h >= 16 floats), and
 * the lane bits 0-1 of every vector if low_lanes. */
KERNEL void pass2(float *x, size_t n, size_t h, lane_signs sg, const int low_lanes)
{
    for (size_t i = 0; i < n; i += 2 * h)
        for (float *p = x + i; p < x + i + h; p += 16) {
            LD(0); LD(1);
            if (low_lanes) {
                LANE_H1(v0); LANE_H1(v1); LANE_H2(v0); LANE_H2(v1);
            }
            R2(v0, v1);
            ST(0); ST(1);
        }
}

KERNEL void pass4(float *x, size_t n, size_t h, lane_signs sg, const int low_lanes)
{
    for (size_t i = 0; i < n; i += 4 * h)
        for (float *p = x + i; p < x + i + h; p += 16) {
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
        for (float *p = x + i; p < x + i + h; p += 16) {
            LD(0); LD(1); LD(2); LD(3); LD(4); LD(5); LD(6); LD(7);
            if (low_lanes) {
                EACH8(LANE_H1);
                EACH8(LANE_H2);
            }
            R8(v0, v1, v2, v3, v4, v5, v6, v7);
            ST(0); ST(1); ST(2); ST(3); ST(4); ST(5); ST(6); ST(7);
        }
}

KERNEL void pass16(float *x, size_t n, size_t h, lane_signs sg, const int low_lanes)
{
    for (size_t i = 0; i < n; i += 16 * h)
        for (float *p = x + i; p < x + i + h; p += 16) {
            LD(0); LD(1); LD(2); LD(3); LD(4); LD(5); LD(6); LD(7);
            LD(8); LD(9); LD(10); LD(11); LD(12); LD(13); LD(14); LD(15);
            const __m512 one = _mm512_set1_ps(1.0f);
            if (low_lanes) {
                EACH16(LANE_H1);
                EACH16(LANE_H2);
            }
            R16F(v0, v1, v2, v3, v4, v5, v6, v7, v8, v9, v10, v11, v12, v13, v14, v15);
            ST(0); ST(1); ST(2); ST(3); ST(4); ST(5); ST(6); ST(7);
            ST(8); ST(9); ST(10); ST(11); ST(12); ST(13); ST(14); ST(15);
        }
}

/* The levels at strides 256 .. n/2 of an n-float block (n <= L1_BLOCK, so
 * at most four: one pass), with the lane bits 0-1 if low_lanes. */
KERNEL void block_levels(float *x, size_t n, lane_signs sg, const int low_lanes)
{
    switch (n) {
    case 512:  pass2(x, n, 256, sg, low_lanes); break;
    case 1024: pass4(x, n, 256, sg, low_lanes); break;
    case 2048: pass8(x, n, 256, sg, low_lanes); break;
    case 4096: pass16(x, n, 256, sg, low_lanes); break;
    default: break;   /* n == 256: nothing left */
    }
}

/* One vector, d >= 256. */
KERNEL void fwht_avx512(float *x, size_t d, lane_signs sg)
{
    if (d <= L1_BLOCK) {
        if (d == 256) {
            base256(x, sg, 1);
            return;
        }
        for (size_t i = 0; i < d; i += 256)
            base256(x + i, sg, 0);
        block_levels(x, d, sg, 1);
        return;
    }
    for (size_t b = 0; b < d; b += L1_BLOCK) {
        for (size_t i = 0; i < L1_BLOCK; i += 256)
            base256(x + b + i, sg, 0);
        block_levels(x + b, L1_BLOCK, sg, 0);
    }
    /* bits 12 .. log2(d)-1: radix-4 passes after a radix-2 one if their
     * count is odd; the last pass carries lane bits 0-1 */
    int k = 0;
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

__attribute__((target("avx512f")))
void df_fwht_rows_avx512(float *x, size_t rows, size_t d)
{
    if (d < 256) {
        df_fwht_rows_portable(x, rows, d);
        return;
    }
    const lane_signs sg = make_lane_signs();
    for (size_t r = 0; r < rows; r++)
        fwht_avx512(x + r * d, d, sg);
}

#endif
