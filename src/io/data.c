/* IDX datasets (MNIST, Fashion-MNIST), the held-out split, batch gathering
 * and the epoch-order sampler.
 *
 * A data file is user input: every header field is checked against the
 * DF_IDX_MAX_* limits and against the file's real length before it decides
 * how much memory we take, and every complaint is one line that starts with
 * the path of the file at fault. */
#ifndef _POSIX_C_SOURCE
#define _POSIX_C_SOURCE 200809L /* open flags, fdopen, fstat */
#endif

#include "deepfried/data.h"

#include "deepfried/rng.h"

#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#define IDX_MAGIC_IMAGES 0x00000803u /* unsigned bytes, 3 dimensions */
#define IDX_MAGIC_LABELS 0x00000801u /* unsigned bytes, 1 dimension */

/* The first allocation for a gzip payload, whose true length is unknown
 * until it has been inflated. */
#define GZ_FIRST_CHUNK ((size_t)1 << 20)

typedef struct idx_file {
    char *path;             /* the file actually read: the argument or its .gz sibling */
    FILE *fp;               /* plain files */
    gzFile gz;              /* files named *.gz */
    long long payload_disk; /* bytes after the header of a plain regular file; -1 if unknown */
    int gz_cut;             /* the gzip stream ended before its own trailer */
    int rank;               /* 3 for images, 1 for labels */
    uint32_t dims[3];       /* n[, rows, cols] as the header says */
} idx_file;

static int ends_with_gz(const char *path)
{
    size_t len = strlen(path);
    return len >= 3 && strcmp(path + len - 3, ".gz") == 0;
}

static char *copy_path(const char *path, const char *suffix, df_error *err)
{
    size_t a = strlen(path), b = strlen(suffix);
    char *s = df_calloc(a + b + 1, 1, err);
    if (s) {
        memcpy(s, path, a);
        memcpy(s + a, suffix, b);
    }
    return s;
}

static void idx_close(idx_file *f)
{
    if (f->fp)
        fclose(f->fp);
    if (f->gz)
        gzclose(f->gz);
    free(f->path);
    memset(f, 0, sizeof *f);
}

static int open_failed(const char *path, int errnum, const char *sibling,
                       df_error *err)
{
    /* A file the configuration names but that is absent or unreadable is the
     * user's to fix; anything else (EMFILE, EIO, ...) is the system's. */
    int code = (errnum == ENOENT || errnum == ENOTDIR || errnum == EACCES ||
                errnum == ELOOP || errnum == ENAMETOOLONG)
                   ? DF_EINPUT
                   : DF_ESYS;
    if (sibling)
        return df_fail(err, code, "%s: cannot open: %s (nor %s)", path,
                       strerror(errnum), sibling);
    return df_fail(err, code, "%s: cannot open: %s", path, strerror(errnum));
}

/* Open path, or its ".gz" sibling when path is plain and absent (the way
 * MNIST is usually stored compressed under the uncompressed name). */
static int idx_open(idx_file *f, const char *path, int rank, df_error *err)
{
    memset(f, 0, sizeof *f);
    f->rank = rank;
    f->payload_disk = -1;
    f->path = copy_path(path, "", err);
    if (!f->path)
        return DF_ENOMEM;

    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0 && errno == ENOENT && !ends_with_gz(path)) {
        char *sibling = copy_path(path, ".gz", err);
        if (!sibling)
            return DF_ENOMEM;
        fd = open(sibling, O_RDONLY | O_CLOEXEC);
        if (fd < 0) {
            int rc = open_failed(path, ENOENT, sibling, err);
            free(sibling);
            return rc;
        }
        free(f->path);
        f->path = sibling;
    } else if (fd < 0) {
        return open_failed(path, errno, NULL, err);
    }

    struct stat st;
    if (fstat(fd, &st) != 0) {
        int e = errno;
        close(fd);
        return df_fail(err, DF_ESYS, "%s: cannot stat: %s", f->path, strerror(e));
    }
    if (S_ISDIR(st.st_mode)) {
        close(fd);
        return df_fail(err, DF_EINPUT, "%s: is a directory, not an IDX file", f->path);
    }
    if (ends_with_gz(f->path)) {
        f->gz = gzdopen(fd, "rb");
        if (!f->gz) {
            close(fd);
            return df_fail(err, DF_ENOMEM, "%s: out of memory opening a gzip stream",
                           f->path);
        }
        gzbuffer(f->gz, 1u << 17); /* fewer, larger reads than the 8 KiB default */
        return DF_OK;
    }
    f->fp = fdopen(fd, "rb");
    if (!f->fp) {
        int e = errno;
        close(fd);
        return df_fail(err, DF_ESYS, "%s: cannot open: %s", f->path, strerror(e));
    }
    if (S_ISREG(st.st_mode))
        f->payload_disk = (long long)st.st_size; /* header subtracted once read */
    return DF_OK;
}

/* Read up to len bytes; *got < len only at the end of the data. */
static int idx_read(idx_file *f, uint8_t *buf, size_t len, size_t *got,
                    df_error *err)
{
    *got = 0;
    while (*got < len) {
        size_t want = len - *got;
        if (want > (1u << 30))
            want = 1u << 30; /* gzread counts in unsigned int */
        size_t n;
        if (f->gz) {
            int r = gzread(f->gz, buf + *got, (unsigned)want);
            n = r > 0 ? (size_t)r : 0;
            if (n < want) {
                int e = errno, zerr;
                const char *zmsg = gzerror(f->gz, &zerr);
                if (zerr == Z_BUF_ERROR)
                    f->gz_cut = 1; /* the caller reports a truncated file */
                else if (zerr == Z_ERRNO)
                    return df_fail(err, DF_ESYS, "%s: read error: %s", f->path,
                                   strerror(e));
                else if (zerr != Z_OK)
                    return df_fail(err, DF_EINPUT, "%s: corrupt gzip data: %s",
                                   f->path, zmsg);
            }
        } else {
            n = fread(buf + *got, 1, want, f->fp);
            if (n < want && ferror(f->fp))
                return df_fail(err, DF_ESYS, "%s: read error: %s", f->path,
                               strerror(errno));
        }
        *got += n;
        if (n < want)
            break;
    }
    return DF_OK;
}

static uint32_t be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static const char *what_items(const idx_file *f)
{
    return f->rank == 3 ? "images" : "labels";
}

/* What a wrong magic number most likely means, for the error message. */
static void describe_magic(uint32_t magic, char *buf, size_t len)
{
    if (magic >> 16 == 0x1f8b)
        snprintf(buf, len, "gzip data, but the name does not end in .gz");
    else if (magic == IDX_MAGIC_LABELS)
        snprintf(buf, len, "an IDX label file: images and labels swapped?");
    else if (magic == IDX_MAGIC_IMAGES)
        snprintf(buf, len, "an IDX image file: images and labels swapped?");
    else if (magic >> 16 == 0)
        snprintf(buf, len, "IDX with element type 0x%02x and %u dimensions",
                 (unsigned)(magic >> 8 & 0xff), (unsigned)(magic & 0xff));
    else
        snprintf(buf, len, "not an IDX file");
}

static int idx_truncated(const idx_file *f, unsigned long long items_present,
                         df_error *err)
{
    const char *cut = f->gz_cut ? " (the gzip stream is cut short)" : "";
    if (f->rank == 3)
        return df_fail(err, DF_EINPUT,
                       "%s: truncated: header says %u images of %ux%u but the file "
                       "ends after %llu of them%s",
                       f->path, f->dims[0], f->dims[1], f->dims[2], items_present, cut);
    return df_fail(err, DF_EINPUT,
                   "%s: truncated: header says %u labels but the file ends after "
                   "%llu of them%s",
                   f->path, f->dims[0], items_present, cut);
}

static int idx_trailing(const idx_file *f, long long extra_bytes, df_error *err)
{
    char shape[64] = "";
    if (f->rank == 3)
        snprintf(shape, sizeof shape, " of %ux%u", f->dims[1], f->dims[2]);
    if (extra_bytes > 0)
        return df_fail(err, DF_EINPUT,
                       "%s: trailing bytes: header says %u %s%s but %lld more byte%s "
                       "follow%s them",
                       f->path, f->dims[0], what_items(f), shape, extra_bytes,
                       extra_bytes == 1 ? "" : "s", extra_bytes == 1 ? "s" : "");
    return df_fail(err, DF_EINPUT,
                   "%s: trailing bytes: header says %u %s%s but more data follows them",
                   f->path, f->dims[0], what_items(f), shape);
}

static size_t idx_item_bytes(const idx_file *f)
{
    return f->rank == 3 ? (size_t)f->dims[1] * f->dims[2] : 1;
}

static int idx_check_limits(const idx_file *f, df_error *err)
{
    if (f->dims[0] > DF_IDX_MAX_ITEMS)
        return df_fail(err, DF_EINPUT,
                       "%s: too large: header says %u %s, over the limit "
                       "DF_IDX_MAX_ITEMS = %lld",
                       f->path, f->dims[0], what_items(f), DF_IDX_MAX_ITEMS);
    if (f->dims[0] == 0)
        return df_fail(err, DF_EINPUT, "%s: empty: header says 0 %s", f->path,
                       what_items(f));
    if (f->rank == 3) {
        for (int d = 1; d <= 2; d++)
            if (f->dims[d] == 0 || f->dims[d] > DF_IDX_MAX_SIDE)
                return df_fail(err, DF_EINPUT,
                               "%s: bad image size: header says images of %ux%u, "
                               "but rows and columns must be 1..%d "
                               "(DF_IDX_MAX_SIDE)",
                               f->path, f->dims[1], f->dims[2], DF_IDX_MAX_SIDE);
    }
    return DF_OK;
}

/* Read and check the magic number and dimensions; for a plain file, also
 * check its length, so a lying header fails before anything is allocated. */
static int idx_read_header(idx_file *f, uint32_t magic_want, df_error *err)
{
    uint8_t h[4 + 4 * 3];
    size_t header_bytes = 4 + 4 * (size_t)f->rank, got, got_dims;
    int rc = idx_read(f, h, 4, &got, err);
    if (rc)
        return rc;
    if (got == 4) {
        uint32_t magic = be32(h);
        if (magic != magic_want) {
            char found[96];
            describe_magic(magic, found, sizeof found);
            return df_fail(err, DF_EINPUT,
                           "%s: wrong magic 0x%08x (%s), expected 0x%08x (IDX %s: "
                           "unsigned bytes, %d dimension%s)",
                           f->path, magic, found, magic_want, what_items(f), f->rank,
                           f->rank == 1 ? "" : "s");
        }
        rc = idx_read(f, h + 4, header_bytes - 4, &got_dims, err);
        if (rc)
            return rc;
        got += got_dims;
    }
    if (got < header_bytes)
        return df_fail(err, DF_EINPUT,
                       "%s: truncated: the file ends after %zu bytes, inside the "
                       "%zu-byte IDX header",
                       f->path, got, header_bytes);
    for (int d = 0; d < f->rank; d++)
        f->dims[d] = be32(h + 4 + 4 * d);
    rc = idx_check_limits(f, err);
    if (rc || f->payload_disk < 0)
        return rc;

    f->payload_disk -= (long long)header_bytes;
    size_t item_bytes = idx_item_bytes(f), need;
    if (df_mul_size(f->dims[0], item_bytes, &need) != 0)
        return df_fail(err, DF_EINPUT, "%s: too large: %u %s of %zu bytes overflow",
                       f->path, f->dims[0], what_items(f), item_bytes);
    unsigned long long have = (unsigned long long)f->payload_disk;
    if (have < need)
        return idx_truncated(f, have / item_bytes, err);
    if (have > need)
        return idx_trailing(f, (long long)(have - need), err);
    return DF_OK;
}

/* Read the whole payload into a new buffer. For a gzip stream, whose real
 * length is unknown, the buffer grows as data arrives, so a header that
 * promises more than the file holds cannot make us allocate it. */
static int idx_read_payload(idx_file *f, uint8_t **out, df_error *err)
{
    size_t item_bytes = idx_item_bytes(f), total, cap = 0, have = 0;
    *out = NULL;
    if (df_mul_size(f->dims[0], item_bytes, &total) != 0)
        return df_fail(err, DF_EINPUT, "%s: too large: %u %s of %zu bytes overflow",
                       f->path, f->dims[0], what_items(f), item_bytes);
    uint8_t *buf = NULL;
    while (have < total) {
        if (have == cap) {
            size_t next = cap == 0 ? (f->payload_disk >= 0 ? total : GZ_FIRST_CHUNK)
                                   : (cap > total / 2 ? total : 2 * cap);
            if (next > total)
                next = total;
            uint8_t *grown = cap == 0 ? df_calloc(next, 1, err) : realloc(buf, next);
            if (!grown) {
                free(buf);
                if (cap == 0)
                    return DF_ENOMEM; /* df_calloc filled err */
                return df_fail(err, DF_ENOMEM, "%s: out of memory reading %zu bytes",
                               f->path, next);
            }
            buf = grown;
            cap = next;
        }
        size_t got;
        int rc = idx_read(f, buf + have, cap - have, &got, err);
        if (rc) {
            free(buf);
            return rc;
        }
        have += got;
        if (have < cap)
            break;
    }
    if (have < total) {
        free(buf);
        return idx_truncated(f, have / item_bytes, err);
    }
    /* A plain file's length was checked already; a stream is checked here. */
    uint8_t extra;
    size_t got;
    int rc = idx_read(f, &extra, 1, &got, err);
    if (rc == DF_OK && got > 0)
        rc = idx_trailing(f, -1, err);
    if (rc) {
        free(buf);
        return rc;
    }
    *out = buf;
    return DF_OK;
}

static int labels_to_int(const idx_file *f, const uint8_t *raw, int max_classes,
                         int32_t **labels, int *n_classes, df_error *err)
{
    int64_t n = f->dims[0];
    int max_label = 0;
    for (int64_t i = 0; i < n; i++) {
        if (max_classes > 0 && raw[i] >= max_classes)
            return df_fail(err, DF_EINPUT,
                           "%s: label out of range: item %lld has label %d, but at most "
                           "%d classes (labels 0..%d) are allowed",
                           f->path, (long long)i, raw[i], max_classes, max_classes - 1);
        if (raw[i] > max_label)
            max_label = raw[i];
    }
    *labels = df_calloc((size_t)n, sizeof **labels, err);
    if (!*labels)
        return DF_ENOMEM;
    for (int64_t i = 0; i < n; i++)
        (*labels)[i] = raw[i];
    *n_classes = max_label + 1;
    return DF_OK;
}

int df_dataset_load_idx(df_dataset *ds, const char *images_path,
                        const char *labels_path, int max_classes, df_error *err)
{
    memset(ds, 0, sizeof *ds);
    idx_file im, lb;
    uint8_t *raw_labels = NULL;
    memset(&lb, 0, sizeof lb);
    int rc = idx_open(&im, images_path, 3, err);
    if (!rc)
        rc = idx_read_header(&im, IDX_MAGIC_IMAGES, err);
    if (!rc)
        rc = idx_open(&lb, labels_path, 1, err);
    if (!rc)
        rc = idx_read_header(&lb, IDX_MAGIC_LABELS, err);
    if (!rc && lb.dims[0] != im.dims[0])
        rc = df_fail(err, DF_EINPUT,
                     "%s: count mismatch: it holds %u labels but %s holds %u images",
                     lb.path, lb.dims[0], im.path, im.dims[0]);
    if (!rc)
        rc = idx_read_payload(&im, &ds->pixels, err);
    if (!rc)
        rc = idx_read_payload(&lb, &raw_labels, err);
    if (!rc)
        rc = labels_to_int(&lb, raw_labels, max_classes, &ds->labels, &ds->n_classes,
                           err);
    if (!rc) {
        ds->n = im.dims[0];
        ds->channels = 1;
        ds->rows = (int)im.dims[1];
        ds->cols = (int)im.dims[2];
    }
    free(raw_labels);
    idx_close(&im);
    idx_close(&lb);
    if (rc)
        df_dataset_free(ds);
    return rc;
}

void df_dataset_free(df_dataset *ds)
{
    free(ds->pixels);
    free(ds->labels);
    memset(ds, 0, sizeof *ds);
}

size_t df_dataset_image_size(const df_dataset *ds)
{
    return (size_t)ds->channels * (size_t)ds->rows * (size_t)ds->cols;
}

int df_dataset_split_range(df_dataset *all, df_dataset *out, int64_t start,
                           int64_t n_out, df_error *err)
{
    memset(out, 0, sizeof *out);
    if (n_out < 0 || n_out >= all->n)
        return df_fail(err, DF_EINPUT,
                       "validation split of %lld items must leave training data, "
                       "but the training set has only %lld",
                       (long long)n_out, (long long)all->n);
    if (start < 0 || start > all->n - n_out)
        return df_fail(err, DF_EINPUT,
                       "validation split of items %lld..%lld lies outside the training "
                       "set's %lld items",
                       (long long)start, (long long)start + n_out - 1, (long long)all->n);
    size_t img = df_dataset_image_size(all);
    int64_t n_keep = all->n - n_out, n_after = all->n - start - n_out;
    *out = *all;
    out->n = n_out;
    /* The class count is a property of the task, not of the subset: a split
     * that happens to lack the last class must still mean the same outputs. */
    out->pixels = df_calloc((size_t)n_out, img, err);
    out->labels = out->pixels ? df_calloc((size_t)n_out, sizeof *out->labels, err) : NULL;
    if (!out->labels) {
        df_dataset_free(out);
        return DF_ENOMEM;
    }
    memcpy(out->pixels, all->pixels + (size_t)start * img, (size_t)n_out * img);
    memcpy(out->labels, all->labels + start, (size_t)n_out * sizeof *out->labels);
    memmove(all->pixels + (size_t)start * img, all->pixels + (size_t)(start + n_out) * img,
            (size_t)n_after * img);
    memmove(all->labels + start, all->labels + start + n_out,
            (size_t)n_after * sizeof *all->labels);
    all->n = n_keep;
    /* Give back the split's memory; keeping the larger block is harmless if
     * the allocator declines. */
    uint8_t *px = realloc(all->pixels, (size_t)n_keep * img);
    if (px)
        all->pixels = px;
    int32_t *lb = realloc(all->labels, (size_t)n_keep * sizeof *lb);
    if (lb)
        all->labels = lb;
    return DF_OK;
}

void df_dataset_gather(const df_dataset *ds, const int64_t *idx, int count,
                       float scale, float *x, int32_t *y)
{
    size_t img = df_dataset_image_size(ds);
    float lut[256]; /* v * scale for every byte value: one multiply per value */
    for (int v = 0; v < 256; v++)
        lut[v] = (float)v * scale;
    for (int k = 0; k < count; k++) {
        assert(idx[k] >= 0 && idx[k] < ds->n);
        const uint8_t *src = ds->pixels + (size_t)idx[k] * img;
        float *dst = x + (size_t)k * img;
        for (size_t i = 0; i < img; i++)
            dst[i] = lut[src[i]];
        y[k] = ds->labels[idx[k]];
    }
}

int df_sampler_init(df_sampler *s, int64_t n, uint64_t seed, df_error *err)
{
    memset(s, 0, sizeof *s);
    s->cached_epoch[0] = s->cached_epoch[1] = -1;
    if (n <= 0 || n > INT32_MAX)
        return df_fail(err, DF_EINPUT,
                       "sampler: %lld items; the epoch order needs 1..%d",
                       (long long)n, INT32_MAX);
    s->n = n;
    s->seed = seed;
    for (int k = 0; k < 2; k++) {
        s->order[k] = df_calloc((size_t)n, sizeof *s->order[k], err);
        if (!s->order[k]) {
            df_sampler_free(s);
            return DF_ENOMEM;
        }
    }
    return DF_OK;
}

void df_sampler_free(df_sampler *s)
{
    free(s->order[0]);
    free(s->order[1]);
    memset(s, 0, sizeof *s);
    s->cached_epoch[0] = s->cached_epoch[1] = -1;
}

/* Epoch e lives in slot e % 2, so a batch that spans epochs e and e + 1
 * finds both cached and never draws a permutation twice. */
static const int32_t *epoch_order(df_sampler *s, int64_t epoch)
{
    int slot = (int)(epoch & 1);
    if (s->cached_epoch[slot] != epoch) {
        df_rng_permutation(df_rng_key(s->seed, DF_RNG_SHUFFLE, (uint64_t)epoch, 0, 0),
                           s->order[slot], s->n);
        s->cached_epoch[slot] = epoch;
    }
    return s->order[slot];
}

void df_sampler_indices(df_sampler *s, int64_t first, int count, int64_t *idx)
{
    assert(s->n > 0 && first >= 0 && count >= 0);
    assert(first <= INT64_MAX - count);
    int64_t p = first;
    int done = 0;
    while (done < count) {
        int64_t epoch = p / s->n, at = p % s->n;
        int64_t run = s->n - at; /* items left in this epoch */
        if (run > count - done)
            run = count - done;
        const int32_t *order = epoch_order(s, epoch);
        for (int64_t k = 0; k < run; k++)
            idx[done + k] = order[at + k];
        done += (int)run;
        p += run;
    }
}
