/* reader.c - the worker's I/O: streams the records of one split (a byte range of a plain file,
 * or a whole .gz file through ISA-L igzip or zlib, fixed at build time) into a job's consumer,
 * in buffer-sized pieces.
 * A record belongs to the range holding its first byte: the reader must never pass a record
 * that started before its range, nor one that starts at or after its end unless the job asked
 * for context (lookahead) and the consumer is told those bytes are not the range's (`owned`);
 * it must never hang on a path that stopped being a regular file, must never count a file that
 * shrank as if it were whole, and must never print: failures come back as an mrc_err. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <stdint.h>

#ifdef MRC_HAVE_ISAL
#include <isa-l.h>
#else
#include <zlib.h>
#endif

#include <bzlib.h>
#include <lzma.h>
#include <zstd.h>
#include <zstd_errors.h>

#include "mrcount/input.h"

/* Small enough to stay in L2 beside the hot part of the table while the tokenizer reads it back
 * (1 MiB measured 4% slower on the 1 GiB words corpus), large enough that a read is ~50 us. */
#define READER_DEFAULT_BUF ((size_t)256 << 10)
#define READER_TAIL_STEP ((size_t)4096) /* first read past the range end: records are short */
#define GZ_IN_BUF ((size_t)256 << 10)

int mrc_reader_init(mrc_reader *r, size_t buf_size, mrc_err *err)
{
    memset(r, 0, sizeof *r);
    size_t cap = buf_size ? buf_size : READER_DEFAULT_BUF;
    r->buf = malloc(cap);
    if (r->buf == NULL) return mrc_err_errno(err, ENOMEM, "reader buffer of %zu bytes", cap);
    r->cap = cap;
    return MRC_OK;
}

void mrc_reader_free(mrc_reader *r)
{
    if (r == NULL) return;
    free(r->buf);
    memset(r, 0, sizeof *r);
}

/* Doubles the buffer, keeping its first `have` bytes: only called when one record fills it. */
static int reader_grow(mrc_reader *r, const char *path, mrc_err *err)
{
    if (r->cap > SIZE_MAX / 2)
        return mrc_err_set(err, MRC_EOVERFLOW, "%s: a record exceeds %zu bytes", path, r->cap);
    unsigned char *b = realloc(r->buf, 2 * r->cap);
    if (b == NULL)
        return mrc_err_errno(err, ENOMEM, "%s: buffer for a record of over %zu bytes", path,
                             r->cap);
    r->buf = b;
    r->cap *= 2;
    return MRC_OK;
}

static int check_stop(const mrc_stop *stop, const char *path, mrc_err *err)
{
    if (mrc_stopped(stop)) return mrc_err_set(err, MRC_EINTR, "%s: reading stopped", path);
    return MRC_OK;
}

int mrc_open_regular(const char *path, int *fd_out, mode_t *mode, uint64_t *size)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
    if (fd < 0) return errno;
    struct stat st;
    int e = fstat(fd, &st) != 0 ? errno : S_ISREG(st.st_mode) ? 0 : -1;
    if (e != 0) {
        close(fd);
        if (e < 0) *mode = st.st_mode;
        return e;
    }
    /* O_NONBLOCK off again. F_SETFL sets only the status flags it can change (append, async,
     * direct, noatime, nonblock), none of which this open set but O_NONBLOCK: one call, not a
     * F_GETFL before it (a syscall per file counts in a corpus of many small files). */
    fcntl(fd, F_SETFL, 0);
    if (size != NULL) *size = st.st_size > 0 ? (uint64_t)st.st_size : 0;
    *fd_out = fd;
    return 0;
}

/* mrc_input_open() with the file's size at open (NULL: not wanted). */
static int input_open(const char *path, int *fd_out, uint64_t *size, mrc_err *err)
{
    mode_t mode;
    *fd_out = -1; /* on failure too: a caller's compiler need not follow the status */
    int e = mrc_open_regular(path, fd_out, &mode, size);
    if (e > 0) return mrc_err_errno(err, e, "%s", path);
    if (e < 0)
        return mrc_err_set(err, MRC_EIO, "%s: no longer a regular file (replaced since discovery)",
                           path);
    return MRC_OK;
}

int mrc_input_open(const char *path, int *fd_out, mrc_err *err)
{
    return input_open(path, fd_out, NULL, err);
}

/** pread_retry() : pread that retries EINTR. @return bytes read (0 at EOF) or -1 (errno). */
static ssize_t pread_retry(int fd, void *buf, size_t n, uint64_t off)
{
    ssize_t got;
    do
        got = pread(fd, buf, n, (off_t)off);
    while (got < 0 && errno == EINTR);
    return got;
}

static ssize_t read_retry(int fd, void *buf, size_t n)
{
    ssize_t got;
    do
        got = read(fd, buf, n);
    while (got < 0 && errno == EINTR);
    return got;
}

/** feed() : passes buf[0..*have) to the consumer (buf[0, owned) the range's, see
 *  mrc_consume_fn) and moves the unconsumed tail to the front. *enough (may be NULL when the
 *  caller gives the consumer no context, owned >= *have) is set when the consumer wants no more
 *  context: nothing is pending then. */
static int feed(mrc_reader *r, size_t *have, size_t owned, bool final, bool *enough,
                const char *path, mrc_consume_fn consume, void *ctx, mrc_err *err)
{
    long long used = consume(ctx, r->buf, *have, owned, final, err);
    if (used == MRC_CONSUME_ENOUGH && enough != NULL && owned < *have) {
        *enough = true;
        *have = 0;
        return MRC_OK;
    }
    if (used == MRC_CONSUME_ENOUGH)
        return mrc_err_set(err, MRC_EINVAL,
                           "%s: the record consumer wanted no more context before the range's end",
                           path);
    if (used < 0) /* the consumer's own message names the file and the cause */
        return err->code != 0
                   ? err->code
                   : mrc_err_set(err, MRC_EINVAL, "%s: the record consumer failed", path);
    if ((unsigned long long)used > *have)
        return mrc_err_set(err, MRC_EINVAL, "%s: the record consumer claimed %lld of %zu bytes",
                           path, used, *have);
    if (final) {
        *have = 0;
        return MRC_OK;
    }
    size_t rest = *have - (size_t)used;
    if (rest > 0 && used > 0) memmove(r->buf, r->buf + used, rest);
    *have = rest;
    return MRC_OK;
}

static size_t find_delim(const unsigned char *p, size_t n, const unsigned char *delim)
{
    for (size_t i = 0; i < n; i++)
        if (delim[p[i]]) return i;
    return n;
}

/* The plain-file state machine, shared by the phases of mrc_reader_run. */
typedef struct range_read {
    mrc_reader *r;
    int fd;
    const char *path;
    const unsigned char *delim;
    mrc_consume_fn consume;
    void *ctx;
    const mrc_stop *stop;
    mrc_err *err;
    uint64_t pos; /* next file offset to read */
    size_t have;  /* bytes pending in r->buf */
} range_read;

/** range_read_chunk() : reads at most `want` bytes at rr->pos into the buffer after the pending
 *  bytes (the caller decides how many of them become pending), growing the buffer only when it
 *  is full of pending bytes. *got = 0 means end of file. */
static int range_read_chunk(range_read *rr, size_t want, size_t *got)
{
    int rc = check_stop(rr->stop, rr->path, rr->err);
    if (rc != MRC_OK) return rc;
    if (rr->have == rr->r->cap && (rc = reader_grow(rr->r, rr->path, rr->err)) != MRC_OK) return rc;
    size_t room = rr->r->cap - rr->have;
    if (want > room) want = room;
    ssize_t n = pread_retry(rr->fd, rr->r->buf + rr->have, want, rr->pos);
    if (n < 0) return mrc_err_errno(rr->err, errno, "%s", rr->path);
    rr->r->bytes_read += (uint64_t)n;
    rr->pos += (uint64_t)n;
    *got = (size_t)n;
    return MRC_OK;
}

/** range_shrank() : the file ends before `end`, a byte the split plan saw at discovery: it was
 *  truncated or rewritten shorter since, or its size never was its contents (a pseudo-file, or
 *  a size this node still caches for a file cut on another). Counting what is left would give
 *  a silently short table, so it is an error naming the file. */
static int range_shrank(range_read *rr, uint64_t end)
{
    struct stat st;
    uint64_t now = fstat(rr->fd, &st) == 0 && st.st_size >= 0 ? (uint64_t)st.st_size : rr->pos;
    if (now >= end) /* the size did not change, the bytes did not come: not a file's size */
        return mrc_err_set(rr->err, MRC_EIO,
                           "%s: the file ends before byte %llu although its size says %llu bytes "
                           "(a pseudo-file as in /sys, or a file cut on another node)",
                           rr->path, (unsigned long long)end, (unsigned long long)now);
    return mrc_err_set(
        rr->err, MRC_EIO,
        "%s: file shrank while being read (expected at least %llu bytes, found %llu)", rr->path,
        (unsigned long long)end, (unsigned long long)now);
}

/** range_skip_partial() : the range starts inside a record that began earlier; drop bytes up
 *  to the first delimiter. @return MRC_OK with *found false when no delimiter lies before end,
 *  i.e. the range owns no record; an error when the file ends before end. */
static int range_skip_partial(range_read *rr, uint64_t end, bool *found)
{
    *found = false;
    while (rr->pos < end) {
        size_t got;
        uint64_t left = end - rr->pos;
        int rc = range_read_chunk(rr, left < rr->r->cap ? (size_t)left : rr->r->cap, &got);
        if (rc != MRC_OK) return rc;
        if (got == 0) return range_shrank(rr, end);
        size_t i = find_delim(rr->r->buf, got, rr->delim);
        if (i < got) { /* the next record starts after the delimiter */
            rr->have = got - i - 1;
            memmove(rr->r->buf, rr->r->buf + i + 1, rr->have);
            *found = true;
            return MRC_OK;
        }
    }
    return MRC_OK;
}

/** range_finish_tail() : the last record starts before the end but runs past it: read on only
 *  until its delimiter (or EOF), keeping none of the bytes after it. */
static int range_finish_tail(range_read *rr)
{
    size_t step = READER_TAIL_STEP;
    for (;;) {
        size_t got, before = rr->have;
        int rc = range_read_chunk(rr, step, &got);
        if (rc != MRC_OK) return rc;
        if (got == 0) return MRC_OK;
        size_t i = find_delim(rr->r->buf + before, got, rr->delim);
        rr->have = before + i;
        if (i < got) return MRC_OK;
        if (step < SIZE_MAX / 2) step *= 2;
    }
}

/** range_read_context() : a lookahead job's range is read to its end, its pending bytes (all the
 *  range's) not yet consumed: read on in growing chunks, the consumer told which bytes are the
 *  range's (up to the first delimiter when the last record runs past the end: `open`) and which
 *  are context, until it wants no more (MRC_CONSUME_ENOUGH) or the file ends (a final call). */
static int range_read_context(range_read *rr, bool open)
{
    size_t owned = rr->have, step = READER_TAIL_STEP;
    for (;;) {
        size_t got, before = rr->have;
        int rc = range_read_chunk(rr, step, &got);
        if (rc != MRC_OK) return rc;
        bool enough = false;
        if (got == 0) /* the end of the file ends the context too */
            return feed(rr->r, &rr->have, owned, true, &enough, rr->path, rr->consume, rr->ctx,
                        rr->err);
        if (open) {
            size_t i = find_delim(rr->r->buf + before, got, rr->delim);
            owned += i;
            open = i == got;
        }
        rr->have = before + got;
        rc = feed(rr->r, &rr->have, owned, false, &enough, rr->path, rr->consume, rr->ctx, rr->err);
        if (rc != MRC_OK || enough) return rc;
        size_t used = before + got - rr->have;
        owned = owned > used ? owned - used : 0;
        if (step < rr->r->cap / 2) step *= 2;
    }
}

/* ---- data that is not UTF-8 text ----
 * A plain file's bytes are counted as they are: a .bz2, .xz or .zst corpus (Wikipedia dumps,
 * many web corpora), a zip or tar archive (.zip, .epub, .docx; a .tar's headers and padding) or
 * UTF-16 text (Excel's "Unicode text", Windows tools) would give a table of garbage, exit 0.
 * Every piece of a plain file looks at the file's first bytes (one small pread: a piece is
 * megabytes), and a .gz at its stream's first bytes, for the signatures of those formats, long
 * enough that text does not start with them, and fails naming the file and the format: at once,
 * on whichever rank maps a piece of it first, and on a resume too. */

enum sig_kind {
    SIG_PACKED,   /* compressed data mrcount does not read: decompressed, or recompressed */
    SIG_ARCHIVE,  /* a container of files: extracted */
    SIG_CODEC,    /* compressed data mrcount reads, only in a file named for it: renamed */
    SIG_ENCODING, /* text in an encoding other than UTF-8: converted */
};

/* The compressed formats mrcount reads, each only in a file whose name ends in its suffix. */
static const struct codec_info {
    const char *name, *suffix, *cat, *pack; /* the format, the file name's end, its tools */
    const char *a;                          /* the name's article: "an xz file" */
} codecs[] = {
    [MRC_CODEC_GZIP] = {"gzip", ".gz", "zcat", "gzip", "a"},
    [MRC_CODEC_ZSTD] = {"zstd", ".zst", "zstdcat", "zstd", "a"},
    [MRC_CODEC_XZ] = {"xz", ".xz", "xzcat", "xz", "an"},
    [MRC_CODEC_BZIP2] = {"bzip2", ".bz2", "bzcat", "bzip2", "a"},
};

enum mrc_codec mrc_codec_of_path(const char *path)
{
    size_t n = strlen(path);
    for (int c = MRC_CODEC_GZIP; c <= MRC_CODEC_BZIP2; c++) {
        size_t k = strlen(codecs[c].suffix);
        if (n >= k && strcmp(path + n - k, codecs[c].suffix) == 0) return (enum mrc_codec)c;
    }
    return MRC_CODEC_NONE;
}

const char *mrc_codec_name(enum mrc_codec c)
{
    return c > MRC_CODEC_NONE && c <= MRC_CODEC_BZIP2 ? codecs[c].name : NULL;
}

static const struct foreign_sig {
    const char *format;
    enum sig_kind kind;
    unsigned char len, magic[16];
    unsigned char any[16]; /* bits of each byte that may take any value (0: exact) */
    signed char digit_at;  /* the index of a byte that is any of '1'-'9', or -1 */
    unsigned char codec;   /* SIG_CODEC: the enum mrc_codec that reads it */
} foreign_sigs[] = {
    /* deflate, no reserved flag */
    {"gzip", SIG_CODEC, 4, {0x1f, 0x8b, 0x08, 0x00}, {[3] = 0x1f}, -1, MRC_CODEC_GZIP},
    /* bzip2: "BZh", the level, then a block's magic or the end of an empty stream's */
    {"bzip2",
     SIG_CODEC,
     10,
     {'B', 'Z', 'h', 0, 0x31, 0x41, 0x59, 0x26, 0x53, 0x59},
     {0},
     3,
     MRC_CODEC_BZIP2},
    {"bzip2",
     SIG_CODEC,
     10,
     {'B', 'Z', 'h', 0, 0x17, 0x72, 0x45, 0x38, 0x50, 0x90},
     {0},
     3,
     MRC_CODEC_BZIP2},
    {"xz", SIG_CODEC, 6, {0xfd, '7', 'z', 'X', 'Z', 0x00}, {0}, -1, MRC_CODEC_XZ},
    {"zstd", SIG_CODEC, 4, {0x28, 0xb5, 0x2f, 0xfd}, {0}, -1, MRC_CODEC_ZSTD},
    /* pzstd's files: a skippable frame of 4 bytes (the next frame's size), then a zstd frame */
    {"zstd",
     SIG_CODEC,
     16,
     {0x50, 0x2a, 0x4d, 0x18, 4, 0, 0, 0, 0, 0, 0, 0, 0x28, 0xb5, 0x2f, 0xfd},
     {[0] = 0x0f, [8] = 0xff, [9] = 0xff, [10] = 0xff, [11] = 0xff},
     -1,
     MRC_CODEC_ZSTD},
    /* any other skippable frame (0x184D2A50-5F, little-endian): zstd's or lz4's */
    {"zstd/lz4", SIG_PACKED, 4, {0x50, 0x2a, 0x4d, 0x18}, {[0] = 0x0f}, -1, 0},
    {"lz4", SIG_PACKED, 4, {0x04, 0x22, 0x4d, 0x18}, {0}, -1, 0},
    {"lz4", SIG_PACKED, 4, {0x02, 0x21, 0x4c, 0x18}, {0}, -1, 0}, /* the legacy format (lz4 -l) */
    {"zip", SIG_ARCHIVE, 4, {'P', 'K', 0x03, 0x04}, {0}, -1, 0},  /* also .epub, .docx, .jar */
    {"7z", SIG_ARCHIVE, 6, {'7', 'z', 0xbc, 0xaf, 0x27, 0x1c}, {0}, -1, 0},
    /* byte-order marks: the bytes 0xfe and 0xff never occur in UTF-8; UTF-32's first */
    {"UTF-32", SIG_ENCODING, 4, {0xff, 0xfe, 0x00, 0x00}, {0}, -1, 0},
    {"UTF-32", SIG_ENCODING, 4, {0x00, 0x00, 0xfe, 0xff}, {0}, -1, 0},
    {"UTF-16", SIG_ENCODING, 2, {0xff, 0xfe}, {0}, -1, 0},
    {"UTF-16", SIG_ENCODING, 2, {0xfe, 0xff}, {0}, -1, 0},
};

static const struct foreign_sig tar_sig = {"tar", SIG_ARCHIVE, 0, {0}, {0}, -1, 0};

#define TAR_BLOCK 512
#define TAR_CHKSUM 148 /* the header's checksum field: 8 bytes */
#define TAR_CHKSUM_LEN 8
#define TAR_MAGIC 257      /* "ustar": POSIX "ustar\0" "00", GNU "ustar  \0" */
#define HEAD_MAX TAR_BLOCK /* the bytes of a file's head that are looked at */
/* Ranges up to this long are read without POSIX_FADV_SEQUENTIAL: the kernel's default read-ahead
 * (128 KiB) covers them, and the call is one more syscall for every small file. */
#define READ_HINT_MIN ((uint64_t)128 << 10)

/* A tar header (POSIX ustar and pax, GNU): "ustar" at TAR_MAGIC and the header's checksum
 * right, read as tar does (spaces, octal digits, then a space, a NUL or the field's end; the
 * sum of the header's bytes with the field's own counted as spaces; old tars summed signed
 * bytes). The checksum makes text that happens to hold "ustar" there data. Not recognized:
 * V7 archives (no magic) and an empty archive (only its end-of-archive NUL blocks). */
static bool is_tar_header(const unsigned char *p, size_t n)
{
    if (n < TAR_BLOCK || memcmp(p + TAR_MAGIC, "ustar", 5) != 0) return false;
    const unsigned char *f = p + TAR_CHKSUM;
    size_t i = 0, digits = 0;
    uint64_t want = 0;
    while (i < TAR_CHKSUM_LEN && f[i] == ' ')
        i++;
    for (; i < TAR_CHKSUM_LEN && f[i] >= '0' && f[i] <= '7'; i++, digits++)
        want = want * 8 + (uint64_t)(f[i] - '0');
    if (digits == 0 || (i < TAR_CHKSUM_LEN && f[i] != ' ' && f[i] != 0)) return false;
    uint64_t sum = 0;
    int64_t ssum = 0;
    for (size_t j = 0; j < TAR_BLOCK; j++) {
        unsigned char c = j >= TAR_CHKSUM && j < TAR_CHKSUM + TAR_CHKSUM_LEN ? ' ' : p[j];
        sum += c;
        ssum += (signed char)c;
    }
    return want == sum || (int64_t)want == ssum;
}

static const struct foreign_sig *foreign_sig_of(const unsigned char *p, size_t n)
{
    for (size_t i = 0; i < sizeof foreign_sigs / sizeof *foreign_sigs; i++) {
        const struct foreign_sig *g = &foreign_sigs[i];
        size_t j = 0;
        for (; j < g->len && j < n; j++) {
            bool ok = (int)j == g->digit_at ? p[j] >= '1' && p[j] <= '9'
                                            : (p[j] & ~g->any[j]) == g->magic[j];
            if (!ok) break;
        }
        if (j == g->len) return g;
    }
    return is_tar_header(p, n) ? &tar_sig : NULL;
}

const char *mrc_input_foreign_format(const unsigned char *p, size_t n)
{
    const struct foreign_sig *g = foreign_sig_of(p, n);
    return g != NULL ? g->format : NULL;
}

/* What data of format g is, as the messages say it: "bzip2-compressed data", "a zip archive",
 * "UTF-16 text". @return buf. */
static const char *foreign_what(const struct foreign_sig *g, char *buf, size_t cap)
{
    if (g->kind == SIG_ARCHIVE)
        snprintf(buf, cap, "a %s archive", g->format);
    else if (g->kind == SIG_ENCODING)
        snprintf(buf, cap, "%s text", g->format);
    else
        snprintf(buf, cap, "%s-compressed data", g->format);
    return buf;
}

/* Every refusal of a file's format ends with the way to count around it (the file may sit in a
 * tree with the text to count). */
#define EXCLUDE_HINT "; to skip it: --exclude GLOB"

/* The error for data of format g: in a plain file (in = MRC_CODEC_NONE), or in the stream of a
 * file compressed with `in`. */
static int foreign_error(const struct foreign_sig *g, const char *path, enum mrc_codec in,
                         mrc_err *err)
{
    char what[64], with[32] = "";
    foreign_what(g, what, sizeof what);
    const struct codec_info *o = in != MRC_CODEC_NONE ? &codecs[in] : NULL;
    if (o != NULL) snprintf(with, sizeof with, " compressed with %s", o->name);
    switch (g->kind) {
    case SIG_ARCHIVE:
        return mrc_err_set(err, MRC_EINVAL,
                           "%s: %s%s, which mrcount does not read (it reads text, plain or "
                           "compressed): extract its files" EXCLUDE_HINT,
                           path, what, with);
    case SIG_ENCODING:
        return mrc_err_set(
            err, MRC_EINVAL,
            "%s: %s%s (it starts with a byte-order mark), which mrcount does not "
            "read (it reads UTF-8): convert it, e.g. %s%siconv -f %s -t UTF-8%s%s" EXCLUDE_HINT,
            path, what, with, o ? o->cat : "", o ? " FILE | " : "", g->format, o ? " | " : "",
            o ? o->pack : "");
    case SIG_CODEC:
        if (o == NULL)
            return mrc_err_set(err, MRC_EINVAL,
                               "%s: %s in a file whose name does not end in %s (mrcount chooses "
                               "the decompressor by the name, in lower case): rename it to end "
                               "in %s, or extract it if it is a tar archive" EXCLUDE_HINT,
                               path, what, codecs[g->codec].suffix, codecs[g->codec].suffix);
        return mrc_err_set(err, MRC_EINVAL,
                           "%s: %s inside its %s stream (compressed twice), which mrcount does "
                           "not read: decompress the outer layer (%s FILE > FILE2%s)" EXCLUDE_HINT,
                           path, what, o->name, o->cat, codecs[g->codec].suffix);
    case SIG_PACKED:
        break;
    }
    if (o != NULL)
        return mrc_err_set(err, MRC_EINVAL,
                           "%s: %s inside its %s stream (compressed twice), which mrcount does "
                           "not read: decompress both layers" EXCLUDE_HINT,
                           path, what, o->name);
    return mrc_err_set(err, MRC_EINVAL,
                       "%s: %s, which mrcount does not read (it reads text, plain or compressed "
                       "with gzip, zstd, xz or bzip2): decompress it, or recompress it with one "
                       "of those" EXCLUDE_HINT,
                       path, what);
}

/* A plain file's first bytes checked (above). @return MRC_OK, or MRC_EINVAL naming the file. */
static int check_head(int fd, const char *path, mrc_err *err)
{
    unsigned char head[HEAD_MAX];
    ssize_t n = pread_retry(fd, head, sizeof head, 0);
    if (n < 0) return mrc_err_errno(err, errno, "%s", path);
    const struct foreign_sig *g = foreign_sig_of(head, (size_t)n);
    return g == NULL ? MRC_OK : foreign_error(g, path, MRC_CODEC_NONE, err);
}

int mrc_reader_run(mrc_reader *r, const char *path, uint64_t offset, uint64_t length,
                   const mrc_record_rules *rules, mrc_consume_fn consume, void *ctx,
                   const mrc_stop *stop, mrc_err *err)
{
    if (offset > (uint64_t)INT64_MAX)
        return mrc_err_set(err, MRC_EINVAL, "%s: split offset %llu out of range", path,
                           (unsigned long long)offset);
    uint64_t end = length > (uint64_t)INT64_MAX - offset ? (uint64_t)INT64_MAX : offset + length;
    int rc = check_stop(stop, path, err);
    if (rc != MRC_OK) return rc;
    int fd;
    uint64_t size = 0;
    if ((rc = input_open(path, &fd, &size, err)) != MRC_OK) return rc;
    if (end - offset > READ_HINT_MIN) posix_fadvise(fd, (off_t)offset, 0, POSIX_FADV_SEQUENTIAL);

    range_read rr = {.r = r,
                     .fd = fd,
                     .path = path,
                     .delim = rules->delim,
                     .consume = consume,
                     .ctx = ctx,
                     .stop = stop,
                     .err = err,
                     .pos = offset,
                     .have = 0};
    bool owns_records = offset < end;
    /* A range from byte 0 checks the head in its first read's bytes (below) rather than reading
     * them twice; a range from further in reads it here. */
    bool head_pending = owns_records && offset == 0;
    if (owns_records && offset > 0) rc = check_head(fd, path, err);
    if (rc == MRC_OK && owns_records && offset > 0) {
        unsigned char before;
        ssize_t n = pread_retry(fd, &before, 1, offset - 1);
        if (n < 0) {
            rc = mrc_err_errno(err, errno, "%s", path);
            goto out;
        }
        r->bytes_read += (uint64_t)n;
        if (n == 0)
            rc = range_shrank(&rr, end);
        else if (!rr.delim[before])
            rc = range_skip_partial(&rr, end, &owns_records);
    }
    if (rc != MRC_OK) goto out;

    unsigned char last = 0;
    bool have_last = rr.have > 0;
    if (have_last) last = r->buf[rr.have - 1];
    while (owns_records && rr.pos < end) {
        size_t got, before = rr.have;
        uint64_t left = end - rr.pos;
        rc = range_read_chunk(&rr, left < r->cap ? (size_t)left : r->cap, &got);
        if (rc != MRC_OK) goto out;
        if (got == 0) {
            rc = range_shrank(&rr, end);
            goto out;
        }
        rr.have = before + got;
        if (head_pending) {
            head_pending = false;
            /* the whole head is there: HEAD_MAX bytes, or all of a shorter file; else (a short
             * read, or a range that ends within the head) it is read on its own */
            if (before == 0 && (rr.have >= HEAD_MAX || rr.have == size)) {
                const struct foreign_sig *g =
                    foreign_sig_of(r->buf, rr.have < HEAD_MAX ? rr.have : HEAD_MAX);
                if (g != NULL) rc = foreign_error(g, path, MRC_CODEC_NONE, err);
            } else {
                rc = check_head(fd, path, err);
            }
            if (rc != MRC_OK) goto out;
        }
        last = r->buf[rr.have - 1];
        have_last = true;
        if ((rc = feed(r, &rr.have, SIZE_MAX, false, NULL, path, consume, ctx, err)) != MRC_OK)
            goto out;
    }
    if (owns_records && rules->lookahead) { /* every pending byte is the range's */
        rc = range_read_context(&rr, have_last && !rr.delim[last]);
        goto out;
    }
    if (owns_records && have_last && !rr.delim[last] && (rc = range_finish_tail(&rr)) != MRC_OK)
        goto out;
    if (!owns_records) rr.have = 0;
    rc = feed(r, &rr.have, SIZE_MAX, true, NULL, path, consume, ctx, err);
out:
    close(fd);
    return rc;
}

/* ---- gzip ---- */

/* One .gz file being inflated into the reader's buffer. The inflate backend (ISA-L igzip when
 * built with it, zlib otherwise) is chosen at build time; both share this state and the rules:
 * members are inflated back to back like gzip -d, and the consumer sees one byte stream. */
typedef struct gz_read {
    mrc_reader *r;
    int fd;
    const char *path;
    mrc_consume_fn consume;
    void *ctx;
    const mrc_stop *stop;
    mrc_err *err;
    unsigned char *in; /* GZ_IN_BUF bytes of compressed input */
    uint64_t in_total; /* compressed bytes read so far */
    bool in_eof;       /* a read returned 0 */
    bool head_checked; /* the stream's first bytes were looked at (foreign_sig_of) */
    enum mrc_codec codec;
} gz_read;

/** gz_fill() : reads up to cap compressed bytes into `at`; *got = 0 means end of file. */
static int gz_fill(gz_read *g, unsigned char *at, size_t cap, size_t *got)
{
    ssize_t n = read_retry(g->fd, at, cap);
    if (n < 0) return mrc_err_errno(g->err, errno, "%s", g->path);
    g->r->bytes_read += (uint64_t)n;
    g->in_total += (uint64_t)n;
    g->in_eof = n == 0;
    *got = (size_t)n;
    return MRC_OK;
}

static int gz_truncated(gz_read *g)
{
    return mrc_err_set(g->err, MRC_EINVAL, "%s: truncated %s stream at compressed byte offset %llu",
                       g->path, codecs[g->codec].name, (unsigned long long)g->in_total);
}

static int gz_corrupt(gz_read *g, uint64_t offset, const char *cause)
{
    return mrc_err_set(g->err, MRC_EINVAL,
                       "%s: corrupt %s data at compressed byte offset %llu (%s)", g->path,
                       codecs[g->codec].name, (unsigned long long)offset, cause);
}

/* The inflated bytes to the consumer; the stream's first HEAD_MAX bytes (or all of a shorter
 * one) are held back until they can be checked like a plain file's head. */
static int gz_feed(gz_read *g, size_t *have, bool final)
{
    if (!g->head_checked) {
        if (*have < HEAD_MAX && !final) return MRC_OK;
        g->head_checked = true;
        const struct foreign_sig *s = foreign_sig_of(g->r->buf, *have);
        if (s != NULL) return foreign_error(s, g->path, g->codec, g->err);
    }
    return feed(g->r, have, SIZE_MAX, final, NULL, g->path, g->consume, g->ctx, g->err);
}

/** gz_out_room() : room after the *have pending bytes for the next inflate call, growing the
 *  buffer only when one record fills it; capped at limit (the backend's 32-bit counters). */
static int gz_out_room(gz_read *g, size_t have, size_t limit, size_t *room)
{
    int rc;
    if (have == g->r->cap && (rc = reader_grow(g->r, g->path, g->err)) != MRC_OK) return rc;
    *room = g->r->cap - have;
    if (*room > limit) *room = limit;
    return MRC_OK;
}

#ifdef MRC_HAVE_ISAL

const char *mrc_reader_gz_backend(void)
{
    return "isa-l";
}

static const char *isal_cause(int ret)
{
    switch (ret) {
    case ISAL_INVALID_BLOCK:
        return "invalid block";
    case ISAL_INVALID_SYMBOL:
        return "invalid code";
    case ISAL_INVALID_LOOKBACK:
        return "invalid distance too far back";
    case ISAL_INVALID_WRAPPER:
        return "incorrect header check";
    case ISAL_UNSUPPORTED_METHOD:
        return "unknown compression method";
    case ISAL_INCORRECT_CHECKSUM:
        return "incorrect header or data check, or length";
    default:
        return "invalid stream";
    }
}

/** gz_inflate() : ISA-L igzip. Each member's header is read with isal_read_gzip_header() into
 *  a header record kept across calls: isal_inflate() can parse headers itself, but ISA-L 2.30
 *  then loses the partial header CRC when a header with FHCRC straddles two input chunks and
 *  rejects a valid file. isal_inflate() then inflates the deflate data and checks the CRC and
 *  length trailer; at ISAL_BLOCK_FINISH no byte after the trailer is held in the state (the
 *  trailer is read exactly), so the next member starts at next_in after a reset. Output can
 *  still be pending in the state when all input is consumed, so at end of file the loop goes
 *  on while calls produce bytes; a call that produces none there without finishing the member
 *  means the stream was cut short. */
static int gz_inflate(gz_read *g, size_t in_len)
{
    mrc_reader *r = g->r;
    struct inflate_state *st = malloc(sizeof *st); /* ~85 KiB: too big for a worker's stack */
    if (st == NULL) return mrc_err_errno(g->err, ENOMEM, "%s: gzip state", g->path);
    isal_inflate_init(st);
    st->crc_flag = ISAL_GZIP;
    st->next_in = g->in;
    st->avail_in = (uint32_t)in_len;
    struct isal_gzip_header hdr; /* no name/extra/comment buffers: those fields are skipped */
    isal_gzip_header_init(&hdr);
    bool in_header = true, member_done = false;
    size_t have = 0;
    int rc, ret;

    for (;;) {
        if ((rc = check_stop(g->stop, g->path, g->err)) != MRC_OK) goto out;
        if (st->avail_in == 0 && !g->in_eof) {
            size_t got = 0;
            if ((rc = gz_fill(g, g->in, GZ_IN_BUF, &got)) != MRC_OK) goto out;
            st->next_in = g->in;
            st->avail_in = (uint32_t)got;
        }
        if (member_done) {
            /* Zero bytes after a member are padding (a tape's blocks, dd's), skipped as gzip -d
             * and Python's gzip module skip them */
            while (st->avail_in > 0 && st->next_in[0] == 0) {
                st->next_in++;
                st->avail_in--;
            }
            if (st->avail_in == 0) {
                if (g->in_eof) break; /* end of file after a member (and its padding) */
                continue;
            }
            /* More input: the next member (like gzip -d). Bytes that cannot start one fail
             * here, where zlib fails them, rather than after ISA-L's 10-byte header read. */
            if (st->next_in[0] != 0x1f) {
                ret = ISAL_INVALID_WRAPPER;
                goto corrupt;
            }
            isal_inflate_reset(st);
            st->crc_flag = ISAL_GZIP;
            isal_gzip_header_init(&hdr);
            in_header = true;
            member_done = false;
        }
        if (in_header) {
            ret = isal_read_gzip_header(st, &hdr); /* takes all input until the header ends */
            if (ret == ISAL_END_INPUT) {
                if (!g->in_eof) continue;
                rc = gz_truncated(g);
                goto out;
            }
            if (ret != ISAL_DECOMP_OK) goto corrupt;
            /* RFC 1952: a reserved FLG bit may announce a field ISA-L would take for deflate
             * data (gzip 1.2's encryption header); zlib and gzip -d refuse it, and so do we.
             * ISA-L 2.30 leaves the FLG byte in hdr.flags. */
            if (hdr.flags & 0xe0) {
                rc = gz_corrupt(g, g->in_total - st->avail_in, "unknown header flags set");
                goto out;
            }
            in_header = false;
        }
        size_t room;
        if ((rc = gz_out_room(g, have, UINT32_MAX, &room)) != MRC_OK) goto out;
        st->next_out = r->buf + have;
        st->avail_out = (uint32_t)room;
        ret = isal_inflate(st);
        size_t produced = room - st->avail_out;
        have += produced;
        if (ret != ISAL_DECOMP_OK) goto corrupt;
        if (st->block_state == ISAL_BLOCK_FINISH) {
            member_done = true;
        } else if (g->in_eof && produced == 0) {
            rc = gz_truncated(g);
            goto out;
        }
        if (produced > 0 && (rc = gz_feed(g, &have, false)) != MRC_OK) goto out;
    }
    rc = gz_feed(g, &have, true);
    goto out;

corrupt:;
    /* the bytes still in the bit buffer were read ahead, not yet decoded */
    uint64_t ahead = st->read_in_length > 0 ? (uint64_t)st->read_in_length / 8 : 0;
    uint64_t at = g->in_total - st->avail_in;
    rc = gz_corrupt(g, at > ahead ? at - ahead : 0, isal_cause(ret));
out:
    free(st);
    return rc;
}

#else /* zlib */

const char *mrc_reader_gz_backend(void)
{
    return "zlib";
}

/** gz_inflate() : zlib. inflate() ends each member with Z_STREAM_END; more input after it is
 *  the next member, inflated after inflateReset(). */
static int gz_inflate(gz_read *g, size_t in_len)
{
    mrc_reader *r = g->r;
    z_stream zs;
    memset(&zs, 0, sizeof zs);
    int zrc = inflateInit2(&zs, 15 + 32);
    if (zrc != Z_OK)
        return zrc == Z_MEM_ERROR
                   ? mrc_err_errno(g->err, ENOMEM, "%s: zlib", g->path)
                   : mrc_err_set(g->err, MRC_EINVAL, "%s: zlib init failed", g->path);
    zs.next_in = g->in;
    zs.avail_in = (uInt)in_len;
    bool member_done = false;
    size_t have = 0;
    int rc;

    for (;;) {
        if ((rc = check_stop(g->stop, g->path, g->err)) != MRC_OK) goto out;
        if (zs.avail_in == 0 && !g->in_eof) {
            size_t got = 0;
            if ((rc = gz_fill(g, g->in, GZ_IN_BUF, &got)) != MRC_OK) goto out;
            zs.next_in = g->in;
            zs.avail_in = (uInt)got;
        }
        if (member_done) { /* zero bytes after a member: padding, skipped (as with ISA-L) */
            while (zs.avail_in > 0 && zs.next_in[0] == 0) {
                zs.next_in++;
                zs.avail_in--;
            }
            if (zs.avail_in == 0) {
                if (g->in_eof) break; /* end of file after a member (and its padding) */
                continue;
            }
        }
        if (zs.avail_in == 0 && g->in_eof) {
            rc = gz_truncated(g);
            goto out;
        }
        if (member_done) { /* more input after a member: the next member (like gzip -d) */
            inflateReset(&zs);
            member_done = false;
        }
        size_t room;
        if ((rc = gz_out_room(g, have, UINT_MAX, &room)) != MRC_OK) goto out;
        zs.next_out = r->buf + have;
        zs.avail_out = (uInt)room;
        zrc = inflate(&zs, Z_NO_FLUSH);
        size_t produced = room - zs.avail_out;
        have += produced;
        if (zrc == Z_STREAM_END) {
            member_done = true;
        } else if (zrc == Z_DATA_ERROR || zrc == Z_NEED_DICT || zrc == Z_STREAM_ERROR) {
            rc = gz_corrupt(g, g->in_total - zs.avail_in, zs.msg ? zs.msg : "invalid stream");
            goto out;
        } else if (zrc == Z_MEM_ERROR) {
            rc = mrc_err_errno(g->err, ENOMEM, "%s: zlib", g->path);
            goto out;
        }
        /* Z_OK, or Z_BUF_ERROR (no progress: more input or more room is needed next turn). */
        if (produced > 0 && (rc = gz_feed(g, &have, false)) != MRC_OK) goto out;
    }
    rc = gz_feed(g, &have, true);
out:
    inflateEnd(&zs);
    return rc;
}

#endif

void mrc_reader_codec_versions(char *buf, size_t cap)
{
    const char *bz = BZ2_bzlibVersion(); /* "1.0.8, 13-Jul-2019" */
    int bzlen = (int)strcspn(bz, ", ");
#ifdef MRC_HAVE_ISAL
    snprintf(buf, cap, "gzip (isa-l %d.%d.%d), zstd %s, xz %s, bzip2 %.*s", ISAL_MAJOR_VERSION,
             ISAL_MINOR_VERSION, ISAL_PATCH_VERSION, ZSTD_versionString(), lzma_version_string(),
             bzlen, bz);
#else
    snprintf(buf, cap, "gzip (zlib %s), zstd %s, xz %s, bzip2 %.*s", zlibVersion(),
             ZSTD_versionString(), lzma_version_string(), bzlen, bz);
#endif
}

/* ---- zstd, xz and bzip2: one loop around a step of each library ---- */

/* The decoder of a zstd, xz or bzip2 file. */
typedef struct unpack {
    gz_read *g;
    ZSTD_DStream *zs;
    unsigned zs_log;   /* zstd: the largest window accepted, 2^zs_log bytes */
    uint64_t frame_at; /* zstd: the compressed offset where the current frame starts */
    lzma_stream xs;
    uint64_t pad_at; /* xz: where the null bytes after a stream (its padding) start */
    uint64_t pad;    /* xz: how many there are so far */
    bz_stream bs;
    bool live; /* the library's state is set up (xz and bzip2: one per stream) */
} unpack;

/* zstd's default window bound: 128 MiB, what every level writes without --long (-22: 2^27) */
#define ZSTD_LOG_DEFAULT 27

/* The largest zstd window (log2) a decoder may take under `limit` bytes: at least the default,
 * so that whatever zstd -d reads, mrcount reads; at most the library's. With no limit (0), the
 * default: a few bytes of a frame header must not make a thread allocate 2 GiB. */
static unsigned zstd_window_log(uint64_t limit)
{
    if (limit == 0) return ZSTD_LOG_DEFAULT;
    ZSTD_bounds b = ZSTD_dParam_getBounds(ZSTD_d_windowLogMax);
    unsigned max = ZSTD_isError(b.error) || b.upperBound < ZSTD_LOG_DEFAULT
                       ? ZSTD_LOG_DEFAULT
                       : (unsigned)b.upperBound;
    unsigned lg = ZSTD_LOG_DEFAULT;
    while (lg < max && (uint64_t)1 << (lg + 1) <= limit)
        lg++;
    return lg;
}

static uint64_t le_bytes(const unsigned char *p, unsigned n)
{
    uint64_t v = 0;
    for (unsigned i = n; i-- > 0;)
        v = v << 8 | p[i];
    return v;
}

/* The window the frame at compressed offset `at` asks for (skippable frames before it passed
 * over), read from its header in the file (RFC 8878, 3.1.1.1): 0 when it cannot be told. */
static uint64_t zstd_frame_window(gz_read *g, uint64_t at)
{
    unsigned char h[18]; /* magic, descriptor, window byte, dictionary id (4), content size (8) */
    for (int hop = 0; hop < 16; hop++) {
        ssize_t n = pread_retry(g->fd, h, sizeof h, at);
        if (n < 8) return 0;
        uint32_t magic = (uint32_t)le_bytes(h, 4);
        if ((magic & 0xfffffff0u) == 0x184d2a50u) { /* skippable: its size, then its bytes */
            at += 8 + le_bytes(h + 4, 4);
            continue;
        }
        if (magic != 0xfd2fb528u) return 0;
        unsigned d = h[4], single = d >> 5 & 1, fcs = d >> 6, did = d & 3;
        if (!single) { /* the window descriptor: a power of two and eighths of it */
            unsigned lg = 10 + (h[5] >> 3);
            return ((uint64_t)1 << lg) + ((uint64_t)1 << lg >> 3) * (h[5] & 7);
        }
        /* one segment: the window is the content size */
        static const unsigned did_len[4] = {0, 1, 2, 4}, fcs_len[4] = {1, 2, 4, 8};
        unsigned o = 5 + did_len[did], len = fcs_len[fcs];
        if ((size_t)n < o + len) return 0;
        return le_bytes(h + o, len) + (len == 2 ? 256 : 0);
    }
    return 0;
}

/* A zstd frame whose window (zstd --long) is larger than this decoder accepts: how large,
 * and what it may take. */
static int zstd_too_large(const unpack *u)
{
    gz_read *g = u->g;
    unsigned long long need = zstd_frame_window(g, u->frame_at) >> 20,
                       may = 1ull << u->zs_log >> 20;
    char what[64];
    if (need > may)
        snprintf(what, sizeof what, "a %llu MiB window", need);
    else
        snprintf(what, sizeof what, "a window over %llu MiB", may);
    bool bound = g->r->decoder_limit != 0; /* else no memory limit known: zstd's default */
    return mrc_err_set(g->err, MRC_ENOMEM,
                       "%s: a zstd frame that needs %s (as zstd --long writes), more than %s "
                       "(windows up to %llu MiB): %s, or recompress it without --long" EXCLUDE_HINT,
                       g->path, what,
                       bound ? "a thread's decoder may take under the memory limit"
                             : "a decoder takes without a memory limit",
                       may,
                       bound ? "raise --memory-limit, use fewer --threads" : "set --memory-limit");
}

static int unpack_init(unpack *u)
{
    gz_read *g = u->g;
    int ok = 0;
    switch (g->codec) {
    case MRC_CODEC_ZSTD:
        u->zs = ZSTD_createDStream();
        u->zs_log = zstd_window_log(g->r->decoder_limit);
        ok = u->zs != NULL && !ZSTD_isError(ZSTD_initDStream(u->zs)) &&
                     !ZSTD_isError(
                         ZSTD_DCtx_setParameter(u->zs, ZSTD_d_windowLogMax, (int)u->zs_log))
                 ? 1
                 : -1;
        break;
    case MRC_CODEC_XZ: {
        lzma_stream init = LZMA_STREAM_INIT;
        u->xs = init;
        uint64_t lim = g->r->decoder_limit != 0 ? g->r->decoder_limit : UINT64_MAX;
        /* one stream a decoder (not LZMA_CONCATENATED), so that what follows a stream is
         * told apart from it, and reported where it starts */
        lzma_ret x = lzma_stream_decoder(&u->xs, lim, 0);
        ok = x == LZMA_OK ? 1 : x == LZMA_MEM_ERROR ? -1 : 0;
        break;
    }
    case MRC_CODEC_BZIP2: {
        memset(&u->bs, 0, sizeof u->bs);
        int b = BZ2_bzDecompressInit(&u->bs, 0, 0);
        ok = b == BZ_OK ? 1 : b == BZ_MEM_ERROR ? -1 : 0;
        break;
    }
    default:
        break;
    }
    if (ok > 0) {
        u->live = true;
        return MRC_OK;
    }
    if (g->codec == MRC_CODEC_ZSTD) ZSTD_freeDStream(u->zs); /* NULL: nothing */
    return ok < 0 ? mrc_err_errno(g->err, ENOMEM, "%s: %s decoder", g->path, codecs[g->codec].name)
                  : mrc_err_set(g->err, MRC_EINVAL, "%s: %s decoder: setup failed", g->path,
                                codecs[g->codec].name);
}

static void unpack_end(unpack *u)
{
    if (!u->live) return;
    if (u->g->codec == MRC_CODEC_ZSTD) ZSTD_freeDStream(u->zs);
    if (u->g->codec == MRC_CODEC_XZ) lzma_end(&u->xs);
    if (u->g->codec == MRC_CODEC_BZIP2) BZ2_bzDecompressEnd(&u->bs);
    u->live = false;
}

static const char *xz_cause(lzma_ret x)
{
    switch (x) {
    case LZMA_FORMAT_ERROR:
        return "not an xz stream";
    case LZMA_OPTIONS_ERROR:
        return "unsupported options";
    case LZMA_DATA_ERROR:
        return "corrupt data";
    default:
        return "decoder error";
    }
}

/* One call of the library: from in[0, in_len) (*used taken) into out[0, room) (*made written);
 * *end when a frame or stream ended there.
 * off: the compressed offset of in, for messages. @return MRC_OK, or the error. */
static int unpack_step(unpack *u, unsigned char *in, size_t in_len, bool finish, unsigned char *out,
                       size_t room, uint64_t off, size_t *used, size_t *made, bool *end)
{
    gz_read *g = u->g;
    *end = false;
    if (g->codec == MRC_CODEC_ZSTD) {
        ZSTD_inBuffer ib = {in, in_len, 0};
        ZSTD_outBuffer ob = {out, room, 0};
        size_t ret = ZSTD_decompressStream(u->zs, &ob, &ib);
        *used = ib.pos;
        *made = ob.pos;
        if (ZSTD_isError(ret) && ZSTD_getErrorCode(ret) == ZSTD_error_frameParameter_windowTooLarge)
            return zstd_too_large(u);
        if (ZSTD_isError(ret)) return gz_corrupt(g, off + ib.pos, ZSTD_getErrorName(ret));
        *end = ret == 0; /* a frame decoded and flushed: another may follow */
        if (*end) u->frame_at = off + ib.pos;
        return MRC_OK;
    }
    if (g->codec == MRC_CODEC_XZ) {
        u->xs.next_in = in;
        u->xs.avail_in = in_len;
        u->xs.next_out = out;
        u->xs.avail_out = room;
        lzma_ret x = lzma_code(&u->xs, finish ? LZMA_FINISH : LZMA_RUN);
        *used = in_len - u->xs.avail_in;
        *made = room - u->xs.avail_out;
        if (x == LZMA_STREAM_END) *end = true;
        if (x == LZMA_STREAM_END || x == LZMA_OK || x == LZMA_BUF_ERROR) return MRC_OK;
        if (x == LZMA_MEM_ERROR) return mrc_err_errno(g->err, ENOMEM, "%s: xz decoder", g->path);
        if (x == LZMA_MEMLIMIT_ERROR)
            return mrc_err_set(
                g->err, MRC_ENOMEM,
                "%s: its xz data needs %llu MiB to decompress (the dictionary it "
                "was compressed with), more than a thread's decoder may take under "
                "the memory limit (%llu MiB): raise --memory-limit, use fewer --threads, or "
                "recompress it with a smaller dictionary (xz -9 needs 65 MiB)",
                g->path, (unsigned long long)((lzma_memusage(&u->xs) + (1u << 20) - 1) >> 20),
                (unsigned long long)(g->r->decoder_limit >> 20));
        /* no stream header: named where the stream starts (the decoder took the header) */
        if (x == LZMA_FORMAT_ERROR && u->xs.total_in <= off + *used)
            return gz_corrupt(g, off + *used - u->xs.total_in, xz_cause(x));
        return gz_corrupt(g, off + *used, xz_cause(x));
    }
    /* bzip2's counters are 32 bits */
    unsigned in_n = in_len > UINT_MAX ? UINT_MAX : (unsigned)in_len;
    unsigned out_n = room > UINT_MAX ? UINT_MAX : (unsigned)room;
    u->bs.next_in = (char *)in;
    u->bs.avail_in = in_n;
    u->bs.next_out = (char *)out;
    u->bs.avail_out = out_n;
    int b = BZ2_bzDecompress(&u->bs);
    *used = in_n - u->bs.avail_in;
    *made = out_n - u->bs.avail_out;
    if (b == BZ_STREAM_END) *end = true;
    if (b == BZ_STREAM_END || b == BZ_OK) return MRC_OK;
    if (b == BZ_MEM_ERROR) return mrc_err_errno(g->err, ENOMEM, "%s: bzip2 decoder", g->path);
    /* bad magic: named where the stream starts (the decoder has taken a byte or more of it) */
    if (b == BZ_DATA_ERROR_MAGIC && u->bs.total_in_hi32 == 0 && u->bs.total_in_lo32 <= off + *used)
        return gz_corrupt(g, off + *used - u->bs.total_in_lo32, "not a bzip2 stream");
    return gz_corrupt(g, off + *used, "corrupt data");
}

/* The codecs' magic bytes: gzip's, zstd's (a frame; or a skippable frame, as pzstd writes
 * first: 0x50-0x5f, then these 3), xz's stream header, bzip2's (then a level digit). */
static const unsigned char magic_gzip[2] = {0x1f, 0x8b}, magic_zstd[4] = {0x28, 0xb5, 0x2f, 0xfd},
                           magic_skip[3] = {0x2a, 0x4d, 0x18},
                           magic_xz[6] = {0xfd, '7', 'z', 'X', 'Z', 0x00},
                           magic_bzip2[3] = {'B', 'Z', 'h'};

/* How p[0, n) meets a magic: all of it, a start of it too short to hold the rest (a file cut
 * there; an empty file is read as empty before this), or neither. */
enum magic_fit { MAGIC_NO, MAGIC_CUT, MAGIC_YES };

static enum magic_fit magic_fit(const unsigned char *p, size_t n, const unsigned char *m,
                                size_t len)
{
    if (n == 0 || memcmp(p, m, n < len ? n : len) != 0) return MAGIC_NO;
    return n < len ? MAGIC_CUT : MAGIC_YES;
}

static enum magic_fit codec_magic(enum mrc_codec c, const unsigned char *p, size_t n)
{
    enum magic_fit f;
    switch (c) {
    case MRC_CODEC_GZIP:
        return magic_fit(p, n, magic_gzip, sizeof magic_gzip);
    case MRC_CODEC_ZSTD:
        if (n > 0 && (p[0] & 0xf0) == 0x50)
            return n == 1 ? MAGIC_CUT : magic_fit(p + 1, n - 1, magic_skip, sizeof magic_skip);
        return magic_fit(p, n, magic_zstd, sizeof magic_zstd);
    case MRC_CODEC_XZ:
        return magic_fit(p, n, magic_xz, sizeof magic_xz);
    case MRC_CODEC_BZIP2:
        if ((f = magic_fit(p, n, magic_bzip2, sizeof magic_bzip2)) != MAGIC_YES) return f;
        return n == sizeof magic_bzip2      ? MAGIC_CUT
               : p[3] >= '1' && p[3] <= '9' ? MAGIC_YES
                                            : MAGIC_NO;
    default:
        return MAGIC_NO;
    }
}

/* What bytes after a frame or stream that cannot start another are, by codec. */
static const char *const junk_cause[] = {
    [MRC_CODEC_ZSTD] = "not a zstd frame",
    [MRC_CODEC_XZ] = "not an xz stream",
    [MRC_CODEC_BZIP2] = "not a bzip2 stream",
};

/* The decompressed bytes of the whole file to the consumer, frames or streams back to back (like
 * zstd -d, xz -d, bzip2 -d); in_len compressed bytes are in g->in already. */
static int unpack_all(gz_read *g, size_t in_len)
{
    mrc_reader *r = g->r;
    unpack u = {.g = g};
    int rc = unpack_init(&u);
    size_t in_pos = 0, have = 0;
    bool ended = false;
    while (rc == MRC_OK) {
        if ((rc = check_stop(g->stop, g->path, g->err)) != MRC_OK) break;
        if (in_pos == in_len && !g->in_eof) {
            size_t got = 0;
            if ((rc = gz_fill(g, g->in, GZ_IN_BUF, &got)) != MRC_OK) break;
            in_pos = 0;
            in_len = got;
            continue;
        }
        bool finish = in_pos == in_len && g->in_eof;
        if (ended && g->codec == MRC_CODEC_XZ && !finish && g->in[in_pos] == 0) {
            /* xz's stream padding: null bytes after a stream, a multiple of 4 */
            if (u.pad == 0) u.pad_at = g->in_total - (in_len - in_pos);
            for (; in_pos < in_len && g->in[in_pos] == 0; in_pos++)
                u.pad++;
            continue;
        }
        if (ended) {
            if (u.pad % 4 != 0) {
                rc = gz_corrupt(g, u.pad_at, "stream padding not a multiple of 4 bytes");
                break;
            }
            u.pad = 0;
            if (finish) break;
            /* bytes that cannot start a frame or stream: corrupt where they start (a decoder
             * would take up to a header's worth of them first, then call them truncated or
             * name their end); a start of a magic cut by the buffer's end: the decoder's */
            size_t left = in_len - in_pos;
            if (codec_magic(g->codec, g->in + in_pos, left) == MAGIC_NO) {
                rc = gz_corrupt(g, g->in_total - left, junk_cause[g->codec]);
                break;
            }
            /* more input after a stream: the next one (xz and bzip2 start a new decoder) */
            if (g->codec == MRC_CODEC_XZ || g->codec == MRC_CODEC_BZIP2) {
                unpack_end(&u);
                if ((rc = unpack_init(&u)) != MRC_OK) break;
            }
            ended = false;
        }
        size_t room, used = 0, made = 0;
        if ((rc = gz_out_room(g, have, SIZE_MAX, &room)) != MRC_OK) break;
        uint64_t off = g->in_total - (in_len - in_pos);
        rc = unpack_step(&u, g->in + in_pos, in_len - in_pos, finish, r->buf + have, room, off,
                         &used, &made, &ended);
        if (rc != MRC_OK) break;
        in_pos += used;
        have += made;
        if (used == 0 && made == 0 && !ended) { /* stuck: the input ends inside a stream */
            rc = finish ? gz_truncated(g) : gz_corrupt(g, off, "no progress");
            break;
        }
        if (made > 0 && (rc = gz_feed(g, &have, false)) != MRC_OK) break;
    }
    if (rc == MRC_OK) rc = gz_feed(g, &have, true);
    unpack_end(&u);
    return rc;
}

/* A whole compressed file to the consumer: its first bytes checked for the codec's magic (a file
 * named for one format that holds another says which), then decompressed (gz_inflate() or
 * unpack_all()). Members, frames and streams are independent: a file cut cleanly between two of
 * them since discovery decompresses without error, only shorter; the size the split plan saw
 * tells it from a whole file. */
static int run_compressed(mrc_reader *r, const char *path, enum mrc_codec codec, uint64_t size,
                          mrc_consume_fn consume, void *ctx, const mrc_stop *stop, mrc_err *err)
{
    int rc = check_stop(stop, path, err);
    if (rc != MRC_OK) return rc;
    int fd;
    if ((rc = mrc_input_open(path, &fd, err)) != MRC_OK) return rc;
    posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL);
    gz_read g = {.r = r,
                 .fd = fd,
                 .path = path,
                 .consume = consume,
                 .ctx = ctx,
                 .stop = stop,
                 .err = err,
                 .in = malloc(GZ_IN_BUF),
                 .codec = codec};
    if (g.in == NULL) {
        rc = mrc_err_errno(err, ENOMEM, "%s: %s input buffer", path, codecs[codec].name);
        goto out;
    }
    size_t in_len = 0, got = 0; /* the magic: up to 6 bytes, which a read may return in parts */
    do {
        if ((rc = gz_fill(&g, g.in + in_len, GZ_IN_BUF - in_len, &got)) != MRC_OK) goto out;
        in_len += got;
    } while (in_len < 6 && got > 0);
    enum magic_fit fit = codec_magic(codec, g.in, in_len);
    if (fit != MAGIC_YES) {
        const struct foreign_sig *f = foreign_sig_of(g.in, in_len);
        char what[64];
        if (fit == MAGIC_CUT)
            rc = gz_truncated(&g);
        else if (f == NULL)
            rc = mrc_err_set(err, MRC_EINVAL, "%s: not %s %s file" EXCLUDE_HINT, path,
                             codecs[codec].a, codecs[codec].name);
        else
            rc = mrc_err_set(err, MRC_EINVAL, "%s: not %s %s file (it holds %s)" EXCLUDE_HINT, path,
                             codecs[codec].a, codecs[codec].name,
                             foreign_what(f, what, sizeof what));
        goto out;
    }
    rc = codec == MRC_CODEC_GZIP ? gz_inflate(&g, in_len) : unpack_all(&g, in_len);
    if (rc == MRC_OK && g.in_total < size) {
        range_read rr = {.fd = fd, .path = path, .err = err, .pos = g.in_total};
        rc = range_shrank(&rr, size);
    }
out:
    free(g.in);
    close(fd);
    return rc;
}

int mrc_reader_run_gz(mrc_reader *r, const char *path, uint64_t size, const mrc_record_rules *rules,
                      mrc_consume_fn consume, void *ctx, const mrc_stop *stop, mrc_err *err)
{
    (void)rules; /* a whole file: no range boundaries to resolve */
    return run_compressed(r, path, MRC_CODEC_GZIP, size, consume, ctx, stop, err);
}

int mrc_reader_run_packed(mrc_reader *r, const char *path, enum mrc_codec codec, uint64_t size,
                          mrc_consume_fn consume, void *ctx, const mrc_stop *stop, mrc_err *err)
{
    if (codec < MRC_CODEC_GZIP || codec > MRC_CODEC_BZIP2)
        return mrc_err_set(err, MRC_EINVAL, "%s: no decompressor for codec %d", path, (int)codec);
    return run_compressed(r, path, codec, size, consume, ctx, stop, err);
}
