/* dist.h - everything that crosses ranks: start-up, who shares a node's cpuset, the broadcast
 * of the file table and the MPI_Scatterv of split descriptors, the run-wide agreement on
 * failure, and the combine of serialized tables (MPI_Reduce with a merging MPI_Op).
 * The only stage (with cli start-up) that calls MPI. */
#ifndef MRCOUNT_DIST_H
#define MRCOUNT_DIST_H

#include <stddef.h>
#include <stdint.h>

#include "mrcount/common.h"
#include "mrcount/input.h"

typedef struct mrc_dist {
    int rank, size;
    int node_rank, node_size; /* within the node (MPI_COMM_TYPE_SHARED) */
    char host[64];
} mrc_dist;

/** mrc_dist_init() : MPI_Init_thread (FUNNELED: only the calling thread talks MPI), errors
 *  returned rather than aborting. @return 0 or MRC_EMPI with err filled. */
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

/** mrc_dist_progress() : collective, cheap (one small MPI_Allreduce): sum of the ranks'
 *  (failed, still mapping, bytes done). */
int mrc_dist_progress(const mrc_dist *d, int failed, int mapping, uint64_t bytes, uint64_t sums[3],
                      mrc_err *err);

/** mrc_dist_reduce_tables() : combine every rank's serialized table into one on rank 0 with
 *  MPI_Reduce and a commutative user MPI_Op that merges two serialized tables. Buffers are
 *  sized by an MPI_Allreduce of the table sizes (their sum bounds the union), passed as one
 *  element of a derived datatype so that tables over 2 GiB work and no segmentation splits one.
 *  On rank 0 *result (malloc'd, *result_len bytes capacity) holds the merged table; a merge that
 *  did not fit, a count overflow or a corrupt table is an error. Collective.
 *  @return 0, or nonzero with err filled (on rank 0; others return 0 unless MPI failed). */
int mrc_dist_reduce_tables(const mrc_dist *d, const void *local, size_t local_len, void **result,
                           size_t *result_len, mrc_err *err);

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

#endif
