/* A network: the ordered layers of a config, one flat parameter buffer and
 * one flat gradient buffer of the same layout, in which every layer holds
 * views. Layers are laid out last-first, so backward (which runs last layer
 * first) finishes the buffer front to back and a finished prefix can be
 * sent to the allreduce while earlier layers still compute. */
#ifndef DEEPFRIED_NET_H
#define DEEPFRIED_NET_H

#include <stddef.h>
#include <stdint.h>

#include "deepfried/error.h"
#include "deepfried/layer_kind.h"

typedef struct df_net {
    int n_layers;
    df_layer layers[DF_MAX_LAYERS];
    size_t n_params;
    float *params;
    float *grads;
    int max_batch;
    int n_classes;
    float *acts[DF_MAX_LAYERS + 1]; /* acts[i]: input of layer i; last: probs */
    float *dact[2];                 /* ping-pong activation gradients */
    int profile;                    /* 1: time each layer's forward/backward */
    int threads;                    /* threads the layers use (1 after build) */
} df_net;

/* Called by backward each time gradients [0, ready) are final. */
typedef void (*df_grads_ready_fn)(void *ctx, size_t ready);

/* Build the n_layers layers of specs (a config's layers) for inputs
 * (in_c, in_h, in_w), for batches of up to max_batch. Errors (a shape that
 * does not fit, ...) name the layer. Parameters are zero until
 * df_net_init_params. Whether the labels fit the last layer is the
 * caller's to check against net->n_classes. */
int df_net_build(df_net *net, const df_layer_spec *specs, int n_layers, int in_c,
                 int in_h, int in_w, int max_batch, df_error *err);
void df_net_free(df_net *net);

/* Let the layers use `threads` threads (convolutions, pooling, dense; see
 * layers.h): reallocates the convolutions' per-thread scratch. The caller
 * keeps the BLAS single-threaded. DF_ENOMEM on failure (net unchanged). */
int df_net_set_threads(df_net *net, int threads, df_error *err);

/* Every layer's init (Caffe fills, Fastfood's draws), each tensor from its
 * own counter-based key (seed, layer, tensor). */
void df_net_init_params(df_net *net, uint64_t seed);

/* x (N, in_c, in_h, in_w) -> probabilities in net->acts[n_layers];
 * returns the summed cross-entropy over the N samples. */
double df_net_forward(df_net *net, const float *x, const int32_t *labels,
                      int N, const df_pass *pass, int *n_correct);

/* Gradients of the summed loss, accumulated into net->grads (zero them
 * first). ready (may be NULL) is told as the finished prefix grows. */
void df_net_backward(df_net *net, const float *x, const int32_t *labels,
                     int N, df_grads_ready_fn ready, void *ready_ctx);

/* Trainable floats of one layer / of the whole net. */
size_t df_layer_param_count(const df_layer *l);

/* FNV-1a over the parameter bytes: equal iff the bytes are equal (w.h.p.). */
uint64_t df_net_checksum(const df_net *net);

#endif
