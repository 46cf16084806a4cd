/* Fully connected layer: one SGEMM for the whole batch. The bias is
 * optional (NULL): the first factor of an SVD-compressed layer has none,
 * since the product of the two factors needs only one (docs/compress.md). */
#include <cblas.h>
#include <string.h>

#include "deepfried/layers.h"
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
