/* The Adaptive Fastfood layer (paper Sec. 2): y = S H G Pi H B x.
 *
 * The input x in R^{d_in} is zero-padded to d = 2^ceil(log2 d_in). The
 * layer has k = ceil(n/d) independent blocks, block j computing
 *     y_j = S_j .* H(G_j .* Pi_j(H(B_j .* x)))
 * and the outputs are concatenated and cut to n features. H is the
 * Walsh-Hadamard transform scaled to be orthonormal (H_d / sqrt(d), see
 * fastfood.c for why), computed in O(d log d), never formed as a matrix.
 *
 * Parameters: S, G, B, each (k, d) floats, stored contiguously in that
 * order as one slice of the network's flat parameter buffer (3 k d floats);
 * Pi is an int32 (k, d) table that is drawn once and never trained. */
#ifndef DEEPFRIED_FASTFOOD_H
#define DEEPFRIED_FASTFOOD_H

#include <stddef.h>
#include <stdint.h>
#include "deepfried/error.h"

typedef struct df_fastfood_shape {
    int d_in;       /* input width */
    int n;          /* output width (features) */
    int d;          /* padded block width, a power of two >= d_in */
    int k;          /* blocks, ceil(n / d) */
} df_fastfood_shape;

int df_fastfood_shape_init(df_fastfood_shape *s, int d_in, int n_features,
                           df_error *err);

/* Views of one layer's state. S, G, B point into the flat parameter buffer
 * (or a fixed buffer when not adaptive); dS, dG, dB into the gradient
 * buffer (NULL when not adaptive). */
typedef struct df_fastfood_params {
    float *S, *G, *B;       /* each (k, d) */
    int32_t *perm;          /* (k, d): block j reads Pi_j(v)[i] = v[perm[j*d+i]] */
} df_fastfood_params;

/* Le, Sarlos & Smola (2013) init from counter-based draws of key:
 * B uniform +-1, G ~ N(0,1), Pi uniform permutation,
 * S_i = sigma * s_i * sqrt(d) / ||G||_2 with s_i ~ chi_d (the paper's
 * sigma s_i / (||G|| sqrt(d)) for the unnormalised H, times d), so that
 * each block acts like a dense d x d matrix with i.i.d. N(0, sigma^2)
 * entries. */
void df_fastfood_init(const df_fastfood_shape *s, df_fastfood_params *p,
                      float sigma, uint64_t key);

/* Dropout probabilities inside the layer (masks are inputs, drawn by the
 * caller, so the layer itself stays deterministic and testable). */
typedef struct df_fastfood_masks {
    const float *input;     /* (N, d_in) or NULL: applied to x before B */
    const float *perm;      /* (N, k, d) or NULL: applied after Pi */
    const float *scale;     /* (N, n) or NULL: applied after S (to y) */
} df_fastfood_masks;

/* Floats of workspace per sample that forward leaves for backward: the
 * padded, masked input x (d) and, per block, h_G = Pi H B x (d) and
 * h_S = H G Pi H B x (d), eq. (4); laid out block-major so each is a
 * contiguous (N, d) matrix. A call with batch N needs N * ws_size floats. */
size_t df_fastfood_ws_size(const df_fastfood_shape *s);

/* in (N, d_in) -> out (N, n). ws (N * ws_size) keeps intermediates for
 * backward (eq. (4)). masks may be NULL. */
void df_fastfood_forward(float *out, const float *in,
                         const df_fastfood_params *p,
                         const df_fastfood_shape *s, int N,
                         const df_fastfood_masks *masks, float *ws);

/* Eq. (5): dout (N, n) -> din (N, d_in) (=, may be NULL),
 * dS, dG, dB (k, d) (+=, may be NULL when not adaptive). ws is what forward
 * left; it is overwritten. */
void df_fastfood_backward(float *din, float *dS, float *dG, float *dB,
                          const float *dout, const df_fastfood_params *p,
                          const df_fastfood_shape *s, int N,
                          const df_fastfood_masks *masks, float *ws);

/* Trainable floats: 3 d k. */
size_t df_fastfood_param_count(const df_fastfood_shape *s);

#endif
