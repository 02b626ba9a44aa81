/* mergesrc.c - the k-way merge as a stream to pull from: the records of n streams in one order,
 * merged lazily (a loser tree over their current records, as mrc_source_merge()'s), for
 * consumers that pull: an owner serving rank 0, the output writer. The record returned is a
 * copy (its key in the merge's buffer), so its stream moves on at once. In hash order equal keys
 * are summed; in the output orders keys are unique (disjoint hash ranges) and a repeat is an
 * error, like mrc_source_merge(); a stream out of order is an error in every order. */
#include <stdlib.h>
#include <string.h>

#include "mrcount/table.h"

typedef struct leaf {
    mrc_rec_view v;
    bool live; /* false: the stream ended (it loses every match) */
} leaf;

typedef struct merge_src {
    mrc_source base;
    enum mrc_order order;
    mrc_source **src; /* owned: closed with the merge */
    size_t n;
    leaf *h;           /* per stream: its current record */
    uint32_t *tree;    /* tree[0]: the winner; node i (1 <= i < n): the loser of its match */
    mrc_rec_view pend; /* the record returned last; its key in `key` */
    unsigned char *key;
    size_t key_cap;
} merge_src;

/* Leaf a wins against leaf b: the smaller record, ties to the lower stream. In hash order an
 * ended stream's hash is UINT64_MAX, so unequal hashes decide alone. */
static inline __attribute__((always_inline)) bool beats(const leaf *h, uint32_t a, uint32_t b,
                                                        const enum mrc_order o)
{
    if (o == MRC_ORDER_HASH && __builtin_expect(h[a].v.hash != h[b].v.hash, 1))
        return h[a].v.hash < h[b].v.hash;
    if (!h[a].live) return false;
    if (!h[b].live) return true;
    int c = mrc_rec_cmp(o, &h[a].v, &h[b].v);
    return c < 0 || (c == 0 && a < b);
}

/* The matches on leaf w's path played again, its record having changed. */
static inline __attribute__((always_inline)) void replay(merge_src *m, uint32_t w,
                                                         const enum mrc_order o)
{
    for (size_t node = (w + m->n) >> 1; node > 0; node >>= 1) {
        uint32_t l = m->tree[node];
        bool lw = beats(m->h, l, w, o);
        m->tree[node] = lw ? w : l;
        w = lw ? l : w;
    }
    m->tree[0] = w;
}

static const char *order_name(enum mrc_order o)
{
    return o == MRC_ORDER_HASH ? "hash" : o == MRC_ORDER_COUNT ? "count" : "key";
}

static int key_shown(uint32_t len)
{
    return (int)(len > 200 ? 200 : len);
}

/* The stream at leaf w's next record (or its end). @return 0, or -1 with err filled. */
static int advance(merge_src *m, uint32_t w, mrc_err *err)
{
    leaf *l = &m->h[w];
    int rc = m->src[w]->next(m->src[w], &l->v, err);
    if (rc < 0) {
        if (err->code == 0) mrc_err_set(err, MRC_EIO, "merge: a stream failed without a cause");
        return -1;
    }
    if (rc == 0) {
        l->live = false;
        l->v.hash = UINT64_MAX;
    }
    return 0;
}

/* The winner's record copied out (its stream moves on before the caller sees it). */
static int take(merge_src *m, const mrc_rec_view *v, mrc_err *err)
{
    if (v->len > m->key_cap) {
        size_t cap = m->key_cap * 2 > v->len ? m->key_cap * 2 : v->len;
        unsigned char *b = realloc(m->key, cap);
        if (b == NULL) {
            mrc_err_set(err, MRC_ENOMEM, "merge: out of memory for a %u-byte key",
                        (unsigned)v->len);
            return -1;
        }
        m->key = b;
        m->key_cap = cap;
    }
    if (v->len) memcpy(m->key, v->key, v->len);
    m->pend = *v;
    m->pend.key = m->key;
    return 0;
}

/* The winner, copied; its stream moves on and its path is replayed: log2(n) comparisons a
 * record (a binary heap took twice that: 100 M keys under --memory-limit 1G at np 1 spent 11%
 * of the run in its sift_down). The next winner is compared once with the record: in hash
 * order an equal key of another stream is summed into it, in the output orders it is an error;
 * and the stream's own next record must come after it. */
static inline __attribute__((always_inline)) int next_in(merge_src *m, mrc_rec_view *r,
                                                         mrc_err *err, const enum mrc_order o)
{
    uint32_t w = m->tree[0];
    if (m->n == 0 || !m->h[w].live) return 0;
    if (take(m, &m->h[w].v, err) != 0) return -1;
    for (;;) {
        if (advance(m, w, err) != 0) return -1;
        if (m->h[w].live && mrc_rec_cmp(o, &m->h[w].v, &m->pend) <= 0) {
            mrc_err_set(err, MRC_EINVAL,
                        "merge of %zu streams: stream %u is out of %s order at key '%.*s'", m->n,
                        (unsigned)w, order_name(o), key_shown(m->h[w].v.len),
                        (const char *)m->h[w].v.key);
            return -1;
        }
        replay(m, w, o);
        uint32_t nw = m->tree[0];
        const leaf *hn = &m->h[nw];
        if (!hn->live || nw == w || mrc_rec_cmp(o, &hn->v, &m->pend) != 0) break;
        if (o != MRC_ORDER_HASH) {
            mrc_err_set(err, MRC_EINVAL, "merge of %zu streams: key '%.*s' is in two streams", m->n,
                        key_shown(m->pend.len), (const char *)m->pend.key);
            return -1;
        }
        if (__builtin_add_overflow(m->pend.count, hn->v.count, &m->pend.count)) {
            mrc_err_set(err, MRC_EOVERFLOW, "the count of key '%.*s' exceeds 2^64-1",
                        key_shown(m->pend.len), (const char *)m->pend.key);
            return -1;
        }
        w = nw;
    }
    *r = m->pend;
    return 1;
}

static int merge_next(mrc_source *base, mrc_rec_view *r, mrc_err *err)
{
    merge_src *m = (merge_src *)(void *)base;
    switch (m->order) { /* one instance per order: the comparison is chosen outside the loop */
    case MRC_ORDER_HASH:
        return next_in(m, r, err, MRC_ORDER_HASH);
    case MRC_ORDER_COUNT:
        return next_in(m, r, err, MRC_ORDER_COUNT);
    case MRC_ORDER_KEY:
        break;
    }
    return next_in(m, r, err, MRC_ORDER_KEY);
}

static void merge_close(mrc_source *base)
{
    merge_src *m = (merge_src *)(void *)base;
    for (size_t i = 0; i < m->n; i++)
        if (m->src[i] != NULL && m->src[i]->close != NULL) m->src[i]->close(m->src[i]);
    free(m->src);
    free(m->h);
    free(m->tree);
    free(m->key);
    free(m);
}

mrc_source *mrc_merge_source_open(mrc_source *const *src, size_t n, enum mrc_order order,
                                  mrc_err *err)
{
    merge_src *m = n < UINT32_MAX / 2 ? calloc(1, sizeof *m) : NULL;
    uint32_t *win = NULL;
    if (m != NULL) {
        m->src = calloc(n + 1, sizeof *m->src);
        m->h = calloc(n + 1, sizeof *m->h);
        m->tree = calloc(n + 1, sizeof *m->tree);
        m->key_cap = 256;
        m->key = malloc(m->key_cap); /* never NULL: an empty key is still a pointer */
        win = malloc((2 * n + 1) * sizeof *win);
    }
    if (m == NULL || m->src == NULL || m->h == NULL || m->tree == NULL || m->key == NULL ||
        win == NULL) {
        if (m != NULL) {
            free(m->src);
            free(m->h);
            free(m->tree);
            free(m->key);
            free(m);
        }
        free(win);
        for (size_t i = 0; i < n; i++)
            if (src[i] != NULL && src[i]->close != NULL) src[i]->close(src[i]);
        mrc_err_set(err, MRC_ENOMEM, "merge of %zu streams: out of memory", n);
        return NULL;
    }
    m->base.next = merge_next;
    m->base.close = merge_close;
    m->order = order;
    m->n = n;
    memcpy(m->src, src, n * sizeof *src);
    for (size_t i = 0; i < n; i++) {
        m->h[i].live = true;
        if (advance(m, (uint32_t)i, err) != 0) {
            free(win);
            merge_close(&m->base);
            return NULL;
        }
    }
    /* The tournament bottom-up: leaves at win[n + i], node j plays win[2j] against win[2j+1]. */
    for (size_t i = 0; i < n; i++)
        win[n + i] = (uint32_t)i;
    for (size_t j = n - 1; n > 0 && j > 0; j--) {
        uint32_t a = win[2 * j], b = win[2 * j + 1];
        bool a_wins =
            order == MRC_ORDER_HASH ? beats(m->h, a, b, MRC_ORDER_HASH) : beats(m->h, a, b, order);
        win[j] = a_wins ? a : b;
        m->tree[j] = a_wins ? b : a;
    }
    m->tree[0] = n > 1 ? win[1] : 0;
    free(win);
    return &m->base;
}
