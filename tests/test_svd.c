/* The SVD behind `deepfried compress`: LAPACK's sgesdd called on row-major
 * matrices through the column-major transpose trick (svd.c). Checked on
 * random tall, wide and square matrices against the definitions: the
 * factors reconstruct the matrix, are orthonormal, the singular values
 * descend, and the rank-k truncation's error is the Eckart-Young optimum
 * sqrt(sum of the discarded sigma_i^2). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "deepfried/rng.h"
#include "deepfried/svd.h"

/* Float SVD of matrices this size is accurate to a few 1e-7 relative; an
 * index or transpose mistake gives errors of order one. */
#define RECON_TOL 1e-5
#define ORTHO_TOL 1e-5

typedef struct shape {
    int m, n;
} shape;

/* tall, wide, square, and a single row/column */
static const shape shapes[] = {{37, 23}, {23, 37}, {30, 30}, {64, 9}, {1, 12}, {12, 1}};
#define N_SHAPES ((int)(sizeof shapes / sizeof shapes[0]))

static float *random_matrix(int m, int n, uint64_t key)
{
    float *a = malloc((size_t)m * n * sizeof *a);
    assert_non_null(a);
    df_rng_stream r = df_rng_stream_make(df_rng_key(key, 99, (uint64_t)m, (uint64_t)n, 0));
    for (size_t i = 0; i < (size_t)m * n; i++)
        a[i] = (float)df_rng_next_normal(&r);
    return a;
}

static double frobenius(const float *a, size_t count)
{
    double s = 0;
    for (size_t i = 0; i < count; i++)
        s += (double)a[i] * a[i];
    return sqrt(s);
}

/* ||a - u diag(s) vt||_F / ||a||_F, all in double, using the first k
 * singular triplets (u is (m, ldu) with ldu >= k, vt (>= k, n)). */
static double reconstruction_error(const float *a, int m, int n, const float *u, int ldu,
                                   const float *s, const float *vt, int k)
{
    double diff = 0;
    for (int i = 0; i < m; i++)
        for (int j = 0; j < n; j++) {
            double x = 0;
            for (int t = 0; t < k; t++)
                x += (double)u[(size_t)i * ldu + t] * (s ? s[t] : 1.0) * vt[(size_t)t * n + j];
            double d = a[(size_t)i * n + j] - x;
            diff += d * d;
        }
    return sqrt(diff) / frobenius(a, (size_t)m * n);
}

static void assert_below(double value, double tol, const char *what, int m, int n)
{
    if (!(value < tol))
        fail_msg("%s for %dx%d: %.3g, tolerance %.3g", what, m, n, value, tol);
}

static void svd_reconstructs_the_matrix_tall_wide_and_square(void **state)
{
    (void)state;
    for (int c = 0; c < N_SHAPES; c++) {
        int m = shapes[c].m, n = shapes[c].n, r = m < n ? m : n;
        float *a = random_matrix(m, n, 1), *u = calloc((size_t)m * r, sizeof *u);
        float *s = calloc((size_t)r, sizeof *s), *vt = calloc((size_t)r * n, sizeof *vt);
        df_error err = {0, ""};
        assert_int_equal(df_svd(a, m, n, u, s, vt, &err), DF_OK);
        assert_below(reconstruction_error(a, m, n, u, r, s, vt, r), RECON_TOL,
                     "full-rank reconstruction error", m, n);
        free(a);
        free(u);
        free(s);
        free(vt);
    }
}

static void singular_vectors_are_orthonormal(void **state)
{
    (void)state;
    for (int c = 0; c < N_SHAPES; c++) {
        int m = shapes[c].m, n = shapes[c].n, r = m < n ? m : n;
        float *a = random_matrix(m, n, 2), *u = calloc((size_t)m * r, sizeof *u);
        float *s = calloc((size_t)r, sizeof *s), *vt = calloc((size_t)r * n, sizeof *vt);
        df_error err = {0, ""};
        assert_int_equal(df_svd(a, m, n, u, s, vt, &err), DF_OK);
        double worst = 0;
        for (int p = 0; p < r; p++)
            for (int q = 0; q < r; q++) {
                double uu = 0, vv = 0;
                for (int i = 0; i < m; i++)
                    uu += (double)u[(size_t)i * r + p] * u[(size_t)i * r + q];
                for (int j = 0; j < n; j++)
                    vv += (double)vt[(size_t)p * n + j] * vt[(size_t)q * n + j];
                double want = p == q ? 1.0 : 0.0;
                worst = fmax(worst, fmax(fabs(uu - want), fabs(vv - want)));
            }
        assert_below(worst, ORTHO_TOL, "U^T U or V^T V off the identity", m, n);
        free(a);
        free(u);
        free(s);
        free(vt);
    }
}

static void singular_values_descend_and_are_nonnegative(void **state)
{
    (void)state;
    for (int c = 0; c < N_SHAPES; c++) {
        int m = shapes[c].m, n = shapes[c].n, r = m < n ? m : n;
        float *a = random_matrix(m, n, 3), *u = calloc((size_t)m * r, sizeof *u);
        float *s = calloc((size_t)r, sizeof *s), *vt = calloc((size_t)r * n, sizeof *vt);
        df_error err = {0, ""};
        assert_int_equal(df_svd(a, m, n, u, s, vt, &err), DF_OK);
        for (int i = 0; i < r; i++) {
            assert_true(s[i] >= 0.0f);
            if (i > 0)
                assert_true(s[i] <= s[i - 1]);
        }
        /* sum of sigma^2 is ||A||_F^2 */
        double energy = 0, norm = frobenius(a, (size_t)m * n);
        for (int i = 0; i < r; i++)
            energy += (double)s[i] * s[i];
        assert_below(fabs(sqrt(energy) - norm) / norm, 1e-5, "sqrt(sum sigma^2) vs ||A||_F", m, n);
        free(a);
        free(u);
        free(s);
        free(vt);
    }
}

/* A matrix with known singular values: a diagonal one, out of order and
 * with a negative entry (whose sign goes into a singular vector). */
static void known_singular_values_of_a_diagonal_matrix(void **state)
{
    (void)state;
    float a[4 * 3] = {1, 0, 0,
                      0, -5, 0,
                      0, 0, 3,
                      0, 0, 0};
    float u[4 * 3], s[3], vt[3 * 3];
    df_error err = {0, ""};
    assert_int_equal(df_svd(a, 4, 3, u, s, vt, &err), DF_OK);
    assert_true(fabsf(s[0] - 5.0f) < 1e-5f);
    assert_true(fabsf(s[1] - 3.0f) < 1e-5f);
    assert_true(fabsf(s[2] - 1.0f) < 1e-5f);
    assert_below(reconstruction_error(a, 4, 3, u, 3, s, vt, 3), 1e-6, "reconstruction", 4, 3);
}

/* Eckart-Young: the best rank-k approximation misses by exactly the
 * discarded singular values. The error is measured here, in double, from
 * the factors df_svd_low_rank returns, and compared with the singular
 * values df_svd returns. */
static void rank_k_error_is_the_discarded_singular_values(void **state)
{
    (void)state;
    for (int c = 0; c < N_SHAPES; c++) {
        int m = shapes[c].m, n = shapes[c].n, r = m < n ? m : n;
        float *a = random_matrix(m, n, 4), *u = calloc((size_t)m * r, sizeof *u);
        float *s = calloc((size_t)r, sizeof *s), *vt = calloc((size_t)r * n, sizeof *vt);
        df_error err = {0, ""};
        assert_int_equal(df_svd(a, m, n, u, s, vt, &err), DF_OK);
        double total = 0;
        for (int i = 0; i < r; i++)
            total += (double)s[i] * s[i];
        for (int k = 1; k <= r; k += (r > 6 ? r / 5 : 1)) {
            float *left = calloc((size_t)m * k, sizeof *left);
            float *right = calloc((size_t)k * n, sizeof *right);
            df_svd_report rep;
            assert_int_equal(df_svd_low_rank(a, m, n, k, left, right, &rep, &err), DF_OK);
            double dropped = 0;
            for (int i = k; i < r; i++)
                dropped += (double)s[i] * s[i];
            double want = sqrt(dropped / total);
            double got = reconstruction_error(a, m, n, left, k, NULL, right, k);
            char what[96];
            snprintf(what, sizeof what, "rank %d: |measured - sqrt(discarded)|", k);
            assert_below(fabs(got - want), 1e-5 + 1e-4 * want, what, m, n);
            assert_below(fabs(rep.rel_error - want), 1e-5 + 1e-4 * want, "report.rel_error", m, n);
            assert_below(fabs(rep.rel_error_sv - want), 1e-6 + 1e-5 * want, "report.rel_error_sv",
                         m, n);
            assert_below(fabs(rep.energy_kept + rep.rel_error_sv * rep.rel_error_sv - 1.0), 1e-9,
                         "energy kept + error^2 != 1", m, n);
            assert_true(rep.sigma_first == s[0] && rep.sigma_k == s[k - 1]);
            free(left);
            free(right);
        }
        free(a);
        free(u);
        free(s);
        free(vt);
    }
}

/* sqrt(S) goes into each factor: column j of left and row j of right both
 * have norm sqrt(sigma_j). */
static void low_rank_factors_are_balanced(void **state)
{
    (void)state;
    int m = 40, n = 25, k = 7;
    float *a = random_matrix(m, n, 5), s[25], *u = calloc((size_t)m * n, sizeof *u);
    float *vt = calloc((size_t)n * n, sizeof *vt);
    float *left = calloc((size_t)m * k, sizeof *left), *right = calloc((size_t)k * n, sizeof *right);
    df_error err = {0, ""};
    assert_int_equal(df_svd(a, m, n, u, s, vt, &err), DF_OK);
    assert_int_equal(df_svd_low_rank(a, m, n, k, left, right, NULL, &err), DF_OK);
    for (int j = 0; j < k; j++) {
        double cl = 0, rr = 0;
        for (int i = 0; i < m; i++)
            cl += (double)left[(size_t)i * k + j] * left[(size_t)i * k + j];
        for (int c = 0; c < n; c++)
            rr += (double)right[(size_t)j * n + c] * right[(size_t)j * n + c];
        assert_true(fabs(sqrt(cl) - sqrt(s[j])) < 1e-4 * sqrt(s[j]));
        assert_true(fabs(sqrt(rr) - sqrt(s[j])) < 1e-4 * sqrt(s[j]));
    }
    free(a);
    free(u);
    free(vt);
    free(left);
    free(right);
}

/* A rank-2 matrix is reproduced exactly (to float rounding) at rank 2. */
static void rank_two_matrix_is_exact_at_rank_two(void **state)
{
    (void)state;
    int m = 20, n = 15;
    float *x = random_matrix(m, 2, 6), *y = random_matrix(2, n, 7);
    float *a = calloc((size_t)m * n, sizeof *a);
    for (int i = 0; i < m; i++)
        for (int j = 0; j < n; j++)
            a[(size_t)i * n + j] = x[i * 2] * y[j] + x[i * 2 + 1] * y[n + j];
    float left[20 * 2], right[2 * 15];
    df_svd_report rep;
    df_error err = {0, ""};
    assert_int_equal(df_svd_low_rank(a, m, n, 2, left, right, &rep, &err), DF_OK);
    assert_below(rep.rel_error, 1e-5, "rank-2 error", m, n);
    assert_true(rep.energy_kept > 1.0 - 1e-9);
    assert_true(rep.sigma_next < 1e-5 * rep.sigma_first);
    free(x);
    free(y);
    free(a);
}

static void bad_arguments_are_errors_not_crashes(void **state)
{
    (void)state;
    float a[6] = {1, 2, 3, 4, 5, 6}, u[6], s[2], vt[6], left[6], right[6];
    df_error err = {0, ""};
    assert_int_equal(df_svd_low_rank(a, 2, 3, 0, left, right, NULL, &err), DF_EINPUT);
    assert_non_null(strstr(err.msg, "rank 0"));
    assert_int_equal(df_svd_low_rank(a, 2, 3, 3, left, right, NULL, &err), DF_EINPUT);
    assert_int_equal(df_svd(a, 0, 3, u, s, vt, &err), DF_EINPUT);
    a[4] = NAN;
    assert_int_equal(df_svd(a, 2, 3, u, s, vt, &err), DF_ENUMERIC);
    assert_non_null(strstr(err.msg, "NaN"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(svd_reconstructs_the_matrix_tall_wide_and_square),
        cmocka_unit_test(singular_vectors_are_orthonormal),
        cmocka_unit_test(singular_values_descend_and_are_nonnegative),
        cmocka_unit_test(known_singular_values_of_a_diagonal_matrix),
        cmocka_unit_test(rank_k_error_is_the_discarded_singular_values),
        cmocka_unit_test(low_rank_factors_are_balanced),
        cmocka_unit_test(rank_two_matrix_is_exact_at_rank_two),
        cmocka_unit_test(bad_arguments_are_errors_not_crashes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
