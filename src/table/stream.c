/* stream.c - record streams and the k-way merge that joins them: the in-memory stream over wire
 * records, the reader that parses records from a sequence of byte pieces (shared by the spill
 * streams), and the loser-tree merge used by the spill, the shuffle owners and the output.
 * A merge never trusts its streams: a stream out of order, a key met twice where keys must be
 * unique, a truncated record or a count past 2^64-1 is an error, never a wrong result. */
#include <stdlib.h>
#include <string.h>

#include "losertree.h"
#include "mrcount/table.h"
#include "pieces.h"
#include "wire.h"

/* ---- the piece reader ---- */

void mrc_pieces_init(mrc_pieces *r, enum mrc_order order)
{
    memset(r, 0, sizeof *r);
    r->hashed = order == MRC_ORDER_HASH;
}

void mrc_pieces_free(mrc_pieces *r)
{
    free(r->carry);
    r->carry = NULL;
    r->carry_cap = 0;
}

static int carry_reserve(mrc_pieces *r, size_t need, mrc_err *err)
{
    if (need <= r->carry_cap) return 0;
    size_t cap = r->carry_cap < 64 ? 64 : r->carry_cap;
    while (cap < need)
        cap = cap > SIZE_MAX / 2 ? need : cap * 2;
    unsigned char *c = realloc(r->carry, cap);
    if (c == NULL)
        return mrc_err_set(err, MRC_ENOMEM, "record stream: out of memory for a %zu-byte record",
                           need);
    r->carry = c;
    r->carry_cap = cap;
    return 0;
}

/* The next piece; 1, 0 at the end (the reader stays ended), -1 on an error. */
static int next_piece(mrc_pieces *r, mrc_err *err)
{
    r->begin_off += (uint64_t)(r->end - r->begin);
    r->begin = r->p = r->end;
    int rc = r->pull(r, err);
    if (rc <= 0) r->begin = r->p = r->end;
    return rc < 0 ? -1 : rc;
}

int mrc_pieces_slow(mrc_pieces *r, mrc_rec_view *v, mrc_err *err)
{
    for (;;) {
        size_t avail = (size_t)(r->end - r->p);
        if (avail == 0) {
            int rc = next_piece(r, err);
            if (rc <= 0) return rc;
            continue;
        }
        if (avail >= REC_HEAD && avail - REC_HEAD >= load32(r->p + 8))
            return mrc_pieces_next(r, v, err);
        break;
    }
    /* A record cut by the end of this piece: join its parts in the carry buffer, the head
     * first (it gives the length), then the key. */
    uint64_t start = r->begin_off + (uint64_t)(r->p - r->begin);
    size_t have = 0, need = REC_HEAD;
    if (carry_reserve(r, need, err) != 0) return -1;
    for (;;) {
        size_t avail = (size_t)(r->end - r->p);
        size_t take = need - have < avail ? need - have : avail;
        if (take) memcpy(r->carry + have, r->p, take);
        have += take;
        r->p += take;
        if (have == need) {
            if (need > REC_HEAD) break;
            need = REC_HEAD + (size_t)load32(r->carry + 8);
            if (need == REC_HEAD) break;
            if (carry_reserve(r, need, err) != 0) return -1;
            continue;
        }
        int rc = next_piece(r, err);
        if (rc < 0) return -1;
        if (rc == 0) {
            r->truncated(r, start, err);
            return -1;
        }
    }
    v->count = load64(r->carry);
    v->len = load32(r->carry + 8);
    v->key = r->carry + REC_HEAD;
    v->hash = r->hashed ? mrc_hash(v->key, v->len) : 0;
    return 1;
}

/* ---- a stream over a payload in memory ---- */

typedef struct ser_source {
    mrc_pieces r;
    size_t len;
} ser_source;

static int ser_next(mrc_source *s, mrc_rec_view *v, mrc_err *err)
{
    return mrc_pieces_next((mrc_pieces *)(void *)s, v, err);
}

static int ser_pull(mrc_pieces *r, mrc_err *err)
{
    (void)r;
    (void)err;
    return 0; /* the payload is the only piece */
}

static void ser_truncated(mrc_pieces *r, uint64_t off, mrc_err *err)
{
    ser_source *s = (ser_source *)(void *)r;
    mrc_err_set(err, MRC_EINVAL, "serialized records: a record cut at byte %llu of %zu",
                (unsigned long long)off, s->len);
}

static void ser_close(mrc_source *s)
{
    mrc_pieces_free((mrc_pieces *)(void *)s);
    free(s);
}

mrc_source *mrc_ser_source_open(const unsigned char *payload, size_t len, enum mrc_order order,
                                mrc_err *err)
{
    ser_source *s = malloc(sizeof *s);
    if (s == NULL) {
        mrc_err_set(err, MRC_ENOMEM, "serialized records: out of memory");
        return NULL;
    }
    mrc_pieces_init(&s->r, order);
    s->r.base.next = ser_next;
    s->r.base.close = ser_close;
    s->r.pull = ser_pull;
    s->r.truncated = ser_truncated;
    s->r.begin = s->r.p = payload;
    s->r.end = payload + len;
    s->len = len;
    return &s->r.base;
}

/* ---- the k-way merge: a loser tree (losertree.h) ----
 * Measured (bench_spill, hash order, a quarter of the records in two streams, streams over
 * memory hashing every key; shared 2-core VM at load 8, medians): M records in per second,
 * k = 1: 27-47, 2: 18-25, 4: 11-17, 16: 7.5-12.6, 256: 4.3-6.6, 1000: 3.1-5. */

int mrc_lt_build(const mrc_lt_leaf *h, uint32_t *tree, size_t k, enum mrc_order o, mrc_err *err)
{
    tree[0] = 0;
    if (k == 0) return 0;
    uint32_t *win = malloc(2 * k * sizeof *win);
    if (win == NULL) return mrc_err_set(err, MRC_ENOMEM, "merge of %zu streams: out of memory", k);
    /* leaves at win[k + i], node j plays win[2j] against win[2j+1] */
    for (size_t i = 0; i < k; i++)
        win[k + i] = (uint32_t)i;
    for (size_t j = k - 1; j > 0; j--) {
        uint32_t a = win[2 * j], b = win[2 * j + 1];
        bool a_wins = mrc_lt_beats(h, a, b, o);
        win[j] = a_wins ? a : b;
        tree[j] = a_wins ? b : a;
    }
    tree[0] = win[1];
    free(win);
    return 0;
}

int mrc_ovc_build(mrc_lt_leaf *h, uint32_t *tree, size_t k, enum mrc_order o, mrc_err *err)
{
    tree[0] = 0;
    if (k == 0) return 0;
    uint32_t *win = malloc(2 * k * sizeof *win);
    if (win == NULL) return mrc_err_set(err, MRC_ENOMEM, "merge of %zu streams: out of memory", k);
    for (size_t i = 0; i < k; i++) {
        win[k + i] = (uint32_t)i;
        h[i].ovc = h[i].live ? mrc_ovc_start(&h[i].v, o) : MRC_OVC_END;
    }
    for (size_t j = k - 1; j > 0; j--) {
        uint32_t a = win[2 * j], b = win[2 * j + 1];
        bool a_wins = o == MRC_ORDER_COUNT ? mrc_ovc_beats(h, a, b, MRC_ORDER_COUNT)
                                           : mrc_ovc_beats(h, a, b, MRC_ORDER_KEY);
        win[j] = a_wins ? a : b;
        tree[j] = a_wins ? b : a;
    }
    tree[0] = win[1];
    free(win);
    return 0;
}

int mrc_lt_keep(mrc_lt_kept *kp, const mrc_rec_view *v, mrc_err *err)
{
    if (v->len > kp->cap) {
        size_t cap = kp->cap * 2 > v->len ? kp->cap * 2 : v->len;
        unsigned char *b = realloc(kp->key, cap);
        if (b == NULL)
            return mrc_err_set(err, MRC_ENOMEM, "merge: out of memory for a %u-byte key",
                               (unsigned)v->len);
        kp->key = b;
        kp->cap = cap;
    }
    if (v->len) memcpy(kp->key, v->key, v->len);
    kp->v = *v;
    kp->v.key = kp->key;
    return 0;
}

int mrc_lt_stream_failed(mrc_err *err)
{
    if (err->code == 0) mrc_err_set(err, MRC_EIO, "merge: a stream failed without a cause");
    return err->code;
}

const char *mrc_lt_order_name(enum mrc_order o)
{
    return o == MRC_ORDER_HASH ? "hash" : o == MRC_ORDER_COUNT ? "count" : "key";
}

typedef struct merge {
    mrc_source *const *src;
    size_t k;
    mrc_lt_leaf *h;
    uint32_t *tree;
    mrc_lt_kept pend; /* the record being summed */
} merge;

static inline __attribute__((always_inline)) int
merge_loop(merge *m, const enum mrc_order o, mrc_rec_sink emit, void *arg, mrc_err *err)
{
    uint32_t w = m->tree[0];
    if (!m->h[w].live) return 0;
    if (mrc_lt_keep(&m->pend, &m->h[w].v, err) != 0) return err->code;
    for (;;) {
        mrc_lt_leaf *hw = &m->h[w];
        mrc_source *s = m->src[w];
        int rc = s->next(s, &hw->v, err);
        if (rc < 0) return mrc_lt_stream_failed(err);
        if (rc == 0) {
            mrc_lt_end(hw);
        } else if (mrc_rec_cmp(o, &hw->v, &m->pend.v) <= 0) {
            char shown[MRC_KEY_SHOWN_BUF];
            return mrc_err_set(err, MRC_EINVAL,
                               "merge of %zu streams: stream %u is out of %s order at key '%s'",
                               m->k, (unsigned)w, mrc_lt_order_name(o),
                               mrc_key_shown(hw->v.key, hw->v.len, shown));
        }
        mrc_lt_replay(m->h, m->tree, m->k, w, o);
        uint32_t nw = m->tree[0];
        const mrc_lt_leaf *hn = &m->h[nw];
        if (!hn->live) break;
        /* A record of the same stream is past pend (checked above); another stream's may
         * equal it. */
        if (nw != w && mrc_rec_cmp(o, &hn->v, &m->pend.v) == 0) {
            char shown[MRC_KEY_SHOWN_BUF];
            if (o != MRC_ORDER_HASH)
                return mrc_err_set(err, MRC_EINVAL,
                                   "merge of %zu streams: key '%s' is in two streams (in %s "
                                   "order keys must be unique across streams)",
                                   m->k, mrc_key_shown(hn->v.key, hn->v.len, shown),
                                   mrc_lt_order_name(o));
            if (mrc_add_u64(m->pend.v.count, hn->v.count, &m->pend.v.count))
                return mrc_err_set(err, MRC_EOVERFLOW, "the count of key '%s' exceeds 2^64-1",
                                   mrc_key_shown(hn->v.key, hn->v.len, shown));
            w = nw;
            continue;
        }
        rc = emit(arg, &m->pend.v, err);
        if (rc != 0) return rc;
        if (mrc_lt_keep(&m->pend, &hn->v, err) != 0) return err->code;
        w = nw;
    }
    return emit(arg, &m->pend.v, err);
}

int mrc_source_merge(mrc_source *const *src, size_t n, enum mrc_order order, mrc_rec_sink emit,
                     void *arg, mrc_err *err)
{
    if (n == 0) return 0;
    if (n >= UINT32_MAX / 2)
        return mrc_err_set(err, MRC_ENOMEM, "merge: %zu streams are too many", n);
    merge m = {src, n, NULL, NULL, {{0, 0, NULL, 0}, NULL, 256}};
    m.h = malloc(n * sizeof *m.h);
    m.tree = malloc((n + 1) * sizeof *m.tree);
    m.pend.key = malloc(m.pend.cap);
    int rc = 0;
    if (m.h == NULL || m.tree == NULL || m.pend.key == NULL) {
        rc = mrc_err_set(err, MRC_ENOMEM, "merge of %zu streams: out of memory", n);
        goto out;
    }
    for (size_t i = 0; i < n; i++) {
        int r = src[i]->next(src[i], &m.h[i].v, err);
        if (r < 0) {
            rc = mrc_lt_stream_failed(err);
            goto out;
        }
        m.h[i].live = true;
        if (r == 0) mrc_lt_end(&m.h[i]);
    }
    if ((rc = mrc_lt_build(m.h, m.tree, n, order, err)) != 0) goto out;
    /* One instance per order, so the comparison is chosen once, outside the loop. */
    switch (order) {
    case MRC_ORDER_HASH:
        rc = merge_loop(&m, MRC_ORDER_HASH, emit, arg, err);
        break;
    case MRC_ORDER_COUNT:
        rc = merge_loop(&m, MRC_ORDER_COUNT, emit, arg, err);
        break;
    case MRC_ORDER_KEY:
        rc = merge_loop(&m, MRC_ORDER_KEY, emit, arg, err);
        break;
    default:
        rc = mrc_err_set(err, MRC_EINVAL, "merge: unknown order %d", (int)order);
    }
out:
    free(m.h);
    free(m.tree);
    free(m.pend.key);
    return rc;
}
