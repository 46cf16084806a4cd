/* Reading a checkpoint: the whole file is read and its integrity header
 * verified before HDF5 sees any byte, then opened in memory; every dataset
 * is checked against what the net expects (shape, kind, checksum, finite
 * values, each aux buffer's own check) into scratch, and handed over only
 * when all of it is good. */
#include "config.h"
#include "io/checkpoint_internal.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- reading ---- */

/* format and version: is this a checkpoint we can read at all? */
static int check_format(const ck *c, hid_t file)
{
    if (H5Aexists(file, "format") <= 0)
        return df_fail(c->err, DF_EINPUT,
                       "%s: not a deepfried checkpoint (attribute 'format' missing)", c->path);
    char *format = NULL;
    int rc = ckpt_read_attr_str(c, file, "format", &format);
    if (rc == DF_OK && strcmp(format, DF_CKPT_FORMAT) != 0)
        rc = df_fail(c->err, DF_EINPUT,
                     "%s: not a deepfried checkpoint (attribute 'format' is '%.64s', not '%s')",
                     c->path, format, DF_CKPT_FORMAT);
    free(format);
    int64_t version = 0;
    if (rc == DF_OK)
        rc = ckpt_read_attr_int(c, file, "version", 1, INT32_MAX, &version);
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
    int rc = ckpt_read_attr_int(c, file, "step", 0, INT64_MAX, &m->step);
    if (!rc) rc = ckpt_read_attr_num(c, file, "epoch", H5T_FLOAT, H5T_NATIVE_DOUBLE, &m->epoch);
    if (!rc) rc = ckpt_read_attr_int(c, file, "world_size", 1, INT32_MAX, &world);
    if (!rc) rc = ckpt_read_attr_num(c, file, "seed", H5T_INTEGER, H5T_NATIVE_UINT64, &m->seed);
    if (!rc) rc = ckpt_read_attr_int(c, file, "global_batch", 1, INT32_MAX, &batch);
    if (!rc) rc = ckpt_read_attr_str(c, file, "created", &created);
    if (!rc) rc = ckpt_read_attr_str(c, file, "library_version", &libver);
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
        int rc = ckpt_fail_h5(c, DF_ESYS, "cannot set up reading the file in memory");
        if (fapl >= 0)
            H5Pclose(fapl);
        return rc;
    }
    char name[64];
    snprintf(name, sizeof name, "/dev/null/deepfried-checkpoint-%u", ++serial);
    *file = H5Fopen(name, H5F_ACC_RDONLY, fapl);
    int rc = *file < 0 ? ckpt_fail_h5(c, DF_EINPUT, "unreadable HDF5 file behind a matching "
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
    ckpt_h5_quiet();
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
    if (!ckpt_path_exists(file, "/config")) {
        rc = df_fail(err, DF_EINPUT, "%s: dataset /config missing", path);
    } else {
        hid_t d = H5Dopen2(file, "/config", H5P_DEFAULT);
        if (d < 0)
            rc = ckpt_fail_h5(&c, DF_EINPUT, "dataset /config unreadable");
        else
            rc = ckpt_read_string(&c, d, 0, "dataset /config", config_text);
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
        return ckpt_fail_h5(c, DF_EINPUT, "dataset %s: unreadable shape", w->dpath);
    hsize_t got[H5S_MAX_RANK], need[4];
    int rank = H5Sget_simple_extent_dims(space, got, NULL);
    H5Sclose(space);
    if (rank < 0)
        return df_fail(c->err, DF_EINPUT, "%s: dataset %s: unreadable shape", c->path, w->dpath);
    ckpt_to_hdims(w->rank, w->dims, need);
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
    if (!ckpt_path_exists(file, w->dpath))
        return df_fail(c->err, DF_EINPUT, "%s: %s is missing (no dataset %s)", c->path,
                       w->what, w->dpath);
    hid_t d = H5Dopen2(file, w->dpath, H5P_DEFAULT);
    if (d < 0)
        return ckpt_fail_h5(c, DF_EINPUT, "dataset %s: unreadable (file damaged?)", w->dpath);
    int rc = check_shape(c, d, w);
    if (rc == DF_OK)
        rc = check_class(c, d, w);
    size_t count = 1;
    for (int i = 0; i < w->rank; i++)
        count *= (size_t)w->dims[i];
    if (rc == DF_OK && count && H5Dread(d, w->mtype, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf) < 0)
        rc = ckpt_fail_h5(c, DF_EINPUT, "dataset %s: checksum mismatch or unreadable data "
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
    if (!ckpt_path_exists(file, dpath))
        return df_fail(c->err, DF_EINPUT, "%s: metrics column %s missing", c->path, dpath);
    hid_t d = H5Dopen2(file, dpath, H5P_DEFAULT);
    hid_t space = d < 0 ? -1 : H5Dget_space(d);
    hsize_t dims[H5S_MAX_RANK];
    int rank = space < 0 ? -1 : H5Sget_simple_extent_dims(space, dims, NULL);
    int rc = rank < 0 ? ckpt_fail_h5(c, DF_EINPUT, "dataset %s: unreadable (file damaged?)", dpath)
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
        snprintf(dpath, sizeof dpath, "/metrics/%s", ckpt_metric_cols[k]);
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
            ckpt_metric_set(&row, k, cols[(size_t)k * n + r]);
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
    if (!rc) rc = ckpt_read_attr_num(c, file, "n_params", H5T_INTEGER, H5T_NATIVE_UINT64, &n_params);
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
        rc = ckpt_fail_h5(&c, DF_EINPUT, "cannot close");
    free(im.bytes);
    if (rc == DF_OK)
        commit(net, momentum, metrics, meta, &s);
    scratch_free(&s);
    return rc;
}
