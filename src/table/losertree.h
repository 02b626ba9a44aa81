/* losertree.h - the loser tree both k-way merges play (private to table/): stream.c's
 * mrc_source_merge(), which pushes every record to a sink, and mergesrc.c's pulled merge.
 * Leaves are the streams' current records; node i (1 <= i < k) holds the loser of the match
 * played there, tree[0] the overall winner. Taking the winner replays only its path: log2(k)
 * comparisons. The winner's record is kept with its key copied (the stream's next() may
 * overwrite it), which also gives the one comparison that checks each stream's order, and the
 * one that finds equal keys of different streams (in the pulled merge's output orders: the new
 * winner's offset-value code is 0). The functions that are not inline are in stream.c. */
#ifndef MRCOUNT_TABLE_LOSERTREE_H
#define MRCOUNT_TABLE_LOSERTREE_H

#include <stdbool.h>
#include <stdint.h>

#include "mrcount/table.h"

typedef struct mrc_lt_leaf {
    mrc_rec_view v;
    uint64_t ovc; /* the output orders' pulled merge: its offset-value code (table.h) */
    bool live;    /* false: the stream ended (it loses every match) */
} mrc_lt_leaf;

/* A record kept past its stream's next(): its key in a buffer of its own. */
typedef struct mrc_lt_kept {
    mrc_rec_view v;
    unsigned char *key;
    size_t cap;
} mrc_lt_kept;

/* Whether leaf a wins against leaf b (ties go to the lower stream, so the tree is total).
 * In hash order an ended stream's hash is UINT64_MAX, so unequal hashes decide alone (the
 * common case, and one the compiler turns into a conditional move in mrc_lt_replay()). */
static inline __attribute__((always_inline)) bool mrc_lt_beats(const mrc_lt_leaf *h, uint32_t a,
                                                               uint32_t b, const enum mrc_order o)
{
    if (o == MRC_ORDER_HASH && __builtin_expect(h[a].v.hash != h[b].v.hash, 1))
        return h[a].v.hash < h[b].v.hash;
    if (!h[a].live) return false;
    if (!h[b].live) return true;
    int c = mrc_rec_cmp(o, &h[a].v, &h[b].v);
    return c < 0 || (c == 0 && a < b);
}

/* The matches on leaf w's path played again, its record having changed (w: the winner). */
static inline __attribute__((always_inline)) void
mrc_lt_replay(const mrc_lt_leaf *h, uint32_t *tree, size_t k, uint32_t w, const enum mrc_order o)
{
    for (size_t node = (w + k) >> 1; node > 0; node >>= 1) {
        uint32_t l = tree[node];
        bool lw = mrc_lt_beats(h, l, w, o);
        tree[node] = lw ? w : l;
        w = lw ? l : w;
    }
    tree[0] = w;
}

/* Leaf l's stream ended: it loses every match from now on. */
static inline void mrc_lt_end(mrc_lt_leaf *l)
{
    l->live = false;
    l->v.hash = UINT64_MAX;
    l->ovc = MRC_OVC_END;
}

/* ---- offset-value codes (table.h) in the output orders' pulled merge ----
 * In a loser tree every record on the winner's path is coded against the winner, and so is its
 * stream's next record (the merge compares the two anyway, to check the stream's order), so most
 * matches compare two integers. */

/* The match of leaves a and b, both coded against one base: whether a wins (ties go to the
 * lower stream); the loser's code is left against the winner. */
static inline __attribute__((always_inline)) bool mrc_ovc_beats(mrc_lt_leaf *h, uint32_t a,
                                                                uint32_t b, const enum mrc_order o)
{
    return mrc_ovc_first(&h[a].v, &h[a].ovc, &h[b].v, &h[b].ovc, a < b, o);
}

/* mrc_lt_replay() with codes: w's record is coded against the last winner. */
static inline __attribute__((always_inline)) void
mrc_ovc_replay(mrc_lt_leaf *h, uint32_t *tree, size_t k, uint32_t w, const enum mrc_order o)
{
    for (size_t node = (w + k) >> 1; node > 0; node >>= 1) {
        uint32_t l = tree[node];
        if (mrc_ovc_beats(h, l, w, o)) {
            tree[node] = w;
            w = l;
        }
    }
    tree[0] = w;
}

/** mrc_lt_build() : the tournament of h[0, k) played bottom-up into tree (k + 1 entries;
 *  tree[0] = 0 when k is 0). @return 0, or MRC_ENOMEM with err filled. */
int mrc_lt_build(const mrc_lt_leaf *h, uint32_t *tree, size_t k, enum mrc_order o, mrc_err *err);

/** mrc_ovc_build() : the same in an output order with codes: each live leaf is coded against
 *  the empty string first. @return 0, or MRC_ENOMEM with err filled. */
int mrc_ovc_build(mrc_lt_leaf *h, uint32_t *tree, size_t k, enum mrc_order o, mrc_err *err);

/** mrc_lt_keep() : *v copied into kp, its key into kp's buffer (grown as needed).
 *  @return 0, or MRC_ENOMEM with err filled. */
int mrc_lt_keep(mrc_lt_kept *kp, const mrc_rec_view *v, mrc_err *err);

/** mrc_lt_stream_failed() : a stream's next() failed: its error, or a generic one when it
 *  left none. @return the error's code. */
int mrc_lt_stream_failed(mrc_err *err);

/** mrc_lt_order_name() : "hash", "count" or "key", for messages. */
const char *mrc_lt_order_name(enum mrc_order o);

#endif
