/* deepfried compress: a trained dense layer replaced by its truncated SVD,
 * written as a new checkpoint (paper Section 7). Reads and writes
 * checkpoints only through checkpoint.h; the linear algebra is svd.c's. */
#define _POSIX_C_SOURCE 200809L

#include "deepfried/compress.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "deepfried/checkpoint.h"
#include "deepfried/model.h"
#include "deepfried/net.h"

#define SVD_SUFFIX "_svd"

/* ---- the output file ---- */

/* The directory part of path ("." when it has none). */
static void parent_dir(const char *path, char *dir, size_t cap)
{
    const char *slash = strrchr(path, '/');
    if (!slash)
        snprintf(dir, cap, ".");
    else if (slash == path)
        snprintf(dir, cap, "/");
    else
        snprintf(dir, cap, "%.*s", (int)(slash - path), path);
}

/* Refuse early what would fail (or destroy something) at the end. */
static int check_output(const char *out, int force, df_error *err)
{
    if (!out || !*out)
        return df_fail(err, DF_EINPUT, "no output file given (-o OUT.h5)");
    if (strlen(out) > DF_PATH_MAX - 32)
        return df_fail(err, DF_EINPUT, "-o %.64s...: path longer than %d characters", out,
                       DF_PATH_MAX - 32);
    struct stat st;
    if (stat(out, &st) == 0) {
        if (S_ISDIR(st.st_mode))
            return df_fail(err, DF_EINPUT, "%s: is a directory; -o names the checkpoint file "
                           "to write", out);
        if (!force)
            return df_fail(err, DF_EINPUT, "%s: already exists; not overwriting it "
                           "(--force replaces it)", out);
    }
    char dir[DF_PATH_MAX];
    parent_dir(out, dir, sizeof dir);
    if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode))
        return df_fail(err, DF_EINPUT, "%s: cannot write there: directory %s does not exist",
                       out, dir);
    return DF_OK;
}

/* Remove our scratch directory and whatever the checkpoint writer left in
 * it (the file, `latest`). */
static void remove_scratch(const char *dir)
{
    DIR *d = opendir(dir);
    if (d) {
        struct dirent *e;
        while ((e = readdir(d)) != NULL) {
            if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
                continue;
            unlinkat(dirfd(d), e->d_name, 0);
        }
        closedir(d);
    }
    rmdir(dir);
}

static void fsync_dir(const char *dir)
{
    int fd = open(dir, O_RDONLY | O_DIRECTORY);
    if (fd >= 0) {
        fsync(fd);
        close(fd);
    }
}

/* written -> out in one step: a hard link, which fails if out appeared
 * meanwhile, or with force a rename over it. */
static int move_into_place(const char *written, const char *out, int force, df_error *err)
{
    int rc = force ? rename(written, out) : link(written, out);
    if (rc != 0 && !force && (errno == EPERM || errno == EOPNOTSUPP || errno == ENOSYS)) {
        /* a file system without hard links */
        struct stat st;
        rc = stat(out, &st) == 0 ? (errno = EEXIST, -1) : rename(written, out);
    }
    if (rc != 0) {
        if (errno == EEXIST)
            return df_fail(err, DF_EINPUT, "%s: already exists; not overwriting it "
                           "(--force replaces it)", out);
        return df_fail(err, DF_ESYS, "%s: cannot write: %s", out, strerror(errno));
    }
    char dir[DF_PATH_MAX];
    parent_dir(out, dir, sizeof dir);
    fsync_dir(dir);
    return DF_OK;
}

/* ---- the layer and the new config ---- */

/* "ip1, ip2": the dense layers a user may name. */
static void dense_layers(const df_config *cfg, char *buf, size_t cap)
{
    size_t used = 0;
    buf[0] = '\0';
    for (int i = 0; i < cfg->n_layers && used < cap; i++)
        if (cfg->layers[i].type == DF_LAYER_DENSE)
            used += (size_t)snprintf(buf + used, cap - used, "%s%s", used ? ", " : "",
                                     cfg->layers[i].name);
    if (!buf[0])
        snprintf(buf, cap, "none");
}

/* Index of the dense layer to factor, and a rank that saves something. */
static int find_target(const char *ckpt, const df_net *net, const df_config *cfg,
                       const df_compress_opts *o, int *index, df_error *err)
{
    char names[512];
    dense_layers(cfg, names, sizeof names);
    if (!o->layer || !*o->layer)
        return df_fail(err, DF_EINPUT, "no layer given (--layer NAME; dense layers in %s: %s)",
                       ckpt, names);
    int idx = df_config_find_layer(cfg, o->layer);
    if (idx < 0)
        return df_fail(err, DF_EINPUT, "--layer %s: %s has no such layer (dense layers: %s)",
                       o->layer, ckpt, names);
    const df_layer *l = &net->layers[idx];
    if (l->spec.type != DF_LAYER_DENSE)
        return df_fail(err, DF_EINPUT, "--layer %s: in %s it is a %s layer; compress factors "
                       "dense layers (dense layers: %s)", o->layer, ckpt,
                       df_layer_type_name(l->spec.type), names);
    int m = l->shape.dense.M, n = l->shape.dense.D, r = m < n ? m : n;
    if (o->rank < 1 || o->rank >= r)
        return df_fail(err, DF_EINPUT, "--rank %d: layer %s is %d outputs x %d inputs, so the "
                       "rank must be between 1 and %d (rank %d or more keeps the whole matrix "
                       "and saves nothing)", o->rank, o->layer, m, n, r - 1, r);
    if (strlen(o->layer) + strlen(SVD_SUFFIX) >= DF_NAME_MAX)
        return df_fail(err, DF_EINPUT, "--layer %s: the name is too long to add '%s' to "
                       "(layer names have at most %d characters)", o->layer, SVD_SUFFIX,
                       DF_NAME_MAX - 1);
    char first[DF_NAME_MAX];
    snprintf(first, sizeof first, "%s%s", o->layer, SVD_SUFFIX);
    if (df_config_find_layer(cfg, first) >= 0)
        return df_fail(err, DF_EINPUT, "--layer %s: %s already has a layer called %s",
                       o->layer, ckpt, first);
    if (cfg->n_layers >= DF_MAX_LAYERS)
        return df_fail(err, DF_EINPUT, "--layer %s: %s already has %d layers, the most a "
                       "network may have", o->layer, ckpt, DF_MAX_LAYERS);
    *index = idx;
    return DF_OK;
}

/* The stored config with layer idx split in two, a new run name and the
 * run directories back to their defaults, as text read back and checked
 * (so what OUT stores is exactly what eval and train will build). */
static int compressed_config(const df_config *old, int idx, int k, const char *out,
                             df_config *cfg, df_compress_report *rep, df_error *err)
{
    df_config *edit = malloc(sizeof *edit);
    if (!edit)
        return df_fail(err, DF_ENOMEM, "out of memory");
    *edit = *old;
    const df_layer_spec *orig = &old->layers[idx];
    /* NAME_svd (n -> k, no bias) then NAME (k -> m, the original bias):
     * later layers and the learned bias keep their names */
    memmove(&edit->layers[idx + 1], &edit->layers[idx],
            (size_t)(old->n_layers - idx) * sizeof edit->layers[0]);
    edit->n_layers = old->n_layers + 1;
    df_layer_spec *first = &edit->layers[idx];
    snprintf(first->name, sizeof first->name, "%s%s", orig->name, SVD_SUFFIX);
    first->outputs = k;
    first->bias = 0;

    int len = snprintf(edit->run.name, sizeof edit->run.name, "%s-%s-rank%d", old->run.name,
                       orig->name, k);
    int rc = DF_OK;
    if (len < 0 || (size_t)len >= sizeof edit->run.name)
        rc = df_fail(err, DF_EINPUT, "%s: the new run name '%s-%s-rank%d' is longer than %d "
                     "characters; shorten run.name with --set run.name=...", out,
                     old->run.name, orig->name, k, DF_NAME_MAX - 1);
    /* empty: left out of the text, so they default to runs/<new name> */
    edit->run.dir[0] = '\0';
    edit->checkpoint.dir[0] = '\0';
    char *text = rc ? NULL : df_config_to_text(edit);
    if (!rc && !text)
        rc = df_fail(err, DF_ENOMEM, "out of memory writing the config");
    if (!rc)
        rc = df_config_parse(cfg, text, out, NULL, 0, 0, err);
    free(text);
    free(edit);
    if (!rc) {
        snprintf(rep->run_name, sizeof rep->run_name, "%s", cfg->run.name);
        snprintf(rep->first, sizeof rep->first, "%s", cfg->layers[idx].name);
    }
    return rc;
}

/* ---- parameters ---- */

static const df_tensor *find_tensor(const df_layer *l, const char *name)
{
    for (int t = 0; t < l->n_tensors; t++)
        if (!strcmp(l->tensors[t].name, name))
            return &l->tensors[t];
    return NULL;
}

/* Every tensor and aux buffer of layer `from` into `to`: the same layer,
 * so the same shapes. */
static void copy_layer(df_net *dst, const df_layer *to, const df_net *src,
                       const df_layer *from)
{
    for (int t = 0; t < to->n_tensors; t++) {
        const df_tensor *a = &to->tensors[t], *b = find_tensor(from, a->name);
        memcpy(dst->params + a->offset, src->params + b->offset, a->count * sizeof(float));
    }
    for (int a = 0; a < to->n_aux; a++)
        memcpy(to->aux[a].data, from->aux[a].data, to->aux[a].count * 4);
}

/* Factor the target's weight into the two new layers; copy the rest. */
static int fill_params(df_net *dst, const df_net *src, int idx, int k,
                       df_compress_report *rep, df_error *err)
{
    const df_layer *target = &src->layers[idx];
    const df_layer *first = &dst->layers[idx], *second = &dst->layers[idx + 1];
    for (int i = 0; i < dst->n_layers; i++)
        if (i != idx && i != idx + 1)
            copy_layer(dst, &dst->layers[i], src, &src->layers[i < idx ? i : i - 1]);
    const df_tensor *w = find_tensor(target, "weight");
    const df_tensor *b = find_tensor(target, "bias");
    int m = w->dims[0], n = w->dims[1];
    int rc = df_svd_low_rank(src->params + w->offset, m, n, k,
                             dst->params + find_tensor(second, "weight")->offset,
                             dst->params + find_tensor(first, "weight")->offset,
                             &rep->svd, err);
    if (rc == DF_OK && b)
        memcpy(dst->params + find_tensor(second, "bias")->offset, src->params + b->offset,
               b->count * sizeof(float));
    rep->m = m;
    rep->n = n;
    rep->k = k;
    rep->has_bias = b != NULL;
    rep->layer_params_before = df_layer_param_count(target);
    rep->layer_params_after = df_layer_param_count(first) + df_layer_param_count(second);
    rep->net_params_before = src->n_params;
    rep->net_params_after = dst->n_params;
    return rc;
}

/* ---- writing ---- */

/* The checkpoint writer names files itself, in a directory: write into a
 * scratch directory beside out, then move the one file into place. */
static int save_as(const char *out, int force, const df_net *net, const df_config *cfg,
                   df_error *err)
{
    char scratch[DF_PATH_MAX + 96], dir[DF_PATH_MAX];   /* out: < DF_PATH_MAX - 32 */
    parent_dir(out, dir, sizeof dir);
    const char *base = strrchr(out, '/');
    base = base ? base + 1 : out;
    snprintf(scratch, sizeof scratch, "%s/.%.64s.XXXXXX", dir, base);
    if (!mkdtemp(scratch))
        return df_fail(err, DF_ESYS, "%s: cannot create a scratch directory in %s: %s", out,
                       dir, strerror(errno));
    float *momentum = df_calloc(net->n_params ? net->n_params : 1, sizeof(float), err);
    df_ckpt_meta meta;
    memset(&meta, 0, sizeof meta);     /* created, library_version: now, this one */
    meta.step = 0;
    meta.world_size = 1;
    meta.seed = cfg->run.seed;
    meta.global_batch = cfg->solver.batch;
    char written[DF_PATH_MAX + 64] = "";
    /* zero momentum rather than none: `train --resume OUT` then works too */
    int rc = momentum ? df_checkpoint_save(scratch, net, momentum, cfg, NULL, &meta, 0,
                                           written, sizeof written, err)
                      : df_fail(err, DF_ENOMEM, "out of memory");
    if (rc == DF_OK)
        rc = move_into_place(written, out, force, err);
    free(momentum);
    remove_scratch(scratch);
    return rc;
}

int df_compress(const char *ckpt, const char *out, const df_compress_opts *opts,
                df_compress_report *rep, df_error *err)
{
    memset(rep, 0, sizeof *rep);
    int rc = check_output(out, opts->force, err);
    if (rc)
        return rc;
    df_model *src = calloc(1, sizeof *src);
    df_config *cfg = calloc(1, sizeof *cfg);
    df_net *net = calloc(1, sizeof *net);
    if (!src || !cfg || !net) {
        free(src);
        free(cfg);
        free(net);
        return df_fail(err, DF_ENOMEM, "out of memory");
    }
    rc = df_model_open(src, ckpt, opts->overrides, opts->n_overrides, 1, rep->shape_note,
                       sizeof rep->shape_note, err);
    int idx = -1;
    if (!rc)
        rc = find_target(ckpt, &src->net, &src->cfg, opts, &idx, err);
    if (!rc) {
        snprintf(rep->layer, sizeof rep->layer, "%s", opts->layer);
        rep->source_step = src->meta.step;
        rc = compressed_config(&src->cfg, idx, opts->rank, out, cfg, rep, err);
    }
    if (!rc)
        rc = df_net_build(net, cfg->layers, cfg->n_layers, src->in_c, src->in_h, src->in_w, 1,
                          err);
    if (!rc) {
        rc = fill_params(net, &src->net, idx, opts->rank, rep, err);
        if (!rc)
            rc = save_as(out, opts->force, net, cfg, err);
        df_net_free(net);
    }
    df_model_close(src);
    free(src);
    free(cfg);
    free(net);
    return rc;
}
