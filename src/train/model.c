/* Opening a trained model from its checkpoint. */
#include "deepfried/model.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "deepfried/data.h"

int df_is_checkpoint_file(const char *path)
{
    static const unsigned char hdf5_signature[8] = {0x89, 'H', 'D', 'F', '\r', '\n', 0x1a, '\n'};
    size_t len = strlen(path);
    if (len >= 3 && strcmp(path + len - 3, ".h5") == 0)
        return 1;
    /* only a regular file is looked into: reading from a pipe (train
     * <(...)) would take bytes from the config, opening a FIFO could hang */
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
    if (fd < 0)
        return 0;
    unsigned char head[DF_CKPT_HEADER_BYTES + sizeof hdf5_signature];
    struct stat st;
    ssize_t got = fstat(fd, &st) == 0 && S_ISREG(st.st_mode) ? pread(fd, head, sizeof head, 0) : 0;
    close(fd);
    size_t magic_len = strlen(DF_CKPT_MAGIC);
    if (got >= (ssize_t)magic_len && memcmp(head, DF_CKPT_MAGIC, magic_len) == 0)
        return 1;
    /* format 1 (no header), or a header overwritten: the checkpoint reader
     * says which */
    return (got >= (ssize_t)sizeof hdf5_signature &&
            memcmp(head, hdf5_signature, sizeof hdf5_signature) == 0) ||
           (got == (ssize_t)sizeof head &&
            memcmp(head + DF_CKPT_HEADER_BYTES, hdf5_signature, sizeof hdf5_signature) == 0);
}

void df_model_input_shape(const df_config *cfg, int *c, int *h, int *w, char *note,
                          size_t note_size)
{
    df_dataset ds;
    df_error why;
    *c = 1;
    *h = *w = 28;
    if (df_dataset_load_idx(&ds, cfg->data.test_images, cfg->data.test_labels,
                            DF_IDX_MAX_CLASSES, &why) == DF_OK) {
        *c = ds.channels;
        *h = ds.rows;
        *w = ds.cols;
        df_dataset_free(&ds);
        if (note)
            note[0] = '\0';
    } else if (note) {
        snprintf(note, note_size, "input shape assumed 1x28x28: %s", why.msg);
    }
}

/* The stored text with run.dir and checkpoint.dir left out (the text
 * is fully resolved, so it names both). */
static int without_run_dirs(char **text, const char *path, df_error *err)
{
    df_config *cfg = malloc(sizeof *cfg);
    if (!cfg)
        return df_fail(err, DF_ENOMEM, "out of memory");
    int rc = df_config_parse(cfg, *text, path, NULL, 0, 0, err);
    if (rc == DF_OK) {
        cfg->run.dir[0] = '\0';
        cfg->checkpoint.dir[0] = '\0';
        char *bare = df_config_to_text(cfg);
        if (bare) {
            free(*text);
            *text = bare;
        } else {
            rc = df_fail(err, DF_ENOMEM, "out of memory");
        }
    }
    free(cfg);
    return rc;
}

int df_model_read_config(df_config *cfg, const char *path,
                         const char *const *overrides, int n_overrides,
                         int for_training, df_ckpt_meta *meta, df_error *err)
{
    char *text = NULL;
    int rc = df_checkpoint_read_config(path, &text, meta, err);
    if (rc == DF_OK && for_training)
        rc = without_run_dirs(&text, path, err);
    if (rc == DF_OK)
        rc = df_config_parse(cfg, text, path, overrides, n_overrides, for_training, err);
    free(text);
    return rc;
}

int df_model_open(df_model *m, const char *path, const char *const *overrides,
                  int n_overrides, int max_batch, char *shape_note,
                  size_t note_size, df_error *err)
{
    memset(m, 0, sizeof *m);
    int rc = df_model_read_config(&m->cfg, path, overrides, n_overrides, 0, &m->meta, err);
    if (rc)
        return rc;
    df_model_input_shape(&m->cfg, &m->in_c, &m->in_h, &m->in_w, shape_note, note_size);
    rc = df_net_build(&m->net, m->cfg.layers, m->cfg.n_layers, m->in_c, m->in_h, m->in_w,
                      max_batch, err);
    if (rc)
        return rc;
    rc = df_checkpoint_load(path, &m->net, NULL, &m->metrics, &m->meta, err);
    if (rc)
        df_model_close(m);
    return rc;
}

void df_model_close(df_model *m)
{
    df_net_free(&m->net);
    df_metrics_free(&m->metrics);
}
