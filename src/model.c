/* Opening a trained model from its checkpoint. */
#include "deepfried/model.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "deepfried/data.h"

int df_is_checkpoint_file(const char *path)
{
    static const unsigned char hdf5_signature[8] = {0x89, 'H', 'D', 'F', '\r', '\n', 0x1a, '\n'};
    unsigned char head[8];
    FILE *f = fopen(path, "rb");
    if (!f)
        return 0;
    size_t got = fread(head, 1, sizeof head, f);
    fclose(f);
    return got == sizeof head && memcmp(head, hdf5_signature, sizeof head) == 0;
}

/* The input shape from the test images' header, else MNIST's. */
static void input_shape(df_model *m, char *note, size_t note_size)
{
    df_dataset ds;
    df_error why;
    m->in_c = 1;
    m->in_h = m->in_w = 28;
    if (df_dataset_load_idx(&ds, m->cfg.data.test_images, m->cfg.data.test_labels,
                            DF_IDX_MAX_CLASSES, &why) == DF_OK) {
        m->in_c = ds.channels;
        m->in_h = ds.rows;
        m->in_w = ds.cols;
        df_dataset_free(&ds);
        if (note)
            note[0] = '\0';
    } else if (note) {
        snprintf(note, note_size, "input shape assumed 1x28x28: %s", why.msg);
    }
}

int df_model_open(df_model *m, const char *path, const char *const *overrides,
                  int n_overrides, int max_batch, char *shape_note,
                  size_t note_size, df_error *err)
{
    memset(m, 0, sizeof *m);
    char *text = NULL;
    int rc = df_checkpoint_read_config(path, &text, &m->meta, err);
    if (rc)
        return rc;
    rc = df_config_parse(&m->cfg, text, path, overrides, n_overrides, 0, err);
    free(text);
    if (rc)
        return rc;
    input_shape(m, shape_note, note_size);
    rc = df_net_build(&m->net, &m->cfg, m->in_c, m->in_h, m->in_w, 0, max_batch, err);
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
