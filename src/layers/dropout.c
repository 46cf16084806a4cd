/* Inverted dropout: kept units are scaled by 1/(1-p) at train time so the
 * eval-time forward is the identity. */
#include "deepfried/layers.h"
#include "deepfried/rng.h"
#include "layers/common.h"

#include <string.h>

/* -> mask (N, per_sample) of 0 or 1/(1-p); each sample's stream is keyed by
 * its global index, so the mask is the same on whichever rank holds it */
void df_dropout_mask(float *mask, int N, size_t per_sample, float p,
                     uint64_t seed, int64_t step, int64_t first_sample,
                     uint64_t point_id)
{
    const float keep_scale = 1.0f / (1.0f - p);
    for (int j = 0; j < N; j++) {
        float *row = mask + (size_t)j * per_sample;
        /* p == 0 falls out exactly: every draw in [0, 1) is kept, scale 1 */
        uint64_t key = df_rng_key(seed, DF_RNG_DROPOUT, (uint64_t)step,
                                  (uint64_t)(first_sample + j), point_id);
        for (size_t i = 0; i < per_sample; i++)
            row[i] = df_rng_uniform(key, i) >= p ? keep_scale : 0.0f;
    }
}

/* in (n), mask (n) -> out (n) = in * mask; in place allowed */
void df_dropout_forward(float *out, const float *in, const float *mask, size_t n)
{
    for (size_t i = 0; i < n; i++)
        out[i] = in[i] * mask[i];
}

/* dout (n), mask (n) -> din (n) (=) = dout * mask; in place allowed */
void df_dropout_backward(float *din, const float *dout, const float *mask, size_t n)
{
    if (!din)
        return;
    for (size_t i = 0; i < n; i++)
        din[i] = dout[i] * mask[i];
}

/* ---- the layer type ---- */

static int dropout_alloc(df_layer *l, int max_batch, df_error *err)
{
    l->mask[0] = df_calloc((size_t)max_batch * l->in_size, sizeof(float), err);
    return l->mask[0] ? DF_OK : err->code;
}

/* at test time (and with ratio 0) the identity */
static double dropout_forward_layer(df_layer *l, const df_layer_ctx *c, const float *in,
                                    float *out, int N)
{
    const df_pass *pass = c->pass;
    size_t n_out = (size_t)N * l->out_size;
    l->mask_active = pass->train && l->spec.ratio > 0.0f;
    if (l->mask_active) {
        df_dropout_mask(l->mask[0], N, l->in_size, l->spec.ratio, pass->seed, pass->step,
                        pass->first_sample, df_layer_point_id(l, 0));
        df_dropout_forward(out, in, l->mask[0], n_out);
    } else {
        memcpy(out, in, sizeof(float) * n_out);
    }
    return 0.0;
}

static void dropout_backward_layer(df_layer *l, const df_layer_ctx *c, float *din,
                                   const float *dout, const float *in, const float *out, int N)
{
    (void)c, (void)in, (void)out;
    size_t n_in = (size_t)N * l->in_size;
    if (!din)
        return;
    if (l->mask_active)
        df_dropout_backward(din, dout, l->mask[0], n_in);
    else
        memcpy(din, dout, sizeof(float) * n_in);
}

static const df_layer_key dropout_keys[] = { KEY_PROB("ratio", ratio), KEY_END };

const df_layer_kind df_layer_dropout = {
    .name = "dropout", .keys = dropout_keys,
    .alloc = dropout_alloc,
    .forward = dropout_forward_layer, .backward = dropout_backward_layer,
};
