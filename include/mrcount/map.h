/* map.h - jobs (what a record is and what it adds to the table) and the map phase of one rank:
 * pinned workers take pieces of the rank's splits from a shared atomic cursor and fill
 * thread-local tables, then merge them by hash partition into one serialized table.
 * No MPI here: the caller polls progress and may raise `stop` from its own thread. */
#ifndef MRCOUNT_MAP_H
#define MRCOUNT_MAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "mrcount/common.h"
#include "mrcount/input.h"
#include "mrcount/runtime.h"
#include "mrcount/table.h"

enum mrc_tokens { MRC_TOKENS_WHITESPACE, MRC_TOKENS_ALNUM };

typedef struct mrc_job_opts {
    const char *job; /* "words" (this version) */
    enum mrc_tokens tokens;
    bool fold_case;
} mrc_job_opts;

/* Per-thread state the consumer works on. */
typedef struct mrc_map_ctx {
    mrc_table *table;
    uint64_t records;       /* tokens (words) or lines (ngram) counted */
    unsigned char *scratch; /* key rewriting (--fold-case); grows with the longest key */
    size_t scratch_cap;
} mrc_map_ctx;

/** mrc_map_ctx_free() : release the scratch buffer (not the table). */
void mrc_map_ctx_free(mrc_map_ctx *ctx);

typedef struct mrc_job {
    const char *name;
    mrc_record_rules rules;
    mrc_consume_fn consume; /* ctx is an mrc_map_ctx */
} mrc_job;

/** mrc_job_select() : the job for these options, its hot-path consumer chosen once here.
 *  @return 0, or MRC_EINVAL with err filled (unknown job). */
int mrc_job_select(const mrc_job_opts *o, mrc_job *out, mrc_err *err);

/** mrc_job_count_buffer() : count the tokens of a whole buffer (final: the end ends a token)
 *  into ctx; the same code path workers use. For tests and tools. @return 0 or error. */
int mrc_job_count_buffer(const mrc_job *job, mrc_map_ctx *ctx, const void *buf, size_t len,
                         mrc_err *err);

/* ---- the map phase of one rank ---- */

typedef struct mrc_map_stats {
    uint64_t bytes;       /* input bytes read */
    uint64_t records;     /* tokens or lines */
    uint64_t distinct;    /* distinct keys after the local merge */
    double map_seconds;   /* first worker start to last worker end */
    double merge_seconds; /* local merge across threads */
    double
        *thread_seconds; /* per thread map time (nthreads entries, caller frees via stats_free) */
    size_t nthreads;
} mrc_map_stats;

typedef struct mrc_map_run mrc_map_run;

/** mrc_map_start() : start mapping `nsplits` splits (of `files`) on the placement's workers;
 *  pieces of at most piece_size bytes (0: a default) are handed out from an atomic cursor.
 *  Returns at once; the workers run in the background. @return NULL with err filled. */
mrc_map_run *mrc_map_start(const mrc_job *job, const mrc_file_list *files, const mrc_split *splits,
                           size_t nsplits, uint64_t piece_size, mrc_topo *topo,
                           const mrc_placement *pl, mrc_err *err);

/** mrc_map_poll() : bytes mapped so far; *done set when every worker has returned. Waits up
 *  to timeout_ms for the workers to finish or fail before returning. @return nonzero if a worker
 *  failed (the workers stop early once one fails). */
int mrc_map_poll(mrc_map_run *m, int timeout_ms, uint64_t *bytes_done, bool *done);

/** mrc_map_stop() : ask the workers to stop early (another rank failed, or a signal). */
void mrc_map_stop(mrc_map_run *m);

/** mrc_map_finish() : join the workers; on success merge the thread tables in parallel into one
 *  serialized table (DESIGN wire format) in *out (malloc'd, *out_len bytes) and fill stats.
 *  @return 0, or the first worker's error (err filled), or the merge's. */
int mrc_map_finish(mrc_map_run *m, void **out, size_t *out_len, mrc_map_stats *stats, mrc_err *err);

void mrc_map_stats_free(mrc_map_stats *s);

#endif
