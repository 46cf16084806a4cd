/* Fuzz harness: the IDX reader (df_dataset_load_idx), plain and gzip.
 *
 * Input: byte 0 says how each of the two files is stored, byte 1-2 (little
 * endian) how many of the following bytes are the image file; the rest is
 * the label file.
 *   bits 0-1: images, bits 2-3: labels
 *     0 plain file
 *     1 the bytes as they are, in a file named *.gz (a damaged or fake
 *       gzip stream)
 *     2 the bytes gzip-compressed here (a sound stream, so the IDX checks
 *       behind zlib see the bytes)
 *     3 as 2, but the reader is given the name without ".gz" and must
 *       find the compressed sibling itself
 *   bit 4: max_classes = 10 (MNIST's) instead of no bound
 *
 * Beyond "no crash, no sanitizer report, no leak": no descriptor is left
 * open, a failure carries a message and a documented status and leaves
 * the dataset empty, and a success describes buffers of the size it says
 * with every label below n_classes. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

#include "deepfried/data.h"
#include "fuzz_util.h"

enum { STORE_PLAIN, STORE_RAW_GZ, STORE_GZIP, STORE_GZ_SIBLING };

/* Write one file as `store` says; path gets the name to hand the reader. */
static void store_file(const char *base, int store, const uint8_t *p, size_t n,
                       char *path, size_t cap)
{
    char plain[256], gz[sizeof plain + 3];
    fuzz_path(plain, sizeof plain, base);
    snprintf(gz, sizeof gz, "%s.gz", plain);
    unlink(plain);
    unlink(gz);
    snprintf(path, cap, "%s", store == STORE_PLAIN || store == STORE_GZ_SIBLING ? plain : gz);
    if (store == STORE_PLAIN || store == STORE_RAW_GZ) {
        fuzz_write(path, p, n);
        return;
    }
    gzFile f = gzopen(gz, "wb1");
    FUZZ_CHECK(f != NULL, "cannot create %s", gz);
    FUZZ_CHECK(n == 0 || gzwrite(f, p, (unsigned)n) == (int)n, "cannot write %s", gz);
    FUZZ_CHECK(gzclose(f) == Z_OK, "cannot close %s", gz);
}

static void check_dataset(const df_dataset *ds, int max_classes)
{
    FUZZ_CHECK(ds->n > 0 && ds->channels == 1, "n %lld channels %d", (long long)ds->n,
               ds->channels);
    FUZZ_CHECK(ds->rows >= 1 && ds->rows <= DF_IDX_MAX_SIDE && ds->cols >= 1 &&
                   ds->cols <= DF_IDX_MAX_SIDE, "image %dx%d", ds->rows, ds->cols);
    FUZZ_CHECK(ds->n_classes >= 1 && ds->n_classes <= DF_IDX_MAX_CLASSES &&
                   (max_classes == 0 || ds->n_classes <= max_classes),
               "n_classes %d (max_classes %d)", ds->n_classes, max_classes);
    for (int64_t i = 0; i < ds->n; i++)
        FUZZ_CHECK(ds->labels[i] >= 0 && ds->labels[i] < ds->n_classes,
                   "label %d of item %lld", ds->labels[i], (long long)i);
    /* the last byte the dataset claims: ASan knows if it is not there */
    size_t pixels = (size_t)ds->n * df_dataset_image_size(ds);
    volatile uint8_t last = ds->pixels[pixels - 1];
    (void)last;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 3)
        return 0;
    int store_images = data[0] & 3, store_labels = (data[0] >> 2) & 3;
    int max_classes = (data[0] & 16) ? 10 : 0;
    size_t n_images = (size_t)data[1] | (size_t)data[2] << 8;
    data += 3;
    size -= 3;
    if (n_images > size)
        n_images = size;

    char images[272], labels[272];
    store_file("images", store_images, data, n_images, images, sizeof images);
    store_file("labels", store_labels, data + n_images, size - n_images, labels, sizeof labels);

    int fd_before = fuzz_lowest_free_fd();
    df_dataset ds;
    df_error err;
    memset(&err, 0, sizeof err);
    int rc = df_dataset_load_idx(&ds, images, labels, max_classes, &err);
    fuzz_note("load", rc, &err);
    if (rc == 0) {
        check_dataset(&ds, max_classes);
    } else {
        fuzz_check_error(rc, &err);
        FUZZ_CHECK(!ds.pixels && !ds.labels && ds.n == 0, "a failed load left data behind");
    }
    df_dataset_free(&ds);
    FUZZ_CHECK(fuzz_lowest_free_fd() == fd_before, "a file descriptor was left open");
    return 0;
}
