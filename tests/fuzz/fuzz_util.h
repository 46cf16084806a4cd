/* Helpers the fuzz harnesses share: a private scratch directory for the
 * files the readers open, writing bytes to a file, and the leak checks
 * that run after every input. Header-only so that each harness stays one
 * translation unit (plus replay_main.c outside libFuzzer). */
#ifndef DEEPFRIED_FUZZ_UTIL_H
#define DEEPFRIED_FUZZ_UTIL_H

#ifndef _POSIX_C_SOURCE
#define _POSIX_C_SOURCE 200809L /* mkdtemp */
#endif

#include <dirent.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "deepfried/error.h"

/* The libFuzzer entry point each harness defines. */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* A harness's own invariant broke: say which and crash, so libFuzzer (or
 * the replay test) keeps the input. */
#define FUZZ_CHECK(cond, ...)                                             \
    do {                                                                  \
        if (!(cond)) {                                                    \
            fprintf(stderr, "fuzz check failed: %s (%s:%d): ", #cond,     \
                    __FILE__, __LINE__);                                  \
            fprintf(stderr, __VA_ARGS__);                                 \
            fputc('\n', stderr);                                          \
            abort();                                                      \
        }                                                                 \
    } while (0)

static char fuzz_scratch[64];

/* Empty and remove the scratch directory (at exit; a crash leaves it). */
static inline void fuzz_remove_dir(void)
{
    DIR *d = opendir(fuzz_scratch);
    if (!d)
        return;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        char path[sizeof fuzz_scratch + 256];
        if (e->d_name[0] == '.')
            continue;
        snprintf(path, sizeof path, "%s/%s", fuzz_scratch, e->d_name);
        unlink(path);
    }
    closedir(d);
    rmdir(fuzz_scratch);
}

/* A directory on tmpfs when there is one (files are rewritten for every
 * input), made once per process, under $DF_FUZZ_TMP when set (run.sh sets
 * it and removes it afterwards: a crashing or killed process leaves its
 * directory behind). */
static inline const char *fuzz_dir(void)
{
    if (!fuzz_scratch[0]) {
        const char *base = getenv("DF_FUZZ_TMP");
        if (!base || !*base)
            base = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";
        snprintf(fuzz_scratch, sizeof fuzz_scratch, "%s/df-fuzz-XXXXXX", base);
        FUZZ_CHECK(mkdtemp(fuzz_scratch) != NULL, "cannot make a scratch directory");
        atexit(fuzz_remove_dir);
    }
    return fuzz_scratch;
}

static inline void fuzz_path(char *buf, size_t cap, const char *name)
{
    snprintf(buf, cap, "%s/%s", fuzz_dir(), name);
}

static inline void fuzz_write(const char *path, const uint8_t *data, size_t size)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    FUZZ_CHECK(fd >= 0, "cannot create %s", path);
    while (size > 0) {
        ssize_t w = write(fd, data, size);
        FUZZ_CHECK(w > 0, "cannot write %s", path);
        data += w;
        size -= (size_t)w;
    }
    FUZZ_CHECK(close(fd) == 0, "cannot close %s", path);
}

/* The lowest free descriptor: if a reader leaks one, it goes up. */
static inline int fuzz_lowest_free_fd(void)
{
    int fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
    FUZZ_CHECK(fd >= 0, "cannot open /dev/null");
    close(fd);
    return fd;
}

/* DF_FUZZ_VERBOSE=1: say what each input led to (for checking that the
 * seeds get where they should, e.g. replay_checkpoint corpus/...). */
static inline void fuzz_note(const char *what, int rc, const df_error *err)
{
    static int verbose = -1;
    if (verbose < 0)
        verbose = getenv("DF_FUZZ_VERBOSE") != NULL;
    if (verbose)
        fprintf(stderr, "  %s: %s\n", what, rc == 0 ? "ok" : err->msg);
}

/* A failed call must say what failed, with one of the documented codes. */
static inline void fuzz_check_error(int rc, const df_error *err)
{
    FUZZ_CHECK(rc == DF_EINPUT || rc == DF_ENOMEM || rc == DF_ESYS,
               "unexpected status %d", rc);
    FUZZ_CHECK(err->code == rc, "status %d but err.code %d", rc, err->code);
    FUZZ_CHECK(memchr(err->msg, '\0', sizeof err->msg) && err->msg[0],
               "empty or unterminated error message");
}

#endif
