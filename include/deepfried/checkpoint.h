/* HDF5 checkpoints (the only module besides the data reader that calls
 * HDF5). Format version 2, see docs/checkpoint-format.md:
 *
 *   bytes 0..511      the integrity header (HDF5's user block, which HDF5
 *                     and h5dump skip): magic "deepfried-ckpt\n", header
 *                     version, the file's length, crc32 of bytes 512..end
 *                     and crc32 of the header itself (checkpoint_seal.c)
 *   bytes 512..       an HDF5 file (superblock at 512):
 *   /                 attrs: format = "deepfried-checkpoint", version (int),
 *                     step, epoch (double), world_size, seed, global_batch,
 *                     created (ISO 8601 UTC), library_version,
 *                     n_params (trainable floats)
 *   /config           the fully resolved config text: one fixed-length
 *                     string in a [1] dataset
 *   /params/<layer>/<tensor>   float32, natural shapes (conv1/weight [20,1,5,5],
 *                              ff/S [k,d], ...)
 *   /fixed/<layer>/perm        int32 [k,d]; and S, G, B when not adaptive
 *   /solver/momentum/<layer>/<tensor>
 *   /rng              attrs: generator = "counter-based splitmix64",
 *                     seed; every draw is keyed by (seed, step, ...), so the
 *                     step restores it
 *   /metrics/<column> float64 [rows] per metrics column
 *
 * Every dataset is chunked with the fletcher32 filter (deflate only on the
 * permutations: float weights barely compress, docs/checkpoint-format.md).
 * Saving builds the file in memory, seals it (the header), writes
 * <dir>/ckpt-<step>.h5.tmp, fsyncs, renames it to ckpt-<step>.h5, fsyncs
 * the directory, then points <dir>/latest at it the same way, then removes
 * all but the newest `keep` checkpoints. A crash at any instant leaves the
 * previous checkpoint and pointer loadable. Reading reads the whole file
 * and verifies the header before HDF5 sees any of it, then opens the bytes
 * in memory: no byte of a damaged file reaches HDF5's parsers. Files
 * without the header (format 1) are refused. */
#ifndef DEEPFRIED_CHECKPOINT_H
#define DEEPFRIED_CHECKPOINT_H

#include <stdint.h>

#include "deepfried/config.h"
#include "deepfried/error.h"
#include "deepfried/metrics.h"
#include "deepfried/net.h"

#define DF_CKPT_FORMAT "deepfried-checkpoint"
#define DF_CKPT_VERSION 2

/* The integrity header (checkpoint_seal.c). crc32 detects damage (every
 * burst of up to 32 flipped bits, and anything else but for a 2^-32
 * chance), not forgery: anyone can write a matching header. */
#define DF_CKPT_MAGIC "deepfried-ckpt\n"
#define DF_CKPT_HEADER_BYTES 512        /* the HDF5 user block */
#define DF_CKPT_HEADER_VERSION 1
/* Readers refuse larger files before reading them (the whole file is read
 * into memory): 16 GiB, 2 G float32 parameters with their momentum. */
#define DF_CKPT_MAX_BYTES ((uint64_t)16 << 30)

typedef struct df_ckpt_meta {
    int64_t step;           /* steps completed */
    double epoch;
    int world_size;         /* ranks of the run that wrote it */
    uint64_t seed;
    int global_batch;
    char created[32];       /* ISO 8601 UTC; save: "" = now */
    char library_version[32];   /* save: "" = PACKAGE_VERSION */
} df_ckpt_meta;

/* Write a checkpoint of net (params + fixed Fastfood state), momentum
 * (net->n_params floats, same layout as the params; may be NULL: not
 * written), the resolved config, metrics rows (may be NULL: an empty
 * table) and meta into dir (created if missing) as described above, then
 * keep the newest `keep` by step (keep < 1: keep all; the file just
 * written is never removed). *written (may be NULL) gets the final path.
 * On any failure the temporary file is removed, earlier checkpoints and
 * `latest` are untouched, and the error names the path and the cause
 * (e.g. "No space left on device"). Returns DF_ESYS for I/O failures
 * (a failure to prune old files too, after *written was filled).
 * The file is built in memory first (HDF5's core driver), sealed with the
 * integrity header and written with write(2): rank 0 briefly holds about
 * twice the file size. */
int df_checkpoint_save(const char *dir, const df_net *net, const float *momentum,
                       const df_config *cfg, const df_metrics *metrics,
                       const df_ckpt_meta *meta, int keep,
                       char *written, size_t written_size, df_error *err);

/* The resolved config text stored in a checkpoint (malloc'ed), after
 * verifying the integrity header, format and version; meta (may be NULL) gets the root
 * attributes. For eval/inspect, which build the net from it, and for
 * resume, which compares it with the current config. */
int df_checkpoint_read_config(const char *path, char **config_text,
                              df_ckpt_meta *meta, df_error *err);

/* Load into a net already built from a compatible config: verifies the
 * integrity header (the whole file's checksum), the format/version
 * attributes, every dataset's fletcher32 checksum (HDF5
 * fails the read), that every tensor exists with exactly the shape the net
 * expects (error names layer, tensor, both shapes), that every Fastfood
 * permutation block is a permutation of 0..d-1 and that no parameter is
 * NaN/Inf, then fills net->params, the fixed Fastfood state, momentum (may
 * be NULL: not read; non-NULL and absent from the file is an error),
 * metrics (may be NULL; its rows are replaced) and meta (may be NULL). On
 * error nothing the caller holds is half-written (reads go to scratch
 * first). Returns DF_EINPUT for a damaged, mismatched or missing file,
 * DF_ESYS when it exists but cannot be opened, DF_ENOMEM. */
int df_checkpoint_load(const char *path, df_net *net, float *momentum,
                       df_metrics *metrics, df_ckpt_meta *meta, df_error *err);

/* Fill file[0..DF_CKPT_HEADER_BYTES) with the integrity header of the
 * size-byte checkpoint file (an HDF5 file with a 512-byte user block
 * from byte 512 on). Tests use it to forge a matching header after
 * damaging the HDF5 part on purpose, to reach the checks behind it. */
void df_checkpoint_seal(unsigned char *file, size_t size);

/* Verify the integrity header of the size bytes of file: magic, header
 * checksum and version, length, checksum of the rest. DF_EINPUT with one
 * line naming path ("truncated checkpoint: ...", "damaged checkpoint
 * (checksum mismatch ...)", "not a deepfried checkpoint (no integrity
 * header; ...)") when anything is off. */
int df_checkpoint_verify(const char *path, const unsigned char *file, size_t size,
                         df_error *err);

/* Read all of path (a regular file of at most DF_CKPT_MAX_BYTES) into a
 * malloc'ed *file and verify it as above. DF_EINPUT for a missing,
 * damaged or foreign file, DF_ESYS for a read error, DF_ENOMEM. */
int df_checkpoint_read_file(const char *path, unsigned char **file, size_t *size,
                            df_error *err);

/* Checkpoints in dir, newest first: `latest`'s target first if it names an
 * existing file (`latest` holds one name "ckpt-<digits>.h5" and a newline;
 * anything else in it, or a `latest` that is not a regular file, is
 * ignored), then every other ckpt-<step>.h5 by descending step. Fills
 * paths[0..n) (each DF_PATH_MAX + 64 chars, "<dir>/ckpt-....h5") with at
 * most max and returns n (0: none, or dir does not exist), or -1 with err
 * filled (DF_ESYS) when dir exists but cannot be read. Nothing is opened:
 * the caller's load says whether each is intact. */
#define DF_CKPT_MAX_LIST 64
int df_checkpoint_list(const char *dir, char paths[][DF_PATH_MAX + 64], int max,
                       df_error *err);

#endif
