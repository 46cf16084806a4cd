/* Forward + backward of the Adaptive Fastfood layer against the dense
 * (cblas_sgemm) layer it replaces, batch 64 and 256 (docs/performance.md
 * has a run). Built by `make`, never run by `make check`:
 *
 *     bench/bench_fastfood [--quick] [--cpu-time] [--blas-threads N]
 *
 * Shapes: the LeNet sizes 800->1024, 1024->1024, 1024->2048 against dense
 * layers of the same shape, and the paper's ImageNet sizes 9216->16384 and
 * 9216->32768 against CaffeNet's dense 9216->4096 (fc6) and 4096->4096
 * (fc7). One step is forward then backward with every gradient (input and
 * parameters), no dropout masks; the median over the steps is reported,
 * after one untimed warm-up step: 7 steps (3 with --quick), or as many as
 * fill 0.3 s for a short step (at most 301). The Fastfood layer runs on one thread,
 * so OpenBLAS is held to one thread as well unless --blas-threads says
 * otherwise; the header reports the OpenBLAS core (OPENBLAS_CORETYPE) and
 * thread count in force. --cpu-time times with this thread's CPU time
 * instead of the wall clock (for a busy machine; one BLAS thread only).
 *
 * "FWHT share" is the time of the layer's 4 k batched transforms (k blocks
 * of N rows of length d, two in forward, two in backward) timed on their
 * own, over the layer's step time: the rest is the diagonal scalings, the
 * permutation and the gradient reductions. */
#include <cblas.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common.h"
#include "deepfried/error.h"
#include "deepfried/fastfood.h"
#include "deepfried/fwht.h"
#include "deepfried/layers.h"

#define MAX_REPS 301
#define MIN_SECONDS 0.3   /* short steps repeat until about this long */

typedef struct timing {
    double step_ms;       /* median forward + backward */
    double fwht_ms;       /* Fastfood only: its transforms alone */
    size_t param_bytes;   /* trainable parameters */
} timing;

static int reps = 7;

/* Steps to time after a warm-up step that took warm_ns. */
static int reps_for(double warm_ns)
{
    int r = (int)(MIN_SECONDS * 1e9 / (warm_ns > 1 ? warm_ns : 1));
    return r < reps ? reps : r > MAX_REPS ? MAX_REPS : r;
}

/* Buffers come from df_calloc, as the network's do: 64-byte aligned. */
static void *alloc(size_t n, size_t size)
{
    return df_calloc(n, size, NULL);
}

static float *alloc_filled(size_t n, float scale, unsigned seed)
{
    float *x = alloc(n, sizeof *x);
    if (!x)
        return NULL;
    unsigned s = seed * 2654435761u + 1;
    for (size_t i = 0; i < n; i++) {
        s = s * 1664525u + 1013904223u;
        x[i] = scale * ((float)(s >> 8) / (float)(1u << 24) - 0.5f);
    }
    return x;
}

/* in (N, d_in) -> out (N, n) and back, REPS times. */
static int time_fastfood(int d_in, int n, int N, timing *t)
{
    df_fastfood_shape s;
    df_error err = {0, ""};
    if (df_fastfood_shape_init(&s, d_in, n, &err) != DF_OK) {
        fprintf(stderr, "bench_fastfood: %s\n", err.msg);
        return 1;
    }
    const size_t kd = (size_t)s.k * s.d, np = df_fastfood_param_count(&s);
    float *params = alloc(np, sizeof *params), *grads = alloc(np, sizeof *grads);
    int32_t *perm = alloc(kd, sizeof *perm);
    float *ws = alloc((size_t)N * df_fastfood_ws_size(&s), sizeof *ws);
    float *in = alloc_filled((size_t)N * d_in, 1.0f, 1);
    float *dout = alloc_filled((size_t)N * n, 1.0f, 2);
    float *out = alloc((size_t)N * n, sizeof *out);
    float *din = alloc((size_t)N * d_in, sizeof *din);
    float *scratch = alloc((size_t)N * kd, sizeof *scratch);
    int rc = 1;
    if (!params || !grads || !perm || !ws || !in || !dout || !out || !din || !scratch) {
        fprintf(stderr, "bench_fastfood: out of memory\n");
        goto done;
    }
    df_fastfood_params p = {params, params + kd, params + 2 * kd, perm};
    df_fastfood_init(&s, &p, 0.1f, 42);
    double v[MAX_REPS + 1];
    int n_reps = reps;
    for (int r = 0; r <= n_reps; r++) {   /* r = 0: warm-up */
        double t0 = bench_now_ns();
        df_fastfood_forward(out, in, &p, &s, N, NULL, ws);
        df_fastfood_backward(din, grads, grads + kd, grads + 2 * kd, dout, &p, &s, N,
                             NULL, ws);
        v[r] = bench_now_ns() - t0;
        if (r == 0)
            n_reps = reps_for(v[0]);
    }
    t->step_ms = 1e-6 * bench_median(v + 1, (size_t)n_reps);
    memcpy(scratch, ws, (size_t)N * kd * sizeof *scratch);
    for (int r = 0; r <= n_reps; r++) {
        double t0 = bench_now_ns();
        for (int j = 0; j < 4 * s.k; j++)
            df_fwht_rows(scratch + (size_t)(j % s.k) * N * s.d, (size_t)N, (size_t)s.d);
        v[r] = bench_now_ns() - t0;
        memcpy(scratch, ws, (size_t)N * kd * sizeof *scratch);   /* keep values finite */
    }
    t->fwht_ms = 1e-6 * bench_median(v + 1, (size_t)n_reps);
    t->param_bytes = np * sizeof(float);
    bench_sink(out[0] + din[0] + grads[np / 2]);
    rc = 0;
done:
    free(params), free(grads), free(perm), free(ws), free(in), free(dout);
    free(out), free(din), free(scratch);
    return rc;
}

/* in (N, D) -> out (N, M) and back, REPS times. */
static int time_dense(int D, int M, int N, timing *t)
{
    const size_t nw = (size_t)M * D;
    float *w = alloc_filled(nw, 0.01f, 3), *b = alloc_filled((size_t)M, 0.01f, 4);
    float *dw = alloc(nw, sizeof *dw), *db = alloc((size_t)M, sizeof *db);
    float *in = alloc_filled((size_t)N * D, 1.0f, 5);
    float *dout = alloc_filled((size_t)N * M, 1.0f, 6);
    float *out = alloc((size_t)N * M, sizeof *out);
    float *din = alloc((size_t)N * D, sizeof *din);
    int rc = 1;
    if (!w || !b || !dw || !db || !in || !dout || !out || !din) {
        fprintf(stderr, "bench_fastfood: out of memory\n");
        goto done;
    }
    double v[MAX_REPS + 1];
    int n_reps = reps;
    for (int r = 0; r <= n_reps; r++) {   /* r = 0: warm-up */
        double t0 = bench_now_ns();
        df_dense_forward(out, in, w, b, N, D, M, 1);   /* OpenBLAS's threads */
        df_dense_backward(din, dw, db, dout, in, w, N, D, M, 1);
        v[r] = bench_now_ns() - t0;
        if (r == 0)
            n_reps = reps_for(v[0]);
    }
    t->step_ms = 1e-6 * bench_median(v + 1, (size_t)n_reps);
    t->fwht_ms = 0;
    t->param_bytes = (nw + (size_t)M) * sizeof(float);
    bench_sink(out[0] + din[0] + dw[nw / 2]);
    rc = 0;
done:
    free(w), free(b), free(dw), free(db), free(in), free(dout), free(out), free(din);
    return rc;
}

typedef struct pair {
    int ff_in, ff_out;         /* Fastfood d_in -> n */
    int dense_in, dense_out;   /* the dense layer it is compared with */
} pair;

int main(int argc, char **argv)
{
    int blas_threads = 1, cpu_time = 0;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--quick") == 0)
            reps = 3;
        else if (strcmp(argv[i], "--cpu-time") == 0)
            cpu_time = 1;
        else if (strcmp(argv[i], "--blas-threads") == 0 && i + 1 < argc)
            blas_threads = atoi(argv[++i]);
        else {
            fprintf(stderr, "usage: %s [--quick] [--cpu-time] [--blas-threads N]\n",
                    argv[0]);
            return 2;
        }
    }
    if (cpu_time && blas_threads > 1) {
        fprintf(stderr, "%s: --cpu-time counts this thread only: use one BLAS thread\n",
                argv[0]);
        return 2;
    }
    bench_use_cpu_time(cpu_time);
    openblas_set_num_threads(blas_threads < 1 ? 1 : blas_threads);
    const pair pairs[] = {
        {800, 1024, 800, 1024},      {1024, 1024, 1024, 1024},
        {1024, 2048, 1024, 2048},    {9216, 16384, 9216, 4096},
        {9216, 16384, 4096, 4096},   {9216, 32768, 9216, 4096},
        {9216, 32768, 4096, 4096},
    };
    const size_t n_pairs = sizeof pairs / sizeof pairs[0];
    const int batches[] = {64, 256};

    bench_print_header("bench_fastfood: Fastfood layer vs dense layer, forward + backward");
    printf("# median of >= %d steps (as many as fill %.1f s, at most %d) after one "
           "warm-up; Fastfood on 1 thread\n", reps, MIN_SECONDS, MAX_REPS);
    int status = 0;
    for (size_t bi = 0; bi < 2; bi++) {
        const int N = batches[bi];
        printf("\n| batch | Fastfood | params (bytes) | ms | FWHT share | dense | "
               "params (bytes) | ms | dense / Fastfood |\n");
        printf("|---:|---|---:|---:|---:|---|---:|---:|---:|\n");
        timing ff_cache[8], dense_cache[8];
        for (size_t i = 0; i < n_pairs; i++) {
            const pair *pr = &pairs[i];
            /* each layer once: later pairs reuse earlier timings */
            timing ff = {0, 0, 0}, dn = {0, 0, 0};
            int have_ff = 0, have_dn = 0;
            for (size_t j = 0; j < i; j++) {
                if (pairs[j].ff_in == pr->ff_in && pairs[j].ff_out == pr->ff_out)
                    ff = ff_cache[j], have_ff = 1;
                if (pairs[j].dense_in == pr->dense_in && pairs[j].dense_out == pr->dense_out)
                    dn = dense_cache[j], have_dn = 1;
            }
            if (!have_ff && time_fastfood(pr->ff_in, pr->ff_out, N, &ff) != 0)
                status = 1;
            if (!have_dn && time_dense(pr->dense_in, pr->dense_out, N, &dn) != 0)
                status = 1;
            ff_cache[i] = ff, dense_cache[i] = dn;
            printf("| %d | %d -> %d | %zu | %.3f | %.0f%% | %d -> %d | %zu | %.2f | %.1f |\n",
                   N, pr->ff_in, pr->ff_out, ff.param_bytes, ff.step_ms,
                   100 * ff.fwht_ms / ff.step_ms, pr->dense_in, pr->dense_out,
                   dn.param_bytes, dn.step_ms, dn.step_ms / ff.step_ms);
            fflush(stdout);
        }
    }
    FILE *f = fopen("/proc/loadavg", "r");
    char line[128] = "unknown\n";
    if (f) {
        if (!fgets(line, sizeof line, f))
            snprintf(line, sizeof line, "unknown\n");
        fclose(f);
    }
    printf("\n# load average at end: %s", line);
    return status;
}
