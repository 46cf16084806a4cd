/* Softmax with cross-entropy: fused, because the gradient of the pair with
 * respect to the logits is simply probs - onehot. */
#include <math.h>

#include "deepfried/layers.h"
#include "layers/common.h"

/* logits (N,C), labels (N) -> probs (N,C); returns sum_n -log p[n][label[n]].
 * Log-sum-exp in double after subtracting the row max, so large logits
 * neither overflow nor lose the loss of a confident wrong answer to rounding. */
double df_softmax_loss_forward(float *probs, int *n_correct, const float *logits,
                               const int32_t *labels, int N, int C)
{
    double loss = 0.0;
    int correct = 0;
    for (int n = 0; n < N; n++) {
        const float *x = logits + (size_t)n * C;
        float *p = probs + (size_t)n * C;
        int best = 0;
        for (int c = 1; c < C; c++)
            if (x[c] > x[best])
                best = c;
        double max = x[best];
        double sum = 0.0;
        for (int c = 0; c < C; c++)
            sum += exp((double)x[c] - max);
        double lse = max + log(sum);
        for (int c = 0; c < C; c++)
            p[c] = (float)exp((double)x[c] - lse);
        loss += lse - (double)x[labels[n]];
        correct += best == labels[n];
    }
    if (n_correct)
        *n_correct = correct;
    return loss;
}

/* probs (N,C), labels (N) -> dlogits (N,C) (=) = probs - onehot(label) */
void df_softmax_loss_backward(float *dlogits, const float *probs,
                              const int32_t *labels, int N, int C)
{
    if (!dlogits)
        return;
    for (int n = 0; n < N; n++) {
        for (int c = 0; c < C; c++)
            dlogits[(size_t)n * C + c] = probs[(size_t)n * C + c];
        dlogits[(size_t)n * C + labels[n]] -= 1.0f;
    }
}

/* ---- the layer type ---- */

static double softmax_loss_forward_layer(df_layer *l, const df_layer_ctx *c, const float *in,
                                         float *out, int N)
{
    int correct = 0;
    double loss = df_softmax_loss_forward(out, &correct, in, c->labels, N, (int)l->in_size);
    if (c->n_correct)
        *c->n_correct = correct;
    return loss;
}

static void softmax_loss_backward_layer(df_layer *l, const df_layer_ctx *c, float *din,
                                        const float *dout, const float *in, const float *out,
                                        int N)
{
    (void)dout, (void)in;
    if (din)
        df_softmax_loss_backward(din, out, c->labels, N, (int)l->in_size);
}

const df_layer_kind df_layer_softmax_loss = {
    .name = "softmax_loss", .is_loss = 1,
    .forward = softmax_loss_forward_layer, .backward = softmax_loss_backward_layer,
};
