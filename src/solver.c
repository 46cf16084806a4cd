/* Caffe's SGD solver: the same update, the same policies, so a Caffe
 * LeNet recipe means the same thing here. */
#include "deepfried/solver.h"

#include <math.h>
#include <stdlib.h>

int df_solver_init(df_solver *s, const df_net *net, df_error *err)
{
    s->n = net->n_params;
    s->momentum = df_calloc(s->n, sizeof(float), err);
    return s->momentum ? DF_OK : DF_ENOMEM;
}

void df_solver_free(df_solver *s)
{
    free(s->momentum);
    s->momentum = NULL;
    s->n = 0;
}

double df_solver_lr(const df_config *cfg, int64_t step)
{
    const double base = cfg->solver.base_lr;
    double lr = base;
    switch (cfg->solver.lr_policy) {
    case DF_LR_FIXED:
        break;
    case DF_LR_STEP:
        lr = base * pow(cfg->solver.gamma, (double)(step / cfg->solver.stepsize));
        break;
    case DF_LR_INV:
        lr = base * pow(1.0 + cfg->solver.gamma * (double)step, -cfg->solver.power);
        break;
    case DF_LR_COSINE: {
        double t = (double)step / (double)cfg->solver.iterations;
        lr = cfg->solver.min_lr + 0.5 * (base - cfg->solver.min_lr) * (1.0 + cos(M_PI * t));
        break;
    }
    }
    if (cfg->solver.warmup > 0 && step < cfg->solver.warmup)
        lr *= (double)(step + 1) / (double)cfg->solver.warmup;
    return lr;
}

void df_solver_step(df_solver *s, df_net *net, double lr, double momentum,
                    double weight_decay, float grad_scale)
{
    const float mu = (float)momentum;
    for (int i = 0; i < net->n_layers; i++) {
        const df_layer *l = &net->layers[i];
        for (int t = 0; t < l->n_tensors; t++) {
            const df_tensor *ts = &l->tensors[t];
            const float rate = (float)(lr * ts->lr_mult);
            const float decay = (float)(weight_decay * ts->decay_mult);
            float *w = net->params + ts->offset, *g = net->grads + ts->offset;
            float *v = s->momentum + ts->offset;
            for (size_t e = 0; e < ts->count; e++) {
                float grad = g[e] * grad_scale + decay * w[e];
                v[e] = mu * v[e] + rate * grad;
                w[e] -= v[e];
            }
        }
    }
}
