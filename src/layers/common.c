/* Helpers of the layer descriptors (common.h, layer_kind.h). */
#include "layers/common.h"

#include <stdio.h>
#include <string.h>

#include "deepfried/rng.h"

const char *const df_filler_names[] = { "xavier", "gaussian", NULL };

void df_layer_add_tensor(df_layer *l, const char *name, int rank, const int *dims,
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

df_aux *df_layer_add_aux(df_layer *l, const char *name, const char *what, df_aux_type type,
                         int rank, const int *dims)
{
    df_aux *a = &l->aux[l->n_aux++];
    memset(a, 0, sizeof *a);
    snprintf(a->name, sizeof a->name, "%s", name);
    a->what = what;
    a->type = type;
    a->rank = rank;
    a->count = 1;
    for (int i = 0; i < rank; i++) {
        a->dims[i] = dims[i];
        a->count *= (size_t)dims[i];
    }
    return a;
}

const df_layer_key *df_layer_kind_key(const df_layer_kind *k, const char *name)
{
    for (const df_layer_key *key = k->keys; key && key->name; key++)
        if (strcmp(key->name, name) == 0)
            return key;
    return NULL;
}

int df_layer_shape_error(df_error *err, const df_layer *l, const char *what)
{
    return df_fail(err, DF_EINPUT, "layer %s (%s): %s for input %dx%dx%d", l->spec.name,
                   l->kind->name, what, l->in_c, l->in_h, l->in_w);
}

void df_layer_fill_weight_bias(df_layer *l, float *params, uint64_t seed)
{
    float *wgt = params + l->tensors[0].offset;
    size_t count = l->tensors[0].count;
    size_t fan_in = count / (size_t)l->tensors[0].dims[0];
    df_rng_stream r = df_rng_stream_make(df_rng_key(seed, DF_RNG_INIT, (uint64_t)l->index, 1, 0));
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
        memset(params + l->tensors[1].offset, 0, l->tensors[1].count * sizeof(float));
}

uint64_t df_layer_point_id(const df_layer *l, int point)
{
    return (uint64_t)l->index * 4 + (uint64_t)point;
}
