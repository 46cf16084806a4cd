/* The command line's words for train, eval, inspect and compress, and the
 * DEEPFRIED_INJECT_NAN test hook, parsed apart from main.c so that the
 * parsing can be fuzzed (tests/fuzz/fuzz_args.c). Pure: nothing is
 * printed, nothing opened; results point into argv; errors are values
 * whose message main.c prints after "deepfried: ". */
#ifndef DEEPFRIED_CLI_ARGS_H
#define DEEPFRIED_CLI_ARGS_H

#include "deepfried/error.h"

#define DF_CLI_MAX_OVERRIDES 256

typedef struct df_cli_args {
    const char *conf;           /* CONF or CKPT: the one positional argument */
    const char *overrides[DF_CLI_MAX_OVERRIDES];    /* --set SECTION.KEY=VALUE, in order */
    int n_overrides;
    int quiet;                  /* train only: --quiet */
    int help;                   /* -h, --help: conf may then be NULL */
    const char *dump_params;    /* train only: --dump-params FILE */
    const char *resume;         /* train only: --resume auto|CKPT, never "" */
    int profile;                /* train only: --profile */
} df_cli_args;

/* The words after the command, argv[0..argc). --set KV and --set=KV may
 * repeat (at most DF_CLI_MAX_OVERRIDES); train_options admits --quiet,
 * --profile, --dump-params FILE, --resume V and --resume=V, which are
 * unknown options otherwise; "-" alone is a file name. Fills *a (zeroed
 * first) and returns DF_OK, or DF_EINPUT with the message, e.g. "--set
 * needs SECTION.KEY=VALUE", "unknown option '--x' (see --help)", "missing
 * CONF file (see --help)". */
int df_cli_parse(int argc, char *const *argv, int train_options, df_cli_args *a,
                 df_error *err);

/* compress's words: CKPT --layer NAME --rank K -o OUT.h5 [--force]
 * [--set KV]... [-h|--help]. */
#define DF_CLI_COMPRESS_MAX_RANK (1 << 24)

typedef struct df_cli_compress_args {
    const char *ckpt;           /* CKPT: the one positional argument */
    const char *layer;          /* --layer NAME, --layer=NAME */
    const char *out;            /* -o OUT, --output OUT, --output=OUT */
    int rank;                   /* --rank K, --rank=K: 1..DF_CLI_COMPRESS_MAX_RANK */
    int rank_given;             /* --rank was there (rank is 0 otherwise) */
    int force;                  /* --force */
    int help;                   /* -h, --help: the rest may then be missing */
    const char *overrides[DF_CLI_MAX_OVERRIDES];    /* --set KV, --set=KV, in order */
    int n_overrides;
} df_cli_compress_args;

/* The words after "compress", argv[0..argc), left to right; a later
 * --layer, --rank or -o replaces an earlier one. "--opt V" takes the next
 * word whatever it is, "--opt=V" the rest of the word (-o has only the
 * first form); -h, --help and --force take no value; "-" alone is a file
 * name. K is a decimal integer as strtol reads it, nothing after it. The
 * first bad word stops the parse, --help or not; without --help, CKPT,
 * --layer, --rank and -o are required (checked in that order). Fills *c
 * (zeroed first) and returns DF_OK, or DF_EINPUT with the message, e.g.
 * "--rank needs a value (see 'deepfried compress --help')", "--rank
 * 'ten': expected a whole number >= 1", "unknown option '--x' (see
 * 'deepfried compress --help')", "compress: missing -o OUT.h5 (the
 * checkpoint to write) (see 'deepfried compress --help')". */
int df_cli_parse_compress(int argc, char *const *argv, df_cli_compress_args *c,
                          df_error *err);

/* DEEPFRIED_INJECT_NAN=RANK:STEP (value may be NULL or "": not set, *rank
 * and *step untouched): both non-negative decimal integers that fit an int
 * and an int64, nothing after them. DF_EINPUT: "DEEPFRIED_INJECT_NAN='...':
 * expected RANK:STEP". */
int df_cli_parse_inject_nan(const char *value, int *rank, long long *step, df_error *err);

/* DEEPFRIED_INJECT_FAULT=RANK:KIND:WHERE[:STEP] (NULL or "": not set,
 * outputs untouched). KIND: enomem, eio, kill or diverge (*kind 1..4, in
 * train.h's DF_FAULT_* order); WHERE: setup, step, eval or checkpoint
 * (*where 0..3, DF_AT_*); STEP as in DEEPFRIED_INJECT_NAN, default 0.
 * DF_EINPUT naming the expected form. */
int df_cli_parse_inject_fault(const char *value, int *rank, int *kind, int *where,
                              long long *step, df_error *err);

#endif
