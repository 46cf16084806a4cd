/* HDF5 checkpoints: the layout and the atomic save, the validating load,
 * and the listing that resume walks (see include/deepfried/checkpoint.h and
 * docs/checkpoint-format.md). The only file besides the data reader that
 * calls HDF5. The file is built and read in memory; its first 512 bytes
 * (HDF5's user block) are the integrity header of checkpoint_seal.c, which
 * a load verifies before HDF5 sees any byte. Every HDF5 failure becomes one
 * df_error line naming the file, the object and the cause; HDF5's own stack
 * printing is switched off. */
#include "config.h"
#include "deepfried/checkpoint.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <hdf5.h>

#include "core/make_dirs.h"

/* Chunks of at most 1 MiB: big enough that per-chunk overhead (a B-tree
 * entry, a 4-byte checksum) is negligible, small enough that a read
 * never needs a huge filter buffer. */
#define CHUNK_BYTES ((hsize_t)1 << 20)

/* Deflate (level 1, after byte shuffle) pays only where there is
 * redundancy. Float32 weights and momentum are close to incompressible:
 * measured 15-20% smaller for 2.5-3x the save time and 4-5x the load time
 * (docs/checkpoint-format.md), so they are stored raw. The int32
 * permutations (values < 2^24) shrink for little time. -D overrides are
 * for re-measuring. */
#ifndef DF_CKPT_DEFLATE_PARAMS
#define DF_CKPT_DEFLATE_PARAMS 0
#endif
#ifndef DF_CKPT_DEFLATE_PERM
#define DF_CKPT_DEFLATE_PERM 1
#endif
#define DEFLATE_MIN_ELEMS 4096  /* below this the filter costs more than it saves */

#define NAME_MAX_LEN 64         /* "ckpt-<up to 19 digits>.h5.tmp" fits */

/* ---- errors ---- */

/* The file every message names and where the message goes. */
typedef struct ck {
    const char *path;
    df_error *err;
} ck;

static herr_t take_innermost(unsigned n, const H5E_error2_t *e, void *data)
{
    if (n == 0 && e->desc)
        snprintf(data, 256, "%s", e->desc);
    return 0;
}

/* Why the last HDF5 call failed: the innermost entry of the default error
 * stack (walked upward, entry 0 is where the error was detected). For an
 * I/O failure the file driver writes "... error message = 'No space left on
 * device', ..."; that strerror part alone is the useful cause. Must run
 * before any other HDF5 call, which would clear the stack. */
static void h5_cause(char *buf, size_t cap)
{
    char desc[256] = "";
    H5Ewalk2(H5E_DEFAULT, H5E_WALK_UPWARD, take_innermost, desc);
    const char *key = "error message = '";
    const char *p = strstr(desc, key);
    if (p) {
        p += strlen(key);
        const char *q = strchr(p, '\'');
        int len = q ? (int)(q - p) : (int)strlen(p);
        snprintf(buf, cap, "%.*s", len, p);
    } else {
        snprintf(buf, cap, "%s", desc);
    }
}

/* "path: message [HDF5: cause]" where cause is HDF5's reason for the
 * failure of the call just made. */
static int fail_h5(const ck *c, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int fail_h5(const ck *c, int code, const char *fmt, ...)
{
    char cause[256], msg[768];
    h5_cause(cause, sizeof cause);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (cause[0])
        return df_fail(c->err, code, "%s: %s [HDF5: %s]", c->path, msg, cause);
    return df_fail(c->err, code, "%s: %s", c->path, msg);
}

static int fail_sys(df_error *err, const char *path, const char *what)
{
    return df_fail(err, DF_ESYS, "%s: %s: %s", path, what, strerror(errno));
}

static void h5_quiet(void)
{
    /* errors are values: HDF5 must not print its stack to stderr */
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
}

/* ---- the file system: directories, fsync, atomic small files ---- */

/* fsync a directory, making the renames in it durable. Some file systems
 * refuse fsync on a directory (EINVAL): there rename is as durable as it
 * gets. */
static int sync_dir(const char *dir, df_error *err)
{
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return fail_sys(err, dir, "cannot open the directory to fsync it");
    int rc = fsync(fd);
    int saved = errno;
    close(fd);
    if (rc != 0 && saved != EINVAL && saved != ENOTSUP) {
        errno = saved;
        return fail_sys(err, dir, "fsync of the directory failed");
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
static int write_latest(const char *dir, const char *name, int *replaced,
                        df_error *err)
{
    char tmp[DF_PATH_MAX + 64], fin[DF_PATH_MAX + 64], line[NAME_MAX_LEN + 2];
    snprintf(tmp, sizeof tmp, "%s/latest.tmp", dir);
    snprintf(fin, sizeof fin, "%s/latest", dir);
    int len = snprintf(line, sizeof line, "%s\n", name);
    *replaced = 0;
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0)
        return fail_sys(err, tmp, "cannot create");
    if (write_all(fd, line, (size_t)len) != 0 || fsync(fd) != 0) {
        int rc = fail_sys(err, tmp, "cannot write");
        close(fd);
        unlink(tmp);
        return rc;
    }
    if (close(fd) != 0) {
        int rc = fail_sys(err, tmp, "cannot write");
        unlink(tmp);
        return rc;
    }
    if (rename(tmp, fin) != 0) {
        int rc = fail_sys(err, fin, "cannot rename latest.tmp to latest");
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
        return errno == ENOENT ? DF_OK : fail_sys(err, dir, "cannot list checkpoints");
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
    int rc = errno ? fail_sys(err, dir, "cannot list checkpoints") : DF_OK;
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
static int prune(const char *dir, int keep, const char *just_written, df_error *err)
{
    scan s;
    int rc = scan_dir(dir, &s, err);
    char path[DF_PATH_MAX + 64];
    for (size_t i = 0; rc == DF_OK && i < s.n_tmps; i++) {
        snprintf(path, sizeof path, "%s/%s", dir, s.tmps[i].name);
        if (unlink(path) != 0 && errno != ENOENT)
            rc = fail_sys(err, path, "cannot remove a stale temporary checkpoint");
    }
    size_t kept = 0;
    for (size_t i = 0; rc == DF_OK && keep > 0 && i < s.n_ckpts; i++) {
        if (strcmp(s.ckpts[i].name, just_written) == 0 || kept < (size_t)keep - 1) {
            kept += strcmp(s.ckpts[i].name, just_written) != 0;
            continue;
        }
        snprintf(path, sizeof path, "%s/%s", dir, s.ckpts[i].name);
        if (unlink(path) != 0 && errno != ENOENT)
            rc = fail_sys(err, path, "cannot remove an old checkpoint");
    }
    scan_free(&s);
    return rc;
}

/* ---- writing ---- */

typedef struct writer {
    ck c;
    hid_t file;
    hid_t lcpl;     /* creates intermediate groups: "/params/ip1/weight" */
} writer;

/* Chunked (at most CHUNK_BYTES a chunk, innermost dims whole first),
 * fletcher32 last so a damaged byte is caught before any decompression. */
static hid_t make_dcpl(int rank, const hsize_t *dims, size_t elem_size, int deflate)
{
    hsize_t chunk[4], room = CHUNK_BYTES / elem_size;
    for (int i = rank - 1; i >= 0; i--) {
        hsize_t n = dims[i] ? dims[i] : 1, cap = room ? room : 1;
        /* split n into equal chunks: HDF5 stores an edge chunk at full
         * size, so [500,800] in chunks of 327 rows would waste 154 rows */
        hsize_t pieces = (n + cap - 1) / cap;
        chunk[i] = (n + pieces - 1) / pieces;
        room /= chunk[i];
    }
    hid_t dcpl = H5Pcreate(H5P_DATASET_CREATE);
    if (dcpl < 0)
        return -1;
    /* no timestamps: equal state gives equal bytes; no fill pass: every
     * element is written */
    if (H5Pset_chunk(dcpl, rank, chunk) < 0 || H5Pset_obj_track_times(dcpl, 0) < 0 ||
        H5Pset_fill_time(dcpl, H5D_FILL_TIME_NEVER) < 0 ||
        (deflate && (H5Pset_shuffle(dcpl) < 0 || H5Pset_deflate(dcpl, 1) < 0)) ||
        H5Pset_fletcher32(dcpl) < 0) {
        H5Pclose(dcpl);
        return -1;
    }
    return dcpl;
}

/* One dataset of shape dims (rank <= 4). A dimension of 0 is made
 * extensible so that it can still be chunked (a chunk must not exceed a
 * fixed dimension); nothing is written then. */
static int write_dataset(writer *w, const char *dpath, hid_t ftype, hid_t mtype,
                         int rank, const hsize_t *dims, const void *data, int deflate)
{
    hsize_t maxdims[4] = {0, 0, 0, 0}, count = 1;
    for (int i = 0; i < rank; i++) {
        maxdims[i] = dims[i] ? dims[i] : H5S_UNLIMITED;
        count *= dims[i];
    }
    deflate = deflate && count >= DEFLATE_MIN_ELEMS;
    hid_t space = H5Screate_simple(rank, dims, maxdims);
    hid_t dcpl = space < 0 ? -1 : make_dcpl(rank, dims, H5Tget_size(ftype), deflate);
    hid_t dset = dcpl < 0 ? -1
                          : H5Dcreate2(w->file, dpath, ftype, space, w->lcpl, dcpl, H5P_DEFAULT);
    herr_t wr = dset < 0 ? -1
                         : count ? H5Dwrite(dset, mtype, H5S_ALL, H5S_ALL, H5P_DEFAULT, data) : 0;
    int rc = wr < 0 ? fail_h5(&w->c, DF_ESYS, "cannot write dataset %s", dpath) : DF_OK;
    if (dset >= 0 && H5Dclose(dset) < 0 && rc == DF_OK)
        rc = fail_h5(&w->c, DF_ESYS, "cannot write dataset %s", dpath);
    if (dcpl >= 0)
        H5Pclose(dcpl);
    if (space >= 0)
        H5Sclose(space);
    return rc;
}

static int write_attr(writer *w, hid_t loc, const char *name, hid_t ftype,
                      hid_t mtype, const void *value)
{
    hid_t space = H5Screate(H5S_SCALAR);
    hid_t attr = space < 0 ? -1 : H5Acreate2(loc, name, ftype, space, H5P_DEFAULT, H5P_DEFAULT);
    herr_t wr = attr < 0 ? -1 : H5Awrite(attr, mtype, value);
    int rc = wr < 0 ? fail_h5(&w->c, DF_ESYS, "cannot write attribute '%s'", name) : DF_OK;
    if (attr >= 0)
        H5Aclose(attr);
    if (space >= 0)
        H5Sclose(space);
    return rc;
}

/* A fixed-length, NUL-terminated string type: what h5dump prints as text
 * and h5py reads as bytes. */
static hid_t string_type(size_t len)
{
    hid_t t = H5Tcopy(H5T_C_S1);
    if (t >= 0 && H5Tset_size(t, len + 1) < 0) {
        H5Tclose(t);
        return -1;
    }
    return t;
}

static int write_attr_str(writer *w, hid_t loc, const char *name, const char *s)
{
    hid_t t = string_type(strlen(s));
    if (t < 0)
        return fail_h5(&w->c, DF_ESYS, "cannot write attribute '%s'", name);
    int rc = write_attr(w, loc, name, t, t, s);
    H5Tclose(t);
    return rc;
}

static int write_root_attrs(writer *w, const df_net *net, const df_ckpt_meta *m)
{
    const int32_t version = DF_CKPT_VERSION, world = m->world_size, batch = m->global_batch;
    const uint64_t n_params = net->n_params;
    char created[32];
    snprintf(created, sizeof created, "%s", m->created);
    if (!created[0]) {
        /* the caller did not stamp it: now, UTC */
        time_t now = time(NULL);
        struct tm utc;
        gmtime_r(&now, &utc);
        strftime(created, sizeof created, "%Y-%m-%dT%H:%M:%SZ", &utc);
    }
    const char *libver = m->library_version[0] ? m->library_version : PACKAGE_VERSION;
    hid_t f = w->file;
    int rc = write_attr_str(w, f, "format", DF_CKPT_FORMAT);
    if (!rc) rc = write_attr(w, f, "version", H5T_STD_I32LE, H5T_NATIVE_INT32, &version);
    if (!rc) rc = write_attr(w, f, "step", H5T_STD_I64LE, H5T_NATIVE_INT64, &m->step);
    if (!rc) rc = write_attr(w, f, "epoch", H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, &m->epoch);
    if (!rc) rc = write_attr(w, f, "world_size", H5T_STD_I32LE, H5T_NATIVE_INT32, &world);
    if (!rc) rc = write_attr(w, f, "seed", H5T_STD_U64LE, H5T_NATIVE_UINT64, &m->seed);
    if (!rc) rc = write_attr(w, f, "global_batch", H5T_STD_I32LE, H5T_NATIVE_INT32, &batch);
    if (!rc) rc = write_attr_str(w, f, "created", created);
    if (!rc) rc = write_attr_str(w, f, "library_version", libver);
    if (!rc) rc = write_attr(w, f, "n_params", H5T_STD_U64LE, H5T_NATIVE_UINT64, &n_params);
    return rc;
}

/* /config: one fixed-length string in a [1] dataset (a scalar dataset
 * cannot be chunked, and so could not carry a checksum). */
static int write_config(writer *w, const df_config *cfg)
{
    char *text = df_config_to_text(cfg);
    if (!text)
        return df_fail(w->c.err, DF_ENOMEM, "%s: out of memory for the config text", w->c.path);
    hid_t t = string_type(strlen(text));
    hsize_t one = 1;
    int rc = t < 0 ? fail_h5(&w->c, DF_ESYS, "cannot write dataset /config")
                   : write_dataset(w, "/config", t, t, 1, &one, text, 0);
    if (t >= 0)
        H5Tclose(t);
    free(text);
    return rc;
}

static void to_hdims(int rank, const int *dims, hsize_t *out)
{
    for (int i = 0; i < rank; i++)
        out[i] = (hsize_t)dims[i];
}

/* Every tensor of the flat buffer base as <prefix>/<layer>/<tensor>. */
static int write_tensors(writer *w, const df_net *net, const float *base,
                         const char *prefix)
{
    for (int i = 0; i < net->n_layers; i++) {
        const df_layer *l = &net->layers[i];
        for (int t = 0; t < l->n_tensors; t++) {
            const df_tensor *x = &l->tensors[t];
            char dpath[256];
            hsize_t dims[4];
            snprintf(dpath, sizeof dpath, "%s/%s/%s", prefix, l->spec.name, x->name);
            to_hdims(x->rank, x->dims, dims);
            int rc = write_dataset(w, dpath, H5T_IEEE_F32LE, H5T_NATIVE_FLOAT, x->rank, dims,
                                   base + x->offset, DF_CKPT_DEFLATE_PARAMS);
            if (rc)
                return rc;
        }
    }
    return DF_OK;
}

/* Every layer's aux buffers as /fixed/<layer>/<name> (Fastfood's perm, and
 * S, G, B when not adaptive). */
static int write_fixed(writer *w, const df_net *net)
{
    for (int i = 0; i < net->n_layers; i++) {
        const df_layer *l = &net->layers[i];
        for (int a = 0; a < l->n_aux; a++) {
            const df_aux *x = &l->aux[a];
            char dpath[256];
            hsize_t dims[4];
            snprintf(dpath, sizeof dpath, "/fixed/%s/%s", l->spec.name, x->name);
            to_hdims(x->rank, x->dims, dims);
            int is_int = x->type == DF_AUX_INT32;
            int rc = write_dataset(w, dpath, is_int ? H5T_STD_I32LE : H5T_IEEE_F32LE,
                                   is_int ? H5T_NATIVE_INT32 : H5T_NATIVE_FLOAT, x->rank, dims,
                                   x->data, is_int ? DF_CKPT_DEFLATE_PERM : DF_CKPT_DEFLATE_PARAMS);
            if (rc)
                return rc;
        }
    }
    return DF_OK;
}

/* Every random draw is keyed by (seed, step, what it is for), so the seed
 * and the step are all the generator state there is. */
static int write_rng(writer *w, const df_ckpt_meta *m)
{
    hid_t g = H5Gcreate2(w->file, "/rng", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    if (g < 0)
        return fail_h5(&w->c, DF_ESYS, "cannot create group /rng");
    int rc = write_attr_str(w, g, "generator", "counter-based splitmix64");
    if (!rc)
        rc = write_attr(w, g, "seed", H5T_STD_U64LE, H5T_NATIVE_UINT64, &m->seed);
    if (H5Gclose(g) < 0 && rc == DF_OK)
        rc = fail_h5(&w->c, DF_ESYS, "cannot write group /rng");
    return rc;
}

/* The metrics table, one float64 column per field. */
#define N_METRIC_COLS 10
static const char *const metric_cols[N_METRIC_COLS] = {
    "step", "epoch", "loss", "lr", "train_error", "test_error", "test_loss",
    "images_per_s", "mb_allreduced", "comm_wait_ms"};

static double metric_get(const df_metrics_row *r, int col)
{
    switch (col) {
    case 0: return (double)r->step;
    case 1: return r->epoch;
    case 2: return r->loss;
    case 3: return r->lr;
    case 4: return r->train_error;
    case 5: return r->test_error;
    case 6: return r->test_loss;
    case 7: return r->images_per_s;
    case 8: return r->mb_allreduced;
    default: return r->comm_wait_ms;
    }
}

static void metric_set(df_metrics_row *r, int col, double v)
{
    switch (col) {
    case 0: r->step = (int64_t)v; break;
    case 1: r->epoch = v; break;
    case 2: r->loss = v; break;
    case 3: r->lr = v; break;
    case 4: r->train_error = v; break;
    case 5: r->test_error = v; break;
    case 6: r->test_loss = v; break;
    case 7: r->images_per_s = v; break;
    case 8: r->mb_allreduced = v; break;
    default: r->comm_wait_ms = v; break;
    }
}

static int write_metrics(writer *w, const df_metrics *m)
{
    size_t n = m ? m->n : 0;
    double *col = df_calloc(n ? n : 1, sizeof *col, w->c.err);
    if (!col)
        return DF_ENOMEM;
    int rc = DF_OK;
    for (int c = 0; rc == DF_OK && c < N_METRIC_COLS; c++) {
        char dpath[64];
        hsize_t dims = n;
        for (size_t r = 0; r < n; r++)
            col[r] = metric_get(&m->rows[r], c);
        snprintf(dpath, sizeof dpath, "/metrics/%s", metric_cols[c]);
        rc = write_dataset(w, dpath, H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, 1, &dims, col, 0);
    }
    free(col);
    return rc;
}

static int write_contents(writer *w, const df_net *net, const float *momentum,
                          const df_config *cfg, const df_metrics *metrics,
                          const df_ckpt_meta *meta)
{
    int rc = write_root_attrs(w, net, meta);
    if (!rc) rc = write_config(w, cfg);
    if (!rc) rc = write_tensors(w, net, net->params, "/params");
    if (!rc) rc = write_fixed(w, net);
    if (!rc && momentum) rc = write_tensors(w, net, momentum, "/solver/momentum");
    if (!rc) rc = write_rng(w, meta);
    if (!rc) rc = write_metrics(w, metrics);
    return rc;
}

/* Bytes the file will take, roughly: the core driver grows its buffer by
 * this much at a time, so a good guess means one allocation, not many
 * copies. */
static size_t size_guess(const df_net *net, const float *momentum, const df_metrics *metrics)
{
    size_t floats = net->n_params * (momentum ? 2 : 1);
    for (int i = 0; i < net->n_layers; i++)
        for (int a = 0; a < net->layers[i].n_aux; a++)
            floats += net->layers[i].aux[a].count;     /* 4-byte elements */
    size_t rows = metrics ? metrics->n : 0;
    return 4 * floats + N_METRIC_COLS * 8 * rows + ((size_t)1 << 20);
}

/* The bytes of the open in-memory file, flushed, malloc'ed into *image
 * behind room for the integrity header, which fills that room: the file as
 * it goes to disk. H5Fget_file_image gives the HDF5 part, from the
 * superblock on, without the user block. */
static int take_image(writer *w, unsigned char **image, size_t *size)
{
    if (H5Fflush(w->file, H5F_SCOPE_GLOBAL) < 0)
        return fail_h5(&w->c, DF_ESYS, "cannot flush the in-memory file");
    ssize_t n = H5Fget_file_image(w->file, NULL, 0);
    if (n <= 0)
        return fail_h5(&w->c, DF_ESYS, "cannot take the file image");
    size_t total = (size_t)n + DF_CKPT_HEADER_BYTES;
    if (!(*image = malloc(total)))
        return df_fail(w->c.err, DF_ENOMEM, "%s: out of memory for a %zu-byte checkpoint",
                       w->c.path, total);
    if (H5Fget_file_image(w->file, *image + DF_CKPT_HEADER_BYTES, (size_t)n) != n)
        return fail_h5(&w->c, DF_ESYS, "cannot take the file image");
    df_checkpoint_seal(*image, total);
    *size = total;
    return DF_OK;
}

/* Build the whole file in memory (the core driver, no backing store) and
 * take its image. HDF5 never writes to the disk itself: when a write to a
 * file it holds open fails (disk full), it keeps the file open with no way
 * to abandon it, and crashes at exit trying to flush it again. The disk
 * writes are ours, with plain errno. Costs a second copy of the file in
 * memory for a moment. The file has a 512-byte user block (HDF5 puts its
 * superblock after it) for the integrity header. The default (earliest)
 * format bounds: with H5F_LIBVER_LATEST HDF5 1.10 would checksum its own
 * metadata, but the image H5Fget_file_image takes of an open file then
 * has a superblock that fails its checksum (measured); the integrity
 * header covers every byte anyway. */
static int build_image(const char *path, const df_net *net, const float *momentum,
                       const df_config *cfg, const df_metrics *metrics,
                       const df_ckpt_meta *meta, unsigned char **image, size_t *size,
                       df_error *err)
{
    writer w = {{path, err}, -1, -1};
    hid_t fapl = H5Pcreate(H5P_FILE_ACCESS), fcpl = H5Pcreate(H5P_FILE_CREATE);
    if (fapl < 0 || fcpl < 0 || H5Pset_fapl_core(fapl, size_guess(net, momentum, metrics), 0) < 0 ||
        H5Pset_userblock(fcpl, DF_CKPT_HEADER_BYTES) < 0) {
        int rc = fail_h5(&w.c, DF_ESYS, "cannot set up the HDF5 file access");
        if (fapl >= 0)
            H5Pclose(fapl);
        if (fcpl >= 0)
            H5Pclose(fcpl);
        return rc;
    }
    w.file = H5Fcreate(path, H5F_ACC_TRUNC, fcpl, fapl);
    H5Pclose(fapl);
    H5Pclose(fcpl);
    if (w.file < 0)
        return fail_h5(&w.c, DF_ESYS, "cannot create an HDF5 file in memory");
    w.lcpl = H5Pcreate(H5P_LINK_CREATE);
    int rc = w.lcpl < 0 || H5Pset_create_intermediate_group(w.lcpl, 1) < 0
                 ? fail_h5(&w.c, DF_ESYS, "cannot set up group creation")
                 : write_contents(&w, net, momentum, cfg, metrics, meta);
    if (w.lcpl >= 0)
        H5Pclose(w.lcpl);
    if (rc == DF_OK)
        rc = take_image(&w, image, size);
    if (H5Fclose(w.file) < 0 && rc == DF_OK)
        rc = fail_h5(&w.c, DF_ESYS, "cannot close the in-memory file");
    if (rc) {
        free(*image);
        *image = NULL;
    }
    return rc;
}

/* image -> path, fsync'ed: after this the bytes are on the disk. */
static int write_image(const char *path, const unsigned char *image, size_t size,
                       df_error *err)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0)
        return fail_sys(err, path, "cannot create");
    if (write_all(fd, (const char *)image, size) != 0 || fsync(fd) != 0) {
        int rc = fail_sys(err, path, "cannot write");
        close(fd);
        return rc;
    }
    return close(fd) == 0 ? DF_OK : fail_sys(err, path, "cannot write");
}

static int write_file(const char *path, const df_net *net, const float *momentum,
                      const df_config *cfg, const df_metrics *metrics,
                      const df_ckpt_meta *meta, df_error *err)
{
    unsigned char *image = NULL;
    size_t size = 0;
    int rc = build_image(path, net, momentum, cfg, metrics, meta, &image, &size, err);
    if (rc == DF_OK)
        rc = write_image(path, image, size, err);
    free(image);
    return rc;
}

/* Publish the synced tmp as fin: rename, fsync the directory.
 * *renamed: fin exists (and must be removed if a later step fails). */
static int publish(const char *dir, const char *tmp, const char *fin, int *renamed,
                   df_error *err)
{
    *renamed = 0;
    if (rename(tmp, fin) != 0)
        return fail_sys(err, fin, "cannot rename the temporary checkpoint into place");
    *renamed = 1;
    return sync_dir(dir, err);
}

int df_checkpoint_save(const char *dir, const df_net *net, const float *momentum,
                       const df_config *cfg, const df_metrics *metrics,
                       const df_ckpt_meta *meta, int keep,
                       char *written, size_t written_size, df_error *err)
{
    h5_quiet();
    char name[NAME_MAX_LEN], fin[DF_PATH_MAX + 64], tmp[DF_PATH_MAX + 2 * 64];
    snprintf(name, sizeof name, "ckpt-%08lld.h5", (long long)meta->step);
    if (meta->step < 0)
        return df_fail(err, DF_EINPUT, "%s: negative checkpoint step %lld", dir,
                       (long long)meta->step);
    if (!dir[0])
        return df_fail(err, DF_EINPUT, "empty checkpoint directory name");
    if (strlen(dir) >= DF_PATH_MAX)
        return df_fail(err, DF_EINPUT, "%s: checkpoint directory path too long", dir);
    snprintf(fin, sizeof fin, "%s/%s", dir, name);
    snprintf(tmp, sizeof tmp, "%s.tmp", fin);
    int rc = df_make_dirs(dir, "checkpoint directory", err);
    if (rc)
        return rc;
    int renamed = 0;
    rc = write_file(tmp, net, momentum, cfg, metrics, meta, err);
    if (rc == DF_OK)
        rc = publish(dir, tmp, fin, &renamed, err);
    if (rc) {
        /* a failed save leaves the directory as it was */
        unlink(renamed ? fin : tmp);
        return rc;
    }
    int replaced;
    rc = write_latest(dir, name, &replaced, err);
    if (rc) {
        if (!replaced)
            unlink(fin);    /* `latest` still names the previous one */
        return rc;
    }
    if (written && written_size)
        snprintf(written, written_size, "%s", fin);
    return prune(dir, keep, name, err);
}

/* ---- reading ---- */

/* Does every component of the absolute path dpath exist? (H5Lexists
 * itself fails, rather than answering no, on a missing parent.) */
static int path_exists(hid_t file, const char *dpath)
{
    char buf[256];
    snprintf(buf, sizeof buf, "%s", dpath);
    for (char *p = buf + 1;; p++) {
        if (*p != '/' && *p != '\0')
            continue;
        char c = *p;
        *p = '\0';
        if (H5Lexists(file, buf, H5P_DEFAULT) <= 0)
            return 0;
        *p = c;
        if (c == '\0')
            return 1;
    }
}

/* Number of elements of an attribute's or a dataset's dataspace. */
static hssize_t n_points(hid_t obj, int is_attr)
{
    hid_t space = is_attr ? H5Aget_space(obj) : H5Dget_space(obj);
    if (space < 0)
        return -1;
    hssize_t n = H5Sget_simple_extent_npoints(space);
    H5Sclose(space);
    return n;
}

static herr_t read_raw(hid_t obj, int is_attr, hid_t mtype, void *buf)
{
    return is_attr ? H5Aread(obj, mtype, buf)
                   : H5Dread(obj, mtype, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf);
}

static int fail_unreadable(const ck *c, int is_attr, const char *what)
{
    /* attributes live in the object header and have no checksum */
    return is_attr ? fail_h5(c, DF_EINPUT, "%s: unreadable (file damaged?)", what)
                   : fail_h5(c, DF_EINPUT,
                             "%s: checksum mismatch or unreadable data (file damaged?)", what);
}

/* One variable-length string (what h5py writes) into a malloc'ed copy.
 * The memory type takes the file's character set (h5py: UTF-8): HDF5
 * converts between none. */
static int read_vlen_string(const ck *c, hid_t obj, int is_attr, hid_t ftype, const char *what,
                            char **out)
{
    hid_t mt = H5Tcopy(H5T_C_S1);
    char *v = NULL;
    int rc = DF_OK;
    if (mt < 0 || H5Tset_size(mt, H5T_VARIABLE) < 0 ||
        H5Tset_cset(mt, H5Tget_cset(ftype)) < 0 || read_raw(obj, is_attr, mt, &v) < 0)
        rc = fail_unreadable(c, is_attr, what);
    else if (!(*out = strdup(v ? v : "")))
        rc = df_fail(c->err, DF_ENOMEM, "%s: out of memory reading %s", c->path, what);
    if (v)
        H5free_memory(v);
    if (mt >= 0)
        H5Tclose(mt);
    return rc;
}

/* A fixed-length string, read with its own type (no conversion, so no
 * padding rules to get wrong) and NUL-terminated here. */
static int read_fixed_string(const ck *c, hid_t obj, int is_attr, hid_t t, const char *what,
                             char **out)
{
    size_t size = H5Tget_size(t);
    /* A dataset's string must be in the file: HDF5 1.10 sizes the read from
     * the type but copies from the chunk as stored, and read past its own
     * buffer when a damaged type said more (fuzz_checkpoint,
     * tests/fuzz/regressions/checkpoint/config-string-longer-than-stored) */
    if (!is_attr && H5Dget_storage_size(obj) < size)
        return df_fail(c->err, DF_EINPUT,
                       "%s: %s: its type says %zu bytes but the file holds %llu (file damaged?)",
                       c->path, what, size, (unsigned long long)H5Dget_storage_size(obj));
    char *buf = df_calloc(size + 1, 1, c->err);
    if (!buf)
        return DF_ENOMEM;
    if (read_raw(obj, is_attr, t, buf) < 0) {
        int rc = fail_unreadable(c, is_attr, what);
        free(buf);
        return rc;
    }
    *out = buf;
    return DF_OK;
}

/* The one string in an attribute or a dataset, malloc'ed into *out. */
static int read_string(const ck *c, hid_t obj, int is_attr, const char *what, char **out)
{
    hid_t t = is_attr ? H5Aget_type(obj) : H5Dget_type(obj);
    if (t < 0)
        return fail_h5(c, DF_EINPUT, "%s: unreadable type", what);
    int rc = DF_OK;
    if (H5Tget_class(t) != H5T_STRING || n_points(obj, is_attr) != 1)
        rc = df_fail(c->err, DF_EINPUT, "%s: %s is not a single string", c->path, what);
    else if (H5Tis_variable_str(t) > 0)
        rc = read_vlen_string(c, obj, is_attr, t, what, out);
    else
        rc = read_fixed_string(c, obj, is_attr, t, what, out);
    H5Tclose(t);
    return rc;
}

static int read_attr_str(const ck *c, hid_t file, const char *name, char **out)
{
    if (H5Aexists(file, name) <= 0)
        return df_fail(c->err, DF_EINPUT, "%s: attribute '%s' missing", c->path, name);
    hid_t a = H5Aopen(file, name, H5P_DEFAULT);
    if (a < 0)
        return fail_h5(c, DF_EINPUT, "attribute '%s' unreadable", name);
    char what[64];
    snprintf(what, sizeof what, "attribute '%s'", name);
    int rc = read_string(c, a, 1, what, out);
    H5Aclose(a);
    return rc;
}

/* A numeric attribute converted to mtype (class: H5T_INTEGER/H5T_FLOAT). */
static int read_attr_num(const ck *c, hid_t file, const char *name, H5T_class_t cls,
                         hid_t mtype, void *out)
{
    if (H5Aexists(file, name) <= 0)
        return df_fail(c->err, DF_EINPUT, "%s: attribute '%s' missing", c->path, name);
    hid_t a = H5Aopen(file, name, H5P_DEFAULT);
    hid_t t = a < 0 ? -1 : H5Aget_type(a);
    hid_t s = a < 0 ? -1 : H5Aget_space(a);
    int rc = DF_OK;
    if (t < 0 || s < 0)
        rc = fail_h5(c, DF_EINPUT, "attribute '%s' unreadable", name);
    else if (H5Tget_class(t) != cls || H5Sget_simple_extent_npoints(s) != 1)
        rc = df_fail(c->err, DF_EINPUT, "%s: attribute '%s' is not a single %s", c->path,
                     name, cls == H5T_INTEGER ? "integer" : "number");
    else if (H5Aread(a, mtype, out) < 0)
        rc = fail_h5(c, DF_EINPUT, "attribute '%s' unreadable", name);
    if (s >= 0)
        H5Sclose(s);
    if (t >= 0)
        H5Tclose(t);
    if (a >= 0)
        H5Aclose(a);
    return rc;
}

static int read_attr_int(const ck *c, hid_t file, const char *name, int64_t lo,
                         int64_t hi, int64_t *out)
{
    int rc = read_attr_num(c, file, name, H5T_INTEGER, H5T_NATIVE_INT64, out);
    if (rc == DF_OK && (*out < lo || *out > hi))
        rc = df_fail(c->err, DF_EINPUT, "%s: attribute '%s' = %lld is out of range", c->path,
                     name, (long long)*out);
    return rc;
}

/* format and version: is this a checkpoint we can read at all? */
static int check_format(const ck *c, hid_t file)
{
    if (H5Aexists(file, "format") <= 0)
        return df_fail(c->err, DF_EINPUT,
                       "%s: not a deepfried checkpoint (attribute 'format' missing)", c->path);
    char *format = NULL;
    int rc = read_attr_str(c, file, "format", &format);
    if (rc == DF_OK && strcmp(format, DF_CKPT_FORMAT) != 0)
        rc = df_fail(c->err, DF_EINPUT,
                     "%s: not a deepfried checkpoint (attribute 'format' is '%.64s', not '%s')",
                     c->path, format, DF_CKPT_FORMAT);
    free(format);
    int64_t version = 0;
    if (rc == DF_OK)
        rc = read_attr_int(c, file, "version", 1, INT32_MAX, &version);
    if (rc == DF_OK && version > DF_CKPT_VERSION)
        rc = df_fail(c->err, DF_EINPUT,
                     "%s: checkpoint format version %lld is newer than this deepfried (%s) "
                     "reads (%d): upgrade deepfried", c->path, (long long)version,
                     PACKAGE_VERSION, DF_CKPT_VERSION);
    return rc;
}

static int read_meta(const ck *c, hid_t file, df_ckpt_meta *m)
{
    int64_t world = 0, batch = 0;
    char *created = NULL, *libver = NULL;
    memset(m, 0, sizeof *m);
    int rc = read_attr_int(c, file, "step", 0, INT64_MAX, &m->step);
    if (!rc) rc = read_attr_num(c, file, "epoch", H5T_FLOAT, H5T_NATIVE_DOUBLE, &m->epoch);
    if (!rc) rc = read_attr_int(c, file, "world_size", 1, INT32_MAX, &world);
    if (!rc) rc = read_attr_num(c, file, "seed", H5T_INTEGER, H5T_NATIVE_UINT64, &m->seed);
    if (!rc) rc = read_attr_int(c, file, "global_batch", 1, INT32_MAX, &batch);
    if (!rc) rc = read_attr_str(c, file, "created", &created);
    if (!rc) rc = read_attr_str(c, file, "library_version", &libver);
    if (!rc) {
        m->world_size = (int)world;
        m->global_batch = (int)batch;
        snprintf(m->created, sizeof m->created, "%s", created);
        snprintf(m->library_version, sizeof m->library_version, "%s", libver);
    }
    free(created);
    free(libver);
    return rc;
}

/* ---- opening the verified bytes ---- */

/* The file's bytes, read and verified (df_checkpoint_read_file). HDF5
 * reads them where they are: the file image callbacks below hand it this
 * buffer wherever it would otherwise copy the image (into the access
 * property lists, into the core driver), so a load holds the file once.
 * The buffer outlives the HDF5 file (freed after H5Fclose), and a file
 * opened read-only is never written to or resized. */
typedef struct image {
    unsigned char *bytes;
    size_t size;
} image;

static void *image_malloc(size_t size, H5FD_file_image_op_t op, void *udata)
{
    const image *im = udata;
    (void)op;
    return size == im->size ? im->bytes : NULL;
}

static void *image_memcpy(void *dest, const void *src, size_t size, H5FD_file_image_op_t op,
                          void *udata)
{
    (void)size, (void)op, (void)udata;
    return dest == src ? dest : NULL;   /* both are the buffer: nothing to copy */
}

static void *image_realloc(void *ptr, size_t size, H5FD_file_image_op_t op, void *udata)
{
    (void)ptr, (void)size, (void)op, (void)udata;
    return NULL;    /* read-only: never asked */
}

static herr_t image_free(void *ptr, H5FD_file_image_op_t op, void *udata)
{
    (void)ptr, (void)op, (void)udata;
    return 0;       /* the caller frees the buffer after H5Fclose */
}

static void *image_udata_copy(void *udata)
{
    return udata;
}

static herr_t image_udata_free(void *udata)
{
    (void)udata;
    return 0;
}

/* The verified bytes as a read-only HDF5 file (the core driver). The core
 * driver refuses an image under the name of an existing file and tells
 * open files apart by name: a name that cannot exist, one per open. */
static int open_image(const ck *c, image *im, hid_t *file)
{
    static unsigned serial;
    H5FD_file_image_callbacks_t callbacks = {image_malloc, image_memcpy, image_realloc,
                                             image_free, image_udata_copy, image_udata_free,
                                             im};
    hid_t fapl = H5Pcreate(H5P_FILE_ACCESS);
    if (fapl < 0 || H5Pset_fapl_core(fapl, 1 << 16, 0) < 0 ||
        H5Pset_file_image_callbacks(fapl, &callbacks) < 0 ||
        H5Pset_file_image(fapl, im->bytes, im->size) < 0) {
        int rc = fail_h5(c, DF_ESYS, "cannot set up reading the file in memory");
        if (fapl >= 0)
            H5Pclose(fapl);
        return rc;
    }
    char name[64];
    snprintf(name, sizeof name, "/dev/null/deepfried-checkpoint-%u", ++serial);
    *file = H5Fopen(name, H5F_ACC_RDONLY, fapl);
    int rc = *file < 0 ? fail_h5(c, DF_EINPUT, "unreadable HDF5 file behind a matching "
                                 "integrity header (not written by deepfried?)")
                       : DF_OK;
    H5Pclose(fapl);
    return rc;
}

/* Read and verify the file, open it and check it is a checkpoint of a
 * version we read; meta (may be NULL) gets the root attributes. On success
 * the caller closes *file, then frees im->bytes. */
static int open_checkpoint(const ck *c, image *im, hid_t *file, df_ckpt_meta *meta)
{
    h5_quiet();
    *file = -1;
    int rc = df_checkpoint_read_file(c->path, &im->bytes, &im->size, c->err);
    if (rc)
        return rc;
    rc = open_image(c, im, file);
    df_ckpt_meta scratch;
    if (rc == DF_OK)
        rc = check_format(c, *file);
    if (rc == DF_OK)
        rc = read_meta(c, *file, meta ? meta : &scratch);
    if (rc) {
        if (*file >= 0)
            H5Fclose(*file);
        *file = -1;
        free(im->bytes);
        im->bytes = NULL;
    }
    return rc;
}

int df_checkpoint_read_config(const char *path, char **config_text,
                              df_ckpt_meta *meta, df_error *err)
{
    ck c = {path, err};
    hid_t file;
    image im;
    *config_text = NULL;
    int rc = open_checkpoint(&c, &im, &file, meta);
    if (rc)
        return rc;
    if (!path_exists(file, "/config")) {
        rc = df_fail(err, DF_EINPUT, "%s: dataset /config missing", path);
    } else {
        hid_t d = H5Dopen2(file, "/config", H5P_DEFAULT);
        if (d < 0)
            rc = fail_h5(&c, DF_EINPUT, "dataset /config unreadable");
        else
            rc = read_string(&c, d, 0, "dataset /config", config_text);
        if (d >= 0)
            H5Dclose(d);
    }
    H5Fclose(file);
    free(im.bytes);
    return rc;
}

/* What the net expects of one dataset. */
typedef struct want {
    const char *dpath;      /* /params/ip1/weight */
    const char *what;       /* "layer ip1 tensor weight", for messages */
    int rank;
    const int *dims;
    H5T_class_t cls;        /* H5T_FLOAT or H5T_INTEGER */
    hid_t mtype;            /* read converted to this */
} want;

static void format_dims(char *buf, size_t cap, int rank, const hsize_t *dims)
{
    size_t n = (size_t)snprintf(buf, cap, "[");
    for (int i = 0; i < rank && n < cap; i++)
        n += (size_t)snprintf(buf + n, cap - n, "%s%llu", i ? "," : "",
                              (unsigned long long)dims[i]);
    if (n < cap)
        snprintf(buf + n, cap - n, "]");
}

static int check_shape(const ck *c, hid_t dset, const want *w)
{
    hid_t space = H5Dget_space(dset);
    if (space < 0)
        return fail_h5(c, DF_EINPUT, "dataset %s: unreadable shape", w->dpath);
    hsize_t got[H5S_MAX_RANK], need[4];
    int rank = H5Sget_simple_extent_dims(space, got, NULL);
    H5Sclose(space);
    if (rank < 0)
        return df_fail(c->err, DF_EINPUT, "%s: dataset %s: unreadable shape", c->path, w->dpath);
    to_hdims(w->rank, w->dims, need);
    int same = rank == w->rank;
    for (int i = 0; same && i < rank; i++)
        same = got[i] == need[i];
    if (same)
        return DF_OK;
    char a[128], b[128];
    format_dims(a, sizeof a, rank, got);
    format_dims(b, sizeof b, w->rank, need);
    return df_fail(c->err, DF_EINPUT, "%s: %s has shape %s in the file but the config needs %s",
                   c->path, w->what, a, b);
}

/* The kind and the element size the writer uses (float32, int32,
 * float64). The size matters beyond the format: HDF5 1.10 sizes its
 * conversion from the stored element size but reads the chunk as stored,
 * so a damaged size made it read past its own buffer (fuzz_checkpoint,
 * tests/fuzz/regressions/checkpoint/perm-element-size-63). */
static int check_class(const ck *c, hid_t dset, const want *w)
{
    hid_t t = H5Dget_type(dset);
    H5T_class_t cls = t < 0 ? H5T_NO_CLASS : H5Tget_class(t);
    size_t size = t < 0 ? 0 : H5Tget_size(t), want_size = H5Tget_size(w->mtype);
    if (t >= 0)
        H5Tclose(t);
    if (cls != w->cls)
        return df_fail(c->err, DF_EINPUT, "%s: dataset %s is not of %s type", c->path,
                       w->dpath, w->cls == H5T_FLOAT ? "floating-point" : "integer");
    if (size != want_size)
        return df_fail(c->err, DF_EINPUT,
                       "%s: dataset %s has %zu-byte elements, not %zu as deepfried writes",
                       c->path, w->dpath, size, want_size);
    return DF_OK;
}

/* Read the dataset w describes into buf after checking that it exists and
 * has exactly the expected shape and kind. HDF5 verifies each chunk's
 * fletcher32 checksum during the read (H5Pset_edc_check is on by default):
 * a damaged byte fails H5Dread. */
static int read_checked(const ck *c, hid_t file, const want *w, void *buf)
{
    if (!path_exists(file, w->dpath))
        return df_fail(c->err, DF_EINPUT, "%s: %s is missing (no dataset %s)", c->path,
                       w->what, w->dpath);
    hid_t d = H5Dopen2(file, w->dpath, H5P_DEFAULT);
    if (d < 0)
        return fail_h5(c, DF_EINPUT, "dataset %s: unreadable (file damaged?)", w->dpath);
    int rc = check_shape(c, d, w);
    if (rc == DF_OK)
        rc = check_class(c, d, w);
    size_t count = 1;
    for (int i = 0; i < w->rank; i++)
        count *= (size_t)w->dims[i];
    if (rc == DF_OK && count && H5Dread(d, w->mtype, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf) < 0)
        rc = fail_h5(c, DF_EINPUT, "dataset %s: checksum mismatch or unreadable data "
                     "(file damaged?)", w->dpath);
    H5Dclose(d);
    return rc;
}

/* A checkpoint with NaN or Inf weights is of no use to continue from. */
static int check_finite(const ck *c, const want *w, const float *x, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!isfinite(x[i]))
            return df_fail(c->err, DF_EINPUT,
                           "%s: %s (dataset %s): element %zu is %s (training had diverged, "
                           "or the file is damaged)", c->path, w->what, w->dpath, i,
                           isnan(x[i]) ? "NaN" : "Inf");
    return DF_OK;
}

static int read_floats(const ck *c, hid_t file, const char *dpath, const char *what,
                       int rank, const int *dims, float *buf, size_t count)
{
    want w = {dpath, what, rank, dims, H5T_FLOAT, H5T_NATIVE_FLOAT};
    int rc = read_checked(c, file, &w, buf);
    return rc ? rc : check_finite(c, &w, buf, count);
}

/* Every tensor of net from <prefix>/<layer>/<tensor> into base (laid out
 * like net->params). */
static int read_tensors(const ck *c, hid_t file, const df_net *net, const char *prefix,
                        const char *label, float *base)
{
    for (int i = 0; i < net->n_layers; i++) {
        const df_layer *l = &net->layers[i];
        for (int t = 0; t < l->n_tensors; t++) {
            const df_tensor *x = &l->tensors[t];
            char dpath[256], what[160];
            snprintf(dpath, sizeof dpath, "%s/%s/%s", prefix, l->spec.name, x->name);
            snprintf(what, sizeof what, "%slayer %s tensor %s", label, l->spec.name, x->name);
            int rc = read_floats(c, file, dpath, what, x->rank, x->dims, base + x->offset,
                                 x->count);
            if (rc)
                return rc;
        }
    }
    return DF_OK;
}

/* Scratch for everything load reads, so that a failure half way leaves
 * the caller's net, momentum and metrics as they were. */
typedef struct scratch {
    float *params, *momentum;
    void *aux[DF_MAX_LAYERS][DF_MAX_AUX];
    df_metrics metrics;
    df_ckpt_meta meta;
} scratch;

static void scratch_free(scratch *s)
{
    free(s->params);
    free(s->momentum);
    for (int i = 0; i < DF_MAX_LAYERS; i++)
        for (int a = 0; a < DF_MAX_AUX; a++)
            free(s->aux[i][a]);
    df_metrics_free(&s->metrics);
}

static int scratch_alloc(scratch *s, const df_net *net, int with_momentum, df_error *err)
{
    memset(s, 0, sizeof *s);
    size_t n = net->n_params ? net->n_params : 1;
    s->params = df_calloc(n, sizeof(float), err);
    if (!s->params || (with_momentum && !(s->momentum = df_calloc(n, sizeof(float), err))))
        return DF_ENOMEM;
    for (int i = 0; i < net->n_layers; i++) {
        const df_layer *l = &net->layers[i];
        for (int a = 0; a < l->n_aux; a++)
            if (!(s->aux[i][a] = df_calloc(l->aux[a].count ? l->aux[a].count : 1, 4, err)))
                return DF_ENOMEM;
    }
    return DF_OK;
}

/* One aux buffer from /fixed/<layer>/<name>, validated: floats finite,
 * and whatever the layer's own check demands (a permutation). */
static int read_aux(const ck *c, hid_t file, const df_layer *l, const df_aux *x, void *buf)
{
    char dpath[256], what[160];
    snprintf(dpath, sizeof dpath, "/fixed/%s/%s", l->spec.name, x->name);
    snprintf(what, sizeof what, "layer %s %s", l->spec.name, x->what);
    if (x->type == DF_AUX_FLOAT32)
        return read_floats(c, file, dpath, what, x->rank, x->dims, buf, x->count);
    want w = {dpath, what, x->rank, x->dims, H5T_INTEGER, H5T_NATIVE_INT32};
    int rc = read_checked(c, file, &w, buf);
    char why[512] = "";
    if (rc == DF_OK && x->check && (rc = x->check(x, buf, why, sizeof why)) != DF_OK)
        return df_fail(c->err, rc, "%s: dataset %s: %s", c->path, dpath, why);
    return rc;
}

/* Every layer's aux buffers into scratch. */
static int read_fixed(const ck *c, hid_t file, const df_net *net, scratch *s)
{
    for (int i = 0; i < net->n_layers; i++) {
        const df_layer *l = &net->layers[i];
        for (int a = 0; a < l->n_aux; a++) {
            int rc = read_aux(c, file, l, &l->aux[a], s->aux[i][a]);
            if (rc)
                return rc;
        }
    }
    return DF_OK;
}

/* Length of the rank-1 dataset dpath, which must exist. */
static int column_length(const ck *c, hid_t file, const char *dpath, size_t *n)
{
    if (!path_exists(file, dpath))
        return df_fail(c->err, DF_EINPUT, "%s: metrics column %s missing", c->path, dpath);
    hid_t d = H5Dopen2(file, dpath, H5P_DEFAULT);
    hid_t space = d < 0 ? -1 : H5Dget_space(d);
    hsize_t dims[H5S_MAX_RANK];
    int rank = space < 0 ? -1 : H5Sget_simple_extent_dims(space, dims, NULL);
    int rc = rank < 0 ? fail_h5(c, DF_EINPUT, "dataset %s: unreadable (file damaged?)", dpath)
             : rank != 1 ? df_fail(c->err, DF_EINPUT, "%s: dataset %s is not a column",
                                   c->path, dpath)
                         : DF_OK;
    if (rc == DF_OK)
        *n = (size_t)dims[0];
    if (space >= 0)
        H5Sclose(space);
    if (d >= 0)
        H5Dclose(d);
    return rc;
}

/* /metrics/<column> columns of equal length -> rows in s->metrics. */
static int read_metrics(const ck *c, hid_t file, scratch *s)
{
    size_t n = 0;
    int rc = column_length(c, file, "/metrics/step", &n);
    if (rc)
        return rc;
    double *cols = df_calloc(n ? n * N_METRIC_COLS : 1, sizeof *cols, c->err);
    if (!cols)
        return DF_ENOMEM;
    for (int k = 0; rc == DF_OK && k < N_METRIC_COLS; k++) {
        char dpath[64];
        size_t len = 0;
        snprintf(dpath, sizeof dpath, "/metrics/%s", metric_cols[k]);
        rc = column_length(c, file, dpath, &len);
        if (rc == DF_OK && len != n)
            rc = df_fail(c->err, DF_EINPUT, "%s: metrics column %s has %zu rows, step has %zu",
                         c->path, dpath, len, n);
        int dims[1] = {(int)n};
        want w = {dpath, dpath, 1, dims, H5T_FLOAT, H5T_NATIVE_DOUBLE};
        if (rc == DF_OK && n > INT32_MAX)
            rc = df_fail(c->err, DF_EINPUT, "%s: metrics table too long", c->path);
        if (rc == DF_OK)
            rc = read_checked(c, file, &w, cols + (size_t)k * n);
    }
    for (size_t r = 0; rc == DF_OK && r < n; r++) {
        df_metrics_row row;
        memset(&row, 0, sizeof row);
        for (int k = 0; k < N_METRIC_COLS; k++)
            metric_set(&row, k, cols[(size_t)k * n + r]);
        rc = df_metrics_add(&s->metrics, &row, c->err);
    }
    free(cols);
    return rc;
}

static int read_all(const ck *c, hid_t file, const df_net *net, int with_momentum,
                    int with_metrics, scratch *s)
{
    int rc = read_tensors(c, file, net, "/params", "", s->params);
    if (!rc) rc = read_fixed(c, file, net, s);
    if (!rc && with_momentum)
        rc = read_tensors(c, file, net, "/solver/momentum", "momentum of ", s->momentum);
    if (!rc && with_metrics) rc = read_metrics(c, file, s);
    uint64_t n_params = 0;
    if (!rc) rc = read_attr_num(c, file, "n_params", H5T_INTEGER, H5T_NATIVE_UINT64, &n_params);
    /* every tensor matched, so this only catches a file with extra ones */
    if (!rc && n_params != net->n_params)
        rc = df_fail(c->err, DF_EINPUT,
                     "%s: the file holds %llu trainable parameters but the config's network "
                     "has %zu", c->path, (unsigned long long)n_params, net->n_params);
    return rc;
}

/* All reads succeeded: hand everything over. */
static void commit(df_net *net, float *momentum, df_metrics *metrics, df_ckpt_meta *meta,
                   scratch *s)
{
    memcpy(net->params, s->params, net->n_params * sizeof(float));
    if (momentum)
        memcpy(momentum, s->momentum, net->n_params * sizeof(float));
    for (int i = 0; i < net->n_layers; i++) {
        df_layer *l = &net->layers[i];
        for (int a = 0; a < l->n_aux; a++)
            memcpy(l->aux[a].data, s->aux[i][a], l->aux[a].count * 4);
    }
    if (metrics) {
        df_metrics_free(metrics);
        *metrics = s->metrics;
        memset(&s->metrics, 0, sizeof s->metrics);
    }
    if (meta)
        *meta = s->meta;
}

int df_checkpoint_load(const char *path, df_net *net, float *momentum,
                       df_metrics *metrics, df_ckpt_meta *meta, df_error *err)
{
    ck c = {path, err};
    scratch s;
    int rc = scratch_alloc(&s, net, momentum != NULL, err);
    hid_t file = -1;
    image im = {NULL, 0};
    if (rc == DF_OK)
        rc = open_checkpoint(&c, &im, &file, &s.meta);
    if (rc == DF_OK)
        rc = read_all(&c, file, net, momentum != NULL, metrics != NULL, &s);
    if (file >= 0 && H5Fclose(file) < 0 && rc == DF_OK)
        rc = fail_h5(&c, DF_EINPUT, "cannot close");
    free(im.bytes);
    if (rc == DF_OK)
        commit(net, momentum, metrics, meta, &s);
    scratch_free(&s);
    return rc;
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
