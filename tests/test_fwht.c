/* FWHT: the reference equals the explicit Hadamard matrix, the fast path
 * equals the reference, for every size the layer uses. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "deepfried/fwht.h"
#include "gradcheck.h"

static int hadamard_entry(size_t i, size_t j)
{
    return (__builtin_popcountll(i & j) & 1) ? -1 : 1;
}

static void reference_equals_explicit_hadamard_matrix(void **state)
{
    (void)state;
    for (size_t d = 1; d <= 512; d *= 2) {
        float *x = malloc(d * sizeof *x);
        double *want = malloc(d * sizeof *want);
        fill_uniform(x, d, -1.0f, 1.0f, 100 + d);
        for (size_t i = 0; i < d; i++) {
            want[i] = 0;
            for (size_t j = 0; j < d; j++)
                want[i] += hadamard_entry(i, j) * (double)x[j];
        }
        df_fwht_reference(x, d);
        for (size_t i = 0; i < d; i++)
            assert_true(fabs(x[i] - want[i]) <= 1e-5 * (1 + sqrt((double)d)));
        free(x);
        free(want);
    }
}

static void fast_path_equals_reference_up_to_2_16(void **state)
{
    (void)state;
    for (size_t d = 1; d <= (1u << 16); d *= 2) {
        size_t rows = d <= 1024 ? 5 : 2;
        float *fast = malloc(rows * d * sizeof *fast);
        float *ref = malloc(rows * d * sizeof *ref);
        fill_uniform(fast, rows * d, -1.0f, 1.0f, 7 + d);
        memcpy(ref, fast, rows * d * sizeof *ref);
        for (size_t r = 0; r < rows; r++)
            df_fwht_reference(ref + r * d, d);
        df_fwht_rows(fast, rows, d);
        /* Different summation order: allow float rounding that grows
         * with log2 d levels of values of size up to sqrt(d). */
        double tol = 1e-6 * sqrt((double)d) * (1 + log2((double)d));
        for (size_t i = 0; i < rows * d; i++)
            assert_true(fabs(fast[i] - ref[i]) <= tol);
        free(fast);
        free(ref);
    }
}

static void transform_twice_is_d_times_identity(void **state)
{
    (void)state;
    const size_t d = 4096;
    float *x = malloc(d * sizeof *x), *y = malloc(d * sizeof *y);
    fill_uniform(x, d, -1.0f, 1.0f, 3);
    memcpy(y, x, d * sizeof *y);
    df_fwht_rows(y, 1, d);
    df_fwht_rows(y, 1, d);
    for (size_t i = 0; i < d; i++)
        assert_true(fabs(y[i] / (double)d - x[i]) < 1e-5);
    free(x);
    free(y);
}

static void power_of_two_helpers(void **state)
{
    (void)state;
    assert_true(df_is_pow2(1) && df_is_pow2(1024));
    assert_false(df_is_pow2(0) || df_is_pow2(800));
    assert_int_equal(df_next_pow2(800), 1024);
    assert_int_equal(df_next_pow2(1024), 1024);
    assert_int_equal(df_next_pow2(1), 1);
    assert_int_equal(df_next_pow2(9216), 16384);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(reference_equals_explicit_hadamard_matrix),
        cmocka_unit_test(fast_path_equals_reference_up_to_2_16),
        cmocka_unit_test(transform_twice_is_d_times_identity),
        cmocka_unit_test(power_of_two_helpers),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
