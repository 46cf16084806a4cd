/* What a layer is asked to be: the settings of one [layer NAME] section.
 * The model defines it and the config reader fills it (io depends on the
 * model, never the other way round). Fields shared by several layer types
 * have names; a layer type's own settings go in `opts`, laid out by its
 * file in src/layers/ (see docs/design.md, "Adding a layer type"). */
#ifndef DEEPFRIED_LAYER_SPEC_H
#define DEEPFRIED_LAYER_SPEC_H

#include <stdint.h>

#define DF_MAX_LAYERS 64
#define DF_NAME_MAX 64

/* The built-in layer types, by their position in the layer table
 * (src/layers/table.c). A type added later needs no constant here: code
 * outside its own file finds it by name. */
typedef enum df_layer_type {
    DF_LAYER_CONV,
    DF_LAYER_MAXPOOL,
    DF_LAYER_RELU,
    DF_LAYER_DENSE,
    DF_LAYER_FASTFOOD,
    DF_LAYER_DROPOUT,
    DF_LAYER_SOFTMAX_LOSS
} df_layer_type;

/* Config spellings: "conv", "maxpool", "relu", "dense", "fastfood",
 * "dropout", "softmax_loss", ...; "unknown" for a type not in the table. */
const char *df_layer_type_name(df_layer_type t);

typedef struct df_layer_spec {
    char name[DF_NAME_MAX];
    df_layer_type type;
    int line;               /* line of the [layer NAME] header */

    int outputs;            /* conv: output channels; dense: output features */
    int kernel, stride, pad;/* conv (stride 1, pad 0), maxpool (stride = kernel) */

    /* conv, dense: weight init "xavier" (Caffe: U(+-sqrt(3/fan_in))) or
     * "gaussian" (N(0, weight_std^2)); biases start at 0 */
    char weight_filler[16];
    float weight_std;       /* default 0.01 */
    int bias;               /* dense: 1 (default) adds a learned bias; 0 has
                               none (the first factor of an SVD-compressed
                               layer, deepfried compress) */

    /* per-tensor multipliers of base_lr and weight_decay (Caffe's
     * lr_mult/decay_mult); for fastfood they apply to S, G and B */
    float lr_mult, bias_lr_mult;       /* default 1, 2 */
    float decay_mult, bias_decay_mult; /* default 1, 1 */

    /* fastfood */
    int features;           /* n, output width (required) */
    int adaptive;           /* 1: learn S, G, B (default); 0: fixed random */
    float sigma;            /* init scale; unset: 1/sqrt(d_in), Xavier's variance */
    int sigma_set;          /* 1 if sigma was given in the file */
    float dropout_input;    /* dropout probability before B (default 0) */
    float dropout_perm;     /* after the permutation (default 0) */
    float dropout_scale;    /* after S (default 0) */

    /* dropout */
    float ratio;            /* drop probability in [0, 1) (default 0.5) */

    /* A layer type's own settings, laid out by its file (src/layers/scale.c
     * shows how); zero until its keys or its finish fill them. */
    union {
        double align;
        unsigned char bytes[64];
    } opts;
} df_layer_spec;

#endif
