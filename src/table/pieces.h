/* pieces.h - the record reader of table/'s streams (private): records parsed in place from a
 * sequence of byte pieces (a payload, the blocks read from a spill file, the chunks a shuffle
 * owner received), a record cut across pieces joined in a carry buffer of its own. */
#ifndef MRCOUNT_TABLE_PIECES_H
#define MRCOUNT_TABLE_PIECES_H

#include "mrcount/table.h"
#include "wire.h"

typedef struct mrc_pieces mrc_pieces;
struct mrc_pieces {
    mrc_source base;              /* first member: a concrete stream embeds the reader */
    const unsigned char *p, *end; /* the unconsumed bytes of the current piece */
    const unsigned char *begin;   /* the current piece's first byte */
    uint64_t begin_off;           /* its offset in the stream */
    /* The next piece into begin = p and end (begin_off is kept by the reader): 1, 0 at the end
     * of the stream, or negative with err filled. */
    int (*pull)(mrc_pieces *r, mrc_err *err);
    /* Fill err for a record cut by the end of the stream at stream offset `off`. */
    void (*truncated)(mrc_pieces *r, uint64_t off, mrc_err *err);
    unsigned char *carry; /* a record cut across pieces, joined */
    size_t carry_cap;
    bool hashed; /* fill mrc_rec_view.hash */
};

/** mrc_pieces_init() : a reader with no piece yet (p == end: the first next() pulls). */
void mrc_pieces_init(mrc_pieces *r, enum mrc_order order);

/** mrc_pieces_slow() : next() when the current piece holds no whole record. */
int mrc_pieces_slow(mrc_pieces *r, mrc_rec_view *v, mrc_err *err);

/** mrc_pieces_next() : the next record. @return 1, 0 at the end, negative on an error. */
static inline int mrc_pieces_next(mrc_pieces *r, mrc_rec_view *v, mrc_err *err)
{
    size_t avail = (size_t)(r->end - r->p);
    if (avail >= REC_HEAD) {
        uint32_t len = load32(r->p + 8);
        if (avail - REC_HEAD >= len) {
            v->count = load64(r->p);
            v->len = len;
            v->key = r->p + REC_HEAD;
            v->hash = r->hashed ? mrc_hash(v->key, len) : 0;
            r->p += REC_HEAD + (size_t)len;
            return 1;
        }
    }
    return mrc_pieces_slow(r, v, err);
}

/** mrc_pieces_free() : release the carry buffer. */
void mrc_pieces_free(mrc_pieces *r);

/* Spill traffic of this process (runfile.c). */
void mrc_spill_note_written(uint64_t n);
void mrc_spill_note_read(uint64_t n);

#endif
