/* The .conf reader: the shipped experiment configs parse and say what
 * their names say; defaults, overrides and the text round trip behave;
 * and every class of bad input is refused with one line that names the
 * place (file and line, or --set) and the key. */
#define _POSIX_C_SOURCE 200809L

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "deepfried/config.h"

/* ---- helpers ---- */

static const char *srcdir(void)
{
    const char *d = getenv("DF_SRCDIR");
    return d && *d ? d : ".";
}

static char *read_text(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        fail_msg("cannot open %s", path);
    char *text = calloc(DF_CONFIG_MAX_BYTES + 1, 1);
    assert_non_null(text);
    size_t n = fread(text, 1, DF_CONFIG_MAX_BYTES, f);
    fclose(f);
    text[n] = '\0';
    return text;
}

/* Parse an experiment config from conf/ without touching its data files. */
static void parse_conf(const char *name, const char *const *overrides, int n,
                       df_config *cfg)
{
    char path[DF_PATH_MAX];
    df_error err = { 0 };
    snprintf(path, sizeof path, "%s/conf/%s", srcdir(), name);
    char *text = read_text(path);
    int rc = df_config_parse(cfg, text, path, overrides, n, 0, &err);
    free(text);
    if (rc != 0)
        fail_msg("%s: %s", name, err.msg);
}

static void write_file(const char *path, const void *bytes, size_t n)
{
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(bytes, 1, n, f), n);
    assert_int_equal(fclose(f), 0);
}

/* Messages are printed by the CLI as one line. */
static void assert_one_line(const char *msg)
{
    assert_true(msg[0] != '\0');
    assert_null(strchr(msg, '\n'));
}

static void assert_contains(const char *haystack, const char *needle)
{
    if (!strstr(haystack, needle))
        fail_msg("expected '%s' in: %s", needle, haystack);
}

/* A valid data section (5 lines) and network, to build bad configs around. */
#define DATA "[data]\ntrain_images = a\ntrain_labels = b\ntest_images = c\ntest_labels = d\n"
#define LOSS "[layer loss]\ntype = softmax_loss\n"
#define NET "[layer conv1]\ntype = conv\noutputs = 4\nkernel = 3\n" \
            "[layer pool1]\ntype = maxpool\nkernel = 2\n" \
            "[layer ff]\ntype = fastfood\nfeatures = 64\n" \
            "[layer relu1]\ntype = relu\n" \
            "[layer drop]\ntype = dropout\n" \
            "[layer ip2]\ntype = dense\noutputs = 10\n" LOSS
#define X16 "xxxxxxxxxxxxxxxx"
#define X64 X16 X16 X16 X16
#define X1024 X64 X64 X64 X64 X64 X64 X64 X64 X64 X64 X64 X64 X64 X64 X64 X64

static const char *const mnist_rows[] = {
    "mnist-fastfood-1024.conf", "mnist-fastfood-2048.conf",
    "mnist-adaptive-fastfood-1024.conf", "mnist-adaptive-fastfood-2048.conf",
    "mnist-fastfood-1024-dropout.conf", "mnist-fastfood-2048-dropout.conf",
    "mnist-adaptive-fastfood-1024-dropout.conf",
    "mnist-adaptive-fastfood-2048-dropout.conf",
};
#define N_MNIST_ROWS ((int)(sizeof mnist_rows / sizeof mnist_rows[0]))

static const char *const lenet_names[8] = {
    "conv1", "pool1", "conv2", "pool2", "ip1", "relu1", "ip2", "loss"
};

/* ---- the shipped configs ---- */

typedef void (*conf_check)(const char *file, const df_config *cfg);

/* Calls check on every .conf file in conf/; returns how many there were. */
static int for_each_conf(conf_check check)
{
    char dirpath[DF_PATH_MAX];
    snprintf(dirpath, sizeof dirpath, "%s/conf", srcdir());
    DIR *dir = opendir(dirpath);
    if (!dir)
        fail_msg("cannot open %s (set DF_SRCDIR to the source root)", dirpath);
    int n = 0;
    struct dirent *e;
    df_config *cfg = malloc(sizeof *cfg);
    assert_non_null(cfg);
    while ((e = readdir(dir)) != NULL) {
        size_t len = strlen(e->d_name);
        if (len < 6 || strcmp(e->d_name + len - 5, ".conf") != 0)
            continue;
        parse_conf(e->d_name, NULL, 0, cfg);
        check(e->d_name, cfg);
        n++;
    }
    closedir(dir);
    free(cfg);
    return n;
}

static void check_shared_settings(const char *file, const df_config *cfg)
{
    size_t len = strlen(file) - strlen(".conf");
    if (strlen(cfg->run.name) != len || strncmp(cfg->run.name, file, len) != 0)
        fail_msg("%s: run.name is '%s', not the file's basename", file, cfg->run.name);
    assert_int_equal(cfg->run.seed, 1);
    const char *set = strncmp(file, "fashion-", 8) == 0 ? "/usr/share/datasets/fashion-mnist/" : "data/mnist/";
    assert_contains(cfg->data.train_images, set);
    assert_contains(cfg->data.test_labels, set);
    assert_true(cfg->data.scale == 0.00390625f);
    assert_int_equal(cfg->solver.batch, 64);
    assert_int_equal(cfg->solver.iterations, 10000);
    assert_int_equal(cfg->solver.lr_policy, DF_LR_INV);
    assert_true(cfg->solver.gamma == 0.0001 && cfg->solver.power == 0.75);
    assert_int_equal(cfg->checkpoint.interval, 1000);
    assert_int_equal(cfg->checkpoint.keep, 3);
    assert_int_equal(cfg->comm.bucket_kb, 256);
    assert_int_equal(cfg->comm.dtype_bf16, 0);
    assert_int_equal(cfg->n_layers, 8);
    assert_int_equal(cfg->layers[cfg->n_layers - 1].type, DF_LAYER_SOFTMAX_LOSS);
}

static void every_conf_file_parses_with_shared_settings(void **state)
{
    (void)state;
    /* 9 Table 1 rows + 2 Fashion-MNIST */
    assert_true(for_each_conf(check_shared_settings) >= 11);
}

static void reference_is_caffe_lenet_in_order(void **state)
{
    (void)state;
    static const df_layer_type types[8] = {
        DF_LAYER_CONV, DF_LAYER_MAXPOOL, DF_LAYER_CONV, DF_LAYER_MAXPOOL,
        DF_LAYER_DENSE, DF_LAYER_RELU, DF_LAYER_DENSE, DF_LAYER_SOFTMAX_LOSS
    };
    static const int outputs[8] = { 20, 0, 50, 0, 500, 0, 10, 0 };
    df_config cfg;
    parse_conf("mnist-lenet-reference.conf", NULL, 0, &cfg);
    assert_int_equal(cfg.n_layers, 8);
    for (int i = 0; i < 8; i++) {
        const df_layer_spec *l = &cfg.layers[i];
        assert_string_equal(l->name, lenet_names[i]);
        assert_int_equal(l->type, types[i]);
        assert_int_equal(l->outputs, outputs[i]);
        if (l->type == DF_LAYER_CONV) {
            assert_int_equal(l->kernel, 5);
            assert_int_equal(l->stride, 1);
            assert_string_equal(l->weight_filler, "xavier");
        }
        if (l->type == DF_LAYER_MAXPOOL) {
            assert_int_equal(l->kernel, 2);
            assert_int_equal(l->stride, 2);
        }
        if (l->type == DF_LAYER_CONV || l->type == DF_LAYER_DENSE)
            assert_true(l->bias_lr_mult == 2.0f && l->lr_mult == 1.0f);
    }
}

static void fastfood_rows_match_their_file_names(void **state)
{
    (void)state;
    df_config cfg;
    for (int r = 0; r < N_MNIST_ROWS; r++) {
        const char *file = mnist_rows[r];
        int adaptive = strstr(file, "adaptive") != NULL;
        int dropout = strstr(file, "dropout") != NULL;
        int features = strstr(file, "2048") ? 2048 : 1024;
        parse_conf(file, NULL, 0, &cfg);
        assert_int_equal(cfg.n_layers, 8);
        for (int i = 0; i < 8; i++)
            assert_string_equal(cfg.layers[i].name, i == 4 ? "ff" : lenet_names[i]);
        const df_layer_spec *ff = &cfg.layers[4];
        assert_int_equal(ff->type, DF_LAYER_FASTFOOD);
        assert_int_equal(ff->features, features);
        assert_int_equal(ff->adaptive, adaptive);
        /* every row sets the sigma chosen on held-out data
         * (docs/results/tuning.md): 0.05 fixed, 0.1 adaptive */
        assert_int_equal(ff->sigma_set, 1);
        assert_true(ff->sigma == (adaptive ? 0.1f : 0.05f));
        /* the dropout rows drop after S only */
        assert_true(ff->dropout_input == 0.0f && ff->dropout_perm == 0.0f);
        assert_int_equal(ff->dropout_scale > 0.0f, dropout);
        /* no weight decay on S, G, B where they are learned */
        if (adaptive)
            assert_true(ff->decay_mult == 0.0f);
        assert_int_equal(cfg.layers[5].type, DF_LAYER_RELU);
        assert_int_equal(cfg.layers[6].type, DF_LAYER_DENSE);
        assert_int_equal(cfg.layers[6].outputs, 10);
    }
}

/* ---- defaults and overrides ---- */

static void parse_ok(const char *text, const char *origin,
                     const char *const *overrides, int n, df_config *cfg)
{
    df_error err = { 0 };
    if (df_config_parse(cfg, text, origin, overrides, n, 0, &err) != 0)
        fail_msg("unexpected error: %s", err.msg);
}

static void unset_keys_take_documented_defaults(void **state)
{
    (void)state;
    df_config cfg;
    parse_ok(DATA NET, "some/dir/my-exp.conf", NULL, 0, &cfg);
    assert_string_equal(cfg.path, "some/dir/my-exp.conf");
    assert_string_equal(cfg.run.name, "my-exp");
    assert_string_equal(cfg.run.dir, "runs/my-exp");
    assert_string_equal(cfg.checkpoint.dir, "runs/my-exp");
    assert_int_equal(cfg.run.seed, 1);
    assert_int_equal(cfg.run.threads, 0);
    assert_true(cfg.data.scale == 1.0f / 256);
    assert_int_equal(cfg.data.holdout, 0);
    assert_int_equal(cfg.data.holdout_start, -1);
    assert_int_equal(cfg.data.eval_holdout, 0);
    assert_int_equal(cfg.solver.batch, 64);
    assert_int_equal(cfg.solver.iterations, 10000);
    assert_int_equal(cfg.solver.display, 100);
    assert_int_equal(cfg.solver.test_interval, 500);
    assert_true(cfg.solver.base_lr == 0.01 && cfg.solver.momentum == 0.9);
    assert_true(cfg.solver.weight_decay == 0.0005);
    assert_int_equal(cfg.solver.lr_policy, DF_LR_INV);
    assert_true(cfg.solver.gamma == 1e-4 && cfg.solver.power == 0.75);
    assert_int_equal(cfg.solver.stepsize, 0);
    assert_true(cfg.solver.min_lr == 0.0);
    assert_int_equal(cfg.solver.warmup, 0);
    assert_int_equal(cfg.checkpoint.interval, 0);
    assert_int_equal(cfg.checkpoint.keep, 3);
    assert_int_equal(cfg.comm.bucket_kb, 256);
    assert_int_equal(cfg.comm.dtype_bf16, 0);

    const df_layer_spec *conv = &cfg.layers[df_config_find_layer(&cfg, "conv1")];
    assert_int_equal(conv->stride, 1);
    assert_int_equal(conv->pad, 0);
    assert_string_equal(conv->weight_filler, "xavier");
    assert_true(conv->weight_std == 0.01f && conv->lr_mult == 1.0f);
    assert_true(conv->bias_lr_mult == 2.0f);
    assert_true(conv->decay_mult == 1.0f && conv->bias_decay_mult == 1.0f);
    const df_layer_spec *pool = &cfg.layers[df_config_find_layer(&cfg, "pool1")];
    assert_int_equal(pool->stride, pool->kernel);   /* Caffe: non-overlapping */
    const df_layer_spec *ff = &cfg.layers[df_config_find_layer(&cfg, "ff")];
    assert_int_equal(ff->adaptive, 1);
    assert_int_equal(ff->sigma_set, 0);
    assert_true(ff->dropout_input == 0.0f && ff->dropout_perm == 0.0f &&
                ff->dropout_scale == 0.0f);
    assert_true(cfg.layers[df_config_find_layer(&cfg, "drop")].ratio == 0.5f);
    assert_int_equal(cfg.layers[df_config_find_layer(&cfg, "ip2")].bias, 1);
}

static void step_policy_defaults_gamma_to_a_tenth(void **state)
{
    (void)state;
    df_config cfg;
    parse_ok("[solver]\nlr_policy = step\nstepsize = 1000\n" DATA NET, "t.conf", NULL, 0, &cfg);
    assert_true(cfg.solver.gamma == 0.1);
    assert_int_equal(cfg.solver.stepsize, 1000);
}

static void comments_blank_lines_and_crlf_are_ignored(void **state)
{
    (void)state;
    df_config cfg;
    parse_ok("# leading comment\r\n; another\r\n\r\n  [ solver ]  # trailing\r\n"
             "  batch   =  32  ; trailing\r\n"
             "[data]\ntrain_images = data/x#1.gz\ntrain_labels = b # c\n"
             "test_images = c\ntest_labels = d\n" NET,
             "t.conf", NULL, 0, &cfg);
    assert_int_equal(cfg.solver.batch, 32);
    /* '#' not after whitespace is part of the value */
    assert_string_equal(cfg.data.train_images, "data/x#1.gz");
    assert_string_equal(cfg.data.train_labels, "b");
}

static void overrides_replace_values_from_the_file(void **state)
{
    (void)state;
    static const char *const sets[] = {
        "solver.batch=128", "ff.features=2048", "layer.ff.sigma=0.05"
    };
    df_config cfg;
    parse_conf("mnist-adaptive-fastfood-1024.conf", sets, 3, &cfg);
    assert_int_equal(cfg.solver.batch, 128);
    const df_layer_spec *ff = &cfg.layers[df_config_find_layer(&cfg, "ff")];
    assert_int_equal(ff->features, 2048);
    assert_true(ff->sigma == 0.05f);
    assert_int_equal(ff->sigma_set, 1);
}

static void override_may_set_a_key_absent_from_the_file(void **state)
{
    (void)state;
    static const char *const sets[] = {
        "run.name=exp7", "solver.lr_policy=step", "solver.stepsize=300",
        "data.holdout=5000", "data.eval_on=holdout"
    };
    df_config cfg;
    parse_ok(DATA NET, "t.conf", sets, 5, &cfg);
    /* directories resolve after overrides */
    assert_string_equal(cfg.run.dir, "runs/exp7");
    assert_string_equal(cfg.checkpoint.dir, "runs/exp7");
    assert_int_equal(cfg.solver.lr_policy, DF_LR_STEP);
    assert_int_equal(cfg.solver.stepsize, 300);
    assert_true(cfg.solver.gamma == 0.1);
    assert_int_equal(cfg.data.eval_holdout, 1);
}

static void checkpoint_dir_follows_overridden_run_dir(void **state)
{
    (void)state;
    static const char *const sets[] = { "run.dir=/scratch/r1" };
    df_config cfg;
    parse_ok(DATA NET, "t.conf", sets, 1, &cfg);
    assert_string_equal(cfg.checkpoint.dir, "/scratch/r1");
}

static void bad_overrides_fail_naming_the_override_and_key(void **state)
{
    (void)state;
    static const struct { const char *set, *names; } rows[] = {
        { "solver.batch=abc", "solver.batch" },
        { "solver.batch=0", "solver.batch" },
        { "solver.nokey=1", "solver.nokey" },
        { "nolayer.features=8", "nolayer" },
        { "ff.kernel=3", "layer ff.kernel" },
        { "conv1.bias=false", "layer conv1.bias" },   /* only dense layers may drop it */
        { "layer.ff.bogus=3", "layer ff.bogus" },
        { "solver.batch", "solver.batch" },
        { "batch=3", "batch" },
        { "layer.ff=1", "layer.ff" },
        { "data.train_images=x #y", "data.train_images" },
        { "ff.type=dense", "layer ff.features" },  /* features is not a dense key */
        { "solver.lr_policy=step", "solver.stepsize" },
    };
    df_config cfg;
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        df_error err = { 0 };
        const char *sets[1] = { rows[i].set };
        char prefix[128];
        int rc = df_config_parse(&cfg, DATA NET, "t.conf", sets, 1, 0, &err);
        if (rc != DF_EINPUT)
            fail_msg("--set %s: rc %d, want DF_EINPUT", rows[i].set, rc);
        snprintf(prefix, sizeof prefix, "--set %s", rows[i].set);
        assert_one_line(err.msg);
        assert_contains(err.msg, prefix);
        assert_contains(err.msg, rows[i].names);
    }
}

/* ---- text round trip ---- */

static char *round_trip(const df_config *cfg, df_config *back)
{
    df_error err = { 0 };
    char *text = df_config_to_text(cfg);
    assert_non_null(text);
    if (df_config_parse(back, text, "round-trip", NULL, 0, 0, &err) != 0)
        fail_msg("to_text output does not parse: %s\n%s", err.msg, text);
    return text;
}

/* Equal except where it was read from (path, header line numbers). */
static void assert_same_config(df_config *a, df_config *b, const char *text)
{
    memset(a->path, 0, sizeof a->path);
    memset(b->path, 0, sizeof b->path);
    for (int i = 0; i < DF_MAX_LAYERS; i++)
        a->layers[i].line = b->layers[i].line = 0;
    if (memcmp(a, b, sizeof *a) != 0) {
        char *again = df_config_to_text(b);
        fail_msg("round trip changed the config:\n%s\n---- read back as ----\n%s",
                 text, again ? again : "(null)");
    }
}

static void round_trip_one(const char *file, const df_config *cfg)
{
    df_config *a = malloc(sizeof *a), *b = malloc(sizeof *b);
    assert_non_null(a);
    assert_non_null(b);
    (void)file;
    memcpy(a, cfg, sizeof *a);
    char *text = round_trip(a, b);
    assert_same_config(a, b, text);
    free(text);
    free(a);
    free(b);
}

static void every_conf_round_trips_through_text(void **state)
{
    (void)state;
    assert_true(for_each_conf(round_trip_one) >= 11);
}

static void unusual_values_round_trip_exactly(void **state)
{
    (void)state;
    static const char *const sets[] = {
        "run.seed=18446744073709551615", "run.threads=7", "run.dir=/tmp/a b/c",
        "data.scale=0.1", "data.holdout=123", "data.holdout_start=40000",
        "data.eval_on=holdout",
        "solver.base_lr=0.123456789012345", "solver.momentum=0.95",
        "solver.weight_decay=1e-7", "solver.lr_policy=cosine", "solver.min_lr=1e-6",
        "solver.warmup=50", "solver.iterations=1099511627776",
        "checkpoint.interval=7", "checkpoint.keep=9", "checkpoint.dir=ck",
        "comm.bucket_kb=1", "comm.dtype=bf16",
        "conv1.weight_filler=gaussian", "conv1.weight_std=0.3333333",
        "conv1.pad=1", "conv1.stride=2", "conv1.lr_mult=0",
        "ff.adaptive=false", "ff.sigma=0.001", "ff.dropout_perm=0.25",
        "ff.dropout_input=0.1", "ff.decay_mult=0", "drop.ratio=0.3",
        "ip2.bias_decay_mult=0", "pool1.pad=1", "ip2.bias=false",
    };
    df_config cfg;
    parse_ok(DATA NET, "t.conf", sets, (int)(sizeof sets / sizeof sets[0]), &cfg);
    round_trip_one("unusual", &cfg);
}

static void to_text_writes_every_key_with_defaults(void **state)
{
    (void)state;
    static const char *const keys[] = {
        "[run]", "name = ", "dir = ", "seed = 1\n", "threads = 0\n",
        "[data]", "scale = 0.00390625\n", "holdout = 0\n", "holdout_start = -1\n",
        "eval_on = test\n",
        "[solver]", "batch = 64\n", "iterations = 10000\n", "display = 100\n",
        "test_interval = 500\n", "base_lr = 0.01\n", "momentum = 0.9\n",
        "weight_decay = 0.0005\n", "lr_policy = inv\n", "gamma = 0.0001\n",
        "power = 0.75\n", "stepsize = 0\n", "min_lr = 0\n", "warmup = 0\n",
        "[checkpoint]", "interval = 0\n", "keep = 3\n",
        "[comm]", "bucket_kb = 256\n", "dtype = fp32\n",
        "[layer conv1]\ntype = conv\noutputs = 4\nkernel = 3\nstride = 1\npad = 0\n",
        "bias_lr_mult = 2\n", "[layer relu1]\ntype = relu\n\n",
        "[layer ip2]\ntype = dense\noutputs = 10\nweight_filler = xavier\n"
        "weight_std = 0.01\nbias = true\n",
    };
    df_config cfg;
    parse_ok(DATA NET, "t.conf", NULL, 0, &cfg);
    char *text = df_config_to_text(&cfg);
    assert_non_null(text);
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++)
        assert_contains(text, keys[i]);
    free(text);
}

/* ---- bad input: one row per class of error ---- */

typedef struct bad_case {
    const char *name;   /* the test's name: the property */
    const char *text;
    int line;           /* expected in "t.conf:LINE:"; 0: no line */
    const char *key;    /* expected in the message */
    const char *what;   /* expected in the message */
} bad_case;

static const bad_case bad_cases[] = {
    { "unknown_section_is_rejected", "[solverr]\nbatch = 1\n" DATA NET, 1,
      "[solverr]", "unknown section" },
    { "unknown_key_is_rejected", "[solver]\nbatchsize = 64\n" DATA NET, 2,
      "'solver.batchsize'", "unknown key" },
    { "unknown_layer_key_lists_the_keys_of_its_type",
      DATA "[layer p]\ntype = maxpool\nkernel = 2\nwidth = 3\n" LOSS, 9,
      "'layer p.width'", "kernel, stride, pad" },
    { "key_of_another_layer_type_names_the_types_it_belongs_to",
      DATA "[layer p]\ntype = maxpool\nkernel = 2\noutputs = 3\n" LOSS, 9,
      "'layer p.outputs'", "conv, dense" },
    { "key_given_before_type_is_checked_against_the_type",
      DATA "[layer p]\noutputs = 3\ntype = maxpool\nkernel = 2\n" LOSS, 7,
      "'layer p.outputs'", "not a key of a maxpool layer" },
    { "duplicate_key_is_rejected", "[solver]\nbatch = 64\nbatch = 32\n" DATA NET, 3,
      "'solver.batch'", "duplicate key (first given on line 2)" },
    { "duplicate_layer_key_is_rejected",
      DATA "[layer c]\ntype = conv\noutputs = 2\nkernel = 3\nkernel = 5\n" LOSS, 10,
      "'layer c.kernel'", "duplicate key" },
    { "duplicate_section_is_rejected", "[solver]\nbatch = 1\n[solver]\n" DATA NET, 3,
      "[solver]", "duplicate section (first on line 1)" },
    { "duplicate_layer_name_is_rejected",
      DATA "[layer a]\ntype = relu\n[layer a]\ntype = relu\n" LOSS, 8,
      "[layer a]", "duplicate layer name (first on line 6)" },
    { "line_without_equals_is_rejected", "[solver]\nbatch 64\n" DATA NET, 2,
      "solver", "no '='" },
    { "line_without_key_is_rejected", "[solver]\n= 64\n" DATA NET, 2,
      "= 64", "missing key" },
    { "key_outside_any_section_is_rejected", "batch = 64\n" DATA NET, 1,
      "batch", "outside any section" },
    { "header_without_closing_bracket_is_rejected", "[solver\nbatch = 1\n" DATA NET, 1,
      "[solver", "must end with ']'" },
    { "empty_value_is_rejected", "[solver]\nbatch =\n" DATA NET, 2,
      "'solver.batch'", "empty value" },
    { "integer_with_trailing_junk_is_rejected", "[solver]\nbatch = 12x\n" DATA NET, 2,
      "'solver.batch'", "not an integer" },
    { "fractional_integer_is_rejected", "[solver]\ndisplay = 1.5\n" DATA NET, 2,
      "'solver.display'", "not an integer" },
    { "integer_overflow_is_rejected",
      "[solver]\niterations = 99999999999999999999999\n" DATA NET, 2,
      "'solver.iterations'", "between 1 and 1099511627776" },
    { "malformed_float_is_rejected", "[solver]\nbase_lr = 0.0.1\n" DATA NET, 2,
      "'solver.base_lr'", "not a finite decimal number" },
    { "nan_is_rejected", "[solver]\nbase_lr = nan\n" DATA NET, 2,
      "'solver.base_lr'", "not a finite" },
    { "infinity_is_rejected", "[solver]\nweight_decay = inf\n" DATA NET, 2,
      "'solver.weight_decay'", "not a finite" },
    { "hex_float_is_rejected", "[solver]\nbase_lr = 0x1p-3\n" DATA NET, 2,
      "'solver.base_lr'", "not a finite" },
    { "double_overflow_is_rejected", "[solver]\nbase_lr = 1e999\n" DATA NET, 2,
      "'solver.base_lr'", "must be > 0" },
    { "float_overflow_is_rejected", "[data]\nscale = 1e39\ntrain_images = a\n", 2,
      "'data.scale'", "must be > 0" },
    { "bad_bool_is_rejected", DATA "[layer f]\ntype = fastfood\nfeatures = 8\nadaptive = yes\n" LOSS,
      9, "'layer f.adaptive'", "false, true" },
    { "bad_lr_policy_is_rejected", "[solver]\nlr_policy = exp\n" DATA NET, 2,
      "'solver.lr_policy'", "fixed, step, inv, cosine" },
    { "bad_comm_dtype_is_rejected", "[comm]\ndtype = fp16\n" DATA NET, 2,
      "'comm.dtype'", "fp32, bf16" },
    { "bad_weight_filler_is_rejected",
      DATA "[layer c]\ntype = conv\noutputs = 2\nkernel = 3\nweight_filler = msra\n" LOSS, 10,
      "'layer c.weight_filler'", "xavier, gaussian" },
    { "zero_batch_is_out_of_range", "[solver]\nbatch = 0\n" DATA NET, 2,
      "'solver.batch'", "between 1 and 1048576" },
    { "zero_display_is_out_of_range", "[solver]\ndisplay = 0\n" DATA NET, 2,
      "'solver.display'", "between 1 and" },
    { "zero_iterations_is_out_of_range", "[solver]\niterations = 0\n" DATA NET, 2,
      "'solver.iterations'", "between 1 and" },
    { "momentum_of_one_is_out_of_range", "[solver]\nmomentum = 1\n" DATA NET, 2,
      "'solver.momentum'", "[0, 1)" },
    { "negative_weight_decay_is_out_of_range", "[solver]\nweight_decay = -0.1\n" DATA NET, 2,
      "'solver.weight_decay'", ">= 0" },
    { "dropout_ratio_of_one_is_out_of_range",
      DATA "[layer d]\ntype = dropout\nratio = 1.0\n" LOSS, 8, "'layer d.ratio'", "[0, 1)" },
    { "fastfood_dropout_of_one_is_out_of_range",
      DATA "[layer f]\ntype = fastfood\nfeatures = 8\ndropout_scale = 1\n" LOSS, 9,
      "'layer f.dropout_scale'", "[0, 1)" },
    { "zero_sigma_is_out_of_range",
      DATA "[layer f]\ntype = fastfood\nfeatures = 8\nsigma = 0\n" LOSS, 9,
      "'layer f.sigma'", "must be > 0" },
    { "kernel_over_bound_names_the_bound",
      DATA "[layer c]\ntype = conv\noutputs = 2\nkernel = 65\n" LOSS, 9,
      "'layer c.kernel'", "between 1 and 64" },
    { "features_over_bound_names_the_bound",
      DATA "[layer f]\ntype = fastfood\nfeatures = 16777217\n" LOSS, 8,
      "'layer f.features'", "between 1 and 16777216" },
    { "negative_seed_is_rejected", "[run]\nseed = -1\n" DATA NET, 2,
      "'run.seed'", "non-negative" },
    { "negative_holdout_is_rejected", "[data]\nholdout = -1\n", 2,
      "'data.holdout'", "between 0 and" },
    { "holdout_start_below_minus_one_is_rejected",
      "[data]\nholdout = 10\nholdout_start = -2\n", 3, "'data.holdout_start'", "between -1 and" },
    { "zero_keep_is_out_of_range", "[checkpoint]\nkeep = 0\n" DATA NET, 2,
      "'checkpoint.keep'", "between 1 and" },
    { "zero_bucket_is_out_of_range", "[comm]\nbucket_kb = 0\n" DATA NET, 2,
      "'comm.bucket_kb'", "between 1 and" },
    { "layer_name_too_long_is_rejected", DATA "[layer " X64 "]\ntype = relu\n" LOSS, 6,
      X64, "longer than 63" },
    { "run_name_too_long_is_rejected", "[run]\nname = " X64 "\n" DATA NET, 2,
      "'run.name'", "longer than 63" },
    { "run_name_with_a_slash_is_rejected", "[run]\nname = a/b\n" DATA NET, 2,
      "'run.name'", "may only contain" },
    { "path_too_long_is_rejected", "[data]\ntrain_images = " X1024 "\n", 2,
      "'data.train_images'", "longer than 1023" },
    { "section_name_as_layer_name_is_rejected", DATA "[layer solver]\ntype = relu\n" LOSS, 6,
      "[layer solver]", "section name" },
    { "layer_name_with_bad_characters_is_rejected", DATA "[layer a.b]\ntype = relu\n" LOSS, 6,
      "[layer a.b]", "letters, digits" },
    { "layer_without_name_is_rejected", DATA "[layer]\ntype = relu\n" LOSS, 6,
      "[layer", "needs a name" },
    { "layer_without_type_is_rejected", DATA "[layer c]\noutputs = 3\n" LOSS, 6,
      "'layer c.type'", "missing" },
    { "unknown_layer_type_is_rejected", DATA "[layer c]\ntype = fullyconnected\n" LOSS, 7,
      "'layer c.type'", "conv, maxpool, relu, dense, fastfood, dropout, softmax_loss" },
    { "layer_missing_required_key_is_rejected",
      DATA "[layer c]\ntype = conv\nkernel = 3\n" LOSS, 6, "'layer c.outputs'", "missing" },
    { "fastfood_without_features_is_rejected", DATA "[layer f]\ntype = fastfood\n" LOSS, 6,
      "'layer f.features'", "missing" },
    { "maxpool_pad_not_below_kernel_is_rejected",
      DATA "[layer p]\ntype = maxpool\nkernel = 2\npad = 2\n" LOSS, 9, "'layer p.pad'",
      "less than kernel" },
    { "config_without_layers_is_rejected", "[run]\nseed = 1\n" DATA, 0,
      "t.conf", "no [layer NAME] sections" },
    { "empty_config_is_rejected", "", 0, "t.conf", "no [layer NAME]" },
    { "last_layer_not_softmax_loss_is_rejected", DATA "[layer r]\ntype = relu\n", 7,
      "'layer r.type'", "last layer must be softmax_loss (got 'relu')" },
    { "softmax_loss_before_the_end_is_rejected",
      DATA "[layer loss]\ntype = softmax_loss\n[layer r]\ntype = relu\n", 7,
      "'layer loss.type'", "must be the last layer, but layer 'r' follows" },
    { "step_policy_without_stepsize_is_rejected", "[solver]\nlr_policy = step\n" DATA NET, 2,
      "'solver.lr_policy'", "solver.stepsize" },
    { "eval_on_holdout_without_holdout_is_rejected",
      "[data]\neval_on = holdout\ntrain_images = a\ntrain_labels = b\n"
      "test_images = c\ntest_labels = d\n" NET, 2, "'data.eval_on'", "data.holdout > 0" },
    { "missing_data_path_is_rejected",
      "[data]\ntrain_images = a\ntrain_labels = b\ntest_images = c\n" NET, 1,
      "'data.test_labels'", "missing" },
};
#define N_BAD_CASES (sizeof bad_cases / sizeof bad_cases[0])

static void bad_config_is_refused_with_line_and_key(void **state)
{
    const bad_case *c = *state;
    df_config cfg;
    df_error err = { 0 };
    int rc = df_config_parse(&cfg, c->text, "t.conf", NULL, 0, 0, &err);
    if (rc != DF_EINPUT)
        fail_msg("%s: rc %d, want DF_EINPUT (%s)", c->name, rc, err.msg);
    assert_one_line(err.msg);
    if (c->line) {
        char where[32];
        snprintf(where, sizeof where, "t.conf:%d: ", c->line);
        assert_contains(err.msg, where);
    }
    assert_contains(err.msg, c->key);
    assert_contains(err.msg, c->what);
}

static void more_than_max_layers_is_rejected(void **state)
{
    (void)state;
    size_t cap = 64 * (DF_MAX_LAYERS + 2) + 256, used = 0;
    char *text = malloc(cap);
    assert_non_null(text);
    used += (size_t)snprintf(text, cap, DATA);
    for (int i = 0; i < DF_MAX_LAYERS + 1; i++)
        used += (size_t)snprintf(text + used, cap - used, "[layer r%d]\ntype = relu\n", i);
    df_config cfg;
    df_error err = { 0 };
    assert_int_equal(df_config_parse(&cfg, text, "t.conf", NULL, 0, 0, &err), DF_EINPUT);
    /* layer 65's header: 5 data lines + 2 per earlier layer + 1 */
    char where[32];
    snprintf(where, sizeof where, "t.conf:%d: ", 5 + 2 * DF_MAX_LAYERS + 1);
    assert_contains(err.msg, where);
    assert_contains(err.msg, "more than 64 layers");
    free(text);
}

static void text_over_size_limit_is_rejected(void **state)
{
    (void)state;
    char *text = malloc(DF_CONFIG_MAX_BYTES + 2);
    assert_non_null(text);
    memset(text, '\n', DF_CONFIG_MAX_BYTES + 1);
    text[DF_CONFIG_MAX_BYTES + 1] = '\0';
    df_config cfg;
    df_error err = { 0 };
    assert_int_equal(df_config_parse(&cfg, text, "t.conf", NULL, 0, 0, &err), DF_EINPUT);
    assert_contains(err.msg, "t.conf");
    assert_contains(err.msg, "1048576");
    free(text);
}

/* ---- df_config_load: files ---- */

typedef struct tmp_dir {
    char path[64];
} tmp_dir;

static int make_tmp(void **state)
{
    tmp_dir *t = malloc(sizeof *t);
    if (!t)
        return -1;
    strcpy(t->path, "/tmp/df-test-config-XXXXXX");
    if (!mkdtemp(t->path)) {
        free(t);
        return -1;
    }
    *state = t;
    return 0;
}

/* The tests only put plain files in their directory. */
static int remove_tmp(void **state)
{
    tmp_dir *t = *state;
    DIR *dir = opendir(t->path);
    struct dirent *e;
    char path[512];
    while (dir && (e = readdir(dir)) != NULL) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        snprintf(path, sizeof path, "%s/%s", t->path, e->d_name);
        unlink(path);
    }
    if (dir)
        closedir(dir);
    int rc = rmdir(t->path);
    free(t);
    return rc;
}

/* A config whose data paths point into dir; the names given in `missing`
 * are not created. */
static void write_config_with_data(const char *dir, const char *conf_path,
                                   const char *missing)
{
    static const char *const files[] = { "tri", "trl", "tei", "tel" };
    char text[4096];
    int n = snprintf(text, sizeof text, "[data]\n");
    static const char *const keys[] = {
        "train_images", "train_labels", "test_images", "test_labels"
    };
    for (int i = 0; i < 4; i++) {
        char path[256];
        snprintf(path, sizeof path, "%s/%s", dir, files[i]);
        n += snprintf(text + n, sizeof text - (size_t)n, "%s = %s\n", keys[i], path);
        if (!missing || strcmp(missing, files[i]) != 0)
            write_file(path, "x", 1);
    }
    n += snprintf(text + n, sizeof text - (size_t)n, "%s", NET);
    write_file(conf_path, text, (size_t)n);
}

static void load_reads_a_file_whose_data_exists(void **state)
{
    tmp_dir *t = *state;
    char conf[256];
    snprintf(conf, sizeof conf, "%s/exp.conf", t->path);
    write_config_with_data(t->path, conf, NULL);
    df_config cfg;
    df_error err = { 0 };
    if (df_config_load(&cfg, conf, NULL, 0, &err) != 0)
        fail_msg("%s", err.msg);
    assert_string_equal(cfg.path, conf);
    assert_string_equal(cfg.run.name, "exp");
}

static void missing_data_file_names_path_file_line_and_key(void **state)
{
    tmp_dir *t = *state;
    char conf[256], missing[256], where[300];
    snprintf(conf, sizeof conf, "%s/exp.conf", t->path);
    snprintf(missing, sizeof missing, "%s/tei", t->path);
    write_config_with_data(t->path, conf, "tei");
    df_config cfg;
    df_error err = { 0 };
    assert_int_equal(df_config_load(&cfg, conf, NULL, 0, &err), DF_EINPUT);
    assert_one_line(err.msg);
    snprintf(where, sizeof where, "%s:4: ", conf);  /* test_images is line 4 */
    assert_contains(err.msg, where);
    assert_contains(err.msg, "'data.test_images'");
    assert_contains(err.msg, missing);
}

static void missing_data_file_from_override_names_the_override(void **state)
{
    tmp_dir *t = *state;
    char conf[256], set[300];
    snprintf(conf, sizeof conf, "%s/exp.conf", t->path);
    snprintf(set, sizeof set, "data.train_labels=%s/nope", t->path);
    write_config_with_data(t->path, conf, NULL);
    const char *sets[1] = { set };
    df_config cfg;
    df_error err = { 0 };
    assert_int_equal(df_config_load(&cfg, conf, sets, 1, &err), DF_EINPUT);
    assert_contains(err.msg, "--set data.train_labels=");
    assert_contains(err.msg, "'data.train_labels'");
    assert_contains(err.msg, "/nope");
}

static void load_error(const char *path, df_error *err)
{
    df_config cfg;
    assert_int_equal(df_config_load(&cfg, path, NULL, 0, err), DF_EINPUT);
    assert_one_line(err->msg);
    assert_contains(err->msg, path);
}

static void nonexistent_config_file_is_named(void **state)
{
    tmp_dir *t = *state;
    char conf[256];
    df_error err = { 0 };
    snprintf(conf, sizeof conf, "%s/absent.conf", t->path);
    load_error(conf, &err);
    assert_contains(err.msg, "cannot open");
}

static void directory_as_config_is_rejected(void **state)
{
    tmp_dir *t = *state;
    df_error err = { 0 };
    load_error(t->path, &err);
    assert_contains(err.msg, "is a directory");
}

static void empty_config_file_is_rejected(void **state)
{
    tmp_dir *t = *state;
    char conf[256];
    df_error err = { 0 };
    snprintf(conf, sizeof conf, "%s/empty.conf", t->path);
    write_file(conf, "", 0);
    load_error(conf, &err);
    assert_contains(err.msg, "no [layer NAME]");
}

static void nul_byte_in_config_file_is_rejected_with_its_line(void **state)
{
    tmp_dir *t = *state;
    char conf[256], where[300];
    static const char bytes[] = "[solver]\nbatch = 6\0" "4\n";
    df_error err = { 0 };
    snprintf(conf, sizeof conf, "%s/nul.conf", t->path);
    write_file(conf, bytes, sizeof bytes - 1);
    load_error(conf, &err);
    snprintf(where, sizeof where, "%s:2: ", conf);
    assert_contains(err.msg, where);
    assert_contains(err.msg, "NUL");
}

static void config_file_over_size_limit_is_rejected(void **state)
{
    tmp_dir *t = *state;
    char conf[256];
    df_error err = { 0 };
    char *big = malloc(DF_CONFIG_MAX_BYTES + 1);
    assert_non_null(big);
    memset(big, '\n', DF_CONFIG_MAX_BYTES + 1);
    snprintf(conf, sizeof conf, "%s/big.conf", t->path);
    write_file(conf, big, DF_CONFIG_MAX_BYTES + 1);
    free(big);
    load_error(conf, &err);
    assert_contains(err.msg, "larger than 1048576 bytes");
}

/* ---- small API ---- */

static void layer_type_names_are_the_config_spellings(void **state)
{
    (void)state;
    assert_string_equal(df_layer_type_name(DF_LAYER_CONV), "conv");
    assert_string_equal(df_layer_type_name(DF_LAYER_MAXPOOL), "maxpool");
    assert_string_equal(df_layer_type_name(DF_LAYER_RELU), "relu");
    assert_string_equal(df_layer_type_name(DF_LAYER_DENSE), "dense");
    assert_string_equal(df_layer_type_name(DF_LAYER_FASTFOOD), "fastfood");
    assert_string_equal(df_layer_type_name(DF_LAYER_DROPOUT), "dropout");
    assert_string_equal(df_layer_type_name(DF_LAYER_SOFTMAX_LOSS), "softmax_loss");
}

static void find_layer_returns_index_or_minus_one(void **state)
{
    (void)state;
    df_config cfg;
    parse_conf("mnist-lenet-reference.conf", NULL, 0, &cfg);
    assert_int_equal(df_config_find_layer(&cfg, "conv1"), 0);
    assert_int_equal(df_config_find_layer(&cfg, "ip1"), 4);
    assert_int_equal(df_config_find_layer(&cfg, "loss"), 7);
    assert_int_equal(df_config_find_layer(&cfg, "ff"), -1);
    assert_int_equal(df_config_find_layer(&cfg, ""), -1);
}

#define TMP_TEST(f) cmocka_unit_test_setup_teardown(f, make_tmp, remove_tmp)

int main(void)
{
    static const struct CMUnitTest fixed[] = {
        cmocka_unit_test(every_conf_file_parses_with_shared_settings),
        cmocka_unit_test(reference_is_caffe_lenet_in_order),
        cmocka_unit_test(fastfood_rows_match_their_file_names),
        cmocka_unit_test(unset_keys_take_documented_defaults),
        cmocka_unit_test(step_policy_defaults_gamma_to_a_tenth),
        cmocka_unit_test(comments_blank_lines_and_crlf_are_ignored),
        cmocka_unit_test(overrides_replace_values_from_the_file),
        cmocka_unit_test(override_may_set_a_key_absent_from_the_file),
        cmocka_unit_test(checkpoint_dir_follows_overridden_run_dir),
        cmocka_unit_test(bad_overrides_fail_naming_the_override_and_key),
        cmocka_unit_test(every_conf_round_trips_through_text),
        cmocka_unit_test(unusual_values_round_trip_exactly),
        cmocka_unit_test(to_text_writes_every_key_with_defaults),
        cmocka_unit_test(more_than_max_layers_is_rejected),
        cmocka_unit_test(text_over_size_limit_is_rejected),
        TMP_TEST(load_reads_a_file_whose_data_exists),
        TMP_TEST(missing_data_file_names_path_file_line_and_key),
        TMP_TEST(missing_data_file_from_override_names_the_override),
        TMP_TEST(nonexistent_config_file_is_named),
        TMP_TEST(directory_as_config_is_rejected),
        TMP_TEST(empty_config_file_is_rejected),
        TMP_TEST(nul_byte_in_config_file_is_rejected_with_its_line),
        TMP_TEST(config_file_over_size_limit_is_rejected),
        cmocka_unit_test(layer_type_names_are_the_config_spellings),
        cmocka_unit_test(find_layer_returns_index_or_minus_one),
    };
    size_t n_fixed = sizeof fixed / sizeof fixed[0];
    /* one named test per class of bad input */
    struct CMUnitTest *tests = calloc(n_fixed + N_BAD_CASES, sizeof *tests);
    if (!tests)
        return 1;
    memcpy(tests, fixed, sizeof fixed);
    for (size_t i = 0; i < N_BAD_CASES; i++) {
        tests[n_fixed + i].name = bad_cases[i].name;
        tests[n_fixed + i].test_func = bad_config_is_refused_with_line_and_key;
        tests[n_fixed + i].initial_state = (void *)&bad_cases[i];
    }
    int failed = _cmocka_run_group_tests("config", tests, n_fixed + N_BAD_CASES, NULL, NULL);
    free(tests);
    return failed;
}
