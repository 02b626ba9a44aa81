/* ngramwin.c - the cold half of the word n-gram window (ngramwin.h): making, growing and freeing
 * its buffer. The per-token work is inline in the header; nothing here runs per token except a
 * growth when a longer key than any before arrives. */
#include <stdlib.h>
#include <string.h>

#include "ngramwin.h"

void mrc_ngram_window_init(mrc_ngram_window *w, unsigned order)
{
    memset(w, 0, sizeof *w);
    w->order = order;
}

void mrc_ngram_window_free(mrc_ngram_window *w)
{
    free(w->bytes);
    memset(w, 0, sizeof *w);
}

int mrc_ngram_window_grow(mrc_ngram_window *w, size_t need, mrc_err *err)
{
    size_t cap = w->cap ? w->cap : 256;
    while (cap < need) {
        if (cap > SIZE_MAX / 2)
            return mrc_err_set(err, MRC_ENOMEM, "an n-gram window of %zu bytes is too long", need);
        cap *= 2;
    }
    unsigned char *b = realloc(w->bytes, cap);
    if (b == NULL)
        return mrc_err_set(err, MRC_ENOMEM, "out of memory for an n-gram window of %zu bytes",
                           need);
    w->bytes = b;
    w->cap = cap;
    return 0;
}
