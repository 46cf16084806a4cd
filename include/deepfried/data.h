/* Datasets: IDX files (plain or gzip, as MNIST and Fashion-MNIST ship),
 * the global epoch order, and the per-rank slice of each global batch. */
#ifndef DEEPFRIED_DATA_H
#define DEEPFRIED_DATA_H

#include <stdint.h>
#include <stddef.h>
#include "deepfried/error.h"

/* Limits on what a data file may ask us to allocate; the error names them. */
#define DF_IDX_MAX_ITEMS   100000000LL  /* images or labels in one file */
#define DF_IDX_MAX_SIDE    4096         /* rows or columns of one image */
#define DF_IDX_MAX_CLASSES 256

typedef struct df_dataset {
    int64_t n;          /* number of images (== number of labels) */
    int channels;       /* 1 for IDX (rank-3 image files) */
    int rows, cols;     /* image height and width */
    int n_classes;      /* max label + 1 */
    uint8_t *pixels;    /* n * channels * rows * cols, row-major */
    int32_t *labels;    /* n, each in [0, n_classes) */
} df_dataset;

/* Load an IDX image file (magic 0x00000803, ubyte) and an IDX label file
 * (magic 0x00000801, ubyte). A path ending in ".gz" is read through zlib;
 * a plain path that does not exist but whose ".gz" sibling does is read
 * from that. Errors name the file and what is wrong: missing, wrong magic,
 * truncated, trailing bytes, image/label count mismatch, label out of range
 * (max_classes > 0 bounds the labels). On error *ds is left empty. */
int df_dataset_load_idx(df_dataset *ds, const char *images_path,
                        const char *labels_path, int max_classes,
                        df_error *err);
void df_dataset_free(df_dataset *ds);

/* Split off items [start, start + n_out) of *all into *out (copies); *all
 * keeps the others, in their order. For a held-out validation set. */
int df_dataset_split_range(df_dataset *all, df_dataset *out, int64_t start,
                           int64_t n_out, df_error *err);

/* Pixels per image (channels * rows * cols). */
size_t df_dataset_image_size(const df_dataset *ds);

/* Copy items idx[0..count) into x (count, image_size) as float * scale, and
 * their labels into y. */
void df_dataset_gather(const df_dataset *ds, const int64_t *idx, int count,
                       float scale, float *x, int32_t *y);

/* The training stream: global position p = step * batch + j (j-th item of
 * step's global batch) maps to epoch e = p / n and the item
 * order_e[p % n], where order_e is a permutation of [0, n) drawn from
 * (seed, e) alone. So any rank can compute any item of any step, and a run
 * resumed at step s sees exactly the items an uninterrupted run would. */
typedef struct df_sampler {
    int64_t n;
    uint64_t seed;
    int64_t cached_epoch[2];  /* -1 when empty */
    int32_t *order[2];        /* cached permutations */
} df_sampler;

int df_sampler_init(df_sampler *s, int64_t n, uint64_t seed, df_error *err);
void df_sampler_free(df_sampler *s);
/* Dataset indices of global positions [first, first + count). */
void df_sampler_indices(df_sampler *s, int64_t first, int count, int64_t *idx);

#endif
