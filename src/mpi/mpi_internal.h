/* mpi_internal.h - helpers shared by the files of dist/; not part of the stage interface. */
#ifndef MRCOUNT_MPI_INTERNAL_H
#define MRCOUNT_MPI_INTERNAL_H

#include "mrcount/common.h"

/** mrc_mpi_mpi_error() : fill err with "<call name> failed: <MPI's error string>".
 *  @return MRC_EMPI. */
int mrc_mpi_mpi_error(mrc_err *err, const char *call, int rc);

/* Evaluate an MPI call; on failure fill err with the call and MPI's own words and return. */
#define MRC_MPI_CHECK(call, err)                                                                   \
    do {                                                                                           \
        int mrc_rc_ = (call);                                                                      \
        if (mrc_rc_ != MPI_SUCCESS) return mrc_mpi_mpi_error((err), #call, mrc_rc_);               \
    } while (0)

/** mrc_mpi_exchange_bytes() : MPI_Alltoallv of bytes with size_t counts (shuffle.c): scount[r]
 *  bytes from send + sdispl[r] to rank r, rcount[r] bytes from rank r into recv + rdispl[r].
 *  volume (the most bytes any rank sends or receives) and pair_max (the most any rank sends
 *  one rank) must be agreed on by every rank: past the int limits of MPI (or test_round, a
 *  test hook) the bytes move in rounds through staging buffers, whose allocation the ranks
 *  agree on (*aborted: another rank could not allocate them; this one returns 0). ints is
 *  scratch of 4 * size ints, allocated before the agreement. Collective.
 *  @return 0, or nonzero with err filled. */
int mrc_mpi_exchange_bytes(int size, const unsigned char *send, size_t *scount, size_t *sdispl,
                           unsigned char *recv, size_t *rcount, size_t *rdispl, uint64_t volume,
                           uint64_t pair_max, size_t test_round, int *ints, int *aborted,
                           mrc_err *err);

/** mrc_mpi_release_outside() : the whole pages of buf (len bytes) outside [keep_from, keep_to)
 *  go back to the system (shuffle.c): what a rank sent is dead, what it keeps is not. */
void mrc_mpi_release_outside(void *buf, size_t keep_from, size_t keep_to, size_t len);

#endif
