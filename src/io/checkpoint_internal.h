/* The checkpoint module's private parts, shared by its files:
 *   checkpoint_dir.c    the directory: fsync, atomic small files, `latest`,
 *                       listing and pruning
 *   checkpoint_write.c  the layout written through HDF5, and the save
 *   checkpoint_read.c   the validated load
 *   checkpoint_h5.c     HDF5 plumbing both sides use: errors, strings,
 *                       attributes, the metrics columns
 *   checkpoint_seal.c   the integrity header
 * Private to src/io/, the only folder that includes hdf5.h. */
#ifndef DEEPFRIED_IO_CHECKPOINT_INTERNAL_H
#define DEEPFRIED_IO_CHECKPOINT_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include <hdf5.h>

#include "deepfried/checkpoint.h"

#define NAME_MAX_LEN 64         /* "ckpt-<up to 19 digits>.h5.tmp" fits */

/* The file every message names and where the message goes. */
typedef struct ck {
    const char *path;
    df_error *err;
} ck;

/* "path: message [HDF5: cause]" where cause is HDF5's reason for the
 * failure of the call just made. */
int ckpt_fail_h5(const ck *c, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* "path: what: strerror(errno)", DF_ESYS */
int ckpt_fail_sys(df_error *err, const char *path, const char *what);
/* errors are values: HDF5 must not print its stack to stderr */
void ckpt_h5_quiet(void);

hid_t ckpt_string_type(size_t len);
void ckpt_to_hdims(int rank, const int *dims, hsize_t *out);

/* The metrics table, one float64 column per field. */
#define N_METRIC_COLS 10
extern const char *const ckpt_metric_cols[N_METRIC_COLS];
double ckpt_metric_get(const df_metrics_row *r, int col);
void ckpt_metric_set(df_metrics_row *r, int col, double v);

/* reading */
int ckpt_path_exists(hid_t file, const char *dpath);
int ckpt_read_string(const ck *c, hid_t obj, int is_attr, const char *what, char **out);
int ckpt_read_attr_str(const ck *c, hid_t file, const char *name, char **out);
int ckpt_read_attr_num(const ck *c, hid_t file, const char *name, H5T_class_t cls,
                       hid_t mtype, void *out);
int ckpt_read_attr_int(const ck *c, hid_t file, const char *name, int64_t lo, int64_t hi,
                       int64_t *out);

/* the directory */
int ckpt_write_image(const char *path, const unsigned char *image, size_t size, df_error *err);
int ckpt_publish(const char *dir, const char *tmp, const char *fin, int *renamed, df_error *err);
int ckpt_write_latest(const char *dir, const char *name, int *replaced, df_error *err);
int ckpt_prune(const char *dir, int keep, const char *just_written, df_error *err);

#endif
