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

#endif
