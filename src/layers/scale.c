/* A fixed scale, y = factor x: the smallest layer type there is. It
 * exists to show, and to test (tests/test_net.c), that a layer type is one
 * file plus one entry in table.c, with a key of its own; no shipped config
 * uses it. docs/design.md, "Adding a layer type", walks through it. */
#include <string.h>

#include "layers/common.h"

/* Its settings, in the spec's opts area: the config reader fills them
 * through the key table below, and never needs to know this struct. */
typedef struct scale_opts {
    float factor;           /* default 1 */
} scale_opts;

_Static_assert(sizeof(scale_opts) <= sizeof(((df_layer_spec *)0)->opts), "opts too small");

#define OPT(f) offsetof(df_layer_spec, opts) + offsetof(scale_opts, f), \
    sizeof(((scale_opts *)0)->f)

static float factor_of(const df_layer_spec *s)
{
    scale_opts o;
    memcpy(&o, s->opts.bytes, sizeof o);
    return o.factor;
}

/* The default: an opts area starts at zero, which is not the default. */
static int scale_finish(df_layer_spec *s, df_key_given_fn given, const void *ctx,
                        const char **key, char *why, size_t cap)
{
    (void)key, (void)why, (void)cap;
    if (!given(ctx, "factor")) {
        scale_opts o = {1.0f};
        memcpy(s->opts.bytes, &o, sizeof o);
    }
    return DF_OK;
}

/* in (N, n) -> out (N, n) = factor in */
static double scale_forward(df_layer *l, const df_layer_ctx *c, const float *in, float *out,
                            int N)
{
    (void)c;
    const float f = factor_of(&l->spec);
    for (size_t i = 0; i < (size_t)N * l->out_size; i++)
        out[i] = f * in[i];
    return 0.0;
}

/* dout (N, n) -> din (N, n) (=) = factor dout */
static void scale_backward(df_layer *l, const df_layer_ctx *c, float *din, const float *dout,
                           const float *in, const float *out, int N)
{
    (void)c, (void)in, (void)out;
    const float f = factor_of(&l->spec);
    for (size_t i = 0; din && i < (size_t)N * l->in_size; i++)
        din[i] = f * dout[i];
}

static const df_layer_key scale_keys[] = {
    { "factor", DF_KEY_FLOAT, OPT(factor), 0, 0, 0.0, INFINITY, DF_KEY_LO_OPEN, NULL, 0, 0 },
    KEY_END
};

const df_layer_kind df_layer_scale = {
    .name = "scale", .keys = scale_keys, .finish = scale_finish,
    .forward = scale_forward, .backward = scale_backward,
};
