/* The .conf reader: INI text and --set overrides -> df_config, key by key,
 * strictly validated against the schema (config_schema.c). For each key we
 * remember where its value came from (a file line, an override, or
 * nowhere = default); the whole-config checks (config_check.c) run after
 * the overrides and use that to point the user at the line to fix. */
#define _POSIX_C_SOURCE 200809L

#include "io/config_internal.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <float.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

span cfg_span_trim(span s)
{
    while (s.n && isspace((unsigned char)s.p[0])) {
        s.p++;
        s.n--;
    }
    while (s.n && isspace((unsigned char)s.p[s.n - 1]))
        s.n--;
    return s;
}

int cfg_span_is(span s, const char *word)
{
    return strlen(word) == s.n && memcmp(s.p, word, s.n) == 0;
}


/* ---- messages ---- */

/* Copy text into buf for echoing in a one-line message: control bytes
 * become '?', and long text is cut with "...". */
const char *cfg_printable(const char *s, size_t n, char *buf, size_t cap)
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
void cfg_format_where(const parser *ps, origin_ref src, char *buf, size_t cap)
{
    char a[512];
    if (src < 0) {
        const char *o = ps->overrides[-src - 1];
        snprintf(buf, cap, "--set %s", cfg_printable(o, strlen(o), a, sizeof a));
        return;
    }
    cfg_printable(ps->origin, strlen(ps->origin), a, sizeof a);
    if (src > 0)
        snprintf(buf, cap, "%s:%d", a, src);
    else
        snprintf(buf, cap, "%s", a);
}

int cfg_fail_at(const parser *ps, origin_ref src, const char *qualified,
                const char *value, size_t value_len, const char *fmt, ...)
{
    char where[640], what[512], got[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    cfg_format_where(ps, src, where, sizeof where);
    if (value)
        return df_fail(ps->err, DF_EINPUT, "%s: key '%s': %s (got '%s')",
                       where, qualified, what,
                       cfg_printable(value, value_len, got, sizeof got));
    return df_fail(ps->err, DF_EINPUT, "%s: key '%s': %s", where, qualified, what);
}

/* "solver.batch" or "layer conv1.kernel" */
void cfg_qualify(const parser *ps, const key_def *def, int layer,
                    char *buf, size_t cap)
{
    if (def->section == SEC_LAYER)
        snprintf(buf, cap, "layer %s.%s", ps->cfg->layers[layer].name, def->name);
    else
        snprintf(buf, cap, "%s.%s", cfg_section_names[def->section], def->name);
}

/* "a, b, c" from a NULL-terminated list */
void cfg_join_names(const char *const *names, char *buf, size_t cap)
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
    for (int i = 0; i < cfg_n_global_keys && used < cap; i++)
        if (cfg_global_keys[i].section == sec)
            used += (size_t)snprintf(buf + used, cap - used, "%s%s", used ? ", " : "",
                                     cfg_global_keys[i].name);
}

/* Keys of one layer type, as "type, a, b": its own order. */
static void list_layer_keys(df_layer_type t, char *buf, size_t cap)
{
    size_t used = (size_t)snprintf(buf, cap, "type");
    for (const df_layer_key *k = df_layer_kind_of(t)->keys; k && k->name && used < cap; k++)
        used += (size_t)snprintf(buf + used, cap - used, ", %s", k->name);
}

/* Layer types a bitmask names, as "conv, dense". */
void cfg_list_types(unsigned types, char *buf, size_t cap)
{
    size_t used = 0;
    buf[0] = '\0';
    for (int t = 0; cfg_layer_type_names[t] && used < cap; t++)
        if (types & (1u << t))
            used += (size_t)snprintf(buf + used, cap - used, "%s%s",
                                     used ? ", " : "", cfg_layer_type_names[t]);
}

/* ---- values ---- */

void *cfg_field_of(const parser *ps, const key_def *def, int layer)
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

int cfg_parse_float_span(span v, int is_float, double *out)
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
        if (cfg_span_is(v, choices[i]))
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

int cfg_is_safe_name_char(char c, int allow_dot)
{
    return isalnum((unsigned char)c) || c == '_' || c == '-' || (allow_dot && c == '.');
}

static int set_string(const parser *ps, const key_def *def, const char *q,
                      void *field, span v, origin_ref src)
{
    const char *why = unwritable_reason(v);
    if (why)
        return cfg_fail_at(ps, src, q, v.p, v.n, "%s", why);
    if (v.n > def->size - 1)
        return cfg_fail_at(ps, src, q, v.p, v.n, "longer than %zu characters",
                       def->size - 1);
    if (def->choices && choice_index(def->choices, v) < 0) {
        char list[256];
        cfg_join_names(def->choices, list, sizeof list);
        return cfg_fail_at(ps, src, q, v.p, v.n, "must be one of: %s", list);
    }
    /* run.name becomes a directory name (runs/<name>) and a label in
     * scripts, so keep it to characters that need no quoting. */
    if (def->section == SEC_RUN && def->kind == V_NAME) {
        for (size_t i = 0; i < v.n; i++)
            if (!cfg_is_safe_name_char(v.p[i], 1))
                return cfg_fail_at(ps, src, q, v.p, v.n,
                               "may only contain letters, digits, '_', '-' and '.'");
        if (cfg_span_is(v, ".") || cfg_span_is(v, ".."))
            return cfg_fail_at(ps, src, q, v.p, v.n, "must not be '.' or '..'");
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
        return cfg_fail_at(ps, src, q, v.p, v.n, "not an integer");
    if (rc == -2 || x < def->ilo || x > def->ihi)
        return cfg_fail_at(ps, src, q, v.p, v.n, "must be between %lld and %lld",
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
    int rc = cfg_parse_float_span(v, def->kind == V_FLOAT, &x);
    describe_float_range(def, range, sizeof range);
    if (rc == -1)
        return cfg_fail_at(ps, src, q, v.p, v.n, "not a finite decimal number");
    if (rc == -2 || !float_in_range(def, x))
        return cfg_fail_at(ps, src, q, v.p, v.n, "%s", range);
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
    void *field = cfg_field_of(ps, def, layer);
    cfg_qualify(ps, def, layer, q, sizeof q);
    if (v.n == 0)
        return cfg_fail_at(ps, src, q, NULL, 0, "empty value");
    switch (def->kind) {
    case V_INT:
    case V_INT64:
        return set_integer(ps, def, q, field, v, src);
    case V_UINT64: {
        uint64_t x;
        int rc = parse_u64(v, &x);
        if (rc != 0)
            return cfg_fail_at(ps, src, q, v.p, v.n, rc == -1
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
            cfg_join_names(choices, list, sizeof list);
            return cfg_fail_at(ps, src, q, v.p, v.n, "must be one of: %s", list);
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

int cfg_layer_type_known(const parser *ps, int layer)
{
    return ps->layer_src[layer][LAYER_KEY_TYPE] != 0;
}

/* A key set on a layer whose type does not take it. When --set changed
 * the type, blame the override but say where the stranded key is. */
int cfg_fail_wrong_type(const parser *ps, int layer, int key, origin_ref src)
{
    char q[128], owners[128], given[48] = "";
    const key_def *def = &cfg_layer_keys[key];
    origin_ref type_src = ps->layer_src[layer][LAYER_KEY_TYPE];
    cfg_qualify(ps, def, layer, q, sizeof q);
    cfg_list_types(def->layer_types, owners, sizeof owners);
    if (type_src < 0 && src > 0) {
        snprintf(given, sizeof given, "given on line %d; ", src);
        src = type_src;
    }
    return cfg_fail_at(ps, src, q, NULL, 0, "not a key of a %s layer (%sit belongs to: %s)",
                   cfg_layer_type_names[ps->cfg->layers[layer].type], given, owners);
}

static int check_layer_key_fits_type(const parser *ps, int layer, int key,
                                     origin_ref src)
{
    unsigned type_bit = 1u << ps->cfg->layers[layer].type;
    if (!cfg_layer_type_known(ps, layer) || (cfg_layer_keys[key].layer_types & type_bit))
        return 0;
    return cfg_fail_wrong_type(ps, layer, key, src);
}

static int fail_unknown_key(const parser *ps, enum section sec, int layer,
                            span key, origin_ref src)
{
    char q[256], keys[512], name[128];
    cfg_printable(key.p, key.n, name, sizeof name);
    if (sec == SEC_LAYER) {
        const df_layer_spec *l = &ps->cfg->layers[layer];
        snprintf(q, sizeof q, "layer %s.%s", l->name, name);
        if (!cfg_layer_type_known(ps, layer))
            return cfg_fail_at(ps, src, q, NULL, 0, "unknown layer key");
        list_layer_keys(l->type, keys, sizeof keys);
        return cfg_fail_at(ps, src, q, NULL, 0, "unknown key (a %s layer takes: %s)",
                       cfg_layer_type_names[l->type], keys);
    }
    snprintf(q, sizeof q, "%s.%s", cfg_section_names[sec], name);
    list_keys(sec, keys, sizeof keys);
    return cfg_fail_at(ps, src, q, NULL, 0, "unknown key (valid in [%s]: %s)",
                   cfg_section_names[sec], keys);
}

/* Set one key of a global section or of a layer. A file may give a key
 * once per section; an override may replace anything. */
static int set_key(parser *ps, enum section sec, int layer, span key, span value,
                   origin_ref src)
{
    int k = cfg_find_key(sec, key);
    if (k < 0)
        return fail_unknown_key(ps, sec, layer, key, src);
    const key_def *def = sec == SEC_LAYER ? &cfg_layer_keys[k] : &cfg_global_keys[k];
    origin_ref *seen = sec == SEC_LAYER ? &ps->layer_src[layer][k] : &ps->global_src[k];
    if (src > 0 && *seen > 0) {
        char q[128];
        cfg_qualify(ps, def, layer, q, sizeof q);
        return cfg_fail_at(ps, src, q, NULL, 0, "duplicate key (first given on line %d)",
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

static int is_reserved_layer_name(span name)
{
    for (int s = SEC_RUN; s < N_SECTIONS; s++)
        if (cfg_span_is(name, cfg_section_names[s]))
            return 1;
    return 0;
}

static int fail_layer_name(const parser *ps, int line, span name, const char *why)
{
    char where[640], got[256];
    cfg_format_where(ps, line, where, sizeof where);
    return df_fail(ps->err, DF_EINPUT, "%s: section '[layer %s]': %s", where,
                   cfg_printable(name.p, name.n, got, sizeof got), why);
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
        if (!cfg_is_safe_name_char(name.p[i], 0))
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
        if (cfg_span_is(name, cfg->layers[i].name)) {
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
    cfg_layer_defaults(l);
    memcpy(l->name, name.p, name.n);
    l->line = line;
    ps->layer = cfg->n_layers++;
    ps->section = SEC_LAYER;
    return 0;
}

/* A layer section is complete: it must have said what it is, and every
 * key given before `type` must suit that type. */
int cfg_check_layer_keys(const parser *ps, int layer)
{
    const df_layer_spec *l = &ps->cfg->layers[layer];
    if (!cfg_layer_type_known(ps, layer)) {
        char q[128], types[256];
        snprintf(q, sizeof q, "layer %s.type", l->name);
        cfg_join_names(cfg_layer_type_names, types, sizeof types);
        return cfg_fail_at(ps, l->line, q, NULL, 0, "missing; every layer needs a type (%s)",
                       types);
    }
    for (int k = 0; k < cfg_n_layer_keys; k++) {
        origin_ref src = ps->layer_src[layer][k];
        if (src && !(cfg_layer_keys[k].layer_types & (1u << l->type)))
            return cfg_fail_wrong_type(ps, layer, k, src);
    }
    return 0;
}

static int end_section(parser *ps)
{
    if (ps->section == SEC_LAYER)
        return cfg_check_layer_keys(ps, ps->layer);
    return 0;
}

static int fail_section(const parser *ps, int line, span inside, const char *why)
{
    char where[640], got[256];
    cfg_format_where(ps, line, where, sizeof where);
    return df_fail(ps->err, DF_EINPUT, "%s: section '[%s]': %s", where,
                   cfg_printable(inside.p, inside.n, got, sizeof got), why);
}

static int begin_section(parser *ps, int line, span inside)
{
    int rc = end_section(ps);
    if (rc)
        return rc;
    inside = cfg_span_trim(inside);
    if (inside.n >= 5 && memcmp(inside.p, "layer", 5) == 0 &&
        (inside.n == 5 || isspace((unsigned char)inside.p[5]))) {
        span name = { inside.p + 5, inside.n - 5 };
        return begin_layer(ps, line, cfg_span_trim(name));
    }
    for (int s = SEC_RUN; s < SEC_LAYER; s++) {
        if (!cfg_span_is(inside, cfg_section_names[s]))
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
    s = cfg_span_trim(s);
    if (s.n && (s.p[0] == '#' || s.p[0] == ';'))
        s.n = 0;
    for (size_t i = 1; i < s.n; i++)
        if ((s.p[i] == '#' || s.p[i] == ';') && isspace((unsigned char)s.p[i - 1])) {
            s.n = i;
            break;
        }
    return cfg_span_trim(s);
}

static int fail_line(const parser *ps, int line, span text, const char *why)
{
    char where[640], got[256];
    cfg_format_where(ps, line, where, sizeof where);
    return df_fail(ps->err, DF_EINPUT, "%s: %s (got '%s')", where, why,
                   cfg_printable(text.p, text.n, got, sizeof got));
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
                                          : cfg_section_names[ps->section]);
        return fail_line(ps, line, s, why);
    }
    span key = cfg_span_trim((span){ s.p, (size_t)(eq - s.p) });
    span value = cfg_span_trim((span){ eq + 1, s.n - (size_t)(eq - s.p) - 1 });
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
                   cfg_printable(o, strlen(o), got, sizeof got), why);
}

static int global_section_named(span s)
{
    for (int sec = SEC_RUN; sec < SEC_LAYER; sec++)
        if (cfg_span_is(s, cfg_section_names[sec]))
            return sec;
    return SEC_NONE;
}

static int find_layer_span(const df_config *cfg, span name)
{
    for (int i = 0; i < cfg->n_layers; i++)
        if (cfg_span_is(name, cfg->layers[i].name))
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
    span addr = cfg_span_trim((span){ o, (size_t)(eq - o) });
    span value = cfg_span_trim((span){ eq + 1, strlen(eq + 1) });
    const char *dot = memchr(addr.p, '.', addr.n);
    if (!dot)
        return fail_override(ps, i, "expected section.key=value, with a '.'");
    span head = { addr.p, (size_t)(dot - addr.p) };
    span rest = { dot + 1, addr.n - head.n - 1 };
    int sec = global_section_named(head);
    if (sec != SEC_NONE)
        return set_key(ps, (enum section)sec, 0, rest, value, -(i + 1));
    if (cfg_span_is(head, "layer")) {
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
                 cfg_printable(head.p, head.n, name, sizeof name));
        return fail_override(ps, i, why);
    }
    return set_key(ps, SEC_LAYER, layer, rest, value, -(i + 1));
}

/* ---- public API ---- */

int df_config_parse(df_config *cfg, const char *text, const char *origin,
                    const char *const *overrides, int n_overrides,
                    int check_files, df_error *err)
{
    if (!text)
        return df_fail(err, DF_EINPUT, "%s: no config text", origin ? origin : "<config>");
    cfg_layer_schema();
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
        rc = cfg_finalize(ps, check_files);
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
