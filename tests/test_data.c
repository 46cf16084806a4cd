/* The IDX reader treats data files as untrusted input (every defect is an
 * input error that names the file and the problem), plain and gzip files
 * read the same, and the sampler's epoch order is a pure function of
 * (seed, epoch) that any position can be computed from. */
#ifndef _POSIX_C_SOURCE
#define _POSIX_C_SOURCE 200809L /* mkdtemp */
#endif
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "deepfried/data.h"
#include "deepfried/rng.h"

static char tmpdir[64];
/* Paths live until the group's teardown, so a test may hold many. */
static char *paths[256];
static int n_paths;

static int make_tmpdir(void **state)
{
    (void)state;
    strcpy(tmpdir, "/tmp/df_test_data.XXXXXX");
    return mkdtemp(tmpdir) ? 0 : -1;
}

static int remove_tmpdir(void **state)
{
    (void)state;
    DIR *d = opendir(tmpdir);
    if (!d)
        return -1;
    struct dirent *e;
    char path[512];
    while ((e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        snprintf(path, sizeof path, "%s/%s", tmpdir, e->d_name);
        if (rmdir(path) != 0)
            unlink(path);
    }
    closedir(d);
    while (n_paths > 0)
        free(paths[--n_paths]);
    return rmdir(tmpdir);
}

/* ---- building IDX files ---- */

typedef struct bytes {
    uint8_t *p;
    size_t len;
} bytes;

static void put_be32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

static uint8_t pixel_of(uint32_t item, uint32_t k)
{
    return (uint8_t)(item * 31u + k * 7u + 1u);
}

/* An image file whose header says n images of rows x cols but which holds
 * n_present of them (so a lying header is easy to make). */
static bytes idx_images(uint32_t n, uint32_t rows, uint32_t cols, uint32_t n_present)
{
    size_t img = (size_t)rows * cols;
    bytes b = {NULL, 16 + (size_t)n_present * img};
    b.p = malloc(b.len);
    assert_non_null(b.p);
    put_be32(b.p, 0x00000803);
    put_be32(b.p + 4, n);
    put_be32(b.p + 8, rows);
    put_be32(b.p + 12, cols);
    for (uint32_t i = 0; i < n_present; i++)
        for (size_t k = 0; k < img; k++)
            b.p[16 + i * img + k] = pixel_of(i, (uint32_t)k);
    return b;
}

/* A label file with labels i % n_classes. */
static bytes idx_labels(uint32_t n, int n_classes)
{
    bytes b = {NULL, 8 + (size_t)n};
    b.p = malloc(b.len);
    assert_non_null(b.p);
    put_be32(b.p, 0x00000801);
    put_be32(b.p + 4, n);
    for (uint32_t i = 0; i < n; i++)
        b.p[8 + i] = (uint8_t)(i % (uint32_t)n_classes);
    return b;
}

static const char *tmp_path(const char *name)
{
    assert_true(n_paths < (int)(sizeof paths / sizeof *paths));
    char *p = malloc(strlen(tmpdir) + strlen(name) + 2);
    assert_non_null(p);
    sprintf(p, "%s/%s", tmpdir, name);
    return paths[n_paths++] = p;
}

static const char *write_plain(const char *name, const void *data, size_t len)
{
    const char *path = tmp_path(name);
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(data, 1, len, f), len);
    assert_int_equal(fclose(f), 0);
    return path;
}

static const char *write_gz(const char *name, const void *data, size_t len)
{
    const char *path = tmp_path(name);
    gzFile g = gzopen(path, "wb9");
    assert_non_null(g);
    if (len > 0)
        assert_int_equal(gzwrite(g, data, (unsigned)len), (int)len);
    assert_int_equal(gzclose(g), Z_OK);
    return path;
}

static const char *write_bytes(const char *name, bytes b, int gz)
{
    const char *path = gz ? write_gz(name, b.p, b.len) : write_plain(name, b.p, b.len);
    free(b.p);
    return path;
}

static int is_empty(const df_dataset *ds)
{
    return ds->n == 0 && ds->pixels == NULL && ds->labels == NULL && ds->rows == 0 &&
           ds->cols == 0 && ds->n_classes == 0;
}

/* The load fails with an input error whose one-line message starts with
 * `path`, contains `word`, and leaves the dataset empty. */
static void expect_input_error(const char *images, const char *labels, int max_classes,
                               const char *path, const char *word)
{
    df_dataset ds;
    df_error err = {0, ""};
    int rc = df_dataset_load_idx(&ds, images, labels, max_classes, &err);
    print_message("    %s\n", err.msg);
    assert_int_equal(rc, DF_EINPUT);
    assert_int_equal(err.code, DF_EINPUT);
    assert_true(strncmp(err.msg, path, strlen(path)) == 0);
    assert_non_null(strstr(err.msg, word));
    assert_null(strchr(err.msg, '\n'));
    assert_true(is_empty(&ds));
}

/* ---- loading ---- */

static void plain_and_gzip_files_load_identically(void **state)
{
    (void)state;
    const char *im = write_bytes("im", idx_images(7, 5, 3, 7), 0);
    const char *lb = write_bytes("lb", idx_labels(7, 4), 0);
    const char *im_gz = write_bytes("im.gz", idx_images(7, 5, 3, 7), 1);
    const char *lb_gz = write_bytes("lb.gz", idx_labels(7, 4), 1);
    df_dataset a, b;
    df_error err;
    assert_int_equal(df_dataset_load_idx(&a, im, lb, 10, &err), DF_OK);
    assert_int_equal(df_dataset_load_idx(&b, im_gz, lb_gz, 10, &err), DF_OK);
    assert_int_equal(a.n, 7);
    assert_int_equal(a.channels, 1);
    assert_int_equal(a.rows, 5);
    assert_int_equal(a.cols, 3);
    assert_int_equal(a.n_classes, 4); /* max label + 1 */
    assert_int_equal(df_dataset_image_size(&a), 15);
    for (uint32_t i = 0; i < 7; i++) {
        assert_int_equal(a.labels[i], (int32_t)(i % 4));
        for (uint32_t k = 0; k < 15; k++)
            assert_int_equal(a.pixels[i * 15 + k], pixel_of(i, k));
    }
    assert_int_equal(b.n, a.n);
    assert_int_equal(b.rows, a.rows);
    assert_int_equal(b.cols, a.cols);
    assert_int_equal(b.n_classes, a.n_classes);
    assert_memory_equal(b.pixels, a.pixels, 7 * 15);
    assert_memory_equal(b.labels, a.labels, 7 * sizeof *a.labels);
    df_dataset_free(&a);
    df_dataset_free(&b);
    assert_true(is_empty(&a));
}

static void plain_name_falls_back_to_its_gz_sibling(void **state)
{
    (void)state;
    write_bytes("sib-im.gz", idx_images(3, 2, 2, 3), 1);
    write_bytes("sib-lb.gz", idx_labels(3, 3), 1);
    char im[256], lb[256];
    snprintf(im, sizeof im, "%s/sib-im", tmpdir);
    snprintf(lb, sizeof lb, "%s/sib-lb", tmpdir);
    df_dataset ds;
    df_error err;
    assert_int_equal(df_dataset_load_idx(&ds, im, lb, 0, &err), DF_OK);
    assert_int_equal(ds.n, 3);
    assert_int_equal(ds.n_classes, 3);
    df_dataset_free(&ds);
}

/* Loads DIR/{train,t10k}-*-ubyte.gz and checks the counts and shapes. */
static void expect_mnist_like(const char *dir, int64_t n_train, int64_t n_test)
{
    const char *sets[2] = {"train", "t10k"};
    int64_t counts[2] = {n_train, n_test};
    for (int s = 0; s < 2; s++) {
        char im[512], lb[512];
        snprintf(im, sizeof im, "%s/%s-images-idx3-ubyte.gz", dir, sets[s]);
        snprintf(lb, sizeof lb, "%s/%s-labels-idx1-ubyte.gz", dir, sets[s]);
        df_dataset ds;
        df_error err = {0, ""};
        int rc = df_dataset_load_idx(&ds, im, lb, 10, &err);
        if (rc)
            print_error("%s\n", err.msg);
        assert_int_equal(rc, DF_OK);
        assert_int_equal(ds.n, counts[s]);
        assert_int_equal(ds.channels, 1);
        assert_int_equal(ds.rows, 28);
        assert_int_equal(ds.cols, 28);
        assert_int_equal(ds.n_classes, 10);
        df_dataset_free(&ds);
    }
}

static int dir_has(const char *dir, const char *name)
{
    char path[512];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    return access(path, R_OK) == 0;
}

static void embedded_sample_has_5000_train_and_1000_test_digits(void **state)
{
    (void)state;
    const char *dir = getenv("DF_SAMPLE") ? getenv("DF_SAMPLE") : "data/mnist-sample";
    if (!dir_has(dir, "train-images-idx3-ubyte.gz")) {
        print_message("    skipped: no MNIST sample in %s (set DF_SAMPLE)\n", dir);
        skip();
    }
    expect_mnist_like(dir, 5000, 1000);
}

static void fashion_mnist_loads_with_the_same_reader(void **state)
{
    (void)state;
    /* Debian's dataset-fashion-mnist installs here. */
    const char *dir = getenv("DF_FASHION_MNIST") ? getenv("DF_FASHION_MNIST")
                                                 : "/usr/share/datasets/fashion-mnist";
    if (!dir_has(dir, "train-images-idx3-ubyte.gz")) {
        print_message("    skipped: no Fashion-MNIST in %s "
                      "(apt-get install dataset-fashion-mnist)\n",
                      dir);
        skip();
    }
    expect_mnist_like(dir, 60000, 10000);
}

/* ---- defects in the files ---- */

static void wrong_magic_names_found_and_expected(void **state)
{
    (void)state;
    const char *lb = write_bytes("wm-lb", idx_labels(4, 2), 0);
    const char *im = write_bytes("wm-im", idx_images(4, 2, 2, 4), 0);
    /* images and labels swapped: each file's magic is the other's */
    expect_input_error(lb, im, 0, lb, "wrong magic 0x00000801");
    expect_input_error(lb, im, 0, lb, "expected 0x00000803");
    expect_input_error(im, im, 0, im, "expected 0x00000801");
    const char *junk = write_plain("wm-junk", "hello, world, this is text", 26);
    expect_input_error(junk, lb, 0, junk, "wrong magic");
    /* gzip data under a plain name is recognised as such */
    const char *gz_plain = write_bytes("wm-gz-named-plain", idx_images(4, 2, 2, 4), 1);
    expect_input_error(gz_plain, lb, 0, gz_plain, "gzip");
}

static void truncated_header_is_an_input_error(void **state)
{
    (void)state;
    const char *lb = write_bytes("th-lb", idx_labels(4, 2), 0);
    for (int gz = 0; gz <= 1; gz++) {
        bytes b = idx_images(4, 2, 2, 4);
        b.len = 10; /* magic, count and half of the rows */
        const char *im = write_bytes(gz ? "th-im.gz" : "th-im", b, gz);
        expect_input_error(im, lb, 0, im, "truncated");
        expect_input_error(im, lb, 0, im, "header");
        const char *empty = gz ? write_gz("th-empty.gz", "", 0)
                               : write_plain("th-empty", "", 0);
        expect_input_error(empty, lb, 0, empty, "truncated");
    }
    bytes b = idx_labels(4, 2);
    b.len = 6;
    const char *im = write_bytes("th-im-ok", idx_images(4, 2, 2, 4), 0);
    const char *short_lb = write_bytes("th-lb-short", b, 0);
    expect_input_error(im, short_lb, 0, short_lb, "truncated");
}

static void truncated_payload_says_how_many_items_are_there(void **state)
{
    (void)state;
    const char *lb = write_bytes("tp-lb", idx_labels(10, 2), 0);
    for (int gz = 0; gz <= 1; gz++) {
        bytes b = idx_images(10, 4, 4, 4);
        b.p = realloc(b.p, b.len + 5); /* and a partial fifth image */
        assert_non_null(b.p);
        memset(b.p + b.len, 9, 5);
        b.len += 5;
        const char *im = write_bytes(gz ? "tp-im.gz" : "tp-im", b, gz);
        expect_input_error(im, lb, 0, im, "truncated: header says 10 images of 4x4");
        expect_input_error(im, lb, 0, im, "ends after 4 of them");
    }
    bytes b = idx_labels(10, 2);
    b.len -= 3;
    const char *im = write_bytes("tp-im-ok", idx_images(10, 4, 4, 10), 0);
    const char *short_lb = write_bytes("tp-lb-short.gz", b, 1);
    expect_input_error(im, short_lb, 0, short_lb, "ends after 7 of them");
}

static void cut_gzip_stream_is_reported_as_truncated(void **state)
{
    (void)state;
    /* Incompressible-ish pixels, so the cut lands inside the payload. */
    bytes b = idx_images(200, 28, 28, 200);
    for (size_t i = 16; i < b.len; i++)
        b.p[i] = (uint8_t)(df_rng_u64(7, i) >> 56);
    const char *whole = write_bytes("cut-whole.gz", b, 1);
    struct stat st;
    assert_int_equal(stat(whole, &st), 0);
    FILE *f = fopen(whole, "rb");
    assert_non_null(f);
    size_t half = (size_t)st.st_size / 2;
    uint8_t *gz = malloc(half);
    assert_non_null(gz);
    assert_int_equal(fread(gz, 1, half, f), half);
    fclose(f);
    const char *cut = write_plain("cut-half.gz", gz, half);
    free(gz);
    const char *lb = write_bytes("cut-lb", idx_labels(200, 10), 0);
    expect_input_error(cut, lb, 0, cut, "truncated");
}

static void trailing_bytes_after_the_payload_are_rejected(void **state)
{
    (void)state;
    for (int gz = 0; gz <= 1; gz++) {
        bytes b = idx_images(3, 2, 2, 4); /* header says 3, holds 4 */
        const char *im = write_bytes(gz ? "tb-im.gz" : "tb-im", b, gz);
        const char *lb = write_bytes(gz ? "tb-lb.gz" : "tb-lb", idx_labels(3, 2), gz);
        expect_input_error(im, lb, 0, im, "trailing");
        bytes l = idx_labels(3, 2);
        l.p = realloc(l.p, l.len + 1);
        assert_non_null(l.p);
        l.p[l.len++] = 1;
        const char *long_lb = write_bytes(gz ? "tb-lb-long.gz" : "tb-lb-long", l, gz);
        const char *ok_im = write_bytes("tb-im-ok", idx_images(3, 2, 2, 3), 0);
        expect_input_error(ok_im, long_lb, 0, long_lb, "trailing");
    }
}

static void count_mismatch_names_both_files(void **state)
{
    (void)state;
    const char *im = write_bytes("cm-im", idx_images(5, 2, 2, 5), 0);
    const char *lb = write_bytes("cm-lb.gz", idx_labels(4, 2), 1);
    expect_input_error(im, lb, 0, lb, "mismatch");
    expect_input_error(im, lb, 0, lb, im);
}

static void label_beyond_max_classes_is_out_of_range(void **state)
{
    (void)state;
    const char *im = write_bytes("lr-im", idx_images(12, 2, 2, 12), 0);
    const char *lb = write_bytes("lr-lb", idx_labels(12, 12), 0); /* labels 0..11 */
    expect_input_error(im, lb, 10, lb, "out of range");
    expect_input_error(im, lb, 10, lb, "item 10 has label 10");
    /* max_classes 0 leaves the labels unbounded, up to what a byte holds */
    df_dataset ds;
    df_error err;
    assert_int_equal(df_dataset_load_idx(&ds, im, lb, 0, &err), DF_OK);
    assert_int_equal(ds.n_classes, 12);
    df_dataset_free(&ds);
    assert_int_equal(df_dataset_load_idx(&ds, im, lb, 12, &err), DF_OK);
    df_dataset_free(&ds);
}

/* A header is a promise the file must keep before we act on it. A loader
 * that allocated what these headers claim (up to 1.6 PB) would fail with
 * DF_ENOMEM or exhaust memory; the input error shows it never tried. */
static void oversized_headers_fail_before_allocating(void **state)
{
    (void)state;
    const char *lb = write_bytes("os-lb", idx_labels(4, 2), 0);
    for (int gz = 0; gz <= 1; gz++) {
        bytes b = idx_images(4, 5000, 2, 0);
        const char *im = write_bytes(gz ? "os-side.gz" : "os-side", b, gz);
        expect_input_error(im, lb, 0, im, "DF_IDX_MAX_SIDE");

        b = idx_images(200000000, 2, 2, 0);
        im = write_bytes(gz ? "os-items.gz" : "os-items", b, gz);
        expect_input_error(im, lb, 0, im, "DF_IDX_MAX_ITEMS");

        b = idx_images(0, 2, 2, 0);
        im = write_bytes(gz ? "os-zero.gz" : "os-zero", b, gz);
        expect_input_error(im, lb, 0, im, "0 images");

        bytes l = idx_labels(4, 2);
        put_be32(l.p + 4, 100000000);
        const char *huge_lb = write_bytes(gz ? "os-huge-lb.gz" : "os-huge-lb", l, gz);

        /* each dimension within its limit, the product absurd */
        b = idx_images(100000000, 4096, 4096, 1);
        b.len = 16 + 1000;
        im = write_bytes(gz ? "os-huge.gz" : "os-huge", b, gz);
        expect_input_error(im, huge_lb, 0, im,
                           "truncated: header says 100000000 images of 4096x4096");

        const char *ok_im = write_bytes(gz ? "os-ok.gz" : "os-ok", idx_images(4, 2, 2, 4), gz);
        expect_input_error(ok_im, huge_lb, 0, huge_lb, "100000000 labels");
    }
}

static void missing_file_names_the_path(void **state)
{
    (void)state;
    const char *im = write_bytes("mf-im", idx_images(2, 2, 2, 2), 0);
    const char *lb = write_bytes("mf-lb", idx_labels(2, 2), 0);
    char missing[256];
    snprintf(missing, sizeof missing, "%s/no-such-file", tmpdir);
    expect_input_error(missing, lb, 0, missing, "No such file");
    expect_input_error(missing, lb, 0, missing, "no-such-file.gz"); /* the sibling too */
    expect_input_error(im, missing, 0, missing, "cannot open");
    snprintf(missing, sizeof missing, "%s/no-such-file.gz", tmpdir);
    expect_input_error(im, missing, 0, missing, "No such file");
    expect_input_error(tmpdir, lb, 0, tmpdir, "directory");
}

static void load_without_error_struct_still_reports_code(void **state)
{
    (void)state;
    df_dataset ds;
    assert_int_equal(df_dataset_load_idx(&ds, "/nonexistent/x", "/nonexistent/y", 0, NULL),
                     DF_EINPUT);
    assert_true(is_empty(&ds));
}

/* ---- split and gather ---- */

/* Ten 3x2 images (item i has pixels pixel_of(i, k), label i), items
 * [start, start + n_out) split off: the split holds them in order, the
 * rest keep theirs, and the class count stays the task's. */
static void check_split(const char *tag, int64_t start, int64_t n_out)
{
    char im_name[32], lb_name[32];
    snprintf(im_name, sizeof im_name, "%s-im", tag);
    snprintf(lb_name, sizeof lb_name, "%s-lb", tag);
    const char *im = write_bytes(im_name, idx_images(10, 3, 2, 10), 0);
    const char *lb = write_bytes(lb_name, idx_labels(10, 10), 0);
    df_dataset all, out;
    df_error err;
    assert_int_equal(df_dataset_load_idx(&all, im, lb, 10, &err), DF_OK);
    assert_int_equal(df_dataset_split_range(&all, &out, start, n_out, &err), DF_OK);
    assert_int_equal(out.n, n_out);
    assert_int_equal(all.n, 10 - n_out);
    assert_int_equal(out.rows, 3);
    assert_int_equal(out.cols, 2);
    assert_int_equal(out.n_classes, 10);
    for (uint32_t i = 0; i < (uint32_t)n_out; i++) {
        assert_int_equal(out.labels[i], (int32_t)(start + i));
        for (uint32_t k = 0; k < 6; k++)
            assert_int_equal(out.pixels[i * 6 + k], pixel_of((uint32_t)start + i, k));
    }
    for (uint32_t i = 0; i < (uint32_t)all.n; i++) {
        uint32_t item = i < start ? i : i + (uint32_t)n_out;
        assert_int_equal(all.labels[i], (int32_t)item);
        for (uint32_t k = 0; k < 6; k++)
            assert_int_equal(all.pixels[i * 6 + k], pixel_of(item, k));
    }
    df_dataset_free(&out);
    /* a range past the end, a negative start or count, one that takes
     * everything: refused, nothing moved */
    assert_int_equal(df_dataset_split_range(&all, &out, all.n - 1, 2, &err), DF_EINPUT);
    assert_non_null(strstr(err.msg, "outside"));
    assert_int_equal(df_dataset_split_range(&all, &out, -1, 2, &err), DF_EINPUT);
    assert_int_equal(df_dataset_split_range(&all, &out, 0, -1, &err), DF_EINPUT);
    assert_int_equal(df_dataset_split_range(&all, &out, 0, all.n, &err), DF_EINPUT);
    assert_true(is_empty(&out));
    assert_int_equal(all.n, 10 - n_out);
    df_dataset_free(&all);
}

static void split_range_moves_the_last_items_and_keeps_the_classes(void **state)
{
    (void)state;
    check_split("st", 7, 3);
}

static void split_range_moves_a_middle_block_and_keeps_the_rest_in_order(void **state)
{
    (void)state;
    check_split("sr", 2, 4);
    check_split("sh", 0, 3);
}

static void gather_scales_pixels_and_copies_labels(void **state)
{
    (void)state;
    uint8_t pixels[3 * 4] = {0, 1, 2, 255, 10, 20, 30, 40, 128, 64, 32, 16};
    int32_t labels[3] = {7, 8, 9};
    df_dataset ds = {3, 1, 2, 2, 10, pixels, labels};
    int64_t idx[4] = {2, 0, 2, 1};
    float x[4 * 4];
    int32_t y[4];
    const float scale = 1.0f / 255.0f;
    df_dataset_gather(&ds, idx, 4, scale, x, y);
    for (int k = 0; k < 4; k++) {
        assert_int_equal(y[k], labels[idx[k]]);
        for (int i = 0; i < 4; i++)
            assert_true(x[k * 4 + i] == (float)pixels[idx[k] * 4 + i] * scale);
    }
    assert_true(x[1 * 4 + 3] == 1.0f);
}

/* ---- the sampler ---- */

static void order_of_epoch(uint64_t seed, int64_t epoch, int32_t *perm, int64_t n)
{
    df_rng_permutation(df_rng_key(seed, DF_RNG_SHUFFLE, (uint64_t)epoch, 0, 0), perm, n);
}

static void one_epoch_of_indices_is_a_permutation(void **state)
{
    (void)state;
    enum { N = 1000 };
    df_sampler s;
    df_error err;
    assert_int_equal(df_sampler_init(&s, N, 42, &err), DF_OK);
    for (int64_t epoch = 0; epoch < 3; epoch++) {
        int64_t idx[N];
        int seen[N] = {0};
        df_sampler_indices(&s, epoch * N, N, idx);
        for (int i = 0; i < N; i++) {
            assert_true(idx[i] >= 0 && idx[i] < N);
            seen[idx[i]]++;
        }
        for (int i = 0; i < N; i++)
            assert_int_equal(seen[i], 1);
    }
    df_sampler_free(&s);
}

static void order_differs_between_epochs_and_seeds(void **state)
{
    (void)state;
    enum { N = 500 };
    df_sampler a, b;
    df_error err;
    assert_int_equal(df_sampler_init(&a, N, 1, &err), DF_OK);
    assert_int_equal(df_sampler_init(&b, N, 2, &err), DF_OK);
    int64_t e0[N], e1[N], other_seed[N], again[N];
    df_sampler_indices(&a, 0, N, e0);
    df_sampler_indices(&a, N, N, e1);
    df_sampler_indices(&b, 0, N, other_seed);
    assert_memory_not_equal(e0, e1, sizeof e0);
    assert_memory_not_equal(e0, other_seed, sizeof e0);
    /* and it is a pure function of (seed, epoch): back to epoch 0 */
    df_sampler_indices(&a, 5 * N, N, again);
    df_sampler_indices(&a, 0, N, again);
    assert_memory_equal(e0, again, sizeof e0);
    df_sampler_free(&a);
    df_sampler_free(&b);
}

static void positions_across_an_epoch_boundary_map_to_both_epochs(void **state)
{
    (void)state;
    enum { N = 10 };
    const uint64_t seed = 99;
    int32_t o4[N], o5[N], o6[N];
    order_of_epoch(seed, 4, o4, N);
    order_of_epoch(seed, 5, o5, N);
    order_of_epoch(seed, 6, o6, N);
    df_sampler s;
    df_error err;
    assert_int_equal(df_sampler_init(&s, N, seed, &err), DF_OK);
    /* positions 47..63: the last 3 of epoch 4, all of 5, the first 4 of 6 */
    int64_t idx[17];
    df_sampler_indices(&s, 47, 17, idx);
    for (int k = 0; k < 3; k++)
        assert_int_equal(idx[k], o4[7 + k]);
    for (int k = 0; k < N; k++)
        assert_int_equal(idx[3 + k], o5[k]);
    for (int k = 0; k < 4; k++)
        assert_int_equal(idx[13 + k], o6[k]);
    df_sampler_free(&s);
}

static void two_pieces_of_a_range_equal_one_call(void **state)
{
    (void)state;
    enum { N = 37, K = 100 };
    df_sampler whole, parts;
    df_error err;
    assert_int_equal(df_sampler_init(&whole, N, 5, &err), DF_OK);
    assert_int_equal(df_sampler_init(&parts, N, 5, &err), DF_OK);
    const int64_t starts[] = {0, 20, 36, 37, 1000};
    for (size_t t = 0; t < sizeof starts / sizeof *starts; t++) {
        int64_t one[K], two[K];
        df_sampler_indices(&whole, starts[t], K, one);
        for (int j = 0; j <= K; j++) {
            df_sampler_indices(&parts, starts[t], j, two);
            df_sampler_indices(&parts, starts[t] + j, K - j, two + j);
            assert_memory_equal(one, two, sizeof one);
        }
    }
    df_sampler_free(&whole);
    df_sampler_free(&parts);
}

static void sampler_rejects_an_empty_dataset(void **state)
{
    (void)state;
    df_sampler s;
    df_error err;
    assert_int_equal(df_sampler_init(&s, 0, 1, &err), DF_EINPUT);
    assert_int_equal(df_sampler_init(&s, (int64_t)INT32_MAX + 1, 1, &err), DF_EINPUT);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(plain_and_gzip_files_load_identically),
        cmocka_unit_test(plain_name_falls_back_to_its_gz_sibling),
        cmocka_unit_test(embedded_sample_has_5000_train_and_1000_test_digits),
        cmocka_unit_test(fashion_mnist_loads_with_the_same_reader),
        cmocka_unit_test(wrong_magic_names_found_and_expected),
        cmocka_unit_test(truncated_header_is_an_input_error),
        cmocka_unit_test(truncated_payload_says_how_many_items_are_there),
        cmocka_unit_test(cut_gzip_stream_is_reported_as_truncated),
        cmocka_unit_test(trailing_bytes_after_the_payload_are_rejected),
        cmocka_unit_test(count_mismatch_names_both_files),
        cmocka_unit_test(label_beyond_max_classes_is_out_of_range),
        cmocka_unit_test(oversized_headers_fail_before_allocating),
        cmocka_unit_test(missing_file_names_the_path),
        cmocka_unit_test(load_without_error_struct_still_reports_code),
        cmocka_unit_test(split_range_moves_the_last_items_and_keeps_the_classes),
        cmocka_unit_test(split_range_moves_a_middle_block_and_keeps_the_rest_in_order),
        cmocka_unit_test(gather_scales_pixels_and_copies_labels),
        cmocka_unit_test(one_epoch_of_indices_is_a_permutation),
        cmocka_unit_test(order_differs_between_epochs_and_seeds),
        cmocka_unit_test(positions_across_an_epoch_boundary_map_to_both_epochs),
        cmocka_unit_test(two_pieces_of_a_range_equal_one_call),
        cmocka_unit_test(sampler_rejects_an_empty_dataset),
    };
    return cmocka_run_group_tests(tests, make_tmpdir, remove_tmpdir);
}
