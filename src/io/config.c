/* The .conf reader: INI text -> df_config, strictly validated.
 *
 * Every key lives in one of two tables (global sections, layer sections)
 * that say where its value goes, how to parse it and which range is legal.
 * Parsing, --set overrides and df_config_to_text all walk the same tables,
 * so a key cannot be readable but not writable, or the other way round.
 *
 * For each key we remember where its value came from (a file line, an
 * override, or nowhere = default); whole-config checks run after the
 * overrides and use that to point the user at the line to fix. */
#define _POSIX_C_SOURCE 200809L

#include "deepfried/config.h"
#include "deepfried/layer_kind.h"

#include <assert.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <float.h>
#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* ---- sections and key tables ---- */

enum section {
    SEC_NONE, SEC_RUN, SEC_DATA, SEC_SOLVER, SEC_CHECKPOINT, SEC_COMM,
    SEC_LAYER, N_SECTIONS
};

static const char *const section_names[N_SECTIONS] = {
    "", "run", "data", "solver", "checkpoint", "comm", "layer"
};

typedef enum value_kind {
    V_INT, V_INT64, V_UINT64, V_FLOAT, V_DOUBLE, V_BOOL,
    V_NAME,         /* short string (char[cap]); optionally one of choices */
    V_PATH,         /* char[DF_PATH_MAX] */
    V_ENUM          /* index into choices, stored in an int-sized field */
} value_kind;

/* Float range: [lo, hi] with either end open; hi = INFINITY for none. */
enum { LO_OPEN = 1, HI_OPEN = 2 };

typedef struct key_def {
    enum section section;   /* SEC_LAYER: offset is into df_layer_spec */
    const char *name;
    value_kind kind;
    size_t offset, size;
    long long ilo, ihi;     /* integer kinds: inclusive bounds */
    double flo, fhi;        /* float kinds */
    int open;               /* float kinds: LO_OPEN | HI_OPEN */
    const char *const *choices; /* V_ENUM, and V_NAME when restricted */
    unsigned layer_types;   /* SEC_LAYER: bit per df_layer_type */
    size_t given_offset;    /* SEC_LAYER: see df_layer_key */
} key_def;
static const char *const lr_policy_names[] = {
    "fixed", "step", "inv", "cosine", NULL
};
static const char *const eval_on_names[] = { "test", "holdout", NULL };
static const char *const dtype_names[] = { "fp32", "bf16", NULL };

/* Enum fields are written as int; that must be their size. */
_Static_assert(sizeof(df_lr_policy) == sizeof(int), "enum size");
_Static_assert(sizeof(df_layer_type) == sizeof(int), "enum size");

#define CFG(f) offsetof(df_config, f), sizeof(((df_config *)0)->f)
#define LAY(f) offsetof(df_layer_spec, f), sizeof(((df_layer_spec *)0)->f)
#define NOINT 0, 0
#define NOFLT 0.0, 0.0, 0
#define BIG_COUNT (1LL << 40)       /* steps / items: far beyond any run */

static const key_def global_keys[] = {
    { SEC_RUN, "name", V_NAME, CFG(run.name), NOINT, NOFLT, NULL, 0, 0 },
    { SEC_RUN, "dir", V_PATH, CFG(run.dir), NOINT, NOFLT, NULL, 0, 0 },
    { SEC_RUN, "seed", V_UINT64, CFG(run.seed), NOINT, NOFLT, NULL, 0, 0 },
    { SEC_RUN, "threads", V_INT, CFG(run.threads), 0, 4096, NOFLT, NULL, 0, 0 },

    { SEC_DATA, "train_images", V_PATH, CFG(data.train_images), NOINT, NOFLT, NULL, 0, 0 },
    { SEC_DATA, "train_labels", V_PATH, CFG(data.train_labels), NOINT, NOFLT, NULL, 0, 0 },
    { SEC_DATA, "test_images", V_PATH, CFG(data.test_images), NOINT, NOFLT, NULL, 0, 0 },
    { SEC_DATA, "test_labels", V_PATH, CFG(data.test_labels), NOINT, NOFLT, NULL, 0, 0 },
    { SEC_DATA, "scale", V_FLOAT, CFG(data.scale), NOINT, 0.0, INFINITY, LO_OPEN, NULL, 0, 0 },
    { SEC_DATA, "holdout", V_INT64, CFG(data.holdout), 0, BIG_COUNT, NOFLT, NULL, 0, 0 },
    /* -1: the last data.holdout items (the default, written back as such) */
    { SEC_DATA, "holdout_start", V_INT64, CFG(data.holdout_start), -1, BIG_COUNT, NOFLT, NULL, 0, 0 },
    { SEC_DATA, "eval_on", V_ENUM, CFG(data.eval_holdout), NOINT, NOFLT, eval_on_names, 0, 0 },

    { SEC_SOLVER, "batch", V_INT, CFG(solver.batch), 1, 1 << 20, NOFLT, NULL, 0, 0 },
    { SEC_SOLVER, "iterations", V_INT64, CFG(solver.iterations), 1, BIG_COUNT, NOFLT, NULL, 0, 0 },
    { SEC_SOLVER, "display", V_INT, CFG(solver.display), 1, INT_MAX, NOFLT, NULL, 0, 0 },
    { SEC_SOLVER, "test_interval", V_INT, CFG(solver.test_interval), 0, INT_MAX, NOFLT, NULL, 0, 0 },
    { SEC_SOLVER, "base_lr", V_DOUBLE, CFG(solver.base_lr), NOINT, 0.0, INFINITY, LO_OPEN, NULL, 0, 0 },
    { SEC_SOLVER, "momentum", V_DOUBLE, CFG(solver.momentum), NOINT, 0.0, 1.0, HI_OPEN, NULL, 0, 0 },
    { SEC_SOLVER, "weight_decay", V_DOUBLE, CFG(solver.weight_decay), NOINT, 0.0, INFINITY, 0, NULL, 0, 0 },
    { SEC_SOLVER, "lr_policy", V_ENUM, CFG(solver.lr_policy), NOINT, NOFLT, lr_policy_names, 0, 0 },
    { SEC_SOLVER, "gamma", V_DOUBLE, CFG(solver.gamma), NOINT, 0.0, INFINITY, 0, NULL, 0, 0 },
    { SEC_SOLVER, "power", V_DOUBLE, CFG(solver.power), NOINT, 0.0, INFINITY, 0, NULL, 0, 0 },
    /* 0 = not used; lr_policy = step demands >= 1 (checked as a whole) */
    { SEC_SOLVER, "stepsize", V_INT64, CFG(solver.stepsize), 0, BIG_COUNT, NOFLT, NULL, 0, 0 },
    { SEC_SOLVER, "min_lr", V_DOUBLE, CFG(solver.min_lr), NOINT, 0.0, INFINITY, 0, NULL, 0, 0 },
    { SEC_SOLVER, "warmup", V_INT64, CFG(solver.warmup), 0, BIG_COUNT, NOFLT, NULL, 0, 0 },

    { SEC_CHECKPOINT, "interval", V_INT, CFG(checkpoint.interval), 0, INT_MAX, NOFLT, NULL, 0, 0 },
    { SEC_CHECKPOINT, "keep", V_INT, CFG(checkpoint.keep), 1, 10000, NOFLT, NULL, 0, 0 },
    { SEC_CHECKPOINT, "dir", V_PATH, CFG(checkpoint.dir), NOINT, NOFLT, NULL, 0, 0 },

    { SEC_COMM, "bucket_kb", V_INT, CFG(comm.bucket_kb), 1, 1 << 20, NOFLT, NULL, 0, 0 },
    { SEC_COMM, "dtype", V_ENUM, CFG(comm.dtype_bf16), NOINT, NOFLT, dtype_names, 0, 0 },
};

#define N_GLOBAL_KEYS ((int)(sizeof global_keys / sizeof global_keys[0]))

/* The layer keys are the layer types' (layer_kind.h): "type", then every
 * key some type takes, in table order, each with a bit per type that takes
 * it. Built once, from the table. */
#define MAX_LAYER_KEYS 64
#define MAX_LAYER_TYPES 32          /* bits of key_def.layer_types */
#define LAYER_KEY_TYPE 0            /* index of "type" in layer_keys */

static key_def layer_keys[MAX_LAYER_KEYS];
static int n_layer_keys;
static const char *layer_type_names[MAX_LAYER_TYPES + 1];
static pthread_once_t layer_schema_once = PTHREAD_ONCE_INIT;
#define N_LAYER_KEYS n_layer_keys

static const value_kind key_kind_values[] = {
    [DF_KEY_INT] = V_INT, [DF_KEY_FLOAT] = V_FLOAT, [DF_KEY_BOOL] = V_BOOL,
    [DF_KEY_NAME] = V_NAME,
};

static key_def layer_key_def(const df_layer_key *k)
{
    key_def d = {
        .section = SEC_LAYER, .name = k->name, .kind = key_kind_values[k->kind],
        .offset = k->offset, .size = k->size, .ilo = k->ilo, .ihi = k->ihi, .flo = k->flo,
        .fhi = k->fhi, .open = k->open, .choices = k->choices, .given_offset = k->given_offset,
    };
    return d;
}

/* Two types' keys of one name must be one key (layer_kind.h). */
static int same_key(const key_def *a, const key_def *b)
{
    return a->kind == b->kind && a->offset == b->offset && a->size == b->size &&
           a->ilo == b->ilo && a->ihi == b->ihi && a->flo == b->flo && a->fhi == b->fhi &&
           a->open == b->open && a->choices == b->choices && a->given_offset == b->given_offset;
}

static void build_layer_schema(void)
{
    int n_types = df_layer_kind_count();
    assert(n_types <= MAX_LAYER_TYPES);
    layer_keys[LAYER_KEY_TYPE] = (key_def){
        .section = SEC_LAYER, .name = "type", .kind = V_ENUM, .offset = offsetof(df_layer_spec, type),
        .size = sizeof(df_layer_type), .choices = layer_type_names,
    };
    n_layer_keys = 1;
    for (int t = 0; t < n_types; t++) {
        const df_layer_kind *kind = df_layer_kind_of((df_layer_type)t);
        layer_type_names[t] = kind->name;
        layer_keys[LAYER_KEY_TYPE].layer_types |= 1u << t;
        for (const df_layer_key *k = kind->keys; k && k->name; k++) {
            key_def d = layer_key_def(k);
            int i = 1;
            while (i < n_layer_keys && strcmp(layer_keys[i].name, k->name) != 0)
                i++;
            if (i == n_layer_keys) {
                assert(n_layer_keys < MAX_LAYER_KEYS);
                layer_keys[n_layer_keys++] = d;
            }
            assert(same_key(&layer_keys[i], &d));
            layer_keys[i].layer_types |= 1u << t;
        }
    }
    layer_type_names[n_types] = NULL;
}

static void layer_schema(void)
{
    pthread_once(&layer_schema_once, build_layer_schema);
}

/* Keys a layer of each type cannot do without (besides type). */
static int layer_key_required(int key, df_layer_type t)
{
    const df_layer_key *k = df_layer_kind_key(df_layer_kind_of(t), layer_keys[key].name);
    return k && (k->flags & DF_KEY_REQUIRED);
}

/* ---- parser state ---- */

/* Where a key's value came from: > 0 a line of the file, < 0 override
 * number -(i + 1), 0 not given (default). */
typedef int origin_ref;

typedef struct parser {
    df_config *cfg;
    const char *origin;
    const char *const *overrides;
    df_error *err;
    enum section section;       /* current section while reading the file */
    int layer;                  /* current layer index when in SEC_LAYER */
    int section_line[N_SECTIONS];
    origin_ref global_src[N_GLOBAL_KEYS];
    origin_ref layer_src[DF_MAX_LAYERS][MAX_LAYER_KEYS];
} parser;

/* A run of bytes inside the text being parsed (not NUL-terminated). */
typedef struct span {
    const char *p;
    size_t n;
} span;

static span span_trim(span s)
{
    while (s.n && isspace((unsigned char)s.p[0])) {
        s.p++;
        s.n--;
    }
    while (s.n && isspace((unsigned char)s.p[s.n - 1]))
        s.n--;
    return s;
}

static int span_is(span s, const char *word)
{
    return strlen(word) == s.n && memcmp(s.p, word, s.n) == 0;
}

/* ---- messages ---- */

/* Copy text into buf for echoing in a one-line message: control bytes
 * become '?', and long text is cut with "...". */
static const char *printable(const char *s, size_t n, char *buf, size_t cap)
{
    size_t room = cap - 4, i;
    for (i = 0; i < n && i < room; i++)
        buf[i] = iscntrl((unsigned char)s[i]) ? '?' : s[i];
    if (i < n) {
        memcpy(buf + i, "...", 3);
        i += 3;
    }
    buf[i] = '\0';
    return buf;
}

/* "FILE:LINE", "--set TEXT" or "FILE", depending on where a value came from. */
static void format_where(const parser *ps, origin_ref src, char *buf, size_t cap)
{
    char a[512];
    if (src < 0) {
        const char *o = ps->overrides[-src - 1];
        snprintf(buf, cap, "--set %s", printable(o, strlen(o), a, sizeof a));
        return;
    }
    printable(ps->origin, strlen(ps->origin), a, sizeof a);
    if (src > 0)
        snprintf(buf, cap, "%s:%d", a, src);
    else
        snprintf(buf, cap, "%s", a);
}

/* The single error shape: "WHERE: key 'QUALIFIED': WHAT (got 'VALUE')".
 * value may be NULL when there is nothing to echo. */
static int fail_at(const parser *ps, origin_ref src, const char *qualified,
                   const char *value, size_t value_len, const char *fmt, ...)
    __attribute__((format(printf, 6, 7)));

static int fail_at(const parser *ps, origin_ref src, const char *qualified,
                   const char *value, size_t value_len, const char *fmt, ...)
{
    char where[640], what[512], got[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    format_where(ps, src, where, sizeof where);
    if (value)
        return df_fail(ps->err, DF_EINPUT, "%s: key '%s': %s (got '%s')",
                       where, qualified, what,
                       printable(value, value_len, got, sizeof got));
    return df_fail(ps->err, DF_EINPUT, "%s: key '%s': %s", where, qualified, what);
}

/* "solver.batch" or "layer conv1.kernel" */
static void qualify(const parser *ps, const key_def *def, int layer,
                    char *buf, size_t cap)
{
    if (def->section == SEC_LAYER)
        snprintf(buf, cap, "layer %s.%s", ps->cfg->layers[layer].name, def->name);
    else
        snprintf(buf, cap, "%s.%s", section_names[def->section], def->name);
}

/* "a, b, c" from a NULL-terminated list */
static void join_names(const char *const *names, char *buf, size_t cap)
{
    size_t used = 0;
    buf[0] = '\0';
    for (int i = 0; names[i] && used < cap; i++)
        used += (size_t)snprintf(buf + used, cap - used, "%s%s",
                                 i ? ", " : "", names[i]);
}

/* Keys of one global section as "a, b, c". */
static void list_keys(enum section sec, char *buf, size_t cap)
{
    size_t used = 0;
    buf[0] = '\0';
    for (int i = 0; i < N_GLOBAL_KEYS && used < cap; i++)
        if (global_keys[i].section == sec)
            used += (size_t)snprintf(buf + used, cap - used, "%s%s", used ? ", " : "",
                                     global_keys[i].name);
}

/* Keys of one layer type, as "type, a, b": its own order. */
static void list_layer_keys(df_layer_type t, char *buf, size_t cap)
{
    size_t used = (size_t)snprintf(buf, cap, "type");
    for (const df_layer_key *k = df_layer_kind_of(t)->keys; k && k->name && used < cap; k++)
        used += (size_t)snprintf(buf + used, cap - used, ", %s", k->name);
}

/* Layer types a bitmask names, as "conv, dense". */
static void list_types(unsigned types, char *buf, size_t cap)
{
    size_t used = 0;
    buf[0] = '\0';
    for (int t = 0; layer_type_names[t] && used < cap; t++)
        if (types & (1u << t))
            used += (size_t)snprintf(buf + used, cap - used, "%s%s",
                                     used ? ", " : "", layer_type_names[t]);
}

/* ---- values ---- */

static void *field_of(const parser *ps, const key_def *def, int layer)
{
    char *base = def->section == SEC_LAYER ? (char *)&ps->cfg->layers[layer]
                                           : (char *)ps->cfg;
    return base + def->offset;
}

/* Numbers are parsed from a NUL-terminated copy; anything this long is
 * not a number we accept. */
#define NUMBER_MAX 64

static int copy_number(span v, char *buf)
{
    if (v.n >= NUMBER_MAX)
        return -1;
    memcpy(buf, v.p, v.n);
    buf[v.n] = '\0';
    return 0;
}

/* Whole-string base-10 integer; 0 ok, -1 not an integer, -2 overflow. */
static int parse_ll(span v, long long *out)
{
    char buf[NUMBER_MAX], *end;
    if (copy_number(v, buf) != 0)
        return -1;
    errno = 0;
    long long x = strtoll(buf, &end, 10);
    if (end == buf || *end != '\0' || isspace((unsigned char)buf[0]))
        return -1;
    if (errno == ERANGE)
        return -2;
    *out = x;
    return 0;
}

static int parse_u64(span v, uint64_t *out)
{
    char buf[NUMBER_MAX], *end;
    /* strtoull would quietly wrap "-1" to 2^64-1 */
    if (copy_number(v, buf) != 0 || buf[0] == '-' || isspace((unsigned char)buf[0]))
        return -1;
    errno = 0;
    unsigned long long x = strtoull(buf, &end, 10);
    if (end == buf || *end != '\0')
        return -1;
    if (errno == ERANGE)
        return -2;
    *out = (uint64_t)x;
    return 0;
}

/* Finite decimal number; 0 ok, -1 not a number, -2 out of double range.
 * NaN and Inf are refused: strtod would accept them. */
static int parse_finite(const char *buf, double *out)
{
    char *end;
    if (isspace((unsigned char)buf[0]))
        return -1;
    for (const char *c = buf; *c; c++)
        if (isalpha((unsigned char)*c) && *c != 'e' && *c != 'E')
            return -1;     /* nan, inf, hex floats */
    errno = 0;
    double x = strtod(buf, &end);
    if (end == buf || *end != '\0')
        return -1;
    if (errno == ERANGE || !isfinite(x))
        return -2;
    *out = x;
    return 0;
}

static int parse_float_span(span v, int is_float, double *out)
{
    char buf[NUMBER_MAX];
    if (copy_number(v, buf) != 0)
        return -1;
    int rc = parse_finite(buf, out);
    if (rc == 0 && is_float) {
        if (fabs(*out) > FLT_MAX)
            return -2;
        *out = (float)*out;     /* range checks see the stored value */
    }
    return rc;
}

static void describe_float_range(const key_def *def, char *buf, size_t cap)
{
    int lo_open = def->open & LO_OPEN, hi_open = def->open & HI_OPEN;
    if (isinf(def->fhi))
        snprintf(buf, cap, "must be %s %g", lo_open ? ">" : ">=", def->flo);
    else
        snprintf(buf, cap, "must be in %c%g, %g%c", lo_open ? '(' : '[',
                 def->flo, def->fhi, hi_open ? ')' : ']');
}

static int float_in_range(const key_def *def, double x)
{
    if (x < def->flo || ((def->open & LO_OPEN) && x == def->flo))
        return 0;
    if (x > def->fhi || ((def->open & HI_OPEN) && x == def->fhi))
        return 0;
    return 1;
}

static int choice_index(const char *const *choices, span v)
{
    for (int i = 0; choices[i]; i++)
        if (span_is(v, choices[i]))
            return i;
    return -1;
}

/* A string value must survive df_config_to_text: no control bytes, and
 * nothing that the reader would take for a trailing comment. That
 * includes a leading '#' or ';': "key =#x" reads as "#x", but the writer's
 * "key = #x" would read back as a comment. Returns a reason or NULL. */
static const char *unwritable_reason(span v)
{
    if (v.n && (v.p[0] == '#' || v.p[0] == ';'))
        return "starts with '#' or ';', which starts a comment";
    for (size_t i = 0; i < v.n; i++) {
        if (iscntrl((unsigned char)v.p[i]))
            return "contains a control character";
        if ((v.p[i] == '#' || v.p[i] == ';') && i > 0 &&
            isspace((unsigned char)v.p[i - 1]))
            return "contains whitespace before '#' or ';', which starts a comment";
    }
    return NULL;
}

static int is_safe_name_char(char c, int allow_dot)
{
    return isalnum((unsigned char)c) || c == '_' || c == '-' || (allow_dot && c == '.');
}

static int set_string(const parser *ps, const key_def *def, const char *q,
                      void *field, span v, origin_ref src)
{
    const char *why = unwritable_reason(v);
    if (why)
        return fail_at(ps, src, q, v.p, v.n, "%s", why);
    if (v.n > def->size - 1)
        return fail_at(ps, src, q, v.p, v.n, "longer than %zu characters",
                       def->size - 1);
    if (def->choices && choice_index(def->choices, v) < 0) {
        char list[256];
        join_names(def->choices, list, sizeof list);
        return fail_at(ps, src, q, v.p, v.n, "must be one of: %s", list);
    }
    /* run.name becomes a directory name (runs/<name>) and a label in
     * scripts, so keep it to characters that need no quoting. */
    if (def->section == SEC_RUN && def->kind == V_NAME) {
        for (size_t i = 0; i < v.n; i++)
            if (!is_safe_name_char(v.p[i], 1))
                return fail_at(ps, src, q, v.p, v.n,
                               "may only contain letters, digits, '_', '-' and '.'");
        if (span_is(v, ".") || span_is(v, ".."))
            return fail_at(ps, src, q, v.p, v.n, "must not be '.' or '..'");
    }
    /* zero the tail so equal configs are equal byte for byte */
    memset(field, 0, def->size);
    memcpy(field, v.p, v.n);
    return 0;
}

static int set_integer(const parser *ps, const key_def *def, const char *q,
                       void *field, span v, origin_ref src)
{
    long long x;
    int rc = parse_ll(v, &x);
    if (rc == -1)
        return fail_at(ps, src, q, v.p, v.n, "not an integer");
    if (rc == -2 || x < def->ilo || x > def->ihi)
        return fail_at(ps, src, q, v.p, v.n, "must be between %lld and %lld",
                       def->ilo, def->ihi);
    if (def->kind == V_INT) {
        int i = (int)x;
        memcpy(field, &i, sizeof i);
    } else {
        int64_t i = x;
        memcpy(field, &i, sizeof i);
    }
    return 0;
}

static int set_real(const parser *ps, const key_def *def, const char *q,
                    void *field, span v, origin_ref src)
{
    double x;
    char range[128];
    int rc = parse_float_span(v, def->kind == V_FLOAT, &x);
    describe_float_range(def, range, sizeof range);
    if (rc == -1)
        return fail_at(ps, src, q, v.p, v.n, "not a finite decimal number");
    if (rc == -2 || !float_in_range(def, x))
        return fail_at(ps, src, q, v.p, v.n, "%s", range);
    if (def->kind == V_FLOAT) {
        float f = (float)x;
        memcpy(field, &f, sizeof f);
    } else {
        memcpy(field, &x, sizeof x);
    }
    return 0;
}

/* Parse v into the field def describes; range errors name the bound. */
static int set_value(const parser *ps, const key_def *def, int layer,
                     span v, origin_ref src)
{
    char q[128], list[256];
    void *field = field_of(ps, def, layer);
    qualify(ps, def, layer, q, sizeof q);
    if (v.n == 0)
        return fail_at(ps, src, q, NULL, 0, "empty value");
    switch (def->kind) {
    case V_INT:
    case V_INT64:
        return set_integer(ps, def, q, field, v, src);
    case V_UINT64: {
        uint64_t x;
        int rc = parse_u64(v, &x);
        if (rc != 0)
            return fail_at(ps, src, q, v.p, v.n, rc == -1
                           ? "not a non-negative integer"
                           : "must be at most 18446744073709551615");
        memcpy(field, &x, sizeof x);
        return 0;
    }
    case V_FLOAT:
    case V_DOUBLE:
        return set_real(ps, def, q, field, v, src);
    case V_BOOL:
    case V_ENUM: {
        static const char *const bools[] = { "false", "true", NULL };
        const char *const *choices = def->kind == V_BOOL ? bools : def->choices;
        int i = choice_index(choices, v);
        if (i < 0) {
            join_names(choices, list, sizeof list);
            return fail_at(ps, src, q, v.p, v.n, "must be one of: %s", list);
        }
        memcpy(field, &i, sizeof i);
        return 0;
    }
    case V_NAME:
    case V_PATH:
        return set_string(ps, def, q, field, v, src);
    }
    return 0;
}

/* ---- keys ---- */

static int find_key(enum section sec, span key)
{
    const key_def *table = sec == SEC_LAYER ? layer_keys : global_keys;
    int n = sec == SEC_LAYER ? N_LAYER_KEYS : N_GLOBAL_KEYS;
    for (int i = 0; i < n; i++)
        if (table[i].section == sec && span_is(key, table[i].name))
            return i;
    return -1;
}

static int layer_type_known(const parser *ps, int layer)
{
    return ps->layer_src[layer][LAYER_KEY_TYPE] != 0;
}

/* A key set on a layer whose type does not take it. When --set changed
 * the type, blame the override but say where the stranded key is. */
static int fail_wrong_type(const parser *ps, int layer, int key, origin_ref src)
{
    char q[128], owners[128], given[48] = "";
    const key_def *def = &layer_keys[key];
    origin_ref type_src = ps->layer_src[layer][LAYER_KEY_TYPE];
    qualify(ps, def, layer, q, sizeof q);
    list_types(def->layer_types, owners, sizeof owners);
    if (type_src < 0 && src > 0) {
        snprintf(given, sizeof given, "given on line %d; ", src);
        src = type_src;
    }
    return fail_at(ps, src, q, NULL, 0, "not a key of a %s layer (%sit belongs to: %s)",
                   layer_type_names[ps->cfg->layers[layer].type], given, owners);
}

static int check_layer_key_fits_type(const parser *ps, int layer, int key,
                                     origin_ref src)
{
    unsigned type_bit = 1u << ps->cfg->layers[layer].type;
    if (!layer_type_known(ps, layer) || (layer_keys[key].layer_types & type_bit))
        return 0;
    return fail_wrong_type(ps, layer, key, src);
}

static int fail_unknown_key(const parser *ps, enum section sec, int layer,
                            span key, origin_ref src)
{
    char q[256], keys[512], name[128];
    printable(key.p, key.n, name, sizeof name);
    if (sec == SEC_LAYER) {
        const df_layer_spec *l = &ps->cfg->layers[layer];
        snprintf(q, sizeof q, "layer %s.%s", l->name, name);
        if (!layer_type_known(ps, layer))
            return fail_at(ps, src, q, NULL, 0, "unknown layer key");
        list_layer_keys(l->type, keys, sizeof keys);
        return fail_at(ps, src, q, NULL, 0, "unknown key (a %s layer takes: %s)",
                       layer_type_names[l->type], keys);
    }
    snprintf(q, sizeof q, "%s.%s", section_names[sec], name);
    list_keys(sec, keys, sizeof keys);
    return fail_at(ps, src, q, NULL, 0, "unknown key (valid in [%s]: %s)",
                   section_names[sec], keys);
}

/* Set one key of a global section or of a layer. A file may give a key
 * once per section; an override may replace anything. */
static int set_key(parser *ps, enum section sec, int layer, span key, span value,
                   origin_ref src)
{
    int k = find_key(sec, key);
    if (k < 0)
        return fail_unknown_key(ps, sec, layer, key, src);
    const key_def *def = sec == SEC_LAYER ? &layer_keys[k] : &global_keys[k];
    origin_ref *seen = sec == SEC_LAYER ? &ps->layer_src[layer][k] : &ps->global_src[k];
    if (src > 0 && *seen > 0) {
        char q[128];
        qualify(ps, def, layer, q, sizeof q);
        return fail_at(ps, src, q, NULL, 0, "duplicate key (first given on line %d)",
                       *seen);
    }
    if (sec == SEC_LAYER) {
        int rc = check_layer_key_fits_type(ps, layer, k, src);
        if (rc)
            return rc;
    }
    int rc = set_value(ps, def, layer, value, src);
    if (rc)
        return rc;
    *seen = src;
    if (sec == SEC_LAYER && def->given_offset) {
        int one = 1;    /* else the layer picks the value itself */
        memcpy((char *)&ps->cfg->layers[layer] + def->given_offset, &one, sizeof one);
    }
    return 0;
}

/* ---- sections ---- */

static void layer_defaults(df_layer_spec *l)
{
    memset(l, 0, sizeof *l);
    l->stride = 1;
    strcpy(l->weight_filler, "xavier");
    l->weight_std = 0.01f;
    l->lr_mult = 1.0f;
    l->bias_lr_mult = 2.0f;
    l->decay_mult = 1.0f;
    l->bias_decay_mult = 1.0f;
    l->bias = 1;
    l->adaptive = 1;
    l->ratio = 0.5f;
}

static int is_reserved_layer_name(span name)
{
    for (int s = SEC_RUN; s < N_SECTIONS; s++)
        if (span_is(name, section_names[s]))
            return 1;
    return 0;
}

static int fail_layer_name(const parser *ps, int line, span name, const char *why)
{
    char where[640], got[256];
    format_where(ps, line, where, sizeof where);
    return df_fail(ps->err, DF_EINPUT, "%s: section '[layer %s]': %s", where,
                   printable(name.p, name.n, got, sizeof got), why);
}

static int check_layer_name(const parser *ps, int line, span name)
{
    if (name.n == 0)
        return fail_layer_name(ps, line, name, "a layer needs a name, as in [layer conv1]");
    if (name.n > DF_NAME_MAX - 1) {
        char why[64];
        snprintf(why, sizeof why, "layer name longer than %d characters", DF_NAME_MAX - 1);
        return fail_layer_name(ps, line, name, why);
    }
    for (size_t i = 0; i < name.n; i++)
        if (!is_safe_name_char(name.p[i], 0))
            return fail_layer_name(ps, line, name,
                                   "a layer name may only contain letters, digits, '_' and '-'");
    if (is_reserved_layer_name(name))
        return fail_layer_name(ps, line, name,
                               "a section name cannot be a layer name");
    return 0;
}

static int begin_layer(parser *ps, int line, span name)
{
    df_config *cfg = ps->cfg;
    int rc = check_layer_name(ps, line, name);
    if (rc)
        return rc;
    for (int i = 0; i < cfg->n_layers; i++)
        if (span_is(name, cfg->layers[i].name)) {
            char why[96];
            snprintf(why, sizeof why, "duplicate layer name (first on line %d)",
                     cfg->layers[i].line);
            return fail_layer_name(ps, line, name, why);
        }
    if (cfg->n_layers == DF_MAX_LAYERS) {
        char why[64];
        snprintf(why, sizeof why, "more than %d layers", DF_MAX_LAYERS);
        return fail_layer_name(ps, line, name, why);
    }
    df_layer_spec *l = &cfg->layers[cfg->n_layers];
    layer_defaults(l);
    memcpy(l->name, name.p, name.n);
    l->line = line;
    ps->layer = cfg->n_layers++;
    ps->section = SEC_LAYER;
    return 0;
}

/* A layer section is complete: it must have said what it is, and every
 * key given before `type` must suit that type. */
static int check_layer_keys(const parser *ps, int layer)
{
    const df_layer_spec *l = &ps->cfg->layers[layer];
    if (!layer_type_known(ps, layer)) {
        char q[128], types[256];
        snprintf(q, sizeof q, "layer %s.type", l->name);
        join_names(layer_type_names, types, sizeof types);
        return fail_at(ps, l->line, q, NULL, 0, "missing; every layer needs a type (%s)",
                       types);
    }
    for (int k = 0; k < N_LAYER_KEYS; k++) {
        origin_ref src = ps->layer_src[layer][k];
        if (src && !(layer_keys[k].layer_types & (1u << l->type)))
            return fail_wrong_type(ps, layer, k, src);
    }
    return 0;
}

static int end_section(parser *ps)
{
    if (ps->section == SEC_LAYER)
        return check_layer_keys(ps, ps->layer);
    return 0;
}

static int fail_section(const parser *ps, int line, span inside, const char *why)
{
    char where[640], got[256];
    format_where(ps, line, where, sizeof where);
    return df_fail(ps->err, DF_EINPUT, "%s: section '[%s]': %s", where,
                   printable(inside.p, inside.n, got, sizeof got), why);
}

static int begin_section(parser *ps, int line, span inside)
{
    int rc = end_section(ps);
    if (rc)
        return rc;
    inside = span_trim(inside);
    if (inside.n >= 5 && memcmp(inside.p, "layer", 5) == 0 &&
        (inside.n == 5 || isspace((unsigned char)inside.p[5]))) {
        span name = { inside.p + 5, inside.n - 5 };
        return begin_layer(ps, line, span_trim(name));
    }
    for (int s = SEC_RUN; s < SEC_LAYER; s++) {
        if (!span_is(inside, section_names[s]))
            continue;
        if (ps->section_line[s]) {
            char why[96];
            snprintf(why, sizeof why, "duplicate section (first on line %d)",
                     ps->section_line[s]);
            return fail_section(ps, line, inside, why);
        }
        ps->section_line[s] = line;
        ps->section = (enum section)s;
        return 0;
    }
    return fail_section(ps, line, inside,
                        "unknown section (sections: run, data, solver, checkpoint, comm, layer NAME)");
}

/* ---- lines ---- */

/* Cut a comment: a whole line starting with # or ;, or # / ; after
 * whitespace (so a path like data/run#3 keeps its '#'). */
static span strip_comment(span s)
{
    s = span_trim(s);
    if (s.n && (s.p[0] == '#' || s.p[0] == ';'))
        s.n = 0;
    for (size_t i = 1; i < s.n; i++)
        if ((s.p[i] == '#' || s.p[i] == ';') && isspace((unsigned char)s.p[i - 1])) {
            s.n = i;
            break;
        }
    return span_trim(s);
}

static int fail_line(const parser *ps, int line, span text, const char *why)
{
    char where[640], got[256];
    format_where(ps, line, where, sizeof where);
    return df_fail(ps->err, DF_EINPUT, "%s: %s (got '%s')", where, why,
                   printable(text.p, text.n, got, sizeof got));
}

static int parse_key_line(parser *ps, int line, span s)
{
    const char *eq = memchr(s.p, '=', s.n);
    if (ps->section == SEC_NONE)
        return fail_line(ps, line, s,
                         "a key outside any section; start with [run], [data], [solver], ... first");
    if (!eq) {
        char why[128];
        snprintf(why, sizeof why, "in [%s]: expected 'key = value' but there is no '='",
                 ps->section == SEC_LAYER ? ps->cfg->layers[ps->layer].name
                                          : section_names[ps->section]);
        return fail_line(ps, line, s, why);
    }
    span key = span_trim((span){ s.p, (size_t)(eq - s.p) });
    span value = span_trim((span){ eq + 1, s.n - (size_t)(eq - s.p) - 1 });
    if (key.n == 0)
        return fail_line(ps, line, s, "missing key before '='");
    return set_key(ps, ps->section, ps->layer, key, value, line);
}

static int parse_line(parser *ps, int line, span raw)
{
    span s = strip_comment(raw);
    if (s.n == 0)
        return 0;
    if (s.p[0] == '[') {
        if (s.p[s.n - 1] != ']')
            return fail_line(ps, line, s, "a section header must end with ']'");
        return begin_section(ps, line, (span){ s.p + 1, s.n - 2 });
    }
    return parse_key_line(ps, line, s);
}

static int parse_text(parser *ps, const char *text)
{
    int line = 0;
    const char *p = text;
    while (*p) {
        const char *nl = strchr(p, '\n');
        size_t n = nl ? (size_t)(nl - p) : strlen(p);
        int rc = parse_line(ps, ++line, (span){ p, n });
        if (rc)
            return rc;
        p += n + (nl != NULL);
    }
    return end_section(ps);
}

/* ---- overrides ---- */

static int fail_override(const parser *ps, int i, const char *why)
{
    char got[512];
    const char *o = ps->overrides[i];
    return df_fail(ps->err, DF_EINPUT, "--set %s: %s",
                   printable(o, strlen(o), got, sizeof got), why);
}

static int global_section_named(span s)
{
    for (int sec = SEC_RUN; sec < SEC_LAYER; sec++)
        if (span_is(s, section_names[sec]))
            return sec;
    return SEC_NONE;
}

static int find_layer_span(const df_config *cfg, span name)
{
    for (int i = 0; i < cfg->n_layers; i++)
        if (span_is(name, cfg->layers[i].name))
            return i;
    return -1;
}

/* "section.key=value", "NAME.key=value" or "layer.NAME.key=value". */
static int apply_override(parser *ps, int i)
{
    const char *o = ps->overrides[i];
    const char *eq = strchr(o, '=');
    if (!eq)
        return fail_override(ps, i, "expected section.key=value, with '='");
    span addr = span_trim((span){ o, (size_t)(eq - o) });
    span value = span_trim((span){ eq + 1, strlen(eq + 1) });
    const char *dot = memchr(addr.p, '.', addr.n);
    if (!dot)
        return fail_override(ps, i, "expected section.key=value, with a '.'");
    span head = { addr.p, (size_t)(dot - addr.p) };
    span rest = { dot + 1, addr.n - head.n - 1 };
    int sec = global_section_named(head);
    if (sec != SEC_NONE)
        return set_key(ps, (enum section)sec, 0, rest, value, -(i + 1));
    if (span_is(head, "layer")) {
        dot = memchr(rest.p, '.', rest.n);
        if (!dot)
            return fail_override(ps, i, "expected layer.NAME.key=value");
        head = (span){ rest.p, (size_t)(dot - rest.p) };
        rest = (span){ dot + 1, rest.n - head.n - 1 };
    }
    int layer = find_layer_span(ps->cfg, head);
    if (layer < 0) {
        char why[256], name[128];
        snprintf(why, sizeof why,
                 "no section or layer called '%s' (sections: run, data, solver, checkpoint, comm; layers by NAME)",
                 printable(head.p, head.n, name, sizeof name));
        return fail_override(ps, i, why);
    }
    return set_key(ps, SEC_LAYER, layer, rest, value, -(i + 1));
}

/* ---- whole-config checks and resolved defaults ---- */

static origin_ref global_src_of(const parser *ps, enum section sec, const char *key)
{
    int k = find_key(sec, (span){ key, strlen(key) });
    return ps->global_src[k];
}

/* Where to point for a key: its own line, else its section's header. */
static origin_ref where_for(const parser *ps, enum section sec, const char *key)
{
    origin_ref src = global_src_of(ps, sec, key);
    return src ? src : ps->section_line[sec];
}

static int check_layer_required(const parser *ps, int layer)
{
    const df_layer_spec *l = &ps->cfg->layers[layer];
    for (int k = 0; k < N_LAYER_KEYS; k++) {
        if (!layer_key_required(k, l->type) || ps->layer_src[layer][k])
            continue;
        char q[128];
        snprintf(q, sizeof q, "layer %s.%s", l->name, layer_keys[k].name);
        return fail_at(ps, l->line, q, NULL, 0, "missing; a %s layer needs %s",
                       layer_type_names[l->type], layer_keys[k].name);
    }
    return 0;
}

typedef struct given_ctx {
    const parser *ps;
    int layer;
} given_ctx;

static int layer_key_given(const void *ctx, const char *key)
{
    const given_ctx *g = ctx;
    int k = find_key(SEC_LAYER, (span){ key, strlen(key) });
    return k >= 0 && g->ps->layer_src[g->layer][k] != 0;
}

static int check_layer(parser *ps, int layer)
{
    df_layer_spec *l = &ps->cfg->layers[layer];
    int rc = check_layer_keys(ps, layer);
    if (!rc)
        rc = check_layer_required(ps, layer);
    const df_layer_kind *kind = df_layer_kind_of(l->type);
    if (rc || !kind->finish)
        return rc;
    given_ctx g = { ps, layer };
    const char *key = "type";
    char why[256] = "";
    if (kind->finish(l, layer_key_given, &g, &key, why, sizeof why) == DF_OK)
        return 0;
    char q[128];
    int k = find_key(SEC_LAYER, (span){ key, strlen(key) });
    snprintf(q, sizeof q, "layer %s.%s", l->name, key);
    return fail_at(ps, k >= 0 ? ps->layer_src[layer][k] : l->line, q, NULL, 0, "%s", why);
}

/* The loss closes the network: exactly one softmax_loss, at the end. */
static int check_layer_order(const parser *ps)
{
    const df_config *cfg = ps->cfg;
    for (int i = 0; i < cfg->n_layers; i++) {
        const df_layer_spec *l = &cfg->layers[i];
        int is_loss = df_layer_kind_of(l->type)->is_loss, is_last = i == cfg->n_layers - 1;
        if (is_loss == is_last)
            continue;
        char q[128];
        const char *type = layer_type_names[l->type];
        snprintf(q, sizeof q, "layer %s.type", l->name);
        if (is_last)
            return fail_at(ps, ps->layer_src[i][LAYER_KEY_TYPE], q, type, strlen(type),
                           "the last layer must be softmax_loss");
        return fail_at(ps, ps->layer_src[i][LAYER_KEY_TYPE], q, type, strlen(type),
                       "softmax_loss must be the last layer, but layer '%s' follows",
                       cfg->layers[i + 1].name);
    }
    return 0;
}

static int check_layers(parser *ps)
{
    if (ps->cfg->n_layers == 0)
        return df_fail(ps->err, DF_EINPUT,
                       "%s: no [layer NAME] sections; a network needs layers, the last of type softmax_loss",
                       ps->origin);
    for (int i = 0; i < ps->cfg->n_layers; i++) {
        int rc = check_layer(ps, i);
        if (rc)
            return rc;
    }
    return check_layer_order(ps);
}

static int check_solver(parser *ps)
{
    df_config *cfg = ps->cfg;
    if (cfg->solver.lr_policy != DF_LR_STEP)
        return 0;
    if (!global_src_of(ps, SEC_SOLVER, "gamma"))
        cfg->solver.gamma = 0.1;    /* Caffe's usual step factor */
    if (cfg->solver.stepsize < 1)
        return fail_at(ps, where_for(ps, SEC_SOLVER, "lr_policy"), "solver.lr_policy",
                       "step", 4, "lr_policy 'step' requires solver.stepsize >= 1");
    return 0;
}

static int check_data(const parser *ps)
{
    const df_config *cfg = ps->cfg;
    static const char *const required[] = {
        "train_images", "train_labels", "test_images", "test_labels"
    };
    for (int i = 0; i < 4; i++) {
        int k = find_key(SEC_DATA, (span){ required[i], strlen(required[i]) });
        const char *path = field_of(ps, &global_keys[k], 0);
        if (path[0] == '\0') {
            char q[64];
            snprintf(q, sizeof q, "data.%s", required[i]);
            return fail_at(ps, ps->section_line[SEC_DATA], q, NULL, 0,
                           "missing; a path is required");
        }
    }
    if (cfg->data.eval_holdout && cfg->data.holdout <= 0)
        return fail_at(ps, where_for(ps, SEC_DATA, "eval_on"), "data.eval_on",
                       "holdout", 7, "evaluating on the holdout set needs data.holdout > 0");
    if (cfg->data.holdout_start >= 0 && cfg->data.holdout <= 0)
        return fail_at(ps, where_for(ps, SEC_DATA, "holdout_start"), "data.holdout_start",
                       NULL, 0, "says where the held-out items start, but data.holdout is 0");
    return 0;
}

/* Data files must be readable before any rank starts work. */
static int check_data_files(const parser *ps)
{
    static const char *const keys[] = {
        "train_images", "train_labels", "test_images", "test_labels"
    };
    for (int i = 0; i < 4; i++) {
        int k = find_key(SEC_DATA, (span){ keys[i], strlen(keys[i]) });
        const char *path = field_of(ps, &global_keys[k], 0);
        struct stat st;
        char q[64];
        snprintf(q, sizeof q, "data.%s", keys[i]);
        origin_ref src = where_for(ps, SEC_DATA, keys[i]);
        if (access(path, R_OK) != 0)
            return fail_at(ps, src, q, path, strlen(path), "cannot read data file: %s",
                           strerror(errno));
        if (stat(path, &st) == 0 && S_ISDIR(st.st_mode))
            return fail_at(ps, src, q, path, strlen(path),
                           "is a directory, not a data file");
    }
    return 0;
}

/* run.name from the config's file name: "conf/mnist-x.conf" -> "mnist-x",
 * with characters a run name may not hold replaced by '_'. */
static int default_run_name(parser *ps)
{
    const char *base = strrchr(ps->origin, '/');
    base = base ? base + 1 : ps->origin;
    size_t n = strlen(base);
    if (n > 5 && strcmp(base + n - 5, ".conf") == 0)
        n -= 5;
    if (n == 0 || (n <= 2 && strncmp(base, "..", n) == 0)) {
        strcpy(ps->cfg->run.name, "run");
        return 0;
    }
    if (n > DF_NAME_MAX - 1)
        return fail_at(ps, ps->section_line[SEC_RUN], "run.name", base, n,
                       "the default taken from the file name is longer than %d characters; set run.name",
                       DF_NAME_MAX - 1);
    for (size_t i = 0; i < n; i++)
        ps->cfg->run.name[i] = is_safe_name_char(base[i], 1) ? base[i] : '_';
    return 0;
}

static int resolve_dirs(parser *ps)
{
    df_config *cfg = ps->cfg;
    if (!global_src_of(ps, SEC_RUN, "name")) {
        int rc = default_run_name(ps);
        if (rc)
            return rc;
    }
    if (!global_src_of(ps, SEC_RUN, "dir"))
        snprintf(cfg->run.dir, sizeof cfg->run.dir, "runs/%s", cfg->run.name);
    if (!global_src_of(ps, SEC_CHECKPOINT, "dir"))
        memcpy(cfg->checkpoint.dir, cfg->run.dir, sizeof cfg->run.dir);
    return 0;
}

static int finalize(parser *ps, int check_files)
{
    int rc = check_layers(ps);
    if (!rc)
        rc = check_solver(ps);
    if (!rc)
        rc = check_data(ps);
    if (!rc)
        rc = resolve_dirs(ps);
    if (!rc && check_files)
        rc = check_data_files(ps);
    return rc;
}

/* ---- public API ---- */

void df_config_defaults(df_config *cfg)
{
    memset(cfg, 0, sizeof *cfg);
    cfg->run.seed = 1;
    cfg->data.scale = 0.00390625f;  /* 1/256, Caffe LeNet */
    cfg->data.holdout_start = -1;
    cfg->solver.batch = 64;
    cfg->solver.iterations = 10000;
    cfg->solver.display = 100;
    cfg->solver.test_interval = 500;
    cfg->solver.base_lr = 0.01;
    cfg->solver.momentum = 0.9;
    cfg->solver.weight_decay = 0.0005;
    cfg->solver.lr_policy = DF_LR_INV;
    cfg->solver.gamma = 1e-4;
    cfg->solver.power = 0.75;
    cfg->checkpoint.keep = 3;
    cfg->comm.bucket_kb = 256;
}

int df_config_find_layer(const df_config *cfg, const char *name)
{
    for (int i = 0; i < cfg->n_layers; i++)
        if (strcmp(cfg->layers[i].name, name) == 0)
            return i;
    return -1;
}

int df_config_parse(df_config *cfg, const char *text, const char *origin,
                    const char *const *overrides, int n_overrides,
                    int check_files, df_error *err)
{
    if (!text)
        return df_fail(err, DF_EINPUT, "%s: no config text", origin ? origin : "<config>");
    layer_schema();
    parser state, *ps = &state;   /* some 20 KB: fine on the stack */
    memset(ps, 0, sizeof *ps);
    ps->cfg = cfg;
    ps->origin = origin ? origin : "<config>";
    ps->overrides = overrides;
    ps->err = err;
    df_config_defaults(cfg);
    snprintf(cfg->path, sizeof cfg->path, "%s", ps->origin);

    int rc = 0;
    if (strnlen(text, (size_t)DF_CONFIG_MAX_BYTES + 1) > DF_CONFIG_MAX_BYTES)
        rc = df_fail(err, DF_EINPUT, "%s: larger than %d bytes, the limit for a config",
                     ps->origin, DF_CONFIG_MAX_BYTES);
    if (!rc)
        rc = parse_text(ps, text);
    for (int i = 0; !rc && i < n_overrides; i++)
        rc = apply_override(ps, i);
    if (!rc)
        rc = finalize(ps, check_files);
    return rc;
}

/* Read a whole config file, refusing directories, oversized files and
 * NUL bytes (the reader works on C strings). *text is malloc'ed. */
static int read_config_file(const char *path, char **text, df_error *err)
{
    int fd = open(path, O_RDONLY);
    if (fd < 0)
        return df_fail(err, DF_EINPUT, "%s: cannot open config file: %s", path,
                       strerror(errno));
    struct stat st;
    if (fstat(fd, &st) == 0 && S_ISDIR(st.st_mode)) {
        close(fd);
        return df_fail(err, DF_EINPUT, "%s: is a directory, not a config file", path);
    }
    char *buf = malloc((size_t)DF_CONFIG_MAX_BYTES + 2);
    if (!buf) {
        close(fd);
        return df_fail(err, DF_ENOMEM, "%s: out of memory reading config", path);
    }
    size_t used = 0;
    /* read one byte past the limit so an oversized file (or pipe) shows */
    while (used <= (size_t)DF_CONFIG_MAX_BYTES) {
        ssize_t got = read(fd, buf + used, (size_t)DF_CONFIG_MAX_BYTES + 1 - used);
        if (got < 0 && errno == EINTR)
            continue;
        if (got < 0) {
            int e = errno;
            free(buf);
            close(fd);
            return df_fail(err, DF_EINPUT, "%s: cannot read config file: %s", path,
                           strerror(e));
        }
        if (got == 0)
            break;
        used += (size_t)got;
    }
    close(fd);
    if (used > (size_t)DF_CONFIG_MAX_BYTES) {
        free(buf);
        return df_fail(err, DF_EINPUT, "%s: larger than %d bytes, the limit for a config",
                       path, DF_CONFIG_MAX_BYTES);
    }
    const char *nul = memchr(buf, '\0', used);
    if (nul) {
        int line = 1;
        for (const char *c = buf; c < nul; c++)
            line += *c == '\n';
        free(buf);
        return df_fail(err, DF_EINPUT, "%s:%d: a NUL byte in the file; a config must be text",
                       path, line);
    }
    buf[used] = '\0';
    *text = buf;
    return 0;
}

int df_config_load(df_config *cfg, const char *path,
                   const char *const *overrides, int n_overrides,
                   df_error *err)
{
    return df_config_load_file(cfg, path, overrides, n_overrides, 1, err);
}

int df_config_load_file(df_config *cfg, const char *path,
                        const char *const *overrides, int n_overrides,
                        int check_files, df_error *err)
{
    if (!path || !*path)
        return df_fail(err, DF_EINPUT, "no config file given");
    if (strlen(path) > DF_PATH_MAX - 1)
        return df_fail(err, DF_EINPUT, "config path longer than %d characters: %.64s...",
                       DF_PATH_MAX - 1, path);
    char *text = NULL;
    int rc = read_config_file(path, &text, err);
    if (rc)
        return rc;
    rc = df_config_parse(cfg, text, path, overrides, n_overrides, check_files, err);
    free(text);
    return rc;
}

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
        if (parse_float_span((span){ buf, strlen(buf) }, is_float, &back) == 0 &&
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
    append_key(b, &layer_keys[LAYER_KEY_TYPE], l);
    for (const df_layer_key *k = df_layer_kind_of(l->type)->keys; k && k->name; k++) {
        const key_def *def = &layer_keys[find_key(SEC_LAYER, (span){ k->name, strlen(k->name) })];
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
    layer_schema();
    append(&b, "# deepfried config, fully resolved: every key, defaults included\n");
    for (int s = SEC_RUN; s < SEC_LAYER; s++) {
        append(&b, "%s[%s]\n", s == SEC_RUN ? "" : "\n", section_names[s]);
        for (int k = 0; k < N_GLOBAL_KEYS; k++)
            if (global_keys[k].section == (enum section)s)
                append_key(&b, &global_keys[k], cfg);
    }
    for (int i = 0; i < cfg->n_layers; i++)
        append_layer(&b, &cfg->layers[i]);
    if (b.failed) {
        free(b.p);
        return NULL;
    }
    return b.p;
}
