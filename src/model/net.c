/* Network assembly: shapes, the flat buffers, and the forward/backward
 * walk over the layers. */
#include "deepfried/net.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "deepfried/rng.h"

/* ---- building ---- */

static void add_tensor(df_layer *l, const char *name, int rank, const int *dims,
                       float lr_mult, float decay_mult)
{
    df_tensor *t = &l->tensors[l->n_tensors++];
    snprintf(t->name, sizeof t->name, "%s", name);
    t->rank = rank;
    t->count = 1;
    for (int i = 0; i < rank; i++) {
        t->dims[i] = dims[i];
        t->count *= (size_t)dims[i];
    }
    t->lr_mult = lr_mult;
    t->decay_mult = decay_mult;
}

static int shape_error(df_error *err, const df_layer *l, const char *what)
{
    return df_fail(err, DF_EINPUT,
                   "layer %s (%s): %s for input %dx%dx%d",
                   l->spec.name, df_layer_type_name(l->spec.type), what,
                   l->in_c, l->in_h, l->in_w);
}

/* Output shape and tensors of one layer, given its input shape. */
static int layer_setup(df_layer *l, df_error *err)
{
    const df_layer_spec *sp = &l->spec;
    size_t in_flat = (size_t)l->in_c * l->in_h * l->in_w;
    l->out_c = l->in_c;
    l->out_h = l->in_h;
    l->out_w = l->in_w;
    switch (sp->type) {
    case DF_LAYER_CONV: {
        df_conv_shape *s = &l->shape.conv;
        if (df_conv_shape_init(s, l->in_c, l->in_h, l->in_w, sp->outputs,
                               sp->kernel, sp->stride, sp->pad) != 0)
            return shape_error(err, l, "kernel does not fit");
        l->out_c = s->OC;
        l->out_h = s->OH;
        l->out_w = s->OW;
        int wd[4] = {s->OC, s->C, s->K, s->K}, bd[1] = {s->OC};
        add_tensor(l, "weight", 4, wd, sp->lr_mult, sp->decay_mult);
        add_tensor(l, "bias", 1, bd, sp->bias_lr_mult, sp->bias_decay_mult);
        break;
    }
    case DF_LAYER_MAXPOOL: {
        df_pool_shape *s = &l->shape.pool;
        if (df_pool_shape_init(s, l->in_c, l->in_h, l->in_w, sp->kernel,
                               sp->stride, sp->pad) != 0)
            return shape_error(err, l, "window does not fit");
        l->out_h = s->OH;
        l->out_w = s->OW;
        break;
    }
    case DF_LAYER_DENSE: {
        if (in_flat > (1u << 24))
            return shape_error(err, l, "input wider than 2^24");
        l->shape.dense.D = (int)in_flat;
        l->shape.dense.M = sp->outputs;
        l->out_c = sp->outputs;
        l->out_h = l->out_w = 1;
        int wd[2] = {sp->outputs, (int)in_flat}, bd[1] = {sp->outputs};
        add_tensor(l, "weight", 2, wd, sp->lr_mult, sp->decay_mult);
        if (sp->bias)
            add_tensor(l, "bias", 1, bd, sp->bias_lr_mult, sp->bias_decay_mult);
        break;
    }
    case DF_LAYER_FASTFOOD: {
        df_fastfood_shape *s = &l->shape.ff;
        if (in_flat > (1u << 24))
            return shape_error(err, l, "input wider than 2^24");
        int rc = df_fastfood_shape_init(s, (int)in_flat, sp->features, err);
        if (rc)
            return rc;
        l->out_c = sp->features;
        l->out_h = l->out_w = 1;
        if (sp->adaptive) {
            int dims[2] = {s->k, s->d};
            add_tensor(l, "S", 2, dims, sp->lr_mult, sp->decay_mult);
            add_tensor(l, "G", 2, dims, sp->lr_mult, sp->decay_mult);
            add_tensor(l, "B", 2, dims, sp->lr_mult, sp->decay_mult);
        }
        break;
    }
    case DF_LAYER_RELU:
    case DF_LAYER_DROPOUT:
    case DF_LAYER_SOFTMAX_LOSS:
        break;
    }
    l->in_size = in_flat;
    l->out_size = (size_t)l->out_c * l->out_h * l->out_w;
    for (int t = 0; t < l->n_tensors; t++)
        l->param_count += l->tensors[t].count;
    return DF_OK;
}

/* Scratch buffers sized for max_batch. */
static int layer_alloc(df_layer *l, int max_batch, df_error *err)
{
    size_t N = (size_t)max_batch;
    switch (l->spec.type) {
    case DF_LAYER_CONV:
        l->work = df_calloc(df_conv_work_size(&l->shape.conv, max_batch, 1), sizeof(float), err);
        return l->work ? DF_OK : err->code;
    case DF_LAYER_MAXPOOL:
        l->argmax = df_calloc(N * l->out_size, sizeof(int32_t), err);
        return l->argmax ? DF_OK : err->code;
    case DF_LAYER_DROPOUT:
        l->mask[0] = df_calloc(N * l->in_size, sizeof(float), err);
        return l->mask[0] ? DF_OK : err->code;
    case DF_LAYER_FASTFOOD: {
        const df_fastfood_shape *s = &l->shape.ff;
        size_t kd = (size_t)s->k * s->d;
        l->work = df_calloc(N, df_fastfood_ws_size(s) * sizeof(float), err);
        l->perm = df_calloc(kd, sizeof(int32_t), err);
        l->mask[0] = df_calloc(N * (size_t)s->d_in, sizeof(float), err);
        l->mask[1] = df_calloc(N * kd, sizeof(float), err);
        l->mask[2] = df_calloc(N * (size_t)s->n, sizeof(float), err);
        if (!l->spec.adaptive)
            l->fixed = df_calloc(3 * kd, sizeof(float), err);
        if (!l->work || !l->perm || !l->mask[0] || !l->mask[1] || !l->mask[2] ||
            (!l->spec.adaptive && !l->fixed))
            return DF_ENOMEM;
        return DF_OK;
    }
    default:
        return DF_OK;
    }
}

int df_net_build(df_net *net, const df_layer_spec *specs, int n_layers, int in_c,
                 int in_h, int in_w, int max_batch, df_error *err)
{
    memset(net, 0, sizeof *net);
    if (n_layers < 1 || n_layers > DF_MAX_LAYERS)
        return df_fail(err, DF_EINPUT, "a network has 1 to %d layers, not %d", DF_MAX_LAYERS,
                       n_layers);
    if (specs[n_layers - 1].type != DF_LAYER_SOFTMAX_LOSS)
        return df_fail(err, DF_EINPUT, "layer %s: the last layer must be softmax_loss",
                       specs[n_layers - 1].name);
    net->n_layers = n_layers;
    net->max_batch = max_batch;
    net->threads = 1;
    int c = in_c, h = in_h, w = in_w;
    for (int i = 0; i < net->n_layers; i++) {
        df_layer *l = &net->layers[i];
        l->spec = specs[i];
        l->index = i;
        l->in_c = c;
        l->in_h = h;
        l->in_w = w;
        int rc = layer_setup(l, err);
        if (rc) {
            df_net_free(net);
            return rc;
        }
        c = l->out_c;
        h = l->out_h;
        w = l->out_w;
    }
    const df_layer *loss = &net->layers[net->n_layers - 1];
    net->n_classes = (int)loss->in_size;
    /* Flat buffers, last layer first (see net.h). */
    size_t offset = 0;
    for (int i = net->n_layers - 1; i >= 0; i--) {
        df_layer *l = &net->layers[i];
        l->param_offset = offset;
        for (int t = 0; t < l->n_tensors; t++) {
            l->tensors[t].offset = offset;
            offset += l->tensors[t].count;
        }
    }
    net->n_params = offset;
    net->params = df_calloc(offset, sizeof(float), err);
    net->grads = df_calloc(offset, sizeof(float), err);
    size_t max_act = 0;
    for (int i = 0; i < net->n_layers; i++) {
        df_layer *l = &net->layers[i];
        net->acts[i] = df_calloc((size_t)max_batch * l->in_size, sizeof(float), err);
        if (l->in_size > max_act)
            max_act = l->in_size;
        if (!net->acts[i] || layer_alloc(l, max_batch, err) != DF_OK) {
            df_net_free(net);
            return df_fail(err, DF_ENOMEM, "out of memory building layer %s", l->spec.name);
        }
    }
    net->acts[net->n_layers] = df_calloc((size_t)max_batch * loss->in_size, sizeof(float), err);
    net->dact[0] = df_calloc((size_t)max_batch * max_act, sizeof(float), err);
    net->dact[1] = df_calloc((size_t)max_batch * max_act, sizeof(float), err);
    if (!net->params || !net->grads || !net->acts[net->n_layers] || !net->dact[0] || !net->dact[1]) {
        df_net_free(net);
        return df_fail(err, DF_ENOMEM, "out of memory allocating %zu parameters", offset);
    }
    return DF_OK;
}

void df_net_free(df_net *net)
{
    for (int i = 0; i < net->n_layers; i++) {
        df_layer *l = &net->layers[i];
        free(l->perm);
        free(l->fixed);
        free(l->work);
        free(l->argmax);
        for (int m = 0; m < 3; m++)
            free(l->mask[m]);
    }
    for (int i = 0; i <= net->n_layers && i <= DF_MAX_LAYERS; i++)
        free(net->acts[i]);
    free(net->dact[0]);
    free(net->dact[1]);
    free(net->params);
    free(net->grads);
    memset(net, 0, sizeof *net);
}

size_t df_layer_param_count(const df_layer *l)
{
    return l->param_count;
}

/* ---- initialisation ---- */

static float *tensor_data(df_net *net, const df_layer *l, int t)
{
    return net->params + l->tensors[t].offset;
}

/* The Fastfood parameter views: into the flat buffer when adaptive. */
static df_fastfood_params ff_params(df_net *net, const df_layer *l)
{
    size_t kd = (size_t)l->shape.ff.k * l->shape.ff.d;
    float *base = l->spec.adaptive ? net->params + l->param_offset : l->fixed;
    df_fastfood_params p = {base, base + kd, base + 2 * kd, l->perm};
    return p;
}

static float ff_sigma(const df_layer *l)
{
    /* Default: the variance Xavier gives a dense layer of this fan-in. */
    return l->spec.sigma_set ? l->spec.sigma : 1.0f / sqrtf((float)l->shape.ff.d_in);
}

void df_net_init_params(df_net *net, uint64_t seed)
{
    for (int i = 0; i < net->n_layers; i++) {
        df_layer *l = &net->layers[i];
        if (l->spec.type == DF_LAYER_FASTFOOD) {
            df_fastfood_params p = ff_params(net, l);
            df_fastfood_init(&l->shape.ff, &p, ff_sigma(l),
                             df_rng_key(seed, DF_RNG_INIT, (uint64_t)i, 0, 0));
            continue;
        }
        if (l->n_tensors == 0)
            continue;
        /* weight then bias (zero), if the layer has one */
        float *wgt = tensor_data(net, l, 0);
        size_t count = l->tensors[0].count;
        size_t fan_in = count / (size_t)l->tensors[0].dims[0];
        df_rng_stream r = df_rng_stream_make(df_rng_key(seed, DF_RNG_INIT, (uint64_t)i, 1, 0));
        if (strcmp(l->spec.weight_filler, "gaussian") == 0) {
            for (size_t t = 0; t < count; t++)
                wgt[t] = (float)(l->spec.weight_std * df_rng_next_normal(&r));
        } else {
            /* Caffe's xavier: U(-a, a) with a = sqrt(3 / fan_in) */
            float a = sqrtf(3.0f / (float)fan_in);
            for (size_t t = 0; t < count; t++)
                wgt[t] = a * (2.0f * df_rng_next_uniform(&r) - 1.0f);
        }
        if (l->n_tensors > 1)
            memset(tensor_data(net, l, 1), 0, l->tensors[1].count * sizeof(float));
    }
}

/* ---- forward and backward ---- */

static double now_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* Seconds since *t; moves *t to now. */
static double lap(double *t)
{
    double now = now_seconds(), dt = now - *t;
    *t = now;
    return dt;
}

static uint64_t point_id(const df_layer *l, int point)
{
    return (uint64_t)l->index * 4 + (uint64_t)point;
}

/* Fastfood dropout masks for this pass, or NULL when none apply. */
static const df_fastfood_masks *ff_masks(df_layer *l, int N, const df_pass *pass,
                                         df_fastfood_masks *m)
{
    const df_fastfood_shape *s = &l->shape.ff;
    const float p[3] = {l->spec.dropout_input, l->spec.dropout_perm, l->spec.dropout_scale};
    const size_t width[3] = {(size_t)s->d_in, (size_t)s->k * s->d, (size_t)s->n};
    const float **slot[3] = {&m->input, &m->perm, &m->scale};
    int any = 0;
    for (int i = 0; i < 3; i++) {
        *slot[i] = NULL;
        if (!pass->train || p[i] <= 0.0f)
            continue;
        df_dropout_mask(l->mask[i], N, width[i], p[i], pass->seed, pass->step,
                        pass->first_sample, point_id(l, i));
        *slot[i] = l->mask[i];
        any = 1;
    }
    return any ? m : NULL;
}

double df_net_forward(df_net *net, const float *x, const int32_t *labels,
                      int N, const df_pass *pass, int *n_correct)
{
    memcpy(net->acts[0], x, sizeof(float) * (size_t)N * net->layers[0].in_size);
    double loss = 0.0;
    double t = net->profile ? now_seconds() : 0.0;
    for (int i = 0; i < net->n_layers; i++) {
        df_layer *l = &net->layers[i];
        const float *in = net->acts[i];
        float *out = net->acts[i + 1];
        size_t n_out = (size_t)N * l->out_size;
        switch (l->spec.type) {
        case DF_LAYER_CONV:
            df_conv_forward(out, in, tensor_data(net, l, 0), tensor_data(net, l, 1),
                            &l->shape.conv, N, l->work, net->threads);
            break;
        case DF_LAYER_MAXPOOL:
            df_maxpool_forward(out, l->argmax, in, &l->shape.pool, N, net->threads);
            break;
        case DF_LAYER_RELU:
            df_relu_forward(out, in, n_out);
            break;
        case DF_LAYER_DENSE:
            df_dense_forward(out, in, tensor_data(net, l, 0),
                             l->n_tensors > 1 ? tensor_data(net, l, 1) : NULL,
                             N, l->shape.dense.D, l->shape.dense.M, net->threads);
            break;
        case DF_LAYER_FASTFOOD: {
            df_fastfood_masks m;
            df_fastfood_params p = ff_params(net, l);
            const df_fastfood_masks *mp = ff_masks(l, N, pass, &m);
            l->mask_active = mp != NULL;
            df_fastfood_forward(out, in, &p, &l->shape.ff, N, mp, l->work);
            break;
        }
        case DF_LAYER_DROPOUT:
            l->mask_active = pass->train && l->spec.ratio > 0.0f;
            if (l->mask_active) {
                df_dropout_mask(l->mask[0], N, l->in_size, l->spec.ratio, pass->seed,
                                pass->step, pass->first_sample, point_id(l, 0));
                df_dropout_forward(out, in, l->mask[0], n_out);
            } else {
                memcpy(out, in, sizeof(float) * n_out);
            }
            break;
        case DF_LAYER_SOFTMAX_LOSS: {
            int correct = 0;
            loss = df_softmax_loss_forward(out, &correct, in, labels, N, (int)l->in_size);
            if (n_correct)
                *n_correct = correct;
            break;
        }
        }
        if (net->profile)
            l->seconds_forward += lap(&t);
    }
    return loss;
}

void df_net_backward(df_net *net, const float *x, const int32_t *labels,
                     int N, df_grads_ready_fn ready, void *ready_ctx)
{
    (void)x;
    float *dout = NULL;
    int flip = 0;
    double t = net->profile ? now_seconds() : 0.0;
    for (int i = net->n_layers - 1; i >= 0; i--) {
        df_layer *l = &net->layers[i];
        /* the first layer's input gradient is never used */
        float *din = i > 0 ? net->dact[flip] : NULL;
        const float *in = net->acts[i], *out = net->acts[i + 1];
        size_t n_in = (size_t)N * l->in_size;
        float *g = net->grads;
        switch (l->spec.type) {
        case DF_LAYER_SOFTMAX_LOSS:
            if (din)
                df_softmax_loss_backward(din, out, labels, N, (int)l->in_size);
            break;
        case DF_LAYER_CONV:
            df_conv_backward(din, g + l->tensors[0].offset, g + l->tensors[1].offset,
                             dout, in, tensor_data(net, l, 0), &l->shape.conv, N, l->work,
                             net->threads);
            break;
        case DF_LAYER_MAXPOOL:
            if (din)
                df_maxpool_backward(din, dout, l->argmax, &l->shape.pool, N, net->threads);
            break;
        case DF_LAYER_RELU:
            if (din)
                df_relu_backward(din, dout, out, n_in);
            break;
        case DF_LAYER_DENSE:
            df_dense_backward(din, g + l->tensors[0].offset,
                              l->n_tensors > 1 ? g + l->tensors[1].offset : NULL,
                              dout, in, tensor_data(net, l, 0), N,
                              l->shape.dense.D, l->shape.dense.M, net->threads);
            break;
        case DF_LAYER_FASTFOOD: {
            /* the masks forward drew are still in l->mask */
            const float p[3] = {l->spec.dropout_input, l->spec.dropout_perm, l->spec.dropout_scale};
            df_fastfood_masks m = {NULL, NULL, NULL};
            if (l->mask_active) {
                m.input = p[0] > 0 ? l->mask[0] : NULL;
                m.perm = p[1] > 0 ? l->mask[1] : NULL;
                m.scale = p[2] > 0 ? l->mask[2] : NULL;
            }
            df_fastfood_params fp = ff_params(net, l);
            float *dp = l->spec.adaptive ? g + l->param_offset : NULL;
            size_t kd = (size_t)l->shape.ff.k * l->shape.ff.d;
            df_fastfood_backward(din, dp, dp ? dp + kd : NULL, dp ? dp + 2 * kd : NULL,
                                 dout, &fp, &l->shape.ff, N, &m, l->work);
            break;
        }
        case DF_LAYER_DROPOUT:
            if (din) {
                if (l->mask_active)
                    df_dropout_backward(din, dout, l->mask[0], n_in);
                else
                    memcpy(din, dout, sizeof(float) * n_in);
            }
            break;
        }
        if (net->profile)
            l->seconds_backward += lap(&t);
        if (ready && l->param_count > 0)
            ready(ready_ctx, l->param_offset + l->param_count);
        dout = din;
        flip ^= 1;
    }
}

int df_net_set_threads(df_net *net, int threads, df_error *err)
{
    if (threads < 1)
        threads = 1;
    /* the convolutions need scratch per thread; everything else splits
     * buffers it already has */
    for (int i = 0; i < net->n_layers; i++) {
        df_layer *l = &net->layers[i];
        if (l->spec.type != DF_LAYER_CONV)
            continue;
        float *work = df_calloc(df_conv_work_size(&l->shape.conv, net->max_batch, threads),
                                sizeof(float), err);
        if (!work)
            return err->code;
        free(l->work);
        l->work = work;
    }
    net->threads = threads;
    return DF_OK;
}

uint64_t df_net_checksum(const df_net *net)
{
    const unsigned char *b = (const unsigned char *)net->params;
    uint64_t h = 0xcbf29ce484222325ULL;
    for (size_t i = 0; i < net->n_params * sizeof(float); i++) {
        h ^= b[i];
        h *= 0x100000001b3ULL;
    }
    return h;
}
