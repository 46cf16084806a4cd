/* The plain layers of a convnet: each a pair of free functions, forward and
 * backward side by side, shapes in the comment above each.
 *
 * Conventions (all layers):
 * - Activations are float, batch-major, NCHW for images: sample n's data is
 *   contiguous.
 * - Backward OVERWRITES the input gradient `din` (the network is a chain, so
 *   each activation has one consumer) and ACCUMULATES (+=) into parameter
 *   gradients, which the training step zeroes once per step.
 * - `din` may be NULL when nobody needs it (the first layer).
 * - Gradients are of the SUM of per-sample losses; the solver divides by the
 *   global batch after the allreduce.
 * - `threads`: how many threads the call may use (1: the calling thread
 *   only); the split is fixed, so a thread count always gives the same
 *   bits. Any BLAS they call must be single-threaded. */
#ifndef DEEPFRIED_LAYERS_H
#define DEEPFRIED_LAYERS_H

#include <stddef.h>
#include <stdint.h>

/* ---- convolution (im2col + cblas_sgemm) ---- */
typedef struct df_conv_shape {
    int C, H, W;        /* input channels, height, width */
    int OC, K;          /* output channels, square kernel size */
    int stride, pad;    /* stride >= 1, zero padding >= 0 */
    int OH, OW;         /* (H + 2 pad - K) / stride + 1, likewise W */
} df_conv_shape;

/* Fills OH, OW; returns 0, or -1 if the kernel does not fit the input. */
int df_conv_shape_init(df_conv_shape *s, int C, int H, int W, int OC, int K,
                       int stride, int pad);
/* Floats of im2col patches per sample: C*K*K*OH*OW. */
size_t df_conv_col_size(const df_conv_shape *s);
/* Floats of scratch a call on N samples with `threads` threads needs: per
 * thread the patches of a chunk of up to 8 samples (C*K*K, 8*OH*OW), its
 * (OC, 8*OH*OW) product, and with threads > 1 a weight gradient. */
size_t df_conv_work_size(const df_conv_shape *s, int N, int threads);

/* in (N,C,H,W), weight (OC,C,K,K), bias (OC) -> out (N,OC,OH,OW) */
void df_conv_forward(float *out, const float *in, const float *weight,
                     const float *bias, const df_conv_shape *s, int N,
                     float *work, int threads);
/* dout (N,OC,OH,OW) -> din (N,C,H,W) (=), dweight (OC,C,K,K) (+=), dbias (OC) (+=) */
void df_conv_backward(float *din, float *dweight, float *dbias,
                      const float *dout, const float *in, const float *weight,
                      const df_conv_shape *s, int N, float *work, int threads);

/* ---- max pooling (Caffe's rounding: output size rounds up) ---- */
typedef struct df_pool_shape {
    int C, H, W;
    int K, stride, pad;
    int OH, OW;
} df_pool_shape;

int df_pool_shape_init(df_pool_shape *s, int C, int H, int W, int K, int stride,
                       int pad);

/* in (N,C,H,W) -> out (N,C,OH,OW), argmax (N,C,OH,OW): flat index into the
 * sample's (C,H,W) input plane of the max that won */
void df_maxpool_forward(float *out, int32_t *argmax, const float *in,
                        const df_pool_shape *s, int N, int threads);
/* dout (N,C,OH,OW) -> din (N,C,H,W) (=) */
void df_maxpool_backward(float *din, const float *dout, const int32_t *argmax,
                         const df_pool_shape *s, int N, int threads);

/* ---- ReLU ---- */
/* in (n) -> out (n); out may equal in */
void df_relu_forward(float *out, const float *in, size_t n);
/* dout (n), out (n) -> din (n) (=); din may equal dout */
void df_relu_backward(float *din, const float *dout, const float *out, size_t n);

/* ---- dense (fully connected, cblas_sgemm) ---- */
/* in (N,D), weight (M,D), bias (M) or NULL (no bias) -> out (N,M) */
void df_dense_forward(float *out, const float *in, const float *weight,
                      const float *bias, int N, int D, int M, int threads);
/* dout (N,M) -> din (N,D) (=), dweight (M,D) (+=), dbias (M) (+=);
 * dbias NULL for a layer without bias */
void df_dense_backward(float *din, float *dweight, float *dbias,
                       const float *dout, const float *in, const float *weight,
                       int N, int D, int M, int threads);

/* ---- dropout (inverted: kept units scaled by 1/(1-p) at train time) ---- */
/* mask (N, per_sample): sample j of the global batch gets the stream
 * df_rng_key(seed, DF_RNG_DROPOUT, step, first_sample + j, point_id), element i
 * its i-th draw; kept with probability 1-p. So the mask of a sample does not
 * depend on which rank holds it. */
void df_dropout_mask(float *mask, int N, size_t per_sample, float p,
                     uint64_t seed, int64_t step, int64_t first_sample,
                     uint64_t point_id);
/* in (n), mask (n) -> out (n) = in * mask; out may equal in */
void df_dropout_forward(float *out, const float *in, const float *mask, size_t n);
/* dout (n), mask (n) -> din (n) = dout * mask; din may equal dout */
void df_dropout_backward(float *din, const float *dout, const float *mask, size_t n);

/* ---- softmax with cross-entropy loss ---- */
/* logits (N,C), labels (N) -> probs (N,C); returns the SUM over the N samples
 * of -log p[label] (computed stably); *n_correct counts argmax == label.
 * Labels must be in [0, C) (checked by the data reader). */
double df_softmax_loss_forward(float *probs, int *n_correct, const float *logits,
                               const int32_t *labels, int N, int C);
/* -> dlogits (N,C) (=) = probs - onehot(label): gradient of the summed loss */
void df_softmax_loss_backward(float *dlogits, const float *probs,
                              const int32_t *labels, int N, int C);

#endif
