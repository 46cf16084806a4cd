/* Errors are values: library functions return 0 or a DF_E* code and fill a
 * df_error with a one-line message that names the file/line/key at fault.
 * Only the CLI prints it and turns the code into an exit status. */
#ifndef DEEPFRIED_ERROR_H
#define DEEPFRIED_ERROR_H

#include <stddef.h>

enum {
    DF_OK = 0,
    DF_EINPUT = 2,  /* bad config, data file, checkpoint or command line */
    DF_ESYS = 3,    /* I/O or operating-system failure (disk full, ...) */
    DF_ENOMEM = 4,  /* allocation failed */
    DF_ENUMERIC = 5,/* NaN/Inf loss or similar numeric breakdown */
    DF_ESTOPPED = 6,/* stopped on a signal after saving a checkpoint */
    DF_EMISMATCH = 7/* bad input of one kind: the config no longer describes
                       the model a checkpoint holds (a layer's type or shape
                       changed); resume does not fall back past it */
};

typedef struct df_error {
    int code;
    char msg[1024];
} df_error;

/* Fill err (may be NULL) with a printf-style message; returns code. */
int df_fail(df_error *err, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Overflow-checked size arithmetic: return 0 and store the result, or -1. */
int df_mul_size(size_t a, size_t b, size_t *out);

/* calloc that reports failure through err; n*size is overflow checked;
 * 64-byte aligned. Release with free(). */
void *df_calloc(size_t n, size_t size, df_error *err);

#endif
