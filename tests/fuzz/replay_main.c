/* main() for a fuzz harness outside libFuzzer: each file named on the
 * command line (a directory: every file in it, by name) goes to
 * LLVMFuzzerTestOneInput once. With no arguments, as a make check test,
 * it replays $DF_SRCDIR/tests/fuzz/corpus/NAME/ (the seeds) and
 * tests/fuzz/regressions/NAME/ (every input that once found a bug): each
 * must go through without a crash, a sanitizer report or a failed check.
 * FUZZ_NAME ("config", "idx", "checkpoint", "latest", "args") comes from
 * Makefile.am. */
#include <dirent.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "fuzz_util.h"

#ifndef FUZZ_NAME
#error "FUZZ_NAME must name the harness"
#endif

#define REPLAY_MAX_BYTES (1 << 20) /* seeds are < 64 KB; anything larger is a mistake */

static int replay_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        fprintf(stderr, "%s: cannot open: %s\n", path, strerror(errno));
        return 1;
    }
    uint8_t *buf = malloc(REPLAY_MAX_BYTES + 1);
    size_t n = buf ? fread(buf, 1, REPLAY_MAX_BYTES + 1, f) : 0;
    int bad = !buf || ferror(f) || n > REPLAY_MAX_BYTES;
    fclose(f);
    if (bad) {
        fprintf(stderr, "%s: unreadable or larger than %d bytes\n", path, REPLAY_MAX_BYTES);
        free(buf);
        return 1;
    }
    /* named first, so that a crash's report follows the culprit */
    printf("input %s (%zu bytes)\n", path, n);
    fflush(stdout);
    LLVMFuzzerTestOneInput(buf, n);
    free(buf);
    return 0;
}

static int by_name(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Every regular file in dir, in name order; *count gets how many. A
 * missing directory is empty unless must_exist. */
static int replay_dir(const char *dir, int must_exist, int *count)
{
    DIR *d = opendir(dir);
    if (!d) {
        if (errno == ENOENT && !must_exist)
            return 0;
        fprintf(stderr, "%s: cannot open directory: %s\n", dir, strerror(errno));
        return 1;
    }
    char **names = NULL;
    size_t n = 0, cap = 0;
    int failed = 0;
    struct dirent *e;
    while (!failed && (e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.')
            continue;   /* ., .., and hidden files such as .gitignore */
        if (n == cap) {
            cap = cap ? 2 * cap : 64;
            char **grown = realloc(names, cap * sizeof *names);
            failed = !grown;
            if (grown)
                names = grown;
        }
        if (!failed && !(names[n++] = strdup(e->d_name)))
            failed = 1;
    }
    closedir(d);
    if (n)
        qsort(names, n, sizeof *names, by_name);
    for (size_t i = 0; i < n; i++) {
        char path[4096];
        struct stat st;
        snprintf(path, sizeof path, "%s/%s", dir, names[i]);
        if (!failed && stat(path, &st) == 0 && S_ISREG(st.st_mode)) {
            failed |= replay_file(path);
            ++*count;
        }
        free(names[i]);
    }
    free(names);
    return failed;
}

static int replay_arg(const char *path, int *count)
{
    struct stat st;
    if (stat(path, &st) == 0 && S_ISDIR(st.st_mode))
        return replay_dir(path, 1, count);
    ++*count;
    return replay_file(path);
}

int main(int argc, char **argv)
{
    int failed = 0, count = 0;
    if (argc > 1) {
        for (int i = 1; i < argc; i++)
            failed |= replay_arg(argv[i], &count);
    } else {
        const char *src = getenv("DF_SRCDIR");
        char corpus[4096], regressions[4096];
        if (!src) {
            fprintf(stderr, "DF_SRCDIR must name the source tree (or name inputs as arguments)\n");
            return 99;  /* a hard error for the test driver */
        }
        snprintf(corpus, sizeof corpus, "%s/tests/fuzz/corpus/%s", src, FUZZ_NAME);
        snprintf(regressions, sizeof regressions, "%s/tests/fuzz/regressions/%s", src, FUZZ_NAME);
        failed |= replay_dir(corpus, 1, &count);
        failed |= replay_dir(regressions, 0, &count);
    }
    printf("fuzz_%s: %d input%s replayed%s\n", FUZZ_NAME, count, count == 1 ? "" : "s",
           failed ? ", some could not be read" : "");
    return failed ? 1 : 0;
}
