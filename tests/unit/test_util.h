/* test_util.h - helpers shared by the unit tests: a deterministic PRNG, the (key, count) oracle
 * vector with its byte-order comparisons, temporary files and directories. All static inline, so
 * a test pays only for what it uses; names are kept from the tests they came from. */
#ifndef MRC_TEST_UTIL_H
#define MRC_TEST_UTIL_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <ftw.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

/* ---- a deterministic PRNG (xorshift64*) ---- */

/* Starts at 0 (a test seeds it with rng_seed() before relying on it). */
static uint64_t rng_state;

static inline void rng_seed(uint64_t s)
{
    rng_state = s ? s : 0x9E3779B97F4A7C15ull;
}

static inline uint64_t rng_next(void)
{
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return rng_state * 0x2545F4914F6CDD1Dull;
}

static inline size_t rng_below(size_t n)
{
    return n ? (size_t)(rng_next() % n) : 0;
}

/* ---- the oracle: (key, count) pairs, sorted and summed naively ---- */

typedef struct okv {
    const unsigned char *key;
    uint32_t len;
    uint64_t count;
    uint64_t hash;
} okv;

typedef struct okvec {
    okv *v;
    size_t n, cap;
    uint64_t tokens; /* tokens seen by test_words' oracle tokenizer (unused elsewhere) */
} okvec;

static inline void okvec_push(okvec *o, const unsigned char *key, uint32_t len, uint64_t count,
                              uint64_t hash)
{
    if (o->n == o->cap) {
        o->cap = o->cap ? o->cap * 2 : 64;
        o->v = realloc(o->v, o->cap * sizeof *o->v);
        assert_non_null(o->v);
    }
    o->v[o->n++] = (okv){key, len, count, hash};
}

static inline void okvec_free(okvec *o)
{
    free(o->v);
    memset(o, 0, sizeof *o);
}

/* Key order of the wire format: bytes (unsigned), then the shorter first. */
static inline int bytes_cmp(const unsigned char *a, size_t la, const unsigned char *b, size_t lb)
{
    size_t n = la < lb ? la : lb;
    for (size_t i = 0; i < n; i++)
        if (a[i] != b[i]) return a[i] < b[i] ? -1 : 1;
    return la < lb ? -1 : la > lb;
}

static inline int okv_key_cmp(const void *pa, const void *pb)
{
    const okv *a = pa, *b = pb;
    return bytes_cmp(a->key, a->len, b->key, b->len);
}

static inline int okv_ser_cmp(const void *pa, const void *pb)
{
    const okv *a = pa, *b = pb;
    if (a->hash != b->hash) return a->hash < b->hash ? -1 : 1;
    return okv_key_cmp(pa, pb);
}

/* Sort by key and add the counts of equal keys (the test data never overflows here). */
static inline void okvec_aggregate(okvec *o)
{
    if (o->n == 0) return;
    qsort(o->v, o->n, sizeof *o->v, okv_key_cmp);
    size_t w = 0;
    for (size_t i = 1; i < o->n; i++) {
        if (okv_key_cmp(&o->v[w], &o->v[i]) == 0) {
            assert_true(o->v[w].count + o->v[i].count >= o->v[w].count);
            assert_int_equal(o->v[w].hash, o->v[i].hash);
            o->v[w].count += o->v[i].count;
        } else {
            o->v[++w] = o->v[i];
        }
    }
    o->n = w + 1;
}

static inline uint64_t okvec_total(const okvec *o)
{
    uint64_t t = 0;
    for (size_t i = 0; i < o->n; i++)
        t += o->v[i].count;
    return t;
}

/* ---- the wire format written from the rule (the oracle of serialized tables) ---- */

static inline void put_le(unsigned char *p, uint64_t v, int n)
{
    for (int i = 0; i < n; i++)
        p[i] = (unsigned char)(v >> (8 * i));
}

static inline uint64_t get_le(const unsigned char *p, int n)
{
    uint64_t v = 0;
    for (int i = n - 1; i >= 0; i--)
        v = v << 8 | p[i];
    return v;
}

/* A copy of an aggregated vector sorted by (hash, key) in the DESIGN wire format, with the
 * given header total and flags; *len = header + payload. */
static inline unsigned char *oracle_serialize(const okvec *o, uint64_t total, uint64_t flags,
                                              size_t *len)
{
    okv *v = malloc((o->n + 1) * sizeof *v);
    assert_non_null(v);
    if (o->n) memcpy(v, o->v, o->n * sizeof *v);
    qsort(v, o->n, sizeof *v, okv_ser_cmp);
    size_t payload = 0;
    for (size_t i = 0; i < o->n; i++)
        payload += 12 + v[i].len;
    unsigned char *b = malloc(40 + payload);
    assert_non_null(b);
    put_le(b, 0x5443524d, 4); /* "MRCT" */
    put_le(b + 4, 1, 4);
    put_le(b + 8, o->n, 8);
    put_le(b + 16, payload, 8);
    put_le(b + 24, flags, 8);
    put_le(b + 32, total, 8);
    unsigned char *w = b + 40;
    for (size_t i = 0; i < o->n; i++) {
        put_le(w, v[i].count, 8);
        put_le(w + 8, v[i].len, 4);
        if (v[i].len) memcpy(w + 12, v[i].key, v[i].len);
        w += 12 + v[i].len;
    }
    free(v);
    *len = 40 + payload;
    return b;
}

/* Equal byte strings, or a failure naming the first differing byte. */
static inline void assert_bytes_equal(const unsigned char *a, size_t la, const unsigned char *b,
                                      size_t lb)
{
    assert_int_equal(la, lb);
    if (la && memcmp(a, b, la) != 0) {
        size_t i = 0;
        while (a[i] == b[i])
            i++;
        fail_msg("buffers of %zu bytes differ first at byte %zu (%02x vs %02x)", la, i, a[i], b[i]);
    }
}

/* ---- temporary files and directories ---- */

/* Writes bytes[0..n) to a new file made from a mkstemp() template; returns its strdup()ed path. */
static inline char *write_temp_as(const char *tmpl, const void *bytes, size_t n)
{
    const char *data = bytes;
    char *path = strdup(tmpl);
    assert_non_null(path);
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    size_t w = 0;
    while (w < n) {
        ssize_t k = write(fd, data + w, n - w);
        assert_true(k > 0);
        w += (size_t)k;
    }
    assert_int_equal(close(fd), 0);
    return path;
}

/* Creates a fresh directory from a mkdtemp() template ("...XXXXXX") into dir; 0 or -1. */
static inline int tmpdir_make(char *dir, size_t cap, const char *tmpl)
{
    snprintf(dir, cap, "%s", tmpl);
    return mkdtemp(dir) == NULL ? -1 : 0;
}

static inline int remove_entry(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
    (void)st;
    (void)type;
    (void)ftw;
    return remove(path);
}

/* Removes dir and everything below it, never following symlinks; nftw()'s result. */
static inline int rm_tree(const char *dir)
{
    return nftw(dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
}

#endif
