/* The deepfried command line: parses, calls the library, prints, and
 * turns status codes into exit statuses. Nothing else lives here. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "deepfried.h"
#include "deepfried/cli_args.h"
#include "deepfried/compress.h"
#include "deepfried/model.h"

static const char *prog = "deepfried";

/* Set by SIGTERM, SIGUSR1 (what Slurm and PBS send before a time limit or
 * preemption) and SIGINT; the training loop agrees on it across ranks,
 * checkpoints and stops. */
static volatile sig_atomic_t stop_signal;

static void on_stop_signal(int signo)
{
    /* a second Ctrl-C means now */
    if (signo == SIGINT && stop_signal == SIGINT) {
        signal(SIGINT, SIG_DFL);
        raise(SIGINT);
    }
    stop_signal = signo;
}

static void install_stop_handlers(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_stop_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGUSR1, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
}

static void usage(FILE *f)
{
    fprintf(f,
"Usage: deepfried COMMAND [OPTIONS]\n"
"       mpirun -np P deepfried train CONF [OPTIONS]\n"
"\n"
"Trains deep fried convnets: convnets whose fully connected layers are\n"
"Adaptive Fastfood transforms y = S H G Pi H B x (Yang et al., 2015).\n"
"\n"
"Commands:\n"
"  train CONF      train the network CONF describes (data-parallel under mpirun)\n"
"  train CKPT      fine-tune: train the checkpoint's stored network from its\n"
"                  parameters, at step 0 (e.g. after compress)\n"
"  eval CKPT       test error of a checkpoint's model on its test set\n"
"  inspect FILE    layers, output shapes, trainable parameter counts of a config\n"
"                  or a checkpoint (with its step and metrics)\n"
"  compress CKPT --layer NAME --rank K -o OUT.h5\n"
"                  replace a trained dense layer by its rank-K SVD (two dense\n"
"                  layers), written as a new checkpoint to fine-tune\n"
"\n"
"Options:\n"
"  -h, --help      this text; 'deepfried COMMAND --help' for a command's options\n"
"  -V, --version   version, the FWHT code path this CPU runs, and whether\n"
"                  the build has OpenMP threads\n"
"\n"
"Exit status: 0 done; 1 run-time failure (I/O, MPI, diverged training);\n"
"2 bad input (config, data file, checkpoint, command line), reported in one\n"
"line that names the file and what is wrong; 75 stopped by SIGTERM, SIGUSR1\n"
"or SIGINT after saving a checkpoint: requeue and run with --resume auto.\n"
"\n"
"Config keys and examples: the files in conf/ and README.md.\n");
}

static void usage_train(FILE *f)
{
    fprintf(f,
"Usage: deepfried train CONF [--set SECTION.KEY=VALUE]... [--resume auto|CKPT]\n"
"                       [--quiet] [--profile] [--dump-params FILE]\n"
"       deepfried train FROM.h5 [--set SECTION.KEY=VALUE]... [--resume auto] [...]\n"
"       mpirun -np P deepfried train CONF|FROM.h5 [...]\n"
"\n"
"Trains the network in CONF on its [data] with its [solver] settings.\n"
"Under mpirun every rank takes solver.batch / P items of each global batch\n"
"and gradients are summed over ranks, so any P trains the same model.\n"
"\n"
"Fine-tuning: given a checkpoint FROM.h5 instead of CONF (e.g. one written by\n"
"'deepfried compress'), trains the network stored in it with its stored\n"
"config, starting from its parameters at step 0 with fresh momentum and an\n"
"empty history. --set changes the stored config, e.g.\n"
"  deepfried train lenet-ip1-rank100.h5 --set solver.iterations=2000 \\\n"
"      --set solver.base_lr=0.001\n"
"The run directory is runs/<run.name> (the stored name; for a compressed\n"
"checkpoint RUN-LAYER-rankK) unless --set run.dir says otherwise; FROM.h5\n"
"must not lie in it (give the run a new --set run.name). The same command\n"
"with --resume auto continues the fine-tuning run from its newest\n"
"checkpoint, or starts it from FROM.h5 if there is none.\n"
"\n"
"Options:\n"
"  --set KEY=VALUE  override one config key, e.g. --set solver.batch=128,\n"
"                   --set solver.iterations=500, --set ff.sigma=0.05 (layer\n"
"                   keys as LAYER.KEY); may be repeated\n"
"  --resume auto    continue from the newest loadable checkpoint in\n"
"                   checkpoint.dir (a damaged one is reported and the one\n"
"                   before it used); start fresh if there is none\n"
"  --resume CKPT    continue from this checkpoint file\n"
"  --quiet          no progress lines, only the final summary\n"
"  --profile        time every layer's forward and backward; print each\n"
"                   layer's share of the step at the end\n"
"  --dump-params FILE  write the final parameters as raw float32 (the flat\n"
"                   buffer, last layer first) for comparing runs\n"
"  -h, --help       this text\n"
"\n"
"Output: a progress line every solver.display steps (step, loss, lr, img/s,\n"
"ETA, MB allreduced per step), the test error every solver.test_interval\n"
"steps and at the end, and the trainable parameter count. The same figures\n"
"go to RUN_DIR/metrics.csv (run.dir, default runs/<run.name>).\n"
"Relative data paths in CONF are taken from the current directory.\n"
"\n"
"Checkpoints: RUN_DIR/ckpt-<step>.h5 every checkpoint.interval steps and at\n"
"the end, the newest checkpoint.keep kept, RUN_DIR/latest naming the newest.\n"
"On SIGTERM, SIGUSR1 or SIGINT every rank finishes its step, rank 0 saves a\n"
"checkpoint and the run exits with status 75 (mpirun forwards SIGUSR1 to\n"
"the ranks; send SIGTERM to the ranks themselves).\n");
}

static void usage_inspect(FILE *f)
{
    fprintf(f,
"Usage: deepfried inspect CONF|CKPT [--set SECTION.KEY=VALUE]...\n"
"\n"
"Prints each layer with its type, output shape and trainable parameter\n"
"count, and the total. The input shape comes from the test images when\n"
"they are readable, else 1x28x28 (MNIST) is assumed and said so. On a\n"
"checkpoint (ckpt-<step>.h5) it also prints the step, when and by how many\n"
"ranks it was written, the last evaluation and the parameter checksum.\n");
}

static void usage_eval(FILE *f)
{
    fprintf(f,
"Usage: deepfried eval CKPT [--set SECTION.KEY=VALUE]...\n"
"       mpirun -np P deepfried eval CKPT [...]\n"
"\n"
"Evaluates the model in checkpoint CKPT on the test set its config names\n"
"(override with --set data.test_images=... --set data.test_labels=...) and\n"
"prints 'test error X.XX%% on N images'.\n");
}

static void usage_compress(FILE *f)
{
    fprintf(f,
"Usage: deepfried compress CKPT --layer NAME --rank K -o OUT.h5 [--force]\n"
"                          [--set SECTION.KEY=VALUE]...\n"
"\n"
"Replaces the trained dense layer NAME of checkpoint CKPT, weight W with m\n"
"outputs and n inputs, by its rank-K truncated SVD W ~ (U_K S_K^1/2)(S_K^1/2 V_K^T)\n"
"as two dense layers, NAME_svd (n -> K, no bias) then NAME (K -> m, keeping\n"
"NAME's bias), and writes the result to OUT.h5 as a checkpoint (paper\n"
"Section 7). The layer's parameters go from m n + m to K (m + n) + m, fewer\n"
"when K < m n / (m + n). OUT.h5 stores CKPT's config with the layer\n"
"replaced and run.name RUN-NAME-rankK (run.dir: runs/<that>), every other\n"
"layer's parameters, step 0, zero momentum and no metrics.\n"
"\n"
"Options:\n"
"  --layer NAME     the dense layer to factor (e.g. ip1)\n"
"  --rank K         singular values kept, 1 <= K < min(m, n)\n"
"  -o, --output OUT.h5  the checkpoint to write; an existing file is refused\n"
"  --force          replace OUT.h5 if it exists\n"
"  --set KEY=VALUE  override a key of the stored config (kept in OUT.h5), e.g.\n"
"                   data paths when the stored ones do not exist here\n"
"  -h, --help       this text\n"
"\n"
"Prints the layer's shape, the parameter counts before and after (layer and\n"
"network), the relative Frobenius error ||W - W_K||_F / ||W||_F and the share\n"
"of the energy (sum of squared singular values) kept. Then:\n"
"  deepfried eval OUT.h5         test error before fine-tuning\n"
"  deepfried train OUT.h5 --set solver.iterations=2000 --set solver.base_lr=0.001\n"
"                                fine-tune (see 'deepfried train --help')\n");
}

/* Options shared by train and inspect (parsed in src/cli_args.c). */
typedef df_cli_args cli_args;

static int parse_args(int argc, char **argv, cli_args *a, int allow_quiet)
{
    df_error err = {0, ""};
    if (df_cli_parse(argc, argv, allow_quiet, a, &err) != DF_OK) {
        fprintf(stderr, "%s: %s\n", prog, err.msg);
        return DF_EXIT_BAD_INPUT;
    }
    return DF_EXIT_OK;
}

static int exit_status(int rc)
{
    switch (rc) {
    case DF_OK:
        return DF_EXIT_OK;
    case DF_EINPUT:
    case DF_EMISMATCH:
        return DF_EXIT_BAD_INPUT;
    case DF_ESTOPPED:
        return DF_EXIT_REQUEUE;
    default:
        return DF_EXIT_FAILURE;
    }
}

/* Thousands separators make 430500 vs 38821 readable at a glance. */
static const char *grouped(size_t v, char *buf, size_t n)
{
    char raw[32];
    int len = snprintf(raw, sizeof raw, "%zu", v), o = 0;
    for (int i = 0; i < len && o + 2 < (int)n; i++) {
        if (i > 0 && (len - i) % 3 == 0)
            buf[o++] = ',';
        buf[o++] = raw[i];
    }
    buf[o] = '\0';
    return buf;
}

/* DEEPFRIED_INJECT_NAN=RANK:STEP makes that rank's loss NaN at that step:
 * how the tests check that all ranks stop together. */
static int parse_fault_injection(df_train_opts *opts, df_error *err)
{
    int rank = opts->inject_nan_rank;
    long long step = opts->inject_nan_step;
    int rc = df_cli_parse_inject_nan(getenv("DEEPFRIED_INJECT_NAN"), &rank, &step, err);
    opts->inject_nan_rank = rank;
    opts->inject_nan_step = step;
    /* DEEPFRIED_INJECT_FAULT=RANK:KIND:WHERE[:STEP]: a failure on one rank
     * (tests/rank_failure.sh) */
    df_fault *f = &opts->fault;
    long long at = 0;
    if (rc == DF_OK)
        rc = df_cli_parse_inject_fault(getenv("DEEPFRIED_INJECT_FAULT"), &f->rank, &f->kind,
                                       &f->where, &at, err);
    f->step = at;
    return rc;
}

/* One line for a failure. Agreed (every rank holds the same status and
 * message, which names the failing rank): rank 0 prints it. Not agreed
 * (MPI itself failed, or before the ranks could talk): this rank prints
 * its own, and the job is aborted so that no rank waits for it. */
static int report_failure(df_dist *dist, int rc, const df_error *err)
{
    int status = exit_status(rc);
    if (dist->agreed || dist->size == 1) {
        if (dist->rank == 0)
            fprintf(stderr, "%s: %s\n", prog, err->msg);
        return status;
    }
    fprintf(stderr, "%s: rank %d (%s): %s\n", prog, dist->rank, dist->host, err->msg);
    fflush(stderr);
    df_dist_abort(dist, status);
    return status;
}

static int cmd_train(int argc, char **argv)
{
    cli_args a;
    int status = parse_args(argc, argv, &a, 1);
    if (status)
        return status;
    if (a.help) {
        usage_train(stdout);
        return DF_EXIT_OK;
    }
    /* before MPI_Init, so a signal that arrives during start-up is kept */
    install_stop_handlers();
    df_dist dist;
    df_error err = {0, ""};
    int rc = df_dist_init(&dist, &argc, &argv, &err);
    if (rc != DF_OK) {
        fprintf(stderr, "%s: %s\n", prog, err.msg);
        df_dist_abort(&dist, exit_status(rc));
        return exit_status(rc);
    }
    df_config *cfg = calloc(1, sizeof *cfg);
    /* a checkpoint instead of a config: fine-tune the network stored in it */
    const char *init_from = df_is_checkpoint_file(a.conf) ? a.conf : NULL;
    rc = !cfg ? df_fail(&err, DF_ENOMEM, "out of memory")
             : init_from ? df_model_read_config(cfg, a.conf, a.overrides, a.n_overrides, 1,
                                                NULL, &err)
                         : df_config_load(cfg, a.conf, a.overrides, a.n_overrides, &err);
    df_train_opts opts = {a.quiet ? NULL : stdout, stderr, a.dump_params, a.profile, -1, -1,
                          a.resume, &stop_signal, init_from, {0, 0, 0, 0}};
    if (rc == DF_OK)
        rc = parse_fault_injection(&opts, &err);
    /* each rank read the config itself: one that could not stops them all */
    rc = df_dist_agree(&dist, rc, &err);
    df_train_result res;
    if (rc == DF_OK)
        rc = df_train_run(cfg, &dist, &opts, &res, &err);
    if (rc != DF_OK) {
        report_failure(&dist, rc, &err);
    } else if (dist.rank == 0) {
        char n[32];
        if (res.resumed_from >= res.steps)
            printf("nothing to train: the checkpoint is at step %lld, solver.iterations is %lld\n",
                   (long long)res.resumed_from, (long long)res.steps);
        else if (res.resumed_from > 0)
            printf("finished steps %lld..%lld in %.1f s (%.0f img/s), final training loss %.4f\n",
                   (long long)res.resumed_from + 1, (long long)res.steps, res.seconds,
                   res.images_per_s, res.final_loss);
        else
            printf("finished %lld steps in %.1f s (%.0f img/s), final training loss %.4f\n",
                   (long long)res.steps, res.seconds, res.images_per_s, res.final_loss);
        if (res.checkpoint[0])
            printf("checkpoint: %s\n", res.checkpoint);
        printf("%s error %.2f%% on %lld images (%s loss %.4f)\n", res.eval_set,
               100.0 * res.test_error, (long long)res.test_items, res.eval_set, res.test_loss);
        printf("trainable parameters: %s\n", grouped(res.n_params, n, sizeof n));
        printf("parameter checksum: %016llx (identical on %d rank%s)\n",
               (unsigned long long)res.checksum, dist.size, dist.size > 1 ? "s" : "");
        fflush(stdout);
    }
    free(cfg);
    df_dist_finalize(&dist);
    return exit_status(rc);
}

static void print_layer_table(const df_net *net, const df_config *cfg)
{
    char n[32];
    printf("%-12s %-13s %-14s %12s\n", "layer", "type", "output", "parameters");
    for (int i = 0; i < net->n_layers; i++) {
        const df_layer *l = &net->layers[i];
        char shape[48], remark[128] = "";
        if (l->kind->is_loss)
            snprintf(shape, sizeof shape, "loss");
        else if (l->out_h == 1 && l->out_w == 1)
            snprintf(shape, sizeof shape, "%d", l->out_c);
        else
            snprintf(shape, sizeof shape, "%dx%dx%d", l->out_c, l->out_h, l->out_w);
        printf("%-12s %-13s %-14s %12s", l->spec.name, l->kind->name, shape,
               grouped(df_layer_param_count(l), n, sizeof n));
        if (l->kind->describe)
            l->kind->describe(l, remark, sizeof remark);
        char fixed[64] = "";
        size_t used = 0;
        for (int a = 0; a < l->n_aux && used < sizeof fixed; a++)
            if (l->aux[a].type == DF_AUX_FLOAT32)
                used += (size_t)snprintf(fixed + used, sizeof fixed - used, "%s%s",
                                         used ? "," : "", l->aux[a].name);
        if (remark[0] || fixed[0])
            printf("   %s%s%s%s", remark, fixed[0] ? " (fixed " : "", fixed,
                   fixed[0] ? ": not trained)" : "");
        printf("\n");
    }
    printf("total trainable parameters: %s\n", grouped(net->n_params, n, sizeof n));
    (void)cfg;
}

static int inspect_config(const cli_args *a)
{
    df_error err = {0, ""};
    df_config *cfg = calloc(1, sizeof *cfg);
    df_net *net = calloc(1, sizeof *net);
    int rc = cfg && net ? df_config_load_file(cfg, a->conf, a->overrides, a->n_overrides, 0, &err)
                        : df_fail(&err, DF_ENOMEM, "out of memory");
    int c = 1, h = 28, w = 28;
    if (rc == DF_OK) {
        char note[1200];
        df_model_input_shape(cfg, &c, &h, &w, note, sizeof note);
        if (note[0])
            printf("(%s)\n", note);
        rc = df_net_build(net, cfg->layers, cfg->n_layers, c, h, w, 1, &err);
    }
    if (rc == DF_OK) {
        printf("%s: input %dx%dx%d\n", a->conf, c, h, w);
        print_layer_table(net, cfg);
        df_net_free(net);
    } else {
        fprintf(stderr, "%s: %s\n", prog, err.msg);
    }
    free(cfg);
    free(net);
    return exit_status(rc);
}

/* The last evaluation recorded in a checkpoint's metrics, if any. */
static const df_metrics_row *last_evaluation(const df_metrics *m)
{
    for (size_t i = m->n; i-- > 0;)
        if (m->rows[i].test_error == m->rows[i].test_error)   /* not NaN */
            return &m->rows[i];
    return NULL;
}

static int inspect_checkpoint(const cli_args *a)
{
    df_error err = {0, ""};
    df_model *m = calloc(1, sizeof *m);
    char note[1200];
    int rc = m ? df_model_open(m, a->conf, a->overrides, a->n_overrides, 1, note,
                               sizeof note, &err)
               : df_fail(&err, DF_ENOMEM, "out of memory");
    if (rc) {
        fprintf(stderr, "%s: %s\n", prog, err.msg);
        free(m);
        return exit_status(rc);
    }
    if (note[0])
        printf("(%s)\n", note);
    printf("%s: checkpoint of %s at step %lld (epoch %.2f), written %s by deepfried %s "
           "on %d rank%s\n", a->conf, m->cfg.run.name, (long long)m->meta.step,
           m->meta.epoch, m->meta.created, m->meta.library_version, m->meta.world_size,
           m->meta.world_size > 1 ? "s" : "");
    printf("seed %llu, global batch %d, input %dx%dx%d\n",
           (unsigned long long)m->meta.seed, m->meta.global_batch, m->in_c, m->in_h, m->in_w);
    print_layer_table(&m->net, &m->cfg);
    const df_metrics_row *ev = last_evaluation(&m->metrics);
    if (ev)
        printf("last evaluation: step %lld, test error %.2f%%, test loss %.4f\n",
               (long long)ev->step, 100.0 * ev->test_error, ev->test_loss);
    if (m->metrics.n > 0) {
        const df_metrics_row *r = &m->metrics.rows[m->metrics.n - 1];
        printf("last metrics row: step %lld, training loss %.4f, lr %.6g, %.0f img/s\n",
               (long long)r->step, r->loss, r->lr, r->images_per_s);
    }
    printf("parameter checksum: %016llx\n", (unsigned long long)df_net_checksum(&m->net));
    df_model_close(m);
    free(m);
    return DF_EXIT_OK;
}

static int cmd_inspect(int argc, char **argv)
{
    cli_args a;
    int status = parse_args(argc, argv, &a, 0);
    if (status)
        return status;
    if (a.help) {
        usage_inspect(stdout);
        return DF_EXIT_OK;
    }
    return df_is_checkpoint_file(a.conf) ? inspect_checkpoint(&a) : inspect_config(&a);
}

static int cmd_eval(int argc, char **argv)
{
    cli_args a;
    int status = parse_args(argc, argv, &a, 0);
    if (status)
        return status;
    if (a.help) {
        usage_eval(stdout);
        return DF_EXIT_OK;
    }
    df_dist dist;
    df_error err = {0, ""};
    int rc = df_dist_init(&dist, &argc, &argv, &err);
    if (rc != DF_OK) {
        fprintf(stderr, "%s: %s\n", prog, err.msg);
        df_dist_abort(&dist, exit_status(rc));
        return exit_status(rc);
    }
    df_model *m = calloc(1, sizeof *m);
    df_dataset test;
    memset(&test, 0, sizeof test);
    rc = m ? df_model_open(m, a.conf, a.overrides, a.n_overrides, 256, NULL, 0, &err)
               : df_fail(&err, DF_ENOMEM, "out of memory");
    if (rc == DF_OK) {
        rc = df_dataset_load_idx(&test, m->cfg.data.test_images, m->cfg.data.test_labels,
                                 m->net.n_classes, &err);
        /* The paths come from the config stored in the checkpoint, relative
         * to wherever training ran: say so, and how to point elsewhere. */
        if (rc != DF_OK) {
            char why[sizeof err.msg];
            memcpy(why, err.msg, sizeof why);
            df_fail(&err, rc, "%.700s (the test set %.200s's config names; override it "
                    "with --set data.test_images=PATH --set data.test_labels=PATH)",
                    why, a.conf);
        }
    }
    double loss = 0, error = 0;
    rc = df_dist_agree(&dist, rc, &err);
    if (rc == DF_OK)
        rc = df_evaluate(&m->net, &dist, &test, m->cfg.data.scale, &loss, &error, &err);
    if (rc != DF_OK) {
        report_failure(&dist, rc, &err);
    } else if (dist.rank == 0) {
        printf("%s: step %lld of %s\n", a.conf, (long long)m->meta.step, m->cfg.run.name);
        printf("test error %.2f%% on %lld images (test loss %.4f)\n", 100.0 * error,
               (long long)test.n, loss);
    }
    df_dataset_free(&test);
    if (m)
        df_model_close(m);   /* safe on a model that failed to open */
    free(m);
    df_dist_finalize(&dist);
    return exit_status(rc);
}

static double percent(size_t part, size_t whole)
{
    return whole ? 100.0 * (double)part / (double)whole : 0.0;
}

static void print_compress_report(const df_cli_compress_args *c, const df_compress_report *r)
{
    char a[32], b[32];
    if (r->shape_note[0])
        printf("(%s)\n", r->shape_note);
    printf("compressed layer %s of %s (step %lld): %d outputs x %d inputs -> rank %d\n",
           r->layer, c->ckpt, (long long)r->source_step, r->m, r->n, r->k);
    printf("  %s: dense %d -> %d, no bias; %s: dense %d -> %d, %s\n", r->first, r->n, r->k,
           r->layer, r->k, r->m, r->has_bias ? "original bias" : "no bias");
    printf("layer parameters: %s -> %s (%.1f%%)\n", grouped(r->layer_params_before, a, sizeof a),
           grouped(r->layer_params_after, b, sizeof b),
           percent(r->layer_params_after, r->layer_params_before));
    printf("network trainable parameters: %s -> %s (%.1f%%)\n",
           grouped(r->net_params_before, a, sizeof a), grouped(r->net_params_after, b, sizeof b),
           percent(r->net_params_after, r->net_params_before));
    printf("relative Frobenius error ||W - W_K||_F / ||W||_F: %.6f (from the discarded "
           "singular values: %.6f)\n", r->svd.rel_error, r->svd.rel_error_sv);
    printf("energy kept (sum of kept sigma^2 / sum of all): %.4f%%\n",
           100.0 * r->svd.energy_kept);
    printf("singular values: sigma_1 %.4g, sigma_%d %.4g, sigma_%d %.4g\n", r->svd.sigma_first,
           r->k, r->svd.sigma_k, r->k + 1, r->svd.sigma_next);
    if (r->layer_params_after >= r->layer_params_before)
        printf("note: at rank %d the two layers hold more parameters than %s did; ranks "
               "below %d save some\n", r->k, r->layer,
               (int)(((long long)r->m * r->n + r->m + r->n - 1) / (r->m + r->n)));
    printf("wrote %s (run name %s); next: deepfried eval %s, then fine-tune with "
           "deepfried train %s --set solver.iterations=N\n", c->out, r->run_name, c->out,
           c->out);
}

static int cmd_compress(int argc, char **argv)
{
    df_cli_compress_args c;
    df_error err = {0, ""};
    if (df_cli_parse_compress(argc, argv, &c, &err) != DF_OK) {
        fprintf(stderr, "%s: %s\n", prog, err.msg);
        return DF_EXIT_BAD_INPUT;
    }
    if (c.help) {
        usage_compress(stdout);
        return DF_EXIT_OK;
    }
    df_compress_opts opts = {.layer = c.layer, .rank = c.rank, .force = c.force,
                             .overrides = c.overrides, .n_overrides = c.n_overrides};
    df_compress_report *r = calloc(1, sizeof *r);
    int rc = r ? df_compress(c.ckpt, c.out, &opts, r, &err)
               : df_fail(&err, DF_ENOMEM, "out of memory");
    if (rc == DF_OK)
        print_compress_report(&c, r);
    else
        fprintf(stderr, "%s: %s\n", prog, err.msg);
    free(r);
    return exit_status(rc);
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return DF_EXIT_BAD_INPUT;
    }
    const char *cmd = argv[1];
    if (!strcmp(cmd, "-h") || !strcmp(cmd, "--help") || !strcmp(cmd, "help")) {
        usage(stdout);
        return DF_EXIT_OK;
    }
    if (!strcmp(cmd, "-V") || !strcmp(cmd, "--version")) {
        printf("deepfried %s\nFWHT path: %s\n", PACKAGE_VERSION, df_fwht_path());
#ifdef _OPENMP
        printf("threads: OpenMP (run.threads)\n");
#else
        printf("threads: none (built without OpenMP: run.threads is always 1)\n");
#endif
        return DF_EXIT_OK;
    }
    if (!strcmp(cmd, "train"))
        return cmd_train(argc - 2, argv + 2);
    if (!strcmp(cmd, "inspect"))
        return cmd_inspect(argc - 2, argv + 2);
    if (!strcmp(cmd, "eval"))
        return cmd_eval(argc - 2, argv + 2);
    if (!strcmp(cmd, "compress"))
        return cmd_compress(argc - 2, argv + 2);
    fprintf(stderr, "%s: unknown command '%s' (see --help)\n", prog, cmd);
    return DF_EXIT_BAD_INPUT;
}
