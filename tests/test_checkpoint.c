/* Checkpoints: what is saved comes back bit for bit, saving is atomic and
 * prunes, and every kind of damage or mismatch is a clear DF_EINPUT that
 * leaves the caller's state alone: damage anywhere is caught by the
 * integrity header, and the checks behind it (fletcher32, shapes,
 * permutations, NaN) still catch what a forged header lets through. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <fcntl.h>
#include <ftw.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <hdf5.h>
#include <zlib.h>

#include "config.h"
#include "deepfried/checkpoint.h"
#include "deepfried/config.h"
#include "deepfried/net.h"
#include "gradcheck.h"

/* Every layer type; a dense layer in the middle whose width the shape
 * test changes. Input 1x10x10, 5 classes. */
#define NET_CONF(ip1_outputs, adaptive)                                                  \
    "[run]\nname = ckpt\nseed = 11\n"                                                    \
    "[data]\ntrain_images = x\ntrain_labels = x\ntest_images = x\ntest_labels = x\n"     \
    "[layer conv1]\ntype = conv\noutputs = 4\nkernel = 3\n"                              \
    "[layer pool1]\ntype = maxpool\nkernel = 2\n"                                        \
    "[layer relu0]\ntype = relu\n"                                                       \
    "[layer ff]\ntype = fastfood\nfeatures = 40\nsigma = 0.3\nadaptive = " adaptive "\n" \
    "[layer relu1]\ntype = relu\n"                                                       \
    "[layer drop]\ntype = dropout\nratio = 0.3\n"                                        \
    "[layer ip1]\ntype = dense\noutputs = " ip1_outputs "\n"                            \
    "[layer ip]\ntype = dense\noutputs = 5\n"                                            \
    "[layer loss]\ntype = softmax_loss\n"

static const char *adaptive_conf = NET_CONF("12", "true");
static const char *fixed_conf = NET_CONF("12", "false");
static const char *wider_conf = NET_CONF("16", "true");

/* A Fastfood layer with k d = 4096 (d 128, k 32): its perm is deflated. */
static const char *big_ff_conf =
    "[run]\nname = big\n"
    "[data]\ntrain_images = x\ntrain_labels = x\ntest_images = x\ntest_labels = x\n"
    "[layer ff]\ntype = fastfood\nfeatures = 4096\n"
    "[layer ip]\ntype = dense\noutputs = 5\n"
    "[layer loss]\ntype = softmax_loss\n";

typedef struct fix {
    char dir[64];           /* mkdtemp'd, removed by teardown */
    char ckdir[128];        /* dir/run: where checkpoints go */
    df_config *cfg;
    df_net net;
    float *momentum;
    df_metrics metrics;
    df_ckpt_meta meta;
} fix;

static void build(const char *text, df_config *cfg, df_net *net, uint64_t seed)
{
    df_error err;
    if (df_config_parse(cfg, text, "ckpt.conf", NULL, 0, 0, &err))
        fail_msg("%s", err.msg);
    if (df_net_build(net, cfg->layers, cfg->n_layers, 1, 10, 10, 2, &err))
        fail_msg("%s", err.msg);
    df_net_init_params(net, seed);
}

static void fix_make(fix *f, const char *text)
{
    memset(f, 0, sizeof *f);
    snprintf(f->dir, sizeof f->dir, "/tmp/df-ckpt-XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    snprintf(f->ckdir, sizeof f->ckdir, "%s/run", f->dir);
    f->cfg = calloc(1, sizeof *f->cfg);
    assert_non_null(f->cfg);
    build(text, f->cfg, &f->net, 7);
    f->momentum = calloc(f->net.n_params, sizeof(float));
    assert_non_null(f->momentum);
    fill_uniform(f->momentum, f->net.n_params, -1.0f, 1.0f, 5);
    df_error err;
    for (int i = 0; i < 3; i++) {
        df_metrics_row r = {100 * (i + 1), 0.5 * (i + 1), 2.3 / (i + 1), 0.01 / (i + 1),
                            0.1, i == 1 ? 0.05 : NAN, i == 1 ? 0.2 : NAN, 1234.5 + i,
                            0.123, 4.5};
        assert_int_equal(df_metrics_add(&f->metrics, &r, &err), 0);
    }
    f->meta = (df_ckpt_meta){500, 0.53, 4, 11, 64, "2024-01-02T03:04:05Z", PACKAGE_VERSION};
}

static int rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb, (void)flag, (void)ftw;
    chmod(path, 0700);
    return remove(path);
}

static void fix_free(fix *f)
{
    nftw(f->dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
    df_net_free(&f->net);
    df_metrics_free(&f->metrics);
    free(f->momentum);
    free(f->cfg);
}

static int setup_adaptive(void **state)
{
    fix *f = malloc(sizeof *f);
    fix_make(f, adaptive_conf);
    *state = f;
    return 0;
}

static int setup_fixed(void **state)
{
    fix *f = malloc(sizeof *f);
    fix_make(f, fixed_conf);
    *state = f;
    return 0;
}

/* Every test also checks that no HDF5 file or object was left open. */
static int teardown(void **state)
{
    fix_free(*state);
    free(*state);
    ssize_t open_ids = H5Fget_obj_count(H5F_OBJ_ALL, H5F_OBJ_ALL);
    if (open_ids != 0)
        print_error("%zd HDF5 objects left open\n", open_ids);
    return open_ids == 0 ? 0 : -1;
}

/* Save f's state at step; returns the path written (static buffer). */
static const char *save_at(fix *f, int64_t step, int keep)
{
    static char path[DF_PATH_MAX + 64];
    df_error err;
    f->meta.step = step;
    int rc = df_checkpoint_save(f->ckdir, &f->net, f->momentum, f->cfg, &f->metrics,
                                &f->meta, keep, path, sizeof path, &err);
    if (rc)
        fail_msg("save: %s", err.msg);
    return path;
}

static int exists(const char *dir, const char *name)
{
    char p[512];
    snprintf(p, sizeof p, "%s/%s", dir, name);
    return access(p, F_OK) == 0;
}

static void read_file(const char *path, char *buf, size_t cap)
{
    FILE *fp = fopen(path, "r");
    assert_non_null(fp);
    size_t n = fread(buf, 1, cap - 1, fp);
    buf[n] = '\0';
    fclose(fp);
}

static const df_layer *layer_named(const df_net *net, const char *name)
{
    for (int i = 0; i < net->n_layers; i++)
        if (strcmp(net->layers[i].spec.name, name) == 0)
            return &net->layers[i];
    fail_msg("no layer %s", name);
    return NULL;
}

static size_t ff_kd(const df_net *net)
{
    const df_layer *l = layer_named(net, "ff");
    return (size_t)l->shape.ff.k * l->shape.ff.d;
}

/* A second net of the same config with other values everywhere, so that
 * a load visibly has to overwrite all of it. */
typedef struct other {
    df_config *cfg;
    df_net net;
    float *momentum;
    df_metrics metrics;
} other;

static void other_make(other *o, const char *text)
{
    memset(o, 0, sizeof *o);
    o->cfg = calloc(1, sizeof *o->cfg);
    assert_non_null(o->cfg);
    build(text, o->cfg, &o->net, 8);
    o->momentum = calloc(o->net.n_params, sizeof(float));
    assert_non_null(o->momentum);
    df_metrics_row junk = {9, 9, 9, 9, 9, 9, 9, 9, 9, 9};
    df_error err;
    assert_int_equal(df_metrics_add(&o->metrics, &junk, &err), 0);
}

static void other_free(other *o)
{
    df_net_free(&o->net);
    df_metrics_free(&o->metrics);
    free(o->momentum);
    free(o->cfg);
}

static void expect_load_error(const char *path, const char *text, int code,
                              const char *want1, const char *want2)
{
    other o;
    other_make(&o, text);
    uint64_t before = df_net_checksum(&o.net);
    df_error err = {0, ""};
    int rc = df_checkpoint_load(path, &o.net, o.momentum, &o.metrics, NULL, &err);
    if (rc != code)
        fail_msg("load gave %d (%s), expected %d", rc, err.msg, code);
    if (!strstr(err.msg, path))
        fail_msg("message does not name the file: %s", err.msg);
    if (want1 && !strstr(err.msg, want1))
        fail_msg("message lacks '%s': %s", want1, err.msg);
    if (want2 && !strstr(err.msg, want2))
        fail_msg("message lacks '%s': %s", want2, err.msg);
    /* nothing the caller holds was touched */
    assert_true(df_net_checksum(&o.net) == before);
    assert_int_equal(o.metrics.n, 1);
    assert_int_equal(o.metrics.rows[0].step, 9);
    other_free(&o);
}

/* ---- round trips ---- */

static void round_trip_is_bit_exact(void **state)
{
    fix *f = *state;
    const char *path = save_at(f, 500, 3);
    assert_true(exists(f->ckdir, "ckpt-00000500.h5"));
    assert_non_null(strstr(path, "ckpt-00000500.h5"));

    other o;
    other_make(&o, adaptive_conf);
    assert_memory_not_equal(o.net.params, f->net.params, f->net.n_params * sizeof(float));
    df_ckpt_meta meta;
    df_error err;
    int rc = df_checkpoint_load(path, &o.net, o.momentum, &o.metrics, &meta, &err);
    if (rc)
        fail_msg("%s", err.msg);
    assert_memory_equal(o.net.params, f->net.params, f->net.n_params * sizeof(float));
    assert_memory_equal(o.momentum, f->momentum, f->net.n_params * sizeof(float));
    assert_memory_equal(layer_named(&o.net, "ff")->perm, layer_named(&f->net, "ff")->perm,
                        ff_kd(&f->net) * sizeof(int32_t));
    /* rows hold an int64 and doubles only: memcmp also compares the NaNs */
    assert_int_equal(o.metrics.n, f->metrics.n);
    assert_memory_equal(o.metrics.rows, f->metrics.rows, f->metrics.n * sizeof(df_metrics_row));
    assert_int_equal(meta.step, 500);
    assert_true(meta.epoch == f->meta.epoch);
    assert_int_equal(meta.world_size, 4);
    assert_true(meta.seed == 11);
    assert_int_equal(meta.global_batch, 64);
    assert_string_equal(meta.created, f->meta.created);
    assert_string_equal(meta.library_version, PACKAGE_VERSION);
    other_free(&o);
}

static void round_trip_restores_fixed_fastfood_state(void **state)
{
    fix *f = *state;
    const df_layer *ff = layer_named(&f->net, "ff");
    assert_false(ff->spec.adaptive);
    const char *path = save_at(f, 20, 3);

    other o;
    other_make(&o, fixed_conf);
    const df_layer *off = layer_named(&o.net, "ff");
    size_t kd = ff_kd(&f->net);
    assert_memory_not_equal(off->fixed, ff->fixed, 3 * kd * sizeof(float));
    df_error err;
    int rc = df_checkpoint_load(path, &o.net, o.momentum, &o.metrics, NULL, &err);
    if (rc)
        fail_msg("%s", err.msg);
    assert_memory_equal(off->fixed, ff->fixed, 3 * kd * sizeof(float));
    assert_memory_equal(off->perm, ff->perm, kd * sizeof(int32_t));
    assert_memory_equal(o.net.params, f->net.params, f->net.n_params * sizeof(float));
    other_free(&o);
}

static void stored_config_text_parses_back_to_the_same_config(void **state)
{
    fix *f = *state;
    const char *path = save_at(f, 40, 3);
    char *text = NULL;
    df_ckpt_meta meta;
    df_error err;
    int rc = df_checkpoint_read_config(path, &text, &meta, &err);
    if (rc)
        fail_msg("%s", err.msg);
    assert_int_equal(meta.step, 40);
    df_config *back = calloc(1, sizeof *back);
    assert_non_null(back);
    rc = df_config_parse(back, text, path, NULL, 0, 0, &err);
    if (rc)
        fail_msg("%s", err.msg);
    char *again = df_config_to_text(back);
    assert_string_equal(again, text);
    assert_int_equal(back->n_layers, f->cfg->n_layers);
    assert_string_equal(back->layers[3].name, "ff");
    assert_true(back->run.seed == 11);
    free(again);
    free(text);
    free(back);
}

static void metrics_and_momentum_may_be_absent(void **state)
{
    fix *f = *state;
    df_error err;
    char path[DF_PATH_MAX + 64];
    f->meta.step = 7;
    int rc = df_checkpoint_save(f->ckdir, &f->net, NULL, f->cfg, NULL, &f->meta, 3, path,
                                sizeof path, &err);
    if (rc)
        fail_msg("%s", err.msg);
    other o;
    other_make(&o, adaptive_conf);
    /* no metrics saved: the loaded table is empty, replacing what was there */
    rc = df_checkpoint_load(path, &o.net, NULL, &o.metrics, NULL, &err);
    if (rc)
        fail_msg("%s", err.msg);
    assert_int_equal(o.metrics.n, 0);
    /* asking for momentum the file does not have is an error */
    rc = df_checkpoint_load(path, &o.net, o.momentum, NULL, NULL, &err);
    assert_int_equal(rc, DF_EINPUT);
    assert_non_null(strstr(err.msg, "/solver/momentum/"));
    other_free(&o);
}

/* ---- the directory: keep, latest, list ---- */

static void keep_2_after_4_saves_leaves_the_2_newest_and_latest_on_the_newest(void **state)
{
    fix *f = *state;
    for (int s = 1; s <= 4; s++)
        save_at(f, 100 * s, 2);
    assert_false(exists(f->ckdir, "ckpt-00000100.h5"));
    assert_false(exists(f->ckdir, "ckpt-00000200.h5"));
    assert_true(exists(f->ckdir, "ckpt-00000300.h5"));
    assert_true(exists(f->ckdir, "ckpt-00000400.h5"));
    assert_false(exists(f->ckdir, "latest.tmp"));
    char path[256], buf[64];
    snprintf(path, sizeof path, "%s/latest", f->ckdir);
    read_file(path, buf, sizeof buf);
    assert_string_equal(buf, "ckpt-00000400.h5\n");
}

static void save_removes_stale_temporary_files(void **state)
{
    fix *f = *state;
    save_at(f, 100, 3);
    char path[256];
    snprintf(path, sizeof path, "%s/ckpt-00000150.h5.tmp", f->ckdir);
    FILE *fp = fopen(path, "w");
    assert_non_null(fp);
    fputs("half a checkpoint", fp);
    fclose(fp);
    save_at(f, 200, 3);
    assert_false(exists(f->ckdir, "ckpt-00000150.h5.tmp"));
    assert_true(exists(f->ckdir, "ckpt-00000100.h5"));
}

static void list_gives_latest_first_then_descending_steps(void **state)
{
    fix *f = *state;
    char (*paths)[DF_PATH_MAX + 64] = calloc(DF_CKPT_MAX_LIST, sizeof *paths);
    assert_non_null(paths);
    df_error err;
    char want[DF_PATH_MAX + 64];
    /* a directory that does not exist holds no checkpoints */
    assert_int_equal(df_checkpoint_list(f->ckdir, paths, DF_CKPT_MAX_LIST, &err), 0);

    save_at(f, 100, 0);
    save_at(f, 300, 0);
    save_at(f, 200, 0);     /* e.g. a run restarted from an older one */
    assert_int_equal(df_checkpoint_list(f->ckdir, paths, DF_CKPT_MAX_LIST, &err), 3);
    const int order1[3] = {200, 300, 100};
    for (int i = 0; i < 3; i++) {
        snprintf(want, sizeof want, "%s/ckpt-%08d.h5", f->ckdir, order1[i]);
        assert_string_equal(paths[i], want);
    }
    /* max limits the count */
    assert_int_equal(df_checkpoint_list(f->ckdir, paths, 2, &err), 2);

    /* without latest: by step alone */
    char latest[256];
    snprintf(latest, sizeof latest, "%s/latest", f->ckdir);
    assert_int_equal(unlink(latest), 0);
    assert_int_equal(df_checkpoint_list(f->ckdir, paths, DF_CKPT_MAX_LIST, &err), 3);
    const int order2[3] = {300, 200, 100};
    for (int i = 0; i < 3; i++) {
        snprintf(want, sizeof want, "%s/ckpt-%08d.h5", f->ckdir, order2[i]);
        assert_string_equal(paths[i], want);
    }

    /* a directory that exists but cannot be read: -1 and a message */
    char notdir[256];
    snprintf(notdir, sizeof notdir, "%s/ckpt-00000100.h5", f->ckdir);
    assert_int_equal(df_checkpoint_list(notdir, paths, DF_CKPT_MAX_LIST, &err), -1);
    assert_int_equal(err.code, DF_ESYS);
    assert_non_null(strstr(err.msg, notdir));
    free(paths);
}

/* ---- damage ---- */

/* Flip one byte of the file at offset. */
static void flip_byte(const char *path, long offset)
{
    FILE *fp = fopen(path, "r+b");
    assert_non_null(fp);
    assert_int_equal(fseek(fp, offset, SEEK_SET), 0);
    int c = fgetc(fp);
    assert_true(c != EOF);
    assert_int_equal(fseek(fp, offset, SEEK_SET), 0);
    fputc(c ^ 0x5a, fp);
    assert_int_equal(fclose(fp), 0);
}

static char *slurp(const char *path, size_t *n)
{
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    char *buf = malloc((size_t)st.st_size);
    assert_non_null(buf);
    FILE *fp = fopen(path, "rb");
    assert_non_null(fp);
    assert_int_equal(fread(buf, 1, (size_t)st.st_size, fp), (size_t)st.st_size);
    fclose(fp);
    *n = (size_t)st.st_size;
    return buf;
}

static void spew(const char *path, const void *buf, size_t n)
{
    FILE *fp = fopen(path, "wb");
    assert_non_null(fp);
    assert_int_equal(fwrite(buf, 1, n, fp), n);
    assert_int_equal(fclose(fp), 0);
}

/* Give the file a matching integrity header again, as if it had been
 * written so: damage behind a forged header, for the checks HDF5 and the
 * loader make after the header's. */
static void reseal(const char *path)
{
    size_t n;
    unsigned char *bytes = (unsigned char *)slurp(path, &n);
    assert_true(n >= DF_CKPT_HEADER_BYTES);
    df_checkpoint_seal(bytes, n);
    spew(path, bytes, n);
    free(bytes);
}

static void flipped_byte_in_params_is_einput_naming_the_dataset(void **state)
{
    fix *f = *state;
    /* a pattern that occurs nowhere else: ip1/weight = 1000.25, 1001.25, ... */
    const df_layer *ip1 = layer_named(&f->net, "ip1");
    float *w = f->net.params + ip1->tensors[0].offset;
    for (size_t i = 0; i < ip1->tensors[0].count; i++)
        w[i] = 1000.25f + (float)i;
    const char *path = save_at(f, 500, 3);
    size_t n;
    char *bytes = slurp(path, &n);
    char *at = memmem(bytes, n, w, 16 * sizeof(float));
    assert_non_null(at);    /* stored raw, so the pattern is in the file */
    flip_byte(path, (long)(at - bytes) + 7 * (long)sizeof(float) + 2);
    free(bytes);
    expect_load_error(path, adaptive_conf, DF_EINPUT, "damaged checkpoint",
                      "checksum mismatch");
    /* behind a forged header, fletcher32 still catches it */
    reseal(path);
    expect_load_error(path, adaptive_conf, DF_EINPUT, "/params/ip1/weight", "checksum");
}

/* A byte flipped anywhere, header included, is refused before HDF5 reads
 * anything; 331 offsets spread over the file, and each header field. */
static void a_flipped_byte_anywhere_is_a_checksum_mismatch(void **state)
{
    fix *f = *state;
    const char *path = save_at(f, 500, 3);
    size_t n;
    unsigned char *good = (unsigned char *)slurp(path, &n);
    static const long fields[] = {0, 14, 16, 20, 24, 31, 32, 36, 39, 40, 511, 512, 520, 600};
    for (int i = 0; i < 331 + (int)(sizeof fields / sizeof *fields); i++) {
        long at = i < 331 ? (long)((n - 1) * (size_t)i / 330) : fields[i - 331];
        good[at] ^= 0x04;
        spew(path, good, n);
        good[at] ^= 0x04;
        df_error err = {0, ""};
        char *text = NULL;
        int rc = df_checkpoint_read_config(path, &text, NULL, &err);
        if (rc != DF_EINPUT || (!strstr(err.msg, "checksum mismatch") &&
                                !strstr(err.msg, "truncated")))
            fail_msg("byte %ld of %zu flipped: %d %s", at, n, rc, err.msg);
        assert_null(text);
        assert_non_null(strstr(err.msg, path));
    }
    free(good);
}

/* The file offset of the middle of a dataset's first chunk. */
static long chunk_middle(const char *path, const char *dpath)
{
    hid_t file = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    assert_true(file >= 0);
    hid_t d = H5Dopen2(file, dpath, H5P_DEFAULT);
    assert_true(d >= 0);
    hid_t space = H5Dget_space(d);
    hsize_t off[2];
    unsigned mask;
    haddr_t addr;
    hsize_t size;
    assert_true(H5Dget_chunk_info(d, space, 0, off, &mask, &addr, &size) >= 0);
    /* HDF5's addresses start at its superblock, after the user block */
    hid_t fcpl = H5Fget_create_plist(file);
    hsize_t userblock = 0;
    assert_true(H5Pget_userblock(fcpl, &userblock) >= 0);
    assert_int_equal(userblock, DF_CKPT_HEADER_BYTES);
    H5Pclose(fcpl);
    H5Sclose(space);
    H5Dclose(d);
    H5Fclose(file);
    return (long)(userblock + addr + size / 2);
}

static void flipped_byte_in_a_compressed_dataset_is_einput(void **state)
{
    fix *f = *state;
    other big;
    other_make(&big, big_ff_conf);
    df_ckpt_meta meta = f->meta;
    df_error err;
    char path[DF_PATH_MAX + 64];
    int rc = df_checkpoint_save(f->ckdir, &big.net, big.momentum, big.cfg, NULL, &meta, 3,
                                path, sizeof path, &err);
    if (rc)
        fail_msg("%s", err.msg);
    flip_byte(path, chunk_middle(path, "/fixed/ff/perm"));
    reseal(path);
    rc = df_checkpoint_load(path, &big.net, big.momentum, NULL, NULL, &err);
    assert_int_equal(rc, DF_EINPUT);
    if (!strstr(err.msg, "/fixed/ff/perm") || !strstr(err.msg, "checksum"))
        fail_msg("%s", err.msg);
    other_free(&big);
}

static void failed_load_leaves_the_callers_state_untouched(void **state)
{
    fix *f = *state;
    const char *path = save_at(f, 500, 3);
    /* the metrics are read last: everything before them already read */
    flip_byte(path, chunk_middle(path, "/metrics/loss"));
    reseal(path);
    expect_load_error(path, adaptive_conf, DF_EINPUT, "/metrics/loss", NULL);
}

static void truncated_file_is_einput(void **state)
{
    fix *f = *state;
    const char *path = save_at(f, 500, 3);
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(truncate(path, st.st_size / 2), 0);
    char want[64];
    snprintf(want, sizeof want, "%lld of its %lld bytes", (long long)st.st_size / 2,
             (long long)st.st_size);
    expect_load_error(path, adaptive_conf, DF_EINPUT, "truncated checkpoint", want);
    /* inside the header */
    assert_int_equal(truncate(path, 100), 0);
    expect_load_error(path, adaptive_conf, DF_EINPUT, "truncated checkpoint",
                      "less than its 512-byte integrity header");
    /* and truncated to nothing */
    assert_int_equal(truncate(path, 0), 0);
    expect_load_error(path, adaptive_conf, DF_EINPUT, "truncated checkpoint: the file is empty",
                      NULL);
}

static void zero_filled_file_or_header_is_a_checksum_mismatch(void **state)
{
    fix *f = *state;
    const char *path = save_at(f, 500, 3);
    size_t n;
    unsigned char *bytes = (unsigned char *)slurp(path, &n);
    /* a block of zeros in the middle, as a lost page leaves */
    unsigned char *copy = malloc(n);
    assert_non_null(copy);
    memcpy(copy, bytes, n);
    memset(copy + n / 2, 0, 4096);
    spew(path, copy, n);
    expect_load_error(path, adaptive_conf, DF_EINPUT, "checksum mismatch", NULL);
    /* the header zeroed: the HDF5 signature after it tells a damaged
     * checkpoint from a foreign file */
    memcpy(copy, bytes, n);
    memset(copy, 0, DF_CKPT_HEADER_BYTES);
    spew(path, copy, n);
    expect_load_error(path, adaptive_conf, DF_EINPUT, "checksum mismatch",
                      "integrity header is overwritten");
    /* all of it */
    memset(copy, 0, n);
    spew(path, copy, n);
    char want[64];
    snprintf(want, sizeof want, "all %zu bytes are zero", n);
    expect_load_error(path, adaptive_conf, DF_EINPUT, "checksum mismatch", want);
    free(copy);
    free(bytes);
}

static void format_1_file_without_the_header_is_refused_clearly(void **state)
{
    fix *f = *state;
    const char *path = save_at(f, 500, 3);
    size_t n;
    char *bytes = slurp(path, &n);
    /* what format 1 wrote: the HDF5 file alone, from its superblock on */
    spew(path, bytes + DF_CKPT_HEADER_BYTES, n - DF_CKPT_HEADER_BYTES);
    expect_load_error(path, adaptive_conf, DF_EINPUT,
                      "not a deepfried checkpoint (no integrity header; files written before "
                      "format 2 are not readable)", NULL);
    free(bytes);
}

/* Header bytes with its own checksum redone, as a later deepfried would
 * write them. */
static void set_header_field(const char *path, int offset, uint32_t v)
{
    size_t n;
    unsigned char *bytes = (unsigned char *)slurp(path, &n);
    for (int i = 0; i < 4; i++)
        bytes[offset + i] = (unsigned char)(v >> (8 * i));
    memset(bytes + 36, 0, 4);
    uint32_t crc = (uint32_t)crc32(crc32(0L, Z_NULL, 0), bytes, DF_CKPT_HEADER_BYTES);
    for (int i = 0; i < 4; i++)
        bytes[36 + i] = (unsigned char)(crc >> (8 * i));
    spew(path, bytes, n);
    free(bytes);
}

static void header_of_a_newer_or_foreign_kind_is_einput(void **state)
{
    fix *f = *state;
    const char *path = save_at(f, 500, 3);
    set_header_field(path, 16, 7);  /* header version */
    expect_load_error(path, adaptive_conf, DF_EINPUT, "integrity header version 7 is newer",
                      "upgrade deepfried");
    set_header_field(path, 16, 1);
    set_header_field(path, 20, 1024);   /* header size */
    expect_load_error(path, adaptive_conf, DF_EINPUT, "not a deepfried checkpoint",
                      "of 1024 bytes");
    /* and back as written: loads */
    set_header_field(path, 20, 512);
    char *text = NULL;
    df_error err;
    if (df_checkpoint_read_config(path, &text, NULL, &err))
        fail_msg("%s", err.msg);
    free(text);
}

/* A FIFO where a checkpoint or `latest` should be is refused or ignored,
 * without waiting for a writer that never comes. */
static void fifo_in_place_of_a_checkpoint_or_latest_does_not_hang(void **state)
{
    fix *f = *state;
    save_at(f, 100, 3);
    char fifo[256], latest[256];
    snprintf(fifo, sizeof fifo, "%s/ckpt-00000200.h5", f->ckdir);
    assert_int_equal(mkfifo(fifo, 0600), 0);
    expect_load_error(fifo, adaptive_conf, DF_EINPUT, "not a regular file", NULL);
    snprintf(latest, sizeof latest, "%s/latest", f->ckdir);
    assert_int_equal(unlink(latest), 0);
    assert_int_equal(mkfifo(latest, 0600), 0);
    char (*paths)[DF_PATH_MAX + 64] = calloc(DF_CKPT_MAX_LIST, sizeof *paths);
    assert_non_null(paths);
    df_error err;
    /* by step alone: the FIFO named like a checkpoint, then the real one */
    assert_int_equal(df_checkpoint_list(f->ckdir, paths, DF_CKPT_MAX_LIST, &err), 2);
    assert_string_equal(paths[0], fifo);
    /* a directory as latest: ignored too */
    assert_int_equal(unlink(latest), 0);
    assert_int_equal(mkdir(latest, 0700), 0);
    assert_int_equal(df_checkpoint_list(f->ckdir, paths, DF_CKPT_MAX_LIST, &err), 2);
    free(paths);
}

static void file_that_is_not_hdf5_is_einput(void **state)
{
    fix *f = *state;
    char path[128];
    snprintf(path, sizeof path, "%s/ckpt-00000001.h5", f->dir);
    FILE *fp = fopen(path, "w");
    assert_non_null(fp);
    for (int i = 0; i < 200; i++)
        fputs("this is not a checkpoint\n", fp);
    fclose(fp);
    expect_load_error(path, adaptive_conf, DF_EINPUT,
                      "not a deepfried checkpoint (no integrity header", NULL);
    char *text = NULL;
    df_error err;
    assert_int_equal(df_checkpoint_read_config(path, &text, NULL, &err), DF_EINPUT);
    assert_null(text);
    /* and one that is not there at all */
    snprintf(path, sizeof path, "%s/nothing.h5", f->dir);
    expect_load_error(path, adaptive_conf, DF_EINPUT, "No such file", NULL);
}

/* Replace a root attribute with a string or an int32 value. */
static void set_root_attr(const char *path, const char *name, const char *s, int32_t v)
{
    hid_t file = H5Fopen(path, H5F_ACC_RDWR, H5P_DEFAULT);
    assert_true(file >= 0);
    assert_true(H5Adelete(file, name) >= 0);
    hid_t type = H5Tcopy(s ? H5T_C_S1 : H5T_NATIVE_INT32);
    if (s)
        H5Tset_size(type, strlen(s) + 1);
    hid_t space = H5Screate(H5S_SCALAR);
    hid_t a = H5Acreate2(file, name, type, space, H5P_DEFAULT, H5P_DEFAULT);
    assert_true(a >= 0);
    assert_true(H5Awrite(a, type, s ? (const void *)s : (const void *)&v) >= 0);
    H5Aclose(a);
    H5Sclose(space);
    H5Tclose(type);
    assert_true(H5Fclose(file) >= 0);
    reseal(path);
}

static void wrong_format_attribute_is_einput(void **state)
{
    fix *f = *state;
    const char *path = save_at(f, 500, 3);
    set_root_attr(path, "format", "someone-elses-format", 0);
    expect_load_error(path, adaptive_conf, DF_EINPUT, "not a deepfried checkpoint",
                      "someone-elses-format");

    hid_t file = H5Fopen(path, H5F_ACC_RDWR, H5P_DEFAULT);
    assert_true(H5Adelete(file, "format") >= 0);
    H5Fclose(file);
    reseal(path);
    expect_load_error(path, adaptive_conf, DF_EINPUT,
                      "not a deepfried checkpoint (attribute 'format' missing)", NULL);
}

static void newer_version_is_einput_naming_the_version(void **state)
{
    fix *f = *state;
    const char *path = save_at(f, 500, 3);
    set_root_attr(path, "version", NULL, 99);
    expect_load_error(path, adaptive_conf, DF_EINPUT, "version 99", NULL);
}

static void shape_mismatch_is_einput_naming_layer_and_both_shapes(void **state)
{
    fix *f = *state;
    const char *path = save_at(f, 500, 3);
    expect_load_error(path, wider_conf, DF_EINPUT,
                      "layer ip1 tensor weight has shape [12,40] in the file",
                      "but the config needs [16,40]");
}

static void corrupt_permutation_is_einput(void **state)
{
    fix *f = *state;
    const char *path = save_at(f, 500, 3);
    /* a valid-looking table with one value twice: the checksum is right,
     * the content is not */
    size_t kd = ff_kd(&f->net);
    int32_t *perm = malloc(kd * sizeof *perm);
    assert_non_null(perm);
    memcpy(perm, layer_named(&f->net, "ff")->perm, kd * sizeof *perm);
    perm[5] = perm[6];
    hid_t file = H5Fopen(path, H5F_ACC_RDWR, H5P_DEFAULT);
    hid_t d = H5Dopen2(file, "/fixed/ff/perm", H5P_DEFAULT);
    assert_true(H5Dwrite(d, H5T_NATIVE_INT32, H5S_ALL, H5S_ALL, H5P_DEFAULT, perm) >= 0);
    H5Dclose(d);
    H5Fclose(file);
    reseal(path);
    expect_load_error(path, adaptive_conf, DF_EINPUT, "/fixed/ff/perm",
                      "not a permutation of 0..63");
    /* out of range */
    perm[6] = 1 << 20;
    file = H5Fopen(path, H5F_ACC_RDWR, H5P_DEFAULT);
    d = H5Dopen2(file, "/fixed/ff/perm", H5P_DEFAULT);
    assert_true(H5Dwrite(d, H5T_NATIVE_INT32, H5S_ALL, H5S_ALL, H5P_DEFAULT, perm) >= 0);
    H5Dclose(d);
    H5Fclose(file);
    reseal(path);
    expect_load_error(path, adaptive_conf, DF_EINPUT, "out of range", NULL);
    free(perm);
}

static void nan_in_params_is_einput(void **state)
{
    fix *f = *state;
    const df_layer *conv = layer_named(&f->net, "conv1");
    f->net.params[conv->tensors[0].offset + 3] = NAN;
    const char *path = save_at(f, 500, 3);
    expect_load_error(path, adaptive_conf, DF_EINPUT, "layer conv1 tensor weight",
                      "element 3 is NaN");
}

/* ---- failed saves ---- */

static void expect_dir_as_before(fix *f, const char *earlier)
{
    char latest[256], buf[64];
    snprintf(latest, sizeof latest, "%s/latest", f->ckdir);
    read_file(latest, buf, sizeof buf);
    assert_string_equal(buf, "ckpt-00000100.h5\n");
    char (*paths)[DF_PATH_MAX + 64] = calloc(DF_CKPT_MAX_LIST, sizeof *paths);
    assert_non_null(paths);
    df_error err;
    assert_int_equal(df_checkpoint_list(f->ckdir, paths, DF_CKPT_MAX_LIST, &err), 1);
    assert_string_equal(paths[0], earlier);
    free(paths);
    other o;
    other_make(&o, adaptive_conf);
    int rc = df_checkpoint_load(earlier, &o.net, o.momentum, &o.metrics, NULL, &err);
    if (rc)
        fail_msg("%s", err.msg);
    assert_memory_equal(o.net.params, f->net.params, f->net.n_params * sizeof(float));
    other_free(&o);
    assert_false(exists(f->ckdir, "ckpt-00000200.h5.tmp"));
    assert_false(exists(f->ckdir, "latest.tmp"));
}

static void save_into_an_impossible_dir_is_esys(void **state)
{
    fix *f = *state;
    char earlier[DF_PATH_MAX + 64];
    snprintf(earlier, sizeof earlier, "%s", save_at(f, 100, 3));
    /* root ignores chmod; a directory under a regular file cannot exist */
    char bad[256];
    snprintf(bad, sizeof bad, "%s/ckpt-00000100.h5/sub", f->ckdir);
    df_error err;
    f->meta.step = 200;
    int rc = df_checkpoint_save(bad, &f->net, f->momentum, f->cfg, &f->metrics, &f->meta, 3,
                                NULL, 0, &err);
    assert_int_equal(rc, DF_ESYS);
    assert_non_null(strstr(err.msg, "Not a directory"));
    expect_dir_as_before(f, earlier);
}

static void save_that_runs_out_of_space_is_esys_and_keeps_the_earlier_one(void **state)
{
    fix *f = *state;
    char earlier[DF_PATH_MAX + 64];
    snprintf(earlier, sizeof earlier, "%s", save_at(f, 100, 3));
    /* a file size limit makes write() fail half way, as a full disk
     * would (EFBIG instead of ENOSPC; root is bound by it too) */
    struct rlimit old, tiny = {8192, 0};
    assert_int_equal(getrlimit(RLIMIT_FSIZE, &old), 0);
    tiny.rlim_max = old.rlim_max;
    void (*old_handler)(int) = signal(SIGXFSZ, SIG_IGN);
    assert_int_equal(setrlimit(RLIMIT_FSIZE, &tiny), 0);
    df_error err;
    f->meta.step = 200;
    int rc = df_checkpoint_save(f->ckdir, &f->net, f->momentum, f->cfg, &f->metrics, &f->meta,
                                3, NULL, 0, &err);
    assert_int_equal(setrlimit(RLIMIT_FSIZE, &old), 0);
    signal(SIGXFSZ, old_handler);
    assert_int_equal(rc, DF_ESYS);
    if (!strstr(err.msg, "ckpt-00000200.h5.tmp") || !strstr(err.msg, "File too large"))
        fail_msg("%s", err.msg);
    expect_dir_as_before(f, earlier);
}

static void save_that_cannot_rename_is_esys_and_keeps_the_earlier_one(void **state)
{
    fix *f = *state;
    char earlier[DF_PATH_MAX + 64], block[256];
    snprintf(earlier, sizeof earlier, "%s", save_at(f, 100, 3));
    /* a directory where the new file should go: the rename fails after
     * the whole file was written and synced */
    snprintf(block, sizeof block, "%s/ckpt-00000200.h5", f->ckdir);
    assert_int_equal(mkdir(block, 0700), 0);
    df_error err;
    f->meta.step = 200;
    int rc = df_checkpoint_save(f->ckdir, &f->net, f->momentum, f->cfg, &f->metrics, &f->meta,
                                3, NULL, 0, &err);
    assert_int_equal(rc, DF_ESYS);
    assert_non_null(strstr(err.msg, "rename"));
    assert_int_equal(rmdir(block), 0);
    expect_dir_as_before(f, earlier);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
#define T(name) cmocka_unit_test_setup_teardown(name, setup_adaptive, teardown)
        T(round_trip_is_bit_exact),
        cmocka_unit_test_setup_teardown(round_trip_restores_fixed_fastfood_state, setup_fixed,
                                        teardown),
        T(stored_config_text_parses_back_to_the_same_config),
        T(metrics_and_momentum_may_be_absent),
        T(keep_2_after_4_saves_leaves_the_2_newest_and_latest_on_the_newest),
        T(save_removes_stale_temporary_files),
        T(list_gives_latest_first_then_descending_steps),
        T(flipped_byte_in_params_is_einput_naming_the_dataset),
        T(flipped_byte_in_a_compressed_dataset_is_einput),
        T(failed_load_leaves_the_callers_state_untouched),
        T(a_flipped_byte_anywhere_is_a_checksum_mismatch),
        T(truncated_file_is_einput),
        T(zero_filled_file_or_header_is_a_checksum_mismatch),
        T(format_1_file_without_the_header_is_refused_clearly),
        T(header_of_a_newer_or_foreign_kind_is_einput),
        T(fifo_in_place_of_a_checkpoint_or_latest_does_not_hang),
        T(file_that_is_not_hdf5_is_einput),
        T(wrong_format_attribute_is_einput),
        T(newer_version_is_einput_naming_the_version),
        T(shape_mismatch_is_einput_naming_layer_and_both_shapes),
        T(corrupt_permutation_is_einput),
        T(nan_in_params_is_einput),
        T(save_into_an_impossible_dir_is_esys),
        T(save_that_runs_out_of_space_is_esys_and_keeps_the_earlier_one),
        T(save_that_cannot_rename_is_esys_and_keeps_the_earlier_one),
#undef T
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
