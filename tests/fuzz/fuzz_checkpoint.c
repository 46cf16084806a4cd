/* Fuzz harness: the checkpoint reader. The input is a checkpoint file,
 * read the way `deepfried eval`/`inspect` do (src/train/model.c): the stored
 * config (df_checkpoint_read_config, then df_config_parse), then the
 * tensors (df_checkpoint_load) into a net built here from TINY_CONF, so the
 * load has real shapes to check and permutations to verify. Two nets, one
 * with an adaptive and one with a fixed Fastfood layer (which stores S, G,
 * B under /fixed): the stored config picks, as it would pick the net a
 * user's eval builds.
 *
 * Byte 0 of the input says how the rest becomes the file:
 *   even  raw: the rest is the file as on disk. Unless its integrity header
 *         matches (which a mutation almost never keeps), the reader must
 *         refuse it with the header's message before HDF5 reads a byte:
 *         checked against df_checkpoint_verify.
 *   odd   sealed: the rest is the HDF5 part (from the superblock on) and
 *         the harness puts a matching integrity header in front, so that
 *         HDF5's parsers and every check behind them still get fuzzed. A
 *         crash found this way needs a file whose checksum was forged on
 *         purpose; no damage on a disk reaches it (docs/hardening.md).
 * DF_FUZZ_CHECKPOINT_MODE=raw or sealed overrides byte 0 (tests/fuzz/run.sh
 * checkpoint-raw, checkpoint-sealed). The seed corpus
 * (tests/fuzz/corpus/checkpoint) holds real checkpoints of these nets in
 * both forms, made by tests/fuzz/make-corpus.sh.
 *
 * Beyond "no crash, no sanitizer report, no leak": every HDF5 object and
 * file descriptor is closed again, a failure carries a message and a
 * documented status and leaves the caller's params and momentum as they
 * were, and a success fills only finite parameters. */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <hdf5.h>

#include "deepfried/checkpoint.h"
#include "deepfried/config.h"
#include "deepfried/metrics.h"
#include "deepfried/net.h"
#include "fuzz_util.h"

/* The net of the seed checkpoints: MNIST 28x28 -> maxpool 4 (7x7 = 49)
 * -> Fastfood to the 10 class scores (d 64, k 1) -> softmax. As few
 * datasets as a checkpoint can have, to keep the seeds under 64 KB (each
 * chunked dataset costs ~2.3 KB of B-tree). */
#define TINY_CONF(adaptive)                                                          \
    "[run]\nname = fuzz-tiny\nseed = 3\n"                                            \
    "[data]\ntrain_images = train-images-idx3-ubyte.gz\n"                            \
    "train_labels = train-labels-idx1-ubyte.gz\n"                                    \
    "test_images = t10k-images-idx3-ubyte.gz\ntest_labels = t10k-labels-idx1-ubyte.gz\n" \
    "[solver]\nbatch = 16\niterations = 20\ndisplay = 5\ntest_interval = 10\n"        \
    "[checkpoint]\ninterval = 10\n"                                                  \
    "[layer pool]\ntype = maxpool\nkernel = 4\n"                                     \
    "[layer ff]\ntype = fastfood\nfeatures = 10\nadaptive = " adaptive "\nsigma = 0.1\n" \
    "[layer loss]\ntype = softmax_loss\n"

typedef struct tiny {
    df_net net;
    float *momentum;
    float *saved;   /* params then momentum, to see that a failure changed nothing */
} tiny;

static tiny nets[2];   /* [0] adaptive, [1] fixed */

static void tiny_build(tiny *t, const char *text)
{
    static df_config cfg;
    df_error err;
    FUZZ_CHECK(df_config_parse(&cfg, text, "tiny.conf", NULL, 0, 0, &err) == 0, "%s", err.msg);
    FUZZ_CHECK(df_net_build(&t->net, cfg.layers, cfg.n_layers, 1, 28, 28, 1, &err) == 0, "%s", err.msg);
    df_net_init_params(&t->net, 3);
    t->momentum = calloc(t->net.n_params, sizeof(float));
    t->saved = calloc(2 * t->net.n_params, sizeof(float));
    FUZZ_CHECK(t->momentum && t->saved, "out of memory");
}

static void nets_init(void)
{
    static int ready;
    if (ready)
        return;
    tiny_build(&nets[0], TINY_CONF("true"));
    tiny_build(&nets[1], TINY_CONF("false"));
    ready = 1;
}

/* eval builds its net from the stored config: fixed Fastfood -> nets[1]. */
static int pick_net(const char *text)
{
    static df_config cfg;
    df_error err;
    if (df_config_parse(&cfg, text, "stored.conf", NULL, 0, 0, &err) != 0) {
        fuzz_check_error(DF_EINPUT, &err);
        return 0;
    }
    int ff = df_config_find_layer(&cfg, "ff");
    return ff >= 0 && cfg.layers[ff].type == DF_LAYER_FASTFOOD && !cfg.layers[ff].adaptive;
}

static void load_into(tiny *t, const char *path, const df_error *header_err)
{
    size_t n = t->net.n_params;
    memcpy(t->saved, t->net.params, n * sizeof(float));
    memcpy(t->saved + n, t->momentum, n * sizeof(float));
    df_metrics metrics;
    df_ckpt_meta meta;
    df_error err;
    memset(&metrics, 0, sizeof metrics);
    memset(&err, 0, sizeof err);
    int rc = df_checkpoint_load(path, &t->net, t->momentum, &metrics, &meta, &err);
    fuzz_note(t == &nets[0] ? "load (adaptive net)" : "load (fixed net)", rc, &err);
    FUZZ_CHECK(!header_err || (rc == DF_EINPUT && strcmp(err.msg, header_err->msg) == 0),
               "header says '%s', load said '%s'", header_err->msg, rc ? err.msg : "ok");
    if (rc == 0) {
        for (size_t i = 0; i < n; i++)
            FUZZ_CHECK(isfinite(t->net.params[i]), "param %zu is not finite", i);
        FUZZ_CHECK(meta.step >= 0 && meta.world_size >= 1 && meta.global_batch >= 1,
                   "meta step %lld world %d batch %d", (long long)meta.step,
                   meta.world_size, meta.global_batch);
        FUZZ_CHECK(metrics.n <= metrics.cap, "metrics %zu of %zu", metrics.n, metrics.cap);
    } else {
        fuzz_check_error(rc, &err);
        FUZZ_CHECK(memcmp(t->saved, t->net.params, n * sizeof(float)) == 0 &&
                       memcmp(t->saved + n, t->momentum, n * sizeof(float)) == 0,
                   "a failed load changed the params or momentum: %s", err.msg);
    }
    df_metrics_free(&metrics);
}

/* -1: byte 0 says; 0: raw; 1: sealed. */
static int forced_mode(void)
{
    static int mode = -2;
    if (mode == -2) {
        const char *v = getenv("DF_FUZZ_CHECKPOINT_MODE");
        mode = !v || !*v ? -1 : strcmp(v, "raw") == 0 ? 0 : strcmp(v, "sealed") == 0 ? 1 : -3;
        FUZZ_CHECK(mode != -3, "DF_FUZZ_CHECKPOINT_MODE='%s': raw or sealed", v);
    }
    return mode;
}

/* The file on disk; returns 1 if the reader must refuse it with the
 * message of its integrity header (in *header_err). */
static int write_input(const char *path, const uint8_t *data, size_t size,
                       df_error *header_err)
{
    int sealed = size > 0 && (data[0] & 1);
    if (size > 0) {
        data++;
        size--;
    }
    if (forced_mode() >= 0)
        sealed = forced_mode();
    if (!sealed) {
        fuzz_write(path, data, size);
        return df_checkpoint_verify(path, data, size, header_err) != 0;
    }
    size_t total = size + DF_CKPT_HEADER_BYTES;
    uint8_t *file = malloc(total);
    FUZZ_CHECK(file != NULL, "out of memory");
    if (size)
        memcpy(file + DF_CKPT_HEADER_BYTES, data, size);
    df_checkpoint_seal(file, total);
    fuzz_write(path, file, total);
    free(file);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    nets_init();
    char path[256];
    fuzz_path(path, sizeof path, "ckpt.h5");
    df_error header_err;
    memset(&header_err, 0, sizeof header_err);
    int refused = write_input(path, data, size, &header_err);
    int fd_before = fuzz_lowest_free_fd();

    char *text = NULL;
    df_ckpt_meta meta;
    df_error err;
    memset(&err, 0, sizeof err);
    int which = 0;
    int rc = df_checkpoint_read_config(path, &text, &meta, &err);
    fuzz_note("read_config", rc, &err);
    if (rc == 0) {
        FUZZ_CHECK(text != NULL, "no config text");
        which = pick_net(text);
    } else {
        fuzz_check_error(rc, &err);
        FUZZ_CHECK(text == NULL, "a failed read returned text");
    }
    /* a file whose header does not match never gets past it */
    FUZZ_CHECK(!refused || (rc == DF_EINPUT && strcmp(err.msg, header_err.msg) == 0),
               "header says '%s', read_config said '%s'", header_err.msg, rc ? err.msg : "ok");
    free(text);
    load_into(&nets[which], path, refused ? &header_err : NULL);

    ssize_t open_objects = H5Fget_obj_count((hid_t)H5F_OBJ_ALL, H5F_OBJ_ALL);
    FUZZ_CHECK(open_objects == 0, "%zd HDF5 objects left open", open_objects);
    FUZZ_CHECK(fuzz_lowest_free_fd() == fd_before, "a file descriptor was left open");
    return 0;
}
