/* extsort.c - the output order of a rank's result with bounded memory: the records of a stream
 * in hash order fill a buffer up to the budget and are sorted there (mrc_output_sort); when the
 * whole stream fits, that sorted buffer is the result; when it does not, each sorted buffer is
 * written to --tmp-dir as a run in the output order and the result is the k-way merge of the
 * runs. Either way the result is read as one stream in output order. It never holds more than
 * the budget of records, and never writes a record twice into one run. */
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "mrcount/output.h"
#include "mrcount/runtime.h"
#include "mrcount/table.h"
#include "output_internal.h"

#define MIN_BUDGET ((uint64_t)1 << 20)

/* Bytes a record takes in the buffer and its ref: the wire record and 16 bytes of ref. */
static uint64_t rec_cost(uint32_t len)
{
    return MRC_REC_HEAD + (uint64_t)len + sizeof(mrc_out_ref);
}

/* A buffer of records being filled: by one stream, or by one stream per thread, each into its
 * own part (records in the part's buf). One thread's refs grow in place; several threads take
 * blocks of REF_BLOCK refs of one array in turn (owner[]: whose block), so the array holds what
 * they filled but each one's last block, and is packed once full: refs[0, n) are the buffer's.
 * (An array cut into a fixed share per thread touched 20% more memory than the refs, its
 * shares' unfilled ends: keys differ in length.) */
#define REF_BLOCK 4096

typedef struct part {
    unsigned char *buf;
    size_t len, cap, n;
    size_t at, lim; /* several parts: the refs of its current block left, [at, lim) */
    uint64_t used;  /* rec_cost() of its records */
    size_t next;    /* the next of its streams to read (in[g], in[g + nparts], ...) */
    bool ended;     /* its streams ended */
} part;

typedef struct chunk {
    part *parts;
    size_t nparts;
    mrc_out_ref *refs;
    size_t rcap;
    atomic_size_t taken; /* several parts: refs of blocks handed out */
    uint32_t *owner;     /* several parts: owner[b], the part block b went to */
    size_t n;            /* refs, once packed */
} chunk;

static int chunk_open(chunk *c, size_t nparts, uint64_t budget, mrc_err *err)
{
    memset(c, 0, sizeof *c);
    c->parts = calloc(nparts, sizeof *c->parts);
    c->nparts = nparts;
    if (c->parts == NULL) return mrc_err_set(err, MRC_ENOMEM, "output sort: out of memory");
    if (nparts > 1) {
        /* A part stops once its records cost its share, so the buffer holds budget / rec_cost(0)
         * refs at most, and each part leaves at most a block unfilled. Pages are touched only
         * as refs fill them. */
        c->rcap = (size_t)(budget / rec_cost(0)) + (nparts + 1) * REF_BLOCK;
        c->refs = malloc(c->rcap * sizeof *c->refs);
        c->owner = malloc((c->rcap / REF_BLOCK + 1) * sizeof *c->owner);
        if (c->refs == NULL || c->owner == NULL) { /* a budget past what the system lends */
            free(c->refs);
            free(c->owner);
            c->refs = NULL;
            c->owner = NULL;
            c->rcap = 0;
            c->nparts = 1; /* one part, read stream after stream */
        }
    }
    return 0;
}

/* A record into part g (p: the part, maybe a copy the caller writes back). */
static int chunk_put(chunk *c, part *p, size_t g, const mrc_rec_view *r, mrc_err *err)
{
    size_t need = MRC_REC_HEAD + (size_t)r->len;
    if (p->cap - p->len < need) {
        size_t cap = p->cap ? p->cap * 2 : (size_t)1 << 20;
        while (cap - p->len < need)
            cap *= 2;
        unsigned char *b = realloc(p->buf, cap);
        if (b == NULL) return mrc_err_set(err, MRC_ENOMEM, "output sort: out of memory");
        p->buf = b;
        p->cap = cap;
    }
    mrc_out_ref *ref;
    if (c->nparts > 1) {
        if (p->at == p->lim) {
            size_t b = atomic_fetch_add(&c->taken, REF_BLOCK);
            if (b + REF_BLOCK > c->rcap) /* never, by the budget: a bug, never a bad write */
                return mrc_err_set(err, MRC_EINVAL, "output sort: more refs than the budget");
            c->owner[b / REF_BLOCK] = (uint32_t)g;
            p->at = b;
            p->lim = b + REF_BLOCK;
        }
        ref = &c->refs[p->at++];
    } else {
        if (p->n == c->rcap) {
            size_t cap = c->rcap ? c->rcap * 2 : 65536;
            mrc_out_ref *q = realloc(c->refs, cap * sizeof *q);
            if (q == NULL) return mrc_err_set(err, MRC_ENOMEM, "output sort: out of memory");
            c->refs = q;
            c->rcap = cap;
        }
        ref = &c->refs[p->n];
    }
    ref->window = p->len; /* an offset until the buffer stops moving */
    p->len += mrc_rec_put(p->buf + p->len, r->count, r->key, r->len);
    p->n++;
    p->used += rec_cost(r->len);
    return 0;
}

/* The refs point into the parts' buffers, now that they no longer move, and are packed (each
 * part's last block may end short). */
static void chunk_fix_refs(chunk *c)
{
    if (c->nparts == 1) {
        const part *p = &c->parts[0];
        for (size_t i = 0; i < p->n; i++)
            c->refs[i].rec = p->buf + c->refs[i].window;
        c->n = p->n;
        return;
    }
    size_t taken = atomic_load(&c->taken), w = 0;
    for (size_t b = 0; b < taken; b += REF_BLOCK) {
        part *p = &c->parts[c->owner[b / REF_BLOCK]];
        size_t end = p->lim == b + REF_BLOCK ? p->at : b + REF_BLOCK; /* its last: to `at` */
        for (size_t i = b; i < end; i++)
            c->refs[w++] = (mrc_out_ref){0, p->buf + c->refs[i].window};
    }
    c->n = w;
}

/* The buffers cut to what the chunk holds (those of the full chunks before it were larger); on
 * a failure they stay as they are. Before chunk_fix_refs(); the refs after it. */
static void chunk_trim(chunk *c)
{
    for (size_t g = 0; g < c->nparts; g++) {
        part *p = &c->parts[g];
        unsigned char *b = realloc(p->buf, p->len ? p->len : 1);
        if (b != NULL) {
            p->buf = b;
            p->cap = p->len ? p->len : 1;
        }
    }
}

static void chunk_trim_refs(chunk *c)
{
    mrc_out_ref *q = realloc(c->refs, (c->n ? c->n : 1) * sizeof *q);
    if (q != NULL) {
        c->refs = q;
        c->rcap = c->n ? c->n : 1;
    }
}

/* Emptied for the next buffer (its memory kept). */
static void chunk_reset(chunk *c)
{
    for (size_t g = 0; g < c->nparts; g++) {
        part *p = &c->parts[g];
        p->len = p->n = p->at = p->lim = 0;
        p->used = 0;
    }
    atomic_store(&c->taken, 0);
    c->n = 0;
}

static void chunk_free(chunk *c)
{
    for (size_t g = 0; c->parts != NULL && g < c->nparts; g++)
        free(c->parts[g].buf);
    free(c->parts);
    free(c->refs);
    free(c->owner);
    memset(c, 0, sizeof *c);
}

/* The segments dropped: the result is read as one merge. */
static void segments_drop(mrc_sorted_result *s)
{
    free(s->split);
    free(s->split_keys);
    free(s->seg_lines);
    free(s->seg_bytes);
    free(s->kept_seg);
    s->split = NULL;
    s->split_keys = NULL;
    s->seg_lines = s->seg_bytes = NULL;
    s->kept_seg = NULL;
    s->nsegs = 0;
}

void mrc_output_sorted_result_free(mrc_sorted_result *s)
{
    if (s->merged != NULL) s->merged->close(s->merged);
    for (size_t i = 0; i < s->nruns; i++)
        mrc_run_file_close(&s->runs[i]);
    free(s->runs);
    free(s->refs);
    for (size_t i = 0; s->bufs != NULL && i < s->nbufs; i++)
        free(s->bufs[i]);
    free(s->bufs);
    segments_drop(s);
    free(s->seg_first);
    memset(s, 0, sizeof *s);
}

/* nsplit + 1 segments cut at split (ascending), copied. */
static int segments_at(mrc_sorted_result *s, const mrc_rec_view *split, size_t nsplit, mrc_err *err)
{
    size_t bytes = 0, want = nsplit + 1;
    for (size_t k = 0; k < nsplit; k++)
        bytes += split[k].len;
    s->split = calloc(nsplit ? nsplit : 1, sizeof *s->split);
    s->split_keys = malloc(bytes ? bytes : 1);
    s->seg_lines = calloc(want, sizeof *s->seg_lines);
    s->seg_bytes = calloc(want, sizeof *s->seg_bytes);
    if (s->split == NULL || s->split_keys == NULL || s->seg_lines == NULL || s->seg_bytes == NULL) {
        segments_drop(s);
        return mrc_err_set(err, MRC_ENOMEM, "output sort: out of memory");
    }
    for (size_t k = 0, at = 0; k < nsplit; at += split[k].len, k++) {
        if (split[k].len) memcpy(s->split_keys + at, split[k].key, split[k].len);
        s->split[k] = (mrc_rec_view){0, split[k].count, s->split_keys + at, split[k].len};
    }
    s->nsegs = want;
    return 0;
}

/* The splitters of `want` segments, from the first sorted buffer: its records at every
 * want-th of its order (a buffer of the stream in hash order is a sample of it in any output
 * order), copied. Fewer when the buffer holds fewer records; none below two segments. */
static int segments_choose(mrc_sorted_result *s, const mrc_out_sorted *sorted, size_t want,
                           mrc_err *err)
{
    uint64_t n = sorted->records;
    if (want > n) want = (size_t)n;
    if (want < 2) return 0;
    mrc_rec_view *split = malloc((want - 1) * sizeof *split);
    if (split == NULL) return mrc_err_set(err, MRC_ENOMEM, "output sort: out of memory");
    for (size_t k = 1; k < want; k++) {
        const unsigned char *rec = sorted->refs[(size_t)(n * k / want)].rec;
        split[k - 1] = (mrc_rec_view){0, mrc_rec_count(rec), mrc_rec_key(rec), mrc_rec_len(rec)};
    }
    int rc = segments_at(s, split, want - 1, err);
    free(split);
    return rc;
}

/* The flag is a relaxed load: looked at per record, it costs less than counting records. */
static int stopped(const mrc_stop *stop, mrc_err *err)
{
    return mrc_stopped(stop) ? mrc_out_sort_stopped(err) : 0;
}

/* Where each of s's segments starts in a sorted buffer (bound[nsegs]: its end): the first
 * record at or past each splitter. */
static void seg_bounds(const mrc_sorted_result *s, const mrc_out_sorted *sorted, size_t *bound)
{
    bound[0] = 0;
    bound[s->nsegs] = (size_t)sorted->records;
    for (size_t k = 1; k < s->nsegs; k++) {
        size_t lo = bound[k - 1], hi = (size_t)sorted->records;
        while (lo < hi) {
            size_t mid = lo + (hi - lo) / 2;
            const unsigned char *rec = sorted->refs[mid].rec;
            mrc_rec_view v = {0, mrc_rec_count(rec), mrc_rec_key(rec), mrc_rec_len(rec)};
            if (mrc_rec_cmp(s->order, &v, &s->split[k - 1]) < 0)
                lo = mid + 1;
            else
                hi = mid;
        }
        bound[k] = lo;
    }
}

/* Records [from, to) of a sorted buffer as a view of their own. */
static mrc_out_sorted slice_of(const mrc_out_sorted *sorted, size_t from, size_t to)
{
    return (mrc_out_sorted){
        .refs = sorted->refs + from, .n = to - from, .order = sorted->order, .records = to - from};
}

/* A sorted buffer written as runs: one, or, cut into segments, one per group of segments,
 * each written by one of the threads (group g: segments [g nsegs / groups, (g + 1) nsegs /
 * groups), cut within its run, counted in res). */
typedef struct run_job {
    const mrc_out_sorted *sorted;
    mrc_sorted_result *res;
    const char *tmp_dir;
    const mrc_stop *stop;
    size_t groups;
    const size_t *bound; /* seg_bounds(); NULL: not cut */
    mrc_run_file *files; /* files[g]: group g's run (fd -1: none) */
} run_job;

static int group_to_run(size_t g, void *arg, atomic_int *failed, mrc_err *err)
{
    run_job *j = arg;
    mrc_sorted_result *res = j->res;
    size_t k0 = 0, k1 = 1;
    if (j->bound != NULL) {
        k0 = g * res->nsegs / j->groups;
        k1 = (g + 1) * res->nsegs / j->groups;
    }
    if (k0 == k1) return 0; /* fewer segments than threads */
    mrc_run_writer *w = mrc_run_writer_open(j->tmp_dir, j->sorted->order, 0, err);
    if (w == NULL) return err->code ? err->code : MRC_EIO;
    int rc = 0;
    for (size_t k = k0; rc == 0 && k < k1; k++) {
        if (k > k0) rc = mrc_run_writer_segment(w, err);
        mrc_out_sorted seg =
            j->bound != NULL ? slice_of(j->sorted, j->bound[k], j->bound[k + 1]) : *j->sorted;
        mrc_out_iter *it = rc == 0 ? mrc_output_iter_open(&seg, 0, err) : NULL;
        if (rc == 0 && it == NULL) rc = err->code ? err->code : MRC_ENOMEM;
        uint64_t lines = 0, bytes = 0;
        for (const unsigned char *rec; rc == 0 && (rec = mrc_output_iter_next(it)) != NULL;) {
            mrc_rec_view v = {0, mrc_rec_count(rec), mrc_rec_key(rec), mrc_rec_len(rec)};
            rc = stopped(j->stop, err);
            if (rc == 0 && (++lines & 0xffff) == 0 && atomic_load(failed))
                rc = mrc_out_sort_stopped(err);
            if (rc == 0) rc = mrc_run_writer_put(w, &v, err);
            bytes += mrc_out_line_len(rec);
        }
        mrc_output_iter_close(it);
        if (j->bound != NULL) { /* each group its own segments: no other thread counts them */
            res->seg_lines[k] += seg.records;
            res->seg_bytes[k] += bytes;
        }
    }
    if (rc != 0) {
        mrc_run_writer_abort(w);
        return rc;
    }
    return mrc_run_writer_finish(w, &j->files[g], err);
}

/* The runs one merge may open: the option's, else the system's descriptors allow. */
static size_t fan_in(const mrc_sort_stream_opts *o)
{
    return o->fan_in ? o->fan_in : mrc_runs_fan_in();
}

/* A sorted buffer written as out's next runs (cap: the runs' room, grown here). */
static int add_run(mrc_sorted_result *out, size_t *cap, const mrc_out_sorted *sorted,
                   const mrc_sort_stream_opts *o, mrc_err *err)
{
    size_t t = o->topo != NULL && o->pl != NULL && o->pl->nthreads > 1 ? o->pl->nthreads : 1;
    /* A run per thread while the runs stay within what one merge may open (each holds a
     * descriptor until the end); past that, one run of every segment, by this thread. */
    size_t groups = out->nsegs > 1 && out->nruns + t <= fan_in(o) ? t : 1;
    if (out->nruns + groups > *cap) {
        size_t n = *cap ? 2 * *cap : 16;
        while (n < out->nruns + groups)
            n *= 2;
        mrc_run_file *p = realloc(out->runs, n * sizeof *p);
        if (p != NULL) out->runs = p;
        size_t *f = p != NULL ? realloc(out->seg_first, n * sizeof *f) : NULL;
        if (f == NULL) return mrc_err_set(err, MRC_ENOMEM, "output sort: out of memory");
        out->seg_first = f;
        *cap = n;
    }
    size_t *bound = out->nsegs > 1 ? malloc((out->nsegs + 1) * sizeof *bound) : NULL;
    if (out->nsegs > 1 && bound == NULL)
        return mrc_err_set(err, MRC_ENOMEM, "output sort: out of memory");
    if (bound != NULL) seg_bounds(out, sorted, bound);
    mrc_run_file *files = out->runs + out->nruns;
    for (size_t g = 0; g < groups; g++)
        files[g] = (mrc_run_file){.fd = -1};
    run_job j = {sorted, out, o->tmp_dir, o->stop, groups, bound, files};
    int rc;
    if (groups > 1) {
        rc = mrc_run_tasks(o->topo, o->pl, group_to_run, &j, err);
    } else {
        atomic_int failed = 0;
        rc = group_to_run(0, &j, &failed, err);
    }
    free(bound);
    size_t n = 0;
    for (size_t g = 0; g < groups; g++) {
        if (files[g].fd < 0) continue;
        if (rc != 0) {
            mrc_run_file_close(&files[g]);
            continue;
        }
        out->seg_first[out->nruns + n] = g * out->nsegs / groups;
        out->spilled_bytes += files[g].bytes;
        if (n != g) files[n] = files[g];
        n++;
    }
    if (rc != 0) return rc;
    out->nruns += n;
    out->chunks++;
    return 0;
}

/* The kept buffer's share of each segment (the whole result's when it is in memory), and their
 * lines and bytes. */
static int kept_segments(mrc_sorted_result *s, mrc_err *err)
{
    s->kept_seg = calloc(s->nsegs, sizeof *s->kept_seg);
    size_t *bound = malloc((s->nsegs + 1) * sizeof *bound);
    if (s->kept_seg == NULL || bound == NULL) {
        free(bound);
        return mrc_err_set(err, MRC_ENOMEM, "output sort: out of memory");
    }
    seg_bounds(s, &s->sorted, bound);
    for (size_t k = 0; k < s->nsegs; k++) {
        s->kept_seg[k] = slice_of(&s->sorted, bound[k], bound[k + 1]);
        s->seg_lines[k] += bound[k + 1] - bound[k];
        for (size_t i = bound[k]; i < bound[k + 1]; i++)
            s->seg_bytes[k] += mrc_out_line_len(s->sorted.refs[i].rec);
    }
    free(bound);
    return 0;
}

/* The merge of the streams of part `seg` (SIZE_MAX: all) of every run and of the kept buffer,
 * each run read in blocks of buf bytes. */
static mrc_source *merge_of(const mrc_sorted_result *s, size_t seg, size_t buf, mrc_err *err)
{
    mrc_source **src = calloc(s->nruns + 2, sizeof *src);
    if (src == NULL) {
        mrc_err_set(err, MRC_ENOMEM, "output sort: out of memory");
        return NULL;
    }
    size_t n = 0;
    int rc = 0;
    for (size_t i = 0; rc == 0 && i < s->nruns; i++) {
        const mrc_run_file *f = &s->runs[i];
        size_t first = seg == SIZE_MAX ? 0 : s->seg_first[i];
        size_t has = f->segments > 0 ? f->segments : 1; /* a run of one segment is not cut */
        if (seg != SIZE_MAX && (seg < first || seg - first >= has)) continue;
        src[n] = seg == SIZE_MAX || f->segments == 0
                     ? mrc_run_file_source(f, 0, UINT64_MAX, buf, err)
                     : mrc_run_file_segment_source(f, seg - first, buf, err);
        if (src[n] == NULL)
            rc = err->code ? err->code : MRC_ENOMEM;
        else
            n++;
    }
    if (rc == 0 && (s->kept || (s->in_memory && seg != SIZE_MAX))) {
        mrc_out_iter *it =
            mrc_output_iter_open(seg == SIZE_MAX ? &s->sorted : &s->kept_seg[seg], 0, err);
        if (it == NULL)
            rc = err->code ? err->code : MRC_ENOMEM;
        else
            src[n++] = mrc_output_iter_source(it);
    }
    mrc_source *m = NULL;
    if (rc == 0) {
        m = mrc_merge_source_open(src, n, s->order, err); /* owns them from here */
    } else {
        for (size_t i = 0; i < n; i++)
            src[i]->close(src[i]);
    }
    free(src);
    return m;
}

/* A result cut into segments read whole: each segment's merge in turn (as many runs open as
 * one merge of uncut runs, not one per thread and buffer). */
static mrc_source *segment_merge(size_t k, void *arg, mrc_err *err)
{
    const mrc_sorted_result *s = arg;
    return merge_of(s, k, s->read_buf, err);
}

static mrc_source *chain_open(const mrc_sorted_result *s, size_t k0, size_t k1, mrc_err *err)
{
    return mrc_chain_source_open(k0, k1, segment_merge, (void *)s, err);
}

/* The runs (and the kept buffer) merged whole, in the output order. */
static int open_merge(mrc_sorted_result *s, mrc_err *err)
{
    if (s->nsegs > 1) {
        s->merged = chain_open(s, 0, s->nsegs, err);
        return s->merged != NULL ? 0 : err->code;
    }
    s->merged = merge_of(s, SIZE_MAX, s->read_buf, err);
    return s->merged != NULL ? 0 : err->code ? err->code : MRC_ENOMEM;
}

mrc_source *mrc_output_sorted_result_segment(const mrc_sorted_result *s, size_t k, mrc_err *err)
{
    if (s->nsegs < 2 || k >= s->nsegs) {
        mrc_err_set(err, MRC_EINVAL, "output sort: no segment %zu of %zu", k, s->nsegs);
        return NULL;
    }
    return merge_of(s, k, s->seg_buf, err);
}

mrc_source *mrc_output_sorted_result_segments(const mrc_sorted_result *s, size_t k0, size_t k1,
                                              mrc_err *err)
{
    if (s->nsegs < 2 || k0 > k1 || k1 > s->nsegs) {
        mrc_err_set(err, MRC_EINVAL, "output sort: no segments %zu to %zu of %zu", k0, k1,
                    s->nsegs);
        return NULL;
    }
    return chain_open(s, k0, k1, err);
}

/* The fill of one buffer: part g takes the records of its streams (in[g], in[g + nparts], ...,
 * one after another) until they cost its share. */
typedef struct fill_job {
    chunk *c;
    mrc_source *const *in;
    size_t nin;
    uint64_t share;
    const mrc_stop *stop;
} fill_job;

static int fill_part(size_t g, void *arg, atomic_int *failed, mrc_err *err)
{
    fill_job *j = arg;
    if (g >= j->c->nparts) return 0;
    /* filled in a copy: the parts share cache lines, each written by its thread per record */
    part mine = j->c->parts[g], *p = &mine;
    int rc = 0;
    while (rc == 0 && !p->ended && p->used < j->share) {
        mrc_rec_view r;
        size_t k = g + p->next * j->c->nparts;
        if (k >= j->nin) {
            p->ended = true;
            break;
        }
        int got = j->in[k]->next(j->in[k], &r, err);
        if (got < 0) {
            rc = err->code ? err->code : MRC_EIO;
            break;
        }
        if (got == 0) {
            p->next++;
            continue;
        }
        rc = chunk_put(j->c, p, g, &r, err);
        if (rc == 0) rc = stopped(j->stop, err);
        if (rc == 0 && (p->n & 0xffff) == 0 && atomic_load(failed)) rc = mrc_out_sort_stopped(err);
    }
    j->c->parts[g] = mine;
    return rc;
}

/* The parts' buffers, kept as the result's. */
static int keep_buffers(mrc_sorted_result *out, chunk *c, mrc_err *err)
{
    out->bufs = calloc(c->nparts, sizeof *out->bufs);
    if (out->bufs == NULL) return mrc_err_set(err, MRC_ENOMEM, "output sort: out of memory");
    out->nbufs = c->nparts;
    for (size_t g = 0; g < c->nparts; g++) {
        out->bufs[g] = c->parts[g].buf;
        c->parts[g].buf = NULL;
    }
    out->refs = c->refs;
    c->refs = NULL;
    return 0;
}

int mrc_output_sort_stream(mrc_source *in, const mrc_sort_stream_opts *o, mrc_sorted_result *out,
                           mrc_err *err)
{
    return mrc_output_sort_streams(&in, 1, o, out, err);
}

int mrc_output_sort_streams(mrc_source *const *in, size_t nin, const mrc_sort_stream_opts *o,
                            mrc_sorted_result *out, mrc_err *err)
{
    memset(out, 0, sizeof *out);
    out->order = o->order;
    uint64_t budget = o->budget > MIN_BUDGET ? o->budget : MIN_BUDGET;
    size_t t = o->topo != NULL && o->pl != NULL && o->pl->nthreads > 1 ? o->pl->nthreads : 1;
    chunk c;
    size_t cap_runs = 0;
    uint64_t records = 0; /* sorted so far */
    /* a part per stream, each filled by a thread, within a budget (one part without) */
    size_t nparts = nin > 1 && budget <= ((uint64_t)1 << 50) ? nin : 1;
    int rc = chunk_open(&c, nparts, budget, err);
    if (rc == 0 && o->nsplit > 0 && o->top == 0) rc = segments_at(out, o->split, o->nsplit, err);
    fill_job fj = {&c, in, nin, budget / c.nparts, o->stop};
    bool ended = false;
    while (rc == 0 && !ended) {
        size_t live = 0; /* a part whose streams ended leaves its share to the others */
        for (size_t g = 0; g < c.nparts; g++)
            live += !c.parts[g].ended;
        fj.share = budget / (live ? live : 1);
        if (c.nparts > 1 && t >= c.nparts) { /* a part per thread */
            rc = mrc_run_tasks(o->topo, o->pl, fill_part, &fj, err);
        } else {
            atomic_int failed = 0;
            for (size_t g = 0; rc == 0 && g < c.nparts; g++)
                rc = fill_part(g, &fj, &failed, err);
        }
        if (rc != 0) break;
        uint64_t used = 0, n = 0;
        ended = true;
        for (size_t g = 0; g < c.nparts; g++) {
            used += c.parts[g].used;
            n += c.parts[g].n;
            ended = ended && c.parts[g].ended;
        }
        if (ended && n == 0 && out->nruns > 0) break; /* the last buffer is empty */
        /* The last buffer stays in memory, merged with the runs, when it takes at most half
         * the budget: the runs' read buffers take the other half at most (the compaction's
         * too), and it is neither written nor read back. When it all fit, it is the result. */
        bool keep = ended && (out->nruns == 0 || used <= budget / 2);
        if (keep && out->nruns > 0) chunk_trim(&c);
        chunk_fix_refs(&c);
        if (keep && out->nruns > 0) chunk_trim_refs(&c);
        mrc_out_sorted sorted;
        /* --top K: a chunk only needs its first K; so does the merge of the runs. */
        rc = mrc_output_sort(c.refs, c.n, o->order, o->top, o->topo, o->pl, o->stop, &sorted, err);
        if (rc != 0) break;
        records += c.n;
        if (!keep && out->nruns == 0 && out->nsegs == 0 && o->segments > 1 && o->top == 0)
            rc = segments_choose(out, &sorted, o->segments, err);
        if (rc != 0) break;
        if (keep) { /* the last: the loop ends */
            rc = keep_buffers(out, &c, err);
            if (rc != 0) break;
            out->in_memory = out->nruns == 0;
            out->kept = out->nruns > 0;
            out->sorted = sorted;
            if (out->nsegs > 1) rc = kept_segments(out, err);
        } else {
            rc = add_run(out, &cap_runs, &sorted, o, err);
            if (rc != 0) break;
            chunk_reset(&c);
        }
        if (o->sorted != NULL) o->sorted(o->sorted_arg, records, out->nruns);
        if (rc == 0 && out->in_memory) {
            chunk_free(&c);
            return 0;
        }
    }
    chunk_free(&c);
    size_t files = out->nruns;
    if (rc == 0 && out->nruns > 0) { /* no more runs than can be open at once */
        size_t fan = fan_in(o);
        size_t cbuf = (size_t)(budget / 2 / (fan + 1));
        cbuf = cbuf < 65536 ? 65536 : cbuf > ((size_t)1 << 20) ? (size_t)1 << 20 : cbuf;
        /* the runs' longest records, held by a reader of each (on every thread when cut) */
        rc = mrc_runs_compact(out->runs, &out->nruns, fan, budget / 4 / t, o->tmp_dir, cbuf,
                              &out->spilled_bytes, o->stop, err);
    }
    if (rc == 0 && out->nruns != files) segments_drop(out); /* compacted runs have none */
    if (rc == 0) {
        /* one merge of it all opens every run; of the segments in turn, one run a buffer */
        size_t open = out->nsegs > 1 ? out->chunks : out->nruns;
        size_t buf = open > 0 ? (size_t)(budget / 2 / open) : 0;
        out->read_buf = buf < 65536 ? 65536 : buf > ((size_t)1 << 20) ? (size_t)1 << 20 : buf;
        /* a segment's merge on each thread reads one run of each sorted buffer */
        buf = out->chunks > 0 ? (size_t)(budget / 2 / out->chunks / t) : 0;
        out->seg_buf = buf < 65536 ? 65536 : buf > ((size_t)1 << 20) ? (size_t)1 << 20 : buf;
        if (out->nsegs == 0) rc = open_merge(out, err); /* else opened when asked for */
    }
    if (rc != 0) mrc_output_sorted_result_free(out);
    return rc;
}

mrc_source *mrc_output_sorted_result_source(mrc_sorted_result *s, mrc_err *err)
{
    if (!s->in_memory) {
        if (s->merged == NULL && open_merge(s, err) != 0) return NULL;
        mrc_source *m = s->merged; /* the caller closes it now */
        s->merged = NULL;
        return m;
    }
    mrc_out_iter *it = mrc_output_iter_open(&s->sorted, 0, err);
    return it == NULL ? NULL : mrc_output_iter_source(it);
}
