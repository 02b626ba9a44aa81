/* table.c - the per-thread count table: an index of 8-byte slots (tag, record place) kept in
 * hash order over an arena of records (count, length, key). A lookup touches the home slot's line
 * and one record; a miss stops at the first larger tag; growing the index walks the old slots in
 * order and places each at max(its home, the last place + 1), touching no record. Frozen, the
 * index is the table as a sorted run. Owned by one thread at a time; never shared by two writers.
 * The words consumers look the frequent short keys up in the hot front first (hot.c), one line
 * each; whatever hands the records on settles the front's counts into them first.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#define XXH_INLINE_ALL
#include <xxhash.h>

#include "mrcount/table.h"

#define MRC_TABLE_MIN_SLOTS 65536
#define MRC_TABLE_MAX_BITS 32
#define MRC_ARENA_MAX ((size_t)0xfffffffeu * 8) /* slot offsets are 32-bit in 8-byte units */
#define LOAD_NUM 7                              /* grow past 7/10 of the home slots used */
#define LOAD_DEN 10

uint64_t mrc_hash(const void *key, size_t len)
{
    return XXH3_64bits_withSeed(key, len, MRC_HASH_SEED);
}

/* Index and arena are anonymous mappings, which mremap grows without copying. Every lookup
 * probes the index at random: it is on transparent huge pages, which cut the TLB misses that
 * otherwise dominate a lookup. A mapping of 2 MiB or more starts on a 2 MiB boundary and is a
 * whole number of huge pages (big_size), and a grown one moves to such a boundary: mremap moves
 * huge pages whole only between aligned places and splits them into 4 KiB pages otherwise
 * (30 M keys: the lookups ran 3x slower in a split index). The arena is written in order, a
 * record a new key, and read at random only on hits, most of which the hot front takes: it is
 * on 4 KiB pages, whose first touch is cheaper where fresh memory is dear (a VM whose host takes
 * back freed 2 MiB blocks: a fresh huge page filled at 0.44 GB/s, a 4 KiB one at 2.6; 30 M
 * distinct keys at 1 x 2 took 5.5 s instead of 6.1, the English corpus as long). Until the
 * table spills: then it fills again, and each spill's drain reads the whole arena at random, a
 * TLB miss a record on 4 KiB pages, so from the first clear on the arena is on huge pages
 * (100 M keys under --memory-limit 1G, one thread, five spills, the two builds alternated: the
 * map 1.2 s shorter, the median of 9 pairs, -1.3 to +7.1 s; most in the host's slow minutes,
 * when a 4 KiB arena's map took 20-28 s, none in its quiet ones, when it took 16-18 s).
 * Zero-filled, like calloc. */
#define HUGE_PAGE ((size_t)2 << 20)

static size_t big_size(size_t size)
{
    return size >= HUGE_PAGE ? (size + HUGE_PAGE - 1) & ~(HUGE_PAGE - 1) : size;
}

/* `size` bytes of address space at a huge-page boundary, with `prot`. */
static void *map_aligned(size_t size, int prot)
{
    size_t span = size + HUGE_PAGE;
    unsigned char *p = mmap(NULL, span, prot, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) return NULL;
    size_t head = (HUGE_PAGE - (uintptr_t)p % HUGE_PAGE) % HUGE_PAGE;
    size_t page = (size_t)sysconf(_SC_PAGESIZE), whole = (size + page - 1) / page * page;
    if (head > 0) munmap(p, head);
    if (span - head > whole) munmap(p + head + whole, span - head - whole); /* page-aligned */
    return p + head;
}

/* Huge pages for p[0, size), or 4 KiB pages (a hint either way). */
static void advise_pages(void *p, size_t size, bool huge)
{
#ifdef MADV_HUGEPAGE
    (void)madvise(p, size, huge ? MADV_HUGEPAGE : MADV_NOHUGEPAGE);
#else
    (void)p;
    (void)size;
    (void)huge;
#endif
}

static void *big_alloc(size_t size, bool huge)
{
    if (size < HUGE_PAGE) {
        void *p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        return p == MAP_FAILED ? NULL : p;
    }
    void *p = map_aligned(size, PROT_READ | PROT_WRITE);
    if (p != NULL) advise_pages(p, size, huge);
    return p;
}

static void *big_realloc(void *old, size_t old_size, size_t size, bool huge)
{
    void *p;
    if (size < HUGE_PAGE) {
        p = mremap(old, old_size, size, MREMAP_MAYMOVE);
        return p == MAP_FAILED ? NULL : p;
    }
    void *at = map_aligned(size, PROT_NONE); /* a place of our own, which mremap replaces */
    if (at == NULL) return NULL;
    p = mremap(old, old_size, size, MREMAP_MAYMOVE | MREMAP_FIXED, at);
    /* A failed move may already have unmapped the place (Linux clears the target first), and
     * another thread may have mapped something there since: unmapping it now could take that.
     * The place is left as it is, at worst PROT_NONE address space that holds no memory. */
    if (p == MAP_FAILED) return NULL;
    advise_pages(p, size, huge);
    return p;
}

static void big_free(void *p, size_t size)
{
    if (p != NULL && size > 0) munmap(p, size);
}

static size_t index_bytes(size_t nslots)
{
    return big_size((nslots + MRC_TABLE_SLACK) * sizeof(uint64_t));
}

static unsigned log2_of(size_t n)
{
    unsigned b = 0;
    while (((size_t)1 << b) < n)
        b++;
    return b;
}

static void set_size(mrc_table *t, size_t nslots)
{
    t->nslots = nslots;
    t->shift = 64 - log2_of(nslots);
    t->grow_at = nslots / LOAD_DEN * LOAD_NUM;
}

int mrc_table_init(mrc_table *t, size_t expect, mrc_err *err)
{
    memset(t, 0, sizeof *t);
    size_t slots = MRC_TABLE_MIN_SLOTS;
    while (slots / LOAD_DEN * LOAD_NUM < expect && log2_of(slots) < MRC_TABLE_MAX_BITS)
        slots *= 2;
    t->slots = big_alloc(index_bytes(slots), true);
    t->slots_mapped = index_bytes(slots);
    set_size(t, slots);
    t->arena_cap = slots * 16;
    t->arena = big_alloc(t->arena_cap, false);
    if (t->slots == NULL || t->arena == NULL) {
        mrc_table_free(t);
        return mrc_err_set(err, MRC_ENOMEM, "count table: out of memory");
    }
    return 0;
}

void mrc_table_free(mrc_table *t)
{
    mrc_table_hot_free(t);
    big_free(t->slots, t->slots_mapped);
    big_free(t->arena, t->arena_cap);
    memset(t, 0, sizeof *t);
}

void mrc_table_clear(mrc_table *t)
{
    /* MADV_DONTNEED on private anonymous memory: the pages go back to the system and read as
     * zeros, so the index is empty and the arena costs nothing until it fills again. */
    madvise(t->slots, t->slots_mapped, MADV_DONTNEED);
    madvise(t->arena, t->arena_cap, MADV_DONTNEED);
    if (!t->arena_huge && t->arena_cap >= HUGE_PAGE) advise_pages(t->arena, t->arena_cap, true);
    t->arena_huge = true; /* it spilled: its arena on huge pages from now on (above) */
    t->used = 0;
    t->arena_len = 0;
    t->total = 0;
    mrc_table_hot_free(t); /* its deltas went out with the records (settled by the spill) */
    t->hot_next = t->hot_last = 0;
}

size_t mrc_table_bytes(const mrc_table *t)
{
    return t->slots_mapped + t->arena_len + mrc_table_hot_bytes(t);
}

/* ---- growing the index in place ----
 * The index doubles inside its own mapping (mremap keeps its pages and adds the new half): a
 * fresh copy would touch twice the final index in new pages over the table's life, and first
 * touches are what a growing table pays for (the kernel zeroes each page; on this project's VM
 * the host faults it in too: 30 M keys, one thread, spent 30% of the run zeroing new indexes).
 * In slot order the keys are in hash order, and their new places are
 *   new(k) = max(new home of k, new(k - 1) + 1),
 * so new(k) - old(k) is positive for all but the keys near the start whose runs are longer
 * than their home's place. Those (the prefix before X) are set aside; every other key moves
 * up, so taking them from the last to the first never writes over a key not yet moved. The
 * new places are computed once forward; the backward moves recompute them a block at a time
 * from checkpoints taken on the way. */

#define GROW_BLOCK 512 /* keys per checkpoint */

typedef struct grow_mark {
    size_t old;  /* the old place of the block's first key */
    size_t next; /* the first free new place before it */
} grow_mark;

static size_t new_place(uint64_t s, unsigned shift, size_t next)
{
    size_t home = (size_t)((s >> 32 << 32) >> shift);
    return home > next ? home : next;
}

/* Double the index; every key keeps its order. @return 0, MRC_ENOMEM or MRC_EOVERFLOW (the
 * table is unchanged then). */
static int grow_index(mrc_table *t, mrc_err *err)
{
    if (log2_of(t->nslots) >= MRC_TABLE_MAX_BITS)
        return mrc_err_set(err, MRC_EOVERFLOW, "count table: more than 2^31 keys in one thread");
    size_t nslots = t->nslots * 2, end = t->nslots + MRC_TABLE_SLACK;
    size_t new_end = nslots + MRC_TABLE_SLACK;
    unsigned shift = 64 - log2_of(nslots);
    size_t nmarks = t->used / GROW_BLOCK + 1;
    grow_mark *mark = malloc(nmarks * sizeof *mark);
    if (mark == NULL)
        return mrc_err_set(err, MRC_ENOMEM, "count table: out of memory (%zu keys)", t->used);
    /* Forward: the new places, the checkpoints, and X, past the last key that does not move up. */
    size_t next = 0, k = 0, x = 0;
    for (size_t i = 0; i < end; i++) {
        uint64_t s = t->slots[i];
        if (s == 0) continue;
        if (k % GROW_BLOCK == 0) mark[k / GROW_BLOCK] = (grow_mark){i, next};
        size_t at = new_place(s, shift, next);
        if (at >= new_end) { /* cannot happen: the runs thin out as homes double */
            free(mark);
            return mrc_err_set(err, MRC_EOVERFLOW, "count table: index overflow while growing");
        }
        if (at <= i) x = i + 1;
        next = at + 1;
        k++;
    }
    uint64_t *prefix = malloc((x ? x : 1) * sizeof *prefix);
    uint64_t *slots =
        prefix ? big_realloc(t->slots, t->slots_mapped, index_bytes(nslots), true) : NULL;
    if (slots == NULL) {
        free(prefix);
        free(mark);
        return mrc_err_set(err, MRC_ENOMEM, "count table: out of memory (%zu keys)", t->used);
    }
    t->slots = slots;
    t->slots_mapped = index_bytes(nslots);
    memcpy(prefix, slots, x * sizeof *prefix);
    /* Backward, a block at a time: its new places again from its checkpoint (its old slots are
     * intact: every move so far went past them), then its keys from the last. */
    size_t blk_old[GROW_BLOCK], blk_new[GROW_BLOCK];
    bool in_prefix = false;
    for (size_t m = (k + GROW_BLOCK - 1) / GROW_BLOCK; m-- > 0 && !in_prefix;) {
        size_t n = 0;
        next = mark[m].next;
        for (size_t i = mark[m].old; n < GROW_BLOCK && i < end; i++) {
            if (slots[i] == 0) continue;
            blk_old[n] = i;
            blk_new[n] = new_place(slots[i], shift, next);
            next = blk_new[n++] + 1;
        }
        while (n-- > 0) {
            if (blk_old[n] < x) { /* the prefix, and all before it: placed last */
                in_prefix = true;
                break;
            }
            slots[blk_new[n]] = slots[blk_old[n]];
            slots[blk_old[n]] = 0;
        }
    }
    /* The prefix, forward, where nothing is left: its places all come before the others'. */
    memset(slots, 0, x * sizeof *slots);
    next = 0;
    for (size_t i = 0; i < x; i++) {
        if (prefix[i] == 0) continue;
        size_t at = new_place(prefix[i], shift, next);
        slots[at] = prefix[i];
        next = at + 1;
    }
    free(prefix);
    free(mark);
    set_size(t, nslots);
    return 0;
}

int mrc_table_add_slow(mrc_table *t, const void *key, uint32_t len, uint64_t hash, uint64_t count,
                       mrc_err *err)
{
    uint64_t tag = hash >> 32;
    /* The fast path gives up on a count overflow too: tell the two cases apart here. */
    for (const uint64_t *p = mrc_table_home(t, hash);; p++) {
        uint64_t s = *p;
        if (s == 0 || (s >> 32) > tag) break;
        const mrc_rec *r = mrc_table_rec_at(t, s);
        if ((s >> 32) == tag && r->len == len && memcmp(r->key, key, len) == 0) {
            char shown[MRC_KEY_SHOWN_BUF];
            return mrc_err_set(err, MRC_EOVERFLOW, "count of key '%s' exceeds 2^64-1",
                               mrc_key_shown(key, len, shown));
        }
    }
    bool grow = t->used + 1 > t->grow_at;
    size_t need = mrc_rec_size(len);
    if (t->max_bytes != 0 && t->full != NULL && t->used > 0 &&
        (grow ? 2 * t->slots_mapped : t->slots_mapped) + t->arena_len + need +
                mrc_table_hot_bytes(t) >
            t->max_bytes) {
        mrc_table_settle(t);                   /* what full() writes out holds the front's counts */
        int rc = t->full(t->full_arg, t, err); /* a spill: the table is empty afterwards */
        if (rc != 0) return rc;
        if (t->used != 0)
            return mrc_err_set(err, MRC_EINVAL, "count table: still full after a spill");
        return mrc_table_add_slow(t, key, len, hash, count, err);
    }
    if (grow) {
        int rc = grow_index(t, err);
        if (rc != 0) return rc;
    }
    /* The place: the first slot from home that is empty or holds a larger tag; the run from
     * there to its first empty slot moves up by one. */
    size_t end = t->nslots + MRC_TABLE_SLACK, i = (size_t)(hash >> t->shift);
    while (t->slots[i] != 0 && (t->slots[i] >> 32) <= tag)
        i++;
    size_t j = i;
    while (j < end && t->slots[j] != 0)
        j++;
    if (j == end) { /* a run reached the slack's end: rare, and more homes spread it */
        int rc = grow_index(t, err);
        if (rc != 0) return rc;
        return mrc_table_add_slow(t, key, len, hash, count, err);
    }
    if (t->arena_len + need > t->arena_cap) {
        size_t cap = t->arena_cap * 2;
        while (cap < t->arena_len + need)
            cap *= 2;
        if (cap > MRC_ARENA_MAX) cap = MRC_ARENA_MAX;
        if (t->arena_len + need > cap)
            return mrc_err_set(err, MRC_EOVERFLOW, "count table: keys exceed 32 GiB in one thread");
        unsigned char *a = big_realloc(t->arena, t->arena_cap, cap, t->arena_huge);
        if (a == NULL)
            return mrc_err_set(err, MRC_ENOMEM, "count table: out of memory (%zu keys)", t->used);
        t->arena = a;
        t->arena_cap = cap;
    }
    mrc_rec *r = (mrc_rec *)(void *)(t->arena + t->arena_len);
    r->count = count;
    r->len = len;
    memcpy(r->key, key, len);
    if (j > i) memmove(&t->slots[i + 1], &t->slots[i], (j - i) * sizeof *t->slots);
    t->slots[i] = tag << 32 | (uint64_t)(t->arena_len / 8 + 1);
    t->arena_len += need;
    t->used++;
    t->total = t->total + count < t->total ? UINT64_MAX : t->total + count;
    return 0;
}

void mrc_table_each(const mrc_table *t, void (*fn)(const mrc_rec *r, void *arg), void *arg)
{
    for (size_t pos = 0; pos < t->arena_len;) {
        const mrc_rec *r = (const mrc_rec *)(const void *)(t->arena + pos);
        fn(r, arg);
        pos += mrc_rec_size(r->len);
    }
}

/* ---- the index in hash order ---- */

static uint64_t slot_hash(const mrc_table *t, uint64_t s)
{
    const mrc_rec *r = mrc_table_rec_at(t, s);
    return mrc_hash(r->key, r->len);
}

static int slot_cmp(const mrc_table *t, uint64_t a, uint64_t b)
{
    uint64_t ha = slot_hash(t, a), hb = slot_hash(t, b);
    if (ha != hb) return ha < hb ? -1 : 1;
    const mrc_rec *x = mrc_table_rec_at(t, a), *y = mrc_table_rec_at(t, b);
    return mrc_key_cmp(x->key, x->len, y->key, y->len);
}

/* Emit slots[a..b), which share one tag, in (full hash, key) order. */
static int emit_ties(const mrc_table *t, const uint64_t *slots, size_t n, mrc_rec_sink emit,
                     void *arg, mrc_err *err)
{
    uint64_t few[16], *v = n <= 16 ? few : malloc(n * sizeof *v);
    if (v == NULL) return mrc_err_set(err, MRC_ENOMEM, "count table: out of memory");
    memcpy(v, slots, n * sizeof *v);
    for (size_t i = 1; i < n; i++) {
        uint64_t x = v[i];
        size_t j = i;
        for (; j > 0 && slot_cmp(t, v[j - 1], x) > 0; j--)
            v[j] = v[j - 1];
        v[j] = x;
    }
    int rc = 0;
    for (size_t i = 0; i < n && rc == 0; i++) {
        const mrc_rec *r = mrc_table_rec_at(t, v[i]);
        mrc_rec_view view = {mrc_hash(r->key, r->len), r->count, r->key, r->len};
        rc = emit(arg, &view, err);
    }
    if (v != few) free(v);
    return rc;
}

/* Slots ahead whose records the drain fetches (their order is the hash's, random in the arena). */
#define DRAIN_AHEAD 24

int mrc_table_drain(const mrc_table *t, mrc_rec_sink emit, void *arg, mrc_err *err)
{
    size_t end = t->frozen ? t->used : t->nslots + MRC_TABLE_SLACK;
    for (size_t i = 0; i < end; i++) {
        uint64_t s = t->slots[i];
        if (s == 0) continue;
        size_t j = i + 1; /* the occupied slots after i with the same tag */
        while (j < end && t->slots[j] != 0 && (t->slots[j] >> 32) == (s >> 32))
            j++;
        if (j - i > 1) {
            int rc = emit_ties(t, &t->slots[i], j - i, emit, arg, err);
            if (rc != 0) return rc;
            i = j - 1;
            continue;
        }
        if (i + DRAIN_AHEAD < end && t->slots[i + DRAIN_AHEAD] != 0)
            mrc_rec_prefetch(mrc_table_rec_at(t, t->slots[i + DRAIN_AHEAD]));
        const mrc_rec *r = mrc_table_rec_at(t, s);
        mrc_rec_view view = {mrc_hash(r->key, r->len), r->count, r->key, r->len};
        int rc = emit(arg, &view, err);
        if (rc != 0) return rc;
    }
    return 0;
}

void mrc_table_drop_index(mrc_table *t)
{
    mrc_table_hot_drop(t);
    big_free(t->slots, t->slots_mapped);
    t->slots = NULL;
    t->slots_mapped = 0;
    t->frozen = true; /* no adds, and nothing to walk */
    t->used = 0;
}

void *mrc_table_index_as_buffer(mrc_table *t, size_t bytes)
{
    if (t->frozen || t->slots == NULL) return NULL;
    mrc_table_hot_drop(t);
    if (t->slots_mapped < bytes) { /* grown in place: only the new part is fresh memory */
        size_t size = big_size(bytes);
        void *p = big_realloc(t->slots, t->slots_mapped, size, true);
        if (p == NULL) return NULL;
        t->slots = p;
        t->slots_mapped = size;
    }
    t->frozen = true; /* no adds, and nothing to walk: the slots are the caller's now */
    t->used = 0;
    return t->slots;
}

void mrc_table_freeze(mrc_table *t)
{
    if (t->frozen) return;
    mrc_table_hot_drop(t);
    size_t n = 0, end = t->nslots + MRC_TABLE_SLACK;
    for (size_t i = 0; i < end; i++) { /* no branch: half the slots are empty, at random */
        uint64_t x = t->slots[i];
        t->slots[n] = x; /* n <= i: a slot already read */
        n += x != 0;
    }
    /* Keys with equal tags sit in insertion order: order them by full hash, then key (a run of
     * equal tags is one or two slots but for adversarial keys). */
    for (size_t i = 1; i < n; i++) {
        if ((t->slots[i] >> 32) != (t->slots[i - 1] >> 32)) continue;
        uint64_t x = t->slots[i];
        size_t j = i;
        while (j > 0 && (t->slots[j - 1] >> 32) == (x >> 32) &&
               slot_cmp(t, t->slots[j - 1], x) > 0) {
            t->slots[j] = t->slots[j - 1];
            j--;
        }
        t->slots[j] = x;
    }
    /* Give back the index past the dense array (whole pages, at least one kept). */
    size_t keep = (n * 8 + 4095) & ~(size_t)4095;
    if (keep == 0) keep = 4096;
    if (keep < t->slots_mapped) {
        uint64_t *p = mremap(t->slots, t->slots_mapped, keep, 0);
        if (p != MAP_FAILED) {
            t->slots = p;
            t->slots_mapped = keep;
        }
    }
    t->used = n;
    t->frozen = true;
}

size_t mrc_table_lower(const mrc_table *t, uint64_t hash)
{
    uint64_t tag = hash >> 32;
    size_t lo = 0, hi = t->used;
    while (lo < hi) { /* the first slot with a tag >= hash's */
        size_t mid = lo + (hi - lo) / 2;
        if ((t->slots[mid] >> 32) < tag)
            lo = mid + 1;
        else
            hi = mid;
    }
    while (lo < t->used && (t->slots[lo] >> 32) == tag && slot_hash(t, t->slots[lo]) < hash)
        lo++;
    return lo;
}

typedef struct table_source {
    mrc_source base;
    const mrc_table *t;
    size_t at, end;
} table_source;

static int table_next(mrc_source *s, mrc_rec_view *r, mrc_err *err)
{
    (void)err;
    table_source *ts = (table_source *)(void *)s;
    if (ts->at >= ts->end) return 0;
    const mrc_rec *rec = mrc_table_rec_at(ts->t, ts->t->slots[ts->at++]);
    r->count = rec->count;
    r->len = rec->len;
    r->key = rec->key;
    r->hash = mrc_hash(rec->key, rec->len);
    return 1;
}

static void table_close(mrc_source *s)
{
    free(s);
}

mrc_source *mrc_table_source(const mrc_table *t, uint64_t lo, uint64_t hi, mrc_err *err)
{
    table_source *ts = calloc(1, sizeof *ts);
    if (ts == NULL) {
        mrc_err_set(err, MRC_ENOMEM, "table stream: out of memory");
        return NULL;
    }
    ts->base.next = table_next;
    ts->base.close = table_close;
    ts->t = t;
    ts->at = mrc_table_lower(t, lo);
    ts->end = hi == UINT64_MAX ? t->used : mrc_table_lower(t, hi + 1);
    return &ts->base;
}

static int run_put(void *arg, const mrc_rec_view *r, mrc_err *err)
{
    return mrc_run_writer_put(arg, r, err);
}

/* The table into the new writer w (NULL: its open failed, err filled), checksummed with sum. */
static int write_run(mrc_table *t, mrc_run_writer *w, bool sum, mrc_run_file *out, mrc_err *err)
{
    if (w == NULL) return err->code ? err->code : MRC_EIO;
    mrc_table_settle(t);
    int rc = sum ? mrc_run_writer_sum(w, err) : 0;
    if (rc == 0) rc = mrc_table_drain(t, run_put, w, err);
    if (rc != 0) {
        mrc_run_writer_abort(w);
        return rc;
    }
    return mrc_run_writer_finish(w, out, err);
}

int mrc_table_write_run(mrc_table *t, const char *dir, mrc_run_file *out, mrc_err *err)
{
    return write_run(t, mrc_run_writer_open(dir, MRC_ORDER_HASH, 0, err), false, out, err);
}

int mrc_table_write_run_fd(mrc_table *t, int fd, const char *dir, mrc_run_file *out, mrc_err *err)
{
    return write_run(t, mrc_run_writer_open_fd(fd, dir, MRC_ORDER_HASH, 0, err), true, out, err);
}
