/* Adaptive Fastfood layer: forward and eq. (5) backward, one sample at a
 * time through every block; docs/performance.md has the speed against the
 * dense layer and where the time goes.
 *
 * The layer uses the orthonormal H / sqrt(d). It represents the same
 * matrices as the unnormalised form (S absorbs the factor d), but keeps
 * S, G and B all of order one, so a single SGD learning rate suits all
 * three and the dense layers around them; with the unnormalised H, S
 * starts near sigma / sqrt(d) while its gradient is d times larger, and
 * LeNet training at Caffe's lr 0.01 diverged within 50 steps. The
 * 1/sqrt(d) is folded into the multiply that precedes each transform. */
#include "deepfried/fastfood.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "deepfried/fwht.h"
#include "deepfried/rng.h"
#include "core/per_cpu.h"
#include "layers/common.h"

#define FF_MAX_FEATURES (1 << 24)

int df_fastfood_shape_init(df_fastfood_shape *s, int d_in, int n_features,
                           df_error *err)
{
    if (d_in < 1 || d_in > FF_MAX_FEATURES)
        return df_fail(err, DF_EINPUT, "fastfood input width %d outside [1, %d]",
                       d_in, FF_MAX_FEATURES);
    if (n_features < 1 || n_features > FF_MAX_FEATURES)
        return df_fail(err, DF_EINPUT, "fastfood features %d outside [1, %d]",
                       n_features, FF_MAX_FEATURES);
    s->d_in = d_in;
    s->n = n_features;
    s->d = (int)df_next_pow2((size_t)d_in);
    s->k = (n_features + s->d - 1) / s->d;
    return DF_OK;
}

size_t df_fastfood_param_count(const df_fastfood_shape *s)
{
    return 3 * (size_t)s->d * (size_t)s->k;
}

size_t df_fastfood_ws_size(const df_fastfood_shape *s)
{
    return (size_t)s->d * (1 + 2 * (size_t)s->k);
}

/* Gamma(a, 1) by Marsaglia & Tsang (2000); a < 1 via the a+1 boost. */
static double gamma_draw(df_rng_stream *r, double a)
{
    if (a < 1.0) {
        double u = df_rng_next_uniform(r);
        return gamma_draw(r, a + 1.0) * pow(u > 0 ? u : 1e-30, 1.0 / a);
    }
    double dd = a - 1.0 / 3.0, c = 1.0 / sqrt(9.0 * dd);
    for (;;) {
        double x = df_rng_next_normal(r), v = 1.0 + c * x;
        if (v <= 0)
            continue;
        v = v * v * v;
        double u = df_rng_next_uniform(r);
        if (u > 0 && log(u) < 0.5 * x * x + dd - dd * v + dd * log(v))
            return dd * v;
    }
}

void df_fastfood_init(const df_fastfood_shape *s, df_fastfood_params *p,
                      float sigma, uint64_t key)
{
    const int d = s->d;
    for (int j = 0; j < s->k; j++) {
        float *S = p->S + (size_t)j * d, *G = p->G + (size_t)j * d;
        float *B = p->B + (size_t)j * d;
        df_rng_stream rb = df_rng_stream_make(df_rng_key(key, (uint64_t)j, 1, 0, 0));
        df_rng_stream rg = df_rng_stream_make(df_rng_key(key, (uint64_t)j, 2, 0, 0));
        df_rng_stream rs = df_rng_stream_make(df_rng_key(key, (uint64_t)j, 3, 0, 0));
        double g_norm2 = 0.0;
        for (int i = 0; i < d; i++) {
            B[i] = (df_rng_next_u64(&rb) >> 63) ? 1.0f : -1.0f;
            G[i] = (float)df_rng_next_normal(&rg);
            g_norm2 += (double)G[i] * G[i];
        }
        /* With the orthonormal H, rows of H G Pi H B have norm
         * ||G|| / sqrt(d); rescaling each to a chi_d length makes them
         * distributed like rows of a Gaussian matrix (Le, Sarlos & Smola
         * 2013), then sigma sets the scale. */
        double row_norm = sqrt(g_norm2 / d);
        for (int i = 0; i < d; i++) {
            double chi = sqrt(2.0 * gamma_draw(&rs, 0.5 * d));
            S[i] = (float)(sigma * chi / row_norm);
        }
        df_rng_permutation(df_rng_key(key, (uint64_t)j, 4, 0, 0),
                           p->perm + (size_t)j * d, d);
    }
}

/* Workspace views, block-major (see df_fastfood_ws_size). */
static float *ws_x(float *ws)
{
    return ws;
}
static float *ws_hG(float *ws, const df_fastfood_shape *s, int N, int j)
{
    return ws + (size_t)N * s->d * (1 + 2 * (size_t)j);
}
static float *ws_hS(float *ws, const df_fastfood_shape *s, int N, int j)
{
    return ws + (size_t)N * s->d * (2 + 2 * (size_t)j);
}

/* Output features block j produces: [j d, j d + block_width). */
static int block_width(const df_fastfood_shape *s, int j)
{
    int w = s->n - j * s->d;
    return w < s->d ? w : s->d;
}

/* ---- elementwise kernels ----
 * GCC at -O2 does not vectorise loops of unknown length, and as scalar
 * loops these passes over each sample's rows took 90% of the layer's time.
 * So they are written with 16-float vector types, which the compiler
 * lowers to whatever the target has, and on x86-64 each is compiled three
 * times, for AVX-512, AVX2 and baseline SSE, the loader picking one for
 * the CPU (target_clones; forward + backward of 1024 -> 1024 at batch 64
 * measured 0.158 ms with SSE alone, 0.141 ms with the clones). Products are
 * rounded in the order the scalar form in each comment shows, and never
 * fused into FMAs (each product is its own statement, which also keeps
 * clang's default -ffp-contract=on from fusing), so results do not depend
 * on the clone. */

typedef float vf16 __attribute__((vector_size(64)));
#define VF 16

/* out[i] = c * a[i] * b[i]; out may be b */
PER_CPU static void scale_mul(float *out, float c, const float *a, const float *b, int n)
{
    int i = 0;
    for (; i + VF <= n; i += VF) {
        vf16 va, vb, r;
        VLOAD(va, a + i), VLOAD(vb, b + i);
        r = c * va * vb;
        VSTORE(out + i, r);
    }
    for (; i < n; i++)
        out[i] = c * a[i] * b[i];
}

/* out[i] = a[i] * b[i], times m[i] if m */
PER_CPU static void mul_masked(float *restrict out, const float *restrict a,
                               const float *restrict b, const float *restrict m, int n)
{
    int i = 0;
    for (; i + VF <= n; i += VF) {
        vf16 va, vb, vm, r;
        VLOAD(va, a + i), VLOAD(vb, b + i);
        r = va * vb;
        if (m) {
            VLOAD(vm, m + i);
            r = r * vm;
        }
        VSTORE(out + i, r);
    }
    for (; i < n; i++)
        out[i] = m ? a[i] * b[i] * m[i] : a[i] * b[i];
}

/* out[i] *= m[i] */
PER_CPU static void mul_inplace(float *restrict out, const float *restrict m, int n)
{
    int i = 0;
    for (; i + VF <= n; i += VF) {
        vf16 vo, vm;
        VLOAD(vo, out + i), VLOAD(vm, m + i);
        vo = vo * vm;
        VSTORE(out + i, vo);
    }
    for (; i < n; i++)
        out[i] *= m[i];
}

/* acc[i] += a[i] * b[i] */
PER_CPU static void acc_mul(float *restrict acc, const float *restrict a,
                            const float *restrict b, int n)
{
    int i = 0;
    for (; i + VF <= n; i += VF) {
        vf16 vs, va, vb;
        VLOAD(vs, acc + i), VLOAD(va, a + i), VLOAD(vb, b + i);
        va = va * vb;   /* its own statement: never contracted to an FMA */
        vs = vs + va;
        VSTORE(acc + i, vs);
    }
    for (; i < n; i++) {
        float prod = a[i] * b[i];
        acc[i] += prod;
    }
}

/* out[i] = v[perm[i]], times m[i] if m. Four at a time: the loads are
 * independent and the loop overhead was a fifth of the time. */
static void gather(float *restrict out, const float *restrict v,
                   const int32_t *restrict perm, const float *restrict m, int n)
{
    int i = 0;
    for (; i + 4 <= n; i += 4) {
        float a = v[perm[i]], b = v[perm[i + 1]];
        float c = v[perm[i + 2]], e = v[perm[i + 3]];
        out[i] = a, out[i + 1] = b, out[i + 2] = c, out[i + 3] = e;
    }
    for (; i < n; i++)
        out[i] = v[perm[i]];
    if (m)
        mul_inplace(out, m, n);
}

/* The inverse permutation kept in a dead float row of the workspace: the
 * int32 bytes go in and out by memcpy, which is defined for any type and
 * compiles to plain 32-bit moves. */
static void put_index(float *slot, int32_t index)
{
    memcpy(slot, &index, sizeof index);
}

static int32_t get_index(const float *slot)
{
    int32_t index;
    memcpy(&index, slot, sizeof index);
    return index;
}

/* out[t] = v[inv[t]], inv as put_index wrote it */
static void gather_by_stored_index(float *restrict out, const float *restrict v,
                                   const float *restrict inv, int n)
{
    int t = 0;
    for (; t + 4 <= n; t += 4) {
        float a = v[get_index(inv + t)], b = v[get_index(inv + t + 1)];
        float c = v[get_index(inv + t + 2)], e = v[get_index(inv + t + 3)];
        out[t] = a, out[t + 1] = b, out[t + 2] = c, out[t + 3] = e;
    }
    for (; t < n; t++)
        out[t] = v[get_index(inv + t)];
}

/* out[perm[i]] = v[i] */
static void scatter(float *restrict out, const float *restrict v,
                    const int32_t *restrict perm, int n)
{
    for (int i = 0; i < n; i++)
        out[perm[i]] = v[i];
}

/* Backward through S for one row of w outputs: dy = dout (.* m),
 * dS += dy .* h_S, then h <- c S .* dy (h is h_S, overwritten). */
PER_CPU static void backward_s_row(float *restrict dS, float *restrict h,
                                   const float *restrict S, const float *restrict dout,
                                   const float *restrict m, float c, int w)
{
    int i = 0;
    for (; i + VF <= w; i += VF) {
        vf16 dy, vm, vh, vs, r;
        VLOAD(dy, dout + i);
        if (m) {
            VLOAD(vm, m + i);
            dy = dy * vm;
        }
        if (dS) {
            VLOAD(vh, h + i);
            VLOAD(vs, dS + i);
            vh = dy * vh;
            vs = vs + vh;
            VSTORE(dS + i, vs);
        }
        VLOAD(vs, S + i);
        r = c * vs * dy;
        VSTORE(h + i, r);
    }
    for (; i < w; i++) {
        float dy = m ? dout[i] * m[i] : dout[i];
        if (dS) {
            float prod = dy * h[i];
            dS[i] += prod;
        }
        h[i] = c * S[i] * dy;
    }
}

/* Backward through G for one row: dG += h .* g (g = h_G), then
 * h <- c G .* h (.* m), the values Pi^T will place. */
PER_CPU static void backward_g_row(float *restrict dG, float *restrict h,
                                   const float *restrict g, const float *restrict G,
                                   const float *restrict m, float c, int d)
{
    int i = 0;
    for (; i + VF <= d; i += VF) {
        vf16 vh, vg, vs, vm, v;
        VLOAD(vh, h + i);
        if (dG) {
            VLOAD(vs, dG + i), VLOAD(vg, g + i);
            vg = vh * vg;
            vs = vs + vg;
            VSTORE(dG + i, vs);
        }
        VLOAD(vg, G + i);
        v = c * vg * vh;
        if (m) {
            VLOAD(vm, m + i);
            v = v * vm;
        }
        VSTORE(h + i, v);
    }
    for (; i < d; i++) {
        if (dG) {
            float prod = h[i] * g[i];
            dG[i] += prod;
        }
        float v = c * G[i] * h[i];
        h[i] = m ? v * m[i] : v;
    }
}

/* Backward through B for one row: dB += h .* x over d, din += B .* h over
 * the first d_in (either may be NULL). */
static void backward_b_row(float *restrict dB, float *restrict din, const float *restrict h,
                           const float *restrict x, const float *restrict B, int d,
                           int d_in)
{
    if (dB)
        acc_mul(dB, h, x, d);
    if (din)
        acc_mul(din, B, h, d_in);
}

/* in (N, d_in) -> out (N, n). One sample at a time through every block,
 * so a row's intermediates stay in cache from the input to the output. */
void df_fastfood_forward(float *out, const float *in,
                         const df_fastfood_params *p,
                         const df_fastfood_shape *s, int N,
                         const df_fastfood_masks *masks, float *ws)
{
    const int d = s->d, d_in = s->d_in, n = s->n;
    const float *m_in = masks ? masks->input : NULL;
    const float *m_perm = masks ? masks->perm : NULL;
    const float *m_scale = masks ? masks->scale : NULL;
    const float c = 1.0f / sqrtf((float)d);   /* orthonormal H */

    for (int b = 0; b < N; b++) {
        float *x = ws_x(ws) + (size_t)b * d;
        const float *ib = in + (size_t)b * d_in;
        if (m_in)
            mul_masked(x, ib, m_in + (size_t)b * d_in, NULL, d_in);
        else
            memcpy(x, ib, sizeof(float) * (size_t)d_in);
        memset(x + d_in, 0, sizeof(float) * (size_t)(d - d_in));
        for (int j = 0; j < s->k; j++) {
            const float *S = p->S + (size_t)j * d, *G = p->G + (size_t)j * d;
            const float *B = p->B + (size_t)j * d;
            float *g = ws_hG(ws, s, N, j) + (size_t)b * d;
            float *h = ws_hS(ws, s, N, j) + (size_t)b * d;
            /* h_Pi = H B x, held in the h_S slot until h_G is gathered */
            scale_mul(h, c, B, x, d);
            df_fwht_rows(h, 1, (size_t)d);
            gather(g, h, p->perm + (size_t)j * d,
                   m_perm ? m_perm + ((size_t)b * s->k + j) * d : NULL, d);
            scale_mul(h, c, G, g, d);   /* then h_S = H G h_G */
            df_fwht_rows(h, 1, (size_t)d);
            mul_masked(out + (size_t)b * n + (size_t)j * d, S, h,
                       m_scale ? m_scale + (size_t)b * n + (size_t)j * d : NULL,
                       block_width(s, j));
        }
    }
}

/* Eq. (5): dout (N, n) -> din (N, d_in) (=), dS, dG, dB (k, d) (+=). One
 * sample at a time, like forward. */
void df_fastfood_backward(float *din, float *dS, float *dG, float *dB,
                          const float *dout, const df_fastfood_params *p,
                          const df_fastfood_shape *s, int N,
                          const df_fastfood_masks *masks, float *ws)
{
    const int d = s->d, d_in = s->d_in, n = s->n;
    const float *m_in = masks ? masks->input : NULL;
    const float *m_perm = masks ? masks->perm : NULL;
    const float *m_scale = masks ? masks->scale : NULL;
    const float c = 1.0f / sqrtf((float)d);   /* orthonormal H */

    for (int b = 0; b < N; b++) {
        const float *x = ws_x(ws) + (size_t)b * d;
        float *ib = din ? din + (size_t)b * d_in : NULL;
        if (ib)
            memset(ib, 0, sizeof(float) * (size_t)d_in);
        for (int j = 0; j < s->k; j++) {
            const float *S = p->S + (size_t)j * d, *G = p->G + (size_t)j * d;
            const float *B = p->B + (size_t)j * d;
            const int32_t *perm = p->perm + (size_t)j * d;
            float *g = ws_hG(ws, s, N, j) + (size_t)b * d;
            float *h = ws_hS(ws, s, N, j) + (size_t)b * d;
            const int w = block_width(s, j);

            /* dE/dS = dy .* h_S; then dE/dh_S = S .* dy overwrites h_S */
            backward_s_row(dS ? dS + (size_t)j * d : NULL, h, S,
                           dout + (size_t)b * n + (size_t)j * d,
                           m_scale ? m_scale + (size_t)b * n + (size_t)j * d : NULL, c, w);
            memset(h + w, 0, sizeof(float) * (size_t)(d - w));
            df_fwht_rows(h, 1, (size_t)d);   /* dE/dh_H1 = H dE/dh_S */
            /* dE/dh_G = G .* dE/dh_H1, through the mask, then Pi^T into
             * h_G's slot, which backward no longer needs. Pi^T is a
             * scatter for sample 0; that sample's h_S slot is then dead
             * and holds the inverse permutation, so the other samples
             * gather instead (a scatter to random places measured twice
             * as slow as a gather: 0.56 against 0.25 ns per element). */
            float *inv = ws_hS(ws, s, N, j);
            backward_g_row(dG ? dG + (size_t)j * d : NULL, h, g, G,
                           m_perm ? m_perm + ((size_t)b * s->k + j) * d : NULL, c, d);
            if (b == 0) {
                scatter(g, h, perm, d);
                for (int i = 0; i < d; i++)
                    put_index(inv + perm[i], i);
            } else {
                gather_by_stored_index(g, h, inv, d);
            }
            df_fwht_rows(g, 1, (size_t)d);   /* dE/dh_H2 = H dE/dh_Pi */
            backward_b_row(dB ? dB + (size_t)j * d : NULL, ib, g, x, B, d, d_in);
        }
        if (ib && m_in)
            mul_inplace(ib, m_in + (size_t)b * d_in, d_in);
    }
}

/* ---- the layer type ---- */

/* Each block of perm must be a permutation of 0..d-1: the forward pass
 * indexes with it, so a damaged one would read out of bounds. */
static int df_fastfood_check_perm(const df_aux *a, const void *data, char *why, size_t cap)
{
    const int32_t *perm = data;
    const int k = a->dims[0], d = a->dims[1];
    int32_t *seen = malloc((size_t)(d > 0 ? d : 1) * sizeof *seen);
    if (!seen) {
        snprintf(why, cap, "out of memory checking the permutation");
        return DF_ENOMEM;
    }
    for (int i = 0; i < d; i++)
        seen[i] = -1;
    int rc = DF_OK;
    for (int j = 0; rc == DF_OK && j < k; j++) {
        const int32_t *p = perm + (size_t)j * d;
        for (int i = 0; i < d; i++) {
            if (p[i] < 0 || p[i] >= d || seen[p[i]] == j) {
                snprintf(why, cap, "block %d is not a permutation of 0..%d (value %d at position "
                         "%d %s)", j, d - 1, p[i], i,
                         p[i] < 0 || p[i] >= d ? "is out of range" : "repeats");
                rc = DF_EINPUT;
                break;
            }
            seen[p[i]] = j;
        }
    }
    free(seen);
    return rc;
}

static int ff_setup(df_layer *l, df_error *err)
{
    const df_layer_spec *sp = &l->spec;
    df_fastfood_shape *s = &l->shape.ff;
    size_t in_flat = (size_t)l->in_c * l->in_h * l->in_w;
    if (in_flat > (1u << 24))
        return df_layer_shape_error(err, l, "input wider than 2^24");
    int rc = df_fastfood_shape_init(s, (int)in_flat, sp->features, err);
    if (rc)
        return rc;
    l->out_c = sp->features;
    l->out_h = l->out_w = 1;
    int dims[2] = {s->k, s->d};
    if (sp->adaptive) {
        df_layer_add_tensor(l, "S", 2, dims, sp->lr_mult, sp->decay_mult);
        df_layer_add_tensor(l, "G", 2, dims, sp->lr_mult, sp->decay_mult);
        df_layer_add_tensor(l, "B", 2, dims, sp->lr_mult, sp->decay_mult);
    }
    /* Pi is never trained; neither are S, G, B when fixed */
    df_aux *perm = df_layer_add_aux(l, "perm", "permutation", DF_AUX_INT32, 2, dims);
    perm->check = df_fastfood_check_perm;
    if (!sp->adaptive) {
        df_layer_add_aux(l, "S", "fixed tensor S", DF_AUX_FLOAT32, 2, dims);
        df_layer_add_aux(l, "G", "fixed tensor G", DF_AUX_FLOAT32, 2, dims);
        df_layer_add_aux(l, "B", "fixed tensor B", DF_AUX_FLOAT32, 2, dims);
    }
    return DF_OK;
}

static int ff_alloc(df_layer *l, int max_batch, df_error *err)
{
    const df_fastfood_shape *s = &l->shape.ff;
    size_t N = (size_t)max_batch, kd = (size_t)s->k * s->d;
    l->work = df_calloc(N, df_fastfood_ws_size(s) * sizeof(float), err);
    l->perm = df_calloc(kd, sizeof(int32_t), err);
    l->mask[0] = df_calloc(N * (size_t)s->d_in, sizeof(float), err);
    l->mask[1] = df_calloc(N * kd, sizeof(float), err);
    l->mask[2] = df_calloc(N * (size_t)s->n, sizeof(float), err);
    if (!l->spec.adaptive)
        l->fixed = df_calloc(3 * kd, sizeof(float), err);
    if (!l->work || !l->perm || !l->mask[0] || !l->mask[1] || !l->mask[2] ||
        (!l->spec.adaptive && !l->fixed))
        return DF_ENOMEM;
    l->aux[0].data = l->perm;
    for (int t = 1; t < l->n_aux; t++)
        l->aux[t].data = l->fixed + (size_t)(t - 1) * kd;
    return DF_OK;
}

/* The parameter views: into the flat buffer when adaptive. */
static df_fastfood_params ff_params(float *params, const df_layer *l)
{
    size_t kd = (size_t)l->shape.ff.k * l->shape.ff.d;
    float *base = l->spec.adaptive ? params + l->param_offset : l->fixed;
    df_fastfood_params p = {base, base + kd, base + 2 * kd, l->perm};
    return p;
}

static void ff_init(df_layer *l, float *params, uint64_t seed)
{
    /* Default sigma: the variance Xavier gives a dense layer of this fan-in. */
    float sigma = l->spec.sigma_set ? l->spec.sigma : 1.0f / sqrtf((float)l->shape.ff.d_in);
    df_fastfood_params p = ff_params(params, l);
    df_fastfood_init(&l->shape.ff, &p, sigma,
                     df_rng_key(seed, DF_RNG_INIT, (uint64_t)l->index, 0, 0));
}

/* This pass's dropout masks, or NULL when none apply. */
static const df_fastfood_masks *ff_masks(df_layer *l, int N, const df_pass *pass,
                                         df_fastfood_masks *m)
{
    const df_fastfood_shape *s = &l->shape.ff;
    const float p[3] = {l->spec.dropout_input, l->spec.dropout_perm, l->spec.dropout_scale};
    const size_t width[3] = {(size_t)s->d_in, (size_t)s->k * s->d, (size_t)s->n};
    const float **slot[3] = {&m->input, &m->perm, &m->scale};
    int any = 0;
    for (int i = 0; i < 3; i++) {
        *slot[i] = NULL;
        if (!pass->train || p[i] <= 0.0f)
            continue;
        df_dropout_mask(l->mask[i], N, width[i], p[i], pass->seed, pass->step,
                        pass->first_sample, df_layer_point_id(l, i));
        *slot[i] = l->mask[i];
        any = 1;
    }
    return any ? m : NULL;
}

static double ff_forward(df_layer *l, const df_layer_ctx *c, const float *in, float *out, int N)
{
    df_fastfood_masks m;
    df_fastfood_params p = ff_params(c->params, l);
    const df_fastfood_masks *mp = ff_masks(l, N, c->pass, &m);
    l->mask_active = mp != NULL;
    df_fastfood_forward(out, in, &p, &l->shape.ff, N, mp, l->work);
    return 0.0;
}

static void ff_backward(df_layer *l, const df_layer_ctx *c, float *din, const float *dout,
                        const float *in, const float *out, int N)
{
    (void)in, (void)out;
    /* the masks forward drew are still in l->mask */
    const float p[3] = {l->spec.dropout_input, l->spec.dropout_perm, l->spec.dropout_scale};
    df_fastfood_masks m = {NULL, NULL, NULL};
    if (l->mask_active) {
        m.input = p[0] > 0 ? l->mask[0] : NULL;
        m.perm = p[1] > 0 ? l->mask[1] : NULL;
        m.scale = p[2] > 0 ? l->mask[2] : NULL;
    }
    df_fastfood_params fp = ff_params(c->params, l);
    float *dp = l->spec.adaptive ? c->grads + l->param_offset : NULL;
    size_t kd = (size_t)l->shape.ff.k * l->shape.ff.d;
    df_fastfood_backward(din, dp, dp ? dp + kd : NULL, dp ? dp + 2 * kd : NULL, dout, &fp,
                         &l->shape.ff, N, &m, l->work);
}

static void ff_describe(const df_layer *l, char *buf, size_t cap)
{
    snprintf(buf, cap, "d=%d k=%d", l->shape.ff.d, l->shape.ff.k);
}

static const df_layer_key ff_keys[] = {
    KEY_INT("features", features, 1, KEY_MAX_WIDTH, DF_KEY_REQUIRED | DF_KEY_MODEL),
    KEY_BOOL("adaptive", adaptive, DF_KEY_MODEL),
    /* unset: the layer's own default, from the input width (ff_init) */
    { "sigma", DF_KEY_FLOAT, LAY(sigma), 0, 0, 0.0, INFINITY, DF_KEY_LO_OPEN, NULL, 0,
      offsetof(df_layer_spec, sigma_set) },
    KEY_PROB("dropout_input", dropout_input),
    KEY_PROB("dropout_perm", dropout_perm),
    KEY_PROB("dropout_scale", dropout_scale),
    KEY_LR_MULT, KEY_DECAY_MULT, KEY_END
};

const df_layer_kind df_layer_fastfood = {
    .name = "fastfood", .keys = ff_keys,
    .setup = ff_setup, .alloc = ff_alloc, .init = ff_init,
    .forward = ff_forward, .backward = ff_backward, .describe = ff_describe,
};
