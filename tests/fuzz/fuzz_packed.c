/* fuzz_packed.c - libFuzzer harness for the compressed-input reader, mrc_reader_run_packed():
 * gzip through the build's inflate backend (ISA-L igzip or zlib), zstd, xz and bzip2 through
 * their libraries, on adversarial files. The input is the file, on a memfd the reader opens as
 * /proc/self/fd/N. A reference decoder here, given the whole file at once, says what it holds:
 * zlib inflate of gzip members back to back, ZSTD_decompressStream over every frame (skippable
 * ones skipped), lzma_stream_decoder with LZMA_CONCATENATED and LZMA_FINISH, BZ2_bzDecompress
 * restarted for each stream; bytes after the last member, frame or stream that start no other
 * are corrupt data, as in the reader. The reader must agree:
 * - a whole file of text: status 0, and the bytes the consumer took, call after call, equal the
 *   reference's exactly (stronger than equal tokens); every byte of the file was read; the
 *   buffer grew only for a record longer than it or to hold the 512-byte head;
 * - decompressed data that starts with a foreign format (mrc_input_foreign_format() of its
 *   first 512 bytes: a tar header, a byte-order mark, compressed twice): an error naming the
 *   format, and nothing given to the consumer;
 * - a truncated or corrupt file, or one not of its codec: an error naming the file and the
 *   codec; what the consumer was given before it agrees with the reference's bytes as far as
 *   both went;
 * - a whole file "shrunk since discovery" (byte 0 bit 4: the size passed is one byte more): all
 *   its bytes given, then the "file shrank" error.
 * libzstd judges some damaged frames by the output room it has (ref_zstd_as()): zstd is decoded
 * both ways, and where they disagree the reader may take either (its bytes still checked).
 * ASan's leak check sees every way out. Files whose reference output passes 8 MiB, or whose xz
 * streams want over 256 MiB of decoder memory, are skipped before the reader sees them (bombs).
 * Input: byte 0 = codec (bits 0-1: gzip, zstd, xz, bzip2), reader buffer (bits 2-3: 8, 64,
 * 4096 bytes, the default), a claimed size one byte too large (bit 4); then the file. */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <bzlib.h>
#include <lzma.h>
#include <zlib.h>
#include <zstd.h>

#include "fuzz_util.h"

#define OUT_MAX ((size_t)8 << 20)         /* reference output past this: a bomb, skipped */
#define OUT_CHUNK ((size_t)64 << 10)      /* the reference's output room per library call */
#define XZ_MEMLIMIT ((uint64_t)256 << 20) /* xz decoder memory past this: skipped */
#define HEAD_BYTES 512                    /* what the reader checks of the decompressed head */

/* ---- the file as a path the reader can open ---- */

static fuzz_file packed_file = FUZZ_FILE_INIT;

/* ---- a growing byte string ---- */

typedef struct bytes {
    unsigned char *p;
    size_t n, cap;
} bytes;

/* Room for `want` more bytes at b->p + b->n. */
static unsigned char *bytes_room(bytes *b, size_t want)
{
    if (b->cap - b->n < want) {
        size_t cap = b->cap ? b->cap : 4096;
        while (cap - b->n < want)
            cap *= 2;
        b->p = realloc(b->p, cap);
        if (b->p == NULL) abort();
        b->cap = cap;
    }
    return b->p + b->n;
}

static void bytes_add(bytes *b, const unsigned char *p, size_t n)
{
    if (n == 0) return;
    memcpy(bytes_room(b, n), p, n);
    b->n += n;
}

static bool ws(unsigned char b)
{
    return b == ' ' || (b >= '\t' && b <= '\r');
}

/* ---- the reference decoders: all the input at once, OUT_CHUNK bytes of output per call ---- */

enum verdict {
    REF_TEXT, /* the file decompresses whole: out holds it */
    REF_BAD,  /* not of its codec, truncated or corrupt: out holds what came before the error */
    REF_SKIP, /* too large to check (a bomb) */
};

static uint32_t le32(const unsigned char *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/* gzip members back to back (windowBits 15+16: gzip only, like gzip -d and ISA-L; 15+32 would
 * take a zlib stream as a member after the first, which no gzip tool writes or reads); zero
 * bytes after a member are padding, as gzip -d and Python's gzip module take them. */
static enum verdict ref_gzip(const unsigned char *in, size_t n, bytes *out)
{
    if (n < 2 || in[0] != 0x1f || in[1] != 0x8b) return REF_BAD;
    z_stream zs;
    memset(&zs, 0, sizeof zs);
    CHECK(inflateInit2(&zs, 15 + 16) == Z_OK, "inflateInit2");
    zs.next_in = (Bytef *)in;
    zs.avail_in = (uInt)n;
    enum verdict v = REF_BAD;
    for (;;) {
        if (out->n >= OUT_MAX) {
            v = REF_SKIP;
            break;
        }
        zs.next_out = bytes_room(out, OUT_CHUNK);
        zs.avail_out = (uInt)OUT_CHUNK;
        int z = inflate(&zs, Z_NO_FLUSH);
        out->n += OUT_CHUNK - zs.avail_out;
        CHECK(z != Z_MEM_ERROR, "zlib: out of memory");
        if (z == Z_STREAM_END) {
            while (zs.avail_in > 0 && *zs.next_in == 0) {
                zs.next_in++;
                zs.avail_in--;
            }
            if (zs.avail_in == 0) {
                v = REF_TEXT;
                break;
            }
            CHECK(inflateReset(&zs) == Z_OK, "inflateReset");
        } else if (z != Z_OK) {
            break; /* Z_BUF_ERROR: the input ends inside a member; or corrupt data */
        }
    }
    inflateEnd(&zs);
    return v;
}

/* zstd frames back to back; the file starts with a frame or a skippable frame (pzstd's).
 * libzstd 1.5.4 decodes a frame one of two ways, chosen when its header is read: in one pass
 * when the output room then is at least the frame's declared content size, else block by block;
 * and the two do not judge alike (block by block, a declared size larger than the content goes
 * unnoticed when the last block is empty). The reader's room varies, so both are asked:
 * `streamed` gives each frame's first call 1 byte of room (block by block whenever the declared
 * size is 2 or more), otherwise it gets all the room up to OUT_MAX (one pass whenever the
 * reader could have had it). Not modelled: a file with one frame only one way refuses and
 * another only the other way refuses, which a reader taking each the lenient way would pass. */
static enum verdict ref_zstd_as(const unsigned char *in, size_t n, bool streamed, bytes *out)
{
    if (n < 4 || (le32(in) != 0xfd2fb528u && (le32(in) & 0xfffffff0u) != 0x184d2a50u))
        return REF_BAD;
    ZSTD_DCtx *d = ZSTD_createDCtx();
    CHECK(d != NULL, "ZSTD_createDCtx");
    ZSTD_inBuffer ib = {in, n, 0};
    bool frame_start = true;
    enum verdict v;
    for (;;) {
        if (out->n >= OUT_MAX) {
            v = REF_SKIP;
            break;
        }
        size_t room = !frame_start ? OUT_CHUNK : streamed ? 1 : OUT_MAX + 1 - out->n;
        ZSTD_outBuffer ob = {bytes_room(out, room), room, 0};
        size_t in0 = ib.pos;
        size_t ret = ZSTD_decompressStream(d, &ob, &ib);
        out->n += ob.pos;
        if (ZSTD_isError(ret)) {
            v = REF_BAD;
            break;
        }
        if (ret == 0 && ib.pos == ib.size) { /* a frame ended and flushed, and nothing follows */
            v = REF_TEXT;
            break;
        }
        if (ob.pos == 0 && ib.pos == in0) { /* no progress: the input ends inside a frame */
            v = REF_BAD;
            break;
        }
        frame_start = ret == 0;
    }
    ZSTD_freeDCtx(d);
    return v;
}

static enum verdict ref_zstd(const unsigned char *in, size_t n, bytes *out)
{
    return ref_zstd_as(in, n, false, out);
}

/* xz streams back to back (and their padding). */
static enum verdict ref_xz(const unsigned char *in, size_t n, bytes *out)
{
    static const unsigned char magic[6] = {0xfd, '7', 'z', 'X', 'Z', 0x00};
    if (n < 6 || memcmp(in, magic, 6) != 0) return REF_BAD;
    lzma_stream xs = LZMA_STREAM_INIT;
    CHECK(lzma_stream_decoder(&xs, XZ_MEMLIMIT, LZMA_CONCATENATED) == LZMA_OK,
          "lzma_stream_decoder");
    xs.next_in = in;
    xs.avail_in = n;
    enum verdict v;
    for (;;) {
        if (out->n >= OUT_MAX) {
            v = REF_SKIP;
            break;
        }
        xs.next_out = bytes_room(out, OUT_CHUNK);
        xs.avail_out = OUT_CHUNK;
        lzma_ret x = lzma_code(&xs, LZMA_FINISH);
        out->n += OUT_CHUNK - xs.avail_out;
        CHECK(x != LZMA_MEM_ERROR, "liblzma: out of memory");
        if (x == LZMA_OK) continue;
        v = x == LZMA_STREAM_END ? REF_TEXT : x == LZMA_MEMLIMIT_ERROR ? REF_SKIP : REF_BAD;
        break; /* REF_BAD: LZMA_BUF_ERROR (truncated), data, format or options errors */
    }
    lzma_end(&xs);
    return v;
}

/* bzip2 streams back to back, a decoder for each. */
static enum verdict ref_bzip2(const unsigned char *in, size_t n, bytes *out)
{
    if (n < 4 || in[0] != 'B' || in[1] != 'Z' || in[2] != 'h' || in[3] < '1' || in[3] > '9')
        return REF_BAD;
    size_t pos = 0;
    for (;;) {
        bz_stream bs;
        memset(&bs, 0, sizeof bs);
        CHECK(BZ2_bzDecompressInit(&bs, 0, 0) == BZ_OK, "BZ2_bzDecompressInit");
        bs.next_in = (char *)(in + pos);
        bs.avail_in = (unsigned)(n - pos);
        enum verdict v = REF_TEXT;
        for (;;) {
            if (out->n >= OUT_MAX) {
                v = REF_SKIP;
                break;
            }
            bs.next_out = (char *)bytes_room(out, OUT_CHUNK);
            bs.avail_out = (unsigned)OUT_CHUNK;
            unsigned in0 = bs.avail_in;
            int b = BZ2_bzDecompress(&bs);
            size_t made = OUT_CHUNK - bs.avail_out;
            out->n += made;
            CHECK(b != BZ_MEM_ERROR, "libbz2: out of memory");
            if (b == BZ_STREAM_END) break;
            if (b != BZ_OK || (made == 0 && bs.avail_in == in0)) { /* corrupt, or truncated */
                v = REF_BAD;
                break;
            }
        }
        pos = n - bs.avail_in;
        BZ2_bzDecompressEnd(&bs);
        if (v != REF_TEXT || pos == n) return v;
    }
}

/* ---- the consumer: takes the bytes up to the last ASCII whitespace, all of them at the end ----
 */

typedef struct seen {
    bytes b;      /* every byte consumed, in order */
    size_t tail;  /* bytes the last call left: the next buffer starts with them */
    size_t calls; /* calls made */
    bool final;   /* the final call was made */
} seen;

static long long consume(void *ctx, const unsigned char *buf, size_t len, size_t owned, bool final,
                         mrc_err *err)
{
    seen *s = ctx;
    (void)err;
    CHECK(!s->final, "a call after the final one");
    CHECK(owned == SIZE_MAX, "owned %zu: all of a compressed file is the range's", owned);
    CHECK(len >= s->tail, "%zu bytes, but the last call left %zu", len, s->tail);
    s->calls++;
    size_t used = len;
    if (!final) { /* the left bytes hold no whitespace: look only at what came after them */
        while (used > s->tail && !ws(buf[used - 1]))
            used--;
        if (used == s->tail) used = 0;
    }
    bytes_add(&s->b, buf, used);
    s->tail = final ? 0 : len - used;
    s->final = final;
    return (long long)used;
}

/* ---- the reader against the reference ---- */

static size_t longest_record(const unsigned char *p, size_t n)
{
    size_t best = 0, run = 0;
    for (size_t i = 0; i < n; i++) {
        run = ws(p[i]) ? 0 : run + 1;
        if (run > best) best = run;
    }
    return best;
}

static size_t first_difference(const unsigned char *a, const unsigned char *b, size_t n)
{
    size_t i = 0;
    while (i < n && a[i] == b[i])
        i++;
    return i;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1) return 0;
    static const enum mrc_codec codecs[4] = {MRC_CODEC_GZIP, MRC_CODEC_ZSTD, MRC_CODEC_XZ,
                                             MRC_CODEC_BZIP2};
    static enum verdict (*const refs[4])(const unsigned char *, size_t,
                                         bytes *) = {ref_gzip, ref_zstd, ref_xz, ref_bzip2};
    static const size_t bufs[4] = {8, 64, 4096, 0};
    enum mrc_codec codec = codecs[data[0] & 3];
    const char *name = mrc_codec_name(codec);
    size_t bufsize = bufs[data[0] >> 2 & 3];
    bool shrunk = data[0] >> 4 & 1;
    const unsigned char *file = data + 1;
    size_t len = size - 1;

    bytes want = {0}, other = {0};
    enum verdict v = refs[data[0] & 3](file, len, &want);
    enum verdict v2 = codec == MRC_CODEC_ZSTD ? ref_zstd_as(file, len, true, &other) : v;
    if (v == REF_SKIP || v2 == REF_SKIP) {
        free(want.p);
        free(other.p);
        return 0;
    }
    /* zstd's two ways disagree: the reader may take either; `want` is the whole text */
    bool either = v != v2;
    if (v2 == REF_TEXT && v != REF_TEXT) {
        bytes t = want;
        want = other;
        other = t;
        v = REF_TEXT;
    } else if (codec == MRC_CODEC_ZSTD && v == REF_TEXT) {
        CHECK(other.n == want.n && first_difference(other.p, want.p, want.n) == want.n,
              "zstd: %zu bytes block by block, %zu in one pass", other.n, want.n);
    }
    free(other.p);
    const char *foreign = NULL;
    if (v == REF_TEXT)
        foreign = mrc_input_foreign_format(want.p, want.n < HEAD_BYTES ? want.n : HEAD_BYTES);
    bool may_succeed = v == REF_TEXT && foreign == NULL && !shrunk;

    fuzz_file_put(&packed_file, "fuzz-packed", file, len);
    mrc_err err = {0};
    mrc_reader rd;
    CHECK(mrc_reader_init(&rd, bufsize, &err) == 0, "reader: %s", err.msg);
    size_t cap0 = rd.cap;
    seen got = {0};
    int rc = mrc_reader_run_packed(&rd, packed_file.path, codec, len + shrunk, consume, &got, NULL,
                                   &err);

    if (rc == 0 || (may_succeed && !either)) {
        CHECK(rc == 0, "%s, %zu bytes decompressing to %zu: refused: %s", name, len, want.n,
              err.msg);
        CHECK(may_succeed, "%s, %zu bytes: accepted, the reference says %s", name, len,
              v == REF_BAD ? "corrupt or truncated"
              : foreign    ? foreign
                           : "the file shrank");
        CHECK(got.final, "%s: no final call", name);
        size_t at = first_difference(got.b.p, want.p, got.b.n < want.n ? got.b.n : want.n);
        CHECK(got.b.n == want.n && at == want.n,
              "%s: the consumer took %zu bytes, the reference has %zu; first difference at %zu",
              name, got.b.n, want.n, at);
        CHECK(rd.bytes_read == len, "%s: read %llu of the file's %zu bytes", name,
              (unsigned long long)rd.bytes_read, len);
        size_t longest = longest_record(want.p, want.n);
        size_t bound = 2 * (longest > HEAD_BYTES / 2 ? longest : HEAD_BYTES / 2);
        CHECK(rd.cap == cap0 || rd.cap <= bound,
              "%s: the buffer grew from %zu to %zu bytes, the longest record is %zu", name, cap0,
              rd.cap, longest);
    } else {
        CHECK(err.msg[0] != '\0', "%s: status %d without a message", name, rc);
        CHECK(strstr(err.msg, packed_file.path) != NULL,
              "%s: the message does not name the file: %s", name, err.msg);
        CHECK(strstr(err.msg, name) != NULL || (shrunk && strstr(err.msg, "shrank") != NULL),
              "%s: the message names neither the codec nor a shrunk file: %s", name, err.msg);
        if (foreign != NULL && !either)
            CHECK(strstr(err.msg, foreign) != NULL && got.calls == 0,
                  "%s: %s data: %zu consumer calls, message: %s", name, foreign, got.calls,
                  err.msg);
        if (v == REF_TEXT && foreign == NULL && !either)
            CHECK(strstr(err.msg, "shrank") != NULL && got.final && got.b.n == want.n,
                  "%s: a shrunk file read as %zu of %zu bytes (final %d): %s", name, got.b.n,
                  want.n, got.final, err.msg);
        /* what was given before the error is what the file decodes to, as far as both went */
        size_t common = got.b.n < want.n ? got.b.n : want.n;
        size_t at = first_difference(got.b.p, want.p, common);
        CHECK(at == common, "%s: byte %zu given before the error differs from the reference's",
              name, at);
    }
    mrc_reader_free(&rd);
    free(got.b.p);
    free(want.p);
    return 0;
}
