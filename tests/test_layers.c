/* The plain layers: forwards against naive loops, every backward against
 * finite differences of its forward, and the conventions of layers.h
 * (din overwritten, parameter gradients accumulated). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "deepfried/layers.h"
#include "deepfried/rng.h"

/* the most threads a test hands a layer (conv scratch is sized for it) */
#define MAX_TEST_THREADS 4
#include "gradcheck.h"

/* Central differences with a float32 forward. Most layers are linear (or
 * piecewise linear, away from their kinks) in the checked tensor, so the
 * difference quotient has no truncation error and what is left is float
 * rounding of the forward, amplified by 1/(2 eps): up to about 1.2e-3 for
 * the conv cases, whose outputs sum 27 products. A wrong index or a missing
 * term gives errors of order 1, so 5e-3 separates the two. The floor stops
 * near-zero gradients from turning rounding into a large relative error. */
#define EPS 1e-2f
#define FLOOR 1e-3
#define TOL 5e-3
#define MAX_CHECKS 400

static float *falloc(size_t n)
{
    float *p = calloc(n ? n : 1, sizeof *p);
    assert_non_null(p);
    return p;
}

/* names the error so a failure shows by how much it missed */
static void assert_grad_ok(double err, double tol)
{
    if (!(err < tol))
        fail_msg("gradient error %.3g, tolerance %.3g", err, tol);
}

static void assert_close(float a, float b, double rel)
{
    double scale = fabs(a) + fabs(b);
    if (fabs((double)a - b) > rel * (scale > 1.0 ? scale : 1.0))
        fail_msg("%.9g vs %.9g", (double)a, (double)b);
}

/* ------------------------------------------------------------------ conv */

typedef struct conv_fixture {
    df_conv_shape s;
    int N;
    size_t n_in, n_w, n_out;
    float *in, *w, *b, *out, *col, *R;
    float *din, *dw, *db;
} conv_fixture;

static conv_fixture *conv_make(int N, int C, int H, int W, int OC, int K,
                               int stride, int pad, uint64_t key)
{
    conv_fixture *f = calloc(1, sizeof *f);
    assert_non_null(f);
    assert_int_equal(df_conv_shape_init(&f->s, C, H, W, OC, K, stride, pad), 0);
    f->N = N;
    f->n_in = (size_t)N * C * H * W;
    f->n_w = (size_t)OC * C * K * K;
    f->n_out = (size_t)N * OC * f->s.OH * f->s.OW;
    f->in = falloc(f->n_in);
    f->w = falloc(f->n_w);
    f->b = falloc(OC);
    f->out = falloc(f->n_out);
    f->col = falloc(df_conv_work_size(&f->s, f->N, MAX_TEST_THREADS));
    f->R = falloc(f->n_out);
    f->din = falloc(f->n_in);
    f->dw = falloc(f->n_w);
    f->db = falloc(OC);
    fill_uniform(f->in, f->n_in, -1, 1, key + 1);
    fill_uniform(f->w, f->n_w, -1, 1, key + 2);
    fill_uniform(f->b, OC, -1, 1, key + 3);
    fill_uniform(f->R, f->n_out, -1, 1, key + 4);
    return f;
}

static void conv_free(conv_fixture *f)
{
    free(f->in);
    free(f->w);
    free(f->b);
    free(f->out);
    free(f->col);
    free(f->R);
    free(f->din);
    free(f->dw);
    free(f->db);
    free(f);
}

static double conv_loss(void *ctx)
{
    conv_fixture *f = ctx;
    df_conv_forward(f->out, f->in, f->w, f->b, &f->s, f->N, f->col, 1);
    return dot_double(f->out, f->R, f->n_out);
}

/* dout = R: the gradient of the projection loss <out, R> */
static void conv_grads(conv_fixture *f)
{
    memset(f->dw, 0, f->n_w * sizeof *f->dw);
    memset(f->db, 0, f->s.OC * sizeof *f->db);
    df_conv_backward(f->din, f->dw, f->db, f->R, f->in, f->w, &f->s, f->N,
                     f->col, 1);
}

/* out[n][oc][oh][ow] = b[oc] + sum_{c,ki,kj} w[oc][c][ki][kj] in[n][c][h][w] */
static void conv_direct(float *out, const conv_fixture *f)
{
    const df_conv_shape *s = &f->s;
    const int C = s->C, H = s->H, W = s->W, K = s->K;
    for (int n = 0; n < f->N; n++)
        for (int oc = 0; oc < s->OC; oc++)
            for (int oh = 0; oh < s->OH; oh++)
                for (int ow = 0; ow < s->OW; ow++) {
                    double acc = f->b[oc];
                    for (int c = 0; c < C; c++)
                        for (int ki = 0; ki < K; ki++)
                            for (int kj = 0; kj < K; kj++) {
                                int h = oh * s->stride - s->pad + ki;
                                int w = ow * s->stride - s->pad + kj;
                                if (h < 0 || h >= H || w < 0 || w >= W)
                                    continue;
                                float wt = f->w[((oc * C + c) * K + ki) * K + kj];
                                float x = f->in[((n * C + c) * H + h) * W + w];
                                acc += (double)wt * x;
                            }
                    out[((n * s->OC + oc) * s->OH + oh) * s->OW + ow] =
                        (float)acc;
                }
}

/* Six geometries: plain; stride 2 with padding, sized so the last window
 * reaches into the bottom and right padding; "same" 3x3 padding on a
 * non-square input; a 1x1 kernel; one input channel (the direct forward),
 * with output rows of 8 + 3 and 4 + 1 output channels, so both the vector
 * and the scalar remainders run; and 9 samples, so a batch spans two of the
 * layer's 8-sample chunks, with output rows of 8. */
static conv_fixture *conv_case(int which)
{
    switch (which) {
    case 0:
        return conv_make(2, 3, 6, 5, 4, 3, 1, 0, 100);
    case 1:
        return conv_make(2, 2, 7, 5, 3, 3, 2, 1, 200);
    case 2:
        return conv_make(2, 2, 5, 4, 3, 3, 1, 1, 300);
    case 3:
        return conv_make(3, 4, 3, 4, 2, 1, 1, 0, 400);
    case 4:
        return conv_make(2, 1, 4, 13, 5, 3, 1, 0, 500);
    default:
        return conv_make(9, 2, 3, 10, 2, 3, 1, 0, 600);
    }
}
#define N_CONV_CASES 6

static void conv_shape_init_gives_output_size(void **state)
{
    (void)state;
    df_conv_shape s;
    assert_int_equal(df_conv_shape_init(&s, 1, 28, 28, 20, 5, 1, 0), 0);
    assert_int_equal(s.OH, 24);
    assert_int_equal(s.OW, 24);
    assert_int_equal(df_conv_shape_init(&s, 3, 7, 6, 8, 3, 2, 1), 0);
    assert_int_equal(s.OH, 4);
    assert_int_equal(s.OW, 3);
    assert_int_equal(df_conv_col_size(&s), (size_t)3 * 3 * 3 * 4 * 3);
}

static void conv_shape_init_rejects_bad_geometry(void **state)
{
    (void)state;
    df_conv_shape s;
    assert_int_equal(df_conv_shape_init(&s, 1, 4, 4, 2, 5, 1, 0), -1);
    assert_int_equal(df_conv_shape_init(&s, 1, 4, 8, 2, 5, 1, 0), -1);
    assert_int_equal(df_conv_shape_init(&s, 1, 8, 4, 2, 5, 1, 0), -1);
    assert_int_equal(df_conv_shape_init(&s, 1, 4, 4, 2, 5, 1, 1), 0);
    assert_int_equal(df_conv_shape_init(&s, 0, 4, 4, 2, 3, 1, 0), -1);
    assert_int_equal(df_conv_shape_init(&s, 1, 4, 4, 0, 3, 1, 0), -1);
    assert_int_equal(df_conv_shape_init(&s, 1, 4, 4, 2, 0, 1, 0), -1);
    assert_int_equal(df_conv_shape_init(&s, 1, 4, 4, 2, 3, 0, 0), -1);
    assert_int_equal(df_conv_shape_init(&s, 1, 4, 4, 2, 3, 1, -1), -1);
}

static void conv_forward_matches_direct_convolution(void **state)
{
    (void)state;
    for (int which = 0; which < N_CONV_CASES; which++) {
        conv_fixture *f = conv_case(which);
        float *ref = falloc(f->n_out);
        conv_loss(f);
        conv_direct(ref, f);
        for (size_t i = 0; i < f->n_out; i++)
            assert_close(f->out[i], ref[i], 1e-5);
        free(ref);
        conv_free(f);
    }
}

static void conv_input_grad_matches_finite_differences(void **state)
{
    (void)state;
    for (int which = 0; which < N_CONV_CASES; which++) {
        conv_fixture *f = conv_case(which);
        conv_grads(f);
        double err = gradcheck(conv_loss, f, f->in, f->din, f->n_in, MAX_CHECKS,
                               EPS, FLOOR);
        assert_grad_ok(err, TOL);
        conv_free(f);
    }
}

static void conv_weight_grad_matches_finite_differences(void **state)
{
    (void)state;
    for (int which = 0; which < N_CONV_CASES; which++) {
        conv_fixture *f = conv_case(which);
        conv_grads(f);
        double err = gradcheck(conv_loss, f, f->w, f->dw, f->n_w, MAX_CHECKS,
                               EPS, FLOOR);
        assert_grad_ok(err, TOL);
        conv_free(f);
    }
}

static void conv_bias_grad_matches_finite_differences(void **state)
{
    (void)state;
    for (int which = 0; which < N_CONV_CASES; which++) {
        conv_fixture *f = conv_case(which);
        conv_grads(f);
        double err = gradcheck(conv_loss, f, f->b, f->db, (size_t)f->s.OC,
                               MAX_CHECKS, EPS, FLOOR);
        assert_grad_ok(err, TOL);
        conv_free(f);
    }
}

static void conv_backward_accumulates_params_and_overwrites_din(void **state)
{
    (void)state;
    conv_fixture *f = conv_case(1);
    conv_grads(f);
    float *din1 = falloc(f->n_in), *dw1 = falloc(f->n_w), *db1 = falloc(f->s.OC);
    memcpy(din1, f->din, f->n_in * sizeof *din1);
    memcpy(dw1, f->dw, f->n_w * sizeof *dw1);
    memcpy(db1, f->db, f->s.OC * sizeof *db1);
    for (size_t i = 0; i < f->n_in; i++)
        f->din[i] = 1e6f; /* stale contents must not leak into din */
    df_conv_backward(f->din, f->dw, f->db, f->R, f->in, f->w, &f->s, f->N,
                     f->col, 1);
    for (size_t i = 0; i < f->n_in; i++)
        assert_close(f->din[i], din1[i], 1e-6);
    for (size_t i = 0; i < f->n_w; i++)
        assert_close(f->dw[i], 2 * dw1[i], 1e-5);
    for (int i = 0; i < f->s.OC; i++)
        assert_close(f->db[i], 2 * db1[i], 1e-5);
    /* din may be NULL for the first layer; the parameter grads still come */
    df_conv_backward(NULL, f->dw, f->db, f->R, f->in, f->w, &f->s, f->N, f->col, 1);
    for (size_t i = 0; i < f->n_w; i++)
        assert_close(f->dw[i], 3 * dw1[i], 1e-5);
    free(din1);
    free(dw1);
    free(db1);
    conv_free(f);
}

/* ----------------------------------------------------------------- dense */

typedef struct dense_fixture {
    int N, D, M;
    float *in, *w, *b, *out, *R, *din, *dw, *db;
} dense_fixture;

static dense_fixture *dense_make(int N, int D, int M, uint64_t key)
{
    dense_fixture *f = calloc(1, sizeof *f);
    assert_non_null(f);
    f->N = N;
    f->D = D;
    f->M = M;
    f->in = falloc((size_t)N * D);
    f->w = falloc((size_t)M * D);
    f->b = falloc(M);
    f->out = falloc((size_t)N * M);
    f->R = falloc((size_t)N * M);
    f->din = falloc((size_t)N * D);
    f->dw = falloc((size_t)M * D);
    f->db = falloc(M);
    fill_uniform(f->in, (size_t)N * D, -1, 1, key + 1);
    fill_uniform(f->w, (size_t)M * D, -1, 1, key + 2);
    fill_uniform(f->b, M, -1, 1, key + 3);
    fill_uniform(f->R, (size_t)N * M, -1, 1, key + 4);
    return f;
}

static void dense_free(dense_fixture *f)
{
    free(f->in);
    free(f->w);
    free(f->b);
    free(f->out);
    free(f->R);
    free(f->din);
    free(f->dw);
    free(f->db);
    free(f);
}

static double dense_loss(void *ctx)
{
    dense_fixture *f = ctx;
    df_dense_forward(f->out, f->in, f->w, f->b, f->N, f->D, f->M, 1);
    return dot_double(f->out, f->R, (size_t)f->N * f->M);
}

static void dense_grads(dense_fixture *f)
{
    memset(f->dw, 0, (size_t)f->M * f->D * sizeof *f->dw);
    memset(f->db, 0, (size_t)f->M * sizeof *f->db);
    df_dense_backward(f->din, f->dw, f->db, f->R, f->in, f->w, f->N, f->D, f->M, 1);
}

static void dense_forward_matches_naive_loop(void **state)
{
    (void)state;
    dense_fixture *f = dense_make(5, 7, 3, 450);
    dense_loss(f);
    for (int n = 0; n < f->N; n++)
        for (int m = 0; m < f->M; m++) {
            double acc = f->b[m];
            for (int d = 0; d < f->D; d++)
                acc += (double)f->in[n * f->D + d] * f->w[m * f->D + d];
            assert_close(f->out[n * f->M + m], (float)acc, 1e-5);
        }
    dense_free(f);
}

static void dense_input_grad_matches_finite_differences(void **state)
{
    (void)state;
    dense_fixture *f = dense_make(5, 7, 3, 500);
    dense_grads(f);
    double err = gradcheck(dense_loss, f, f->in, f->din, (size_t)f->N * f->D,
                           MAX_CHECKS, EPS, FLOOR);
    assert_grad_ok(err, TOL);
    dense_free(f);
}

static void dense_weight_grad_matches_finite_differences(void **state)
{
    (void)state;
    dense_fixture *f = dense_make(5, 7, 3, 600);
    dense_grads(f);
    double err = gradcheck(dense_loss, f, f->w, f->dw, (size_t)f->M * f->D,
                           MAX_CHECKS, EPS, FLOOR);
    assert_grad_ok(err, TOL);
    dense_free(f);
}

static void dense_bias_grad_matches_finite_differences(void **state)
{
    (void)state;
    dense_fixture *f = dense_make(5, 7, 3, 700);
    dense_grads(f);
    double err = gradcheck(dense_loss, f, f->b, f->db, (size_t)f->M, MAX_CHECKS,
                           EPS, FLOOR);
    assert_grad_ok(err, TOL);
    dense_free(f);
}

static void dense_backward_accumulates_params_and_overwrites_din(void **state)
{
    (void)state;
    dense_fixture *f = dense_make(4, 6, 5, 800);
    size_t n_in = (size_t)f->N * f->D, n_w = (size_t)f->M * f->D;
    dense_grads(f);
    float *din1 = falloc(n_in), *dw1 = falloc(n_w), *db1 = falloc(f->M);
    memcpy(din1, f->din, n_in * sizeof *din1);
    memcpy(dw1, f->dw, n_w * sizeof *dw1);
    memcpy(db1, f->db, f->M * sizeof *db1);
    for (size_t i = 0; i < n_in; i++)
        f->din[i] = 1e6f;
    df_dense_backward(f->din, f->dw, f->db, f->R, f->in, f->w, f->N, f->D, f->M, 1);
    for (size_t i = 0; i < n_in; i++)
        assert_close(f->din[i], din1[i], 1e-6);
    for (size_t i = 0; i < n_w; i++)
        assert_close(f->dw[i], 2 * dw1[i], 1e-5);
    for (int i = 0; i < f->M; i++)
        assert_close(f->db[i], 2 * db1[i], 1e-5);
    df_dense_backward(NULL, f->dw, f->db, f->R, f->in, f->w, f->N, f->D, f->M, 1);
    for (int i = 0; i < f->M; i++)
        assert_close(f->db[i], 3 * db1[i], 1e-5);
    free(din1);
    free(dw1);
    free(db1);
    dense_free(f);
}

/* A dense layer without bias (the first factor of an SVD-compressed layer):
 * forward is in W^T alone, whatever out held before, and backward leaves
 * no bias gradient to write. */
static double dense_nobias_loss(void *ctx)
{
    dense_fixture *f = ctx;
    df_dense_forward(f->out, f->in, f->w, NULL, f->N, f->D, f->M, 1);
    return dot_double(f->out, f->R, (size_t)f->N * f->M);
}

static void dense_without_bias_forward_and_grads_match(void **state)
{
    (void)state;
    dense_fixture *f = dense_make(5, 7, 3, 900);
    for (int i = 0; i < f->N * f->M; i++)
        f->out[i] = 1e6f;   /* must be overwritten, not accumulated onto */
    dense_nobias_loss(f);
    for (int n = 0; n < f->N; n++)
        for (int m = 0; m < f->M; m++) {
            double acc = 0;
            for (int d = 0; d < f->D; d++)
                acc += (double)f->in[n * f->D + d] * f->w[m * f->D + d];
            assert_close(f->out[n * f->M + m], (float)acc, 1e-5);
        }
    memset(f->dw, 0, (size_t)f->M * f->D * sizeof *f->dw);
    df_dense_backward(f->din, f->dw, NULL, f->R, f->in, f->w, f->N, f->D, f->M, 1);
    assert_grad_ok(gradcheck(dense_nobias_loss, f, f->w, f->dw, (size_t)f->M * f->D,
                             MAX_CHECKS, EPS, FLOOR), TOL);
    assert_grad_ok(gradcheck(dense_nobias_loss, f, f->in, f->din, (size_t)f->N * f->D,
                             MAX_CHECKS, EPS, FLOOR), TOL);
    dense_free(f);
}

/* ------------------------------------------------------------------ pool */

static void maxpool_output_size_matches_caffe(void **state)
{
    (void)state;
    df_pool_shape s;
    assert_int_equal(df_pool_shape_init(&s, 1, 24, 24, 2, 2, 0), 0);
    assert_int_equal(s.OH, 12);
    assert_int_equal(s.OW, 12);
    assert_int_equal(df_pool_shape_init(&s, 1, 7, 7, 3, 2, 0), 0);
    assert_int_equal(s.OH, 3);
    assert_int_equal(s.OW, 3);
    /* Caffe rounds up: the partial window over column 4 still counts */
    assert_int_equal(df_pool_shape_init(&s, 1, 5, 5, 2, 2, 0), 0);
    assert_int_equal(s.OH, 3);
    assert_int_equal(s.OW, 3);
    /* non-square, each side rounded on its own */
    assert_int_equal(df_pool_shape_init(&s, 2, 13, 12, 3, 2, 0), 0);
    assert_int_equal(s.OH, 6);
    assert_int_equal(s.OW, 6);
    /* with padding: ceil(5/2)+1 = 4 would start a window in the padding */
    assert_int_equal(df_pool_shape_init(&s, 1, 5, 5, 2, 2, 1), 0);
    assert_int_equal(s.OH, 3);
    assert_int_equal(df_pool_shape_init(&s, 1, 6, 6, 3, 2, 1), 0);
    assert_int_equal(s.OH, 4);
    /* stride > K without padding: Caffe's ceil would add an empty window */
    assert_int_equal(df_pool_shape_init(&s, 1, 6, 6, 1, 3, 0), -1);
    assert_int_equal(df_pool_shape_init(&s, 1, 7, 7, 1, 3, 0), 0);
    assert_int_equal(s.OH, 3);
    assert_int_equal(df_pool_shape_init(&s, 1, 2, 2, 3, 1, 0), -1);
    assert_int_equal(df_pool_shape_init(&s, 1, 4, 4, 2, 2, 2), -1);
    assert_int_equal(df_pool_shape_init(&s, 1, 4, 4, 2, 0, 0), -1);
}

static void maxpool_forward_takes_window_max_clipped_to_input(void **state)
{
    (void)state;
    /* 5x5 with 2x2/2: the third row and column of windows see one line */
    const float in[25] = {
        1, 9, 2, 3, 7,
        4, 5, 8, 0, 1,
        6, 2, 3, 4, 5,
        0, 1, 9, 2, 3,
        2, 8, 4, 6, 1,
    };
    const float want[9] = {9, 8, 7, 6, 9, 5, 8, 6, 1};
    const int32_t want_arg[9] = {1, 7, 4, 10, 17, 14, 21, 23, 24};
    df_pool_shape s;
    assert_int_equal(df_pool_shape_init(&s, 1, 5, 5, 2, 2, 0), 0);
    float out[9];
    int32_t arg[9];
    df_maxpool_forward(out, arg, in, &s, 1, 1);
    for (int i = 0; i < 9; i++) {
        assert_true(out[i] == want[i]);
        assert_int_equal(arg[i], want_arg[i]);
    }
}

/* The max over the K x K taps of each window that land inside the input,
 * written tap by tap rather than with clipped bounds. */
static void maxpool_naive_case(int N, int C, int H, int W, int K, int stride,
                               int pad, uint64_t key)
{
    df_pool_shape s;
    assert_int_equal(df_pool_shape_init(&s, C, H, W, K, stride, pad), 0);
    size_t n_in = (size_t)N * C * H * W, n_out = (size_t)N * C * s.OH * s.OW;
    float *in = falloc(n_in), *out = falloc(n_out);
    int32_t *arg = calloc(n_out, sizeof *arg);
    assert_non_null(arg);
    fill_uniform(in, n_in, -1, 1, key);
    df_maxpool_forward(out, arg, in, &s, N, 1);
    size_t o = 0;
    for (int n = 0; n < N; n++)
        for (int c = 0; c < C; c++)
            for (int oh = 0; oh < s.OH; oh++)
                for (int ow = 0; ow < s.OW; ow++, o++) {
                    float best = -INFINITY;
                    for (int ki = 0; ki < K; ki++)
                        for (int kj = 0; kj < K; kj++) {
                            int h = oh * stride - pad + ki;
                            int w = ow * stride - pad + kj;
                            if (h >= 0 && h < H && w >= 0 && w < W &&
                                in[((n * C + c) * H + h) * W + w] > best)
                                best = in[((n * C + c) * H + h) * W + w];
                        }
                    assert_true(out[o] == best);
                    assert_true(in[(size_t)n * C * H * W + arg[o]] == best);
                }
    free(in);
    free(out);
    free(arg);
}

static void maxpool_forward_matches_naive_windows(void **state)
{
    (void)state;
    maxpool_naive_case(2, 3, 6, 6, 2, 2, 0, 850);
    maxpool_naive_case(2, 2, 7, 9, 3, 2, 0, 860);
    maxpool_naive_case(2, 2, 5, 6, 2, 2, 0, 870);
    maxpool_naive_case(1, 2, 6, 5, 3, 2, 1, 880);
    maxpool_naive_case(1, 1, 5, 5, 2, 2, 1, 890);
    maxpool_naive_case(1, 2, 7, 7, 3, 1, 2, 895);
}

static void maxpool_ties_go_to_the_first_in_the_window(void **state)
{
    (void)state;
    /* a deterministic winner keeps backward identical across runs and ranks */
    const float in[4] = {2, 5, 5, 5};
    df_pool_shape s;
    assert_int_equal(df_pool_shape_init(&s, 1, 2, 2, 2, 2, 0), 0);
    float out[1];
    int32_t arg[1];
    df_maxpool_forward(out, arg, in, &s, 1, 1);
    assert_int_equal(arg[0], 1);
}

static void maxpool_argmax_indexes_the_sample_plane(void **state)
{
    (void)state;
    /* two samples of two channels: the index is into (C,H,W) of the sample,
     * not into the batch */
    df_pool_shape s;
    assert_int_equal(df_pool_shape_init(&s, 2, 2, 2, 2, 2, 0), 0);
    const float in[16] = {0, 1, 2, 3, 7, 6, 5, 4, 3, 2, 1, 0, 4, 5, 7, 6};
    float out[4];
    int32_t arg[4];
    df_maxpool_forward(out, arg, in, &s, 2, 1);
    const int32_t want[4] = {3, 4, 0, 6};
    for (int i = 0; i < 4; i++) {
        assert_int_equal(arg[i], want[i]);
        assert_true(out[i] == in[(i / 2) * 8 + want[i]]);
    }
}

typedef struct pool_fixture {
    df_pool_shape s;
    int N;
    size_t n_in, n_out;
    float *in, *out, *R, *din;
    int32_t *arg;
} pool_fixture;

static double pool_loss(void *ctx)
{
    pool_fixture *f = ctx;
    df_maxpool_forward(f->out, f->arg, f->in, &f->s, f->N, 1);
    return dot_double(f->out, f->R, f->n_out);
}

/* Inputs are a shuffled ladder with steps of 0.1, far wider than 2 eps, so no
 * finite-difference probe changes which input wins a window. */
static void pool_grad_case(int N, int C, int H, int W, int K, int stride,
                           int pad, uint64_t key)
{
    pool_fixture f;
    assert_int_equal(df_pool_shape_init(&f.s, C, H, W, K, stride, pad), 0);
    f.N = N;
    f.n_in = (size_t)N * C * H * W;
    f.n_out = (size_t)N * C * f.s.OH * f.s.OW;
    f.in = falloc(f.n_in);
    f.out = falloc(f.n_out);
    f.R = falloc(f.n_out);
    f.din = falloc(f.n_in);
    f.arg = calloc(f.n_out, sizeof *f.arg);
    assert_non_null(f.arg);
    int32_t *perm = calloc(f.n_in, sizeof *perm);
    assert_non_null(perm);
    df_rng_permutation(key, perm, (int64_t)f.n_in);
    for (size_t i = 0; i < f.n_in; i++)
        f.in[i] = 0.1f * (float)perm[i] - 5.0f;
    fill_uniform(f.R, f.n_out, -1, 1, key + 1);
    pool_loss(&f);
    for (size_t i = 0; i < f.n_in; i++)
        f.din[i] = 1e6f; /* backward must overwrite */
    df_maxpool_backward(f.din, f.R, f.arg, &f.s, N, 1);
    double err = gradcheck(pool_loss, &f, f.in, f.din, f.n_in, MAX_CHECKS, EPS,
                           FLOOR);
    assert_grad_ok(err, TOL);
    free(perm);
    free(f.in);
    free(f.out);
    free(f.R);
    free(f.din);
    free(f.arg);
}

static void maxpool_input_grad_matches_finite_differences(void **state)
{
    (void)state;
    pool_grad_case(2, 3, 6, 6, 2, 2, 0, 900); /* disjoint windows */
    pool_grad_case(2, 2, 7, 7, 3, 2, 0, 910); /* overlapping windows */
    pool_grad_case(2, 2, 5, 6, 2, 2, 0, 920); /* clipped last window */
    pool_grad_case(1, 2, 6, 5, 3, 2, 1, 930); /* padding */
}

/* ------------------------------------------------------------------ relu */

typedef struct relu_fixture {
    size_t n;
    float *in, *out, *R;
} relu_fixture;

static double relu_loss(void *ctx)
{
    relu_fixture *f = ctx;
    df_relu_forward(f->out, f->in, f->n);
    return dot_double(f->out, f->R, f->n);
}

static void relu_input_grad_matches_finite_differences(void **state)
{
    (void)state;
    relu_fixture f = {.n = 200};
    f.in = falloc(f.n);
    f.out = falloc(f.n);
    f.R = falloc(f.n);
    float *din = falloc(f.n);
    /* |x| >= 0.1 keeps every probe on one side of the kink */
    fill_uniform(f.in, f.n, 0.1f, 1.0f, 1000);
    for (size_t i = 0; i < f.n; i += 2)
        f.in[i] = -f.in[i];
    fill_uniform(f.R, f.n, -1, 1, 1001);
    relu_loss(&f);
    df_relu_backward(din, f.R, f.out, f.n);
    double err = gradcheck(relu_loss, &f, f.in, din, f.n, MAX_CHECKS, EPS, FLOOR);
    assert_grad_ok(err, TOL);
    free(f.in);
    free(f.out);
    free(f.R);
    free(din);
}

static void relu_works_in_place(void **state)
{
    (void)state;
    float x[4] = {-1.5f, 2.0f, 0.0f, 3.0f};
    df_relu_forward(x, x, 4);
    const float want[4] = {0, 2, 0, 3};
    for (int i = 0; i < 4; i++)
        assert_true(x[i] == want[i]);
    float g[4] = {1, 2, 3, 4};
    df_relu_backward(g, g, x, 4);
    const float want_g[4] = {0, 2, 0, 4};
    for (int i = 0; i < 4; i++)
        assert_true(g[i] == want_g[i]);
}

/* The vector body and the scalar tail follow one rule, bit for bit:
 * in > 0 ? in : 0 (so -0, NaN and negatives give +0), and backward passes
 * dout where the output is positive. */
static void relu_vector_body_and_tail_follow_the_scalar_rule(void **state)
{
    (void)state;
    enum { N = 53 };   /* three 16-float vectors and a tail of 5 */
    float in[N], out[N], dout[N], din[N];
    fill_uniform(in, N, -1, 1, 2000);
    fill_uniform(dout, N, -1, 1, 2001);
    in[3] = -0.0f, in[20] = NAN, in[50] = NAN, in[51] = -0.0f, in[7] = 0.0f;
    df_relu_forward(out, in, N);
    df_relu_backward(din, dout, out, N);
    for (int i = 0; i < N; i++) {
        float want = in[i] > 0.0f ? in[i] : 0.0f;
        assert_memory_equal(&out[i], &want, sizeof want);
        float want_g = out[i] > 0.0f ? dout[i] : 0.0f;
        assert_memory_equal(&din[i], &want_g, sizeof want_g);
    }
}

/* --------------------------------------------------------------- dropout */

static void dropout_keeps_about_one_minus_p_scaled_by_inverse(void **state)
{
    (void)state;
    const float ps[3] = {0.25f, 0.5f, 0.8f};
    const int N = 8;
    const size_t per = 5000;
    float *mask = falloc(N * per);
    for (int k = 0; k < 3; k++) {
        float p = ps[k];
        df_dropout_mask(mask, N, per, p, 42, 7, 0, 3);
        size_t kept = 0;
        for (size_t i = 0; i < N * per; i++) {
            if (mask[i] != 0.0f) {
                assert_true(mask[i] == 1.0f / (1.0f - p));
                kept++;
            }
        }
        double n = (double)N * per;
        double se = sqrt(p * (1.0 - p) / n);
        assert_true(fabs(kept / n - (1.0 - p)) < 4 * se);
    }
    free(mask);
}

static void dropout_with_p_zero_keeps_everything(void **state)
{
    (void)state;
    float mask[3 * 50];
    df_dropout_mask(mask, 3, 50, 0.0f, 1, 2, 3, 4);
    for (int i = 0; i < 3 * 50; i++)
        assert_true(mask[i] == 1.0f);
}

static void dropout_mask_depends_on_global_sample_not_position(void **state)
{
    (void)state;
    const size_t per = 300;
    float a[4 * 300], b[2 * 300];
    df_dropout_mask(a, 4, per, 0.5f, 9, 11, 10, 2);
    df_dropout_mask(b, 2, per, 0.5f, 9, 11, 12, 2);
    /* samples 12 and 13 are rows 2,3 of the first call, rows 0,1 of the second */
    assert_memory_equal(a + 2 * per, b, 2 * per * sizeof *b);
    /* but different samples, steps and points get different masks */
    assert_memory_not_equal(a, a + per, per * sizeof *a);
    df_dropout_mask(b, 2, per, 0.5f, 9, 12, 12, 2);
    assert_memory_not_equal(a + 2 * per, b, per * sizeof *b);
    df_dropout_mask(b, 2, per, 0.5f, 9, 11, 12, 3);
    assert_memory_not_equal(a + 2 * per, b, per * sizeof *b);
}

typedef struct dropout_fixture {
    size_t n;
    float *in, *out, *mask, *R;
} dropout_fixture;

static double dropout_loss(void *ctx)
{
    dropout_fixture *f = ctx;
    df_dropout_forward(f->out, f->in, f->mask, f->n);
    return dot_double(f->out, f->R, f->n);
}

static void dropout_input_grad_matches_finite_differences(void **state)
{
    (void)state;
    dropout_fixture f = {.n = 4 * 60};
    f.in = falloc(f.n);
    f.out = falloc(f.n);
    f.mask = falloc(f.n);
    f.R = falloc(f.n);
    float *din = falloc(f.n);
    fill_uniform(f.in, f.n, -1, 1, 1100);
    fill_uniform(f.R, f.n, -1, 1, 1101);
    df_dropout_mask(f.mask, 4, 60, 0.3f, 5, 1, 0, 0);
    df_dropout_backward(din, f.R, f.mask, f.n);
    double err = gradcheck(dropout_loss, &f, f.in, din, f.n, MAX_CHECKS, EPS,
                           FLOOR);
    assert_grad_ok(err, TOL);
    free(f.in);
    free(f.out);
    free(f.mask);
    free(f.R);
    free(din);
}

/* ---------------------------------------------------------- softmax loss */

typedef struct softmax_fixture {
    int N, C;
    float *logits, *probs;
    int32_t *labels;
} softmax_fixture;

static double softmax_loss(void *ctx)
{
    softmax_fixture *f = ctx;
    int correct;
    return df_softmax_loss_forward(f->probs, &correct, f->logits, f->labels,
                                   f->N, f->C);
}

static void softmax_probs_sum_to_one_and_loss_is_neg_log_p(void **state)
{
    (void)state;
    enum { N = 6, C = 10 };
    float logits[N * C], probs[N * C];
    int32_t labels[N] = {0, 3, 9, 5, 5, 1};
    fill_uniform(logits, N * C, -4, 4, 1200);
    int correct = -1;
    double loss = df_softmax_loss_forward(probs, &correct, logits, labels, N, C);
    double want = 0.0;
    int want_correct = 0;
    for (int n = 0; n < N; n++) {
        double sum = 0.0, z = 0.0;
        int best = 0;
        for (int c = 0; c < C; c++) {
            sum += probs[n * C + c];
            z += exp((double)logits[n * C + c]);
            if (logits[n * C + c] > logits[n * C + best])
                best = c;
            assert_true(probs[n * C + c] > 0.0f);
        }
        assert_true(fabs(sum - 1.0) < 1e-6);
        for (int c = 0; c < C; c++)
            assert_close(probs[n * C + c], (float)(exp(logits[n * C + c]) / z),
                         1e-6);
        want -= log(probs[n * C + labels[n]]);
        want_correct += best == labels[n];
    }
    assert_true(fabs(loss - want) < 1e-5 * want);
    assert_int_equal(correct, want_correct);
}

static void softmax_loss_is_stable_for_large_logits(void **state)
{
    (void)state;
    /* exp(1000) overflows even a double: only the shifted form survives */
    const float logits[2 * 3] = {1000, 0, -1000, -1000, 1000, 999};
    const int32_t labels[2] = {1, 2};
    float probs[6];
    int correct;
    double loss = df_softmax_loss_forward(probs, &correct, logits, labels, 2, 3);
    double want = 1000.0 + (1.0 + log1p(exp(-1.0)));
    assert_true(isfinite(loss));
    assert_true(fabs(loss - want) < 1e-9 * want);
    assert_int_equal(correct, 0);
    for (int i = 0; i < 6; i++)
        assert_true(isfinite(probs[i]));
}

static void softmax_counts_correct_with_first_max_on_ties(void **state)
{
    (void)state;
    const float logits[3 * 3] = {1, 3, 3, 1, 3, 3, 2, 2, 2};
    const int32_t labels[3] = {1, 2, 0};
    float probs[9];
    int correct = -1;
    df_softmax_loss_forward(probs, &correct, logits, labels, 3, 3);
    assert_int_equal(correct, 2);
}

static void softmax_logits_grad_matches_finite_differences(void **state)
{
    (void)state;
    softmax_fixture f = {.N = 5, .C = 7};
    size_t n = (size_t)f.N * f.C;
    f.logits = falloc(n);
    f.probs = falloc(n);
    f.labels = calloc(f.N, sizeof *f.labels);
    assert_non_null(f.labels);
    float *dlogits = falloc(n);
    fill_uniform(f.logits, n, -3, 3, 1300);
    for (int i = 0; i < f.N; i++)
        f.labels[i] = (int32_t)((3 * i + 1) % f.C);
    softmax_loss(&f);
    for (size_t i = 0; i < n; i++)
        dlogits[i] = 1e6f;
    df_softmax_loss_backward(dlogits, f.probs, f.labels, f.N, f.C);
    double err = gradcheck(softmax_loss, &f, f.logits, dlogits, n, MAX_CHECKS,
                           EPS, FLOOR);
    assert_grad_ok(err, TOL);
    free(f.logits);
    free(f.probs);
    free(f.labels);
    free(dlogits);
}

/* ---- threads: the same batch split over 2..4 threads ---- */

/* Forward outputs and input gradients come from the same per-sample
 * arithmetic for any thread count, so they must be bit-identical; a
 * weight gradient's running sum restarts at each thread's first sample,
 * so it may differ in the last bits, like a split over ranks. */
static void conv_threads_case(int C, int N, uint64_t key)
{
    conv_fixture *f = conv_make(N, C, 12, 11, 6, 5, 1, 0, key);
    float *out1 = falloc(f->n_out), *din1 = falloc(f->n_in), *dw1 = falloc(f->n_w);
    float *db1 = falloc(f->s.OC);
    df_conv_forward(out1, f->in, f->w, f->b, &f->s, N, f->col, 1);
    conv_grads(f);
    memcpy(din1, f->din, f->n_in * sizeof *din1);
    memcpy(dw1, f->dw, f->n_w * sizeof *dw1);
    memcpy(db1, f->db, f->s.OC * sizeof *db1);
    for (int threads = 2; threads <= MAX_TEST_THREADS; threads++) {
        memset(f->out, 0, f->n_out * sizeof *f->out);
        df_conv_forward(f->out, f->in, f->w, f->b, &f->s, N, f->col, threads);
        assert_memory_equal(f->out, out1, f->n_out * sizeof *out1);
        memset(f->dw, 0, f->n_w * sizeof *f->dw);
        memset(f->db, 0, f->s.OC * sizeof *f->db);
        for (size_t i = 0; i < f->n_in; i++)
            f->din[i] = 1e6f;
        df_conv_backward(f->din, f->dw, f->db, f->R, f->in, f->w, &f->s, N, f->col, threads);
        assert_memory_equal(f->din, din1, f->n_in * sizeof *din1);
        assert_memory_equal(f->db, db1, f->s.OC * sizeof *db1);
        for (size_t i = 0; i < f->n_w; i++)
            assert_close(f->dw[i], dw1[i], 1e-5);
    }
    free(out1);
    free(din1);
    free(dw1);
    free(db1);
    conv_free(f);
}

static void conv_threads_match_one_thread(void **state)
{
    (void)state;
    conv_threads_case(3, 21, 1500);   /* im2col + GEMM, 3 chunks (8, 8, 5) */
    conv_threads_case(1, 21, 1600);   /* the direct one-channel forward */
    conv_threads_case(3, 5, 1700);    /* one chunk: fewer chunks than threads */
}

static void dense_threads_match_one_thread(void **state)
{
    (void)state;
    dense_fixture *f = dense_make(13, 17, 11, 1800);
    const size_t n_out = (size_t)f->N * f->M, n_in = (size_t)f->N * f->D;
    const size_t n_w = (size_t)f->M * f->D;
    float *out1 = falloc(n_out), *din1 = falloc(n_in), *dw1 = falloc(n_w), *db1 = falloc(f->M);
    df_dense_forward(out1, f->in, f->w, f->b, f->N, f->D, f->M, 1);
    dense_grads(f);
    memcpy(din1, f->din, n_in * sizeof *din1);
    memcpy(dw1, f->dw, n_w * sizeof *dw1);
    memcpy(db1, f->db, f->M * sizeof *db1);
    for (int threads = 2; threads <= MAX_TEST_THREADS; threads++) {
        memset(f->out, 0, n_out * sizeof *f->out);
        df_dense_forward(f->out, f->in, f->w, f->b, f->N, f->D, f->M, threads);
        for (size_t i = 0; i < n_out; i++)
            assert_close(f->out[i], out1[i], 1e-6);
        memset(f->dw, 0, n_w * sizeof *f->dw);
        memset(f->db, 0, f->M * sizeof *f->db);
        df_dense_backward(f->din, f->dw, f->db, f->R, f->in, f->w, f->N, f->D, f->M, threads);
        for (size_t i = 0; i < n_in; i++)
            assert_close(f->din[i], din1[i], 1e-6);
        for (size_t i = 0; i < n_w; i++)
            assert_close(f->dw[i], dw1[i], 1e-6);
        assert_memory_equal(f->db, db1, f->M * sizeof *db1);
    }
    free(out1);
    free(din1);
    free(dw1);
    free(db1);
    dense_free(f);
}

static void maxpool_threads_match_one_thread(void **state)
{
    (void)state;
    df_pool_shape s;
    const int N = 7;
    assert_int_equal(df_pool_shape_init(&s, 3, 9, 8, 3, 2, 0), 0);
    const size_t n_in = (size_t)N * 3 * 9 * 8, n_out = (size_t)N * 3 * s.OH * s.OW;
    float *in = falloc(n_in), *R = falloc(n_out), *out1 = falloc(n_out), *out = falloc(n_out);
    float *din1 = falloc(n_in), *din = falloc(n_in);
    int32_t *arg1 = calloc(n_out, sizeof *arg1), *arg = calloc(n_out, sizeof *arg);
    assert_non_null(arg1);
    assert_non_null(arg);
    fill_uniform(in, n_in, -1, 1, 1900);
    fill_uniform(R, n_out, -1, 1, 1901);
    df_maxpool_forward(out1, arg1, in, &s, N, 1);
    df_maxpool_backward(din1, R, arg1, &s, N, 1);
    for (int threads = 2; threads <= MAX_TEST_THREADS; threads++) {
        memset(out, 0, n_out * sizeof *out);
        for (size_t i = 0; i < n_in; i++)
            din[i] = 1e6f;
        df_maxpool_forward(out, arg, in, &s, N, threads);
        df_maxpool_backward(din, R, arg, &s, N, threads);
        assert_memory_equal(out, out1, n_out * sizeof *out);
        assert_memory_equal(arg, arg1, n_out * sizeof *arg);
        assert_memory_equal(din, din1, n_in * sizeof *din);
    }
    free(in);
    free(R);
    free(out1);
    free(out);
    free(din1);
    free(din);
    free(arg1);
    free(arg);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(conv_shape_init_gives_output_size),
        cmocka_unit_test(conv_shape_init_rejects_bad_geometry),
        cmocka_unit_test(conv_forward_matches_direct_convolution),
        cmocka_unit_test(conv_input_grad_matches_finite_differences),
        cmocka_unit_test(conv_weight_grad_matches_finite_differences),
        cmocka_unit_test(conv_bias_grad_matches_finite_differences),
        cmocka_unit_test(conv_backward_accumulates_params_and_overwrites_din),
        cmocka_unit_test(conv_threads_match_one_thread),
        cmocka_unit_test(dense_forward_matches_naive_loop),
        cmocka_unit_test(dense_input_grad_matches_finite_differences),
        cmocka_unit_test(dense_weight_grad_matches_finite_differences),
        cmocka_unit_test(dense_bias_grad_matches_finite_differences),
        cmocka_unit_test(dense_backward_accumulates_params_and_overwrites_din),
        cmocka_unit_test(dense_without_bias_forward_and_grads_match),
        cmocka_unit_test(dense_threads_match_one_thread),
        cmocka_unit_test(maxpool_output_size_matches_caffe),
        cmocka_unit_test(maxpool_forward_takes_window_max_clipped_to_input),
        cmocka_unit_test(maxpool_forward_matches_naive_windows),
        cmocka_unit_test(maxpool_ties_go_to_the_first_in_the_window),
        cmocka_unit_test(maxpool_argmax_indexes_the_sample_plane),
        cmocka_unit_test(maxpool_input_grad_matches_finite_differences),
        cmocka_unit_test(maxpool_threads_match_one_thread),
        cmocka_unit_test(relu_input_grad_matches_finite_differences),
        cmocka_unit_test(relu_works_in_place),
        cmocka_unit_test(relu_vector_body_and_tail_follow_the_scalar_rule),
        cmocka_unit_test(dropout_keeps_about_one_minus_p_scaled_by_inverse),
        cmocka_unit_test(dropout_with_p_zero_keeps_everything),
        cmocka_unit_test(dropout_mask_depends_on_global_sample_not_position),
        cmocka_unit_test(dropout_input_grad_matches_finite_differences),
        cmocka_unit_test(softmax_probs_sum_to_one_and_loss_is_neg_log_p),
        cmocka_unit_test(softmax_loss_is_stable_for_large_logits),
        cmocka_unit_test(softmax_counts_correct_with_first_max_on_ties),
        cmocka_unit_test(softmax_logits_grad_matches_finite_differences),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
