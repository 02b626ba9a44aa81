/* driver.c - the map phase of one rank: pinned workers pull pieces of the rank's splits from
 * one atomic cursor, stream them through the job's consumer into thread-local tables, then
 * merge those tables by hash partition into the rank's serialized table. The pieces are all
 * known at the start (static schedule) or fed by the caller while the workers run (dynamic).
 * No MPI: the caller's thread polls progress, feeds and raises stop; workers never block on it,
 * except a worker with nothing to map, which waits for the feed without spinning. */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "mrcount/map.h"

#define MRC_PIECE_DEFAULT ((uint64_t)4 << 20)

/* One worker's table and consumer context, alone on their cache lines: the table's total and
 * the context's record count are written for every token, and two workers writing one line
 * would bounce it between their cores (1 rank x 2 threads mapped 40% slower than 2 ranks x 1
 * while the tables shared a line). */
typedef struct worker {
    _Alignas(MRC_CACHE_LINE) mrc_table table;
    mrc_map_ctx ctx;
    /* the runs this worker's table spilled (its full() hook) */
    struct mrc_map_run *run;
    mrc_run_file *runs;
    size_t nruns, cap_runs;
    uint64_t spill_bytes;
    /* --checkpoint: names of the runs (parallel to runs), the pieces mapped so far, and how
     * many of each the worker's last manifest holds */
    mrc_ckpt_run *names;
    mrc_split *done;
    size_t ndone, cap_done, pieces_kept, runs_kept;
    uint64_t bytes_kept; /* the input bytes of the pieces in done */
    unsigned seq;        /* runs named so far */
    double last_ckpt;
    uint64_t ckpt_count, ckpt_bytes;
    double ckpt_seconds;
} worker;

typedef struct piece {
    uint32_t file;
    uint8_t codec; /* enum mrc_codec: not NONE, a whole compressed file */
    uint64_t offset, length;
} piece;

struct mrc_map_run {
    const mrc_job *job;
    const mrc_file_list *files;
    uint64_t piece_size;
    uint64_t table_share;   /* bytes each worker's table may hold (0: no bound) */
    uint64_t decoder_limit; /* bytes each worker's decoder may take (0: no bound) */
    const char *tmp_dir;
    piece *pieces; /* cap entries, allocated once: workers read it while the feed appends */
    size_t cap;
    size_t nsplits; /* splits fed (the caller's thread only) */
    /* pieces[0, published) are written: stored with release by the feeder (under lock), so a
     * worker that loads it with acquire may read them. */
    atomic_size_t published;
    atomic_size_t cursor;    /* next piece to claim; runs ahead of published while workers wait */
    atomic_size_t inflating; /* workers on a compressed piece: a whole file of unknown length */
    bool feed_ended;         /* written under lock by the feeder */
    atomic_uint_least64_t bytes_done;
    atomic_int failed;
    mrc_stop stop; /* raised to stop early; the reader polls it between reads */
    /* --checkpoint (ckpt_dir not NULL) */
    const char *ckpt_dir;
    int ckpt_rank, ckpt_gen;
    double ckpt_interval;
    uint64_t test_piece_pause_us, test_ckpt_hold;
    atomic_bool draining; /* mrc_map_drain(): no new piece; checkpoint and return */
    mrc_stop gz_stop;     /* raised by the drain and the stop: a compressed piece is abandoned */

    mrc_topo *topo;
    const mrc_placement *pl;
    mrc_pool *pool;
    size_t nthreads;
    worker *workers; /* nthreads, cache-line aligned */
    mrc_err *errs;
    double *thread_seconds;
    uint64_t *thread_bytes;
    double t_start, t_end;

    pthread_mutex_t lock;
    pthread_cond_t cond; /* the caller waiting for workers to finish, or to want more */
    pthread_cond_t fed;  /* workers waiting for the feed */
    size_t finished;
};

static void raise_stop(mrc_map_run *m)
{
    mrc_stop_raise(&m->stop);
    mrc_stop_raise(&m->gz_stop);
    /* Workers waiting for the feed return instead of waiting for a piece that may never come. */
    pthread_mutex_lock(&m->lock);
    pthread_cond_broadcast(&m->fed);
    pthread_mutex_unlock(&m->lock);
}

static size_t count_pieces(const mrc_map_run *m, const mrc_split *splits, size_t nsplits)
{
    size_t n = 0;
    for (size_t i = 0; i < nsplits; i++) {
        const mrc_file *f = &m->files->files[splits[i].file];
        n += f->codec != MRC_CODEC_NONE
                 ? 1
                 : (size_t)((splits[i].length + m->piece_size - 1) / m->piece_size);
    }
    return n;
}

/* Cut splits into pieces at `out`; a compressed file is one piece. @return the number written. */
static size_t cut_pieces(const mrc_map_run *m, const mrc_split *splits, size_t nsplits, piece *out)
{
    size_t k = 0;
    for (size_t i = 0; i < nsplits; i++) {
        const mrc_split *s = &splits[i];
        const mrc_file *f = &m->files->files[s->file];
        if (f->codec != MRC_CODEC_NONE) {
            out[k++] = (piece){s->file, f->codec, 0, s->length};
            continue;
        }
        for (uint64_t off = 0; off < s->length; off += m->piece_size) {
            uint64_t len = s->length - off < m->piece_size ? s->length - off : m->piece_size;
            out[k++] = (piece){s->file, MRC_CODEC_NONE, s->offset + off, len};
        }
    }
    return k;
}

/* The next piece for a worker, or NULL when there is none: the feed ended before it, or the run
 * stops. A claim past the published pieces sleeps until the feed reaches it. */
static const piece *claim_piece(mrc_map_run *m)
{
    if (atomic_load_explicit(&m->draining, memory_order_relaxed)) return NULL;
    size_t i = atomic_fetch_add_explicit(&m->cursor, 1, memory_order_relaxed);
    size_t published = atomic_load_explicit(&m->published, memory_order_acquire);
    if (i >= published) {
        pthread_mutex_lock(&m->lock);
        pthread_cond_signal(&m->cond); /* the caller may be waiting in mrc_map_poll(): feed now */
        while (i >= (published = atomic_load_explicit(&m->published, memory_order_relaxed)) &&
               !m->feed_ended && !mrc_stopped(&m->stop) && !atomic_load(&m->draining))
            pthread_cond_wait(&m->fed, &m->lock);
        pthread_mutex_unlock(&m->lock);
        if (i >= published) return NULL;
    }
    const piece *p = &m->pieces[i];
    /* Counted before the caller can hear of this claim, so that it never queues a piece behind
     * a whole compressed file (mrc_map_wants()). */
    if (p->codec != MRC_CODEC_NONE)
        atomic_fetch_add_explicit(&m->inflating, 1, memory_order_relaxed);
    if (published - i <= m->nthreads) {
        /* Fewer unclaimed pieces than workers: wake the caller, which may feed more now rather
         * than at the end of its wait (static: only the last few claims get here). */
        pthread_mutex_lock(&m->lock);
        pthread_cond_signal(&m->cond);
        pthread_mutex_unlock(&m->lock);
    }
    return p;
}

/* ---- spilling a worker's table, and its checkpoints ---- */

/* The table's records in hash order to a new run: an anonymous file in --tmp-dir, or with a
 * checkpoint a named one in its directory, fsync'd with its index beside it. */
static int write_table_run(worker *w, size_t ti, mrc_err *err)
{
    mrc_map_run *m = w->run;
    if (w->nruns == w->cap_runs) {
        size_t cap = w->cap_runs ? 2 * w->cap_runs : 8;
        mrc_run_file *r = realloc(w->runs, cap * sizeof *r);
        if (r == NULL) return mrc_err_set(err, MRC_ENOMEM, "spill: out of memory");
        w->runs = r;
        if (m->ckpt_dir != NULL) {
            mrc_ckpt_run *n = realloc(w->names, cap * sizeof *n);
            if (n == NULL) return mrc_err_set(err, MRC_ENOMEM, "checkpoint: out of memory");
            w->names = n;
        }
        w->cap_runs = cap;
    }
    mrc_run_file *f = &w->runs[w->nruns];
    if (m->ckpt_dir == NULL) {
        int rc = mrc_table_write_run(&w->table, m->tmp_dir, f, err);
        if (rc != 0) return rc;
    } else {
        char name[96];
        snprintf(name, sizeof name, "r%d-g%d-w%zu-%u.run", m->ckpt_rank, m->ckpt_gen, ti, w->seq++);
        char *copy = strdup(name);
        int fd = -1, rc = copy == NULL ? mrc_err_set(err, MRC_ENOMEM, "checkpoint: out of memory")
                                       : mrc_ckpt_run_create(m->ckpt_dir, name, &fd, err);
        *f = (mrc_run_file){.fd = -1};
        if (rc == 0) rc = mrc_table_write_run_fd(&w->table, fd, m->ckpt_dir, f, err);
        uint64_t sum = 0;
        if (rc == 0) rc = mrc_ckpt_run_seal(m->ckpt_dir, name, f, &sum, err);
        if (rc != 0) {
            mrc_run_file_close(f);
            if (copy != NULL) mrc_ckpt_run_discard(m->ckpt_dir, name);
            free(copy);
            return rc;
        }
        w->names[w->nruns] =
            (mrc_ckpt_run){copy, f->bytes, f->records, f->total, sum, true, f->max_len};
        w->ckpt_bytes += f->bytes;
    }
    w->nruns++;
    w->spill_bytes += f->bytes;
    mrc_table_clear(&w->table);
    return 0;
}

/* The table's full() hook. */
static int spill_table(void *arg, mrc_table *t, mrc_err *err)
{
    worker *w = arg;
    (void)t;
    return write_table_run(w, (size_t)(w - w->run->workers), err);
}

/* What the worker has mapped, made durable: the table's contents as a run (when any) and the
 * manifest naming every run and piece of this worker so far, replaced atomically. Called
 * between pieces only, so the runs hold exactly the counts of the pieces. */
static int checkpoint(mrc_map_run *m, size_t ti, mrc_err *err)
{
    worker *w = &m->workers[ti];
    double t0 = mrc_now();
    int rc = w->table.used > 0 ? write_table_run(w, ti, err) : 0;
    if (rc != 0) return rc;
    const mrc_bad_log *b = &w->ctx.bad;
    mrc_ckpt_manifest man = {.rank = m->ckpt_rank,
                             .gen = m->ckpt_gen,
                             .worker = (int)ti,
                             .runs = w->names,
                             .nruns = w->nruns,
                             .pieces = w->done,
                             .npieces = w->ndone,
                             .bytes = w->bytes_kept,
                             .records = w->ctx.records,
                             .bad_samples = b->samples,
                             .nbad_samples = b->nsamples};
    memcpy(man.counters, w->ctx.counters, sizeof man.counters);
    if (m->test_ckpt_hold != 0 && w->ckpt_count + 1 == m->test_ckpt_hold) {
        fprintf(stderr,
                "mrcount: warning: rank %d (pid %ld): MRC_TEST_CKPT_HOLD holds checkpoint %llu\n",
                m->ckpt_rank, (long)getpid(), (unsigned long long)m->test_ckpt_hold);
        for (;;)
            pause();
    }
    mrc_bad_file *bf = NULL;
    if (b->total > 0) {
        bf = calloc(b->nfiles + 1, sizeof *bf);
        if (bf == NULL) return mrc_err_set(err, MRC_ENOMEM, "checkpoint: out of memory");
        for (size_t f = 0; f < b->nfiles; f++)
            if (b->per_file[f] > 0)
                bf[man.nbad_files++] = (mrc_bad_file){(uint32_t)f, b->per_file[f]};
        man.bad_files = bf;
    }
    rc = mrc_ckpt_write_manifest(m->ckpt_dir, &man, err);
    free(bf);
    if (rc != 0) return rc;
    w->pieces_kept = w->ndone;
    w->runs_kept = w->nruns;
    w->ckpt_count++;
    w->last_ckpt = mrc_now();
    w->ckpt_seconds += w->last_ckpt - t0;
    return 0;
}

/* A piece mapped whole: noted for the next manifest; a checkpoint when one is due. */
static int piece_mapped(mrc_map_run *m, size_t ti, const piece *p, uint64_t mapped, mrc_err *err)
{
    worker *w = &m->workers[ti];
    if (w->ndone == w->cap_done) {
        size_t cap = w->cap_done ? 2 * w->cap_done : 64;
        mrc_split *d = realloc(w->done, cap * sizeof *d);
        if (d == NULL) return mrc_err_set(err, MRC_ENOMEM, "checkpoint: out of memory");
        w->done = d;
        w->cap_done = cap;
    }
    w->done[w->ndone++] = (mrc_split){.file = p->file, .offset = p->offset, .length = p->length};
    w->bytes_kept = mapped;
    if (atomic_load_explicit(&m->draining, memory_order_relaxed) ||
        mrc_now() - w->last_ckpt >= m->ckpt_interval)
        return checkpoint(m, ti, err);
    return 0;
}

static void map_worker(size_t ti, void *arg)
{
    mrc_map_run *m = arg;
    mrc_err *err = &m->errs[ti];
    mrc_map_ctx *ctx = &m->workers[ti].ctx;
    mrc_reader rd = {0};
    double t0 = mrc_now();
    /* Allocated here, after pinning, so the pages land on this core's NUMA node. */
    int rc = mrc_table_init(&m->workers[ti].table, 0, err);
    if (m->table_share != 0) {
        m->workers[ti].table.max_bytes = (size_t)m->table_share;
        m->workers[ti].table.full = spill_table;
        m->workers[ti].table.full_arg = &m->workers[ti];
    }
    m->workers[ti].run = m;
    m->workers[ti].last_ckpt = t0;
    ctx->table = &m->workers[ti].table;
    ctx->settings = m->job->settings;
    if (rc == 0) rc = mrc_reader_init(&rd, 0, err);
    rd.decoder_limit = m->decoder_limit;
    uint64_t mapped = 0; /* the input bytes of the pieces mapped */
    while (rc == 0 && !mrc_stopped(&m->stop)) {
        const piece *p = claim_piece(m);
        if (p == NULL) break;
        const char *path = m->files->files[p->file].path;
        mrc_map_ctx_piece(ctx, path, p->file, p->offset);
        /* A compressed piece is a whole file: what came before it is kept first, as a drain would
         * abandon the piece and everything since the last checkpoint with it. */
        if (p->codec != MRC_CODEC_NONE && m->ckpt_dir != NULL &&
            m->workers[ti].ndone > m->workers[ti].pieces_kept)
            rc = checkpoint(m, ti, err);
        if (rc != 0) {
            if (p->codec != MRC_CODEC_NONE)
                atomic_fetch_sub_explicit(&m->inflating, 1, memory_order_relaxed);
            break;
        }
        if (p->codec != MRC_CODEC_NONE) {
            rc = mrc_reader_run_packed(&rd, path, p->codec, p->length, m->job->consume, ctx,
                                       &m->gz_stop, err);
            atomic_fetch_sub_explicit(&m->inflating, 1, memory_order_relaxed); /* claim_piece() */
        } else
            rc = mrc_reader_run(&rd, path, p->offset, p->length, &m->job->rules, m->job->consume,
                                ctx, &m->stop, err);
        /* the piece's own bytes, not those read: a piece reads on to its last record's end and
         * the next one back to its first's start (and a file's head), so the reads of a run
         * add up to more than its input (0.07% of the 1 GiB corpus, twice a file of one
         * 10 MB token at --chunk-size 4k), and progress went past 100% */
        if (rc == 0) {
            mapped += p->length;
            atomic_fetch_add_explicit(&m->bytes_done, p->length, memory_order_relaxed);
            if (m->ckpt_dir != NULL) rc = piece_mapped(m, ti, p, mapped, err);
        }
        if (m->test_piece_pause_us != 0) usleep((useconds_t)m->test_piece_pause_us);
    }
    /* The last checkpoint: at the end of the map, or of a drain (a stop leaves the last one). */
    if (rc == 0 && m->ckpt_dir != NULL && !mrc_stopped(&m->stop) &&
        (m->workers[ti].ndone > m->workers[ti].pieces_kept || m->workers[ti].table.used > 0))
        rc = checkpoint(m, ti, err);
    mrc_table_hot_drop(&m->workers[ti].table); /* the map is over: every count in its record */
    if (rc != 0 && rc != MRC_EINTR) {
        atomic_store(&m->failed, 1);
        raise_stop(m);
    }
    m->thread_bytes[ti] = mapped;
    mrc_reader_free(&rd);
    m->thread_seconds[ti] = mrc_now() - t0;
    pthread_mutex_lock(&m->lock);
    /* The run's map time ends with its last worker, not when the caller joins them: that
     * waits for the other ranks too and would hide this rank's share of the imbalance. */
    if (++m->finished == m->nthreads) m->t_end = mrc_now();
    pthread_cond_broadcast(&m->cond);
    pthread_mutex_unlock(&m->lock);
}

static void map_run_free(mrc_map_run *m)
{
    if (m == NULL) return;
    for (size_t i = 0; m->workers != NULL && i < m->nthreads; i++) {
        mrc_table_free(&m->workers[i].table);
        mrc_map_ctx_free(&m->workers[i].ctx);
        for (size_t r = 0; r < m->workers[i].nruns; r++)
            mrc_run_file_close(&m->workers[i].runs[r]);
        free(m->workers[i].runs);
        for (size_t r = 0; m->workers[i].names != NULL && r < m->workers[i].nruns; r++)
            free(m->workers[i].names[r].name);
        free(m->workers[i].names);
        free(m->workers[i].done);
    }
    free(m->workers);
    free(m->errs);
    free(m->thread_seconds);
    free(m->thread_bytes);
    free(m->pieces);
    pthread_mutex_destroy(&m->lock);
    pthread_cond_destroy(&m->cond);
    pthread_cond_destroy(&m->fed);
    free(m);
}

/* Both starts: pieces sized for all of `splits`; they are published before the workers start
 * unless `fed`, when they come later through mrc_map_feed(). */
static mrc_map_run *map_start(const mrc_job *job, const mrc_file_list *files,
                              const mrc_split *splits, size_t nsplits, bool fed,
                              const mrc_map_opts *o, mrc_topo *topo, const mrc_placement *pl,
                              mrc_err *err)
{
    mrc_map_run *m = calloc(1, sizeof *m);
    if (m == NULL) {
        mrc_err_set(err, MRC_ENOMEM, "map: out of memory");
        return NULL;
    }
    pthread_mutex_init(&m->lock, NULL);
    pthread_cond_init(&m->cond, NULL);
    pthread_cond_init(&m->fed, NULL);
    m->job = job;
    m->files = files;
    m->piece_size = o != NULL && o->piece_size ? o->piece_size : MRC_PIECE_DEFAULT;
    m->decoder_limit = o != NULL ? o->decoder_limit : 0;
    if (o != NULL && o->table_budget != 0 && (o->tmp_dir != NULL || o->ckpt_dir != NULL)) {
        m->table_share = o->table_budget / (pl->nthreads ? pl->nthreads : 1);
        m->tmp_dir = o->tmp_dir;
    }
    if (o != NULL && o->ckpt_dir != NULL) {
        m->ckpt_dir = o->ckpt_dir;
        m->ckpt_rank = o->ckpt_rank;
        m->ckpt_gen = o->ckpt_gen;
        m->ckpt_interval = o->ckpt_interval;
    }
    if (o != NULL) {
        m->test_piece_pause_us = o->test_piece_pause_us;
        m->test_ckpt_hold = o->test_ckpt_hold;
    }
    m->topo = topo;
    m->pl = pl;
    m->nthreads = pl->nthreads;
    m->workers = mrc_calloc_lines(m->nthreads, sizeof *m->workers);
    m->errs = calloc(m->nthreads, sizeof *m->errs);
    m->thread_seconds = calloc(m->nthreads, sizeof *m->thread_seconds);
    m->thread_bytes = calloc(m->nthreads, sizeof *m->thread_bytes);
    if (!m->workers || !m->errs || !m->thread_seconds || !m->thread_bytes) {
        mrc_err_set(err, MRC_ENOMEM, "map: out of memory");
        map_run_free(m);
        return NULL;
    }
    m->cap = count_pieces(m, splits, nsplits);
    m->pieces = calloc(m->cap + 1, sizeof *m->pieces);
    if (m->pieces == NULL) {
        mrc_err_set(err, MRC_ENOMEM, "map: out of memory for %zu pieces", m->cap);
        map_run_free(m);
        return NULL;
    }
    if (!fed) {
        atomic_init(&m->published, cut_pieces(m, splits, nsplits, m->pieces));
        m->nsplits = nsplits;
        m->feed_ended = true;
    }
    m->t_start = mrc_now();
    m->pool = mrc_pool_start(topo, pl, map_worker, m, err);
    if (m->pool == NULL) {
        map_run_free(m);
        return NULL;
    }
    return m;
}

mrc_map_run *mrc_map_start(const mrc_job *job, const mrc_file_list *files, const mrc_split *splits,
                           size_t nsplits, const mrc_map_opts *o, mrc_topo *topo,
                           const mrc_placement *pl, mrc_err *err)
{
    return map_start(job, files, splits, nsplits, false, o, topo, pl, err);
}

mrc_map_run *mrc_map_start_fed(const mrc_job *job, const mrc_file_list *files,
                               const mrc_split *bound, size_t nbound, const mrc_map_opts *o,
                               mrc_topo *topo, const mrc_placement *pl, mrc_err *err)
{
    return map_start(job, files, bound, nbound, true, o, topo, pl, err);
}

int mrc_map_feed(mrc_map_run *m, const mrc_split *splits, size_t nsplits, mrc_err *err)
{
    /* Only this thread stores published, so a relaxed load reads its own last store. */
    size_t at = atomic_load_explicit(&m->published, memory_order_relaxed);
    size_t n = count_pieces(m, splits, nsplits);
    if (m->feed_ended || n > m->cap - at)
        return mrc_err_set(err, MRC_EINVAL, "map: %zu pieces fed after %zu of %zu%s", n, at, m->cap,
                           m->feed_ended ? " and the end of the feed" : "");
    cut_pieces(m, splits, nsplits, m->pieces + at);
    m->nsplits += nsplits;
    pthread_mutex_lock(&m->lock);
    atomic_store_explicit(&m->published, at + n, memory_order_release);
    pthread_cond_broadcast(&m->fed);
    pthread_mutex_unlock(&m->lock);
    return 0;
}

void mrc_map_feed_end(mrc_map_run *m)
{
    pthread_mutex_lock(&m->lock);
    m->feed_ended = true;
    pthread_cond_broadcast(&m->fed);
    pthread_mutex_unlock(&m->lock);
}

bool mrc_map_wants(mrc_map_run *m)
{
    /* feed_ended: only the feeder's thread writes it, no lock needed */
    if (m->feed_ended || mrc_stopped(&m->stop)) return false;
    size_t published = atomic_load_explicit(&m->published, memory_order_relaxed);
    size_t next = atomic_load_explicit(&m->cursor, memory_order_relaxed);
    size_t unclaimed = published > next ? published - next : 0;
    /* A piece queued for a worker that is decompressing a file would wait for the whole file,
     * while another rank may have nothing to do: only the other workers get one queued. Such a
     * worker fetches when it asks for its next piece, a delay small beside a whole file. */
    size_t inflating = atomic_load_explicit(&m->inflating, memory_order_relaxed);
    return unclaimed + inflating < m->nthreads;
}

int mrc_map_poll(mrc_map_run *m, int timeout_ms, uint64_t *bytes_done, bool *done)
{
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += timeout_ms / 1000;
    until.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
    if (until.tv_nsec >= 1000000000L) {
        until.tv_sec++;
        until.tv_nsec -= 1000000000L;
    }
    pthread_mutex_lock(&m->lock);
    while (m->finished < m->nthreads && !atomic_load(&m->failed) && !mrc_map_wants(m))
        if (pthread_cond_timedwait(&m->cond, &m->lock, &until) != 0) break;
    *done = m->finished == m->nthreads;
    pthread_mutex_unlock(&m->lock);
    *bytes_done = atomic_load_explicit(&m->bytes_done, memory_order_relaxed);
    return atomic_load(&m->failed);
}

void mrc_map_stop(mrc_map_run *m)
{
    raise_stop(m);
}

void mrc_map_drain(mrc_map_run *m)
{
    if (m->ckpt_dir == NULL) {
        raise_stop(m);
        return;
    }
    atomic_store(&m->draining, true);
    mrc_stop_raise(&m->gz_stop);
    pthread_mutex_lock(&m->lock);
    pthread_cond_broadcast(&m->fed);
    pthread_mutex_unlock(&m->lock);
}

/* The threads' bad-record logs as one: per-file sums, and per file the first samples. */
static int merge_bad_logs(mrc_map_run *m, mrc_map_stats *st, mrc_err *err)
{
    size_t nfiles = 0, nsamples = 0;
    for (size_t i = 0; i < m->nthreads; i++) {
        const mrc_bad_log *b = &m->workers[i].ctx.bad;
        st->bad_total += b->total;
        nfiles = b->nfiles > nfiles ? b->nfiles : nfiles;
        nsamples += b->nsamples;
    }
    if (st->bad_total == 0) return 0;
    st->bad_files = calloc(nfiles, sizeof *st->bad_files);
    st->bad_samples = malloc(nsamples * sizeof *st->bad_samples);
    if (st->bad_files == NULL || st->bad_samples == NULL)
        return mrc_err_set(err, MRC_ENOMEM, "out of memory for the bad-record report");
    for (size_t f = 0; f < nfiles; f++) {
        uint64_t c = 0;
        for (size_t i = 0; i < m->nthreads; i++)
            if (f < m->workers[i].ctx.bad.nfiles) c += m->workers[i].ctx.bad.per_file[f];
        if (c > 0) st->bad_files[st->nbad_files++] = (mrc_bad_file){(uint32_t)f, c};
    }
    size_t k = 0;
    for (size_t i = 0; i < m->nthreads; i++) {
        const mrc_bad_log *b = &m->workers[i].ctx.bad;
        if (b->nsamples > 0)
            memcpy(st->bad_samples + k, b->samples, b->nsamples * sizeof *b->samples);
        k += b->nsamples;
    }
    st->nbad_samples = mrc_bad_samples_first(st->bad_samples, nsamples);
    return 0;
}

int mrc_map_end(mrc_map_run *m, mrc_map_output *out, mrc_map_stats *stats, mrc_err *err)
{
    mrc_map_feed_end(m); /* workers waiting for more would never return */
    mrc_pool_join(m->pool);
    m->pool = NULL;
    memset(stats, 0, sizeof *stats);
    memset(out, 0, sizeof *out);
    mrc_err first = {0};
    int rc = mrc_first_error(m->errs, m->nthreads, &first);
    if (rc == MRC_EINTR) rc = 0; /* a stop: said below */
    if (rc != 0) *err = first;
    if (rc == 0 && (mrc_stopped(&m->stop) || atomic_load(&m->draining)))
        rc = mrc_err_set(err, MRC_EINTR, "map stopped before the end");
    stats->nthreads = m->nthreads;
    stats->splits = m->nsplits;
    stats->thread_seconds = m->thread_seconds;
    m->thread_seconds = NULL;
    stats->map_seconds = m->t_end - m->t_start;
    size_t nruns = 0;
    for (size_t i = 0; i < m->nthreads; i++) {
        stats->bytes += m->thread_bytes[i];
        stats->records += m->workers[i].ctx.records;
        for (size_t c = 0; c < MRC_JOB_COUNTERS; c++)
            stats->counters[c] += m->workers[i].ctx.counters[c];
        stats->spill_bytes += m->workers[i].spill_bytes;
        stats->hot_records += m->workers[i].table.hot_hits;
        stats->ckpt_count += m->workers[i].ckpt_count;
        stats->ckpt_bytes += m->workers[i].ckpt_bytes;
        stats->ckpt_seconds += m->workers[i].ckpt_seconds;
        stats->spill_runs += m->workers[i].nruns;
        nruns += m->workers[i].nruns;
    }
    if (rc == 0) rc = merge_bad_logs(m, stats, err);
    if (rc == 0) {
        out->tables = calloc(m->nthreads, sizeof *out->tables);
        out->runs = calloc(nruns + 1, sizeof *out->runs);
        if (out->tables == NULL || out->runs == NULL) {
            free(out->tables);
            free(out->runs);
            memset(out, 0, sizeof *out);
            rc = mrc_err_set(err, MRC_ENOMEM, "map: out of memory");
        }
    }
    if (rc == 0) { /* hand the tables and runs over: the run forgets them */
        for (size_t i = 0; i < m->nthreads; i++) {
            worker *w = &m->workers[i];
            out->tables[out->ntables++] = w->table;
            memset(&w->table, 0, sizeof w->table);
            out->tables[i].full = NULL;
            for (size_t r = 0; r < w->nruns; r++) {
                out->runs[out->nruns++] = w->runs[r];
                if (w->names != NULL) free(w->names[r].name);
            }
            w->nruns = 0;
        }
    }
    map_run_free(m);
    return rc;
}

void mrc_map_output_free(mrc_map_output *o)
{
    for (size_t i = 0; i < o->ntables; i++)
        mrc_table_free(&o->tables[i]);
    for (size_t r = 0; r < o->nruns; r++)
        mrc_run_file_close(&o->runs[r]);
    free(o->tables);
    free(o->runs);
    memset(o, 0, sizeof *o);
}

int mrc_map_finish(mrc_map_run *m, void **out, size_t *out_len, mrc_map_stats *stats, mrc_err *err)
{
    *out = NULL;
    *out_len = 0;
    mrc_topo *topo = m->topo;
    const mrc_placement *pl = m->pl;
    mrc_map_output mo;
    int rc = mrc_map_end(m, &mo, stats, err);
    if (rc == 0 && mo.nruns > 0)
        rc = mrc_err_set(err, MRC_EINVAL, "map: the tables spilled %zu runs", mo.nruns);
    if (rc == 0) {
        double t0 = mrc_now();
        mrc_table **tabs = malloc((mo.ntables + 1) * sizeof *tabs);
        if (tabs == NULL) rc = mrc_err_set(err, MRC_ENOMEM, "local merge: out of memory");
        for (size_t i = 0; tabs != NULL && i < mo.ntables; i++)
            tabs[i] = &mo.tables[i];
        mrc_merge_input in = {.tables = tabs, .ntables = mo.ntables};
        if (rc == 0)
            rc = mrc_table_merge_parallel(&in, topo, pl, out, out_len, &stats->distinct, err);
        free(tabs);
        stats->merge_seconds = mrc_now() - t0;
    }
    mrc_map_output_free(&mo);
    return rc;
}

void mrc_map_stats_free(mrc_map_stats *s)
{
    free(s->thread_seconds);
    free(s->bad_files);
    free(s->bad_samples);
    s->thread_seconds = NULL;
    s->bad_files = NULL;
    s->bad_samples = NULL;
    s->nbad_files = s->nbad_samples = 0;
}
