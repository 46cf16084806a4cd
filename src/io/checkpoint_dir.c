/* The checkpoint directory: durable writes (fsync of the file and of the
 * directory), the atomic `latest` pointer, the ckpt-<step>.h5 names,
 * pruning to the newest `keep`, and the listing that resume walks. No
 * HDF5 here: these are plain files. */
#include "config.h"
#include "io/checkpoint_internal.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* ---- the file system: directories, fsync, atomic small files ---- */

/* fsync a directory, making the renames in it durable. Some file systems
 * refuse fsync on a directory (EINVAL): there rename is as durable as it
 * gets. */
static int sync_dir(const char *dir, df_error *err)
{
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return ckpt_fail_sys(err, dir, "cannot open the directory to fsync it");
    int rc = fsync(fd);
    int saved = errno;
    close(fd);
    if (rc != 0 && saved != EINVAL && saved != ENOTSUP) {
        errno = saved;
        return ckpt_fail_sys(err, dir, "fsync of the directory failed");
    }
    return DF_OK;
}

static int write_all(int fd, const char *buf, size_t n)
{
    while (n > 0) {
        ssize_t w = write(fd, buf, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0)
            return -1;
        buf += w;
        n -= (size_t)w;
    }
    return 0;
}

/* <dir>/latest <- "name\n" by way of latest.tmp, fsync, rename, fsync dir.
 * *replaced tells the caller whether `latest` already names the new file
 * (a failure after the rename must not remove that file). */
int ckpt_write_latest(const char *dir, const char *name, int *replaced,
                        df_error *err)
{
    char tmp[DF_PATH_MAX + 64], fin[DF_PATH_MAX + 64], line[NAME_MAX_LEN + 2];
    snprintf(tmp, sizeof tmp, "%s/latest.tmp", dir);
    snprintf(fin, sizeof fin, "%s/latest", dir);
    int len = snprintf(line, sizeof line, "%s\n", name);
    *replaced = 0;
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0)
        return ckpt_fail_sys(err, tmp, "cannot create");
    if (write_all(fd, line, (size_t)len) != 0 || fsync(fd) != 0) {
        int rc = ckpt_fail_sys(err, tmp, "cannot write");
        close(fd);
        unlink(tmp);
        return rc;
    }
    if (close(fd) != 0) {
        int rc = ckpt_fail_sys(err, tmp, "cannot write");
        unlink(tmp);
        return rc;
    }
    if (rename(tmp, fin) != 0) {
        int rc = ckpt_fail_sys(err, fin, "cannot rename latest.tmp to latest");
        unlink(tmp);
        return rc;
    }
    *replaced = 1;
    return sync_dir(dir, err);
}

/* ---- names and directory scans ---- */

/* Step of "ckpt-<digits>.h5" (tmp = 0) or "ckpt-<digits>.h5.tmp" (tmp = 1),
 * or -1 for any other name. */
static int64_t parse_name(const char *name, int tmp)
{
    if (strncmp(name, "ckpt-", 5) != 0)
        return -1;
    const char *p = name + 5;
    int64_t step = 0;
    int digits = 0;
    for (; *p >= '0' && *p <= '9'; p++, digits++) {
        if (digits == 18)
            return -1;  /* would overflow int64 */
        step = step * 10 + (*p - '0');
    }
    if (digits == 0)
        return -1;
    return strcmp(p, tmp ? ".h5.tmp" : ".h5") == 0 ? step : -1;
}

typedef struct entry {
    int64_t step;
    char name[NAME_MAX_LEN];
} entry;

typedef struct scan {
    entry *ckpts;       /* ckpt-<step>.h5 */
    size_t n_ckpts, cap_ckpts;
    entry *tmps;        /* ckpt-<step>.h5.tmp: left by a crash */
    size_t n_tmps, cap_tmps;
} scan;

static void scan_free(scan *s)
{
    free(s->ckpts);
    free(s->tmps);
    memset(s, 0, sizeof *s);
}

static int push_entry(entry **v, size_t *n, size_t *cap, int64_t step, const char *name)
{
    if (*n == *cap) {
        size_t c = *cap ? 2 * *cap : 16;
        entry *g = realloc(*v, c * sizeof **v);
        if (!g)
            return -1;
        *v = g;
        *cap = c;
    }
    (*v)[*n].step = step;
    snprintf((*v)[*n].name, sizeof (*v)[*n].name, "%s", name);
    (*n)++;
    return 0;
}

static int by_step_desc(const void *a, const void *b)
{
    int64_t x = ((const entry *)a)->step, y = ((const entry *)b)->step;
    return (x < y) - (x > y);
}

/* Our files in dir, checkpoints newest (highest step) first. A missing dir
 * is an empty one. */
static int scan_dir(const char *dir, scan *s, df_error *err)
{
    memset(s, 0, sizeof *s);
    DIR *d = opendir(dir);
    if (!d)
        return errno == ENOENT ? DF_OK : ckpt_fail_sys(err, dir, "cannot list checkpoints");
    for (;;) {
        errno = 0;
        struct dirent *e = readdir(d);
        if (!e)
            break;
        if (strlen(e->d_name) >= NAME_MAX_LEN)
            continue;
        const char *name = e->d_name;
        int64_t step = parse_name(name, 0), tstep = parse_name(name, 1);
        if ((step >= 0 && push_entry(&s->ckpts, &s->n_ckpts, &s->cap_ckpts, step, name)) ||
            (tstep >= 0 && push_entry(&s->tmps, &s->n_tmps, &s->cap_tmps, tstep, name))) {
            closedir(d);
            scan_free(s);
            return df_fail(err, DF_ENOMEM, "out of memory listing %s", dir);
        }
    }
    int rc = errno ? ckpt_fail_sys(err, dir, "cannot list checkpoints") : DF_OK;
    closedir(d);
    if (rc) {
        scan_free(s);
        return rc;
    }
    if (s->n_ckpts > 1)
        qsort(s->ckpts, s->n_ckpts, sizeof *s->ckpts, by_step_desc);
    return DF_OK;
}

/* The checkpoint name that <dir>/latest holds, if it holds a well-formed
 * one (never a path: a pointer cannot lead outside dir). Only a regular
 * file counts: O_NONBLOCK, so that a FIFO there cannot hang the open. A
 * name is at most NAME_MAX_LEN - 1 bytes; more is not ours. */
static int read_latest(const char *dir, char *name, size_t cap)
{
    char path[DF_PATH_MAX + 64], buf[NAME_MAX_LEN + 2];
    snprintf(path, sizeof path, "%s/latest", dir);
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
    if (fd < 0)
        return -1;
    struct stat st;
    size_t n = 0;
    if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode)) {
        while (n < sizeof buf - 1) {
            ssize_t r = read(fd, buf + n, sizeof buf - 1 - n);
            if (r < 0 && errno == EINTR)
                continue;
            if (r <= 0)
                break;
            n += (size_t)r;
        }
    }
    close(fd);
    buf[n] = '\0';
    buf[strcspn(buf, "\r\n")] = '\0';
    if (parse_name(buf, 0) < 0 || strlen(buf) >= cap)
        return -1;
    memcpy(name, buf, strlen(buf) + 1);
    return 0;
}

/* Remove all checkpoints but the newest `keep` (and the one just written,
 * even if an older run left higher steps behind), and any *.h5.tmp a crash
 * left. */
int ckpt_prune(const char *dir, int keep, const char *just_written, df_error *err)
{
    scan s;
    int rc = scan_dir(dir, &s, err);
    char path[DF_PATH_MAX + 64];
    for (size_t i = 0; rc == DF_OK && i < s.n_tmps; i++) {
        snprintf(path, sizeof path, "%s/%s", dir, s.tmps[i].name);
        if (unlink(path) != 0 && errno != ENOENT)
            rc = ckpt_fail_sys(err, path, "cannot remove a stale temporary checkpoint");
    }
    size_t kept = 0;
    for (size_t i = 0; rc == DF_OK && keep > 0 && i < s.n_ckpts; i++) {
        if (strcmp(s.ckpts[i].name, just_written) == 0 || kept < (size_t)keep - 1) {
            kept += strcmp(s.ckpts[i].name, just_written) != 0;
            continue;
        }
        snprintf(path, sizeof path, "%s/%s", dir, s.ckpts[i].name);
        if (unlink(path) != 0 && errno != ENOENT)
            rc = ckpt_fail_sys(err, path, "cannot remove an old checkpoint");
    }
    scan_free(&s);
    return rc;
}

/* image -> path, fsync'ed: after this the bytes are on the disk. */
int ckpt_write_image(const char *path, const unsigned char *image, size_t size,
                       df_error *err)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0)
        return ckpt_fail_sys(err, path, "cannot create");
    if (write_all(fd, (const char *)image, size) != 0 || fsync(fd) != 0) {
        int rc = ckpt_fail_sys(err, path, "cannot write");
        close(fd);
        return rc;
    }
    return close(fd) == 0 ? DF_OK : ckpt_fail_sys(err, path, "cannot write");
}

/* Publish the synced tmp as fin: rename, fsync the directory.
 * *renamed: fin exists (and must be removed if a later step fails). */
int ckpt_publish(const char *dir, const char *tmp, const char *fin, int *renamed,
                   df_error *err)
{
    *renamed = 0;
    if (rename(tmp, fin) != 0)
        return ckpt_fail_sys(err, fin, "cannot rename the temporary checkpoint into place");
    *renamed = 1;
    return sync_dir(dir, err);
}

/* ---- listing ---- */

int df_checkpoint_list(const char *dir, char paths[][DF_PATH_MAX + 64], int max,
                       df_error *err)
{
    scan s;
    if (scan_dir(dir, &s, err) != DF_OK)
        return -1;
    int n = 0;
    char latest[NAME_MAX_LEN] = "";
    if (read_latest(dir, latest, sizeof latest) == 0) {
        /* first only if the file it names is there */
        int present = 0;
        for (size_t i = 0; i < s.n_ckpts; i++)
            present |= strcmp(s.ckpts[i].name, latest) == 0;
        if (!present)
            latest[0] = '\0';
        else if (n < max)
            snprintf(paths[n++], DF_PATH_MAX + 64, "%s/%s", dir, latest);
    }
    for (size_t i = 0; i < s.n_ckpts && n < max; i++)
        if (strcmp(s.ckpts[i].name, latest) != 0)
            snprintf(paths[n++], DF_PATH_MAX + 64, "%s/%s", dir, s.ckpts[i].name);
    scan_free(&s);
    return n;
}
