/* Rectified linear unit. */
#include "deepfried/layers.h"

/* in (n) -> out (n); in place allowed */
void df_relu_forward(float *out, const float *in, size_t n)
{
    for (size_t i = 0; i < n; i++)
        out[i] = in[i] > 0.0f ? in[i] : 0.0f;
}

/* dout (n), out (n) -> din (n) (=); gated on the output, not the input, so
 * forward may have run in place and overwritten its input */
void df_relu_backward(float *din, const float *dout, const float *out, size_t n)
{
    if (!din)
        return;
    for (size_t i = 0; i < n; i++)
        din[i] = out[i] > 0.0f ? dout[i] : 0.0f;
}
