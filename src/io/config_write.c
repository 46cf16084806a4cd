/* The config as text: the fully resolved config (every key, defaults
 * included) that df_config_parse reads back to an equal struct. */
#define _POSIX_C_SOURCE 200809L

#include "io/config_internal.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- writing ---- */

typedef struct text_buf {
    char *p;
    size_t len, cap;
    int failed;
} text_buf;

static void append(text_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void append(text_buf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (b->failed || n < 0) {
        b->failed = 1;
        return;
    }
    size_t need = b->len + (size_t)n + 1;   /* the text is at most ~100 KB */
    if (need > b->cap) {
        size_t cap = b->cap ? 2 * b->cap : 4096;
        while (cap < need)
            cap *= 2;
        char *p = realloc(b->p, cap);
        if (!p) {
            b->failed = 1;
            return;
        }
        b->p = p;
        b->cap = cap;
    }
    va_start(ap, fmt);
    vsnprintf(b->p + b->len, b->cap - b->len, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
}

/* Shortest %g form that reads back to exactly the same value, so the
 * text stays readable (0.01, not 0.010000000000000000208). */
static void format_real(char *buf, size_t cap, double x, int is_float)
{
    int lo = is_float ? 6 : 15, hi = is_float ? 9 : 17;
    for (int prec = lo; prec <= hi; prec++) {
        double back;
        snprintf(buf, cap, "%.*g", prec, x);
        if (cfg_parse_float_span((span){ buf, strlen(buf) }, is_float, &back) == 0 &&
            back == x)
            return;
    }
}

static void format_value(const key_def *def, const void *field, char *buf, size_t cap)
{
    int i;
    switch (def->kind) {
    case V_INT: memcpy(&i, field, sizeof i); snprintf(buf, cap, "%d", i); return;
    case V_INT64: {
        int64_t x;
        memcpy(&x, field, sizeof x);
        snprintf(buf, cap, "%" PRId64, x);
        return;
    }
    case V_UINT64: {
        uint64_t x;
        memcpy(&x, field, sizeof x);
        snprintf(buf, cap, "%" PRIu64, x);
        return;
    }
    case V_FLOAT: {
        float f;
        memcpy(&f, field, sizeof f);
        format_real(buf, cap, f, 1);
        return;
    }
    case V_DOUBLE: {
        double d;
        memcpy(&d, field, sizeof d);
        format_real(buf, cap, d, 0);
        return;
    }
    case V_BOOL: memcpy(&i, field, sizeof i); snprintf(buf, cap, "%s", i ? "true" : "false"); return;
    case V_ENUM: memcpy(&i, field, sizeof i); snprintf(buf, cap, "%s", def->choices[i]); return;
    case V_NAME:
    case V_PATH: snprintf(buf, cap, "%s", (const char *)field); return;
    }
}

static void append_key(text_buf *b, const key_def *def, const void *base)
{
    char value[DF_PATH_MAX + 64];
    const char *field = (const char *)base + def->offset;
    if ((def->kind == V_NAME || def->kind == V_PATH) && field[0] == '\0')
        return;     /* unset string: leaving it out reads back the same */
    format_value(def, field, value, sizeof value);
    append(b, "%s = %s\n", def->name, value);
}

/* type, then the type's keys in its own order */
static void append_layer(text_buf *b, const df_layer_spec *l)
{
    append(b, "\n[layer %s]\n", l->name);
    append_key(b, &cfg_layer_keys[LAYER_KEY_TYPE], l);
    for (const df_layer_key *k = df_layer_kind_of(l->type)->keys; k && k->name; k++) {
        const key_def *def = &cfg_layer_keys[cfg_find_key(SEC_LAYER, (span){ k->name, strlen(k->name) })];
        int given = 1;
        if (def->given_offset)
            memcpy(&given, (const char *)l + def->given_offset, sizeof given);
        if (given)      /* else left to the layer's own default */
            append_key(b, def, l);
    }
}

char *df_config_to_text(const df_config *cfg)
{
    text_buf b = { 0 };
    cfg_layer_schema();
    append(&b, "# deepfried config, fully resolved: every key, defaults included\n");
    for (int s = SEC_RUN; s < SEC_LAYER; s++) {
        append(&b, "%s[%s]\n", s == SEC_RUN ? "" : "\n", cfg_section_names[s]);
        for (int k = 0; k < cfg_n_global_keys; k++)
            if (cfg_global_keys[k].section == (enum section)s)
                append_key(&b, &cfg_global_keys[k], cfg);
    }
    for (int i = 0; i < cfg->n_layers; i++)
        append_layer(&b, &cfg->layers[i]);
    if (b.failed) {
        free(b.p);
        return NULL;
    }
    return b.p;
}
