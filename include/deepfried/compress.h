/* Post-training compression of a dense layer by truncated SVD (paper
 * Section 7): a trained layer NAME, y = W x + b with W (m outputs, n
 * inputs), becomes two dense layers
 *
 *     NAME_svd  (n -> k, no bias)   weight R = sqrt(S_k) V_k^T   (k, n)
 *     NAME      (k -> m, bias b)    weight L = U_k sqrt(S_k)     (m, k)
 *
 * so that L R is the best rank-k approximation of W, later layers keep
 * their names and NAME keeps its bias. The result is a full checkpoint
 * that eval, inspect and train (fine-tuning) take like any other. */
#ifndef DEEPFRIED_COMPRESS_H
#define DEEPFRIED_COMPRESS_H

#include <stddef.h>
#include <stdint.h>

#include "deepfried/config.h"
#include "deepfried/error.h"
#include "deepfried/svd.h"

typedef struct df_compress_opts {
    const char *layer;          /* the dense layer to factor */
    int rank;                   /* k, 1 <= k < min(m, n) */
    int force;                  /* replace an existing output file */
    const char *const *overrides;   /* --set for the stored config (may be NULL) */
    int n_overrides;
} df_compress_opts;

typedef struct df_compress_report {
    char layer[DF_NAME_MAX];        /* NAME */
    char first[DF_NAME_MAX];        /* NAME_svd */
    char run_name[DF_NAME_MAX];     /* the new run.name: <old>-NAME-rank<k> */
    int64_t source_step;            /* step of the checkpoint compressed */
    int m, n, k;                    /* outputs, inputs, rank */
    int has_bias;
    size_t layer_params_before;     /* m n (+ m) */
    size_t layer_params_after;      /* k n + m k (+ m) */
    size_t net_params_before, net_params_after;
    df_svd_report svd;
    char shape_note[1200];          /* "" or why the input shape was assumed */
} df_compress_report;

/* Factor layer opts->layer of checkpoint ckpt at rank opts->rank and write
 * the compressed model to out: the stored config with the layer replaced,
 * run.name suffixed, run.dir and checkpoint.dir reset to their defaults
 * (runs/<new name>); every other layer's parameters (and Fastfood's fixed
 * state) copied; step 0, zero momentum, no metrics. out appears whole or
 * not at all (written beside it, then linked or, with force, renamed into
 * place). Errors (DF_EINPUT) name the file or the argument at fault: an
 * existing out without force, a missing or damaged ckpt, an unknown layer
 * (listing the dense layers), a layer that is not dense, a rank outside
 * [1, min(m, n) - 1]. */
int df_compress(const char *ckpt, const char *out, const df_compress_opts *opts,
                df_compress_report *rep, df_error *err);

#endif
