/* main.c - the mrcount program: parse options, then run the flow of DESIGN.md on every rank
 * (discover on rank 0, scatter splits, map on pinned threads, local merge, MPI_Reduce of the
 * serialized tables, output and metrics on rank 0). After every phase all ranks agree on
 * success, so a failure anywhere, or SIGTERM/SIGINT, ends the run everywhere with one message,
 * no output left behind, and status 1 (128 + the signal when a signal stopped it).
 * It only orchestrates: the work is in the stages it calls. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "mrcount/dist.h"
#include "mrcount/input.h"
#include "mrcount/map.h"
#include "mrcount/metrics.h"
#include "mrcount/output.h"
#include "mrcount/runtime.h"
#include "mrcount/table.h"
#include "fault.h"
#include "options.h"

#define CHUNK_MAX ((uint64_t)64 << 20) /* default split size bounds */
#define CHUNK_MIN ((uint64_t)1 << 20)
#define SPLITS_PER_RANK 16 /* default: enough splits for byte balance across ranks */
#define PIECE_MAX ((uint64_t)4 << 20)
#define POLL_MS 100
#define SIGNAL_GRACE_S 2.0 /* a signalled rank waits this long for the others to agree */
#define AGREE_SPIN_S 1e-4  /* an agreement of ranks in step takes microseconds: spin that long */
#define AGREE_NAP_MAX_NS 1000000L /* then test it every <= 1 ms, leaving the core to others */

/* ---- signals ----
 * The handler records the first signal and removes the files this rank may be writing
 * (PATH.tmp.PID) or has finished (the result, metrics, a part): mpirun sends SIGKILL 1 s after
 * the SIGTERM it forwards, Slurm after KillWait, so nothing that waits for the main thread is
 * sure to run. A writer whose temporary vanished fails its rename, and the run stops at the next
 * agreement. Once the run succeeded on every rank, the main thread disarms the removal (a race
 * decided by one compare-and-swap: whichever comes first wins). */
#define MAX_WATCHED 8
enum { WATCH_ARMED, WATCH_REMOVED, WATCH_KEPT };
static atomic_int got_signal;
static atomic_int watch_state; /* WATCH_ARMED until the handler or the run's success */
static char *watched[MAX_WATCHED];
static atomic_int nwatched;

static void remove_watched(void)
{
    int n = atomic_load_explicit(&nwatched, memory_order_acquire);
    for (int i = 0; i < n; i++)
        unlink(watched[i]);
}

static void on_signal(int sig)
{
    int saved = errno, none = 0, armed = WATCH_ARMED;
    atomic_compare_exchange_strong(&got_signal, &none, sig);
    if (atomic_compare_exchange_strong(&watch_state, &armed, WATCH_REMOVED)) remove_watched();
    errno = saved;
}

/* Catch SIGTERM and SIGINT, unless they are ignored: a script's background job keeps ignoring
 * SIGINT, as the shell meant. */
static void catch_signals(void)
{
    static const int sigs[] = {SIGTERM, SIGINT};
    struct sigaction sa, old;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sa.sa_flags = SA_RESTART;
    sigemptyset(&sa.sa_mask);
    for (size_t i = 0; i < sizeof sigs / sizeof *sigs; i++)
        if (sigaction(sigs[i], NULL, &old) == 0 && old.sa_handler != SIG_IGN)
            sigaction(sigs[i], &sa, NULL);
}

/* Add a file of this rank (owning path) to those a failed or stopped run removes: a temporary
 * it may write (PATH.tmp.PID: nobody else writes that name), or a file it finished. */
static void watch_file(char *path)
{
    int n = atomic_load(&nwatched);
    if (path == NULL || n == MAX_WATCHED) {
        free(path);
        return;
    }
    watched[n] = path;
    atomic_store_explicit(&nwatched, n + 1, memory_order_release);
}

/* The run succeeded on every rank: keep its files. @return false if a signal came first and
 * the handler removed them. */
static bool keep_outputs(void)
{
    int armed = WATCH_ARMED;
    return atomic_compare_exchange_strong(&watch_state, &armed, WATCH_KEPT);
}

static const char *signal_name(int sig)
{
    return sig == SIGTERM ? "SIGTERM" : sig == SIGINT ? "SIGINT" : "a signal";
}

/* A signalled rank's cause is the signal, whatever the work it cut short reported. */
static int signal_error(mrc_err *err)
{
    memset(err, 0, sizeof *err);
    return mrc_err_set(err, MRC_EINTR, "stopped by %s", signal_name(atomic_load(&got_signal)));
}

typedef struct run {
    mrc_dist d;
    mrc_options o;
    mrc_file_list files;
    mrc_split_plan plan;
    mrc_split *mine;
    size_t nmine;
    mrc_topo *topo;
    mrc_placement pl;
    size_t share_index, share_count;
    mrc_map_stats st;
    void *local;
    size_t local_len;
    void *result;
    size_t result_len;
    /* the combine: which one ran, why, and what it cost in memory */
    bool shuffle;          /* the shuffle combined the tables (else MPI_Reduce) */
    bool fell_back;        /* the reduce's sketch-sized buffers were too small */
    double union_est;      /* HyperLogLog estimate of the run's distinct keys */
    double predicted[2];   /* modelled combine seconds: reduce, shuffle */
    void *range;           /* shuffle: this rank's hash range (serialized table) */
    uint64_t distinct_all; /* shuffle: distinct keys of all ranges (before any --top) */
    size_t range_len;
    uint64_t table_bytes;        /* this rank's serialized table after the local merge */
    uint64_t rss_before_combine; /* peak RSS up to the combine (map, local merge) */
    uint64_t rss_combine;        /* peak RSS during the combine alone (0: unknown) */
    uint64_t rss_combine_start;  /* RSS when the combine started (the local table included) */
    double phase[MRC_PHASE_COUNT];
    double t_start, t_total;
    uint64_t chunk;     /* split size used (rank 0): --chunk-size, or adapted to the input */
    uint64_t totals[3]; /* bytes, records, distinct (distinct: from the result) */
    /* bad records of the whole run (rank 0): per-file counts, located first samples */
    uint64_t bad_total;
    mrc_bad_file *bad_files;
    size_t nbad_files;
    mrc_bad_sample *bad_samples;
    uint64_t *bad_lines; /* line of each sample, 0 when it could not be found */
    size_t nbad_samples;
    mrc_dist_iprogress *agreement; /* the agreements' exchange (see agree()) */
    bool made_dir;                 /* rank 0 created --output-per-rank's directory */
    bool late_signal;              /* a signal removed the files after every rank succeeded */
    mrc_err err;
} run;

static bool is_ngram(const mrc_options *o)
{
    return o->job.job != NULL && strcmp(o->job.job, "ngram") == 0;
}

static void warn_rank0(const char *msg, void *arg)
{
    (void)arg;
    fprintf(stderr, "mrcount: warning: %s\n", msg);
}

/* A file this rank finished (a regular file that the run put in place): removed if the run
 * fails or stops after all, so such a run leaves no output. A device or a FIFO stays. */
static void made_file(const char *path)
{
    struct stat st;
    if (lstat(path, &st) == 0 && S_ISREG(st.st_mode)) watch_file(strdup(path));
}

/* A signalled rank that the others did not join within SIGNAL_GRACE_S (one is still busy in
 * long, bounded work: writing a big result, walking a huge tree) removes its files and ends the
 * job: the launcher then stops the busy ranks, whose handlers remove their temporaries. */
static _Noreturn void give_up(run *r)
{
    int sig = atomic_load(&got_signal);
    remove_watched();
    fprintf(stderr,
            "mrcount: rank %d: stopped by %s; the other ranks did not stop within %.0f s, "
            "ending the job\n",
            r->d.rank, signal_name(sig), SIGNAL_GRACE_S);
    mrc_dist_abort(128 + sig);
    _exit(128 + sig);
}

/* Wait for the agreement's exchange: a short spin, then naps, testing for signals. */
static int agree_wait(run *r, uint64_t sums[3])
{
    double t0 = mrc_now(), signalled = 0;
    struct timespec nap = {0, 0};
    for (;;) {
        bool ready = false;
        int rc = mrc_dist_iprogress_test(r->agreement, &ready, sums, &r->err);
        if (rc != 0 || ready) return rc;
        double now = mrc_now();
        if (atomic_load(&got_signal)) {
            if (signalled == 0)
                signalled = now;
            else if (now - signalled > SIGNAL_GRACE_S)
                give_up(r);
        }
        if (now - t0 > AGREE_SPIN_S) {
            nap.tv_nsec = nap.tv_nsec == 0 ? 10000L : nap.tv_nsec * 2;
            if (nap.tv_nsec > AGREE_NAP_MAX_NS) nap.tv_nsec = AGREE_NAP_MAX_NS;
            nanosleep(&nap, NULL);
        }
    }
}

/* Fail the whole run unless every rank succeeded; rank 0 prints the one message. A signalled
 * rank fails with the signal. The main thread's waits for other ranks that can be long are
 * these (one rank may still walk the inputs or write the result); each collective between two
 * of them moves bounded data among ranks that left the last one together. So the wait is a
 * non-blocking exchange of failure flags that polls for signals (see agree_wait()); only when
 * some rank failed do all exchange the first failure's message, at once. */
static int agree(run *r, int status)
{
    if (atomic_load(&got_signal)) status = signal_error(&r->err);
    uint64_t sums[3] = {0};
    int rc = mrc_dist_iprogress_start(r->agreement, status != 0, 0, 0, &r->err);
    if (rc == 0) rc = agree_wait(r, sums);
    if (rc == 0 && sums[0] == 0) return 0;
    if (rc == 0) {
        if (atomic_load(&got_signal)) status = signal_error(&r->err); /* during the wait */
        rc = mrc_dist_agree(&r->d, status, &r->err);
    }
    if (rc != 0 && r->d.rank == 0) fprintf(stderr, "mrcount: %s\n", r->err.msg);
    return rc;
}

/* The default split size: about SPLITS_PER_RANK splits per rank, so ranks get equal bytes
 * even for a small input on many ranks, within [1 MiB, 64 MiB] so that the per-split cost
 * stays negligible and a huge input does not make millions of descriptors. */
static uint64_t default_chunk(const run *r)
{
    uint64_t per = r->files.total_bytes / ((uint64_t)r->d.size * SPLITS_PER_RANK) + 1;
    per = (per + 65535) & ~(uint64_t)65535;
    return per < CHUNK_MIN ? CHUNK_MIN : per > CHUNK_MAX ? CHUNK_MAX : per;
}

static int phase_discover(run *r)
{
    double t0 = mrc_now();
    int rc = 0;
    if (r->d.rank == 0) {
        rc = mrc_input_discover_until((const char *const *)r->o.inputs, r->o.ninputs, &r->files,
                                      warn_rank0, NULL, &got_signal, &r->err);
        r->chunk = r->o.chunk_size ? r->o.chunk_size : default_chunk(r);
        if (rc == 0)
            rc = mrc_split_plan_make(&r->files, r->chunk, (size_t)r->d.size, &r->plan, &r->err);
    }
    r->phase[MRC_PHASE_DISCOVER] = mrc_now() - t0;
    if (MRC_FAULT_AT(MRC_FP_DISCOVER)) rc = mrc_fault_at(&r->err, MRC_FP_DISCOVER, rc);
    return agree(r, rc);
}

static int phase_distribute(run *r)
{
    double t0 = mrc_now();
    int rc = mrc_dist_bcast_files(&r->d, &r->files, &r->err);
    /* Dynamic: any rank may map any split, so r->mine is the whole plan, in pull order. */
    if (rc == 0 && r->o.schedule == MRC_SCHEDULE_DYNAMIC)
        rc = mrc_dist_bcast_plan(&r->d, &r->files, &r->plan, &r->mine, &r->nmine, &r->err);
    else if (rc == 0)
        rc = mrc_dist_scatter_splits(&r->d, &r->plan, &r->mine, &r->nmine, &r->err);
    r->phase[MRC_PHASE_DISTRIBUTE] = mrc_now() - t0;
    if (MRC_FAULT_AT(MRC_FP_DISTRIBUTE)) rc = mrc_fault_at(&r->err, MRC_FP_DISTRIBUTE, rc);
    return agree(r, rc);
}

static int phase_place(run *r)
{
    int rc = 0;
    char *cpuset = NULL;
    r->topo = mrc_topo_open(NULL, &r->err);
    if (r->topo == NULL) rc = r->err.code;
    if (rc == 0) {
        cpuset = mrc_topo_cpuset_string(r->topo, &r->err);
        if (cpuset == NULL) rc = r->err.code ? r->err.code : MRC_EIO;
    }
    /* Collective: every rank takes part, with an empty string if it has no cpuset. */
    int rc2 =
        mrc_dist_share(&r->d, cpuset ? cpuset : "", &r->share_index, &r->share_count, &r->err);
    if (rc == 0) rc = rc2;
    if (rc == 0)
        rc = mrc_placement_plan(r->topo, cpuset, r->share_index, r->share_count, r->o.threads,
                                &r->pl, &r->err);
    free(cpuset);
    if (MRC_FAULT_AT(MRC_FP_PLACE)) rc = mrc_fault_at(&r->err, MRC_FP_PLACE, rc);
    rc = agree(r, rc);
    if (rc == 0 && r->pl.oversubscribed)
        fprintf(stderr,
                "mrcount: warning: rank %d runs %zu threads on %zu cores (oversubscribed)\n",
                r->d.rank, r->pl.nthreads, r->pl.cores_available);
    return rc;
}

static void draw_progress(run *r, uint64_t done, uint64_t mapping, double t0, int final)
{
    double secs = mrc_now() - t0;
    double total = (double)r->files.total_bytes;
    double frac = total > 0 ? (double)done / total : 1.0;
    if (frac > 1.0) frac = 1.0;
    double rate = secs > 0 ? (double)done / secs / 1e6 : 0.0;
    double eta = rate > 0 ? (total - (double)done) / 1e6 / rate : 0.0;
    char bar[31];
    int fill = (int)(frac * 30);
    for (int i = 0; i < 30; i++)
        bar[i] = i < fill ? '#' : '.';
    bar[30] = '\0';
    fprintf(stderr, "\r[%s] %5.1f%% %.1f/%.1f MB %.0f MB/s ETA %.0fs ranks mapping %llu  %s", bar,
            frac * 100, (double)done / 1e6, total / 1e6, rate, eta < 0 ? 0 : eta,
            (unsigned long long)mapping, final ? "\n" : "");
    fflush(stderr);
}

/* Whether rank 0's stderr reaches a terminal. Under mpirun it is never one itself: Open MPI gives
 * each rank a pipe to mpirun, whatever mpirun's own stderr is. So, launched by Open MPI, ask the
 * launcher's stderr: a rank 0 launched on mpirun's node is its child (a remote rank 0's parent is
 * orted, srun's is slurmstepd: no terminal there, no bar in batch jobs). */
static bool stderr_is_terminal(void)
{
    if (isatty(2)) return true;
    if (getenv("OMPI_COMM_WORLD_SIZE") == NULL) return false;
    char path[64];
    snprintf(path, sizeof path, "/proc/%ld/fd/2", (long)getppid());
    int fd = open(path, O_WRONLY | O_NOCTTY | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0) return false;
    bool tty = isatty(fd) == 1;
    close(fd);
    return tty;
}

/* The map loop waits on the workers in slices (a worker that wants a split ends the wait) and
 * tests the progress exchange between them. Rank 0 under the dynamic schedule: short ones, as
 * on some transports (Open MPI's osc pt2pt over TCP) it serves the split counter only from
 * inside MPI: a fetch from another rank then takes about two slices (measured). */
#define SLICE_MS 10
#define SLICE_COUNTER_MS 1

/* Dynamic schedule: while the workers run low, take the next split from rank 0's counter and
 * feed it. mrc_map_wants() turns true while the workers are still busy, before one runs dry, so
 * the fetch's round trip overlaps mapping; a value past the plan ends this rank's feed. */
static int pull_splits(run *r, mrc_map_run *m, mrc_dist_counter *counter, bool *pulled_all)
{
    while (!*pulled_all && mrc_map_wants(m)) {
        uint64_t next = 0;
        int rc = mrc_dist_counter_next(counter, &next, &r->err);
        if (rc != 0) return rc;
        if (next >= r->nmine) {
            mrc_map_feed_end(m);
            *pulled_all = true;
        } else if ((rc = mrc_map_feed(m, &r->mine[next], 1, &r->err)) != 0) {
            return rc;
        }
    }
    return 0;
}

/* Stop the workers early (this rank failed, another did, or a signal), a held one too. */
static void map_stop(mrc_map_run *m)
{
    mrc_fault_map_stop();
    if (m != NULL) mrc_map_stop(m);
}

static int phase_map(run *r, mrc_job *job)
{
    double t0 = mrc_now();
    uint64_t piece = r->o.chunk_size && r->o.chunk_size < PIECE_MAX ? r->o.chunk_size : PIECE_MAX;
    bool dynamic = r->o.schedule == MRC_SCHEDULE_DYNAMIC;
    mrc_dist_counter *counter = NULL;
    mrc_dist_iprogress *ex = NULL;
    int rc = dynamic ? mrc_dist_counter_open(&r->d, &counter, &r->err) : 0;
    if (rc == 0) rc = mrc_dist_iprogress_open(&ex, &r->err);
    if ((rc = agree(r, rc)) != 0) {
        mrc_err cerr = {0};
        mrc_dist_counter_close(counter, &cerr);
        mrc_dist_iprogress_close(ex);
        return rc;
    }
    if (MRC_FAULT_AT(MRC_FP_MAP)) mrc_fault_wrap_map(job);
    mrc_map_run *m =
        dynamic
            ? mrc_map_start_fed(job, &r->files, r->mine, r->nmine, piece, r->topo, &r->pl, &r->err)
            : mrc_map_start(job, &r->files, r->mine, r->nmine, piece, r->topo, &r->pl, &r->err);
    int local_failed = m == NULL;
    bool done = m == NULL, pulled_all = !dynamic, inflight = false;
    bool show = r->d.rank == 0 && (r->o.progress == MRC_PROGRESS_ALWAYS ||
                                   (r->o.progress == MRC_PROGRESS_AUTO && stderr_is_terminal()));
    int slice_ms = dynamic && r->d.rank == 0 ? SLICE_COUNTER_MS : SLICE_MS;
    double last_draw = 0, last_start = 0;
    uint64_t bytes = 0, sums[3] = {0};
    /* The main thread talks to the other ranks while the workers map: a small non-blocking
     * allreduce carries progress, completion and failure, and no rank waits in MPI while its
     * workers need feeding. A busy rank starts the next one POLL_MS after the last, so a failure
     * anywhere reaches every rank in about POLL_MS; a finished or failed rank starts the next at
     * once: it completes when the busy ranks join, which then learn the news without delay. */
    for (;;) {
        if (!pulled_all && !local_failed && pull_splits(r, m, counter, &pulled_all) != 0) {
            local_failed = 1;
            map_stop(m);
        }
        if (!local_failed && !done)
            local_failed = mrc_map_poll(m, slice_ms, &bytes, &done);
        else
            usleep((useconds_t)slice_ms * 1000); /* nothing to wait on locally */
        if (atomic_load(&got_signal) && !local_failed) {
            local_failed = 1;
            signal_error(&r->err);
        }
        if (!inflight) {
            bool idle = local_failed || done;
            if (!idle && mrc_now() - last_start < POLL_MS / 1e3) continue;
            rc = mrc_dist_iprogress_start(ex, local_failed, !done, bytes, &r->err);
            if (rc != 0) break;
            inflight = true;
            last_start = mrc_now();
        }
        bool ready = false;
        rc = mrc_dist_iprogress_test(ex, &ready, sums, &r->err);
        if (rc != 0) break;
        if (!ready) continue;
        inflight = false;
        if (show && (mrc_now() - last_draw > 0.25 || sums[1] == 0)) {
            draw_progress(r, sums[2], sums[1], t0, sums[1] == 0);
            last_draw = mrc_now();
        }
        if (sums[0] > 0 || sums[1] == 0) break;
    }
    double t1 = mrc_now();
    if (rc != 0 || sums[0] > 0) map_stop(m);
    /* Every rank left the loop on the same exchange, so all reach this collective together. */
    mrc_err cerr = {0};
    int crc = mrc_dist_counter_close(counter, &cerr);
    mrc_dist_iprogress_close(ex);
    /* A rank stopped because another failed reports success here: agree() then carries the
     * failing rank's own message to everyone. */
    int status = rc != 0 ? rc : local_failed ? (r->err.code ? r->err.code : MRC_EIO) : 0;
    if (status == 0 && crc != 0) {
        r->err = cerr;
        status = crc;
    }
    if (m != NULL) {
        mrc_err ferr = {0};
        int frc = mrc_map_finish(m, &r->local, &r->local_len, &r->st, &ferr);
        if (frc != 0 && frc != MRC_EINTR) {
            if (r->err.code == 0) r->err = ferr;
            if (status == 0) status = frc;
        }
    }
    r->phase[MRC_PHASE_MAP] = r->st.map_seconds > 0 ? r->st.map_seconds : t1 - t0;
    r->phase[MRC_PHASE_LOCAL_MERGE] = r->st.merge_seconds;
    /* A rank whose workers consumed nothing (no input reached it) takes its map fault here. */
    if (mrc_fault_map_pending()) status = mrc_fault_at(&r->err, MRC_FP_MAP, status);
    if (MRC_FAULT_AT(MRC_FP_LOCAL_MERGE))
        status = mrc_fault_at(&r->err, MRC_FP_LOCAL_MERGE, status);
    return agree(r, status);
}

/* What the combine's cost model assumes per second: bytes moved between ranks, and bytes of
 * serialized table merged by one thread. Rough on purpose: it only has to rank two strategies
 * whose costs differ by factors when it matters (see jobs/README.md for the measured points). */
#define MODEL_NET_BPS 1e9
#define MODEL_MERGE_BPS 3e8
#define MODEL_LATENCY_S 1e-5 /* one message */
#define CAP_MARGIN 1.15      /* sketch-sized reduce buffers: estimate error and key-length spread */

/* Choose the combine. Collective: every input of the decision is reduced over all ranks, so
 * every rank decides the same. With one rank there is nothing to combine: reduce (a copy). */
static int plan_combine(run *r, uint64_t *cap_hint)
{
    *cap_hint = 0;
    r->shuffle = r->o.reduce == MRC_REDUCE_SHUFFLE || r->o.output_per_rank != NULL;
    r->union_est = (double)r->st.distinct;
    int P = r->d.size;
    if (P == 1) return 0;
    static mrc_hll h;
    mrc_hll_init(&h);
    int rc = mrc_hll_add_ser(&h, r->local, &r->err);
    uint64_t mem = mrc_mem_available_bytes() / (uint64_t)(r->d.node_size > 0 ? r->d.node_size : 1);
    /* sums: payload bytes, records, threads; then the smallest memory share as a max of
     * its complement */
    uint64_t v[4] = {r->table_bytes - MRC_SER_HEADER, r->st.distinct, r->pl.nthreads,
                     UINT64_MAX - (mem ? mem : UINT64_MAX / 2)};
    int rc2 = mrc_dist_sum_u64(&r->d, v, 3, &r->err);
    if (rc2 == 0) rc2 = mrc_dist_max_u64(&r->d, &v[3], 1, &r->err);
    if (rc2 == 0) rc2 = mrc_dist_hll_union(&r->d, &h, &r->err);
    if (rc == 0) rc = rc2;
    if (rc != 0) return rc;
    double U = mrc_hll_estimate(&h), S = (double)v[0] + P * MRC_SER_HEADER;
    double rec_bytes = v[1] ? (double)v[0] / (double)v[1] : 16.0;
    double U_bytes = U * rec_bytes + MRC_SER_HEADER, T = (double)v[2] / P;
    double mem_share = (double)(UINT64_MAX - v[3]);
    double cap = U_bytes * CAP_MARGIN + 65536;
    if (cap > S) cap = S;
    int levels = 0;
    while ((1 << levels) < P)
        levels++;
    /* MPI_Reduce: log2 P steps, each moving and merging a buffer of the union's size.
     * Shuffle: three small collectives, an all-to-all and a gather (P messages each), each
     * rank sends and merges its share (on T threads), then rank 0 gathers the union. */
    r->union_est = U;
    r->predicted[0] = levels * (MODEL_LATENCY_S + cap / MODEL_NET_BPS + U_bytes / MODEL_MERGE_BPS);
    r->predicted[1] = (3 * levels + 2 * (P - 1)) * MODEL_LATENCY_S + S / P / MODEL_NET_BPS +
                      S / P / (MODEL_MERGE_BPS * T) +
                      (r->o.output_per_rank ? 0 : U_bytes / MODEL_NET_BPS);
    if (r->o.reduce == MRC_REDUCE_AUTO && r->o.output_per_rank == NULL)
        r->shuffle = r->predicted[1] < r->predicted[0] || 3 * cap > mem_share;
    *cap_hint = (uint64_t)cap;
    /* Tests force a too-small reduce buffer to exercise the fall back to the shuffle. */
    const char *force = getenv("MRC_TEST_REDUCE_CAP");
    if (force != NULL && atoll(force) > 0) *cap_hint = (uint64_t)atoll(force);
    return 0;
}

static int phase_combine(run *r)
{
    double t0 = mrc_now();
    r->table_bytes = r->local_len;
    r->rss_before_combine = mrc_peak_rss_bytes();
    r->rss_combine_start = mrc_rss_window_start();
    uint64_t cap_hint = 0;
    int rc = plan_combine(r, &cap_hint);
    if (agree(r, rc) != 0) return 1;
    if (!r->shuffle) {
        bool too_small = false;
        rc = mrc_dist_reduce_tables(&r->d, &r->local, r->local_len, cap_hint, &r->result,
                                    &r->result_len, &too_small, &r->err);
        if (rc == 0 && too_small) r->shuffle = r->fell_back = true;
    }
    if (rc == 0 && r->shuffle) {
        rc = mrc_dist_shuffle_tables(&r->d, &r->local, r->local_len, r->topo, &r->pl, &r->range,
                                     &r->range_len, &r->err);
        if (agree(r, rc) != 0) return 1;
        if (r->o.output_per_rank == NULL) {
            /* The ranges are disjoint: with --top K each owner only sends its own first K,
             * and the distinct keys are counted before that. */
            mrc_ser_header h;
            mrc_ser_read_header(r->range, &h);
            uint64_t distinct = h.records;
            rc = mrc_dist_sum_u64(&r->d, &distinct, 1, &r->err);
            r->distinct_all = distinct;
            if (rc == 0 && r->o.out.top > 0 && r->o.out.top < h.records) {
                void *top = NULL;
                size_t top_len = 0;
                rc = mrc_output_top_table(r->range, r->range_len, &r->o.out, &top, &top_len,
                                          &r->err);
                if (rc == 0) {
                    free(r->range);
                    r->range = top;
                }
            }
            if (agree(r, rc) != 0) return 1;
            rc = mrc_dist_gather_table(&r->d, r->range, &r->result, &r->result_len, &r->err);
            free(r->range);
            r->range = NULL;
        }
    }
    free(r->local);
    r->local = NULL;
    r->phase[MRC_PHASE_COMBINE] = mrc_now() - t0;
    r->rss_combine = mrc_rss_window_peak();
    if (MRC_FAULT_AT(MRC_FP_COMBINE)) rc = mrc_fault_at(&r->err, MRC_FP_COMBINE, rc);
    return agree(r, rc);
}

static char *part_path(const char *dir, int rank)
{
    char *p = NULL;
    return asprintf(&p, "%s/part-%05d.tsv", dir, rank) < 0 ? NULL : p;
}

/* Rank 0 makes DIR, refusing one that already holds parts or a manifest: parts of an earlier
 * run with more ranks would silently join this result. */
static int prepare_part_dir(run *r, const char *dir, mrc_err *err)
{
    if (mkdir(dir, 0777) == 0)
        r->made_dir = true;
    else if (errno != EEXIST)
        return mrc_err_errno(err, errno, "%s", dir);
    DIR *dh = opendir(dir);
    if (dh == NULL) return mrc_err_errno(err, errno, "%s", dir);
    struct dirent *e;
    int rc = 0;
    while (rc == 0 && (e = readdir(dh)) != NULL)
        if (strncmp(e->d_name, "part-", 5) == 0 || strcmp(e->d_name, "manifest.json") == 0)
            rc = mrc_err_set(err, MRC_EIO,
                             "%s: holds %s from another run (remove the parts and manifest.json)",
                             dir, e->d_name);
    closedir(dh);
    return rc;
}

typedef struct manifest_view {
    run *r;
    uint64_t *records; /* per rank */
} manifest_view;

static void manifest_json(FILE *f, void *arg)
{
    manifest_view *v = arg;
    run *r = v->r;
    uint64_t total = 0;
    for (int k = 0; k < r->d.size; k++)
        total += v->records[k];
    fprintf(f,
            "{\n  \"mrcount_version\": \"%s\",\n  \"sort\": \"%s\",\n  \"ranks\": %d,\n"
            "  \"distinct_keys\": %llu,\n  \"hash\": \"XXH3-64, seed 0x%016llx\",\n  \"parts\": [",
            MRC_VERSION, r->o.out.sort == MRC_SORT_KEY ? "key" : "count", r->d.size,
            (unsigned long long)total, (unsigned long long)MRC_HASH_SEED);
    for (int k = 0; k < r->d.size; k++) {
        uint64_t lo = mrc_hash_range_start((uint32_t)k, (uint32_t)r->d.size);
        uint64_t hi = k + 1 < r->d.size
                          ? mrc_hash_range_start((uint32_t)k + 1, (uint32_t)r->d.size) - 1
                          : UINT64_MAX;
        fprintf(f,
                "%s\n    {\"path\": \"part-%05d.tsv\", \"rank\": %d, \"keys\": %llu, "
                "\"hash_first\": \"0x%016llx\", \"hash_last\": \"0x%016llx\"}",
                k ? "," : "", k, k, (unsigned long long)v->records[k], (unsigned long long)lo,
                (unsigned long long)hi);
    }
    fputs("\n  ]\n}\n", f);
}

/* --output-per-rank: every rank writes its range as a part; rank 0 writes the manifest last,
 * so a directory with a manifest is complete. On any failure every part is removed. */
static int write_parts(run *r)
{
    const char *dir = r->o.output_per_rank;
    int rc = r->d.rank == 0 ? prepare_part_dir(r, dir, &r->err) : 0;
    if (agree(r, rc) != 0) return 1;
    char *path = part_path(dir, r->d.rank);
    mrc_ser_header h;
    mrc_ser_read_header(r->range, &h);
    if (path == NULL) {
        rc = mrc_err_set(&r->err, MRC_ENOMEM, "out of memory");
    } else {
        mrc_output_opts po = {path, r->o.out.sort, 0, &got_signal};
        rc = mrc_output_write(r->range, r->range_len, &po, &r->err);
        if (rc == 0) made_file(path);
    }
    free(path);
    if (MRC_FAULT_AT(MRC_FP_OUTPUT)) rc = mrc_fault_at(&r->err, MRC_FP_OUTPUT, rc);
    if (agree(r, rc) != 0) return 1; /* ranks write at their own pace: wait here, not below */
    uint64_t *records = NULL;
    size_t *lens = NULL;
    uint64_t mine = h.records;
    rc = mrc_dist_gather_bytes(&r->d, &mine, sizeof mine, (void **)&records, &lens, &r->err);
    rc = agree(r, rc);
    if (rc == 0) {
        int mrc = 0;
        if (r->d.rank == 0) {
            manifest_view v = {r, records};
            char *mpath = NULL;
            if (asprintf(&mpath, "%s/manifest.json", dir) < 0)
                mrc = mrc_err_set(&r->err, MRC_ENOMEM, "out of memory");
            else if ((mrc = mrc_metrics_write_file(mpath, manifest_json, &v, &r->err)) == 0)
                made_file(mpath);
            free(mpath);
            for (int k = 0; k < r->d.size; k++)
                r->totals[2] += records[k];
        }
        rc = agree(r, mrc);
    }
    free(records);
    free(lens);
    return rc;
}

static int phase_output(run *r)
{
    double t0 = mrc_now();
    int rc = 0;
    if (r->o.output_per_rank != NULL) {
        rc = write_parts(r);
        r->phase[MRC_PHASE_OUTPUT] = mrc_now() - t0;
        return rc;
    }
    if (r->d.rank == 0) {
        mrc_ser_header h;
        mrc_ser_read_header(r->result, &h);
        r->totals[2] = r->distinct_all ? r->distinct_all : h.records;
        r->o.out.stop = &got_signal;
        rc = mrc_output_write(r->result, r->result_len, &r->o.out, &r->err);
        if (rc == 0 && strcmp(r->o.out.path ? r->o.out.path : "-", "-") != 0)
            made_file(r->o.out.path);
    }
    r->phase[MRC_PHASE_OUTPUT] = mrc_now() - t0;
    if (MRC_FAULT_AT(MRC_FP_OUTPUT)) rc = mrc_fault_at(&r->err, MRC_FP_OUTPUT, rc);
    return agree(r, rc);
}

/* ---- bad records (ngram) ---- */

static int cmp_bad_file(const void *a, const void *b)
{
    const mrc_bad_file *x = a, *y = b;
    return x->file < y->file ? -1 : x->file > y->file;
}

/* Rank 0 gathers every rank's bad-record counts and first samples, merges them per file and
 * finds the samples' line numbers. Collective. */
static int gather_bad_records(run *r)
{
    void *files = NULL, *samples = NULL;
    size_t *flens = NULL, *slens = NULL;
    int rc =
        mrc_dist_gather_bytes(&r->d, r->st.bad_files, r->st.nbad_files * sizeof *r->st.bad_files,
                              &files, &flens, &r->err);
    if (rc == 0)
        rc = mrc_dist_gather_bytes(&r->d, r->st.bad_samples,
                                   r->st.nbad_samples * sizeof *r->st.bad_samples, &samples, &slens,
                                   &r->err);
    if (rc == 0 && r->d.rank == 0) {
        size_t nf = 0, ns = 0;
        for (int k = 0; k < r->d.size; k++) {
            nf += flens[k] / sizeof(mrc_bad_file);
            ns += slens[k] / sizeof(mrc_bad_sample);
        }
        mrc_bad_file *bf = files;
        if (nf > 1) qsort(bf, nf, sizeof *bf, cmp_bad_file);
        size_t k = 0;
        for (size_t i = 0; i < nf; i++) {
            if (k > 0 && bf[k - 1].file == bf[i].file)
                bf[k - 1].count += bf[i].count;
            else
                bf[k++] = bf[i];
            r->bad_total += bf[i].count;
        }
        r->bad_files = bf;
        r->nbad_files = k;
        files = NULL;
        r->bad_samples = samples;
        r->nbad_samples = mrc_bad_samples_first(r->bad_samples, ns);
        samples = NULL;
        r->bad_lines = calloc(r->nbad_samples + 1, sizeof *r->bad_lines);
        for (size_t i = 0; r->bad_lines != NULL && i < r->nbad_samples; i++) {
            const mrc_bad_sample *sm = &r->bad_samples[i];
            mrc_err lerr = {0};
            if (i > 0 && sm->file == sm[-1].file && sm->piece_offset == sm[-1].piece_offset &&
                sm->piece_offset != 0 && r->bad_lines[i - 1] != 0)
                r->bad_lines[i] = r->bad_lines[i - 1] + (sm->piece_line - sm[-1].piece_line);
            else if (mrc_bad_locate(r->files.files[sm->file].path, sm, &r->bad_lines[i], &lerr))
                r->bad_lines[i] = 0; /* the file went away: report it without a line */
        }
    }
    free(files);
    free(samples);
    free(flens);
    free(slens);
    return agree(r, rc);
}

/* The located samples of bad file i: [*first, *first + return). Both lists are in file order,
 * so callers walking i upwards pass the same cursor, starting at 0. */
static size_t bad_samples_of(const run *r, size_t i, size_t *first)
{
    uint32_t file = r->bad_files[i].file;
    size_t s = *first;
    while (s < r->nbad_samples && r->bad_samples[s].file < file)
        s++;
    size_t e = s;
    while (e < r->nbad_samples && r->bad_samples[e].file == file)
        e++;
    *first = s;
    return e - s;
}

static const char *bad_cause(const run *r, size_t sample)
{
    return mrc_bad_cause_text((enum mrc_bad_cause)r->bad_samples[sample].cause);
}

static void print_bad_records(run *r)
{
    if (r->bad_total == 0) return;
    fprintf(stderr, "mrcount: warning: %llu malformed records skipped in %zu files\n",
            (unsigned long long)r->bad_total, r->nbad_files);
    size_t s = 0;
    for (size_t i = 0; i < r->nbad_files; i++) {
        const char *path = r->files.files[r->bad_files[i].file].path;
        size_t n = bad_samples_of(r, i, &s);
        if (i == 10) {
            fprintf(stderr, "mrcount:   ... and %zu more files (see --metrics)\n",
                    r->nbad_files - i);
            break;
        }
        fprintf(stderr, "mrcount:   %s: %llu", path, (unsigned long long)r->bad_files[i].count);
        for (size_t j = s; j < s + n; j++)
            fprintf(stderr, "%s%s:%llu: %s", j == s ? " (first: " : "; ", path,
                    (unsigned long long)r->bad_lines[j], bad_cause(r, j));
        fputs(n > 0 ? ")\n" : "\n", stderr);
    }
}

static void bad_records_json(FILE *f, run *r)
{
    fprintf(f, "  \"bad_records\": {\"total\": %llu, \"files\": [",
            (unsigned long long)r->bad_total);
    size_t s = 0;
    for (size_t i = 0; i < r->nbad_files; i++) {
        const char *path = r->files.files[r->bad_files[i].file].path;
        fprintf(f, "%s\n    {\"path\": ", i ? "," : "");
        mrc_json_string(f, path);
        fprintf(f, ", \"count\": %llu, \"first\": [", (unsigned long long)r->bad_files[i].count);
        size_t n = bad_samples_of(r, i, &s);
        for (size_t j = s; j < s + n; j++)
            fprintf(f, "%s{\"line\": %llu, \"cause\": \"%s\"}", j == s ? "" : ", ",
                    (unsigned long long)r->bad_lines[j], bad_cause(r, j));
        fputs("]}", f);
    }
    fputs(r->nbad_files ? "\n  ]},\n" : "]},\n", f);
}

/* ---- metrics ---- */

typedef struct metrics_view {
    run *r;
    double *phases; /* size * MRC_PHASE_COUNT, rank-major */
    char **ranks;   /* per rank JSON object */
} metrics_view;

static const char *source_name(enum mrc_threads_source s)
{
    switch (s) {
    case MRC_THREADS_OPTION:
        return "option";
    case MRC_THREADS_OMP:
        return "OMP_NUM_THREADS";
    case MRC_THREADS_SLURM:
        return "SLURM_CPUS_PER_TASK";
    default:
        return "cpuset";
    }
}

static char *rank_json(run *r)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    if (f == NULL) return NULL;
    uint64_t peak = mrc_peak_rss_bytes(); /* may have dropped with the combine's window reset */
    fprintf(f, "{\"rank\": %d, \"host\": ", r->d.rank);
    mrc_json_string(f, r->d.host);
    fprintf(f,
            ", \"peak_rss_bytes\": %llu, \"peak_rss_before_combine_bytes\": %llu, "
            "\"combine_start_rss_bytes\": %llu, \"combine_peak_rss_bytes\": %llu, \"table_bytes\": "
            "%llu, \"range_bytes\": %llu, "
            "\"result_bytes\": %llu, "
            "\"bytes\": %llu, \"records\": %llu, "
            "\"local_distinct\": %llu, \"map_seconds\": %.6f, \"splits_mapped\": %zu, "
            "\"threads_source\": \"%s\", \"cores_available\": %zu, \"threads\": [",
            (unsigned long long)(peak > r->rss_before_combine ? peak : r->rss_before_combine),
            (unsigned long long)r->rss_before_combine, (unsigned long long)r->rss_combine_start,
            (unsigned long long)r->rss_combine, (unsigned long long)r->table_bytes,
            (unsigned long long)r->range_len, (unsigned long long)r->result_len,
            (unsigned long long)r->st.bytes, (unsigned long long)r->st.records,
            (unsigned long long)r->st.distinct, r->phase[MRC_PHASE_MAP], r->st.splits,
            source_name(r->pl.source), r->pl.cores_available);
    for (size_t i = 0; i < r->pl.nthreads; i++) {
        fprintf(f, "%s{\"thread\": %zu, \"core\": %d, \"cpus\": ", i ? ", " : "", i,
                r->pl.core_of[i]);
        mrc_json_string(f, r->pl.cpus_of[i] ? r->pl.cpus_of[i] : "");
        fprintf(f, ", \"map_seconds\": %.6f}",
                r->st.thread_seconds && i < r->st.nthreads ? r->st.thread_seconds[i] : 0.0);
    }
    fputs("]}", f);
    fclose(f);
    return buf;
}

static void metrics_json(FILE *f, void *arg)
{
    metrics_view *v = arg;
    run *r = v->r;
    const mrc_options *o = &r->o;
    static const char *const sched[] = {"static", "dynamic"};
    static const char *const reduce[] = {"auto", "reduce", "shuffle"};
    static const char *const sort[] = {"count", "key"};
    static const char *const tokens[] = {"whitespace", "alnum"};
    static const char *const formats[] = {"v1", "v2", "v3"};
    static const char *const values[] = {"match", "volumes"};
    static const char *const poses[] = {"keep", "untagged", "tagged", "strip"};
    int n = r->d.size;
    fprintf(f, "{\n  \"mrcount_version\": \"%s\",\n  \"config\": {\"job\": ", MRC_VERSION);
    mrc_json_string(f, o->job.job ? o->job.job : "words");
    if (is_ngram(o))
        fprintf(f,
                ", \"format\": \"%s\", \"value\": \"%s\", \"pos\": \"%s\", \"year_min\": %d, "
                "\"year_max\": %d, \"strict\": %s, \"gz_backend\": \"%s\"",
                formats[o->job.format], values[o->job.value], poses[o->job.pos], o->job.year_min,
                o->job.year_max, o->job.strict ? "true" : "false", mrc_reader_gz_backend());
    fprintf(f,
            ", \"tokens\": \"%s\", \"fold_case\": %s, \"ranks\": %d, \"threads_option\": %zu, "
            "\"schedule\": \"%s\", \"chunk_size\": %llu, \"reduce\": \"%s\", "
            "\"reduce_used\": \"%s\", \"reduce_fallback\": %s, \"union_estimate\": %.0f, "
            "\"combine_model_seconds\": {\"reduce\": %.6f, \"shuffle\": %.6f}, "
            "\"sort\": \"%s\", \"top\": %llu, \"output\": ",
            tokens[o->job.tokens], o->job.fold_case ? "true" : "false", n, o->threads,
            sched[o->schedule], (unsigned long long)r->chunk, reduce[o->reduce],
            r->shuffle ? "shuffle" : "reduce", r->fell_back ? "true" : "false", r->union_est,
            r->predicted[0], r->predicted[1], sort[o->out.sort], (unsigned long long)o->out.top);
    mrc_json_string(f, o->out.path ? o->out.path : "-");
    if (o->output_per_rank != NULL) {
        fputs(", \"output_per_rank\": ", f);
        mrc_json_string(f, o->output_per_rank);
    }
    /* rank 0's view; every rank decides alike (the same launcher environment) */
    fprintf(f, ", \"mpi_pml\": \"%s\"",
            r->d.node_local_pml ? "ob1 (one node)" : "launcher or site default");
    fputs(", \"inputs\": [", f);
    for (size_t i = 0; i < o->ninputs; i++) {
        fputs(i ? ", " : "", f);
        mrc_json_string(f, o->inputs[i]);
    }
    fprintf(f,
            "]},\n  \"files\": %zu,\n  \"bytes_read\": %llu,\n  \"records\": %llu,\n"
            "  \"%s\": %llu,\n  \"distinct_keys\": %llu,\n  \"seconds\": %.6f,\n"
            "  \"mb_per_s\": %.3f,\n",
            r->files.n, (unsigned long long)r->totals[0], (unsigned long long)r->totals[1],
            is_ngram(o) ? "lines" : "tokens", (unsigned long long)r->totals[1],
            (unsigned long long)r->totals[2], r->t_total,
            r->t_total > 0 ? (double)r->totals[0] / 1e6 / r->t_total : 0.0);
    if (is_ngram(o)) bad_records_json(f, r);
    fputs("  \"phases\": {", f);
    double map_mean = 0, map_max = 0;
    for (int p = 0; p < MRC_PHASE_COUNT; p++) {
        double mn = 1e300, mx = 0, sum = 0;
        for (int k = 0; k < n; k++) {
            double x = v->phases[k * MRC_PHASE_COUNT + p];
            mn = x < mn ? x : mn;
            mx = x > mx ? x : mx;
            sum += x;
        }
        if (p == MRC_PHASE_MAP) {
            map_mean = sum / n;
            map_max = mx;
        }
        fprintf(f, "%s\n    \"%s\": {\"min\": %.6f, \"mean\": %.6f, \"max\": %.6f}", p ? "," : "",
                mrc_phase_names[p], mn, sum / n, mx);
    }
    fprintf(f, "\n  },\n  \"load_imbalance\": %.4f,\n  \"ranks\": [",
            map_mean > 0 ? map_max / map_mean : 1.0);
    for (int k = 0; k < n; k++)
        fprintf(f, "%s\n    %s", k ? "," : "", v->ranks && v->ranks[k] ? v->ranks[k] : "{}");
    fputs("\n  ]\n}\n", f);
}

static int write_metrics(run *r)
{
    metrics_view v = {r, NULL, NULL};
    int rc = 0;
    if (r->d.rank == 0) {
        v.phases = calloc((size_t)r->d.size * MRC_PHASE_COUNT, sizeof *v.phases);
        if (v.phases == NULL) rc = mrc_err_set(&r->err, MRC_ENOMEM, "metrics: out of memory");
    }
    char *mine = rank_json(r);
    if (rc == 0) rc = mrc_dist_gather_doubles(&r->d, r->phase, MRC_PHASE_COUNT, v.phases, &r->err);
    if (rc == 0) rc = mrc_dist_gather_strings(&r->d, mine ? mine : "{}", &v.ranks, &r->err);
    free(mine);
    if (rc == 0 && r->d.rank == 0 &&
        (rc = mrc_metrics_write_file(r->o.metrics, metrics_json, &v, &r->err)) == 0)
        made_file(r->o.metrics);
    if (v.ranks != NULL)
        for (int k = 0; k < r->d.size; k++)
            free(v.ranks[k]);
    free(v.ranks);
    free(v.phases);
    if (MRC_FAULT_AT(MRC_FP_METRICS)) rc = mrc_fault_at(&r->err, MRC_FP_METRICS, rc);
    return agree(r, rc);
}

static void print_summary(run *r)
{
    double mb = (double)r->totals[0] / 1e6;
    fprintf(stderr,
            "mrcount: %zu files, %.1f MB, %llu %s, %llu distinct, %.2f s, %.1f MB/s "
            "(%d ranks x %zu threads)\n",
            r->files.n, mb, (unsigned long long)r->totals[1], is_ngram(&r->o) ? "lines" : "tokens",
            (unsigned long long)r->totals[2], r->t_total, r->t_total > 0 ? mb / r->t_total : 0.0,
            r->d.size, r->pl.nthreads);
}

static int run_all(run *r)
{
    mrc_job job;
    int rc = mrc_job_select(&r->o.job, &job, &r->err);
    if (agree(r, rc) != 0) return 2;
    if (phase_discover(r) || phase_distribute(r) || phase_place(r) || phase_map(r, &job) ||
        phase_combine(r))
        return 1;
    if (is_ngram(&r->o) && gather_bad_records(r) != 0) return 1;
    uint64_t sums[2] = {r->st.bytes, r->st.records};
    if (agree(r, mrc_dist_sum_u64(&r->d, sums, 2, &r->err)) != 0) return 1;
    r->totals[0] = sums[0];
    r->totals[1] = sums[1];
    if (phase_output(r) != 0) return 1;
    r->t_total = mrc_now() - r->t_start;
    if (r->o.metrics != NULL && write_metrics(r) != 0) return 1;
    if (!keep_outputs()) { /* too late to agree on: this rank alone stops */
        r->late_signal = true;
        signal_error(&r->err);
        if (r->d.size > 1)
            fprintf(stderr, "mrcount: rank %d: %s\n", r->d.rank, r->err.msg);
        else
            fprintf(stderr, "mrcount: %s\n", r->err.msg);
        return 1;
    }
    if (r->d.rank == 0) print_bad_records(r); /* a warning: --quiet drops only the summary */
    if (r->d.rank == 0 && !r->o.quiet) print_summary(r);
    return 0;
}

static void run_free(run *r)
{
    free(r->bad_files);
    free(r->bad_samples);
    free(r->bad_lines);
    free(r->result);
    free(r->range);
    free(r->local);
    free(r->mine);
    mrc_map_stats_free(&r->st);
    mrc_placement_free(&r->pl);
    if (r->topo != NULL) mrc_topo_close(r->topo);
    mrc_split_plan_free(&r->plan);
    mrc_file_list_free(&r->files);
    mrc_options_free(&r->o);
    mrc_dist_iprogress_close(r->agreement);
}

/* Give the signal handler every temporary file this rank may write. */
static void watch_temps(const run *r)
{
    if (r->o.output_per_rank != NULL) {
        char *part = part_path(r->o.output_per_rank, r->d.rank), *manifest = NULL;
        if (part != NULL) watch_file(mrc_output_temp_path(part));
        free(part);
        if (r->d.rank == 0 && asprintf(&manifest, "%s/manifest.json", r->o.output_per_rank) >= 0)
            watch_file(mrc_output_temp_path(manifest)); /* the metrics writer's name too */
        free(manifest);
    } else if (r->d.rank == 0 && r->o.out.path != NULL && strcmp(r->o.out.path, "-") != 0) {
        watch_file(mrc_output_temp_path(r->o.out.path));
    }
    if (r->d.rank == 0 && r->o.metrics != NULL) watch_file(mrc_output_temp_path(r->o.metrics));
}

/* The run failed: every rank removes what it wrote; then, together (the collective also tells
 * rank 0 that every part is gone, so the directory the run made can go), the ranks learn which
 * signal stopped the run, if one did. @return that signal, or 0. */
static int finish_failed(run *r)
{
    remove_watched();
    uint64_t sig = (uint64_t)atomic_load(&got_signal);
    mrc_err e = {0};
    if (r->d.size > 1 && r->err.code != MRC_EMPI && mrc_dist_max_u64(&r->d, &sig, 1, &e) != 0)
        sig = (uint64_t)atomic_load(&got_signal);
    if (r->d.rank == 0 && r->made_dir) rmdir(r->o.output_per_rank);
    return r->err.code == MRC_EINTR ? (int)sig : 0;
}

/* The conventional end of a run that a signal stopped: a signalled process dies of its signal
 * (its parent sees 128 + the signal, and a shell running it in a script stops there too); the
 * other ranks exit with that status. */
static int exit_by_signal(int sig)
{
    if (atomic_load(&got_signal) == sig) {
        struct sigaction sa;
        memset(&sa, 0, sizeof sa);
        sa.sa_handler = SIG_DFL;
        sigemptyset(&sa.sa_mask);
        sigaction(sig, &sa, NULL);
        sigset_t set;
        sigemptyset(&set);
        sigaddset(&set, sig);
        sigprocmask(SIG_UNBLOCK, &set, NULL);
        raise(sig);
    }
    return 128 + sig;
}

int main(int argc, char **argv)
{
    static run r;
    r.t_start = mrc_now();
    if (mrc_dist_init(&argc, &argv, &r.d, &r.err) != 0) {
        fprintf(stderr, "mrcount: %s\n", r.err.msg);
        return 1;
    }
    catch_signals();
    if (mrc_dist_iprogress_open(&r.agreement, &r.err) != 0) { /* a few bytes: cannot agree */
        fprintf(stderr, "mrcount: rank %d: %s\n", r.d.rank, r.err.msg);
        mrc_dist_abort(1);
        return 1;
    }

    int status = 0;
    if (agree(&r, mrc_fault_parse(r.d.rank, r.d.size, &got_signal, &r.err)) != 0) {
        status = 2;
    } else if (agree(&r, mrc_options_parse(argc, argv, &r.o, &r.err)) != 0) {
        if (r.d.rank == 0) fprintf(stderr, "Try 'mrcount --help' for more information.\n");
        status = 2;
    } else if (r.o.help) {
        if (r.d.rank == 0) fputs(mrc_options_usage(), stdout);
    } else if (r.o.version) {
        if (r.d.rank == 0) printf("mrcount %s\n", MRC_VERSION);
    } else if (r.o.ninputs == 0) {
        if (r.d.rank == 0)
            fprintf(stderr, "mrcount: no input: name files, directories, globs or @lists "
                            "(standard input is not read)\n"
                            "Try 'mrcount --help' for more information.\n");
        status = 2;
    } else {
        watch_temps(&r);
        status = run_all(&r);
    }
    int sig = 0;
    if (r.late_signal) {
        remove_watched();
        sig = atomic_load(&got_signal);
    } else if (status != 0) {
        sig = finish_failed(&r);
    }
    fflush(stdout);
    run_free(&r);
    mrc_dist_finalize();
    return sig > 0 ? exit_by_signal(sig) : status;
}
