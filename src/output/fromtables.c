/* fromtables.c - the result of a lone rank straight from its thread tables, with no serialized
 * copy: one ref per distinct key pointing at its record in a table's arena. One table: a scan of
 * its arena. Several: frozen, then merged by hash sub-range on the threads, a key's summed count
 * written back into the first table's record that holds it and that record marked chosen; the
 * indexes are given back, then each arena is scanned for its chosen records. The refs come out
 * in arena order, as with one table, so the sort reads the records in memory order (refs taken
 * in hash order made its first passes random reads: 30 M keys, 2 threads, 8% of the run in the
 * sort's classify alone). */
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
    uint64_t **chosen; /* ntables: a bit per 8 arena bytes, set at the record a key's total is in */
    size_t *by_arena;  /* ntables: the tables in the order of their arenas' addresses */
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

/* The table whose arena holds rec: the last arena that starts at or before it. */
static size_t table_of(const refs_job *j, const mrc_rec *rec)
{
    uintptr_t p = (uintptr_t)rec;   /* addresses as integers: the arenas are distinct objects */
    size_t lo = 0, hi = j->ntables; /* by_arena[lo] starts at or before p; by_arena[hi] after */
    while (hi - lo > 1) {
        size_t mid = lo + (hi - lo) / 2;
        if ((uintptr_t)j->tables[j->by_arena[mid]]->arena <= p)
            lo = mid;
        else
            hi = mid;
    }
    return j->by_arena[lo];
}

/* A walk part's marks, set CHOOSE_AHEAD records after their word was prefetched: the bitmap's
 * words are as random as the records, and a mark set at once waited for its cache miss (30 M
 * keys, 2 threads: 15% of the run). */
#define CHOOSE_AHEAD 16

typedef struct chooser {
    const refs_job *j;
    size_t n;
    uint64_t *word[CHOOSE_AHEAD];
    uint64_t mask[CHOOSE_AHEAD];
} chooser;

static void mark(uint64_t *word, uint64_t mask)
{
    /* parts are hash ranges, so neighbours in an arena belong to any part: words are shared */
    __atomic_fetch_or(word, mask, __ATOMIC_RELAXED);
}

static int choose(void *arg, mrc_rec *rec, uint64_t count, mrc_err *err)
{
    (void)err;
    chooser *c = arg;
    rec->count = count; /* the key's total, in the record the ref will point at */
    size_t t = table_of(c->j, rec);
    size_t bit = (size_t)((const unsigned char *)rec - c->j->tables[t]->arena) / 8;
    uint64_t *word = &c->j->chosen[t][bit / 64];
    __builtin_prefetch(word, 1);
    size_t i = c->n++ % CHOOSE_AHEAD;
    if (c->n > CHOOSE_AHEAD) mark(c->word[i], c->mask[i]);
    c->word[i] = word;
    c->mask[i] = (uint64_t)1 << (bit % 64);
    return 0;
}

static int walk_task(size_t ti, void *arg, atomic_int *failed, mrc_err *err)
{
    refs_job *j = arg;
    for (size_t p = ti; p < j->nparts && !atomic_load(failed); p += j->nthreads) {
        chooser c = {.j = j};
        int rc = mrc_table_walk(j->tables, j->ntables, part_lo(p, j->nparts), part_hi(p, j->nparts),
                                choose, &c, err);
        if (rc != 0) return rc;
        for (size_t i = 0; i < c.n && i < CHOOSE_AHEAD; i++)
            mark(c.word[i], c.mask[i]);
    }
    return 0;
}

static size_t chosen_words(const mrc_table *t)
{
    return t->arena_len / 8 / 64 + 1;
}

/* Table ti's chosen records, in arena order, into its region. */
static int collect_task(size_t ti, void *arg, atomic_int *failed, mrc_err *err)
{
    (void)failed;
    (void)err;
    refs_job *j = arg;
    for (size_t t = ti; t < j->ntables; t += j->nthreads) {
        const uint64_t *bits = j->chosen[t];
        const unsigned char *arena = j->tables[t]->arena;
        mrc_out_ref *at = j->refs + j->start[t];
        for (size_t w = 0, nw = chosen_words(j->tables[t]); w < nw; w++)
            for (uint64_t b = bits[w]; b != 0; b &= b - 1)
                (at++)->rec = arena + (w * 64 + (size_t)__builtin_ctzll(b)) * 8;
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
    j.chosen = calloc(ntables, sizeof *j.chosen);
    j.start = calloc(ntables + 1, sizeof *j.start);
    j.by_arena = malloc(ntables * sizeof *j.by_arena);
    if (j.chosen == NULL || j.start == NULL || j.by_arena == NULL) {
        rc = mrc_err_set(err, MRC_ENOMEM, "output: out of memory");
        goto out;
    }
    for (size_t t = 0; t < ntables; t++) { /* insertion sort: one table per thread */
        size_t i = t;
        for (; i > 0 && (uintptr_t)tables[j.by_arena[i - 1]]->arena > (uintptr_t)tables[t]->arena;
             i--)
            j.by_arena[i] = j.by_arena[i - 1];
        j.by_arena[i] = t;
    }
    for (size_t t = 0; t < ntables; t++) {
        j.chosen[t] = calloc(chosen_words(tables[t]), sizeof *j.chosen[t]);
        if (j.chosen[t] == NULL) {
            rc = mrc_err_set(err, MRC_ENOMEM, "output: out of memory");
            goto out;
        }
    }
    rc = mrc_run_tasks(topo, pl, walk_task, &j, err);
    if (rc != 0) goto out;
    for (size_t t = 0; t < ntables; t++) { /* the indexes go before the refs take memory */
        mrc_table_drop_index(tables[t]);
        size_t k = 0;
        for (size_t w = 0, nw = chosen_words(tables[t]); w < nw; w++)
            k += (size_t)__builtin_popcountll(j.chosen[t][w]);
        j.start[t + 1] = j.start[t] + k;
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
    for (size_t t = 0; j.chosen != NULL && t < ntables; t++)
        free(j.chosen[t]);
    free(j.chosen);
    free(j.by_arena);
    free(j.start);
    free(j.refs);
    return rc;
}
