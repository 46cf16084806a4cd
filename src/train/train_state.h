/* The training loop's state, shared by train.c (the loop) and
 * train_checkpoint.c (resume and checkpoint cadence). Private to src/. */
#ifndef DEEPFRIED_TRAIN_STATE_H
#define DEEPFRIED_TRAIN_STATE_H

#include "deepfried/data.h"
#include "deepfried/dist.h"
#include "deepfried/metrics.h"
#include "deepfried/net.h"
#include "deepfried/solver.h"
#include "deepfried/train.h"

typedef struct train_state {
    const df_config *cfg;
    const df_train_opts *opts;
    df_dist *dist;
    FILE *log;
    df_train_data data;
    df_net net;
    df_solver solver;
    df_reducer *reducer;
    df_sampler sampler;
    float *x;
    int32_t *y;
    int64_t *idx;
    int local_batch;
    df_metrics metrics;
    char csv_path[DF_PATH_MAX + 32];
    int64_t start_step;         /* 0, or the step a checkpoint resumed at */
    char last_checkpoint[DF_PATH_MAX + 64];
    int lock_fd[2];             /* rank 0: run.dir's and checkpoint.dir's locks */
} train_state;

/* Rank 0's parameters, momentum and fixed Fastfood state to every rank. */
int df_train_bcast_model(train_state *st, df_error *err);

/* The testing aid: the failure opts->fault injects here on this rank, if
 * any (a SIGKILL does not return). */
int df_train_injected(train_state *st, int where, int64_t step, df_error *err);

/* Start from opts->init_from's parameters (rank 0 loads, everyone
 * receives), after the fresh init and before any resume. */
int df_train_init_from(train_state *st, df_error *err);

/* Resume as opts->resume says (rank 0 loads, everyone receives), after
 * the fresh init. Sets st->start_step and the metrics so far. */
int df_train_resume(train_state *st, df_error *err);

/* Rank 0 saves a checkpoint of `done` steps; every rank learns the result. */
int df_train_checkpoint(train_state *st, int64_t done, df_error *err);

/* Rewrite metrics.csv from st->metrics (after a resume). */
int df_train_rewrite_csv(train_state *st, df_error *err);

#endif
