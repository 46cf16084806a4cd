/* Inverted dropout: kept units are scaled by 1/(1-p) at train time so the
 * eval-time forward is the identity. */
#include "deepfried/layers.h"
#include "deepfried/rng.h"

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
