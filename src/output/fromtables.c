/* fromtables.c - the result of a lone rank straight from its thread tables, with no serialized
 * copy: one ref per distinct key pointing at its record in a table's arena. One table: a scan of
 * its arena. Several: frozen, then the keys that several tables hold are found by a merge of the
 * indexes' tags by hash sub-range on the threads; such a key's summed count is written into one
 * of its records and its other records are marked dropped in a bitmap per table. The indexes
 * are given back, then each arena is scanned for its records not dropped. A key in one table
 * is not read before that scan (30 M distinct keys, 2 threads: a walk that read every key's
 * record took 0.9-1.3 s, this one 0.4-0.5), and the refs come out in arena order, so the sort
 * reads the records in memory order (refs taken in hash order made its first passes random
 * reads). */
#include <stdatomic.h>
#include <stdint.h>
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
    uint64_t **dropped;       /* ntables: a bit per 8 arena bytes, set at a record dropped */
    _Atomic size_t *ndropped; /* ntables: how many */
    mrc_out_ref *refs;
    size_t *start; /* ntables + 1: each table's region in refs */
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

/* A walk thread's drops: counted per table on the thread (one shared counter per table made
 * the threads fight over its line), and marked in the table's bitmap DROP_AHEAD drops after
 * the mark's word was prefetched (the words are as random as the records, and a mark set at
 * once waited for its cache miss). A record's count cannot be the mark: 0 is a valid count
 * (an ngram row's match_count). */
#define DROP_AHEAD 16

typedef struct dropper {
    const refs_job *j;
    size_t *n; /* ntables */
    size_t marks;
    uint64_t *word[DROP_AHEAD];
    uint64_t mask[DROP_AHEAD];
} dropper;

static void mark(uint64_t *word, uint64_t mask)
{
    /* parts are hash ranges, so neighbours in an arena belong to any part: words are shared */
    __atomic_fetch_or(word, mask, __ATOMIC_RELAXED);
}

static void drop(void *arg, size_t t, mrc_rec *rec)
{
    dropper *d = arg;
    size_t bit = (size_t)((const unsigned char *)rec - d->j->tables[t]->arena) / 8;
    uint64_t *word = &d->j->dropped[t][bit / 64];
    __builtin_prefetch(word, 1);
    size_t i = d->marks++ % DROP_AHEAD;
    if (d->marks > DROP_AHEAD) mark(d->word[i], d->mask[i]);
    d->word[i] = word;
    d->mask[i] = (uint64_t)1 << (bit % 64);
    d->n[t]++;
}

static int walk_task(size_t ti, void *arg, atomic_int *failed, mrc_err *err)
{
    refs_job *j = arg;
    dropper d = {.j = j, .n = calloc(j->ntables, sizeof *d.n)};
    if (d.n == NULL) return mrc_err_set(err, MRC_ENOMEM, "output: out of memory");
    int rc = 0;
    for (size_t p = ti; p < j->nparts && rc == 0 && !atomic_load(failed); p += j->nthreads)
        rc = mrc_table_walk_ties(j->tables, j->ntables, part_lo(p, j->nparts),
                                 part_hi(p, j->nparts), drop, &d, err);
    for (size_t i = 0; i < d.marks && i < DROP_AHEAD; i++)
        mark(d.word[i], d.mask[i]);
    for (size_t t = 0; t < j->ntables; t++)
        atomic_fetch_add_explicit(&j->ndropped[t], d.n[t], memory_order_relaxed);
    free(d.n);
    return rc;
}

static size_t dropped_words(const mrc_table *t)
{
    return t->arena_len / 8 / 64 + 1;
}

typedef struct scan {
    mrc_out_ref *refs;
    size_t n, cap;
    const uint64_t *dropped; /* NULL: none */
    const unsigned char *arena;
} scan;

static void scan_rec(const mrc_rec *r, void *arg)
{
    scan *s = arg;
    if (s->dropped != NULL) {
        size_t bit = (size_t)((const unsigned char *)r - s->arena) / 8;
        if (s->dropped[bit / 64] >> (bit % 64) & 1) return;
    }
    if (s->n < s->cap) s->refs[s->n].rec = (const unsigned char *)r;
    s->n++;
}

/* Table ti's records not dropped, in arena order, into its region. */
static int collect_task(size_t ti, void *arg, atomic_int *failed, mrc_err *err)
{
    (void)failed;
    refs_job *j = arg;
    for (size_t t = ti; t < j->ntables; t += j->nthreads) {
        const mrc_table *tab = j->tables[t];
        size_t want = j->start[t + 1] - j->start[t];
        scan s = {j->refs + j->start[t], 0, want, j->dropped[t], tab->arena};
        mrc_table_each(tab, scan_rec, &s);
        if (s.n != want) /* the arena and the index disagree: never so for a valid table */
            return mrc_err_set(err, MRC_EINVAL, "output: table %zu holds %zu records, not %zu", t,
                               s.n, want);
    }
    return 0;
}

int mrc_output_refs_from_tables(mrc_table *const *tables, size_t ntables, mrc_topo *topo,
                                const mrc_placement *pl, mrc_out_ref **refs, size_t *n,
                                bool *in_table, mrc_err *err)
{
    *refs = NULL;
    *n = 0;
    *in_table = false;
    if (ntables == 0) return 0;
    if (ntables == 1) { /* one table: every record is a distinct key already */
        size_t total = tables[0]->used, bytes = (total + 1) * sizeof **refs;
        /* the refs take the index's place: its pages, not fresh ones */
        scan s = {mrc_table_index_as_buffer(tables[0], bytes), 0, total, NULL, NULL};
        *in_table = s.refs != NULL;
        if (s.refs == NULL) {
            mrc_table_drop_index(tables[0]);
            s.refs = malloc(bytes);
            if (s.refs == NULL) return mrc_err_set(err, MRC_ENOMEM, "output: out of memory");
            mrc_advise_huge(s.refs, bytes); /* the sort permutes them */
        }
        mrc_table_each(tables[0], scan_rec, &s);
        if (s.n != total) {
            if (!*in_table) free(s.refs);
            *in_table = false;
            return mrc_err_set(err, MRC_EINVAL, "output: the table holds %zu records, not %zu", s.n,
                               total);
        }
        *refs = s.refs;
        *n = s.n;
        return 0;
    }
    refs_job j = {.tables = tables, .ntables = ntables, .nthreads = pl->nthreads};
    j.nparts = pl->nthreads * PARTS_PER_THREAD;
    int rc = mrc_run_tasks(topo, pl, freeze_task, &j, err);
    if (rc != 0) return rc;
    j.dropped = calloc(ntables, sizeof *j.dropped);
    j.ndropped = calloc(ntables, sizeof *j.ndropped);
    j.start = calloc(ntables + 1, sizeof *j.start);
    if (j.dropped == NULL || j.ndropped == NULL || j.start == NULL) {
        rc = mrc_err_set(err, MRC_ENOMEM, "output: out of memory");
        goto out;
    }
    for (size_t t = 0; t < ntables; t++) { /* calloc'd: the pages no drop touches stay unmapped */
        j.dropped[t] = calloc(dropped_words(tables[t]), sizeof *j.dropped[t]);
        if (j.dropped[t] == NULL) {
            rc = mrc_err_set(err, MRC_ENOMEM, "output: out of memory");
            goto out;
        }
    }
    rc = mrc_run_tasks(topo, pl, walk_task, &j, err);
    if (rc != 0) goto out;
    for (size_t t = 0; t < ntables; t++) { /* the indexes go before the refs take memory */
        size_t used = tables[t]->used;
        mrc_table_drop_index(tables[t]);
        j.start[t + 1] = j.start[t] + used - atomic_load(&j.ndropped[t]);
    }
    j.refs = malloc((j.start[ntables] + 1) * sizeof *j.refs);
    if (j.refs == NULL) {
        rc = mrc_err_set(err, MRC_ENOMEM, "output: out of memory");
        goto out;
    }
    mrc_advise_huge(j.refs, (j.start[ntables] + 1) * sizeof *j.refs); /* the sort permutes them */
    rc = mrc_run_tasks(topo, pl, collect_task, &j, err);
    if (rc == 0) {
        *refs = j.refs;
        *n = j.start[ntables];
        j.refs = NULL;
    }
out:
    for (size_t t = 0; j.dropped != NULL && t < ntables; t++)
        free(j.dropped[t]);
    free(j.dropped);
    free((void *)j.ndropped);
    free(j.start);
    free(j.refs);
    return rc;
}
