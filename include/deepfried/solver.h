/* SGD with momentum and weight decay, Caffe's update rule and learning-rate
 * policies, over the network's one flat parameter buffer. */
#ifndef DEEPFRIED_SOLVER_H
#define DEEPFRIED_SOLVER_H

#include <stdint.h>

#include "deepfried/error.h"
#include "deepfried/net.h"

typedef enum df_lr_policy {
    DF_LR_FIXED, DF_LR_STEP, DF_LR_INV, DF_LR_COSINE
} df_lr_policy;

/* The [solver] section: what the model needs to train, filled by the
 * config reader (the defaults are its, docs/config.md). batch, display
 * and test_interval pace the training loop. */
typedef struct df_solver_spec {
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
} df_solver_spec;

typedef struct df_solver {
    float *momentum;        /* same layout as net->params */
    size_t n;
} df_solver;

int df_solver_init(df_solver *s, const df_net *net, df_error *err);
void df_solver_free(df_solver *s);

/* Learning rate at step (0-based) under sp's policy:
 * fixed: base; step: base * gamma^floor(step / stepsize);
 * inv: base * (1 + gamma step)^-power; cosine: min + (base - min)(1 + cos(pi step / iterations)) / 2;
 * times step / warmup during the first warmup steps. */
double df_solver_lr(const df_solver_spec *sp, int64_t step);

/* One update with net->grads holding the SUM of per-sample gradients over
 * the global batch: g = grads * grad_scale + weight_decay * decay_mult * w;
 * v = momentum v + lr lr_mult g; w -= v (Caffe's SGD). */
void df_solver_step(df_solver *s, df_net *net, double lr, double momentum,
                    double weight_decay, float grad_scale);

#endif
