/* Convolution as im2col + SGEMM over chunks of samples: the patch matrix
 * turns the six nested loops into a single BLAS call, which is where the
 * time goes. One input channel (LeNet's conv1) is computed directly in
 * forward. docs/performance.md has the figures behind each choice. */
#include <cblas.h>
#include <stdlib.h>
#include <string.h>

#include "deepfried/layers.h"
#include "layers/common.h"
#include "core/parallel.h"
#include "core/per_cpu.h"

/* Samples per GEMM. A BLAS picks kernels and blocking by matrix shape,
 * so one GEMM over a whole batch of 64 and two over halves of 32 round
 * differently; with fixed chunks every rank count runs the same GEMMs on
 * the same samples, and P ranks match 1 rank to ~1e-8 (one batch-wide
 * GEMM drifted 1e-5 in 30 steps). 8 x 64 positions is still a wide GEMM.
 * (The leading dimension, which is the chunk's width, does not change
 * what the BLAS computes.) */
#define CONV_CHUNK 8

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

/* Threads beyond one per chunk would have nothing to do (and scratch to
 * hold): a call on N samples uses at most this many. */
static int useful_threads(int N, int threads)
{
    const int n_chunks = (N + CONV_CHUNK - 1) / CONV_CHUNK;
    if (threads > n_chunks)
        threads = n_chunks;
    return threads > 1 ? threads : 1;
}

/* One thread's scratch: a chunk's patches and product, and with more
 * than one thread its own weight gradient to sum into (backward). */
static size_t thread_work_size(const df_conv_shape *s, int N, int threads)
{
    const size_t ohw = (size_t)s->OH * s->OW, ckk = (size_t)s->C * s->K * s->K;
    const size_t chunk = N < CONV_CHUNK ? (size_t)(N > 0 ? N : 1) : CONV_CHUNK;
    size_t n = chunk * ohw * (ckk + (size_t)s->OC) + (threads > 1 ? (size_t)s->OC * ckk : 0);
    return (n + 15) & ~(size_t)15;   /* each thread's slice 64-byte aligned */
}

size_t df_conv_work_size(const df_conv_shape *s, int N, int threads)
{
    threads = useful_threads(N, threads);
    return (size_t)threads * thread_work_size(s, N, threads);
}

/* 8-float vectors, which the compiler lowers to whatever the target has;
 * loads and stores through memcpy (any alignment) */
typedef float vf8 __attribute__((vector_size(32)));
#define VF 8

/* The direct forward below is compiled for AVX-512, AVX2 and baseline
 * SSE, the loader picking one (PER_CPU, per_cpu.h). Its products are never
 * fused into FMAs (each is its own statement, and -std=c11 keeps GCC from
 * contracting), so every clone gives the same bits. */

/* dst[i] = src[i], i < n: a short row (one output row of a patch), in
 * vector-sized pieces the compiler turns into moves, not a libc call */
static void copy_row(float *restrict dst, const float *restrict src, int n)
{
    int i = 0;
    for (; i + VF <= n; i += VF)
        memcpy(dst + i, src + i, VF * sizeof(float));
    for (; i < n; i++)
        dst[i] = src[i];
}

/* dst[i] += src[i], i < n; each element's sum the same as the scalar
 * loop's */
static void add_row(float *restrict dst, const float *restrict src, int n)
{
    int i = 0;
    for (; i + VF <= n; i += VF) {
        vf8 d, v;
        VLOAD(d, dst + i), VLOAD(v, src + i);
        d += v;
        VSTORE(dst + i, d);
    }
    for (; i < n; i++)
        dst[i] += src[i];
}

/* Stride 1 and no padding (LeNet): every patch row is OH runs of OW
 * contiguous input floats, with no bounds to test. */
static int dense_windows(const df_conv_shape *s)
{
    return s->stride == 1 && s->pad == 0;
}

/* in (C,H,W) -> rows of col: tap r of output position p at col[r*ld + p];
 * taps that fall in the padding read 0. ld >= OH*OW lets the samples of a
 * chunk sit side by side in one matrix. */
static void im2col(float *col, size_t ld, const float *in, const df_conv_shape *s)
{
    const int K = s->K, OH = s->OH, OW = s->OW;
    for (int c = 0; c < s->C; c++) {
        const float *plane = in + (size_t)c * s->H * s->W;
        for (int ki = 0; ki < K; ki++) {
            for (int kj = 0; kj < K; kj++) {
                float *dst = col + ((size_t)(c * K + ki) * K + kj) * ld;
                if (dense_windows(s)) {
                    for (int oh = 0; oh < OH; oh++)
                        copy_row(dst + (size_t)oh * OW, plane + (size_t)(oh + ki) * s->W + kj, OW);
                    continue;
                }
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
 * overlap sum (in tap order, on either path) and taps in the padding are
 * dropped */
static void col2im(float *din, const float *col, size_t ld, const df_conv_shape *s)
{
    const int K = s->K, OH = s->OH, OW = s->OW;
    for (int c = 0; c < s->C; c++) {
        float *plane = din + (size_t)c * s->H * s->W;
        for (int ki = 0; ki < K; ki++) {
            for (int kj = 0; kj < K; kj++) {
                const float *src = col + ((size_t)(c * K + ki) * K + kj) * ld;
                if (dense_windows(s)) {
                    for (int oh = 0; oh < OH; oh++)
                        add_row(plane + (size_t)(oh + ki) * s->W + kj, src + (size_t)oh * OW, OW);
                    continue;
                }
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

/* dout (N,OC,OHW) -> dbias (OC) (+=) the sum over samples and positions,
 * for each channel one running sum in sample-then-position order. Such a
 * chain waits on every add's latency (docs/performance.md, "Figures behind
 * code comments"), so four channels' chains run side by side; each still adds
 * in the same order, so the sums are those of the plain loop. (Partial
 * sums per vector lane were as fast and as valid, but the rounding they
 * change moves which ReLU or max-pool kinks flip in the 30 steps of
 * tests/mpi_equivalence.sh: with them 2 ranks ended 4e-4 from 1 under
 * OPENBLAS_CORETYPE=Haswell; with this order, 1e-8.) */
static void bias_grad(float *restrict dbias, const float *restrict dout, int N, int OC, int ohw)
{
    const size_t out_size = (size_t)OC * ohw;
    int oc = 0;
    for (; oc + 4 <= OC; oc += 4) {
        float s0 = 0.0f, s1 = 0.0f, s2 = 0.0f, s3 = 0.0f;
        for (int n = 0; n < N; n++) {
            const float *d = dout + (size_t)n * out_size + (size_t)oc * ohw;
            for (int p = 0; p < ohw; p++) {
                s0 += d[p];
                s1 += d[ohw + p];
                s2 += d[2 * ohw + p];
                s3 += d[3 * ohw + p];
            }
        }
        dbias[oc] += s0, dbias[oc + 1] += s1, dbias[oc + 2] += s2, dbias[oc + 3] += s3;
    }
    for (; oc < OC; oc++) {
        float sum = 0.0f;
        for (int n = 0; n < N; n++) {
            const float *d = dout + (size_t)n * out_size + (size_t)oc * ohw;
            for (int p = 0; p < ohw; p++)
                sum += d[p];
        }
        dbias[oc] += sum;
    }
}

/* ---- one input channel (LeNet's conv1): direct forward ----
 * With C = 1 a patch has only K*K taps (25), so the GEMM's inner
 * dimension is too short for it to run well, and im2col writes K*K copies
 * of every input pixel. Computed directly instead, each output row as
 * 8-float vectors, four output channels at a time so one input load
 * serves four products, which beat im2col + GEMM (docs/performance.md,
 * "Figures behind code comments"). Per sample, so no sample's result depends on the others in
 * the batch. */
static int direct_one_channel(const df_conv_shape *s)
{
    return s->C == 1 && dense_windows(s);
}

/* in (1,H,W), weight (OC,1,K,K), bias (OC) -> out (OC,OH,OW):
 * out[oc][oh][ow] = (sum over ki, kj in that order of
 * w[oc][ki][kj] * in[oh+ki][ow+kj]) + bias[oc] */
PER_CPU static void forward_one_channel(float *restrict out, const float *restrict in,
                                        const float *restrict weight,
                                        const float *restrict bias, const df_conv_shape *s)
{
    const int K = s->K, KK = K * K, W = s->W, OH = s->OH, OW = s->OW;
    const size_t ohw = (size_t)OH * OW;
    int oc = 0;
    for (; oc + 4 <= s->OC; oc += 4) {
        const float *w0 = weight + (size_t)oc * KK, *w1 = w0 + KK, *w2 = w1 + KK,
                    *w3 = w2 + KK;
        float *o0 = out + (size_t)oc * ohw, *o1 = o0 + ohw, *o2 = o1 + ohw, *o3 = o2 + ohw;
        for (int oh = 0; oh < OH; oh++) {
            int ow = 0;
            for (; ow + VF <= OW; ow += VF) {
                vf8 a0 = {0}, a1 = {0}, a2 = {0}, a3 = {0}, x, p;
                for (int ki = 0; ki < K; ki++) {
                    const float *row = in + (size_t)(oh + ki) * W + ow;
                    for (int kj = 0; kj < K; kj++) {
                        const int t = ki * K + kj;
                        VLOAD(x, row + kj);
                        p = w0[t] * x;
                        a0 += p;
                        p = w1[t] * x;
                        a1 += p;
                        p = w2[t] * x;
                        a2 += p;
                        p = w3[t] * x;
                        a3 += p;
                    }
                }
                a0 += bias[oc], a1 += bias[oc + 1], a2 += bias[oc + 2], a3 += bias[oc + 3];
                const size_t at = (size_t)oh * OW + ow;
                VSTORE(o0 + at, a0), VSTORE(o1 + at, a1);
                VSTORE(o2 + at, a2), VSTORE(o3 + at, a3);
            }
            for (; ow < OW; ow++) {
                for (int o = 0; o < 4; o++) {
                    const float *wo = w0 + (size_t)o * KK;
                    float acc = 0.0f;
                    for (int ki = 0; ki < K; ki++)
                        for (int kj = 0; kj < K; kj++) {
                            float prod = wo[ki * K + kj] * in[(size_t)(oh + ki) * W + ow + kj];
                            acc += prod;
                        }
                    o0[(size_t)o * ohw + (size_t)oh * OW + ow] = acc + bias[oc + o];
                }
            }
        }
    }
    for (; oc < s->OC; oc++) {   /* the last OC % 4, one at a time, same sums */
        const float *wo = weight + (size_t)oc * KK;
        for (int oh = 0; oh < OH; oh++)
            for (int ow = 0; ow < OW; ow++) {
                float acc = 0.0f;
                for (int ki = 0; ki < K; ki++)
                    for (int kj = 0; kj < K; kj++) {
                        float prod = wo[ki * K + kj] * in[(size_t)(oh + ki) * W + ow + kj];
                        acc += prod;
                    }
                out[(size_t)oc * ohw + (size_t)oh * OW + ow] = acc + bias[oc];
            }
    }
}

/* Samples [n0, n0 + chunk) of the batch. */
static int chunk_at(int n0, int N)
{
    return N - n0 < CONV_CHUNK ? N - n0 : CONV_CHUNK;
}

/* The chunk's patches side by side: col (C*K*K, chunk*OH*OW). One wide
 * GEMM over a chunk runs much closer to the core's peak than narrow ones
 * per sample (LeNet's conv2 is a 50x500 by 500x64 product per sample), and
 * a chunk's patches (1 MiB for conv2) stay in L2 from im2col to the GEMM,
 * where a whole batch's (8 MiB) did not. */
static void im2col_chunk(float *col, const float *in, const df_conv_shape *s, int chunk)
{
    const size_t ohw = (size_t)s->OH * s->OW, ld = (size_t)chunk * ohw;
    const size_t in_size = (size_t)s->C * s->H * s->W;
    for (int j = 0; j < chunk; j++)
        im2col(col + (size_t)j * ohw, ld, in + (size_t)j * in_size, s);
}

/* in (N,C,H,W), weight (OC,C,K,K), bias (OC) -> out (N,OC,OH,OW);
 * work: df_conv_work_size(s, N, threads) floats of scratch. Chunks (and
 * for one input channel, samples) are independent: each thread takes a
 * contiguous block of them, and every output is the same for any thread
 * count. */
void df_conv_forward(float *out, const float *in, const float *weight,
                     const float *bias, const df_conv_shape *s, int N,
                     float *work, int threads)
{
    const int ckk = s->C * s->K * s->K, ohw = s->OH * s->OW;
    const size_t in_size = (size_t)s->C * s->H * s->W, out_size = (size_t)s->OC * ohw;
    if (direct_one_channel(s)) {   /* no scratch: any number of threads */
#pragma omp parallel for num_threads(threads > 1 ? threads : 1) schedule(static) if (threads > 1)
        for (int n = 0; n < N; n++)
            forward_one_channel(out + (size_t)n * out_size, in + (size_t)n * in_size, weight,
                                bias, s);
        return;
    }
    const int n_chunks = (N + CONV_CHUNK - 1) / CONV_CHUNK;
    threads = useful_threads(N, threads);
    const size_t per_thread = thread_work_size(s, N, threads);
#pragma omp parallel for num_threads(threads > 1 ? threads : 1) schedule(static) if (threads > 1)
    for (int ci = 0; ci < n_chunks; ci++) {
        const int n0 = ci * CONV_CHUNK, chunk = chunk_at(n0, N), cols = chunk * ohw;
        float *col = work + (size_t)df_thread_index() * per_thread;
        float *prod = col + (size_t)ckk * cols;   /* prod (OC, chunk*OHW) */
        im2col_chunk(col, in + (size_t)n0 * in_size, s, chunk);
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, s->OC, cols, ckk, 1.0f,
                    weight, ckk, col, cols, 0.0f, prod, cols);
        /* (OC, chunk, OHW) -> (chunk, OC, OHW), adding the bias on the way */
        for (int j = 0; j < chunk; j++)
            for (int oc = 0; oc < s->OC; oc++) {
                const float *src = prod + (size_t)oc * cols + (size_t)j * ohw;
                float *dst = out + (size_t)(n0 + j) * out_size + (size_t)oc * ohw;
                for (int p = 0; p < ohw; p++)
                    dst[p] = src[p] + bias[oc];
            }
    }
}

/* Samples [n0, n0 + chunk) of the backward pass: their weight gradient
 * added into dweight sample by sample, their input gradient into din. */
static void backward_chunk(float *din, float *dweight, const float *dout, const float *in,
                           const float *weight, const df_conv_shape *s, int n0, int chunk,
                           float *work)
{
    const int ckk = s->C * s->K * s->K, ohw = s->OH * s->OW, cols = chunk * ohw;
    const size_t in_size = (size_t)s->C * s->H * s->W, out_size = (size_t)s->OC * ohw;
    float *col = work, *dprod = work + (size_t)ckk * cols;   /* (OC, chunk*OHW) */
    /* (chunk, OC, OHW) -> (OC, chunk, OHW) */
    for (int oc = 0; oc < s->OC; oc++)
        for (int j = 0; j < chunk; j++)
            memcpy(dprod + (size_t)oc * cols + (size_t)j * ohw,
                   dout + (size_t)(n0 + j) * out_size + (size_t)oc * ohw,
                   (size_t)ohw * sizeof *dprod);
    /* recompute the patches rather than rely on forward's scratch */
    im2col_chunk(col, in + (size_t)n0 * in_size, s, chunk);
    /* dweight sums sample by sample, in the order of the global batch, so
     * a split over ranks changes only where the running sum restarts: with
     * 8-sample GEMMs here, P = 4 drifted 1.1e-5 from P = 1 in 30 steps
     * (a ReLU/pool kink flipped), per sample it stays at 3e-8. (Computed
     * directly for one input channel, as forward is, it was slower than
     * these GEMMs: docs/performance.md, "Figures behind code comments".) */
    for (int j = 0; j < chunk; j++) {
        size_t at = (size_t)j * ohw;
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, s->OC, ckk, ohw, 1.0f,
                    dprod + at, cols, col + at, cols, 1.0f, dweight, ckk);
    }
    if (!din)
        return;
    /* dcol = W^T dprod, into col's place */
    cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, ckk, cols, s->OC, 1.0f, weight,
                ckk, dprod, cols, 0.0f, col, cols);
    float *din0 = din + (size_t)n0 * in_size;
    memset(din0, 0, (size_t)chunk * in_size * sizeof *din);
    for (int j = 0; j < chunk; j++)
        col2im(din0 + (size_t)j * in_size, col + (size_t)j * ohw, (size_t)cols, s);
}

/* dout (N,OC,OH,OW), in (N,C,H,W), weight (OC,C,K,K) -> din (N,C,H,W) (=),
 * dweight (OC,C,K,K) (+=), dbias (OC) (+=); din may be NULL;
 * work: df_conv_work_size(s, N, threads) floats of scratch.
 * Thread t takes a contiguous block of chunks; thread 0 adds its samples'
 * weight gradient straight into dweight, the others into their own
 * buffers, which are added after, in thread order: a split over threads
 * restarts the running sum just as a split over ranks does. */
void df_conv_backward(float *din, float *dweight, float *dbias,
                      const float *dout, const float *in, const float *weight,
                      const df_conv_shape *s, int N, float *work, int threads)
{
    const int ohw = s->OH * s->OW;
    const int n_chunks = (N + CONV_CHUNK - 1) / CONV_CHUNK;
    threads = useful_threads(N, threads);
    const size_t per_thread = thread_work_size(s, N, threads);
    const size_t dw_count = (size_t)s->OC * s->C * s->K * s->K;
    bias_grad(dbias, dout, N, s->OC, ohw);
    int used = 1;   /* the threads the runtime gave: blocks follow it */
#pragma omp parallel num_threads(threads > 1 ? threads : 1) if (threads > 1)
    {
        const int t = df_thread_index();
#pragma omp single
        used = df_thread_count();
        float *mine = work + (size_t)t * per_thread;
        float *dw = dweight;
        if (t > 0) {
            dw = mine + per_thread - dw_count;
            memset(dw, 0, dw_count * sizeof *dw);
        }
        int lo, hi;
        df_block(n_chunks, t, used, &lo, &hi);
        for (int ci = lo; ci < hi; ci++)
            backward_chunk(din, dw, dout, in, weight, s, ci * CONV_CHUNK,
                           chunk_at(ci * CONV_CHUNK, N), mine);
    }
    for (int t = 1; t < used; t++) {
        const float *dw = work + (size_t)(t + 1) * per_thread - dw_count;
        for (size_t i = 0; i < dw_count; i++)
            dweight[i] += dw[i];
    }
}

/* ---- the layer type ---- */

static int conv_setup(df_layer *l, df_error *err)
{
    const df_layer_spec *sp = &l->spec;
    df_conv_shape *s = &l->shape.conv;
    if (df_conv_shape_init(s, l->in_c, l->in_h, l->in_w, sp->outputs, sp->kernel, sp->stride,
                           sp->pad) != 0)
        return df_layer_shape_error(err, l, "kernel does not fit");
    l->out_c = s->OC;
    l->out_h = s->OH;
    l->out_w = s->OW;
    int wd[4] = {s->OC, s->C, s->K, s->K}, bd[1] = {s->OC};
    df_layer_add_tensor(l, "weight", 4, wd, sp->lr_mult, sp->decay_mult);
    df_layer_add_tensor(l, "bias", 1, bd, sp->bias_lr_mult, sp->bias_decay_mult);
    return DF_OK;
}

static int conv_alloc(df_layer *l, int max_batch, df_error *err)
{
    l->work = df_calloc(df_conv_work_size(&l->shape.conv, max_batch, 1), sizeof(float), err);
    return l->work ? DF_OK : err->code;
}

/* the patches are per thread; every other layer splits buffers it has */
static int conv_set_threads(df_layer *l, int max_batch, int threads, df_error *err)
{
    float *work = df_calloc(df_conv_work_size(&l->shape.conv, max_batch, threads),
                            sizeof(float), err);
    if (!work)
        return err->code;
    free(l->work);
    l->work = work;
    return DF_OK;
}

static double conv_forward(df_layer *l, const df_layer_ctx *c, const float *in, float *out,
                           int N)
{
    df_conv_forward(out, in, c->params + l->tensors[0].offset, c->params + l->tensors[1].offset,
                    &l->shape.conv, N, l->work, c->threads);
    return 0.0;
}

static void conv_backward(df_layer *l, const df_layer_ctx *c, float *din, const float *dout,
                          const float *in, const float *out, int N)
{
    (void)out;
    df_conv_backward(din, c->grads + l->tensors[0].offset, c->grads + l->tensors[1].offset,
                     dout, in, c->params + l->tensors[0].offset, &l->shape.conv, N, l->work,
                     c->threads);
}

static const df_layer_key conv_keys[] = {
    KEY_OUTPUTS, KEY_KERNEL, KEY_STRIDE, KEY_PAD, KEY_WEIGHT_FILLER, KEY_WEIGHT_STD,
    KEY_LR_MULT, KEY_BIAS_LR_MULT, KEY_DECAY_MULT, KEY_BIAS_DECAY_MULT, KEY_END
};

const df_layer_kind df_layer_conv = {
    .name = "conv", .keys = conv_keys,
    .setup = conv_setup, .alloc = conv_alloc, .set_threads = conv_set_threads,
    .init = df_layer_fill_weight_bias,
    .forward = conv_forward, .backward = conv_backward,
};
