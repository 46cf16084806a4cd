/* HDF5 plumbing shared by the checkpoint writer and reader: every HDF5
 * failure becomes one df_error line naming the file, the object and the
 * cause (HDF5's own stack printing is off); strings, attributes, and the
 * metrics columns both sides lay out alike. */
#include "config.h"
#include "io/checkpoint_internal.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>


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

int ckpt_fail_h5(const ck *c, int code, const char *fmt, ...)
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

int ckpt_fail_sys(df_error *err, const char *path, const char *what)
{
    return df_fail(err, DF_ESYS, "%s: %s: %s", path, what, strerror(errno));
}

void ckpt_h5_quiet(void)
{
    /* errors are values: HDF5 must not print its stack to stderr */
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
}

/* A fixed-length, NUL-terminated string type: what h5dump prints as text
 * and h5py reads as bytes. */
hid_t ckpt_string_type(size_t len)
{
    hid_t t = H5Tcopy(H5T_C_S1);
    if (t >= 0 && H5Tset_size(t, len + 1) < 0) {
        H5Tclose(t);
        return -1;
    }
    return t;
}

void ckpt_to_hdims(int rank, const int *dims, hsize_t *out)
{
    for (int i = 0; i < rank; i++)
        out[i] = (hsize_t)dims[i];
}

/* The metrics table, one float64 column per field. */
const char *const ckpt_metric_cols[N_METRIC_COLS] = {
    "step", "epoch", "loss", "lr", "train_error", "test_error", "test_loss",
    "images_per_s", "mb_allreduced", "comm_wait_ms"};

double ckpt_metric_get(const df_metrics_row *r, int col)
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

void ckpt_metric_set(df_metrics_row *r, int col, double v)
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

/* Does every component of the absolute path dpath exist? (H5Lexists
 * itself fails, rather than answering no, on a missing parent.) */
int ckpt_path_exists(hid_t file, const char *dpath)
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
    return is_attr ? ckpt_fail_h5(c, DF_EINPUT, "%s: unreadable (file damaged?)", what)
                   : ckpt_fail_h5(c, DF_EINPUT,
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
int ckpt_read_string(const ck *c, hid_t obj, int is_attr, const char *what, char **out)
{
    hid_t t = is_attr ? H5Aget_type(obj) : H5Dget_type(obj);
    if (t < 0)
        return ckpt_fail_h5(c, DF_EINPUT, "%s: unreadable type", what);
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

int ckpt_read_attr_str(const ck *c, hid_t file, const char *name, char **out)
{
    if (H5Aexists(file, name) <= 0)
        return df_fail(c->err, DF_EINPUT, "%s: attribute '%s' missing", c->path, name);
    hid_t a = H5Aopen(file, name, H5P_DEFAULT);
    if (a < 0)
        return ckpt_fail_h5(c, DF_EINPUT, "attribute '%s' unreadable", name);
    char what[64];
    snprintf(what, sizeof what, "attribute '%s'", name);
    int rc = ckpt_read_string(c, a, 1, what, out);
    H5Aclose(a);
    return rc;
}

/* A numeric attribute converted to mtype (class: H5T_INTEGER/H5T_FLOAT). */
int ckpt_read_attr_num(const ck *c, hid_t file, const char *name, H5T_class_t cls,
                         hid_t mtype, void *out)
{
    if (H5Aexists(file, name) <= 0)
        return df_fail(c->err, DF_EINPUT, "%s: attribute '%s' missing", c->path, name);
    hid_t a = H5Aopen(file, name, H5P_DEFAULT);
    hid_t t = a < 0 ? -1 : H5Aget_type(a);
    hid_t s = a < 0 ? -1 : H5Aget_space(a);
    int rc = DF_OK;
    if (t < 0 || s < 0)
        rc = ckpt_fail_h5(c, DF_EINPUT, "attribute '%s' unreadable", name);
    else if (H5Tget_class(t) != cls || H5Sget_simple_extent_npoints(s) != 1)
        rc = df_fail(c->err, DF_EINPUT, "%s: attribute '%s' is not a single %s", c->path,
                     name, cls == H5T_INTEGER ? "integer" : "number");
    else if (H5Aread(a, mtype, out) < 0)
        rc = ckpt_fail_h5(c, DF_EINPUT, "attribute '%s' unreadable", name);
    if (s >= 0)
        H5Sclose(s);
    if (t >= 0)
        H5Tclose(t);
    if (a >= 0)
        H5Aclose(a);
    return rc;
}

int ckpt_read_attr_int(const ck *c, hid_t file, const char *name, int64_t lo,
                         int64_t hi, int64_t *out)
{
    int rc = ckpt_read_attr_num(c, file, name, H5T_INTEGER, H5T_NATIVE_INT64, out);
    if (rc == DF_OK && (*out < lo || *out > hi))
        rc = df_fail(c->err, DF_EINPUT, "%s: attribute '%s' = %lld is out of range", c->path,
                     name, (long long)*out);
    return rc;
}

