/* split.c - rank 0's second step: cut the discovered files into byte ranges of at most
 * chunk_size (a compressed file whole) and balance them across ranks by bytes, deterministically.
 * It works on sizes only: it must never open or read an input (record boundaries are the
 * reader's business, through the first-byte ownership rule). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "mrcount/input.h"

/* A min-heap of ranks keyed by (assigned bytes, rank index): the top is the least loaded rank,
 * the lowest index among equals, which makes the assignment deterministic. */
typedef struct rank_heap {
    size_t *rank;
    const uint64_t *load;
    size_t n;
} rank_heap;

static bool heap_less(const rank_heap *h, size_t a, size_t b)
{
    size_t ra = h->rank[a], rb = h->rank[b];
    if (h->load[ra] != h->load[rb]) return h->load[ra] < h->load[rb];
    return ra < rb;
}

static void heap_sift_down(rank_heap *h, size_t i)
{
    for (;;) {
        size_t l = 2 * i + 1, r = l + 1, m = i;
        if (l < h->n && heap_less(h, l, m)) m = l;
        if (r < h->n && heap_less(h, r, m)) m = r;
        if (m == i) return;
        size_t t = h->rank[i];
        h->rank[i] = h->rank[m];
        h->rank[m] = t;
        i = m;
    }
}

/* The cost of mapping a byte of each codec's files, in bytes of plain text: 1 MiB of .bz2 takes
 * as long as 45 MiB of text. Measured on make-corpus.sh text (256 MiB in 16 files, each codec's
 * CLI default level), words job at 1 x 1, map seconds / compressed bytes against plain's, on
 * the 2-core VM (2026-12-03; ISA-L inflate): gzip 4.2, zstd 4.1, xz 18.4, bzip2 45.8 (the text
 * compresses 3.0x, 3.1x, 3.2x, 4.0x). */
static const uint64_t codec_cost[] = {[MRC_CODEC_NONE] = 1,
                                      [MRC_CODEC_GZIP] = 4,
                                      [MRC_CODEC_ZSTD] = 4,
                                      [MRC_CODEC_XZ] = 18,
                                      [MRC_CODEC_BZIP2] = 45};

uint64_t mrc_split_work(const mrc_file_list *files, const mrc_split *s)
{
    unsigned c = files->files[s->file].codec;
    uint64_t f = c < sizeof codec_cost / sizeof *codec_cost ? codec_cost[c] : 1;
    return s->length > UINT64_MAX / f ? UINT64_MAX : s->length * f;
}

int mrc_split_cmp_most_work(const void *pa, const void *pb, void *files)
{
    const mrc_split *a = pa, *b = pb;
    uint64_t wa = mrc_split_work(files, a), wb = mrc_split_work(files, b);
    if (wa != wb) return wa > wb ? -1 : 1;
    if (a->file != b->file) return a->file < b->file ? -1 : 1;
    return a->offset < b->offset ? -1 : a->offset > b->offset;
}

static int cmp_rank_file_offset(const void *pa, const void *pb)
{
    const mrc_split *a = pa, *b = pb;
    if (a->rank != b->rank) return a->rank < b->rank ? -1 : 1;
    if (a->file != b->file) return a->file < b->file ? -1 : 1;
    return a->offset < b->offset ? -1 : a->offset > b->offset;
}

/* Splits of one range of a plain file: n = ceil(length / chunk) near-equal ranges rather than
 * full chunks plus a small tail, which balances better and never exceeds chunk_size. */
static uint64_t pieces_of(const mrc_split *r, bool whole, uint64_t chunk)
{
    if (r->length == 0) return 0;
    if (whole) return 1;
    return r->length / chunk + (r->length % chunk != 0);
}

static int cmp_file_offset(const void *pa, const void *pb)
{
    const mrc_split *a = pa, *b = pb;
    if (a->file != b->file) return a->file < b->file ? -1 : 1;
    return a->offset < b->offset ? -1 : a->offset > b->offset;
}

/* The ranges left to map: each file whole, less the ranges in done (sorted by file and
 * offset); a compressed file with any range done is done. @return how many (in out, which has room
 * for files->n + ndone). */
static size_t ranges_left(const mrc_file_list *files, const mrc_split *done, size_t ndone,
                          mrc_split *out)
{
    size_t k = 0, d = 0;
    for (size_t i = 0; i < files->n; i++) {
        const mrc_file *f = &files->files[i];
        uint64_t at = 0;
        bool gz_done = false;
        for (; d < ndone && done[d].file < i; d++) {
        }
        for (; d < ndone && done[d].file == i; d++) {
            if (f->codec != MRC_CODEC_NONE) {
                gz_done = true;
                continue;
            }
            uint64_t lo = done[d].offset, hi = lo + done[d].length;
            if (lo > at)
                out[k++] = (mrc_split){.file = (uint32_t)i, .offset = at, .length = lo - at};
            if (hi > at) at = hi;
        }
        if (!gz_done && at < f->size)
            out[k++] = (mrc_split){.file = (uint32_t)i, .offset = at, .length = f->size - at};
    }
    return k;
}

int mrc_split_plan_make(const mrc_file_list *files, uint64_t chunk_size, size_t nranks,
                        mrc_split_plan *out, mrc_err *err)
{
    return mrc_split_plan_make_rest(files, chunk_size, nranks, NULL, 0, out, err);
}

int mrc_split_plan_make_rest(const mrc_file_list *files, uint64_t chunk_size, size_t nranks,
                             const mrc_split *done_in, size_t ndone, mrc_split_plan *out,
                             mrc_err *err)
{
    memset(out, 0, sizeof *out);
    if (chunk_size == 0) return mrc_err_set(err, MRC_EINVAL, "chunk size must be at least 1 byte");
    if (nranks == 0 || nranks > UINT32_MAX)
        return mrc_err_set(err, MRC_EINVAL, "number of ranks out of range: %zu", nranks);
    if (files->n > UINT32_MAX)
        return mrc_err_set(err, MRC_EINVAL, "too many input files: %zu", files->n);
    if (ndone > SIZE_MAX / sizeof(mrc_split) - files->n - 1)
        return mrc_err_set(err, MRC_EOVERFLOW, "too many ranges done: %zu", ndone);

    mrc_split *done = ndone ? malloc(ndone * sizeof *done) : NULL;
    mrc_split *left = malloc((files->n + ndone + 1) * sizeof *left);
    if ((ndone && done == NULL) || left == NULL) {
        free(done);
        free(left);
        return mrc_err_errno(err, ENOMEM, "split plan for %zu files", files->n);
    }
    if (ndone) {
        memcpy(done, done_in, ndone * sizeof *done);
        qsort(done, ndone, sizeof *done, cmp_file_offset);
    }
    size_t nleft = ranges_left(files, done, ndone, left);
    free(done);

    uint64_t total = 0;
    for (size_t i = 0; i < nleft; i++) {
        uint64_t k =
            pieces_of(&left[i], files->files[left[i].file].codec != MRC_CODEC_NONE, chunk_size);
        if (k > SIZE_MAX / sizeof(mrc_split) - total) {
            int rc = mrc_err_set(err, MRC_EOVERFLOW, "%s: too many splits for chunk size %llu",
                                 files->files[left[i].file].path, (unsigned long long)chunk_size);
            free(left);
            return rc;
        }
        total += k;
    }
    size_t n = (size_t)total;

    out->splits = malloc((n ? n : 1) * sizeof *out->splits);
    out->first = calloc(nranks + 1, sizeof *out->first);
    out->rank_bytes = calloc(nranks, sizeof *out->rank_bytes);
    out->rank_work = calloc(nranks, sizeof *out->rank_work);
    rank_heap heap = {.rank = malloc(nranks * sizeof(size_t)), .load = out->rank_work, .n = nranks};
    if (out->splits == NULL || out->first == NULL || out->rank_bytes == NULL ||
        out->rank_work == NULL || heap.rank == NULL) {
        free(heap.rank);
        free(left);
        mrc_split_plan_free(out);
        return mrc_err_errno(err, ENOMEM, "split plan for %zu splits", n);
    }
    out->n = n;
    out->nranks = nranks;

    size_t s = 0;
    for (size_t i = 0; i < nleft; i++) {
        const mrc_split *r = &left[i];
        uint64_t k = pieces_of(r, files->files[r->file].codec != MRC_CODEC_NONE, chunk_size);
        uint64_t base = k ? r->length / k : 0, extra = k ? r->length % k : 0, off = r->offset;
        for (uint64_t j = 0; j < k; j++) {
            uint64_t len = base + (j < extra);
            out->splits[s++] = (mrc_split){.file = r->file, .offset = off, .length = len};
            off += len;
        }
    }
    free(left);

    /* Largest work first onto the least loaded rank (LPT): the final spread of work between the
     * most and the least loaded rank is at most the largest split's. */
    if (n > 1) qsort_r(out->splits, n, sizeof *out->splits, mrc_split_cmp_most_work, (void *)files);
    for (size_t r = 0; r < nranks; r++)
        heap.rank[r] = r; /* all loads zero: already a heap ordered by index */
    for (size_t i = 0; i < n; i++) {
        size_t r = heap.rank[0];
        out->splits[i].rank = (uint32_t)r;
        out->rank_bytes[r] += out->splits[i].length;
        uint64_t w = mrc_split_work(files, &out->splits[i]);
        out->rank_work[r] = out->rank_work[r] > UINT64_MAX - w ? UINT64_MAX : out->rank_work[r] + w;
        heap_sift_down(&heap, 0);
    }
    free(heap.rank);

    if (n > 1) qsort(out->splits, n, sizeof *out->splits, cmp_rank_file_offset);
    for (size_t i = 0; i < n; i++)
        out->first[out->splits[i].rank + 1]++;
    for (size_t r = 0; r < nranks; r++)
        out->first[r + 1] += out->first[r];
    return MRC_OK;
}

void mrc_split_plan_free(mrc_split_plan *p)
{
    if (p == NULL) return;
    free(p->splits);
    free(p->first);
    free(p->rank_bytes);
    free(p->rank_work);
    memset(p, 0, sizeof *p);
}

#define CHUNK_MAX ((uint64_t)64 << 20) /* default split size bounds */
#define CHUNK_MIN ((uint64_t)1 << 20)
#define SPLITS_PER_RANK 16 /* default: enough splits for byte balance across ranks */

uint64_t mrc_split_default_chunk(uint64_t total_bytes, int nranks)
{
    /* About SPLITS_PER_RANK splits per rank, so ranks get equal bytes even for a small input on
     * many ranks, within [1 MiB, 64 MiB] so that the per-split cost stays negligible and a huge
     * input does not make millions of descriptors. */
    uint64_t per = total_bytes / ((uint64_t)(nranks > 0 ? nranks : 1) * SPLITS_PER_RANK) + 1;
    per = (per + 65535) & ~(uint64_t)65535;
    return per < CHUNK_MIN ? CHUNK_MIN : per > CHUNK_MAX ? CHUNK_MAX : per;
}
