/* merge.c - the merged order of the sorted slices that sort.c leaves: co-ranking (where line k
 * starts in every slice, by binary searches) and a loser tree that yields record heads one at a
 * time, for the writers and for the iterator a rank streams its range with. It must never
 * reorder the refs nor allocate per record. */
#include <stdlib.h>
#include <string.h>

#include "output_internal.h"

#define MERGE_PREFETCH 8 /* refs ahead, per slice, whose records are fetched early */

/* The extended order: records, then the slice (a tie goes to the lower slice). */
static inline bool rec_before(const unsigned char *a, size_t ja, const unsigned char *b, size_t jb,
                              bool by_count)
{
    int c = mrc_out_rec_cmp(a, b, by_count);
    return c < 0 || (c == 0 && ja < jb);
}

static inline const unsigned char *slice_rec(const mrc_out_sorted *s, size_t j, size_t i)
{
    return s->refs[s->bounds[j] + i].rec;
}

void mrc_out_corank(const mrc_out_sorted *s, uint64_t k, size_t *lo, size_t *hi, size_t *tmp)
{
    size_t t = s->nslices;
    bool by_count = s->order == MRC_ORDER_COUNT;
    /* no slice gives more than k, none fewer than k less what the others can give */
    uint64_t sum_hi = 0;
    for (size_t j = 0; j < t; j++) {
        if (hi[j] > k) hi[j] = (size_t)k;
        sum_hi += hi[j];
    }
    for (size_t j = 0; j < t; j++) {
        uint64_t others = sum_hi - hi[j];
        if (k > others && lo[j] < k - others) lo[j] = (size_t)(k - others);
    }
    /* Halve the widest range around a pivot p: its rank is how many records of every slice
     * come before it. Counts are searched within [lo, hi] only: clamped, they still tell
     * whether p is among the first k, and bound every cut on the right side. */
    for (;;) {
        size_t best = 0, width = 0;
        for (size_t j = 0; j < t; j++)
            if (hi[j] - lo[j] > width) {
                width = hi[j] - lo[j];
                best = j;
            }
        if (width == 0) return;
        size_t m = lo[best] + width / 2;
        const unsigned char *p = slice_rec(s, best, m);
        uint64_t rank = m;
        for (size_t j = 0; j < t; j++) {
            if (j == best) continue;
            size_t a = lo[j], b = hi[j]; /* first record of slice j not before p */
            while (a < b) {
                size_t mid = a + (b - a) / 2;
                if (rec_before(slice_rec(s, j, mid), j, p, best, by_count))
                    a = mid + 1;
                else
                    b = mid;
            }
            tmp[j] = a;
            rank += a;
        }
        if (rank < k) { /* p is among the first k, and so is all that precedes it */
            lo[best] = m + 1;
            for (size_t j = 0; j < t; j++)
                if (j != best && tmp[j] > lo[j]) lo[j] = tmp[j];
        } else {
            hi[best] = m;
            for (size_t j = 0; j < t; j++)
                if (j != best && tmp[j] < hi[j]) hi[j] = tmp[j];
        }
    }
}

/* ---- the loser tree ---- */

static inline const unsigned char *head(const mrc_out_merge *m, size_t leaf)
{
    return m->pos[leaf] < m->end[leaf] ? m->s->refs[m->pos[leaf]].rec : NULL;
}

/* Leaf x's head comes before leaf y's (a spent leaf comes after everything). */
static inline bool beats(const mrc_out_merge *m, size_t x, size_t y)
{
    const unsigned char *a = head(m, x), *b = head(m, y);
    if (a == NULL) return false;
    if (b == NULL) return true;
    return rec_before(a, x, b, y, m->by_count);
}

int mrc_out_merge_init(mrc_out_merge *m, const mrc_out_sorted *s, mrc_err *err)
{
    memset(m, 0, sizeof *m);
    m->s = s;
    m->by_count = s->order == MRC_ORDER_COUNT;
    m->leaves = 1;
    while (m->leaves < s->nslices)
        m->leaves *= 2;
    m->pos = calloc(3 * m->leaves, sizeof *m->pos);
    if (m->pos == NULL) return mrc_err_set(err, MRC_ENOMEM, "output: out of memory");
    m->end = m->pos + m->leaves;
    m->tree = m->end + m->leaves;
    return 0;
}

void mrc_out_merge_free(mrc_out_merge *m)
{
    free(m->pos);
    memset(m, 0, sizeof *m);
}

/* The winner of the subtree at node (leaves are nodes leaves..2*leaves-1); losers stored. */
static size_t build(mrc_out_merge *m, size_t node)
{
    if (node >= m->leaves) return node - m->leaves;
    size_t l = build(m, 2 * node), r = build(m, 2 * node + 1);
    if (beats(m, r, l)) {
        m->tree[node] = l;
        return r;
    }
    m->tree[node] = r;
    return l;
}

void mrc_out_merge_start(mrc_out_merge *m, const size_t *cuts, uint64_t count)
{
    const mrc_out_sorted *s = m->s;
    for (size_t j = 0; j < m->leaves; j++) {
        if (j < s->nslices) {
            m->pos[j] = s->bounds[j] + cuts[j];
            m->end[j] = s->bounds[j] + mrc_out_slice_len(s, j);
            for (size_t i = 0; i < MERGE_PREFETCH && m->pos[j] + i < m->end[j]; i++)
                __builtin_prefetch(s->refs[m->pos[j] + i].rec);
        } else {
            m->pos[j] = m->end[j] = 0;
        }
    }
    m->tree[0] = build(m, 1);
    m->left = count;
}

void mrc_out_merge_cuts(const mrc_out_merge *m, size_t *cuts)
{
    for (size_t j = 0; j < m->s->nslices; j++)
        cuts[j] = m->pos[j] - m->s->bounds[j];
}

const unsigned char *mrc_out_merge_next(mrc_out_merge *m)
{
    if (m->left == 0) return NULL;
    size_t w = m->tree[0];
    if (m->pos[w] >= m->end[w]) return NULL;
    const unsigned char *rec = m->s->refs[m->pos[w]++].rec;
    if (m->pos[w] + MERGE_PREFETCH < m->end[w])
        __builtin_prefetch(m->s->refs[m->pos[w] + MERGE_PREFETCH].rec);
    m->left--;
    for (size_t node = (w + m->leaves) >> 1; node > 0; node >>= 1) {
        size_t l = m->tree[node];
        if (beats(m, l, w)) {
            m->tree[node] = w;
            w = l;
        }
    }
    m->tree[0] = w;
    return rec;
}

/* ---- the public iterator ---- */

struct mrc_out_iter {
    mrc_source src; /* first: the iterator as a stream */
    mrc_out_merge m;
};

static int iter_source_next(mrc_source *src, mrc_rec_view *r, mrc_err *err)
{
    (void)err;
    const unsigned char *rec = mrc_out_merge_next(&((mrc_out_iter *)(void *)src)->m);
    if (rec == NULL) return 0;
    *r = (mrc_rec_view){0, mrc_rec_count(rec), mrc_rec_key(rec), mrc_rec_len(rec)};
    return 1;
}

static void iter_source_close(mrc_source *src)
{
    mrc_output_iter_close((mrc_out_iter *)(void *)src);
}

mrc_out_iter *mrc_output_iter_open(const mrc_out_sorted *s, uint64_t first, mrc_err *err)
{
    mrc_out_iter *it = calloc(1, sizeof *it);
    size_t t = s->nslices;
    size_t *b = it != NULL ? malloc(3 * (t ? t : 1) * sizeof *b) : NULL;
    if (b == NULL || mrc_out_merge_init(&it->m, s, err) != 0) {
        free(b);
        free(it);
        mrc_err_set(err, MRC_ENOMEM, "output: out of memory");
        return NULL;
    }
    it->src = (mrc_source){iter_source_next, iter_source_close};
    if (first > s->records) first = s->records;
    for (size_t j = 0; j < t; j++) {
        b[j] = 0;
        b[t + j] = mrc_out_slice_len(s, j);
    }
    mrc_out_corank(s, first, b, b + t, b + 2 * t);
    mrc_out_merge_start(&it->m, b, s->records - first);
    free(b);
    return it;
}

const unsigned char *mrc_output_iter_next(mrc_out_iter *it)
{
    return mrc_out_merge_next(&it->m);
}

mrc_source *mrc_output_iter_source(mrc_out_iter *it)
{
    return &it->src;
}

void mrc_output_iter_close(mrc_out_iter *it)
{
    if (it == NULL) return;
    mrc_out_merge_free(&it->m);
    free(it);
}
