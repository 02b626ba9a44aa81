/* ngramwin.h - the word n-gram window of one thread (private to map/): the keys of the last N-1
 * tokens of the current sequence, copied (the reader's buffer moves between calls) and kept
 * joined by single spaces, so an n-gram is the window, a space and the next key. Each key
 * remembers whether its token is the range's (started before `owned`): an n-gram is counted
 * only when its first token is, and once no key in the window is, the range needs no more
 * context. Per token: one copy of the window into the n-gram and one short memmove. */
#ifndef MRCOUNT_MAP_NGRAMWIN_H
#define MRCOUNT_MAP_NGRAMWIN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "mrcount/common.h"
#include "words.h"

typedef struct mrc_ngram_window {
    unsigned char *bytes; /* the keys, oldest first, joined by ' ' */
    size_t len, cap;
    uint32_t klen[MRC_NGRAMS_MAX]; /* the keys' lengths, oldest first */
    unsigned n;                    /* keys held: at most order - 1 */
    unsigned owned;                /* how many of the oldest keys are the range's */
    unsigned order;                /* N (2..MRC_NGRAMS_MAX) */
} mrc_ngram_window;

/** mrc_ngram_window_init() : an empty window for n-grams of `order` tokens (2..9). */
void mrc_ngram_window_init(mrc_ngram_window *w, unsigned order);

/** mrc_ngram_window_free() : release its bytes and zero it. */
void mrc_ngram_window_free(mrc_ngram_window *w);

/** mrc_ngram_window_grow() : room for `need` bytes. @return 0 or MRC_ENOMEM (err filled). */
int mrc_ngram_window_grow(mrc_ngram_window *w, size_t need, mrc_err *err);

/** mrc_ngram_window_reset() : a sequence ends (a break, a new piece): forget every key. */
static inline void mrc_ngram_window_reset(mrc_ngram_window *w)
{
    w->len = 0;
    w->n = 0;
    w->owned = 0;
}

/** mrc_ngram_window_counts() : the next token completes an n-gram that is the range's: the
 *  window holds N-1 keys and the oldest is the range's. */
static inline bool mrc_ngram_window_counts(const mrc_ngram_window *w)
{
    return w->n + 1 == w->order && w->owned > 0;
}

/** mrc_ngram_window_gram_len() : the length of the n-gram that ends with a key of klen bytes. */
static inline size_t mrc_ngram_window_gram_len(const mrc_ngram_window *w, size_t klen)
{
    return w->len + 1 + klen;
}

/** mrc_ngram_window_write() : the n-gram (window, ' ', key) at dst, which has room for
 *  mrc_ngram_window_gram_len() bytes. */
static inline void mrc_ngram_window_write(const mrc_ngram_window *w, unsigned char *dst,
                                          const unsigned char *key, size_t klen)
{
    memcpy(dst, w->bytes, w->len);
    dst[w->len] = ' ';
    memcpy(dst + w->len + 1, key, klen);
}

/** mrc_ngram_window_push() : the key of the next token (`owned`: the token is the range's)
 *  joins the window, the oldest leaving it when it is full. @return 0 or MRC_ENOMEM. */
static inline int mrc_ngram_window_push(mrc_ngram_window *w, const unsigned char *key, size_t klen,
                                        bool owned, mrc_err *err)
{
    if (w->n + 1 == w->order) { /* full: the oldest key and its space go */
        size_t drop = w->klen[0] + (w->n > 1 ? 1 : 0);
        memmove(w->bytes, w->bytes + drop, w->len - drop);
        w->len -= drop;
        memmove(w->klen, w->klen + 1, (w->n - 1) * sizeof w->klen[0]);
        w->n--;
        if (w->owned > 0) w->owned--;
    }
    size_t need = w->len + (w->n > 0) + klen;
    if (need > w->cap && mrc_ngram_window_grow(w, need, err) != 0) return -1;
    if (w->n > 0) w->bytes[w->len++] = ' ';
    memcpy(w->bytes + w->len, key, klen);
    w->len += klen;
    w->klen[w->n++] = (uint32_t)klen;
    w->owned += owned;
    return 0;
}

#endif
