/* extsort.c - the output order of a rank's result with bounded memory: the records of a stream
 * in hash order fill a buffer up to the budget and are sorted there (mrc_output_sort); when the
 * whole stream fits, that sorted buffer is the result; when it does not, each sorted buffer is
 * written to --tmp-dir as a run in the output order and the result is the k-way merge of the
 * runs. Either way the result is read as one stream in output order. It never holds more than
 * the budget of records, and never writes a record twice into one run. */
#include <stdlib.h>
#include <string.h>

#include "mrcount/output.h"
#include "mrcount/table.h"

#define MIN_BUDGET ((uint64_t)1 << 20)

/* Bytes a record takes in the buffer and its ref: the wire record and 16 bytes of ref. */
static uint64_t rec_cost(uint32_t len)
{
    return MRC_REC_HEAD + (uint64_t)len + sizeof(mrc_out_ref);
}

typedef struct chunk {
    unsigned char *buf;
    size_t len, cap;
    mrc_out_ref *refs;
    size_t n, rcap;
} chunk;

static int chunk_put(chunk *c, const mrc_rec_view *r, mrc_err *err)
{
    size_t need = MRC_REC_HEAD + (size_t)r->len;
    if (c->cap - c->len < need) {
        size_t cap = c->cap ? c->cap * 2 : (size_t)1 << 20;
        while (cap - c->len < need)
            cap *= 2;
        unsigned char *b = realloc(c->buf, cap);
        if (b == NULL) return mrc_err_set(err, MRC_ENOMEM, "output sort: out of memory");
        c->buf = b;
        c->cap = cap;
    }
    if (c->n == c->rcap) {
        size_t cap = c->rcap ? c->rcap * 2 : 65536;
        mrc_out_ref *p = realloc(c->refs, cap * sizeof *p);
        if (p == NULL) return mrc_err_set(err, MRC_ENOMEM, "output sort: out of memory");
        c->refs = p;
        c->rcap = cap;
    }
    c->refs[c->n++].window = c->len; /* an offset until the buffer stops moving */
    c->len += mrc_rec_put(c->buf + c->len, r->count, r->key, r->len);
    return 0;
}

/* The refs point into the buffer, now that it no longer moves. */
static void chunk_fix_refs(chunk *c)
{
    for (size_t i = 0; i < c->n; i++)
        c->refs[i].rec = c->buf + c->refs[i].window;
}

/* The buffers cut to what the chunk holds (those of the full chunks before it were larger); on
 * a failure they stay as they are. Before chunk_fix_refs(). */
static void chunk_trim(chunk *c)
{
    unsigned char *b = realloc(c->buf, c->len);
    mrc_out_ref *p = realloc(c->refs, c->n * sizeof *p);
    if (b != NULL) {
        c->buf = b;
        c->cap = c->len;
    }
    if (p != NULL) {
        c->refs = p;
        c->rcap = c->n;
    }
}

static void chunk_free(chunk *c)
{
    free(c->buf);
    free(c->refs);
    memset(c, 0, sizeof *c);
}

void mrc_output_sorted_result_free(mrc_sorted_result *s)
{
    if (s->merged != NULL) s->merged->close(s->merged);
    for (size_t i = 0; i < s->nruns; i++)
        mrc_run_file_close(&s->runs[i]);
    free(s->runs);
    free(s->refs);
    free(s->buf);
    memset(s, 0, sizeof *s);
}

/* The flag is a relaxed load: looked at per record, it costs less than counting records. */
static int stopped(const mrc_stop *stop, mrc_err *err)
{
    return mrc_stopped(stop) ? mrc_err_set(err, MRC_EINTR, "output sort: stopped") : 0;
}

/* Write a sorted chunk as a run in the output order. */
static int chunk_to_run(const mrc_out_sorted *sorted, const char *tmp_dir, const mrc_stop *stop,
                        mrc_run_file *out, mrc_err *err)
{
    mrc_run_writer *w = mrc_run_writer_open(tmp_dir, sorted->order, 0, err);
    if (w == NULL) return err->code ? err->code : MRC_EIO;
    mrc_out_iter *it = mrc_output_iter_open(sorted, 0, err);
    int rc = it == NULL ? (err->code ? err->code : MRC_ENOMEM) : 0;
    for (const unsigned char *rec; rc == 0 && (rec = mrc_output_iter_next(it)) != NULL;) {
        mrc_rec_view v = {0, mrc_rec_count(rec), mrc_rec_key(rec), mrc_rec_len(rec)};
        rc = stopped(stop, err);
        if (rc == 0) rc = mrc_run_writer_put(w, &v, err);
    }
    mrc_output_iter_close(it);
    if (rc != 0) {
        mrc_run_writer_abort(w);
        return rc;
    }
    return mrc_run_writer_finish(w, out, err);
}

/* A sorted chunk written as out's next run (cap: the runs' room, grown here). */
static int add_run(mrc_sorted_result *out, size_t *cap, const mrc_out_sorted *sorted,
                   const mrc_sort_stream_opts *o, mrc_err *err)
{
    if (out->nruns == *cap) {
        size_t n = *cap ? 2 * *cap : 16;
        mrc_run_file *p = realloc(out->runs, n * sizeof *p);
        if (p == NULL) return mrc_err_set(err, MRC_ENOMEM, "output sort: out of memory");
        out->runs = p;
        *cap = n;
    }
    int rc = chunk_to_run(sorted, o->tmp_dir, o->stop, &out->runs[out->nruns], err);
    if (rc != 0) return rc;
    out->spilled_bytes += out->runs[out->nruns].bytes;
    out->nruns++;
    return 0;
}

int mrc_output_sort_stream(mrc_source *in, const mrc_sort_stream_opts *o, mrc_sorted_result *out,
                           mrc_err *err)
{
    memset(out, 0, sizeof *out);
    out->order = o->order;
    uint64_t budget = o->budget > MIN_BUDGET ? o->budget : MIN_BUDGET;
    chunk c = {0};
    size_t cap_runs = 0;
    uint64_t records = 0; /* sorted so far */
    int rc = 0;
    bool ended = false;
    while (rc == 0 && !ended) {
        uint64_t used = 0;
        mrc_rec_view r;
        while (rc == 0 && used < budget) {
            int got = in->next(in, &r, err);
            if (got < 0) {
                rc = err->code ? err->code : MRC_EIO;
                break;
            }
            if (got == 0) {
                ended = true;
                break;
            }
            used += rec_cost(r.len);
            rc = chunk_put(&c, &r, err);
            if (rc == 0) rc = stopped(o->stop, err);
        }
        if (rc != 0) break;
        if (ended && c.n == 0 && out->nruns > 0) break; /* the last buffer is empty */
        /* The last buffer stays in memory, merged with the runs, when it takes at most half
         * the budget: the runs' read buffers take the other half at most (the compaction's
         * too), and it is neither written nor read back. When it all fit, it is the result. */
        bool keep = ended && (out->nruns == 0 || used <= budget / 2);
        if (keep && out->nruns > 0) chunk_trim(&c);
        chunk_fix_refs(&c);
        mrc_out_sorted sorted;
        /* --top K: a chunk only needs its first K; so does the merge of the runs. */
        rc = mrc_output_sort(c.refs, c.n, o->order, o->top, o->topo, o->pl, o->stop, &sorted, err);
        if (rc != 0) break;
        records += c.n;
        if (keep) { /* the last: the loop ends */
            out->in_memory = out->nruns == 0;
            out->kept = out->nruns > 0;
            out->buf = c.buf;
            out->refs = c.refs;
            out->sorted = sorted;
            memset(&c, 0, sizeof c);
        } else {
            rc = add_run(out, &cap_runs, &sorted, o, err);
            if (rc != 0) break;
            c.len = 0;
            c.n = 0;
        }
        if (o->sorted != NULL) o->sorted(o->sorted_arg, records, out->nruns);
        if (out->in_memory) return 0;
    }
    chunk_free(&c);
    if (rc == 0 && out->nruns > 0) { /* no more runs than can be open at once */
        size_t fan = o->fan_in ? o->fan_in : mrc_runs_fan_in();
        size_t cbuf = (size_t)(budget / 2 / (fan + 1));
        cbuf = cbuf < 65536 ? 65536 : cbuf > ((size_t)1 << 20) ? (size_t)1 << 20 : cbuf;
        rc = mrc_runs_compact(out->runs, &out->nruns, fan, o->tmp_dir, cbuf, &out->spilled_bytes,
                              o->stop, err);
    }
    if (rc == 0) { /* the runs (and the kept buffer), merged in the output order */
        mrc_source **src = calloc(out->nruns + 2, sizeof *src);
        size_t buf = out->nruns > 0 ? (size_t)(budget / 2 / out->nruns) : 0;
        if (buf < 65536) buf = 65536;
        if (buf > ((size_t)1 << 20)) buf = (size_t)1 << 20;
        size_t n = 0;
        if (src == NULL) rc = mrc_err_set(err, MRC_ENOMEM, "output sort: out of memory");
        for (size_t i = 0; rc == 0 && i < out->nruns; i++) {
            src[n] = mrc_run_file_source(&out->runs[i], 0, UINT64_MAX, buf, err);
            if (src[n] == NULL)
                rc = err->code ? err->code : MRC_ENOMEM;
            else
                n++;
        }
        if (rc == 0 && out->kept) {
            mrc_out_iter *it = mrc_output_iter_open(&out->sorted, 0, err);
            if (it == NULL)
                rc = err->code ? err->code : MRC_ENOMEM;
            else
                src[n++] = mrc_output_iter_source(it);
        }
        if (rc == 0) {
            out->merged = mrc_merge_source_open(src, n, o->order, err);
            if (out->merged == NULL) rc = err->code ? err->code : MRC_ENOMEM;
        } else {
            for (size_t i = 0; i < n; i++)
                src[i]->close(src[i]);
        }
        free(src);
    }
    if (rc != 0) mrc_output_sorted_result_free(out);
    return rc;
}

mrc_source *mrc_output_sorted_result_source(mrc_sorted_result *s, mrc_err *err)
{
    if (!s->in_memory) {
        mrc_source *m = s->merged; /* the caller closes it now */
        s->merged = NULL;
        return m;
    }
    mrc_out_iter *it = mrc_output_iter_open(&s->sorted, 0, err);
    return it == NULL ? NULL : mrc_output_iter_source(it);
}
