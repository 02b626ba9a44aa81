/* test_table.c - the count table, its serialized form and both merges, each checked against an
 * oracle written here: a sorted array of (key, count) built by a naive sort-and-sum, and a
 * serializer that applies the DESIGN wire format byte by byte. Growth, forced hash collisions,
 * count overflow, the stepwise local merge for any partition count and table order, and the
 * MPI_Reduce merge operator (commutative, associative, never writing past its capacity). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "test_util.h"

#define XXH_INLINE_ALL
#include <xxhash.h>

#include "mrcount/runtime.h"
#include "mrcount/table.h"

__extension__ typedef unsigned __int128 u128; /* GCC and clang: range bounds */

static int okv_u64_cmp(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

/* ---- table helpers ---- */

static void dump_rec(const mrc_rec *r, void *arg)
{
    okvec_push(arg, r->key, r->len, r->count, mrc_hash(r->key, r->len));
}

/* Every record of the table, sorted by key. */
static okvec table_dump(const mrc_table *t)
{
    okvec o = {0};
    mrc_table_each(t, dump_rec, &o);
    if (o.n) qsort(o.v, o.n, sizeof *o.v, okv_key_cmp);
    return o;
}

/* The table holds exactly the oracle's keys and counts (oracle aggregated). */
static void check_table(const mrc_table *t, const okvec *want)
{
    okvec got = table_dump(t);
    assert_int_equal(got.n, want->n);
    assert_int_equal(t->used, want->n);
    for (size_t i = 0; i < want->n; i++) {
        if (okv_key_cmp(&got.v[i], &want->v[i]) != 0)
            fail_msg("key %zu differs (len %u vs %u)", i, got.v[i].len, want->v[i].len);
        if (got.v[i].count != want->v[i].count)
            fail_msg("key %zu (len %u): count %llu, want %llu", i, want->v[i].len,
                     (unsigned long long)got.v[i].count, (unsigned long long)want->v[i].count);
    }
    okvec_free(&got);
}

static void table_init(mrc_table *t, size_t expect)
{
    mrc_err err = {0};
    assert_int_equal(mrc_table_init(t, expect, &err), 0);
}

static void add_ok(mrc_table *t, const void *key, uint32_t len, uint64_t hash, uint64_t count)
{
    mrc_err err = {0};
    int rc = mrc_table_add(t, key, len, hash, count, &err);
    if (rc != 0) fail_msg("mrc_table_add: %d %s", rc, err.msg);
}

static unsigned char *serialize(mrc_table *const *tabs, size_t n, size_t *len)
{
    void *out = NULL;
    mrc_err err = {0};
    int rc = mrc_table_serialize(tabs, n, &out, len, &err);
    if (rc != 0) fail_msg("mrc_table_serialize: %d %s", rc, err.msg);
    assert_non_null(out);
    return out;
}

static void validate_ok(const void *buf, size_t len)
{
    mrc_err err = {0};
    int rc = mrc_ser_validate(buf, len, &err);
    if (rc != 0) fail_msg("mrc_ser_validate: %s", err.msg);
}

/* ---- random keys ---- */

typedef struct keypool {
    unsigned char *bytes; /* key i at bytes + 40 * i */
    uint32_t *len;
    uint64_t *hash;
    size_t n;
} keypool;

/* n random keys of 0..40 bytes, NUL and 0xff frequent, key 0 empty; short keys repeat. */
static keypool pool_make(size_t n, unsigned alphabet)
{
    keypool p;
    p.n = n;
    p.bytes = malloc(n * 40 + 1);
    p.len = malloc(n * sizeof *p.len + 1);
    p.hash = malloc(n * sizeof *p.hash + 1);
    assert_true(p.bytes && p.len && p.hash);
    for (size_t i = 0; i < n; i++) {
        unsigned char *k = p.bytes + 40 * i;
        p.len[i] = i == 0 ? 0 : (uint32_t)rng_below(41);
        for (uint32_t j = 0; j < p.len[i]; j++) {
            size_t c = rng_below(8);
            k[j] = c == 0 ? 0x00 : c == 1 ? 0xff : (unsigned char)rng_below(alphabet);
        }
        p.hash[i] = mrc_hash(k, p.len[i]);
    }
    return p;
}

static void pool_free(keypool *p)
{
    free(p->bytes);
    free(p->len);
    free(p->hash);
}

static const unsigned char *pool_key(const keypool *p, size_t i)
{
    return p->bytes + 40 * i;
}

/* Fill a table and its oracle with `nadds` random adds of pool keys, random counts. */
static void fill_random(mrc_table *t, okvec *o, const keypool *p, size_t nadds, uint64_t maxcount)
{
    for (size_t a = 0; a < nadds; a++) {
        size_t i = rng_below(p->n);
        uint64_t c = 1 + rng_below(maxcount);
        add_ok(t, pool_key(p, i), p->len[i], p->hash[i], c);
        okvec_push(o, pool_key(p, i), p->len[i], c, p->hash[i]);
    }
}

/* ---- the table ---- */

static void test_hash_is_seeded_xxh3(void **state)
{
    (void)state;
    rng_seed(11);
    unsigned char k[64];
    for (size_t len = 0; len <= sizeof k; len++) {
        for (size_t i = 0; i < len; i++)
            k[i] = (unsigned char)rng_next();
        assert_int_equal(mrc_hash(k, len), XXH3_64bits_withSeed(k, len, 0x6d72636f756e7431ULL));
    }
}

static void test_table_growth_random(void **state)
{
    (void)state;
    static const size_t sizes[] = {1, 2, 37, 1000, 50000, 200000};
    for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; s++) {
        rng_seed(1000 + s);
        size_t n = sizes[s];
        keypool p = pool_make(n, s % 2 ? 4 : 256);
        mrc_table t;
        table_init(&t, s == 3 ? n : 0);
        okvec o = {0};
        /* every key once in order (the empty key first), then random repeats */
        for (size_t i = 0; i < n; i++) {
            uint64_t c = 1 + rng_below(1000);
            add_ok(&t, pool_key(&p, i), p.len[i], p.hash[i], c);
            okvec_push(&o, pool_key(&p, i), p.len[i], c, p.hash[i]);
        }
        fill_random(&t, &o, &p, n / 2 + 1, 3);
        okvec_aggregate(&o);
        check_table(&t, &o);
        assert_int_equal(t.total, okvec_total(&o));
        /* the index finds every key: adding 0 creates nothing, adding 1 lands on the record */
        for (size_t i = 0; i < o.n; i++) {
            add_ok(&t, o.v[i].key, o.v[i].len, o.v[i].hash, 0);
            add_ok(&t, o.v[i].key, o.v[i].len, o.v[i].hash, 1);
            o.v[i].count++;
        }
        check_table(&t, &o);
        assert_int_equal(t.total, okvec_total(&o));
        okvec_free(&o);
        mrc_table_free(&t);
        pool_free(&p);
    }
}

/* Keys that differ only at one position or in length, all given the same hash value. */
static void test_table_forced_collisions(void **state)
{
    (void)state;
    rng_seed(7);
    enum { NK = 1000 };
    static unsigned char keys[NK][40];
    static uint32_t lens[NK];
    static uint64_t hashes[NK];
    /* variants of one 33-byte base: each prefix length, then single-byte changes at every
     * position (incl. the 8-byte-step compare tail), with NUL and 0xff */
    unsigned char base[40];
    for (int i = 0; i < 40; i++)
        base[i] = (unsigned char)('a' + i % 26);
    size_t nk = 0;
    for (uint32_t l = 0; l <= 40; l++, nk++) {
        memcpy(keys[nk], base, l);
        lens[nk] = l;
    }
    static const uint32_t sub_lens[] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 12, 15, 16, 17, 24, 25, 33, 40};
    for (size_t li = 0; li < sizeof sub_lens / sizeof sub_lens[0]; li++) {
        uint32_t l = sub_lens[li];
        for (uint32_t pos = 0; pos < l; pos++) {
            static const unsigned char subst[] = {0x00, 0xff, 'A'};
            for (size_t s = 0; s < 3; s++, nk++) {
                memcpy(keys[nk], base, l);
                keys[nk][pos] = subst[s];
                lens[nk] = l;
            }
        }
    }
    assert_true(nk < NK);
    /* three hash groups: identical 64-bit hash; same tag and slot bits; distinct tags that
     * land in the same slot */
    for (size_t i = 0; i < nk; i++) {
        switch (i % 3) {
        case 0:
            hashes[i] = 0x1234567800000042ull;
            break;
        case 1:
            hashes[i] = 0x1234567800000042ull + ((uint64_t)1 << 20);
            break;
        default:
            hashes[i] = ((uint64_t)(i + 1) << 32) | 0x42u;
            break;
        }
    }
    mrc_table t;
    table_init(&t, 0);
    okvec o = {0};
    for (int round = 0; round < 3; round++)
        for (size_t i = 0; i < nk; i++) {
            uint64_t c = 1 + rng_below(5);
            add_ok(&t, keys[i], lens[i], hashes[i], c);
            okvec_push(&o, keys[i], lens[i], c, hashes[i]);
        }
    /* grow the index past its first size while the collided keys are in it */
    keypool p = pool_make(60000, 256);
    for (size_t i = 0; i < p.n; i++) {
        int crafted = 0; /* the same bytes as a crafted key would need the crafted hash */
        for (size_t j = 0; j < nk && !crafted; j++)
            crafted = lens[j] == p.len[i] && memcmp(keys[j], pool_key(&p, i), lens[j]) == 0;
        if (crafted) continue;
        add_ok(&t, pool_key(&p, i), p.len[i], p.hash[i], 1);
        okvec_push(&o, pool_key(&p, i), p.len[i], 1, p.hash[i]);
    }
    for (size_t i = 0; i < nk; i++) {
        add_ok(&t, keys[i], lens[i], hashes[i], 2);
        okvec_push(&o, keys[i], lens[i], 2, hashes[i]);
    }
    okvec_aggregate(&o);
    check_table(&t, &o);
    assert_int_equal(t.total, okvec_total(&o));
    okvec_free(&o);
    mrc_table_free(&t);
    pool_free(&p);
}

/* Keys given crafted hashes that pile up where an in-place doubling is delicate: a run of
 * thousands from slot 0 (their new places do not move up: the prefix set aside), a long run in
 * the middle, and a run at the last home that lives in the slack; random keys around them grow
 * the index from 64 Ki to 512 Ki slots, the crafted ones added before, between and after. */
static void test_table_growth_clustered(void **state)
{
    (void)state;
    rng_seed(11);
    enum { LOW = 3000, MID = 2000, HIGH = 100 };
    static unsigned char keys[LOW + MID + HIGH][16];
    static uint32_t lens[LOW + MID + HIGH];
    static uint64_t hashes[LOW + MID + HIGH];
    size_t nk = 0;
    for (size_t i = 0; i < LOW + MID + HIGH; i++, nk++) {
        lens[i] = (uint32_t)snprintf((char *)keys[i], sizeof keys[i], "\x01crafted%zu", i);
        uint64_t tag = i < LOW         ? i
                       : i < LOW + MID ? 0x80000000u + (i - LOW) / 3
                                       : 0xffffffffu - (i - LOW - MID);
        hashes[i] = tag << 32 | (i & 0xffffffffu);
    }
    keypool p = pool_make(250000, 12);
    mrc_table t;
    table_init(&t, 0);
    okvec o = {0};
    for (size_t round = 0; round < 4; round++) {
        for (size_t i = round; i < nk; i += 2) { /* half of them, then the other half, twice */
            uint64_t c = 1 + rng_below(3);
            add_ok(&t, keys[i], lens[i], hashes[i], c);
            okvec_push(&o, keys[i], lens[i], c, hashes[i]);
        }
        for (size_t i = round * p.n / 4; i < (round + 1) * p.n / 4; i++) {
            add_ok(&t, pool_key(&p, i), p.len[i], p.hash[i], 1);
            okvec_push(&o, pool_key(&p, i), p.len[i], 1, p.hash[i]);
        }
    }
    assert_true(t.nslots >= (size_t)1 << 19);
    okvec_aggregate(&o);
    check_table(&t, &o);
    /* every key is found where the sorted runs say: adding 0 creates nothing */
    for (size_t i = 0; i < o.n; i++)
        add_ok(&t, o.v[i].key, o.v[i].len, o.v[i].hash, 0);
    assert_int_equal(t.used, o.n);
    /* and the runs are in tag order, none past the slack */
    uint64_t last = 0;
    for (size_t i = 0; i < t.nslots + MRC_TABLE_SLACK; i++)
        if (t.slots[i] != 0) {
            assert_true((t.slots[i] >> 32) >= last);
            assert_true((size_t)((t.slots[i] >> 32 << 32) >> t.shift) <= i);
            last = t.slots[i] >> 32;
        }
    okvec_free(&o);
    mrc_table_free(&t);
    pool_free(&p);
}

static uint64_t count_of(const mrc_table *t, const void *key, uint32_t len)
{
    okvec o = table_dump(t);
    uint64_t c = 0;
    int found = 0;
    for (size_t i = 0; i < o.n; i++)
        if (bytes_cmp(o.v[i].key, o.v[i].len, key, len) == 0) {
            c = o.v[i].count;
            found++;
        }
    okvec_free(&o);
    assert_int_equal(found, 1);
    return c;
}

static void test_table_count_overflow(void **state)
{
    (void)state;
    mrc_table t;
    table_init(&t, 0);
    const char *k = "overflowing";
    uint32_t kl = (uint32_t)strlen(k);
    uint64_t h = mrc_hash(k, kl);
    add_ok(&t, k, kl, h, UINT64_MAX - 1);
    add_ok(&t, "other", 5, mrc_hash("other", 5), 3);
    mrc_err err = {0};
    assert_int_equal(mrc_table_add(&t, k, kl, h, 2, &err), MRC_EOVERFLOW);
    assert_int_equal(err.code, MRC_EOVERFLOW);
    assert_true(err.msg[0] != '\0');
    /* valid afterwards: no wrap, nothing new, the key still found and usable */
    assert_int_equal(t.used, 2);
    assert_int_equal(count_of(&t, k, kl), UINT64_MAX - 1);
    add_ok(&t, k, kl, h, 1);
    assert_int_equal(count_of(&t, k, kl), UINT64_MAX);
    memset(&err, 0, sizeof err);
    assert_int_equal(mrc_table_add(&t, k, kl, h, 1, &err), MRC_EOVERFLOW);
    assert_int_equal(count_of(&t, k, kl), UINT64_MAX);
    add_ok(&t, "other", 5, mrc_hash("other", 5), 4);
    assert_int_equal(count_of(&t, "other", 5), 7);
    assert_int_equal(t.used, 2);
    mrc_table_free(&t);
}

/* Two keys sharing a hash: reaching exactly UINT64_MAX is no overflow and leaves the other alone.
 */
static void test_table_overflow_same_hash_other_key(void **state)
{
    (void)state;
    mrc_table t;
    table_init(&t, 0);
    /* two keys sharing a hash: overflow of one must not touch the other */
    add_ok(&t, "a", 1, 99, UINT64_MAX);
    add_ok(&t, "b", 1, 99, 5);
    mrc_err err = {0};
    assert_int_equal(mrc_table_add(&t, "b", 1, 99, UINT64_MAX - 5, &err), 0);
    assert_int_equal(count_of(&t, "b", 1), UINT64_MAX);
    assert_int_equal(count_of(&t, "a", 1), UINT64_MAX);
    assert_int_equal(t.used, 2);
    mrc_table_free(&t);
}

/* ---- serialization ---- */

/* Decode a serialized buffer with mrc_ser_next into a vector (keys point into buf). */
static okvec decode_all(const unsigned char *buf, size_t len, mrc_ser_header *h)
{
    mrc_ser_read_header(buf, h);
    assert_true(len >= MRC_SER_HEADER);
    assert_int_equal(h->payload, len - MRC_SER_HEADER);
    okvec o = {0};
    size_t pos = 0;
    mrc_ser_rec r;
    int rc;
    while ((rc = mrc_ser_next(buf + MRC_SER_HEADER, h->payload, &pos, &r)) == 1)
        okvec_push(&o, r.key, r.len, r.count, mrc_hash(r.key, r.len));
    assert_int_equal(rc, 0);
    assert_int_equal(pos, h->payload);
    return o;
}

static void test_serialize_round_trip(void **state)
{
    (void)state;
    for (size_t ntab = 0; ntab <= 4; ntab++) {
        for (int rep = 0; rep < 3; rep++) {
            rng_seed(500 + ntab * 10 + (uint64_t)rep);
            keypool p = pool_make(rep == 0 ? 50 : 3000, rep == 1 ? 3 : 256);
            mrc_table tabs[4];
            mrc_table *tp[4];
            okvec o = {0};
            for (size_t i = 0; i < ntab; i++) {
                table_init(&tabs[i], 0);
                tp[i] = &tabs[i];
                fill_random(&tabs[i], &o, &p, i == 1 && rep == 2 ? 0 : rng_below(4000), 100);
            }
            okvec_aggregate(&o);
            size_t len;
            unsigned char *ser = serialize(tp, ntab, &len);
            validate_ok(ser, len);
            size_t olen;
            unsigned char *want = oracle_serialize(&o, okvec_total(&o), 0, &olen);
            assert_bytes_equal(ser, len, want, olen);

            mrc_ser_header h;
            okvec got = decode_all(ser, len, &h);
            assert_int_equal(h.magic, MRC_SER_MAGIC);
            assert_int_equal(h.version, MRC_SER_VERSION);
            assert_int_equal(h.records, o.n);
            assert_int_equal(h.flags, 0);
            assert_int_equal(h.total, okvec_total(&o));
            assert_int_equal(got.n, o.n);
            for (size_t i = 1; i < got.n; i++)
                assert_true(okv_ser_cmp(&got.v[i - 1], &got.v[i]) < 0);
            if (got.n) qsort(got.v, got.n, sizeof *got.v, okv_key_cmp);
            for (size_t i = 0; i < got.n; i++) {
                assert_int_equal(okv_key_cmp(&got.v[i], &o.v[i]), 0);
                assert_int_equal(got.v[i].count, o.v[i].count);
            }
            okvec_free(&got);
            free(want);
            free(ser);
            okvec_free(&o);
            for (size_t i = 0; i < ntab; i++)
                mrc_table_free(&tabs[i]);
            pool_free(&p);
        }
    }
}

/* Keys that are prefixes of one another, NUL and 0xff bytes, the empty key, the same keys in
 * several tables: combined across tables, in (hash, key) order. (Two keys never share a 64-bit
 * hash in practice; equal tags, the index's only ties, are test_table_equal_tags'.) */
static void test_serialize_same_keys_across_tables(void **state)
{
    (void)state;
    mrc_table a, b, c;
    table_init(&a, 0);
    table_init(&b, 0);
    table_init(&c, 0);
    static const struct {
        int table;
        const char *k;
        uint32_t len;
        uint64_t count;
    } adds[] = {{0, "b", 1, 1},    {0, "ab", 2, 2},  {0, "", 0, 3},
                {1, "abc", 3, 4},  {1, "a", 1, 5},   {1, "ab", 2, 6},
                {2, "\xff", 1, 7}, {2, "a\0", 2, 8}, {2, "zz", 2, 9}};
    mrc_table *t[3] = {&a, &b, &c};
    okvec o = {0};
    for (size_t i = 0; i < sizeof adds / sizeof *adds; i++) {
        uint64_t h = mrc_hash(adds[i].k, adds[i].len);
        add_ok(t[adds[i].table], adds[i].k, adds[i].len, h, adds[i].count);
        okvec_push(&o, (const unsigned char *)adds[i].k, adds[i].len, adds[i].count, h);
    }
    okvec_aggregate(&o);
    assert_int_equal(o.n, 8); /* "ab" is in two tables */
    size_t wlen, len;
    unsigned char *want = oracle_serialize(&o, okvec_total(&o), 0, &wlen);
    unsigned char *ser = serialize(t, 3, &len);
    assert_bytes_equal(ser, len, want, wlen);
    mrc_ser_header h;
    mrc_ser_read_header(ser, &h);
    assert_int_equal(h.records, 8);
    assert_int_equal(h.total, 45);
    free(ser);
    free(want);
    okvec_free(&o);
    mrc_table_free(&a);
    mrc_table_free(&b);
    mrc_table_free(&c);
}

static void test_serialize_sum_overflow(void **state)
{
    (void)state;
    mrc_table a, b;
    table_init(&a, 0);
    table_init(&b, 0);
    add_ok(&a, "k", 1, mrc_hash("k", 1), UINT64_MAX);
    add_ok(&b, "k", 1, mrc_hash("k", 1), 1);
    mrc_table *tp[2] = {&a, &b};
    void *out = (void *)1;
    size_t len = 1;
    mrc_err err = {0};
    assert_int_equal(mrc_table_serialize(tp, 2, &out, &len, &err), MRC_EOVERFLOW);
    assert_int_equal(err.code, MRC_EOVERFLOW);
    assert_null(out);
    mrc_table_free(&a);
    mrc_table_free(&b);
}

/* ---- frozen tables: walks over hash ranges and the parallel merge ---- */

typedef struct walk_buf {
    unsigned char *buf;
    size_t len, cap;
    uint64_t records, total, last_hash;
    bool any;
} walk_buf;

/* A walk callback that appends wire records and checks the walk's hash order. */
static int walk_put(void *arg, mrc_rec *rec, uint64_t count, mrc_err *err)
{
    (void)err;
    walk_buf *w = arg;
    uint64_t hash = mrc_hash(rec->key, rec->len);
    if (w->any) assert_true(hash >= w->last_hash);
    w->any = true;
    w->last_hash = hash;
    size_t need = 12 + (size_t)rec->len;
    if (w->cap - w->len < need) {
        w->cap = (w->cap + need) * 2;
        w->buf = realloc(w->buf, w->cap);
        assert_non_null(w->buf);
    }
    put_le(w->buf + w->len, count, 8);
    put_le(w->buf + w->len + 8, rec->len, 4);
    memcpy(w->buf + w->len + 12, rec->key, rec->len);
    w->len += need;
    w->records++;
    w->total += count;
    return 0;
}

/* The tables walked over `nranges` consecutive hash ranges, as one serialized table. */
static unsigned char *walk_in_ranges(mrc_table *const *tabs, size_t nt, size_t nranges, size_t *len,
                                     uint64_t *distinct)
{
    walk_buf w = {.buf = malloc(MRC_SER_HEADER), .len = MRC_SER_HEADER, .cap = MRC_SER_HEADER};
    assert_non_null(w.buf);
    mrc_err err = {0};
    for (size_t r = 0; r < nranges; r++) {
        uint64_t lo = (uint64_t)(((u128)r << 64) / nranges);
        uint64_t hi =
            r + 1 == nranges ? UINT64_MAX : (uint64_t)(((u128)(r + 1) << 64) / nranges) - 1;
        assert_int_equal(mrc_table_walk(tabs, nt, lo, hi, walk_put, &w, &err), 0);
    }
    unsigned char head[MRC_SER_HEADER];
    mrc_ser_header h = {MRC_SER_MAGIC, MRC_SER_VERSION, w.records, w.len - MRC_SER_HEADER, 0,
                        w.total};
    mrc_ser_write_header(head, &h);
    memcpy(w.buf, head, MRC_SER_HEADER);
    *len = w.len;
    *distinct = w.records;
    return w.buf;
}

/* ---- the ties walk: keys several tables share ---- */

typedef struct ties_seen {
    mrc_table *const *tabs;
    uint64_t **dropped; /* per table: a bit per 8 arena bytes */
    size_t drops;
} ties_seen;

static void ties_drop(void *arg, size_t t, mrc_rec *rec)
{
    ties_seen *s = arg;
    size_t bit = (size_t)((const unsigned char *)rec - s->tabs[t]->arena) / 8;
    uint64_t m = (uint64_t)1 << (bit % 64);
    assert_false(s->dropped[t][bit / 64] & m); /* a record dropped twice */
    s->dropped[t][bit / 64] |= m;
    s->drops++;
}

typedef struct ties_check {
    const uint64_t *dropped;
    const unsigned char *arena;
    uint64_t *kept; /* per key: the count of its record not dropped (0: none yet) */
    size_t nkeys;
} ties_check;

static void ties_kept(const mrc_rec *r, void *arg)
{
    ties_check *c = arg;
    size_t bit = (size_t)((const unsigned char *)r - c->arena) / 8;
    if (c->dropped[bit / 64] >> (bit % 64) & 1) return;
    char key[16];
    assert_true(r->len > 1 && r->len < sizeof key);
    memcpy(key, r->key, r->len);
    key[r->len] = 0;
    size_t k = (size_t)strtoul(key + 1, NULL, 10);
    assert_true(k < c->nkeys);
    assert_int_equal(c->kept[k], 0); /* a key kept in two tables */
    c->kept[k] = r->count;
}

/* A key's crafted hash: 16 tags spread over the hash space, so that distinct keys share tags
 * within and across tables (the walk then compares full hashes and keys). */
static uint64_t ties_hash(const char *key, size_t len)
{
    uint64_t h = mrc_hash(key, len);
    return ((h % 16) << 60) | (h & 0xffffffffu);
}

/* Every key ends with exactly one record not dropped, holding its total; every other record of
 * it is dropped once; the walk over 1, 3 or 16 hash ranges, with 2, 3 or 9 tables. */
static void test_table_walk_ties(void **state)
{
    (void)state;
    enum { NKEYS = 2000 };
    static const size_t ntabs[] = {2, 3, 9};
    static const size_t ranges[] = {1, 3, 16};
    for (size_t nt = 0; nt < sizeof ntabs / sizeof ntabs[0]; nt++)
        for (size_t rg = 0; rg < sizeof ranges / sizeof ranges[0]; rg++)
            for (int crafted = 0; crafted < 2; crafted++) {
                rng_seed(1300 + nt * 10 + rg * 2 + (size_t)crafted);
                size_t T = ntabs[nt];
                mrc_table tabs[9], *tp[9];
                static uint64_t want[NKEYS], kept[NKEYS];
                memset(want, 0, sizeof want);
                memset(kept, 0, sizeof kept);
                size_t records = 0;
                for (size_t t = 0; t < T; t++) {
                    table_init(&tabs[t], 0);
                    tp[t] = &tabs[t];
                    for (size_t a = 0, na = rng_below(3000); a < na; a++) {
                        char key[16];
                        size_t k = rng_below(NKEYS);
                        uint64_t c = 1 + rng_below(9);
                        int kl = snprintf(key, sizeof key, "k%zu", k);
                        uint64_t h =
                            crafted ? ties_hash(key, (size_t)kl) : mrc_hash(key, (size_t)kl);
                        size_t before = tabs[t].used;
                        add_ok(&tabs[t], key, (uint32_t)kl, h, c);
                        records += tabs[t].used - before;
                        want[k] += c;
                    }
                    mrc_table_freeze(&tabs[t]);
                }
                size_t distinct = 0;
                for (size_t k = 0; k < NKEYS; k++)
                    distinct += want[k] != 0;
                uint64_t *dropped[9];
                for (size_t t = 0; t < T; t++) {
                    dropped[t] = calloc(tabs[t].arena_len / 8 / 64 + 1, sizeof *dropped[t]);
                    assert_non_null(dropped[t]);
                }
                ties_seen s = {tp, dropped, 0};
                mrc_err err = {0};
                size_t nr = ranges[rg];
                for (size_t r = 0; r < nr; r++) {
                    uint64_t lo = (uint64_t)(((u128)r << 64) / nr);
                    uint64_t hi =
                        r + 1 == nr ? UINT64_MAX : (uint64_t)(((u128)(r + 1) << 64) / nr) - 1;
                    assert_int_equal(mrc_table_walk_ties(tp, T, lo, hi, ties_drop, &s, &err), 0);
                }
                assert_int_equal(s.drops, records - distinct);
                for (size_t t = 0; t < T; t++) {
                    ties_check c = {dropped[t], tabs[t].arena, kept, NKEYS};
                    mrc_table_each(&tabs[t], ties_kept, &c);
                    free(dropped[t]);
                    mrc_table_free(&tabs[t]);
                }
                for (size_t k = 0; k < NKEYS; k++)
                    if (kept[k] != want[k])
                        fail_msg("key k%zu: kept count %llu, want %llu", k,
                                 (unsigned long long)kept[k], (unsigned long long)want[k]);
            }
}

static void ties_drop_none(void *arg, size_t t, mrc_rec *rec)
{
    (void)t;
    (void)rec;
    ++*(size_t *)arg;
}

/* A shared key whose total passes 2^64-1: MRC_EOVERFLOW naming it, from the ties walk too. */
static void test_table_walk_ties_overflow(void **state)
{
    (void)state;
    mrc_table a, b, c;
    table_init(&a, 0);
    table_init(&b, 0);
    table_init(&c, 0);
    add_ok(&a, "k", 1, mrc_hash("k", 1), UINT64_MAX - 1);
    add_ok(&b, "k", 1, mrc_hash("k", 1), 1);
    add_ok(&c, "k", 1, mrc_hash("k", 1), 1);
    mrc_table *tp[3] = {&a, &b, &c};
    for (int i = 0; i < 3; i++)
        mrc_table_freeze(tp[i]);
    size_t drops = 0;
    mrc_err err = {0};
    assert_int_equal(mrc_table_walk_ties(tp, 2, 0, UINT64_MAX, ties_drop_none, &drops, &err), 0);
    assert_int_equal(drops, 1); /* UINT64_MAX - 1 + 1 fits */
    assert_int_equal(mrc_table_walk_ties(tp, 3, 0, UINT64_MAX, ties_drop_none, &drops, &err),
                     MRC_EOVERFLOW);
    assert_int_equal(err.code, MRC_EOVERFLOW);
    assert_non_null(strstr(err.msg, "'k'"));
    for (int i = 0; i < 3; i++)
        mrc_table_free(tp[i]);
}

static void test_table_walk_ranges(void **state)
{
    (void)state;
    static const size_t ranges[] = {1, 2, 7, 64};
    static const int perms[6][3] = {{0, 1, 2}, {0, 2, 1}, {1, 0, 2},
                                    {1, 2, 0}, {2, 0, 1}, {2, 1, 0}};
    for (int rep = 0; rep < 4; rep++) {
        rng_seed(900 + (uint64_t)rep);
        keypool p = pool_make(rep == 3 ? 20 : 5000, rep == 1 ? 4 : 256);
        mrc_table tabs[3];
        okvec o = {0};
        for (int i = 0; i < 3; i++) {
            table_init(&tabs[i], 0);
            /* rep 2: one table empty */
            fill_random(&tabs[i], &o, &p, rep == 2 && i == 1 ? 0 : 1 + rng_below(6000), 1000);
        }
        okvec_aggregate(&o);
        size_t wlen;
        unsigned char *want = oracle_serialize(&o, okvec_total(&o), 0, &wlen);
        for (int q = 0; q < 6; q++) {
            mrc_table *tp[3] = {&tabs[perms[q][0]], &tabs[perms[q][1]], &tabs[perms[q][2]]};
            size_t slen;
            unsigned char *ser = serialize(tp, 3, &slen); /* freezes them */
            assert_bytes_equal(ser, slen, want, wlen);
            for (size_t k = 0; k < sizeof ranges / sizeof ranges[0]; k++) {
                size_t len;
                uint64_t distinct;
                unsigned char *got = walk_in_ranges(tp, 3, ranges[k], &len, &distinct);
                assert_bytes_equal(got, len, want, wlen);
                assert_int_equal(distinct, o.n);
                free(got);
            }
            free(ser);
        }
        free(want);
        okvec_free(&o);
        for (int i = 0; i < 3; i++)
            mrc_table_free(&tabs[i]);
        pool_free(&p);
    }
}

/* Keys whose hashes share their top 32 bits (the slot's tag): found by a birthday search over
 * "t<n>" keys, put in several tables with other keys; frozen order and merges must order them by
 * full hash, then key. */
static void test_table_equal_tags(void **state)
{
    (void)state;
    enum { N = 1 << 20 };
    uint64_t *tags = malloc(N * sizeof *tags);
    assert_non_null(tags);
    char key[16];
    for (uint32_t i = 0; i < N; i++) {
        int len = snprintf(key, sizeof key, "t%u", i);
        tags[i] = mrc_hash(key, (size_t)len) >> 32 << 32 | i; /* tag, then which key */
    }
    qsort(tags, N, sizeof *tags, okv_u64_cmp);
    size_t pairs = 0;
    mrc_table tabs[3];
    for (int i = 0; i < 3; i++)
        table_init(&tabs[i], 0);
    okvec o = {0};
    static char keys[4096][16];
    size_t nk = 0;
    for (size_t i = 1; i < N && nk + 2 <= 4096; i++) {
        if (tags[i] >> 32 != tags[i - 1] >> 32) continue;
        pairs++;
        for (int d = 1; d >= 0; d--) { /* both keys of the pair, in every table but one */
            uint32_t id = (uint32_t)(tags[i - (size_t)d] & 0xffffffffu);
            int len = snprintf(keys[nk], sizeof keys[nk], "t%u", id);
            for (int t = 0; t < 3; t++) {
                if ((size_t)t == (pairs + (size_t)d) % 3) continue;
                add_ok(&tabs[t], keys[nk], (uint32_t)len, mrc_hash(keys[nk], (size_t)len), 1);
                okvec_push(&o, (const unsigned char *)keys[nk], (uint32_t)len, 1,
                           mrc_hash(keys[nk], (size_t)len));
            }
            nk++;
        }
    }
    free(tags);
    assert_true(pairs >= 20); /* ~128 expected */
    rng_seed(77);
    keypool p = pool_make(3000, 256);
    for (int t = 0; t < 3; t++)
        fill_random(&tabs[t], &o, &p, 2000, 50);
    okvec_aggregate(&o);
    size_t wlen, slen, glen;
    uint64_t distinct;
    unsigned char *want = oracle_serialize(&o, okvec_total(&o), 0, &wlen);
    mrc_table *tp[3] = {&tabs[0], &tabs[1], &tabs[2]};
    unsigned char *ser = serialize(tp, 3, &slen);
    assert_bytes_equal(ser, slen, want, wlen);
    unsigned char *got = walk_in_ranges(tp, 3, 13, &glen, &distinct);
    assert_bytes_equal(got, glen, want, wlen);
    free(got);
    free(ser);
    free(want);
    okvec_free(&o);
    pool_free(&p);
    for (int i = 0; i < 3; i++)
        mrc_table_free(&tabs[i]);
}

static void test_table_walk_overflow(void **state)
{
    (void)state;
    mrc_table a, b;
    table_init(&a, 0);
    table_init(&b, 0);
    add_ok(&a, "x", 1, mrc_hash("x", 1), UINT64_MAX - 3);
    add_ok(&b, "x", 1, mrc_hash("x", 1), 4);
    mrc_table_freeze(&a);
    mrc_table_freeze(&b);
    mrc_table *tp[2] = {&a, &b};
    mrc_err err = {0};
    walk_buf w = {0};
    int bad = 0;
    for (size_t r = 0; r < 7; r++) {
        uint64_t lo = (uint64_t)(((u128)r << 64) / 7);
        uint64_t hi = r == 6 ? UINT64_MAX : (uint64_t)(((u128)(r + 1) << 64) / 7) - 1;
        if (mrc_table_walk(tp, 2, lo, hi, walk_put, &w, &err) == MRC_EOVERFLOW) bad++;
    }
    assert_int_equal(bad, 1);
    assert_int_equal(err.code, MRC_EOVERFLOW);
    assert_non_null(strstr(err.msg, "'x'"));
    free(w.buf);
    mrc_table_free(&a);
    mrc_table_free(&b);
}

/* mrc_table_merge_parallel() on 1 to 4 threads gives the serialized table of the oracle. */
static void test_table_merge_parallel(void **state)
{
    (void)state;
    mrc_err err = {0};
    mrc_topo *topo = mrc_topo_open(NULL, &err);
    assert_non_null(topo);
    rng_seed(4242);
    keypool p = pool_make(20000, 256);
    for (size_t nt = 1; nt <= 4; nt++) {
        mrc_placement pl;
        assert_int_equal(mrc_placement_plan(topo, NULL, 0, 1, nt, &pl, &err), 0);
        mrc_table *tabs = calloc(nt, sizeof *tabs);
        mrc_table **tp = calloc(nt, sizeof *tp);
        okvec o = {0};
        for (size_t i = 0; i < nt; i++) {
            table_init(&tabs[i], 0);
            tp[i] = &tabs[i];
            fill_random(&tabs[i], &o, &p, 5000 + rng_below(20000), 100);
        }
        okvec_aggregate(&o);
        size_t wlen;
        unsigned char *want = oracle_serialize(&o, okvec_total(&o), 0, &wlen);
        mrc_merge_input in = {.tables = tp, .ntables = nt};
        void *out = NULL;
        size_t len = 0;
        uint64_t distinct = 0;
        assert_int_equal(mrc_table_merge_parallel(&in, topo, &pl, &out, &len, &distinct, &err), 0);
        assert_bytes_equal(out, len, want, wlen);
        assert_int_equal(distinct, o.n);
        free(out);
        free(want);
        okvec_free(&o);
        for (size_t i = 0; i < nt; i++)
            mrc_table_free(&tabs[i]);
        free(tabs);
        free(tp);
        mrc_placement_free(&pl);
    }
    pool_free(&p);
    mrc_topo_close(topo);
}

/* ---- the memory bound: spills through the full() hook ---- */

typedef struct spill_log {
    okvec got;       /* every record drained, in order */
    size_t spills;   /* full() calls */
    size_t max_seen; /* the largest table seen at a spill */
    uint64_t last_hash;
    bool sorted;          /* each drain came in hash order */
    unsigned char **keys; /* the copies of the drained keys (aggregating drops some from got) */
    size_t nkeys, capkeys;
} spill_log;

static int spill_collect(void *arg, const mrc_rec_view *r, mrc_err *err)
{
    (void)err;
    spill_log *l = arg;
    if (l->got.n > 0 && r->hash < l->last_hash) l->sorted = false;
    l->last_hash = r->hash;
    unsigned char *k = malloc(r->len + 1);
    assert_non_null(k);
    memcpy(k, r->key, r->len);
    if (l->nkeys == l->capkeys) {
        l->capkeys = l->capkeys ? 2 * l->capkeys : 1024;
        l->keys = realloc(l->keys, l->capkeys * sizeof *l->keys);
        assert_non_null(l->keys);
    }
    l->keys[l->nkeys++] = k;
    okvec_push(&l->got, k, r->len, r->count, r->hash);
    return 0;
}

static int spill_hook(void *arg, mrc_table *t, mrc_err *err)
{
    spill_log *l = arg;
    l->spills++;
    size_t b = mrc_table_bytes(t);
    if (b > l->max_seen) l->max_seen = b;
    l->last_hash = 0;
    uint64_t before = l->got.n;
    int rc = mrc_table_drain(t, spill_collect, l, err);
    assert_int_equal(l->got.n - before, t->used);
    mrc_table_clear(t);
    return rc;
}

/* What the spills drained plus what is left in t (drained now) equals the oracle o (aggregated
 * here), key by key. */
static void expect_spilled_plus_left(spill_log *l, mrc_table *t, okvec *o)
{
    l->last_hash = 0;
    assert_int_equal(mrc_table_drain(t, spill_collect, l, &(mrc_err){0}), 0);
    okvec_aggregate(o);
    okvec_aggregate(&l->got);
    assert_int_equal(l->got.n, o->n);
    for (size_t i = 0; i < o->n; i++) {
        assert_int_equal(okv_key_cmp(&l->got.v[i], &o->v[i]), 0);
        assert_int_equal(l->got.v[i].count, o->v[i].count);
    }
}

static void spill_log_free(spill_log *l)
{
    for (size_t i = 0; i < l->nkeys; i++)
        free(l->keys[i]);
    free(l->keys);
    okvec_free(&l->got);
}

/* Past max_bytes the table calls full() (which drains it in hash order and clears it) instead
 * of growing; what was drained plus what is left is exactly what was added, and the table never
 * held more than its bound. */
static void test_table_spills_at_its_bound(void **state)
{
    (void)state;
    rng_seed(555);
    keypool p = pool_make(60000, 256);
    mrc_table t;
    table_init(&t, 0);
    spill_log l = {.sorted = true};
    t.max_bytes = (size_t)2 << 20;
    t.full = spill_hook;
    t.full_arg = &l;
    okvec o = {0};
    fill_random(&t, &o, &p, 300000, 7);
    assert_true(l.spills >= 3);
    assert_true(l.sorted);
    assert_true(l.max_seen <= t.max_bytes);
    expect_spilled_plus_left(&l, &t, &o);
    /* an empty table does not spill, even past its bound: one more key always goes in */
    mrc_table_clear(&t);
    t.max_bytes = 1;
    size_t before = l.spills;
    add_ok(&t, "x", 1, mrc_hash("x", 1), 1);
    assert_int_equal(l.spills, before);
    spill_log_free(&l);
    okvec_free(&o);
    mrc_table_free(&t);
    pool_free(&p);
}

/* ---- the hot front ---- */

/* Pool keys mostly of 0..16 bytes (the front's), every fifth 17..40; n of them. */
static keypool pool_short(size_t n)
{
    keypool p = pool_make(n, 256);
    for (size_t i = 0; i < n; i++) {
        p.len[i] = i % 5 == 0 ? 17 + (uint32_t)rng_below(24) : (uint32_t)rng_below(17);
        p.hash[i] = mrc_hash(pool_key(&p, i), p.len[i]);
    }
    return p;
}

/* What the words consumer does for a token: the front, else the table; the front chosen as the
 * total grows. @return whether the front counted it. */
static bool count_token(mrc_table *t, const keypool *p, size_t i)
{
    if (t->hot != NULL && mrc_table_hot_add(t, pool_key(p, i), p->len[i], p->hash[i])) return true;
    add_ok(t, pool_key(p, i), p->len[i], p->hash[i], 1);
    if (t->total >= t->hot_next) mrc_table_hot_choose(t);
    return false;
}

/* The oracle: counts[i] tokens of pool key i (pool keys may repeat: aggregated by key). */
static okvec counts_oracle(const keypool *p, const uint64_t *counts)
{
    okvec o = {0};
    for (size_t i = 0; i < p->n; i++)
        if (counts[i] > 0) okvec_push(&o, pool_key(p, i), p->len[i], counts[i], p->hash[i]);
    okvec_aggregate(&o);
    return o;
}

/* A hot front test's setup: seeded, a pool of n short keys, its zeroed token counts, an empty
 * table. */
typedef struct hot_case {
    keypool p;
    uint64_t *counts;
    mrc_table t;
} hot_case;

static void hot_case_init(hot_case *h, uint64_t seed, size_t n)
{
    rng_seed(seed);
    h->p = pool_short(n);
    h->counts = calloc(n, sizeof *h->counts);
    assert_non_null(h->counts);
    table_init(&h->t, 0);
}

static void hot_case_free(hot_case *h)
{
    mrc_table_free(&h->t);
    free(h->counts);
    pool_free(&h->p);
}

/* pct% of the tokens from the pool's first `hot` keys, the rest from all of it. */
static size_t draw_token(const keypool *p, size_t hot, unsigned pct)
{
    return rng_below(100) < pct ? rng_below(hot) : rng_below(p->n);
}

/* Tokens counted through the front land in their records when settled: the table's counts
 * equal the oracle's after a settle in the middle of the stream (the front kept, its deltas
 * zeroed) and after more tokens and a freeze; keys of 16 bytes are in the front, longer ones
 * never; the front counted most tokens. */
static void test_hot_front_counts(void **state)
{
    (void)state;
    hot_case h;
    hot_case_init(&h, 4242, 100000);
    size_t hits = 0, tokens = 0, long_hits = 0, hits16 = 0;
    for (int half = 0; half < 2; half++) {
        for (size_t k = 0; k < 1000000; k++, tokens++) {
            size_t i = draw_token(&h.p, 8000, 70);
            h.counts[i]++;
            if (count_token(&h.t, &h.p, i)) {
                hits++;
                if (h.p.len[i] > MRC_HOT_KEY) long_hits++;
                if (h.p.len[i] == MRC_HOT_KEY) hits16++;
            }
        }
        assert_non_null(h.t.hot);
        okvec o = counts_oracle(&h.p, h.counts);
        if (half == 0) {
            mrc_table_settle(&h.t);
            for (size_t e = 0; e < 2 * (h.t.hot_mask + 1); e++)
                assert_int_equal(h.t.hot[e].delta, 0);
        } else {
            mrc_table_freeze(&h.t);
            assert_null(h.t.hot);
        }
        check_table(&h.t, &o);
        assert_int_equal(h.t.total, tokens);
        okvec_free(&o);
    }
    assert_int_equal(long_hits, 0);
    assert_true(hits16 > 0);
    assert_true(hits > tokens / 2);
    hot_case_free(&h);
}

/* The entry of the front that holds key (NULL: none). */
static const mrc_hot_entry *front_entry(const mrc_table *t, const okv *k)
{
    const mrc_hot_entry *b = mrc_table_hot_bucket(t, k->hash);
    for (int i = 0; i < 2; i++)
        if (b[i].len == k->len && memcmp(b[i].key, k->key, k->len) == 0) return &b[i];
    return NULL;
}

/* A choice over more short keys than the front takes keeps the most frequent: right after it
 * (the counts settled), a short key left out counts less than 5/4 of the least in the front
 * (the choice takes whole bins of the counts, a bin's within a quarter of one another, and the
 * first found of the last bin), or lost its bucket to two keys at least as frequent; no long
 * key is in; the front is nearly full. */
static void test_hot_front_choice(void **state)
{
    (void)state;
    hot_case h;
    hot_case_init(&h, 99, 400000);
    for (size_t k = 0; k < 4000000; k++) { /* half uniform, half a Zipf-like head */
        size_t i =
            k % 2 ? rng_below(400000) : (size_t)(400000.0 / (1.0 + (double)rng_below(400000))) - 1;
        h.counts[i]++;
        count_token(&h.t, &h.p, i);
    }
    h.t.hot_next = h.t.total; /* choose now, over every key */
    h.t.hot_last = 0;
    mrc_table_hot_choose(&h.t);
    assert_non_null(h.t.hot);
    okvec o = counts_oracle(&h.p, h.counts);
    size_t shorts = 0, in = 0;
    uint64_t least = UINT64_MAX;
    for (size_t i = 0; i < o.n; i++) {
        const mrc_hot_entry *e = front_entry(&h.t, &o.v[i]);
        if (o.v[i].len <= MRC_HOT_KEY) shorts++;
        if (e == NULL) continue;
        assert_true(o.v[i].len <= MRC_HOT_KEY);
        assert_int_equal(e->delta, 0);
        assert_int_equal(mrc_table_rec_at(&h.t, e->ref)->count, o.v[i].count);
        least = o.v[i].count < least ? o.v[i].count : least;
        in++;
    }
    assert_true(shorts > 2 * 98304); /* more than the front takes */
    assert_true(in > 98304 / 2 && in <= 98304);
    /* below 16 a bin is one count: of the least count, no more than the front had room for */
    assert_true(least < 16);
    size_t above = 0, at_least = 0;
    for (size_t i = 0; i < o.n; i++) {
        if (o.v[i].len > MRC_HOT_KEY) continue;
        above += o.v[i].count > least;
        at_least += o.v[i].count == least && front_entry(&h.t, &o.v[i]) != NULL;
    }
    assert_true(above < 98304 && at_least <= 98304 - above);
    for (size_t i = 0; i < o.n; i++) {
        if (o.v[i].len > MRC_HOT_KEY || front_entry(&h.t, &o.v[i]) != NULL) continue;
        if (4 * o.v[i].count < 5 * least) continue;
        const mrc_hot_entry *b = mrc_table_hot_bucket(&h.t, o.v[i].hash);
        for (int j = 0; j < 2; j++) {
            assert_int_not_equal(b[j].len, UINT32_MAX);
            assert_true(mrc_table_rec_at(&h.t, b[j].ref)->count >= o.v[i].count);
        }
    }
    okvec_free(&o);
    hot_case_free(&h);
}

/* Spills under a bound with the front in use: each spill writes out the front's counts with the
 * records (the table settles before full()), the front goes with the records and is chosen again
 * as the emptied table fills; what was spilled plus what is left equals the oracle. */
static void test_hot_front_spills(void **state)
{
    (void)state;
    hot_case h;
    hot_case_init(&h, 777, 2000000);
    spill_log l = {.sorted = true};
    h.t.max_bytes = (size_t)32 << 20; /* the least that takes a front (4 MiB, an eighth) */
    h.t.full = spill_hook;
    h.t.full_arg = &l;
    size_t hits_after_spill = 0;
    for (size_t k = 0; k < 6000000; k++) {
        size_t i = draw_token(&h.p, 20000, 80);
        h.counts[i]++;
        if (count_token(&h.t, &h.p, i) && l.spills > 0) hits_after_spill++;
    }
    assert_true(l.spills >= 1);
    assert_true(l.max_seen <= h.t.max_bytes);
    assert_true(hits_after_spill > 0);
    mrc_table_settle(&h.t);
    okvec o = counts_oracle(&h.p, h.counts);
    expect_spilled_plus_left(&l, &h.t, &o);
    spill_log_free(&l);
    okvec_free(&o);
    hot_case_free(&h);
}

/* ---- the merge operator on serialized tables ---- */

typedef struct sertab {
    unsigned char *buf;
    size_t len;
} sertab;

/* Random table over a shared pool: serialized form, and its adds appended to `o`. */
static sertab random_ser(const keypool *p, size_t nadds, okvec *o)
{
    mrc_table t;
    table_init(&t, 0);
    fill_random(&t, o, p, nadds, 50);
    mrc_table *tp = &t;
    sertab s;
    s.buf = serialize(&tp, 1, &s.len);
    mrc_table_free(&t);
    return s;
}

static unsigned char *merge2(const sertab *a, const sertab *b, size_t *len)
{
    size_t cap = a->len + b->len;
    unsigned char *out = malloc(cap);
    assert_non_null(out);
    *len = mrc_ser_merge(a->buf, b->buf, out, cap);
    validate_ok(out, *len);
    return out;
}

static void test_ser_merge_algebra(void **state)
{
    (void)state;
    for (int rep = 0; rep < 12; rep++) {
        rng_seed(4242 + (uint64_t)rep);
        keypool p = pool_make(rep % 3 == 0 ? 30 : 2000, rep % 4 == 1 ? 3 : 256);
        okvec o = {0};
        sertab a = random_ser(&p, rng_below(3000), &o);
        sertab b = random_ser(&p, rep == 5 ? 0 : rng_below(3000), &o);
        sertab c = random_ser(&p, rng_below(3000), &o);
        okvec_aggregate(&o);
        size_t wlen;
        unsigned char *want = oracle_serialize(&o, okvec_total(&o), 0, &wlen);

        size_t l_ab, l_ba;
        unsigned char *ab = merge2(&a, &b, &l_ab);
        unsigned char *ba = merge2(&b, &a, &l_ba);
        assert_bytes_equal(ab, l_ab, ba, l_ba);
        sertab sab = {ab, l_ab};
        size_t l1;
        unsigned char *ab_c = merge2(&sab, &c, &l1);
        size_t l_bc;
        unsigned char *bc = merge2(&b, &c, &l_bc);
        sertab sbc = {bc, l_bc};
        size_t l2;
        unsigned char *a_bc = merge2(&a, &sbc, &l2);
        assert_bytes_equal(ab_c, l1, a_bc, l2);
        assert_bytes_equal(ab_c, l1, want, wlen);

        /* the union built in one table */
        mrc_table u;
        table_init(&u, 0);
        for (size_t i = 0; i < o.n; i++)
            add_ok(&u, o.v[i].key, o.v[i].len, o.v[i].hash, o.v[i].count);
        mrc_table *up = &u;
        size_t ulen;
        unsigned char *useq = serialize(&up, 1, &ulen);
        assert_bytes_equal(ab_c, l1, useq, ulen);
        free(useq);
        mrc_table_free(&u);

        /* merge_into with plenty of room: in place, same bytes as mrc_ser_merge(a, b) */
        size_t cap = a.len + b.len + 100;
        unsigned char *io = malloc(cap);
        assert_non_null(io);
        memcpy(io, b.buf, b.len);
        assert_int_equal(mrc_ser_merge_into(a.buf, io, cap), 0);
        mrc_ser_header h;
        mrc_ser_read_header(io, &h);
        assert_bytes_equal(io, MRC_SER_HEADER + h.payload, ab, l_ab);
        free(io);

        free(ab);
        free(ba);
        free(ab_c);
        free(bc);
        free(a_bc);
        free(want);
        free(a.buf);
        free(b.buf);
        free(c.buf);
        okvec_free(&o);
        pool_free(&p);
    }
}

#define GUARD 64
#define CANARY(i) ((unsigned char)(0x5a ^ (i)*37))

static unsigned char *guarded(size_t cap)
{
    unsigned char *b = malloc(cap + GUARD);
    assert_non_null(b);
    memset(b, 0xcc, cap);
    for (size_t i = 0; i < GUARD; i++)
        b[cap + i] = CANARY(i);
    return b;
}

static void check_guard(const unsigned char *b, size_t cap)
{
    for (size_t i = 0; i < GUARD; i++)
        if (b[cap + i] != CANARY(i))
            fail_msg("byte %zu past a capacity of %zu bytes was written", i, cap);
}

static void check_overflowed(const unsigned char *b, size_t cap, uint64_t also_flags)
{
    mrc_ser_header h;
    mrc_ser_read_header(b, &h);
    assert_int_equal(h.magic, MRC_SER_MAGIC);
    assert_int_equal(h.version, MRC_SER_VERSION);
    assert_true(h.flags & MRC_SER_FLAG_OVERFLOW);
    assert_int_equal(h.flags & also_flags, also_flags);
    assert_int_equal(h.records, 0);
    assert_int_equal(h.payload, 0);
    validate_ok(b, cap);
}

/* Every capacity from a bare header to past both payloads: either the exact merge or an
 * overflow flag, never a byte past the capacity. */
static void sweep_caps(const sertab *a, const sertab *b, const unsigned char *want, size_t wlen)
{
    size_t hi = a->len + b->len + 16;
    for (size_t cap = MRC_SER_HEADER; cap <= hi; cap++) {
        unsigned char *out = guarded(cap);
        size_t n = mrc_ser_merge(a->buf, b->buf, out, cap);
        check_guard(out, cap);
        assert_true(n <= cap);
        if (cap >= wlen) {
            assert_bytes_equal(out, n, want, wlen);
        } else {
            assert_int_equal(n, MRC_SER_HEADER);
            check_overflowed(out, cap, 0);
        }
        free(out);

        /* in-place variant: inout starts as b */
        if (cap >= b->len) {
            unsigned char *io = guarded(cap);
            memcpy(io, b->buf, b->len);
            int rc = mrc_ser_merge_into(a->buf, io, cap);
            check_guard(io, cap);
            assert_int_equal(rc, 0);
            if (cap >= wlen) {
                mrc_ser_header h;
                mrc_ser_read_header(io, &h);
                assert_bytes_equal(io, MRC_SER_HEADER + h.payload, want, wlen);
            } else {
                check_overflowed(io, cap, 0);
            }
            free(io);
        }
    }
}

static void test_ser_merge_caps(void **state)
{
    (void)state;
    for (int rep = 0; rep < 6; rep++) {
        rng_seed(77 + (uint64_t)rep);
        keypool p = pool_make(rep < 3 ? 12 : 60, 256);
        okvec o = {0};
        sertab a = random_ser(&p, rng_below(40), &o);
        sertab b = random_ser(&p, rng_below(40), &o);
        okvec_aggregate(&o);
        size_t wlen;
        unsigned char *want = oracle_serialize(&o, okvec_total(&o), 0, &wlen);
        sweep_caps(&a, &b, want, wlen);
        sweep_caps(&b, &a, want, wlen);
        free(want);
        free(a.buf);
        free(b.buf);
        okvec_free(&o);
        pool_free(&p);
    }
}

/* Many shared keys: the result is much smaller than both payloads, so with a capacity between
 * the two the merge in place runs where a's records alone would pass b's unread ones if the
 * write did not stop at them (it never has to: the union fits). */
static void test_ser_merge_into_shared_keys(void **state)
{
    (void)state;
    rng_seed(31337);
    keypool p = pool_make(400, 256);
    mrc_table ta, tb;
    table_init(&ta, 0);
    table_init(&tb, 0);
    okvec o = {0};
    for (size_t i = 0; i < p.n; i++) {
        add_ok(&ta, pool_key(&p, i), p.len[i], p.hash[i], i + 1);
        okvec_push(&o, pool_key(&p, i), p.len[i], i + 1, p.hash[i]);
        if (i % 4 != 0) { /* b: three keys in four, so b alone is smaller than the result */
            add_ok(&tb, pool_key(&p, i), p.len[i], p.hash[i], 2 * i + 1);
            okvec_push(&o, pool_key(&p, i), p.len[i], 2 * i + 1, p.hash[i]);
        }
    }
    okvec_aggregate(&o);
    mrc_table *pa = &ta, *pb = &tb;
    sertab a, b;
    a.buf = serialize(&pa, 1, &a.len);
    b.buf = serialize(&pb, 1, &b.len);
    size_t wlen;
    unsigned char *want = oracle_serialize(&o, okvec_total(&o), 0, &wlen);
    assert_true(wlen + 100 < a.len + b.len - MRC_SER_HEADER);
    static const size_t extra[] = {0, 1, 7, 100};
    for (size_t e = 0; e < sizeof extra / sizeof extra[0]; e++) {
        size_t cap = wlen + extra[e];
        unsigned char *io = guarded(cap);
        assert_true(b.len <= cap);
        memcpy(io, b.buf, b.len);
        assert_int_equal(mrc_ser_merge_into(a.buf, io, cap), 0);
        check_guard(io, cap);
        mrc_ser_header h;
        mrc_ser_read_header(io, &h);
        assert_bytes_equal(io, MRC_SER_HEADER + h.payload, want, wlen);
        free(io);
    }
    /* one byte short of the result: flagged, nothing past the end */
    size_t cap = wlen - 1;
    assert_true(b.len <= cap);
    unsigned char *io = guarded(cap);
    memcpy(io, b.buf, b.len);
    assert_int_equal(mrc_ser_merge_into(a.buf, io, cap), 0);
    check_guard(io, cap);
    check_overflowed(io, cap, 0);
    free(io);
    free(want);
    free(a.buf);
    free(b.buf);
    okvec_free(&o);
    mrc_table_free(&ta);
    mrc_table_free(&tb);
    pool_free(&p);
}

static void test_ser_merge_empty_identity(void **state)
{
    (void)state;
    rng_seed(5);
    keypool p = pool_make(300, 256);
    okvec o = {0};
    sertab a = random_ser(&p, 500, &o);
    unsigned char e[MRC_SER_HEADER];
    assert_int_equal(mrc_ser_empty(e), MRC_SER_HEADER);
    validate_ok(e, sizeof e);
    okvec none = {0};
    size_t elen;
    unsigned char *ewant = oracle_serialize(&none, 0, 0, &elen);
    assert_bytes_equal(e, sizeof e, ewant, elen);
    free(ewant);
    sertab se = {e, sizeof e};

    size_t l;
    unsigned char *x = merge2(&a, &se, &l);
    assert_bytes_equal(x, l, a.buf, a.len);
    free(x);
    x = merge2(&se, &a, &l);
    assert_bytes_equal(x, l, a.buf, a.len);
    free(x);
    unsigned char ee[MRC_SER_HEADER];
    assert_int_equal(mrc_ser_merge(e, e, ee, sizeof ee), MRC_SER_HEADER);
    assert_bytes_equal(ee, sizeof ee, e, sizeof e);

    /* merge_into both ways, with a capacity of exactly the result */
    unsigned char *io = guarded(a.len);
    memcpy(io, e, sizeof e);
    assert_int_equal(mrc_ser_merge_into(a.buf, io, a.len), 0);
    check_guard(io, a.len);
    assert_bytes_equal(io, a.len, a.buf, a.len);
    free(io);
    io = guarded(a.len);
    memcpy(io, a.buf, a.len);
    assert_int_equal(mrc_ser_merge_into(e, io, a.len), 0);
    check_guard(io, a.len);
    assert_bytes_equal(io, a.len, a.buf, a.len);
    free(io);
    free(a.buf);
    okvec_free(&o);
    pool_free(&p);
}

/* Replace the header's total (to isolate record-level overflow detection). */
static void set_total(unsigned char *buf, uint64_t total)
{
    mrc_ser_header h;
    mrc_ser_read_header(buf, &h);
    h.total = total;
    mrc_ser_write_header(buf, &h);
}

static sertab one_key(const char *k, uint64_t count)
{
    mrc_table t;
    table_init(&t, 0);
    uint32_t kl = (uint32_t)strlen(k);
    add_ok(&t, k, kl, mrc_hash(k, kl), count);
    mrc_table *tp = &t;
    sertab s;
    s.buf = serialize(&tp, 1, &s.len);
    mrc_table_free(&t);
    return s;
}

static void test_ser_merge_flags(void **state)
{
    (void)state;
    sertab big = one_key("hot", UINT64_MAX - 1);
    sertab small = one_key("hot", 5);
    set_total(big.buf, 10);
    set_total(small.buf, 10);
    size_t l;
    unsigned char *m = merge2(&big, &small, &l);
    mrc_ser_header h;
    mrc_ser_read_header(m, &h);
    assert_true(h.flags & MRC_SER_FLAG_COUNT_OVERFLOW);
    assert_false(h.flags & MRC_SER_FLAG_OVERFLOW);
    assert_int_equal(h.records, 1);
    /* in place too */
    size_t cap = big.len + small.len;
    unsigned char *io = guarded(cap);
    memcpy(io, small.buf, small.len);
    assert_int_equal(mrc_ser_merge_into(big.buf, io, cap), 0);
    check_guard(io, cap);
    mrc_ser_read_header(io, &h);
    assert_true(h.flags & MRC_SER_FLAG_COUNT_OVERFLOW);
    free(io);

    /* a header total (a metric) that overflows saturates; no key's count wrapped, no flag */
    set_total(big.buf, UINT64_MAX);
    sertab other = one_key("cold", 1);
    unsigned char *m2 = merge2(&big, &other, &l);
    mrc_ser_read_header(m2, &h);
    assert_false(h.flags & MRC_SER_FLAG_COUNT_OVERFLOW);
    assert_true(h.total == UINT64_MAX);
    free(m2);

    /* COUNT_OVERFLOW carries through a later merge with a clean table */
    sertab sm = {m, l};
    sertab third = one_key("other", 3);
    size_t l3;
    unsigned char *m3 = merge2(&third, &sm, &l3);
    mrc_ser_read_header(m3, &h);
    assert_true(h.flags & MRC_SER_FLAG_COUNT_OVERFLOW);
    assert_int_equal(h.records, 2);
    free(m3);

    /* OVERFLOW: make one with a too-small buffer, then merge it with clean tables */
    size_t tiny = MRC_SER_HEADER + 4;
    unsigned char *ov = guarded(tiny);
    mrc_ser_merge(third.buf, other.buf, ov, tiny);
    check_guard(ov, tiny);
    check_overflowed(ov, tiny, 0);
    sertab sov = {ov, MRC_SER_HEADER};
    unsigned char out[4096];
    size_t n = mrc_ser_merge(sov.buf, third.buf, out, sizeof out);
    check_overflowed(out, n, 0);
    n = mrc_ser_merge(third.buf, sov.buf, out, sizeof out);
    check_overflowed(out, n, 0);
    /* through merge_into, both as in and as inout */
    memcpy(out, third.buf, third.len);
    assert_int_equal(mrc_ser_merge_into(sov.buf, out, sizeof out), 0);
    check_overflowed(out, sizeof out, 0);
    memcpy(out, sov.buf, MRC_SER_HEADER);
    assert_int_equal(mrc_ser_merge_into(third.buf, out, sizeof out), 0);
    check_overflowed(out, sizeof out, 0);
    /* both flags together survive */
    memcpy(out, sov.buf, MRC_SER_HEADER);
    assert_int_equal(mrc_ser_merge_into(m, out, sizeof out), 0);
    check_overflowed(out, sizeof out, MRC_SER_FLAG_COUNT_OVERFLOW);

    free(ov);
    free(m);
    free(big.buf);
    free(small.buf);
    free(other.buf);
    free(third.buf);
}

/* A merge input whose payload ends inside a record is flagged corrupt, never read past. */
static void test_ser_merge_corrupt_input(void **state)
{
    (void)state;
    rng_seed(1234);
    keypool p = pool_make(50, 256);
    okvec o = {0};
    sertab a = random_ser(&p, 80, &o);
    sertab b = random_ser(&p, 80, &o);
    mrc_ser_header h;
    mrc_ser_read_header(a.buf, &h);
    assert_true(h.payload > 5);
    h.payload -= 5;
    unsigned char *cut = malloc(MRC_SER_HEADER + h.payload);
    assert_non_null(cut);
    memcpy(cut, a.buf, MRC_SER_HEADER + h.payload);
    mrc_ser_write_header(cut, &h);
    size_t cap = a.len + b.len;
    unsigned char *out = guarded(cap);
    size_t n = mrc_ser_merge(cut, b.buf, out, cap);
    check_guard(out, cap);
    assert_true(n <= cap);
    mrc_ser_header ho;
    mrc_ser_read_header(out, &ho);
    assert_true(ho.flags & MRC_SER_FLAG_CORRUPT);
    n = mrc_ser_merge(b.buf, cut, out, cap);
    mrc_ser_read_header(out, &ho);
    assert_true(ho.flags & MRC_SER_FLAG_CORRUPT);
    /* the flag carries on */
    unsigned char *out2 = guarded(n + b.len);
    size_t n3 = mrc_ser_merge(out, b.buf, out2, n + b.len);
    check_guard(out2, n + b.len);
    assert_true(n3 <= n + b.len);
    mrc_ser_read_header(out2, &ho);
    assert_true(ho.flags & MRC_SER_FLAG_CORRUPT);
    free(out2);
    free(out);
    free(cut);
    free(a.buf);
    free(b.buf);
    okvec_free(&o);
    pool_free(&p);
}

/* The reduce operator's buffers are inout_cap bytes each: a header that is not a table's, or
 * an inout payload past that capacity, is flagged corrupt; an in payload past it cannot fit the
 * union and is flagged overflowed; neither is read past the capacity (found by
 * tests/fuzz/fuzz_table; corpus/fuzz_table/regress-merge-into-payload-past-cap).
 * in and inout are 2 * cap bytes here, their bytes past len filled with `fill`: a record read
 * there is truncated (0xff: a key length past the payload), which a merge flags corrupt. */
static void expect_merge_into_flag(const unsigned char *in0, size_t in_len,
                                   const unsigned char *io0, size_t io_len, size_t cap,
                                   uint64_t want, uint64_t unwanted)
{
    unsigned char *in = malloc(2 * cap), *io = malloc(2 * cap);
    assert_non_null(in);
    assert_non_null(io);
    memset(in, 0xff, 2 * cap);
    memset(io, 0xff, 2 * cap);
    memcpy(in, in0, in_len);
    memcpy(io, io0, io_len);
    assert_int_equal(mrc_ser_merge_into(in, io, cap), 0);
    mrc_ser_header h;
    mrc_ser_read_header(io, &h);
    assert_int_equal(h.magic, MRC_SER_MAGIC);
    assert_int_equal(h.version, MRC_SER_VERSION);
    assert_int_equal(h.flags & want, want);
    assert_int_equal(h.flags & unwanted, 0);
    assert_int_equal(h.records, 0);
    assert_int_equal(h.payload, 0);
    validate_ok(io, cap);
    free(in);
    free(io);
}

static void test_ser_merge_into_bad_headers(void **state)
{
    (void)state;
    sertab a = one_key("alpha", 3), b = one_key("beta", 4);
    size_t cap = a.len + b.len;
    unsigned char *bad = malloc(cap);
    assert_non_null(bad);
    mrc_ser_header h;
    /* in claims a payload past the capacity: it cannot fit, and is not read */
    memcpy(bad, a.buf, a.len);
    mrc_ser_read_header(bad, &h);
    h.payload = cap - MRC_SER_HEADER + 1;
    mrc_ser_write_header(bad, &h);
    expect_merge_into_flag(bad, a.len, b.buf, b.len, cap, MRC_SER_FLAG_OVERFLOW,
                           MRC_SER_FLAG_CORRUPT);
    /* inout claims one: corrupt (not a fall back to the shuffle) */
    memcpy(bad, b.buf, b.len);
    mrc_ser_read_header(bad, &h);
    h.payload = cap - MRC_SER_HEADER + 1;
    mrc_ser_write_header(bad, &h);
    expect_merge_into_flag(a.buf, a.len, bad, b.len, cap, MRC_SER_FLAG_CORRUPT,
                           MRC_SER_FLAG_OVERFLOW);
    /* a bad magic, a bad version, on either side */
    memcpy(bad, a.buf, a.len);
    bad[0] ^= 1;
    expect_merge_into_flag(bad, a.len, b.buf, b.len, cap, MRC_SER_FLAG_CORRUPT,
                           MRC_SER_FLAG_OVERFLOW);
    memcpy(bad, b.buf, b.len);
    bad[4] = 2;
    expect_merge_into_flag(a.buf, a.len, bad, b.len, cap, MRC_SER_FLAG_CORRUPT,
                           MRC_SER_FLAG_OVERFLOW);
    free(bad);
    free(a.buf);
    free(b.buf);
}

static void expect_invalid(const void *buf, size_t cap, const char *why)
{
    mrc_err err = {0};
    if (mrc_ser_validate(buf, cap, &err) != MRC_EINVAL)
        fail_msg("mrc_ser_validate accepted %s", why);
    assert_int_equal(err.code, MRC_EINVAL);
    assert_true(err.msg[0] != '\0');
}

static void test_ser_validate_rejects(void **state)
{
    (void)state;
    rng_seed(99);
    keypool p = pool_make(200, 256);
    okvec o = {0};
    sertab a = random_ser(&p, 400, &o);
    validate_ok(a.buf, a.len);
    validate_ok(a.buf, a.len + 0); /* exact */
    mrc_ser_header h;
    mrc_ser_read_header(a.buf, &h);
    assert_true(h.records >= 3);

    /* truncated buffers: every shorter capacity */
    for (size_t cap = 0; cap < a.len; cap++)
        expect_invalid(a.buf, cap, "a truncated buffer");

    unsigned char *b = malloc(a.len);
    assert_non_null(b);
    /* bad magic / version */
    memcpy(b, a.buf, a.len);
    b[0] ^= 1;
    expect_invalid(b, a.len, "a bad magic");
    memcpy(b, a.buf, a.len);
    b[4] = 2;
    expect_invalid(b, a.len, "a bad version");
    /* record count wrong */
    memcpy(b, a.buf, a.len);
    h.records++;
    mrc_ser_write_header(b, &h);
    expect_invalid(b, a.len, "a wrong record count");
    h.records--;
    /* payload cut in the middle of a record */
    memcpy(b, a.buf, a.len);
    mrc_ser_header hc = h;
    hc.payload -= 3;
    mrc_ser_write_header(b, &hc);
    expect_invalid(b, a.len, "a payload ending inside a record");
    /* a key length pointing past the payload */
    memcpy(b, a.buf, a.len);
    put_le(b + MRC_SER_HEADER + 8, 0x7fffffff, 4);
    expect_invalid(b, a.len, "a key length past the payload");

    /* out of order: swap the first two records */
    const unsigned char *pl = a.buf + MRC_SER_HEADER;
    size_t r0 = 12 + get_le(pl + 8, 4);
    size_t r1 = 12 + get_le(pl + r0 + 8, 4);
    memcpy(b, a.buf, a.len);
    memcpy(b + MRC_SER_HEADER, pl + r0, r1);
    memcpy(b + MRC_SER_HEADER + r1, pl, r0);
    expect_invalid(b, a.len, "out-of-order records");
    /* a duplicate: the first record twice */
    unsigned char *d = malloc(a.len + r0);
    assert_non_null(d);
    mrc_ser_header hd = h;
    hd.records++;
    hd.payload += r0;
    mrc_ser_write_header(d, &hd);
    memcpy(d + MRC_SER_HEADER, pl, r0);
    memcpy(d + MRC_SER_HEADER + r0, pl, h.payload);
    expect_invalid(d, a.len + r0, "a duplicated record");
    free(d);
    /* the last two records swapped */
    size_t offs[4096], nrec = 0, pos = 0;
    mrc_ser_rec r;
    while (mrc_ser_next(pl, h.payload, &pos, &r) == 1 && nrec < 4096)
        offs[nrec++] = (size_t)(r.key - pl) - 12;
    offs[nrec] = h.payload;
    size_t x = offs[nrec - 2], y = offs[nrec - 1];
    memcpy(b, a.buf, a.len);
    memcpy(b + MRC_SER_HEADER + x, pl + y, h.payload - y);
    memcpy(b + MRC_SER_HEADER + x + (h.payload - y), pl + x, y - x);
    expect_invalid(b, a.len, "the last two records swapped");

    free(b);
    free(a.buf);
    okvec_free(&o);
    pool_free(&p);
}

/* The index given up as a buffer: at every load (below and above half full, where 16 bytes a
 * key need more than 8 a slot and the mapping grows in place) the buffer holds the bytes asked
 * for, writing all of them leaves every record as it was, and the table frees it. A frozen
 * table's index is not given. */
static void test_index_as_buffer(void **state)
{
    (void)state;
    rng_seed(77);
    static const size_t sizes[] = {1, 100, 700, 1400, 2900, 3000, 5000, 40000};
    size_t grew = 0, fit = 0;
    for (size_t k = 0; k < sizeof sizes / sizeof *sizes; k++) {
        keypool p = pool_make(sizes[k], 256);
        mrc_table t;
        table_init(&t, 0);
        okvec want = {0};
        for (size_t i = 0; i < p.n; i++) {
            add_ok(&t, p.bytes + 40 * i, p.len[i], p.hash[i], i + 1);
            okvec_push(&want, p.bytes + 40 * i, p.len[i], i + 1, p.hash[i]);
        }
        okvec_aggregate(&want);
        size_t used = t.used, bytes = (used + 1) * 16;
        if (t.slots_mapped < bytes)
            grew++;
        else
            fit++;
        okvec before = table_dump(&t);
        unsigned char *b = mrc_table_index_as_buffer(&t, bytes);
        assert_non_null(b);
        assert_true(t.slots_mapped >= bytes);
        memset(b, 0xa5, bytes);
        okvec after = table_dump(&t);
        assert_int_equal(after.n, before.n);
        assert_int_equal(after.n, want.n);
        for (size_t i = 0; i < after.n; i++) {
            assert_int_equal(after.v[i].len, before.v[i].len);
            assert_int_equal(after.v[i].count, before.v[i].count);
            assert_int_equal(okv_key_cmp(&after.v[i], &before.v[i]), 0);
        }
        assert_null(mrc_table_index_as_buffer(&t, 16)); /* given once */
        okvec_free(&before);
        okvec_free(&after);
        okvec_free(&want);
        mrc_table_free(&t);
        pool_free(&p);
    }
    assert_true(grew > 0 && fit > 0); /* both ways were taken */
    mrc_table t;
    table_init(&t, 0);
    add_ok(&t, "a", 1, mrc_hash("a", 1), 1);
    mrc_table_freeze(&t);
    assert_null(mrc_table_index_as_buffer(&t, 16));
    mrc_table_free(&t);
}

/* The page advice of the mapping that holds addr, from /proc/self/smaps's VmFlags: 'h' for
 * MADV_HUGEPAGE ("hg"), 'n' for MADV_NOHUGEPAGE ("nh"), '-' for neither; 0 when smaps cannot
 * be read (not Linux, or no /proc). */
static char page_advice(const void *addr)
{
    FILE *f = fopen("/proc/self/smaps", "r");
    if (f == NULL) return 0;
    char line[512];
    bool in = false;
    char advice = 0;
    uintptr_t a = (uintptr_t)addr;
    while (fgets(line, sizeof line, f) != NULL) {
        unsigned long lo, hi;
        if (sscanf(line, "%lx-%lx ", &lo, &hi) == 2) {
            in = a >= lo && a < hi;
        } else if (in && strncmp(line, "VmFlags:", 8) == 0) {
            advice = strstr(line, " hg") != NULL ? 'h' : strstr(line, " nh") != NULL ? 'n' : '-';
            break;
        }
    }
    fclose(f);
    return advice;
}

/* The arena starts on 4 KiB pages (cheaper first touches), a table that spilled (cleared) has
 * it on huge pages, growth included, and the records stay exact either way. */
static void test_table_arena_pages(void **state)
{
    (void)state;
    rng_seed(91);
    keypool p = pool_make(200000, 256);
    mrc_table t;
    table_init(&t, 150000); /* an arena of 2 MiB or more: its own aligned mapping */
    assert_true(t.arena_cap >= (size_t)2 << 20);
    char before = page_advice(t.arena);
    /* no smaps, or a kernel without transparent huge pages (it keeps no advice) */
    if (before == 0 ||
        (before == '-' && access("/sys/kernel/mm/transparent_hugepage", F_OK) != 0)) {
        pool_free(&p);
        mrc_table_free(&t);
        skip();
    }
    assert_int_equal(before, 'n');
    okvec o = {0};
    fill_random(&t, &o, &p, 100000, 3);
    assert_int_equal(page_advice(t.arena), 'n');
    mrc_table_clear(&t);
    assert_int_equal(page_advice(t.arena), 'h');
    okvec_free(&o);
    size_t cap = t.arena_cap;
    for (size_t i = 0; i < p.n; i++) /* past the arena's size: it grows */
        add_ok(&t, p.bytes + 40 * i, p.len[i], p.hash[i], 1);
    assert_true(t.arena_cap > cap);
    assert_int_equal(page_advice(t.arena), 'h');
    for (size_t i = 0; i < p.n; i++)
        okvec_push(&o, p.bytes + 40 * i, p.len[i], 1, p.hash[i]);
    okvec_aggregate(&o);
    check_table(&t, &o);
    okvec_free(&o);
    mrc_table_free(&t);
    pool_free(&p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_hash_is_seeded_xxh3),
        cmocka_unit_test(test_table_growth_random),
        cmocka_unit_test(test_table_forced_collisions),
        cmocka_unit_test(test_table_growth_clustered),
        cmocka_unit_test(test_table_arena_pages),
        cmocka_unit_test(test_table_count_overflow),
        cmocka_unit_test(test_table_overflow_same_hash_other_key),
        cmocka_unit_test(test_serialize_round_trip),
        cmocka_unit_test(test_serialize_same_keys_across_tables),
        cmocka_unit_test(test_serialize_sum_overflow),
        cmocka_unit_test(test_table_walk_ranges),
        cmocka_unit_test(test_table_walk_ties),
        cmocka_unit_test(test_table_walk_ties_overflow),
        cmocka_unit_test(test_table_equal_tags),
        cmocka_unit_test(test_table_walk_overflow),
        cmocka_unit_test(test_table_merge_parallel),
        cmocka_unit_test(test_table_spills_at_its_bound),
        cmocka_unit_test(test_hot_front_counts),
        cmocka_unit_test(test_hot_front_spills),
        cmocka_unit_test(test_hot_front_choice),
        cmocka_unit_test(test_ser_merge_algebra),
        cmocka_unit_test(test_ser_merge_caps),
        cmocka_unit_test(test_ser_merge_into_shared_keys),
        cmocka_unit_test(test_ser_merge_empty_identity),
        cmocka_unit_test(test_ser_merge_flags),
        cmocka_unit_test(test_ser_merge_corrupt_input),
        cmocka_unit_test(test_ser_merge_into_bad_headers),
        cmocka_unit_test(test_ser_validate_rejects),
        cmocka_unit_test(test_index_as_buffer),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
