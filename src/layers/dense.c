/* Fully connected layer: one SGEMM for the whole batch. The bias is
 * optional (NULL): the first factor of an SVD-compressed layer has none,
 * since the product of the two factors needs only one (docs/compress.md). */
#include <cblas.h>
#include <string.h>

#include "deepfried/layers.h"
#include "layers/common.h"
#include "core/parallel.h"

/* in (N,D), weight (M,D), bias (M) or NULL -> out (N,M) = in W^T (+ bias);
 * threads take contiguous blocks of samples */
void df_dense_forward(float *out, const float *in, const float *weight,
                      const float *bias, int N, int D, int M, int threads)
{
#pragma omp parallel num_threads(threads > 1 ? threads : 1) if (threads > 1 && N > 1)
    {
        int lo, hi;
        df_block(N, df_thread_index(), df_thread_count(), &lo, &hi);
        /* seed with the bias so the GEMM can accumulate onto it (beta = 1) */
        if (bias) {
            for (int n = lo; n < hi; n++)
                memcpy(out + (size_t)n * M, bias, sizeof(float) * (size_t)M);
        }
        if (hi > lo)
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, hi - lo, M, D, 1.0f,
                        in + (size_t)lo * D, D, weight, D, bias ? 1.0f : 0.0f,
                        out + (size_t)lo * M, M);
    }
}

/* dout (N,M), in (N,D), weight (M,D) -> din (N,D) (=) = dout W,
 * dweight (M,D) (+=) dout^T in, dbias (M) (+=) column sums of dout;
 * dbias NULL for a layer without bias, din NULL when not needed.
 * Threads split the weight gradient by rows (outputs), each summing over
 * the whole batch in order, and the input gradient by samples. */
void df_dense_backward(float *din, float *dweight, float *dbias,
                       const float *dout, const float *in, const float *weight,
                       int N, int D, int M, int threads)
{
#pragma omp parallel num_threads(threads > 1 ? threads : 1) if (threads > 1)
    {
        const int t = df_thread_index(), used = df_thread_count();
        int lo, hi;
        df_block(M, t, used, &lo, &hi);
        if (hi > lo)
            cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, hi - lo, D, N, 1.0f,
                        dout + lo, M, in, D, 1.0f, dweight + (size_t)lo * D, D);
        if (dbias) {
            for (int n = 0; n < N; n++)
                for (int m = lo; m < hi; m++)
                    dbias[m] += dout[(size_t)n * M + m];
        }
        df_block(N, t, used, &lo, &hi);
        if (din && hi > lo)
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, hi - lo, D, M, 1.0f,
                        dout + (size_t)lo * M, M, weight, D, 0.0f, din + (size_t)lo * D, D);
    }
}

/* ---- the layer type ---- */

static int dense_setup(df_layer *l, df_error *err)
{
    const df_layer_spec *sp = &l->spec;
    size_t in_flat = (size_t)l->in_c * l->in_h * l->in_w;
    if (in_flat > (1u << 24))
        return df_layer_shape_error(err, l, "input wider than 2^24");
    l->shape.dense.D = (int)in_flat;
    l->shape.dense.M = sp->outputs;
    l->out_c = sp->outputs;
    l->out_h = l->out_w = 1;
    int wd[2] = {sp->outputs, (int)in_flat}, bd[1] = {sp->outputs};
    df_layer_add_tensor(l, "weight", 2, wd, sp->lr_mult, sp->decay_mult);
    if (sp->bias)
        df_layer_add_tensor(l, "bias", 1, bd, sp->bias_lr_mult, sp->bias_decay_mult);
    return DF_OK;
}

static double dense_forward_layer(df_layer *l, const df_layer_ctx *c, const float *in,
                                  float *out, int N)
{
    df_dense_forward(out, in, c->params + l->tensors[0].offset,
                     l->n_tensors > 1 ? c->params + l->tensors[1].offset : NULL, N,
                     l->shape.dense.D, l->shape.dense.M, c->threads);
    return 0.0;
}

static void dense_backward_layer(df_layer *l, const df_layer_ctx *c, float *din,
                                 const float *dout, const float *in, const float *out, int N)
{
    (void)out;
    df_dense_backward(din, c->grads + l->tensors[0].offset,
                      l->n_tensors > 1 ? c->grads + l->tensors[1].offset : NULL, dout, in,
                      c->params + l->tensors[0].offset, N, l->shape.dense.D, l->shape.dense.M,
                      c->threads);
}

static const df_layer_key dense_keys[] = {
    KEY_OUTPUTS, KEY_WEIGHT_FILLER, KEY_WEIGHT_STD, KEY_BOOL("bias", bias, DF_KEY_MODEL),
    KEY_LR_MULT, KEY_BIAS_LR_MULT, KEY_DECAY_MULT, KEY_BIAS_DECAY_MULT, KEY_END
};

const df_layer_kind df_layer_dense = {
    .name = "dense", .keys = dense_keys,
    .setup = dense_setup, .init = df_layer_fill_weight_bias,
    .forward = dense_forward_layer, .backward = dense_backward_layer,
};
