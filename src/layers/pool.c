/* Max pooling with Caffe's geometry, so nets ported from Caffe (LeNet's
 * 2x2/2, AlexNet's overlapping 3x3/2) keep their layer sizes. */
#include <stdio.h>
#include <string.h>

#include "deepfried/layers.h"
#include "layers/common.h"

/* Caffe rounds the output size up, so a partial window at the far edge still
 * yields an output; with padding it drops a last window that would start in
 * the padding only. */
static int pooled_size(int in, int K, int stride, int pad)
{
    int span = in + 2 * pad - K;
    int out = (span + stride - 1) / stride + 1;
    if (pad > 0 && (out - 1) * stride >= in + pad)
        out--;
    return out;
}

int df_pool_shape_init(df_pool_shape *s, int C, int H, int W, int K, int stride,
                       int pad)
{
    if (C < 1 || H < 1 || W < 1 || K < 1 || stride < 1 || pad < 0)
        return -1;
    /* pad >= K could leave a window wholly in the padding, with no max */
    if (pad >= K || K > H + 2 * pad || K > W + 2 * pad)
        return -1;
    s->C = C;
    s->H = H;
    s->W = W;
    s->K = K;
    s->stride = stride;
    s->pad = pad;
    s->OH = pooled_size(H, K, stride, pad);
    s->OW = pooled_size(W, K, stride, pad);
    /* Without padding Caffe keeps a last window that starts past the input
     * when stride > K; it would have nothing to take the max of. */
    if ((s->OH - 1) * stride - pad >= H || (s->OW - 1) * stride - pad >= W)
        return -1;
    return 0;
}

static int imin(int a, int b) { return a < b ? a : b; }
static int imax(int a, int b) { return a > b ? a : b; }

/* in (N,C,H,W) -> out (N,C,OH,OW), argmax (N,C,OH,OW) into the sample's
 * (C,H,W) plane; windows are clipped to the input, ties go to the first.
 * Samples are independent: threads take contiguous blocks of them. */
void df_maxpool_forward(float *out, int32_t *argmax, const float *in,
                        const df_pool_shape *s, int N, int threads)
{
    const size_t plane = (size_t)s->H * s->W;
    const size_t in_size = (size_t)s->C * plane;
    const size_t out_size = (size_t)s->C * s->OH * s->OW;
#pragma omp parallel for num_threads(threads > 1 ? threads : 1) schedule(static) if (threads > 1)
    for (int n = 0; n < N; n++) {
        const float *in_n = in + n * in_size;
        size_t o = (size_t)n * out_size;
        for (int c = 0; c < s->C; c++) {
            for (int oh = 0; oh < s->OH; oh++) {
                int h0 = imax(oh * s->stride - s->pad, 0);
                int h1 = imin(oh * s->stride - s->pad + s->K, s->H);
                for (int ow = 0; ow < s->OW; ow++, o++) {
                    int w0 = imax(ow * s->stride - s->pad, 0);
                    int w1 = imin(ow * s->stride - s->pad + s->K, s->W);
                    size_t best = c * plane + (size_t)h0 * s->W + w0;
                    for (int h = h0; h < h1; h++) {
                        for (int w = w0; w < w1; w++) {
                            size_t i = c * plane + (size_t)h * s->W + w;
                            if (in_n[i] > in_n[best])
                                best = i;
                        }
                    }
                    out[o] = in_n[best];
                    argmax[o] = (int32_t)best;
                }
            }
        }
    }
}

/* dout (N,C,OH,OW), argmax (N,C,OH,OW) -> din (N,C,H,W) (=); overlapping
 * windows that chose the same input add up */
void df_maxpool_backward(float *din, const float *dout, const int32_t *argmax,
                         const df_pool_shape *s, int N, int threads)
{
    if (!din)
        return;
    const size_t in_size = (size_t)s->C * s->H * s->W;
    const size_t out_size = (size_t)s->C * s->OH * s->OW;
#pragma omp parallel for num_threads(threads > 1 ? threads : 1) schedule(static) if (threads > 1)
    for (int n = 0; n < N; n++) {
        float *din_n = din + n * in_size;
        memset(din_n, 0, in_size * sizeof *din_n);
        const float *dout_n = dout + n * out_size;
        const int32_t *arg_n = argmax + n * out_size;
        for (size_t o = 0; o < out_size; o++)
            din_n[arg_n[o]] += dout_n[o];
    }
}

/* ---- the layer type ---- */

/* Caffe: non-overlapping windows unless told otherwise. */
static int maxpool_finish(df_layer_spec *s, df_key_given_fn given, const void *ctx,
                          const char **key, char *why, size_t cap)
{
    if (!given(ctx, "stride"))
        s->stride = s->kernel;
    if (s->pad >= s->kernel) {
        *key = "pad";
        snprintf(why, cap, "must be less than kernel (%d) for maxpool", s->kernel);
        return DF_EINPUT;
    }
    return DF_OK;
}

static int maxpool_setup(df_layer *l, df_error *err)
{
    const df_layer_spec *sp = &l->spec;
    df_pool_shape *s = &l->shape.pool;
    if (df_pool_shape_init(s, l->in_c, l->in_h, l->in_w, sp->kernel, sp->stride, sp->pad) != 0)
        return df_layer_shape_error(err, l, "window does not fit");
    l->out_h = s->OH;
    l->out_w = s->OW;
    return DF_OK;
}

static int maxpool_alloc(df_layer *l, int max_batch, df_error *err)
{
    l->argmax = df_calloc((size_t)max_batch * l->out_size, sizeof(int32_t), err);
    return l->argmax ? DF_OK : err->code;
}

static double maxpool_forward(df_layer *l, const df_layer_ctx *c, const float *in, float *out,
                              int N)
{
    df_maxpool_forward(out, l->argmax, in, &l->shape.pool, N, c->threads);
    return 0.0;
}

static void maxpool_backward(df_layer *l, const df_layer_ctx *c, float *din, const float *dout,
                             const float *in, const float *out, int N)
{
    (void)in, (void)out;
    if (din)
        df_maxpool_backward(din, dout, l->argmax, &l->shape.pool, N, c->threads);
}

static const df_layer_key maxpool_keys[] = { KEY_KERNEL, KEY_STRIDE, KEY_PAD, KEY_END };

const df_layer_kind df_layer_maxpool = {
    .name = "maxpool", .keys = maxpool_keys, .finish = maxpool_finish,
    .setup = maxpool_setup, .alloc = maxpool_alloc,
    .forward = maxpool_forward, .backward = maxpool_backward,
};
