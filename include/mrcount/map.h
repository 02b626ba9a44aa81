/* map.h - jobs (what a record is and what it adds to the table) and the map phase of one rank:
 * pinned workers take pieces of the rank's splits from a shared atomic cursor and fill
 * thread-local tables, then merge them by hash partition into one serialized table. The splits
 * are given at the start, or fed while the workers run (the dynamic schedule).
 * No MPI here: the caller polls progress, feeds, and may raise `stop` from its own thread. */
#ifndef MRCOUNT_MAP_H
#define MRCOUNT_MAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "mrcount/common.h"
#include "mrcount/input.h"
#include "mrcount/opt.h"
#include "mrcount/runtime.h"
#include "mrcount/table.h"

/* ---- jobs: one file of src/map/ each, one descriptor each (in the manner of IOR's aiori) ----
 * A job says what a record is, which options it owns, and how it counts a buffer. The CLI walks
 * the registry for --job, --help and the INI keys; nothing outside map/ names a job. Adding one
 * is a new file in src/map/ exporting an mrc_job_desc, one line in the registry (jobs.c), and
 * its tests. */

typedef struct mrc_job mrc_job;
typedef struct mrc_job_desc mrc_job_desc;

/* Where a split may end: the reader's first-byte ownership rule works on records. */
enum mrc_record_unit {
    MRC_UNIT_TOKEN, /* a record ends at any delimiter byte of the job's rules */
    MRC_UNIT_LINE,  /* a record is a line: it ends at LF */
};

/* What the run's environment tells a job's selection (chosen once, outside any hot path). */
typedef struct mrc_job_env {
    const char *kernel; /* the tokenizer kernel to force (MRC_KERNEL), NULL: the best available */
} mrc_job_env;

#define MRC_JOB_COUNTERS 4 /* per-thread counters a job may keep (ctx->counters) */

struct mrc_job_desc {
    const char *name;          /* --job NAME */
    const char *summary;       /* what it counts, for --help */
    const char *records;       /* what its records are called in summaries: "tokens", "lines" */
    enum mrc_record_unit unit; /* where a split may end */
    bool bad_records;          /* malformed records are counted, located and reported */
    const mrc_opt_def *opts;   /* the options it owns (section "job"), ended by a NULL name */
    size_t settings_size;      /* its settings struct, which the opts' offsets point into */
    const void *defaults;      /* settings_size bytes: the defaults */
    /* Checks that span options, after parsing (may be NULL). @return 0 or MRC_EINVAL. */
    int (*check)(const void *settings, mrc_err *err);
    /* Fills job->rules and job->consume (and job->kernel) from job->settings: the hot path is
     * chosen here, once. @return 0, or nonzero with err filled. */
    int (*select)(mrc_job *job, const mrc_job_env *env, mrc_err *err);
    /* What it adds to the metrics' config besides its options (", \"key\": value" each); may
     * be NULL. */
    void (*metrics)(const mrc_job *job, FILE *f);
    /* Names of the counters it keeps in ctx->counters (summed over threads and ranks and
     * reported in the metrics), NULL-terminated; NULL: none. */
    const char *const *counters;
};

#define MRC_JOB_SETTINGS_MAX 512 /* bytes of a job's settings struct */

/* A selected job: what the workers run. Plain data: it may be copied. */
struct mrc_job {
    const mrc_job_desc *desc;
    /* the job's settings (a copy, held here; a job's own code reads it through a cast) */
    _Alignas(16) unsigned char settings[MRC_JOB_SETTINGS_MAX];
    mrc_record_rules rules; /* where its records end */
    mrc_consume_fn consume; /* the hot path; ctx is an mrc_map_ctx */
    const char *kernel;     /* the tokenizer kernel that runs (metrics); NULL: not applicable */
};

/** mrc_job_registry() : the jobs, NULL-terminated, in --help order. */
const mrc_job_desc *const *mrc_job_registry(void);

/** mrc_job_find() : the job named `name`. @return NULL when there is none. */
const mrc_job_desc *mrc_job_find(const char *name);

/** mrc_job_settings_new() : a malloc'd copy of d's defaults. @return NULL when out of memory. */
void *mrc_job_settings_new(const mrc_job_desc *d);

/** mrc_job_settings_free() : free settings made by mrc_job_settings_new() (and its strings). */
void mrc_job_settings_free(const mrc_job_desc *d, void *settings);

/** mrc_job_set() : apply option `name` = `value` (NULL: a flag given without a value) to d's
 *  settings, for tests and tools. @return 0, or MRC_EINVAL (unknown option, bad value). */
int mrc_job_set(const mrc_job_desc *d, void *settings, const char *name, const char *value,
                mrc_err *err);

/** mrc_map_unicode_version() : the Unicode data the words job's `--tokens unicode` uses, as
 *  "Unicode 15.0.0 (utf8proc 2.8.0)" (the library linked at run time), for --version.
 *  @return a static string. */
const char *mrc_map_unicode_version(void);

/** mrc_job_select() : check `settings` (d->check) and select the job's hot path (d->select);
 *  the job gets its own copy of the settings. env may be NULL. @return 0, or nonzero with err
 *  filled (job left empty). */
int mrc_job_select(mrc_job *job, const mrc_job_desc *d, const void *settings,
                   const mrc_job_env *env, mrc_err *err);

/* ---- bad records (jobs with bad_records): counted per file, the first few located ---- */

enum mrc_bad_cause {                         /* nonzero: parsers return 0 for a good record */
                     MRC_BAD_COLUMNS = 1,    /* fewer columns than the format has */
                     MRC_BAD_EXTRA,          /* more columns than the format has */
                     MRC_BAD_EMPTY_NGRAM,    /* the ngram column is empty */
                     MRC_BAD_YEAR,           /* the year is not a number */
                     MRC_BAD_YEAR_RANGE,     /* the year is outside 0..9999 */
                     MRC_BAD_COUNT,          /* a count is not a number */
                     MRC_BAD_NEGATIVE,       /* a count is negative */
                     MRC_BAD_COUNT_RANGE,    /* a count is over 2^64-1 */
                     MRC_BAD_ENTRY,          /* a v3 entry is not year,match,volumes */
                     MRC_BAD_QUOTE,          /* a quoted field does not end on its line */
                     MRC_BAD_VALUE,          /* a tsv value is not a number */
                     MRC_BAD_VALUE_NEGATIVE, /* a tsv value is negative */
                     MRC_BAD_VALUE_RANGE,    /* a tsv value is over 2^64-1 */
                     MRC_BAD_CAUSES
};

/** mrc_bad_cause_text() : what a cause means, for messages ("negative count", ...). */
const char *mrc_bad_cause_text(enum mrc_bad_cause c);

#define MRC_BAD_SAMPLES 5 /* locations kept per file */

/* A bad record's place: line = piece_line + 1 when piece_offset is 0 (a .gz file, or a piece
 * at the start of its file); otherwise the lines before the piece must be counted first. */
typedef struct mrc_bad_sample {
    uint32_t file;
    uint32_t cause;
    uint64_t piece_offset; /* file offset of the piece that held the record */
    uint64_t piece_line;   /* lines of that piece before it */
} mrc_bad_sample;

typedef struct mrc_bad_file {
    uint32_t file;
    uint64_t count;
} mrc_bad_file;

typedef struct mrc_bad_log {
    uint64_t total;
    uint64_t *per_file; /* nfiles counts, allocated at the first bad record */
    size_t nfiles;
    mrc_bad_sample *samples; /* the first MRC_BAD_SAMPLES of each file, as seen */
    size_t nsamples, cap;
} mrc_bad_log;

void mrc_bad_log_free(mrc_bad_log *b);

/* Per-thread state the consumer works on. */
typedef struct mrc_map_ctx {
    mrc_table *table;
    uint64_t records;                    /* tokens (words) or lines (ngram) counted */
    uint64_t counters[MRC_JOB_COUNTERS]; /* the job's own (desc->counters names them) */
    unsigned char
        *scratch; /* key rewriting (--fold-case, --pos strip); grows with the longest key */
    size_t scratch_cap;
    /* Where the consumer is (set before each piece; line jobs use them to place bad records). */
    const void *settings; /* the job's settings (job->settings) */
    const char *path;
    uint32_t file;
    uint64_t piece_offset;
    uint64_t piece_line; /* lines consumed so far in this piece */
    /* Pieces started (mrc_map_ctx_piece(), and each mrc_job_count_buffer()): a consumer that
     * carries state from call to call (the words job's n-gram window) starts afresh when it
     * changes, since a piece's first record starts a new sequence. */
    uint64_t pieces;
    /* A consumer's own per-thread state, made on its first call; mrc_map_ctx_free() releases
     * it with state_free. */
    void *state;
    void (*state_free)(void *state);
    mrc_bad_log bad;
} mrc_map_ctx;

/** mrc_map_ctx_piece() : tell the consumer that a new piece starts (file, offset). */
void mrc_map_ctx_piece(mrc_map_ctx *ctx, const char *path, uint32_t file, uint64_t offset);

/** mrc_map_ctx_free() : release the scratch buffer and the bad-record log (not the table). */
void mrc_map_ctx_free(mrc_map_ctx *ctx);

/** mrc_map_bad_record() : log a malformed record of the current piece (the consumer's place:
 *  ctx->piece_line) with `cause`; with `strict`, fail instead, naming "<file>:<line>: <cause>".
 *  @return 0, or -1 with err filled. */
int mrc_map_bad_record(mrc_map_ctx *ctx, int cause, bool strict, mrc_err *err);

/** mrc_map_ctx_grow_scratch() : make ctx->scratch hold at least `need` bytes.
 *  @return 0 or MRC_ENOMEM (err filled). */
int mrc_map_ctx_grow_scratch(mrc_map_ctx *ctx, size_t need, mrc_err *err);

/** mrc_job_count_buffer() : count the tokens of a whole buffer (final: the end ends a token)
 *  into ctx, as one piece of its own (n-grams do not run on from a previous buffer); the same
 *  code path workers use. For tests and tools. @return 0 or error. */
int mrc_job_count_buffer(const mrc_job *job, mrc_map_ctx *ctx, const void *buf, size_t len,
                         mrc_err *err);

/* ---- the map phase of one rank ---- */

typedef struct mrc_map_stats {
    uint64_t bytes;                      /* input bytes read */
    uint64_t records;                    /* tokens or lines */
    uint64_t counters[MRC_JOB_COUNTERS]; /* the job's own, summed over threads */
    uint64_t spill_bytes, spill_runs;    /* the tables written to --tmp-dir as runs */
    uint64_t hot_records;                /* tokens the tables' hot fronts counted */
    uint64_t distinct;                   /* distinct keys after the local merge */
    uint64_t ckpt_count, ckpt_bytes;     /* manifests written, bytes of checkpoint runs */
    double ckpt_seconds;                 /* workers' time spent writing checkpoints, summed */
    double map_seconds;                  /* first worker start to last worker end */
    double merge_seconds;                /* local merge across threads */
    double
        *thread_seconds; /* per thread map time (nthreads entries, caller frees via stats_free) */
    size_t nthreads;
    size_t splits; /* splits given to the run (at the start or fed) */
    /* bad records (ngram) of this rank: per-file counts and, per file, the first
     * MRC_BAD_SAMPLES locations in file order */
    uint64_t bad_total;
    mrc_bad_file *bad_files;
    size_t nbad_files;
    mrc_bad_sample *bad_samples;
    size_t nbad_samples;
} mrc_map_stats;

typedef struct mrc_map_run mrc_map_run;

/* How a map run works (NULL: the defaults). */
typedef struct mrc_map_opts {
    uint64_t piece_size; /* pieces of at most this many bytes (0: a default) */
    /* The memory the rank's tables may hold (0: no bound). Each worker's table gets an equal
     * share; one that would pass it is written to tmp_dir as a sorted run and emptied. */
    uint64_t table_budget;
    uint64_t decoder_limit; /* each worker's reader's decoder_limit (0: no bound) */
    const char *tmp_dir;
    /* --checkpoint: the workers' runs go to ckpt_dir as named files, and each worker keeps a
     * manifest there of the pieces whose counts those runs hold, rewritten at a piece boundary
     * once ckpt_interval seconds passed since its last one, when the map is drained, and at
     * its end (NULL: no checkpoint). */
    const char *ckpt_dir;
    int ckpt_rank, ckpt_gen; /* names the files: r<rank>-g<gen>-w<worker> */
    double ckpt_interval;
    /* tests only: each worker pauses this long after each piece (a map slow enough to stop
     * at a chosen point); a worker holds in its ckpt_hold-th checkpoint, between its run and its
     * manifest, saying so on stderr, until killed (0: neither) */
    uint64_t test_piece_pause_us, test_ckpt_hold;
} mrc_map_opts;

/* What the workers leave: their tables (in what state the last spill left them) and the runs
 * they spilled. mrc_map_output_free() releases both. */
typedef struct mrc_map_output {
    mrc_table *tables; /* ntables, one per worker */
    size_t ntables;
    mrc_run_file *runs; /* in the order they were written */
    size_t nruns;
} mrc_map_output;

void mrc_map_output_free(mrc_map_output *o);

/** mrc_map_start() : start mapping `nsplits` splits (of `files`) on the placement's workers;
 *  pieces (o->piece_size) are handed out from an atomic cursor.
 *  Returns at once; the workers run in the background. @return NULL with err filled. */
mrc_map_run *mrc_map_start(const mrc_job *job, const mrc_file_list *files, const mrc_split *splits,
                           size_t nsplits, const mrc_map_opts *o, mrc_topo *topo,
                           const mrc_placement *pl, mrc_err *err);

/** mrc_map_start_fed() : like mrc_map_start(), but no split is given yet: the caller feeds them
 *  with mrc_map_feed() while the workers run, then calls mrc_map_feed_end(); idle workers sleep
 *  until then. `bound` (nbound splits) holds every split that may be fed: it sizes the piece
 *  array once, so the array never moves under the workers. @return NULL with err filled. */
mrc_map_run *mrc_map_start_fed(const mrc_job *job, const mrc_file_list *files,
                               const mrc_split *bound, size_t nbound, const mrc_map_opts *o,
                               mrc_topo *topo, const mrc_placement *pl, mrc_err *err);

/** mrc_map_feed() : hand nsplits more splits to the workers (each from `bound`, at most once),
 *  from the caller's thread only. Pieces reach a worker in the order fed, so feed the splits of
 *  one file in offset order: the ngram bad-record log keeps each file's first samples as seen.
 *  @return 0, or MRC_EINVAL (more pieces than `bound` has, or the feed ended) with err filled. */
int mrc_map_feed(mrc_map_run *m, const mrc_split *splits, size_t nsplits, mrc_err *err);

/** mrc_map_feed_end() : no more splits: workers return once the fed pieces are mapped. */
void mrc_map_feed_end(mrc_map_run *m);

/** mrc_map_wants() : true while the feed is open, the run not stopped, and fewer pieces wait
 *  unclaimed than there are workers (not counting those inflating a .gz file, which keep theirs
 *  long): feed now, and the next split arrives before a worker runs dry. */
bool mrc_map_wants(mrc_map_run *m);

/** mrc_map_poll() : bytes mapped so far; *done set when every worker has returned. Waits up
 *  to timeout_ms for the workers to finish or fail, or to want more (mrc_map_wants()), before
 *  returning. @return nonzero if a worker failed (the workers stop early once one fails). */
int mrc_map_poll(mrc_map_run *m, int timeout_ms, uint64_t *bytes_done, bool *done);

/** mrc_map_stop() : ask the workers to stop early (another rank failed, or a signal). */
void mrc_map_stop(mrc_map_run *m);

/** mrc_map_drain() : with a checkpoint, stop at the next piece boundary: each worker ends the
 *  piece it maps (a .gz piece, a whole file, is abandoned instead: it is mapped again on
 *  resume), writes its checkpoint and returns; mrc_map_end() then says MRC_EINTR. Without a
 *  checkpoint it is mrc_map_stop(). */
void mrc_map_drain(mrc_map_run *m);

/** mrc_map_end() : end the feed, join the workers, and hand over what they left (*out: their
 *  tables and spilled runs, owned by the caller) and the stats; the run is freed.
 *  @return 0, or the first worker's error (err filled; *out empty). */
int mrc_map_end(mrc_map_run *m, mrc_map_output *out, mrc_map_stats *stats, mrc_err *err);

/** mrc_map_finish() : mrc_map_end(), then the thread tables merged in parallel into one
 *  serialized table (DESIGN wire format) in *out (malloc'd, *out_len bytes). A run that spilled
 *  has no such table: MRC_EINVAL. @return 0, or the first worker's error, or the merge's. */
int mrc_map_finish(mrc_map_run *m, void **out, size_t *out_len, mrc_map_stats *stats, mrc_err *err);

void mrc_map_stats_free(mrc_map_stats *s);

/** mrc_bad_sample_cmp() : qsort order of samples: file, then place in the file. */
int mrc_bad_sample_cmp(const void *a, const void *b);

/** mrc_bad_samples_first() : sort samples (file, place) and keep the first MRC_BAD_SAMPLES of
 *  each file, in place. @return how many are kept. */
size_t mrc_bad_samples_first(mrc_bad_sample *s, size_t n);

/** mrc_bad_locate() : the 1-based line number of a sample in file `path` (plain: counts the
 *  newlines before its piece; gzip pieces always start at 0). @return 0 or error. */
int mrc_bad_locate(const char *path, const mrc_bad_sample *s, uint64_t *line, mrc_err *err);

/* ---- checkpoints: the map's work kept in --checkpoint DIR for a later run (checkpoint.c) ---- */

typedef struct mrc_ckpt_run {
    char *name; /* in DIR; its bucket index is NAME.idx */
    uint64_t bytes, records, total;
    uint64_t sum; /* XXH3-64 of the run's bytes, then its index's (mrc_ckpt_run_seal()) */
    bool has_sum; /* false: a manifest of a version that wrote none (nothing to check) */
    uint32_t max_len; /* the run's longest key (0: not known, a manifest of before it) */
} mrc_ckpt_run;

/* What one map worker of one rank of one run attempt (generation) has safely on disk. */
typedef struct mrc_ckpt_manifest {
    int rank, gen, worker;
    mrc_ckpt_run *runs;
    size_t nruns;
    mrc_split *pieces; /* the byte ranges mapped (rank unused): pieces of any split size */
    size_t npieces;
    uint64_t bytes, records, counters[MRC_JOB_COUNTERS]; /* what those pieces read and counted */
    mrc_bad_file *bad_files;
    size_t nbad_files;
    mrc_bad_sample *bad_samples;
    size_t nbad_samples;
} mrc_ckpt_manifest;

/** mrc_ckpt_prepare_dir() : make DIR (or accept it). @return 0, or nonzero naming it. */
int mrc_ckpt_prepare_dir(const char *dir, mrc_err *err);

/** mrc_ckpt_lock() : take DIR's lock (DIR/lock, a POSIX record lock, which ends with the process
 *  or when *fd is closed; it names the holder, pid and host), so that two runs never write one
 *  checkpoint. On a file system without locks the run goes on unguarded.
 *  @return 0 with *fd open (close it to release), or MRC_EUSAGE naming DIR and the holder when
 *  another run has it, or an open error naming the file. */
int mrc_ckpt_lock(const char *dir, int *fd, mrc_err *err);

/** mrc_ckpt_fingerprint() : compare `text` (what must not change between runs) with DIR's
 *  fingerprint: absent: written, a new checkpoint; equal: *resumed; different: MRC_EUSAGE naming
 *  the first line that differs, unless `reset`, which empties DIR and starts a new one. */
int mrc_ckpt_fingerprint(const char *dir, const char *text, bool reset, bool *resumed,
                         mrc_err *err);

/** mrc_ckpt_write_manifest() : DIR/r<rank>-g<gen>-w<worker>.manifest, replaced atomically
 *  (written, fsync'd, renamed, the directory fsync'd). @return 0, or nonzero naming the file. */
int mrc_ckpt_write_manifest(const char *dir, const mrc_ckpt_manifest *m, mrc_err *err);

/** mrc_ckpt_read_dir() : every whole manifest in DIR (*out, malloc'd; a torn or unknown one is
 *  left out), and the highest generation among them. @return 0, or nonzero with err filled. */
int mrc_ckpt_read_dir(const char *dir, mrc_ckpt_manifest **out, size_t *n, int *max_gen,
                      mrc_err *err);

void mrc_ckpt_manifest_free(mrc_ckpt_manifest *m);

/** mrc_ckpt_read_manifest() : the manifest DIR/name. @return 1 taken, 0 absent or not whole
 *  (torn, or of another version), -1 out of memory. */
int mrc_ckpt_read_manifest(const char *dir, const char *name, mrc_ckpt_manifest *out);

/** mrc_ckpt_manifest_name() : the file name of m's manifest, into buf. */
void mrc_ckpt_manifest_name(const mrc_ckpt_manifest *m, char *buf, size_t size);

/** mrc_ckpt_sweep() : remove what an earlier run left in DIR that no manifest of `keep` names:
 *  runs and indexes written after their worker's last manifest, temporaries. Call it only while
 *  no other run uses DIR. @return 0, or nonzero naming what could not be removed. */
int mrc_ckpt_sweep(const char *dir, const mrc_ckpt_manifest *keep, size_t nkeep, mrc_err *err);

/** mrc_ckpt_run_create() : a new named file DIR/name for a checkpoint run (*fd read-write). */
int mrc_ckpt_run_create(const char *dir, const char *name, int *fd, mrc_err *err);

/** mrc_ckpt_run_discard() : remove DIR/name and its index (a run that failed). */
void mrc_ckpt_run_discard(const char *dir, const char *name);

/** mrc_ckpt_run_seal() : a finished checkpoint run made durable: its file fsync'd and its bucket
 *  index written beside it (NAME.idx, atomically); *sum gets the checksum the manifest keeps
 *  (of the run's bytes, then the index): f->sum when its writer made it, else the bytes are
 *  read back. */
int mrc_ckpt_run_seal(const char *dir, const char *name, const mrc_run_file *f, uint64_t *sum,
                      mrc_err *err);

/** mrc_ckpt_run_open() : reopen a run a manifest names, with its index, as a run file; a file or
 *  index that does not match the manifest (size, or checksum: both are read through) is an
 *  error, never a silently different table. */
int mrc_ckpt_run_open(const char *dir, const mrc_ckpt_run *r, mrc_run_file *out, mrc_err *err);

/** mrc_ckpt_remove() : remove what a checkpoint put in DIR (fingerprint, runs, indexes,
 *  manifests), and with remove_dir its lock and DIR itself when it is then empty. */
int mrc_ckpt_remove(const char *dir, bool remove_dir, mrc_err *err);

#endif
