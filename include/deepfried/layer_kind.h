/* A layer in a network, and the descriptor of its type: everything the
 * network, the config reader and the checkpoints need to know of a layer
 * type, in one table entry, so that none of them switches on the type.
 *
 *   name, keys        what a [layer NAME] section of this type may say
 *   finish            defaults and checks that depend on what was given
 *   setup             output shape, trainable tensors and auxiliary
 *                     buffers from the spec and the input shape
 *   alloc             scratch for a batch, storage of the aux buffers
 *   init              fresh parameters and aux state
 *   forward, backward the pass over one batch
 *
 * Each type is one file in src/layers/ holding its kernels and its
 * descriptor; src/layers/table.c lists the descriptors. docs/design.md,
 * "Adding a layer type", walks through it. */
#ifndef DEEPFRIED_LAYER_KIND_H
#define DEEPFRIED_LAYER_KIND_H

#include <stddef.h>
#include <stdint.h>

#include "deepfried/error.h"
#include "deepfried/fastfood.h"
#include "deepfried/layer_spec.h"
#include "deepfried/layers.h"

#define DF_MAX_TENSORS 3
#define DF_MAX_AUX 4

/* One named trainable tensor: a view into the flat buffers. */
typedef struct df_tensor {
    char name[8];           /* "weight", "bias", "S", "G", "B" */
    int rank;               /* number of dims used */
    int dims[4];            /* natural shape, e.g. conv weight (OC,C,K,K) */
    size_t offset, count;   /* floats into net->params / net->grads */
    float lr_mult, decay_mult;
} df_tensor;

/* An auxiliary buffer: state of the model that is not trained, so not in
 * the flat parameter buffer (Fastfood's permutation, and S, G, B when not
 * adaptive). Rank 0 draws it in init and broadcasts it; a checkpoint
 * stores it as /fixed/<layer>/<name> and a load validates it. */
typedef enum df_aux_type { DF_AUX_INT32, DF_AUX_FLOAT32 } df_aux_type;

typedef struct df_aux {
    char name[8];           /* "perm", "S" */
    const char *what;       /* in messages: "permutation", "fixed tensor S" */
    df_aux_type type;       /* 4-byte elements either way */
    int rank;
    int dims[4];
    size_t count;           /* elements */
    void *data;             /* count elements, the layer's (set by alloc) */
    /* NULL, or whether count elements at data are valid state for the
     * layer (a load runs it before the layer sees them): DF_OK, DF_EINPUT
     * with why filled, or DF_ENOMEM. Float buffers are checked finite
     * besides. */
    int (*check)(const struct df_aux *a, const void *data, char *why, size_t cap);
} df_aux;

typedef struct df_layer_kind df_layer_kind;

typedef struct df_layer {
    df_layer_spec spec;
    const df_layer_kind *kind;      /* spec.type's entry in the table */
    int index;                      /* position in the network */
    int in_c, in_h, in_w;           /* per-sample input shape */
    int out_c, out_h, out_w;        /* per-sample output shape */
    size_t in_size, out_size;       /* floats per sample */
    union {
        df_conv_shape conv;
        df_pool_shape pool;
        df_fastfood_shape ff;
        struct { int D, M; } dense;
    } shape;
    int n_tensors;
    df_tensor tensors[DF_MAX_TENSORS];
    size_t param_offset, param_count;   /* this layer's slice */
    int n_aux;
    df_aux aux[DF_MAX_AUX];

    /* fastfood: the permutation, and S|G|B storage when not adaptive (the
     * aux buffers point here) */
    int32_t *perm;
    float *fixed;
    /* per-batch scratch; the net frees whatever alloc left here */
    float *work;                    /* conv: im2col; fastfood: workspace */
    int32_t *argmax;                /* maxpool */
    float *mask[3];                 /* dropout masks (fastfood: in, perm, scale) */
    int mask_active;                /* forward applied the masks (train pass) */
    double seconds_forward;         /* accumulated when net->profile is set */
    double seconds_backward;
} df_layer;

/* What a forward pass needs to know besides the data. */
typedef struct df_pass {
    int train;              /* 1: dropout on */
    uint64_t seed;
    int64_t step;
    int64_t first_sample;   /* position in the global batch of sample 0 */
} df_pass;

/* What a layer's forward and backward see of the network. */
typedef struct df_layer_ctx {
    float *params;          /* the flat parameters: tensor t at params + tensors[t].offset */
    float *grads;           /* the flat gradients, the same layout (backward) */
    int threads;            /* see layers.h */
    const df_pass *pass;    /* forward */
    const int32_t *labels;  /* (N), for the loss */
    int *n_correct;         /* the loss's forward: argmax == label count; may be NULL */
} df_layer_ctx;

/* ---- config keys ---- */

typedef enum df_key_kind {
    DF_KEY_INT,             /* int, in [ilo, ihi] */
    DF_KEY_FLOAT,           /* float, in [flo, fhi] with ends open as `open` says */
    DF_KEY_BOOL,            /* int 0/1, spelled false/true */
    DF_KEY_NAME             /* char[size], one of choices */
} df_key_kind;

enum { DF_KEY_LO_OPEN = 1, DF_KEY_HI_OPEN = 2 };   /* df_layer_key.open */

enum {
    DF_KEY_REQUIRED = 1,    /* no default: a layer of the type must give it */
    DF_KEY_MODEL = 2        /* shapes the stored tensors: resuming a checkpoint
                               with another value is refused (int or bool) */
};

/* One key of a [layer NAME] section. Keys of the same name in several
 * types must agree in everything but flags. */
typedef struct df_layer_key {
    const char *name;
    df_key_kind kind;
    size_t offset, size;    /* the field in df_layer_spec */
    long long ilo, ihi;
    double flo, fhi;
    int open;
    const char *const *choices;
    unsigned flags;
    /* nonzero: offset of an int in df_layer_spec set to 1 when the key is
     * given; the key has no default then and is written back only if given */
    size_t given_offset;
} df_layer_key;

/* ---- the descriptor ---- */

/* finish's view of which keys a section (or an override) gave. */
typedef int (*df_key_given_fn)(const void *ctx, const char *key);

struct df_layer_kind {
    const char *name;               /* the config's spelling */
    const df_layer_key *keys;       /* besides type, in the order they are written
                                       back; ends with a NULL name */
    int is_loss;                    /* closes the network: forward returns the summed
                                       loss; its output is the probabilities */
    /* After every key and override: defaults that depend on what was given
     * and checks across keys. DF_OK, or DF_EINPUT with *key the key at
     * fault and why the reason. NULL: nothing to do. */
    int (*finish)(df_layer_spec *s, df_key_given_fn given, const void *ctx,
                  const char **key, char *why, size_t cap);
    /* Output shape, tensors (df_layer_add_tensor) and aux buffers (their
     * shapes; alloc points them at storage) from l->spec and the input shape
     * in l. Errors name the layer. */
    int (*setup)(df_layer *l, df_error *err);
    /* Scratch for batches of up to max_batch, and aux storage. NULL: none. */
    int (*alloc)(df_layer *l, int max_batch, df_error *err);
    /* Scratch for `threads` threads, replacing alloc's; NULL: alloc's
     * serves any count. On failure the layer is unchanged. */
    int (*set_threads)(df_layer *l, int max_batch, int threads, df_error *err);
    /* Fresh parameters (in the flat buffer params) and aux state, each
     * from its own key under the run's seed. NULL: nothing to draw. */
    void (*init)(df_layer *l, float *params, uint64_t seed);
    /* in (N, in_size) -> out (N, out_size); returns the summed loss of a
     * loss layer, else 0 */
    double (*forward)(df_layer *l, const df_layer_ctx *c, const float *in, float *out, int N);
    /* dout (N, out_size) -> din (N, in_size) (=, NULL for the first layer),
     * parameter gradients (+=) into c->grads; out is what forward wrote */
    void (*backward)(df_layer *l, const df_layer_ctx *c, float *din, const float *dout,
                     const float *in, const float *out, int N);
    /* inspect's remark on the layer ("d=1024 k=1"); NULL: none. */
    void (*describe)(const df_layer *l, char *buf, size_t cap);
};

/* The table (src/layers/table.c): types 0 .. df_layer_kind_count() - 1. */
int df_layer_kind_count(void);
/* The descriptor of type t, or NULL. */
const df_layer_kind *df_layer_kind_of(df_layer_type t);
/* The type spelled name[0..n), or -1. */
int df_layer_kind_find(const char *name, size_t n);

/* The key of kind k called name, or NULL. */
const df_layer_key *df_layer_kind_key(const df_layer_kind *k, const char *name);

/* Append a trainable tensor to l (setup). */
void df_layer_add_tensor(df_layer *l, const char *name, int rank, const int *dims,
                         float lr_mult, float decay_mult);
/* Append an aux buffer to l (setup); returns it for alloc to fill in data. */
df_aux *df_layer_add_aux(df_layer *l, const char *name, const char *what, df_aux_type type,
                         int rank, const int *dims);

#endif
