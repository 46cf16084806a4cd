/* Writing a checkpoint: the layout of include/deepfried/checkpoint.h and
 * docs/checkpoint-format.md, built in memory through HDF5 and sealed with
 * the integrity header (checkpoint_seal.c), then the atomic save. */
#include "config.h"
#include "io/checkpoint_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

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
    int rc = wr < 0 ? ckpt_fail_h5(&w->c, DF_ESYS, "cannot write dataset %s", dpath) : DF_OK;
    if (dset >= 0 && H5Dclose(dset) < 0 && rc == DF_OK)
        rc = ckpt_fail_h5(&w->c, DF_ESYS, "cannot write dataset %s", dpath);
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
    int rc = wr < 0 ? ckpt_fail_h5(&w->c, DF_ESYS, "cannot write attribute '%s'", name) : DF_OK;
    if (attr >= 0)
        H5Aclose(attr);
    if (space >= 0)
        H5Sclose(space);
    return rc;
}

static int write_attr_str(writer *w, hid_t loc, const char *name, const char *s)
{
    hid_t t = ckpt_string_type(strlen(s));
    if (t < 0)
        return ckpt_fail_h5(&w->c, DF_ESYS, "cannot write attribute '%s'", name);
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
    hid_t t = ckpt_string_type(strlen(text));
    hsize_t one = 1;
    int rc = t < 0 ? ckpt_fail_h5(&w->c, DF_ESYS, "cannot write dataset /config")
                   : write_dataset(w, "/config", t, t, 1, &one, text, 0);
    if (t >= 0)
        H5Tclose(t);
    free(text);
    return rc;
}

/* One array of layer l as <group>/<layer>/<name>: float32, or int32. */
static int write_layer_array(writer *w, const char *group, const df_layer *l, const char *name,
                             int rank, const int *dims, int is_int, const void *data,
                             int deflate)
{
    char dpath[256];
    hsize_t hdims[4];
    snprintf(dpath, sizeof dpath, "%s/%s/%s", group, l->spec.name, name);
    ckpt_to_hdims(rank, dims, hdims);
    return write_dataset(w, dpath, is_int ? H5T_STD_I32LE : H5T_IEEE_F32LE,
                         is_int ? H5T_NATIVE_INT32 : H5T_NATIVE_FLOAT, rank, hdims, data, deflate);
}

/* Every tensor of the flat buffer base as <prefix>/<layer>/<tensor>. */
static int write_tensors(writer *w, const df_net *net, const float *base,
                         const char *prefix)
{
    int rc = DF_OK;
    for (int i = 0; rc == DF_OK && i < net->n_layers; i++) {
        const df_layer *l = &net->layers[i];
        for (int t = 0; rc == DF_OK && t < l->n_tensors; t++)
            rc = write_layer_array(w, prefix, l, l->tensors[t].name, l->tensors[t].rank,
                                   l->tensors[t].dims, 0, base + l->tensors[t].offset,
                                   DF_CKPT_DEFLATE_PARAMS);
    }
    return rc;
}

/* Every layer's aux buffers as /fixed/<layer>/<name> (Fastfood's perm, and
 * S, G, B when not adaptive); the int32 ones (permutations) compress. */
static int write_fixed(writer *w, const df_net *net)
{
    int rc = DF_OK;
    for (int i = 0; rc == DF_OK && i < net->n_layers; i++) {
        const df_layer *l = &net->layers[i];
        for (int a = 0; rc == DF_OK && a < l->n_aux; a++) {
            const df_aux *x = &l->aux[a];
            int is_int = x->type == DF_AUX_INT32;
            rc = write_layer_array(w, "/fixed", l, x->name, x->rank, x->dims, is_int, x->data,
                                   is_int ? DF_CKPT_DEFLATE_PERM : DF_CKPT_DEFLATE_PARAMS);
        }
    }
    return rc;
}

/* Every random draw is keyed by (seed, step, what it is for), so the seed
 * and the step are all the generator state there is. */
static int write_rng(writer *w, const df_ckpt_meta *m)
{
    hid_t g = H5Gcreate2(w->file, "/rng", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    if (g < 0)
        return ckpt_fail_h5(&w->c, DF_ESYS, "cannot create group /rng");
    int rc = write_attr_str(w, g, "generator", "counter-based splitmix64");
    if (!rc)
        rc = write_attr(w, g, "seed", H5T_STD_U64LE, H5T_NATIVE_UINT64, &m->seed);
    if (H5Gclose(g) < 0 && rc == DF_OK)
        rc = ckpt_fail_h5(&w->c, DF_ESYS, "cannot write group /rng");
    return rc;
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
            col[r] = ckpt_metric_get(&m->rows[r], c);
        snprintf(dpath, sizeof dpath, "/metrics/%s", ckpt_metric_cols[c]);
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
        return ckpt_fail_h5(&w->c, DF_ESYS, "cannot flush the in-memory file");
    ssize_t n = H5Fget_file_image(w->file, NULL, 0);
    if (n <= 0)
        return ckpt_fail_h5(&w->c, DF_ESYS, "cannot take the file image");
    size_t total = (size_t)n + DF_CKPT_HEADER_BYTES;
    if (!(*image = malloc(total)))
        return df_fail(w->c.err, DF_ENOMEM, "%s: out of memory for a %zu-byte checkpoint",
                       w->c.path, total);
    if (H5Fget_file_image(w->file, *image + DF_CKPT_HEADER_BYTES, (size_t)n) != n)
        return ckpt_fail_h5(&w->c, DF_ESYS, "cannot take the file image");
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
        int rc = ckpt_fail_h5(&w.c, DF_ESYS, "cannot set up the HDF5 file access");
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
        return ckpt_fail_h5(&w.c, DF_ESYS, "cannot create an HDF5 file in memory");
    w.lcpl = H5Pcreate(H5P_LINK_CREATE);
    int rc = w.lcpl < 0 || H5Pset_create_intermediate_group(w.lcpl, 1) < 0
                 ? ckpt_fail_h5(&w.c, DF_ESYS, "cannot set up group creation")
                 : write_contents(&w, net, momentum, cfg, metrics, meta);
    if (w.lcpl >= 0)
        H5Pclose(w.lcpl);
    if (rc == DF_OK)
        rc = take_image(&w, image, size);
    if (H5Fclose(w.file) < 0 && rc == DF_OK)
        rc = ckpt_fail_h5(&w.c, DF_ESYS, "cannot close the in-memory file");
    if (rc) {
        free(*image);
        *image = NULL;
    }
    return rc;
}

static int write_file(const char *path, const df_net *net, const float *momentum,
                      const df_config *cfg, const df_metrics *metrics,
                      const df_ckpt_meta *meta, df_error *err)
{
    unsigned char *image = NULL;
    size_t size = 0;
    int rc = build_image(path, net, momentum, cfg, metrics, meta, &image, &size, err);
    if (rc == DF_OK)
        rc = ckpt_write_image(path, image, size, err);
    free(image);
    return rc;
}

int df_checkpoint_save(const char *dir, const df_net *net, const float *momentum,
                       const df_config *cfg, const df_metrics *metrics,
                       const df_ckpt_meta *meta, int keep,
                       char *written, size_t written_size, df_error *err)
{
    ckpt_h5_quiet();
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
        rc = ckpt_publish(dir, tmp, fin, &renamed, err);
    if (rc) {
        /* a failed save leaves the directory as it was */
        unlink(renamed ? fin : tmp);
        return rc;
    }
    int replaced;
    rc = ckpt_write_latest(dir, name, &replaced, err);
    if (rc) {
        if (!replaced)
            unlink(fin);    /* `latest` still names the previous one */
        return rc;
    }
    if (written && written_size)
        snprintf(written, written_size, "%s", fin);
    return ckpt_prune(dir, keep, name, err);
}
