/* How far is a bf16 gradient sum from the float32 one? Built by `make`,
 * never run by `make check`:
 *
 *     mpirun -np P bench/bench_bf16 [N]
 *
 * Every rank makes N gradients like a minibatch's (a shared mean plus a
 * per-rank noise twice its size, magnitudes spread over six decades), and
 * the sum over ranks is taken three ways: float32 (MPI_Allreduce of
 * floats, the reference; checked against a float64 sum), deepfried's bf16
 * reducer (df_reducer: bf16 on the wire, float32 sums, one rounding), and
 * the operator it replaced (an MPI_Iallreduce with a user operator that
 * rounds every partial sum back to bf16). Prints, on rank 0, one markdown
 * row per sum: errors against float32 (report() says which).
 * docs/data-parallel.md has a run. */
#include <math.h>
#include <mpi.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "deepfried/dist.h"

static uint16_t to_bf16(float f)
{
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    if ((u & 0x7f800000u) == 0x7f800000u)
        return (uint16_t)((u >> 16) | ((u & 0xffffu) ? 0x40u : 0u));
    u += 0x7fffu + ((u >> 16) & 1u);
    return (uint16_t)(u >> 16);
}

static float from_bf16(uint16_t h)
{
    uint32_t u = (uint32_t)h << 16;
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

/* The operator deepfried used before: every partial sum rounded to bf16. */
static void old_sum(void *in, void *inout, int *len, MPI_Datatype *type)
{
    (void)type;
    const uint16_t *a = in;
    uint16_t *b = inout;
    for (int i = 0; i < *len; i++)
        b[i] = to_bf16(from_bf16(a[i]) + from_bf16(b[i]));
}

/* Uniform in [0, 1) and standard normal draws from a simple keyed hash. */
static double uniform(uint64_t key)
{
    key += 0x9e3779b97f4a7c15ull;
    key = (key ^ (key >> 30)) * 0xbf58476d1ce4e5b9ull;
    key = (key ^ (key >> 27)) * 0x94d049bb133111ebull;
    key ^= key >> 31;
    return (double)(key >> 11) / 9007199254740992.0;
}

static double normal(uint64_t key)
{
    double u = uniform(2 * key) + 1e-300, v = uniform(2 * key + 1);
    return sqrt(-2.0 * log(u)) * cos(6.283185307179586 * v);
}

/* Per element, against ref: the relative error |x - ref| / |ref| over the
 * well-conditioned elements (|sum| >= half the sum of |g| over ranks: no
 * cancellation, so a relative error means something), and over all
 * elements the error scaled by the sum of |g|, the quantity rounding
 * bounds are stated in. Plus the norm-wise ||x - ref|| / ||ref||. */
static void report(const char *name, const float *x, const float *ref, const double *abs_sum,
                   size_t n, int P)
{
    double num = 0, den = 0, max = 0, sum = 0, smax = 0, ssum = 0;
    size_t counted = 0;
    for (size_t i = 0; i < n; i++) {
        double d = fabs((double)x[i] - ref[i]);
        num += d * d;
        den += (double)ref[i] * ref[i];
        double scaled = abs_sum[i] > 0 ? d / abs_sum[i] : 0;
        smax = scaled > smax ? scaled : smax;
        ssum += scaled;
        if (fabs(ref[i]) >= 0.5 * abs_sum[i] && ref[i] != 0) {
            double rel = d / fabs(ref[i]);
            max = rel > max ? rel : max;
            sum += rel;
            counted++;
        }
    }
    printf("| %d | %s | %.2e | %.2e | %.2e | %.2e | %.2e | %zu |\n", P, name, max,
           counted ? sum / (double)counted : 0.0, smax, ssum / (double)n, sqrt(num / den),
           counted);
}

int main(int argc, char **argv)
{
    size_t n = argc > 1 ? (size_t)atol(argv[1]) : 155568 / 4;
    df_dist dist;
    df_error err = {0, ""};
    if (df_dist_init(&dist, &argc, &argv, &err) != DF_OK) {
        fprintf(stderr, "bench_bf16: %s\n", err.msg);
        return 1;
    }
    int P = dist.size, r = dist.rank;
    float *g = malloc(n * sizeof *g), *ref = malloc(n * sizeof *ref),
          *mine = malloc(n * sizeof *mine), *old = malloc(n * sizeof *old);
    double *exact = malloc(n * sizeof *exact), *abs_sum = malloc(n * sizeof *abs_sum);
    uint16_t *wire = malloc(n * sizeof *wire);
    if (!g || !ref || !mine || !old || !exact || !abs_sum || !wire)
        return 1;
    for (size_t i = 0; i < n; i++) {
        double scale = pow(10.0, -6.0 * uniform(3 * i + 7));
        double mean = scale * normal(5 * i + 1), noise = 2.0 * fabs(mean) + 0.1 * scale;
        g[i] = (float)(mean + noise * normal(((uint64_t)r << 40) + i + 11));
        exact[i] = g[i];
        abs_sum[i] = fabs(g[i]);
        ref[i] = g[i];
        mine[i] = g[i];
        wire[i] = to_bf16(g[i]);
    }
    MPI_Allreduce(MPI_IN_PLACE, ref, (int)n, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD);
    MPI_Allreduce(MPI_IN_PLACE, exact, (int)n, MPI_DOUBLE, MPI_SUM, MPI_COMM_WORLD);
    MPI_Allreduce(MPI_IN_PLACE, abs_sum, (int)n, MPI_DOUBLE, MPI_SUM, MPI_COMM_WORLD);

    df_reducer *red = df_reducer_create(&dist, mine, n, 256 * 1024, 1, &err);
    if (!red) {
        fprintf(stderr, "bench_bf16: %s\n", err.msg);
        return 1;
    }
    df_reducer_begin(red);
    df_reducer_ready(red, n);
    if (df_reducer_finish(red, &err) != DF_OK) {
        fprintf(stderr, "bench_bf16: %s\n", err.msg);
        return 1;
    }

    MPI_Datatype t;
    MPI_Op op;
    MPI_Type_contiguous(1, MPI_UINT16_T, &t);
    MPI_Type_commit(&t);
    MPI_Op_create(old_sum, 1, &op);
    size_t bucket = 128 * 1024;   /* 256 KiB of bf16, as deepfried's buckets */
    for (size_t first = 0; first < n; first += bucket) {
        int count = (int)(n - first < bucket ? n - first : bucket);
        MPI_Request req;
        MPI_Iallreduce(MPI_IN_PLACE, wire + first, count, t, op, MPI_COMM_WORLD, &req);
        MPI_Wait(&req, MPI_STATUS_IGNORE);
    }
    for (size_t i = 0; i < n; i++)
        old[i] = from_bf16(wire[i]);

    if (r == 0) {
        float *e = malloc(n * sizeof *e);
        for (size_t i = 0; i < n; i++)
            e[i] = (float)exact[i];
        if (P == 2)
            printf("| P | sum | max rel | mean rel | max scaled | mean scaled | norm-wise | "
                   "well-conditioned of %zu |\n| ---: | --- | ---: | ---: | ---: | ---: | ---: "
                   "| ---: |\n", n);
        report("float32 (vs float64)", ref, e, abs_sum, n, P);
        report("bf16, float32 sums (deepfried)", mine, ref, abs_sum, n, P);
        report("bf16, bf16 partial sums (before)", old, ref, abs_sum, n, P);
        free(e);
    }
    df_reducer_free(red);
    MPI_Op_free(&op);
    MPI_Type_free(&t);
    df_dist_finalize(&dist);
    free(g); free(ref); free(mine); free(old); free(exact); free(abs_sum); free(wire);
    return 0;
}
