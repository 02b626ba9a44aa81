/* runs.c - serialized tables cut into hash ranges and merged back from many sorted runs: the
 * table side of the shuffle combine. A table sorted by (hash, key) is cut where the hash passes
 * given bounds (one range per owner rank, or per merging thread), and an owner merges the runs
 * it received from every rank with one k-way merge. Records carry no hash on the wire, so the
 * cut hashes only O(log n) keys per bound, and the merge hashes each record once. */
#include <stdlib.h>
#include <string.h>

#include "mrcount/table.h"
#include "wire.h"

#define INDEX_STRIDE 64 /* records between two entries of the cut's sample index */

__extension__ typedef unsigned __int128 u128; /* GCC and clang; exact 64x64 products */

uint64_t mrc_hash_range_start(uint32_t r, uint32_t n)
{
    if (r == 0) return 0;
    /* The smallest hash h with floor(h * n / 2^64) >= r: ceil(r * 2^64 / n). */
    u128 v = (((u128)r << 64) + n - 1) / n;
    return (uint64_t)v;
}

static uint64_t hash_at(const unsigned char *payload, size_t pos)
{
    return mrc_hash(payload + pos + REC_HEAD, load32(payload + pos + 8));
}

int mrc_ser_cut(const unsigned char *payload, size_t len, const uint64_t *bounds, size_t nb,
                size_t *offsets, uint64_t *records, mrc_err *err)
{
    /* One pass over the record heads (no hashing) keeps every INDEX_STRIDE-th record's offset;
     * each bound is then a binary search over that sample plus a walk of at most a stride. */
    size_t cap = 64, n = 0, nrec = 0, pos = 0;
    size_t *idx = malloc(cap * sizeof *idx);
    if (idx == NULL) return mrc_err_set(err, MRC_ENOMEM, "range cut: out of memory");
    while (pos < len) {
        if (len - pos < REC_HEAD || len - pos - REC_HEAD < load32(payload + pos + 8)) {
            free(idx);
            return mrc_err_set(err, MRC_EINVAL, "range cut: truncated record at byte %zu", pos);
        }
        if (nrec % INDEX_STRIDE == 0) {
            if (n == cap) {
                size_t *bigger = realloc(idx, 2 * cap * sizeof *idx);
                if (bigger == NULL) {
                    free(idx);
                    return mrc_err_set(err, MRC_ENOMEM, "range cut: out of memory");
                }
                idx = bigger;
                cap *= 2;
            }
            idx[n++] = pos;
        }
        pos += REC_HEAD + load32(payload + pos + 8);
        nrec++;
    }
    for (size_t b = 0; b < nb; b++) {
        /* The last sample whose hash is below the bound (lo), then walk to the first record
         * at or past it. */
        size_t lo = 0, hi = n; /* answer sample in [lo, hi): samples before lo are below */
        while (lo < hi) {
            size_t mid = lo + (hi - lo) / 2;
            if (hash_at(payload, idx[mid]) < bounds[b])
                lo = mid + 1;
            else
                hi = mid;
        }
        size_t at = lo == 0 ? 0 : idx[lo - 1];
        uint64_t ord = lo == 0 ? 0 : (uint64_t)(lo - 1) * INDEX_STRIDE;
        while (at < len && hash_at(payload, at) < bounds[b]) {
            at += REC_HEAD + load32(payload + at + 8);
            ord++;
        }
        offsets[b] = at;
        if (records != NULL) records[b] = ord;
    }
    offsets[nb] = len;
    if (records != NULL) records[nb] = nrec;
    free(idx);
    return 0;
}

/* ---- k-way merge ---- */

typedef struct run_cursor {
    const unsigned char *p, *end;
    uint64_t hash;
    uint32_t len;
} run_cursor;

/* (hash, key bytes, length) order, as in the wire format. */
static int cursor_less(const run_cursor *a, const run_cursor *b)
{
    return mrc_ser_order(a->hash, a->p + REC_HEAD, a->len, b->hash, b->p + REC_HEAD, b->len) < 0;
}

/* Load the record at c->p; 0 at the end of the run, -1 if it is truncated. */
static int cursor_load(run_cursor *c)
{
    if (c->p == c->end) return 0;
    if ((size_t)(c->end - c->p) < REC_HEAD) return -1;
    c->len = load32(c->p + 8);
    if ((size_t)(c->end - c->p) - REC_HEAD < c->len) return -1;
    c->hash = mrc_hash(c->p + REC_HEAD, c->len);
    return 1;
}

static void sift_down(run_cursor *h, size_t n, size_t i)
{
    for (;;) {
        size_t l = 2 * i + 1, m = i;
        if (l < n && cursor_less(&h[l], &h[m])) m = l;
        if (l + 1 < n && cursor_less(&h[l + 1], &h[m])) m = l + 1;
        if (m == i) return;
        run_cursor t = h[i];
        h[i] = h[m];
        h[m] = t;
        i = m;
    }
}

int mrc_ser_merge_runs(const mrc_ser_run *runs, size_t nruns, unsigned char *out, size_t cap,
                       mrc_ser_merged *res, mrc_err *err)
{
    memset(res, 0, sizeof *res);
    run_cursor *heap = malloc((nruns + 1) * sizeof *heap);
    if (heap == NULL)
        return mrc_err_set(err, MRC_ENOMEM, "merge of %zu runs: out of memory", nruns);
    size_t n = 0;
    for (size_t i = 0; i < nruns; i++) {
        run_cursor c = {runs[i].payload, runs[i].payload + runs[i].len, 0, 0};
        int rc = cursor_load(&c);
        if (rc < 0) goto corrupt;
        if (rc > 0) heap[n++] = c;
    }
    for (size_t i = n / 2; i-- > 0;)
        sift_down(heap, n, i);
    size_t w = 0;
    while (n > 0) {
        /* Pop every run head equal to the smallest key, summing their counts. */
        run_cursor first = heap[0];
        uint64_t count = load64(first.p);
        const unsigned char *key = first.p + REC_HEAD;
        uint32_t len = first.len;
        uint64_t hash = first.hash;
        for (;;) {
            run_cursor *top = &heap[0];
            top->p += REC_HEAD + top->len;
            int rc = cursor_load(top);
            if (rc < 0) goto corrupt;
            if (rc == 0) heap[0] = heap[--n];
            sift_down(heap, n, 0);
            if (n == 0 || heap[0].hash != hash || heap[0].len != len ||
                (len && memcmp(heap[0].p + REC_HEAD, key, len) != 0))
                break;
            if (__builtin_add_overflow(count, load64(heap[0].p), &count)) {
                free(heap);
                char shown[MRC_KEY_SHOWN_BUF];
                return mrc_err_set(err, MRC_EOVERFLOW,
                                   "combine: the count of key '%s' exceeds 2^64-1",
                                   mrc_key_shown(key, len, shown));
            }
        }
        if (cap - w < REC_HEAD + (size_t)len) {
            free(heap);
            return mrc_err_set(err, MRC_EOVERFLOW, "merge of %zu runs: output past %zu bytes",
                               nruns, cap);
        }
        w += mrc_rec_put(out + w, count, key, len);
        res->records++;
        res->total = res->total + count < res->total ? UINT64_MAX : res->total + count;
    }
    free(heap);
    res->bytes = w;
    return 0;
corrupt:
    free(heap);
    return mrc_err_set(err, MRC_EINVAL, "merge of %zu runs: a run holds a truncated record", nruns);
}
