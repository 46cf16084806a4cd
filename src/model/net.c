/* Network assembly: shapes, the flat buffers, and the forward/backward
 * walk over the layers. Every layer-specific step goes through the layer's
 * descriptor (layer_kind.h): nothing here knows a layer type. */
#include "deepfried/net.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "deepfried/clock.h"

/* ---- building ---- */

/* Output shape (by default the input's), tensors and aux buffers of one
 * layer, given its input shape. */
static int layer_setup(df_layer *l, df_error *err)
{
    l->out_c = l->in_c;
    l->out_h = l->in_h;
    l->out_w = l->in_w;
    l->in_size = (size_t)l->in_c * l->in_h * l->in_w;
    if (l->kind->setup) {
        int rc = l->kind->setup(l, err);
        if (rc)
            return rc;
    }
    l->out_size = (size_t)l->out_c * l->out_h * l->out_w;
    for (int t = 0; t < l->n_tensors; t++)
        l->param_count += l->tensors[t].count;
    return DF_OK;
}

static int layers_setup(df_net *net, const df_layer_spec *specs, int in_c, int in_h, int in_w,
                        df_error *err)
{
    int c = in_c, h = in_h, w = in_w;
    for (int i = 0; i < net->n_layers; i++) {
        df_layer *l = &net->layers[i];
        l->spec = specs[i];
        l->kind = df_layer_kind_of(specs[i].type);
        l->index = i;
        if (!l->kind)
            return df_fail(err, DF_EINPUT, "layer %s: unknown layer type %d", specs[i].name,
                           (int)specs[i].type);
        l->in_c = c;
        l->in_h = h;
        l->in_w = w;
        int rc = layer_setup(l, err);
        if (rc)
            return rc;
        c = l->out_c;
        h = l->out_h;
        w = l->out_w;
    }
    return DF_OK;
}

/* Flat buffers, last layer first (see net.h). */
static size_t lay_out_params(df_net *net)
{
    size_t offset = 0;
    for (int i = net->n_layers - 1; i >= 0; i--) {
        df_layer *l = &net->layers[i];
        l->param_offset = offset;
        for (int t = 0; t < l->n_tensors; t++) {
            l->tensors[t].offset = offset;
            offset += l->tensors[t].count;
        }
    }
    return offset;
}

int df_net_build(df_net *net, const df_layer_spec *specs, int n_layers, int in_c,
                 int in_h, int in_w, int max_batch, df_error *err)
{
    memset(net, 0, sizeof *net);
    if (n_layers < 1 || n_layers > DF_MAX_LAYERS)
        return df_fail(err, DF_EINPUT, "a network has 1 to %d layers, not %d", DF_MAX_LAYERS,
                       n_layers);
    const df_layer_kind *last = df_layer_kind_of(specs[n_layers - 1].type);
    if (!last || !last->is_loss)
        return df_fail(err, DF_EINPUT, "layer %s: the last layer must be softmax_loss",
                       specs[n_layers - 1].name);
    net->n_layers = n_layers;
    net->max_batch = max_batch;
    net->threads = 1;
    int rc = layers_setup(net, specs, in_c, in_h, in_w, err);
    if (rc) {
        df_net_free(net);
        return rc;
    }
    const df_layer *loss = &net->layers[net->n_layers - 1];
    net->n_classes = (int)loss->in_size;
    size_t n_params = lay_out_params(net);
    net->n_params = n_params;
    net->params = df_calloc(n_params, sizeof(float), err);
    net->grads = df_calloc(n_params, sizeof(float), err);
    size_t max_act = 0;
    for (int i = 0; i < net->n_layers; i++) {
        df_layer *l = &net->layers[i];
        net->acts[i] = df_calloc((size_t)max_batch * l->in_size, sizeof(float), err);
        if (l->in_size > max_act)
            max_act = l->in_size;
        if (!net->acts[i] || (l->kind->alloc && l->kind->alloc(l, max_batch, err) != DF_OK)) {
            df_net_free(net);
            return df_fail(err, DF_ENOMEM, "out of memory building layer %s", l->spec.name);
        }
    }
    net->acts[net->n_layers] = df_calloc((size_t)max_batch * loss->in_size, sizeof(float), err);
    net->dact[0] = df_calloc((size_t)max_batch * max_act, sizeof(float), err);
    net->dact[1] = df_calloc((size_t)max_batch * max_act, sizeof(float), err);
    if (!net->params || !net->grads || !net->acts[net->n_layers] || !net->dact[0] || !net->dact[1]) {
        df_net_free(net);
        return df_fail(err, DF_ENOMEM, "out of memory allocating %zu parameters", n_params);
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

void df_net_init_params(df_net *net, uint64_t seed)
{
    for (int i = 0; i < net->n_layers; i++) {
        df_layer *l = &net->layers[i];
        if (l->kind->init)
            l->kind->init(l, net->params, seed);
    }
}

/* ---- forward and backward ---- */

/* Seconds since *t; moves *t to now. */
static double lap(double *t)
{
    double now = df_clock_seconds(), dt = now - *t;
    *t = now;
    return dt;
}

double df_net_forward(df_net *net, const float *x, const int32_t *labels,
                      int N, const df_pass *pass, int *n_correct)
{
    memcpy(net->acts[0], x, sizeof(float) * (size_t)N * net->layers[0].in_size);
    const df_layer_ctx c = {net->params, net->grads, net->threads, pass, labels, n_correct};
    double loss = 0.0;
    double t = net->profile ? df_clock_seconds() : 0.0;
    for (int i = 0; i < net->n_layers; i++) {
        df_layer *l = &net->layers[i];
        double v = l->kind->forward(l, &c, net->acts[i], net->acts[i + 1], N);
        if (l->kind->is_loss)
            loss = v;
        if (net->profile)
            l->seconds_forward += lap(&t);
    }
    return loss;
}

void df_net_backward(df_net *net, const float *x, const int32_t *labels,
                     int N, df_grads_ready_fn ready, void *ready_ctx)
{
    (void)x;
    const df_layer_ctx c = {net->params, net->grads, net->threads, NULL, labels, NULL};
    float *dout = NULL;
    int flip = 0;
    double t = net->profile ? df_clock_seconds() : 0.0;
    for (int i = net->n_layers - 1; i >= 0; i--) {
        df_layer *l = &net->layers[i];
        /* the first layer's input gradient is never used */
        float *din = i > 0 ? net->dact[flip] : NULL;
        l->kind->backward(l, &c, din, dout, net->acts[i], net->acts[i + 1], N);
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
    for (int i = 0; i < net->n_layers; i++) {
        df_layer *l = &net->layers[i];
        if (!l->kind->set_threads)
            continue;
        int rc = l->kind->set_threads(l, net->max_batch, threads, err);
        if (rc)
            return rc;
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
