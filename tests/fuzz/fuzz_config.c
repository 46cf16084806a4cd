/* Fuzz harness: the .conf reader with --set overrides (df_config_parse,
 * data-file checks off, as eval/inspect read a checkpoint's config).
 *
 * Input: the config text, then up to MAX_OVERRIDES override strings, the
 * parts separated by NUL bytes (a config file cannot hold NUL, so the
 * text part is exactly what a file could say).
 *
 * Beyond "no crash, no sanitizer report": a failure carries a message
 * and a documented status; a config that is accepted must come back
 * unchanged through df_config_to_text and df_config_parse, because that
 * text is what a checkpoint stores and resume compares. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "deepfried/config.h"
#include "fuzz_util.h"

#define MAX_OVERRIDES 4

/* The parts of the struct that must survive the trip through text: all
 * but the origin path and the layers' line numbers. */
static void normalize(df_config *cfg)
{
    memset(cfg->path, 0, sizeof cfg->path);
    for (int i = 0; i < DF_MAX_LAYERS; i++)
        cfg->layers[i].line = 0;
}

static void check_round_trip(const df_config *cfg)
{
    static df_config a, b;  /* ~20 KB each: off the stack */
    df_error err;
    char *text = df_config_to_text(cfg);
    FUZZ_CHECK(text != NULL, "df_config_to_text failed");
    int rc = df_config_parse(&b, text, "round-trip.conf", NULL, 0, 0, &err);
    FUZZ_CHECK(rc == 0, "the written config does not read back: %s\n%s", err.msg, text);
    memcpy(&a, cfg, sizeof a);  /* padding too: both sides start from memset */
    normalize(&a);
    normalize(&b);
    FUZZ_CHECK(memcmp(&a, &b, sizeof a) == 0, "the written config reads back different:\n%s",
               text);
    free(text);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static df_config cfg;
    if (size > DF_CONFIG_MAX_BYTES + 64)
        return 0;
    char *buf = malloc(size + 1);
    FUZZ_CHECK(buf != NULL, "out of memory");
    memcpy(buf, data, size);
    buf[size] = '\0';
    const char *overrides[MAX_OVERRIDES];
    int n_overrides = 0;
    for (size_t i = 0; i < size && n_overrides < MAX_OVERRIDES; i++)
        if (buf[i] == '\0')
            overrides[n_overrides++] = buf + i + 1;

    df_error err;
    memset(&err, 0, sizeof err);
    int rc = df_config_parse(&cfg, buf, "fuzz.conf", overrides, n_overrides, 0, &err);
    fuzz_note("parse", rc, &err);
    if (rc == 0) {
        FUZZ_CHECK(cfg.n_layers >= 1 && cfg.n_layers <= DF_MAX_LAYERS, "n_layers %d",
                   cfg.n_layers);
        FUZZ_CHECK(cfg.layers[cfg.n_layers - 1].type == DF_LAYER_SOFTMAX_LOSS,
                   "accepted a net that does not end in softmax_loss");
        check_round_trip(&cfg);
    } else {
        fuzz_check_error(rc, &err);
    }
    free(buf);
    return 0;
}
