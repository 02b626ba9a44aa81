/* main.c - the mrcount program: parse options, start MPI, then run the phases of DESIGN.md on
 * every rank in order (discover on rank 0, distribute splits, place threads, map, combine,
 * output, metrics), the ranks agreeing after each, so a failure anywhere, or SIGTERM/SIGINT,
 * ends the run everywhere with one message, no output file left behind (standard output and
 * other descriptors keep what they got), and status 1 (128 + the signal when a signal stopped
 * it). It only orchestrates: the work is in the stages it calls, and what the run reports is
 * rendered by output/report.c from the plain data filled here. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "mrcount/output.h"
#include "mrcount/table.h"
#include "mrcount/tmpfile.h"
#include "resume.h"
#include "run.h"
#include "signals.h"

#define PIECE_MAX ((uint64_t)4 << 20)
#define CKPT_GRACE_S 60.0 /* the agreement's wait for ranks draining into a checkpoint */

static void warn_rank0(const char *msg, void *arg)
{
    (void)arg;
    char line[MRC_ERR_MSG_MAX];
    snprintf(line, sizeof line, "%s", msg);
    mrc_msg_printable(line);
    fprintf(stderr, "mrcount: warning: %s\n", line);
}

int mrc_run_agree(run *r, int status)
{
    return mrc_agree(&r->agreement, status, &r->err);
}

static int agree(run *r, int status)
{
    return mrc_run_agree(r, status);
}

int mrc_run_end_phase(run *r, enum mrc_fault_phase p, int rc)
{
    if (MRC_FAULT_AT(p)) rc = mrc_fault_at(&r->err, p, rc);
    return agree(r, rc);
}

/* ---- the phases ---- */

static int phase_discover(run *r)
{
    double t0 = mrc_now();
    int rc = 0;
    if (r->d.rank == 0) {
        mrc_discover_opts dopt = {.warn = warn_rank0,
                                  .stop = &mrc_signal_flag,
                                  .exclude = (const char *const *)r->o.exclude.v,
                                  .nexclude = r->o.exclude.n,
                                  .own_dir = r->o.checkpoint};
        rc = mrc_input_discover_with((const char *const *)r->o.inputs, r->o.ninputs, &dopt,
                                     &r->files, &r->err);
        if (rc == 0) rc = mrc_options_check_inputs(&r->o, &r->files, &r->err);
        /* where the result and the metrics go, before the map rather than after it */
        if (rc == 0 && r->o.output_per_rank == NULL) rc = mrc_output_probe(r->o.out.path, &r->err);
        if (rc == 0 && r->o.output_per_rank != NULL) { /* made, checked and removed again */
            bool made = false;
            rc = mrc_output_prepare_parts(r->o.output_per_rank, &made, &r->err);
            if (made) rmdir(r->o.output_per_rank);
        }
        if (rc == 0 && r->o.metrics != NULL) rc = mrc_output_probe(r->o.metrics, &r->err);
        r->chunk = r->o.chunk_size ? r->o.chunk_size
                                   : mrc_split_default_chunk(r->files.total_bytes, r->d.size);
        if (rc == 0 && r->o.checkpoint != NULL) /* the plan of what the checkpoint lacks */
            rc = mrc_run_ckpt_plan(r);
        else if (rc == 0)
            rc = mrc_split_plan_make(&r->files, r->chunk, (size_t)r->d.size, &r->plan, &r->err);
    }
    r->phase[MRC_PHASE_DISCOVER] = mrc_now() - t0;
    return mrc_run_end_phase(r, MRC_FP_DISCOVER, rc);
}

static int phase_distribute(run *r)
{
    double t0 = mrc_now();
    int rc = mrc_mpi_bcast_files(&r->d, &r->files, &r->err);
    /* Dynamic: any rank may map any split, so r->mine is the whole plan, in pull order. */
    if (rc == 0 && r->o.schedule == MRC_SCHEDULE_DYNAMIC)
        rc = mrc_mpi_bcast_plan(&r->d, &r->files, &r->plan, &r->mine, &r->nmine, &r->err);
    else if (rc == 0)
        rc = mrc_mpi_scatter_splits(&r->d, &r->plan, &r->mine, &r->nmine, &r->err);
    r->phase[MRC_PHASE_DISTRIBUTE] = mrc_now() - t0;
    return mrc_run_end_phase(r, MRC_FP_DISTRIBUTE, rc);
}

/* --checkpoint: every rank reopens its share of what earlier attempts kept. */
static int phase_resume(run *r)
{
    if (r->o.checkpoint == NULL) return 0;
    double t0 = mrc_now();
    int rc = mrc_run_ckpt_share(r);
    r->phase[MRC_PHASE_DISTRIBUTE] += mrc_now() - t0;
    return agree(r, rc);
}

/* The spill directory is node-local: every rank makes a temporary in it now, so that a run
 * that would spill hours in does not learn only then that it cannot. A --tmp-dir asked for
 * must work; the default ($TMPDIR, /tmp) only warns (once a node), as a run that never spills
 * does not need it. @return 0, or the error naming the directory. */
static int probe_tmp_dir(run *r)
{
    mrc_err e = {0};
    if (mrc_tmpdir_check(r->o.tmp_dir, &e) == 0) return 0; /* as a spill opens, a byte written */
    if (r->o.tmp_dir_given) { /* asked for, even as $TMPDIR or /tmp: the run ends here */
        r->err = e;
        return e.code;
    }
    if (r->d.node_rank == 0)
        fprintf(stderr,
                "mrcount: warning: %s (a spill would fail there: --tmp-dir names another)\n",
                e.msg);
    return 0;
}

/* Cores the launcher's binding leaves to no rank (`mpirun -np 1` binds its rank to one core)
 * when no thread count was asked for: the run follows the binding, rank 0 says so once.
 * Collective; idle[] = {idle cores, cores, nodes} summed over the nodes' first ranks. */
static void count_idle_cores(const run *r, const char *node_union, bool counted, uint64_t idle[3])
{
    idle[0] = idle[1] = idle[2] = 0;
    if (counted && r->d.node_rank == 0 && r->pl.source == MRC_THREADS_CPUSET) {
        size_t total = 0;
        idle[0] = mrc_topo_idle_cores(r->topo, node_union, &total);
        idle[1] = total;
        idle[2] = 1;
    }
    mrc_err e = {0}; /* only a note: a failed sum goes without it */
    if (mrc_mpi_sum_u64(&r->d, idle, 3, &e) != 0) idle[0] = 0;
}

static void note_idle_cores(const uint64_t idle[3])
{
    char where[64] = "this node";
    if (idle[2] > 1) snprintf(where, sizeof where, "the %llu nodes", (unsigned long long)idle[2]);
    fprintf(stderr,
            "mrcount: note: %llu of the %llu cores of %s stay%s idle, bound to no rank (mpirun "
            "binds a rank to one core unless told: --map-by slot:PE=N or --bind-to none; srun: "
            "--cpus-per-task)\n",
            (unsigned long long)idle[0], (unsigned long long)idle[1], where,
            idle[0] == 1 ? "s" : "");
}

/* More threads than cores on some ranks: one warning from rank 0 for all of them (a line a rank
 * said np times the same). The first such rank is the example: the largest of size - rank,
 * with its thread and core counts (capped to 20 bits each) below it in one word. Collective. */
static void warn_oversubscribed(const run *r)
{
    const uint64_t cap = ((uint64_t)1 << 20) - 1;
    bool over = r->pl.oversubscribed;
    uint64_t n = over, first = 0;
    if (over && (uint64_t)r->d.size <= ((uint64_t)1 << 24))
        first = (uint64_t)(r->d.size - r->d.rank) << 40 |
                (r->pl.nthreads < cap ? r->pl.nthreads : cap) << 20 |
                (r->pl.cores_available < cap ? r->pl.cores_available : cap);
    mrc_err e = {0};
    if (mrc_mpi_sum_u64(&r->d, &n, 1, &e) != 0 || mrc_mpi_max_u64(&r->d, &first, 1, &e) != 0 ||
        r->d.rank != 0 || n == 0)
        return;
    char who[96] = ""; /* the first such rank, when its number fitted */
    if (first != 0)
        snprintf(who, sizeof who, "rank %llu runs %llu threads on %llu core%s",
                 (unsigned long long)r->d.size - (first >> 40),
                 (unsigned long long)(first >> 20 & cap), (unsigned long long)(first & cap),
                 mrc_plural(first & cap));
    if (n == 1 && first != 0)
        fprintf(stderr, "mrcount: warning: %s (oversubscribed)\n", who);
    else
        fprintf(stderr,
                "mrcount: warning: %llu of the %d ranks run more threads than cores "
                "(oversubscribed%s%s)\n",
                (unsigned long long)n, r->d.size, first != 0 ? "; " : "", who);
}

static int phase_place(run *r)
{
    int rc = 0;
    char *cpuset = NULL;
    size_t share_index = 0, share_count = 1;
    r->topo = mrc_topo_open(NULL, &r->err);
    if (r->topo == NULL) rc = r->err.code;
    if (rc == 0) {
        cpuset = mrc_topo_cpuset_string(r->topo, &r->err);
        if (cpuset == NULL) rc = r->err.code ? r->err.code : MRC_EIO;
    }
    /* Collective: every rank takes part, with an empty string if it has no cpuset. */
    char *node_union = NULL;
    int rc2 = mrc_mpi_share(&r->d, cpuset ? cpuset : "", &share_index, &share_count, &node_union,
                            &r->err);
    if (rc == 0) rc = rc2;
    if (rc == 0)
        rc = mrc_placement_plan(r->topo, cpuset, share_index, share_count, (size_t)r->o.threads,
                                &r->pl, &r->err);
    if (rc == 0 && r->pl.ignored_env != NULL && r->d.rank == 0)
        fprintf(stderr, "mrcount: warning: %s='%s' is not a positive integer: ignored\n",
                r->pl.ignored_env, getenv(r->pl.ignored_env));
    uint64_t idle[3];
    count_idle_cores(r, node_union, rc == 0, idle);
    free(node_union);
    free(cpuset);
    if (r->o.memory_limit != 0) {
        mrc_memlimit_explicit(r->o.memory_limit, &r->mem);
    } else {
        mrc_memlimit_env env;
        unsigned threads = (unsigned)r->pl.nthreads + 1; /* the workers and the main thread */
        /* SLURM_MEM_PER_CPU is per Slurm CPU: a PU, two a core where Slurm counts SMT */
        mrc_memlimit_env_from_process(&env, (unsigned)(r->d.node_size > 0 ? r->d.node_size : 1),
                                      (unsigned)(r->pl.cpus_available ? r->pl.cpus_available : 1),
                                      threads);
        mrc_memlimit_detect(&env, &r->mem);
        if (r->d.node_rank == 0 && r->mem.ignored[0] != '\0')
            fprintf(stderr,
                    "mrcount: warning: %s is not a size of memory (MB, or a K/M/G/T suffix): "
                    "ignored; the memory limit comes from %s\n",
                    r->mem.ignored, r->mem.source);
        /* Less than the floor of the tables and MPI's own memory: the rank will pass what it
         * may use (SLURM_MEM_PER_NODE=64 for 2 ranks: 32 MiB each, and each peaked at 57 MiB),
         * which a batch system's cgroup punishes: say so, once a node (its ranks share it) */
        if (r->d.node_rank == 0 && r->mem.limit != MRC_MEMLIMIT_UNLIMITED &&
            r->mem.source_bytes < r->mem.limit + MRC_MEMLIMIT_HEADROOM_MIN / 2)
            fprintf(stderr,
                    "mrcount: warning: rank %d may use %llu MiB (%s), less than it needs "
                    "(%llu MiB of tables at least, and MPI's own): it may pass that; give the "
                    "job more memory or a node fewer ranks\n",
                    r->d.rank, (unsigned long long)(r->mem.source_bytes >> 20), r->mem.source,
                    (unsigned long long)(r->mem.limit >> 20));
    }
    if (rc == 0 && r->mem.limit != MRC_MEMLIMIT_UNLIMITED) rc = probe_tmp_dir(r);
    rc = mrc_run_end_phase(r, MRC_FP_PLACE, rc);
    if (rc == 0 && r->d.rank == 0 && idle[0] > 0) note_idle_cores(idle);
    if (rc == 0) warn_oversubscribed(r);
    return rc;
}

#define PROGRESS_LINE_S 10.0 /* seconds between progress lines in a log (a bar: 0.25) */

typedef struct progress_view {
    run *r;
    double t0, last;
    bool lines; /* stderr is no terminal (--progress always into a log): a line a frame */
    bool drawn; /* a log's first line comes at once: the map has begun */
} progress_view;

static void draw_progress(void *arg, uint64_t done, uint64_t mapping, bool final)
{
    progress_view *v = arg;
    double now = mrc_now();
    if (v->lines && v->drawn && !final && now - v->last < PROGRESS_LINE_S) return;
    v->last = now;
    v->drawn = true;
    /* what this run maps: the input less what a checkpoint holds already */
    uint64_t total = v->r->files.total_bytes - v->r->ckpt.bytes_skipped;
    mrc_progress_draw(stderr, done, total, mapping, now - v->t0, final, v->lines);
}

static void signalled_map(void *arg, mrc_err *err)
{
    (void)arg;
    mrc_signals_error(err);
}

static void stopping_map(void *arg)
{
    (void)arg;
    mrc_fault_map_stop();
}

static int phase_map(run *r)
{
    double t0 = mrc_now();
    uint64_t piece = r->o.chunk_size && r->o.chunk_size < PIECE_MAX ? r->o.chunk_size : PIECE_MAX;
    bool dynamic = r->o.schedule == MRC_SCHEDULE_DYNAMIC;
    mrc_mpi_map_state st;
    if (agree(r, mrc_mpi_map_open(&r->d, dynamic, &st, &r->err)) != 0) {
        mrc_mpi_map_close(&st);
        return 1;
    }
    if (MRC_FAULT_AT(MRC_FP_MAP)) mrc_fault_wrap_map(&r->job);
    mrc_map_opts mapo = {.piece_size = piece,
                         .table_budget = mrc_run_table_budget(r),
                         .decoder_limit = mrc_run_decoder_limit(r),
                         .tmp_dir = r->o.tmp_dir,
                         .ckpt_dir = r->o.checkpoint,
                         .ckpt_rank = r->d.rank,
                         .ckpt_gen = r->ckpt.gen,
                         .ckpt_interval = r->o.checkpoint_interval,
                         .test_piece_pause_us = r->knobs.piece_pause_us,
                         .test_ckpt_hold = r->knobs.ckpt_hold};
    mrc_map_run *m = dynamic ? mrc_map_start_fed(&r->job, &r->files, r->mine, r->nmine, &mapo,
                                                 r->topo, &r->pl, &r->err)
                             : mrc_map_start(&r->job, &r->files, r->mine, r->nmine, &mapo, r->topo,
                                             &r->pl, &r->err);
    bool tty = r->d.rank == 0 && r->o.progress != MRC_PROGRESS_NEVER && mrc_progress_terminal();
    bool show = r->d.rank == 0 && (r->o.progress == MRC_PROGRESS_ALWAYS ||
                                   (r->o.progress == MRC_PROGRESS_AUTO && tty));
    progress_view pv = {r, t0, t0, !tty, false};
    r->progress = show;
    mrc_mpi_map_opts mo = {.dynamic = dynamic,
                           .plan = r->mine,
                           .nplan = r->nmine,
                           .signalled = &mrc_signal_flag,
                           .on_signal = signalled_map,
                           .progress = show ? draw_progress : NULL,
                           .progress_arg = &pv,
                           .stopping = stopping_map,
                           .drain = r->o.checkpoint != NULL};
    bool local_failed = false;
    int rc = mrc_mpi_map_drive(&r->d, m, &mo, &st, &local_failed, &r->err);
    double t1 = mrc_now();
    /* A rank stopped because another failed reports success here: agree() then carries the
     * failing rank's own message to everyone. */
    int status = rc != 0 ? rc : local_failed ? (r->err.code ? r->err.code : MRC_EIO) : 0;
    if (m != NULL) {
        mrc_err ferr = {0};
        int frc = mrc_map_end(m, &r->mapped, &r->st, &ferr);
        if (frc != 0 && frc != MRC_EINTR) {
            if (r->err.code == 0) r->err = ferr;
            if (status == 0) status = frc;
        }
    }
    if (status == 0 && r->o.checkpoint != NULL) status = mrc_run_ckpt_adopt(r);
    r->phase[MRC_PHASE_MAP] = r->st.map_seconds > 0 ? r->st.map_seconds : t1 - t0;
    /* A rank whose workers consumed nothing (no input reached it) takes its map fault here. */
    if (mrc_fault_map_pending()) status = mrc_fault_at(&r->err, MRC_FP_MAP, status);
    return agree(r, status);
}

/* Rank 0 gathers every rank's bad-record counts and first samples, and finds their lines. */
static int gather_bad_records(run *r)
{
    int rc = mrc_mpi_gather_bad(&r->d, &r->st, &r->files, &r->bad, &r->err);
    return agree(r, rc);
}

static int run_all(run *r)
{
    mrc_job_env env = {.kernel = getenv("MRC_KERNEL")};
    int rc = mrc_job_select(&r->job, r->o.job, mrc_options_job_settings(&r->o), &env, &r->err);
    if (agree(r, rc) != 0) return 2;
    if (phase_discover(r)) return r->err.code == MRC_EUSAGE ? 2 : 1;
    if (phase_distribute(r) || phase_resume(r) || phase_place(r) || phase_map(r) ||
        mrc_run_combine(r))
        return 1;
    if (r->job.desc->bad_records && gather_bad_records(r) != 0) return 1;
    r->totals[0] = r->st.bytes;
    r->totals[1] = r->st.records + r->ckpt.figures.records;
    for (size_t c = 0; c < MRC_JOB_COUNTERS; c++)
        r->totals[2 + c] = r->st.counters[c] + r->ckpt.figures.counters[c];
    r->totals[MRC_TOTAL_CKPT_COUNT] = r->st.ckpt_count;
    r->totals[MRC_TOTAL_CKPT_BYTES] = r->st.ckpt_bytes;
    if (agree(r, mrc_mpi_sum_u64(&r->d, r->totals, MRC_TOTALS, &r->err)) != 0) return 1;
    if (mrc_run_output(r) != 0) return 1;
    r->t_total = mrc_now() - r->t_start;
    if (r->o.metrics != NULL && mrc_run_write_metrics(r) != 0) return 1;
    if (!mrc_signals_keep()) { /* too late to agree on: this rank alone stops */
        r->late_signal = true;
        mrc_signals_error(&r->err);
        if (r->d.size > 1)
            fprintf(stderr, "mrcount: rank %d: %s\n", r->d.rank, r->err.msg);
        else
            fprintf(stderr, "mrcount: %s\n", r->err.msg);
        return 1;
    }
    if (r->o.checkpoint != NULL && mrc_run_ckpt_finish(r) != 0) /* the result stands */
        fprintf(stderr, "mrcount: warning: %s\n", r->err.msg);
    if (r->d.rank == 0) mrc_report_print_bad(stderr, &r->bad); /* --quiet drops only the summary */
    if (r->d.rank == 0 && !r->o.quiet) mrc_run_print_summary(r);
    return 0;
}

static void run_free(run *r)
{
    mrc_run_ckpt_free(r);
    mrc_bad_report_free(&r->bad);
    mrc_run_flow_free(r);
    free(r->comb.table);
    free(r->local);
    free(r->mine);
    mrc_map_stats_free(&r->st);
    mrc_placement_free(&r->pl);
    if (r->topo != NULL) mrc_topo_close(r->topo);
    mrc_split_plan_free(&r->plan);
    mrc_file_list_free(&r->files);
    mrc_options_free(&r->o);
    mrc_agree_close(&r->agreement);
}

/* The temporary of a result or metrics path (of its target when it is a symbolic link, as
 * mrc_out_dest_open() writes it). */
static void watch_temp_of(const char *path)
{
    if (mrc_path_fd(path) >= 0) return; /* written through the descriptor: no temporary */
    char *target = mrc_link_target(path);
    mrc_signals_watch(mrc_temp_path(target != NULL ? target : path));
    free(target);
}

/* Give the signal handler every temporary file this rank may write. */
static void watch_temps(const run *r)
{
    if (r->o.output_per_rank != NULL) {
        char *part = mrc_output_part_path(r->o.output_per_rank, r->d.rank), *manifest = NULL;
        if (part != NULL) mrc_signals_watch(mrc_temp_path(part));
        free(part);
        if (r->d.rank == 0 && asprintf(&manifest, "%s/manifest.json", r->o.output_per_rank) >= 0)
            mrc_signals_watch(mrc_temp_path(manifest));
        free(manifest);
    } else if (r->d.rank == 0 && strcmp(r->o.out.path, "-") != 0) {
        watch_temp_of(r->o.out.path);
    }
    if (r->d.rank == 0 && r->o.metrics != NULL && strcmp(r->o.metrics, "-") != 0)
        watch_temp_of(r->o.metrics);
}

/* The run failed: every rank removes what it wrote; then, together (the collective also tells
 * rank 0 that every part is gone, so the directory the run made can go), the ranks learn which
 * signal stopped the run, if one did. @return that signal, or 0. */
static int finish_failed(run *r)
{
    mrc_signals_remove_watched();
    /* the signal, and whether any rank's checkpoint holds work (manifests of this attempt or
     * of earlier ones); unknown (as kept) when the ranks cannot reduce */
    uint64_t v[2] = {(uint64_t)atomic_load(&mrc_signal_flag),
                     r->st.ckpt_count + (r->d.rank == 0 ? r->ckpt.manifests : 0)};
    mrc_err e = {0};
    if (r->d.size > 1 && (r->err.code == MRC_EMPI || mrc_mpi_max_u64(&r->d, v, 2, &e) != 0)) {
        v[0] = (uint64_t)atomic_load(&mrc_signal_flag);
        v[1] = 1;
    }
    if (r->d.rank == 0 && r->made_dir) rmdir(r->o.output_per_rank);
    if (r->d.rank == 0 && r->o.checkpoint != NULL && r->ckpt.gen > 0) {
        if (v[1] > 0)
            fprintf(stderr,
                    "mrcount: the work done so far is kept in %s: the same command resumes it "
                    "(--checkpoint-reset starts over, which a damaged checkpoint needs)\n",
                    r->o.checkpoint);
        else
            fprintf(stderr,
                    "mrcount: %s holds no finished work yet (the map had written no "
                    "checkpoint): the same command starts the map over\n",
                    r->o.checkpoint);
    }
    return r->err.code == MRC_EINTR ? (int)v[0] : 0;
}

int main(int argc, char **argv)
{
    static run r;
    r.t_start = mrc_now();
    mrc_note_given_fds(); /* before MPI opens descriptors of its own */
    /* Caught before MPI_Init: a rank killed by a signal while it connects to mpirun could
     * leave mpirun waiting for it forever (seen with Open MPI 4.1.4: "PMIX ERROR:
     * UNREACHABLE", then a hang; 5 of ~80 signals to a rank 0.11-0.22 s after mpirun
     * started); caught, the rank starts and the run stops at its first agreement, as for a
     * signal at any later time. Once only until MPI is up: a second signal still kills. */
    mrc_signals_catch(true);
    mrc_fault_at_start();
    if (mrc_mpi_init(&argc, &argv, &r.d, &r.err) != 0) {
        fprintf(stderr, "mrcount: %s\n", r.err.msg);
        return 1;
    }
    mrc_signals_catch(false);
    if (mrc_agree_open(&r.agreement, &r.d, &r.err) != 0) { /* a few bytes: cannot agree */
        fprintf(stderr, "mrcount: rank %d: %s\n", r.d.rank, r.err.msg);
        mrc_mpi_abort(1);
        return 1;
    }

    int status = 0;
    if (agree(&r, mrc_fault_parse(r.d.rank, r.d.size, &mrc_signal_flag, &r.knobs, &r.err)) != 0) {
        status = 2;
    } else if (agree(&r, mrc_options_parse(argc, argv, &r.o, &r.err)) != 0) {
        if (r.d.rank == 0) fprintf(stderr, "Try 'mrcount --help' for more information.\n");
        status = 2;
    } else if (r.o.help) {
        if (r.d.rank == 0) fputs(mrc_options_usage(), stdout);
    } else if (r.o.version) {
        if (r.d.rank == 0) {
            char codecs[160];
            mrc_reader_codec_versions(codecs, sizeof codecs);
            printf("mrcount %s\n%s\nreads %s\n", MRC_VERSION, mrc_map_unicode_version(), codecs);
        }
    } else if (r.o.ninputs == 0) {
        if (r.d.rank == 0)
            fprintf(stderr, "mrcount: no input: name files, directories, globs or @lists "
                            "(standard input is not read)\n"
                            "Try 'mrcount --help' for more information.\n");
        status = 2;
    } else {
        watch_temps(&r);
        mrc_output_set_sync(r.o.sync);
        mrc_output_set_stop(&mrc_signal_flag);
        /* a signalled rank gives the others time to write their checkpoints */
        if (r.o.checkpoint != NULL) r.agreement.grace = CKPT_GRACE_S;
        status = run_all(&r);
    }
    int sig = 0;
    if (r.late_signal) {
        mrc_signals_remove_watched();
        sig = atomic_load(&mrc_signal_flag);
    } else if (status != 0) {
        sig = finish_failed(&r);
    }
    fflush(stdout);
    run_free(&r);
    mrc_mpi_finalize();
    return sig > 0 ? mrc_signals_exit(sig) : status;
}
