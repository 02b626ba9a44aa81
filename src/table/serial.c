/* serial.c - the serialized count table (DESIGN wire format) and the linear merge of two of
 * them, which is both the body of the MPI_Reduce operator and its in-place variant.
 * A merge never writes past the capacity it is given: a result that does not fit is flagged. */
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "mrcount/table.h"
#include "wire.h"

void mrc_ser_read_header(const void *buf, mrc_ser_header *h)
{
    const unsigned char *p = buf;
    h->magic = load32(p);
    h->version = load32(p + 4);
    h->records = load64(p + 8);
    h->payload = load64(p + 16);
    h->flags = load64(p + 24);
    h->total = load64(p + 32);
}

void mrc_ser_write_header(void *buf, const mrc_ser_header *h)
{
    unsigned char *p = buf;
    store32(p, h->magic);
    store32(p + 4, h->version);
    store64(p + 8, h->records);
    store64(p + 16, h->payload);
    store64(p + 24, h->flags);
    store64(p + 32, h->total);
}

size_t mrc_ser_empty(void *buf)
{
    mrc_ser_header h = {MRC_SER_MAGIC, MRC_SER_VERSION, 0, 0, 0, 0};
    mrc_ser_write_header(buf, &h);
    return MRC_SER_HEADER;
}

int mrc_ser_next(const unsigned char *payload, size_t len, size_t *pos, mrc_ser_rec *r)
{
    size_t p = *pos;
    if (p >= len) return 0;
    if (len - p < REC_HEAD) return -1;
    r->count = load64(payload + p);
    r->len = load32(payload + p + 8);
    if (len - p - REC_HEAD < r->len) return -1;
    r->key = payload + p + REC_HEAD;
    *pos = p + REC_HEAD + r->len;
    return 1;
}

static int rec_cmp(uint64_t ha, const mrc_ser_rec *a, uint64_t hb, const mrc_ser_rec *b)
{
    return mrc_ser_order(ha, a->key, a->len, hb, b->key, b->len);
}

int mrc_ser_validate(const void *buf, size_t cap, mrc_err *err)
{
    if (cap < MRC_SER_HEADER)
        return mrc_err_set(err, MRC_EINVAL, "serialized table: %zu bytes, shorter than a header",
                           cap);
    mrc_ser_header h;
    mrc_ser_read_header(buf, &h);
    if (h.magic != MRC_SER_MAGIC || h.version != MRC_SER_VERSION)
        return mrc_err_set(err, MRC_EINVAL, "serialized table: bad magic or version");
    if (h.payload > cap - MRC_SER_HEADER)
        return mrc_err_set(err, MRC_EINVAL, "serialized table: payload past the buffer");
    const unsigned char *pl = (const unsigned char *)buf + MRC_SER_HEADER;
    size_t pos = 0;
    uint64_t n = 0, prev_hash = 0;
    mrc_ser_rec r, prev = {0, 0, NULL};
    int rc;
    while ((rc = mrc_ser_next(pl, h.payload, &pos, &r)) == 1) {
        uint64_t hash = mrc_hash(r.key, r.len);
        if (n > 0 && rec_cmp(prev_hash, &prev, hash, &r) >= 0)
            return mrc_err_set(err, MRC_EINVAL, "serialized table: record %llu out of order",
                               (unsigned long long)n);
        prev = r;
        prev_hash = hash;
        n++;
    }
    if (rc < 0)
        return mrc_err_set(err, MRC_EINVAL, "serialized table: truncated record %llu",
                           (unsigned long long)n);
    if (n != h.records)
        return mrc_err_set(err, MRC_EINVAL, "serialized table: %llu records, header says %llu",
                           (unsigned long long)n, (unsigned long long)h.records);
    return 0;
}

/* A cursor over one payload, holding the current record and its hash. */
typedef struct cursor {
    const unsigned char *pl;
    size_t len, pos;
    mrc_ser_rec rec;
    uint64_t hash;
    int live;
} cursor;

static void cursor_next(cursor *c, uint64_t *flags)
{
    int rc = mrc_ser_next(c->pl, c->len, &c->pos, &c->rec);
    if (rc < 0) *flags |= MRC_SER_FLAG_CORRUPT;
    c->live = rc == 1;
    if (c->live) c->hash = mrc_hash(c->rec.key, c->rec.len);
}

/* Append one record at out[*w]; memmove because in-place merges may overlap source and
 * destination (the destination never passes the unread source, see mrc_ser_merge_into). */
static int put_rec(unsigned char *out, size_t cap, size_t *w, uint64_t count, const mrc_ser_rec *r)
{
    size_t need = REC_HEAD + (size_t)r->len;
    if (cap - *w < need) return -1;
    const unsigned char *key = r->key;
    uint32_t len = r->len;
    memmove(out + *w + REC_HEAD, key, len);
    store64(out + *w, count);
    store32(out + *w + 8, len);
    *w += need;
    return 0;
}

/* Merge payloads a and b into out[0..cap). In place (b's unread records at the end of out's
 * region, `inplace`), a record of a is written only where it ends before b's current record:
 * otherwise the union does not fit and SIZE_MAX says so before anything unread is overwritten.
 * Records keep their size (a fixed head and the key), so out(<= k) - b(<= k), the bytes of the
 * keys up to k that only a holds, never exceeds the final union's size less b's: whenever the
 * union fits, the write never reaches b's unread records. @return bytes written, or SIZE_MAX
 * when cap is too small. */
static size_t merge_payloads(cursor *a, cursor *b, unsigned char *out, size_t cap, bool inplace,
                             uint64_t *records, uint64_t *flags)
{
    size_t w = 0;
    uint64_t n = 0;
    cursor_next(a, flags);
    cursor_next(b, flags);
    while (a->live || b->live) {
        int c = !a->live ? 1 : !b->live ? -1 : rec_cmp(a->hash, &a->rec, b->hash, &b->rec);
        int rc;
        if (c < 0) {
            /* b's current record starts REC_HEAD before its key */
            if (inplace && b->live &&
                (size_t)(b->rec.key - REC_HEAD - out) < w + REC_HEAD + (size_t)a->rec.len)
                return SIZE_MAX;
            rc = put_rec(out, cap, &w, a->rec.count, &a->rec);
            cursor_next(a, flags);
        } else if (c > 0) {
            rc = put_rec(out, cap, &w, b->rec.count, &b->rec);
            cursor_next(b, flags);
        } else {
            uint64_t sum;
            if (__builtin_add_overflow(a->rec.count, b->rec.count, &sum)) {
                *flags |= MRC_SER_FLAG_COUNT_OVERFLOW;
                sum = UINT64_MAX;
            }
            /* b's record is the one that may be overlapped by out; write from it. */
            rc = put_rec(out, cap, &w, sum, &b->rec);
            cursor_next(a, flags);
            cursor_next(b, flags);
        }
        if (rc != 0) return SIZE_MAX;
        n++;
    }
    *records = n;
    return w;
}

static uint64_t merged_flags_total(const mrc_ser_header *ha, const mrc_ser_header *hb,
                                   uint64_t *total)
{
    uint64_t flags = ha->flags | hb->flags;
    if (__builtin_add_overflow(ha->total, hb->total, total))
        *total = UINT64_MAX; /* the total is for metrics; a key's own count never wraps */
    return flags;
}

static size_t write_overflowed(void *out, uint64_t flags)
{
    mrc_ser_header h = {MRC_SER_MAGIC, MRC_SER_VERSION, 0, 0, flags | MRC_SER_FLAG_OVERFLOW, 0};
    mrc_ser_write_header(out, &h);
    return MRC_SER_HEADER;
}

size_t mrc_ser_merge(const void *a, const void *b, void *out, size_t out_cap)
{
    mrc_ser_header ha, hb, ho = {MRC_SER_MAGIC, MRC_SER_VERSION, 0, 0, 0, 0};
    mrc_ser_read_header(a, &ha);
    mrc_ser_read_header(b, &hb);
    ho.flags = merged_flags_total(&ha, &hb, &ho.total);
    if (out_cap < MRC_SER_HEADER) return 0;
    if (ho.flags & MRC_SER_FLAG_OVERFLOW) return write_overflowed(out, ho.flags);
    cursor ca = {(const unsigned char *)a + MRC_SER_HEADER, ha.payload, 0, {0, 0, NULL}, 0, 0};
    cursor cb = {(const unsigned char *)b + MRC_SER_HEADER, hb.payload, 0, {0, 0, NULL}, 0, 0};
    size_t w = merge_payloads(&ca, &cb, (unsigned char *)out + MRC_SER_HEADER,
                              out_cap - MRC_SER_HEADER, false, &ho.records, &ho.flags);
    if (w == SIZE_MAX) return write_overflowed(out, ho.flags);
    ho.payload = w;
    mrc_ser_write_header(out, &ho);
    return MRC_SER_HEADER + w;
}

int mrc_ser_merge_into(const void *in, void *inout, size_t inout_cap)
{
    mrc_ser_header hi, ho;
    if (inout_cap < MRC_SER_HEADER) return 0;
    mrc_ser_read_header(in, &hi);
    mrc_ser_read_header(inout, &ho);
    uint64_t total;
    uint64_t flags = merged_flags_total(&hi, &ho, &total);
    unsigned char *io = inout;
    size_t room = inout_cap - MRC_SER_HEADER;
    if (hi.magic != MRC_SER_MAGIC || hi.version != MRC_SER_VERSION || ho.magic != MRC_SER_MAGIC ||
        ho.version != MRC_SER_VERSION || ho.payload > room) { /* not tables: read no record */
        mrc_ser_header h = {MRC_SER_MAGIC, MRC_SER_VERSION, 0, 0, flags | MRC_SER_FLAG_CORRUPT, 0};
        mrc_ser_write_header(inout, &h);
        return 0;
    }
    /* The union holds every key of in: in's payload past the room cannot fit (and in, the
     * reduce's buffer, is no larger than inout's: its records are not read). */
    if (flags & MRC_SER_FLAG_OVERFLOW || hi.payload > room) {
        write_overflowed(inout, flags);
        return 0;
    }
    /* In place: inout's records move to the end, the merge runs forward from the front and
     * stops (overflow) before its write would reach a record not yet read. */
    unsigned char *moved = io + inout_cap - ho.payload;
    memmove(moved, io + MRC_SER_HEADER, ho.payload);
    cursor ca = {(const unsigned char *)in + MRC_SER_HEADER, hi.payload, 0, {0, 0, NULL}, 0, 0};
    cursor cb = {moved, ho.payload, 0, {0, 0, NULL}, 0, 0};
    mrc_ser_header h = {MRC_SER_MAGIC, MRC_SER_VERSION, 0, 0, flags, total};
    size_t w = merge_payloads(&ca, &cb, io + MRC_SER_HEADER, room, true, &h.records, &h.flags);
    if (w == SIZE_MAX) {
        write_overflowed(inout, h.flags);
        return 0;
    }
    h.payload = w;
    mrc_ser_write_header(inout, &h);
    return 0;
}
