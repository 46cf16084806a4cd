/* Fully connected layer: one SGEMM for the whole batch. The bias is
 * optional (NULL): the first factor of an SVD-compressed layer has none,
 * since the product of the two factors needs only one (docs/compress.md). */
#include <cblas.h>
#include <string.h>

#include "deepfried/layers.h"

/* in (N,D), weight (M,D), bias (M) or NULL -> out (N,M) = in W^T (+ bias) */
void df_dense_forward(float *out, const float *in, const float *weight,
                      const float *bias, int N, int D, int M)
{
    /* seed with the bias so the GEMM can accumulate onto it (beta = 1) */
    if (bias) {
        for (int n = 0; n < N; n++)
            memcpy(out + (size_t)n * M, bias, sizeof(float) * (size_t)M);
    }
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, N, M, D, 1.0f, in, D,
                weight, D, bias ? 1.0f : 0.0f, out, M);
}

/* dout (N,M), in (N,D), weight (M,D) -> din (N,D) (=) = dout W,
 * dweight (M,D) (+=) dout^T in, dbias (M) (+=) column sums of dout;
 * dbias NULL for a layer without bias, din NULL when not needed */
void df_dense_backward(float *din, float *dweight, float *dbias,
                       const float *dout, const float *in, const float *weight,
                       int N, int D, int M)
{
    cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, M, D, N, 1.0f, dout, M,
                in, D, 1.0f, dweight, D);
    if (dbias) {
        for (int n = 0; n < N; n++)
            for (int m = 0; m < M; m++)
                dbias[m] += dout[(size_t)n * M + m];
    }
    if (din)
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, N, D, M, 1.0f,
                    dout, M, weight, D, 0.0f, din, D);
}
