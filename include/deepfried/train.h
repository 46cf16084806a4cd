/* The training loop: ties data, network, solver and dist together.
 * load; build; loop { forward; backward; allreduce; update; maybe eval } */
#ifndef DEEPFRIED_TRAIN_H
#define DEEPFRIED_TRAIN_H

#include <signal.h>
#include <stdint.h>
#include <stdio.h>

#include "deepfried/config.h"
#include "deepfried/data.h"
#include "deepfried/dist.h"
#include "deepfried/error.h"
#include "deepfried/net.h"

typedef struct df_train_result {
    int64_t steps;              /* steps completed */
    double final_loss;          /* mean training loss of the last window */
    double test_error;          /* final evaluation, fraction */
    double test_loss;
    int64_t test_items;
    const char *eval_set;       /* "test" or "holdout" */
    size_t n_params;            /* trainable floats */
    uint64_t checksum;          /* of the final parameters */
    int replicas_identical;     /* every rank ended with the same checksum */
    double seconds;             /* training wall time */
    double images_per_s;
    uint64_t bytes_per_step;    /* allreduced by one rank */
    int64_t resumed_from;       /* step the run resumed at (0: fresh) */
    char checkpoint[DF_PATH_MAX + 64]; /* the last checkpoint written */
} df_train_result;

/* Testing aid (DEEPFRIED_INJECT_FAULT=RANK:KIND:WHERE[:STEP]): a failure
 * of this kind on this rank only, at this point of the run. */
enum { DF_FAULT_NONE, DF_FAULT_ENOMEM, DF_FAULT_EIO, DF_FAULT_KILL, DF_FAULT_DIVERGE };
enum { DF_AT_SETUP, DF_AT_STEP, DF_AT_EVAL, DF_AT_CHECKPOINT };
typedef struct df_fault {
    int kind;                   /* DF_FAULT_*; NONE: no injection */
    int rank;
    int where;                  /* DF_AT_* */
    int64_t step;               /* STEP: that step (0-based, as inject_nan);
                                   EVAL, CHECKPOINT: the first at or after
                                   this many steps done */
} df_fault;

/* How a run reports and what it leaves besides the run directory. */
typedef struct df_train_opts {
    FILE *log;                  /* progress lines (rank 0); NULL: silent */
    FILE *warn;                 /* warnings (rank 0), e.g. a damaged checkpoint
                                   skipped on resume; NULL: silent */
    const char *dump_params;    /* write final params as raw float32, or NULL */
    int profile;                /* time each layer; table to log at the end */
    int64_t inject_nan_step;    /* testing aid: make this step's loss NaN ... */
    int inject_nan_rank;        /* ... on this rank (-1: never) */
    const char *resume;         /* NULL: fresh; "auto": latest in checkpoint.dir
                                   if any; else a checkpoint path */
    volatile sig_atomic_t *stop_signal; /* set (to the signal number) by the
                                   CLI's handler: checkpoint and stop */
    const char *init_from;      /* NULL, or a checkpoint whose parameters
                                   (not momentum, step or metrics) replace the
                                   fresh init: fine-tuning, e.g. after
                                   `deepfried compress`. Refused when it lies
                                   in checkpoint.dir (it would be pruned).
                                   A resumed checkpoint takes precedence. */
    df_fault fault;             /* testing aid; zero: none */
} df_train_opts;

/* Train as cfg says. Every rank returns the same status and message
 * (dist->agreed), except after an MPI failure (then the CLI aborts). */
int df_train_run(const df_config *cfg, df_dist *dist, const df_train_opts *opts,
                 df_train_result *res, df_error *err);

/* The flat parameter buffer as raw little-endian float32 (rank 0). */
int df_write_raw_floats(const char *path, const float *v, size_t n, df_error *err);

/* The data a config names: training set (minus the holdout) and the
 * evaluation set (test set, or the holdout when data.eval_on = holdout). */
typedef struct df_train_data {
    df_dataset train, eval;
    const char *eval_name;
    int64_t holdout_first;      /* first held-out training item (holdout > 0) */
} df_train_data;

int df_train_data_load(df_train_data *td, const df_config *cfg, df_error *err);
void df_train_data_free(df_train_data *td);

/* Mean loss and error over a dataset, split over the ranks and summed. */
int df_evaluate(df_net *net, df_dist *dist, const df_dataset *ds, float scale,
                double *loss, double *error, df_error *err);

/* The layers' threads for this rank: run.threads, or cores / ranks on the node. */
int df_train_threads(const df_config *cfg, const df_dist *dist);

#endif
