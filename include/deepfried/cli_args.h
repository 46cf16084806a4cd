/* The command line's words for train, eval and inspect, and the
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

/* DEEPFRIED_INJECT_NAN=RANK:STEP (value may be NULL or "": not set, *rank
 * and *step untouched): both non-negative decimal integers that fit an int
 * and an int64, nothing after them. DF_EINPUT: "DEEPFRIED_INJECT_NAN='...':
 * expected RANK:STEP". */
int df_cli_parse_inject_nan(const char *value, int *rank, long long *step, df_error *err);

#endif
