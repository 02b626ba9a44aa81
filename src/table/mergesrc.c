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

static bool less(const merge_src *m, size_t a, size_t b)
{
    int c = mrc_rec_cmp(m->order, &m->cur[a], &m->cur[b]);
    return c < 0 || (c == 0 && a < b);
}

static void sift_down(merge_src *m, size_t i)
{
    for (;;) {
        size_t l = 2 * i + 1, s = i;
        if (l < m->nheap && less(m, m->heap[l], m->heap[s])) s = l;
        if (l + 1 < m->nheap && less(m, m->heap[l + 1], m->heap[s])) s = l + 1;
        if (s == i) return;
        size_t t = m->heap[i];
        m->heap[i] = m->heap[s];
        m->heap[s] = t;
        i = s;
    }
}

/* Advance the stream at the heap's top: its next record, or out of the heap. */
static int advance_top(merge_src *m, mrc_err *err)
{
    size_t s = m->heap[0];
    int rc = m->src[s]->next(m->src[s], &m->cur[s], err);
    if (rc < 0) return -1;
    if (rc == 0) m->heap[0] = m->heap[--m->nheap];
    if (m->nheap > 0) sift_down(m, 0);
    return 0;
}

static int merge_next(mrc_source *base, mrc_rec_view *r, mrc_err *err)
{
    merge_src *m = (merge_src *)(void *)base;
    if (m->pending != SIZE_MAX) { /* the last record's stream moves on now */
        m->pending = SIZE_MAX;
        if (advance_top(m, err) != 0) return -1;
    }
    if (m->nheap == 0) return 0;
    size_t top = m->heap[0];
    *r = m->cur[top];
    if (m->order != MRC_ORDER_HASH) {
        /* Keys are unique: the top stays where it is until the next call moves it on. A
         * record equal to the top would have only equal records above it, so one of the top's
         * children would equal it: two comparisons find a repeat (the pop, re-sift and push
         * back below cost twice the comparisons; with them, 100 M keys under --memory-limit 1G
         * at np 1 spent 43% of the output phase in sift_down and memcmp). */
        for (size_t c = 1; c <= 2 && c < m->nheap; c++)
            if (mrc_rec_cmp(m->order, &m->cur[m->heap[c]], r) == 0) {
                mrc_err_set(err, MRC_EINVAL, "merge of %zu streams: key '%.*s' is in two streams",
                            m->n, (int)(r->len > 200 ? 200 : r->len), (const char *)r->key);
                return -1;
            }
        m->pending = top;
        return 1;
    }
    /* Pop the top, then the other streams' records equal to it (hash order: summed). */
    m->heap[0] = m->heap[--m->nheap];
    if (m->nheap > 0) sift_down(m, 0);
    while (m->nheap > 0 && mrc_rec_cmp(m->order, &m->cur[m->heap[0]], r) == 0) {
        const mrc_rec_view *d = &m->cur[m->heap[0]];
        if (__builtin_add_overflow(r->count, d->count, &r->count)) {
            mrc_err_set(err, MRC_EOVERFLOW, "the count of key '%.*s' exceeds 2^64-1",
                        (int)(r->len > 200 ? 200 : r->len), (const char *)r->key);
            return -1;
        }
        if (advance_top(m, err) != 0) return -1;
    }
    /* The top's stream goes back in with its record until the next call moves it on. */
    m->heap[m->nheap++] = top;
    for (size_t i = m->nheap - 1; i > 0;) { /* sift up: it is the smallest */
        size_t p = (i - 1) / 2;
        size_t t = m->heap[p];
        m->heap[p] = m->heap[i];
        m->heap[i] = t;
        i = p;
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
