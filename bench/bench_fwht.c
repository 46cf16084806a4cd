/* In-place float FWHT, d = 2^10 .. 2^16, one vector and batches of 64
 * rows, for every path this CPU runs (docs/performance.md has a run).
 * Built by `make`, never run by `make check`:
 *
 *     bench/bench_fwht [--quick] [--cpu-time] [PATH ...]
 *
 * PATH: avx512, avx2, portable, reference (default: all available).
 * --cpu-time times with this thread's CPU time instead of the wall clock,
 * for a machine other work keeps busy.
 * Per transform (one row): median ns, GFLOP/s counting d log2 d add/sub,
 * the speedup over the scalar reference, and the fraction of this core's
 * add/sub throughput bound, which the program measures first: a loop of
 * 12 or 16 independent accumulators doing nothing but add/sub at the
 * path's vector width. Two such loops per width: vaddps/vsubps alone, and half of
 * them written as FMAs with a +-1 factor, which some cores (AMD Zen 4) run
 * on their separate FMA pipes, doubling the add/sub rate; "% bound" is
 * against the faster of the two, "% add-pipe" against vaddps/vsubps alone.
 *
 * Buffers are 64-byte aligned, as df_calloc's are (a 16-byte offset costs
 * the AVX-512 path about 10%, AVX2 30%: docs/performance.md).
 * Each sample transforms fresh data a few times in a row (K calls, timed
 * together): the unnormalised transform grows values by sqrt(d) per call
 * on average (H H = d I), so data start at 2^-90 (far from denormals) and
 * K stays below the count that could overflow. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common.h"
#include "deepfried/fwht.h"

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <immintrin.h>
#define HAVE_X86 1
/* Make the accumulators and the increment opaque to the compiler, so it
 * can neither fold the loop nor pack scalar accumulators into vectors
 * (13 values: the 16 baseline xmm registers hold them without spills). */
#define OPAQUE13(c) do { \
    __asm__ volatile("" : "+x"(c), "+x"(a0), "+x"(a1), "+x"(a2), "+x"(a3), \
                     "+x"(a4), "+x"(a5)); \
    __asm__ volatile("" : "+x"(a6), "+x"(a7), "+x"(a8), "+x"(a9), "+x"(a10), \
                     "+x"(a11)); } while (0)
#else
#define HAVE_X86 0
#define OPAQUE13(c) do { \
    __asm__ volatile("" : "+m"(c), "+m"(a0), "+m"(a1), "+m"(a2), "+m"(a3), \
                     "+m"(a4), "+m"(a5)); \
    __asm__ volatile("" : "+m"(a6), "+m"(a7), "+m"(a8), "+m"(a9), "+m"(a10), \
                     "+m"(a11)); } while (0)
#endif

#define LOG2_MIN 10
#define LOG2_MAX 16
#define BATCH 64
/* Independent accumulators, to cover latency 3-4 on up to four pipes: 16
 * for zmm; with only 16 vector registers 14 for ymm (plus the two
 * constants) and 12 for the baseline loops, whose asm barrier pins them. */
#define ACCS 16
#define ACCS14 14
#define ACCS12 12

/* ---- the add/sub throughput bound ---- */

typedef float v4f __attribute__((vector_size(16)));

/* Each loop runs `iters` times ACCS add/sub on distinct accumulators; the
 * empty asm makes the increment opaque so nothing folds. Returns a value
 * that depends on every accumulator. */
#define DECLARE_ACCS(T, SET1) \
    T a0 = SET1(1.0f), a1 = SET1(2.0f), a2 = SET1(3.0f), a3 = SET1(4.0f), \
      a4 = SET1(5.0f), a5 = SET1(6.0f), a6 = SET1(7.0f), a7 = SET1(8.0f), \
      a8 = SET1(9.0f), a9 = SET1(10.0f), a10 = SET1(11.0f), a11 = SET1(12.0f), \
      a12 = SET1(13.0f), a13 = SET1(14.0f), a14 = SET1(15.0f), a15 = SET1(16.0f)
#define EACH_ACC(M) M(a0, 0) M(a1, 1) M(a2, 0) M(a3, 1) M(a4, 0) M(a5, 1) M(a6, 0) \
    M(a7, 1) M(a8, 0) M(a9, 1) M(a10, 0) M(a11, 1) M(a12, 0) M(a13, 1) M(a14, 0) M(a15, 1)
#define SUM_ACCS(ADD) ADD(ADD(ADD(ADD(a0, a1), ADD(a2, a3)), ADD(ADD(a4, a5), ADD(a6, a7))), \
    ADD(ADD(ADD(a8, a9), ADD(a10, a11)), ADD(ADD(a12, a13), ADD(a14, a15))))
#define DECLARE_ACCS12(T, SET1) \
    T a0 = SET1(1.0f), a1 = SET1(2.0f), a2 = SET1(3.0f), a3 = SET1(4.0f), \
      a4 = SET1(5.0f), a5 = SET1(6.0f), a6 = SET1(7.0f), a7 = SET1(8.0f), \
      a8 = SET1(9.0f), a9 = SET1(10.0f), a10 = SET1(11.0f), a11 = SET1(12.0f)
#define EACH_ACC12(M) M(a0, 0) M(a1, 1) M(a2, 0) M(a3, 1) M(a4, 0) M(a5, 1) M(a6, 0) \
    M(a7, 1) M(a8, 0) M(a9, 1) M(a10, 0) M(a11, 1)
#define DECLARE_ACCS14(T, SET1) DECLARE_ACCS12(T, SET1), a12 = SET1(13.0f), a13 = SET1(14.0f)
#define EACH_ACC14(M) EACH_ACC12(M) M(a12, 0) M(a13, 1)
#define SUM_ACCS14(ADD) ADD(SUM_ACCS12(ADD), ADD(a12, a13))
#define SUM_ACCS12(ADD) ADD(ADD(ADD(ADD(a0, a1), ADD(a2, a3)), ADD(ADD(a4, a5), ADD(a6, a7))), \
    ADD(ADD(a8, a9), ADD(a10, a11)))

static float first_of_v4(v4f v)
{
    return v[0];
}
static v4f set1_v4(float f)
{
    return (v4f){f, f, f, f};
}
static v4f add_v4(v4f a, v4f b)
{
    return a + b;
}
static float set1_f(float f)
{
    return f;
}
static float add_f(float a, float b)
{
    return a + b;
}

__attribute__((noinline)) static double addsub_scalar(long iters)
{
    DECLARE_ACCS12(float, set1_f);
    float c = 1e-7f;
    for (long i = 0; i < iters; i++) {
        OPAQUE13(c);
#define OP(a, odd) a = odd ? a - c : a + c;
        EACH_ACC12(OP)
#undef OP
    }
    return SUM_ACCS12(add_f);
}

__attribute__((noinline)) static double addsub_v4(long iters)
{
    DECLARE_ACCS12(v4f, set1_v4);
    v4f c = set1_v4(1e-7f);
    for (long i = 0; i < iters; i++) {
        OPAQUE13(c);
#define OP(a, odd) a = odd ? a - c : a + c;
        EACH_ACC12(OP)
#undef OP
    }
    return first_of_v4(SUM_ACCS12(add_v4));
}

#if HAVE_X86
#define AVX2_FN __attribute__((target("avx2,fma"), noinline))
#define AVX512_FN __attribute__((target("avx512f"), noinline))

AVX2_FN static double addsub_ymm(long iters)
{
    DECLARE_ACCS14(__m256, _mm256_set1_ps);
    __m256 c = _mm256_set1_ps(1e-7f);
    for (long i = 0; i < iters; i++) {
        __asm__ volatile("" : "+x"(c));
#define OP(a, odd) a = odd ? _mm256_sub_ps(a, c) : _mm256_add_ps(a, c);
        EACH_ACC14(OP)
#undef OP
    }
    return _mm256_cvtss_f32(SUM_ACCS14(_mm256_add_ps));
}

/* Half the accumulators step by c * 1 + a: an add on the FMA pipes. */
AVX2_FN static double addsub_fma_ymm(long iters)
{
    DECLARE_ACCS14(__m256, _mm256_set1_ps);
    __m256 c = _mm256_set1_ps(1e-7f), one = _mm256_set1_ps(1.0f);
    for (long i = 0; i < iters; i++) {
        __asm__ volatile("" : "+x"(c), "+x"(one));
#define OP(a, odd) a = odd ? _mm256_fmadd_ps(c, one, a) : _mm256_sub_ps(a, c);
        EACH_ACC14(OP)
#undef OP
    }
    return _mm256_cvtss_f32(SUM_ACCS14(_mm256_add_ps));
}

AVX512_FN static double addsub_zmm(long iters)
{
    DECLARE_ACCS(__m512, _mm512_set1_ps);
    __m512 c = _mm512_set1_ps(1e-7f);
    for (long i = 0; i < iters; i++) {
        __asm__ volatile("" : "+v"(c));
#define OP(a, odd) a = odd ? _mm512_sub_ps(a, c) : _mm512_add_ps(a, c);
        EACH_ACC(OP)
#undef OP
    }
    return _mm512_reduce_add_ps(SUM_ACCS(_mm512_add_ps));
}

AVX512_FN static double addsub_fma_zmm(long iters)
{
    DECLARE_ACCS(__m512, _mm512_set1_ps);
    __m512 c = _mm512_set1_ps(1e-7f), one = _mm512_set1_ps(1.0f);
    for (long i = 0; i < iters; i++) {
        __asm__ volatile("" : "+v"(c), "+v"(one));
#define OP(a, odd) a = odd ? _mm512_fmadd_ps(c, one, a) : _mm512_sub_ps(a, c);
        EACH_ACC(OP)
#undef OP
    }
    return _mm512_reduce_add_ps(SUM_ACCS(_mm512_add_ps));
}
#endif

typedef double (*addsub_loop)(long iters);

/* Median add/sub rate of a loop (ops vector ops per iteration), in floats
 * per ns. */
static double addsub_rate(addsub_loop loop, int ops, int width, int reps)
{
    long iters = 1000;
    for (;;) {   /* size the loop to about 5 ms */
        double t0 = bench_now_ns();
        bench_sink(loop(iters));
        if (bench_now_ns() - t0 > 5e6 || iters > (1L << 40))
            break;
        iters *= 2;
    }
    double rate[31];
    for (int r = 0; r < reps; r++) {
        double t0 = bench_now_ns();
        bench_sink(loop(iters));
        rate[r] = (double)iters * ops * width / (bench_now_ns() - t0);
    }
    return bench_median(rate, (size_t)reps);
}

/* ---- the paths ---- */

typedef struct path_bench {
    const char *name;
    const char *vector;        /* register width its bound uses */
    int width;                 /* floats per vector */
    addsub_loop add_only, with_fma;
    df_fwht_rows_fn rows;
    double add_rate, fma_rate; /* floats per ns */
    double ns[LOG2_MAX + 1][2];   /* per transform, [log2 d][single, batch] */
} path_bench;

static void describe_widths(path_bench *pb, int reps)
{
    if (strcmp(pb->name, "reference") == 0) {
        pb->vector = "scalar", pb->width = 1, pb->add_only = addsub_scalar;
    } else if (strcmp(pb->name, "portable") == 0) {
        pb->vector = "4-float vector", pb->width = 4, pb->add_only = addsub_v4;
    }
#if HAVE_X86
    else if (strcmp(pb->name, "avx2") == 0) {
        pb->vector = "ymm", pb->width = 8, pb->add_only = addsub_ymm;
        pb->with_fma = addsub_fma_ymm;
    } else if (strcmp(pb->name, "avx512") == 0) {
        pb->vector = "zmm", pb->width = 16, pb->add_only = addsub_zmm;
        pb->with_fma = addsub_fma_zmm;
    }
#endif
    const int ops = pb->width == 16 ? ACCS : pb->width == 8 ? ACCS14 : ACCS12;
    pb->add_rate = addsub_rate(pb->add_only, ops, pb->width, reps);
    pb->fma_rate = pb->with_fma ? addsub_rate(pb->with_fma, ops, pb->width, reps) : 0;
}

/* Fresh data: +-[0.5, 1) * 2^-90, so every sum and difference the
 * transform forms is zero or at least 2^-114, never denormal. */
static void fill_fresh(float *x, size_t n)
{
    uint64_t s = 0x9E3779B97F4A7C15ull;
    for (size_t i = 0; i < n; i++) {
        s ^= s << 13, s ^= s >> 7, s ^= s << 17;
        float u = 0.5f + 0.5f * (float)(s >> 40) / (float)(1u << 24);
        x[i] = ldexpf((s & 1) ? u : -u, -90);
    }
}

/* What reading the clock itself costs (median of back-to-back reads), to
 * subtract from samples that are only a few microseconds long. */
static double clock_overhead_ns(void)
{
    double v[101];
    for (int i = 0; i < 101; i++) {
        double t0 = bench_now_ns();
        v[i] = bench_now_ns() - t0;
    }
    return bench_median(v, 101);
}

/* Median ns per transform of `rows` rows of length d = 2^log2d. */
static double time_rows(df_fwht_rows_fn fn, int log2d, size_t rows, const float *fresh,
                        float *x, double min_ms, double overhead_ns)
{
    const size_t d = (size_t)1 << log2d, n = rows * d;
    /* H H = d I, so after k calls |x| <= d^(k/2 + 1) * 2^-90: finite for k
     * up to 2 (218 / log2 d - 1); a margin below that */
    const int k_max = 2 * (200 / log2d) - 2;
    memcpy(x, fresh, n * sizeof *x);
    double t0 = bench_now_ns();
    fn(x, rows, d);
    double est = bench_now_ns() - t0;   /* one call, cold-ish */
    int k = (int)(20e3 / (est > 1 ? est : 1));   /* about 20 us per sample */
    k = k < 1 ? 1 : k > k_max ? k_max : k;
    int samples = (int)(min_ms * 1e6 / (k * est + 1));
    samples = samples < 15 ? 15 : samples > 2001 ? 2001 : samples;
    double *v = malloc((size_t)samples * sizeof *v);
    for (int s = 0; s < samples; s++) {
        memcpy(x, fresh, n * sizeof *x);
        t0 = bench_now_ns();
        for (int r = 0; r < k; r++)
            fn(x, rows, d);
        v[s] = (bench_now_ns() - t0 - overhead_ns) / k / (double)rows;
        bench_sink(x[n / 3]);
    }
    double med = bench_median(v, (size_t)samples);
    free(v);
    return med;
}

static void print_bounds(const path_bench *pb, size_t n)
{
    printf("#\n# add/sub throughput bound, measured (floats per ns; the bound for a\n"
           "# transform is d log2 d divided by it):\n");
    for (size_t i = 0; i < n; i++) {
        printf("#   %-9s (%s): add/sub instructions alone %.1f", pb[i].name, pb[i].vector,
               pb[i].add_rate);
        if (pb[i].with_fma)
            printf(", half as FMA with +-1 %.1f", pb[i].fma_rate);
        printf("\n");
    }
}

static void print_table(const path_bench *pb, size_t n, const path_bench *ref)
{
    printf("\n| path | d | rows | ns / transform | GFLOP/s | bound ns | %% bound | "
           "%% add-pipe | x reference |\n");
    printf("|---|---:|---:|---:|---:|---:|---:|---:|---:|\n");
    for (int batch = 0; batch < 2; batch++)
        for (size_t i = 0; i < n; i++)
            for (int l = LOG2_MIN; l <= LOG2_MAX; l++) {
                const double d = (double)(1u << l), flops = d * l;
                const double ns = pb[i].ns[l][batch];
                const double best = pb[i].fma_rate > pb[i].add_rate ? pb[i].fma_rate
                                                                    : pb[i].add_rate;
                printf("| %s | 2^%d | %d | %.1f | %.1f | %.1f | %.0f%% | %.0f%% | ",
                       pb[i].name, l, batch ? BATCH : 1, ns, flops / ns, flops / best,
                       100 * flops / best / ns, 100 * flops / pb[i].add_rate / ns);
                if (ref)
                    printf("%.1f |\n", ref->ns[l][batch] / ns);
                else
                    printf("- |\n");
            }
}

int main(int argc, char **argv)
{
    double min_ms = 40;
    const char *wanted[8];
    size_t n_wanted = 0;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--quick") == 0)
            min_ms = 8;
        else if (strcmp(argv[i], "--cpu-time") == 0)
            bench_use_cpu_time(1);
        else if (n_wanted < 8)
            wanted[n_wanted++] = argv[i];
    }
    path_bench pb[8];
    size_t n = 0;
    const path_bench *ref = NULL;
    const char *const *avail = df_fwht_paths_available();
    for (size_t i = 0; avail[i] && n < 8; i++) {
        int keep = n_wanted == 0;
        for (size_t w = 0; w < n_wanted; w++)
            keep |= strcmp(wanted[w], avail[i]) == 0;
        if (!keep)
            continue;
        memset(&pb[n], 0, sizeof pb[n]);
        pb[n].name = avail[i];
        pb[n].rows = df_fwht_rows_for(avail[i]);
        n++;
    }
    for (size_t i = 0; i < n; i++)
        if (strcmp(pb[i].name, "reference") == 0)
            ref = &pb[i];

    bench_print_header("bench_fwht: in-place float FWHT, single-threaded");
    for (size_t i = 0; i < n; i++)
        describe_widths(&pb[i], 9);
    print_bounds(pb, n);
    fflush(stdout);

    const size_t max_n = (size_t)BATCH << LOG2_MAX;
    float *fresh = aligned_alloc(64, max_n * sizeof *fresh);
    float *x = aligned_alloc(64, max_n * sizeof *x);
    if (!fresh || !x) {
        fprintf(stderr, "bench_fwht: out of memory\n");
        return 1;
    }
    fill_fresh(fresh, max_n);
    const double overhead_ns = clock_overhead_ns();
    printf("# clock read: %.0f ns, subtracted from each sample of K transforms\n",
           overhead_ns);
    for (int batch = 0; batch < 2; batch++)
        for (int l = LOG2_MIN; l <= LOG2_MAX; l++)
            for (size_t i = 0; i < n; i++)   /* paths interleaved per size */
                pb[i].ns[l][batch] = time_rows(pb[i].rows, l, batch ? BATCH : 1,
                                               fresh, x, min_ms, overhead_ns);
    print_table(pb, n, ref);
    printf("\n# load average at end: ");
    FILE *f = fopen("/proc/loadavg", "r");
    char line[128] = "unknown\n";
    if (f) {
        if (!fgets(line, sizeof line, f))
            snprintf(line, sizeof line, "unknown\n");
        fclose(f);
    }
    printf("%s", line);
    free(fresh);
    free(x);
    return 0;
}
