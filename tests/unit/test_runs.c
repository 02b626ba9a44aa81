/* test_runs.c - hash ranges, range cuts of serialized tables, the k-way merge of sorted runs
 * (the shuffle combine) and the HyperLogLog sketch, each checked against an oracle written here:
 * exact 128-bit range arithmetic, a brute-force cut that hashes every record, the wire format
 * written byte by byte from a naive sort-and-sum, and the known accuracy of a 2^14-register
 * HyperLogLog on random hashes. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <math.h>

#include <cmocka.h>

#include "test_util.h"

#include "mrcount/table.h"

__extension__ typedef unsigned __int128 u128;

/* Record offsets and hashes of a payload, parsed from the rule (asserts it is well formed). */
typedef struct parsed {
    size_t n;
    size_t *off;    /* n + 1: off[n] = payload length */
    uint64_t *hash; /* n */
} parsed;

static parsed parse_payload(const unsigned char *pl, size_t len)
{
    parsed p = {0, NULL, NULL};
    size_t cap = 16;
    p.off = malloc(cap * sizeof *p.off);
    p.hash = malloc(cap * sizeof *p.hash);
    assert_true(p.off && p.hash);
    size_t pos = 0;
    while (pos < len) {
        assert_true(len - pos >= 12);
        uint64_t kl = get_le(pl + pos + 8, 4);
        assert_true(len - pos - 12 >= kl);
        if (p.n + 1 >= cap) {
            cap *= 2;
            p.off = realloc(p.off, cap * sizeof *p.off);
            p.hash = realloc(p.hash, cap * sizeof *p.hash);
            assert_true(p.off && p.hash);
        }
        p.off[p.n] = pos;
        p.hash[p.n] = mrc_hash(pl + pos + 12, (size_t)kl);
        if (p.n > 0) assert_true(p.hash[p.n - 1] <= p.hash[p.n]);
        p.n++;
        pos += 12 + (size_t)kl;
    }
    p.off[p.n] = len;
    return p;
}

static void parsed_free(parsed *p)
{
    free(p->off);
    free(p->hash);
}

/* A copy of bytes in a buffer of exactly n bytes (so ASan sees any read past the end). */
static unsigned char *exact_copy(const unsigned char *src, size_t n)
{
    unsigned char *b = malloc(n ? n : 1);
    assert_non_null(b);
    if (n) memcpy(b, src, n);
    return b;
}

/* ---- tables ---- */

static void add_ok(mrc_table *t, const void *key, uint32_t len, uint64_t count)
{
    mrc_err err = {0};
    int rc = mrc_table_add(t, key, len, mrc_hash(key, len), count, &err);
    if (rc != 0) fail_msg("mrc_table_add: %d %s", rc, err.msg);
}

static unsigned char *serialize1(mrc_table *t, size_t *len)
{
    void *out = NULL;
    mrc_err err = {0};
    mrc_table *tp[1] = {t};
    int rc = mrc_table_serialize(tp, 1, &out, len, &err);
    if (rc != 0) fail_msg("mrc_table_serialize: %d %s", rc, err.msg);
    assert_non_null(out);
    return out;
}

/* Random key bytes, 0..40 long, NUL and 0xff frequent. */
static uint32_t random_key(unsigned char *k)
{
    uint32_t len = (uint32_t)rng_below(41);
    for (uint32_t j = 0; j < len; j++) {
        size_t c = rng_below(8);
        k[j] = c == 0 ? 0x00 : c == 1 ? 0xff : (unsigned char)rng_next();
    }
    return len;
}

/* A serialized table of exactly `distinct` random keys (the empty key first), random counts. */
typedef struct rtable {
    unsigned char *keys; /* key storage, 40 bytes per candidate */
    okvec o;             /* aggregated (key, count) */
    unsigned char *ser;
    size_t len;
} rtable;

static rtable rtable_make(size_t distinct)
{
    rtable r;
    size_t slots = 3 * distinct + 64;
    r.keys = malloc(slots * 40);
    assert_non_null(r.keys);
    memset(&r.o, 0, sizeof r.o);
    mrc_table t;
    mrc_err err = {0};
    assert_int_equal(mrc_table_init(&t, 0, &err), 0);
    for (size_t i = 0; t.used < distinct; i++) {
        assert_true(i < slots);
        unsigned char *k = r.keys + 40 * i;
        uint32_t kl = i == 0 ? 0 : random_key(k);
        uint64_t c = 1 + rng_below(1000);
        add_ok(&t, k, kl, c);
        okvec_push(&r.o, k, kl, c, mrc_hash(k, kl));
    }
    okvec_aggregate(&r.o);
    assert_int_equal(r.o.n, distinct);
    r.ser = serialize1(&t, &r.len);
    mrc_table_free(&t);
    return r;
}

static void rtable_free(rtable *r)
{
    free(r->keys);
    okvec_free(&r->o);
    free(r->ser);
}

/* ---- hash ranges ---- */

/* floor(h * n / 2^64), exactly. */
static uint64_t range_of(uint64_t h, uint32_t n)
{
    return (uint64_t)(((u128)h * n) >> 64);
}

static void check_range_starts(uint32_t n, uint32_t r)
{
    uint64_t s = mrc_hash_range_start(r, n);
    if (r == 0) {
        assert_int_equal(s, 0);
        return;
    }
    if (range_of(s, n) != r || range_of(s - 1, n) != r - 1)
        fail_msg("range start %u of %u = 0x%016llx: maps to %llu, previous hash to %llu", r, n,
                 (unsigned long long)s, (unsigned long long)range_of(s, n),
                 (unsigned long long)range_of(s - 1, n));
}

static void test_hash_range_start(void **state)
{
    (void)state;
    static const uint32_t ns[] = {1, 2, 3, 5, 7, 64, 1000};
    for (size_t i = 0; i < sizeof ns / sizeof ns[0]; i++) {
        uint32_t n = ns[i];
        uint64_t prev = 0;
        for (uint32_t r = 0; r < n; r++) {
            check_range_starts(n, r);
            uint64_t s = mrc_hash_range_start(r, n);
            if (r > 0) assert_true(s > prev);
            prev = s;
        }
        /* the last range reaches the top hash */
        assert_int_equal(range_of(UINT64_MAX, n), n - 1);
    }
    /* hand-checked: halves and thirds of 2^64 */
    assert_int_equal(mrc_hash_range_start(1, 2), 0x8000000000000000ull);
    assert_int_equal(mrc_hash_range_start(1, 3), 0x5555555555555556ull);
    assert_int_equal(mrc_hash_range_start(2, 3), 0xaaaaaaaaaaaaaaabull);
    assert_int_equal(mrc_hash_range_start(1, 64), 0x0400000000000000ull);
    /* large n, a sample of r (both ends included) */
    rng_seed(3);
    static const uint32_t big[] = {65535, 65537, 1000003, 0x7fffffffu, 0xffffffffu};
    for (size_t i = 0; i < sizeof big / sizeof big[0]; i++) {
        uint32_t n = big[i];
        check_range_starts(n, 1);
        check_range_starts(n, n - 1);
        for (int k = 0; k < 200; k++) {
            uint32_t r = 1 + (uint32_t)rng_below(n - 1);
            check_range_starts(n, r);
            assert_true(mrc_hash_range_start(r, n) > mrc_hash_range_start(r - 1, n));
        }
    }
}

/* ---- range cuts ---- */

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

/* nb ascending bounds around the hashes of p: 0, UINT64_MAX, random, record hashes and their
 * neighbours (stride edges first), past the last hash, repeats. */
static void random_bounds(const parsed *p, uint64_t *b, size_t nb)
{
    static const size_t edges[] = {0, 1, 62, 63, 64, 65, 127, 128, 129, 999, 1000};
    for (size_t i = 0; i < nb; i++) {
        size_t kind = rng_below(10);
        uint64_t v;
        if (kind == 0)
            v = 0;
        else if (kind == 1)
            v = UINT64_MAX;
        else if (kind == 2 || p->n == 0)
            v = rng_next();
        else if (kind == 3 && i > 0)
            v = b[rng_below(i)]; /* a duplicate */
        else if (kind == 4)
            v = p->hash[p->n - 1] + 1; /* past every hash (wraps only if it is 2^64-1) */
        else {
            size_t e = edges[rng_below(sizeof edges / sizeof edges[0])];
            size_t r = rng_below(2) && e < p->n ? e : rng_below(p->n);
            v = p->hash[r] + (uint64_t)((int)rng_below(3) - 1); /* hash - 1, hash, hash + 1 */
        }
        b[i] = v;
    }
    qsort(b, nb, sizeof *b, cmp_u64);
}

static void check_cut(const unsigned char *pl, size_t len, const parsed *p, const uint64_t *b,
                      size_t nb)
{
    size_t *off = malloc((nb + 1) * sizeof *off);
    size_t *off2 = malloc((nb + 1) * sizeof *off2);
    uint64_t *rec = malloc((nb + 1) * sizeof *rec);
    assert_true(off && off2 && rec);
    mrc_err err = {0};
    assert_int_equal(mrc_ser_cut(pl, len, b, nb, off, rec, &err), 0);
    for (size_t k = 0; k < nb; k++) {
        size_t i = 0; /* brute force: the first record whose hash reaches the bound */
        while (i < p->n && p->hash[i] < b[k])
            i++;
        if (off[k] != p->off[i] || rec[k] != i)
            fail_msg("%zu records, bound %zu/%zu = 0x%016llx: cut at byte %zu record %llu, want "
                     "byte %zu record %zu",
                     p->n, k, nb, (unsigned long long)b[k], off[k], (unsigned long long)rec[k],
                     p->off[i], i);
    }
    assert_int_equal(off[nb], len);
    assert_int_equal(rec[nb], p->n);
    /* without the ordinals: the same offsets */
    memset(&err, 0, sizeof err);
    assert_int_equal(mrc_ser_cut(pl, len, b, nb, off2, NULL, &err), 0);
    for (size_t k = 0; k <= nb; k++)
        assert_int_equal(off2[k], off[k]);
    free(off);
    free(off2);
    free(rec);
}

static void test_ser_cut_random(void **state)
{
    (void)state;
    static const size_t sizes[] = {0, 1, 2, 63, 64, 65, 1000, 20000};
    static const size_t nbs[] = {0, 1, 2, 3, 8, 40, 200};
    for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; s++) {
        rng_seed(100 + s);
        rtable t = rtable_make(sizes[s]);
        const unsigned char *pl = t.ser + MRC_SER_HEADER;
        size_t len = t.len - MRC_SER_HEADER;
        unsigned char *exact = exact_copy(pl, len);
        parsed p = parse_payload(exact, len);
        assert_int_equal(p.n, sizes[s]);
        uint64_t b[200];
        for (size_t j = 0; j < sizeof nbs / sizeof nbs[0]; j++)
            for (int rep = 0; rep < 4; rep++) {
                random_bounds(&p, b, nbs[j]);
                check_cut(exact, len, &p, b, nbs[j]);
            }
        /* every record hash as a bound, and each hash + 1 */
        if (p.n > 0 && p.n <= 1000) {
            uint64_t *all = malloc(2 * p.n * sizeof *all);
            assert_non_null(all);
            for (size_t i = 0; i < p.n; i++) {
                all[2 * i] = p.hash[i];
                all[2 * i + 1] = p.hash[i] + 1;
            }
            qsort(all, 2 * p.n, sizeof *all, cmp_u64);
            check_cut(exact, len, &p, all, 2 * p.n);
            free(all);
        }
        /* the shuffle's bounds: range starts of P ranks */
        for (uint32_t P = 1; P <= 9; P += 4) {
            uint64_t rb[9];
            for (uint32_t r = 0; r < P; r++)
                rb[r] = mrc_hash_range_start(r, P);
            check_cut(exact, len, &p, rb, P);
        }
        parsed_free(&p);
        free(exact);
        rtable_free(&t);
    }
}

/* A payload that ends inside a record is rejected, wherever it ends. */
static void test_ser_cut_truncated(void **state)
{
    (void)state;
    rng_seed(7);
    rtable t = rtable_make(200);
    const unsigned char *pl = t.ser + MRC_SER_HEADER;
    size_t len = t.len - MRC_SER_HEADER;
    parsed p = parse_payload(pl, len);
    uint64_t b[3] = {0, 0x8000000000000000ull, UINT64_MAX};
    size_t off[4];
    /* every cut inside the first two records and the last, and a sample elsewhere */
    for (size_t cut = 1; cut < len; cut++) {
        size_t i = 0;
        while (p.off[i + 1] <= cut)
            i++;
        int boundary = p.off[i] == cut;
        if (!(i < 2 || i + 1 == p.n || rng_below(8) == 0)) continue;
        unsigned char *c = exact_copy(pl, cut);
        mrc_err err = {0};
        int rc = mrc_ser_cut(c, cut, b, 3, off, NULL, &err);
        if (boundary) {
            assert_int_equal(rc, 0);
            assert_int_equal(off[3], cut);
        } else {
            if (rc != MRC_EINVAL) fail_msg("payload cut at byte %zu of %zu: rc %d", cut, len, rc);
            assert_int_equal(err.code, MRC_EINVAL);
        }
        free(c);
    }
    /* a key length past the end */
    unsigned char *c = exact_copy(pl, len);
    put_le(c + p.off[p.n / 2] + 8, 0xffffffffu, 4);
    mrc_err err = {0};
    assert_int_equal(mrc_ser_cut(c, len, b, 3, off, NULL, &err), MRC_EINVAL);
    free(c);
    parsed_free(&p);
    rtable_free(&t);
}

/* ---- k-way merges ---- */

typedef struct mergecase {
    unsigned char **ser; /* K serialized tables */
    size_t *len;
    mrc_ser_run *runs;
    unsigned char *want; /* the oracle serialization of all adds */
    size_t want_len;
    uint64_t want_total;
    size_t want_records;
    unsigned char *one; /* mrc_table_serialize of one table that received every add */
    size_t one_len;
} mergecase;

/* K tables of random adds from one key pool (keys, lens): tables overlap, some are empty, some
 * draw from a part of the pool only. */
static mergecase mergecase_make(size_t K, const unsigned char *keys, const uint32_t *lens,
                                size_t npool, size_t maxadds)
{
    mergecase m;
    m.ser = calloc(K, sizeof *m.ser);
    m.len = calloc(K, sizeof *m.len);
    m.runs = calloc(K + 1, sizeof *m.runs);
    assert_true(m.ser && m.len && m.runs);
    okvec o = {0};
    mrc_table all;
    mrc_err err = {0};
    assert_int_equal(mrc_table_init(&all, 0, &err), 0);
    for (size_t k = 0; k < K; k++) {
        mrc_table t;
        assert_int_equal(mrc_table_init(&t, 0, &err), 0);
        size_t nadds = K > 1 && k % 4 == 1 ? 0 : rng_below(maxadds + 1);
        size_t lo = 0, hi = npool;
        if (k % 3 == 2) lo = rng_below(npool);
        if (k % 3 == 1) hi = 1 + rng_below(npool);
        for (size_t a = 0; a < nadds; a++) {
            size_t i = lo + rng_below(hi - lo);
            uint64_t c = 1 + rng_below(rng_below(4) == 0 ? 1000000 : 3);
            add_ok(&t, keys + 40 * i, lens[i], c);
            add_ok(&all, keys + 40 * i, lens[i], c);
            okvec_push(&o, keys + 40 * i, lens[i], c, mrc_hash(keys + 40 * i, lens[i]));
        }
        m.ser[k] = serialize1(&t, &m.len[k]);
        m.runs[k] = (mrc_ser_run){m.ser[k] + MRC_SER_HEADER, m.len[k] - MRC_SER_HEADER};
        mrc_table_free(&t);
    }
    okvec_aggregate(&o);
    m.want_total = okvec_total(&o);
    m.want_records = o.n;
    m.want = oracle_serialize(&o, m.want_total, 0, &m.want_len);
    m.one = serialize1(&all, &m.one_len);
    assert_bytes_equal(m.one, m.one_len, m.want, m.want_len);
    mrc_table_free(&all);
    okvec_free(&o);
    return m;
}

static void mergecase_free(mergecase *m, size_t K)
{
    for (size_t k = 0; k < K; k++)
        free(m->ser[k]);
    free(m->ser);
    free(m->len);
    free(m->runs);
    free(m->want);
    free(m->one);
}

/* Merge runs into a buffer of exactly cap bytes; returns it (caller frees). */
static unsigned char *merge_ok(const mrc_ser_run *runs, size_t n, size_t cap, mrc_ser_merged *res)
{
    unsigned char *out = malloc(cap ? cap : 1);
    assert_non_null(out);
    mrc_err err = {0};
    int rc = mrc_ser_merge_runs(runs, n, out, cap, res, &err);
    if (rc != 0) fail_msg("mrc_ser_merge_runs(%zu runs): %d %s", n, rc, err.msg);
    assert_true(res->bytes <= cap);
    return out;
}

static size_t runs_len(const mrc_ser_run *runs, size_t n)
{
    size_t s = 0;
    for (size_t i = 0; i < n; i++)
        s += runs[i].len;
    return s;
}

static void test_merge_runs_random(void **state)
{
    (void)state;
    static const size_t Ks[] = {1, 2, 3, 7, 16};
    enum { NPOOL = 3000 };
    unsigned char *keys = malloc(NPOOL * 40);
    uint32_t lens[NPOOL];
    assert_non_null(keys);
    for (size_t ki = 0; ki < sizeof Ks / sizeof Ks[0]; ki++)
        for (int rep = 0; rep < 3; rep++) {
            size_t K = Ks[ki];
            rng_seed(1000 + 10 * ki + (uint64_t)rep);
            size_t npool = rep == 0 ? 40 : NPOOL;
            for (size_t i = 0; i < npool; i++)
                lens[i] = i == 0 ? 0 : random_key(keys + 40 * i);
            mergecase m = mergecase_make(K, keys, lens, npool, rep == 2 ? 4000 : 300);
            const unsigned char *want_pl = m.want + MRC_SER_HEADER;
            size_t want_pl_len = m.want_len - MRC_SER_HEADER;

            /* the whole merge, into exactly the sum of the runs' lengths */
            mrc_ser_merged res;
            size_t cap = runs_len(m.runs, K);
            unsigned char *out = merge_ok(m.runs, K, cap, &res);
            assert_bytes_equal(out, res.bytes, want_pl, want_pl_len);
            assert_int_equal(res.records, m.want_records);
            assert_int_equal(res.total, m.want_total);
            /* and into exactly its own size */
            mrc_ser_merged res2;
            unsigned char *tight = merge_ok(m.runs, K, res.bytes, &res2);
            assert_bytes_equal(tight, res2.bytes, want_pl, want_pl_len);
            free(tight);
            /* the runs in reverse order: the same result */
            mrc_ser_run rev[16];
            for (size_t k = 0; k < K; k++)
                rev[k] = m.runs[K - 1 - k];
            tight = merge_ok(rev, K, cap, &res2);
            assert_bytes_equal(tight, res2.bytes, want_pl, want_pl_len);
            free(tight);

            /* the shuffle: every run cut at the same range starts, slices merged per range and
             * concatenated */
            static const uint32_t Ps[] = {1, 2, 5, 13};
            for (size_t pi = 0; pi < sizeof Ps / sizeof Ps[0]; pi++) {
                uint32_t P = Ps[pi];
                uint64_t bounds[13];
                for (uint32_t r = 0; r < P; r++)
                    bounds[r] = mrc_hash_range_start(r, P);
                size_t cuts[16][14];
                for (size_t k = 0; k < K; k++) {
                    mrc_err err = {0};
                    assert_int_equal(mrc_ser_cut(m.runs[k].payload, m.runs[k].len, bounds, P,
                                                 cuts[k], NULL, &err),
                                     0);
                    assert_int_equal(cuts[k][0], 0);
                }
                unsigned char *cat = malloc(res.bytes + 1);
                assert_non_null(cat);
                size_t w = 0;
                uint64_t recs = 0;
                for (uint32_t p = 0; p < P; p++) {
                    mrc_ser_run slices[16];
                    for (size_t k = 0; k < K; k++)
                        slices[k] = (mrc_ser_run){m.runs[k].payload + cuts[k][p],
                                                  cuts[k][p + 1] - cuts[k][p]};
                    mrc_ser_merged rp;
                    unsigned char *part = merge_ok(slices, K, runs_len(slices, K), &rp);
                    /* every record of slice p lies in range p */
                    parsed pp = parse_payload(part, rp.bytes);
                    assert_int_equal(pp.n, rp.records);
                    for (size_t i = 0; i < pp.n; i++)
                        assert_int_equal(range_of(pp.hash[i], P), p);
                    parsed_free(&pp);
                    assert_true(w + rp.bytes <= res.bytes);
                    if (rp.bytes) memcpy(cat + w, part, rp.bytes);
                    w += rp.bytes;
                    recs += rp.records;
                    free(part);
                }
                assert_bytes_equal(cat, w, out, res.bytes);
                assert_int_equal(recs, res.records);
                free(cat);
            }
            free(out);
            mergecase_free(&m, K);
        }
    free(keys);
}

static void test_merge_runs_edges(void **state)
{
    (void)state;
    mrc_ser_merged res;
    mrc_err err = {0};
    unsigned char buf[1] = {0};
    /* no runs, and empty runs only */
    assert_int_equal(mrc_ser_merge_runs(NULL, 0, buf, 0, &res, &err), 0);
    assert_int_equal(res.bytes, 0);
    assert_int_equal(res.records, 0);
    assert_int_equal(res.total, 0);
    mrc_ser_run empty[3] = {{buf, 0}, {buf, 0}, {buf, 0}};
    assert_int_equal(mrc_ser_merge_runs(empty, 3, buf, 0, &res, &err), 0);
    assert_int_equal(res.bytes, 0);
    assert_int_equal(res.records, 0);

    /* hand-checked: "a" x2 + "a" x3 + "" x7 -> "" 7 and "a" 5, in hash order */
    mrc_table a, b;
    assert_int_equal(mrc_table_init(&a, 0, &err), 0);
    assert_int_equal(mrc_table_init(&b, 0, &err), 0);
    add_ok(&a, "a", 1, 2);
    add_ok(&b, "a", 1, 3);
    add_ok(&b, "", 0, 7);
    size_t la, lb;
    unsigned char *sa = serialize1(&a, &la), *sb = serialize1(&b, &lb);
    mrc_ser_run runs[2] = {{sa + 40, la - 40}, {sb + 40, lb - 40}};
    unsigned char *out = merge_ok(runs, 2, la + lb - 80, &res);
    assert_int_equal(res.records, 2);
    assert_int_equal(res.total, 12);
    assert_int_equal(res.bytes, 12 + 0 + 12 + 1);
    int empty_first = mrc_hash("", 0) < mrc_hash("a", 1);
    const unsigned char *re = out + (empty_first ? 0 : 13), *ra = out + (empty_first ? 12 : 0);
    assert_int_equal(get_le(re, 8), 7);
    assert_int_equal(get_le(re + 8, 4), 0);
    assert_int_equal(get_le(ra, 8), 5);
    assert_int_equal(get_le(ra + 8, 4), 1);
    assert_int_equal(ra[12], 'a');
    free(out);
    free(sa);
    free(sb);
    mrc_table_free(&a);
    mrc_table_free(&b);
}

/* Runs holding key `k` with the given counts (each run also holds a few other keys). */
static void overflow_runs(const uint64_t *counts, size_t n, const char *k, unsigned char **ser,
                          mrc_ser_run *runs)
{
    for (size_t i = 0; i < n; i++) {
        mrc_table t;
        mrc_err err = {0};
        assert_int_equal(mrc_table_init(&t, 0, &err), 0);
        char other[32];
        for (int j = 0; j < 20; j++) {
            snprintf(other, sizeof other, "other-%zu-%d", i % 2, j);
            add_ok(&t, other, (uint32_t)strlen(other), 1 + (uint64_t)j);
        }
        add_ok(&t, k, (uint32_t)strlen(k), counts[i]);
        size_t len;
        ser[i] = serialize1(&t, &len);
        runs[i] = (mrc_ser_run){ser[i] + MRC_SER_HEADER, len - MRC_SER_HEADER};
        mrc_table_free(&t);
    }
}

static void test_merge_runs_count_overflow(void **state)
{
    (void)state;
    const char *k = "the-overflowing-key";
    const uint64_t M = UINT64_MAX, E60 = 1ull << 60;
    static const struct {
        size_t n;
        uint64_t c[16];
        int overflow;
    } cases[] = {
        {2, {UINT64_MAX - 5, 6}, 1},     {2, {UINT64_MAX - 5, 5}, 0},
        {2, {UINT64_MAX, 1}, 1},         {3, {UINT64_MAX - 10, 5, 6}, 1},
        {3, {UINT64_MAX - 10, 5, 5}, 0}, {3, {1, UINT64_MAX, 1}, 1},
    };
    for (size_t ci = 0; ci < sizeof cases / sizeof cases[0] + 2; ci++) {
        uint64_t c[16];
        size_t n;
        int overflow;
        if (ci < sizeof cases / sizeof cases[0]) {
            n = cases[ci].n;
            memcpy(c, cases[ci].c, sizeof c);
            overflow = cases[ci].overflow;
        } else {
            /* 16 runs of 2^60: the last one passes 2^64-1; one less fits exactly */
            n = 16;
            for (size_t i = 0; i < n; i++)
                c[i] = E60;
            overflow = ci == sizeof cases / sizeof cases[0];
            if (!overflow) c[7] = E60 - 1;
        }
        unsigned char *ser[16];
        mrc_ser_run runs[16];
        overflow_runs(c, n, k, ser, runs);
        size_t cap = runs_len(runs, n);
        unsigned char *out = malloc(cap);
        assert_non_null(out);
        mrc_ser_merged res;
        mrc_err err = {0};
        int rc = mrc_ser_merge_runs(runs, n, out, cap, &res, &err);
        if (overflow) {
            if (rc != MRC_EOVERFLOW) fail_msg("case %zu: rc %d, want MRC_EOVERFLOW", ci, rc);
            assert_int_equal(err.code, MRC_EOVERFLOW);
            if (strstr(err.msg, k) == NULL) fail_msg("case %zu: message '%s'", ci, err.msg);
        } else {
            if (rc != 0) fail_msg("case %zu: rc %d %s", ci, rc, err.msg);
            parsed p = parse_payload(out, res.bytes);
            int found = 0;
            for (size_t i = 0; i < p.n; i++) {
                const unsigned char *r = out + p.off[i];
                if (get_le(r + 8, 4) == strlen(k) && memcmp(r + 12, k, strlen(k)) == 0) {
                    assert_int_equal(get_le(r, 8), M);
                    found++;
                }
            }
            assert_int_equal(found, 1);
            assert_int_equal(res.records, 41); /* k and other-0-*, other-1-* */
            assert_int_equal(res.total, M);    /* saturated */
            parsed_free(&p);
        }
        free(out);
        for (size_t i = 0; i < n; i++)
            free(ser[i]);
    }
}

/* Any cap below the result's size fails and writes nothing past cap. */
static void test_merge_runs_cap(void **state)
{
    (void)state;
    static const size_t pools[] = {12, 400};
    unsigned char *keys = malloc(400 * 40);
    uint32_t lens[400];
    assert_non_null(keys);
    for (size_t pi = 0; pi < 2; pi++) {
        rng_seed(77 + pi);
        size_t npool = pools[pi], K = 3;
        for (size_t i = 0; i < npool; i++)
            lens[i] = i == 0 ? 0 : random_key(keys + 40 * i);
        mergecase m = mergecase_make(K, keys, lens, npool, pi == 0 ? 10 : 500);
        size_t need = m.want_len - MRC_SER_HEADER;
        assert_true(need > 0);
        for (size_t cap = 0; cap < need; cap += pi == 0 ? 1 : 1 + rng_below(97)) {
            /* exactly cap bytes (ASan), then cap bytes followed by a canary (any build) */
            unsigned char *out = malloc(cap ? cap : 1);
            assert_non_null(out);
            mrc_ser_merged res;
            mrc_err err = {0};
            int rc = mrc_ser_merge_runs(m.runs, K, out, cap, &res, &err);
            if (rc != MRC_EOVERFLOW)
                fail_msg("cap %zu of %zu: rc %d, want MRC_EOVERFLOW", cap, need, rc);
            free(out);
            enum { CANARY = 64 };
            out = malloc(cap + CANARY);
            assert_non_null(out);
            memset(out, 0xa5, cap + CANARY);
            memset(&err, 0, sizeof err);
            assert_int_equal(mrc_ser_merge_runs(m.runs, K, out, cap, &res, &err), MRC_EOVERFLOW);
            for (size_t i = cap; i < cap + CANARY; i++)
                if (out[i] != 0xa5) fail_msg("cap %zu: byte %zu written", cap, i);
            free(out);
        }
        mrc_ser_merged res;
        unsigned char *out = merge_ok(m.runs, K, need, &res);
        assert_bytes_equal(out, res.bytes, m.want + MRC_SER_HEADER, need);
        free(out);
        mergecase_free(&m, K);
    }
    free(keys);
}

/* A run that ends inside a record is rejected: in its first record or later, alone or with
 * others. */
static void test_merge_runs_truncated(void **state)
{
    (void)state;
    rng_seed(55);
    rtable t = rtable_make(100), u = rtable_make(50);
    const unsigned char *pl = t.ser + MRC_SER_HEADER;
    size_t len = t.len - MRC_SER_HEADER;
    parsed p = parse_payload(pl, len);
    mrc_ser_run other = {u.ser + MRC_SER_HEADER, u.len - MRC_SER_HEADER};
    for (size_t cut = 1; cut < len; cut++) {
        size_t i = 0;
        while (p.off[i + 1] <= cut)
            i++;
        if (p.off[i] == cut) continue; /* a record boundary: a valid shorter run */
        if (!(i < 2 || i + 2 >= p.n || rng_below(10) == 0)) continue;
        unsigned char *c = exact_copy(pl, cut);
        for (int with_other = 0; with_other < 2; with_other++) {
            mrc_ser_run runs[2] = {other, {c, cut}};
            size_t n = with_other ? 2 : 1;
            const mrc_ser_run *r = with_other ? runs : runs + 1;
            size_t cap = runs_len(r, n);
            unsigned char *out = malloc(cap);
            assert_non_null(out);
            mrc_ser_merged res;
            mrc_err err = {0};
            int rc = mrc_ser_merge_runs(r, n, out, cap, &res, &err);
            if (rc != MRC_EINVAL) fail_msg("run cut at byte %zu of %zu: rc %d", cut, len, rc);
            assert_int_equal(err.code, MRC_EINVAL);
            free(out);
        }
        free(c);
    }
    /* a key length past the end of the run */
    unsigned char *c = exact_copy(pl, len);
    put_le(c + p.off[p.n - 1] + 8, 0x7fffffffu, 4);
    mrc_ser_run runs[2] = {other, {c, len}};
    unsigned char *out = malloc(len + other.len);
    assert_non_null(out);
    mrc_ser_merged res;
    mrc_err err = {0};
    assert_int_equal(mrc_ser_merge_runs(runs, 2, out, len + other.len, &res, &err), MRC_EINVAL);
    free(out);
    free(c);
    parsed_free(&p);
    rtable_free(&t);
    rtable_free(&u);
}

/* ---- HyperLogLog ---- */

static void assert_estimate(const mrc_hll *h, double n, const char *what)
{
    double e = mrc_hll_estimate(h);
    double tol = n < 2 ? 0.5 : 0.03 * n;
    if (!(fabs(e - n) <= tol)) fail_msg("%s: estimate %.1f of %.0f distinct", what, e, n);
}

static void test_hll_accuracy(void **state)
{
    (void)state;
    static const size_t ns[] = {0, 1, 100, 10000, 100000, 1000000};
    static mrc_hll h, again;
    for (size_t i = 0; i < sizeof ns / sizeof ns[0]; i++) {
        for (uint64_t seed = 1; seed <= (ns[i] >= 100000 ? 1 : 3); seed++) {
            rng_seed(900 + 10 * i + seed);
            uint64_t s0 = rng_state;
            mrc_hll_init(&h);
            for (size_t k = 0; k < ns[i]; k++)
                mrc_hll_add(&h, rng_next());
            char what[64];
            snprintf(what, sizeof what, "%zu random hashes", ns[i]);
            assert_estimate(&h, (double)ns[i], what);
            /* duplicates (the same hashes again, a prefix of them twice more): no change */
            double e = mrc_hll_estimate(&h);
            memcpy(&again, &h, sizeof h);
            rng_state = s0;
            for (size_t k = 0; k < ns[i]; k++)
                mrc_hll_add(&again, rng_next());
            rng_state = s0;
            for (size_t k = 0; k < ns[i] / 3; k++) {
                uint64_t x = rng_next();
                mrc_hll_add(&again, x);
                mrc_hll_add(&again, x);
            }
            assert_memory_equal(again.reg, h.reg, sizeof h.reg);
            assert_true(mrc_hll_estimate(&again) == e);
        }
    }
    /* hashes confined to one range of 256 (top bits fixed) are counted as well */
    rng_seed(31);
    mrc_hll_init(&h);
    for (size_t k = 0; k < 100000; k++)
        mrc_hll_add(&h, rng_next() >> 8 | 0xa7ull << 56);
    assert_estimate(&h, 100000, "100000 hashes of one range");
    /* the same hash added alone: one distinct */
    mrc_hll_init(&h);
    for (int k = 0; k < 1000; k++)
        mrc_hll_add(&h, 0x0123456789abcdefull);
    assert_estimate(&h, 1, "one hash 1000 times");
}

static void test_hll_merge(void **state)
{
    (void)state;
    static mrc_hll a, b, u, ab, ba;
    static const struct {
        size_t na, nb, overlap;
    } cases[] = {{0, 0, 0}, {0, 500, 0}, {3000, 3000, 1000}, {600000, 600000, 200000}};
    for (size_t ci = 0; ci < sizeof cases / sizeof cases[0]; ci++) {
        /* a = hashes [0, na), b = [na - overlap, na - overlap + nb), u = their union */
        size_t na = cases[ci].na, nb = cases[ci].nb, ov = cases[ci].overlap;
        size_t n = na - ov + nb;
        rng_seed(4242 + ci);
        mrc_hll_init(&a);
        mrc_hll_init(&b);
        mrc_hll_init(&u);
        for (size_t k = 0; k < n; k++) {
            uint64_t x = rng_next();
            if (k < na) mrc_hll_add(&a, x);
            if (k >= na - ov) mrc_hll_add(&b, x);
            mrc_hll_add(&u, x);
        }
        memcpy(&ab, &a, sizeof a);
        mrc_hll_merge(&ab, &b);
        memcpy(&ba, &b, sizeof b);
        mrc_hll_merge(&ba, &a);
        assert_memory_equal(ab.reg, u.reg, sizeof u.reg); /* the sketch of the union */
        assert_memory_equal(ba.reg, u.reg, sizeof u.reg);
        assert_estimate(&ab, (double)n, "merged sketches");
        mrc_hll_merge(&ab, &a); /* idempotent */
        assert_memory_equal(ab.reg, u.reg, sizeof u.reg);
    }
}

static void test_hll_add_ser(void **state)
{
    (void)state;
    static const size_t sizes[] = {0, 1, 65, 5000};
    static mrc_hll h, want;
    for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; s++) {
        rng_seed(600 + s);
        rtable t = rtable_make(sizes[s]);
        mrc_hll_init(&h);
        mrc_hll_init(&want);
        mrc_err err = {0};
        assert_int_equal(mrc_hll_add_ser(&h, NULL, t.ser, &err), 0);
        for (size_t i = 0; i < t.o.n; i++)
            mrc_hll_add(&want, mrc_hash(t.o.v[i].key, t.o.v[i].len));
        assert_memory_equal(h.reg, want.reg, sizeof h.reg);
        assert_estimate(&h, (double)sizes[s], "serialized table");
        /* adding onto a non-empty sketch: the union */
        mrc_hll_add(&want, 42);
        mrc_hll_init(&h);
        mrc_hll_add(&h, 42);
        assert_int_equal(mrc_hll_add_ser(&h, NULL, t.ser, &err), 0);
        assert_memory_equal(h.reg, want.reg, sizeof h.reg);
        /* a header that claims one byte less: the last record is truncated */
        if (sizes[s] > 0) {
            unsigned char *c = exact_copy(t.ser, t.len);
            put_le(c + 16, get_le(c + 16, 8) - 1, 8);
            memset(&err, 0, sizeof err);
            assert_int_equal(mrc_hll_add_ser(&h, NULL, c, &err), MRC_EINVAL);
            assert_int_equal(err.code, MRC_EINVAL);
            free(c);
        }
        rtable_free(&t);
    }
}

/* ---- priority sample of the keys' bytes ---- */

static void assert_bytes(const mrc_psample *s, double want, double tol, const char *what)
{
    double e = mrc_psample_estimate(s);
    if (!(fabs(e - want) <= tol * want)) fail_msg("%s: estimate %.0f of %.0f bytes", what, e, want);
}

static void test_psample(void **state)
{
    (void)state;
    static mrc_psample a, b, c;
    /* up to MRC_PSAMPLE keys: exact; the same keys merged in: no change */
    rng_seed(71);
    mrc_psample_init(&a);
    assert_true(mrc_psample_estimate(&a) == 0);
    double sum = 0;
    for (size_t i = 0; i < MRC_PSAMPLE; i++) {
        uint64_t w = 12 + rng_next() % 5000;
        mrc_psample_add(&a, rng_next(), w);
        sum += (double)w;
    }
    assert_true(mrc_psample_estimate(&a) == sum);
    memcpy(&b, &a, sizeof a);
    mrc_psample_merge(&b, &a);
    assert_memory_equal(&a, &b, sizeof a);
    /* two ranks share 5000 short keys, each has 200 long ones of its own: the union's bytes
     * (the distinct keys times a mean over both ranks' records: 43% short here) */
    for (uint64_t seed = 1; seed <= 10; seed++) {
        rng_seed(7100 + seed);
        mrc_psample_init(&a);
        mrc_psample_init(&b);
        double truth = 0;
        for (size_t i = 0; i < 5000; i++) {
            uint64_t h = rng_next(), w = 12 + 5 + rng_next() % 4;
            mrc_psample_add(&a, h, w);
            mrc_psample_add(&b, h, w);
            truth += (double)w;
        }
        for (size_t i = 0; i < 400; i++) {
            uint64_t w = 12 + 200 + rng_next() % 1000;
            mrc_psample_add(i % 2 ? &a : &b, rng_next(), w);
            truth += (double)w;
        }
        memcpy(&c, &b, sizeof b);
        mrc_psample_merge(&b, &a);
        mrc_psample_merge(&a, &c);
        assert_memory_equal(&a, &b, sizeof a); /* commutative */
        assert_bytes(&a, truth, 0.12, "5000 shared short keys, 400 long of one rank");
    }
    /* alike keys, 20000 in 8 samples merged: each within 20% (3 standard errors), unbiased */
    double rel = 0;
    for (uint64_t seed = 1; seed <= 40; seed++) {
        rng_seed(7200 + seed);
        mrc_psample_init(&a);
        double truth = 0;
        for (int r = 0; r < 8; r++) {
            mrc_psample_init(&b);
            for (size_t i = 0; i < 2500; i++) {
                uint64_t w = 12 + rng_next() % 30;
                mrc_psample_add(&b, rng_next(), w);
                truth += (double)w;
            }
            mrc_psample_merge(&a, &b);
        }
        assert_bytes(&a, truth, 0.20, "20000 keys of 12-41 bytes");
        rel += (mrc_psample_estimate(&a) - truth) / truth;
    }
    if (fabs(rel / 40) > 0.03) fail_msg("mean relative error %.4f over 40 seeds", rel / 40);
    /* from a serialized table: each record's hash and bytes */
    rng_seed(73);
    rtable t = rtable_make(3000);
    static mrc_hll h;
    mrc_hll_init(&h);
    mrc_psample_init(&a);
    mrc_psample_init(&b);
    mrc_err err = {0};
    assert_int_equal(mrc_hll_add_ser(&h, &a, t.ser, &err), 0);
    for (size_t i = 0; i < t.o.n; i++)
        mrc_psample_add(&b, mrc_hash(t.o.v[i].key, t.o.v[i].len), 12 + (uint64_t)t.o.v[i].len);
    assert_memory_equal(&a, &b, sizeof a);
    rtable_free(&t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_hash_range_start),  cmocka_unit_test(test_ser_cut_random),
        cmocka_unit_test(test_ser_cut_truncated), cmocka_unit_test(test_merge_runs_random),
        cmocka_unit_test(test_merge_runs_edges),  cmocka_unit_test(test_merge_runs_count_overflow),
        cmocka_unit_test(test_merge_runs_cap),    cmocka_unit_test(test_merge_runs_truncated),
        cmocka_unit_test(test_hll_accuracy),      cmocka_unit_test(test_hll_merge),
        cmocka_unit_test(test_hll_add_ser),       cmocka_unit_test(test_psample),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
