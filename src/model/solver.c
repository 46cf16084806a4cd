/* Caffe's SGD solver: the same update, the same policies, so a Caffe
 * LeNet recipe means the same thing here. */
#include "deepfried/solver.h"
#include "core/parallel.h"
#include "core/per_cpu.h"

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

double df_solver_lr(const df_solver_spec *sp, int64_t step)
{
    const double base = sp->base_lr;
    double lr = base;
    switch (sp->lr_policy) {
    case DF_LR_FIXED:
        break;
    case DF_LR_STEP:
        lr = base * pow(sp->gamma, (double)(step / sp->stepsize));
        break;
    case DF_LR_INV:
        lr = base * pow(1.0 + sp->gamma * (double)step, -sp->power);
        break;
    case DF_LR_COSINE: {
        double t = (double)step / (double)sp->iterations;
        lr = sp->min_lr + 0.5 * (base - sp->min_lr) * (1.0 + cos(M_PI * t));
        break;
    }
    }
    if (sp->warmup > 0 && step < sp->warmup)
        lr *= (double)(step + 1) / (double)sp->warmup;
    return lr;
}

typedef float vf16 __attribute__((vector_size(64)));

/* w, g, v [0, n): Caffe's momentum update, 16 floats at a time. Products
 * are never fused into FMAs (ISO C mode: -std=c11), so every clone and
 * the scalar tail give the bits of the scalar form. The lines of w and g
 * are requested a few KiB ahead: other threads read w in forward and
 * wrote g in backward, and without the prefetch (w for writing) the
 * update waited on each line in turn (docs/performance.md, "Figures
 * behind code comments"). */
PER_CPU static void update_block(float *restrict w, float *restrict v, const float *restrict g,
                                 size_t n, float grad_scale, float decay, float mu, float rate)
{
    size_t e = 0;
    for (; e + 16 <= n; e += 16) {
        __builtin_prefetch(w + e + 512, 1, 0);
        __builtin_prefetch(g + e + 512, 0, 0);
        vf16 vw, vg, vv;
        VLOAD(vw, w + e), VLOAD(vg, g + e), VLOAD(vv, v + e);
        vf16 grad = vg * grad_scale + decay * vw;
        vv = mu * vv + rate * grad;
        vw = vw - vv;
        VSTORE(v + e, vv), VSTORE(w + e, vw);
    }
    for (; e < n; e++) {
        float grad = g[e] * grad_scale + decay * w[e];
        v[e] = mu * v[e] + rate * grad;
        w[e] -= v[e];
    }
}

void df_solver_step(df_solver *s, df_net *net, double lr, double momentum,
                    double weight_decay, float grad_scale)
{
    const float mu = (float)momentum;
    /* Each element's update is the same arithmetic whoever runs it, so the
     * net's threads split every tensor into blocks: the same bits for any
     * thread count. */
#pragma omp parallel num_threads(net->threads > 1 ? net->threads : 1) if (net->threads > 1)
    {
        const int t = df_thread_index(), used = df_thread_count();
        for (int i = 0; i < net->n_layers; i++) {
            const df_layer *l = &net->layers[i];
            for (int k = 0; k < l->n_tensors; k++) {
                const df_tensor *ts = &l->tensors[k];
                const float rate = (float)(lr * ts->lr_mult);
                const float decay = (float)(weight_decay * ts->decay_mult);
                const size_t lo = ts->count * (size_t)t / (size_t)used;
                const size_t hi = ts->count * (size_t)(t + 1) / (size_t)used;
                update_block(net->params + ts->offset + lo, s->momentum + ts->offset + lo,
                             net->grads + ts->offset + lo, hi - lo, grad_scale, decay, mu,
                             rate);
            }
        }
    }
}
