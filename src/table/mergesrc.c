/* mergesrc.c - the k-way merge as a stream to pull from: the records of n streams in one order,
 * merged lazily (the loser tree of losertree.h, as mrc_source_merge()), for
 * consumers that pull: an owner serving rank 0, the output writer. The record returned is a
 * copy (its key in the merge's buffer), so its stream moves on at once. In hash order equal keys
 * are summed; in the output orders keys are unique (disjoint hash ranges) and a repeat is an
 * error, like mrc_source_merge(); a stream out of order is an error in every order. */
#include <stdlib.h>
#include <string.h>

#include "losertree.h"
#include "mrcount/table.h"

typedef struct merge_src {
    mrc_source base;
    enum mrc_order order;
    mrc_source **src; /* owned: closed with the merge */
    size_t n;
    mrc_lt_leaf *h;   /* per stream: its current record */
    uint32_t *tree;   /* tree[0]: the winner; node i (1 <= i < n): the loser of its match */
    mrc_lt_kept pend; /* the record returned last */
} merge_src;

static int out_of_order(const merge_src *m, uint32_t w, enum mrc_order o, mrc_err *err)
{
    char shown[MRC_KEY_SHOWN_BUF];
    mrc_err_set(err, MRC_EINVAL, "merge of %zu streams: stream %u is out of %s order at key '%s'",
                m->n, (unsigned)w, mrc_lt_order_name(o),
                mrc_key_shown(m->h[w].v.key, m->h[w].v.len, shown));
    return -1;
}

/* The stream at leaf w's next record (or its end). @return 0, or -1 with err filled. */
static int advance(merge_src *m, uint32_t w, mrc_err *err)
{
    mrc_lt_leaf *l = &m->h[w];
    int rc = m->src[w]->next(m->src[w], &l->v, err);
    if (rc < 0) {
        mrc_lt_stream_failed(err);
        return -1;
    }
    if (rc == 0) mrc_lt_end(l);
    return 0;
}

/* The winner, kept (its key copied); its stream moves on and its path is replayed: log2(n)
 * comparisons a record (a binary heap took twice that: 100 M keys under --memory-limit 1G at
 * np 1 spent 11% of the run in its sift_down). The next winner is compared once with the
 * record: an equal key of another stream is summed into it; and the stream's own next record
 * must come after it. */
static int next_hash(merge_src *m, mrc_rec_view *r, mrc_err *err)
{
    uint32_t w = m->tree[0];
    if (m->n == 0 || !m->h[w].live) return 0;
    if (mrc_lt_keep(&m->pend, &m->h[w].v, err) != 0) return -1;
    const mrc_rec_view *p = &m->pend.v;
    for (;;) {
        if (advance(m, w, err) != 0) return -1;
        if (m->h[w].live && mrc_rec_cmp(MRC_ORDER_HASH, &m->h[w].v, p) <= 0)
            return out_of_order(m, w, MRC_ORDER_HASH, err);
        mrc_lt_replay(m->h, m->tree, m->n, w, MRC_ORDER_HASH);
        uint32_t nw = m->tree[0];
        const mrc_lt_leaf *hn = &m->h[nw];
        if (!hn->live || nw == w || mrc_rec_cmp(MRC_ORDER_HASH, &hn->v, p) != 0) break;
        if (mrc_add_u64(p->count, hn->v.count, &m->pend.v.count)) { /* p is m->pend.v */
            char shown[MRC_KEY_SHOWN_BUF];
            mrc_err_set(err, MRC_EOVERFLOW, "the count of key '%s' exceeds 2^64-1",
                        mrc_key_shown(p->key, p->len, shown));
            return -1;
        }
        w = nw;
    }
    *r = *p;
    return 1;
}

/* The same in an output order, with offset-value codes (table.h, losertree.h): the stream's next
 * record is compared with the record once, which checks its order and codes it; the matches on its
 * path then mostly compare codes; a next winner that equals the record (code 0) is a key in
 * two streams. */
static inline __attribute__((always_inline)) int next_out(merge_src *m, mrc_rec_view *r,
                                                          mrc_err *err, const enum mrc_order o)
{
    uint32_t w = m->tree[0];
    if (m->n == 0 || !m->h[w].live) return 0;
    if (mrc_lt_keep(&m->pend, &m->h[w].v, err) != 0) return -1;
    const mrc_rec_view *p = &m->pend.v;
    if (advance(m, w, err) != 0) return -1;
    mrc_lt_leaf *hw = &m->h[w];
    if (hw->live) {
        int c;
        hw->ovc = mrc_ovc_against(&hw->v, p, o, &c);
        if (c <= 0) return out_of_order(m, w, o, err);
    }
    mrc_ovc_replay(m->h, m->tree, m->n, w, o);
    if (m->h[m->tree[0]].ovc == 0) {
        char shown[MRC_KEY_SHOWN_BUF];
        mrc_err_set(err, MRC_EINVAL, "merge of %zu streams: key '%s' is in two streams", m->n,
                    mrc_key_shown(p->key, p->len, shown));
        return -1;
    }
    *r = *p;
    return 1;
}

static int merge_next(mrc_source *base, mrc_rec_view *r, mrc_err *err)
{
    merge_src *m = (merge_src *)(void *)base;
    switch (m->order) { /* one instance per order: the comparison is chosen outside the loop */
    case MRC_ORDER_HASH:
        return next_hash(m, r, err);
    case MRC_ORDER_COUNT:
        return next_out(m, r, err, MRC_ORDER_COUNT);
    case MRC_ORDER_KEY:
        break;
    }
    return next_out(m, r, err, MRC_ORDER_KEY);
}

static void merge_close(mrc_source *base)
{
    merge_src *m = (merge_src *)(void *)base;
    for (size_t i = 0; i < m->n; i++)
        if (m->src[i] != NULL && m->src[i]->close != NULL) m->src[i]->close(m->src[i]);
    free(m->src);
    free(m->h);
    free(m->tree);
    free(m->pend.key);
    free(m);
}

/* ---- streams one after another ---- */

typedef struct chain_src {
    mrc_source base;
    size_t i, end;
    mrc_source *(*open)(size_t i, void *arg, mrc_err *err);
    void *arg;
    mrc_source *cur; /* stream i; NULL before it is opened */
} chain_src;

static int chain_next(mrc_source *base, mrc_rec_view *v, mrc_err *err)
{
    chain_src *c = (chain_src *)(void *)base;
    for (; c->i < c->end; c->i++) {
        if (c->cur == NULL && (c->cur = c->open(c->i, c->arg, err)) == NULL)
            return -(err->code ? err->code : MRC_ENOMEM);
        int got = c->cur->next(c->cur, v, err);
        if (got != 0) return got;
        c->cur->close(c->cur);
        c->cur = NULL;
    }
    return 0;
}

static void chain_close(mrc_source *base)
{
    chain_src *c = (chain_src *)(void *)base;
    if (c->cur != NULL) c->cur->close(c->cur);
    free(c);
}

mrc_source *mrc_chain_source_open(size_t first, size_t end,
                                  mrc_source *(*open)(size_t i, void *arg, mrc_err *err), void *arg,
                                  mrc_err *err)
{
    chain_src *c = calloc(1, sizeof *c);
    if (c == NULL) {
        mrc_err_set(err, MRC_ENOMEM, "out of memory (a chain of streams)");
        return NULL;
    }
    *c = (chain_src){{chain_next, chain_close}, first, end, open, arg, NULL};
    return &c->base;
}

mrc_source *mrc_merge_source_open(mrc_source *const *src, size_t n, enum mrc_order order,
                                  mrc_err *err)
{
    merge_src *m = n < UINT32_MAX / 2 ? calloc(1, sizeof *m) : NULL;
    if (m != NULL) {
        m->src = calloc(n + 1, sizeof *m->src);
        m->h = calloc(n + 1, sizeof *m->h);
        m->tree = calloc(n + 1, sizeof *m->tree);
        m->pend.cap = 256;
        m->pend.key = malloc(m->pend.cap); /* never NULL: an empty key is still a pointer */
    }
    if (m == NULL || m->src == NULL || m->h == NULL || m->tree == NULL || m->pend.key == NULL) {
        if (m != NULL) {
            free(m->src);
            free(m->h);
            free(m->tree);
            free(m->pend.key);
            free(m);
        }
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
            merge_close(&m->base);
            return NULL;
        }
    }
    int rc = order == MRC_ORDER_HASH ? mrc_lt_build(m->h, m->tree, n, order, err)
                                     : mrc_ovc_build(m->h, m->tree, n, order, err);
    if (rc != 0) {
        merge_close(&m->base);
        return NULL;
    }
    return &m->base;
}
