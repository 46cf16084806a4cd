/* The layer table: every layer type's descriptor, in df_layer_type order
 * (a config names a type by its descriptor's name; the enum constants are
 * the built-in types' positions here). A new type appends its entry. */
#include "deepfried/layer_kind.h"

#include <string.h>

extern const df_layer_kind df_layer_conv, df_layer_maxpool, df_layer_relu, df_layer_dense,
    df_layer_fastfood, df_layer_dropout, df_layer_softmax_loss, df_layer_scale;

static const df_layer_kind *const table[] = {
    [DF_LAYER_CONV] = &df_layer_conv,
    [DF_LAYER_MAXPOOL] = &df_layer_maxpool,
    [DF_LAYER_RELU] = &df_layer_relu,
    [DF_LAYER_DENSE] = &df_layer_dense,
    [DF_LAYER_FASTFOOD] = &df_layer_fastfood,
    [DF_LAYER_DROPOUT] = &df_layer_dropout,
    [DF_LAYER_SOFTMAX_LOSS] = &df_layer_softmax_loss,
    &df_layer_scale,
};

#define N_KINDS ((int)(sizeof table / sizeof table[0]))

int df_layer_kind_count(void)
{
    return N_KINDS;
}

const df_layer_kind *df_layer_kind_of(df_layer_type t)
{
    return (int)t >= 0 && (int)t < N_KINDS ? table[t] : NULL;
}

int df_layer_kind_find(const char *name, size_t n)
{
    for (int t = 0; t < N_KINDS; t++)
        if (strlen(table[t]->name) == n && memcmp(table[t]->name, name, n) == 0)
            return t;
    return -1;
}

const char *df_layer_type_name(df_layer_type t)
{
    const df_layer_kind *k = df_layer_kind_of(t);
    return k ? k->name : "unknown";
}
