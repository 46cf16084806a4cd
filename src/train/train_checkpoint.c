/* Resume and checkpoint cadence for the training loop: which checkpoint
 * to continue from (falling back past damaged ones), whether the config
 * still describes the same model, and getting rank 0's state to everyone. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "config.h"
#include "deepfried/checkpoint.h"
#include "deepfried/clock.h"
#include "deepfried/config.h"
#include "train_state.h"

/* The keys that define the model (DF_KEY_MODEL in the layer's descriptor):
 * a change in any of them makes the stored tensors meaningless. */
static int compare_layer(const char *conf, const char *ckpt, const df_layer_spec *now,
                         const df_layer_spec *then, df_error *err)
{
    if (strcmp(now->name, then->name) != 0)
        return df_fail(err, DF_EINPUT,     /* resume tries the older ones (as before) */
                       "%s: layer '%s' stands where the checkpoint %s has layer '%s'",
                       conf, now->name, ckpt, then->name);
    if (now->type != then->type)
        return df_fail(err, DF_EMISMATCH,
                       "%s: key 'layer %s.type': the checkpoint %s was trained with %s, "
                       "the config says %s", conf, now->name, ckpt,
                       df_layer_type_name(then->type), df_layer_type_name(now->type));
    for (const df_layer_key *k = df_layer_kind_of(now->type)->keys; k && k->name; k++) {
        int a, b;
        if (!(k->flags & DF_KEY_MODEL))
            continue;
        memcpy(&a, (const char *)now + k->offset, sizeof a);
        memcpy(&b, (const char *)then + k->offset, sizeof b);
        if (a != b)
            return df_fail(err, DF_EMISMATCH,
                           "%s: key 'layer %s.%s': the checkpoint %s was trained with %d, "
                           "the config says %d", conf, now->name, k->name, ckpt, b, a);
    }
    return DF_OK;
}

/* Does the checkpoint's stored config describe the model cfg builds? */
static int check_same_model(const df_config *cfg, const char *path, FILE *warn,
                            df_error *err)
{
    char *text = NULL;
    df_ckpt_meta meta;
    int rc = df_checkpoint_read_config(path, &text, &meta, err);
    if (rc)
        return rc;
    df_config *then = calloc(1, sizeof *then);
    if (!then) {
        free(text);
        return df_fail(err, DF_ENOMEM, "out of memory reading %s", path);
    }
    rc = df_config_parse(then, text, path, NULL, 0, 0, err);
    free(text);
    if (rc == DF_OK && then->n_layers != cfg->n_layers)
        rc = df_fail(err, DF_EMISMATCH, "%s: the config has %d layers but the checkpoint %s has %d",
                     cfg->path, cfg->n_layers, path, then->n_layers);
    for (int i = 0; rc == DF_OK && i < cfg->n_layers; i++)
        rc = compare_layer(cfg->path, path, &cfg->layers[i], &then->layers[i], err);
    if (rc == DF_OK && warn) {
        if (then->run.seed != cfg->run.seed)
            fprintf(warn, "warning: %s was trained with run.seed %llu, continuing with %llu: "
                    "the data order and dropout masks change\n", path,
                    (unsigned long long)then->run.seed, (unsigned long long)cfg->run.seed);
        if (then->solver.batch != cfg->solver.batch)
            fprintf(warn, "warning: %s was trained with solver.batch %d, continuing with %d\n",
                    path, then->solver.batch, cfg->solver.batch);
    }
    free(then);
    /* a damaged stored config is damage, not a model change */
    return rc;
}

static int try_candidates(train_state *st, char (*paths)[DF_PATH_MAX + 64],
                          int64_t *step, df_error *err);

/* Rank 0: the state to continue from, into st->net / momentum / metrics. */
static int load_on_rank0(train_state *st, int64_t *step, df_error *err)
{
    char (*paths)[DF_PATH_MAX + 64] = calloc(DF_CKPT_MAX_LIST, sizeof *paths);
    if (!paths)
        return df_fail(err, DF_ENOMEM, "out of memory");
    int rc = try_candidates(st, paths, step, err);
    free(paths);
    return rc;
}

/* Newest first: the first that loads wins. */
static int try_candidates(train_state *st, char (*paths)[DF_PATH_MAX + 64],
                          int64_t *step, df_error *err)
{
    const df_config *cfg = st->cfg;
    const df_train_opts *o = st->opts;
    int n;
    int automatic = strcmp(o->resume, "auto") == 0;
    if (automatic) {
        n = df_checkpoint_list(cfg->checkpoint.dir, paths, DF_CKPT_MAX_LIST, err);
        if (n < 0)
            return err->code ? err->code : DF_ESYS;
        if (n == 0) {
            if (st->log)
                fprintf(st->log, "no checkpoint in %s: starting at step 0\n",
                        cfg->checkpoint.dir);
            return DF_OK;
        }
    } else {
        snprintf(paths[0], sizeof paths[0], "%s", o->resume);
        n = 1;
    }
    df_error first = {0, ""};
    for (int i = 0; i < n; i++) {
        df_ckpt_meta meta;
        int rc = check_same_model(cfg, paths[i], o->warn, err);
        if (rc == DF_OK)
            rc = df_checkpoint_load(paths[i], &st->net, st->solver.momentum,
                                    &st->metrics, &meta, err);
        if (rc == DF_OK) {
            *step = meta.step;
            if (st->log)
                fprintf(st->log, "resuming from %s at step %lld (written by %d rank%s)\n",
                        paths[i], (long long)meta.step, meta.world_size,
                        meta.world_size > 1 ? "s" : "");
            return DF_OK;
        }
        /* a config that no longer fits is the user's to fix, not a reason
         * to go back to an older checkpoint of the same old model */
        if (!automatic || rc == DF_EMISMATCH)
            return rc;
        if (o->warn)
            fprintf(o->warn, "warning: cannot resume from %s: %s%s\n", paths[i], err->msg,
                    i + 1 < n ? "; trying the previous checkpoint" : "");
        if (i == 0)
            first = *err;
    }
    return df_fail(err, DF_EINPUT, "no loadable checkpoint in %s (the newest: %s)",
                   cfg->checkpoint.dir, first.msg);
}

/* Would this run's checkpoints land beside init_from (and prune it)? */
static int same_directory(const char *file, const char *dir)
{
    char parent[DF_PATH_MAX + 64];
    snprintf(parent, sizeof parent, "%s", file);
    char *slash = strrchr(parent, '/');
    if (!slash)
        snprintf(parent, sizeof parent, ".");
    else
        slash[slash == parent] = '\0';   /* "/x" -> "/" */
    char *a = realpath(parent, NULL), *b = realpath(dir, NULL);
    int same = a && b && strcmp(a, b) == 0;
    free(a);
    free(b);
    return same;
}

static int load_init_on_rank0(train_state *st, df_error *err)
{
    const char *path = st->opts->init_from;
    const df_config *cfg = st->cfg;
    if (same_directory(path, cfg->checkpoint.dir))
        return df_fail(err, DF_EINPUT,
                       "%s: training from this checkpoint would write the new run's "
                       "checkpoints into its own directory %s (and prune it); give the new "
                       "run its own name, e.g. --set run.name=%s-finetune (or --set run.dir=DIR)",
                       path, cfg->checkpoint.dir, cfg->run.name);
    df_ckpt_meta meta;
    /* parameters only: momentum, step and metrics start afresh */
    int rc = check_same_model(cfg, path, NULL, err);
    if (rc == DF_OK)
        rc = df_checkpoint_load(path, &st->net, NULL, NULL, &meta, err);
    if (rc == DF_OK && st->log)
        fprintf(st->log, "starting from the parameters of %s (step %lld of its run), "
                "step 0, fresh momentum\n", path, (long long)meta.step);
    return rc;
}

int df_train_init_from(train_state *st, df_error *err)
{
    if (!st->opts->init_from)
        return DF_OK;
    int rc = DF_OK;
    if (st->dist->rank == 0)
        rc = load_init_on_rank0(st, err);
    rc = df_dist_agree(st->dist, rc, err);
    if (rc == DF_OK)
        rc = df_train_bcast_model(st, err);
    return rc;
}

int df_train_resume(train_state *st, df_error *err)
{
    if (!st->opts->resume)
        return DF_OK;
    df_dist *dist = st->dist;
    int64_t step = 0;
    int rc = DF_OK;
    if (dist->rank == 0)
        rc = load_on_rank0(st, &step, err);
    rc = df_dist_agree(dist, rc, err);
    if (rc)
        return rc;
    /* everyone continues from rank 0's state */
    rc = df_dist_bcast_bytes(dist, &step, sizeof step, err);
    if (rc == DF_OK)
        rc = df_train_bcast_model(st, err);
    if (rc)
        return rc;
    st->start_step = step;
    if (dist->rank == 0 && step > 0)
        rc = df_train_rewrite_csv(st, err);
    return df_dist_agree(dist, rc, err);
}

int df_train_rewrite_csv(train_state *st, df_error *err)
{
    remove(st->csv_path);
    for (size_t i = 0; i < st->metrics.n; i++) {
        int rc = df_metrics_append_csv(st->csv_path, &st->metrics.rows[i], err);
        if (rc)
            return rc;
    }
    return DF_OK;
}

/* Every replica must hold rank 0's parameters before rank 0 saves them:
 * a checkpoint of a diverged run would carry the fault into every resume.
 * The same result on every rank. */
static int check_replicas(train_state *st, int64_t done, df_error *err)
{
    int differs;
    uint64_t ref, theirs;
    int rc = df_dist_first_differing(st->dist, df_net_checksum(&st->net), &differs, &ref,
                                     &theirs, err);
    if (rc == DF_OK && differs >= 0)
        rc = df_fail(err, DF_ENUMERIC,
                     "replicas diverged before the checkpoint of step %lld: rank %d's "
                     "parameter checksum %016llx differs from rank 0's %016llx; nothing was "
                     "written (the last checkpoint is intact: --resume auto continues from it; "
                     "report this, it is a fault of the machine or of deepfried)",
                     (long long)done, differs, (unsigned long long)theirs,
                     (unsigned long long)ref);
    return rc;
}

int df_train_checkpoint(train_state *st, int64_t done, df_error *err)
{
    const df_config *cfg = st->cfg;
    int rc = check_replicas(st, done, err);
    if (rc == DF_OK)
        rc = df_train_injected(st, DF_AT_CHECKPOINT, done, err);
    /* a rank that cannot go on stops the save before anything is written */
    rc = df_dist_agree(st->dist, rc, err);
    if (rc)
        return rc;
    if (st->dist->rank == 0) {
        df_ckpt_meta meta;
        memset(&meta, 0, sizeof meta);
        meta.step = done;
        meta.epoch = (double)done * cfg->solver.batch / (double)st->data.train.n;
        meta.world_size = st->dist->size;
        meta.seed = cfg->run.seed;
        meta.global_batch = cfg->solver.batch;
        time_t now = time(NULL);
        struct tm utc;
        gmtime_r(&now, &utc);
        strftime(meta.created, sizeof meta.created, "%Y-%m-%dT%H:%M:%SZ", &utc);
        snprintf(meta.library_version, sizeof meta.library_version, "%s", PACKAGE_VERSION);
        double t0 = df_clock_seconds();
        rc = df_checkpoint_save(cfg->checkpoint.dir, &st->net, st->solver.momentum, cfg,
                                &st->metrics, &meta, cfg->checkpoint.keep,
                                st->last_checkpoint, sizeof st->last_checkpoint, err);
        if (rc == DF_OK && st->log) {
            fprintf(st->log, "step %lld: checkpoint %s (%.0f ms)\n", (long long)done,
                    st->last_checkpoint, 1e3 * (df_clock_seconds() - t0));
            fflush(st->log);
        }
    }
    return df_dist_agree(st->dist, rc, err);
}
