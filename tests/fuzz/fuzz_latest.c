/* Fuzz harness: the `latest` pointer and the checkpoint listing that
 * `--resume auto` walks (df_checkpoint_list: read_latest, the directory
 * scan, the ordering). Each input becomes a checkpoint directory:
 *   byte 0, bits 0-1: `latest` is absent (0), a regular file (1 or 3) or a
 *           directory (2); bits 2-7: max, the most paths asked for (0 means
 *           DF_CKPT_MAX_LIST)
 *   then, up to the first NUL: the content of `latest`
 *   then NUL-separated names of entries to create in the directory (at most
 *   MAX_ENTRIES; a name ending in '/' is made a directory; names with
 *   another '/', ".", "..", "latest" and names the file system refuses
 *   are skipped).
 *
 * Beyond "no crash, no sanitizer report, no leak": every path returned is
 * <dir>/ckpt-<digits>.h5 of an entry that exists, none twice, at most max
 * of them, all of them when there are no more than max; after the first
 * they come by descending step, and the first is out of that order only
 * when `latest` is a regular file naming it; asking for one path gives the
 * first again; no descriptor is left open. */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "deepfried/checkpoint.h"
#include "fuzz_util.h"

#define MAX_ENTRIES 32

static char ckdir[128];

/* Remove everything in ckdir (one level: entries made here are files or
 * empty directories). */
static void empty_ckdir(void)
{
    DIR *d = opendir(ckdir);
    if (!d)
        return;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
            continue;
        char path[sizeof ckdir + 512];
        snprintf(path, sizeof path, "%s/%s", ckdir, e->d_name);
        if (unlink(path) != 0)
            rmdir(path);
    }
    closedir(d);
}

static void remove_ckdir(void)
{
    empty_ckdir();
    rmdir(ckdir);
}

static void setup(void)
{
    if (ckdir[0])
        return;
    snprintf(ckdir, sizeof ckdir, "%s/run", fuzz_dir());
    FUZZ_CHECK(mkdir(ckdir, 0700) == 0 || errno == EEXIST, "cannot make %s", ckdir);
    atexit(remove_ckdir);   /* before fuzz_dir's own clean-up */
}

/* Step of "ckpt-<1..18 digits>.h5", else -1: the names the listing may
 * return. */
static int64_t ckpt_step(const char *name)
{
    if (strncmp(name, "ckpt-", 5) != 0)
        return -1;
    const char *p = name + 5;
    int64_t step = 0;
    int digits = 0;
    for (; *p >= '0' && *p <= '9'; p++, digits++)
        if (digits < 18)
            step = step * 10 + (*p - '0');
    return digits >= 1 && digits <= 18 && strcmp(p, ".h5") == 0 ? step : -1;
}

/* Does latest (n bytes) name `name` the way a writer writes it? Only the
 * first line counts. */
static int latest_names(const char *latest, size_t n, const char *name)
{
    size_t len = strlen(name);
    return n >= len && memcmp(latest, name, len) == 0 &&
           (n == len || latest[len] == '\n' || latest[len] == '\r');
}

static int make_entry(const char *name, size_t len)
{
    char buf[512], path[sizeof ckdir + 512];
    int is_dir = len > 0 && name[len - 1] == '/';
    if (is_dir)
        len--;
    if (len == 0 || len >= sizeof buf)
        return 0;
    memcpy(buf, name, len);
    buf[len] = '\0';
    if (strchr(buf, '/') || !strcmp(buf, ".") || !strcmp(buf, "..") ||
        !strcmp(buf, "latest"))
        return 0;
    snprintf(path, sizeof path, "%s/%s", ckdir, buf);
    if (is_dir)
        return mkdir(path, 0700) == 0;
    FILE *f = fopen(path, "wx");
    return f && fclose(f) == 0;
}

static int count_listable(void)
{
    DIR *d = opendir(ckdir);
    FUZZ_CHECK(d != NULL, "cannot list %s", ckdir);
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL)
        n += ckpt_step(e->d_name) >= 0;
    closedir(d);
    return n;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    setup();
    empty_ckdir();
    if (size == 0)
        return 0;
    int latest_kind = data[0] & 3, max = data[0] >> 2;
    if (max == 0)
        max = DF_CKPT_MAX_LIST;
    const char *rest = (const char *)data + 1, *end = (const char *)data + size;
    const char *nul = memchr(rest, '\0', (size_t)(end - rest));
    size_t latest_len = (size_t)((nul ? nul : end) - rest);
    char latest_path[sizeof ckdir + 16];
    snprintf(latest_path, sizeof latest_path, "%s/latest", ckdir);
    if (latest_kind == 1 || latest_kind == 3)
        fuzz_write(latest_path, (const uint8_t *)rest, latest_len);
    else if (latest_kind == 2)
        FUZZ_CHECK(mkdir(latest_path, 0700) == 0, "cannot make %s", latest_path);
    for (int k = 0; nul && k < MAX_ENTRIES && nul + 1 < end; k++) {
        const char *name = nul + 1;
        nul = memchr(name, '\0', (size_t)(end - name));
        make_entry(name, (size_t)((nul ? nul : end) - name));
    }
    int listable = count_listable();

    static char paths[DF_CKPT_MAX_LIST][DF_PATH_MAX + 64];
    int fd_before = fuzz_lowest_free_fd();
    df_error err;
    memset(&err, 0, sizeof err);
    int n = df_checkpoint_list(ckdir, paths, max, &err);
    FUZZ_CHECK(n >= 0, "listing failed: %s", err.msg);
    FUZZ_CHECK(n <= max, "%d paths for max %d", n, max);
    FUZZ_CHECK(n == (listable < max ? listable : max), "%d paths of %d checkpoints, max %d",
               n, listable, max);
    size_t dlen = strlen(ckdir);
    int64_t prev = INT64_MAX;
    for (int i = 0; i < n; i++) {
        FUZZ_CHECK(!strncmp(paths[i], ckdir, dlen) && paths[i][dlen] == '/',
                   "path %d '%s' outside the directory", i, paths[i]);
        const char *name = paths[i] + dlen + 1;
        int64_t step = ckpt_step(name);
        FUZZ_CHECK(step >= 0, "path %d '%s' is not a checkpoint name", i, paths[i]);
        struct stat st;
        FUZZ_CHECK(lstat(paths[i], &st) == 0, "path %d '%s' does not exist", i, paths[i]);
        for (int j = 0; j < i; j++)
            FUZZ_CHECK(strcmp(paths[i], paths[j]) != 0, "'%s' listed twice", paths[i]);
        if (i == 1 && step > prev)
            /* the first was out of order: only `latest` may put it there */
            FUZZ_CHECK((latest_kind & 1) && latest_names(rest, latest_len, paths[0] + dlen + 1),
                       "'%s' first without `latest` naming it", paths[0]);
        if (i >= 2)
            FUZZ_CHECK(step <= prev, "'%s' after a lower step", paths[i]);
        prev = step;
    }
    /* a regular `latest` that names an entry exactly, newline and all,
     * puts it first */
    if ((latest_kind & 1) && n > 0 && latest_len > 0 && rest[latest_len - 1] == '\n') {
        char name[64];
        if (latest_len - 1 < sizeof name) {
            memcpy(name, rest, latest_len - 1);
            name[latest_len - 1] = '\0';
            char path[sizeof ckdir + 64];
            snprintf(path, sizeof path, "%s/%s", ckdir, name);
            struct stat st;
            if (ckpt_step(name) >= 0 && strlen(name) < 64 && lstat(path, &st) == 0)
                FUZZ_CHECK(!strcmp(paths[0], path), "latest names '%s' but '%s' came first",
                           name, paths[0]);
        }
    }
    if (n > 0) {
        static char first[1][DF_PATH_MAX + 64];
        FUZZ_CHECK(df_checkpoint_list(ckdir, first, 1, &err) == 1 &&
                       !strcmp(first[0], paths[0]),
                   "max 1 gave another first path");
    }
    FUZZ_CHECK(fuzz_lowest_free_fd() == fd_before, "a file descriptor was left open");
    return 0;
}
