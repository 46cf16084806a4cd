/* The config's schema: every key of the global sections, and the layer
 * keys gathered from the layer table (layer_kind.h): where each value
 * goes, how it is parsed, which range is legal; and the defaults. The
 * parser, the checks and the writer all walk these tables, so a key cannot
 * be readable but not writable, or the other way round. */
#define _POSIX_C_SOURCE 200809L

#include "io/config_internal.h"

#include <assert.h>
#include <limits.h>
#include <math.h>
#include <pthread.h>
#include <string.h>

const char *const cfg_section_names[N_SECTIONS] = {
    "", "run", "data", "solver", "checkpoint", "comm", "layer"
};

static const char *const lr_policy_names[] = {
    "fixed", "step", "inv", "cosine", NULL
};
static const char *const eval_on_names[] = { "test", "holdout", NULL };
static const char *const dtype_names[] = { "fp32", "bf16", NULL };

/* Enum fields are written as int; that must be their size. */
_Static_assert(sizeof(df_lr_policy) == sizeof(int), "enum size");
_Static_assert(sizeof(df_layer_type) == sizeof(int), "enum size");

#define CFG(f) offsetof(df_config, f), sizeof(((df_config *)0)->f)
#define LAY(f) offsetof(df_layer_spec, f), sizeof(((df_layer_spec *)0)->f)
#define NOINT 0, 0
#define NOFLT 0.0, 0.0, 0
#define BIG_COUNT (1LL << 40)       /* steps / items: far beyond any run */

const key_def cfg_global_keys[] = {
    { SEC_RUN, "name", V_NAME, CFG(run.name), NOINT, NOFLT, NULL, 0, 0 },
    { SEC_RUN, "dir", V_PATH, CFG(run.dir), NOINT, NOFLT, NULL, 0, 0 },
    { SEC_RUN, "seed", V_UINT64, CFG(run.seed), NOINT, NOFLT, NULL, 0, 0 },
    { SEC_RUN, "threads", V_INT, CFG(run.threads), 0, 4096, NOFLT, NULL, 0, 0 },

    { SEC_DATA, "train_images", V_PATH, CFG(data.train_images), NOINT, NOFLT, NULL, 0, 0 },
    { SEC_DATA, "train_labels", V_PATH, CFG(data.train_labels), NOINT, NOFLT, NULL, 0, 0 },
    { SEC_DATA, "test_images", V_PATH, CFG(data.test_images), NOINT, NOFLT, NULL, 0, 0 },
    { SEC_DATA, "test_labels", V_PATH, CFG(data.test_labels), NOINT, NOFLT, NULL, 0, 0 },
    { SEC_DATA, "scale", V_FLOAT, CFG(data.scale), NOINT, 0.0, INFINITY, LO_OPEN, NULL, 0, 0 },
    { SEC_DATA, "holdout", V_INT64, CFG(data.holdout), 0, BIG_COUNT, NOFLT, NULL, 0, 0 },
    /* -1: the last data.holdout items (the default, written back as such) */
    { SEC_DATA, "holdout_start", V_INT64, CFG(data.holdout_start), -1, BIG_COUNT, NOFLT, NULL, 0, 0 },
    { SEC_DATA, "eval_on", V_ENUM, CFG(data.eval_holdout), NOINT, NOFLT, eval_on_names, 0, 0 },

    { SEC_SOLVER, "batch", V_INT, CFG(solver.batch), 1, 1 << 20, NOFLT, NULL, 0, 0 },
    { SEC_SOLVER, "iterations", V_INT64, CFG(solver.iterations), 1, BIG_COUNT, NOFLT, NULL, 0, 0 },
    { SEC_SOLVER, "display", V_INT, CFG(solver.display), 1, INT_MAX, NOFLT, NULL, 0, 0 },
    { SEC_SOLVER, "test_interval", V_INT, CFG(solver.test_interval), 0, INT_MAX, NOFLT, NULL, 0, 0 },
    { SEC_SOLVER, "base_lr", V_DOUBLE, CFG(solver.base_lr), NOINT, 0.0, INFINITY, LO_OPEN, NULL, 0, 0 },
    { SEC_SOLVER, "momentum", V_DOUBLE, CFG(solver.momentum), NOINT, 0.0, 1.0, HI_OPEN, NULL, 0, 0 },
    { SEC_SOLVER, "weight_decay", V_DOUBLE, CFG(solver.weight_decay), NOINT, 0.0, INFINITY, 0, NULL, 0, 0 },
    { SEC_SOLVER, "lr_policy", V_ENUM, CFG(solver.lr_policy), NOINT, NOFLT, lr_policy_names, 0, 0 },
    { SEC_SOLVER, "gamma", V_DOUBLE, CFG(solver.gamma), NOINT, 0.0, INFINITY, 0, NULL, 0, 0 },
    { SEC_SOLVER, "power", V_DOUBLE, CFG(solver.power), NOINT, 0.0, INFINITY, 0, NULL, 0, 0 },
    /* 0 = not used; lr_policy = step demands >= 1 (checked as a whole) */
    { SEC_SOLVER, "stepsize", V_INT64, CFG(solver.stepsize), 0, BIG_COUNT, NOFLT, NULL, 0, 0 },
    { SEC_SOLVER, "min_lr", V_DOUBLE, CFG(solver.min_lr), NOINT, 0.0, INFINITY, 0, NULL, 0, 0 },
    { SEC_SOLVER, "warmup", V_INT64, CFG(solver.warmup), 0, BIG_COUNT, NOFLT, NULL, 0, 0 },

    { SEC_CHECKPOINT, "interval", V_INT, CFG(checkpoint.interval), 0, INT_MAX, NOFLT, NULL, 0, 0 },
    { SEC_CHECKPOINT, "keep", V_INT, CFG(checkpoint.keep), 1, 10000, NOFLT, NULL, 0, 0 },
    { SEC_CHECKPOINT, "dir", V_PATH, CFG(checkpoint.dir), NOINT, NOFLT, NULL, 0, 0 },

    { SEC_COMM, "bucket_kb", V_INT, CFG(comm.bucket_kb), 1, 1 << 20, NOFLT, NULL, 0, 0 },
    { SEC_COMM, "dtype", V_ENUM, CFG(comm.dtype_bf16), NOINT, NOFLT, dtype_names, 0, 0 },
};


/* The layer keys are the layer types' (layer_kind.h): "type", then every
 * key some type takes, in table order, each with a bit per type that takes
 * it. Built once, from the table. */
#define LAYER_KEY_TYPE 0            /* index of "type" in cfg_layer_keys */

key_def cfg_layer_keys[MAX_LAYER_KEYS];
int cfg_n_layer_keys;
const char *cfg_layer_type_names[MAX_LAYER_TYPES + 1];
static pthread_once_t layer_schema_once = PTHREAD_ONCE_INIT;

static const value_kind key_kind_values[] = {
    [DF_KEY_INT] = V_INT, [DF_KEY_FLOAT] = V_FLOAT, [DF_KEY_BOOL] = V_BOOL,
    [DF_KEY_NAME] = V_NAME,
};

static key_def layer_key_def(const df_layer_key *k)
{
    key_def d = {
        .section = SEC_LAYER, .name = k->name, .kind = key_kind_values[k->kind],
        .offset = k->offset, .size = k->size, .ilo = k->ilo, .ihi = k->ihi, .flo = k->flo,
        .fhi = k->fhi, .open = k->open, .choices = k->choices, .given_offset = k->given_offset,
    };
    return d;
}

/* Two types' keys of one name must be one key (layer_kind.h). */
static int same_key(const key_def *a, const key_def *b)
{
    return a->kind == b->kind && a->offset == b->offset && a->size == b->size &&
           a->ilo == b->ilo && a->ihi == b->ihi && a->flo == b->flo && a->fhi == b->fhi &&
           a->open == b->open && a->choices == b->choices && a->given_offset == b->given_offset;
}

static void build_layer_schema(void)
{
    int n_types = df_layer_kind_count();
    assert(n_types <= MAX_LAYER_TYPES);
    cfg_layer_keys[LAYER_KEY_TYPE] = (key_def){
        .section = SEC_LAYER, .name = "type", .kind = V_ENUM, .offset = offsetof(df_layer_spec, type),
        .size = sizeof(df_layer_type), .choices = cfg_layer_type_names,
    };
    cfg_n_layer_keys = 1;
    for (int t = 0; t < n_types; t++) {
        const df_layer_kind *kind = df_layer_kind_of((df_layer_type)t);
        cfg_layer_type_names[t] = kind->name;
        cfg_layer_keys[LAYER_KEY_TYPE].layer_types |= 1u << t;
        for (const df_layer_key *k = kind->keys; k && k->name; k++) {
            key_def d = layer_key_def(k);
            int i = 1;
            while (i < cfg_n_layer_keys && strcmp(cfg_layer_keys[i].name, k->name) != 0)
                i++;
            if (i == cfg_n_layer_keys) {
                assert(cfg_n_layer_keys < MAX_LAYER_KEYS);
                cfg_layer_keys[cfg_n_layer_keys++] = d;
            }
            assert(same_key(&cfg_layer_keys[i], &d));
            cfg_layer_keys[i].layer_types |= 1u << t;
        }
    }
    cfg_layer_type_names[n_types] = NULL;
}

void cfg_layer_schema(void)
{
    pthread_once(&layer_schema_once, build_layer_schema);
}

/* Keys a layer of each type cannot do without (besides type). */
int cfg_layer_key_required(int key, df_layer_type t)
{
    const df_layer_key *k = df_layer_kind_key(df_layer_kind_of(t), cfg_layer_keys[key].name);
    return k && (k->flags & DF_KEY_REQUIRED);
}

_Static_assert(sizeof cfg_global_keys / sizeof cfg_global_keys[0] <= MAX_GLOBAL_KEYS,
               "raise MAX_GLOBAL_KEYS");
const int cfg_n_global_keys = (int)(sizeof cfg_global_keys / sizeof cfg_global_keys[0]);

int cfg_find_key(enum section sec, span key)
{
    const key_def *table = sec == SEC_LAYER ? cfg_layer_keys : cfg_global_keys;
    int n = sec == SEC_LAYER ? cfg_n_layer_keys : cfg_n_global_keys;
    for (int i = 0; i < n; i++)
        if (table[i].section == sec && cfg_span_is(key, table[i].name))
            return i;
    return -1;
}

void cfg_layer_defaults(df_layer_spec *l)
{
    memset(l, 0, sizeof *l);
    l->stride = 1;
    strcpy(l->weight_filler, "xavier");
    l->weight_std = 0.01f;
    l->lr_mult = 1.0f;
    l->bias_lr_mult = 2.0f;
    l->decay_mult = 1.0f;
    l->bias_decay_mult = 1.0f;
    l->bias = 1;
    l->adaptive = 1;
    l->ratio = 0.5f;
}

void df_config_defaults(df_config *cfg)
{
    memset(cfg, 0, sizeof *cfg);
    cfg->run.seed = 1;
    cfg->data.scale = 0.00390625f;  /* 1/256, Caffe LeNet */
    cfg->data.holdout_start = -1;
    cfg->solver.batch = 64;
    cfg->solver.iterations = 10000;
    cfg->solver.display = 100;
    cfg->solver.test_interval = 500;
    cfg->solver.base_lr = 0.01;
    cfg->solver.momentum = 0.9;
    cfg->solver.weight_decay = 0.0005;
    cfg->solver.lr_policy = DF_LR_INV;
    cfg->solver.gamma = 1e-4;
    cfg->solver.power = 0.75;
    cfg->checkpoint.keep = 3;
    cfg->comm.bucket_kb = 256;
}

int df_config_find_layer(const df_config *cfg, const char *name)
{
    for (int i = 0; i < cfg->n_layers; i++)
        if (strcmp(cfg->layers[i].name, name) == 0)
            return i;
    return -1;
}
