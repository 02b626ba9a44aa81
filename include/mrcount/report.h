/* report.h - what a run tells its user besides the result, part of the output stage: the
 * metrics JSON (--metrics FILE.json) rendered from a plain-data report that cli/ fills, each
 * rank's own part of it, the parts manifest of --output-per-rank, and the bad-record summary.
 * Rank 0 writes what the ranks measured and sent it; scaling scripts read only the metrics. */
#ifndef MRCOUNT_REPORT_H
#define MRCOUNT_REPORT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "mrcount/common.h"
#include "mrcount/map.h"

enum mrc_phase {
    MRC_PHASE_DISCOVER,
    MRC_PHASE_DISTRIBUTE,
    MRC_PHASE_MAP,
    MRC_PHASE_LOCAL_MERGE,
    MRC_PHASE_COMBINE,
    MRC_PHASE_OUTPUT,
    MRC_PHASE_COUNT
};

extern const char *const mrc_phase_names[MRC_PHASE_COUNT];

/* One rank's own figures, rendered to a JSON object on the rank and gathered as text. */
typedef struct mrc_rank_report {
    int rank;
    const char *host;
    uint64_t peak_rss, rss_before_combine, combine_start_rss, combine_peak_rss;
    uint64_t table_bytes, range_bytes, result_bytes;
    uint64_t bytes, records, local_distinct;
    double map_seconds;
    size_t splits_mapped;
    const char *threads_source;
    size_t cores_available;
    uint64_t memory_limit;              /* bytes this rank may use (UINT64_MAX: no limit found) */
    const char *memory_source;          /* where the limit came from */
    uint64_t spill_bytes, spill_runs;   /* what the tables spilled to --tmp-dir */
    uint64_t hot_records;               /* tokens counted in the tables' hot fronts */
    uint64_t spill_written, spill_read; /* all spill file traffic (tables, shuffle, sort) */
    uint64_t checkpoint_bytes;          /* bytes of checkpoint runs this rank wrote */
    double checkpoint_seconds;          /* its workers' time writing checkpoints, summed */
    /* its output phase in parts: the exchange into ranges of the output order (0: none), the
     * sort of its share, the rest (merges, lines, writes, serving rank 0, waits) */
    double output_exchange_seconds, output_sort_seconds, output_write_seconds;
    /* its range of the output order when the ranks write the result by ranges (0 else): lines
     * and bytes */
    uint64_t output_range_lines, output_range_bytes;
    size_t nthreads;
    const int *core_of;           /* per thread, -1: unpinned */
    char *const *cpus_of;         /* per thread PU list, may hold NULLs */
    const double *thread_seconds; /* per thread map seconds, may be NULL */
} mrc_rank_report;

/** mrc_report_rank_json() : r as a JSON object. @return malloc'd text, or NULL (out of memory). */
char *mrc_report_rank_json(const mrc_rank_report *r);

/* The malformed records of a run (jobs with bad_records), merged on rank 0. */
typedef struct mrc_bad_report_file {
    const char *path;
    uint64_t count;
    size_t first, n; /* its located samples: lines[first .. first + n) */
} mrc_bad_report_file;

typedef struct mrc_bad_report {
    uint64_t total;
    mrc_bad_report_file *files;
    size_t nfiles;
    uint64_t *lines;     /* per sample: its line, 0 when it could not be found */
    const char **causes; /* per sample: what is wrong */
} mrc_bad_report;

/** mrc_bad_report_make() : the report of merged bad records: per-file counts (ascending file
 *  index) and their first samples (in file order), each sample located to its line in its file
 *  (0 when the file went away). @return 0, or MRC_ENOMEM with err filled. */
int mrc_bad_report_make(mrc_bad_report *b, const mrc_bad_file *files, size_t nfiles,
                        const mrc_bad_sample *samples, size_t nsamples, const mrc_file_list *paths,
                        mrc_err *err);

void mrc_bad_report_free(mrc_bad_report *b);

/** mrc_report_print_bad() : the warning about skipped malformed records (first 10 files, each
 *  with its first located samples), to f. Nothing when there are none. */
void mrc_report_print_bad(FILE *f, const mrc_bad_report *b);

/* --checkpoint: what a run resumed and what it kept. */
typedef struct mrc_ckpt_report {
    const char *dir;
    int generation; /* this attempt: 1 + the earlier ones */
    uint64_t manifests, pieces_skipped, bytes_skipped, runs_reused; /* resumed */
    uint64_t checkpoints, bytes_written;                            /* this attempt, all ranks */
    bool kept; /* DIR stays (--keep-checkpoint) */
} mrc_ckpt_report;

/* What the metrics say about a run: plain data that cli/ fills on rank 0. */
typedef struct mrc_run_report {
    const mrc_job *job;
    /* the run's own options as config fields (", \"key\": value"), written by cli/ */
    void (*run_options)(const void *arg, FILE *f);
    const void *run_options_arg;
    int ranks;
    uint64_t chunk_size;     /* the split size used */
    const char *reduce_used; /* "reduce" or "shuffle" */
    bool reduce_fallback;
    bool output_ranges; /* every rank wrote its range of the output order (else rank 0 merged) */
    bool output_ranges_declined; /* tried, but a range would not fit a rank's memory limit */
    bool output_in_place; /* output_ranges, each rank's lines written into the file by itself */
    double union_estimate;
    double model_seconds[2]; /* reduce, shuffle */
    const char *mpi_pml;
    const char *const *inputs;
    size_t ninputs;
    size_t files;
    size_t paths_excluded; /* paths an --exclude pattern left out (a directory counts once) */
    size_t paths_skipped;  /* paths discovery skipped with a warning (FIFOs, link loops...) */
    uint64_t bytes, records, distinct;
    uint64_t min_count_dropped;          /* keys --min-count left out */
    uint64_t counters[MRC_JOB_COUNTERS]; /* the job's counters, summed over ranks */
    double seconds;
    const mrc_bad_report *bad;         /* NULL: the job has no bad records */
    const mrc_ckpt_report *checkpoint; /* NULL: no --checkpoint */
    const double *phases;              /* ranks * MRC_PHASE_COUNT, rank-major */
    char *const *rank_json;            /* per rank: mrc_report_rank_json() text, may hold NULLs */
} mrc_run_report;

/** mrc_report_metrics() : the metrics JSON of a run, to f. */
void mrc_report_metrics(const mrc_run_report *r, FILE *f);

/* --output-per-rank: what the manifest says of the parts. */
typedef struct mrc_parts_report {
    const char *sort; /* "count" or "key" */
    int ranks;
    const uint64_t *keys;       /* per rank: the lines of its part */
    uint64_t distinct, dropped; /* all ranks: distinct keys, of those left out by --min-count */
} mrc_parts_report;

/** mrc_report_manifest() : DIR/manifest.json's text, to f. */
void mrc_report_manifest(const mrc_parts_report *p, FILE *f);

/** mrc_report_write_file() : the JSON text of fn(arg, f) to path, as the result is written
 *  (mrc_out_dest_open(): a temporary renamed into place and fsync'd; "-" standard output; an
 *  existing device or FIFO in place; a symbolic link written through). @return 0 or nonzero
 *  with err filled. */
int mrc_report_write_file(const char *path, void (*fn)(const void *arg, FILE *f), const void *arg,
                          mrc_err *err);

#endif
