/* merge.c - frozen tables merged in hash order: each frozen table is a sorted run of slots, so
 * the records of a hash range of T tables are a T-way merge of contiguous slot ranges, compared
 * by tag and, on equal tags only, by full hash and key. Equal keys are summed once, in the first
 * table's record. Reads the tables; writes only a summed count back into a record. */
#include <stdlib.h>
#include <string.h>

#include "mrcount/table.h"
#include "wire.h"

#define WALK_SCAN_MAX                                                                              \
    8 /* up to this many tables, a linear scan finds the smallest; a heap beyond */
#define PREFETCH_AHEAD 16  /* slots whose records are fetched ahead of the merge */
#define TIES_WINDOW 256    /* keys over which the ties walk judges whether to fetch ahead */
#define TIES_AHEAD_SHARE 8 /* it does while at least 1 key in this many ties */

typedef struct walk_cursor {
    const mrc_table *t;
    size_t ti; /* the table's index among the walk's tables (the ties walk's drop() needs it) */
    size_t at, end;
    uint64_t slot;
    uint64_t hash; /* full hash of the current record, 0 until needed (hashed) */
    bool hashed;
} walk_cursor;

static inline void cursor_hash(walk_cursor *c)
{
    if (!c->hashed) {
        const mrc_rec *r = mrc_table_rec_at(c->t, c->slot);
        c->hash = mrc_hash(r->key, r->len);
        c->hashed = true;
    }
}

/* (tag, hash, key) order of two cursors' current records. */
static inline int cursor_cmp(walk_cursor *a, walk_cursor *b)
{
    uint64_t ta = a->slot >> 32, tb = b->slot >> 32;
    if (ta != tb) return ta < tb ? -1 : 1;
    /* Equal tags are nearly always one key in two tables: equal keys need no hash (hashing
     * both was half the ties walk of English words at 1 x 2) */
    const mrc_rec *x = mrc_table_rec_at(a->t, a->slot), *y = mrc_table_rec_at(b->t, b->slot);
    if (x->len == y->len && mrc_key_eq(x->key, y->key, x->len)) return 0;
    cursor_hash(a);
    cursor_hash(b);
    if (a->hash != b->hash) return a->hash < b->hash ? -1 : 1;
    return mrc_key_cmp(x->key, x->len, y->key, y->len);
}

static inline bool cursor_load(walk_cursor *c)
{
    if (c->at >= c->end) return false;
    if (c->at + PREFETCH_AHEAD < c->end)
        mrc_rec_prefetch(mrc_table_rec_at(c->t, c->t->slots[c->at + PREFETCH_AHEAD]));
    c->slot = c->t->slots[c->at++];
    c->hashed = false;
    return true;
}

/* A cursor over table ti's slots of hashes [lo, hi] (hi UINT64_MAX: to the end), before its
 * first slot. */
static walk_cursor cursor_range(mrc_table *const *tables, size_t ti, uint64_t lo, uint64_t hi)
{
    const mrc_table *t = tables[ti];
    return (walk_cursor){.t = t,
                         .ti = ti,
                         .at = mrc_table_lower(t, lo),
                         .end = hi == UINT64_MAX ? t->used : mrc_table_lower(t, hi + 1)};
}

static int overflow(const mrc_rec *r, mrc_err *err)
{
    char shown[MRC_KEY_SHOWN_BUF];
    return mrc_err_set(err, MRC_EOVERFLOW, "count of key '%s' exceeds 2^64-1",
                       mrc_key_shown(r->key, r->len, shown));
}

/* One table: no comparison, each record as it comes. */
static int walk_one(walk_cursor *c, mrc_walk_fn fn, void *arg, mrc_err *err)
{
    while (cursor_load(c)) {
        mrc_rec *r = mrc_table_rec_at(c->t, c->slot);
        int rc = fn(arg, r, r->count, err);
        if (rc != 0) return rc;
    }
    return 0;
}

static void heap_down(walk_cursor *h, size_t n, size_t i)
{
    for (;;) {
        size_t l = 2 * i + 1, m = i;
        if (l < n && cursor_cmp(&h[l], &h[m]) < 0) m = l;
        if (l + 1 < n && cursor_cmp(&h[l + 1], &h[m]) < 0) m = l + 1;
        if (m == i) return;
        walk_cursor t = h[i];
        h[i] = h[m];
        h[m] = t;
        i = m;
    }
}

/* Many tables (the splits of a file in a test, tools): a heap. */
static int walk_heap(walk_cursor *h, size_t n, mrc_walk_fn fn, void *arg, mrc_err *err)
{
    for (size_t i = n / 2; i-- > 0;)
        heap_down(h, n, i);
    while (n > 0) {
        walk_cursor top = h[0];
        mrc_rec *first = mrc_table_rec_at(top.t, top.slot);
        uint64_t count = first->count;
        if (cursor_load(&h[0]))
            heap_down(h, n, 0);
        else if (--n > 0) {
            h[0] = h[n];
            heap_down(h, n, 0);
        }
        while (n > 0 && (h[0].slot >> 32) == (top.slot >> 32) && cursor_cmp(&h[0], &top) == 0) {
            const mrc_rec *r = mrc_table_rec_at(h[0].t, h[0].slot);
            if (__builtin_add_overflow(count, r->count, &count)) return overflow(first, err);
            if (cursor_load(&h[0]))
                heap_down(h, n, 0);
            else if (--n > 0) {
                h[0] = h[n];
                heap_down(h, n, 0);
            }
        }
        int rc = fn(arg, first, count, err);
        if (rc != 0) return rc;
    }
    return 0;
}

int mrc_table_walk(mrc_table *const *tables, size_t ntables, uint64_t lo, uint64_t hi,
                   mrc_walk_fn fn, void *arg, mrc_err *err)
{
    walk_cursor few[WALK_SCAN_MAX], *cur = few;
    if (ntables > WALK_SCAN_MAX && (cur = malloc(ntables * sizeof *cur)) == NULL)
        return mrc_err_set(err, MRC_ENOMEM, "merge of %zu tables: out of memory", ntables);
    size_t n = 0;
    for (size_t i = 0; i < ntables; i++) {
        walk_cursor c = cursor_range(tables, i, lo, hi);
        if (cursor_load(&c)) cur[n++] = c;
    }
    int rc = 0;
    if (n == 1) {
        cur[0].at--; /* walk_one loads again */
        rc = walk_one(&cur[0], fn, arg, err);
    } else if (n > WALK_SCAN_MAX) {
        rc = walk_heap(cur, n, fn, arg, err);
    }
    /* A few tables (one per thread): a linear scan for the smallest beats a heap. */
    while (rc == 0 && n > 1 && n <= WALK_SCAN_MAX) {
        size_t m = 0;
        for (size_t i = 1; i < n; i++)
            if (cursor_cmp(&cur[i], &cur[m]) < 0) m = i;
        mrc_rec *first = mrc_table_rec_at(cur[m].t, cur[m].slot);
        uint64_t count = first->count;
        /* the same key in other tables: add, then advance those cursors */
        for (size_t i = 0; i < n && rc == 0;) {
            if (i != m && (cur[i].slot >> 32) == (cur[m].slot >> 32) &&
                cursor_cmp(&cur[i], &cur[m]) == 0) {
                const mrc_rec *r = mrc_table_rec_at(cur[i].t, cur[i].slot);
                if (__builtin_add_overflow(count, r->count, &count)) {
                    rc = overflow(first, err);
                    break;
                }
                if (!cursor_load(&cur[i])) { /* exhausted: the last cursor takes its place */
                    cur[i] = cur[--n];
                    if (m == n) m = i;
                    continue;
                }
            }
            i++;
        }
        if (rc == 0) rc = fn(arg, first, count, err);
        if (rc == 0 && !cursor_load(&cur[m])) cur[m] = cur[--n];
        if (rc == 0 && n == 1) { /* one left: no more comparisons */
            cur[0].at--;
            rc = walk_one(&cur[0], fn, arg, err);
            n = 0;
        }
    }
    if (cur != few) free(cur);
    return rc;
}

/* ---- the keys several tables share ---- */

/* A cursor's next slot; its record fetched ahead only with `ahead` (the ties walk reads a
 * record only where two tables' tags tie, so fetching them all pays only where most keys are
 * shared). */
static inline bool cursor_step(walk_cursor *c, bool ahead)
{
    if (c->at >= c->end) return false;
    if (ahead && c->at + PREFETCH_AHEAD < c->end)
        __builtin_prefetch(mrc_table_rec_at(c->t, c->t->slots[c->at + PREFETCH_AHEAD]));
    c->slot = c->t->slots[c->at++];
    c->hashed = false;
    return true;
}

/* The key at cur[m] against every other cursor: each one that holds it adds its count into
 * cur[m]'s record, goes to drop() and steps on. Cursors that run out are replaced by the last
 * (*n shrinks; the index of cur[m] after the swaps is returned through *m). */
static int settle_ties(walk_cursor *cur, size_t *n, size_t *m, bool ahead, mrc_drop_fn drop,
                       void *arg, mrc_err *err)
{
    mrc_rec *first = NULL;
    uint64_t count = 0;
    for (size_t i = 0; i < *n;) {
        if (i == *m || (cur[i].slot >> 32) != (cur[*m].slot >> 32) ||
            cursor_cmp(&cur[i], &cur[*m]) != 0) {
            i++;
            continue;
        }
        if (first == NULL) {
            first = mrc_table_rec_at(cur[*m].t, cur[*m].slot);
            count = first->count;
        }
        mrc_rec *r = mrc_table_rec_at(cur[i].t, cur[i].slot);
        if (__builtin_add_overflow(count, r->count, &count)) return overflow(first, err);
        drop(arg, cur[i].ti, r);
        if (!cursor_step(&cur[i], ahead)) { /* exhausted: the last cursor takes its place */
            cur[i] = cur[--*n];
            if (*m == *n) *m = i;
            continue;
        }
        i++;
    }
    if (first != NULL) first->count = count;
    return 0;
}

int mrc_table_walk_ties(mrc_table *const *tables, size_t ntables, uint64_t lo, uint64_t hi,
                        mrc_drop_fn drop, void *arg, mrc_err *err)
{
    walk_cursor few[WALK_SCAN_MAX], *cur = few;
    if (ntables > WALK_SCAN_MAX && (cur = malloc(ntables * sizeof *cur)) == NULL)
        return mrc_err_set(err, MRC_ENOMEM, "merge of %zu tables: out of memory", ntables);
    size_t n = 0;
    for (size_t i = 0; i < ntables; i++) {
        walk_cursor c = cursor_range(tables, i, lo, hi);
        if (cursor_step(&c, false)) cur[n++] = c;
    }
    int rc = 0;
    /* Records are fetched ahead while at least 1 key in TIES_AHEAD_SHARE ties (English words at
     * 2 threads: most do; 30 M distinct keys: almost none), judged every TIES_WINDOW keys. */
    size_t steps = 0, ties = 0;
    bool ahead = false;
    /* The smallest tag by a scan of the cursors' tags (integers in the cursors, no record read):
     * a key whose tag no other cursor shows is in one table and is passed over. */
    while (rc == 0 && n > 1) {
        if (++steps == TIES_WINDOW) {
            ahead = ties * TIES_AHEAD_SHARE >= TIES_WINDOW;
            steps = ties = 0;
        }
        size_t m = 0;
        uint64_t tm = cur[0].slot >> 32;
        bool tie = false;
        for (size_t i = 1; i < n; i++) {
            uint64_t ti = cur[i].slot >> 32;
            if (ti < tm) {
                tm = ti;
                m = i;
                tie = false;
            } else if (ti == tm) {
                tie = true;
            }
        }
        if (tie) { /* the smallest (tag, hash, key) among those with the tag */
            for (size_t i = 0; i < n; i++)
                if (i != m && (cur[i].slot >> 32) == tm && cursor_cmp(&cur[i], &cur[m]) < 0) m = i;
            rc = settle_ties(cur, &n, &m, ahead, drop, arg, err);
            if (rc != 0) break;
            ties++;
        }
        if (!cursor_step(&cur[m], ahead)) cur[m] = cur[--n];
    }
    if (cur != few) free(cur);
    return rc;
}

/* ---- serialization on one thread ---- */

static int ser_put(void *arg, mrc_rec *rec, uint64_t count, mrc_err *err)
{
    return rec_buf_put(arg, count, rec->key, rec->len, "serialize", err);
}

int mrc_table_serialize(mrc_table *const *tables, size_t ntables, void **out, size_t *out_len,
                        mrc_err *err)
{
    *out = NULL;
    *out_len = 0;
    for (size_t i = 0; i < ntables; i++)
        mrc_table_freeze(tables[i]);
    rec_buf s = {.buf = malloc(MRC_SER_HEADER + 65536),
                 .len = MRC_SER_HEADER,
                 .cap = MRC_SER_HEADER + 65536};
    if (s.buf == NULL) return mrc_err_set(err, MRC_ENOMEM, "serialize: out of memory");
    int rc = mrc_table_walk(tables, ntables, 0, UINT64_MAX, ser_put, &s, err);
    if (rc != 0) {
        free(s.buf);
        return rc;
    }
    mrc_ser_header h = {MRC_SER_MAGIC, MRC_SER_VERSION, s.records, s.len - MRC_SER_HEADER, 0,
                        s.total};
    mrc_ser_write_header(s.buf, &h);
    *out = s.buf;
    *out_len = s.len;
    return 0;
}
