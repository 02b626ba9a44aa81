/* mergesrc.c - the k-way merge as a stream to pull from: the records of n streams in one order,
 * merged lazily (a binary heap of their current records), for consumers that pull: an owner
 * serving rank 0, the output writer. Each stream's record is kept until the merge moves past it,
 * so keys are never copied. In hash order equal keys are summed; in the output orders keys are
 * unique (disjoint hash ranges) and a repeat is an error, like mrc_source_merge(). */
#include <stdlib.h>
#include <string.h>

#include "mrcount/table.h"

typedef struct merge_src {
    mrc_source base;
    enum mrc_order order;
    mrc_source **src; /* owned: closed with the merge */
    size_t n;
    mrc_rec_view *cur; /* per stream: its current record */
    size_t *heap;      /* stream indices, the smallest current record first */
    size_t nheap;
    size_t pending; /* the stream of the record returned last: advance it first (SIZE_MAX: none) */
} merge_src;

/* Stream a's record before stream b's in `order` (the streams' index breaks a tie). Inlined
 * with the order a constant where it is one: the hash order's first comparison is then one of
 * two integers. */
static inline __attribute__((always_inline)) bool less_in(const merge_src *m, size_t a, size_t b,
                                                          enum mrc_order order)
{
    int c = mrc_rec_cmp(order, &m->cur[a], &m->cur[b]);
    return c < 0 || (c == 0 && a < b);
}

static inline __attribute__((always_inline)) void sift_down_in(merge_src *m, size_t i,
                                                               enum mrc_order order)
{
    for (;;) {
        size_t l = 2 * i + 1, s = i;
        if (l < m->nheap && less_in(m, m->heap[l], m->heap[s], order)) s = l;
        if (l + 1 < m->nheap && less_in(m, m->heap[l + 1], m->heap[s], order)) s = l + 1;
        if (s == i) return;
        size_t t = m->heap[i];
        m->heap[i] = m->heap[s];
        m->heap[s] = t;
        i = s;
    }
}

static void sift_down(merge_src *m, size_t i)
{
    if (m->order == MRC_ORDER_HASH)
        sift_down_in(m, i, MRC_ORDER_HASH);
    else
        sift_down_in(m, i, m->order);
}

/* Advance the stream at heap place i, whose subtree's records all come after the top's: its
 * next record, or out of the heap (the last place's stream moves into i). */
static int advance_at(merge_src *m, size_t i, mrc_err *err)
{
    size_t s = m->heap[i];
    int rc = m->src[s]->next(m->src[s], &m->cur[s], err);
    if (rc < 0) return -1;
    if (rc == 0) m->heap[i] = m->heap[--m->nheap];
    if (i < m->nheap) sift_down(m, i);
    return 0;
}

static int merge_next(mrc_source *base, mrc_rec_view *r, mrc_err *err)
{
    merge_src *m = (merge_src *)(void *)base;
    if (m->pending != SIZE_MAX) { /* the last record's stream moves on now */
        m->pending = SIZE_MAX;
        if (advance_at(m, 0, err) != 0) return -1;
    }
    if (m->nheap == 0) return 0;
    size_t top = m->heap[0];
    *r = m->cur[top];
    /* The top stays where it is until the next call moves it on (its key stays valid). A
     * record equal to the top has only equal records above it, so one of the top's children
     * equals it: two comparisons find it. In the output orders keys are unique and it is an
     * error; in hash order it is summed into the top and its stream moves on, until neither
     * child equals the top. (Popping the top, re-sifting and pushing it back cost twice the
     * comparisons: 100 M keys under --memory-limit 1G at np 1 spent 43% of the output phase
     * in sift_down and memcmp in the output orders, 11% of the run in hash order.) */
    for (;;) {
        size_t c = 1;
        if (!(c < m->nheap && mrc_rec_cmp(m->order, &m->cur[m->heap[c]], r) == 0) &&
            !(++c < m->nheap && mrc_rec_cmp(m->order, &m->cur[m->heap[c]], r) == 0))
            break;
        if (m->order != MRC_ORDER_HASH) {
            mrc_err_set(err, MRC_EINVAL, "merge of %zu streams: key '%.*s' is in two streams", m->n,
                        (int)(r->len > 200 ? 200 : r->len), (const char *)r->key);
            return -1;
        }
        const mrc_rec_view *d = &m->cur[m->heap[c]];
        if (__builtin_add_overflow(r->count, d->count, &r->count)) {
            mrc_err_set(err, MRC_EOVERFLOW, "the count of key '%.*s' exceeds 2^64-1",
                        (int)(r->len > 200 ? 200 : r->len), (const char *)r->key);
            return -1;
        }
        if (advance_at(m, c, err) != 0) return -1;
    }
    m->pending = top;
    return 1;
}

static void merge_close(mrc_source *base)
{
    merge_src *m = (merge_src *)(void *)base;
    for (size_t i = 0; i < m->n; i++)
        if (m->src[i] != NULL && m->src[i]->close != NULL) m->src[i]->close(m->src[i]);
    free(m->src);
    free(m->cur);
    free(m->heap);
    free(m);
}

mrc_source *mrc_merge_source_open(mrc_source *const *src, size_t n, enum mrc_order order,
                                  mrc_err *err)
{
    merge_src *m = calloc(1, sizeof *m);
    if (m != NULL) {
        m->src = calloc(n + 1, sizeof *m->src);
        m->cur = calloc(n + 1, sizeof *m->cur);
        m->heap = calloc(n + 1, sizeof *m->heap);
    }
    if (m == NULL || m->src == NULL || m->cur == NULL || m->heap == NULL) {
        if (m != NULL) {
            free(m->src);
            free(m->cur);
            free(m->heap);
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
    m->pending = SIZE_MAX;
    memcpy(m->src, src, n * sizeof *src);
    for (size_t i = 0; i < n; i++) {
        int rc = src[i]->next(src[i], &m->cur[i], err);
        if (rc < 0) {
            merge_close(&m->base);
            return NULL;
        }
        if (rc > 0) m->heap[m->nheap++] = i;
    }
    for (size_t i = m->nheap / 2; i-- > 0;)
        sift_down(m, i);
    return &m->base;
}
