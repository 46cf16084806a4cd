/* End-to-end training throughput: images/s of full training steps for the
 * reference LeNet and the Adaptive Fastfood 1024 and 2048 LeNets, and
 * where a step's time goes layer by layer (docs/performance.md). Built by
 * `make`, never run by `make check`; run from the top of the source tree:
 *
 *     bench/bench_train [--steps N] [--reps N] [--warmup N] [--threads 1,2]
 *                       [--models reference,fastfood-1024,fastfood-2048]
 *                       [--srcdir DIR] [--data DIR] [--cpu-time]
 *
 * A model is its conf/ file read through the library's config parser and
 * built with df_net_build, batch 64. A step is what one process of
 * `deepfried train` does: sample and gather the batch, zero the gradients,
 * forward with the loss, backward through the (single-rank, MPI-free)
 * gradient reducer, then the SGD update at the config's learning rate.
 * Images are real MNIST (data/mnist/) when present, else the embedded
 * sample (data/mnist-sample/).
 *
 * Threads are the config's run.threads, which training hands to the
 * layers (df_net_set_threads: convolutions, pooling and dense layers split
 * the batch over them, each thread calling a one-thread BLAS, and the
 * solver its update; the Fastfood layer, ReLU and the loss run on one
 * thread). Per
 * (model, threads): a fresh network, --warmup untimed steps, then --reps
 * timed blocks of --steps steps each; images/s is the median block. Then
 * one more block with the net's per-layer profile on (timed apart, so the
 * profile's clock reads do not touch the throughput figures) gives each
 * layer's forward and backward time and its share of the step; "rest" is
 * the step minus its layers (data gather, gradient zeroing, solver). The
 * profile is always on the wall clock.
 *
 * Last, one line per (model, threads) for scripts (bench/compare-pytorch.sh):
 *     result impl=deepfried model=M threads=T batch=64 img_s=X ...
 * Wall clock, or with --cpu-time (one thread only) this thread's CPU time,
 * which leaves out the time other processes hold the core: for comparing
 * two builds on a busy machine, not for figures to publish. */
#include <cblas.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common.h"
#include "deepfried/config.h"
#include "deepfried/data.h"
#include "deepfried/dist.h"
#include "deepfried/error.h"
#include "deepfried/net.h"
#include "deepfried/solver.h"
#include "deepfried/train.h"

#define BATCH 64
#define MAX_REPS 101
#define MAX_THREADS 8   /* entries in --threads */

typedef struct model_def {
    const char *name;   /* as --models and the tables spell it */
    const char *conf;   /* under the source tree */
} model_def;

static const model_def all_models[] = {
    {"reference", "conf/mnist-lenet-reference.conf"},
    {"fastfood-1024", "conf/mnist-adaptive-fastfood-1024.conf"},
    {"fastfood-2048", "conf/mnist-adaptive-fastfood-2048.conf"},
};
#define N_MODELS (sizeof all_models / sizeof all_models[0])

typedef struct options {
    int steps, reps, warmup;
    int threads[MAX_THREADS], n_threads;
    int use_model[N_MODELS];
    const char *srcdir, *data;
    int cpu_time;
} options;

/* What one (model, threads) run measured. */
typedef struct measurement {
    double img_s, img_s_min, img_s_max;   /* median, slowest, fastest block */
    double ms_step;                       /* at the median */
    double prof_ms_step;                  /* the profiled block, per step */
    double fwd_ms[DF_MAX_LAYERS], bwd_ms[DF_MAX_LAYERS];   /* per step */
    double final_loss;                    /* mean over the last block */
    size_t n_params;                      /* trainable floats */
} measurement;

/* Everything a training step touches, as train.c holds it. */
typedef struct trainer {
    df_config cfg;
    const df_dataset *data;
    df_dist dist;
    df_net net;
    df_solver solver;
    df_reducer *reducer;
    df_sampler sampler;
    float *x;
    int32_t *y;
    int64_t *idx;
    int64_t step;
} trainer;

static void trainer_free(trainer *t)
{
    df_net_free(&t->net);
    df_solver_free(&t->solver);
    df_reducer_free(t->reducer);
    df_sampler_free(&t->sampler);
    free(t->x);
    free(t->y);
    free(t->idx);
    memset(t, 0, sizeof *t);
}

/* cfg as read from its file, on ds, with BLAS threads -> a fresh network
 * initialised from the config's seed, and its solver, reducer, sampler. */
static int trainer_init(trainer *t, const df_config *cfg, const df_dataset *ds,
                        int threads, df_error *err)
{
    memset(t, 0, sizeof *t);
    t->cfg = *cfg;
    t->cfg.run.threads = threads;
    t->data = ds;
    t->dist.size = t->dist.local_size = 1;   /* df_dist_init's plain process */
    int rc = df_net_build(&t->net, t->cfg.layers, t->cfg.n_layers, ds->channels, ds->rows,
                          ds->cols, BATCH, err);
    if (rc == DF_OK)
        rc = df_solver_init(&t->solver, &t->net, err);
    if (rc == DF_OK) {
        df_net_init_params(&t->net, t->cfg.run.seed);
        t->reducer = df_reducer_create(&t->dist, t->net.grads, t->net.n_params,
                                       (size_t)t->cfg.comm.bucket_kb * 1024,
                                       t->cfg.comm.dtype_bf16, err);
        rc = t->reducer ? DF_OK : err->code;
    }
    if (rc == DF_OK)
        rc = df_sampler_init(&t->sampler, ds->n, t->cfg.run.seed, err);
    if (rc == DF_OK) {
        t->x = df_calloc(BATCH, df_dataset_image_size(ds) * sizeof(float), err);
        t->y = df_calloc(BATCH, sizeof(int32_t), err);
        t->idx = df_calloc(BATCH, sizeof(int64_t), err);
        rc = t->x && t->y && t->idx ? DF_OK : DF_ENOMEM;
    }
    if (rc != DF_OK) {
        trainer_free(t);
        return rc;
    }
    /* as training does (train.c): the layers' threads, a one-thread BLAS */
    openblas_set_num_threads(1);
    rc = df_net_set_threads(&t->net, df_train_threads(&t->cfg, &t->dist), err);
    if (rc != DF_OK)
        trainer_free(t);
    return rc;
}

/* One step of `deepfried train` on one process (train.c: train_step, then
 * the update); returns the batch's summed loss. */
static double train_step(trainer *t)
{
    const df_config *cfg = &t->cfg;
    df_sampler_indices(&t->sampler, t->step * BATCH, BATCH, t->idx);
    df_dataset_gather(t->data, t->idx, BATCH, cfg->data.scale, t->x, t->y);
    memset(t->net.grads, 0, t->net.n_params * sizeof(float));
    df_pass pass = {1, cfg->run.seed, t->step, 0};
    int correct = 0;
    double loss = df_net_forward(&t->net, t->x, t->y, BATCH, &pass, &correct);
    df_reducer_begin(t->reducer);
    df_net_backward(&t->net, t->x, t->y, BATCH, df_reducer_ready, t->reducer);
    df_error ignored;
    df_reducer_finish(t->reducer, &ignored);   /* a world of one: cannot fail */
    df_solver_step(&t->solver, &t->net, df_solver_lr(&cfg->solver, t->step), cfg->solver.momentum,
                   cfg->solver.weight_decay, 1.0f / (float)BATCH);
    t->step++;
    return loss;
}

/* steps steps; returns their time in ns on the benchmark's clock (wall, or
 * CPU with --cpu-time), *loss their mean loss per image. */
static double time_block(trainer *t, int steps, double *loss)
{
    double sum = 0, t0 = bench_now_ns();
    for (int i = 0; i < steps; i++)
        sum += train_step(t);
    double ns = bench_now_ns() - t0;
    *loss = sum / ((double)steps * BATCH);
    return ns;
}

static int measure(const df_config *cfg, const df_dataset *ds, int threads,
                   const options *o, measurement *m, df_error *err)
{
    trainer t;
    int rc = trainer_init(&t, cfg, ds, threads, err);
    if (rc)
        return rc;
    memset(m, 0, sizeof *m);
    m->n_params = t.net.n_params;
    double loss = NAN;
    if (o->warmup > 0)
        time_block(&t, o->warmup, &loss);
    double img_s[MAX_REPS];
    for (int r = 0; r < o->reps; r++)
        img_s[r] = (double)o->steps * BATCH / (1e-9 * time_block(&t, o->steps, &loss));
    m->final_loss = loss;
    m->img_s = bench_median(img_s, (size_t)o->reps);   /* sorts */
    m->img_s_min = img_s[0];
    m->img_s_max = img_s[o->reps - 1];
    m->ms_step = 1e3 * BATCH / m->img_s;

    for (int i = 0; i < t.net.n_layers; i++)
        t.net.layers[i].seconds_forward = t.net.layers[i].seconds_backward = 0;
    t.net.profile = 1;
    bench_use_cpu_time(0);   /* the net's profile reads the wall clock */
    m->prof_ms_step = 1e-6 * time_block(&t, o->steps, &loss) / o->steps;
    bench_use_cpu_time(o->cpu_time);
    for (int i = 0; i < t.net.n_layers; i++) {
        m->fwd_ms[i] = 1e3 * t.net.layers[i].seconds_forward / o->steps;
        m->bwd_ms[i] = 1e3 * t.net.layers[i].seconds_backward / o->steps;
    }
    trainer_free(&t);
    if (!isfinite(m->final_loss))
        return df_fail(err, DF_ENUMERIC, "%s: the training loss became %g",
                       cfg->path, m->final_loss);
    return DF_OK;
}

/* ---- command line ---- */

static int usage(const char *prog)
{
    fprintf(stderr,
            "usage: %s [--steps N] [--reps N] [--warmup N] [--threads 1,2]\n"
            "       [--models reference,fastfood-1024,fastfood-2048] [--srcdir DIR] [--data DIR]\n"
            "       [--cpu-time]\n",
            prog);
    return 2;
}

static int parse_int(const char *s, int lo, int hi, int *out)
{
    char *end;
    long v = strtol(s, &end, 10);
    if (end == s || *end != '\0' || v < lo || v > hi)
        return -1;
    *out = (int)v;
    return 0;
}

static int parse_threads(char *list, options *o)
{
    o->n_threads = 0;
    for (char *tok = strtok(list, ","); tok; tok = strtok(NULL, ",")) {
        if (o->n_threads == MAX_THREADS || parse_int(tok, 1, 1024, &o->threads[o->n_threads]))
            return -1;
        o->n_threads++;
    }
    return o->n_threads > 0 ? 0 : -1;
}

static int parse_models(char *list, options *o)
{
    memset(o->use_model, 0, sizeof o->use_model);
    int any = 0;
    for (char *tok = strtok(list, ","); tok; tok = strtok(NULL, ",")) {
        size_t i = 0;
        while (i < N_MODELS && strcmp(tok, all_models[i].name) != 0)
            i++;
        if (i == N_MODELS) {
            fprintf(stderr, "bench_train: unknown model '%s' (reference, fastfood-1024, "
                    "fastfood-2048)\n", tok);
            return -1;
        }
        o->use_model[i] = any = 1;
    }
    return any ? 0 : -1;
}

static int parse_options(int argc, char **argv, options *o)
{
    *o = (options){.steps = 50, .reps = 7, .warmup = 20, .threads = {1, 2}, .n_threads = 2,
                   .use_model = {1, 1, 1}, .srcdir = ".", .data = NULL, .cpu_time = 0};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        char *v = i + 1 < argc ? argv[i + 1] : NULL;
        int bad;
        if (!strcmp(a, "--cpu-time")) {
            o->cpu_time = 1;
            continue;
        }
        if (!v)
            return -1;
        if (!strcmp(a, "--steps"))
            bad = parse_int(v, 1, 1000000, &o->steps);
        else if (!strcmp(a, "--reps"))
            bad = parse_int(v, 1, MAX_REPS, &o->reps);
        else if (!strcmp(a, "--warmup"))
            bad = parse_int(v, 0, 1000000, &o->warmup);
        else if (!strcmp(a, "--threads"))
            bad = parse_threads(v, o);
        else if (!strcmp(a, "--models"))
            bad = parse_models(v, o);
        else if (!strcmp(a, "--srcdir"))
            o->srcdir = v, bad = 0;
        else if (!strcmp(a, "--data"))
            o->data = v, bad = 0;
        else
            return -1;
        if (bad)
            return -1;
        i++;
    }
    for (int t = 0; o->cpu_time && t < o->n_threads; t++)
        if (o->threads[t] != 1) {
            fprintf(stderr, "bench_train: --cpu-time counts this thread only: use --threads 1\n");
            return -1;
        }
    return 0;
}

/* ---- data and configs ---- */

/* The directory of IDX files: --data, else real MNIST if fetched, else
 * the sample that ships with the sources. */
static void data_dir(const options *o, char *out, size_t size)
{
    if (o->data) {
        snprintf(out, size, "%s", o->data);
        return;
    }
    snprintf(out, size, "%s/data/mnist/train-images-idx3-ubyte.gz", o->srcdir);
    if (access(out, R_OK) == 0)
        snprintf(out, size, "%s/data/mnist", o->srcdir);
    else
        snprintf(out, size, "%s/data/mnist-sample", o->srcdir);
}

/* A model's config with the data paths pointed at dir and batch 64. */
static int load_config(df_config *cfg, const options *o, const model_def *md,
                       const char *dir, df_error *err)
{
    char path[DF_PATH_MAX], set[5][2 * DF_PATH_MAX];
    snprintf(path, sizeof path, "%s/%s", o->srcdir, md->conf);
    snprintf(set[0], sizeof set[0], "data.train_images=%s/train-images-idx3-ubyte.gz", dir);
    snprintf(set[1], sizeof set[1], "data.train_labels=%s/train-labels-idx1-ubyte.gz", dir);
    snprintf(set[2], sizeof set[2], "data.test_images=%s/t10k-images-idx3-ubyte.gz", dir);
    snprintf(set[3], sizeof set[3], "data.test_labels=%s/t10k-labels-idx1-ubyte.gz", dir);
    snprintf(set[4], sizeof set[4], "solver.batch=%d", BATCH);
    const char *overrides[5] = {set[0], set[1], set[2], set[3], set[4]};
    return df_config_load(cfg, path, overrides, 5, err);
}

/* ---- output ---- */

static void print_layer_table(const df_config *cfg, const options *o,
                              const measurement *ms)
{
    printf("\n%s, batch %d: per-layer time (ms per step, forward + backward) and share "
           "of the step\n\n| layer | type |", cfg->run.name, BATCH);
    for (int ti = 0; ti < o->n_threads; ti++)
        printf(" fwd ms (%dt) | bwd ms (%dt) | share (%dt) |", o->threads[ti],
               o->threads[ti], o->threads[ti]);
    printf("\n|---|---|");
    for (int ti = 0; ti < o->n_threads; ti++)
        printf("---:|---:|---:|");
    printf("\n");
    for (int i = 0; i < cfg->n_layers; i++) {
        printf("| %s | %s |", cfg->layers[i].name, df_layer_type_name(cfg->layers[i].type));
        for (int ti = 0; ti < o->n_threads; ti++) {
            const measurement *m = &ms[ti];
            printf(" %.3f | %.3f | %.1f%% |", m->fwd_ms[i], m->bwd_ms[i],
                   100 * (m->fwd_ms[i] + m->bwd_ms[i]) / m->prof_ms_step);
        }
        printf("\n");
    }
    /* the step outside the layers: ms in the share cell */
    printf("| rest | gather, zero grads, update |");
    for (int ti = 0; ti < o->n_threads; ti++) {
        const measurement *m = &ms[ti];
        double layers = 0;
        for (int i = 0; i < cfg->n_layers; i++)
            layers += m->fwd_ms[i] + m->bwd_ms[i];
        double rest = m->prof_ms_step - layers;
        printf(" - | - | %.1f%% = %.3f ms |", 100 * rest / m->prof_ms_step, rest);
    }
    printf("\n| step | profiled block |");
    for (int ti = 0; ti < o->n_threads; ti++)
        printf(" - | - | 100%% = %.3f ms |", ms[ti].prof_ms_step);
    printf("\n");
}

static void print_load(const char *when)
{
    char line[128] = "unknown\n";
    FILE *f = fopen("/proc/loadavg", "r");
    if (f) {
        if (!fgets(line, sizeof line, f))
            snprintf(line, sizeof line, "unknown\n");
        fclose(f);
    }
    printf("# load average at %s: %s", when, line);
}

int main(int argc, char **argv)
{
    options o;
    if (parse_options(argc, argv, &o) != 0)
        return usage(argv[0]);
    bench_use_cpu_time(o.cpu_time);
    char dir[DF_PATH_MAX];
    data_dir(&o, dir, sizeof dir);

    df_config *cfgs = calloc(N_MODELS, sizeof *cfgs);   /* large structs */
    measurement(*ms)[MAX_THREADS] = calloc(N_MODELS, sizeof *ms);
    df_error err = {0, ""};
    df_dataset ds;
    memset(&ds, 0, sizeof ds);
    int status = cfgs && ms ? 0 : 1;
    for (size_t mi = 0; status == 0 && mi < N_MODELS; mi++)
        if (o.use_model[mi] && load_config(&cfgs[mi], &o, &all_models[mi], dir, &err) != DF_OK)
            status = 1;
    if (status == 0) {
        /* every model reads the same training set: load it once */
        size_t first = 0;
        while (!o.use_model[first])
            first++;
        if (df_dataset_load_idx(&ds, cfgs[first].data.train_images,
                                cfgs[first].data.train_labels, DF_IDX_MAX_CLASSES,
                                &err) != DF_OK)
            status = 1;
    }
    if (status) {
        fprintf(stderr, "bench_train: %s\n", err.msg[0] ? err.msg : "out of memory");
        free(cfgs), free(ms);
        return 1;
    }

    bench_print_header("bench_train: end-to-end training steps (forward, loss, backward, "
                       "SGD update), one process");
    printf("# data: %s (%lld training images); batch %d\n", dir, (long long)ds.n, BATCH);
    printf("# threads: run.threads = N -> df_net_set_threads(N): conv, pool and dense layers "
           "and the solver split their work over N threads, BLAS single-threaded; Fastfood, "
           "ReLU and loss on one thread\n");
    printf("# per (model, threads): fresh network, %d warm-up steps, median of %d blocks of "
           "%d steps, then one profiled block of %d steps\n",
           o.warmup, o.reps, o.steps, o.steps);
    printf("\n| model | trainable params | threads | ms / step | images/s | slowest .. fastest "
           "block, images/s |\n|---|---:|---:|---:|---:|---:|\n");
    fflush(stdout);
    for (size_t mi = 0; status == 0 && mi < N_MODELS; mi++) {
        if (!o.use_model[mi])
            continue;
        for (int ti = 0; status == 0 && ti < o.n_threads; ti++) {
            measurement *m = &ms[mi][ti];
            if (measure(&cfgs[mi], &ds, o.threads[ti], &o, m, &err) != DF_OK) {
                fprintf(stderr, "bench_train: %s\n", err.msg);
                status = 1;
                break;
            }
            printf("| %s | %zu | %d | %.3f | %.0f | %.0f .. %.0f |\n", all_models[mi].name,
                   m->n_params, o.threads[ti], m->ms_step, m->img_s, m->img_s_min, m->img_s_max);
            fflush(stdout);
        }
    }
    for (size_t mi = 0; status == 0 && mi < N_MODELS; mi++)
        if (o.use_model[mi])
            print_layer_table(&cfgs[mi], &o, ms[mi]);
    printf("\n");
    print_load("end");
    for (size_t mi = 0; status == 0 && mi < N_MODELS; mi++)
        for (int ti = 0; o.use_model[mi] && ti < o.n_threads; ti++)
            printf("result impl=deepfried model=%s threads=%d batch=%d steps=%d reps=%d "
                   "img_s=%.1f ms_step=%.4f loss=%.4f\n",
                   all_models[mi].name, o.threads[ti], BATCH, o.steps, o.reps,
                   ms[mi][ti].img_s, ms[mi][ti].ms_step, ms[mi][ti].final_loss);
    df_dataset_free(&ds);
    free(cfgs);
    free(ms);
    return status;
}
