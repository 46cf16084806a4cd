/* The config reader's private parts, shared by its files:
 *   config_schema.c  the keys (global sections; layer keys from the layer
 *                    table), their defaults
 *   config_parse.c   text and --set overrides -> df_config, key by key
 *   config_check.c   whole-config checks and resolved defaults
 *   config_write.c   df_config -> text that reads back the same
 * Private to src/io/. */
#ifndef DEEPFRIED_IO_CONFIG_INTERNAL_H
#define DEEPFRIED_IO_CONFIG_INTERNAL_H

#include <stddef.h>

#include "deepfried/config.h"
#include "deepfried/layer_kind.h"

/* ---- sections and keys ---- */

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

#define MAX_GLOBAL_KEYS 64
#define MAX_LAYER_KEYS 64
#define MAX_LAYER_TYPES 32          /* bits of key_def.layer_types */
#define LAYER_KEY_TYPE 0            /* index of "type" in cfg_layer_keys */

extern const char *const cfg_section_names[N_SECTIONS];
extern const key_def cfg_global_keys[];
extern const int cfg_n_global_keys;
/* The layer keys: "type", then every key some type takes, in table
 * order; valid after cfg_layer_schema(). */
extern key_def cfg_layer_keys[MAX_LAYER_KEYS];
extern int cfg_n_layer_keys;
extern const char *cfg_layer_type_names[MAX_LAYER_TYPES + 1];
void cfg_layer_schema(void);
int cfg_layer_key_required(int key, df_layer_type t);
void cfg_layer_defaults(df_layer_spec *l);

/* ---- the parser ---- */


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
    origin_ref global_src[MAX_GLOBAL_KEYS];
    origin_ref layer_src[DF_MAX_LAYERS][MAX_LAYER_KEYS];
} parser;

/* A run of bytes inside the text being parsed (not NUL-terminated). */
typedef struct span {
    const char *p;
    size_t n;
} span;


span cfg_span_trim(span s);
int cfg_span_is(span s, const char *word);
/* Index of key in sec's table (cfg_global_keys or cfg_layer_keys), or -1. */
int cfg_find_key(enum section sec, span key);
const char *cfg_printable(const char *s, size_t n, char *buf, size_t cap);
void cfg_format_where(const parser *ps, origin_ref src, char *buf, size_t cap);
/* The single error shape: "WHERE: key 'QUALIFIED': WHAT (got 'VALUE')".
 * value may be NULL when there is nothing to echo. */
int cfg_fail_at(const parser *ps, origin_ref src, const char *qualified, const char *value,
                size_t value_len, const char *fmt, ...) __attribute__((format(printf, 6, 7)));
void cfg_qualify(const parser *ps, const key_def *def, int layer, char *buf, size_t cap);
void cfg_join_names(const char *const *names, char *buf, size_t cap);
void cfg_list_types(unsigned types, char *buf, size_t cap);
void *cfg_field_of(const parser *ps, const key_def *def, int layer);
int cfg_parse_float_span(span v, int is_float, double *out);
int cfg_is_safe_name_char(char c, int allow_dot);
int cfg_layer_type_known(const parser *ps, int layer);
int cfg_fail_wrong_type(const parser *ps, int layer, int key, origin_ref src);
/* A layer section is complete: it said its type, and its keys suit it. */
int cfg_check_layer_keys(const parser *ps, int layer);
/* The whole-config checks, after the file and the overrides. */
int cfg_finalize(parser *ps, int check_files);

#endif
