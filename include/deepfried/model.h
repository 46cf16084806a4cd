/* A trained model opened from a checkpoint: the config it was trained
 * with (optionally overridden, e.g. other data paths), the network built
 * from it with the stored parameters, and what the checkpoint says of the
 * run. For `deepfried eval` and `deepfried inspect` on checkpoints. */
#ifndef DEEPFRIED_MODEL_H
#define DEEPFRIED_MODEL_H

#include "deepfried/checkpoint.h"
#include "deepfried/config.h"
#include "deepfried/dist.h"
#include "deepfried/error.h"
#include "deepfried/metrics.h"
#include "deepfried/net.h"

typedef struct df_model {
    df_config cfg;
    df_net net;
    df_ckpt_meta meta;
    df_metrics metrics;
    int in_c, in_h, in_w;
} df_model;

/* 1 if path looks like a checkpoint, else 0 (a config): its name ends in
 * ".h5", or it is a regular file that starts with the integrity header's
 * magic or has the HDF5 signature at byte 0 (format 1) or 512 (a damaged
 * header). The checkpoint reader then says what is wrong with it. */
int df_is_checkpoint_file(const char *path);

/* The config stored in checkpoint path, with overrides applied and
 * validated like a .conf. Errors name path (or the --set at fault).
 * for_training (`deepfried train CKPT`, which trains the stored network
 * from the stored parameters as a new run): the data files must be
 * readable, and the stored run.dir and checkpoint.dir are forgotten, so
 * that they default to runs/<run.name> as for a new config unless the
 * overrides set them. */
int df_model_read_config(df_config *cfg, const char *path,
                         const char *const *overrides, int n_overrides,
                         int for_training, df_ckpt_meta *meta, df_error *err);

/* The input shape (C, H, W) from the header of cfg's test images, or
 * MNIST's 1x28x28 when they cannot be read: note (may be NULL) then says
 * why ("input shape assumed 1x28x28: ..."), else is "". */
void df_model_input_shape(const df_config *cfg, int *c, int *h, int *w, char *note,
                          size_t note_size);

/* Open path: read and override its config, build the net for batches of
 * up to max_batch from the input shape of the config's test images (or
 * 1x28x28 when they cannot be read: *shape_note says why, may be NULL),
 * and load the parameters. */
int df_model_open(df_model *m, const char *path, const char *const *overrides,
                  int n_overrides, int max_batch, char *shape_note,
                  size_t note_size, df_error *err);
/* Safe to call again, and on a model whose open failed. */
void df_model_close(df_model *m);

#endif
