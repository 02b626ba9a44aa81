/* flow.c - the run after the map, on every rank: where the tables go (the combine), how the
 * rank's share of the result is sorted, and who writes it. Four ways, one per situation:
 * - one rank, nothing spilled: refs straight into the thread tables, sorted, written in parallel;
 * - one rank, spilled: every run merged in hash order, sorted with bounded memory;
 * - several ranks, nothing spilled: the local merge, MPI_Reduce or the shuffle, each rank's range
 *   sorted where it is;
 * - several ranks, spilled on any: the bounded shuffle of runs, each owner's range sorted with
 *   bounded memory.
 * Then, after a shuffle in memory, the ranks cut the output order into ranges (a sample sort)
 * and each rank writes its lines into the result at their offset (a directory all ranks see),
 * or rank 0 writes its range then appends every other rank's lines; else rank 0 merges one
 * stream per rank into the result; or each rank writes its part. It decides which way; the
 * work is in the stages it calls. */
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "mrcount/output.h"
#include "mrcount/tmpfile.h"
#include "run.h"
#include "signals.h"

#define STREAM_BLOCK ((size_t)1 << 20) /* bytes an owner sends rank 0 per block */
#define STREAM_BYTES ((size_t)4 << 20) /* bytes of lines an owner sends rank 0 per block */
#define ROUND_MAX ((size_t)8 << 20)    /* bytes of one chunk of the spilled shuffle */
#define ROUND_MIN ((size_t)64 << 10)
#define READ_BUF_MAX ((size_t)1 << 20) /* a run reader's block */
#define READ_BUF_MIN ((size_t)64 << 10)
#define SEGMENTS_PER_THREAD 4 /* a spilled result sorted on the rank's threads: segments a thread */

void mrc_run_step(const run *r, const char *fmt, ...)
{
    if (!r->progress || r->d.rank != 0) return;
    char what[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    fprintf(stderr, "mrcount: %.1f s: %s\n", mrc_now() - r->t_start, what);
    fflush(stderr);
}

#define STEP_EVERY_S 10.0 /* seconds between two progress lines within a step */

/* --progress within a step (the sort that spills, the write): a line every STEP_EVERY_S, or at
 * every call with the test hook MRC_TEST_STEP_EACH. total: the step's lines (the write). */
typedef struct step_clock {
    const run *r;
    uint64_t total;
    double every, next;
} step_clock;

static step_clock step_clock_start(const run *r, uint64_t total)
{
    double every = r->knobs.step_each ? 0.0 : STEP_EVERY_S;
    return (step_clock){r, total, every, mrc_now() + every};
}

/* Whether a line is due now (the next one then comes `every` later). */
static bool step_due(step_clock *c)
{
    double now = mrc_now();
    if (now < c->next) return false;
    c->next = now + c->every;
    return true;
}

static void lines_written(void *arg, uint64_t lines)
{
    step_clock *c = arg;
    if (!step_due(c)) return;
    mrc_run_step(c->r, "%llu of %llu lines written (%.0f%%)", (unsigned long long)lines,
                 (unsigned long long)c->total,
                 c->total ? 100.0 * (double)lines / (double)c->total : 100.0);
}

/* Rank 0's own keys sorted so far (several ranks: its share). */
static void keys_sorted(void *arg, uint64_t records, uint64_t runs)
{
    step_clock *c = arg;
    if (!step_due(c)) return;
    const char *who = c->r->d.size > 1 ? "rank 0: " : "";
    if (runs == 0)
        mrc_run_step(c->r, "%s%llu keys sorted", who, (unsigned long long)records);
    else
        mrc_run_step(c->r, "%s%llu keys sorted so far, %llu run%s in %s", who,
                     (unsigned long long)records, (unsigned long long)runs, mrc_plural(runs),
                     c->r->o.tmp_dir);
}

/* The memory this rank may use (0: no bound known). */
static uint64_t budget(const run *r)
{
    return r->mem.limit == MRC_MEMLIMIT_UNLIMITED ? 0 : r->mem.limit;
}

uint64_t mrc_run_table_budget(const run *r)
{
    /* One rank: the tables' arenas become the result's records and refs (16 bytes a key) take
     * the index's place. Several: the local merge's serialized copy (about half the tables)
     * stands beside them. */
    uint64_t b = budget(r);
    return r->d.size == 1 ? b / 20 * 17 : b / 10 * 6;
}

uint64_t mrc_run_decoder_limit(const run *r)
{
    uint64_t b = budget(r), t = mrc_run_table_budget(r);
    if (b == 0) return 0;
    uint64_t per = (b > t ? b - t : 0) / (r->pl.nthreads ? r->pl.nthreads : 1);
    return per > MRC_DECODER_MIN ? per : MRC_DECODER_MIN;
}

/* Spilled: the tables' last contents become runs too, so all of the rank's data is in runs and
 * the memory goes to the next steps. */
static int tables_to_runs(run *r, mrc_err *err)
{
    mrc_map_output *m = &r->mapped;
    mrc_run_file *runs = realloc(m->runs, (m->nruns + m->ntables + 1) * sizeof *runs);
    if (runs == NULL) return mrc_err_set(err, MRC_ENOMEM, "spill: out of memory");
    m->runs = runs;
    for (size_t t = 0; t < m->ntables; t++) {
        if (m->tables[t].used == 0) continue;
        int rc = mrc_table_write_run(&m->tables[t], r->o.tmp_dir, &m->runs[m->nruns], err);
        if (rc != 0) return rc;
        r->st.spill_bytes += m->runs[m->nruns].bytes;
        r->st.spill_runs++;
        m->nruns++;
        mrc_table_free(&m->tables[t]);
    }
    return 0;
}

static int agree_cb(void *arg, int status)
{
    return mrc_run_agree(arg, status);
}

static int refs_from_tables(run *r, mrc_err *err);

/* After the map, every rank: agree whether any spilled; the local merge of the situation (its
 * own phase in the metrics and for the fault tests); then the combine. */
int mrc_run_combine(run *r)
{
    uint64_t spilled = r->mapped.nruns > 0;
    int rc = mrc_mpi_max_u64(&r->d, &spilled, 1, &r->err);
    if (mrc_run_agree(r, rc) != 0) return 1;
    r->spilled = spilled != 0;
    if (r->spilled && r->d.size == 1)
        mrc_run_step(r, "merging the tables with %zu spilled runs (%.1f MB)", r->mapped.nruns,
                     (double)r->st.spill_bytes / 1e6);
    else if (r->spilled)
        mrc_run_step(r, "combining the spilled runs of %d ranks", r->d.size);
    else if (r->d.size > 1)
        mrc_run_step(r, "combining the tables of %d ranks", r->d.size);
    double tm = mrc_now();
    if (r->spilled) {
        rc = tables_to_runs(r, &r->err);
        /* no more runs than a merge can open: thousands of spills or checkpoints are merged
         * in groups first */
        uint64_t b = budget(r);
        size_t fan = r->knobs.fan_in ? r->knobs.fan_in : mrc_runs_fan_in();
        size_t cbuf = b ? (size_t)(b / 4 / (fan + 1)) : READ_BUF_MAX;
        cbuf = cbuf < READ_BUF_MIN ? READ_BUF_MIN : cbuf > READ_BUF_MAX ? READ_BUF_MAX : cbuf;
        /* the runs' longest records, held by their readers on every thread (sort_runs()),
         * within a quarter of the limit */
        uint64_t hold = b / 4 / (r->pl.nthreads > 1 ? r->pl.nthreads : 1);
        if (rc == 0)
            rc = mrc_runs_compact(r->mapped.runs, &r->mapped.nruns, fan, hold, r->o.tmp_dir, cbuf,
                                  NULL, &mrc_signal_flag, &r->err);
    } else if (r->d.size == 1) { /* refs straight into the tables */
        rc = refs_from_tables(r, &r->err);
    } else { /* one serialized table of the rank */
        mrc_table **tabs = malloc((r->mapped.ntables + 1) * sizeof *tabs);
        if (tabs == NULL) rc = mrc_err_set(&r->err, MRC_ENOMEM, "local merge: out of memory");
        for (size_t i = 0; tabs != NULL && i < r->mapped.ntables; i++)
            tabs[i] = &r->mapped.tables[i];
        mrc_merge_input in = {.tables = tabs, .ntables = r->mapped.ntables};
        if (rc == 0)
            rc = mrc_table_merge_parallel(&in, r->topo, &r->pl, &r->local, &r->local_len,
                                          &r->st.distinct, &r->err);
        free(tabs);
        mrc_map_output_free(&r->mapped);
        r->table_bytes = r->local_len;
    }
    r->phase[MRC_PHASE_LOCAL_MERGE] = mrc_now() - tm;
    if (mrc_run_end_phase(r, MRC_FP_LOCAL_MERGE, rc) != 0) return 1;

    double t0 = mrc_now();
    r->rss_before_combine = mrc_peak_rss_bytes();
    /* The combine's own peak needs the kernel's high-water mark reset, which also hides the
     * earlier peak from getrusage(), /usr/bin/time and every tool that reads VmHWM: only when
     * asked (bench/bench-combine.sh). Else combine_peak_rss is the peak so far. */
    r->rss_combine_start = r->knobs.rss_window ? mrc_rss_window_start() : mrc_rss_now();
    if (r->d.size == 1) { /* nothing crosses ranks: the strategy asked is the one reported */
        r->comb.shuffle = r->o.reduce == MRC_REDUCE_SHUFFLE || r->o.output_per_rank != NULL;
    } else if (r->spilled) { /* the bounded shuffle of runs (a reduce asked for falls back) */
        r->comb.fell_back = r->o.reduce == MRC_REDUCE_REDUCE;
        if (r->comb.fell_back) r->comb.fell_back_why = "a rank spilled its tables to disk";
        uint64_t b = budget(r);
        size_t round = b ? (size_t)(b / 16 / (uint64_t)r->d.size) : ROUND_MAX;
        round = round < ROUND_MIN ? ROUND_MIN : round > ROUND_MAX ? ROUND_MAX : round;
        size_t nr = r->mapped.nruns ? r->mapped.nruns : 1;
        size_t rbuf = b ? (size_t)(b / 8 / nr) : READ_BUF_MAX;
        rbuf = rbuf < READ_BUF_MIN ? READ_BUF_MIN : rbuf > READ_BUF_MAX ? READ_BUF_MAX : rbuf;
        mrc_spread_opts so = {.round_bytes = round,
                              .read_buf = rbuf,
                              .mem_budget = b ? b / 2 : UINT64_MAX,
                              .tmp_dir = r->o.tmp_dir,
                              .stop = &mrc_signal_flag};
        mrc_spread_stats ss;
        rc = mrc_mpi_shuffle_spilled(&r->d, NULL, 0, r->mapped.runs, r->mapped.nruns, &so,
                                     &r->store, &ss, &r->err);
        r->comb.shuffle = true;
        r->comb.range_len = ss.received + ss.kept;
        mrc_map_output_free(&r->mapped); /* sent: the runs are no longer needed */
    } else {                             /* MPI_Reduce or the shuffle of the serialized tables */
        mrc_combine_opts co = {.strategy = r->o.reduce == MRC_REDUCE_SHUFFLE  ? MRC_COMBINE_SHUFFLE
                                           : r->o.reduce == MRC_REDUCE_REDUCE ? MRC_COMBINE_REDUCE
                                                                              : MRC_COMBINE_AUTO,
                               .need_ranges = r->o.output_per_rank != NULL,
                               .mem_share = budget(r),
                               .topo = r->topo,
                               .pl = &r->pl,
                               .agree = agree_cb,
                               .agree_arg = r,
                               .test_reduce_cap = r->knobs.reduce_cap,
                               .test_reduce_block = r->knobs.reduce_block,
                               .test_shuffle_round = r->knobs.shuffle_round};
        rc =
            mrc_mpi_combine(&r->d, &r->local, r->local_len, r->st.distinct, &co, &r->comb, &r->err);
    }
    r->phase[MRC_PHASE_COMBINE] = mrc_now() - t0;
    r->rss_combine = mrc_rss_window_peak();
    if (r->comb.agreed_failure) return 1;
    if ((rc = mrc_run_end_phase(r, MRC_FP_COMBINE, rc)) != 0) return rc;
    if (r->comb.fell_back && r->d.rank == 0) /* asked for, so said (the metrics' reduce_fallback) */
        fprintf(stderr, "mrcount: note: --reduce reduce ran as the shuffle: %s\n",
                r->comb.fell_back_why);
    return 0;
}

/* ---- this rank's share of the result, sorted ---- */

/* One rank, nothing spilled: one ref per distinct key into the thread tables. */
static int refs_from_tables(run *r, mrc_err *err)
{
    mrc_out_ref *refs = NULL;
    size_t n = 0;
    mrc_table **tabs = malloc((r->mapped.ntables + 1) * sizeof *tabs);
    if (tabs == NULL) return mrc_err_set(err, MRC_ENOMEM, "local merge: out of memory");
    for (size_t i = 0; i < r->mapped.ntables; i++)
        tabs[i] = &r->mapped.tables[i];
    int rc = mrc_output_refs_from_tables(tabs, r->mapped.ntables, r->topo, &r->pl, &refs, &n,
                                         &r->refs_in_table, err);
    free(tabs);
    r->sorted_refs = refs;
    r->distinct_mine = n;
    r->st.distinct = n;
    return rc;
}

/* --min-count: the refs of keys below it go (each rank holds its keys' totals: exact). K = 1
 * drops something too: a tsv or ngram key's total may be 0. */
static size_t drop_below(run *r, mrc_out_ref *refs, size_t n)
{
    uint64_t k = r->o.min_count;
    if (k == 0) return n;
    size_t w = 0;
    for (size_t i = 0; i < n; i++)
        if (mrc_rec_count(refs[i].rec) >= k) refs[w++] = refs[i];
    r->dropped_mine += n - w;
    return w;
}

static int sort_refs(run *r, mrc_out_ref *refs, size_t n, mrc_err *err)
{
    r->sorted_refs = refs;
    r->distinct_mine = n;
    n = drop_below(r, refs, n);
    enum mrc_order order = r->o.out.sort == MRC_SORT_KEY ? MRC_ORDER_KEY : MRC_ORDER_COUNT;
    return mrc_output_sort(refs, n, order, r->o.out.top, r->topo, &r->pl, &mrc_signal_flag,
                           &r->sorted, err);
}

/* Counts what passes on its way into the external sort (the rank's distinct keys); a cache line
 * each, as several threads count at once (a stream each: one line shared cost the fill 25%). */
typedef struct counting {
    _Alignas(64) mrc_source base;
    mrc_source *in;
    uint64_t n, min, dropped;
} counting;

/* Counts the keys; --min-count leaves out those below it. */
static int counting_next(mrc_source *s, mrc_rec_view *v, mrc_err *err)
{
    counting *c = (counting *)(void *)s;
    for (;;) {
        int rc = c->in->next(c->in, v, err);
        if (rc <= 0) return rc;
        c->n++;
        if (v->count >= c->min) return rc;
        c->dropped++;
    }
}

/* The rank's data in hash order (runs, or what the shuffle received), sorted with bounded
 * memory: n streams that share no key (hash ranges: each read by a thread), closed here. */
static int sort_stream(run *r, mrc_source **in, size_t n, uint64_t held, mrc_err *err)
{
    uint64_t b = budget(r);
    /* spread: the ranges' exchange and merge later hold their store and readers beside the
     * sorted share's kept buffer and run readers (exchange_ranges(), merge_range_at()) */
    uint64_t reserve = r->spread ? b / 8 : 0;
    counting *c = aligned_alloc(_Alignof(counting), n * sizeof *c);
    mrc_source **cs = calloc(n, sizeof *cs);
    int rc = c == NULL || cs == NULL ? mrc_err_set(err, MRC_ENOMEM, "output: out of memory") : 0;
    for (size_t i = 0; rc == 0 && i < n; i++) {
        c[i] = (counting){{counting_next, NULL}, in[i], 0, r->o.min_count, 0};
        cs[i] = &c[i].base;
    }
    mrc_sort_stream_opts so = {.order =
                                   r->o.out.sort == MRC_SORT_KEY ? MRC_ORDER_KEY : MRC_ORDER_COUNT,
                               .budget = b == 0                        ? UINT64_MAX
                                         : b > held + b / 10 + reserve ? b - held - b / 10 - reserve
                                                                       : b / 10,
                               .tmp_dir = r->o.tmp_dir,
                               .top = r->o.out.top,
                               .topo = r->topo,
                               .pl = &r->pl,
                               .fan_in = r->knobs.fan_in,
                               .stop = &mrc_signal_flag};
    /* cut for the threads to share: they write the sorted buffers' runs, and the lines when
     * this rank writes them (else the segments go to rank 0 one after another) */
    if (r->pl.nthreads > 1) so.segments = SEGMENTS_PER_THREAD * r->pl.nthreads;
    if (r->spread) {
        so.split = r->cut.split;
        so.nsplit = r->cut.nsplit;
    }
    step_clock sc = step_clock_start(r, 0);
    if (r->progress && r->d.rank == 0) {
        so.sorted = keys_sorted;
        so.sorted_arg = &sc;
    }
    if (rc == 0) rc = mrc_output_sort_streams(cs, n, &so, &r->ext, err);
    r->distinct_mine = r->dropped_mine = 0;
    for (size_t i = 0; i < n; i++) {
        in[i]->close(in[i]);
        if (c != NULL) {
            r->distinct_mine += c[i].n;
            r->dropped_mine += c[i].dropped;
        }
    }
    free(cs);
    free(c);
    if (rc == 0) r->have_ext = true;
    return rc;
}

/* One rank, spilled: the merge of every run's records in [lo, hi] of the hash (each read in
 * blocks of rbuf bytes). @return the stream, or NULL with err filled. */
static mrc_source *runs_range(run *r, uint64_t lo, uint64_t hi, size_t rbuf, mrc_err *err)
{
    mrc_source **src = calloc(r->mapped.nruns + 1, sizeof *src);
    if (src == NULL) {
        mrc_err_set(err, MRC_ENOMEM, "output: out of memory");
        return NULL;
    }
    size_t n = 0;
    int rc = 0;
    for (size_t i = 0; i < r->mapped.nruns && rc == 0; i++)
        if ((src[n] = mrc_run_file_source(&r->mapped.runs[i], lo, hi, rbuf, err)) == NULL)
            rc = err->code ? err->code : MRC_ENOMEM;
        else
            n++;
    mrc_source *m = NULL;
    if (rc == 0)
        m = mrc_merge_source_open(src, n, MRC_ORDER_HASH, err);
    else
        for (size_t i = 0; i < n; i++)
            src[i]->close(src[i]);
    free(src);
    return m;
}

/* Several ranks, in memory, after the shuffle: whether every rank's share becomes a range of
 * the output order (each rank then formats its own lines, rank 0 appends them); every rank
 * decides alike. Not for --top (rank 0 merges only K lines of the owners' pruned shares),
 * --output-per-rank (parts are hash ranges) or a reduce (rank 0 holds it all); the ranks
 * decline it together when one would lack the memory (sort_range()). Else rank 0 merges the
 * owners' sorted streams. */
static void choose_ranges(run *r)
{
    r->ranged = r->d.size > 1 && !r->spilled && r->comb.shuffle && r->o.out.top == 0 &&
                r->o.output_per_rank == NULL && !r->knobs.output_merge;
    r->spread = r->d.size > 1 && r->spilled && r->o.out.top == 0 && r->o.output_per_rank == NULL &&
                !r->knobs.output_merge;
}

static int sort_mine(run *r, mrc_err *err);

/* This rank's range of the output order: the ranks exchange their records (ranges.c), each
 * sorts what it got. The hash range's table keeps this rank's own records, the pages of those
 * sent go back. */
static int sort_range(run *r, mrc_err *err)
{
    mrc_ser_header h;
    int rc = r->comb.table != NULL
                 ? mrc_output_check_table(r->comb.table, r->comb.table_len, "result", &h, err)
                 : 0;
    if (rc != 0) { /* it still takes part, with nothing: the exchange is collective */
        free(r->comb.table);
        r->comb.table = NULL;
    }
    mrc_ranges_opts ro = {.order = r->o.out.sort == MRC_SORT_KEY ? MRC_ORDER_KEY : MRC_ORDER_COUNT,
                          .min_count = r->o.min_count,
                          .budget = budget(r),
                          .test_round = r->knobs.shuffle_round,
                          .topo = r->topo,
                          .pl = &r->pl,
                          .test_slice_min = r->knobs.slice_min};
    mrc_err later = {0};
    double tx = mrc_now();
    int rc2 = mrc_mpi_output_ranges(&r->d, &r->comb.table, &ro, &r->ranges, rc ? &later : err);
    r->out_exchange = mrc_now() - tx;
    if (rc == 0) rc = rc2;
    if (r->ranges.declined) { /* every rank (also one that failed: the ranks must agree on
                               * ranged): rank 0 merges the sorted hash ranges */
        r->ranged = false;
        return rc != 0 ? rc : sort_mine(r, err);
    }
    r->distinct_mine = r->ranges.kept + r->ranges.dropped;
    r->dropped_mine = r->ranges.dropped;
    mrc_out_ref *refs = NULL;
    size_t n = 0;
    if (rc == 0) {
        const unsigned char *segs[2] = {r->ranges.recs, r->ranges.recv};
        size_t lens[2] = {r->ranges.len, r->ranges.recv_len};
        rc = mrc_output_refs_from_records(segs, lens, 2, r->ranges.n, "result", &refs, &n,
                                          &r->range_bytes, err);
    }
    r->sorted_refs = refs;
    if (rc != 0) return rc;
    return mrc_output_sort(refs, n, ro.order, 0, r->topo, &r->pl, &mrc_signal_flag, &r->sorted,
                           err);
}

/* One rank, spilled: its runs, a hash range per thread, sorted with bounded memory (runs
 * without a limit: checkpoints). */
static int sort_runs(run *r, mrc_err *err)
{
    uint64_t b = budget(r);
    /* without a bound the sort reads it all into one buffer, on one thread */
    size_t t = r->pl.nthreads > 1 && b != 0 ? r->pl.nthreads : 1;
    size_t nr = r->mapped.nruns ? r->mapped.nruns : 1;
    size_t rbuf = b ? (size_t)(b / 4 / nr / t) : READ_BUF_MAX;
    rbuf = rbuf < READ_BUF_MIN ? READ_BUF_MIN : rbuf > READ_BUF_MAX ? READ_BUF_MAX : rbuf;
    mrc_source **ranges = calloc(t, sizeof *ranges);
    if (ranges == NULL) return mrc_err_set(err, MRC_ENOMEM, "output: out of memory");
    size_t n = 0;
    for (; n < t; n++) {
        uint64_t lo = mrc_hash_range_start((uint32_t)n, (uint32_t)t);
        uint64_t hi =
            n + 1 < t ? mrc_hash_range_start((uint32_t)n + 1, (uint32_t)t) - 1 : UINT64_MAX;
        if ((ranges[n] = runs_range(r, lo, hi, rbuf, err)) == NULL) break;
    }
    /* Beside the read buffers, per thread: each reader's longest record, the merge's copy of
     * the record it returned, and the one a sorted buffer takes past its share (keys of
     * megabytes: 20 MB keys passed a 512 MiB cgroup by these) */
    uint64_t held = (uint64_t)(t * nr) * rbuf, most = 0;
    for (size_t i = 0; i < r->mapped.nruns; i++) {
        uint64_t h = mrc_run_file_hold(&r->mapped.runs[i]);
        held += t * h;
        most = h > most ? h : most;
    }
    held += t * most;
    int rc = n == t ? sort_stream(r, ranges, n, held, err) : (err->code ? err->code : MRC_ENOMEM);
    if (n < t)
        for (size_t i = 0; i < n; i++)
            ranges[i]->close(ranges[i]);
    free(ranges);
    return rc;
}

/* ---- several ranks, spilled: the sorted shares cut alike, each range written by its rank ----
 * Every rank's share comes in hash order, so its first records are a sample of the output
 * order: the ranks agree on P x S - 1 splitters from them before the sort, which cuts every
 * rank's sorted runs at them (segments; S a rank's range, S = its threads). Range k of every
 * rank then travels to rank k in the shuffle's phases (mrc_mpi_exchange_ranges()), a segment
 * at a time, and each rank's threads merge a segment's P parts each into lines, written at
 * their offset in the result (as the ranged output of an in-memory result): no rank merges the
 * whole result. When the result cannot be shared (standard output, a node-local path) each
 * other rank merges its range into a temporary file that rank 0 then appends; when a rank's
 * runs lost their segments (a compaction), rank 0 merges every rank's share as before. */

/* Samples a rank draws per segment of its range: the ranges' sizes vary by about 1/sqrt of it
 * (1.76 M keys, --memory-limit 16M, np 2-3 x 1-2 threads, the largest rank's lines over the
 * mean: 1.04-1.10 with 32, 1.02-1.03 with 1024). */
#define CUT_SAMPLES 1024
#define CUT_SAMPLES_ALL 65536           /* samples of all ranks together, at most (but 16 a rank) */
#define CUT_SAMPLE_KEY 512              /* key bytes a sample keeps: a prefix cuts as well */
#define CUT_READ_MAX ((size_t)16 << 20) /* bytes of records read ahead for them, at most */

/* A stream whose first records were read ahead (the samples): they come again first. */
typedef struct replay {
    mrc_source base;
    mrc_source *in;
    unsigned char *buf; /* wire records */
    size_t len, pos;
} replay;

static int replay_next(mrc_source *s, mrc_rec_view *v, mrc_err *err)
{
    replay *p = (replay *)(void *)s;
    if (p->pos >= p->len) {
        if (p->buf != NULL) { /* given again: its memory goes (the last view is not read now) */
            free(p->buf);
            p->buf = NULL;
        }
        return p->in->next(p->in, v, err);
    }
    const unsigned char *rec = p->buf + p->pos;
    *v = (mrc_rec_view){0, mrc_rec_count(rec), mrc_rec_key(rec), mrc_rec_len(rec)};
    p->pos += MRC_REC_HEAD + (size_t)v->len;
    return 1;
}

static void replay_close(mrc_source *s)
{
    replay *p = (replay *)(void *)s;
    p->in->close(p->in);
    free(p->buf);
    free(p);
}

/* Up to `want` samples (records --min-count keeps, keys cut to CUT_SAMPLE_KEY) from the first
 * records of *in, which becomes a stream that gives them again. */
static int draw_cut_samples(run *r, mrc_source **in, size_t want, unsigned char **smp,
                            size_t *smp_len, uint64_t *ns, mrc_err *err)
{
    replay *p = calloc(1, sizeof *p);
    unsigned char *out = malloc(want * (MRC_REC_HEAD + CUT_SAMPLE_KEY));
    size_t cap = 0, w = 0;
    int got = 0;
    *ns = 0;
    if (p == NULL || out == NULL) got = -mrc_err_set(err, MRC_ENOMEM, "output: out of memory");
    mrc_rec_view v;
    while (got == 0 && *ns < want && p->len < CUT_READ_MAX &&
           (got = (*in)->next(*in, &v, err)) == 1) {
        got = 0;
        size_t need = MRC_REC_HEAD + (size_t)v.len;
        if (p->len + need > cap) {
            size_t c = 2 * cap > p->len + need ? 2 * cap : p->len + need + 4096;
            unsigned char *b = realloc(p->buf, c);
            if (b == NULL) {
                got = -mrc_err_set(err, MRC_ENOMEM, "output: out of memory");
                break;
            }
            p->buf = b;
            cap = c;
        }
        p->len += mrc_rec_put(p->buf + p->len, v.count, v.key, v.len);
        if (v.count < r->o.min_count) continue;
        w += mrc_rec_put(out + w, v.count, v.key, v.len < CUT_SAMPLE_KEY ? v.len : CUT_SAMPLE_KEY);
        (*ns)++;
    }
    if (got < 0) {
        if (p != NULL) free(p->buf);
        free(p);
        free(out);
        return err->code ? err->code : MRC_EIO;
    }
    p->base = (mrc_source){replay_next, replay_close};
    p->in = *in;
    *in = &p->base;
    *smp = out;
    *smp_len = w;
    return 0;
}

/* The splitters every rank cuts its sorted share at (r->cut; r->spread cleared on every rank
 * when they decline). in NULL: this rank failed already; it takes part. Collective. */
static int agree_cut(run *r, mrc_source **in, mrc_err *err)
{
    size_t P = (size_t)r->d.size, S = r->pl.nthreads > 1 ? r->pl.nthreads : 1;
    size_t want = CUT_SAMPLES * S, most = CUT_SAMPLES_ALL / P;
    uint64_t b = budget(r), fit = b / 16 / (MRC_REC_HEAD + CUT_SAMPLE_KEY); /* their buffer */
    if (b != 0 && most > fit) most = (size_t)fit;
    if (most < 16) most = 16;
    if (want > most) want = most;
    unsigned char *smp = NULL;
    size_t len = 0;
    uint64_t ns = 0;
    int rc = *in != NULL ? draw_cut_samples(r, in, want, &smp, &len, &ns, err) : 0;
    mrc_err quiet = {0};
    int rc2 =
        mrc_mpi_agree_splitters(&r->d, smp, len, ns, *in == NULL || rc != 0,
                                r->o.out.sort == MRC_SORT_KEY ? MRC_ORDER_KEY : MRC_ORDER_COUNT,
                                P * S, &r->cut, *in == NULL || rc != 0 ? &quiet : err);
    free(smp);
    r->spread = !r->cut.declined;
    r->seg_per_rank = S;
    return rc != 0 ? rc : rc2;
}

/* Several ranks, spilled and cut: whether every rank's share kept its segments (a compaction
 * drops them), and each segment's lines and bytes summed over the ranks: each range's lines
 * (r->ranges.lines), this rank's bytes and where each of its segments starts in them
 * (r->seg_off). failed: this rank has no share; it takes part. Collective; r->spread alike
 * everywhere. */
static int plan_spread(run *r, int failed, mrc_err *err)
{
    size_t P = (size_t)r->d.size, S = r->seg_per_rank, nsegs = r->cut.nsplit + 1;
    size_t me = (size_t)r->d.rank;
    uint64_t *v = calloc(2 * P * S, sizeof *v); /* every segment's lines, then bytes */
    uint64_t *lines = calloc(P, sizeof *lines), *off = calloc(S + 1, sizeof *off);
    uint64_t bad = v == NULL || lines == NULL || off == NULL || failed || !r->have_ext ||
                   r->ext.nsegs != nsegs;
    mrc_err quiet = {0};
    int rc = mrc_mpi_max_u64(&r->d, &bad, 1, failed ? &quiet : err);
    if (rc == 0 && !bad) {
        for (size_t k = 0; k < nsegs; k++) {
            v[k] = r->ext.seg_lines[k];
            v[P * S + k] = r->ext.seg_bytes[k];
        }
        rc = mrc_mpi_sum_u64(&r->d, v, 2 * P * S, err);
    }
    if (rc != 0 || bad) {
        free(v);
        free(lines);
        free(off);
        r->spread = false;
        return failed ? 0 : rc;
    }
    for (size_t k = 0; k < P * S; k++)
        lines[k / S] += v[k];
    for (size_t j = 0; j < S; j++)
        off[j + 1] = off[j] + v[P * S + me * S + j];
    free(v);
    r->range_bytes = off[S];
    free(r->ranges.lines);
    r->ranges.lines = lines;
    free(r->seg_off);
    r->seg_off = off;
    return 0;
}

/* Segments [k0, k0 + count) of this rank's sorted share (those that exist). */
static mrc_source *segs_open(run *r, size_t k0, size_t count, mrc_err *err)
{
    size_t n = r->ext.nsegs;
    k0 = k0 < n ? k0 : n;
    return mrc_output_sorted_result_segments(&r->ext, k0, count < n - k0 ? k0 + count : n, err);
}

/* Part j of range `dest` of this rank's sorted share: its segment dest S + j. */
static mrc_source *part_open(int dest, size_t j, void *arg, mrc_err *err)
{
    run *r = arg;
    return segs_open(r, (size_t)dest * r->seg_per_rank + j, 1, err);
}

/* Part i of what the exchange brought (r->store). */
static mrc_source *store_part_open(size_t i, void *arg, mrc_err *err)
{
    run *r = arg;
    enum mrc_order order = r->o.out.sort == MRC_SORT_KEY ? MRC_ORDER_KEY : MRC_ORDER_COUNT;
    return mrc_chunk_store_source(r->store, i, order, r->range_rbuf, err);
}

/* The read block of each of the P sources of a merge of this rank's range (`merges` at once):
 * the reserve's other half. */
static size_t range_read_buf(const run *r, size_t merges)
{
    uint64_t b = budget(r);
    size_t rbuf = b ? (size_t)(b / 16 / (uint64_t)r->d.size / merges) : READ_BUF_MAX;
    return rbuf < READ_BUF_MIN / 4 ? READ_BUF_MIN / 4 : rbuf > READ_BUF_MAX ? READ_BUF_MAX : rbuf;
}

/* Spread: every other rank's part of this rank's range comes into r->store, this rank's parts
 * of theirs go to them. Collective. */
static int exchange_ranges(run *r, mrc_err *err)
{
    double t = mrc_now();
    uint64_t b = budget(r);
    size_t round = b ? (size_t)(b / 16 / (uint64_t)r->d.size) : ROUND_MAX;
    round = round < ROUND_MIN ? ROUND_MIN : round > ROUND_MAX ? ROUND_MAX : round;
    /* beside the sorted share's kept buffer and run readers: half of what the sort left */
    mrc_spread_opts so = {.round_bytes = round,
                          .mem_budget = b ? b / 16 : UINT64_MAX,
                          .tmp_dir = r->o.tmp_dir,
                          .stop = &mrc_signal_flag,
                          .test_store_full = r->knobs.exchange_full != 0 &&
                                             r->knobs.exchange_full == (uint64_t)r->d.rank};
    mrc_spread_stats ss;
    int rc =
        mrc_mpi_exchange_ranges(&r->d, part_open, r, r->seg_per_rank, &so, &r->store, &ss, err);
    if (rc == 0 && ss.peer_failed) { /* that rank reports the cause */
        rc = mrc_err_set(err, MRC_EINTR, "output: another rank failed in the ranges' exchange");
        err->relayed = true;
    }
    r->out_exchange_late = mrc_now() - t;
    return rc;
}

/* Spread: the P parts of this rank's range (its own, and every other rank's from r->store).
 * @return 0 with *out (close_parts() it), or nonzero with err filled. */
static int open_parts(run *r, mrc_source ***out, mrc_err *err)
{
    size_t P = (size_t)r->d.size, me = (size_t)r->d.rank, S = r->seg_per_rank;
    r->range_rbuf = range_read_buf(r, 1);
    mrc_source **src = calloc(P, sizeof *src);
    int rc = src == NULL ? mrc_err_set(err, MRC_ENOMEM, "output: out of memory") : 0;
    for (size_t k = 0; rc == 0 && k < P; k++) { /* rank k's parts one after another */
        src[k] = k == me ? segs_open(r, me * S, S, err)
                         : mrc_chain_source_open(k * S, k * S + S, store_part_open, r, err);
        if (src[k] == NULL) rc = err->code ? err->code : MRC_ENOMEM;
    }
    *out = src;
    return rc;
}

static void close_parts(run *r, mrc_source **src)
{
    for (size_t k = 0; src != NULL && k < (size_t)r->d.size; k++)
        if (src[k] != NULL) src[k]->close(src[k]);
    free(src);
}

/* Spread, in place: segment j of this rank's range on thread j, the merge of its P parts (its
 * own segment and every other rank's part j) written at its offset. */
typedef struct range_job {
    run *r;
    const mrc_out_at *w;
    unsigned char *edges; /* w's edges, each thread writing its own bytes of them */
    size_t rbuf;
    pthread_mutex_t mu; /* the store's sources are opened one at a time */
} range_job;

static int range_task(size_t j, void *arg, atomic_int *failed, mrc_err *err)
{
    (void)failed;
    range_job *job = arg;
    run *r = job->r;
    size_t P = (size_t)r->d.size, me = (size_t)r->d.rank, S = r->seg_per_rank;
    if (j >= S) return 0;
    enum mrc_order order = r->o.out.sort == MRC_SORT_KEY ? MRC_ORDER_KEY : MRC_ORDER_COUNT;
    mrc_source **src = calloc(P, sizeof *src);
    int rc = src == NULL ? mrc_err_set(err, MRC_ENOMEM, "output: out of memory") : 0;
    pthread_mutex_lock(&job->mu);
    for (size_t k = 0; rc == 0 && k < P; k++) {
        src[k] = k == me ? segs_open(r, me * S + j, 1, err)
                         : mrc_chunk_store_source(r->store, k * S + j, order, job->rbuf, err);
        if (src[k] == NULL) rc = err->code ? err->code : MRC_ENOMEM;
    }
    pthread_mutex_unlock(&job->mu);
    if (rc == 0)
        rc = mrc_output_write_merged_part_at(src, P, &r->o.out, job->w, job->w->at + r->seg_off[j],
                                             r->seg_off[j + 1] - r->seg_off[j], job->edges, err);
    close_parts(r, src);
    return rc;
}

/* Spread: this rank's range merged, as lines at w: a segment a thread (one merge of it all
 * without several). */
static int merge_range_at(run *r, mrc_out_at *w, mrc_err *err)
{
    size_t S = r->seg_per_rank;
    if (S < 2 || r->pl.nthreads < 2) {
        mrc_source **src = NULL;
        int rc = open_parts(r, &src, err);
        if (rc == 0) rc = mrc_output_write_merged_at(src, (size_t)r->d.size, &r->o.out, w, err);
        close_parts(r, src);
        return rc;
    }
    uint64_t head, tail;
    mrc_output_edges(w->at, w->bytes, w->page, &head, &tail);
    w->edges = NULL;
    w->edges_len = (size_t)(head + tail);
    range_job job = {.r = r, .w = w, .rbuf = range_read_buf(r, S)};
    if (w->edges_len != 0 && (job.edges = malloc(w->edges_len)) == NULL)
        return mrc_err_errno(err, ENOMEM, "%s", w->label);
    if (pthread_mutex_init(&job.mu, NULL) != 0) {
        free(job.edges);
        return mrc_err_set(err, MRC_ENOMEM, "output: cannot create a mutex");
    }
    /* the store's first reader flushes its write buffer: once, here */
    mrc_source *first = mrc_chunk_store_source(r->store, 0, MRC_ORDER_KEY, 0, err);
    int rc = first == NULL ? (err->code ? err->code : MRC_ENOMEM) : 0;
    if (first != NULL) first->close(first);
    if (rc == 0) rc = mrc_run_tasks(r->topo, &r->pl, range_task, &job, err);
    pthread_mutex_destroy(&job.mu);
    if (rc != 0) {
        free(job.edges);
        return rc;
    }
    w->edges = job.edges;
    return 0;
}

/* Spread, rank 0 not in place: its range merged, as lines to the result, then o->tail. */
static int merge_range_to(run *r, const mrc_output_opts *o, mrc_err *err)
{
    mrc_source **src = NULL;
    int rc = open_parts(r, &src, err);
    if (rc == 0) rc = mrc_output_write_merged(src, (size_t)r->d.size, o, err);
    close_parts(r, src);
    return rc;
}

/* Another rank's lines into its temporary file, then read back in blocks for rank 0. */
typedef struct to_file {
    int fd;
    const char *dir;
    uint64_t len, at; /* written; read back */
    unsigned char *buf;
    mrc_err err; /* the write's own failure */
} to_file;

static int put_to_file(void *arg, const unsigned char *p, size_t n)
{
    to_file *t = arg;
    if (mrc_write_full(t->fd, p, n, t->dir, &t->err) != 0) return EIO; /* the message: t->err */
    t->len += n;
    return 0;
}

static int fill_from_file(void *arg, const unsigned char **p, size_t *n, mrc_err *err)
{
    to_file *t = arg;
    *n = t->len - t->at < STREAM_BYTES ? (size_t)(t->len - t->at) : STREAM_BYTES;
    *p = t->buf;
    if (*n > 0 && mrc_pread_full(t->fd, t->buf, *n, t->at, t->dir, err) != 0)
        return err->code ? err->code : MRC_EIO;
    t->at += *n;
    return 0;
}

/* Spread, not in place, a rank other than 0: its range merged into lines in a temporary file of
 * its own (in --tmp-dir, while rank 0 writes its range), then served to rank 0, a block each time
 * it asks (rank 0 appends them after the ranks before). Merged straight into the blocks rank 0
 * asks for, a rank would format only while rank 0 waits for it: no faster than rank 0 alone. */
static int serve_spread(run *r, mrc_err *err)
{
    int rc = exchange_ranges(r, err);
    if (rc == 0 && MRC_FAULT_AT(MRC_FP_STREAM)) rc = mrc_fault_at(err, MRC_FP_STREAM, 0);
    to_file f = {.fd = -1, .dir = r->o.tmp_dir};
    mrc_source **src = NULL;
    if (rc == 0) rc = mrc_tmpfile_open(r->o.tmp_dir, &f.fd, err);
    if (rc == 0) rc = open_parts(r, &src, err);
    if (rc == 0) {
        rc = mrc_output_merge_lines(src, (size_t)r->d.size, &r->o.out, put_to_file, &f,
                                    r->o.tmp_dir, err);
        if (rc != 0 && f.err.code != 0) *err = f.err; /* names the directory and the cause */
    }
    close_parts(r, src);
    mrc_chunk_store_close(r->store); /* merged: its memory and file go */
    r->store = NULL;
    if (rc == 0 && (f.buf = malloc(STREAM_BYTES)) == NULL)
        rc = mrc_err_set(err, MRC_ENOMEM, "output: out of memory");
    uint64_t sent = 0;
    if (rc == 0) /* until the end, or rank 0 asks no more (it failed, and reports) */
        rc = mrc_mpi_stream_serve_fill(&r->d, fill_from_file, &f, &mrc_signal_flag, &sent, err);
    else /* rank 0 asks, or has asked: the error instead */
        mrc_mpi_stream_serve_bytes(&r->d, NULL, 0, STREAM_BYTES, &mrc_signal_flag, &sent, err);
    free(f.buf);
    if (f.fd >= 0) close(f.fd);
    return rc;
}

/* This rank's lines at w: its sorted range, or (spread) its range's parts merged. */
static int write_mine_at(run *r, mrc_out_at *w, mrc_err *err)
{
    if (r->spread) return merge_range_at(r, w, err);
    return mrc_output_write_sorted_at(&r->sorted, &r->o.out, r->topo, &r->pl, w, err);
}

/* Several ranks, spilled: the P parts of this rank's hash range that the shuffle received,
 * merged and sorted with bounded memory. */
static int sort_received(run *r, mrc_err *err)
{
    mrc_source *in = NULL;
    size_t P = (size_t)r->d.size;
    mrc_chunk_stats cs;
    mrc_chunk_store_stats(r->store, &cs);
    uint64_t held = cs.mem;
    mrc_source **src = calloc(P, sizeof *src);
    size_t n = 0;
    int rc = src == NULL ? mrc_err_set(err, MRC_ENOMEM, "output: out of memory") : 0;
    if (rc == 0 && MRC_FAULT_AT(MRC_FP_SORT)) rc = mrc_fault_at(err, MRC_FP_SORT, 0);
    for (size_t i = 0; i < P && rc == 0; i++)
        if ((src[n] = mrc_chunk_store_source(r->store, i, MRC_ORDER_HASH, READ_BUF_MIN, err)) ==
            NULL)
            rc = err->code ? err->code : MRC_ENOMEM;
        else
            n++;
    if (rc == 0)
        in = mrc_merge_source_open(src, n, MRC_ORDER_HASH, err);
    else
        for (size_t i = 0; i < n; i++)
            src[i]->close(src[i]);
    free(src);
    if (r->spread) { /* every rank, also one that failed */
        mrc_err quiet = {0};
        int rc2 = agree_cut(r, &in, in == NULL ? &quiet : err);
        if (rc2 != 0 && in != NULL) {
            in->close(in);
            return rc2;
        }
    }
    if (in == NULL) return err->code ? err->code : MRC_ENOMEM;
    rc = sort_stream(r, &in, 1, held, err);
    mrc_chunk_store_close(r->store); /* read: its memory and file go */
    r->store = NULL;
    return rc;
}

static int sort_mine(run *r, mrc_err *err)
{
    if (r->d.size == 1 && !r->spilled) /* the refs into the tables, made by the local merge */
        return sort_refs(r, r->sorted_refs, r->distinct_mine, err);
    if (r->spilled) /* a stream: the runs, or what the shuffle received */
        return r->d.size == 1 ? sort_runs(r, err) : sort_received(r, err);
    if (r->ranged) return sort_range(r, err);
    /* several ranks, in memory: this rank's range (all of it on rank 0 after a reduce) */
    mrc_out_ref *refs = NULL;
    size_t n = 0;
    int rc = 0;
    if (r->comb.table != NULL)
        rc = mrc_output_refs_from_table(r->comb.table, r->comb.table_len, "result", &refs, &n, err);
    return rc != 0 ? rc : sort_refs(r, refs, n, err);
}

/* This rank's sorted share as a stream in the output order. */
static mrc_source *mine_source(run *r, mrc_err *err)
{
    if (r->have_ext) return mrc_output_sorted_result_source(&r->ext, err);
    mrc_out_iter *it = mrc_output_iter_open(&r->sorted, 0, err);
    return it == NULL ? NULL : mrc_output_iter_source(it);
}

/* Write this rank's sorted share to path (the whole result, or its part). */
static int write_mine(run *r, const mrc_output_opts *o, mrc_err *err)
{
    if (!r->have_ext) return mrc_output_write_sorted(&r->sorted, o, r->topo, &r->pl, err);
    return mrc_output_write_sorted_result(&r->ext, o, r->topo, &r->pl, err);
}

/* Rank 0: a stream from every other rank (src[0] left for its own). Every owner waits to be
 * asked: when a stream cannot be made, each owner is told now that nothing will be.
 * @return the array, or NULL (err filled). */
static mrc_source **open_streams(run *r, mrc_err *err)
{
    size_t P = (size_t)r->d.size;
    mrc_source **src = calloc(P, sizeof *src);
    bool ok = src != NULL;
    for (size_t k = 1; k < P; k++)
        if (!ok || (src[k] = mrc_mpi_stream_source(&r->d, (int)k, &mrc_signal_flag, err)) == NULL) {
            ok = false;
            mrc_mpi_stream_decline((int)k);
        }
    if (ok) return src;
    for (size_t k = 1; src != NULL && k < P; k++)
        if (src[k] != NULL) src[k]->close(src[k]); /* tells the owner too */
    free(src);
    mrc_err_set(err, MRC_ENOMEM, "output: out of memory");
    return NULL;
}

/* Rank 0: its own share and one stream from every other rank, merged and written. */
static int merge_all(run *r, mrc_err *err)
{
    size_t P = (size_t)r->d.size;
    mrc_source **src = open_streams(r, err);
    if (src == NULL) return err->code;
    int rc = 0;
    src[0] = mine_source(r, err);
    if (src[0] == NULL) rc = err->code ? err->code : MRC_ENOMEM;
    if (rc == 0) rc = mrc_output_write_merged(src, P, &r->o.out, err);
    for (size_t k = 0; k < P; k++)
        if (src[k] != NULL) src[k]->close(src[k]);
    free(src);
    return rc;
}

/* Rank 0, ranged: the other ranks' lines, rank by rank, after its own (mrc_output_opts.tail). */
typedef struct tail_state {
    run *r;
    mrc_source **src; /* src[k]: rank k's stream */
    int k;
    uint64_t done; /* lines written before rank k's */
} tail_state;

static int tail_next(void *arg, const unsigned char **p, size_t *n, mrc_err *err)
{
    tail_state *t = arg;
    for (; t->k < t->r->d.size; t->k++) {
        int got = mrc_mpi_stream_block(t->src[t->k], p, n, err);
        if (got != 0) return got;
        t->done += t->r->ranges.lines[t->k];
        if (t->r->o.out.written != NULL) t->r->o.out.written(t->r->o.out.written_arg, t->done);
    }
    return 0;
}

/* Rank 0, ranged or spread: its own lines, then every other rank's appended. */
static int write_ranges(run *r, mrc_err *err)
{
    size_t P = (size_t)r->d.size;
    int rc = r->spread ? exchange_ranges(r, err) : 0;
    mrc_source **src = open_streams(r, rc != 0 ? &(mrc_err){0} : err);
    if (src == NULL) return rc != 0 ? rc : err->code;
    tail_state ts = {r, src, 1, r->ranges.lines[0]};
    mrc_output_opts o = r->o.out;
    o.tail = tail_next;
    o.tail_arg = &ts;
    if (rc == 0)
        rc = r->spread ? merge_range_to(r, &o, err)
                       : mrc_output_write_sorted(&r->sorted, &o, r->topo, &r->pl, err);
    for (size_t k = 1; k < P; k++)
        if (src[k] != NULL) src[k]->close(src[k]);
    free(src);
    return rc;
}

/* Another rank, ranged: its lines formatted on its threads while rank 0 writes, then served to
 * rank 0 when it asks. Its records and refs go once formatted. */
static int serve_range(run *r, mrc_err *err)
{
    unsigned char *buf = NULL;
    size_t len = 0;
    uint64_t sent = 0;
    int rc = mrc_output_format_sorted(&r->sorted, &r->o.out, r->topo, &r->pl,
                                      r->ranges.len + r->ranges.recv_len + 10 * (size_t)r->ranges.n,
                                      &buf, &len, err);
    if (!r->refs_in_table) free(r->sorted_refs);
    r->sorted_refs = NULL;
    r->sorted = (mrc_out_sorted){0};
    free(r->ranges.recs);
    free(r->ranges.recv);
    r->ranges.recs = r->ranges.recv = NULL;
    if (rc == 0 && MRC_FAULT_AT(MRC_FP_STREAM)) rc = mrc_fault_at(err, MRC_FP_STREAM, 0);
    if (rc != 0) { /* rank 0 still asks: answer with the error */
        free(buf);
        mrc_mpi_stream_serve_bytes(&r->d, NULL, 0, STREAM_BYTES, &mrc_signal_flag, &sent, err);
        return rc;
    }
    rc = mrc_mpi_stream_serve_bytes(&r->d, buf, len, STREAM_BYTES, &mrc_signal_flag, &sent, err);
    free(buf);
    return rc;
}

/* ---- ranged: the lines written in place ---- */

/* Every rank, ranged: whether every rank writes its lines into the result itself, at their
 * offset (r->placed: a regular file in a directory that every rank sees, as a cluster's shared
 * file system), or rank 0 appends them. failed: this rank has no lines to write (its error is
 * in err already, and kept); it still takes part. */
static int place_ranges(run *r, int failed, mrc_err *err)
{
    mrc_err quiet = {0};
    mrc_err *e = failed ? &quiet : err;
    uint64_t at = 0, total = 0;
    int rc = mrc_mpi_offsets(&r->d, failed ? 0 : r->range_bytes, &at, &total, e);
    int fd0 = -1, fd = -1;
    const char *name = NULL;
    if (rc == 0 && !failed && r->d.rank == 0 && r->o.out.path != NULL) {
        /* a file that cannot be made is met again, and reported, in the append */
        if (mrc_output_file_open(r->o.out.path, total, &r->out_file, &quiet) == 0 &&
            r->out_file != NULL) {
            fd0 = mrc_output_file_fd(r->out_file);
            name = mrc_output_file_tmp(r->out_file);
        }
    }
    bool refuse =
        failed || rc != 0 ||
        (r->knobs.output_unshared != 0 && r->knobs.output_unshared == (uint64_t)r->d.rank);
    int rc2 = mrc_mpi_share_file(&r->d, fd0, name, refuse, &fd, &r->page, e);
    if (rc == 0) rc = rc2;
    r->placed = rc == 0 && fd >= 0;
    if (r->placed) {
        r->out_fd = fd;
        r->line_at = at;
        r->lines_bytes = total;
    } else {
        (void)mrc_output_file_close(r->out_file, 0, MRC_EIO, &quiet); /* removed */
        r->out_file = NULL;
    }
    return failed ? 0 : rc;
}

/* Rank 0, placed: the edges that rank k's stream brings (where its head and tail go, 4 u64,
 * then their bytes), written there. */
static int put_edges(run *r, mrc_source *s, int k, mrc_err *err)
{
    unsigned char *buf = NULL;
    size_t len = 0;
    const unsigned char *p;
    size_t n;
    int got;
    while ((got = mrc_mpi_stream_block(s, &p, &n, err)) > 0) {
        unsigned char *b = realloc(buf, len + n);
        if (b == NULL) {
            free(buf);
            return mrc_err_set(err, MRC_ENOMEM, "output: out of memory");
        }
        memcpy(b + len, p, n);
        buf = b;
        len += n;
    }
    if (got < 0) {
        free(buf);
        return err->code ? err->code : MRC_EIO;
    }
    uint64_t h[4] = {0};
    int rc = 0;
    if (len >= sizeof h) memcpy(h, buf, sizeof h);
    if (len < sizeof h || h[1] + h[3] != len - sizeof h || h[0] > r->lines_bytes ||
        h[1] > r->lines_bytes - h[0] || h[2] > r->lines_bytes || h[3] > r->lines_bytes - h[2])
        rc = mrc_err_set(err, MRC_EINVAL, "rank %d: %zu bytes of edges that fit no lines", k, len);
    if (rc == 0 && h[1] != 0)
        rc = mrc_output_file_put(r->out_file, buf + sizeof h, (size_t)h[1], h[0], err);
    if (rc == 0 && h[3] != 0)
        rc = mrc_output_file_put(r->out_file, buf + sizeof h + h[1], (size_t)h[3], h[2], err);
    free(buf);
    return rc;
}

/* Rank 0, placed: its own lines, then the edges of every other rank's (while those ranks write
 * the rest of theirs), then the result put in place. */
static int write_placed(run *r, mrc_err *err)
{
    size_t P = (size_t)r->d.size;
    int rc = r->spread ? exchange_ranges(r, err) : 0;
    mrc_source **src = open_streams(r, rc != 0 ? &(mrc_err){0} : err);
    if (src == NULL && rc == 0) rc = err->code;
    if (rc == 0) {
        mrc_out_at w = {
            .fd = r->out_fd, .label = mrc_output_label(r->o.out.path), .bytes = r->range_bytes};
        rc = write_mine_at(r, &w, err);
    }
    uint64_t done = r->ranges.lines[0];
    for (size_t k = 1; k < P && rc == 0; k++) {
        rc = put_edges(r, src[k], (int)k, err);
        done += r->ranges.lines[k];
        if (rc == 0 && r->o.out.written != NULL) r->o.out.written(r->o.out.written_arg, done);
    }
    for (size_t k = 1; src != NULL && k < P; k++)
        src[k]->close(src[k]);
    free(src);
    rc = mrc_output_file_close(r->out_file, r->lines_bytes, rc, err);
    r->out_file = NULL;
    return rc;
}

/* Another rank, placed: its lines written into rank 0's file on its threads, but for the
 * edges it shares a page of with another rank: those are served to rank 0 to write. */
static int write_placed_range(run *r, mrc_err *err)
{
    mrc_out_at w = {.fd = r->out_fd,
                    .label = mrc_output_label(r->o.out.path),
                    .at = r->line_at,
                    .bytes = r->range_bytes,
                    .page = r->page};
    int rc = r->spread ? exchange_ranges(r, err) : 0;
    if (rc == 0) rc = write_mine_at(r, &w, err);
    if (close(r->out_fd) != 0 && rc == 0) rc = mrc_err_errno(err, errno, "%s", w.label);
    r->out_fd = -1;
    unsigned char *msg = NULL;
    size_t len = 4 * sizeof(uint64_t) + w.edges_len;
    if (rc == 0 && MRC_FAULT_AT(MRC_FP_STREAM)) rc = mrc_fault_at(err, MRC_FP_STREAM, 0);
    if (rc == 0 && (msg = malloc(len)) == NULL)
        rc = mrc_err_set(err, MRC_ENOMEM, "output: out of memory");
    if (rc == 0) {
        uint64_t head, tail;
        mrc_output_edges(w.at, w.bytes, w.page, &head, &tail);
        uint64_t h[4] = {w.at, head, w.at + w.bytes - tail, tail};
        memcpy(msg, h, sizeof h);
        if (w.edges_len != 0) memcpy(msg + sizeof h, w.edges, w.edges_len);
    }
    free(w.edges);
    uint64_t sent = 0;
    int rc2 = mrc_mpi_stream_serve_bytes(&r->d, rc == 0 ? msg : NULL, len, STREAM_BYTES,
                                         &mrc_signal_flag, &sent, err); /* or the error */
    free(msg);
    return rc != 0 ? rc : rc2;
}

int mrc_run_output(run *r)
{
    double t0 = mrc_now();
    r->o.out.stop = &mrc_signal_flag;
    mrc_run_step(r, "sorting the result");
    choose_ranges(r);
    int rc = sort_mine(r, &r->err);
    double t1 = mrc_now();
    r->out_sort = t1 - t0 - r->out_exchange;
    uint64_t sums[2] = {r->distinct_mine, r->dropped_mine};
    int rc2 = mrc_mpi_sum_u64(&r->d, sums, 2, &r->err);
    if (rc == 0) rc = rc2;
    r->comb.distinct = sums[0];
    r->dropped = sums[1];
    if (r->spread) {
        rc2 = plan_spread(r, rc, &r->err);
        if (rc == 0) rc = rc2;
    }
    if (r->ranged || r->spread) {
        rc2 = place_ranges(r, rc, &r->err);
        if (rc == 0) rc = rc2;
    }
    if (mrc_run_agree(r, rc) != 0) return 1;
    uint64_t lines = r->comb.distinct > r->dropped ? r->comb.distinct - r->dropped : 0;
    if (r->o.out.top != 0 && r->o.out.top < lines) lines = r->o.out.top;
    if (r->o.output_per_rank != NULL)
        mrc_run_step(r, "writing %llu keys as %d parts into %s", (unsigned long long)lines,
                     r->d.size, r->o.output_per_rank);
    else
        mrc_run_step(r, "writing %llu lines to %s", (unsigned long long)lines,
                     mrc_output_label(r->o.out.path));
    if (r->o.output_per_rank != NULL) {
        rc = mrc_run_write_parts(r);
    } else if (r->d.rank == 0) {
        step_clock wc = step_clock_start(r, lines);
        if (r->progress) {
            r->o.out.written = lines_written;
            r->o.out.written_arg = &wc;
        }
        rc = r->d.size == 1           ? write_mine(r, &r->o.out, &r->err)
             : r->placed              ? write_placed(r, &r->err)
             : r->ranged || r->spread ? write_ranges(r, &r->err)
                                      : merge_all(r, &r->err);
        r->o.out.written = NULL;
        r->o.out.written_arg = NULL;
        if (rc == 0) mrc_signals_watch_made(r->o.out.path);
        rc = mrc_run_end_phase(r, MRC_FP_OUTPUT, rc);
    } else if (r->placed) {
        rc = mrc_run_end_phase(r, MRC_FP_OUTPUT, write_placed_range(r, &r->err));
    } else if (r->spread) {
        rc = mrc_run_end_phase(r, MRC_FP_OUTPUT, serve_spread(r, &r->err));
    } else if (r->ranged) {
        rc = mrc_run_end_phase(r, MRC_FP_OUTPUT, serve_range(r, &r->err));
    } else {
        mrc_source *s = mine_source(r, &r->err);
        uint64_t sent = 0;
        if (s != NULL && MRC_FAULT_AT(MRC_FP_STREAM) &&
            mrc_fault_at(&r->err, MRC_FP_STREAM, 0) != 0) { /* served as the error it is */
            s->close(s);
            s = NULL;
        }
        if (s == NULL) { /* rank 0 still asks: answer with the error */
            rc = r->err.code ? r->err.code : MRC_ENOMEM;
            mrc_mpi_stream_serve(&r->d, NULL, STREAM_BLOCK, &mrc_signal_flag, &sent, &r->err);
        } else {
            rc = mrc_mpi_stream_serve(&r->d, s, STREAM_BLOCK, &mrc_signal_flag, &sent, &r->err);
            s->close(s);
        }
        rc = mrc_run_end_phase(r, MRC_FP_OUTPUT, rc);
    }
    r->phase[MRC_PHASE_OUTPUT] = mrc_now() - t0;
    r->out_write = r->phase[MRC_PHASE_OUTPUT] - (t1 - t0) - r->out_exchange_late;
    r->out_exchange += r->out_exchange_late;
    return rc;
}

int mrc_run_write_part(run *r, const char *path, mrc_err *err)
{
    mrc_output_opts po = {.path = path, .sort = r->o.out.sort, .top = 0, .stop = &mrc_signal_flag};
    return write_mine(r, &po, err);
}

void mrc_run_flow_free(run *r)
{
    if (!r->refs_in_table) free(r->sorted_refs); /* else the table's: freed with it, below */
    if (r->have_ext) mrc_output_sorted_result_free(&r->ext);
    mrc_ranges_free(&r->ranges);
    mrc_splitters_free(&r->cut);
    free(r->seg_off);
    r->seg_off = NULL;
    if (r->placed && r->d.rank != 0 && r->out_fd >= 0) close(r->out_fd);
    mrc_err quiet = {0}; /* a run that failed before rank 0 wrote: its temporary removed */
    (void)mrc_output_file_close(r->out_file, 0, MRC_EIO, &quiet);
    r->out_file = NULL;
    if (r->store != NULL) mrc_chunk_store_close(r->store);
    mrc_map_output_free(&r->mapped);
}
