/* Convolution as im2col + one SGEMM per sample: the patch matrix turns the
 * six nested loops into a single BLAS call, which is where the time goes. */
#include <cblas.h>
#include <string.h>

#include "deepfried/layers.h"

/* Samples per GEMM. A BLAS picks kernels and blocking by matrix shape,
 * so one GEMM over a whole batch of 64 and two over halves of 32 round
 * differently; with fixed chunks every rank count runs the same GEMMs on
 * the same samples, and P ranks match 1 rank to ~1e-8 (one batch-wide
 * GEMM drifted 1e-5 in 30 steps). 8 x 64 positions is still a wide GEMM. */
#define CONV_DW_CHUNK 8

int df_conv_shape_init(df_conv_shape *s, int C, int H, int W, int OC, int K,
                       int stride, int pad)
{
    if (C < 1 || H < 1 || W < 1 || OC < 1 || K < 1 || stride < 1 || pad < 0)
        return -1;
    if (K > H + 2 * pad || K > W + 2 * pad)
        return -1;
    s->C = C;
    s->H = H;
    s->W = W;
    s->OC = OC;
    s->K = K;
    s->stride = stride;
    s->pad = pad;
    s->OH = (H + 2 * pad - K) / stride + 1;
    s->OW = (W + 2 * pad - K) / stride + 1;
    return 0;
}

size_t df_conv_col_size(const df_conv_shape *s)
{
    return (size_t)s->C * s->K * s->K * s->OH * s->OW;
}

size_t df_conv_work_size(const df_conv_shape *s, int N)
{
    const size_t ohw = (size_t)s->OH * s->OW;
    return (size_t)N * ohw * ((size_t)s->C * s->K * s->K + (size_t)s->OC);
}

/* in (C,H,W) -> rows of col: tap r of output position p at col[r*ld + p];
 * taps that fall in the padding read 0. ld >= OH*OW lets the samples of a
 * batch sit side by side in one matrix. */
static void im2col(float *col, size_t ld, const float *in, const df_conv_shape *s)
{
    const int K = s->K, OH = s->OH, OW = s->OW;
    for (int c = 0; c < s->C; c++) {
        const float *plane = in + (size_t)c * s->H * s->W;
        for (int ki = 0; ki < K; ki++) {
            for (int kj = 0; kj < K; kj++) {
                float *dst = col + ((size_t)(c * K + ki) * K + kj) * ld;
                for (int oh = 0; oh < OH; oh++) {
                    int h = oh * s->stride - s->pad + ki;
                    for (int ow = 0; ow < OW; ow++) {
                        int w = ow * s->stride - s->pad + kj;
                        *dst++ = (h >= 0 && h < s->H && w >= 0 && w < s->W)
                                     ? plane[(size_t)h * s->W + w]
                                     : 0.0f;
                    }
                }
            }
        }
    }
}

/* The adjoint of im2col: rows of col -> din (C,H,W) (+=), so taps that
 * overlap sum and taps in the padding are dropped */
static void col2im(float *din, const float *col, size_t ld, const df_conv_shape *s)
{
    const int K = s->K, OH = s->OH, OW = s->OW;
    for (int c = 0; c < s->C; c++) {
        float *plane = din + (size_t)c * s->H * s->W;
        for (int ki = 0; ki < K; ki++) {
            for (int kj = 0; kj < K; kj++) {
                const float *src = col + ((size_t)(c * K + ki) * K + kj) * ld;
                for (int oh = 0; oh < OH; oh++) {
                    int h = oh * s->stride - s->pad + ki;
                    for (int ow = 0; ow < OW; ow++, src++) {
                        int w = ow * s->stride - s->pad + kj;
                        if (h >= 0 && h < s->H && w >= 0 && w < s->W)
                            plane[(size_t)h * s->W + w] += *src;
                    }
                }
            }
        }
    }
}

/* The whole batch's patches side by side: col (C*K*K, N*OH*OW). One wide
 * GEMM over the batch runs much closer to the core's peak than N narrow
 * ones (LeNet's conv2 is a 50x500 by 500x64 product per sample). */
static void im2col_batch(float *col, const float *in, const df_conv_shape *s, int N)
{
    const size_t ohw = (size_t)s->OH * s->OW, ld = (size_t)N * ohw;
    const size_t in_size = (size_t)s->C * s->H * s->W;
    for (int n = 0; n < N; n++)
        im2col(col + (size_t)n * ohw, ld, in + (size_t)n * in_size, s);
}

/* in (N,C,H,W), weight (OC,C,K,K), bias (OC) -> out (N,OC,OH,OW);
 * work: df_conv_work_size(s, N) floats of scratch */
void df_conv_forward(float *out, const float *in, const float *weight,
                     const float *bias, const df_conv_shape *s, int N,
                     float *work)
{
    const int ckk = s->C * s->K * s->K, ohw = s->OH * s->OW, cols = N * ohw;
    float *col = work, *prod = work + (size_t)ckk * cols;   /* prod (OC, N*OHW) */
    im2col_batch(col, in, s, N);
    /* in chunks of samples, so every sample's outputs come from a GEMM of
     * the same shape whatever the batch (see CONV_DW_CHUNK) */
    for (int n0 = 0; n0 < N; n0 += CONV_DW_CHUNK) {
        int chunk = N - n0 < CONV_DW_CHUNK ? N - n0 : CONV_DW_CHUNK;
        size_t at = (size_t)n0 * ohw;
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, s->OC, chunk * ohw, ckk,
                    1.0f, weight, ckk, col + at, cols, 0.0f, prod + at, cols);
    }
    /* (OC, N, OHW) -> (N, OC, OHW), adding the bias on the way */
    for (int n = 0; n < N; n++)
        for (int oc = 0; oc < s->OC; oc++) {
            const float *src = prod + (size_t)oc * cols + (size_t)n * ohw;
            float *dst = out + ((size_t)n * s->OC + oc) * ohw;
            for (int p = 0; p < ohw; p++)
                dst[p] = src[p] + bias[oc];
        }
}

/* dout (N,OC,OH,OW), in (N,C,H,W), weight (OC,C,K,K) -> din (N,C,H,W) (=),
 * dweight (OC,C,K,K) (+=), dbias (OC) (+=); din may be NULL;
 * work: df_conv_work_size(s, N) floats of scratch */
void df_conv_backward(float *din, float *dweight, float *dbias,
                      const float *dout, const float *in, const float *weight,
                      const df_conv_shape *s, int N, float *work)
{
    const int ckk = s->C * s->K * s->K, ohw = s->OH * s->OW, cols = N * ohw;
    const size_t in_size = (size_t)s->C * s->H * s->W;
    float *col = work, *dprod = work + (size_t)ckk * cols;   /* (OC, N*OHW) */
    /* (N, OC, OHW) -> (OC, N, OHW), summing the bias gradient on the way */
    for (int oc = 0; oc < s->OC; oc++) {
        float sum = 0.0f;
        for (int n = 0; n < N; n++) {
            const float *src = dout + ((size_t)n * s->OC + oc) * ohw;
            float *dst = dprod + (size_t)oc * cols + (size_t)n * ohw;
            for (int p = 0; p < ohw; p++) {
                dst[p] = src[p];
                sum += src[p];
            }
        }
        dbias[oc] += sum;
    }
    /* recompute the patches rather than rely on forward's scratch */
    im2col_batch(col, in, s, N);
    /* dweight sums sample by sample, in the order of the global batch, so
     * a split over ranks changes only where the running sum restarts: with
     * 8-sample chunks here, P = 4 drifted 1.1e-5 from P = 1 in 30 steps
     * (a ReLU/pool kink flipped), per sample it stays at 3e-8 */
    for (int n = 0; n < N; n++) {
        size_t at = (size_t)n * ohw;
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, s->OC, ckk, ohw,
                    1.0f, dprod + at, cols, col + at, cols, 1.0f, dweight, ckk);
    }
    if (!din)
        return;
    /* dcol = W^T dprod, into col's place */
    for (int n0 = 0; n0 < N; n0 += CONV_DW_CHUNK) {
        int chunk = N - n0 < CONV_DW_CHUNK ? N - n0 : CONV_DW_CHUNK;
        size_t at = (size_t)n0 * ohw;
        cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, ckk, chunk * ohw, s->OC,
                    1.0f, weight, ckk, dprod + at, cols, 0.0f, col + at, cols);
    }
    memset(din, 0, (size_t)N * in_size * sizeof *din);
    for (int n = 0; n < N; n++)
        col2im(din + (size_t)n * in_size, col + (size_t)n * ohw, (size_t)cols, s);
}
