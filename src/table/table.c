/* table.c - the per-thread count table: a compact open-addressing index of 8-byte slots over
 * an arena of records (hash, count, key), so a lookup touches one slot and one record.
 * Owned by one thread at a time; must never be shared by two writers. */
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#define XXH_INLINE_ALL
#include <xxhash.h>

#include "mrcount/table.h"

#define MRC_TABLE_MIN_SLOTS 65536
#define MRC_ARENA_MAX ((size_t)0xfffffffeu * 8) /* slot offsets are 32-bit in 8-byte units */

uint64_t mrc_hash(const void *key, size_t len)
{
    return XXH3_64bits_withSeed(key, len, MRC_HASH_SEED);
}

/* Index and arena are large and randomly accessed: anonymous mappings with transparent huge
 * pages cut the TLB misses that otherwise dominate a lookup, and mremap grows the arena
 * without copying it. Zero-filled, like calloc. */
static void *big_alloc(size_t size)
{
    void *p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) return NULL;
#ifdef MADV_HUGEPAGE
    if (size >= ((size_t)2 << 20)) madvise(p, size, MADV_HUGEPAGE);
#endif
    return p;
}

static void *big_realloc(void *old, size_t old_size, size_t size)
{
    void *p = mremap(old, old_size, size, MREMAP_MAYMOVE);
    if (p == MAP_FAILED) return NULL;
#ifdef MADV_HUGEPAGE
    if (size >= ((size_t)2 << 20)) madvise(p, size, MADV_HUGEPAGE);
#endif
    return p;
}

static void big_free(void *p, size_t size)
{
    if (p != NULL) munmap(p, size);
}

int mrc_table_init(mrc_table *t, size_t expect, mrc_err *err)
{
    memset(t, 0, sizeof *t);
    size_t slots = MRC_TABLE_MIN_SLOTS;
    while (slots / 2 < expect)
        slots *= 2;
    t->slots = big_alloc(slots * sizeof *t->slots);
    t->mask = slots - 1;
    t->arena_cap = slots * 16;
    t->arena = big_alloc(t->arena_cap);
    if (t->slots == NULL || t->arena == NULL) {
        mrc_table_free(t);
        return mrc_err_set(err, MRC_ENOMEM, "count table: out of memory");
    }
    return 0;
}

void mrc_table_free(mrc_table *t)
{
    if (t->slots != NULL) big_free(t->slots, (t->mask + 1) * sizeof *t->slots);
    big_free(t->arena, t->arena_cap);
    memset(t, 0, sizeof *t);
}

/* Double the index and re-place every record by its stored hash (no key is rehashed). */
static int table_grow_index(mrc_table *t, mrc_err *err)
{
    size_t nslots = (t->mask + 1) * 2;
    uint64_t *slots = big_alloc(nslots * sizeof *slots);
    if (slots == NULL)
        return mrc_err_set(err, MRC_ENOMEM, "count table: out of memory (%zu keys)", t->used);
    size_t mask = nslots - 1;
    for (size_t pos = 0; pos < t->arena_len;) {
        const mrc_rec *r = (const mrc_rec *)(const void *)(t->arena + pos);
        size_t i = (size_t)r->hash & mask;
        while (slots[i] != 0)
            i = (i + 1) & mask;
        slots[i] = (r->hash >> 32 << 32) | (uint64_t)(pos / 8 + 1);
        pos += mrc_rec_size(r->len);
    }
    big_free(t->slots, (t->mask + 1) * sizeof *t->slots);
    t->slots = slots;
    t->mask = mask;
    return 0;
}

int mrc_table_add_slow(mrc_table *t, const void *key, uint32_t len, uint64_t hash, uint64_t count,
                       mrc_err *err)
{
    /* The fast path gives up on a count overflow too: tell the two cases apart here. */
    size_t i = (size_t)hash & t->mask;
    for (uint64_t s; (s = t->slots[i]) != 0; i = (i + 1) & t->mask) {
        mrc_rec *r = mrc_table_rec_at(t, s);
        if (r->hash == hash && r->len == len && memcmp(r->key, key, len) == 0)
            return mrc_err_set(err, MRC_EOVERFLOW, "count of key '%.*s' exceeds 2^64-1",
                               len > 64 ? 64 : (int)len, (const char *)key);
    }
    if ((t->used + 1) * 10 > (t->mask + 1) * 7) {
        int rc = table_grow_index(t, err);
        if (rc != 0) return rc;
        i = (size_t)hash & t->mask;
        while (t->slots[i] != 0)
            i = (i + 1) & t->mask;
    }
    size_t need = mrc_rec_size(len);
    if (t->arena_len + need > t->arena_cap) {
        size_t cap = t->arena_cap * 2;
        while (cap < t->arena_len + need)
            cap *= 2;
        if (cap > MRC_ARENA_MAX) cap = MRC_ARENA_MAX;
        if (t->arena_len + need > cap)
            return mrc_err_set(err, MRC_EOVERFLOW, "count table: keys exceed 32 GiB in one thread");
        unsigned char *a = big_realloc(t->arena, t->arena_cap, cap);
        if (a == NULL)
            return mrc_err_set(err, MRC_ENOMEM, "count table: out of memory (%zu keys)", t->used);
        t->arena = a;
        t->arena_cap = cap;
    }
    mrc_rec *r = (mrc_rec *)(void *)(t->arena + t->arena_len);
    r->hash = hash;
    r->count = count;
    r->len = len;
    memcpy(r->key, key, len);
    t->slots[i] = (hash >> 32 << 32) | (uint64_t)(t->arena_len / 8 + 1);
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
