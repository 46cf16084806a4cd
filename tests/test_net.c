/* A whole small network: its gradient against finite differences, its
 * flat buffer layout, its determinism. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "deepfried/config.h"
#include "deepfried/net.h"
#include "deepfried/rng.h"
#include "gradcheck.h"

/* Every layer type, Fastfood with all three dropout points, k = 2. */
static const char *small_net_conf =
    "[run]\nname = small\n"
    "[data]\ntrain_images = x\ntrain_labels = x\ntest_images = x\ntest_labels = x\n"
    "[layer conv1]\ntype = conv\noutputs = 4\nkernel = 3\n"
    "[layer pool1]\ntype = maxpool\nkernel = 2\n"
    "[layer relu0]\ntype = relu\n"
    "[layer ff]\ntype = fastfood\nfeatures = 40\nsigma = 0.3\n"
    "dropout_input = 0.2\ndropout_perm = 0.2\ndropout_scale = 0.2\n"
    "[layer relu1]\ntype = relu\n"
    "[layer drop]\ntype = dropout\nratio = 0.3\n"
    "[layer ip]\ntype = dense\noutputs = 5\n"
    "[layer loss]\ntype = softmax_loss\n";

typedef struct net_case {
    df_config cfg;
    df_net net;
    float *x;
    int32_t y[4];
    int N;
    df_pass pass;
} net_case;

static void net_case_make(net_case *c, const char *text)
{
    memset(c, 0, sizeof *c);
    df_error err;
    int rc = df_config_parse(&c->cfg, text, "small.conf", NULL, 0, 0, &err);
    if (rc)
        fail_msg("%s", err.msg);
    c->N = 4;
    rc = df_net_build(&c->net, c->cfg.layers, c->cfg.n_layers, 1, 10, 10, c->N, &err);
    if (rc)
        fail_msg("%s", err.msg);
    df_net_init_params(&c->net, 7);
    c->x = calloc((size_t)c->N * 100, sizeof(float));
    fill_uniform(c->x, (size_t)c->N * 100, 0.0f, 1.0f, 99);
    for (int i = 0; i < c->N; i++)
        c->y[i] = (i * 3) % 5;
    c->pass = (df_pass){1, 7, 3, 0};
}

static void net_case_free(net_case *c)
{
    df_net_free(&c->net);
    free(c->x);
}

static double net_loss(void *ctx)
{
    net_case *c = ctx;
    return df_net_forward(&c->net, c->x, c->y, c->N, &c->pass, NULL);
}

/* Every tensor's gradient against finite differences of the loss. */
static void check_network_gradient(net_case *c);

static void whole_network_gradient_matches_finite_differences(void **state)
{
    (void)state;
    net_case c;
    net_case_make(&c, small_net_conf);
    check_network_gradient(&c);
    net_case_free(&c);
}

/* What `deepfried compress` builds: a dense layer without bias (one
 * tensor, no bias gradient) feeding the dense layer that keeps it. */
static void dense_without_bias_has_one_tensor_and_right_gradient(void **state)
{
    (void)state;
    static const char *conf =
        "[run]\nname = svd\n"
        "[data]\ntrain_images = x\ntrain_labels = x\ntest_images = x\ntest_labels = x\n"
        "[layer conv1]\ntype = conv\noutputs = 2\nkernel = 3\n"
        "[layer ip_svd]\ntype = dense\noutputs = 3\nbias = false\n"
        "[layer ip]\ntype = dense\noutputs = 5\n"
        "[layer loss]\ntype = softmax_loss\n";
    net_case c;
    net_case_make(&c, conf);
    const df_layer *first = &c.net.layers[1], *second = &c.net.layers[2];
    assert_int_equal(first->n_tensors, 1);
    assert_string_equal(first->tensors[0].name, "weight");
    assert_int_equal(df_layer_param_count(first), 3 * 2 * 8 * 8);
    assert_int_equal(second->n_tensors, 2);
    assert_int_equal(df_layer_param_count(second), 5 * 3 + 5);
    assert_int_equal(c.net.n_params, 2 * 9 + 2 + 3 * 128 + 20);
    check_network_gradient(&c);
    net_case_free(&c);
}

static void check_network_gradient(net_case *c)
{
    memset(c->net.grads, 0, c->net.n_params * sizeof(float));
    net_loss(c);
    df_net_backward(&c->net, c->x, c->y, c->N, NULL, NULL);
    /* Check each layer's tensors separately so a failure names it. ReLU
     * and max pooling have kinks that a step of 1e-3 can cross, so the
     * error is taken over the tensor as a whole; a wrong gradient gives
     * errors of order one, far above the bound. */
    for (int i = 0; i < c->net.n_layers; i++) {
        const df_layer *l = &c->net.layers[i];
        for (int t = 0; t < l->n_tensors; t++) {
            const df_tensor *ts = &l->tensors[t];
            double e = gradcheck_norm(net_loss, c, c->net.params + ts->offset,
                                      c->net.grads + ts->offset, ts->count, 60, 1e-3f);
            if (e > 1e-2)
                fail_msg("layer %s tensor %s: gradient error %g", l->spec.name, ts->name, e);
        }
    }
}

/* The scale layer exists only to show that a layer type is one file in
 * src/layers/ plus one table entry: the config reader takes its own key,
 * writes it back, and the net builds, runs and differentiates it without
 * knowing it. */
static void a_layer_type_from_its_descriptor_alone_builds_runs_and_differentiates(void **state)
{
    (void)state;
    static const char *conf =
        "[run]\nname = scale\n"
        "[data]\ntrain_images = x\ntrain_labels = x\ntest_images = x\ntest_labels = x\n"
        "[layer conv1]\ntype = conv\noutputs = 2\nkernel = 3\n"
        "[layer half]\ntype = scale\nfactor = 0.5\n"
        "[layer same]\ntype = scale\n"
        "[layer ip]\ntype = dense\noutputs = 5\n"
        "[layer loss]\ntype = softmax_loss\n";
    int t = df_layer_kind_find("scale", 5);
    assert_true(t > DF_LAYER_SOFTMAX_LOSS);
    assert_string_equal(df_layer_type_name((df_layer_type)t), "scale");
    net_case c;
    net_case_make(&c, conf);
    /* the written config reads back the same, the default included */
    char *text = df_config_to_text(&c.cfg);
    assert_non_null(text);
    assert_non_null(strstr(text, "[layer half]\ntype = scale\nfactor = 0.5\n"));
    assert_non_null(strstr(text, "[layer same]\ntype = scale\nfactor = 1\n"));
    df_config back;
    df_error err;
    assert_int_equal(df_config_parse(&back, text, "back.conf", NULL, 0, 0, &err), 0);
    free(text);
    assert_memory_equal(back.layers[1].opts.bytes, c.cfg.layers[1].opts.bytes,
                        sizeof back.layers[1].opts);
    /* a key of its own is checked like any other */
    const char *bad = "[layer half]\ntype = scale\nfactor = 0\n";
    assert_int_equal(df_config_parse(&back, bad, "bad.conf", NULL, 0, 0, &err), DF_EINPUT);
    assert_non_null(strstr(err.msg, "layer half.factor"));
    assert_int_equal(c.net.layers[1].n_tensors, 0);
    assert_int_equal(c.net.layers[1].out_size, 2 * 8 * 8);
    net_loss(&c);
    const float *in = c.net.acts[1], *half = c.net.acts[2], *same = c.net.acts[3];
    for (size_t i = 0; i < (size_t)c.N * 2 * 8 * 8; i++) {
        assert_true(half[i] == 0.5f * in[i]);
        assert_true(same[i] == half[i]);
    }
    /* backward through it reaches conv1's gradient */
    check_network_gradient(&c);
    net_case_free(&c);
}

static void flat_buffer_is_ordered_last_layer_first(void **state)
{
    (void)state;
    net_case c;
    net_case_make(&c, small_net_conf);
    size_t prev_end = 0;
    size_t total = 0;
    for (int i = c.net.n_layers - 1; i >= 0; i--) {
        const df_layer *l = &c.net.layers[i];
        if (l->n_tensors == 0)
            continue;
        assert_int_equal(l->param_offset, prev_end);
        prev_end = l->param_offset + l->param_count;
        total += l->param_count;
    }
    assert_int_equal(total, c.net.n_params);
    /* conv 4x1x3x3 + 4, fastfood 3 * 64 * 1 (d_in 4*4*4 = 64), ip 5x40 + 5 */
    assert_int_equal(c.net.n_params, 40 + 3 * 64 + 205);
    net_case_free(&c);
}

/* backward reports a growing prefix of finished gradients */
typedef struct ready_log {
    size_t seen[16];
    int n;
} ready_log;

static void record_ready(void *ctx, size_t ready)
{
    ready_log *r = ctx;
    r->seen[r->n++] = ready;
}

static void backward_reports_finished_prefixes_in_order(void **state)
{
    (void)state;
    net_case c;
    net_case_make(&c, small_net_conf);
    ready_log r = {{0}, 0};
    net_loss(&c);
    df_net_backward(&c.net, c.x, c.y, c.N, record_ready, &r);
    assert_int_equal(r.n, 3);   /* ip, ff, conv1 */
    for (int i = 1; i < r.n; i++)
        assert_true(r.seen[i] > r.seen[i - 1]);
    assert_int_equal(r.seen[r.n - 1], c.net.n_params);
    net_case_free(&c);
}

static void same_seed_gives_same_parameters_and_loss(void **state)
{
    (void)state;
    net_case a, b;
    net_case_make(&a, small_net_conf);
    net_case_make(&b, small_net_conf);
    assert_memory_equal(a.net.params, b.net.params, a.net.n_params * sizeof(float));
    assert_true(net_loss(&a) == net_loss(&b));
    df_net_init_params(&b.net, 8);
    assert_memory_not_equal(a.net.params, b.net.params, a.net.n_params * sizeof(float));
    net_case_free(&a);
    net_case_free(&b);
}

static void dropout_masks_follow_the_global_sample_not_the_batch_slot(void **state)
{
    (void)state;
    /* Samples 2..3 of a global batch, run as a batch of 2 starting at
     * first_sample 2, give the same loss as within the batch of 4. */
    net_case full, half;
    net_case_make(&full, small_net_conf);
    net_case_make(&half, small_net_conf);
    df_net_forward(&full.net, full.x, full.y, 4, &full.pass, NULL);
    const float *probs_full = full.net.acts[full.net.n_layers];
    half.pass.first_sample = 2;
    df_net_forward(&half.net, half.x + 2 * 100, half.y + 2, 2, &half.pass, NULL);
    const float *probs_half = half.net.acts[half.net.n_layers];
    /* equal up to the summation order of a different-sized sgemm; a
     * different mask would change the probabilities at the 1e-2 level */
    for (int i = 0; i < 2 * 5; i++)
        assert_true(fabsf(probs_full[2 * 5 + i] - probs_half[i]) < 1e-6f);
    net_case_free(&full);
    net_case_free(&half);
}

/* Whether the labels fit the last layer is the trainer's check
 * (tests/cli_bad_data.sh); the net checks its own shapes. */
static void a_shape_that_does_not_fit_names_the_layer(void **state)
{
    (void)state;
    df_config cfg;
    df_net net;
    df_error err;
    assert_int_equal(df_config_parse(&cfg, small_net_conf, "small.conf", NULL, 0, 0, &err), 0);
    /* a kernel larger than the image names the layer */
    assert_int_equal(df_net_build(&net, cfg.layers, cfg.n_layers, 1, 2, 2, 4, &err), DF_EINPUT);
    assert_non_null(strstr(err.msg, "conv1"));
    /* a network that does not end in its loss */
    assert_int_equal(df_net_build(&net, cfg.layers, cfg.n_layers - 1, 1, 10, 10, 4, &err),
                     DF_EINPUT);
    assert_non_null(strstr(err.msg, "softmax_loss"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(whole_network_gradient_matches_finite_differences),
        cmocka_unit_test(dense_without_bias_has_one_tensor_and_right_gradient),
        cmocka_unit_test(flat_buffer_is_ordered_last_layer_first),
        cmocka_unit_test(backward_reports_finished_prefixes_in_order),
        cmocka_unit_test(same_seed_gives_same_parameters_and_loss),
        cmocka_unit_test(dropout_masks_follow_the_global_sample_not_the_batch_slot),
        cmocka_unit_test(a_shape_that_does_not_fit_names_the_layer),
        cmocka_unit_test(a_layer_type_from_its_descriptor_alone_builds_runs_and_differentiates),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
