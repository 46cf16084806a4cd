/* Convolution as im2col + one SGEMM per sample: the patch matrix turns the
 * six nested loops into a single BLAS call, which is where the time goes. */
#include <cblas.h>
#include <string.h>

#include "deepfried/layers.h"

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

/* in (C,H,W) -> col (C*K*K, OH*OW); taps that fall in the padding read 0 */
static void im2col(float *col, const float *in, const df_conv_shape *s)
{
    const int K = s->K, OH = s->OH, OW = s->OW;
    float *dst = col;
    for (int c = 0; c < s->C; c++) {
        const float *plane = in + (size_t)c * s->H * s->W;
        for (int ki = 0; ki < K; ki++) {
            for (int kj = 0; kj < K; kj++) {
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

/* col (C*K*K, OH*OW) -> din (C,H,W) (+=): the adjoint of im2col, so taps that
 * overlap sum and taps in the padding are dropped */
static void col2im(float *din, const float *col, const df_conv_shape *s)
{
    const int K = s->K, OH = s->OH, OW = s->OW;
    const float *src = col;
    for (int c = 0; c < s->C; c++) {
        float *plane = din + (size_t)c * s->H * s->W;
        for (int ki = 0; ki < K; ki++) {
            for (int kj = 0; kj < K; kj++) {
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

/* in (N,C,H,W), weight (OC,C,K,K), bias (OC) -> out (N,OC,OH,OW);
 * col is scratch of df_conv_col_size floats */
void df_conv_forward(float *out, const float *in, const float *weight,
                     const float *bias, const df_conv_shape *s, int N,
                     float *col)
{
    const int ckk = s->C * s->K * s->K, ohw = s->OH * s->OW;
    const size_t in_size = (size_t)s->C * s->H * s->W;
    const size_t out_size = (size_t)s->OC * ohw;
    for (int n = 0; n < N; n++) {
        float *out_n = out + n * out_size;
        im2col(col, in + n * in_size, s);
        /* seed with the bias so the GEMM can accumulate onto it (beta = 1) */
        for (int oc = 0; oc < s->OC; oc++)
            for (int p = 0; p < ohw; p++)
                out_n[(size_t)oc * ohw + p] = bias[oc];
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, s->OC, ohw, ckk,
                    1.0f, weight, ckk, col, ohw, 1.0f, out_n, ohw);
    }
}

/* dout (N,OC,OH,OW), in (N,C,H,W), weight (OC,C,K,K) -> din (N,C,H,W) (=),
 * dweight (OC,C,K,K) (+=), dbias (OC) (+=); din may be NULL */
void df_conv_backward(float *din, float *dweight, float *dbias,
                      const float *dout, const float *in, const float *weight,
                      const df_conv_shape *s, int N, float *col)
{
    const int ckk = s->C * s->K * s->K, ohw = s->OH * s->OW;
    const size_t in_size = (size_t)s->C * s->H * s->W;
    const size_t out_size = (size_t)s->OC * ohw;
    for (int n = 0; n < N; n++) {
        const float *dout_n = dout + n * out_size;
        for (int oc = 0; oc < s->OC; oc++) {
            float sum = 0.0f;
            for (int p = 0; p < ohw; p++)
                sum += dout_n[(size_t)oc * ohw + p];
            dbias[oc] += sum;
        }
        /* recompute the patches rather than keep N of them alive */
        im2col(col, in + n * in_size, s);
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, s->OC, ckk, ohw,
                    1.0f, dout_n, ohw, col, ohw, 1.0f, dweight, ckk);
        if (din) {
            float *din_n = din + n * in_size;
            cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, ckk, ohw,
                        s->OC, 1.0f, weight, ckk, dout_n, ohw, 0.0f, col, ohw);
            memset(din_n, 0, in_size * sizeof *din_n);
            col2im(din_n, col, s);
        }
    }
}
