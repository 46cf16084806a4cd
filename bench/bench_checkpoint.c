/* Checkpoint size and save/load time for the paper's MNIST models and for
 * an ImageNet-size Fastfood layer on its own (docs/checkpoint-format.md
 * has the table). Built by `make`, never run by `make check`:
 *
 *     bench/bench_checkpoint [CONF_DIR [SCRATCH_DIR]]
 *
 * CONF_DIR (default "conf") holds the .conf files; SCRATCH_DIR (default
 * /tmp) gets a temporary directory that is removed at the end. Each save
 * includes momentum and 100 metrics rows, as the trainer writes them, and
 * the fsyncs; the median of 5 is reported. */
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "deepfried/checkpoint.h"
#include "deepfried/config.h"
#include "deepfried/net.h"
#include "deepfried/rng.h"

#define REPS 5

/* One Fastfood layer on a 96x96 image (9216 inputs, padded to d = 16384). */
static const char *imagenet_ff_fmt =
    "[run]\nname = bench-ff\n"
    "[data]\ntrain_images = x\ntrain_labels = x\ntest_images = x\ntest_labels = x\n"
    "[layer ff]\ntype = fastfood\nfeatures = %d\n"
    "[layer ip]\ntype = dense\noutputs = 10\n"
    "[layer loss]\ntype = softmax_loss\n";

typedef struct model {
    const char *label;
    const char *conf_file;      /* under CONF_DIR, or NULL: */
    int ff_features;            /* the ImageNet-size layer with this many */
    int in_h, in_w;
} model;

static double now_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    return v[n / 2];
}

static int load_config(const model *m, const char *conf_dir, df_config *cfg, df_error *err)
{
    if (m->conf_file) {
        char path[DF_PATH_MAX];
        snprintf(path, sizeof path, "%s/%s", conf_dir, m->conf_file);
        return df_config_load_file(cfg, path, NULL, 0, 0, err);
    }
    char text[1024];
    snprintf(text, sizeof text, imagenet_ff_fmt, m->ff_features);
    return df_config_parse(cfg, text, m->label, NULL, 0, 0, err);
}

/* Save REPS times, load REPS times; print one table row. */
static int bench_model(const model *m, const char *conf_dir, const char *dir, df_error *err)
{
    df_config *cfg = calloc(1, sizeof *cfg);
    df_net net;
    df_metrics metrics = {0};
    float *momentum = NULL;
    if (!cfg)
        return df_fail(err, DF_ENOMEM, "out of memory");
    int rc = load_config(m, conf_dir, cfg, err);
    if (rc == DF_OK)
        rc = df_net_build(&net, cfg->layers, cfg->n_layers, 1, m->in_h, m->in_w, 1, err);
    if (rc) {
        free(cfg);
        return rc;
    }
    df_net_init_params(&net, 1);
    momentum = df_calloc(net.n_params, sizeof(float), err);
    for (size_t i = 0; momentum && i < net.n_params; i++)
        momentum[i] = 0.01f * (2.0f * df_rng_uniform(99, i) - 1.0f);
    for (int r = 0; momentum && rc == DF_OK && r < 100; r++) {
        df_metrics_row row = {100 * (r + 1), 0.1 * r, 0.5, 0.01, 0.1, 0.05, 0.2, 5000, 1, 2};
        rc = df_metrics_add(&metrics, &row, err);
    }
    rc = momentum ? rc : DF_ENOMEM;
    double save_s[REPS], load_s[REPS];
    char path[DF_PATH_MAX + 64];
    df_ckpt_meta meta = {0, 0.0, 1, 1, 64, "", ""};
    for (int r = 0; rc == DF_OK && r < REPS; r++) {
        meta.step = 1000 * (r + 1);
        double t0 = now_s();
        rc = df_checkpoint_save(dir, &net, momentum, cfg, &metrics, &meta, 2, path,
                                sizeof path, err);
        save_s[r] = now_s() - t0;
        t0 = now_s();
        if (rc == DF_OK)
            rc = df_checkpoint_load(path, &net, momentum, &metrics, NULL, err);
        load_s[r] = now_s() - t0;
    }
    struct stat st;
    if (rc == DF_OK && stat(path, &st) == 0)
        printf("| %-34s | %10zu | %10.2f | %8.1f | %8.1f |\n", m->label, net.n_params,
               (double)st.st_size / 1e6, 1e3 * median(save_s, REPS),
               1e3 * median(load_s, REPS));
    df_metrics_free(&metrics);
    free(momentum);
    df_net_free(&net);
    free(cfg);
    return rc;
}

static int rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb, (void)flag, (void)ftw;
    return remove(path);
}

int main(int argc, char **argv)
{
    const char *conf_dir = argc > 1 ? argv[1] : "conf";
    const char *scratch = argc > 2 ? argv[2] : "/tmp";
    const model models[] = {
        {"LeNet reference (MNIST)", "mnist-lenet-reference.conf", 0, 28, 28},
        {"Adaptive Fastfood 1024 (MNIST)", "mnist-adaptive-fastfood-1024.conf", 0, 28, 28},
        {"Fastfood 9216 -> 16384, dense 10", NULL, 16384, 96, 96},
        {"Fastfood 9216 -> 32768, dense 10", NULL, 32768, 96, 96},
    };
    char dir[DF_PATH_MAX];
    snprintf(dir, sizeof dir, "%s/df-bench-ckpt-XXXXXX", scratch);
    if (!mkdtemp(dir)) {
        perror(dir);
        return 1;
    }
    printf("| %-34s | %10s | %10s | %8s | %8s |\n", "model", "params", "file (MB)",
           "save ms", "load ms");
    printf("|%s|%s|%s|%s|%s|\n", "------------------------------------", "-----------:",
           "-----------:", "---------:", "---------:");
    int status = 0;
    for (size_t i = 0; i < sizeof models / sizeof *models; i++) {
        df_error err = {0, ""};
        if (bench_model(&models[i], conf_dir, dir, &err) != DF_OK) {
            fprintf(stderr, "bench_checkpoint: %s\n", err.msg);
            status = 1;
        }
    }
    nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
    return status;
}
