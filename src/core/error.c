#include "deepfried/error.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int df_fail(df_error *err, int code, const char *fmt, ...)
{
    if (err) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err->msg, sizeof err->msg, fmt, ap);
        va_end(ap);
        err->code = code;
    }
    return code;
}

int df_mul_size(size_t a, size_t b, size_t *out)
{
    if (a != 0 && b > SIZE_MAX / a)
        return -1;
    *out = a * b;
    return 0;
}

void *df_calloc(size_t n, size_t size, df_error *err)
{
    size_t bytes;
    if (df_mul_size(n, size, &bytes) != 0) {
        df_fail(err, DF_ENOMEM, "allocation of %zu x %zu bytes overflows", n, size);
        return NULL;
    }
    /* 64-byte aligned (a cache line, one zmm): large blocks from calloc
     * start 16 bytes into a page, and the FWHT kernels then split every
     * vector access across two lines, measured 9-14% slower with AVX-512
     * and 30% with AVX2 (docs/performance.md). free() releases it. */
    void *p = NULL;
    if (posix_memalign(&p, 64, bytes ? bytes : 1) != 0)
        p = NULL;
    if (p)
        memset(p, 0, bytes);
    else
        df_fail(err, DF_ENOMEM, "out of memory allocating %zu bytes", bytes);
    return p;
}
