/* The integrity header of a checkpoint file (format 2): the first 512
 * bytes, HDF5's user block, hold a magic string, the file's length and
 * crc32s of the header and of the HDF5 file after it. Reading a checkpoint
 * reads the whole file and verifies them before HDF5 sees a byte, so a
 * truncated, bit-flipped or zero-filled file is refused here with one line
 * instead of reaching HDF5 1.10's unchecked metadata parsers (which read out
 * of bounds or divide by zero on damaged object headers: docs/hardening.md).
 * crc32 detects damage, not forgery. No HDF5 here; layout in
 * docs/checkpoint-format.md. */
#include "config.h"
#include "deepfried/checkpoint.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <zlib.h>

/* Field offsets. 0..39 keep their meaning in every header version, so that
 * the header checksum can be verified before the version is believed. */
#define OFF_MAGIC 0             /* DF_CKPT_MAGIC, NUL-padded to 16 bytes */
#define OFF_HEADER_VERSION 16   /* uint32 */
#define OFF_HEADER_SIZE 20      /* uint32: the user block, 512 */
#define OFF_LENGTH 24           /* uint64: the whole file, header included */
#define OFF_DATA_CRC 32         /* uint32: crc32 of bytes [512, length) */
#define OFF_HEADER_CRC 36       /* uint32: crc32 of bytes [0, 512), this field as 0 */
#define MAGIC_FIELD 16

static const unsigned char hdf5_signature[8] = {0x89, 'H', 'D', 'F', '\r', '\n', 0x1a, '\n'};

static void put_le(unsigned char *p, uint64_t v, int bytes)
{
    for (int i = 0; i < bytes; i++)
        p[i] = (unsigned char)(v >> (8 * i));
}

static uint64_t get_le(const unsigned char *p, int bytes)
{
    uint64_t v = 0;
    for (int i = bytes - 1; i >= 0; i--)
        v = v << 8 | p[i];
    return v;
}

/* zlib's crc32 takes a 32-bit length: feed it in pieces. */
static uint32_t crc_of(uint32_t crc, const unsigned char *p, size_t n)
{
    while (n > 0) {
        uInt piece = n > (1u << 30) ? 1u << 30 : (uInt)n;
        crc = (uint32_t)crc32(crc, p, piece);
        p += piece;
        n -= piece;
    }
    return crc;
}

static uint32_t header_crc(const unsigned char *file)
{
    static const unsigned char zero[4];
    uint32_t crc = (uint32_t)crc32(0L, Z_NULL, 0);
    crc = crc_of(crc, file, OFF_HEADER_CRC);
    crc = crc_of(crc, zero, sizeof zero);
    return crc_of(crc, file + OFF_HEADER_CRC + 4, DF_CKPT_HEADER_BYTES - OFF_HEADER_CRC - 4);
}

static uint32_t data_crc(const unsigned char *file, size_t size)
{
    return crc_of((uint32_t)crc32(0L, Z_NULL, 0), file + DF_CKPT_HEADER_BYTES,
                  size - DF_CKPT_HEADER_BYTES);
}

void df_checkpoint_seal(unsigned char *file, size_t size)
{
    memset(file, 0, DF_CKPT_HEADER_BYTES);
    memcpy(file + OFF_MAGIC, DF_CKPT_MAGIC, strlen(DF_CKPT_MAGIC));
    put_le(file + OFF_HEADER_VERSION, DF_CKPT_HEADER_VERSION, 4);
    put_le(file + OFF_HEADER_SIZE, DF_CKPT_HEADER_BYTES, 4);
    put_le(file + OFF_LENGTH, size, 8);
    put_le(file + OFF_DATA_CRC, data_crc(file, size), 4);
    put_le(file + OFF_HEADER_CRC, header_crc(file), 4);
}

static int all_zero(const unsigned char *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (p[i])
            return 0;
    return 1;
}

/* No magic: another kind of file, a checkpoint from before format 2, or a
 * checkpoint whose first bytes were overwritten. */
static int refuse_headerless(const char *path, const unsigned char *file, size_t size,
                             df_error *err)
{
    if (size >= DF_CKPT_HEADER_BYTES + sizeof hdf5_signature &&
        memcmp(file + DF_CKPT_HEADER_BYTES, hdf5_signature, sizeof hdf5_signature) == 0)
        return df_fail(err, DF_EINPUT, "%s: damaged checkpoint (checksum mismatch): its "
                       "integrity header is overwritten", path);
    if (size > 0 && all_zero(file, size))
        return df_fail(err, DF_EINPUT, "%s: damaged checkpoint (checksum mismatch): all %zu "
                       "bytes are zero", path, size);
    return df_fail(err, DF_EINPUT, "%s: not a deepfried checkpoint (no integrity header; "
                   "files written before format %d are not readable)", path,
                   DF_CKPT_VERSION);
}

int df_checkpoint_verify(const char *path, const unsigned char *file, size_t size,
                         df_error *err)
{
    size_t magic_len = strlen(DF_CKPT_MAGIC);
    if (size == 0)
        return df_fail(err, DF_EINPUT, "%s: truncated checkpoint: the file is empty", path);
    if (memcmp(file, DF_CKPT_MAGIC, size < magic_len ? size : magic_len) != 0)
        return refuse_headerless(path, file, size, err);
    if (size < DF_CKPT_HEADER_BYTES)
        return df_fail(err, DF_EINPUT, "%s: truncated checkpoint: %zu bytes, less than its "
                       "%d-byte integrity header", path, size, DF_CKPT_HEADER_BYTES);
    if (get_le(file + OFF_HEADER_CRC, 4) != header_crc(file))
        return df_fail(err, DF_EINPUT, "%s: damaged checkpoint (checksum mismatch in its "
                       "integrity header)", path);
    uint64_t version = get_le(file + OFF_HEADER_VERSION, 4);
    uint64_t header_size = get_le(file + OFF_HEADER_SIZE, 4);
    uint64_t length = get_le(file + OFF_LENGTH, 8);
    if (version > DF_CKPT_HEADER_VERSION)
        return df_fail(err, DF_EINPUT, "%s: checkpoint integrity header version %llu is newer "
                       "than this deepfried (%s) reads (%d): upgrade deepfried", path,
                       (unsigned long long)version, PACKAGE_VERSION, DF_CKPT_HEADER_VERSION);
    if (version < 1 || header_size != DF_CKPT_HEADER_BYTES)
        return df_fail(err, DF_EINPUT, "%s: not a deepfried checkpoint (integrity header "
                       "version %llu of %llu bytes; deepfried writes version %d of %d)", path,
                       (unsigned long long)version, (unsigned long long)header_size,
                       DF_CKPT_HEADER_VERSION, DF_CKPT_HEADER_BYTES);
    if (size < length)
        return df_fail(err, DF_EINPUT, "%s: truncated checkpoint: %zu of its %llu bytes", path,
                       size, (unsigned long long)length);
    if (size > length)
        return df_fail(err, DF_EINPUT, "%s: damaged checkpoint: %zu bytes where its integrity "
                       "header says %llu", path, size, (unsigned long long)length);
    uint32_t want = (uint32_t)get_le(file + OFF_DATA_CRC, 4), got = data_crc(file, size);
    if (got != want)
        return df_fail(err, DF_EINPUT, "%s: damaged checkpoint (checksum mismatch: crc32 of "
                       "bytes %d..%zu is %08x, its integrity header says %08x)", path,
                       DF_CKPT_HEADER_BYTES, size, got, want);
    return DF_OK;
}

int df_checkpoint_read_file(const char *path, unsigned char **file, size_t *size,
                            df_error *err)
{
    *file = NULL;
    *size = 0;
    /* O_NONBLOCK: a FIFO where a checkpoint should be must not hang the
     * open; it is refused below as not a regular file */
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
    if (fd < 0)
        return df_fail(err, errno == ENOENT || errno == ENOTDIR ? DF_EINPUT : DF_ESYS,
                       "%s: cannot open checkpoint: %s", path, strerror(errno));
    struct stat st;
    int rc = DF_OK;
    if (fstat(fd, &st) != 0)
        rc = df_fail(err, DF_ESYS, "%s: cannot open checkpoint: %s", path, strerror(errno));
    else if (S_ISDIR(st.st_mode))
        rc = df_fail(err, DF_EINPUT, "%s: is a directory, not a checkpoint", path);
    else if (!S_ISREG(st.st_mode))
        rc = df_fail(err, DF_EINPUT, "%s: not a regular file, not a checkpoint", path);
    else if ((uint64_t)st.st_size > DF_CKPT_MAX_BYTES)
        rc = df_fail(err, DF_EINPUT, "%s: %lld bytes, more than the %llu that deepfried reads "
                     "as a checkpoint (DF_CKPT_MAX_BYTES)", path, (long long)st.st_size,
                     (unsigned long long)DF_CKPT_MAX_BYTES);
    size_t n = rc == DF_OK ? (size_t)st.st_size : 0, got = 0;
    unsigned char *buf = rc == DF_OK ? malloc(n ? n : 1) : NULL;
    if (rc == DF_OK && !buf)
        rc = df_fail(err, DF_ENOMEM, "%s: out of memory for a %zu-byte checkpoint", path, n);
    while (rc == DF_OK && got < n) {
        ssize_t r = read(fd, buf + got, n - got);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0)
            rc = df_fail(err, DF_ESYS, "%s: cannot read checkpoint: %s", path, strerror(errno));
        else if (r == 0)
            break;  /* shrank since fstat: the length check says truncated */
        else
            got += (size_t)r;
    }
    close(fd);
    if (rc == DF_OK)
        rc = df_checkpoint_verify(path, buf, got, err);
    if (rc) {
        free(buf);
        return rc;
    }
    *file = buf;
    *size = got;
    return DF_OK;
}
