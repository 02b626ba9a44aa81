/* mpi.h - everything that crosses ranks: start-up, who shares a node's cpuset, the broadcast
 * of the file table and the MPI_Scatterv of split descriptors, the main thread's side of the map
 * (dynamic schedule, progress, failure), the run-wide agreement on failure, and the combine of
 * serialized tables (MPI_Reduce with a merging MPI_Op, or the hash-range shuffle).
 * The only stage (with cli start-up) that calls MPI. */
#ifndef MRCOUNT_MPI_H
#define MRCOUNT_MPI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "mrcount/common.h"
#include "mrcount/input.h"
#include "mrcount/map.h"
#include "mrcount/report.h"
#include "mrcount/runtime.h"
#include "mrcount/table.h"

typedef struct mrc_mpi {
    int rank, size;
    int node_rank, node_size; /* within the node (MPI_COMM_TYPE_SHARED) */
    char host[64];
    bool node_local_pml; /* mrc_mpi_init() chose Open MPI's ob1 PML: every rank on one node */
} mrc_mpi;

/** mrc_mpi_init() : MPI_Init_thread (FUNNELED: only the calling thread talks MPI), errors
 *  returned rather than aborting. When the user set no OMPI_MCA_pml and every rank is on this
 *  node (a singleton, mpirun with all ranks local, a one-node srun step), it first sets
 *  OMPI_MCA_pml=ob1, sparing MPI_Init's ~0.2 s probe of network fabrics.
 *  @return 0 or MRC_EMPI with err filled. */
int mrc_mpi_init(int *argc, char ***argv, mrc_mpi *d, mrc_err *err);

/** mrc_mpi_finalize() : MPI_Finalize. */
void mrc_mpi_finalize(void);

/** mrc_mpi_abort() : MPI_Abort(code): the last resort when ranks can no longer agree. */
void mrc_mpi_abort(int code);

/** mrc_mpi_share() : among the ranks of this node, how many have the same cpuset string as
 *  this one (*count) and this rank's index among them (*index); node_union (if not NULL, the
 *  caller frees): every rank's non-empty cpuset joined by commas, the PU list of their union
 *  ("" if none has one). Collective. */
int mrc_mpi_share(const mrc_mpi *d, const char *cpuset, size_t *index, size_t *count,
                  char **node_union, mrc_err *err);

/** mrc_mpi_agree() : collective: combine every rank's status. When some rank failed, the
 *  failing rank with the lowest number sends its error to all, which is returned in err (its
 *  message prefixed with "rank N: " when size > 1); the caller's own err is replaced.
 *  @return the failing rank's code (0 when every rank succeeded). */
int mrc_mpi_agree(const mrc_mpi *d, int status, mrc_err *err);

/** mrc_mpi_bcast_string() : rank 0's string *s (NULL: empty) on every rank (malloc'd there,
 *  replacing *s). Collective. @return 0, or nonzero with err filled. */
int mrc_mpi_bcast_string(const mrc_mpi *d, char **s, mrc_err *err);

/** mrc_mpi_bcast_files() : rank 0's file list to every rank (paths, sizes, gz flags).
 *  On other ranks `files` is filled. Collective. */
int mrc_mpi_bcast_files(const mrc_mpi *d, mrc_file_list *files, mrc_err *err);

/** mrc_mpi_scatter_splits() : MPI_Scatterv of rank 0's plan: each rank receives its splits
 *  (malloc'd *mine, *n). `plan` is read on rank 0 only. Collective. */
int mrc_mpi_scatter_splits(const mrc_mpi *d, const mrc_split_plan *plan, mrc_split **mine,
                           size_t *n, mrc_err *err);

/** mrc_mpi_reduce_tables() : combine every rank's serialized table into one on rank 0 with
 *  MPI_Reduce and a commutative user MPI_Op that merges two serialized tables. Buffers are
 *  sized by cap_hint when it is nonzero and below the sum of the table sizes (never below the
 *  largest table), else by that sum, which always fits the union; the table is one element of a
 *  derived datatype so that tables over 2 GiB work and no segmentation splits one. A merge that
 *  does not fit (only possible with a hint, or when the operator ran out of memory) sets
 *  *too_small on every rank and returns 0 with no result: the caller falls back to the shuffle.
 *  *local (malloc'd, local_len bytes) grows into the send buffer: it may move, and still holds
 *  the local table afterwards. On rank 0 *result (malloc'd, *result_len bytes capacity) holds the
 * merged table; a count overflow or a corrupt table is an error. Collective.
 *  @return 0, or nonzero with err filled (on rank 0; others return 0 unless MPI failed). */
int mrc_mpi_reduce_tables(const mrc_mpi *d, void **local, size_t local_len, uint64_t cap_hint,
                          size_t test_block, void **result, size_t *result_len, bool *too_small,
                          mrc_err *err);

/** mrc_mpi_gather_doubles() : rank 0 gets n values from every rank (size * n, rank-major). */
int mrc_mpi_gather_doubles(const mrc_mpi *d, const double *mine, size_t n, double *all,
                           mrc_err *err);

/** mrc_mpi_gather_bytes() : rank 0 gets every rank's `len` bytes, concatenated in rank order
 *  (malloc'd *all; *lens, when lens is non-NULL, malloc'd size entries). At most 2 GiB in all.
 *  Collective. */
int mrc_mpi_gather_bytes(const mrc_mpi *d, const void *mine, size_t len, void **all, size_t **lens,
                         mrc_err *err);

/** mrc_mpi_gather_strings() : rank 0 gets every rank's string (malloc'd array of size
 *  malloc'd strings in *all). */
int mrc_mpi_gather_strings(const mrc_mpi *d, const char *mine, char ***all, mrc_err *err);

/** mrc_mpi_max_u64() / mrc_mpi_sum_u64() : allreduce helpers. */
int mrc_mpi_sum_u64(const mrc_mpi *d, uint64_t *v, size_t n, mrc_err *err);
int mrc_mpi_max_u64(const mrc_mpi *d, uint64_t *v, size_t n, mrc_err *err);

/* ---- the shuffle combine (shuffle.c) ---- */

/** mrc_mpi_shuffle_tables() : every rank's serialized table is cut into hash ranges, range r
 *  goes to rank r (MPI_Alltoallv: sizes, then data, in rounds of at most 2 GiB per rank), and
 *  each rank merges the runs of its range on its placement's threads. *local (malloc'd) is
 *  freed as soon as it is sent (set to NULL). On success *range (malloc'd, *range_len bytes) is
 *  this rank's range as a serialized table; the ranges in rank order are the whole table.
 *  Collective. @return 0, or nonzero with err filled on the rank that failed (a rank that only
 *  saw another fail returns 0 with *range NULL: the caller's agreement names the culprit). */
int mrc_mpi_shuffle_tables(const mrc_mpi *d, void **local, size_t local_len, mrc_topo *topo,
                           const mrc_placement *pl, size_t test_round, void **range,
                           size_t *range_len, mrc_err *err);

/** mrc_mpi_gather_table() : rank 0 gets the concatenation of every rank's range (serialized
 *  tables whose hash ranges follow rank order) as one serialized table (malloc'd *result of
 *  *result_len bytes); any size (chunked point-to-point). Collective. */
int mrc_mpi_gather_table(const mrc_mpi *d, const void *table, void **result, size_t *result_len,
                         mrc_err *err);

/** mrc_mpi_hll_union() : every rank's sketch becomes the union's (MPI_Allreduce MAX). */
int mrc_mpi_hll_union(const mrc_mpi *d, mrc_hll *h, mrc_err *err);

/** mrc_mpi_psample_union() : every rank's priority sample becomes the union's (MPI_Allreduce,
 *  an operator that merges two samples). */
int mrc_mpi_psample_union(const mrc_mpi *d, mrc_psample *s, mrc_err *err);

/* ---- while the ranks map (src/dist/schedule.c) ----
 * --schedule dynamic: every rank holds the whole plan and takes the next split from a counter on
 * rank 0 through MPI-3 RMA, so a rank that finishes early takes more. Both schedules: progress
 * and failure travel in a non-blocking allreduce that the main thread tests between its other
 * work. Called from the main thread only. Some transports (Open MPI's osc pt2pt, over TCP)
 * serve rank 0's counter only while rank 0 is inside MPI: rank 0 must test often meanwhile. */

/** mrc_mpi_bcast_plan() : all of rank 0's splits to every rank (malloc'd *all, *n), in pull
 *  order: .gz splits first, largest first (one thread inflates a whole file: a big one must start
 *  early), then plain splits in (file, offset) order, so the pieces of a file are pulled in
 *  offset order. `files` and `plan` are read on rank 0 only. Collective. */
int mrc_mpi_bcast_plan(const mrc_mpi *d, const mrc_file_list *files, const mrc_split_plan *plan,
                       mrc_split **all, size_t *n, mrc_err *err);

typedef struct mrc_mpi_counter mrc_mpi_counter;

/** mrc_mpi_counter_open() : a counter at 0 in a window on rank 0 (MPI_Win_allocate, 0 bytes
 *  elsewhere), open for passive-target access by every rank until closed. Collective. On
 *  failure *c is NULL unless the window exists, which mrc_mpi_counter_close() then frees. */
int mrc_mpi_counter_open(const mrc_mpi *d, mrc_mpi_counter **c, mrc_err *err);

/** mrc_mpi_counter_next() : atomically add 1 to the counter (MPI_Fetch_and_op, then flush):
 *  *value is the counter before, so each value goes to exactly one caller. Not collective. */
int mrc_mpi_counter_next(mrc_mpi_counter *c, uint64_t *value, mrc_err *err);

/** mrc_mpi_counter_close() : end the access epoch and free the window (c may be NULL).
 *  Collective: every rank that opened it calls this once, after its last fetch. */
int mrc_mpi_counter_close(mrc_mpi_counter *c, mrc_err *err);

typedef struct mrc_mpi_iprogress mrc_mpi_iprogress;

/** mrc_mpi_iprogress_open() : the state of the progress exchange (local, no MPI call). */
int mrc_mpi_iprogress_open(mrc_mpi_iprogress **p, mrc_err *err);

/** mrc_mpi_iprogress_start() : start the sum of the ranks' (failed, still mapping, bytes done)
 *  with MPI_Iallreduce; one at a time. Collective, non-blocking: every rank starts as many. */
int mrc_mpi_iprogress_start(mrc_mpi_iprogress *p, int failed, int mapping, uint64_t bytes,
                            mrc_err *err);

/** mrc_mpi_iprogress_test() : MPI_Test the exchange started last (which also lets MPI serve
 *  other ranks' RMA on some transports); once it completed, *ready is set and sums[3] holds the
 *  sums, the same on every rank, and the next may start. */
int mrc_mpi_iprogress_test(mrc_mpi_iprogress *p, bool *ready, uint64_t sums[3], mrc_err *err);

/** mrc_mpi_iprogress_close() : free the state (p may be NULL). Call it with no exchange in
 *  flight; after an MPI error left one, the state is kept, since MPI may still write it. */
void mrc_mpi_iprogress_close(mrc_mpi_iprogress *p);

/* ---- the main thread while the workers map (mapping.c) ---- */

typedef struct mrc_mpi_map_state {
    mrc_mpi_counter *counter; /* dynamic: rank 0's split counter */
    mrc_mpi_iprogress *ex;    /* the progress exchange */
} mrc_mpi_map_state;

typedef struct mrc_mpi_map_opts {
    bool dynamic;
    const mrc_split *plan; /* dynamic: every split, in pull order (mrc_mpi_bcast_plan()) */
    size_t nplan;
    const mrc_stop *signalled; /* the run's stop flag: raised, this rank fails with... */
    void (*on_signal)(void *arg, mrc_err *err); /* ...the error this fills */
    void *on_signal_arg;
    /* rank 0, or NULL: draw progress (bytes mapped by all ranks, ranks still mapping) */
    void (*progress)(void *arg, uint64_t bytes_done, uint64_t ranks_mapping, bool final);
    void *progress_arg;
    void (*stopping)(void *arg); /* the map stops early (test hooks), may be NULL */
    void *stopping_arg;
    bool drain; /* --checkpoint: an early stop drains the map (mrc_map_drain()) */
} mrc_mpi_map_opts;

/** mrc_mpi_map_open() : the dynamic schedule's counter (when dynamic) and the progress
 *  exchange. Collective. On failure, mrc_mpi_map_close() frees what was made. */
int mrc_mpi_map_open(const mrc_mpi *d, bool dynamic, mrc_mpi_map_state *st, mrc_err *err);
void mrc_mpi_map_close(mrc_mpi_map_state *st);

/** mrc_mpi_map_drive() : drive this rank's map run m (NULL: it could not start) until every
 *  rank is done or one failed; then the workers are stopped if needed, and the state closed
 *  (collective). *local_failed: this rank's workers or feed failed (err filled), or a signal.
 *  @return 0, or an MPI failure (err filled). A rank stopped because another failed returns 0
 *  with *local_failed false: the caller's agreement carries the failing rank's message. */
int mrc_mpi_map_drive(const mrc_mpi *d, mrc_map_run *m, const mrc_mpi_map_opts *o,
                      mrc_mpi_map_state *st, bool *local_failed, mrc_err *err);

/* ---- the combine (combine.c): plan, reduce or shuffle, fall back, prune, gather ---- */

enum mrc_combine_strategy { MRC_COMBINE_AUTO, MRC_COMBINE_REDUCE, MRC_COMBINE_SHUFFLE };

/* Every rank at once: 0 when every rank passed status 0, else nonzero on every rank (the run
 * then stops; the callee has reported the failing rank's message). */
typedef int (*mrc_agree_fn)(void *arg, int status);

typedef struct mrc_combine_opts {
    int strategy;       /* enum mrc_combine_strategy */
    bool need_ranges;   /* every rank must own its hash range (--output-per-rank): the shuffle */
    uint64_t mem_share; /* bytes this rank may use (0: unknown): auto never picks what cannot fit */
    mrc_topo *topo;
    const mrc_placement *pl;
    mrc_agree_fn agree;
    void *agree_arg;
    /* test hooks (cli/fault.c), 0: none: a reduce buffer capacity, the block of the reduce's
     * datatype past which it is cut, and the bytes of one shuffle round */
    uint64_t test_reduce_cap;
    size_t test_reduce_block;
    size_t test_shuffle_round;
} mrc_combine_opts;

typedef struct mrc_combine_result {
    void *table; /* this rank's share: its hash range (shuffle), or all on rank 0 (reduce) */
    size_t table_len;
    uint64_t distinct;   /* distinct keys of the whole result */
    bool shuffle;        /* the shuffle combined the tables (else MPI_Reduce) */
    bool fell_back;      /* a reduce asked for ran as the shuffle: */
    const char *fell_back_why; /* why (a phrase; NULL unless fell_back) */
    double union_est;    /* HyperLogLog estimate of the run's distinct keys */
    double predicted[2]; /* modelled combine seconds: reduce, shuffle */
    uint64_t range_len;  /* shuffle: this rank's range, serialized */
    bool agreed_failure; /* the ranks already agreed to fail (and the cause was reported) */
} mrc_combine_result;

/** mrc_mpi_combine() : combine every rank's serialized table (*local, local_len bytes; freed
 *  and set to NULL here) into shares of the result: choose MPI_Reduce (all of it on rank 0) or
 *  the shuffle (each rank its hash range) collectively, by the cost model and the memory each
 *  rank may use (never a reduce whose buffers could not fit it), run it, and fall back from a
 *  reduce whose buffers were too small to the shuffle, agreeing (o->agree) after each step that
 *  can fail on one rank. The shares are what rank 0 then merges as streams: nothing is gathered
 *  whole. Collective. @return 0, or nonzero once the ranks agreed to fail (err filled on the
 *  failing rank). */
int mrc_mpi_combine(const mrc_mpi *d, void **local, size_t local_len, uint64_t local_distinct,
                    const mrc_combine_opts *o, mrc_combine_result *res, mrc_err *err);

/* ---- the shuffle of spilled data (spread.c) ---- */

typedef struct mrc_spread_opts {
    size_t round_bytes;  /* bytes of records per chunk sent (a bigger record goes alone) */
    size_t read_buf;     /* read block of each run file's range reader */
    uint64_t mem_budget; /* bytes the received chunks may hold before they spill */
    const char *tmp_dir; /* where they spill */
    const mrc_stop *stop;
    bool test_store_full; /* test hook: the received chunks' first write to a file fails as on
                           * a full file system (mrc_chunk_store_test_room()) */
} mrc_spread_opts;

typedef struct mrc_spread_stats {
    uint64_t sent, received, kept; /* record bytes sent to, received from others; kept here */
    bool peer_failed;              /* a sender flagged its data incomplete */
} mrc_spread_stats;

/** mrc_mpi_shuffle_spilled() : this rank's records (its frozen tables and its runs, all in hash
 *  order) go to their owners, range r to rank r, in P phases of bounded chunks (phase p: send
 *  range (rank + p) mod P, receive this rank's range from rank (rank - p) mod P); what this
 *  rank receives is kept in a chunk store (*out: source i is rank i's part of this rank's range,
 *  in hash order), in memory up to mem_budget, spilled to tmp_dir beyond. A rank that fails
 *  still takes part in every phase, sending empty chunks flagged as failed. Collective.
 *  @return 0, or nonzero with err filled (*out NULL). */
int mrc_mpi_shuffle_spilled(const mrc_mpi *d, mrc_table *const *tables, size_t ntables,
                            const mrc_run_file *runs, size_t nruns, const mrc_spread_opts *o,
                            mrc_chunk_store **out, mrc_spread_stats *stats, mrc_err *err);

/** mrc_mpi_exchange_ranges() : the same phased exchange for data cut by the caller, each range
 *  in `parts` parts: in phase p (1 to P-1) this rank sends open(dest, j)'s records for j = 0 ..
 *  parts - 1, dest = (rank + p) mod P, and keeps part j of what rank from = (rank - p) mod P
 *  sends it as source from * parts + j of *out (in the order it was sent); its own range is
 *  neither opened nor stored (its sources stay empty). Failures as mrc_mpi_shuffle_spilled().
 *  Collective. */
int mrc_mpi_exchange_ranges(const mrc_mpi *d,
                            mrc_source *(*open)(int dest, size_t part, void *arg, mrc_err *err),
                            void *arg, size_t parts, const mrc_spread_opts *o,
                            mrc_chunk_store **out, mrc_spread_stats *stats, mrc_err *err);

/* ---- the result cut into ranges of the output order (ranges.c) ---- */

typedef struct mrc_ranges_opts {
    enum mrc_order order; /* MRC_ORDER_COUNT or MRC_ORDER_KEY */
    uint64_t min_count;   /* records with a smaller count are left out (0: none) */
    uint64_t budget;      /* bytes this rank may use (0: no bound) */
    size_t test_round;    /* test hook: bytes of one Alltoallv round (0: MPI's limit) */
    mrc_topo *topo;       /* the passes over the table run on pl's threads (NULL: one) */
    const mrc_placement *pl;
    uint64_t test_slice_min; /* test hook: records a thread's slice takes at least (0: 65536) */
} mrc_ranges_opts;

typedef struct mrc_ranges {
    /* this rank's range, wire records back to back in no order, in two malloc'd buffers: its
     * own records (at the front of what was its table) and those received */
    unsigned char *recs, *recv;
    size_t len, recv_len;
    uint64_t n;             /* records in it */
    uint64_t *lines;        /* every rank's n, by rank (malloc'd) */
    uint64_t kept, dropped; /* of this rank's hash range: records kept, left out by min_count */
    bool declined;          /* some rank's range would not fit its budget: nothing moved */
} mrc_ranges;

/** mrc_mpi_output_ranges() : a sample sort of the result across ranks. Every rank gives its hash
 *  range, *table (a malloc'd serialized table whose header and flags the caller checked, or
 *  NULL), and gets back range `rank` of the output order: P-1 splitters picked alike on every
 *  rank from all ranks' samples (each weighted by the records it stands for) cut the order, and
 *  every record travels to the rank of its range (MPI_Alltoallv, in rounds past MPI's int
 *  limits). Every record of rank r's range comes before every record of rank r+1's in o->order,
 *  so the result is the ranges sorted, in rank order. Keys must be unique across ranks (the
 *  shuffle's hash ranges). On success the table is taken (*table NULL): the rank's own records
 *  move to its front (out->recs; the pages past them are given back), the records received go
 *  to out->recv. When the records a rank would send and receive, with the refs and lines of its
 *  range, do not fit o->budget on some rank, every rank returns 0 with out->declined and its
 *  table untouched. Collective; a rank that fails keeps its message, the others return 0 with
 *  *out empty (the caller's agreement stops the run); *table stays the caller's to free (its
 *  records scrambled when the exchange itself failed).
 *  @return 0, or nonzero with err filled (a malformed payload: MRC_EINVAL). */
int mrc_mpi_output_ranges(const mrc_mpi *d, void **table, const mrc_ranges_opts *o, mrc_ranges *out,
                          mrc_err *err);

void mrc_ranges_free(mrc_ranges *r);

typedef struct mrc_splitters {
    mrc_rec_view *split; /* nsplit records, ascending in the order (views into keys) */
    size_t nsplit;       /* fewer than parts - 1 when the samples run out: the rest lie past */
    unsigned char *keys;
    bool declined; /* a rank failed or had its samples refused, or no splitter: none */
} mrc_splitters;

/** mrc_mpi_agree_splitters() : every rank gives `nsamples` samples of its records (wire records
 *  in mine[0, len), each standing for as many records as any other's) and gets the same
 *  splitters that cut the order into `parts` parts of about equal weight: split[k] opens part
 *  k + 1. A rank with `failed` set takes part; every rank then gets out->declined (as when the
 *  samples are too many for MPI's counts, or give no splitter). Collective.
 *  @return 0, or nonzero with err filled (this rank's allocation, or MPI). */
int mrc_mpi_agree_splitters(const mrc_mpi *d, const unsigned char *mine, size_t len,
                            uint64_t nsamples, bool failed, enum mrc_order order, size_t parts,
                            mrc_splitters *out, mrc_err *err);

void mrc_splitters_free(mrc_splitters *s);

/* ---- the owners' sorted ranges streamed to rank 0 (stream.c) ---- */

/** mrc_mpi_stream_source() : on rank 0, the records rank `owner` serves (mrc_mpi_stream_serve()),
 *  as a stream read block by block: each block is asked for when the last one is read, so rank 0
 *  holds one block per owner. Closing it before its end tells the owner to stop (--top). Waits
 *  poll `stop` (MRC_EINTR). An owner's error arrives as this stream's error ("rank N: ...").
 *  @return NULL on ENOMEM. */
mrc_source *mrc_mpi_stream_source(const mrc_mpi *d, int owner, const mrc_stop *stop, mrc_err *err);

/** mrc_mpi_stream_serve() : on an owner (rank != 0), serve src's records to rank 0 in blocks of
 *  about `block` bytes (a larger record alone), each when rank 0 asks, until src ends (an empty
 *  block tells rank 0) or rank 0 asks no more; *sent counts the bytes. On an error (src's, a
 *  stop) rank 0 gets the message instead of a block. @return 0, or nonzero with err filled. */
int mrc_mpi_stream_serve(const mrc_mpi *d, mrc_source *src, size_t block, const mrc_stop *stop,
                         uint64_t *sent, mrc_err *err);

/** mrc_mpi_stream_serve_fill() : as mrc_mpi_stream_serve_bytes(), for blocks the owner makes
 *  when rank 0 asks: fill(arg, &p, &n, err) gives the next block's bytes (n 0: the end), valid
 *  until its next call. @return 0, or nonzero with err filled. */
int mrc_mpi_stream_serve_fill(const mrc_mpi *d,
                              int (*fill)(void *arg, const unsigned char **p, size_t *n,
                                          mrc_err *err),
                              void *arg, const mrc_stop *stop, uint64_t *sent, mrc_err *err);

/** mrc_mpi_stream_decline() : on rank 0, tell `owner` that nothing will be asked of it (what
 *  closing its stream does), without a stream: when rank 0 could not open one. */
void mrc_mpi_stream_decline(int owner);

/** mrc_mpi_stream_block() : on rank 0, the next block of a stream of mrc_mpi_stream_source()
 *  whose owner serves bytes (mrc_mpi_stream_serve_bytes()): *p, *n valid until the next call or
 *  the close (the next block is asked for at once). @return 1, 0 at the end, or -1 with err
 *  filled (the owner's error as it sent it). */
int mrc_mpi_stream_block(mrc_source *src, const unsigned char **p, size_t *n, mrc_err *err);

/** mrc_mpi_stream_serve_bytes() : as mrc_mpi_stream_serve(), for buf[0, len) in slices of
 *  `block` bytes sent from where they lie. buf NULL: only err is sent (this owner failed).
 *  @return 0, or nonzero with err filled. */
int mrc_mpi_stream_serve_bytes(const mrc_mpi *d, const unsigned char *buf, size_t len, size_t block,
                               const mrc_stop *stop, uint64_t *sent, mrc_err *err);

/* ---- the result written in place by every rank (shared.c) ---- */

/** mrc_mpi_share_file() : whether every rank can write the result file that rank 0 opened
 *  (fd0, as `name`; fd0 -1 or name NULL: it cannot be shared): rank 0
 *  writes a random 16-byte mark at its start (made durable when a rank is on another node; the
 *  file's lines overwrite it, or rank 0 cuts the file to their length), every
 *  other rank opens `name` and must read the mark there (a node-local path names another file,
 *  or none). refuse (a test hook) makes this rank fail the check. Collective.
 *  @return 0 with *fd a descriptor for writing on every rank (rank 0: fd0; the others' own, to
 *  be closed) and *page the largest page size of the ranks, or 0 with *fd -1 on every rank
 *  when some rank cannot; nonzero with err filled on an MPI failure. */
int mrc_mpi_share_file(const mrc_mpi *d, int fd0, const char *name, bool refuse, int *fd,
                       uint64_t *page, mrc_err *err);

/** mrc_mpi_offsets() : where this rank's `bytes` start when every rank's follow in rank order
 *  (*at), and the sum of all (*total). Collective. @return 0, or MRC_EMPI with err filled. */
int mrc_mpi_offsets(const mrc_mpi *d, uint64_t bytes, uint64_t *at, uint64_t *total, mrc_err *err);

/* ---- bad records (comm.c) ---- */

/** mrc_mpi_gather_bad() : rank 0 gets every rank's bad-record counts and first samples, merged
 *  per file (ascending file index, summed; per file the first MRC_BAD_SAMPLES samples in file
 *  order, each located to its line) into *out (mrc_bad_report_free() it; empty elsewhere).
 *  Collective. */
int mrc_mpi_gather_bad(const mrc_mpi *d, const mrc_map_stats *st, const mrc_file_list *files,
                       mrc_bad_report *out, mrc_err *err);

#endif
