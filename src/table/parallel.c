/* parallel.c - the one thread-parallel merge of count tables: the rank's thread tables after the
 * map (the local merge), or the sorted runs an owner received in the shuffle, become one
 * serialized table sorted by (hash, key), each thread merging disjoint hash sub-ranges. It runs
 * on the placement's pinned workers (runtime/); it must never touch MPI, and its result must not
 * depend on the number of threads or sub-ranges. */
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "mrcount/runtime.h"
#include "mrcount/table.h"
#include "wire.h"

#define PARTS_PER_THREAD_TABLES 8 /* partitions per thread for thread tables */
#define PARTS_PER_THREAD_RUNS 4   /* hashes are uniform: a few sub-ranges per thread balance */

__extension__ typedef unsigned __int128 u128; /* GCC and clang: the width of the last range */

/* ---- the parts, one serialized table ---- */

/* The merged sub-ranges become one table without copying the first: part 0 was written after
 * MRC_SER_HEADER reserved bytes and is resized to the whole (a large block is remapped, not
 * copied), and the other parts are copied after it by the workers, each freeing its parts as it
 * goes. With one part (one thread) nothing is copied. */
typedef struct assembly {
    unsigned char *t;
    unsigned char **bufs; /* nparts; bufs[0] is t's */
    const size_t *lens;   /* payload bytes of each part (part 0: after the header) */
    size_t *at;           /* nparts: where each part goes in t */
    size_t nparts, nthreads;
} assembly;

static int copy_task(size_t ti, void *arg, atomic_int *failed, mrc_err *err)
{
    (void)failed;
    (void)err;
    assembly *a = arg;
    for (size_t p = 1 + ti; p < a->nparts; p += a->nthreads) {
        if (a->lens[p]) memcpy(a->t + a->at[p], a->bufs[p], a->lens[p]);
        free(a->bufs[p]);
        a->bufs[p] = NULL;
    }
    return 0;
}

/* Takes bufs (freed, or become *out, whatever the outcome); h holds the totals. */
static int assemble(mrc_topo *topo, const mrc_placement *pl, unsigned char **bufs,
                    const size_t *lens, size_t nparts, const mrc_ser_header *h, const char *what,
                    void **out, size_t *out_len, mrc_err *err)
{
    size_t total = MRC_SER_HEADER + (size_t)h->payload;
    size_t *at = malloc(nparts * sizeof *at);
    unsigned char *t = at != NULL ? realloc(bufs[0], total) : NULL;
    if (t == NULL) {
        free(at);
        for (size_t p = 0; p < nparts; p++)
            free(bufs[p]);
        return mrc_err_set(err, MRC_ENOMEM, "%s: out of memory (%zu bytes)", what, total);
    }
    bufs[0] = t;
    mrc_advise_huge(t, total); /* where the other parts go: the output reads it in random order */
    size_t w = MRC_SER_HEADER;
    for (size_t p = 0; p < nparts; p++) {
        at[p] = w;
        w += lens[p];
    }
    assembly a = {t, bufs, lens, at, nparts, pl->nthreads};
    int rc = nparts > 1 ? mrc_run_tasks(topo, pl, copy_task, &a, err) : 0;
    for (size_t p = 1; p < nparts; p++) /* a pool that did not start */
        free(bufs[p]);
    free(at);
    if (rc != 0) {
        free(t);
        return rc;
    }
    mrc_ser_write_header(t, h);
    *out = t;
    *out_len = total;
    return 0;
}

/* ---- thread tables: frozen (each a sorted run), then merged by hash sub-range ---- */

typedef struct tables_merge {
    mrc_table *const *tables;
    size_t ntables, nthreads, nparts;
    rec_buf *parts;
} tables_merge;

static int part_put(void *arg, mrc_rec *rec, uint64_t count, mrc_err *err)
{
    return rec_buf_put(arg, count, rec->key, rec->len, "local merge", err);
}

static int freeze_task(size_t ti, void *arg, atomic_int *failed, mrc_err *err)
{
    (void)failed;
    (void)err;
    tables_merge *j = arg;
    for (size_t t = ti; t < j->ntables; t += j->nthreads)
        mrc_table_freeze(j->tables[t]);
    return 0;
}

static int tables_task(size_t ti, void *arg, atomic_int *failed, mrc_err *err)
{
    tables_merge *j = arg;
    for (size_t p = ti; p < j->nparts && !atomic_load(failed); p += j->nthreads) {
        uint64_t lo = (uint64_t)(((u128)p << 64) / j->nparts);
        uint64_t hi =
            p + 1 == j->nparts ? UINT64_MAX : (uint64_t)(((u128)(p + 1) << 64) / j->nparts) - 1;
        int rc = mrc_table_walk(j->tables, j->ntables, lo, hi, part_put, &j->parts[p], err);
        if (rc != 0) return rc;
    }
    return 0;
}

static int merge_tables(const mrc_merge_input *in, mrc_topo *topo, const mrc_placement *pl,
                        void **out, size_t *out_len, uint64_t *distinct, mrc_err *err)
{
    tables_merge j = {.tables = in->tables, .ntables = in->ntables, .nthreads = pl->nthreads};
    j.nparts = pl->nthreads > 1 ? pl->nthreads * PARTS_PER_THREAD_TABLES : 1;
    j.parts = calloc(j.nparts, sizeof *j.parts);
    unsigned char **bufs = calloc(j.nparts, sizeof *bufs);
    size_t *lens = calloc(j.nparts, sizeof *lens);
    int rc = 0;
    /* Each part's buffer is sized once: the tables' arenas hold every record with at least the
     * bytes its wire form takes, and hashes are uniform, so a part rarely grows (a growth is a
     * copy: measured at 30 M keys, a third of this merge was realloc's memcpy). With one part
     * it never does. Pages never written cost nothing. */
    size_t arenas = 0;
    for (size_t t = 0; t < in->ntables; t++)
        arenas += in->tables[t]->arena_len;
    size_t share = j.nparts == 1 ? arenas : arenas / j.nparts + arenas / j.nparts / 8;
    share = share < 65536 ? 65536 : share;
    for (size_t p = 0; j.parts != NULL && p < j.nparts; p++) {
        size_t head = p == 0 ? MRC_SER_HEADER : 0; /* the header goes before part 0 */
        j.parts[p].buf = malloc(head + share);
        if (j.parts[p].buf == NULL) {
            rc = mrc_err_set(err, MRC_ENOMEM, "local merge: out of memory (%zu bytes)", share);
            goto fail;
        }
        mrc_advise_huge(j.parts[p].buf, head + share); /* read back in random order */
        j.parts[p].cap = head + share;
        j.parts[p].len = head;
    }
    if (j.parts == NULL || bufs == NULL || lens == NULL) {
        rc = mrc_err_set(err, MRC_ENOMEM, "local merge: out of memory");
        goto fail;
    }
    rc = mrc_run_tasks(topo, pl, freeze_task, &j, err);
    if (rc == 0) rc = mrc_run_tasks(topo, pl, tables_task, &j, err);
    if (rc != 0) goto fail;
    mrc_ser_header h = {MRC_SER_MAGIC, MRC_SER_VERSION, 0, 0, 0, 0};
    for (size_t p = 0; p < j.nparts; p++) {
        bufs[p] = j.parts[p].buf;
        lens[p] = j.parts[p].len - (p == 0 ? MRC_SER_HEADER : 0);
        h.records += j.parts[p].records;
        h.payload += lens[p];
        h.total = h.total + j.parts[p].total < h.total ? UINT64_MAX : h.total + j.parts[p].total;
    }
    rc = assemble(topo, pl, bufs, lens, j.nparts, &h, "local merge", out, out_len, err);
    if (rc == 0) *distinct = h.records;
    free(bufs);
    free(lens);
    free(j.parts);
    return rc;
fail:
    for (size_t p = 0; j.parts != NULL && p < j.nparts; p++)
        free(j.parts[p].buf);
    free(j.parts);
    free(bufs);
    free(lens);
    return rc;
}

/* ---- sorted runs of one hash range: cut into sub-ranges, k-way merge each ---- */

typedef struct runs_merge {
    size_t nruns, nparts, nthreads;
    const mrc_ser_run *runs;
    uint64_t *bounds;    /* nparts: first hash of each sub-range */
    size_t *cuts;        /* nruns * (nparts + 1): offsets of the sub-ranges in each run */
    unsigned char **out; /* nparts merged payloads */
    mrc_ser_merged *res; /* nparts */
} runs_merge;

static int cut_task(size_t ti, void *arg, atomic_int *failed, mrc_err *err)
{
    runs_merge *m = arg;
    for (size_t i = ti; i < m->nruns && !atomic_load(failed); i += m->nthreads)
        if (mrc_ser_cut(m->runs[i].payload, m->runs[i].len, m->bounds, m->nparts,
                        &m->cuts[i * (m->nparts + 1)], NULL, err) != 0)
            return err->code;
    return 0;
}

static int merge_task(size_t ti, void *arg, atomic_int *failed, mrc_err *err)
{
    runs_merge *m = arg;
    mrc_ser_run *slices = malloc((m->nruns + 1) * sizeof *slices);
    if (slices == NULL) return mrc_err_set(err, MRC_ENOMEM, "range merge: out of memory");
    int rc = 0;
    for (size_t p = ti; p < m->nparts && rc == 0 && !atomic_load(failed); p += m->nthreads) {
        size_t cap = 0;
        for (size_t i = 0; i < m->nruns; i++) {
            const size_t *c = &m->cuts[i * (m->nparts + 1)];
            slices[i] = (mrc_ser_run){m->runs[i].payload + c[p], c[p + 1] - c[p]};
            cap += c[p + 1] - c[p];
        }
        size_t head = p == 0 ? MRC_SER_HEADER : 0; /* the header goes before part 0 */
        m->out[p] = malloc(head + cap + 1);
        mrc_advise_huge(m->out[p], head + cap + 1); /* the output reads it in random order */
        if (m->out[p] == NULL)
            rc = mrc_err_set(err, MRC_ENOMEM, "range merge: cannot allocate %zu bytes", cap);
        else
            rc = mrc_ser_merge_runs(slices, m->nruns, m->out[p] + head, cap, &m->res[p], err);
    }
    free(slices);
    return rc;
}

static int merge_runs(const mrc_merge_input *in, mrc_topo *topo, const mrc_placement *pl,
                      void **out, size_t *out_len, uint64_t *distinct, mrc_err *err)
{
    runs_merge m = {0};
    m.nruns = in->nruns;
    m.runs = in->runs;
    m.nthreads = pl->nthreads;
    m.nparts = pl->nthreads > 1 ? pl->nthreads * PARTS_PER_THREAD_RUNS : 1;
    m.bounds = calloc(m.nparts, sizeof *m.bounds);
    m.cuts = calloc(m.nruns * (m.nparts + 1), sizeof *m.cuts);
    m.out = calloc(m.nparts, sizeof *m.out);
    m.res = calloc(m.nparts, sizeof *m.res);
    int rc = 0;
    if (!m.bounds || !m.cuts || !m.out || !m.res) {
        rc = mrc_err_set(err, MRC_ENOMEM, "range merge: out of memory");
        goto done;
    }
    /* Sub-range p starts at lo + p * width / nparts of the range's width. */
    u128 width = (u128)in->hi - in->lo + 1;
    for (size_t p = 0; p < m.nparts; p++)
        m.bounds[p] = in->lo + (uint64_t)(width * p / m.nparts);
    rc = mrc_run_tasks(topo, pl, cut_task, &m, err);
    if (rc == 0) rc = mrc_run_tasks(topo, pl, merge_task, &m, err);
    if (in->inputs_done != NULL) in->inputs_done(in->inputs_done_arg); /* the runs are merged */
    if (rc != 0) goto done;
    mrc_ser_header h = {MRC_SER_MAGIC, MRC_SER_VERSION, 0, 0, 0, 0};
    size_t *lens = malloc(m.nparts * sizeof *lens);
    if (lens == NULL) {
        rc = mrc_err_set(err, MRC_ENOMEM, "range merge: out of memory");
        goto done;
    }
    for (size_t p = 0; p < m.nparts; p++) {
        lens[p] = m.res[p].bytes;
        h.records += m.res[p].records;
        h.payload += m.res[p].bytes;
        h.total = h.total + m.res[p].total < h.total ? UINT64_MAX : h.total + m.res[p].total;
    }
    rc = assemble(topo, pl, m.out, lens, m.nparts, &h, "range merge", out, out_len, err);
    for (size_t p = 0; p < m.nparts; p++) /* taken by assemble */
        m.out[p] = NULL;
    free(lens);
    if (rc == 0) *distinct = h.records;
done:
    for (size_t p = 0; m.out != NULL && p < m.nparts; p++)
        free(m.out[p]);
    free(m.out);
    free(m.res);
    free(m.bounds);
    free(m.cuts);
    return rc;
}

int mrc_table_merge_parallel(const mrc_merge_input *in, mrc_topo *topo, const mrc_placement *pl,
                             void **out, size_t *out_len, uint64_t *distinct, mrc_err *err)
{
    *out = NULL;
    *out_len = 0;
    *distinct = 0;
    if (in->ntables > 0 && in->nruns > 0)
        return mrc_err_set(err, MRC_EINVAL, "merge: thread tables and runs in one merge");
    if (in->nruns > 0) return merge_runs(in, topo, pl, out, out_len, distinct, err);
    return merge_tables(in, topo, pl, out, out_len, distinct, err);
}
