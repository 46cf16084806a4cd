/* Caffe's learning-rate policies and SGD update, checked against the
 * formulas computed independently here. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <string.h>

#include "deepfried/config.h"
#include "deepfried/solver.h"

static void lr_policies_follow_caffe(void **state)
{
    (void)state;
    df_config cfg;
    df_config_defaults(&cfg);
    cfg.solver.base_lr = 0.01;
    cfg.solver.iterations = 10000;

    cfg.solver.lr_policy = DF_LR_FIXED;
    assert_true(df_solver_lr(&cfg.solver, 5000) == 0.01);

    cfg.solver.lr_policy = DF_LR_INV;
    cfg.solver.gamma = 1e-4;
    cfg.solver.power = 0.75;
    assert_true(fabs(df_solver_lr(&cfg.solver, 0) - 0.01) < 1e-12);
    /* Caffe LeNet at iteration 10000: 0.01 * 2^-0.75 */
    assert_true(fabs(df_solver_lr(&cfg.solver, 10000) - 0.01 * pow(2.0, -0.75)) < 1e-12);

    cfg.solver.lr_policy = DF_LR_STEP;
    cfg.solver.gamma = 0.1;
    cfg.solver.stepsize = 3000;
    assert_true(fabs(df_solver_lr(&cfg.solver, 2999) - 0.01) < 1e-12);
    assert_true(fabs(df_solver_lr(&cfg.solver, 3000) - 0.001) < 1e-12);
    assert_true(fabs(df_solver_lr(&cfg.solver, 9000) - 0.00001) < 1e-12);

    cfg.solver.lr_policy = DF_LR_COSINE;
    cfg.solver.min_lr = 0.001;
    assert_true(fabs(df_solver_lr(&cfg.solver, 0) - 0.01) < 1e-12);
    assert_true(fabs(df_solver_lr(&cfg.solver, 5000) - 0.0055) < 1e-12);
    assert_true(fabs(df_solver_lr(&cfg.solver, 10000) - 0.001) < 1e-12);

    cfg.solver.lr_policy = DF_LR_FIXED;
    cfg.solver.warmup = 100;
    assert_true(fabs(df_solver_lr(&cfg.solver, 0) - 0.0001) < 1e-12);
    assert_true(fabs(df_solver_lr(&cfg.solver, 49) - 0.005) < 1e-12);
    assert_true(fabs(df_solver_lr(&cfg.solver, 100) - 0.01) < 1e-12);
}

static void sgd_step_applies_momentum_decay_and_multipliers(void **state)
{
    (void)state;
    /* A fake one-layer net: weight (2 floats, lr_mult 1, decay 1) and
     * bias (1 float, lr_mult 2, decay 0). */
    df_net net;
    memset(&net, 0, sizeof net);
    float params[3] = {1.0f, -2.0f, 0.5f}, grads[3] = {4.0f, 8.0f, 2.0f};
    net.params = params;
    net.grads = grads;
    net.n_params = 3;
    net.n_layers = 1;
    df_layer *l = &net.layers[0];
    l->n_tensors = 2;
    l->tensors[0] = (df_tensor){"weight", 1, {2}, 0, 2, 1.0f, 1.0f};
    l->tensors[1] = (df_tensor){"bias", 1, {1}, 2, 1, 2.0f, 0.0f};
    df_solver s;
    assert_int_equal(df_solver_init(&s, &net, NULL), 0);
    const double lr = 0.1, mu = 0.9, wd = 0.01;
    const float scale = 0.25f;   /* 1 / global batch */
    double w[3] = {1.0, -2.0, 0.5}, v[3] = {0, 0, 0};
    const double mult[3] = {1, 1, 2}, decay[3] = {1, 1, 0};
    for (int step = 0; step < 3; step++) {
        df_solver_step(&s, &net, lr, mu, wd, scale);
        for (int i = 0; i < 3; i++) {
            double g = grads[i] * (double)scale + wd * decay[i] * w[i];
            v[i] = mu * v[i] + lr * mult[i] * g;
            w[i] -= v[i];
            assert_true(fabs(params[i] - w[i]) < 1e-5);
        }
    }
    df_solver_free(&s);
}

/* The update runs 16 floats at a time with a scalar tail, split over the
 * net's threads: every element must get the bits of the scalar float
 * formula, for any thread count. */
static void sgd_step_is_the_scalar_formula_for_any_thread_count(void **state)
{
    (void)state;
    enum { NW = 37, NB = 5, N = NW + NB };
    float g[N], w0[N];
    for (int i = 0; i < N; i++) {
        g[i] = (float)((i * 7919) % 113) / 50.0f - 1.1f;
        w0[i] = (float)((i * 104729) % 97) / 40.0f - 1.2f;
    }
    const float lr = 0.01f, mu = 0.9f, wd = 0.0005f, scale = 1.0f / 64;
    float want_w[N], want_v[N] = {0};
    memcpy(want_w, w0, sizeof want_w);
    for (int step = 0; step < 3; step++)
        for (int i = 0; i < N; i++) {
            const float rate = i < NW ? lr : 2 * lr, decay = i < NW ? wd : 0.0f;
            float grad = g[i] * scale + decay * want_w[i];
            want_v[i] = mu * want_v[i] + rate * grad;
            want_w[i] -= want_v[i];
        }
    for (int threads = 1; threads <= 3; threads++) {
        df_net net;
        memset(&net, 0, sizeof net);
        float params[N], grads[N];
        memcpy(params, w0, sizeof params);
        memcpy(grads, g, sizeof grads);
        net.params = params;
        net.grads = grads;
        net.n_params = N;
        net.n_layers = 1;
        net.threads = threads;
        df_layer *l = &net.layers[0];
        l->n_tensors = 2;
        l->tensors[0] = (df_tensor){"weight", 1, {NW}, 0, NW, 1.0f, 1.0f};
        l->tensors[1] = (df_tensor){"bias", 1, {NB}, NW, NB, 2.0f, 0.0f};
        df_solver s;
        assert_int_equal(df_solver_init(&s, &net, NULL), 0);
        for (int step = 0; step < 3; step++)
            df_solver_step(&s, &net, lr, mu, wd, scale);
        assert_memory_equal(params, want_w, sizeof params);
        assert_memory_equal(s.momentum, want_v, sizeof want_v);
        df_solver_free(&s);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(lr_policies_follow_caffe),
        cmocka_unit_test(sgd_step_applies_momentum_decay_and_multipliers),
        cmocka_unit_test(sgd_step_is_the_scalar_formula_for_any_thread_count),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
