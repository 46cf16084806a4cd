/* The .conf file: INI sections [run] [data] [solver] [checkpoint] [comm] and
 * one [layer NAME] section per layer, in network order (like Caffe's
 * prototxt). Every key is validated; an error names file, line and key. */
#ifndef DEEPFRIED_CONFIG_H
#define DEEPFRIED_CONFIG_H

#include <stdint.h>
#include "deepfried/error.h"

#define DF_MAX_LAYERS 64
#define DF_NAME_MAX 64
#define DF_PATH_MAX 1024
#define DF_CONFIG_MAX_BYTES (1 << 20)   /* a larger .conf is refused */

typedef enum df_layer_type {
    DF_LAYER_CONV,
    DF_LAYER_MAXPOOL,
    DF_LAYER_RELU,
    DF_LAYER_DENSE,
    DF_LAYER_FASTFOOD,
    DF_LAYER_DROPOUT,
    DF_LAYER_SOFTMAX_LOSS
} df_layer_type;

/* Config spellings: "conv", "maxpool", "relu", "dense", "fastfood",
 * "dropout", "softmax_loss". */
const char *df_layer_type_name(df_layer_type t);

typedef struct df_layer_spec {
    char name[DF_NAME_MAX];
    df_layer_type type;
    int line;               /* line of the [layer NAME] header */

    int outputs;            /* conv: output channels; dense: output features */
    int kernel, stride, pad;/* conv (stride 1, pad 0), maxpool (stride = kernel) */

    /* conv, dense: weight init "xavier" (Caffe: U(+-sqrt(3/fan_in))) or
     * "gaussian" (N(0, weight_std^2)); biases start at 0 */
    char weight_filler[16];
    float weight_std;       /* default 0.01 */
    int bias;               /* dense: 1 (default) adds a learned bias; 0 has
                               none (the first factor of an SVD-compressed
                               layer, deepfried compress) */

    /* per-tensor multipliers of base_lr and weight_decay (Caffe's
     * lr_mult/decay_mult); for fastfood they apply to S, G and B */
    float lr_mult, bias_lr_mult;       /* default 1, 2 */
    float decay_mult, bias_decay_mult; /* default 1, 1 */

    /* fastfood */
    int features;           /* n, output width (required) */
    int adaptive;           /* 1: learn S, G, B (default); 0: fixed random */
    float sigma;            /* init scale; unset: 1/sqrt(d_in), Xavier's variance (net.c) */
    int sigma_set;          /* 1 if sigma was given in the file */
    float dropout_input;    /* dropout probability before B (default 0) */
    float dropout_perm;     /* after the permutation (default 0) */
    float dropout_scale;    /* after S (default 0) */

    /* dropout */
    float ratio;            /* drop probability in [0, 1) (default 0.5) */
} df_layer_spec;

typedef enum df_lr_policy {
    DF_LR_FIXED, DF_LR_STEP, DF_LR_INV, DF_LR_COSINE
} df_lr_policy;

typedef struct df_config {
    char path[DF_PATH_MAX];     /* the file it was read from */

    struct {
        char name[DF_NAME_MAX];
        char dir[DF_PATH_MAX];  /* default "runs/<name>" */
        uint64_t seed;          /* default 1 */
        int threads;            /* the layers' threads per rank; 0 = auto */
    } run;

    struct {
        char train_images[DF_PATH_MAX], train_labels[DF_PATH_MAX];
        char test_images[DF_PATH_MAX], test_labels[DF_PATH_MAX];
        float scale;            /* pixel multiplier, default 1/256 (Caffe LeNet) */
        int64_t holdout;        /* N training items held out (default 0) */
        int64_t holdout_start;  /* the first of them; -1 (default): the last N */
        int eval_holdout;       /* 1: periodic evaluation on the holdout set
                                   instead of the test set (for tuning) */
    } data;

    struct {
        int batch;              /* global batch, default 64 */
        int64_t iterations;     /* default 10000 */
        int display;            /* progress line every N steps, default 100 */
        int test_interval;      /* evaluation every N steps, default 500; 0 = only at end */
        double base_lr;         /* default 0.01 */
        double momentum;        /* default 0.9 */
        double weight_decay;    /* default 0.0005 */
        df_lr_policy lr_policy; /* default inv */
        double gamma;           /* inv: 1e-4; step: 0.1 */
        double power;           /* inv: 0.75 */
        int64_t stepsize;       /* step: required */
        double min_lr;          /* cosine: floor, default 0 */
        int64_t warmup;         /* linear warm-up steps, default 0 */
    } solver;

    struct {
        int interval;           /* steps between checkpoints, 0 = only at end */
        int keep;               /* checkpoints kept, default 3 */
        char dir[DF_PATH_MAX];  /* default: run.dir */
    } checkpoint;

    struct {
        int bucket_kb;          /* allreduce bucket size, default 256 */
        int dtype_bf16;         /* comm.dtype: fp32 (0, default) or bf16 (1) */
    } comm;

    int n_layers;
    df_layer_spec layers[DF_MAX_LAYERS];
} df_config;

/* Fill *cfg with the defaults above (no layers). */
void df_config_defaults(df_config *cfg);

/* Read and validate `path`, then apply overrides "section.key=value"
 * (layer keys as "NAME.key" or "layer.NAME.key"), then validate the whole.
 * Checks that the data files exist. Returns 0 or DF_EINPUT with a message
 * "FILE:LINE: key 'section.key': what is wrong" (overrides: "--set ...").
 * Every section but [layer ...] may appear at most once. */
int df_config_load(df_config *cfg, const char *path,
                   const char *const *overrides, int n_overrides,
                   df_error *err);

/* df_config_load with the data-file checks made optional (inspect needs
 * no data). */
int df_config_load_file(df_config *cfg, const char *path,
                        const char *const *overrides, int n_overrides,
                        int check_files, df_error *err);

/* Parse from a string (for checkpoints and tests); `origin` names it in
 * errors. check_files = 0 skips the data-file existence checks. */
int df_config_parse(df_config *cfg, const char *text, const char *origin,
                    const char *const *overrides, int n_overrides,
                    int check_files, df_error *err);

/* The fully resolved config (every key, defaults included) as .conf text
 * that df_config_parse reads back to an equal struct (but for `path` and
 * the layers' `line`). malloc'ed. On a failed parse *cfg is partly
 * filled and must not be used. */
char *df_config_to_text(const df_config *cfg);

/* Index of the layer called name, or -1. */
int df_config_find_layer(const df_config *cfg, const char *name);

#endif
