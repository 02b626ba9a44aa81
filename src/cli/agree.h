/* agree.h - the ranks' agreement after each phase: fail together unless every rank succeeded,
 * with one message, and never hang a signalled rank. Private to cli/. */
#ifndef MRCOUNT_CLI_AGREE_H
#define MRCOUNT_CLI_AGREE_H

#include "mrcount/mpi.h"

typedef struct mrc_agreement {
    const mrc_mpi *d;
    mrc_mpi_iprogress *ex; /* the non-blocking exchange of failure flags */
    double grace;          /* seconds a signalled rank waits for the others (0: 2 s) */
} mrc_agreement;

/** mrc_agree_open() : the agreement's exchange state (no MPI call). @return 0 or MRC_ENOMEM. */
int mrc_agree_open(mrc_agreement *a, const mrc_mpi *d, mrc_err *err);
void mrc_agree_close(mrc_agreement *a);

/** mrc_agree() : fail the whole run unless every rank succeeded (status 0); rank 0 prints the
 *  one message ("mrcount: <the first failing rank's cause>"), which every rank gets in err. A
 *  signalled rank fails with the signal. The wait polls for signals: a signalled rank that the
 *  others do not join within a grace time removes its files and ends the job. Collective.
 *  @return 0 when every rank succeeded, else nonzero on every rank. */
int mrc_agree(mrc_agreement *a, int status, mrc_err *err);

#endif
