/* The run's history: one row per display or evaluation step, kept in
 * memory (checkpoints carry it) and appended to <run.dir>/metrics.csv. */
#ifndef DEEPFRIED_METRICS_H
#define DEEPFRIED_METRICS_H

#include <stdint.h>
#include <stdio.h>

#include "deepfried/error.h"

typedef struct df_metrics_row {
    int64_t step;           /* steps completed */
    double epoch;           /* fractional epochs seen */
    double loss;            /* mean training loss since the last row */
    double lr;
    double train_error;     /* fraction, over the same window; NAN if none */
    double test_error;      /* fraction; NAN when not evaluated at this row */
    double test_loss;       /* mean; NAN when not evaluated */
    double images_per_s;
    double mb_allreduced;   /* per step, this rank */
    double comm_wait_ms;    /* per step, not hidden by backward */
} df_metrics_row;

typedef struct df_metrics {
    df_metrics_row *rows;
    size_t n, cap;
} df_metrics;

int df_metrics_add(df_metrics *m, const df_metrics_row *row, df_error *err);
void df_metrics_free(df_metrics *m);

/* Write the header line when the file is new/empty, then append row. */
int df_metrics_append_csv(const char *path, const df_metrics_row *row,
                          df_error *err);

#endif
