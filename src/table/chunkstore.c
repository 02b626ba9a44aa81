/* chunkstore.c - what a shuffle owner receives, kept until every round is in: each source
 * rank's wire-format bytes, chunk after chunk, in memory while they fit the owner's budget, then
 * in one anonymous spill file; read back as one record stream per source, records cut across
 * chunks joined. It must never hold more than its budget of chunk bytes in memory, nor lose or
 * reorder a byte: a failed write fails the store for good. */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "mrcount/table.h"
#include "mrcount/tmpfile.h"
#include "pieces.h"

/* One chunk (or several contiguous ones of a source, in the file). */
typedef struct seg {
    unsigned char *mem; /* the bytes while in memory; NULL once in the file */
    uint64_t off;       /* file offset, once in the file */
    size_t len;
} seg;

typedef struct segvec {
    seg *v;
    size_t n, cap;
} segvec;

struct mrc_chunk_store {
    size_t nsources;
    uint64_t budget;
    char *dir;
    segvec *src; /* per source, in append order */
    int fd;      /* the spill file; -1 while everything is in memory */
    unsigned char *wbuf;
    size_t wcap, wused;
    uint64_t file_len; /* bytes in the file and in wbuf */
    uint64_t held;     /* chunk bytes in memory */
    uint64_t appended, spilled, peak;
    size_t index_bytes; /* the segment arrays */
    uint64_t room;      /* test hook: bytes the file may take (mrc_chunk_store_test_room()) */
    bool reading;
    int failed;
};

static uint64_t mem_now(const mrc_chunk_store *s)
{
    return s->held + (s->wbuf != NULL ? s->wcap : 0) + s->index_bytes +
           s->nsources * sizeof *s->src;
}

static void note_peak(mrc_chunk_store *s)
{
    uint64_t m = mem_now(s);
    if (m > s->peak) s->peak = m;
}

mrc_chunk_store *mrc_chunk_store_open(size_t nsources, uint64_t mem_budget, const char *dir,
                                      mrc_err *err)
{
    if (nsources == 0 || dir == NULL) {
        mrc_err_set(err, MRC_EINVAL, "chunk store: %s", nsources ? "no directory" : "no source");
        return NULL;
    }
    mrc_chunk_store *s = calloc(1, sizeof *s);
    if (s != NULL) {
        s->src = calloc(nsources, sizeof *s->src);
        s->dir = strdup(dir);
    }
    if (s == NULL || s->src == NULL || s->dir == NULL) {
        if (s != NULL) {
            free(s->src);
            free(s->dir);
        }
        free(s);
        mrc_err_set(err, MRC_ENOMEM, "chunk store of %zu sources: out of memory", nsources);
        return NULL;
    }
    s->nsources = nsources;
    s->budget = mem_budget;
    s->fd = -1;
    s->wcap = MRC_RUN_BUF_DEFAULT;
    s->room = UINT64_MAX;
    note_peak(s);
    return s;
}

void mrc_chunk_store_close(mrc_chunk_store *s)
{
    if (s == NULL) return;
    for (size_t i = 0; i < s->nsources; i++) {
        for (size_t j = 0; j < s->src[i].n; j++)
            free(s->src[i].v[j].mem);
        free(s->src[i].v);
    }
    if (s->fd >= 0) close(s->fd);
    free(s->src);
    free(s->wbuf);
    free(s->dir);
    free(s);
}

static int store_fail(mrc_chunk_store *s, mrc_err *err, int code)
{
    if (code == 0) code = err->code ? err->code : MRC_EIO;
    if (s->failed == 0) s->failed = code;
    return code;
}

void mrc_chunk_store_test_room(mrc_chunk_store *s, uint64_t bytes)
{
    s->room = bytes;
}

/* mrc_write_full() to the store's file, within its room. */
static int store_write(mrc_chunk_store *s, const void *p, size_t n, mrc_err *err)
{
    if (n > s->room || s->spilled > s->room - n)
        return store_fail(s, err, mrc_write_error(ENOSPC, 0, n, s->dir, err));
    if (mrc_write_full(s->fd, p, n, s->dir, err) != 0) return store_fail(s, err, 0);
    return 0;
}

static int flush(mrc_chunk_store *s, mrc_err *err)
{
    if (s->wused == 0) return 0;
    if (store_write(s, s->wbuf, s->wused, err) != 0) return s->failed;
    mrc_spill_note_written(s->wused);
    s->spilled += s->wused;
    s->wused = 0;
    return 0;
}

/* Append n bytes to the file through wbuf (a chunk as large as wbuf goes straight through). */
static int file_append(mrc_chunk_store *s, const unsigned char *p, size_t n, mrc_err *err)
{
    if (n >= s->wcap) {
        if (flush(s, err) != 0) return s->failed;
        if (store_write(s, p, n, err) != 0) return s->failed;
        mrc_spill_note_written(n);
        s->spilled += n;
    } else {
        if (s->wcap - s->wused < n && flush(s, err) != 0) return s->failed;
        memcpy(s->wbuf + s->wused, p, n);
        s->wused += n;
    }
    s->file_len += n;
    return 0;
}

/* Record n bytes of source at file offset off (joined to the previous chunk when contiguous). */
static int seg_push(mrc_chunk_store *s, segvec *sv, unsigned char *mem, uint64_t off, size_t n,
                    mrc_err *err)
{
    if (mem == NULL && sv->n > 0) {
        seg *prev = &sv->v[sv->n - 1];
        if (prev->mem == NULL && prev->off + prev->len == off && prev->len <= SIZE_MAX - n) {
            prev->len += n;
            return 0;
        }
    }
    if (sv->n == sv->cap) {
        size_t cap = sv->cap ? sv->cap * 2 : 8;
        seg *v = realloc(sv->v, cap * sizeof *v);
        if (v == NULL) {
            mrc_err_set(err, MRC_ENOMEM, "chunk store: out of memory for the chunk index");
            return store_fail(s, err, MRC_ENOMEM);
        }
        s->index_bytes += (cap - sv->cap) * sizeof *v;
        sv->v = v;
        sv->cap = cap;
    }
    sv->v[sv->n++] = (seg){mem, off, n};
    return 0;
}

/* Move every chunk held in memory to a new spill file, source by source. */
static int spill(mrc_chunk_store *s, mrc_err *err)
{
    s->wbuf = malloc(s->wcap);
    if (s->wbuf == NULL) {
        mrc_err_set(err, MRC_ENOMEM, "chunk store: out of memory for the spill buffer");
        return store_fail(s, err, MRC_ENOMEM);
    }
    note_peak(s);
    if (mrc_tmpfile_open(s->dir, &s->fd, err) != 0) return store_fail(s, err, 0);
    for (size_t i = 0; i < s->nsources; i++) {
        segvec *sv = &s->src[i];
        size_t w = 0; /* chunks of this source are contiguous in the file: one segment */
        for (size_t j = 0; j < sv->n; j++) {
            seg c = sv->v[j];
            uint64_t off = s->file_len;
            if (file_append(s, c.mem, c.len, err) != 0) return s->failed;
            free(c.mem);
            s->held -= c.len;
            if (w > 0 && sv->v[w - 1].off + sv->v[w - 1].len == off) {
                sv->v[w - 1].len += c.len;
                sv->v[j].mem = NULL; /* now part of segment w - 1 */
                sv->v[j].len = 0;
            } else {
                sv->v[w++] = (seg){NULL, off, c.len};
                if (j >= w) sv->v[j] = (seg){NULL, 0, 0};
            }
        }
        sv->n = w;
    }
    return 0;
}

int mrc_chunk_store_append(mrc_chunk_store *s, size_t source, const void *bytes, size_t n,
                           mrc_err *err)
{
    if (s->failed) return s->failed;
    if (source >= s->nsources)
        return mrc_err_set(err, MRC_EINVAL, "chunk store: source %zu of %zu", source, s->nsources);
    if (s->reading)
        return mrc_err_set(err, MRC_EINVAL, "chunk store: an append after reading began");
    if (n == 0) return 0;
    segvec *sv = &s->src[source];
    if (s->fd < 0 && s->held + n <= s->budget && s->held + n >= s->held) {
        unsigned char *m = malloc(n);
        if (m == NULL) {
            mrc_err_set(err, MRC_ENOMEM, "chunk store: out of memory for a %zu-byte chunk", n);
            return store_fail(s, err, MRC_ENOMEM);
        }
        memcpy(m, bytes, n);
        if (seg_push(s, sv, m, 0, n, err) != 0) {
            free(m);
            return s->failed;
        }
        s->held += n;
        s->appended += n;
        note_peak(s);
        return 0;
    }
    if (s->fd < 0 && spill(s, err) != 0) return s->failed;
    uint64_t off = s->file_len;
    if (file_append(s, bytes, n, err) != 0) return s->failed;
    if (seg_push(s, sv, NULL, off, n, err) != 0) return s->failed;
    s->appended += n;
    note_peak(s);
    return 0;
}

void mrc_chunk_store_stats(const mrc_chunk_store *s, mrc_chunk_stats *out)
{
    out->appended = s->appended;
    out->mem = mem_now(s);
    out->mem_peak = s->peak;
    out->spilled = s->spilled;
    out->on_disk = s->fd >= 0;
}

/* ---- reading a source back ---- */

typedef struct chunk_source {
    mrc_pieces r;
    const mrc_chunk_store *st;
    size_t source;
    const seg *segs;
    size_t nseg, i;  /* the segment being read */
    uint64_t at;     /* bytes of segment i already read */
    uint64_t length; /* the source's bytes */
    unsigned char *buf;
    size_t cap;
} chunk_source;

static int chunk_pull(mrc_pieces *r, mrc_err *err)
{
    chunk_source *c = (chunk_source *)(void *)r;
    for (; c->i < c->nseg; c->i++, c->at = 0) {
        const seg *g = &c->segs[c->i];
        if (g->mem != NULL) {
            c->r.begin = c->r.p = g->mem;
            c->r.end = g->mem + g->len;
            c->i++;
            return 1;
        }
        if (c->at == g->len) continue;
        size_t n = g->len - c->at < c->cap ? (size_t)(g->len - c->at) : c->cap;
        if (mrc_pread_full(c->st->fd, c->buf, n, g->off + c->at, c->st->dir, err) != 0) return -1;
        mrc_spill_note_read(n);
        c->at += n;
        c->r.begin = c->r.p = c->buf;
        c->r.end = c->buf + n;
        return 1;
    }
    return 0;
}

static void chunk_truncated(mrc_pieces *r, uint64_t off, mrc_err *err)
{
    chunk_source *c = (chunk_source *)(void *)r;
    mrc_err_set(err, MRC_EINVAL,
                "chunk store: source %zu: a record cut by the end of its bytes (at byte %llu of "
                "%llu)",
                c->source, (unsigned long long)off, (unsigned long long)c->length);
}

static int chunk_next(mrc_source *s, mrc_rec_view *v, mrc_err *err)
{
    return mrc_pieces_next((mrc_pieces *)(void *)s, v, err);
}

static void chunk_close(mrc_source *s)
{
    chunk_source *c = (chunk_source *)(void *)s;
    mrc_pieces_free(&c->r);
    free(c->buf);
    free(c);
}

mrc_source *mrc_chunk_store_source(mrc_chunk_store *s, size_t source, enum mrc_order order,
                                   size_t buf_size, mrc_err *err)
{
    if (s->failed) {
        mrc_err_set(err, s->failed, "%s: chunk store: reading a store that failed", s->dir);
        return NULL;
    }
    if (source >= s->nsources) {
        mrc_err_set(err, MRC_EINVAL, "chunk store: source %zu of %zu", source, s->nsources);
        return NULL;
    }
    if (!s->reading && s->fd >= 0) {
        if (flush(s, err) != 0) return NULL;
        free(s->wbuf); /* nothing is appended once reading begins */
        s->wbuf = NULL;
    }
    s->reading = true;
    chunk_source *c = calloc(1, sizeof *c);
    if (c != NULL && s->fd >= 0) {
        c->cap = buf_size ? buf_size : MRC_RUN_BUF_DEFAULT;
        c->buf = malloc(c->cap);
    }
    if (c == NULL || (s->fd >= 0 && c->buf == NULL)) {
        free(c);
        mrc_err_set(err, MRC_ENOMEM, "chunk store: out of memory for a reader");
        return NULL;
    }
    mrc_pieces_init(&c->r, order);
    c->r.base.next = chunk_next;
    c->r.base.close = chunk_close;
    c->r.pull = chunk_pull;
    c->r.truncated = chunk_truncated;
    c->st = s;
    c->source = source;
    c->segs = s->src[source].v;
    c->nseg = s->src[source].n;
    for (size_t i = 0; i < c->nseg; i++)
        c->length += c->segs[i].len;
    return &c->r.base;
}
