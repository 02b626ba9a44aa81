/* test_stream.c - record streams and the k-way merge (stream.c): the stream over a payload, its
 * truncation at every byte, and the merge of 0, 1, a few and 1000 streams in each order against
 * a naive oracle (every record of every stream, sorted and summed by plain code), in the output
 * orders also with counts that differ in any byte and keys behind a long shared prefix; the errors
 * a merge must raise: a count past 2^64-1 naming the key, a stream out of order, a key twice in an
 * output order, a failing stream, a failing sink (and nothing emitted after it). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "records_util.h"

/* ---- the stream over a payload ---- */

static void test_ser_source_round_trip(void **state)
{
    (void)state;
    rng_seed(11);
    for (int o = MRC_ORDER_HASH; o <= MRC_ORDER_KEY; o++) {
        okvec u = {0};
        keypool kp = {0};
        gen_universe(&u, &kp, 300, 30, 1000);
        order_sort(u.v, u.n, (enum mrc_order)o);
        size_t len;
        unsigned char *pl = payload_of(u.v, u.n, &len);
        mrc_err err = {0};
        mrc_source *s = mrc_ser_source_open(pl, len, (enum mrc_order)o, &err);
        assert_non_null(s);
        coll c = {0};
        assert_int_equal(coll_drain(&c, s, &err), 0);
        assert_recs(&c.o, u.v, u.n, o == MRC_ORDER_HASH);
        mrc_rec_view v;
        assert_int_equal(s->next(s, &v, &err), 0); /* stays ended */
        s->close(s);
        coll_free(&c);
        free(pl);
        okvec_free(&u);
        keypool_free(&kp);
    }
    /* an empty payload, even a NULL one */
    mrc_err err = {0};
    mrc_source *s = mrc_ser_source_open(NULL, 0, MRC_ORDER_HASH, &err);
    assert_non_null(s);
    mrc_rec_view v;
    assert_int_equal(s->next(s, &v, &err), 0);
    s->close(s);
}

/* Cut a payload at every byte: the stream gives the whole records before the cut, then fails
 * MRC_EINVAL naming the cut record's offset (or ends cleanly on a record boundary). */
static void test_ser_source_truncated(void **state)
{
    (void)state;
    rng_seed(12);
    okvec u = {0};
    keypool kp = {0};
    gen_universe(&u, &kp, 20, 25, 9);
    order_sort(u.v, u.n, MRC_ORDER_HASH);
    size_t len;
    unsigned char *pl = payload_of(u.v, u.n, &len);
    for (size_t cut = 0; cut <= len; cut++) {
        size_t whole = 0, at = 0; /* records wholly before the cut, and where the next starts */
        while (whole < u.n && at + 12 + u.v[whole].len <= cut)
            at += 12 + u.v[whole++].len;
        unsigned char *b = malloc(cut ? cut : 1); /* exact size: ASan sees any read past it */
        memcpy(b, pl, cut);
        mrc_err err = {0};
        mrc_source *s = mrc_ser_source_open(b, cut, MRC_ORDER_HASH, &err);
        coll c = {0};
        int rc = coll_drain(&c, s, &err);
        assert_recs(&c.o, u.v, whole, 1);
        if (at == cut) {
            assert_int_equal(rc, 0);
        } else {
            assert_true(rc < 0);
            assert_int_equal(err.code, MRC_EINVAL);
            char want[128];
            snprintf(want, sizeof want, "serialized records: a record cut at byte %zu of %zu", at,
                     cut);
            assert_string_equal(err.msg, want);
        }
        s->close(s);
        coll_free(&c);
        free(b);
    }
    free(pl);
    okvec_free(&u);
    keypool_free(&kp);
}

/* ---- the merge ---- */

/* nstreams payloads of records drawn from a universe: in hash order any key may be in several
 * streams (each with a count of its own); in the output orders each key is in one stream. The
 * oracle is every record drawn, summed and sorted by plain code. */
typedef struct streams {
    size_t n;
    unsigned char **pl;
    size_t *len;
    mrc_source **src;
    okvec want;
    keypool kp;
} streams;

/* The output orders' merge codes each record by where it leaves the last one (losertree.h):
 * counts that differ in any of their 8 bytes, and keys behind a long common prefix, take
 * every path of that code. */
static int wide_counts;    /* output orders: counts from `wide` instead of 1-5 */
static size_t long_prefix; /* this many bytes before every key */

static uint64_t wide_count(void)
{
    static const uint64_t wide[] = {1,
                                    2,
                                    255,
                                    256,
                                    257,
                                    65535,
                                    65536,
                                    (uint64_t)1 << 32,
                                    ((uint64_t)1 << 32) + 1,
                                    (uint64_t)1 << 56,
                                    ((uint64_t)1 << 56) + 255,
                                    UINT64_MAX - 1,
                                    UINT64_MAX};
    return wide[rng_below(sizeof wide / sizeof wide[0])];
}

static streams streams_make(size_t n, size_t universe, enum mrc_order o, size_t max_per_stream)
{
    streams s = {n, NULL, NULL, NULL, {0}, {0}};
    s.pl = calloc(n ? n : 1, sizeof *s.pl);
    s.len = calloc(n ? n : 1, sizeof *s.len);
    s.src = calloc(n ? n : 1, sizeof *s.src);
    assert_true(s.pl && s.len && s.src);
    okvec u = {0};
    gen_universe(&u, &s.kp, universe, 24, 1000);
    for (size_t i = 0; i < u.n && long_prefix > 0; i++) {
        unsigned char key[64 + 24];
        assert_true(long_prefix <= 64);
        memset(key, 'p', long_prefix);
        memcpy(key + long_prefix, u.v[i].key, u.v[i].len);
        u.v[i].len += (uint32_t)long_prefix;
        u.v[i].key = keypool_add(&s.kp, key, u.v[i].len);
        u.v[i].hash = mrc_hash(u.v[i].key, u.v[i].len);
    }
    okvec all = {0};
    size_t next = 0; /* output orders: keys dealt out without repeats */
    for (size_t i = 0; i < n; i++) {
        okvec mine = {0};
        size_t k = i % 7 == 3 ? 0 : rng_below(max_per_stream + 1); /* some streams are empty */
        if (o == MRC_ORDER_HASH) {
            for (size_t j = 0; j < k; j++) {
                okv r = u.v[rng_below(u.n)];
                r.count = 1 + rng_below(1000);
                int dup = 0;
                for (size_t m = 0; m < mine.n; m++)
                    dup |= okv_key_cmp(&mine.v[m], &r) == 0;
                if (!dup) okvec_push(&mine, r.key, r.len, r.count, r.hash);
            }
        } else {
            for (size_t j = 0; j < k && next < u.n; j++, next++) {
                okv r = u.v[next];
                /* many equal counts: ties go to the key */
                r.count = wide_counts ? wide_count() : 1 + rng_below(5);
                okvec_push(&mine, r.key, r.len, r.count, r.hash);
            }
        }
        order_sort(mine.v, mine.n, o);
        for (size_t m = 0; m < mine.n; m++)
            okvec_push(&all, mine.v[m].key, mine.v[m].len, mine.v[m].count, mine.v[m].hash);
        s.pl[i] = payload_of(mine.v, mine.n, &s.len[i]);
        mrc_err err = {0};
        s.src[i] = mrc_ser_source_open(s.pl[i], s.len[i], o, &err);
        assert_non_null(s.src[i]);
        okvec_free(&mine);
    }
    okvec_aggregate(&all);
    order_sort(all.v, all.n, o);
    s.want = all;
    okvec_free(&u);
    return s;
}

static void streams_free(streams *s)
{
    for (size_t i = 0; i < s->n; i++) {
        s->src[i]->close(s->src[i]);
        free(s->pl[i]);
    }
    free(s->pl);
    free(s->len);
    free(s->src);
    okvec_free(&s->want);
    keypool_free(&s->kp);
}

/* The same payloads pulled through mrc_merge_source_open() (a heap): the same records. */
static void merge_source_check(const streams *s, enum mrc_order o)
{
    mrc_source **src = calloc(s->n + 1, sizeof *src);
    assert_non_null(src);
    mrc_err err = {0};
    for (size_t i = 0; i < s->n; i++) {
        src[i] = mrc_ser_source_open(s->pl[i], s->len[i], o, &err);
        assert_non_null(src[i]);
    }
    mrc_source *m = mrc_merge_source_open(src, s->n, o, &err); /* owns them */
    assert_non_null(m);
    coll c = {0};
    int rc = coll_drain(&c, m, &err);
    if (rc != 0) fail_msg("merge source of %zu streams: %d %s", s->n, rc, err.msg);
    assert_recs(&c.o, s->want.v, s->want.n, o == MRC_ORDER_HASH);
    coll_free(&c);
    m->close(m);
    free(src);
}

static void merge_check(size_t n, size_t universe, enum mrc_order o, size_t per_stream)
{
    streams s = streams_make(n, universe, o, per_stream);
    coll c = {0};
    mrc_err err = {0};
    int rc = mrc_source_merge(s.src, s.n, o, coll_sink, &c, &err);
    if (rc != 0) fail_msg("merge of %zu streams: %d %s", n, rc, err.msg);
    assert_recs(&c.o, s.want.v, s.want.n, o == MRC_ORDER_HASH);
    coll_free(&c);
    merge_source_check(&s, o);
    streams_free(&s);
}

static void test_merge_hash_sums(void **state)
{
    (void)state;
    rng_seed(21);
    static const size_t ns[] = {1, 2, 3, 4, 5, 7, 8, 9, 16, 17};
    for (size_t i = 0; i < sizeof ns / sizeof ns[0]; i++) {
        merge_check(ns[i], 50, MRC_ORDER_HASH, 40);    /* dense: most keys in many streams */
        merge_check(ns[i], 2000, MRC_ORDER_HASH, 300); /* sparse */
    }
}

static void test_merge_output_orders(void **state)
{
    (void)state;
    rng_seed(22);
    static const size_t ns[] = {1, 2, 3, 5, 8, 13, 16};
    for (size_t i = 0; i < sizeof ns / sizeof ns[0]; i++) {
        merge_check(ns[i], 3000, MRC_ORDER_COUNT, 200);
        merge_check(ns[i], 3000, MRC_ORDER_KEY, 200);
    }
}

static void test_merge_output_codes(void **state)
{
    (void)state;
    rng_seed(24);
    static const size_t ns[] = {1, 2, 3, 5, 8, 13};
    static const size_t prefixes[] = {0, 5, 8, 13, 37};
    for (int wide = 0; wide <= 1; wide++)
        for (size_t p = 0; p < sizeof prefixes / sizeof prefixes[0]; p++)
            for (size_t i = 0; i < sizeof ns / sizeof ns[0]; i++) {
                wide_counts = wide;
                long_prefix = prefixes[p];
                merge_check(ns[i], 2000, MRC_ORDER_COUNT, 300);
                merge_check(ns[i], 2000, MRC_ORDER_KEY, 300);
            }
    wide_counts = 0;
    long_prefix = 0;
}

static void test_merge_many(void **state)
{
    (void)state;
    rng_seed(23);
    merge_check(1000, 5000, MRC_ORDER_HASH, 30);
    merge_check(1000, 20000, MRC_ORDER_KEY, 15);
    merge_check(1001, 20000, MRC_ORDER_COUNT, 15);
}

static void test_merge_empty(void **state)
{
    (void)state;
    coll c = {0};
    mrc_err err = {0};
    assert_int_equal(mrc_source_merge(NULL, 0, MRC_ORDER_HASH, coll_sink, &c, &err), 0);
    mrc_source *src[3];
    for (int i = 0; i < 3; i++)
        src[i] = mrc_ser_source_open(NULL, 0, MRC_ORDER_KEY, &err);
    assert_int_equal(mrc_source_merge(src, 3, MRC_ORDER_KEY, coll_sink, &c, &err), 0);
    assert_int_equal(c.calls, 0);
    assert_int_equal(err.code, 0);
    for (int i = 0; i < 3; i++)
        src[i]->close(src[i]);
}

/* Streams given as records in the order listed (possibly out of order on purpose). */
static mrc_source *stream_of(const okv *v, size_t n, enum mrc_order o, unsigned char **pl)
{
    size_t len;
    *pl = payload_of(v, n, &len);
    mrc_err err = {0};
    mrc_source *s = mrc_ser_source_open(*pl, len, o, &err);
    assert_non_null(s);
    return s;
}

static okv rec(const char *key, uint64_t count)
{
    uint32_t len = (uint32_t)strlen(key);
    return (okv){(const unsigned char *)key, len, count, mrc_hash(key, len)};
}

/* a and b merged in order o, pushed (mrc_source_merge()) or pulled (mrc_merge_source_open(),
 * the loser tree the spilled runs' merge uses). @return 0 or the error's code. */
static int merge_recs(const okv *a, size_t na, const okv *b, size_t nb, enum mrc_order o, bool pull,
                      coll *c, mrc_err *err)
{
    unsigned char *pa, *pb;
    mrc_source *src[2] = {stream_of(a, na, o, &pa), stream_of(b, nb, o, &pb)};
    int rc;
    if (pull) {
        mrc_source *m = mrc_merge_source_open(src, 2, o, err); /* owns them */
        assert_non_null(m);
        rc = coll_drain(c, m, err);
        m->close(m);
        rc = rc < 0 ? err->code : rc;
    } else {
        rc = mrc_source_merge(src, 2, o, coll_sink, c, err);
        src[0]->close(src[0]);
        src[1]->close(src[1]);
    }
    free(pa);
    free(pb);
    return rc;
}

/* The record of key in c, or NULL. */
static const okv *coll_find(const coll *c, const char *key)
{
    size_t len = strlen(key);
    for (size_t i = 0; i < c->o.n; i++)
        if (c->o.v[i].len == len && memcmp(c->o.v[i].key, key, len) == 0) return &c->o.v[i];
    return NULL;
}

static void test_merge_overflow_names_key(void **state)
{
    (void)state;
    okv a[3] = {rec("alpha", 1), rec("big", UINT64_MAX - 5), rec("zeta", 2)};
    okv b[2] = {rec("big", 5), rec("omega", 1)};
    order_sort(a, 3, MRC_ORDER_HASH);
    order_sort(b, 2, MRC_ORDER_HASH);
    coll c;
    mrc_err err;
    /* 2^64-1 exactly fits; one more is past it: pushed, and pulled both ways round (the merge
     * of spilled runs: built by GCC 12, it once wrapped this sum to 0 unnoticed, the carry read
     * after the sum was stored over an operand) */
    for (int pull = 0; pull < 2; pull++) {
        for (size_t i = 0; i < 2; i++)
            if (b[i].len == 3) b[i].count = 5;
        c = (coll){0};
        err = (mrc_err){0};
        assert_int_equal(merge_recs(a, 3, b, 2, MRC_ORDER_HASH, pull, &c, &err), 0);
        const okv *big = coll_find(&c, "big");
        assert_non_null(big);
        assert_true(big->count == UINT64_MAX);
        coll_free(&c);
        for (size_t i = 0; i < 2; i++)
            if (b[i].len == 3) b[i].count = 6;
        for (int flip = 0; flip <= pull; flip++) {
            memset(&c, 0, sizeof c);
            err = (mrc_err){0};
            int rc = flip ? merge_recs(b, 2, a, 3, MRC_ORDER_HASH, pull, &c, &err)
                          : merge_recs(a, 3, b, 2, MRC_ORDER_HASH, pull, &c, &err);
            assert_int_equal(rc, MRC_EOVERFLOW);
            assert_string_equal(err.msg, "the count of key 'big' exceeds 2^64-1");
            if (pull) assert_null(coll_find(&c, "big")); /* never emitted, wrapped or not */
            coll_free(&c);
        }
    }

    /* a long key is quoted by its first 200 bytes and "...", with three streams adding up */
    char longkey[301];
    memset(longkey, 'k', 300);
    longkey[300] = 0;
    okv x = rec(longkey, UINT64_MAX / 2), y = rec(longkey, UINT64_MAX / 2), z = rec(longkey, 2);
    unsigned char *p[3];
    mrc_source *src[3] = {stream_of(&x, 1, MRC_ORDER_HASH, &p[0]),
                          stream_of(&y, 1, MRC_ORDER_HASH, &p[1]),
                          stream_of(&z, 1, MRC_ORDER_HASH, &p[2])};
    memset(&c, 0, sizeof c);
    err = (mrc_err){0};
    assert_int_equal(mrc_source_merge(src, 3, MRC_ORDER_HASH, coll_sink, &c, &err), MRC_EOVERFLOW);
    char want[300];
    snprintf(want, sizeof want, "the count of key '%.200s...' exceeds 2^64-1", longkey);
    assert_string_equal(err.msg, want);
    assert_int_equal(c.calls, 0); /* nothing emitted: the key was never whole */
    for (int i = 0; i < 3; i++) {
        src[i]->close(src[i]);
        free(p[i]);
    }
    coll_free(&c);
}

static void test_merge_out_of_order(void **state)
{
    (void)state;
    for (int o = MRC_ORDER_HASH; o <= MRC_ORDER_KEY; o++) {
        okv good[4] = {rec("a", 9), rec("b", 7), rec("c", 5), rec("d", 3)};
        order_sort(good, 4, (enum mrc_order)o);
        okv bad[4];
        memcpy(bad, good, sizeof bad);
        okv t = bad[1]; /* swap the last two */
        bad[1] = bad[3];
        bad[3] = t;
        okv other[1] = {rec("x", 1)};
        coll c = {0};
        mrc_err err = {0};
        assert_int_equal(merge_recs(other, 1, bad, 4, (enum mrc_order)o, false, &c, &err),
                         MRC_EINVAL);
        char want[160];
        snprintf(want, sizeof want, "merge of 2 streams: stream 1 is out of %s order at key '%.*s'",
                 o == MRC_ORDER_HASH    ? "hash"
                 : o == MRC_ORDER_COUNT ? "count"
                                        : "key",
                 (int)bad[2].len, (const char *)bad[2].key);
        assert_string_equal(err.msg, want);
        coll_free(&c);

        /* the pulled merge finds it too, whichever record it returned last */
        unsigned char *pl[2];
        mrc_source *src[2] = {stream_of(other, 1, (enum mrc_order)o, &pl[0]),
                              stream_of(bad, 4, (enum mrc_order)o, &pl[1])};
        err = (mrc_err){0};
        mrc_source *m = mrc_merge_source_open(src, 2, (enum mrc_order)o, &err);
        assert_non_null(m);
        memset(&c, 0, sizeof c);
        assert_int_equal(coll_drain(&c, m, &err), -1);
        assert_string_equal(err.msg, want);
        coll_free(&c);
        m->close(m);
        free(pl[0]);
        free(pl[1]);

        /* a key twice in a row in one stream is out of order too */
        okv twice[3] = {good[0], good[1], good[1]};
        memset(&c, 0, sizeof c);
        err = (mrc_err){0};
        assert_int_equal(merge_recs(twice, 3, other, 1, (enum mrc_order)o, false, &c, &err),
                         MRC_EINVAL);
        assert_non_null(strstr(err.msg, "stream 0 is out of"));
        coll_free(&c);
    }
}

static void test_merge_output_duplicate(void **state)
{
    (void)state;
    okv a[2] = {rec("same", 4), rec("zz", 1)}, b[2] = {rec("b", 9), rec("same", 4)};
    for (int o = MRC_ORDER_COUNT; o <= MRC_ORDER_KEY; o++) {
        order_sort(a, 2, (enum mrc_order)o);
        order_sort(b, 2, (enum mrc_order)o);
        coll c = {0};
        mrc_err err = {0};
        assert_int_equal(merge_recs(a, 2, b, 2, (enum mrc_order)o, false, &c, &err), MRC_EINVAL);
        char want[160];
        snprintf(want, sizeof want,
                 "merge of 2 streams: key 'same' is in two streams (in %s order keys must be "
                 "unique across streams)",
                 o == MRC_ORDER_COUNT ? "count" : "key");
        assert_string_equal(err.msg, want);
        coll_free(&c);
    }
}

/* The pulled merge finds a key in two streams in the output orders wherever the heap holds
 * it: five streams of other keys around it, the repeat in every pair of them. */
static void test_merge_source_duplicate(void **state)
{
    (void)state;
    static const char *keys[5][2] = {{"a", "x"}, {"b", "y"}, {"c", "z"}, {"d", "zz"}, {"e", "zzz"}};
    for (int o = MRC_ORDER_COUNT; o <= MRC_ORDER_KEY; o++)
        for (int p = 0; p < 5; p++)
            for (int q = p + 1; q < 5; q++) {
                mrc_source *src[5];
                unsigned char *pl[5];
                for (int i = 0; i < 5; i++) {
                    okv v[3] = {rec(keys[i][0], 1), rec(i == p || i == q ? "same" : "m", 4),
                                rec(keys[i][1], 1)};
                    size_t n = i == p || i == q ? 3 : 2;
                    if (n == 2) v[1] = v[2];
                    order_sort(v, n, (enum mrc_order)o);
                    src[i] = stream_of(v, n, (enum mrc_order)o, &pl[i]);
                }
                mrc_err err = {0};
                mrc_source *m = mrc_merge_source_open(src, 5, (enum mrc_order)o, &err);
                assert_non_null(m);
                coll c = {0};
                assert_int_equal(coll_drain(&c, m, &err), -1);
                assert_string_equal(err.msg, "merge of 5 streams: key 'same' is in two streams");
                coll_free(&c);
                m->close(m);
                for (int i = 0; i < 5; i++)
                    free(pl[i]);
            }
}

/* A stream that fails on its k-th record. */
typedef struct failing {
    mrc_source base;
    int left;
    unsigned made;
    char key[16];
} failing;

static int failing_next(mrc_source *s, mrc_rec_view *v, mrc_err *err)
{
    failing *f = (failing *)(void *)s;
    if (f->left-- == 0) {
        mrc_err_set(err, MRC_EIO, "/scratch: a spill file ended early");
        return -1;
    }
    snprintf(f->key, sizeof f->key, "f%03u", f->made++ % 1000); /* ascending in key order */
    *v = (mrc_rec_view){0, 1, (const unsigned char *)f->key, (uint32_t)strlen(f->key)};
    return 1;
}

static void test_merge_stops_on_errors(void **state)
{
    (void)state;
    rng_seed(24);
    /* a failing sink: the merge returns its code after exactly that many calls */
    for (size_t at = 1; at <= 5; at++) {
        streams s = streams_make(4, 100, MRC_ORDER_HASH, 50);
        coll c = {0};
        c.fail_at = at;
        mrc_err err = {0};
        assert_int_equal(mrc_source_merge(s.src, s.n, MRC_ORDER_HASH, coll_sink, &c, &err),
                         MRC_EIO);
        assert_int_equal(c.calls, at);
        assert_recs(&c.o, s.want.v, at - 1, 1);
        char want[64];
        snprintf(want, sizeof want, "sink: refused record %zu", at);
        assert_string_equal(err.msg, want);
        coll_free(&c);
        streams_free(&s);
    }
    /* a failing stream, at its first record and later */
    for (int left = 0; left <= 3; left++) {
        failing f = {{failing_next, NULL}, left, 0, {0}};
        unsigned char *pl;
        okv r = rec("zzz", 1);
        mrc_source *src[2] = {stream_of(&r, 1, MRC_ORDER_KEY, &pl), &f.base};
        coll c = {0};
        mrc_err err = {0};
        assert_int_equal(mrc_source_merge(src, 2, MRC_ORDER_KEY, coll_sink, &c, &err), MRC_EIO);
        assert_string_equal(err.msg, "/scratch: a spill file ended early");
        /* the records before the failure: all emitted but the one still pending */
        assert_int_equal(c.calls, left > 0 ? left - 1 : 0);
        src[0]->close(src[0]);
        free(pl);
        coll_free(&c);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ser_source_round_trip),
        cmocka_unit_test(test_ser_source_truncated),
        cmocka_unit_test(test_merge_hash_sums),
        cmocka_unit_test(test_merge_output_orders),
        cmocka_unit_test(test_merge_output_codes),
        cmocka_unit_test(test_merge_many),
        cmocka_unit_test(test_merge_empty),
        cmocka_unit_test(test_merge_overflow_names_key),
        cmocka_unit_test(test_merge_out_of_order),
        cmocka_unit_test(test_merge_output_duplicate),
        cmocka_unit_test(test_merge_source_duplicate),
        cmocka_unit_test(test_merge_stops_on_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
