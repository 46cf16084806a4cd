/* Fuzz harness: the command line (src/cli/cli_args.c), as main.c calls it.
 * Byte 0 of the input: bit 0 set = train's options (--quiet, --profile,
 * --dump-params, --resume) are admitted, as for `deepfried train`; bit 1
 * set = the first word is the DEEPFRIED_INJECT_NAN value instead of an
 * argument. The rest: the words, separated by NUL bytes (at most
 * MAX_WORDS; an input that ends in NUL has an empty last word). The same
 * words go to df_cli_parse (train, eval, inspect) and to
 * df_cli_parse_compress (compress).
 *
 * Beyond "no crash, no sanitizer report": a failure has a message and
 * DF_EINPUT; a success has the one positional word unless --help, at most
 * DF_CLI_MAX_OVERRIDES overrides, each pointing at a word (or into one,
 * after "--set="), no train-only option without train's options, a
 * --resume that is not empty; and it parses back the same from the words
 * it implies (round trip). An accepted DEEPFRIED_INJECT_NAN value prints
 * back as "RANK:STEP" and parses again to the same numbers. For compress
 * the same, and a success has CKPT, --layer, --rank and -o unless --help,
 * each a word (or its part after "--layer=", "--output="), a rank in
 * 1..DF_CLI_COMPRESS_MAX_RANK exactly when --rank was given, and parses
 * back the same from the words it implies. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "deepfried/cli_args.h"
#include "fuzz_util.h"

#define MAX_WORDS 600   /* more than DF_CLI_MAX_OVERRIDES pairs fit */

/* Does p point at the start of one of the words, or into one after a
 * prefix of length skip ("--set=", "--resume=")? */
static int points_into(const char *p, char *const *words, int n, size_t skip)
{
    for (int i = 0; i < n; i++)
        if (p == words[i] || (skip && p == words[i] + skip &&
                              strlen(words[i]) >= skip && words[i][skip - 1] == '='))
            return 1;
    return 0;
}

static void check_same(const df_cli_args *x, const df_cli_args *y)
{
    FUZZ_CHECK(x->help == y->help && x->quiet == y->quiet && x->profile == y->profile &&
                   x->n_overrides == y->n_overrides,
               "round trip: flags or override count differ");
    FUZZ_CHECK((!x->conf && !y->conf) || (x->conf && y->conf && !strcmp(x->conf, y->conf)),
               "round trip: conf differs");
    FUZZ_CHECK((!x->resume && !y->resume) ||
                   (x->resume && y->resume && !strcmp(x->resume, y->resume)),
               "round trip: resume differs");
    FUZZ_CHECK((!x->dump_params && !y->dump_params) ||
                   (x->dump_params && y->dump_params && !strcmp(x->dump_params, y->dump_params)),
               "round trip: dump_params differs");
    for (int i = 0; i < x->n_overrides; i++)
        FUZZ_CHECK(!strcmp(x->overrides[i], y->overrides[i]), "round trip: override %d", i);
}

/* The words a parse implies, in a canonical order; parsed again they
 * must give the same. */
static void round_trip(const df_cli_args *a, int train_options)
{
    static char *words[2 * DF_CLI_MAX_OVERRIDES + 16];
    static char set[] = "--set", quiet[] = "--quiet", profile[] = "--profile",
                dump[] = "--dump-params", resume[] = "--resume", help[] = "--help";
    int n = 0;
    if (a->conf)
        words[n++] = (char *)a->conf;
    for (int i = 0; i < a->n_overrides; i++) {
        words[n++] = set;
        words[n++] = (char *)a->overrides[i];
    }
    if (a->quiet)
        words[n++] = quiet;
    if (a->profile)
        words[n++] = profile;
    if (a->dump_params) {
        words[n++] = dump;
        words[n++] = (char *)a->dump_params;
    }
    if (a->resume) {
        words[n++] = resume;
        words[n++] = (char *)a->resume;
    }
    if (a->help)
        words[n++] = help;
    static df_cli_args again;
    df_error err;
    int rc = df_cli_parse(n, words, train_options, &again, &err);
    FUZZ_CHECK(rc == DF_OK, "round trip refused: %s", err.msg);
    check_same(a, &again);
}

static void check_inject_nan(const char *value)
{
    int rank = -1;
    long long step = -1;
    df_error err;
    memset(&err, 0, sizeof err);
    int rc = df_cli_parse_inject_nan(value, &rank, &step, &err);
    fuzz_note("inject_nan", rc, &err);
    if (rc != DF_OK) {
        fuzz_check_error(rc, &err);
        FUZZ_CHECK(rc == DF_EINPUT && rank == -1 && step == -1, "failed parse changed values");
        return;
    }
    if (!*value) {
        FUZZ_CHECK(rank == -1 && step == -1, "an empty value set something");
        return;
    }
    FUZZ_CHECK(rank >= 0 && step >= 0, "rank %d step %lld", rank, step);
    char text[64];
    snprintf(text, sizeof text, "%d:%lld", rank, step);
    int rank2 = -1;
    long long step2 = -1;
    FUZZ_CHECK(df_cli_parse_inject_nan(text, &rank2, &step2, &err) == DF_OK &&
                   rank2 == rank && step2 == step,
               "'%s' does not parse back", text);
}

static void check_inject_fault(const char *value)
{
    static const char *const kinds[] = {"enomem", "eio", "kill", "diverge"};
    static const char *const places[] = {"setup", "step", "eval", "checkpoint"};
    int rank = -1, kind = -1, where = -1;
    long long step = -1;
    df_error err;
    memset(&err, 0, sizeof err);
    int rc = df_cli_parse_inject_fault(value, &rank, &kind, &where, &step, &err);
    fuzz_note("inject_fault", rc, &err);
    if (rc != DF_OK) {
        fuzz_check_error(rc, &err);
        FUZZ_CHECK(rc == DF_EINPUT && rank == -1 && kind == -1 && where == -1 && step == -1,
                   "failed parse changed values");
        return;
    }
    if (!*value) {
        FUZZ_CHECK(rank == -1 && kind == -1 && where == -1 && step == -1,
                   "an empty value set something");
        return;
    }
    FUZZ_CHECK(rank >= 0 && kind >= 1 && kind <= 4 && where >= 0 && where <= 3 && step >= 0,
               "rank %d kind %d where %d step %lld", rank, kind, where, step);
    char text[96];
    snprintf(text, sizeof text, "%d:%s:%s:%lld", rank, kinds[kind - 1], places[where], step);
    int rank2 = -1, kind2 = -1, where2 = -1;
    long long step2 = -1;
    FUZZ_CHECK(df_cli_parse_inject_fault(text, &rank2, &kind2, &where2, &step2, &err) == DF_OK &&
                   rank2 == rank && kind2 == kind && where2 == where && step2 == step,
               "'%s' does not parse back", text);
}

static int same_str(const char *x, const char *y)
{
    return (!x && !y) || (x && y && !strcmp(x, y));
}

static void check_same_compress(const df_cli_compress_args *x, const df_cli_compress_args *y)
{
    FUZZ_CHECK(x->help == y->help && x->force == y->force && x->rank_given == y->rank_given &&
                   x->rank == y->rank && x->n_overrides == y->n_overrides,
               "compress round trip: flags, rank or override count differ");
    FUZZ_CHECK(same_str(x->ckpt, y->ckpt), "compress round trip: ckpt differs");
    FUZZ_CHECK(same_str(x->layer, y->layer), "compress round trip: layer differs");
    FUZZ_CHECK(same_str(x->out, y->out), "compress round trip: out differs");
    for (int i = 0; i < x->n_overrides; i++)
        FUZZ_CHECK(!strcmp(x->overrides[i], y->overrides[i]),
                   "compress round trip: override %d", i);
}

/* compress's canonical words for a parse; parsed again they must give
 * the same. */
static void round_trip_compress(const df_cli_compress_args *c)
{
    static char *words[2 * DF_CLI_MAX_OVERRIDES + 16];
    static char set[] = "--set", layer[] = "--layer", rank[] = "--rank", out[] = "-o",
                force[] = "--force", help[] = "--help";
    char k[24];
    int n = 0;
    if (c->ckpt)
        words[n++] = (char *)c->ckpt;
    if (c->layer) {
        words[n++] = layer;
        words[n++] = (char *)c->layer;
    }
    if (c->rank_given) {
        snprintf(k, sizeof k, "%d", c->rank);
        words[n++] = rank;
        words[n++] = k;
    }
    if (c->out) {
        words[n++] = out;
        words[n++] = (char *)c->out;
    }
    if (c->force)
        words[n++] = force;
    for (int i = 0; i < c->n_overrides; i++) {
        words[n++] = set;
        words[n++] = (char *)c->overrides[i];
    }
    if (c->help)
        words[n++] = help;
    static df_cli_compress_args again;
    df_error err;
    int rc = df_cli_parse_compress(n, words, &again, &err);
    FUZZ_CHECK(rc == DF_OK, "compress round trip refused: %s", err.msg);
    check_same_compress(c, &again);
}

static void check_compress(char *const *words, int n)
{
    static df_cli_compress_args c;
    df_error err;
    memset(&err, 0, sizeof err);
    int rc = df_cli_parse_compress(n, words, &c, &err);
    fuzz_note("compress", rc, &err);
    if (rc != DF_OK) {
        fuzz_check_error(rc, &err);
        FUZZ_CHECK(rc == DF_EINPUT, "compress: status %d", rc);
        return;
    }
    FUZZ_CHECK(c.help || (c.ckpt && c.layer && c.rank_given && c.out),
               "compress accepted without CKPT, --layer, --rank, -o or --help");
    FUZZ_CHECK((c.help == 0 || c.help == 1) && (c.force == 0 || c.force == 1) &&
                   (c.rank_given == 0 || c.rank_given == 1),
               "compress: flags %d %d %d", c.help, c.force, c.rank_given);
    FUZZ_CHECK(!c.ckpt || points_into(c.ckpt, words, n, 0), "compress: ckpt is not a word");
    FUZZ_CHECK(!c.ckpt || c.ckpt[0] != '-' || c.ckpt[1] == '\0',
               "compress: an option taken as CKPT: %s", c.ckpt);
    FUZZ_CHECK(!c.layer || points_into(c.layer, words, n, 0) ||
                   points_into(c.layer, words, n, 8),
               "compress: layer is not a word");
    FUZZ_CHECK(!c.out || points_into(c.out, words, n, 0) || points_into(c.out, words, n, 9),
               "compress: out is not a word");
    FUZZ_CHECK(c.rank_given ? c.rank >= 1 && c.rank <= DF_CLI_COMPRESS_MAX_RANK : c.rank == 0,
               "compress: rank %d (given: %d)", c.rank, c.rank_given);
    FUZZ_CHECK(c.n_overrides >= 0 && c.n_overrides <= DF_CLI_MAX_OVERRIDES,
               "compress: %d overrides", c.n_overrides);
    for (int i = 0; i < c.n_overrides; i++)
        FUZZ_CHECK(points_into(c.overrides[i], words, n, 6),
                   "compress: override %d is not a word", i);
    round_trip_compress(&c);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0)
        return 0;
    int train_options = data[0] & 1, env_first = (data[0] >> 1) & 1;
    /* a private NUL-terminated copy, cut into words at each NUL */
    char *text = malloc(size);
    FUZZ_CHECK(text != NULL, "out of memory");
    memcpy(text, data + 1, size - 1);
    text[size - 1] = '\0';
    static char *words[MAX_WORDS];
    int n = 0;
    for (char *p = text; n < MAX_WORDS && p < text + size;) {
        words[n++] = p;
        p += strlen(p) + 1;
    }
    if (env_first && n > 0) {
        check_inject_nan(words[0]);
        check_inject_fault(words[0]);
        memmove(words, words + 1, (size_t)(n - 1) * sizeof *words);
        n--;
    }

    static df_cli_args a;
    df_error err;
    memset(&err, 0, sizeof err);
    int rc = df_cli_parse(n, words, train_options, &a, &err);
    fuzz_note("parse", rc, &err);
    if (rc != DF_OK) {
        fuzz_check_error(rc, &err);
        FUZZ_CHECK(rc == DF_EINPUT, "status %d", rc);
    } else {
        FUZZ_CHECK(a.help || a.conf, "accepted without CONF or --help");
        FUZZ_CHECK(!a.conf || points_into(a.conf, words, n, 0), "conf is not a word");
        FUZZ_CHECK(!a.conf || a.conf[0] != '-' || a.conf[1] == '\0',
                   "an option taken as CONF: %s", a.conf);
        FUZZ_CHECK(a.n_overrides >= 0 && a.n_overrides <= DF_CLI_MAX_OVERRIDES,
                   "%d overrides", a.n_overrides);
        for (int i = 0; i < a.n_overrides; i++)
            FUZZ_CHECK(points_into(a.overrides[i], words, n, 6),
                       "override %d is not a word", i);
        FUZZ_CHECK(train_options || (!a.quiet && !a.profile && !a.dump_params && !a.resume),
                   "a train option accepted without train's options");
        FUZZ_CHECK(!a.resume || (a.resume[0] && points_into(a.resume, words, n, 9)),
                   "resume empty or not a word");
        FUZZ_CHECK(!a.dump_params || points_into(a.dump_params, words, n, 0),
                   "dump_params is not a word");
        round_trip(&a, train_options);
    }
    check_compress(words, n);
    free(text);
    return 0;
}
