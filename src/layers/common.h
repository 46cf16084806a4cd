/* What the layer files share: the config keys several types take, and the
 * helpers their descriptors use. Private to src/layers/. */
#ifndef DEEPFRIED_LAYERS_COMMON_H
#define DEEPFRIED_LAYERS_COMMON_H

#include <math.h>
#include <stddef.h>

#include "deepfried/layer_kind.h"

#define LAY(f) offsetof(df_layer_spec, f), sizeof(((df_layer_spec *)0)->f)
#define KEY_MAX_WIDTH (1 << 24)     /* outputs, features */
#define KEY_MAX_KERNEL 64

#define KEY_INT(name, field, lo, hi, flags) \
    { name, DF_KEY_INT, LAY(field), lo, hi, 0.0, 0.0, 0, NULL, flags, 0 }
#define KEY_FLOAT(name, field, lo, hi, open, flags) \
    { name, DF_KEY_FLOAT, LAY(field), 0, 0, lo, hi, open, NULL, flags, 0 }
#define KEY_BOOL(name, field, flags) \
    { name, DF_KEY_BOOL, LAY(field), 0, 0, 0.0, 0.0, 0, NULL, flags, 0 }
#define KEY_END { 0 }

/* a probability of dropping: [0, 1) */
#define KEY_PROB(name, field) KEY_FLOAT(name, field, 0.0, 1.0, DF_KEY_HI_OPEN, 0)

#define KEY_OUTPUTS KEY_INT("outputs", outputs, 1, KEY_MAX_WIDTH, DF_KEY_REQUIRED | DF_KEY_MODEL)
#define KEY_KERNEL KEY_INT("kernel", kernel, 1, KEY_MAX_KERNEL, DF_KEY_REQUIRED | DF_KEY_MODEL)
#define KEY_STRIDE KEY_INT("stride", stride, 1, KEY_MAX_KERNEL, DF_KEY_MODEL)
#define KEY_PAD KEY_INT("pad", pad, 0, KEY_MAX_KERNEL, DF_KEY_MODEL)

/* conv, dense: Caffe's weight fillers */
extern const char *const df_filler_names[];
#define KEY_WEIGHT_FILLER \
    { "weight_filler", DF_KEY_NAME, LAY(weight_filler), 0, 0, 0.0, 0.0, 0, df_filler_names, 0, 0 }
#define KEY_WEIGHT_STD KEY_FLOAT("weight_std", weight_std, 0.0, INFINITY, DF_KEY_LO_OPEN, 0)
#define KEY_LR_MULT KEY_FLOAT("lr_mult", lr_mult, 0.0, INFINITY, 0, 0)
#define KEY_DECAY_MULT KEY_FLOAT("decay_mult", decay_mult, 0.0, INFINITY, 0, 0)
#define KEY_BIAS_LR_MULT KEY_FLOAT("bias_lr_mult", bias_lr_mult, 0.0, INFINITY, 0, 0)
#define KEY_BIAS_DECAY_MULT KEY_FLOAT("bias_decay_mult", bias_decay_mult, 0.0, INFINITY, 0, 0)

/* "layer NAME (TYPE): what for input CxHxW"; returns DF_EINPUT */
int df_layer_shape_error(df_error *err, const df_layer *l, const char *what);

/* Caffe's fills of tensor 0 (xavier or gaussian, as the spec says) and a
 * zero tensor 1 if the layer has one, from the key (seed, layer, 1). */
void df_layer_fill_weight_bias(df_layer *l, float *params, uint64_t seed);

/* The key of dropout point `point` (0..3) of layer l: masks never depend
 * on which rank draws them (layers.h, df_dropout_mask). */
uint64_t df_layer_point_id(const df_layer *l, int point);

#endif
