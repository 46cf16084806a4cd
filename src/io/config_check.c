/* The whole-config checks, after the file and every override: each
 * layer complete and its type's own finish (layer_kind.h), the loss last,
 * the solver and data settings that depend on each other, the run
 * directories resolved, the data files readable. */
#define _POSIX_C_SOURCE 200809L

#include "io/config_internal.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* ---- whole-config checks and resolved defaults ---- */

static origin_ref global_src_of(const parser *ps, enum section sec, const char *key)
{
    int k = cfg_find_key(sec, (span){ key, strlen(key) });
    return ps->global_src[k];
}

/* Where to point for a key: its own line, else its section's header. */
static origin_ref where_for(const parser *ps, enum section sec, const char *key)
{
    origin_ref src = global_src_of(ps, sec, key);
    return src ? src : ps->section_line[sec];
}

static int check_layer_required(const parser *ps, int layer)
{
    const df_layer_spec *l = &ps->cfg->layers[layer];
    for (int k = 0; k < cfg_n_layer_keys; k++) {
        if (!cfg_layer_key_required(k, l->type) || ps->layer_src[layer][k])
            continue;
        char q[128];
        snprintf(q, sizeof q, "layer %s.%s", l->name, cfg_layer_keys[k].name);
        return cfg_fail_at(ps, l->line, q, NULL, 0, "missing; a %s layer needs %s",
                       cfg_layer_type_names[l->type], cfg_layer_keys[k].name);
    }
    return 0;
}

/* finish's view of what a layer section (or an override) gave */
typedef struct given_ctx {
    const parser *ps;
    int layer;
} given_ctx;

static int layer_key_given(const void *ctx, const char *key)
{
    const given_ctx *g = ctx;
    int k = cfg_find_key(SEC_LAYER, (span){ key, strlen(key) });
    return k >= 0 && g->ps->layer_src[g->layer][k] != 0;
}

static int check_layer(parser *ps, int layer)
{
    df_layer_spec *l = &ps->cfg->layers[layer];
    int rc = cfg_check_layer_keys(ps, layer);
    if (!rc)
        rc = check_layer_required(ps, layer);
    const df_layer_kind *kind = df_layer_kind_of(l->type);
    if (rc || !kind->finish)
        return rc;
    given_ctx g = { ps, layer };
    const char *key = "type";
    char why[256] = "";
    if (kind->finish(l, layer_key_given, &g, &key, why, sizeof why) == DF_OK)
        return 0;
    char q[128];
    int k = cfg_find_key(SEC_LAYER, (span){ key, strlen(key) });
    snprintf(q, sizeof q, "layer %s.%s", l->name, key);
    return cfg_fail_at(ps, k >= 0 ? ps->layer_src[layer][k] : l->line, q, NULL, 0, "%s", why);
}

/* The loss closes the network: exactly one softmax_loss, at the end. */
static int check_layer_order(const parser *ps)
{
    const df_config *cfg = ps->cfg;
    for (int i = 0; i < cfg->n_layers; i++) {
        const df_layer_spec *l = &cfg->layers[i];
        int is_loss = df_layer_kind_of(l->type)->is_loss, is_last = i == cfg->n_layers - 1;
        if (is_loss == is_last)
            continue;
        char q[128];
        const char *type = cfg_layer_type_names[l->type];
        snprintf(q, sizeof q, "layer %s.type", l->name);
        if (is_last)
            return cfg_fail_at(ps, ps->layer_src[i][LAYER_KEY_TYPE], q, type, strlen(type),
                           "the last layer must be softmax_loss");
        return cfg_fail_at(ps, ps->layer_src[i][LAYER_KEY_TYPE], q, type, strlen(type),
                       "softmax_loss must be the last layer, but layer '%s' follows",
                       cfg->layers[i + 1].name);
    }
    return 0;
}

static int check_layers(parser *ps)
{
    if (ps->cfg->n_layers == 0)
        return df_fail(ps->err, DF_EINPUT,
                       "%s: no [layer NAME] sections; a network needs layers, the last of type softmax_loss",
                       ps->origin);
    for (int i = 0; i < ps->cfg->n_layers; i++) {
        int rc = check_layer(ps, i);
        if (rc)
            return rc;
    }
    return check_layer_order(ps);
}

static int check_solver(parser *ps)
{
    df_config *cfg = ps->cfg;
    if (cfg->solver.lr_policy != DF_LR_STEP)
        return 0;
    if (!global_src_of(ps, SEC_SOLVER, "gamma"))
        cfg->solver.gamma = 0.1;    /* Caffe's usual step factor */
    if (cfg->solver.stepsize < 1)
        return cfg_fail_at(ps, where_for(ps, SEC_SOLVER, "lr_policy"), "solver.lr_policy",
                       "step", 4, "lr_policy 'step' requires solver.stepsize >= 1");
    return 0;
}

static int check_data(const parser *ps)
{
    const df_config *cfg = ps->cfg;
    static const char *const required[] = {
        "train_images", "train_labels", "test_images", "test_labels"
    };
    for (int i = 0; i < 4; i++) {
        int k = cfg_find_key(SEC_DATA, (span){ required[i], strlen(required[i]) });
        const char *path = cfg_field_of(ps, &cfg_global_keys[k], 0);
        if (path[0] == '\0') {
            char q[64];
            snprintf(q, sizeof q, "data.%s", required[i]);
            return cfg_fail_at(ps, ps->section_line[SEC_DATA], q, NULL, 0,
                           "missing; a path is required");
        }
    }
    if (cfg->data.eval_holdout && cfg->data.holdout <= 0)
        return cfg_fail_at(ps, where_for(ps, SEC_DATA, "eval_on"), "data.eval_on",
                       "holdout", 7, "evaluating on the holdout set needs data.holdout > 0");
    if (cfg->data.holdout_start >= 0 && cfg->data.holdout <= 0)
        return cfg_fail_at(ps, where_for(ps, SEC_DATA, "holdout_start"), "data.holdout_start",
                       NULL, 0, "says where the held-out items start, but data.holdout is 0");
    return 0;
}

/* Data files must be readable before any rank starts work. */
static int check_data_files(const parser *ps)
{
    static const char *const keys[] = {
        "train_images", "train_labels", "test_images", "test_labels"
    };
    for (int i = 0; i < 4; i++) {
        int k = cfg_find_key(SEC_DATA, (span){ keys[i], strlen(keys[i]) });
        const char *path = cfg_field_of(ps, &cfg_global_keys[k], 0);
        struct stat st;
        char q[64];
        snprintf(q, sizeof q, "data.%s", keys[i]);
        origin_ref src = where_for(ps, SEC_DATA, keys[i]);
        if (access(path, R_OK) != 0)
            return cfg_fail_at(ps, src, q, path, strlen(path), "cannot read data file: %s",
                           strerror(errno));
        if (stat(path, &st) == 0 && S_ISDIR(st.st_mode))
            return cfg_fail_at(ps, src, q, path, strlen(path),
                           "is a directory, not a data file");
    }
    return 0;
}

/* run.name from the config's file name: "conf/mnist-x.conf" -> "mnist-x",
 * with characters a run name may not hold replaced by '_'. */
static int default_run_name(parser *ps)
{
    const char *base = strrchr(ps->origin, '/');
    base = base ? base + 1 : ps->origin;
    size_t n = strlen(base);
    if (n > 5 && strcmp(base + n - 5, ".conf") == 0)
        n -= 5;
    if (n == 0 || (n <= 2 && strncmp(base, "..", n) == 0)) {
        strcpy(ps->cfg->run.name, "run");
        return 0;
    }
    if (n > DF_NAME_MAX - 1)
        return cfg_fail_at(ps, ps->section_line[SEC_RUN], "run.name", base, n,
                       "the default taken from the file name is longer than %d characters; set run.name",
                       DF_NAME_MAX - 1);
    for (size_t i = 0; i < n; i++)
        ps->cfg->run.name[i] = cfg_is_safe_name_char(base[i], 1) ? base[i] : '_';
    return 0;
}

static int resolve_dirs(parser *ps)
{
    df_config *cfg = ps->cfg;
    if (!global_src_of(ps, SEC_RUN, "name")) {
        int rc = default_run_name(ps);
        if (rc)
            return rc;
    }
    if (!global_src_of(ps, SEC_RUN, "dir"))
        snprintf(cfg->run.dir, sizeof cfg->run.dir, "runs/%s", cfg->run.name);
    if (!global_src_of(ps, SEC_CHECKPOINT, "dir"))
        memcpy(cfg->checkpoint.dir, cfg->run.dir, sizeof cfg->run.dir);
    return 0;
}

int cfg_finalize(parser *ps, int check_files)
{
    int rc = check_layers(ps);
    if (!rc)
        rc = check_solver(ps);
    if (!rc)
        rc = check_data(ps);
    if (!rc)
        rc = resolve_dirs(ps);
    if (!rc && check_files)
        rc = check_data_files(ps);
    return rc;
}
