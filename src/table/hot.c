/* hot.c - the table's hot front (see table.h): which keys it holds, and their deltas settled
 * into the records. */
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "mrcount/table.h"

/* 65536 buckets: on the English corpus (1 GiB, 805 k keys, 1 x 1, the 2-core EPYC VM, medians of
 * interleaved runs beside 32768) the map took 2.59 s against 2.74 (7 rounds), 0.689 against 0.704
 * on its first 256 MiB (9 rounds); the front counted more of the tokens, and a token that misses
 * it costs two lines of the table where a hit on a colder bucket costs one. 131072 was slower
 * again (2.63 s, where 65536 took 2.55 and 32768 2.61 in that run). */
#define HOT_BUCKETS 65536                                   /* 2 entries of 32 bytes each */
#define HOT_BYTES (2 * HOT_BUCKETS * sizeof(mrc_hot_entry)) /* 4 MiB */
#define HOT_KEYS (HOT_BUCKETS * 3 / 2) /* keys chosen; a key whose bucket is full is left out */
#define HOT_FIRST 65536                /* the first choice, after this many tokens */
#define HOT_STEP ((uint64_t)1 << 26)   /* then at 4x the total, at most this many tokens apart */
#define HOT_SCAN 4                     /* tokens since the last choice per key scanned, at least */
/* The front is kept when its keys hold at least 1/HOT_COVER of the total: a token that misses
 * it pays one more line (its bucket, fetched ahead) on top of its lookup in the table. */
#define HOT_COVER 3

_Static_assert(sizeof(mrc_hot_entry) == 32, "two hot entries to a cache line");

/* A candidate: a record's count and where it is. */
typedef struct cand {
    uint64_t count;
    uint32_t ref;
} cand;

/* The front's memory: the buckets, on a 2 MiB boundary (a huge page where the system gives
 * one), then the choice's heap. Taken at the first choice and kept until the front is dropped,
 * so a choice faults no fresh page in: a heap malloc'd and freed per choice (mmap'd: 768 KiB)
 * and a front on 4 KiB pages cost 4-6 ms a choice on this VM, and the unmaps interrupted the
 * other map threads (256 MiB of English at 1 x 2, 7 interleaved rounds: map 0.554 -> 0.507 s). */
#define HOT_MEM (HOT_BYTES + HOT_KEYS * sizeof(cand))

/* The HOT_KEYS most frequent short keys: a min-heap on count. */
typedef struct top {
    cand *c;
    size_t n, cap;
} top;

static void sift_down(cand *c, size_t n, size_t i)
{
    for (;;) {
        size_t l = 2 * i + 1, m = i;
        if (l < n && c[l].count < c[m].count) m = l;
        if (l + 1 < n && c[l + 1].count < c[m].count) m = l + 1;
        if (m == i) return;
        cand x = c[i];
        c[i] = c[m];
        c[m] = x;
        i = m;
    }
}

static void offer(top *tp, uint64_t count, uint32_t ref)
{
    if (tp->n < tp->cap) {
        size_t i = tp->n++;
        tp->c[i] = (cand){count, ref};
        while (i > 0 && tp->c[(i - 1) / 2].count > tp->c[i].count) {
            cand x = tp->c[i];
            tp->c[i] = tp->c[(i - 1) / 2];
            tp->c[(i - 1) / 2] = x;
            i = (i - 1) / 2;
        }
    } else if (count > tp->c[0].count) {
        tp->c[0] = (cand){count, ref};
        sift_down(tp->c, tp->n, 0);
    }
}

void mrc_table_settle(mrc_table *t)
{
    if (t->hot == NULL) return;
    for (size_t i = 0; i < 2 * (t->hot_mask + 1); i++) {
        mrc_hot_entry *e = &t->hot[i];
        if (e->delta == 0) continue;
        mrc_rec *r = mrc_table_rec_at(t, e->ref);
        /* cannot saturate: the count and the delta are tokens of this table (table.h) */
        r->count = r->count + e->delta < r->count ? UINT64_MAX : r->count + e->delta;
        t->hot_hits += e->delta;
        e->delta = 0;
    }
}

size_t mrc_table_hot_bytes(const mrc_table *t)
{
    return t->hot != NULL ? HOT_MEM : 0;
}

void mrc_table_hot_free(mrc_table *t)
{
    free(t->hot);
    t->hot = NULL;
    t->hot_mask = 0;
}

void mrc_table_hot_drop(mrc_table *t)
{
    mrc_table_settle(t);
    mrc_table_hot_free(t);
}

static void empty_front(mrc_hot_entry *h, size_t n)
{
    memset(h, 0, n * sizeof *h);
    for (size_t i = 0; i < n; i++)
        h[i].len = UINT32_MAX;
}

void mrc_table_hot_choose(mrc_table *t)
{
    uint64_t total = t->total;
    if (total < t->hot_next || t->frozen) return;
    if (total < HOT_FIRST) { /* a new table, or one a spill cleared */
        t->hot_next = HOT_FIRST;
        return;
    }
    t->hot_next = total + (total < HOT_STEP / 3 ? 3 * total : HOT_STEP);
    if ((total - t->hot_last) / HOT_SCAN < t->used) return; /* the scan would cost too much */
    /* a small share is the table's (the buckets an eighth of it at most; with the heap, the
     * front holds 5.5 MiB of it, counted by mrc_table_hot_bytes()) */
    if (t->max_bytes != 0 && HOT_BYTES > t->max_bytes / 8) return;
    t->hot_last = total;
    mrc_table_settle(t);
    if (t->hot == NULL) { /* empty until built below: nothing reads it before */
        void *mem;
        if (posix_memalign(&mem, HOT_BYTES, HOT_MEM) != 0) return; /* no front */
        (void)madvise(mem, HOT_BYTES, MADV_HUGEPAGE);              /* a hint */
        t->hot = mem;
        t->hot_mask = HOT_BUCKETS - 1;
    }
    top tp = {(cand *)(void *)(t->hot + 2 * HOT_BUCKETS), 0, HOT_KEYS};
    for (size_t pos = 0; pos < t->arena_len;) {
        const mrc_rec *r = (const mrc_rec *)(const void *)(t->arena + pos);
        if (r->len <= MRC_HOT_KEY) offer(&tp, r->count, (uint32_t)(pos / 8 + 1));
        pos += mrc_rec_size(r->len);
    }
    uint64_t held = 0;
    for (size_t i = 0; i < tp.n; i++)
        held += tp.c[i].count;
    if (held < total / HOT_COVER) { /* too little of the text: no front until the next choice */
        mrc_table_hot_free(t);      /* settled above */
        return;
    }
    empty_front(t->hot, 2 * HOT_BUCKETS);
    /* Each key to its bucket; a full bucket keeps its two most frequent (the counts held in the
     * deltas while the front is built). */
    for (size_t i = 0; i < tp.n; i++) {
        const mrc_rec *r = mrc_table_rec_at(t, tp.c[i].ref);
        mrc_hot_entry *b = mrc_table_hot_bucket(t, mrc_hash(r->key, r->len));
        mrc_hot_entry *e = b[0].delta <= b[1].delta ? &b[0] : &b[1];
        if (e->len != UINT32_MAX && e->delta >= tp.c[i].count) continue;
        memset(e->key, 0, sizeof e->key);
        memcpy(e->key, r->key, r->len);
        e->len = r->len;
        e->ref = tp.c[i].ref;
        e->delta = tp.c[i].count;
    }
    /* The more frequent key of a bucket first: a hit on it compares one entry (a bucket in the
     * order its keys came: 13% more map time on English text, the second compare mispredicted) */
    for (size_t i = 0; i < HOT_BUCKETS; i++) {
        mrc_hot_entry *b = t->hot + 2 * i;
        if (b[1].delta > b[0].delta) {
            mrc_hot_entry x = b[0];
            b[0] = b[1];
            b[1] = x;
        }
        b[0].delta = b[1].delta = 0;
    }
}
