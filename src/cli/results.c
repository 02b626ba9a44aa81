/* results.c - what a run leaves behind besides the result file: the parts of --output-per-rank
 * with their manifest, the metrics JSON and the summary line. It fills the plain-data reports
 * that output/report.c renders; it decides nothing about the run itself. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mrcount/output.h"
#include "run.h"
#include "signals.h"

/* --output-per-rank: every rank writes its hash range as a part; rank 0 writes the manifest
 * last, so a directory with a manifest is complete. On any failure every part is removed. */
static void manifest_json(const void *arg, FILE *f)
{
    mrc_report_manifest(arg, f);
}

int mrc_run_write_parts(run *r)
{
    const char *dir = r->o.output_per_rank;
    int rc = r->d.rank == 0 ? mrc_output_prepare_parts(dir, &r->made_dir, &r->err) : 0;
    if (mrc_run_agree(r, rc) != 0) return 1;
    char *path = mrc_output_part_path(dir, r->d.rank);
    if (path == NULL) {
        rc = mrc_err_set(&r->err, MRC_ENOMEM, "out of memory");
    } else {
        rc = mrc_run_write_part(r, path, &r->err);
        if (rc == 0) mrc_signals_watch_made(path);
    }
    free(path);
    if (mrc_run_end_phase(r, MRC_FP_OUTPUT, rc) != 0) return 1; /* ranks write at their own pace */
    uint64_t *keys = NULL, mine = r->distinct_mine - r->dropped_mine; /* the part's lines */
    size_t *lens = NULL;
    rc = mrc_run_agree(
        r, mrc_mpi_gather_bytes(&r->d, &mine, sizeof mine, (void **)&keys, &lens, &r->err));
    if (rc == 0) {
        int mrc = 0;
        if (r->d.rank == 0) {
            mrc_parts_report p = {r->o.out.sort == MRC_SORT_KEY ? "key" : "count", r->d.size, keys,
                                  r->comb.distinct, r->dropped};
            char *mpath = NULL;
            if (asprintf(&mpath, "%s/manifest.json", dir) < 0)
                mrc = mrc_err_set(&r->err, MRC_ENOMEM, "out of memory");
            else if ((mrc = mrc_report_write_file(mpath, manifest_json, &p, &r->err)) == 0)
                mrc_signals_watch_made(mpath);
            free(mpath);
        }
        rc = mrc_run_agree(r, mrc);
    }
    free(keys);
    free(lens);
    return rc;
}

/* ---- metrics ---- */

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

static void run_options_json(const void *arg, FILE *f)
{
    mrc_options_metrics(arg, f);
}

static void metrics_json(const void *arg, FILE *f)
{
    mrc_report_metrics(arg, f);
}

int mrc_run_write_metrics(run *r)
{
    uint64_t peak = mrc_peak_rss_bytes(); /* may have dropped with the combine's window reset */
    mrc_spill_io io;
    mrc_spill_io_get(&io);
    bool by_ranges = (r->ranged || r->spread) && r->ranges.lines != NULL;
    mrc_rank_report rr = {.rank = r->d.rank,
                          .host = r->d.host,
                          .peak_rss = peak > r->rss_before_combine ? peak : r->rss_before_combine,
                          .rss_before_combine = r->rss_before_combine,
                          .combine_start_rss = r->rss_combine_start,
                          .combine_peak_rss = r->rss_combine,
                          .table_bytes = r->table_bytes,
                          .range_bytes = r->comb.range_len,
                          .result_bytes = r->comb.table_len,
                          .bytes = r->st.bytes,
                          .records = r->st.records,
                          .local_distinct = r->st.distinct,
                          .map_seconds = r->phase[MRC_PHASE_MAP],
                          .splits_mapped = r->st.splits,
                          .threads_source = source_name(r->pl.source),
                          .memory_limit = r->mem.limit,
                          .memory_source = r->mem.source,
                          .spill_bytes = r->st.spill_bytes,
                          .spill_runs = r->st.spill_runs,
                          .hot_records = r->st.hot_records,
                          .spill_written = io.written,
                          .spill_read = io.read,
                          .checkpoint_bytes = r->st.ckpt_bytes,
                          .checkpoint_seconds = r->st.ckpt_seconds,
                          .output_exchange_seconds = r->out_exchange,
                          .output_sort_seconds = r->out_sort,
                          .output_write_seconds = r->out_write,
                          .output_range_lines = by_ranges ? r->ranges.lines[r->d.rank] : 0,
                          .output_range_bytes = by_ranges ? r->range_bytes : 0,
                          .cores_available = r->pl.cores_available,
                          .nthreads = r->pl.nthreads,
                          .core_of = r->pl.core_of,
                          .cpus_of = r->pl.cpus_of,
                          .thread_seconds =
                              r->st.nthreads == r->pl.nthreads ? r->st.thread_seconds : NULL};
    double *phases = NULL;
    char **ranks = NULL;
    int rc = 0;
    if (r->d.rank == 0) {
        phases = calloc((size_t)r->d.size * MRC_PHASE_COUNT, sizeof *phases);
        if (phases == NULL) rc = mrc_err_set(&r->err, MRC_ENOMEM, "metrics: out of memory");
    }
    char *mine = mrc_report_rank_json(&rr);
    if (rc == 0) rc = mrc_mpi_gather_doubles(&r->d, r->phase, MRC_PHASE_COUNT, phases, &r->err);
    if (rc == 0) rc = mrc_mpi_gather_strings(&r->d, mine ? mine : "{}", &ranks, &r->err);
    free(mine);
    mrc_ckpt_report ck = {.dir = r->o.checkpoint,
                          .generation = r->ckpt.gen,
                          .manifests = r->ckpt.manifests,
                          .pieces_skipped = r->ckpt.pieces_skipped,
                          .bytes_skipped = r->ckpt.bytes_skipped,
                          .runs_reused = r->ckpt.runs_reused,
                          .checkpoints = r->totals[MRC_TOTAL_CKPT_COUNT],
                          .bytes_written = r->totals[MRC_TOTAL_CKPT_BYTES],
                          .kept = r->o.keep_checkpoint};
    if (rc == 0 && r->d.rank == 0) {
        mrc_run_report rep = {.job = &r->job,
                              .run_options = run_options_json,
                              .run_options_arg = &r->o,
                              .ranks = r->d.size,
                              .chunk_size = r->chunk,
                              .reduce_used = r->comb.shuffle ? "shuffle" : "reduce",
                              .reduce_fallback = r->comb.fell_back,
                              .output_ranges = r->ranged || r->spread,
                              .output_ranges_declined = r->ranges.declined,
                              .output_in_place = r->placed,
                              .union_estimate = r->comb.union_est,
                              .model_seconds = {r->comb.predicted[0], r->comb.predicted[1]},
                              .mpi_pml = r->d.node_local_pml ? "ob1 (one node)"
                                                             : "launcher or site default",
                              .inputs = (const char *const *)r->o.inputs,
                              .ninputs = r->o.ninputs,
                              .files = r->files.n,
                              .paths_excluded = r->files.excluded,
                              .paths_skipped = r->files.skipped,
                              .bytes = r->totals[0],
                              .records = r->totals[1],
                              .distinct = r->comb.distinct,
                              .min_count_dropped = r->dropped,
                              .seconds = r->t_total,
                              .bad = r->job.desc->bad_records ? &r->bad : NULL,
                              .checkpoint = r->o.checkpoint != NULL ? &ck : NULL,
                              .phases = phases,
                              .rank_json = ranks};
        memcpy(rep.counters, r->totals + 2, sizeof rep.counters);
        if ((rc = mrc_report_write_file(r->o.metrics, metrics_json, &rep, &r->err)) == 0)
            mrc_signals_watch_made(r->o.metrics);
    }
    for (int k = 0; ranks != NULL && k < r->d.size; k++)
        free(ranks[k]);
    free(ranks);
    free(phases);
    return mrc_run_end_phase(r, MRC_FP_METRICS, rc);
}

void mrc_run_print_summary(const run *r)
{
    double mb = (double)r->totals[0] / 1e6;
    char resumed[96] = "";
    if (r->ckpt.bytes_skipped > 0 || r->ckpt.manifests > 0)
        snprintf(resumed, sizeof resumed, " (and %.1f MB resumed from the checkpoint)",
                 (double)r->ckpt.bytes_skipped / 1e6);
    char excl[96] = "", ex[40] = "", sk[40] = "";
    if (r->files.excluded > 0) snprintf(ex, sizeof ex, "%zu excluded", r->files.excluded);
    if (r->files.skipped > 0) snprintf(sk, sizeof sk, "%zu skipped", r->files.skipped);
    if (*ex || *sk) snprintf(excl, sizeof excl, " (%s%s%s)", ex, *ex && *sk ? ", " : "", sk);
    /* the job's word for its records is a plural ("tokens", "lines"): one drops its "s" */
    const char *what = r->job.desc->records;
    int what_len = (int)strlen(what) - (r->totals[1] == 1 && *what != '\0');
    fprintf(stderr,
            "mrcount: %zu file%s%s, %.1f MB%s, %llu %.*s, %llu distinct, %.2f s, %.1f MB/s "
            "(%d rank%s x %zu thread%s)\n",
            r->files.n, mrc_plural(r->files.n), excl, mb, resumed, (unsigned long long)r->totals[1],
            what_len, what, (unsigned long long)r->comb.distinct, r->t_total,
            r->t_total > 0 ? mb / r->t_total : 0.0, r->d.size, mrc_plural((unsigned)r->d.size),
            r->pl.nthreads, mrc_plural(r->pl.nthreads));
}
