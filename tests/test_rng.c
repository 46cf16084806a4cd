/* The counter-based RNG: pure functions of (key, counter), good enough
 * moments, unbiased permutations. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "deepfried/rng.h"

static void draws_are_pure_functions_of_key_and_counter(void **state)
{
    (void)state;
    uint64_t k = df_rng_key(42, DF_RNG_DROPOUT, 7, 3, 1);
    assert_true(df_rng_u64(k, 5) == df_rng_u64(k, 5));
    assert_true(df_rng_u64(k, 5) != df_rng_u64(k, 6));
    assert_true(k == df_rng_key(42, DF_RNG_DROPOUT, 7, 3, 1));
    /* word order matters */
    assert_true(df_rng_key(42, 1, 2, 0, 0) != df_rng_key(42, 2, 1, 0, 0));
    assert_true(df_rng_key(42, 1, 2, 0, 0) != df_rng_key(43, 1, 2, 0, 0));
    df_rng_stream s = df_rng_stream_make(k);
    for (uint64_t i = 0; i < 10; i++)
        assert_true(df_rng_next_u64(&s) == df_rng_u64(k, i));
}

static void uniform_and_normal_have_right_moments(void **state)
{
    (void)state;
    const int n = 200000;
    uint64_t k = df_rng_key(1, 2, 3, 4, 5);
    double su = 0, su2 = 0, sn = 0, sn2 = 0;
    for (int i = 0; i < n; i++) {
        double u = df_rng_uniform(k, (uint64_t)i);
        assert_true(u >= 0.0 && u < 1.0);
        su += u;
        su2 += u * u;
        double z = df_rng_normal(k, (uint64_t)i);
        sn += z;
        sn2 += z * z;
    }
    double mu = su / n, vu = su2 / n - mu * mu;
    double mn = sn / n, vn = sn2 / n - mn * mn;
    /* five standard errors */
    assert_true(fabs(mu - 0.5) < 5 * sqrt(1.0 / 12 / n));
    assert_true(fabs(vu - 1.0 / 12) < 0.002);
    assert_true(fabs(mn) < 5 * sqrt(1.0 / n));
    assert_true(fabs(vn - 1.0) < 5 * sqrt(2.0 / n));
}

static void permutation_is_a_permutation_and_unbiased(void **state)
{
    (void)state;
    enum { N = 6, TRIALS = 30000 };
    int count[N][N];
    memset(count, 0, sizeof count);
    int32_t perm[N];
    for (int t = 0; t < TRIALS; t++) {
        df_rng_permutation(df_rng_key(9, (uint64_t)t, 0, 0, 0), perm, N);
        int seen[N] = {0};
        for (int i = 0; i < N; i++) {
            assert_true(perm[i] >= 0 && perm[i] < N);
            seen[perm[i]]++;
            count[i][perm[i]]++;
        }
        for (int i = 0; i < N; i++)
            assert_int_equal(seen[i], 1);
    }
    double expect = (double)TRIALS / N, sd = sqrt(expect * (1 - 1.0 / N));
    for (int i = 0; i < N; i++)
        for (int j = 0; j < N; j++)
            assert_true(fabs(count[i][j] - expect) < 5 * sd);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(draws_are_pure_functions_of_key_and_counter),
        cmocka_unit_test(uniform_and_normal_have_right_moments),
        cmocka_unit_test(permutation_is_a_permutation_and_unbiased),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
