/* The Fastfood layer against the dense matrix S H G Pi H B it represents,
 * its gradients against finite differences, its init against sigma^2. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "deepfried/fastfood.h"
#include "deepfried/layers.h"
#include "deepfried/rng.h"
#include "gradcheck.h"

/* One layer with its own storage. */
typedef struct ff_case {
    df_fastfood_shape s;
    df_fastfood_params p;
    float *params;          /* S | G | B */
    int N;
    float *in, *out, *ws, *R;
    float *mask_in, *mask_perm, *mask_scale;
    df_fastfood_masks masks;
} ff_case;

static void ff_case_make(ff_case *c, int d_in, int n, int N, float sigma,
                         int with_masks)
{
    memset(c, 0, sizeof *c);
    assert_int_equal(df_fastfood_shape_init(&c->s, d_in, n, NULL), 0);
    size_t kd = (size_t)c->s.k * c->s.d;
    c->params = calloc(3 * kd, sizeof(float));
    c->p.S = c->params;
    c->p.G = c->params + kd;
    c->p.B = c->params + 2 * kd;
    c->p.perm = calloc(kd, sizeof(int32_t));
    df_fastfood_init(&c->s, &c->p, sigma, df_rng_key(5, DF_RNG_INIT, 1, 0, 0));
    c->N = N;
    c->in = calloc((size_t)N * d_in, sizeof(float));
    c->out = calloc((size_t)N * n, sizeof(float));
    c->R = calloc((size_t)N * n, sizeof(float));
    c->ws = calloc((size_t)N * df_fastfood_ws_size(&c->s), sizeof(float));
    fill_uniform(c->in, (size_t)N * d_in, -1.0f, 1.0f, 11);
    fill_uniform(c->R, (size_t)N * n, -1.0f, 1.0f, 12);
    if (with_masks) {
        c->mask_in = calloc((size_t)N * d_in, sizeof(float));
        c->mask_perm = calloc((size_t)N * kd, sizeof(float));
        c->mask_scale = calloc((size_t)N * n, sizeof(float));
        df_dropout_mask(c->mask_in, N, (size_t)d_in, 0.3f, 1, 0, 0, 1);
        df_dropout_mask(c->mask_perm, N, kd, 0.3f, 1, 0, 0, 2);
        df_dropout_mask(c->mask_scale, N, (size_t)n, 0.3f, 1, 0, 0, 3);
        c->masks.input = c->mask_in;
        c->masks.perm = c->mask_perm;
        c->masks.scale = c->mask_scale;
    }
}

static void ff_case_free(ff_case *c)
{
    free(c->params);
    free(c->p.perm);
    free(c->in);
    free(c->out);
    free(c->R);
    free(c->ws);
    free(c->mask_in);
    free(c->mask_perm);
    free(c->mask_scale);
}

static const df_fastfood_masks *ff_masks(const ff_case *c)
{
    return c->mask_in ? &c->masks : NULL;
}

/* Dense (n, d_in) matrix of the layer, built from its definition in double
 * with an explicit (orthonormal) Hadamard matrix. */
static double *explicit_matrix(const ff_case *c)
{
    const int d = c->s.d, n = c->s.n, d_in = c->s.d_in;
    double *W = calloc((size_t)n * d_in, sizeof(double));
    double *M = malloc(sizeof(double) * d * d);
    double *T = malloc(sizeof(double) * d * d);
    const double h = 1.0 / sqrt((double)d);   /* orthonormal Hadamard entries */
    for (int j = 0; j < c->s.k; j++) {
        const float *S = c->p.S + (size_t)j * d, *G = c->p.G + (size_t)j * d;
        const float *B = c->p.B + (size_t)j * d;
        const int32_t *perm = c->p.perm + (size_t)j * d;
        /* M = H B: M[r][col] = H[r][col] B[col] */
        for (int r = 0; r < d; r++)
            for (int q = 0; q < d; q++)
                M[r * d + q] = ((__builtin_popcount(r & q) & 1) ? -h : h) * B[q];
        /* T = G Pi M: row r is G[r] * M[perm[r]] */
        for (int r = 0; r < d; r++)
            for (int q = 0; q < d; q++)
                T[r * d + q] = G[r] * M[perm[r] * d + q];
        /* rows of S H T, cut to n outputs and d_in inputs */
        for (int r = 0; r < d && j * d + r < n; r++)
            for (int q = 0; q < d_in; q++) {
                double acc = 0;
                for (int t = 0; t < d; t++)
                    acc += ((__builtin_popcount(r & t) & 1) ? -h : h) * T[t * d + q];
                W[(size_t)(j * d + r) * d_in + q] = S[r] * acc;
            }
    }
    free(M);
    free(T);
    return W;
}

static void check_matches_explicit_matrix(int d_in, int n)
{
    ff_case c;
    ff_case_make(&c, d_in, n, 3, 0.1f, 0);
    df_fastfood_forward(c.out, c.in, &c.p, &c.s, c.N, NULL, c.ws);
    double *W = explicit_matrix(&c);
    for (int b = 0; b < c.N; b++)
        for (int r = 0; r < n; r++) {
            double want = 0;
            for (int q = 0; q < d_in; q++)
                want += W[(size_t)r * d_in + q] * c.in[(size_t)b * d_in + q];
            assert_true(fabs(c.out[(size_t)b * n + r] - want) < 1e-4 * (1 + fabs(want)));
        }
    free(W);
    ff_case_free(&c);
}

static void fastfood_matches_explicit_matrix_padded_input(void **state)
{
    (void)state;
    check_matches_explicit_matrix(13, 16);   /* d_in 13 -> d 16, k 1 */
}

static void fastfood_matches_explicit_matrix_several_blocks_cut(void **state)
{
    (void)state;
    check_matches_explicit_matrix(50, 150);  /* d 64, k 3, last block cut */
}

static void fastfood_matches_explicit_matrix_fewer_outputs(void **state)
{
    (void)state;
    check_matches_explicit_matrix(100, 40);  /* d 128, k 1, n < d */
}

/* d 512: the vectorised FWHT paths (d >= 256) and elementwise loops with
 * a cut last block (700 = 512 + 188, not a multiple of 16) */
static void fastfood_matches_explicit_matrix_at_vector_sizes(void **state)
{
    (void)state;
    check_matches_explicit_matrix(300, 700);
}

/* ---- finite differences ---- */
static ff_case *g_case;

static double projected_loss(void *ctx)
{
    ff_case *c = ctx;
    df_fastfood_forward(c->out, c->in, &c->p, &c->s, c->N, ff_masks(c), c->ws);
    return dot_double(c->out, c->R, (size_t)c->N * c->s.n);
}

static void check_gradients(int d_in, int n, int with_masks)
{
    ff_case c;
    ff_case_make(&c, d_in, n, 3, 0.5f, with_masks);
    g_case = &c;
    size_t kd = (size_t)c.s.k * c.s.d;
    float *grads = calloc(3 * kd, sizeof(float));
    float *din = calloc((size_t)c.N * d_in, sizeof(float));
    projected_loss(&c);
    df_fastfood_backward(din, grads, grads + kd, grads + 2 * kd, c.R, &c.p,
                         &c.s, c.N, ff_masks(&c), c.ws);
    /* the layer is linear in each parameter and in x, so central
     * differences are exact for any step: a large step keeps float
     * rounding out of the comparison and allows a tight bound */
    double e_in = gradcheck(projected_loss, &c, c.in, din, (size_t)c.N * d_in, 200, 0.5f, 1e-2);
    double e_S = gradcheck(projected_loss, &c, c.p.S, grads, kd, 200, 0.5f, 1e-2);
    double e_G = gradcheck(projected_loss, &c, c.p.G, grads + kd, kd, 200, 0.5f, 1e-2);
    double e_B = gradcheck(projected_loss, &c, c.p.B, grads + 2 * kd, kd, 200, 0.5f, 1e-2);
    assert_true(e_in < 1e-3);
    assert_true(e_S < 1e-3);
    assert_true(e_G < 1e-3);
    assert_true(e_B < 1e-3);
    free(grads);
    free(din);
    ff_case_free(&c);
}

static void fastfood_gradients_match_finite_differences(void **state)
{
    (void)state;
    check_gradients(13, 16, 0);
    check_gradients(50, 150, 0);
}

static void fastfood_gradients_with_dropout_match_finite_differences(void **state)
{
    (void)state;
    check_gradients(13, 40, 1);
    check_gradients(300, 700, 1);   /* d 512, as above */
}

static void fastfood_backward_accumulates_parameter_gradients(void **state)
{
    (void)state;
    ff_case c;
    ff_case_make(&c, 20, 32, 2, 0.5f, 0);
    size_t kd = (size_t)c.s.k * c.s.d;
    float *once = calloc(3 * kd, sizeof(float)), *twice = calloc(3 * kd, sizeof(float));
    projected_loss(&c);
    df_fastfood_backward(NULL, once, once + kd, once + 2 * kd, c.R, &c.p, &c.s, c.N, NULL, c.ws);
    for (int rep = 0; rep < 2; rep++) {
        projected_loss(&c);
        df_fastfood_backward(NULL, twice, twice + kd, twice + 2 * kd, c.R, &c.p, &c.s, c.N, NULL, c.ws);
    }
    for (size_t i = 0; i < 3 * kd; i++)
        assert_true(fabs(twice[i] - 2 * once[i]) <= 1e-5 * (1 + fabs(once[i])));
    free(once);
    free(twice);
    ff_case_free(&c);
}

/* Entries of the represented matrix should have variance sigma^2: a wrong
 * normalisation (missing sqrt(d), ||G|| or chi) is off by far more than
 * the 10% allowed here. */
static void fastfood_init_rows_have_variance_sigma_squared(void **state)
{
    (void)state;
    const float sigmas[] = {0.01f, 0.05f, 1.0f};
    for (size_t t = 0; t < sizeof sigmas / sizeof *sigmas; t++) {
        ff_case c;
        ff_case_make(&c, 256, 1024, 1, sigmas[t], 0);
        double *W = explicit_matrix(&c);
        size_t cnt = (size_t)1024 * 256;
        double sum = 0, sum2 = 0;
        for (size_t i = 0; i < cnt; i++) {
            sum += W[i];
            sum2 += W[i] * W[i];
        }
        double mean = sum / cnt, var = sum2 / cnt - mean * mean;
        double s2 = (double)sigmas[t] * sigmas[t];
        assert_true(fabs(var / s2 - 1.0) < 0.1);
        assert_true(fabs(mean) < 0.05 * sigmas[t]);
        /* B is +-1, the permutation a permutation */
        for (int i = 0; i < c.s.k * c.s.d; i++)
            assert_true(c.p.B[i] == 1.0f || c.p.B[i] == -1.0f);
        free(W);
        ff_case_free(&c);
    }
}

static void fastfood_shape_pads_and_stacks(void **state)
{
    (void)state;
    df_fastfood_shape s;
    assert_int_equal(df_fastfood_shape_init(&s, 800, 1024, NULL), 0);
    assert_int_equal(s.d, 1024);
    assert_int_equal(s.k, 1);
    assert_int_equal(df_fastfood_param_count(&s), 3072);
    assert_int_equal(df_fastfood_shape_init(&s, 800, 2048, NULL), 0);
    assert_int_equal(s.k, 2);
    assert_int_equal(df_fastfood_param_count(&s), 6144);
    assert_int_equal(df_fastfood_shape_init(&s, 9216, 32768, NULL), 0);
    assert_int_equal(s.d, 16384);
    assert_int_equal(s.k, 2);
    df_error err;
    assert_int_equal(df_fastfood_shape_init(&s, 0, 10, &err), DF_EINPUT);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(fastfood_matches_explicit_matrix_padded_input),
        cmocka_unit_test(fastfood_matches_explicit_matrix_several_blocks_cut),
        cmocka_unit_test(fastfood_matches_explicit_matrix_fewer_outputs),
        cmocka_unit_test(fastfood_matches_explicit_matrix_at_vector_sizes),
        cmocka_unit_test(fastfood_gradients_match_finite_differences),
        cmocka_unit_test(fastfood_gradients_with_dropout_match_finite_differences),
        cmocka_unit_test(fastfood_backward_accumulates_parameter_gradients),
        cmocka_unit_test(fastfood_init_rows_have_variance_sigma_squared),
        cmocka_unit_test(fastfood_shape_pads_and_stacks),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
