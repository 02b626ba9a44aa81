/* fromtables.c - the result of a lone rank straight from its thread tables, with no serialized
 * copy: one ref per distinct key pointing at its record in a table's arena. One table: a scan of
 * its arena. Several: frozen, then merged by hash sub-range on the threads, a key's summed count
 * written back into the first table's record that holds it. The indexes are given back before
 * the sort needs its memory. */
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "mrcount/output.h"
#include "mrcount/runtime.h"
#include "mrcount/table.h"

#define PARTS_PER_THREAD 8

__extension__ typedef unsigned __int128 u128; /* GCC and clang: hash range bounds */

typedef struct refs_job {
    mrc_table *const *tables;
    size_t ntables, nthreads, nparts;
    mrc_out_ref *refs;
    size_t *start; /* nparts + 1: each part's region in refs (an upper bound of its keys) */
    size_t *count; /* nparts: the distinct keys a part wrote at the start of its region */
} refs_job;

static uint64_t part_lo(size_t p, size_t n)
{
    return (uint64_t)(((u128)p << 64) / n);
}

static uint64_t part_hi(size_t p, size_t n)
{
    return p + 1 == n ? UINT64_MAX : part_lo(p + 1, n) - 1;
}

static int freeze_task(size_t ti, void *arg, atomic_int *failed, mrc_err *err)
{
    (void)failed;
    (void)err;
    refs_job *j = arg;
    for (size_t t = ti; t < j->ntables; t += j->nthreads)
        mrc_table_freeze(j->tables[t]);
    return 0;
}

typedef struct part_sink {
    mrc_out_ref *at;
    size_t n;
} part_sink;

static int put_ref(void *arg, mrc_rec *rec, uint64_t count, mrc_err *err)
{
    (void)err;
    part_sink *s = arg;
    rec->count = count; /* the key's total, in the record the ref points at */
    s->at[s->n++].rec = (const unsigned char *)rec;
    return 0;
}

static int walk_task(size_t ti, void *arg, atomic_int *failed, mrc_err *err)
{
    refs_job *j = arg;
    for (size_t p = ti; p < j->nparts && !atomic_load(failed); p += j->nthreads) {
        part_sink s = {j->refs + j->start[p], 0};
        int rc = mrc_table_walk(j->tables, j->ntables, part_lo(p, j->nparts), part_hi(p, j->nparts),
                                put_ref, &s, err);
        if (rc != 0) return rc;
        j->count[p] = s.n;
    }
    return 0;
}

typedef struct scan {
    mrc_out_ref *refs;
    size_t n;
} scan;

static void scan_rec(const mrc_rec *r, void *arg)
{
    scan *s = arg;
    s->refs[s->n++].rec = (const unsigned char *)r;
}

int mrc_output_refs_from_tables(mrc_table *const *tables, size_t ntables, mrc_topo *topo,
                                const mrc_placement *pl, mrc_out_ref **refs, size_t *n,
                                mrc_err *err)
{
    *refs = NULL;
    *n = 0;
    size_t total = 0;
    for (size_t t = 0; t < ntables; t++)
        total += tables[t]->frozen ? tables[t]->used : tables[t]->used;
    if (ntables == 1) { /* one table: every record is a distinct key already */
        mrc_table_drop_index(tables[0]);
        scan s = {malloc((total + 1) * sizeof *s.refs), 0};
        if (s.refs == NULL) return mrc_err_set(err, MRC_ENOMEM, "output: out of memory");
        mrc_advise_huge(s.refs, (total + 1) * sizeof *s.refs); /* the sort permutes them */
        mrc_table_each(tables[0], scan_rec, &s);
        *refs = s.refs;
        *n = s.n;
        return 0;
    }
    refs_job j = {.tables = tables, .ntables = ntables, .nthreads = pl->nthreads};
    j.nparts = pl->nthreads * PARTS_PER_THREAD;
    int rc = mrc_run_tasks(topo, pl, freeze_task, &j, err);
    if (rc != 0) return rc;
    j.start = calloc(j.nparts + 1, sizeof *j.start);
    j.count = calloc(j.nparts, sizeof *j.count);
    j.refs = malloc((total + 1) * sizeof *j.refs);
    mrc_advise_huge(j.refs, (total + 1) * sizeof *j.refs); /* the sort permutes them */
    if (j.start == NULL || j.count == NULL || j.refs == NULL) {
        rc = mrc_err_set(err, MRC_ENOMEM, "output: out of memory");
        goto out;
    }
    for (size_t p = 0; p < j.nparts; p++) { /* each part's slots, an upper bound of its keys */
        size_t k = 0;
        for (size_t t = 0; t < ntables; t++) {
            size_t a = mrc_table_lower(tables[t], part_lo(p, j.nparts));
            size_t b = p + 1 == j.nparts ? tables[t]->used
                                         : mrc_table_lower(tables[t], part_lo(p + 1, j.nparts));
            k += b - a;
        }
        j.start[p + 1] = j.start[p] + k;
    }
    rc = mrc_run_tasks(topo, pl, walk_task, &j, err);
    if (rc == 0) { /* close the gaps the repeated keys left */
        size_t w = 0;
        for (size_t p = 0; p < j.nparts; p++) {
            if (w != j.start[p])
                memmove(j.refs + w, j.refs + j.start[p], j.count[p] * sizeof *j.refs);
            w += j.count[p];
        }
        for (size_t t = 0; t < ntables; t++)
            mrc_table_drop_index(tables[t]);
        *refs = j.refs;
        *n = w;
        j.refs = NULL;
    }
out:
    free(j.start);
    free(j.count);
    free(j.refs);
    return rc;
}
