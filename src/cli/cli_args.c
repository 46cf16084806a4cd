/* Parsing the command line's words (include/deepfried/cli_args.h): the
 * part of the CLI that takes outside input, kept pure so that
 * tests/fuzz/fuzz_args.c can drive it; main.c prints the messages. */
#include "deepfried/cli_args.h"

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

/* "--opt V" or "--opt=V" at argv[*i] (s is argv[*i], len strlen("--opt")):
 * the value, or NULL when "--opt" is the last word. */
static const char *value_of(int argc, char *const *argv, int *i, const char *s, size_t len)
{
    if (s[len] == '=')
        return s + len + 1;
    return *i + 1 < argc ? argv[++*i] : NULL;
}

static int is_opt_or_assign(const char *s, const char *opt)
{
    size_t len = strlen(opt);
    return strncmp(s, opt, len) == 0 && (s[len] == '\0' || s[len] == '=');
}

int df_cli_parse(int argc, char *const *argv, int train_options, df_cli_args *a,
                 df_error *err)
{
    memset(a, 0, sizeof *a);
    for (int i = 0; i < argc; i++) {
        const char *s = argv[i];
        if (!strcmp(s, "-h") || !strcmp(s, "--help")) {
            a->help = 1;
        } else if (is_opt_or_assign(s, "--set")) {
            const char *kv = value_of(argc, argv, &i, s, 5);
            if (!kv)
                return df_fail(err, DF_EINPUT, "--set needs SECTION.KEY=VALUE");
            if (a->n_overrides == DF_CLI_MAX_OVERRIDES)
                return df_fail(err, DF_EINPUT, "more than %d --set options",
                               DF_CLI_MAX_OVERRIDES);
            a->overrides[a->n_overrides++] = kv;
        } else if (train_options && !strcmp(s, "--quiet")) {
            a->quiet = 1;
        } else if (train_options && !strcmp(s, "--profile")) {
            a->profile = 1;
        } else if (train_options && !strcmp(s, "--dump-params")) {
            if (i + 1 >= argc)
                return df_fail(err, DF_EINPUT, "--dump-params needs a FILE");
            a->dump_params = argv[++i];
        } else if (train_options && is_opt_or_assign(s, "--resume")) {
            const char *v = value_of(argc, argv, &i, s, 8);
            if (!v || !*v)
                return df_fail(err, DF_EINPUT, "--resume needs 'auto' or a checkpoint file");
            a->resume = v;
        } else if (s[0] == '-' && s[1] != '\0') {
            return df_fail(err, DF_EINPUT, "unknown option '%s' (see --help)", s);
        } else if (!a->conf) {
            a->conf = s;
        } else {
            return df_fail(err, DF_EINPUT, "unexpected argument '%s' (see --help)", s);
        }
    }
    if (!a->help && !a->conf)
        return df_fail(err, DF_EINPUT, "missing CONF file (see --help)");
    return DF_OK;
}

#define COMPRESS_SEE_HELP "(see 'deepfried compress --help')"

int df_cli_parse_compress(int argc, char *const *argv, df_cli_compress_args *c,
                          df_error *err)
{
    memset(c, 0, sizeof *c);
    for (int i = 0; i < argc; i++) {
        const char *s = argv[i], *opt;
        if (!strcmp(s, "-h") || !strcmp(s, "--help")) {
            c->help = 1;
            continue;
        }
        if (!strcmp(s, "--force")) {
            c->force = 1;
            continue;
        }
        if (is_opt_or_assign(s, "--layer"))
            opt = "--layer";
        else if (is_opt_or_assign(s, "--rank"))
            opt = "--rank";
        else if (!strcmp(s, "-o"))
            opt = "-o";
        else if (is_opt_or_assign(s, "--output"))
            opt = "--output";
        else if (is_opt_or_assign(s, "--set"))
            opt = "--set";
        else if (s[0] == '-' && s[1] != '\0')
            return df_fail(err, DF_EINPUT, "unknown option '%s' " COMPRESS_SEE_HELP, s);
        else if (!c->ckpt) {
            c->ckpt = s;
            continue;
        } else
            return df_fail(err, DF_EINPUT, "unexpected argument '%s' " COMPRESS_SEE_HELP, s);

        const char *v = value_of(argc, argv, &i, s, strlen(opt));
        if (!v)
            return df_fail(err, DF_EINPUT, "%s needs a value " COMPRESS_SEE_HELP, opt);
        if (!strcmp(opt, "--layer")) {
            c->layer = v;
        } else if (!strcmp(opt, "--rank")) {
            /* out of long's range, strtol gives LONG_MIN or LONG_MAX:
             * outside the bounds too */
            char *end;
            long k = strtol(v, &end, 10);
            if (end == v || *end != '\0' || k < 1 || k > DF_CLI_COMPRESS_MAX_RANK)
                return df_fail(err, DF_EINPUT, "--rank '%s': expected a whole number >= 1", v);
            c->rank = (int)k;
            c->rank_given = 1;
        } else if (!strcmp(opt, "--set")) {
            if (c->n_overrides == DF_CLI_MAX_OVERRIDES)
                return df_fail(err, DF_EINPUT, "more than %d --set options",
                               DF_CLI_MAX_OVERRIDES);
            c->overrides[c->n_overrides++] = v;
        } else {    /* -o, --output */
            c->out = v;
        }
    }
    if (c->help)
        return DF_OK;
    const char *missing = !c->ckpt ? "the checkpoint CKPT to compress"
                          : !c->layer ? "--layer NAME (the dense layer to factor)"
                          : !c->rank_given ? "--rank K (the singular values to keep)"
                          : !c->out ? "-o OUT.h5 (the checkpoint to write)" : NULL;
    if (missing)
        return df_fail(err, DF_EINPUT, "compress: missing %s " COMPRESS_SEE_HELP, missing);
    return DF_OK;
}

int df_cli_parse_inject_nan(const char *value, int *rank, long long *step, df_error *err)
{
    if (!value || !*value)
        return DF_OK;
    /* as sscanf("%d:%lld") read it (leading blanks and a sign allowed
     * before each number), but an out-of-range number is an error, not
     * undefined */
    char *end;
    errno = 0;
    long r = strtol(value, &end, 10);
    int ok = end != value && errno == 0 && r >= 0 && r <= INT_MAX && *end == ':';
    long long s = 0;
    if (ok) {
        const char *p = end + 1;
        errno = 0;
        s = strtoll(p, &end, 10);
        ok = end != p && errno == 0 && s >= 0 && *end == '\0';
    }
    if (!ok)
        return df_fail(err, DF_EINPUT, "DEEPFRIED_INJECT_NAN='%s': expected RANK:STEP", value);
    *rank = (int)r;
    *step = s;
    return DF_OK;
}

/* The index of word [p, p+len) in names, or -1. */
static int word_index(const char *p, size_t len, const char *const *names)
{
    for (int i = 0; names[i]; i++)
        if (strlen(names[i]) == len && strncmp(p, names[i], len) == 0)
            return i;
    return -1;
}

int df_cli_parse_inject_fault(const char *value, int *rank, int *kind, int *where,
                              long long *step, df_error *err)
{
    static const char *const kinds[] = {"enomem", "eio", "kill", "diverge", NULL};
    static const char *const places[] = {"setup", "step", "eval", "checkpoint", NULL};
    if (!value || !*value)
        return DF_OK;
    char *end;
    errno = 0;
    long r = strtol(value, &end, 10);
    int ok = end != value && errno == 0 && r >= 0 && r <= INT_MAX && *end == ':';
    int k = -1, w = -1;
    long long s = 0;
    const char *p = end + 1;
    if (ok) {
        size_t len = strcspn(p, ":");
        k = word_index(p, len, kinds);
        p += len;
        ok = k >= 0 && *p == ':';
    }
    if (ok) {
        p++;
        size_t len = strcspn(p, ":");
        w = word_index(p, len, places);
        p += len;
        ok = w >= 0 && (*p == '\0' || *p == ':');
    }
    if (ok && *p == ':') {
        const char *q = p + 1;
        errno = 0;
        s = strtoll(q, &end, 10);
        ok = end != q && errno == 0 && s >= 0 && *end == '\0';
    }
    if (!ok)
        return df_fail(err, DF_EINPUT, "DEEPFRIED_INJECT_FAULT='%s': expected "
                       "RANK:enomem|eio|kill|diverge:setup|step|eval|checkpoint[:STEP]", value);
    *rank = (int)r;
    *kind = k + 1;
    *where = w;
    *step = s;
    return DF_OK;
}
