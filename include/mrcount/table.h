/* table.h - count tables: one open-addressing hash table per thread, keys in a per-thread
 * arena, 64-bit counts; their serialized form (the DESIGN wire format) and the merges used by
 * the local merge across threads and by the MPI_Reduce operator.
 * No MPI in here, and no threads but those of mrc_table_merge_parallel() (runtime's pinned
 * workers): otherwise callers decide who touches which table. */
#ifndef MRCOUNT_TABLE_H
#define MRCOUNT_TABLE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "mrcount/common.h"

#define MRC_HASH_SEED 0x6d72636f756e7431ULL /* "mrcount1": identical on every node */

/** mrc_hash() : the 64-bit XXH3 hash of a key with the fixed seed. */
uint64_t mrc_hash(const void *key, size_t len);

/* ---- records and record streams: what the spill, the merges and the output move ----
 * A record's head is the same in the arena and on the wire: u64 count, u32 key length, then
 * the key, little-endian (8-byte aligned in the arena, unaligned on the wire). */

#define MRC_REC_HEAD 12

static inline uint64_t mrc_rec_count(const unsigned char *rec)
{
    uint64_t v;
    memcpy(&v, rec, 8);
    return v;
}

static inline uint32_t mrc_rec_len(const unsigned char *rec)
{
    uint32_t v;
    memcpy(&v, rec + 8, 4);
    return v;
}

static inline const unsigned char *mrc_rec_key(const unsigned char *rec)
{
    return rec + MRC_REC_HEAD;
}

/* Write a record head and its key at out (MRC_REC_HEAD + len bytes). @return the bytes written. */
static inline size_t mrc_rec_put(unsigned char *out, uint64_t count, const unsigned char *key,
                                 uint32_t len)
{
    memcpy(out, &count, 8);
    memcpy(out + 8, &len, 4);
    if (len > 0) memcpy(out + MRC_REC_HEAD, key, len);
    return MRC_REC_HEAD + (size_t)len;
}

/* Fetch a record ahead of its use: both cache lines a short record may span. */
static inline void mrc_rec_prefetch(const void *rec)
{
    __builtin_prefetch(rec);
    __builtin_prefetch((const unsigned char *)rec + MRC_REC_HEAD + 15);
}

/* One record of a stream: its key is valid until the next call on the stream it came from. */
typedef struct mrc_rec_view {
    uint64_t hash; /* mrc_hash(key, len); 0 in streams that are not in hash order */
    uint64_t count;
    const unsigned char *key;
    uint32_t len;
} mrc_rec_view;

/* The orders a stream of records can be in. */
enum mrc_order {
    MRC_ORDER_HASH,  /* (hash, key): the wire format's; equal keys are one record after a merge */
    MRC_ORDER_COUNT, /* count descending, then key bytewise: the result's default */
    MRC_ORDER_KEY,   /* key bytewise (a key that is a prefix of another first) */
};

/* A stream of records in one order: a table, a serialized payload, a run file, a received
 * stream. Concrete streams embed it as their first member. */
typedef struct mrc_source mrc_source;
struct mrc_source {
    /* The next record into *r. @return 1, 0 at the end, or a negative value on an error (err
     * filled: a read error naming the file, a truncated record). */
    int (*next)(mrc_source *s, mrc_rec_view *r, mrc_err *err);
    /* Release the stream (NULL: nothing to release). */
    void (*close)(mrc_source *s);
};

/* Where a merge puts each merged record. @return 0, or nonzero with err filled (stops it). */
typedef int (*mrc_rec_sink)(void *arg, const mrc_rec_view *r, mrc_err *err);

/* ---- the in-memory table ----
 * An index of 8-byte slots, each the top 32 bits of a key's hash (its tag) and the place of its
 * record, over an arena of records. A key's home slot is given by the top bits of its hash, and
 * each run of occupied slots is kept sorted by tag (an insert shifts the rest of its run by one),
 * so the slots in order are the records in hash order: the table is a sorted run as it stands,
 * growing it re-places slots without touching a record, and a miss stops at the first larger tag.
 * Records hold no hash: count, length, key, as on the wire. */

/* An arena record: what the index points at. 8-byte aligned; its head is the wire record's
 * (MRC_REC_HEAD); key bytes follow `len`. */
typedef struct mrc_rec {
    uint64_t count;
    uint32_t len;
    unsigned char key[]; /* len bytes, then padding to 8 */
} mrc_rec;

/** mrc_rec_size() : bytes a record of a `len`-byte key takes in the arena (8-byte aligned). */
static inline size_t mrc_rec_size(uint32_t len)
{
    return (offsetof(mrc_rec, key) + (size_t)len + 7) & ~(size_t)7;
}

#define MRC_TABLE_SLACK 256 /* slots past the last home: a run never wraps around */

typedef struct mrc_table mrc_table;

/* Called when an insert would take the table past its max_bytes: it empties the table (writes
 * it out as a run, then mrc_table_clear()), after which the insert goes on. @return 0, or
 * nonzero with err filled (the insert fails with it). */
typedef int (*mrc_table_full_fn)(void *arg, mrc_table *t, mrc_err *err);

struct mrc_table {
    uint64_t *slots;      /* nslots + MRC_TABLE_SLACK: 0 = empty, else tag << 32 | (offset / 8 + 1);
                             once frozen, the first `used` entries, in hash order */
    size_t nslots;        /* home slots (a power of two) */
    unsigned shift;       /* a key's home slot is hash >> shift */
    size_t used;          /* distinct keys */
    size_t grow_at;       /* the index grows before it holds more keys than this */
    unsigned char *arena; /* records, back to back */
    size_t arena_len;     /* bytes in use */
    size_t arena_cap;     /* bytes mapped */
    uint64_t total;       /* sum of all counts added, saturating at 2^64-1 (metrics) */
    size_t slots_mapped;  /* bytes of the index's mapping */
    bool frozen;          /* mrc_table_freeze() made the index a dense sorted array */
    bool arena_huge;      /* the arena is on huge pages (it spilled: mrc_table_clear()) */
    /* A memory bound (0: none): an insert that would take the index and arena past max_bytes
     * (counting an index growth as twice the index: it grows in place, the new half added to
     * the old pages) calls full() first, unless the table is empty. */
    size_t max_bytes;
    mrc_table_full_fn full;
    void *full_arg;
    /* The hot front (hot.c): NULL, or 2 * (hot_mask + 1) entries in buckets of one cache line
     * (kept from one choice to the next). */
    struct mrc_hot_entry *hot;
    size_t hot_mask;   /* buckets - 1 */
    uint64_t hot_next; /* the front is chosen again when total reaches this */
    uint64_t hot_last; /* total when it was last chosen */
    uint64_t hot_hits; /* tokens the front counted, settled (a metric; not reset by a clear) */
};

/** mrc_table_init() : an empty table sized for about `expect` distinct keys (0: a default).
 *  @return 0, or MRC_ENOMEM with err filled. */
int mrc_table_init(mrc_table *t, size_t expect, mrc_err *err);

/** mrc_table_free() : release the table's memory; safe on a zeroed table. */
void mrc_table_free(mrc_table *t);

/** mrc_table_clear() : empty the table (after a spill), giving its pages back to the system but
 *  keeping its sizes, so it fills again without growing; its arena takes huge pages from then
 *  on. */
void mrc_table_clear(mrc_table *t);

/** mrc_table_bytes() : the memory the table holds resident: index and arena in use. */
size_t mrc_table_bytes(const mrc_table *t);

/** mrc_table_add_slow() : insert path of mrc_table_add(); not for direct use. */
int mrc_table_add_slow(mrc_table *t, const void *key, uint32_t len, uint64_t hash, uint64_t count,
                       mrc_err *err);

/* Key equality for keys whose hashes matched: a few overlapping word loads, no library call
 * and no byte loop (the common keys are 1-16 bytes). */
static inline int mrc_key_eq(const unsigned char *a, const unsigned char *b, size_t n)
{
    uint64_t x, y, u, v;
    if (n >= 8) {
        for (; n > 8; a += 8, b += 8, n -= 8) {
            memcpy(&x, a, 8);
            memcpy(&y, b, 8);
            if (x != y) return 0;
        }
        memcpy(&x, a + n - 8, 8); /* the last 8 bytes, overlapping what was compared */
        memcpy(&y, b + n - 8, 8);
        return x == y;
    }
    if (n >= 4) {
        uint32_t p, q, r, s;
        memcpy(&p, a, 4);
        memcpy(&q, b, 4);
        memcpy(&r, a + n - 4, 4);
        memcpy(&s, b + n - 4, 4);
        return p == q && r == s;
    }
    if (n == 0) return 1;
    u = (uint64_t)a[0] << 16 | (uint64_t)a[n >> 1] << 8 | a[n - 1];
    v = (uint64_t)b[0] << 16 | (uint64_t)b[n >> 1] << 8 | b[n - 1];
    return u == v;
}

/** mrc_be64() : the 8 bytes at p as a big-endian integer (comparing two compares the bytes). */
static inline uint64_t mrc_be64(const unsigned char *p)
{
    uint64_t v;
    memcpy(&v, p, 8);
    return __builtin_bswap64(v);
}

/** mrc_be_short() : n bytes at p (n < 8), zero-padded, as a big-endian integer: a few loads, no
 *  loop or call (overlapping loads write equal bytes twice). */
static inline uint64_t mrc_be_short(const unsigned char *p, size_t n)
{
    if (n >= 4) {
        uint32_t hi, lo;
        memcpy(&hi, p, 4);
        memcpy(&lo, p + n - 4, 4);
        return (uint64_t)__builtin_bswap32(hi) << 32 | (uint64_t)__builtin_bswap32(lo)
                                                           << (8 * (8 - n));
    }
    if (n == 0) return 0;
    return (uint64_t)p[0] << 56 | (uint64_t)p[n >> 1] << (56 - 8 * (n >> 1)) |
           (uint64_t)p[n - 1] << (56 - 8 * (n - 1));
}

/** mrc_key_cmp() : the key order of the wire format and of the result: bytes, then length (a
 *  key that is a prefix of another first). Inline, 8 bytes a step and the rest in one load: the
 *  merges compare keys per record, and a memcmp() call for keys of a dozen bytes was the cost
 *  (100 M keys under --memory-limit 1G, one rank: 21% of the output phase in memcmp).
 *  @return <0, 0, >0. */
static inline int mrc_key_cmp(const unsigned char *a, uint32_t la, const unsigned char *b,
                              uint32_t lb)
{
    uint32_t n = la < lb ? la : lb, i = 0;
    for (; i + 8 <= n; i += 8) {
        uint64_t x = mrc_be64(a + i), y = mrc_be64(b + i);
        if (x != y) return x < y ? -1 : 1;
    }
    if (i < n) {
        uint64_t x = mrc_be_short(a + i, n - i), y = mrc_be_short(b + i, n - i);
        if (x != y) return x < y ? -1 : 1;
    }
    return la < lb ? -1 : la > lb;
}

/** mrc_ser_order() : the record order of a serialized table: hash, then mrc_key_cmp(). */
static inline int mrc_ser_order(uint64_t ha, const unsigned char *ka, uint32_t la, uint64_t hb,
                                const unsigned char *kb, uint32_t lb)
{
    if (ha != hb) return ha < hb ? -1 : 1;
    return mrc_key_cmp(ka, la, kb, lb);
}

static inline mrc_rec *mrc_table_rec_at(const mrc_table *t, uint64_t slot)
{
    return (mrc_rec *)(void *)(t->arena + ((slot & 0xffffffffu) - 1) * 8);
}

/** mrc_table_home() : where the probe for a hash starts (for prefetching). */
static inline const uint64_t *mrc_table_home(const mrc_table *t, uint64_t hash)
{
    return &t->slots[(size_t)(hash >> t->shift)];
}

/** mrc_table_add() : count += `count` for key (hash = mrc_hash(key, len)). Not on a frozen table.
 *  @return 0; MRC_ENOMEM or MRC_EOVERFLOW (a count past 2^64-1, or the arena past 32 GiB)
 *  with err filled; the table stays valid either way. */
static inline int mrc_table_add(mrc_table *t, const void *key, uint32_t len, uint64_t hash,
                                uint64_t count, mrc_err *err)
{
    uint64_t tag = hash >> 32;
    const uint64_t *p = mrc_table_home(t, hash);
    for (;; p++) {
        uint64_t s = *p, st = s >> 32;
        if (st == tag && s != 0) {
            mrc_rec *r = mrc_table_rec_at(t, s);
            if (r->len == len && mrc_key_eq(r->key, key, len)) {
                uint64_t sum;
                if (__builtin_add_overflow(r->count, count, &sum))
                    return mrc_table_add_slow(t, key, len, hash, count, err);
                r->count = sum;
                t->total = t->total + count < t->total ? UINT64_MAX : t->total + count;
                return 0;
            }
        } else if (s == 0 || st > tag) {
            break; /* runs are sorted by tag: the key is not here */
        }
    }
    return mrc_table_add_slow(t, key, len, hash, count, err);
}

/* ---- the hot front (hot.c) ----
 * Counting words, most tokens are a few thousand short keys: in a table of a million keys each
 * of their lookups reads the home slot's line and the record's, and those lines, scattered over
 * an index of megabytes, do not stay in L2. The front keeps the most frequent keys of up to
 * MRC_HOT_KEY bytes inline, two to a 64-byte bucket (4 MiB in all), each with the count added
 * since it was chosen (its delta): a hit reads and writes that one line and touches neither the
 * index nor the record. Every key of the front has its record in the table, whose count lacks
 * the delta until mrc_table_settle(). The front is chosen (mrc_table_hot_choose()) from the
 * table's counts as the total grows, and left out when its keys would not cover enough of the
 * tokens (a vocabulary of millions of rare keys). Only callers that add single tokens use it
 * (mrc_table_hot_add()), so no record's count plus its delta can pass the table's total. */

#define MRC_HOT_KEY 16

typedef struct mrc_hot_entry {
    unsigned char key[MRC_HOT_KEY]; /* the key, zero-padded */
    uint32_t len;                   /* its length; UINT32_MAX: the entry is empty */
    uint32_t ref;                   /* its record, as a slot refers to it */
    uint64_t delta;                 /* counted here since the last settle */
} mrc_hot_entry;

/** mrc_table_hot_bucket() : the front's bucket (two entries) for a hash. */
static inline mrc_hot_entry *mrc_table_hot_bucket(const mrc_table *t, uint64_t hash)
{
    return t->hot + 2 * (hash & t->hot_mask);
}

/** mrc_table_hot_add() : count one token of key (hash = mrc_hash(key, len)) in the front if the
 *  key is there. @return true if counted, false if the caller must add it to the table. */
static inline bool mrc_table_hot_add(mrc_table *t, const void *key, uint32_t len, uint64_t hash)
{
    mrc_hot_entry *b = mrc_table_hot_bucket(t, hash);
    for (int i = 0; i < 2; i++) {
        if (b[i].len == len && mrc_key_eq(b[i].key, key, len)) {
            b[i].delta++;
            t->total += t->total != UINT64_MAX;
            return true;
        }
    }
    return false;
}

/** mrc_table_hot_choose() : choose the front again if the total has reached hot_next (settling
 *  the old one): the most frequent short keys, if they cover enough of the total. A scan of the
 *  table's records, so it runs only when the tokens since the last choice outnumber the keys
 *  several times over. Without memory for the front the table runs without one. */
void mrc_table_hot_choose(mrc_table *t);

/** mrc_table_hot_bytes() : the memory the front holds (0 without one). */
size_t mrc_table_hot_bytes(const mrc_table *t);

/** mrc_table_hot_free() : give the front's memory back without settling it (the table's
 *  records are gone, or its deltas settled); the next choice takes it again. */
void mrc_table_hot_free(mrc_table *t);

/** mrc_table_settle() : add the front's deltas to their records' counts (the front stays).
 *  mrc_table_freeze(), mrc_table_write_run*(), mrc_table_index_as_buffer() and
 *  mrc_table_drop_index() settle first; mrc_table_each() and mrc_table_drain() read the records
 *  as they are. */
void mrc_table_settle(mrc_table *t);

/** mrc_table_hot_drop() : settle and release the front; it may be chosen again from hot_next on. */
void mrc_table_hot_drop(mrc_table *t);

/** mrc_table_each() : call fn on every record, in arena (insertion) order. */
void mrc_table_each(const mrc_table *t, void (*fn)(const mrc_rec *r, void *arg), void *arg);

/** mrc_table_drain() : every record of a table that is not frozen, in (hash, key) order, to
 *  emit (the table is left as it is; mrc_table_clear() empties it). @return 0 or emit's error. */
int mrc_table_drain(const mrc_table *t, mrc_rec_sink emit, void *arg, mrc_err *err);

/** mrc_table_drop_index() : give the index back: only the arena's records remain (read them
 *  with mrc_table_each() or by address; mrc_table_free() still frees the table). */
void mrc_table_drop_index(mrc_table *t);

/** mrc_table_index_as_buffer() : mrc_table_drop_index(), but the index's memory is kept and
 *  given to the caller as a buffer of at least `bytes` (grown in place by mremap when smaller:
 *  only the part past the index is fresh). Its pages are in memory already, where a fresh
 *  buffer's first touch costs a page fault and a cleared page each. mrc_table_free() releases
 *  it: never free() it. @return the buffer, or NULL with the index as it was (a frozen table's,
 *  or no memory to grow it). */
void *mrc_table_index_as_buffer(mrc_table *t, size_t bytes);

/** mrc_table_freeze() : end the adds: the index becomes the dense array of the `used` slots in
 *  hash order (equal tags ordered by full hash, then key), its tail given back. */
void mrc_table_freeze(mrc_table *t);

/** mrc_table_lower() : in a frozen table, the index of the first slot whose record's hash is at
 *  least `hash` (used when there is none). */
size_t mrc_table_lower(const mrc_table *t, uint64_t hash);

/** mrc_table_source() : the records of a frozen table whose hash is in [lo, hi], as a stream in
 *  MRC_ORDER_HASH (the table must outlive it; close frees it). @return NULL on ENOMEM. */
mrc_source *mrc_table_source(const mrc_table *t, uint64_t lo, uint64_t hi, mrc_err *err);

/* ---- serialized tables (the wire format of DESIGN.md) ----
 * header (40 bytes, little-endian):
 *   u32 magic "MRCT", u32 version (1), u64 records, u64 payload bytes, u64 flags, u64 total
 * then records sorted by (hash, key bytes, shorter first): u64 count, u32 key length, key.
 * Records are not padded; readers must not assume alignment. */

#define MRC_SER_MAGIC 0x5443524dU /* "MRCT" little-endian */
#define MRC_SER_VERSION 1U
#define MRC_SER_HEADER 40
#define MRC_SER_FLAG_OVERFLOW 1ULL       /* a merge result did not fit its buffer */
#define MRC_SER_FLAG_COUNT_OVERFLOW 2ULL /* a merged count passed 2^64-1 */
#define MRC_SER_FLAG_CORRUPT 4ULL        /* an input to a merge failed validation */

typedef struct mrc_ser_header {
    uint32_t magic, version;
    uint64_t records, payload, flags, total;
} mrc_ser_header;

/* One record viewed in place. */
typedef struct mrc_ser_rec {
    uint64_t count;
    uint32_t len;
    const unsigned char *key;
} mrc_ser_rec;

/** mrc_ser_read_header() / mrc_ser_write_header() : (de)code the 40-byte header. */
void mrc_ser_read_header(const void *buf, mrc_ser_header *h);
void mrc_ser_write_header(void *buf, const mrc_ser_header *h);

/** mrc_ser_validate() : check a serialized table of `cap` bytes: magic, version, sizes within
 *  cap, every record inside the payload, records strictly ordered by (hash, key).
 *  @return 0, or MRC_EINVAL with err naming the cause. */
int mrc_ser_validate(const void *buf, size_t cap, mrc_err *err);

/** mrc_ser_next() : decode the record at *pos (payload-relative offset into `payload` of
 *  `len` bytes) and advance *pos. @return 1 with *r filled, 0 at the end, -1 if truncated. */
int mrc_ser_next(const unsigned char *payload, size_t len, size_t *pos, mrc_ser_rec *r);

/** mrc_ser_merge() : merge serialized tables a and b (both valid and sorted) into out, which has
 *  out_cap bytes (header included). Equal keys add their counts. On a result that would not fit,
 *  out holds a valid header with MRC_SER_FLAG_OVERFLOW set and no records; a count overflow sets
 *  MRC_SER_FLAG_COUNT_OVERFLOW. Flags of a and b carry into out. out must not overlap a or b.
 *  @return the bytes written to out (header included). */
size_t mrc_ser_merge(const void *a, const void *b, void *out, size_t out_cap);

/** mrc_ser_merge_into() : inout := merge(in, inout), in place: inout's records move to the end
 *  of inout_cap and the merge writes from the front, never over a record it has not read
 *  (whenever the union fits inout_cap it never comes to that; MRC_SER_FLAG_OVERFLOW when it does
 *  not fit). No memory is allocated. This is the body of the MPI_Reduce operator. A header that
 *  is not a table's, or an inout payload past inout_cap, flags inout MRC_SER_FLAG_CORRUPT (no
 *  records); in is read only as far as inout_cap. @return 0. */
int mrc_ser_merge_into(const void *in, void *inout, size_t inout_cap);

/** mrc_ser_empty() : write an empty table (header only) into buf. @return MRC_SER_HEADER. */
size_t mrc_ser_empty(void *buf);

/* ---- frozen tables merged in hash order (merge.c) ---- */

/* Called for each distinct key of a merge of frozen tables, in hash order: its record in the
 * first table that holds it (the merge may write the summed count there) and the summed count.
 * The walk hashes a key only where two tables' tags tie, never a lone table's: a caller that
 * needs the hash computes it. @return 0, or nonzero with err filled (stops the merge). */
typedef int (*mrc_walk_fn)(void *arg, mrc_rec *rec, uint64_t count, mrc_err *err);

/** mrc_table_walk() : the records of ntables frozen tables whose hash is in [lo, hi], merged in
 *  (hash, key) order with equal keys' counts summed, each passed to fn once.
 *  @return 0, MRC_EOVERFLOW (a sum past 2^64-1, naming the key) or fn's error. */
int mrc_table_walk(mrc_table *const *tables, size_t ntables, uint64_t lo, uint64_t hi,
                   mrc_walk_fn fn, void *arg, mrc_err *err);

/* Called by mrc_table_walk_ties() for each record of a key that another table's record holds
 * the total of: that record (in tables[table], just read by the walk) is not the key's. The
 * walk reads it no more: the callee may write it. */
typedef void (*mrc_drop_fn)(void *arg, size_t table, mrc_rec *rec);

/** mrc_table_walk_ties() : of ntables frozen tables, the keys whose hash is in [lo, hi] and that
 *  several tables hold: the key's summed count is written into one of its records, each other
 *  record goes to drop(). A key in one table costs a comparison of 4-byte tags in the index
 *  (its record is not read): only tied tags read records.
 *  @return 0, MRC_EOVERFLOW (a sum past 2^64-1, naming the key) or MRC_ENOMEM (more than 8
 *  tables: the cursors' array). */
int mrc_table_walk_ties(mrc_table *const *tables, size_t ntables, uint64_t lo, uint64_t hi,
                        mrc_drop_fn drop, void *arg, mrc_err *err);

/** mrc_table_serialize() : freeze the tables and merge them on the calling thread alone into one
 *  serialized table (tests, tools, small runs). @return 0 with *out (malloc'd) of *out_len bytes,
 *  or error. */
int mrc_table_serialize(mrc_table *const *tables, size_t ntables, void **out, size_t *out_len,
                        mrc_err *err);

/* ---- hash ranges and k-way merges (the shuffle combine) ----
 * Range r of n holds the hashes h with floor(h * n / 2^64) == r: contiguous, in hash order, so a
 * table sorted by (hash, key) is cut into n consecutive byte ranges. */

/** mrc_hash_range_start() : the first hash of range r of n (0 for r == 0). */
uint64_t mrc_hash_range_start(uint32_t r, uint32_t n);

/** mrc_ser_cut() : where the records of a sorted payload (len bytes, no header) reach each of
 *  nb ascending hash bounds: offsets[b] = payload offset of the first record with hash >=
 *  bounds[b], records[b] (optional) = its ordinal; offsets[nb] = len, records[nb] = all records.
 *  Hashes O(nb log n) keys only. @return 0, or MRC_EINVAL (truncated) / MRC_ENOMEM. */
int mrc_ser_cut(const unsigned char *payload, size_t len, const uint64_t *bounds, size_t nb,
                size_t *offsets, uint64_t *records, mrc_err *err);

/* One sorted run of records (a payload slice, no header). */
typedef struct mrc_ser_run {
    const unsigned char *payload;
    size_t len;
} mrc_ser_run;

typedef struct mrc_ser_merged {
    size_t bytes;     /* payload bytes written */
    uint64_t records; /* distinct keys written */
    uint64_t total;   /* sum of their counts, saturating */
} mrc_ser_merged;

/** mrc_ser_merge_runs() : merge nruns sorted runs into one sorted payload at out (cap bytes;
 *  the sum of the runs' lengths always suffices); equal keys add their counts.
 *  @return 0, or MRC_EOVERFLOW (a count past 2^64-1, naming the key; or cap too small),
 *  MRC_EINVAL (a truncated run), MRC_ENOMEM. */
int mrc_ser_merge_runs(const mrc_ser_run *runs, size_t nruns, unsigned char *out, size_t cap,
                       mrc_ser_merged *res, mrc_err *err);

/* ---- the one thread-parallel merge (parallel.c) ---- */

/* What mrc_table_merge_parallel() merges: the thread tables of a rank (one per thread of the
 * placement), or sorted runs that all lie in the hash range [lo, hi]. */
typedef struct mrc_merge_input {
    mrc_table *const *tables;
    size_t ntables;
    const mrc_ser_run *runs;
    size_t nruns;
    uint64_t lo, hi;
    /* Called once every run is merged, before the result is assembled (the caller may free the
     * runs' memory there); may be NULL. */
    void (*inputs_done)(void *arg);
    void *inputs_done_arg;
} mrc_merge_input;

typedef struct mrc_topo mrc_topo;
typedef struct mrc_placement mrc_placement;

/** mrc_table_merge_parallel() : one serialized table sorted by (hash, key) of everything in
 *  `in`, each of the placement's pinned threads merging disjoint hash sub-ranges; equal keys
 *  add their counts. The result does not depend on the thread count.
 *  @return 0 with *out (malloc'd, *out_len bytes) and *distinct, or nonzero with err filled (a
 *  count past 2^64-1 names its key). */
int mrc_table_merge_parallel(const mrc_merge_input *in, mrc_topo *topo, const mrc_placement *pl,
                             void **out, size_t *out_len, uint64_t *distinct, mrc_err *err);

/* ---- HyperLogLog sketch of distinct keys (estimates the union vocabulary across ranks) ---- */

#define MRC_HLL_BITS 14
#define MRC_HLL_REGISTERS (1u << MRC_HLL_BITS) /* ~0.8% standard error */

typedef struct mrc_hll {
    uint8_t reg[MRC_HLL_REGISTERS];
} mrc_hll;

void mrc_hll_init(mrc_hll *h);
void mrc_hll_add(mrc_hll *h, uint64_t hash);

/** mrc_hll_merge() : into := the sketch of the union (register-wise max). */
void mrc_hll_merge(mrc_hll *into, const mrc_hll *from);

/** mrc_hll_estimate() : estimated distinct keys. */
double mrc_hll_estimate(const mrc_hll *h);

/* ---- priority sample of distinct keys by their bytes (the union's bytes) ----
 * Priority sampling (Duffield, Lund, Thorup): a key of w bytes whose hash, as a fraction u of
 * 2^64, lies in (0, 1] has priority w / u; the sample keeps the MRC_PSAMPLE + 1 keys of highest
 * priority. The sum of max(w, tau) over the MRC_PSAMPLE highest, tau the last one's priority,
 * estimates the bytes of all the keys without bias (about 6% standard error when the keys are
 * alike), and a key much longer than the rest is kept whatever its hash, where a uniform sample
 * would miss it. A key's priority is a function of the key, so the samples of several ranks
 * merge into the union's, a key once. */

#define MRC_PSAMPLE 256

typedef struct mrc_psample {
    /* by priority, highest first (then by hash); unused entries have priority 0 */
    struct {
        double prio;
        uint64_t hash, bytes;
    } e[MRC_PSAMPLE + 1];
} mrc_psample;

void mrc_psample_init(mrc_psample *s);
void mrc_psample_add(mrc_psample *s, uint64_t hash, uint64_t bytes);

/** mrc_psample_merge() : into := the sample of the union of both samples' keys. */
void mrc_psample_merge(mrc_psample *into, const mrc_psample *from);

/** mrc_psample_estimate() : the estimated bytes of the sampled keys' union (exact when it holds
 *  MRC_PSAMPLE keys or fewer). */
double mrc_psample_estimate(const mrc_psample *s);

/** mrc_hll_add_ser() : add every key of a valid serialized table to h, and to s (when not NULL)
 *  with its record's bytes. @return 0 or MRC_EINVAL. */
int mrc_hll_add_ser(mrc_hll *h, mrc_psample *s, const void *table, mrc_err *err);

/* ---- streams, the k-way merge, run files and the chunk store (stream.c, runfile.c,
 * chunkstore.c): the storage and merge side of spilling ----
 * A run file is an anonymous file in --tmp-dir (tmpfile.h: nothing is left behind, even after
 * SIGKILL) holding records back to back in the wire format, uncompressed (runfile.c has the
 * measurement), sorted in one order; in hash order it carries a sparse index of where each of
 * MRC_RUN_BUCKETS hash buckets starts, so a reader can start at any hash range. */

/** mrc_rec_cmp() : compare two records in `order`: (hash, key) for MRC_ORDER_HASH, count
 *  descending then key for MRC_ORDER_COUNT, key for MRC_ORDER_KEY. @return <0, 0, >0. */
static inline int mrc_rec_cmp(enum mrc_order order, const mrc_rec_view *a, const mrc_rec_view *b)
{
    switch (order) {
    case MRC_ORDER_HASH:
        return mrc_ser_order(a->hash, a->key, a->len, b->hash, b->key, b->len);
    case MRC_ORDER_COUNT:
        if (a->count != b->count) return a->count > b->count ? -1 : 1;
        return mrc_key_cmp(a->key, a->len, b->key, b->len);
    case MRC_ORDER_KEY:
        break;
    }
    return mrc_key_cmp(a->key, a->len, b->key, b->len);
}

/* ---- offset-value codes: k-way merges in the output orders ----
 * A record's sort string is the 8 bytes of ~count big-endian then the key (MRC_ORDER_COUNT) or
 * the key (MRC_ORDER_KEY). The code of A relative to a base B <= A says where A leaves B: with o
 * the first byte at which they differ and A[o] its byte there (A > B has one: B is shorter or
 * less there), (MRC_OVC_FAR - o) << 8 | A[o]; 0 when A equals B; MRC_OVC_END for an ended
 * stream. Of two records coded against one base, the smaller code is the smaller record, and the
 * larger's code against the smaller is its code against the base; equal codes need the bytes
 * after o, and the loser is coded against the winner on the way. Keys in one order share long
 * prefixes, which a byte comparison reads again at every match of a merge; codes mostly do not. */

#define MRC_OVC_FAR ((uint64_t)1 << 40) /* more than any offset: 8 + a key's length */
#define MRC_OVC_END UINT64_MAX

/* Where the sort strings of a and b first differ, at or after byte `from` (those before it
 * equal); *cmp gets their order. @return that offset, or the shorter's length (*cmp: which one
 * is a prefix, 0 when equal). */
static inline __attribute__((always_inline)) uint64_t mrc_ovc_diff(const mrc_rec_view *a,
                                                                   const mrc_rec_view *b,
                                                                   uint64_t from,
                                                                   const enum mrc_order o, int *cmp)
{
    uint64_t koff = 0;
    if (o == MRC_ORDER_COUNT) {
        if (from < 8 && a->count != b->count) {
            uint64_t x = ~a->count, y = ~b->count;
            *cmp = x < y ? -1 : 1;
            return (uint64_t)__builtin_clzll(x ^ y) >> 3;
        }
        koff = 8;
        if (from < 8) from = 8;
    }
    uint32_t n = a->len < b->len ? a->len : b->len, i = (uint32_t)(from - koff);
    for (; i + 8 <= n; i += 8) {
        uint64_t x = mrc_be64(a->key + i), y = mrc_be64(b->key + i);
        if (x != y) {
            *cmp = x < y ? -1 : 1;
            return koff + i + ((uint64_t)__builtin_clzll(x ^ y) >> 3);
        }
    }
    if (i < n) {
        uint64_t x = mrc_be_short(a->key + i, n - i), y = mrc_be_short(b->key + i, n - i);
        if (x != y) {
            *cmp = x < y ? -1 : 1;
            return koff + i + ((uint64_t)__builtin_clzll(x ^ y) >> 3);
        }
    }
    *cmp = (a->len > b->len) - (a->len < b->len);
    return koff + n;
}

/* The code of a against a base it leaves at offset off (a's byte there exists). */
static inline uint64_t mrc_ovc_code(const mrc_rec_view *a, uint64_t off, const enum mrc_order o)
{
    unsigned byte;
    if (o == MRC_ORDER_COUNT && off < 8)
        byte = (unsigned)(~a->count >> (56 - 8 * off)) & 0xff;
    else
        byte = a->key[off - (o == MRC_ORDER_COUNT ? 8 : 0)];
    return (MRC_OVC_FAR - off) << 8 | byte;
}

/* The code of a against b when a > b, else 0; *cmp: their order. */
static inline uint64_t mrc_ovc_against(const mrc_rec_view *a, const mrc_rec_view *b,
                                       const enum mrc_order o, int *cmp)
{
    uint64_t off = mrc_ovc_diff(a, b, 0, o, cmp);
    return *cmp > 0 ? mrc_ovc_code(a, off, o) : 0;
}

/* The code of v against the empty string (0 for the empty key in MRC_ORDER_KEY): a merge's
 * leaves before their first match. */
static inline uint64_t mrc_ovc_start(const mrc_rec_view *v, const enum mrc_order o)
{
    return o == MRC_ORDER_COUNT || v->len > 0 ? mrc_ovc_code(v, 0, o) : 0;
}

/* Whether a comes before b, both coded against one base (*ca, *cb; ties: a when a_first); the
 * loser's code is left against the winner. */
static inline __attribute__((always_inline)) bool mrc_ovc_first(const mrc_rec_view *a, uint64_t *ca,
                                                                const mrc_rec_view *b, uint64_t *cb,
                                                                bool a_first,
                                                                const enum mrc_order o)
{
    if (__builtin_expect(*ca != *cb, 1)) return *ca < *cb;
    if (*ca == MRC_OVC_END || *ca == 0) return a_first; /* both ended, or both equal the base */
    int c;
    uint64_t off = mrc_ovc_diff(a, b, MRC_OVC_FAR - (*ca >> 8) + 1, o, &c);
    bool a_wins = c < 0 || (c == 0 && a_first);
    if (a_wins)
        *cb = c == 0 ? 0 : mrc_ovc_code(b, off, o);
    else
        *ca = c == 0 ? 0 : mrc_ovc_code(a, off, o);
    return a_wins;
}

/** mrc_ser_source_open() : a stream over the wire records of payload[0, len) (no header),
 *  valid while payload is; hash is filled (mrc_hash) in MRC_ORDER_HASH, 0 otherwise. The stream
 *  does not check the order (mrc_source_merge() does). Its next() fails MRC_EINVAL on a record
 *  cut by the end of the payload. Close it with its close(), which frees it.
 *  @return the stream, or NULL with err filled (MRC_ENOMEM). */
mrc_source *mrc_ser_source_open(const unsigned char *payload, size_t len, enum mrc_order order,
                                mrc_err *err);

/** mrc_source_merge() : k-way merge (a loser tree) of n streams, each strictly ordered in
 *  `order`, into emit, in that order. In MRC_ORDER_HASH equal keys of different streams are one
 *  record whose count is their sum, MRC_EOVERFLOW ("the count of key '<first 200 bytes>'
 *  exceeds 2^64-1") past 2^64-1. In the output orders keys are unique across streams (disjoint
 *  hash ranges): two records that compare equal fail MRC_EINVAL (in MRC_ORDER_COUNT a key met
 *  twice with different counts is not seen: that check would not be cheap). A stream whose
 *  record is not strictly after its previous one fails MRC_EINVAL. The record given to emit is
 *  valid during the call only. Stops at the first error of a stream (its code) or of emit (its
 *  nonzero return). The streams stay open: the caller closes them. n may be 0.
 *  @return 0, or nonzero with err filled (MRC_ENOMEM for n past 2^31 or the merge state). */
int mrc_source_merge(mrc_source *const *src, size_t n, enum mrc_order order, mrc_rec_sink emit,
                     void *arg, mrc_err *err);

/** mrc_merge_source_open() : the k-way merge of n streams, all in `order`, as a stream to pull
 *  from (mergesrc.c): in MRC_ORDER_HASH equal keys come once with their counts summed (an
 *  overflow names the key); in the output orders a key in two streams is an error. It owns the
 *  streams: its close() closes them (also on failure here). A record it returns is valid until
 *  its next call. @return the merge, or NULL with err filled (a stream's first error, ENOMEM). */
mrc_source *mrc_merge_source_open(mrc_source *const *src, size_t n, enum mrc_order order,
                                  mrc_err *err);

/** mrc_chain_source_open() : the streams open(i) for i = first .. end - 1 one after another, as
 *  one stream (mergesrc.c): each is opened when the one before it ends, and closed then, so one
 *  is open at a time. @return the chain (first == end: an empty stream), or NULL with err
 *  filled (ENOMEM). */
mrc_source *mrc_chain_source_open(size_t first, size_t end,
                                  mrc_source *(*open)(size_t i, void *arg, mrc_err *err), void *arg,
                                  mrc_err *err);

#define MRC_RUN_INDEX_BITS 12 /* a bucket = the top 12 bits of the hash */
#define MRC_RUN_BUCKETS (1u << MRC_RUN_INDEX_BITS)
#define MRC_RUN_BUF_DEFAULT ((size_t)1 << 20) /* writer buffer and reader block: 1 MiB */

/* A finished run file. The caller owns it: mrc_run_file_close() releases it. */
typedef struct mrc_run_file {
    int fd;               /* the anonymous file; -1 once closed */
    char *dir;            /* the directory it lives in (its errors name it) */
    enum mrc_order order; /* the order of its records */
    uint64_t bytes;       /* file bytes: the records back to back, nothing else (wire records
                           * in hash order, front coded in the output orders: runfile.c) */
    uint64_t records;     /* records written */
    uint64_t total;       /* sum of their counts, saturating at 2^64-1 */
    /* MRC_ORDER_HASH: MRC_RUN_BUCKETS + 1 offsets, index[b] = where the first record whose hash
     * has top bits >= b starts, index[MRC_RUN_BUCKETS] = bytes. The output orders: NULL, or,
     * cut into segments (mrc_run_writer_segment()), segments + 1 offsets: index[s] = where
     * segment s starts, index[segments] = bytes. */
    uint64_t *index;
    size_t segments;  /* the output orders: segments the writer cut (0: none) */
    uint32_t max_len; /* the longest key written (0: none, or an adopted file of unknown keys) */
    /* With has_sum (a writer asked by mrc_run_writer_sum()): the XXH3-64 of the file's bytes
     * as written, then of the index (a checkpoint's manifest keeps it). */
    uint64_t sum;
    bool has_sum;
} mrc_run_file;

typedef struct mrc_run_writer mrc_run_writer;

/** mrc_run_writer_open() : a run writer to a new anonymous file in dir, through a buffer of
 *  buf_size bytes (0: MRC_RUN_BUF_DEFAULT). @return the writer, or NULL with err filled
 *  ("<dir>: cannot create a temporary file: <cause>", MRC_ENOMEM). */
mrc_run_writer *mrc_run_writer_open(const char *dir, enum mrc_order order, size_t buf_size,
                                    mrc_err *err);

/** mrc_run_writer_open_fd() : a run writer to the file fd (empty, open for writing; the writer
 *  owns it from here, closing it on every failure); dir names it in messages (a checkpoint's
 *  named run). @return the writer, or NULL with err filled. */
mrc_run_writer *mrc_run_writer_open_fd(int fd, const char *dir, enum mrc_order order,
                                       size_t buf_size, mrc_err *err);

/** mrc_run_writer_sum() : have the writer checksum what it writes (mrc_run_file.sum), so that
 *  a run that must carry one is not read back for it. @return 0; MRC_EINVAL after the first
 *  put; MRC_ENOMEM (err filled). */
int mrc_run_writer_sum(mrc_run_writer *w, mrc_err *err);

/** mrc_run_writer_put() : append one record; records come strictly in the writer's order (in
 *  MRC_ORDER_HASH, r->hash must be mrc_hash(r->key, r->len)). @return 0; MRC_EINVAL for a
 *  record out of order; MRC_EIO naming the dir (a full disk: "<dir>: no space left for spill
 *  files ..."); MRC_ENOMEM. After an error the writer only takes mrc_run_writer_finish() or
 *  mrc_run_writer_abort(). */
int mrc_run_writer_put(mrc_run_writer *w, const mrc_rec_view *r, mrc_err *err);

/** mrc_run_writer_segment() : in the output orders, end the current segment: the records put
 *  from here on make the next one, which a reader can read alone (mrc_run_file_segment_source();
 *  its first key is coded whole). A writer cut k times makes a run of k + 1 segments, some
 *  maybe empty. @return 0; MRC_EINVAL in hash order; the writer's error; MRC_ENOMEM. */
int mrc_run_writer_segment(mrc_run_writer *w, mrc_err *err);

/** mrc_run_writer_finish() : write what is buffered, fill *out and free the writer (on every
 *  path). @return 0, or the writer's first error (or a new MRC_EIO) with *out closed (fd -1):
 *  a failed run is never a short one. */
int mrc_run_writer_finish(mrc_run_writer *w, mrc_run_file *out, mrc_err *err);

/** mrc_run_writer_abort() : drop the writer and its file (NULL: nothing). */
void mrc_run_writer_abort(mrc_run_writer *w);

/** mrc_run_file_adopt() : a run file from a file written earlier (a checkpoint's, reopened):
 *  fd (owned from here), its figures, and its index (malloc'd, owned from here; NULL in the
 *  output orders). @return 0, or MRC_ENOMEM (fd and index released). */
int mrc_run_file_adopt(int fd, const char *dir, enum mrc_order order, uint64_t bytes,
                       uint64_t records, uint64_t total, uint64_t *index, mrc_run_file *out,
                       mrc_err *err);

/** mrc_run_file_close() : close the file and free the index; safe twice and on a zeroed
 *  struct with fd -1. */
void mrc_run_file_close(mrc_run_file *f);

/** mrc_table_write_run() : the records of a table that is not frozen, in hash order, to a new
 *  run file in dir (*out). @return 0, or nonzero with err filled (a full disk names dir). */
int mrc_table_write_run(mrc_table *t, const char *dir, mrc_run_file *out, mrc_err *err);

/** mrc_table_write_run_fd() : mrc_table_write_run() to the empty file fd (owned from here: a
 *  checkpoint's named run), checksummed as it is written (out->sum); dir names it in
 *  messages. */
int mrc_table_write_run_fd(mrc_table *t, int fd, const char *dir, mrc_run_file *out, mrc_err *err);

/** mrc_run_file_source() : a stream of f's records whose hash lies in [lo, hi] (MRC_ORDER_HASH;
 *  the output orders take only lo = 0, hi = UINT64_MAX), read with pread in blocks of buf_size
 *  bytes (0: MRC_RUN_BUF_DEFAULT; a larger record is joined in a buffer of its own), so several
 *  streams, on several threads, may read one file (a merge of many runs takes readers x
 *  buf_size bytes: size buf_size to the budget). f must outlive the stream; hash is filled in
 *  hash order. Its next() fails MRC_EIO naming the dir ("<dir>: a spill file ended early ...").
 *  @return the stream (its close() frees it), or NULL with err filled (MRC_EINVAL: lo > hi, a
 *  range in an output order, a closed file; MRC_ENOMEM). */
mrc_source *mrc_run_file_source(const mrc_run_file *f, uint64_t lo, uint64_t hi, size_t buf_size,
                                mrc_err *err);

/** mrc_run_file_segment_source() : a stream of segment `seg` of f (an output-order run cut by
 *  mrc_run_writer_segment()), as mrc_run_file_source() reads the whole file. @return the stream,
 *  or NULL with err filled (MRC_EINVAL: no such segment, a closed file; MRC_ENOMEM). */
mrc_source *mrc_run_file_segment_source(const mrc_run_file *f, size_t seg, size_t buf_size,
                                        mrc_err *err);

/** mrc_runs_fan_in() : how many runs one merge may open at once: half the descriptors the
 *  process may open past a spare, within [8, 512]; the soft RLIMIT_NOFILE is raised to the hard
 *  one first. */
size_t mrc_runs_fan_in(void);

/** mrc_run_file_hold() : the bytes a reader of f may hold past its read buffer for its longest
 *  record (a record cut across blocks is joined in a buffer of its own, grown by doubling; the
 *  output orders' readers also hold the key decoded). */
uint64_t mrc_run_file_hold(const mrc_run_file *f);

/** mrc_runs_compact() : while there are more than max_runs runs, or (with hold > 0) more than
 *  two whose mrc_run_file_hold() sum passes hold (keys of megabytes: each open run holds its
 *  longest record), merge the first ones (at most max_runs at a time and, past two, no more
 *  than hold allows, each read in blocks of buf bytes) into one new run in dir, closing them;
 *  all runs are in one order (hash: equal keys are summed; an output order: keys are unique).
 *  *n is updated and the bytes written are added to *bytes (may be NULL). stop (NULL: never)
 *  is polled between records. @return 0, or nonzero with err filled (MRC_EINTR when stopped;
 *  the runs given stay valid and open on failure, but for those already merged). */
int mrc_runs_compact(mrc_run_file *runs, size_t *n, size_t max_runs, uint64_t hold, const char *dir,
                     size_t buf, uint64_t *bytes, const mrc_stop *stop, mrc_err *err);

/* Bytes moved through spill files by this process (every thread, run files and chunk stores). */
typedef struct mrc_spill_io {
    uint64_t written; /* bytes written to spill files */
    uint64_t read;    /* bytes read back (a range read twice counts twice) */
} mrc_spill_io;

/** mrc_spill_io_get() : the process's spill traffic so far (callers take differences). */
void mrc_spill_io_get(mrc_spill_io *out);

/* ---- the chunk store: what a shuffle owner receives, in memory or spilled ----
 * Bytes of the wire format arrive in rounds, one chunk per source rank per round; a record may
 * be cut across chunks. The store keeps the chunks in memory while they fit its budget, then
 * moves them to one anonymous file and appends there; each source is then read back as one
 * stream of records. */
typedef struct mrc_chunk_store mrc_chunk_store;

typedef struct mrc_chunk_stats {
    uint64_t appended; /* bytes appended, all sources */
    uint64_t mem;      /* bytes held in memory now: chunks, buffer and index */
    uint64_t mem_peak; /* the most held in memory at once */
    uint64_t spilled;  /* bytes written to the file */
    bool on_disk;      /* the chunks went to the file */
} mrc_chunk_stats;

/** mrc_chunk_store_open() : a store for nsources sources (>= 1) that keeps chunk bytes in memory
 *  while they total at most mem_budget bytes (0: every byte goes to a file in dir).
 *  @return the store, or NULL with err filled (MRC_EINVAL, MRC_ENOMEM). */
mrc_chunk_store *mrc_chunk_store_open(size_t nsources, uint64_t mem_budget, const char *dir,
                                      mrc_err *err);

/** mrc_chunk_store_test_room() : test hook: writes that would take the store's file past bytes
 *  fail as on a full file system (MRC_EIO naming the dir), so that tests reach that failure on
 *  a file system that has room for everything else. */
void mrc_chunk_store_test_room(mrc_chunk_store *s, uint64_t bytes);

/** mrc_chunk_store_append() : append n bytes to source's byte stream (copied). When they would
 *  take the store past its budget, what it holds is written to one anonymous file in dir
 *  (chunk by chunk, indexed by source, offset and length) and this and every later chunk is
 *  appended there through a MRC_RUN_BUF_DEFAULT buffer. Not after a source was opened.
 *  @return 0, or MRC_EINVAL (a bad source, an append after reading began), MRC_EIO naming the
 *  dir (a full disk), MRC_ENOMEM. */
int mrc_chunk_store_append(mrc_chunk_store *s, size_t source, const void *bytes, size_t n,
                           mrc_err *err);

/** mrc_chunk_store_source() : a stream of the records of source's bytes in the order they were
 *  appended (a record cut across chunks is joined; one cut by the end fails MRC_EINVAL), read
 *  from memory in place or from the file in blocks of buf_size (0: MRC_RUN_BUF_DEFAULT). Any
 *  number of streams may be open at once and read on different threads (open them on one: the
 *  first open writes out the store's buffer); the store must outlive them.
 *  hash is filled in MRC_ORDER_HASH; the order itself is checked by the merge.
 *  @return the stream (its close() frees it), or NULL with err filled. */
mrc_source *mrc_chunk_store_source(mrc_chunk_store *s, size_t source, enum mrc_order order,
                                   size_t buf_size, mrc_err *err);

/** mrc_chunk_store_stats() : memory and spill figures of the store. */
void mrc_chunk_store_stats(const mrc_chunk_store *s, mrc_chunk_stats *out);

/** mrc_chunk_store_close() : free the store and close its file (NULL: nothing). */
void mrc_chunk_store_close(mrc_chunk_store *s);

#endif
