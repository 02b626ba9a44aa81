/* fuzz_table.c - libFuzzer harness for serialized count tables (the DESIGN wire format): the
 * validator, the two-table merge and its in-place MPI_Reduce body, the range cut and the k-way
 * merge of the shuffle, and the local merge of thread tables. Arbitrary bytes must be judged
 * exactly as a validator written here judges them and never read out of bounds; valid tables
 * must merge to the naive merge (sort, add equal keys, saturate and flag an overflow).
 * Input: byte 0 = mode (bit 0: raw bytes, or key/count entries built into tables) and knobs;
 * bytes 1-2 = where the raw bytes are cut into tables a and b; bytes 3-10 = knobs (capacities,
 * cut bounds); the rest is the data. */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_util.h"
#include "mrcount/table.h"
#include "mrcount/runtime.h"

/* ---- the reference: explicit little-endian bytes, no code shared with src/table ---- */

static uint64_t le(const unsigned char *p, int n)
{
    uint64_t v = 0;
    for (int i = n - 1; i >= 0; i--)
        v = v << 8 | p[i];
    return v;
}

static void put_le(unsigned char *p, uint64_t v, int n)
{
    for (int i = 0; i < n; i++, v >>= 8)
        p[i] = (unsigned char)v;
}

typedef struct rrec {
    const unsigned char *key;
    uint32_t len;
    uint64_t count, hash;
    size_t offset; /* in its payload */
} rrec;

typedef struct rtable {
    uint64_t records, payload, flags, total;
    rrec *v;
    size_t n;
} rtable;

static int rrec_cmp(const void *pa, const void *pb)
{
    const rrec *a = pa, *b = pb;
    if (a->hash != b->hash) return a->hash < b->hash ? -1 : 1;
    size_t n = a->len < b->len ? a->len : b->len;
    for (size_t i = 0; i < n; i++)
        if (a->key[i] != b->key[i]) return a->key[i] < b->key[i] ? -1 : 1;
    return a->len < b->len ? -1 : a->len > b->len;
}

/* Whether buf[0..cap) holds a valid table: "MRCT", version 1, the payload inside cap, whole
 * records in strictly increasing (hash, key) order, as many as the header says. */
static bool ref_parse(const unsigned char *buf, size_t cap, rtable *t)
{
    memset(t, 0, sizeof *t);
    if (cap < 40 || le(buf, 4) != 0x5443524d || le(buf + 4, 4) != 1) return false;
    t->records = le(buf + 8, 8);
    t->payload = le(buf + 16, 8);
    t->flags = le(buf + 24, 8);
    t->total = le(buf + 32, 8);
    if (t->payload > cap - 40) return false;
    const unsigned char *pl = buf + 40;
    t->v = xmalloc((size_t)t->payload / 12 * sizeof *t->v);
    for (size_t p = 0; p < t->payload;) {
        if (t->payload - p < 12) return false;
        uint64_t len = le(pl + p + 8, 4);
        if (t->payload - p - 12 < len) return false;
        rrec r = {pl + p + 12, (uint32_t)len, le(pl + p, 8), mrc_hash(pl + p + 12, len), p};
        if (t->n > 0 && rrec_cmp(&t->v[t->n - 1], &r) >= 0) return false;
        t->v[t->n++] = r;
        p += 12 + (size_t)len;
    }
    return t->n == t->records;
}

/* The naive merge of two valid tables, serialized: *len bytes, malloc'd. */
static unsigned char *ref_merge(const rtable *a, const rtable *b, size_t *len, bool *count_ovf)
{
    size_t n = a->n + b->n, w = 0, bytes = 40;
    rrec *all = xmalloc(n * sizeof *all);
    if (a->n) memcpy(all, a->v, a->n * sizeof *all);
    if (b->n) memcpy(all + a->n, b->v, b->n * sizeof *all);
    qsort(all, n, sizeof *all, rrec_cmp);
    *count_ovf = false;
    for (size_t i = 0; i < n; i++) {
        if (w > 0 && rrec_cmp(&all[w - 1], &all[i]) == 0) {
            if (mrc_add_u64(all[w - 1].count, all[i].count, &all[w - 1].count)) {
                all[w - 1].count = UINT64_MAX;
                *count_ovf = true;
            }
        } else {
            all[w++] = all[i];
        }
    }
    for (size_t i = 0; i < w; i++)
        bytes += 12 + all[i].len;
    unsigned char *out = xmalloc(bytes);
    uint64_t total;
    if (__builtin_add_overflow(a->total, b->total, &total)) total = UINT64_MAX;
    put_le(out, 0x5443524d, 4);
    put_le(out + 4, 1, 4);
    put_le(out + 8, w, 8);
    put_le(out + 16, bytes - 40, 8);
    put_le(out + 24, a->flags | b->flags | (*count_ovf ? MRC_SER_FLAG_COUNT_OVERFLOW : 0), 8);
    put_le(out + 32, total, 8);
    for (size_t i = 0, p = 40; i < w; i++) {
        put_le(out + p, all[i].count, 8);
        put_le(out + p + 8, all[i].len, 4);
        memcpy(out + p + 12, all[i].key, all[i].len);
        p += 12 + all[i].len;
    }
    free(all);
    *len = bytes;
    return out;
}

/* ---- checks ---- */

/* What a merge wrote into out[0..cap): the reference result, or, when that does not fit (or an
 * input was flagged as not fitting), a bare header flagged MRC_SER_FLAG_OVERFLOW. */
static void expect_merged(const unsigned char *out, size_t cap, const unsigned char *want,
                          size_t wlen, uint64_t in_flags, const char *what)
{
    CHECK(cap >= 40, "%s: capacity %zu", what, cap);
    uint64_t flags = le(out + 24, 8);
    if (!(in_flags & MRC_SER_FLAG_OVERFLOW) && wlen <= cap) {
        CHECK(memcmp(out, want, wlen) == 0, "%s: not the naive merge (%zu bytes)", what, wlen);
        return;
    }
    CHECK(le(out, 4) == 0x5443524d && le(out + 4, 4) == 1, "%s: overflowed header", what);
    CHECK(le(out + 8, 8) == 0 && le(out + 16, 8) == 0, "%s: records in an overflowed table", what);
    uint64_t want_flags = le(want + 24, 8) | in_flags | MRC_SER_FLAG_OVERFLOW;
    CHECK((flags | MRC_SER_FLAG_COUNT_OVERFLOW) == (want_flags | MRC_SER_FLAG_COUNT_OVERFLOW),
          "%s: flags %llx, want %llx", what, (unsigned long long)flags,
          (unsigned long long)want_flags);
}

/* Whatever went in, a merge's output is a well-formed table: sound header, whole records. */
static void expect_well_formed(const unsigned char *buf, size_t cap, const char *what)
{
    CHECK(le(buf, 4) == 0x5443524d && le(buf + 4, 4) == 1, "%s: bad magic or version", what);
    uint64_t payload = le(buf + 16, 8), n = 0;
    CHECK(payload <= cap - 40, "%s: payload %llu past a capacity of %zu", what,
          (unsigned long long)payload, cap);
    size_t pos = 0;
    mrc_ser_rec r;
    int rc;
    while ((rc = mrc_ser_next(buf + 40, (size_t)payload, &pos, &r)) == 1)
        n++;
    CHECK(rc == 0, "%s: a truncated record in a merge's output", what);
    CHECK(n == le(buf + 8, 8), "%s: %llu records, header says %llu", what, (unsigned long long)n,
          (unsigned long long)le(buf + 8, 8));
}

/* mrc_ser_validate() judges as the reference does, and says why when it rejects. */
static bool check_validate(const unsigned char *buf, size_t cap, rtable *t)
{
    bool ok = ref_parse(buf, cap, t);
    mrc_err err = {0};
    int rc = mrc_ser_validate(buf, cap, &err);
    CHECK((rc == 0) == ok, "mrc_ser_validate() returned %d (%s), the reference says %s", rc,
          err.msg, ok ? "valid" : "invalid");
    CHECK(rc == 0 || (rc == MRC_EINVAL && err.code == MRC_EINVAL && err.msg[0] != '\0'),
          "a rejection needs MRC_EINVAL and a message");
    return ok;
}

/* A cap-sized buffer starting with src[0..n) (the rest zero), as MPI hands the reduce op. */
static unsigned char *in_buffer(const unsigned char *src, size_t n, size_t cap)
{
    unsigned char *b = xmalloc(cap);
    memset(b, 0, cap);
    memcpy(b, src, n < cap ? n : cap);
    return b;
}

/* mrc_ser_merge_into(in = a, inout = b) on cap-sized buffers. */
static void check_merge_into(const unsigned char *a, size_t la, const unsigned char *b, size_t lb,
                             size_t cap, const unsigned char *want, size_t wlen, uint64_t in_flags,
                             bool both_valid)
{
    unsigned char *in = in_buffer(a, la, cap), *io = in_buffer(b, lb, cap);
    int rc = mrc_ser_merge_into(in, io, cap);
    CHECK(rc == 0, "mrc_ser_merge_into returned %d", rc);
    CHECK(memcmp(in, a, la < cap ? la : cap) == 0, "mrc_ser_merge_into wrote its input");
    expect_well_formed(io, cap, "merge_into");
    if (both_valid) expect_merged(io, cap, want, wlen, in_flags, "merge_into");
    free(in);
    free(io);
}

/* The shuffle's cut: offsets[k] is the first record whose hash reaches bounds[k]. */
static void check_cut(const unsigned char *payload, size_t len, const rtable *t, const uint8_t *sel,
                      size_t nb)
{
    uint64_t bounds[4];
    for (size_t k = 0; k < nb; k++) {
        uint8_t c = sel[k];
        if (t != NULL && t->n > 0 && c < 192)
            bounds[k] = t->v[c % t->n].hash + (uint64_t)(c % 3) - 1; /* next to a record */
        else
            bounds[k] = (uint64_t)c << 56 | (uint64_t)c * 0x0101010101ULL;
    }
    for (size_t i = 1; i < nb; i++) /* ascending */
        for (size_t j = i; j > 0 && bounds[j - 1] > bounds[j]; j--) {
            uint64_t x = bounds[j];
            bounds[j] = bounds[j - 1];
            bounds[j - 1] = x;
        }
    size_t offsets[5];
    uint64_t records[5];
    mrc_err err = {0};
    unsigned char *pl = exact_copy(payload, len);
    int rc = mrc_ser_cut(pl, len, bounds, nb, offsets, records, &err);
    free(pl);
    if (t == NULL) {
        CHECK(rc == 0 || (rc == MRC_EINVAL && err.msg[0] != '\0'), "mrc_ser_cut returned %d", rc);
        if (rc == 0) CHECK(offsets[nb] == len, "mrc_ser_cut: last offset %zu", offsets[nb]);
        return;
    }
    CHECK(rc == 0, "mrc_ser_cut of a valid payload: %s", err.msg);
    for (size_t k = 0; k < nb; k++) {
        size_t i = 0;
        while (i < t->n && t->v[i].hash < bounds[k])
            i++;
        size_t want = i < t->n ? t->v[i].offset : len;
        CHECK(offsets[k] == want && records[k] == i,
              "cut %zu: offset %zu record %llu, want %zu %zu", k, offsets[k],
              (unsigned long long)records[k], want, i);
    }
    CHECK(offsets[nb] == len && records[nb] == t->n, "cut: the end");
}

/* The k-way merge of the payloads of a and b. */
static void check_runs(const unsigned char *pa, size_t la, const unsigned char *pb, size_t lb,
                       const unsigned char *want, size_t wlen, bool checked, bool count_ovf)
{
    unsigned char *ca = exact_copy(pa, la), *cb = exact_copy(pb, lb);
    mrc_ser_run runs[2] = {{ca, la}, {cb, lb}};
    size_t cap = la + lb;
    unsigned char *out = xmalloc(cap);
    mrc_ser_merged res;
    mrc_err err = {0};
    int rc = mrc_ser_merge_runs(runs, 2, out, cap, &res, &err);
    CHECK(rc == 0 || ((rc == MRC_EINVAL || rc == MRC_EOVERFLOW) && err.msg[0] != '\0'),
          "mrc_ser_merge_runs returned %d", rc);
    if (checked) {
        CHECK(rc == (count_ovf ? MRC_EOVERFLOW : 0), "merge_runs: %d (%s)", rc, err.msg);
        if (rc == 0) {
            CHECK(res.bytes == wlen - 40 && res.records == le(want + 8, 8) &&
                      memcmp(out, want + 40, res.bytes) == 0,
                  "merge_runs: not the naive merge");
        }
    }
    free(out);
    free(ca);
    free(cb);
}

/* Every check on the pair of byte strings a and b (tables, valid or not). knobs (NKNOBS bytes):
 * a shorter capacity to validate, merge capacities, the range cut's bounds. */
#define NKNOBS 8
static void check_pair(const unsigned char *a, size_t la, const unsigned char *b, size_t lb,
                       const uint8_t *knobs)
{
    rtable ta, tb;
    bool va = check_validate(a, la, &ta), vb = check_validate(b, lb, &tb);
    /* every shorter capacity of a is judged too (one of them, chosen by the input) */
    if (la > 0) {
        size_t cut = knobs[0] % la;
        unsigned char *p = exact_copy(a, cut);
        rtable tp;
        check_validate(p, cut, &tp);
        free(tp.v);
        free(p);
    }
    size_t wlen = 0;
    bool count_ovf = false;
    unsigned char *want = NULL;
    uint64_t in_flags = 0;
    if (va && vb) {
        want = ref_merge(&ta, &tb, &wlen, &count_ovf);
        in_flags = ta.flags | tb.flags;
        size_t wlen2;
        bool ovf2;
        unsigned char *want2 = ref_merge(&tb, &ta, &wlen2, &ovf2);
        CHECK(wlen2 == wlen && memcmp(want, want2, wlen) == 0, "the reference is not symmetric");
        free(want2);
        /* mrc_ser_merge both ways, at the exact size, one byte short and a bit over */
        size_t caps[3] = {wlen, wlen - 1, wlen + knobs[1]};
        for (int i = 0; i < 3; i++) {
            if (caps[i] < 40) continue;
            for (int order = 0; order < 2; order++) {
                unsigned char *out = xmalloc(caps[i]);
                size_t n =
                    order ? mrc_ser_merge(b, a, out, caps[i]) : mrc_ser_merge(a, b, out, caps[i]);
                CHECK(n >= 40 && n <= caps[i], "mrc_ser_merge wrote %zu of %zu", n, caps[i]);
                expect_merged(out, caps[i], want, wlen, in_flags, "mrc_ser_merge");
                free(out);
            }
        }
        mrc_err err = {0};
        mrc_hll h;
        mrc_hll_init(&h);
        CHECK(mrc_hll_add_ser(&h, NULL, a, &err) == 0, "mrc_hll_add_ser: %s", err.msg);
    }
    /* the reduce operator sees cap-sized buffers, valid or not */
    size_t big = la > lb ? la : lb;
    if (big < 40) big = 40;
    size_t slack = knobs[2];
    check_merge_into(a, la, b, lb, big + slack % 8, want, wlen, in_flags, va && vb);
    check_merge_into(a, la, b, lb, big + wlen + slack, want, wlen, in_flags, va && vb);
    if (va && vb && wlen > big) check_merge_into(a, la, b, lb, wlen, want, wlen, in_flags, true);

    /* the shuffle's cut and k-way merge, on the payloads (or the raw bytes) */
    const unsigned char *pa = la >= 40 ? a + 40 : a, *pb = lb >= 40 ? b + 40 : b;
    size_t pla = va ? (size_t)ta.payload : la >= 40 ? la - 40 : la;
    size_t plb = vb ? (size_t)tb.payload : lb >= 40 ? lb - 40 : lb;
    check_cut(pa, pla, va ? &ta : NULL, knobs + 3, knobs[7] % 5);
    check_runs(pa, pla, pb, plb, want, wlen, va && vb, count_ovf);
    free(want);
    free(ta.v);
    free(tb.v);
}

/* ---- tables built from key/count entries ---- */

typedef struct builder {
    mrc_table t;
    kclist adds; /* the reference: distinct keys and their counts */
} builder;

static uint64_t entry_count(uint8_t cls, const uint8_t **p, const uint8_t *end)
{
    uint64_t v = 0;
    switch (cls) {
    case 0:
    case 1:
    case 2:
        return *p < end ? *(*p)++ : 1;
    case 3:
        return 0;
    case 4:
        return UINT64_MAX - (*p < end ? *(*p)++ : 0);
    case 5:
        for (int i = 0; i < 8 && *p < end; i++)
            v = v << 8 | *(*p)++;
        return v;
    default:
        return (uint64_t)1 << 63;
    }
}

/* Add `count` to key in the table and in the reference; an add past 2^64-1 is refused. */
static void builder_add(builder *bd, const unsigned char *key, size_t len, uint64_t count)
{
    mrc_err err = {0};
    int rc = mrc_table_add(&bd->t, key, (uint32_t)len, mrc_hash(key, len), count, &err);
    kc probe = {key, (uint32_t)len, 0};
    size_t i = 0;
    while (i < bd->adds.n && kc_key_cmp(&bd->adds.v[i], &probe) != 0)
        i++;
    uint64_t sum;
    bool ovf = i < bd->adds.n && __builtin_add_overflow(bd->adds.v[i].count, count, &sum);
    CHECK(rc == (ovf ? MRC_EOVERFLOW : 0), "mrc_table_add returned %d (%s)", rc, err.msg);
    if (ovf) return;
    if (i < bd->adds.n)
        bd->adds.v[i].count = sum;
    else
        kc_push(&bd->adds, key, len, count);
}

/* The local merge of the thread tables as the map does it: mrc_table_merge_parallel() on
 * nthreads pinned threads (1 or 2; the topology and placements made once per process). */
static unsigned char *local_merge(mrc_table *const *tables, size_t n, size_t nthreads, size_t *len,
                                  int *rc)
{
    static mrc_topo *topo;
    static mrc_placement pl[2];
    static bool planned[2];
    mrc_err err = {0};
    if (topo == NULL) {
        topo = mrc_topo_open(NULL, &err);
        CHECK(topo != NULL, "mrc_topo_open: %s", err.msg);
    }
    size_t k = nthreads - 1;
    if (!planned[k]) {
        CHECK(mrc_placement_plan(topo, NULL, 0, 1, nthreads, &pl[k], &err) == 0,
              "mrc_placement_plan: %s", err.msg);
        planned[k] = true;
    }
    mrc_merge_input in = {.tables = tables, .ntables = n, .lo = 0, .hi = UINT64_MAX};
    void *out = NULL;
    uint64_t distinct = 0;
    *rc = mrc_table_merge_parallel(&in, topo, &pl[k], &out, len, &distinct, &err);
    if (*rc == 0) {
        CHECK(distinct == le((unsigned char *)out + 8, 8), "distinct keys of the local merge");
    } else {
        CHECK(*rc == MRC_EOVERFLOW && err.msg[0] != '\0', "mrc_table_merge_parallel returned %d",
              *rc);
        free(out);
        out = NULL;
    }
    return out;
}

static void fuzz_built(const uint8_t *p, const uint8_t *end, uint8_t mode, const uint8_t *knobs)
{
    builder bd[2];
    mrc_err err = {0};
    for (int i = 0; i < 2; i++) {
        memset(&bd[i], 0, sizeof bd[i]);
        CHECK(mrc_table_init(&bd[i].t, 0, &err) == 0, "mrc_table_init: %s", err.msg);
    }
    /* entry: byte e (key length e & 15, table e >> 4 & 1, count class e >> 5), key, count */
    while (p < end) {
        uint8_t e = *p++;
        size_t klen = e & 15;
        if (klen > (size_t)(end - p)) klen = (size_t)(end - p);
        const unsigned char *key = p;
        p += klen;
        builder_add(&bd[e >> 4 & 1], key, klen, entry_count(e >> 5, &p, end));
    }
    unsigned char *ser[2];
    size_t len[2];
    for (int i = 0; i < 2; i++) {
        mrc_table *tp = &bd[i].t;
        void *out;
        CHECK(mrc_table_serialize(&tp, 1, &out, &len[i], &err) == 0, "serialize: %s", err.msg);
        ser[i] = out;
        rtable rt;
        CHECK(check_validate(ser[i], len[i], &rt), "a serialized table is invalid");
        kclist got = {0};
        for (size_t k = 0; k < rt.n; k++)
            kc_push(&got, rt.v[k].key, rt.v[k].len, rt.v[k].count);
        kc_sort(&got);
        kc_sort(&bd[i].adds);
        kc_expect_equal(&got, &bd[i].adds, "serialized table");
        CHECK(rt.total == bd[i].t.total && rt.flags == 0, "serialized header");
        kc_free(&got);
        free(rt.v);
        if (mode & 2) { /* carry some flags in a's header */
            put_le(ser[i] + 24, (uint64_t)(mode >> 2 & 7) * (i == 0), 8);
        }
    }
    /* the local merge of both tables equals the serialized merge (or reports the overflow) */
    mrc_table *both[2] = {&bd[0].t, &bd[1].t};
    size_t nthreads = 1 + (size_t)(mode >> 5 & 1), llen = 0;
    int lrc;
    unsigned char *local = local_merge(both, 2, nthreads, &llen, &lrc);
    rtable ra, rb;
    CHECK(ref_parse(ser[0], len[0], &ra) && ref_parse(ser[1], len[1], &rb), "tables");
    ra.flags = rb.flags = 0;
    size_t wlen;
    bool ovf;
    unsigned char *want = ref_merge(&ra, &rb, &wlen, &ovf);
    CHECK(lrc == (ovf ? MRC_EOVERFLOW : 0), "local merge returned %d", lrc);
    if (lrc == 0)
        CHECK(llen == wlen && memcmp(local, want, wlen) == 0, "local merge on %zu threads",
              nthreads);
    free(want);
    free(local);
    free(ra.v);
    free(rb.v);

    check_pair(ser[0], len[0], ser[1], len[1], knobs);
    for (int i = 0; i < 2; i++) {
        free(ser[i]);
        mrc_table_free(&bd[i].t);
        kc_free(&bd[i].adds);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 3 + NKNOBS) return 0;
    uint8_t mode = data[0];
    const uint8_t *knobs = data + 3;
    const uint8_t *rest = data + 3 + NKNOBS;
    size_t n = size - 3 - NKNOBS;
    if (mode & 1) {
        fuzz_built(rest, rest + n, mode, knobs);
        return 0;
    }
    size_t cut = n ? (size_t)(data[1] | data[2] << 8) % (n + 1) : 0;
    unsigned char *a = exact_copy(rest, cut), *b = exact_copy(rest + cut, n - cut);
    check_pair(a, cut, b, n - cut, knobs);
    free(a);
    free(b);
    return 0;
}
