/* The layer types, in df_layer_type order. */
#include "deepfried/layer_spec.h"

#include <stddef.h>

const char *const df_layer_type_names[] = {
    "conv", "maxpool", "relu", "dense", "fastfood", "dropout", "softmax_loss", NULL
};

const char *df_layer_type_name(df_layer_type t)
{
    if ((int)t < 0 || (int)t > DF_LAYER_SOFTMAX_LOSS)
        return "unknown";
    return df_layer_type_names[t];
}
