/* How fast can any in-place, row-major AVX-512 FWHT be on this core?
 * Built by `make`, never run by `make check`:
 *
 *     bench/bench_pipes [--quick] [--cpu-time]
 *
 * bench_fwht compares the kernels with the core's add/sub bound: d log2 d
 * add/sub at the rate of a loop that does nothing else, half of it written
 * as FMAs with a +-1 factor so that all four FP pipes of cores like AMD
 * Zen 4 work. A real transform cannot do nothing else. Per zmm of a
 * d = 2^L transform kept in row-major order, every kernel we know of also
 * executes
 *   - one shuffle for each of the 4 levels whose butterflies pair lanes of
 *     the same register (x * (+-1) + shuffle(x), or a two-register
 *     exchange, which costs the same count), and
 *   - one store per pass over memory: with 32 registers at most 512
 *     floats stay in registers, so d >= 1024 takes at least two passes.
 *     Loads are not counted: they run on their own ports.
 * This program times loops made of exactly that mix -- L add/sub (a share
 * of them as FMAs: every share it tries, it keeps the fastest), 4
 * shuffles and 2 stores per zmm, nothing depending on anything -- and
 * reports their speed as a fraction of the bound: the most a kernel of
 * this shape can reach here, with perfect scheduling and no latency. The
 * same loop without the shuffles gives the ceiling if the lane levels
 * were free, and single-instruction probes show which instructions share
 * pipes (on Zen 4: stores slow FMAs but not adds; shuffles and broadcast
 * or masked loads cost as much as an add). docs/performance.md has a run.
 *
 * x86-64 with AVX-512F only; elsewhere it says so and exits 0. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common.h"

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))

#define ITERS 200000L
#define WALK_BYTES 16384   /* stores walk a 16 KiB, L1-resident buffer */

/* ---- instruction blocks (AT&T syntax) ----
 * zmm0-7 take the adds, zmm8-15 the FMAs: each accumulator gets one op in
 * 16, far more than the 3-4 cycle latency needs. Shuffles read zmm24-27,
 * which nothing writes, into zmm16-23, which nothing reads. Stores write
 * zmm24-27 to 8 distinct cache lines at %1, which walks the buffer. */
#define A8 \
    "vaddps %%zmm31,%%zmm0,%%zmm0\n\t" "vsubps %%zmm31,%%zmm1,%%zmm1\n\t" \
    "vaddps %%zmm31,%%zmm2,%%zmm2\n\t" "vsubps %%zmm31,%%zmm3,%%zmm3\n\t" \
    "vaddps %%zmm31,%%zmm4,%%zmm4\n\t" "vsubps %%zmm31,%%zmm5,%%zmm5\n\t" \
    "vaddps %%zmm31,%%zmm6,%%zmm6\n\t" "vsubps %%zmm31,%%zmm7,%%zmm7\n\t"
#define F8 \
    "vfmadd231ps %%zmm31,%%zmm30,%%zmm8\n\t" "vfnmadd231ps %%zmm31,%%zmm30,%%zmm9\n\t" \
    "vfmadd231ps %%zmm31,%%zmm30,%%zmm10\n\t" "vfnmadd231ps %%zmm31,%%zmm30,%%zmm11\n\t" \
    "vfmadd231ps %%zmm31,%%zmm30,%%zmm12\n\t" "vfnmadd231ps %%zmm31,%%zmm30,%%zmm13\n\t" \
    "vfmadd231ps %%zmm31,%%zmm30,%%zmm14\n\t" "vfnmadd231ps %%zmm31,%%zmm30,%%zmm15\n\t"
/* the four lane levels' shuffles, as the AVX-512 kernel issues them */
#define SH8 \
    "vpermilps $0xb1,%%zmm24,%%zmm16\n\t" "vpermilps $0x4e,%%zmm25,%%zmm17\n\t" \
    "vshuff32x4 $0xb1,%%zmm26,%%zmm26,%%zmm18\n\t" "vshuff32x4 $0x4e,%%zmm27,%%zmm27,%%zmm19\n\t" \
    "vpermilps $0xb1,%%zmm25,%%zmm20\n\t" "vpermilps $0x4e,%%zmm26,%%zmm21\n\t" \
    "vshuff32x4 $0xb1,%%zmm27,%%zmm27,%%zmm22\n\t" "vshuff32x4 $0x4e,%%zmm24,%%zmm24,%%zmm23\n\t"
#define ST8 \
    "vmovups %%zmm24,0(%1)\n\t" "vmovups %%zmm25,64(%1)\n\t" \
    "vmovups %%zmm26,128(%1)\n\t" "vmovups %%zmm27,192(%1)\n\t" \
    "vmovups %%zmm24,256(%1)\n\t" "vmovups %%zmm25,320(%1)\n\t" \
    "vmovups %%zmm26,384(%1)\n\t" "vmovups %%zmm27,448(%1)\n\t"
#define NONE ""
/* single-instruction probes, 4 each */
#define PERM4 \
    "vpermilps $0xb1,%%zmm24,%%zmm16\n\t" "vpermilps $0xb1,%%zmm25,%%zmm17\n\t" \
    "vpermilps $0xb1,%%zmm26,%%zmm18\n\t" "vpermilps $0xb1,%%zmm27,%%zmm19\n\t"
#define BCAST4 \
    "vbroadcastf32x8 0(%1),%%zmm16\n\t" "vbroadcastf32x8 64(%1),%%zmm17\n\t" \
    "vbroadcastf32x8 128(%1),%%zmm18\n\t" "vbroadcastf32x8 192(%1),%%zmm19\n\t"
#define DUP4 \
    "vmovsldup 0(%1),%%zmm16\n\t" "vmovshdup 64(%1),%%zmm17\n\t" \
    "vmovsldup 128(%1),%%zmm18\n\t" "vmovshdup 192(%1),%%zmm19\n\t"
#define MLOAD4 \
    "vmovups 4(%1),%%zmm16%{%%k1%}\n\t" "vmovups 68(%1),%%zmm17%{%%k1%}\n\t" \
    "vmovups 132(%1),%%zmm18%{%%k1%}\n\t" "vmovups 196(%1),%%zmm19%{%%k1%}\n\t"
#define LOAD4 \
    "vmovups 0(%1),%%zmm16\n\t" "vmovups 64(%1),%%zmm17\n\t" \
    "vmovups 128(%1),%%zmm18\n\t" "vmovups 192(%1),%%zmm19\n\t"
#define ST4 \
    "vmovups %%zmm24,0(%1)\n\t" "vmovups %%zmm25,64(%1)\n\t" \
    "vmovups %%zmm26,128(%1)\n\t" "vmovups %%zmm27,192(%1)\n\t"

static float walk_buffer[WALK_BYTES / sizeof(float) + 1024] __attribute__((aligned(64)));

typedef void (*pipe_loop)(long iters);

/* A loop running BODY per iteration; %1 steps 512 bytes through the
 * buffer. Every vector register the blocks name is clobbered. */
#define PIPE_LOOP(name, body) \
    __attribute__((target("avx512f"), noinline)) static void name(long iters) \
    { \
        float *p = walk_buffer; \
        __asm__ volatile( \
            "kxnorw %%k1, %%k1, %%k1\n\t" \
            "vxorps %%xmm31, %%xmm31, %%xmm31\n\t" \
            "vxorps %%xmm30, %%xmm30, %%xmm30\n\t" \
            "mov %1, %%rcx\n\t" \
            "xor %%edx, %%edx\n\t" \
            "1:\n\t" \
            "lea (%%rcx,%%rdx), %1\n\t" \
            body \
            "add $512, %%edx\n\t" \
            "and $" WALK_MASK ", %%edx\n\t" \
            "dec %0\n\t" \
            "jnz 1b\n\t" \
            : "+r"(iters), "+r"(p) \
            : \
            : "rcx", "rdx", "k1", "memory", "cc", \
              "xmm0", "xmm1", "xmm2", "xmm3", "xmm4", "xmm5", "xmm6", "xmm7", \
              "xmm8", "xmm9", "xmm10", "xmm11", "xmm12", "xmm13", "xmm14", "xmm15", \
              "xmm16", "xmm17", "xmm18", "xmm19", "xmm20", "xmm21", "xmm22", "xmm23", \
              "xmm30", "xmm31"); \
    }
#define WALK_MASK "16383"

/* The bound: add/sub only, and half as FMAs (bench_fwht's two loops). */
PIPE_LOOP(loop_add16, A8 A8)
PIPE_LOOP(loop_add8_fma8, A8 F8)

/* Probes: what 4 of an instruction add to the 8 add + 8 FMA loop, and what
 * 4 stores add next to adds alone and next to FMAs alone. */
PIPE_LOOP(probe_perm, A8 F8 PERM4)
PIPE_LOOP(probe_bcast, A8 F8 BCAST4)
PIPE_LOOP(probe_dup, A8 F8 DUP4)
PIPE_LOOP(probe_mload, A8 F8 MLOAD4)
PIPE_LOOP(probe_load, A8 F8 LOAD4)
PIPE_LOOP(probe_store, A8 F8 ST4)
PIPE_LOOP(probe_add_store, A8 A8 ST4)
PIPE_LOOP(probe_fma_store, F8 F8 ST4)
PIPE_LOOP(probe_fma16, F8 F8)

/* The FWHT mix for 8 zmm: 8L add/sub in L blocks of 8 (X0..), 32 shuffles
 * (S: SH8 or NONE) and 16 stores, interleaved. */
#define MIX10(S, T, X0, X1, X2, X3, X4, X5, X6, X7, X8, X9) \
    X0 S X1 ST8 X2 S X3 X4 S X5 T X6 S X7 X8 X9
#define MIX12(S, T, X0, X1, X2, X3, X4, X5, X6, X7, X8, X9, X10, X11) \
    X0 S X1 X2 ST8 X3 S X4 X5 S X6 X7 T X8 S X9 X10 X11
#define MIX14(S, T, X0, X1, X2, X3, X4, X5, X6, X7, X8, X9, X10, X11, X12, X13) \
    X0 S X1 X2 ST8 X3 S X4 X5 X6 S X7 X8 T X9 S X10 X11 X12 X13

/* FMA shares about 0, 1/5, 3/10, 2/5, 1/2, as L blocks allow (fma_share) */
#define L10(S, T, tag) \
    PIPE_LOOP(mix10_0_##tag, MIX10(S, T, A8, A8, A8, A8, A8, A8, A8, A8, A8, A8)) \
    PIPE_LOOP(mix10_2_##tag, MIX10(S, T, A8, A8, F8, A8, A8, A8, A8, F8, A8, A8)) \
    PIPE_LOOP(mix10_3_##tag, MIX10(S, T, A8, F8, A8, A8, A8, F8, A8, A8, F8, A8)) \
    PIPE_LOOP(mix10_4_##tag, MIX10(S, T, A8, F8, A8, F8, A8, A8, F8, A8, F8, A8)) \
    PIPE_LOOP(mix10_5_##tag, MIX10(S, T, A8, F8, A8, F8, A8, F8, A8, F8, A8, F8))
#define L12(S, T, tag) \
    PIPE_LOOP(mix12_0_##tag, MIX12(S, T, A8, A8, A8, A8, A8, A8, A8, A8, A8, A8, A8, A8)) \
    PIPE_LOOP(mix12_2_##tag, MIX12(S, T, A8, A8, A8, F8, A8, A8, A8, A8, A8, F8, A8, A8)) \
    PIPE_LOOP(mix12_3_##tag, MIX12(S, T, A8, F8, A8, A8, F8, A8, A8, F8, A8, A8, F8, A8)) \
    PIPE_LOOP(mix12_4_##tag, MIX12(S, T, A8, F8, A8, F8, A8, A8, F8, A8, F8, A8, F8, A8)) \
    PIPE_LOOP(mix12_5_##tag, MIX12(S, T, A8, F8, A8, F8, A8, F8, A8, F8, A8, F8, A8, F8))
#define L14(S, T, tag) \
    PIPE_LOOP(mix14_0_##tag, MIX14(S, T, A8, A8, A8, A8, A8, A8, A8, A8, A8, A8, A8, A8, A8, A8)) \
    PIPE_LOOP(mix14_2_##tag, MIX14(S, T, A8, A8, F8, A8, A8, A8, A8, F8, A8, A8, A8, F8, A8, A8)) \
    PIPE_LOOP(mix14_3_##tag, MIX14(S, T, A8, F8, A8, A8, A8, F8, A8, A8, F8, A8, A8, A8, F8, A8)) \
    PIPE_LOOP(mix14_4_##tag, MIX14(S, T, A8, F8, A8, F8, A8, F8, A8, A8, F8, A8, F8, A8, F8, A8)) \
    PIPE_LOOP(mix14_5_##tag, MIX14(S, T, A8, F8, A8, F8, A8, F8, A8, F8, A8, F8, A8, F8, A8, F8))

L10(SH8, ST8, shuf)
L10(NONE, ST8, free)
L10(NONE, NONE, one)
L12(SH8, ST8, shuf)
L12(NONE, ST8, free)
L12(NONE, NONE, one)
L14(SH8, ST8, shuf)
L14(NONE, ST8, free)
L14(NONE, NONE, one)

#define SHARES 5
typedef struct fwht_mix {
    int log2d;
    pipe_loop with_shuffles[SHARES];
    pipe_loop lanes_free[SHARES];
    pipe_loop one_pass[SHARES];   /* lanes free and a single store */
} fwht_mix;

static const double fma_share[3][SHARES] = {
    {0.0, 0.2, 0.3, 0.4, 0.5},
    {0.0, 2.0 / 12, 4.0 / 12, 5.0 / 12, 0.5},
    {0.0, 3.0 / 14, 4.0 / 14, 6.0 / 14, 0.5},
};

static const fwht_mix mixes[] = {
    {10, {mix10_0_shuf, mix10_2_shuf, mix10_3_shuf, mix10_4_shuf, mix10_5_shuf},
         {mix10_0_free, mix10_2_free, mix10_3_free, mix10_4_free, mix10_5_free},
         {mix10_0_one, mix10_2_one, mix10_3_one, mix10_4_one, mix10_5_one}},
    {12, {mix12_0_shuf, mix12_2_shuf, mix12_3_shuf, mix12_4_shuf, mix12_5_shuf},
         {mix12_0_free, mix12_2_free, mix12_3_free, mix12_4_free, mix12_5_free},
         {mix12_0_one, mix12_2_one, mix12_3_one, mix12_4_one, mix12_5_one}},
    {14, {mix14_0_shuf, mix14_2_shuf, mix14_3_shuf, mix14_4_shuf, mix14_5_shuf},
         {mix14_0_free, mix14_2_free, mix14_3_free, mix14_4_free, mix14_5_free},
         {mix14_0_one, mix14_2_one, mix14_3_one, mix14_4_one, mix14_5_one}},
};

static int reps = 15;

/* Median ns per iteration of `loop`, after one warm-up call. */
static double time_loop(pipe_loop loop)
{
    double *t = malloc((size_t)reps * sizeof *t);
    if (!t) {
        fprintf(stderr, "bench_pipes: out of memory\n");
        exit(1);
    }
    loop(ITERS / 10);
    for (int r = 0; r < reps; r++) {
        double t0 = bench_now_ns();
        loop(ITERS);
        t[r] = (bench_now_ns() - t0) / ITERS;
    }
    double m = bench_median(t, (size_t)reps);
    free(t);
    return m;
}

static void print_probes(double op_ns)
{
    double base = time_loop(loop_add8_fma8);
    double add16 = time_loop(loop_add16);
    double fma16 = time_loop(probe_fma16);
    struct {
        const char *what;
        pipe_loop loop;
        double over;   /* the loop it extends */
    } probes[] = {
        {"vpermilps zmm (shuffle)", probe_perm, base},
        {"vbroadcastf32x8 zmm, m256", probe_bcast, base},
        {"vmovsldup/vmovshdup zmm, m512", probe_dup, base},
        {"vmovups zmm{k}, m512 (merge-masked load)", probe_mload, base},
        {"vmovups zmm, m512 (plain load)", probe_load, base},
        {"vmovups m512, zmm (store), next to 8 add + 8 FMA", probe_store, base},
        {"vmovups m512, zmm (store), next to 16 add", probe_add_store, add16},
        {"vmovups m512, zmm (store), next to 16 FMA", probe_fma_store, fma16},
    };
    printf("\n## What one instruction costs next to add/sub work\n\n"
           "Each probe adds 4 of the instruction to a loop of 16 independent add/sub;\n"
           "the cost is the extra time per instruction, in units of one add/sub at\n"
           "the bound (%.3f ns): 0 means it ran on other ports for free, 1 that it\n"
           "took an add/sub's place.\n\n", op_ns);
    printf("| instruction | extra time per instruction (add/sub at the bound) |\n|---|---:|\n");
    for (size_t i = 0; i < sizeof probes / sizeof probes[0]; i++) {
        double t = time_loop(probes[i].loop);
        printf("| %s | %.2f |\n", probes[i].what, (t - probes[i].over) / 4.0 / op_ns);
    }
}

/* The fastest of the FMA shares: its ceiling (% of the bound) and share. */
static void best_share(const pipe_loop *loops, double ideal, int m, double *ceiling,
                       double *share)
{
    double best = 1e30;
    int at = 0;
    for (int s = 0; s < SHARES; s++) {
        double t = time_loop(loops[s]);
        if (t < best) {
            best = t;
            at = s;
        }
    }
    *ceiling = 100.0 * ideal / best;
    *share = 100.0 * fma_share[m][at];
}

static void print_ceilings(double op_ns)
{
    printf("\n## The most a row-major FWHT kernel can reach here\n\n"
           "Per zmm of a d = 2^L transform: L add/sub, 4 shuffles (one per lane level)\n"
           "and 2 stores (two passes over memory), timed as independent instructions;\n"
           "then the same without the shuffles, and with one store (one pass: only\n"
           "possible for d <= 512, shown as the limit of any kernel that stores its\n"
           "result). Ceiling = the bound's time for the L add/sub over the loop's\n"
           "time, for the fastest of the FMA shares tried (in brackets).\n\n");
    printf("| d | 4 shuffles, 2 stores per zmm | no shuffles, 2 stores | no shuffles, 1 store |\n"
           "|---:|---:|---:|---:|\n");
    for (size_t m = 0; m < sizeof mixes / sizeof mixes[0]; m++) {
        const fwht_mix *mx = &mixes[m];
        double ideal = 8.0 * mx->log2d * op_ns;   /* 8 zmm per iteration */
        double c[3], f[3];
        best_share(mx->with_shuffles, ideal, (int)m, &c[0], &f[0]);
        best_share(mx->lanes_free, ideal, (int)m, &c[1], &f[1]);
        best_share(mx->one_pass, ideal, (int)m, &c[2], &f[2]);
        printf("| 2^%d | %.0f%% (%.0f%% FMA) | %.0f%% (%.0f%%) | %.0f%% (%.0f%%) |\n",
               mx->log2d, c[0], f[0], c[1], f[1], c[2], f[2]);
    }
}

int main(int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--quick") == 0) {
            reps = 5;
        } else if (strcmp(argv[i], "--cpu-time") == 0) {
            bench_use_cpu_time(1);
        } else {
            fprintf(stderr, "usage: %s [--quick] [--cpu-time]\n", argv[0]);
            return 2;
        }
    }
    __builtin_cpu_init();
    if (!__builtin_cpu_supports("avx512f")) {
        printf("bench_pipes: this CPU has no AVX-512F; nothing to measure\n");
        return 0;
    }
    bench_print_header("bench_pipes");
    double add_ns = time_loop(loop_add16) / 16.0;
    double op_ns = time_loop(loop_add8_fma8) / 16.0;
    printf("#\n# zmm add/sub alone: %.3f ns each (%.1f floats per ns); half as FMAs with +-1:\n"
           "# %.3f ns each (%.1f floats per ns) -- the bound bench_fwht's %% bound uses\n",
           add_ns, 16.0 / add_ns, op_ns, 16.0 / op_ns);
    print_probes(op_ns);
    print_ceilings(op_ns);
    return 0;
}

#else

int main(void)
{
    printf("bench_pipes: x86-64 only; nothing to measure on this machine\n");
    return 0;
}

#endif
