/* agree.c - the agreement the run makes after every phase. The main thread's waits for other
 * ranks that can be long are these (one rank may still walk the inputs or write the result);
 * each collective between two of them moves bounded data among ranks that left the last one
 * together. So the wait is a non-blocking exchange of failure flags that polls for signals;
 * only when some rank failed do all exchange the first failure's message, at once. It must
 * never wait unboundedly on a rank that was signalled. */
#include <stdio.h>
#include <time.h>
#include <unistd.h>

#include "agree.h"
#include "signals.h"

#define SIGNAL_GRACE_S 2.0 /* a signalled rank waits this long for the others to agree */
#define AGREE_SPIN_S 1e-4  /* an agreement of ranks in step takes microseconds: spin that long */
#define AGREE_NAP_MAX_NS 1000000L /* then test it every <= 1 ms, leaving the core to others */

int mrc_agree_open(mrc_agreement *a, const mrc_mpi *d, mrc_err *err)
{
    a->d = d;
    return mrc_mpi_iprogress_open(&a->ex, err);
}

void mrc_agree_close(mrc_agreement *a)
{
    mrc_mpi_iprogress_close(a->ex);
    a->ex = NULL;
}

/* A signalled rank that the others did not join within SIGNAL_GRACE_S (one is still busy in
 * long, bounded work: writing a big result, walking a huge tree) removes its files and ends the
 * job: the launcher then stops the busy ranks, whose handlers remove their temporaries. */
static _Noreturn void give_up(const mrc_agreement *a)
{
    int sig = atomic_load(&mrc_signal_flag);
    mrc_signals_remove_watched();
    fprintf(stderr,
            "mrcount: rank %d: stopped by %s; the other ranks did not stop within %.0f s, "
            "ending the job\n",
            a->d->rank, mrc_signals_name(sig), a->grace > 0 ? a->grace : SIGNAL_GRACE_S);
    mrc_mpi_abort(128 + sig);
    _exit(128 + sig);
}

/* Wait for the agreement's exchange: a short spin, then naps, testing for signals. */
static int agree_wait(mrc_agreement *a, uint64_t sums[3], mrc_err *err)
{
    double t0 = mrc_now(), signalled = 0;
    struct timespec nap = {0, 0};
    for (;;) {
        bool ready = false;
        int rc = mrc_mpi_iprogress_test(a->ex, &ready, sums, err);
        if (rc != 0 || ready) return rc;
        double now = mrc_now();
        if (atomic_load(&mrc_signal_flag)) {
            if (signalled == 0)
                signalled = now;
            else if (now - signalled > (a->grace > 0 ? a->grace : SIGNAL_GRACE_S))
                give_up(a);
        }
        if (now - t0 > AGREE_SPIN_S) {
            nap.tv_nsec = nap.tv_nsec == 0 ? 10000L : nap.tv_nsec * 2;
            if (nap.tv_nsec > AGREE_NAP_MAX_NS) nap.tv_nsec = AGREE_NAP_MAX_NS;
            nanosleep(&nap, NULL);
        }
    }
}

int mrc_agree(mrc_agreement *a, int status, mrc_err *err)
{
    if (atomic_load(&mrc_signal_flag)) status = mrc_signals_error(err);
    uint64_t sums[3] = {0};
    int rc = mrc_mpi_iprogress_start(a->ex, status != 0, 0, 0, err);
    if (rc == 0) rc = agree_wait(a, sums, err);
    if (rc == 0 && sums[0] == 0) return 0;
    if (rc == 0) {
        if (atomic_load(&mrc_signal_flag)) status = mrc_signals_error(err); /* during the wait */
        rc = mrc_mpi_agree(a->d, status, err);
    }
    if (rc != 0 && a->d->rank == 0) fprintf(stderr, "mrcount: %s\n", err->msg);
    return rc;
}
