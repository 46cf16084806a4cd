/* SGD with momentum and weight decay, Caffe's update rule and learning-rate
 * policies, over the network's one flat parameter buffer. */
#ifndef DEEPFRIED_SOLVER_H
#define DEEPFRIED_SOLVER_H

#include <stdint.h>

#include "deepfried/config.h"
#include "deepfried/error.h"
#include "deepfried/net.h"

typedef struct df_solver {
    float *momentum;        /* same layout as net->params */
    size_t n;
} df_solver;

int df_solver_init(df_solver *s, const df_net *net, df_error *err);
void df_solver_free(df_solver *s);

/* Learning rate at step (0-based) under cfg's policy:
 * fixed: base; step: base * gamma^floor(step / stepsize);
 * inv: base * (1 + gamma step)^-power; cosine: min + (base - min)(1 + cos(pi step / iterations)) / 2;
 * times step / warmup during the first warmup steps. */
double df_solver_lr(const df_config *cfg, int64_t step);

/* One update with net->grads holding the SUM of per-sample gradients over
 * the global batch: g = grads * grad_scale + weight_decay * decay_mult * w;
 * v = momentum v + lr lr_mult g; w -= v (Caffe's SGD). */
void df_solver_step(df_solver *s, df_net *net, double lr, double momentum,
                    double weight_decay, float grad_scale);

#endif
