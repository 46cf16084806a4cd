/* Rectified linear unit. Branch-free: a ReLU's sign test on trained
 * features is a coin flip for the branch predictor, which made the
 * branchy scalar loop slow (docs/performance.md, "Figures behind code
 * comments"). Each is compiled per CPU (per_cpu.h). */
#include <stdint.h>

#include "deepfried/layers.h"
#include "layers/common.h"
#include "core/per_cpu.h"

typedef float vf16 __attribute__((vector_size(64)));
typedef int32_t vi16 __attribute__((vector_size(64)));
#define VF 16

/* in (n) -> out (n); in place allowed. in > 0 ? in : 0, so NaN and -0
 * give +0, as the scalar form does. */
PER_CPU void df_relu_forward(float *out, const float *in, size_t n)
{
    const vf16 zero = {0};
    size_t i = 0;
    for (; i + VF <= n; i += VF) {
        vf16 v;
        VLOAD(v, in + i);
        vi16 keep = v > zero;   /* all ones where in > 0 */
        v = (vf16)((vi16)v & keep);
        VSTORE(out + i, v);
    }
    for (; i < n; i++)
        out[i] = in[i] > 0.0f ? in[i] : 0.0f;
}

/* dout (n), out (n) -> din (n) (=); gated on the output, not the input, so
 * forward may have run in place and overwritten its input */
PER_CPU void df_relu_backward(float *din, const float *dout, const float *out, size_t n)
{
    if (!din)
        return;
    const vf16 zero = {0};
    size_t i = 0;
    for (; i + VF <= n; i += VF) {
        vf16 g, o;
        VLOAD(g, dout + i), VLOAD(o, out + i);
        vi16 keep = o > zero;
        g = (vf16)((vi16)g & keep);
        VSTORE(din + i, g);
    }
    for (; i < n; i++)
        din[i] = out[i] > 0.0f ? dout[i] : 0.0f;
}

/* ---- the layer type ---- */

static double relu_forward_layer(df_layer *l, const df_layer_ctx *c, const float *in, float *out,
                                 int N)
{
    (void)c;
    df_relu_forward(out, in, (size_t)N * l->out_size);
    return 0.0;
}

static void relu_backward_layer(df_layer *l, const df_layer_ctx *c, float *din,
                                const float *dout, const float *in, const float *out, int N)
{
    (void)c, (void)in;
    if (din)
        df_relu_backward(din, dout, out, (size_t)N * l->in_size);
}

const df_layer_kind df_layer_relu = {
    .name = "relu",
    .forward = relu_forward_layer, .backward = relu_backward_layer,
};
