/* run.h - the state of one run of main.c, shared with what it leaves behind (results.c).
 * Private to cli/. */
#ifndef MRCOUNT_CLI_RUN_H
#define MRCOUNT_CLI_RUN_H

#include "mrcount/input.h"
#include "mrcount/map.h"
#include "mrcount/memlimit.h"
#include "mrcount/mpi.h"
#include "mrcount/output.h"
#include "mrcount/report.h"
#include "mrcount/runtime.h"
#include "agree.h"
#include "fault.h"
#include "options.h"

enum { MRC_TOTAL_CKPT_COUNT = 2 + MRC_JOB_COUNTERS, MRC_TOTAL_CKPT_BYTES, MRC_TOTALS };

/* --checkpoint DIR (resume.c) */
typedef struct run_ckpt {
    int gen;                 /* this attempt's generation: 1 + the highest found */
    char *names;             /* rank 0 -> all: the generation, then the manifests taken */
    size_t manifests;        /* rank 0: manifests of earlier attempts taken */
    uint64_t pieces_skipped; /* rank 0: their pieces, which this attempt does not map */
    uint64_t bytes_skipped;  /* rank 0: the input bytes of those pieces */
    uint64_t runs_reused;    /* rank 0: the runs they name */
    mrc_run_file *runs;      /* this rank's share of those runs, until the map ends */
    size_t nruns;
    mrc_map_stats figures; /* what this rank's share of the manifests read and counted */
    int lock_fd;           /* rank 0: DIR's lock, held for the run */
    bool locked;
} run_ckpt;

typedef struct run {
    mrc_mpi d;
    mrc_options o;
    mrc_job job;
    mrc_fault_knobs knobs;
    mrc_file_list files;
    mrc_split_plan plan;
    mrc_split *mine;
    size_t nmine;
    mrc_topo *topo;
    mrc_placement pl;
    mrc_memlimit mem; /* what this rank may use (--memory-limit, or detected) */
    mrc_map_stats st;
    mrc_map_output mapped; /* the workers' tables and spilled runs */
    bool spilled;          /* some rank's tables spilled (every rank knows) */
    void *local;           /* this rank's serialized table after the local merge */
    size_t local_len;
    mrc_combine_result comb; /* what the combine left this rank (comb.table: its share) */
    mrc_chunk_store *store;  /* spilled: what the shuffle brought this rank */
    /* this rank's share of the result, sorted (flow.c): in memory, or with bounded memory */
    mrc_out_ref *sorted_refs;
    bool refs_in_table; /* sorted_refs are a table's memory (mrc_output_refs_from_tables()) */
    mrc_out_sorted sorted;
    mrc_sorted_result ext;
    bool have_ext;
    /* several ranks in memory: the share is a range of the output order (flow.c), whose
     * records these are; the other ranks append their lines to rank 0's */
    bool ranged;
    mrc_ranges ranges;
    /* several ranks, spilled: the sorted shares are cut at splitters every rank agreed on
     * (cut: cut.nsplit + 1 segments, seg_per_rank of them a rank's range), and the ranges
     * travel to their ranks, which write them in place (flow.c); ranges.lines: every range's */
    bool spread;
    mrc_splitters cut;
    size_t seg_per_rank;
    uint64_t *seg_off; /* seg_per_rank + 1: where each segment of this rank's lines starts */
    size_t range_rbuf; /* the read block of each part of it the exchange brought */
    /* ranged, every rank's lines written in place into the result file that rank 0 made, on
     * a file system all ranks share (flow.c): its temporary (rank 0), the descriptor of this
     * rank, where its lines start, the length of all lines and the page size of the ranks */
    bool placed;
    mrc_out_file *out_file;
    int out_fd;
    uint64_t range_bytes; /* the length of this rank's lines */
    uint64_t line_at, lines_bytes, page;
    uint64_t distinct_mine; /* distinct keys of this rank's share */
    uint64_t dropped_mine;  /* of those, left out by --min-count */
    uint64_t dropped;       /* left out by --min-count, all ranks */
    uint64_t chunk;         /* split size used (rank 0): --chunk-size, or adapted to the input */
    uint64_t table_bytes;   /* this rank's serialized table after the local merge */
    uint64_t rss_before_combine, rss_combine_start, rss_combine;
    double phase[MRC_PHASE_COUNT];
    /* the output phase of this rank in parts: the records' exchange into ranges of the output
     * order, the sort of its share (in memory, or into sorted runs), the rest (merge, lines,
     * write, or serving them to rank 0) */
    double out_exchange, out_sort, out_write;
    double out_exchange_late; /* of out_exchange, what came after the sort (spread) */
    double t_start, t_total;
    /* all ranks: bytes read, records (resumed ones too), the job's counters (likewise), and the
     * checkpoints written and their bytes */
    uint64_t totals[MRC_TOTALS];
    mrc_bad_report bad;      /* bad records of the whole run (rank 0) */
    mrc_agreement agreement; /* the agreements' exchange (agree.c) */
    bool made_dir;           /* rank 0 created --output-per-rank's directory */
    bool late_signal;        /* a signal removed the files after every rank succeeded */
    bool progress;           /* rank 0 shows progress (--progress): the map's bar, then the steps */
    run_ckpt ckpt;
    mrc_err err;
} run;

/** mrc_run_agree() : the ranks' agreement on this rank's status (agree.c). */
int mrc_run_agree(run *r, int status);

/** mrc_run_end_phase() : the end of a phase: this rank's injected fault (tests), then the
 *  agreement. */
int mrc_run_end_phase(run *r, enum mrc_fault_phase p, int rc);

/** mrc_run_step() : with progress shown, rank 0 says on stderr which step the run takes after the
 *  map ("mrcount: 12.3 s: writing ..."): the map's bar stops at 100% and a spill's merge or a big
 *  result's sort and write can take minutes more. */
void mrc_run_step(const run *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/** mrc_run_table_budget() : the bytes the map's tables may hold (0: no bound). */
uint64_t mrc_run_table_budget(const run *r);

/** mrc_run_decoder_limit() : the memory each map thread's decoder (an xz dictionary, a zstd
 *  window) may take (0: no bound): what the memory limit leaves beside the tables, shared by
 *  the threads, and at least MRC_DECODER_MIN (every xz preset decodes: -9 needs 65 MiB). */
#define MRC_DECODER_MIN ((uint64_t)80 << 20)
uint64_t mrc_run_decoder_limit(const run *r);

/** mrc_run_combine() / mrc_run_output() : the run after the map (flow.c): the combine of the
 *  situation, then this rank's share sorted and written (rank 0 merging every rank's, or each
 *  writing its part). Collective. */
int mrc_run_combine(run *r);
int mrc_run_output(run *r);

/** mrc_run_write_part() : this rank's sorted share to path (--output-per-rank). */
int mrc_run_write_part(run *r, const char *path, mrc_err *err);

/** mrc_run_flow_free() : release what flow.c holds. */
void mrc_run_flow_free(run *r);

/** mrc_run_write_parts() : --output-per-rank: every rank writes its hash range as a part, rank 0
 *  the manifest last, so a directory with a manifest is complete. Collective. */
int mrc_run_write_parts(run *r);

/** mrc_run_write_metrics() : the metrics JSON (rank 0 writes what every rank sent). Collective. */
int mrc_run_write_metrics(run *r);

/** mrc_run_print_summary() : the one summary line on stderr (rank 0). */
void mrc_run_print_summary(const run *r);

#endif
