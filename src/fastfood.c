/* Adaptive Fastfood layer: forward and eq. (5) backward, batched so each
 * Walsh-Hadamard transform runs over a contiguous (N, d) matrix.
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
#include <string.h>

#include "deepfried/fwht.h"
#include "deepfried/rng.h"

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

/* in (N, d_in) -> out (N, n) */
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
    float *x = ws_x(ws);

    for (int b = 0; b < N; b++) {
        float *xb = x + (size_t)b * d;
        const float *ib = in + (size_t)b * d_in;
        for (int i = 0; i < d_in; i++)
            xb[i] = m_in ? ib[i] * m_in[(size_t)b * d_in + i] : ib[i];
        memset(xb + d_in, 0, sizeof(float) * (size_t)(d - d_in));
    }
    for (int j = 0; j < s->k; j++) {
        const float *S = p->S + (size_t)j * d, *G = p->G + (size_t)j * d;
        const float *B = p->B + (size_t)j * d;
        const int32_t *perm = p->perm + (size_t)j * d;
        float *hG = ws_hG(ws, s, N, j), *hS = ws_hS(ws, s, N, j);
        /* h_Pi = H B x, held in the h_S slot until h_G is gathered */
        for (size_t t = 0; t < (size_t)N * d; t++)
            hS[t] = c * B[t % d] * x[t];
        df_fwht_rows(hS, (size_t)N, (size_t)d);
        for (int b = 0; b < N; b++) {
            float *g = hG + (size_t)b * d;
            const float *h = hS + (size_t)b * d;
            const float *m = m_perm ? m_perm + ((size_t)b * s->k + j) * d : NULL;
            for (int i = 0; i < d; i++)
                g[i] = m ? h[perm[i]] * m[i] : h[perm[i]];
        }
        for (size_t t = 0; t < (size_t)N * d; t++)
            hS[t] = c * G[t % d] * hG[t];
        df_fwht_rows(hS, (size_t)N, (size_t)d);
        const int w = block_width(s, j);
        for (int b = 0; b < N; b++) {
            float *ob = out + (size_t)b * n + (size_t)j * d;
            const float *h = hS + (size_t)b * d;
            const float *m = m_scale ? m_scale + (size_t)b * n + (size_t)j * d : NULL;
            for (int i = 0; i < w; i++)
                ob[i] = m ? S[i] * h[i] * m[i] : S[i] * h[i];
        }
    }
}

/* Eq. (5): dout (N, n) -> din (N, d_in) (=), dS, dG, dB (k, d) (+=) */
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
    const float *x = ws_x(ws);

    if (din)
        memset(din, 0, sizeof(float) * (size_t)N * d_in);
    for (int j = 0; j < s->k; j++) {
        const float *S = p->S + (size_t)j * d, *G = p->G + (size_t)j * d;
        const float *B = p->B + (size_t)j * d;
        const int32_t *perm = p->perm + (size_t)j * d;
        float *hG = ws_hG(ws, s, N, j), *hS = ws_hS(ws, s, N, j);
        const int w = block_width(s, j);

        /* dE/dS = dy .* h_S; then dE/dh_S = S .* dy overwrites h_S */
        for (int b = 0; b < N; b++) {
            const float *db = dout + (size_t)b * n + (size_t)j * d;
            const float *m = m_scale ? m_scale + (size_t)b * n + (size_t)j * d : NULL;
            float *h = hS + (size_t)b * d;
            for (int i = 0; i < w; i++) {
                float dy = m ? db[i] * m[i] : db[i];
                if (dS)
                    dS[(size_t)j * d + i] += dy * h[i];
                h[i] = c * S[i] * dy;
            }
            memset(h + w, 0, sizeof(float) * (size_t)(d - w));
        }
        df_fwht_rows(hS, (size_t)N, (size_t)d);   /* dE/dh_H1 = H dE/dh_S */
        for (int b = 0; b < N; b++) {
            float *h = hS + (size_t)b * d, *g = hG + (size_t)b * d;
            const float *m = m_perm ? m_perm + ((size_t)b * s->k + j) * d : NULL;
            if (dG)
                for (int i = 0; i < d; i++)
                    dG[(size_t)j * d + i] += h[i] * g[i];
            /* dE/dh_G = G .* dE/dh_H1, through the mask, then Pi^T:
             * scattered into h_G's slot, which backward no longer needs */
            for (int i = 0; i < d; i++) {
                float v = c * G[i] * h[i];
                g[perm[i]] = m ? v * m[i] : v;
            }
        }
        df_fwht_rows(hG, (size_t)N, (size_t)d);   /* dE/dh_H2 = H dE/dh_Pi */
        for (int b = 0; b < N; b++) {
            const float *h = hG + (size_t)b * d, *xb = x + (size_t)b * d;
            if (dB)
                for (int i = 0; i < d; i++)
                    dB[(size_t)j * d + i] += h[i] * xb[i];
            if (din) {
                float *ib = din + (size_t)b * d_in;
                for (int i = 0; i < d_in; i++)
                    ib[i] += B[i] * h[i];
            }
        }
    }
    if (din && m_in)
        for (size_t t = 0; t < (size_t)N * d_in; t++)
            din[t] *= m_in[t];
}
