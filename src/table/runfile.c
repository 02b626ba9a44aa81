/* runfile.c - sorted runs on disk: a writer that streams records in one order into an anonymous
 * file under --tmp-dir (with, in hash order, where each of the 4096 hash buckets starts), and
 * readers that stream any hash range of it back with pread, so several threads share one file.
 * A run must never be short: every failed write (a full disk names the dir) fails the run, and
 * a reader that finds less than the writer wrote fails too.
 *
 * In hash order a record is the wire format's (the shuffle and the checkpoints read it). In the
 * output orders (the external sort's runs, read once from the start) it is front coded: the
 * bytes its key shares with the previous key, the rest of its length and its count as LEB128
 * varints, then the rest of the key. Keys in sorted order share long prefixes and counts are
 * small: 100 M keys key<n>x (12 bytes) take 6 bytes a record instead of 24.
 *
 * No compression: it does not pay here. Measured (tests/bench/bench_spill.c; 2-core EPYC VM,
 * ext4 /tmp, 1 MiB blocks, hash-ordered runs, median of 5; MB/s of record bytes through
 * write + read back and parse, page cache / fdatasync + dropped cache before the read):
 *   run (MB, B/record)         raw           ISA-L igzip 0    igzip 1          zlib 1
 *   key12345678x (71, 24.0)    4144 / 590    151 / 139 x3.3   162 / 142 x4.4   42 / 59 x4.1
 *   English words (18, 21.9)   4232 / 552     91 /  88 x2.1    88 /  85 x2.3   36 / 27 x2.2
 *   word 2-grams (79, 26.4)    2629 / 617     84 /  84 x2.1    78 /  69 x2.2   31 / 23 x2.2
 * Even written through to the disk and read back cold, raw runs 4x faster than the best codec;
 * a codec wins only on a device slower than about 50 MB/s (its ratio times its speed). The
 * machine was shared (load 5); a rerun at load 8 ranked them the same.
 * This writer and reader (bench_spill, same runs, load 8, hashing every key in both): write
 * 420-620 MB/s (16-26 M records/s), read 670-1650 MB/s (31-69 M records/s). */
#include <fcntl.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define XXH_INLINE_ALL
#include <xxhash.h>

#include "mrcount/table.h"
#include "mrcount/tmpfile.h"
#include "pieces.h"
#include "wire.h"

/* ---- the process's spill traffic ---- */

static _Atomic uint64_t spill_written, spill_read;

void mrc_spill_note_written(uint64_t n)
{
    atomic_fetch_add_explicit(&spill_written, n, memory_order_relaxed);
}

void mrc_spill_note_read(uint64_t n)
{
    atomic_fetch_add_explicit(&spill_read, n, memory_order_relaxed);
}

void mrc_spill_io_get(mrc_spill_io *out)
{
    out->written = atomic_load_explicit(&spill_written, memory_order_relaxed);
    out->read = atomic_load_explicit(&spill_read, memory_order_relaxed);
}

/* ---- the writer ---- */

struct mrc_run_writer {
    int fd;
    char *dir;
    enum mrc_order order;
    unsigned char *buf;
    size_t cap, used;
    uint64_t flushed; /* bytes in the file */
    uint64_t records, total;
    uint32_t max_len;         /* the longest key put */
    uint64_t *index;          /* hash order: MRC_RUN_BUCKETS + 1 entries; the output orders: the
                               * segments' starts, NULL until the first cut */
    uint32_t next_bucket;     /* buckets below it have their start */
    size_t segments, seg_cap; /* the output orders: segments started (index[0, segments)) */
    bool fresh;               /* the next record starts a segment: its key coded whole */
    mrc_rec_view last;        /* the previous record, its key in last_key */
    unsigned char *last_key;
    size_t last_cap;
    int failed; /* the first error's code */
    /* mrc_run_writer_sum(): XXH3-64 of the bytes as they go out (then of the index, at the
     * finish); NULL: none */
    XXH3_state_t *sum;
};

static void writer_free(mrc_run_writer *w)
{
    if (w->fd >= 0) close(w->fd);
    free(w->dir);
    free(w->buf);
    free(w->index);
    free(w->last_key);
    if (w->sum != NULL) XXH3_freeState(w->sum);
    free(w);
}

mrc_run_writer *mrc_run_writer_open(const char *dir, enum mrc_order order, size_t buf_size,
                                    mrc_err *err)
{
    int fd;
    if (mrc_tmpfile_open(dir, &fd, err) != 0) return NULL;
    return mrc_run_writer_open_fd(fd, dir, order, buf_size, err);
}

mrc_run_writer *mrc_run_writer_open_fd(int fd, const char *dir, enum mrc_order order,
                                       size_t buf_size, mrc_err *err)
{
    mrc_run_writer *w = calloc(1, sizeof *w);
    if (w == NULL) {
        close(fd);
        mrc_err_set(err, MRC_ENOMEM, "%s: run writer: out of memory", dir);
        return NULL;
    }
    w->fd = fd;
    w->order = order;
    w->cap = buf_size ? buf_size : MRC_RUN_BUF_DEFAULT;
    w->dir = strdup(dir);
    w->buf = malloc(w->cap);
    w->last_cap = 64;
    w->last_key = malloc(w->last_cap);
    if (order == MRC_ORDER_HASH) w->index = malloc((MRC_RUN_BUCKETS + 1) * sizeof *w->index);
    if (w->dir == NULL || w->buf == NULL || w->last_key == NULL ||
        (order == MRC_ORDER_HASH && w->index == NULL)) {
        mrc_err_set(err, MRC_ENOMEM, "%s: run writer: out of memory", dir);
        writer_free(w);
        return NULL;
    }
    return w;
}

int mrc_run_writer_sum(mrc_run_writer *w, mrc_err *err)
{
    if (w->flushed + w->used > 0) /* it would sum part of the file */
        return mrc_err_set(err, MRC_EINVAL,
                           "%s: run writer: a checksum asked after the first record", w->dir);
    if (w->sum == NULL && (w->sum = XXH3_createState()) == NULL)
        return mrc_err_set(err, MRC_ENOMEM, "%s: run writer: out of memory", w->dir);
    XXH3_64bits_reset(w->sum);
    return 0;
}

static int writer_fail(mrc_run_writer *w, int code)
{
    if (w->failed == 0) w->failed = code;
    return code;
}

static int writer_flush(mrc_run_writer *w, mrc_err *err)
{
    if (w->used == 0) return 0;
    if (mrc_write_full(w->fd, w->buf, w->used, w->dir, err) != 0)
        return writer_fail(w, err->code ? err->code : MRC_EIO);
    if (w->sum != NULL) XXH3_64bits_update(w->sum, w->buf, w->used);
    mrc_spill_note_written(w->used);
    w->flushed += w->used;
    w->used = 0;
    return 0;
}

/* Append n bytes through the buffer (a key larger than the buffer goes in buffer-sized parts). */
static int writer_append(mrc_run_writer *w, const unsigned char *p, size_t n, mrc_err *err)
{
    while (n > 0) {
        if (w->used == w->cap && writer_flush(w, err) != 0) return w->failed;
        size_t take = n < w->cap - w->used ? n : w->cap - w->used;
        memcpy(w->buf + w->used, p, take);
        w->used += take;
        p += take;
        n -= take;
    }
    return 0;
}

/* ---- front coding (the output orders) ---- */

#define CODED_HEAD_MAX 30 /* three varints read at once, at most 10 bytes each */

static size_t put_varint(unsigned char *d, uint64_t v)
{
    size_t n = 0;
    for (; v >= 0x80; v >>= 7)
        d[n++] = (unsigned char)(v | 0x80);
    d[n++] = (unsigned char)v;
    return n;
}

#define VARINT_BAD SIZE_MAX /* a varint of more than 10 bytes, or one past 64 bits */

/* A varint from p[0, e - p). @return its bytes, 0 if it runs past e, or VARINT_BAD. */
static size_t get_varint(const unsigned char *p, const unsigned char *e, uint64_t *v)
{
    uint64_t x = 0;
    for (size_t i = 0; i < 10; i++) {
        if (p + i >= e) return 0;
        if (i == 9 && p[i] > 1) return VARINT_BAD;
        x |= (uint64_t)(p[i] & 0x7f) << (7 * i);
        if (p[i] < 0x80) {
            *v = x;
            return i + 1;
        }
    }
    return VARINT_BAD;
}

/* The bytes a[0, m) and b[0, m) share from the start. */
static uint32_t shared_prefix(const unsigned char *a, const unsigned char *b, uint32_t m)
{
    uint32_t i = 0;
    for (; i + 8 <= m; i += 8) {
        uint64_t x, y;
        memcpy(&x, a + i, 8);
        memcpy(&y, b + i, 8);
        if (x != y) return i + (uint32_t)(__builtin_ctzll(x ^ y) >> 3); /* little-endian */
    }
    while (i < m && a[i] == b[i])
        i++;
    return i;
}

static int put_coded(mrc_run_writer *w, const mrc_rec_view *r, mrc_err *err)
{
    uint32_t m = w->records > 0 && !w->fresh ? (r->len < w->last.len ? r->len : w->last.len) : 0;
    w->fresh = false;
    uint32_t shared = shared_prefix(r->key, w->last_key, m);
    unsigned char head[CODED_HEAD_MAX];
    size_t hn = put_varint(head, shared);
    hn += put_varint(head + hn, r->len - shared);
    hn += put_varint(head + hn, r->count);
    size_t rest = (size_t)(r->len - shared);
    if (w->cap - w->used >= hn + rest) {
        memcpy(w->buf + w->used, head, hn);
        if (rest) memcpy(w->buf + w->used + hn, r->key + shared, rest);
        w->used += hn + rest;
        return 0;
    }
    if (writer_append(w, head, hn, err) != 0 || writer_append(w, r->key + shared, rest, err) != 0)
        return w->failed;
    return 0;
}

int mrc_run_writer_put(mrc_run_writer *w, const mrc_rec_view *r, mrc_err *err)
{
    if (w->failed) return w->failed;
    if (w->records > 0 && mrc_rec_cmp(w->order, r, &w->last) <= 0) {
        char shown[MRC_KEY_SHOWN_BUF];
        mrc_err_set(err, MRC_EINVAL, "%s: run writer: records out of order at key '%s'", w->dir,
                    mrc_key_shown(r->key, r->len, shown));
        return writer_fail(w, MRC_EINVAL);
    }
    if (w->order == MRC_ORDER_HASH) {
        uint32_t b = (uint32_t)(r->hash >> (64 - MRC_RUN_INDEX_BITS));
        while (w->next_bucket <= b)
            w->index[w->next_bucket++] = w->flushed + w->used;
    }
    size_t n = REC_HEAD + (size_t)r->len;
    if (w->order != MRC_ORDER_HASH) {
        if (put_coded(w, r, err) != 0) return w->failed;
    } else if (w->cap - w->used >= n) {
        unsigned char *d = w->buf + w->used;
        store64(d, r->count);
        store32(d + 8, r->len);
        if (r->len) memcpy(d + REC_HEAD, r->key, r->len);
        w->used += n;
    } else {
        unsigned char head[REC_HEAD];
        store64(head, r->count);
        store32(head + 8, r->len);
        if (writer_append(w, head, REC_HEAD, err) != 0 ||
            writer_append(w, r->key, r->len, err) != 0)
            return w->failed;
    }
    if (r->len > w->last_cap) {
        size_t cap = w->last_cap * 2 > r->len ? w->last_cap * 2 : r->len;
        unsigned char *k = realloc(w->last_key, cap);
        if (k == NULL) {
            mrc_err_set(err, MRC_ENOMEM, "%s: run writer: out of memory for a %u-byte key", w->dir,
                        (unsigned)r->len);
            return writer_fail(w, MRC_ENOMEM);
        }
        w->last_key = k;
        w->last_cap = cap;
    }
    if (r->len) memcpy(w->last_key, r->key, r->len);
    w->last = *r;
    w->last.key = w->last_key;
    w->records++;
    if (r->len > w->max_len) w->max_len = r->len;
    w->total = w->total + r->count < w->total ? UINT64_MAX : w->total + r->count;
    return 0;
}

int mrc_run_writer_segment(mrc_run_writer *w, mrc_err *err)
{
    if (w->failed) return w->failed;
    if (w->order == MRC_ORDER_HASH)
        return mrc_err_set(err, MRC_EINVAL, "%s: run writer: no segments in hash order", w->dir);
    if (w->segments + 2 > w->seg_cap) { /* room for this start and the end's */
        size_t cap = w->seg_cap ? 2 * w->seg_cap : 16;
        uint64_t *p = realloc(w->index, cap * sizeof *p);
        if (p == NULL) {
            mrc_err_set(err, MRC_ENOMEM, "%s: run writer: out of memory", w->dir);
            return writer_fail(w, MRC_ENOMEM);
        }
        w->index = p;
        w->seg_cap = cap;
    }
    if (w->segments == 0) w->index[w->segments++] = 0; /* the first segment, cut now */
    w->index[w->segments++] = w->flushed + w->used;
    w->fresh = true;
    return 0;
}

int mrc_run_writer_finish(mrc_run_writer *w, mrc_run_file *out, mrc_err *err)
{
    memset(out, 0, sizeof *out);
    out->fd = -1;
    if (w->failed == 0) writer_flush(w, err);
    if (w->failed) {
        int code = w->failed;
        if (err->code == 0)
            mrc_err_set(err, code, "%s: a spill file failed (an earlier error)", w->dir);
        writer_free(w);
        return code;
    }
    if (w->order == MRC_ORDER_HASH)
        while (w->next_bucket <= MRC_RUN_BUCKETS)
            w->index[w->next_bucket++] = w->flushed;
    else if (w->segments > 0) /* seg_cap keeps room for the end */
        w->index[w->segments] = w->flushed;
    out->segments = w->segments;
    out->fd = w->fd;
    out->dir = w->dir;
    out->order = w->order;
    out->bytes = w->flushed;
    out->records = w->records;
    out->total = w->total;
    out->max_len = w->max_len;
    out->index = w->index;
    if (w->sum != NULL) {
        if (w->order == MRC_ORDER_HASH)
            XXH3_64bits_update(w->sum, w->index, (MRC_RUN_BUCKETS + 1) * sizeof *w->index);
        out->sum = XXH3_64bits_digest(w->sum);
        out->has_sum = true;
    }
    w->fd = -1;
    w->dir = NULL;
    w->index = NULL;
    writer_free(w);
    return 0;
}

void mrc_run_writer_abort(mrc_run_writer *w)
{
    if (w != NULL) writer_free(w);
}

int mrc_run_file_adopt(int fd, const char *dir, enum mrc_order order, uint64_t bytes,
                       uint64_t records, uint64_t total, uint64_t *index, mrc_run_file *out,
                       mrc_err *err)
{
    memset(out, 0, sizeof *out);
    out->fd = -1;
    out->dir = strdup(dir);
    if (out->dir == NULL) {
        free(index);
        return mrc_err_set(err, MRC_ENOMEM, "%s: out of memory", dir);
    }
    out->fd = fd;
    out->order = order;
    out->bytes = bytes;
    out->records = records;
    out->total = total;
    out->index = index;
    return 0;
}

void mrc_run_file_close(mrc_run_file *f)
{
    if (f->fd >= 0) close(f->fd);
    f->fd = -1;
    free(f->dir);
    f->dir = NULL;
    free(f->index);
    f->index = NULL;
    f->segments = 0;
}

/* ---- the reader ---- */

uint64_t mrc_run_file_hold(const mrc_run_file *f)
{
    if (f->order == MRC_ORDER_HASH) /* the carry buffer: under twice the record */
        return 2 * ((uint64_t)REC_HEAD + f->max_len);
    /* the buffer grown to the coded record, and the key decoded (grown by doubling) */
    return 3 * ((uint64_t)CODED_HEAD_MAX + f->max_len);
}

typedef struct run_source {
    mrc_pieces r;
    int fd;
    const char *dir;
    uint64_t start, pos, end; /* where the range's bytes start, the next to read, their end */
    uint64_t lo, hi;
    unsigned char *buf;
    size_t cap;
    bool done;
    /* front coded (the output orders): buf[at, lim) unread; the current key */
    size_t at, lim;
    unsigned char *key;
    size_t key_cap;
    uint32_t key_len;
} run_source;

/* Read up to n bytes of the range from s->pos into dst (no further than its end) and move on;
 * the kernel is asked for the next block meanwhile. @return the bytes read, or -1 (err). */
static long long run_read(run_source *s, unsigned char *dst, size_t n, mrc_err *err)
{
    if (n > s->end - s->pos) n = (size_t)(s->end - s->pos);
    if (mrc_pread_full(s->fd, dst, n, s->pos, s->dir, err) != 0) return -1;
    mrc_spill_note_read(n);
    s->pos += n;
    if (s->pos < s->end) /* the kernel fetches the next block while this one is parsed */
        posix_fadvise(s->fd, (off_t)s->pos,
                      (off_t)(s->end - s->pos < s->cap ? s->end - s->pos : s->cap),
                      POSIX_FADV_WILLNEED);
    return (long long)n;
}

static int run_pull(mrc_pieces *r, mrc_err *err)
{
    run_source *s = (run_source *)(void *)r;
    if (s->pos >= s->end) return 0;
    long long n = run_read(s, s->buf, s->cap, err);
    if (n < 0) return -1;
    s->r.begin = s->r.p = s->buf;
    s->r.end = s->buf + n;
    return 1;
}

static void run_truncated(mrc_pieces *r, uint64_t off, mrc_err *err)
{
    run_source *s = (run_source *)(void *)r;
    mrc_err_set(err, MRC_EIO,
                "%s: a spill file ended early (a record cut at byte %llu, its range ends at byte "
                "%llu)",
                s->dir, (unsigned long long)(s->start + off), (unsigned long long)s->end);
}

static int run_next(mrc_source *src, mrc_rec_view *v, mrc_err *err)
{
    run_source *s = (run_source *)(void *)src;
    if (s->done) return 0;
    for (;;) {
        int rc = mrc_pieces_next(&s->r, v, err);
        if (rc <= 0) return rc;
        if (v->hash < s->lo) continue; /* only in the range's first bucket */
        if (v->hash > s->hi) {
            s->done = true;
            return 0;
        }
        return 1;
    }
}

/* Front coded: keep buf[at, lim) and read on until at least `need` bytes are unread or the
 * range ends (buf grows to a record larger than it). @return 0, or -1 with err filled. */
static int coded_fill(run_source *s, size_t need, mrc_err *err)
{
    size_t left = s->lim - s->at;
    memmove(s->buf, s->buf + s->at, left);
    s->at = 0;
    s->lim = left;
    if (need > s->cap) {
        unsigned char *b = realloc(s->buf, need);
        if (b == NULL) {
            mrc_err_set(err, MRC_ENOMEM, "%s: spill file reader: out of memory for %zu bytes",
                        s->dir, need);
            return -1;
        }
        s->buf = b;
        s->cap = need;
    }
    long long n = run_read(s, s->buf + s->lim, s->cap - s->lim, err);
    if (n < 0) return -1;
    s->lim += (size_t)n;
    return 0;
}

static int coded_bad(run_source *s, const char *what, mrc_err *err)
{
    mrc_err_set(err, MRC_EIO,
                "%s: a spill file %s (a record at byte %llu, the run ends at byte %llu)", s->dir,
                what, (unsigned long long)(s->pos - (s->lim - s->at)), (unsigned long long)s->end);
    return -1;
}

static int coded_next(mrc_source *src, mrc_rec_view *v, mrc_err *err)
{
    run_source *s = (run_source *)(void *)src;
    if (s->lim - s->at < CODED_HEAD_MAX && coded_fill(s, CODED_HEAD_MAX, err) != 0) return -1;
    if (s->at == s->lim) return 0;
    const unsigned char *p = s->buf + s->at, *e = s->buf + s->lim;
    uint64_t f[3]; /* shared, rest, count */
    size_t hn = 0;
    for (int i = 0; i < 3; i++) {
        size_t k = get_varint(p + hn, e, &f[i]);
        if (k == 0) return coded_bad(s, "ended early", err);
        if (k == VARINT_BAD) return coded_bad(s, "is corrupt", err);
        hn += k;
    }
    uint64_t shared = f[0], rest = f[1], count = f[2];
    if (shared > s->key_len || rest > UINT32_MAX - shared) return coded_bad(s, "is corrupt", err);
    size_t n = hn + (size_t)rest;
    if (s->lim - s->at < n) { /* a length past the file's end is never allocated for */
        if (n - (s->lim - s->at) > s->end - s->pos) return coded_bad(s, "ended early", err);
        if (coded_fill(s, n, err) != 0) return -1; /* it reads all of the n bytes */
    }
    size_t len = (size_t)(shared + rest);
    if (len > s->key_cap) {
        size_t cap = 2 * s->key_cap > len ? 2 * s->key_cap : len;
        unsigned char *k = realloc(s->key, cap);
        if (k == NULL) {
            mrc_err_set(err, MRC_ENOMEM, "%s: spill file reader: out of memory for a %zu-byte key",
                        s->dir, len);
            return -1;
        }
        s->key = k;
        s->key_cap = cap;
    }
    if (rest) memcpy(s->key + shared, s->buf + s->at + hn, (size_t)rest);
    s->at += n;
    s->key_len = (uint32_t)len;
    v->count = count;
    v->len = (uint32_t)len;
    v->key = s->key;
    v->hash = 0;
    return 1;
}

static void run_close(mrc_source *src)
{
    run_source *s = (run_source *)(void *)src;
    mrc_pieces_free(&s->r);
    free(s->buf);
    free(s->key);
    free(s);
}

/* A reader of f's bytes [start, end) (lo, hi: the hash range, hash order only). */
static mrc_source *open_reader(const mrc_run_file *f, uint64_t start, uint64_t end, uint64_t lo,
                               uint64_t hi, size_t buf_size, mrc_err *err)
{
    const char *dir = f->dir;
    run_source *s = calloc(1, sizeof *s);
    if (s != NULL) {
        s->cap = buf_size ? buf_size : MRC_RUN_BUF_DEFAULT;
        if (s->cap < CODED_HEAD_MAX) s->cap = CODED_HEAD_MAX;
        s->buf = malloc(s->cap);
        s->key_cap = 256; /* an empty key still has a pointer */
        s->key = malloc(s->key_cap);
    }
    if (s == NULL || s->buf == NULL || s->key == NULL) {
        if (s != NULL) {
            free(s->buf);
            free(s->key);
        }
        free(s);
        mrc_err_set(err, MRC_ENOMEM, "%s: spill file reader: out of memory", dir);
        return NULL;
    }
    mrc_pieces_init(&s->r, f->order);
    s->r.base.next = f->order == MRC_ORDER_HASH ? run_next : coded_next;
    s->r.base.close = run_close;
    s->r.pull = run_pull;
    s->r.truncated = run_truncated;
    s->fd = f->fd;
    s->dir = f->dir;
    s->lo = lo;
    s->hi = hi;
    s->start = start;
    s->end = end;
    s->pos = s->start;
    return &s->r.base;
}

mrc_source *mrc_run_file_source(const mrc_run_file *f, uint64_t lo, uint64_t hi, size_t buf_size,
                                mrc_err *err)
{
    const char *dir = f->dir != NULL ? f->dir : "(closed)";
    if (f->fd < 0) {
        mrc_err_set(err, MRC_EINVAL, "%s: reading a spill file that is closed", dir);
        return NULL;
    }
    if (lo > hi || (f->order != MRC_ORDER_HASH && (lo != 0 || hi != UINT64_MAX)) ||
        (f->order == MRC_ORDER_HASH && f->index == NULL)) {
        mrc_err_set(err, MRC_EINVAL, "%s: spill file: no hash range [%llx, %llx] in its order", dir,
                    (unsigned long long)lo, (unsigned long long)hi);
        return NULL;
    }
    if (f->order != MRC_ORDER_HASH) return open_reader(f, 0, f->bytes, lo, hi, buf_size, err);
    return open_reader(f, f->index[lo >> (64 - MRC_RUN_INDEX_BITS)],
                       f->index[(hi >> (64 - MRC_RUN_INDEX_BITS)) + 1], lo, hi, buf_size, err);
}

mrc_source *mrc_run_file_segment_source(const mrc_run_file *f, size_t seg, size_t buf_size,
                                        mrc_err *err)
{
    const char *dir = f->dir != NULL ? f->dir : "(closed)";
    if (f->fd < 0) {
        mrc_err_set(err, MRC_EINVAL, "%s: reading a spill file that is closed", dir);
        return NULL;
    }
    if (f->order == MRC_ORDER_HASH || f->index == NULL || seg >= f->segments) {
        mrc_err_set(err, MRC_EINVAL, "%s: spill file: no segment %zu (it has %zu)", dir, seg,
                    f->order == MRC_ORDER_HASH ? (size_t)0 : f->segments);
        return NULL;
    }
    return open_reader(f, f->index[seg], f->index[seg + 1], 0, UINT64_MAX, buf_size, err);
}
