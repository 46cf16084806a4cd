/* The .conf file: INI sections [run] [data] [solver] [checkpoint] [comm] and
 * one [layer NAME] section per layer, in network order (like Caffe's
 * prototxt). Every key is validated; an error names file, line and key. */
#ifndef DEEPFRIED_CONFIG_H
#define DEEPFRIED_CONFIG_H

#include <stdint.h>
#include "deepfried/error.h"
#include "deepfried/layer_spec.h"
#include "deepfried/solver.h"

#define DF_PATH_MAX 1024
#define DF_CONFIG_MAX_BYTES (1 << 20)   /* a larger .conf is refused */

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

    df_solver_spec solver;

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
