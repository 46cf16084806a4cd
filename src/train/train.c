/* The training loop. Reads like the algorithm: load, build, then
 * loop { forward; backward (allreduce overlapped); update; maybe eval }. */
#include "deepfried/train.h"

#include <cblas.h>
#include <errno.h>
#include <math.h>
#include <sched.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include "deepfried/clock.h"
#include "deepfried/metrics.h"
#include "deepfried/solver.h"
#include "core/make_dirs.h"
#include "core/run_lock.h"
#include "train_state.h"

/* ---- data ---- */

int df_train_data_load(df_train_data *td, const df_config *cfg, df_error *err)
{
    memset(td, 0, sizeof *td);
    int rc = df_dataset_load_idx(&td->train, cfg->data.train_images,
                                 cfg->data.train_labels, DF_IDX_MAX_CLASSES, err);
    if (rc)
        return rc;
    if (cfg->data.holdout > 0) {
        if (cfg->data.holdout >= td->train.n) {
            rc = df_fail(err, DF_EINPUT,
                         "%s: key 'data.holdout': %lld items held out but the training set has only %lld",
                         cfg->path, (long long)cfg->data.holdout, (long long)td->train.n);
            df_train_data_free(td);
            return rc;
        }
        int64_t start = cfg->data.holdout_start;
        if (start < 0) {
            start = td->train.n - cfg->data.holdout;
        } else if (start > td->train.n - cfg->data.holdout) {
            rc = df_fail(err, DF_EINPUT,
                         "%s: key 'data.holdout_start': items %lld..%lld held out but the "
                         "training set has only %lld",
                         cfg->path, (long long)start,
                         (long long)(start + cfg->data.holdout - 1), (long long)td->train.n);
            df_train_data_free(td);
            return rc;
        }
        td->holdout_first = start;
        df_dataset holdout;
        rc = df_dataset_split_range(&td->train, &holdout, start, cfg->data.holdout, err);
        if (rc) {
            df_train_data_free(td);
            return rc;
        }
        if (cfg->data.eval_holdout) {
            td->eval = holdout;
            td->eval_name = "holdout";
            return DF_OK;
        }
        df_dataset_free(&holdout);
    }
    rc = df_dataset_load_idx(&td->eval, cfg->data.test_images, cfg->data.test_labels,
                             DF_IDX_MAX_CLASSES, err);
    if (rc) {
        df_train_data_free(td);
        return rc;
    }
    td->eval_name = "test";
    if (td->eval.rows != td->train.rows || td->eval.cols != td->train.cols ||
        td->eval.channels != td->train.channels) {
        rc = df_fail(err, DF_EINPUT, "%s: images are %dx%d but the training images %s are %dx%d",
                     cfg->data.test_images, td->eval.rows, td->eval.cols,
                     cfg->data.train_images, td->train.rows, td->train.cols);
        df_train_data_free(td);
        return rc;
    }
    return DF_OK;
}

void df_train_data_free(df_train_data *td)
{
    df_dataset_free(&td->train);
    df_dataset_free(&td->eval);
}

/* ---- threads ---- */

/* The CPUs this process may run on (respects Slurm/cgroup binding). */
static int process_cpus(void)
{
    cpu_set_t set;
    return sched_getaffinity(0, sizeof set, &set) == 0 ? CPU_COUNT(&set) : 1;
}

int df_train_threads(const df_config *cfg, const df_dist *dist)
{
#ifdef _OPENMP
    if (cfg->run.threads > 0)
        return cfg->run.threads;
    int per_rank = process_cpus() / (dist->local_size > 0 ? dist->local_size : 1);
    return per_rank > 0 ? per_rank : 1;
#else
    (void)cfg, (void)dist;
    return 1; /* a build without OpenMP has the one thread (see print_banner) */
#endif
}

/* ---- evaluation ---- */

int df_evaluate(df_net *net, df_dist *dist, const df_dataset *ds, float scale,
                double *loss, double *error, df_error *err)
{
    int64_t lo = ds->n * dist->rank / dist->size;
    int64_t hi = ds->n * (dist->rank + 1) / dist->size;
    int B = net->max_batch;
    float *x = df_calloc((size_t)B, df_dataset_image_size(ds) * sizeof(float), err);
    int32_t *y = df_calloc((size_t)B, sizeof(int32_t), err);
    int64_t *idx = df_calloc((size_t)B, sizeof(int64_t), err);
    double stats[3] = {0, 0, 0};   /* loss sum, correct, items */
    int rc = (x && y && idx) ? DF_OK : DF_ENOMEM;
    df_pass pass = {0, 0, 0, 0};
    for (int64_t first = lo; rc == DF_OK && first < hi; first += B) {
        int count = (int)(hi - first < B ? hi - first : B);
        for (int i = 0; i < count; i++)
            idx[i] = first + i;
        df_dataset_gather(ds, idx, count, scale, x, y);
        int correct = 0;
        stats[0] += df_net_forward(net, x, y, count, &pass, &correct);
        stats[1] += correct;
        stats[2] += count;
    }
    free(x);
    free(y);
    free(idx);
    if (rc == DF_ENOMEM)
        df_fail(err, rc, "out of memory allocating the evaluation batch (%d items)", B);
    /* a local failure is everyone's before the sum, so none waits in it */
    rc = df_dist_agree(dist, rc, err);
    if (rc == DF_OK)
        rc = df_dist_sum_doubles(dist, stats, 3, err);
    if (rc)
        return rc;
    *loss = stats[2] > 0 ? stats[0] / stats[2] : NAN;
    *error = stats[2] > 0 ? 1.0 - stats[1] / stats[2] : NAN;
    return DF_OK;
}

/* ---- progress ---- */

static void format_duration(char *buf, size_t n, double s)
{
    long t = s > 0 && s < 1e9 ? (long)(s + 0.5) : 0;
    if (t >= 3600)
        snprintf(buf, n, "%ldh%02ldm", t / 3600, (t / 60) % 60);
    else if (t >= 60)
        snprintf(buf, n, "%ldm%02lds", t / 60, t % 60);
    else
        snprintf(buf, n, "%lds", t);
}

int df_write_raw_floats(const char *path, const float *v, size_t n, df_error *err)
{
    FILE *f = fopen(path, "wb");
    if (!f)
        return df_fail(err, DF_ESYS, "%s: cannot create: %s", path, strerror(errno));
    size_t wrote = fwrite(v, sizeof(float), n, f);
    int close_rc = fclose(f);
    if (wrote != n || close_rc != 0)
        return df_fail(err, DF_ESYS, "%s: write failed: %s", path, strerror(errno));
    return DF_OK;
}

/* ---- the loop ---- */


static void state_free(train_state *st)
{
    df_train_data_free(&st->data);
    df_net_free(&st->net);
    df_solver_free(&st->solver);
    df_reducer_free(st->reducer);
    df_sampler_free(&st->sampler);
    df_metrics_free(&st->metrics);
    df_run_unlock(st->lock_fd[0]);
    df_run_unlock(st->lock_fd[1]);
    free(st->x);
    free(st->y);
    free(st->idx);
}

int df_train_injected(train_state *st, int where, int64_t step, df_error *err)
{
    const df_fault *f = &st->opts->fault;
    if (f->kind == DF_FAULT_NONE || f->where != where || f->rank != st->dist->rank ||
        step < f->step || (where == DF_AT_STEP && step != f->step))
        return DF_OK;
    static const char *const at[] = {"set-up", "a training step", "evaluation",
                                     "checkpointing"};
    char when[48] = "";
    if (where != DF_AT_SETUP)
        snprintf(when, sizeof when, " at step %lld", (long long)step);
    switch (f->kind) {
    case DF_FAULT_KILL:
        raise(SIGKILL);
        return DF_ESYS;
    case DF_FAULT_ENOMEM:
        return df_fail(err, DF_ENOMEM, "out of memory in %s%s (injected by "
                       "DEEPFRIED_INJECT_FAULT)", at[where], when);
    case DF_FAULT_EIO:
        return df_fail(err, DF_ESYS, "I/O error in %s%s (injected by "
                       "DEEPFRIED_INJECT_FAULT)", at[where], when);
    case DF_FAULT_DIVERGE:
        /* one parameter one ulp off: the replicas no longer agree */
        if (st->net.n_params > 0)
            st->net.params[0] = nextafterf(st->net.params[0], INFINITY);
        return DF_OK;
    }
    return DF_OK;
}

/* Labels beyond the network's outputs would index past the logits. */
static int check_labels(const df_config *cfg, const df_train_data *td,
                        int n_outputs, df_error *err)
{
    const df_dataset *sets[2] = {&td->train, &td->eval};
    const char *files[2] = {cfg->data.train_labels,
                            td->eval_name[0] == 't' ? cfg->data.test_labels
                                                    : cfg->data.train_labels};
    for (int i = 0; i < 2; i++)
        if (sets[i]->n_classes > n_outputs)
            return df_fail(err, DF_EINPUT,
                           "%s: label %d out of range: the network's last layer "
                           "has %d outputs (labels 0..%d)",
                           files[i], sets[i]->n_classes - 1, n_outputs, n_outputs - 1);
    return DF_OK;
}

int df_train_bcast_model(train_state *st, df_error *err)
{
    df_dist *dist = st->dist;
    int rc = df_dist_bcast_floats(dist, st->net.params, st->net.n_params, err);
    if (rc == DF_OK)
        rc = df_dist_bcast_floats(dist, st->solver.momentum, st->net.n_params, err);
    /* the layers' untrained state lives outside the flat buffer */
    for (int i = 0; rc == DF_OK && i < st->net.n_layers; i++) {
        df_layer *l = &st->net.layers[i];
        for (int a = 0; rc == DF_OK && a < l->n_aux; a++) {
            const df_aux *x = &l->aux[a];
            rc = x->type == DF_AUX_FLOAT32 ? df_dist_bcast_floats(dist, x->data, x->count, err)
                                           : df_dist_bcast_bytes(dist, x->data, x->count * 4, err);
        }
    }
    return rc;
}

/* Rank 0: the run directory (and a separate checkpoint directory) made
 * and locked for this run, before anything reads or writes in them. */
static int claim_run_dirs(train_state *st, df_error *err)
{
    const df_config *cfg = st->cfg;
    int rc = df_make_dirs(cfg->run.dir, "run directory", err);
    if (rc == DF_OK)
        rc = df_run_lock(cfg->run.dir, &st->lock_fd[0], err);
    if (rc == DF_OK && strcmp(cfg->checkpoint.dir, cfg->run.dir) != 0) {
        rc = df_make_dirs(cfg->checkpoint.dir, "checkpoint directory", err);
        if (rc == DF_OK)
            rc = df_run_lock(cfg->checkpoint.dir, &st->lock_fd[1], err);
    }
    return rc;
}

/* Every step that can fail on one rank is agreed before the next
 * collective, so no rank is left waiting in it. */
static int setup(train_state *st, df_error *err)
{
    const df_config *cfg = st->cfg;
    df_dist *dist = st->dist;
    snprintf(st->csv_path, sizeof st->csv_path, "%s/metrics.csv", cfg->run.dir);
    int rc = dist->rank == 0 ? claim_run_dirs(st, err) : DF_OK;
    if (rc == DF_OK && cfg->solver.batch % dist->size != 0)
        rc = df_fail(err, DF_EINPUT,
                     "%s: key 'solver.batch': global batch %d is not divisible by %d ranks",
                     cfg->path, cfg->solver.batch, dist->size);
    st->local_batch = cfg->solver.batch / dist->size;
    if (rc == DF_OK)
        rc = df_train_data_load(&st->data, cfg, err);
    rc = df_dist_agree(dist, rc, err);
    if (rc)
        return rc;
    const df_dataset *tr = &st->data.train;
    rc = df_net_build(&st->net, cfg->layers, cfg->n_layers, tr->channels, tr->rows, tr->cols,
                      st->local_batch, err);
    if (rc == DF_OK)
        rc = check_labels(cfg, &st->data, st->net.n_classes, err);
    if (rc == DF_OK)
        rc = df_solver_init(&st->solver, &st->net, err);
    if (rc == DF_OK)
        rc = df_train_injected(st, DF_AT_SETUP, 0, err);
    rc = df_dist_agree(dist, rc, err);
    if (rc)
        return rc;
    if (dist->rank == 0)
        df_net_init_params(&st->net, cfg->run.seed);
    rc = df_train_bcast_model(st, err);
    if (rc)
        return rc;
    st->reducer = df_reducer_create(dist, st->net.grads, st->net.n_params,
                                    (size_t)cfg->comm.bucket_kb * 1024,
                                    cfg->comm.dtype_bf16, err);
    rc = st->reducer ? DF_OK : err->code;
    if (rc == DF_OK)
        rc = df_sampler_init(&st->sampler, tr->n, cfg->run.seed, err);
    size_t img = df_dataset_image_size(tr);
    if (rc == DF_OK) {
        st->x = df_calloc((size_t)st->local_batch, img * sizeof(float), err);
        st->y = df_calloc((size_t)st->local_batch, sizeof(int32_t), err);
        st->idx = df_calloc((size_t)st->local_batch, sizeof(int64_t), err);
        if (!st->x || !st->y || !st->idx)
            rc = DF_ENOMEM;
    }
    if (rc == DF_OK) {
        /* the layers split the batch over their own threads, each calling a
         * single-threaded BLAS: OpenBLAS's threads on 8-sample GEMMs scaled
         * poorly (docs/performance.md) */
        openblas_set_num_threads(1);
        rc = df_net_set_threads(&st->net, df_train_threads(cfg, dist), err);
    }
    return df_dist_agree(dist, rc, err);
}

/* One step on this rank's slice: forward, backward with the allreduce
 * overlapped, then the agreed statistics. stats: loss sum, correct,
 * non-finite flag. */
enum { STAT_LOSS, STAT_CORRECT, STAT_NONFINITE, STAT_SIGNAL, STAT_FAILED, N_STATS };

static int train_step(train_state *st, int64_t step, double stats[N_STATS], df_error *err)
{
    const df_config *cfg = st->cfg;
    int64_t first = (int64_t)st->dist->rank * st->local_batch;
    df_sampler_indices(&st->sampler, step * cfg->solver.batch + first,
                       st->local_batch, st->idx);
    df_dataset_gather(&st->data.train, st->idx, st->local_batch, cfg->data.scale,
                      st->x, st->y);
    memset(st->net.grads, 0, st->net.n_params * sizeof(float));
    df_pass pass = {1, cfg->run.seed, step, first};
    int correct = 0;
    double loss = df_net_forward(&st->net, st->x, st->y, st->local_batch, &pass, &correct);
    if (step == st->opts->inject_nan_step && st->dist->rank == st->opts->inject_nan_rank)
        loss = NAN;
    /* a local failure still joins this step's collectives, then stops all */
    int local = df_train_injected(st, DF_AT_STEP, step, err);
    df_reducer_begin(st->reducer);
    df_net_backward(&st->net, st->x, st->y, st->local_batch, df_reducer_ready, st->reducer);
    int rc = df_reducer_finish(st->reducer, err);
    if (rc)
        return rc;   /* MPI itself failed: not agreed, the CLI aborts */
    /* one collective carries the statistics and every stop and failure
     * flag, so all ranks see the same sums and stop at the same step */
    stats[STAT_LOSS] = loss;
    stats[STAT_CORRECT] = correct;
    stats[STAT_NONFINITE] = isfinite(loss) ? 0.0 : 1.0;
    stats[STAT_SIGNAL] = st->opts->stop_signal && *st->opts->stop_signal ? 1.0 : 0.0;
    stats[STAT_FAILED] = local != DF_OK;
    rc = df_dist_sum_doubles(st->dist, stats, N_STATS, err);
    if (rc || (stats[STAT_FAILED] == 0 && stats[STAT_NONFINITE] == 0))
        return rc;
    /* someone failed: every rank takes part in naming who and why */
    if (local == DF_OK && !isfinite(loss))
        local = df_fail(err, DF_ENUMERIC,
                        "training stopped: the loss became NaN or Inf at step %lld on "
                        "%.0f of %d ranks (lr %.3g); lower solver.base_lr or check the data",
                        (long long)step, stats[STAT_NONFINITE], st->dist->size,
                        df_solver_lr(&cfg->solver, step));
    return df_dist_agree(st->dist, local, err);
}

static int evaluate_and_log(train_state *st, int64_t step, df_metrics_row *row,
                            df_error *err)
{
    double loss, error;
    int rc = df_train_injected(st, DF_AT_EVAL, step, err);
    rc = df_dist_agree(st->dist, rc, err);
    if (rc == DF_OK)
        rc = df_evaluate(&st->net, st->dist, &st->data.eval, st->cfg->data.scale,
                         &loss, &error, err);
    if (rc)
        return rc;
    row->test_error = error;
    row->test_loss = loss;
    if (st->log)
        fprintf(st->log, "step %lld: %s error %.2f%% (%lld images), %s loss %.4f\n",
                (long long)step, st->data.eval_name, 100.0 * error,
                (long long)st->data.eval.n, st->data.eval_name, loss);
    return DF_OK;
}

static void print_banner(const train_state *st)
{
    const df_config *cfg = st->cfg;
    const df_dist *dist = st->dist;
    int threads = df_train_threads(cfg, dist), cpus = process_cpus();
#ifndef _OPENMP
    if (cfg->run.threads > 1)
        fprintf(st->log, "note: built without OpenMP: run.threads = %d ignored, 1 thread\n",
                cfg->run.threads);
#endif
    if (threads > cpus)
        fprintf(st->log, "note: run.threads = %d is more than the %d CPU%s this rank may "
                "run on; the threads will share them\n", threads, cpus, cpus > 1 ? "s" : "");
    /* Which training items are held out, so that folds can be told apart. */
    char held[96] = "";
    if (cfg->data.holdout > 0)
        snprintf(held, sizeof held, "; training items %lld..%lld held out",
                 (long long)st->data.holdout_first,
                 (long long)(st->data.holdout_first + cfg->data.holdout - 1));
    fprintf(st->log, "training %s: %lld steps, global batch %d on %d rank%s "
            "(%d per rank, %d thread%s each), %zu trainable parameters, "
            "%lld training images, evaluating on %s (%lld images%s)\n",
            cfg->run.name, (long long)cfg->solver.iterations, cfg->solver.batch, dist->size,
            dist->size > 1 ? "s" : "", st->local_batch, threads, threads > 1 ? "s" : "",
            st->net.n_params, (long long)st->data.train.n, st->data.eval_name,
            (long long)st->data.eval.n, held);
    fflush(st->log);
}

/* Keep a metrics row: in memory (checkpoints carry it) and in the CSV. */
static int record_row(train_state *st, const df_metrics_row *row, df_error *err)
{
    int rc = df_metrics_add(&st->metrics, row, err);
    if (rc == DF_OK && st->dist->rank == 0)
        rc = df_metrics_append_csv(st->csv_path, row, err);
    return df_dist_agree(st->dist, rc, err);
}

/* Steps [start_step, iterations): the loop of the algorithm. */
static int train_loop(train_state *st, double *seconds, double *last_loss, df_error *err)
{
    const df_config *cfg = st->cfg;
    df_dist *dist = st->dist;
    const int64_t iters = cfg->solver.iterations;
    const int B = cfg->solver.batch;
    double t_start = df_clock_seconds(), t_window = t_start;
    double win_loss = 0, win_correct = 0;
    int64_t win_steps = 0;
    int rc = DF_OK;
    for (int64_t step = st->start_step; step < iters; step++) {
        double stats[N_STATS];
        double lr = df_solver_lr(&cfg->solver, step);
        rc = train_step(st, step, stats, err);
        if (rc)
            break;
        df_solver_step(&st->solver, &st->net, lr, cfg->solver.momentum,
                       cfg->solver.weight_decay, 1.0f / (float)B);
        win_loss += stats[STAT_LOSS];
        win_correct += stats[STAT_CORRECT];
        win_steps++;

        const int64_t done = step + 1;
        if (stats[STAT_SIGNAL] > 0) {
            /* a scheduler's warning: save the step just finished and go */
            rc = df_train_checkpoint(st, done, err);
            if (rc == DF_OK)
                rc = df_fail(err, DF_ESTOPPED,
                             "stopped by a signal after step %lld; checkpoint %s saved: "
                             "continue with --resume auto", (long long)done,
                             dist->rank == 0 ? st->last_checkpoint : "(see rank 0)");
            break;
        }
        const int show = done % cfg->solver.display == 0 || done == iters;
        const int eval = cfg->solver.test_interval > 0 &&
                         done % cfg->solver.test_interval == 0 && done != iters;
        const int save = cfg->checkpoint.interval > 0 &&
                         done % cfg->checkpoint.interval == 0 && done != iters;
        if (show || eval) {
            double now = df_clock_seconds();
            df_metrics_row row = {
                .step = done, .epoch = (double)done * B / (double)st->data.train.n,
                .loss = win_loss / ((double)win_steps * B), .lr = lr,
                .train_error = 1.0 - win_correct / ((double)win_steps * B),
                .test_error = NAN, .test_loss = NAN,
                .images_per_s = (double)win_steps * B / (now - t_window),
                .mb_allreduced = df_reducer_bytes(st->reducer) / 1e6,
                .comm_wait_ms = 1e3 * df_reducer_wait_seconds(st->reducer),
            };
            *last_loss = row.loss;
            if (st->log && show) {
                char eta[32];
                double per_step = (now - t_start) / (double)(done - st->start_step);
                format_duration(eta, sizeof eta, per_step * (double)(iters - done));
                fprintf(st->log,
                        "step %lld/%lld | loss %.4f | lr %.6g | %.0f img/s | ETA %s | "
                        "allreduce %.3f MB/step, wait %.2f ms\n",
                        (long long)done, (long long)iters, row.loss, lr, row.images_per_s,
                        eta, row.mb_allreduced, row.comm_wait_ms);
                fflush(st->log);
            }
            if (eval)
                rc = evaluate_and_log(st, done, &row, err);
            if (rc == DF_OK)
                rc = record_row(st, &row, err);
            if (rc)
                break;
            win_loss = win_correct = 0;
            win_steps = 0;
            t_window = df_clock_seconds();
        }
        if (save && (rc = df_train_checkpoint(st, done, err)) != DF_OK)
            break;
    }
    *seconds = df_clock_seconds() - t_start;
    return rc;
}

/* Where a training step's time goes, layer by layer (rank 0's view). */
static void print_profile(const train_state *st, int64_t steps)
{
    const df_net *net = &st->net;
    double total = 0;
    for (int i = 0; i < net->n_layers; i++)
        total += net->layers[i].seconds_forward + net->layers[i].seconds_backward;
    if (steps <= 0 || total <= 0)
        return;
    fprintf(st->log, "per-layer time over %lld steps (local batch %d):\n", (long long)steps,
            st->local_batch);
    fprintf(st->log, "  %-12s %-13s %12s %12s %7s\n", "layer", "type", "fwd ms/step",
            "bwd ms/step", "share");
    for (int i = 0; i < net->n_layers; i++) {
        const df_layer *l = &net->layers[i];
        double f = l->seconds_forward, b = l->seconds_backward;
        fprintf(st->log, "  %-12s %-13s %12.3f %12.3f %6.1f%%\n", l->spec.name,
                df_layer_type_name(l->spec.type), 1e3 * f / (double)steps,
                1e3 * b / (double)steps, 100.0 * (f + b) / total);
    }
    fprintf(st->log, "  %-26s %25.3f\n", "all layers, ms/step", 1e3 * total / (double)steps);
}

/* Final evaluation, checkpoint and the cross-rank checksum. */
static int finish(train_state *st, double seconds, double last_loss,
                  df_train_result *res, df_error *err)
{
    const df_config *cfg = st->cfg;
    df_dist *dist = st->dist;
    const int64_t iters = cfg->solver.iterations, B = cfg->solver.batch;
    const int64_t trained = iters - st->start_step;
    if (st->log && st->opts->profile) {
        print_profile(st, trained);
        st->net.profile = 0;   /* evaluation is not training time */
    }
    df_metrics_row row = {
        .step = iters, .epoch = (double)iters * B / (double)st->data.train.n,
        .loss = last_loss, .lr = df_solver_lr(&cfg->solver, iters - 1),
        .train_error = NAN, .test_error = NAN, .test_loss = NAN,
        .images_per_s = trained > 0 ? (double)trained * B / seconds : NAN,
        .mb_allreduced = df_reducer_bytes(st->reducer) / 1e6,
        .comm_wait_ms = NAN,
    };
    int rc = evaluate_and_log(st, iters, &row, err);
    /* a run resumed from its final checkpoint already has this row */
    if (rc == DF_OK && trained > 0)
        rc = record_row(st, &row, err);
    if (rc == DF_OK && trained > 0)
        rc = df_train_checkpoint(st, iters, err);
    if (rc)
        return rc;
    res->steps = iters;
    res->resumed_from = st->start_step;
    res->seconds = seconds;
    res->final_loss = last_loss;
    res->test_error = row.test_error;
    res->test_loss = row.test_loss;
    res->test_items = st->data.eval.n;
    res->eval_set = st->data.eval_name;
    res->n_params = st->net.n_params;
    res->images_per_s = row.images_per_s;
    res->bytes_per_step = df_reducer_bytes(st->reducer);
    snprintf(res->checkpoint, sizeof res->checkpoint, "%s", st->last_checkpoint);
    res->checksum = df_net_checksum(&st->net);
    /* data parallelism must leave every replica with the same bits */
    int differs;
    uint64_t ref, theirs;
    rc = df_dist_first_differing(dist, res->checksum, &differs, &ref, &theirs, err);
    res->replicas_identical = rc == DF_OK && differs < 0;
    if (rc == DF_OK && differs >= 0)
        rc = df_fail(err, DF_ENUMERIC, "replicas diverged: rank %d's parameter checksum "
                     "%016llx differs from rank 0's %016llx", differs,
                     (unsigned long long)theirs, (unsigned long long)ref);
    if (rc == DF_OK && st->opts->dump_params && dist->rank == 0)
        rc = df_write_raw_floats(st->opts->dump_params, st->net.params, st->net.n_params, err);
    return df_dist_agree(dist, rc, err);
}

int df_train_run(const df_config *cfg, df_dist *dist, const df_train_opts *opts,
                 df_train_result *res, df_error *err)
{
    train_state st;
    memset(&st, 0, sizeof st);
    memset(res, 0, sizeof *res);
    st.cfg = cfg;
    st.opts = opts;
    st.dist = dist;
    st.log = dist->rank == 0 ? opts->log : NULL;
    st.lock_fd[0] = st.lock_fd[1] = -1;
    int rc = setup(&st, err);
    st.net.profile = opts->profile;
    if (rc == DF_OK)
        rc = df_train_init_from(&st, err);
    if (rc == DF_OK)
        rc = df_train_resume(&st, err);
    if (rc == DF_OK && st.start_step == 0 && dist->rank == 0)
        remove(st.csv_path);   /* a fresh run starts a fresh history */
    if (rc == DF_OK && st.log)
        print_banner(&st);
    double seconds = 0, last_loss = NAN;
    if (rc == DF_OK)
        rc = train_loop(&st, &seconds, &last_loss, err);
    if (rc == DF_OK)
        rc = finish(&st, seconds, last_loss, res, err);
    /* a failure every rank reached alike (a signal stop) is agreed here */
    if (!(rc && dist->agreed))
        rc = df_dist_agree(dist, rc, err);
    state_free(&st);
    return rc;
}
