/* merge.c - the local merge: the thread tables of one rank become one serialized table sorted
 * by (hash, key), partition by partition so every thread merges a disjoint hash range.
 * Reads the tables, never changes them; the output does not depend on thread or partition count. */
#include <stdlib.h>
#include <string.h>

#include "mrcount/table.h"

#if __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "the serialized table writer assumes a little-endian host"
#endif

typedef struct entry {
    uint64_t key; /* the hash while sorting; the merged count afterwards */
    const mrc_rec *rec;
} entry;

struct mrc_merge {
    mrc_table *const *tables;
    size_t nt, np;
    /* cnt and pos are written per record by the thread of table t, each in its own row of
     * `row` >= np entries starting on a cache line, so no two threads write one line. */
    size_t row;
    size_t *cnt;        /* nt rows: records of table t in partition p */
    size_t *pos;        /* nt rows: where (t, p) starts in entries */
    size_t *part_start; /* np + 1 */
    size_t *part_n;     /* np: distinct records after combining */
    size_t *part_bytes; /* np: serialized bytes */
    entry *entries, *scratch;
    uint64_t total;
};

#define MERGE_LINE_WORDS (MRC_CACHE_LINE / sizeof(size_t))

static size_t part_of(uint64_t hash, size_t np)
{
    return (size_t)(((hash >> 32) * (uint64_t)np) >> 32);
}

mrc_merge *mrc_merge_prepare(mrc_table *const *tables, size_t ntables, size_t nparts, mrc_err *err)
{
    if (nparts == 0) nparts = 1;
    mrc_merge *m = calloc(1, sizeof *m);
    if (m == NULL) goto nomem;
    m->tables = tables;
    m->nt = ntables;
    m->np = nparts;
    m->row = (nparts + MERGE_LINE_WORDS - 1) / MERGE_LINE_WORDS * MERGE_LINE_WORDS;
    m->cnt = mrc_calloc_lines(ntables * m->row, sizeof *m->cnt);
    m->pos = mrc_calloc_lines(ntables * m->row, sizeof *m->pos);
    m->part_start = calloc(nparts + 1, sizeof *m->part_start);
    m->part_n = calloc(nparts, sizeof *m->part_n);
    m->part_bytes = calloc(nparts, sizeof *m->part_bytes);
    if (!m->cnt || !m->pos || !m->part_start || !m->part_n || !m->part_bytes) goto nomem;
    for (size_t t = 0; t < ntables; t++)
        m->total =
            m->total + tables[t]->total < m->total ? UINT64_MAX : m->total + tables[t]->total;
    return m;
nomem:
    mrc_merge_free(m);
    mrc_err_set(err, MRC_ENOMEM, "local merge: out of memory");
    return NULL;
}

void mrc_merge_free(mrc_merge *m)
{
    if (m == NULL) return;
    free(m->cnt);
    free(m->pos);
    free(m->part_start);
    free(m->part_n);
    free(m->part_bytes);
    free(m->entries);
    free(m->scratch);
    free(m);
}

void mrc_merge_count(mrc_merge *m, size_t t)
{
    const mrc_table *tab = m->tables[t];
    size_t *cnt = m->cnt + t * m->row;
    for (size_t off = 0; off < tab->arena_len;) {
        const mrc_rec *r = (const mrc_rec *)(const void *)(tab->arena + off);
        cnt[part_of(r->hash, m->np)]++;
        off += mrc_rec_size(r->len);
    }
}

int mrc_merge_offsets(mrc_merge *m, mrc_err *err)
{
    size_t at = 0;
    for (size_t p = 0; p < m->np; p++) {
        m->part_start[p] = at;
        for (size_t t = 0; t < m->nt; t++) {
            m->pos[t * m->row + p] = at;
            at += m->cnt[t * m->row + p];
        }
    }
    m->part_start[m->np] = at;
    m->entries = malloc((at + 1) * sizeof *m->entries);
    m->scratch = malloc((at + 1) * sizeof *m->scratch);
    if (m->entries == NULL || m->scratch == NULL)
        return mrc_err_set(err, MRC_ENOMEM, "local merge: out of memory (%zu keys)", at);
    return 0;
}

void mrc_merge_place(mrc_merge *m, size_t t)
{
    const mrc_table *tab = m->tables[t];
    size_t *pos = m->pos + t * m->row;
    for (size_t off = 0; off < tab->arena_len;) {
        const mrc_rec *r = (const mrc_rec *)(const void *)(tab->arena + off);
        entry *e = &m->entries[pos[part_of(r->hash, m->np)]++];
        e->key = r->hash;
        e->rec = r;
        off += mrc_rec_size(r->len);
    }
}

/* LSD radix sort of a[0..n) by key, 8 bits a pass, passes where every key shares the digit
 * skipped. Stable, so equal hashes keep table order (irrelevant: they are sorted by key next). */
static void radix_sort(entry *a, entry *tmp, size_t n)
{
    size_t hist[8][256];
    memset(hist, 0, sizeof hist);
    for (size_t i = 0; i < n; i++)
        for (int d = 0; d < 8; d++)
            hist[d][(a[i].key >> (8 * d)) & 0xff]++;
    entry *src = a, *dst = tmp;
    for (int d = 0; d < 8; d++) {
        size_t *h = hist[d];
        if (h[(src[0].key >> (8 * d)) & 0xff] == n) continue;
        size_t sum = 0;
        for (int b = 0; b < 256; b++) {
            size_t c = h[b];
            h[b] = sum;
            sum += c;
        }
        for (size_t i = 0; i < n; i++)
            dst[h[(src[i].key >> (8 * d)) & 0xff]++] = src[i];
        entry *x = src;
        src = dst;
        dst = x;
    }
    if (src != a) memcpy(a, src, n * sizeof *a);
}

static int rec_key_cmp(const mrc_rec *a, const mrc_rec *b)
{
    return mrc_key_cmp(a->key, a->len, b->key, b->len);
}

int mrc_merge_partition(mrc_merge *m, size_t p, mrc_err *err)
{
    entry *a = m->entries + m->part_start[p];
    size_t n = m->part_start[p + 1] - m->part_start[p];
    if (n == 0) return 0;
    radix_sort(a, m->scratch + m->part_start[p], n);
    size_t out = 0, bytes = 0;
    for (size_t i = 0; i < n;) {
        size_t j = i + 1;
        while (j < n && a[j].key == a[i].key)
            j++;
        /* a[i..j) share a hash: order them by key (runs are short: one entry per table). */
        for (size_t k = i + 1; k < j; k++) {
            entry x = a[k];
            size_t q = k;
            while (q > i && rec_key_cmp(a[q - 1].rec, x.rec) > 0) {
                a[q] = a[q - 1];
                q--;
            }
            a[q] = x;
        }
        for (size_t k = i; k < j;) {
            const mrc_rec *r = a[k].rec;
            uint64_t count = r->count;
            size_t q = k + 1;
            for (; q < j && rec_key_cmp(a[q].rec, r) == 0; q++) {
                if (__builtin_add_overflow(count, a[q].rec->count, &count))
                    return mrc_err_set(err, MRC_EOVERFLOW, "count of key '%.*s' exceeds 2^64-1",
                                       r->len > 64 ? 64 : (int)r->len, (const char *)r->key);
            }
            a[out].key = count;
            a[out].rec = r;
            out++;
            bytes += 12 + (size_t)r->len;
            k = q;
        }
        i = j;
    }
    m->part_n[p] = out;
    m->part_bytes[p] = bytes;
    return 0;
}

size_t mrc_merge_layout(mrc_merge *m, size_t *offsets)
{
    size_t at = MRC_SER_HEADER;
    for (size_t p = 0; p < m->np; p++) {
        offsets[p] = at;
        at += m->part_bytes[p];
    }
    return at;
}

void mrc_merge_write(const mrc_merge *m, size_t p, void *out, const size_t *offsets)
{
    unsigned char *w = (unsigned char *)out + offsets[p];
    const entry *a = m->entries + m->part_start[p];
    for (size_t i = 0; i < m->part_n[p]; i++) {
        uint32_t len = a[i].rec->len;
        memcpy(w, &a[i].key, 8);
        memcpy(w + 8, &len, 4);
        memcpy(w + 12, a[i].rec->key, len);
        w += 12 + (size_t)len;
    }
}

uint64_t mrc_merge_distinct(const mrc_merge *m)
{
    uint64_t n = 0;
    for (size_t p = 0; p < m->np; p++)
        n += m->part_n[p];
    return n;
}

void mrc_merge_write_header(const mrc_merge *m, void *out)
{
    size_t payload = 0;
    for (size_t p = 0; p < m->np; p++)
        payload += m->part_bytes[p];
    mrc_ser_header h = {MRC_SER_MAGIC, MRC_SER_VERSION, mrc_merge_distinct(m), payload, 0,
                        m->total};
    mrc_ser_write_header(out, &h);
}

int mrc_table_serialize(mrc_table *const *tables, size_t ntables, void **out, size_t *out_len,
                        mrc_err *err)
{
    *out = NULL;
    *out_len = 0;
    mrc_merge *m = mrc_merge_prepare(tables, ntables, 1, err);
    if (m == NULL) return MRC_ENOMEM;
    for (size_t t = 0; t < ntables; t++)
        mrc_merge_count(m, t);
    int rc = mrc_merge_offsets(m, err);
    if (rc == 0) {
        for (size_t t = 0; t < ntables; t++)
            mrc_merge_place(m, t);
        rc = mrc_merge_partition(m, 0, err);
    }
    if (rc == 0) {
        size_t off;
        size_t len = mrc_merge_layout(m, &off);
        unsigned char *buf = malloc(len);
        if (buf == NULL) {
            rc = mrc_err_set(err, MRC_ENOMEM, "serialize: out of memory (%zu bytes)", len);
        } else {
            mrc_merge_write(m, 0, buf, &off);
            mrc_merge_write_header(m, buf);
            *out = buf;
            *out_len = len;
        }
    }
    mrc_merge_free(m);
    return rc;
}
