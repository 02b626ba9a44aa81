/* output.c - a complete serialized table as the output sees it: checked, turned into refs and
 * handed to sort.c and write.c (mrc_output_write), or cut to its top K (the shuffle's prune);
 * and the paths of --output-per-rank. It must never trust a table's header without checking it
 * against the buffer, never leave a partial result under the final name, never print. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "mrcount/output.h"
#include "mrcount/table.h"
#include "output_internal.h"

#define REC_HEAD 12 /* u64 count + u32 length */

/* The header of a serialized table, checked against its buffer before anything trusts it. */
static int read_header_checked(const void *table, size_t cap, const char *label, mrc_ser_header *h,
                               mrc_err *err)
{
    if (table == NULL || cap < MRC_SER_HEADER)
        return mrc_err_set(err, MRC_EINVAL, "%s: malformed count table (%zu bytes)", label, cap);
    mrc_ser_read_header(table, h);
    if (h->magic != MRC_SER_MAGIC || h->version != MRC_SER_VERSION)
        return mrc_err_set(err, MRC_EINVAL, "%s: malformed count table (bad magic or version)",
                           label);
    if (h->payload > cap - MRC_SER_HEADER || h->records > h->payload / REC_HEAD)
        return mrc_err_set(err, MRC_EINVAL, "%s: malformed count table (sizes past the buffer)",
                           label);
    return 0;
}

/* refs[0, cap) for the records of seg[0, len) from *seen on, each checked to lie in seg.
 * @return 0 at seg's end, -1 at a record cut by it, 1 when seg holds more than cap records. */
static int walk_refs(const unsigned char *seg, size_t len, mrc_out_ref *refs, uint64_t cap,
                     uint64_t *seen, uint64_t *bytes)
{
    size_t pos = 0, at = 0;
    mrc_ser_rec r;
    int rc;
    while ((rc = mrc_ser_next(seg, len, &pos, &r)) == 1) {
        if (*seen == cap) return 1;
        refs[(*seen)++] = (mrc_out_ref){0, seg + at};
        if (bytes != NULL) *bytes += mrc_out_line_len(seg + at);
        at = pos;
    }
    return rc;
}

/* An array of n refs, on huge pages: the sort and the merge reach refs and records in random
 * order (in this VM, 30 M refs: built in 1.3 s of CPU instead of 2.0, sorted in 2.9 instead of
 * 3.1; with the table on huge pages too, in 3.1 instead of 5.1). NULL for none. */
static mrc_out_ref *refs_alloc(uint64_t n)
{
    mrc_out_ref *refs = n ? malloc((size_t)n * sizeof *refs) : NULL;
    if (refs != NULL) mrc_advise_huge(refs, (size_t)n * sizeof *refs);
    return refs;
}

/* One ref per record of a checked table, every record checked to lie in the payload. */
static int table_refs(const unsigned char *payload, const mrc_ser_header *h, const char *label,
                      mrc_out_ref **out, size_t *nrefs, mrc_err *err)
{
    mrc_out_ref *refs = refs_alloc(h->records);
    if (h->records && refs == NULL) return mrc_err_errno(err, ENOMEM, "%s", label);
    uint64_t seen = 0;
    int rc = walk_refs(payload, (size_t)h->payload, refs, h->records, &seen, NULL);
    if (rc != 0 || seen != h->records) {
        free(refs);
        if (rc < 0)
            return mrc_err_set(err, MRC_EINVAL,
                               "%s: malformed count table (record %llu of %llu truncated)", label,
                               (unsigned long long)seen + 1, (unsigned long long)h->records);
        if (rc > 0)
            return mrc_err_set(err, MRC_EINVAL,
                               "%s: malformed count table (more records than the header's %llu)",
                               label, (unsigned long long)h->records);
        return mrc_err_set(err, MRC_EINVAL,
                           "%s: malformed count table (%llu records, header says %llu)", label,
                           (unsigned long long)seen, (unsigned long long)h->records);
    }
    *out = refs;
    *nrefs = (size_t)h->records;
    return 0;
}

int mrc_output_check_table(const void *table, size_t cap, const char *label, mrc_ser_header *hp,
                           mrc_err *err)
{
    mrc_ser_header h;
    int rc = read_header_checked(table, cap, label, &h, err);
    if (rc != 0) return rc;
    *hp = h;
    if (h.flags & MRC_SER_FLAG_COUNT_OVERFLOW)
        return mrc_err_set(err, MRC_EOVERFLOW,
                           "%s: a count passed 2^64-1; refusing to write a wrong table", label);
    if (h.flags & (MRC_SER_FLAG_OVERFLOW | MRC_SER_FLAG_CORRUPT))
        return mrc_err_set(err, MRC_EINVAL,
                           "%s: the count table is incomplete (%s); refusing to write it", label,
                           h.flags & MRC_SER_FLAG_OVERFLOW ? "a merge overflowed its buffer"
                                                           : "a merge input was corrupt");
    return 0;
}

int mrc_output_refs_from_table(const void *table, size_t cap, const char *label, mrc_out_ref **refs,
                               size_t *n, mrc_err *err)
{
    *refs = NULL;
    *n = 0;
    mrc_ser_header h;
    int rc = mrc_output_check_table(table, cap, label, &h, err);
    return rc != 0
               ? rc
               : table_refs((const unsigned char *)table + MRC_SER_HEADER, &h, label, refs, n, err);
}

int mrc_output_refs_from_records(const unsigned char *const *segs, const size_t *lens, size_t nsegs,
                                 uint64_t records, const char *label, mrc_out_ref **out, size_t *n,
                                 uint64_t *bytes, mrc_err *err)
{
    *out = NULL;
    *n = 0;
    if (bytes != NULL) *bytes = 0;
    mrc_out_ref *refs = refs_alloc(records);
    if (records && refs == NULL) return mrc_err_errno(err, ENOMEM, "%s", label);
    uint64_t seen = 0;
    int rc = 0;
    for (size_t i = 0; i < nsegs && rc == 0; i++)
        rc = walk_refs(segs[i], lens[i], refs, records, &seen, bytes);
    if (rc != 0 || seen != records) {
        free(refs);
        if (rc != 0)
            return mrc_err_set(err, MRC_EINVAL, "%s: %s after %llu of %llu records", label,
                               rc < 0 ? "a truncated record" : "more records",
                               (unsigned long long)seen, (unsigned long long)records);
        return mrc_err_set(err, MRC_EINVAL, "%s: %llu records, %llu expected", label,
                           (unsigned long long)seen, (unsigned long long)records);
    }
    *out = refs;
    *n = (size_t)records;
    return 0;
}

int mrc_output_write(const void *table, size_t cap, const mrc_output_opts *o, mrc_err *err)
{
    const char *path = o->path != NULL ? o->path : "-";
    const char *label = mrc_output_label(path);
    mrc_out_ref *refs = NULL;
    size_t n = 0;
    int rc = mrc_output_refs_from_table(table, cap, label, &refs, &n, err);
    if (rc == 0) rc = mrc_output_write_records(refs, n, o, NULL, NULL, err);
    free(refs);
    return rc;
}

/* ---- the first K records as a smaller table (the shuffle's --top) ---- */

typedef struct hashed_ref {
    uint64_t hash;
    const unsigned char *rec;
} hashed_ref;

static int cmp_hashed(const void *a, const void *b)
{
    const hashed_ref *x = a, *y = b;
    return mrc_ser_order(x->hash, mrc_rec_key(x->rec), mrc_rec_len(x->rec), y->hash,
                         mrc_rec_key(y->rec), mrc_rec_len(y->rec));
}

int mrc_output_top_table(const void *table, size_t cap, const mrc_output_opts *o, void **out,
                         size_t *out_len, mrc_err *err)
{
    *out = NULL;
    *out_len = 0;
    mrc_ser_header h;
    mrc_out_ref *refs = NULL;
    size_t n = 0;
    int rc = read_header_checked(table, cap, "top", &h, err);
    if (rc == 0)
        rc = table_refs((const unsigned char *)table + MRC_SER_HEADER, &h, "top", &refs, &n, err);
    if (rc != 0) return rc;
    mrc_out_sorted s;
    rc = mrc_output_sort(refs, n, o->sort == MRC_SORT_KEY ? MRC_ORDER_KEY : MRC_ORDER_COUNT, o->top,
                         NULL, NULL, o->stop, &s, err);
    if (rc != 0) {
        free(refs);
        return rc;
    }
    /* Back to the wire order, (hash, key), so the result is a valid serialized table. */
    size_t keep = (size_t)s.records;
    hashed_ref *hr = malloc((keep + 1) * sizeof *hr);
    mrc_out_iter *it = hr != NULL ? mrc_output_iter_open(&s, 0, err) : NULL;
    size_t bytes = MRC_SER_HEADER;
    for (size_t i = 0; it != NULL && i < keep; i++) {
        const unsigned char *rec = mrc_output_iter_next(it);
        hr[i] = (hashed_ref){mrc_hash(mrc_rec_key(rec), mrc_rec_len(rec)), rec};
        bytes += REC_HEAD + mrc_rec_len(rec);
    }
    mrc_output_iter_close(it);
    unsigned char *t = it != NULL ? malloc(bytes) : NULL;
    if (t == NULL) {
        free(hr);
        free(refs);
        return mrc_err_errno(err, ENOMEM, "top");
    }
    if (keep > 1) qsort(hr, keep, sizeof *hr, cmp_hashed);
    mrc_ser_header th = {MRC_SER_MAGIC, MRC_SER_VERSION, keep, bytes - MRC_SER_HEADER, h.flags, 0};
    size_t w = MRC_SER_HEADER;
    for (size_t i = 0; i < keep; i++) {
        const unsigned char *r = hr[i].rec;
        uint64_t count = mrc_rec_count(r);
        memcpy(t + w, r, REC_HEAD + mrc_rec_len(r));
        w += REC_HEAD + mrc_rec_len(r);
        th.total = th.total + count < th.total ? UINT64_MAX : th.total + count;
    }
    mrc_ser_write_header(t, &th);
    free(hr);
    free(refs);
    *out = t;
    *out_len = bytes;
    return 0;
}

/* ---- --output-per-rank ---- */

char *mrc_output_part_path(const char *dir, int rank)
{
    char *p = NULL;
    return asprintf(&p, "%s/part-%05d.tsv", dir, rank) < 0 ? NULL : p;
}

int mrc_output_prepare_parts(const char *dir, bool *made, mrc_err *err)
{
    *made = false;
    if (mkdir(dir, 0777) == 0)
        *made = true;
    else if (errno != EEXIST)
        return mrc_err_errno(err, errno, "%s", dir);
    DIR *dh = opendir(dir);
    if (dh == NULL) return mrc_err_errno(err, errno, "%s", dir);
    struct dirent *e;
    int rc = 0;
    while (rc == 0 && (e = readdir(dh)) != NULL)
        if (strncmp(e->d_name, "part-", 5) == 0 || strcmp(e->d_name, "manifest.json") == 0)
            rc = mrc_err_set(err, MRC_EIO,
                             "%s: holds %s from another run (remove the parts and manifest.json)",
                             dir, e->d_name);
    closedir(dh);
    return rc;
}
