/* wire.h - the serialized table's record layout for the files of table/ (private): the record
 * head and little-endian loads and stores that make no alignment assumption. */
#ifndef MRCOUNT_TABLE_WIRE_H
#define MRCOUNT_TABLE_WIRE_H

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "mrcount/common.h"

#define REC_HEAD 12 /* u64 count + u32 key length, then the key bytes */

#if __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "the serialized table format is little-endian and read with plain loads"
#endif

static inline uint64_t load64(const unsigned char *p)
{
    uint64_t v;
    memcpy(&v, p, 8);
    return v;
}

static inline uint32_t load32(const unsigned char *p)
{
    uint32_t v;
    memcpy(&v, p, 4);
    return v;
}

static inline void store64(unsigned char *p, uint64_t v)
{
    memcpy(p, &v, 8);
}

static inline void store32(unsigned char *p, uint32_t v)
{
    memcpy(p, &v, 4);
}

/* A growing buffer of serialized records (the one-thread serializer's table, a parallel merge's
 * part) with the records and the saturating total it holds. */
typedef struct rec_buf {
    unsigned char *buf;
    size_t len, cap;
    uint64_t records, total;
} rec_buf;

/* Append one record (count, key) to b, doubling it as needed; `what` names the work in the
 * out-of-memory message. @return 0, or MRC_ENOMEM with err filled. */
static inline int rec_buf_put(rec_buf *b, uint64_t count, const void *key, uint32_t len,
                              const char *what, mrc_err *err)
{
    size_t need = REC_HEAD + (size_t)len;
    if (b->cap - b->len < need) {
        size_t cap = b->cap ? b->cap * 2 : 65536;
        while (cap - b->len < need)
            cap *= 2;
        unsigned char *nb = realloc(b->buf, cap);
        if (nb == NULL) return mrc_err_set(err, MRC_ENOMEM, "%s: out of memory", what);
        if (cap >= ((size_t)4 << 20)) mrc_advise_huge(nb, cap); /* read back in random order */
        b->buf = nb;
        b->cap = cap;
    }
    store64(b->buf + b->len, count);
    store32(b->buf + b->len + 8, len);
    memcpy(b->buf + b->len + REC_HEAD, key, len);
    b->len += need;
    b->records++;
    b->total = b->total + count < b->total ? UINT64_MAX : b->total + count;
    return 0;
}

#endif
