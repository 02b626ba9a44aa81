/* records_util.h - oracles of record streams for test_stream.c and test_runfile.c: random
 * distinct keys, records sorted in each stream order by plain code, the wire format written byte
 * by byte, and a sink that copies what a merge or a stream emits. */
#ifndef MRC_RECORDS_UTIL_H
#define MRC_RECORDS_UTIL_H

#include "test_util.h"

#include "mrcount/table.h"

/* Owned copies of key bytes (okv points into them). */
typedef struct keypool {
    unsigned char **k;
    size_t n, cap;
} keypool;

static inline unsigned char *keypool_add(keypool *p, const void *key, size_t len)
{
    if (p->n == p->cap) {
        p->cap = p->cap ? 2 * p->cap : 256;
        p->k = realloc(p->k, p->cap * sizeof *p->k);
        assert_non_null(p->k);
    }
    unsigned char *c = malloc(len ? len : 1);
    assert_non_null(c);
    if (len) memcpy(c, key, len);
    p->k[p->n++] = c;
    return c;
}

static inline void keypool_free(keypool *p)
{
    for (size_t i = 0; i < p->n; i++)
        free(p->k[i]);
    free(p->k);
    memset(p, 0, sizeof *p);
}

/* n distinct random keys (0..maxlen bytes, a small alphabet with NUL and 0xff, so prefixes and
 * near-equal keys are common), counts 1..maxcount. */
static inline void gen_universe(okvec *o, keypool *kp, size_t n, uint32_t maxlen, uint64_t maxcount)
{
    static const unsigned char alpha[] = {0x00, 'a', 'b', 'c', 0xff, ' ', 'z', 0x80};
    okvec tmp = {0};
    unsigned char key[4096];
    assert_true(maxlen <= sizeof key);
    while (o->n < n) {
        tmp.n = 0;
        for (size_t i = o->n; i < n + n / 4 + 8; i++) {
            uint32_t len = (uint32_t)rng_below((size_t)maxlen + 1);
            for (uint32_t j = 0; j < len; j++)
                key[j] = alpha[rng_below(sizeof alpha)];
            unsigned char *k = keypool_add(kp, key, len);
            okvec_push(&tmp, k, len, 1 + rng_below(maxcount), mrc_hash(k, len));
        }
        for (size_t i = 0; i < o->n; i++) /* what we have, first (kept on a tie) */
            okvec_push(&tmp, o->v[i].key, o->v[i].len, o->v[i].count, o->v[i].hash);
        qsort(tmp.v, tmp.n, sizeof *tmp.v, okv_key_cmp);
        o->n = 0;
        for (size_t i = 0; i < tmp.n && o->n < n; i++)
            if (i == 0 || okv_key_cmp(&tmp.v[i - 1], &tmp.v[i]) != 0)
                okvec_push(o, tmp.v[i].key, tmp.v[i].len, tmp.v[i].count, tmp.v[i].hash);
    }
    okvec_free(&tmp);
    /* a random order, so any prefix is a random subset */
    for (size_t i = o->n; i > 1; i--) {
        size_t j = rng_below(i);
        okv t = o->v[i - 1];
        o->v[i - 1] = o->v[j];
        o->v[j] = t;
    }
}

static inline int okv_count_cmp(const void *pa, const void *pb)
{
    const okv *a = pa, *b = pb;
    if (a->count != b->count) return a->count > b->count ? -1 : 1;
    return okv_key_cmp(pa, pb);
}

static inline void order_sort(okv *v, size_t n, enum mrc_order o)
{
    if (n == 0) return;
    qsort(v, n, sizeof *v,
          o == MRC_ORDER_HASH    ? okv_ser_cmp
          : o == MRC_ORDER_COUNT ? okv_count_cmp
                                 : okv_key_cmp);
}

/* The records v[0, n) in the wire format, in the given order; *len bytes. */
static inline unsigned char *payload_of(const okv *v, size_t n, size_t *len)
{
    size_t total = 0;
    for (size_t i = 0; i < n; i++)
        total += 12 + v[i].len;
    unsigned char *b = malloc(total ? total : 1);
    assert_non_null(b);
    unsigned char *w = b;
    for (size_t i = 0; i < n; i++) {
        put_le(w, v[i].count, 8);
        put_le(w + 8, v[i].len, 4);
        if (v[i].len) memcpy(w + 12, v[i].key, v[i].len);
        w += 12 + v[i].len;
    }
    *len = total;
    return b;
}

/* What a merge or a stream gave: copies of its records. */
typedef struct coll {
    okvec o;
    keypool kp;
    size_t calls;
    size_t fail_at; /* the sink fails on this call (0: never) */
} coll;

static inline int coll_sink(void *arg, const mrc_rec_view *r, mrc_err *err)
{
    coll *c = arg;
    c->calls++;
    if (c->fail_at && c->calls == c->fail_at)
        return mrc_err_set(err, MRC_EIO, "sink: refused record %zu", c->calls);
    unsigned char *k = keypool_add(&c->kp, r->key, r->len);
    okvec_push(&c->o, k, r->len, r->count, r->hash);
    return 0;
}

static inline void coll_free(coll *c)
{
    okvec_free(&c->o);
    keypool_free(&c->kp);
}

/* Drain a stream into c; its last next() result. */
static inline int coll_drain(coll *c, mrc_source *s, mrc_err *err)
{
    mrc_rec_view v;
    int rc;
    while ((rc = s->next(s, &v, err)) > 0)
        coll_sink(c, &v, err);
    return rc;
}

/* got equals want[0, n): keys, counts, and hashes (the key's hash, or 0 when not hashed). */
static inline void assert_recs(const okvec *got, const okv *want, size_t n, int hashed)
{
    if (got->n != n) fail_msg("%zu records, expected %zu", got->n, n);
    for (size_t i = 0; i < n; i++) {
        const okv *g = &got->v[i], *w = &want[i];
        if (bytes_cmp(g->key, g->len, w->key, w->len) != 0 || g->count != w->count)
            fail_msg("record %zu: '%.*s' (%u bytes) x %llu, expected '%.*s' (%u bytes) x %llu", i,
                     (int)g->len, (const char *)g->key, g->len, (unsigned long long)g->count,
                     (int)w->len, (const char *)w->key, w->len, (unsigned long long)w->count);
        assert_int_equal(g->hash, hashed ? mrc_hash(w->key, w->len) : 0);
    }
}

#endif
