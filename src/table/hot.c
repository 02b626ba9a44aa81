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

/* The choice's histogram of counts: one bin a count below 16, then four an octave, so the
 * counts of a bin are within a quarter of one another. */
#define HOT_BINS (16 + 4 * 60)

static unsigned count_bin(uint64_t c)
{
    if (c < 16) return (unsigned)c;
    unsigned lg = 63 - (unsigned)__builtin_clzll(c); /* >= 4 */
    return 16 + 4 * (lg - 4) + (unsigned)(c >> (lg - 2) & 3);
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
    return t->hot != NULL ? HOT_BYTES : 0;
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

/* A key on its way into the front: its bucket was prefetched HOT_AHEAD keys before it is
 * placed (the buckets are as random as the hashes: the placement waited on each). */
#define HOT_AHEAD 8

typedef struct pending {
    const mrc_rec *r;
    mrc_hot_entry *bucket;
    uint32_t ref;
} pending;

static void place(const pending *q)
{
    mrc_hot_entry *e = q->bucket[0].delta <= q->bucket[1].delta ? &q->bucket[0] : &q->bucket[1];
    if (e->len != UINT32_MAX && e->delta >= q->r->count) return;
    memset(e->key, 0, sizeof e->key);
    memcpy(e->key, q->r->key, q->r->len);
    e->len = q->r->len;
    e->ref = q->ref;
    e->delta = q->r->count;
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
    /* a small share is the table's (an eighth of it at most, counted by
     * mrc_table_hot_bytes()) */
    if (t->max_bytes != 0 && HOT_BYTES > t->max_bytes / 8) return;
    t->hot_last = total;
    mrc_table_settle(t);
    /* The front's memory: the buckets, on a 2 MiB boundary (a huge page where the system gives
     * one), taken at the first choice and kept until the front is dropped, so a choice faults
     * no fresh page in: a front on 4 KiB pages, and a heap malloc'd and freed per choice
     * (mmap'd: 768 KiB), cost 4-6 ms a choice on this VM, and the unmaps interrupted the other
     * map threads (256 MiB of English at 1 x 2, 7 interleaved rounds: map 0.554 -> 0.507 s). */
    if (t->hot == NULL) { /* empty until built below: nothing reads it before */
        void *mem;
        if (posix_memalign(&mem, HOT_BYTES, HOT_BYTES) != 0) return; /* no front */
        (void)madvise(mem, HOT_BYTES, MADV_HUGEPAGE);              /* a hint */
        t->hot = mem;
        t->hot_mask = HOT_BUCKETS - 1;
    }
    /* The front's keys: the HOT_KEYS short keys of the largest counts, in two passes over the
     * records in memory order. The counts' histogram gives the least bin taken, `quota` more of
     * whose keys go in (the first found: a bin's counts are within a quarter of one another);
     * the second pass places them, each bucket fetched HOT_AHEAD keys ahead. A min-heap over
     * one pass, then the placement in heap order (a record and a bucket missed per key), took
     * 12-16 ms a choice of 805 k records, a fixed cost of every map thread at every fourfold
     * total (1 GiB of English, 1 x 1, six choices: 77 ms of samples before, 45 after). */
    size_t hist[HOT_BINS] = {0};
    for (size_t pos = 0; pos < t->arena_len;) {
        const mrc_rec *r = (const mrc_rec *)(const void *)(t->arena + pos);
        if (r->len <= MRC_HOT_KEY) hist[count_bin(r->count)]++;
        pos += mrc_rec_size(r->len);
    }
    unsigned least = HOT_BINS;
    size_t taken = 0, quota = 0;
    while (least > 0 && taken < HOT_KEYS) {
        least--;
        quota = HOT_KEYS - taken < hist[least] ? HOT_KEYS - taken : hist[least];
        taken += quota;
    }
    empty_front(t->hot, 2 * HOT_BUCKETS);
    /* Each key to its bucket; a full bucket keeps its two most frequent (the counts held in the
     * deltas while the front is built). */
    uint64_t held = 0;
    pending ring[HOT_AHEAD];
    size_t npend = 0;
    for (size_t pos = 0; pos < t->arena_len;) {
        const mrc_rec *r = (const mrc_rec *)(const void *)(t->arena + pos);
        size_t at = pos;
        pos += mrc_rec_size(r->len);
        if (r->len > MRC_HOT_KEY) continue;
        unsigned bin = count_bin(r->count);
        if (bin < least || (bin == least && quota == 0)) continue;
        if (bin == least) quota--;
        held += r->count;
        mrc_hot_entry *bk = mrc_table_hot_bucket(t, mrc_hash(r->key, r->len));
        __builtin_prefetch(bk, 1);
        pending *q = &ring[npend++ % HOT_AHEAD];
        if (npend > HOT_AHEAD) place(q);
        *q = (pending){r, bk, (uint32_t)(at / 8 + 1)};
    }
    for (size_t i = npend > HOT_AHEAD ? npend - HOT_AHEAD : 0; i < npend; i++)
        place(&ring[i % HOT_AHEAD]);
    if (held < total / HOT_COVER) { /* too little of the text: no front until the next choice */
        mrc_table_hot_free(t);      /* settled above */
        return;
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
