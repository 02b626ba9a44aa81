/* dist.h - everything that crosses ranks: start-up, who shares a node's cpuset, the broadcast
 * of the file table and the MPI_Scatterv of split descriptors, the run-wide agreement on
 * failure, and the combine of serialized tables (MPI_Reduce with a merging MPI_Op).
 * The only stage (with cli start-up) that calls MPI. */
#ifndef MRCOUNT_DIST_H
#define MRCOUNT_DIST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "mrcount/common.h"
#include "mrcount/input.h"
#include "mrcount/runtime.h"
#include "mrcount/table.h"

typedef struct mrc_dist {
    int rank, size;
    int node_rank, node_size; /* within the node (MPI_COMM_TYPE_SHARED) */
    char host[64];
    bool node_local_pml; /* mrc_dist_init() chose Open MPI's ob1 PML: every rank on one node */
} mrc_dist;

/** mrc_dist_init() : MPI_Init_thread (FUNNELED: only the calling thread talks MPI), errors
 *  returned rather than aborting. When the user set no OMPI_MCA_pml and every rank is on this
 *  node (a singleton, mpirun with all ranks local, a one-node srun step), it first sets
 *  OMPI_MCA_pml=ob1, sparing MPI_Init's ~0.2 s probe of network fabrics.
 *  @return 0 or MRC_EMPI with err filled. */
int mrc_dist_init(int *argc, char ***argv, mrc_dist *d, mrc_err *err);

/** mrc_dist_finalize() : MPI_Finalize. */
void mrc_dist_finalize(void);

/** mrc_dist_abort() : MPI_Abort(code): the last resort when ranks can no longer agree. */
void mrc_dist_abort(int code);

/** mrc_dist_share() : among the ranks of this node, how many have the same cpuset string as
 *  this one (*count) and this rank's index among them (*index). Collective. */
int mrc_dist_share(const mrc_dist *d, const char *cpuset, size_t *index, size_t *count,
                   mrc_err *err);

/** mrc_dist_agree() : collective: combine every rank's status. When some rank failed, the
 *  failing rank with the lowest number sends its error to all, which is returned in err (its
 *  message prefixed with "rank N: " when size > 1); the caller's own err is replaced.
 *  @return the failing rank's code (0 when every rank succeeded). */
int mrc_dist_agree(const mrc_dist *d, int status, mrc_err *err);

/** mrc_dist_bcast_files() : rank 0's file list to every rank (paths, sizes, gz flags).
 *  On other ranks `files` is filled. Collective. */
int mrc_dist_bcast_files(const mrc_dist *d, mrc_file_list *files, mrc_err *err);

/** mrc_dist_scatter_splits() : MPI_Scatterv of rank 0's plan: each rank receives its splits
 *  (malloc'd *mine, *n). `plan` is read on rank 0 only. Collective. */
int mrc_dist_scatter_splits(const mrc_dist *d, const mrc_split_plan *plan, mrc_split **mine,
                            size_t *n, mrc_err *err);

/** mrc_dist_reduce_tables() : combine every rank's serialized table into one on rank 0 with
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
int mrc_dist_reduce_tables(const mrc_dist *d, void **local, size_t local_len, uint64_t cap_hint,
                           void **result, size_t *result_len, bool *too_small, mrc_err *err);

/** mrc_dist_gather_doubles() : rank 0 gets n values from every rank (size * n, rank-major). */
int mrc_dist_gather_doubles(const mrc_dist *d, const double *mine, size_t n, double *all,
                            mrc_err *err);

/** mrc_dist_gather_bytes() : rank 0 gets every rank's `len` bytes, concatenated in rank order
 *  (malloc'd *all; *lens, when lens is non-NULL, malloc'd size entries). At most 2 GiB in all.
 *  Collective. */
int mrc_dist_gather_bytes(const mrc_dist *d, const void *mine, size_t len, void **all,
                          size_t **lens, mrc_err *err);

/** mrc_dist_gather_strings() : rank 0 gets every rank's string (malloc'd array of size
 *  malloc'd strings in *all). */
int mrc_dist_gather_strings(const mrc_dist *d, const char *mine, char ***all, mrc_err *err);

/** mrc_dist_max_u64() / mrc_dist_sum_u64() : allreduce helpers. */
int mrc_dist_sum_u64(const mrc_dist *d, uint64_t *v, size_t n, mrc_err *err);
int mrc_dist_max_u64(const mrc_dist *d, uint64_t *v, size_t n, mrc_err *err);

/* ---- the shuffle combine (shuffle.c) ---- */

/** mrc_dist_shuffle_tables() : every rank's serialized table is cut into hash ranges, range r
 *  goes to rank r (MPI_Alltoallv: sizes, then data, in rounds of at most 2 GiB per rank), and
 *  each rank merges the runs of its range on its placement's threads. *local (malloc'd) is
 *  freed as soon as it is sent (set to NULL). On success *range (malloc'd, *range_len bytes) is
 *  this rank's range as a serialized table; the ranges in rank order are the whole table.
 *  Collective. @return 0, or nonzero with err filled on the rank that failed (a rank that only
 *  saw another fail returns 0 with *range NULL: the caller's agreement names the culprit). */
int mrc_dist_shuffle_tables(const mrc_dist *d, void **local, size_t local_len, mrc_topo *topo,
                            const mrc_placement *pl, void **range, size_t *range_len, mrc_err *err);

/** mrc_dist_gather_table() : rank 0 gets the concatenation of every rank's range (serialized
 *  tables whose hash ranges follow rank order) as one serialized table (malloc'd *result of
 *  *result_len bytes); any size (chunked point-to-point). Collective. */
int mrc_dist_gather_table(const mrc_dist *d, const void *table, void **result, size_t *result_len,
                          mrc_err *err);

/** mrc_dist_hll_union() : every rank's sketch becomes the union's (MPI_Allreduce MAX). */
int mrc_dist_hll_union(const mrc_dist *d, mrc_hll *h, mrc_err *err);

/* ---- while the ranks map (src/dist/schedule.c) ----
 * --schedule dynamic: every rank holds the whole plan and takes the next split from a counter on
 * rank 0 through MPI-3 RMA, so a rank that finishes early takes more. Both schedules: progress
 * and failure travel in a non-blocking allreduce that the main thread tests between its other
 * work. Called from the main thread only. Some transports (Open MPI's osc pt2pt, over TCP)
 * serve rank 0's counter only while rank 0 is inside MPI: rank 0 must test often meanwhile. */

/** mrc_dist_bcast_plan() : all of rank 0's splits to every rank (malloc'd *all, *n), in pull
 *  order: .gz splits first, largest first (one thread inflates a whole file: a big one must start
 *  early), then plain splits in (file, offset) order, so the pieces of a file are pulled in
 *  offset order. `files` and `plan` are read on rank 0 only. Collective. */
int mrc_dist_bcast_plan(const mrc_dist *d, const mrc_file_list *files, const mrc_split_plan *plan,
                        mrc_split **all, size_t *n, mrc_err *err);

typedef struct mrc_dist_counter mrc_dist_counter;

/** mrc_dist_counter_open() : a counter at 0 in a window on rank 0 (MPI_Win_allocate, 0 bytes
 *  elsewhere), open for passive-target access by every rank until closed. Collective. On
 *  failure *c is NULL unless the window exists, which mrc_dist_counter_close() then frees. */
int mrc_dist_counter_open(const mrc_dist *d, mrc_dist_counter **c, mrc_err *err);

/** mrc_dist_counter_next() : atomically add 1 to the counter (MPI_Fetch_and_op, then flush):
 *  *value is the counter before, so each value goes to exactly one caller. Not collective. */
int mrc_dist_counter_next(mrc_dist_counter *c, uint64_t *value, mrc_err *err);

/** mrc_dist_counter_close() : end the access epoch and free the window (c may be NULL).
 *  Collective: every rank that opened it calls this once, after its last fetch. */
int mrc_dist_counter_close(mrc_dist_counter *c, mrc_err *err);

typedef struct mrc_dist_iprogress mrc_dist_iprogress;

/** mrc_dist_iprogress_open() : the state of the progress exchange (local, no MPI call). */
int mrc_dist_iprogress_open(mrc_dist_iprogress **p, mrc_err *err);

/** mrc_dist_iprogress_start() : start the sum of the ranks' (failed, still mapping, bytes done)
 *  with MPI_Iallreduce; one at a time. Collective, non-blocking: every rank starts as many. */
int mrc_dist_iprogress_start(mrc_dist_iprogress *p, int failed, int mapping, uint64_t bytes,
                             mrc_err *err);

/** mrc_dist_iprogress_test() : MPI_Test the exchange started last (which also lets MPI serve
 *  other ranks' RMA on some transports); once it completed, *ready is set and sums[3] holds the
 *  sums, the same on every rank, and the next may start. */
int mrc_dist_iprogress_test(mrc_dist_iprogress *p, bool *ready, uint64_t sums[3], mrc_err *err);

/** mrc_dist_iprogress_close() : free the state (p may be NULL). Call it with no exchange in
 *  flight; after an MPI error left one, the state is kept, since MPI may still write it. */
void mrc_dist_iprogress_close(mrc_dist_iprogress *p);

#endif
