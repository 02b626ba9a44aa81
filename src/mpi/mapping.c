/* mapping.c - the main thread's side of the map phase, while this rank's workers map: it feeds
 * the workers splits pulled from rank 0's counter (--schedule dynamic), and exchanges progress,
 * completion and failure with the other ranks in a small non-blocking allreduce, so no rank
 * waits in MPI while its workers need feeding, and a failure anywhere reaches every rank within
 * about POLL_MS. It must never block the workers, and every rank must leave it on the same
 * exchange. */
#include <stdlib.h>
#include <unistd.h>

#include "mpi_internal.h"
#include "mrcount/mpi.h"

#define POLL_MS 100 /* a busy rank starts an exchange this long after the last */
/* The loop waits on the workers in slices (a worker that wants a split ends the wait) and tests
 * the exchange between them. Rank 0 under the dynamic schedule: short ones, as on some
 * transports (Open MPI's osc pt2pt over TCP) it serves the split counter only from inside MPI:
 * a fetch from another rank then takes about two slices (measured). */
#define SLICE_MS 10
#define SLICE_COUNTER_MS 1

/* The counter hands out units of consecutive splits in pull order, not single splits: small
 * ones (a corpus of many small files) are grouped, so a fetch's round trip is paid per
 * megabyte rather than per file (50,000 files of 0.5-5 KB at np 2: one fetch a file took the
 * map from 0.73 s under the static schedule to 0.99 s). A unit holds up to UNIT_BYTES, and no
 * more than the plan's bytes from its start on divided by 2 x ranks (guided self-scheduling),
 * so the last units are small and a rank busy with a long split holds back little; a split
 * over that is a unit alone. Every rank cuts the same units from the same broadcast plan. */
#define UNIT_BYTES ((uint64_t)1 << 20)
#define UNIT_SPLITS 4096 /* splits of one unit at most (empty files weigh nothing) */

/* unit u = plan[start[u], start[u + 1]); @return the number of units (start has room for
 * nplan + 1). */
static size_t cut_units(const mrc_split *plan, size_t nplan, int nranks, size_t *start)
{
    uint64_t left = 0; /* bytes of plan[i, nplan) */
    for (size_t i = 0; i < nplan; i++)
        left += plan[i].length;
    size_t n = 0, in_unit = 0;
    uint64_t bytes = 0, cap = 0;
    for (size_t i = 0; i < nplan; i++) {
        uint64_t len = plan[i].length;
        if (in_unit > 0 && (len > cap - bytes || in_unit == UNIT_SPLITS)) in_unit = 0;
        if (in_unit == 0) {
            start[n++] = i;
            bytes = 0;
            cap = left / (2 * (uint64_t)nranks);
            cap = cap < UNIT_BYTES ? cap : UNIT_BYTES;
        }
        in_unit++;
        bytes = len < cap - bytes ? bytes + len : cap;
        left -= len;
    }
    start[n] = nplan;
    return n;
}

/* Dynamic schedule: while the workers run low, take the next unit from rank 0's counter and
 * feed its splits. mrc_map_wants() turns true while the workers are still busy, before one runs
 * dry, so the fetch's round trip overlaps mapping; a value past the units ends this rank's
 * feed. */
static int pull_splits(const mrc_mpi_map_opts *o, const size_t *units, size_t nunits,
                       mrc_map_run *m, mrc_mpi_counter *counter, bool *pulled_all, mrc_err *err)
{
    while (!*pulled_all && mrc_map_wants(m)) {
        uint64_t next = 0;
        int rc = mrc_mpi_counter_next(counter, &next, err);
        if (rc != 0) return rc;
        if (next >= nunits) {
            mrc_map_feed_end(m);
            *pulled_all = true;
            continue;
        }
        size_t at = units[next];
        if ((rc = mrc_map_feed(m, &o->plan[at], units[next + 1] - at, err)) != 0) return rc;
    }
    return 0;
}

static void stop_map(const mrc_mpi_map_opts *o, mrc_map_run *m)
{
    if (o->stopping != NULL) o->stopping(o->stopping_arg);
    if (m != NULL && o->drain)
        mrc_map_drain(m);
    else if (m != NULL)
        mrc_map_stop(m);
}

int mrc_mpi_map_open(const mrc_mpi *d, bool dynamic, mrc_mpi_map_state *st, mrc_err *err)
{
    st->counter = NULL;
    st->ex = NULL;
    int rc = dynamic ? mrc_mpi_counter_open(d, &st->counter, err) : 0;
    if (rc == 0) rc = mrc_mpi_iprogress_open(&st->ex, err);
    return rc;
}

void mrc_mpi_map_close(mrc_mpi_map_state *st)
{
    mrc_err e = {0};
    mrc_mpi_counter_close(st->counter, &e);
    mrc_mpi_iprogress_close(st->ex);
    st->counter = NULL;
    st->ex = NULL;
}

int mrc_mpi_map_drive(const mrc_mpi *d, mrc_map_run *m, const mrc_mpi_map_opts *o,
                      mrc_mpi_map_state *st, bool *local_failed, mrc_err *err)
{
    bool failed = m == NULL, done = m == NULL, pulled_all = !o->dynamic, inflight = false;
    int slice_ms = o->dynamic && d->rank == 0 ? SLICE_COUNTER_MS : SLICE_MS;
    double last_draw = 0, last_start = 0;
    uint64_t bytes = 0, sums[3] = {0};
    int rc = 0;
    size_t *units = NULL, nunits = 0;
    if (o->dynamic) { /* a rank without them fails: the counter's values would mean other splits */
        units = malloc((o->nplan + 1) * sizeof *units);
        if (units != NULL) {
            nunits = cut_units(o->plan, o->nplan, d->size, units);
        } else if (!failed) {
            mrc_err_set(err, MRC_ENOMEM, "dynamic schedule: out of memory for %zu splits",
                        o->nplan);
            failed = true;
            stop_map(o, m);
        }
    }
    for (;;) {
        if (!pulled_all && !failed &&
            pull_splits(o, units, nunits, m, st->counter, &pulled_all, err) != 0) {
            failed = true;
            stop_map(o, m);
        }
        if (!failed && !done)
            failed = mrc_map_poll(m, slice_ms, &bytes, &done) != 0;
        else
            usleep((useconds_t)slice_ms * 1000); /* nothing to wait on locally */
        if (mrc_stopped(o->signalled) && !failed) {
            failed = true;
            if (o->on_signal != NULL) o->on_signal(o->on_signal_arg, err);
        }
        if (!inflight) {
            bool idle = failed || done;
            if (!idle && mrc_now() - last_start < POLL_MS / 1e3) continue;
            rc = mrc_mpi_iprogress_start(st->ex, failed, !done, bytes, err);
            if (rc != 0) break;
            inflight = true;
            last_start = mrc_now();
        }
        bool ready = false;
        rc = mrc_mpi_iprogress_test(st->ex, &ready, sums, err);
        if (rc != 0) break;
        if (!ready) continue;
        inflight = false;
        if (o->progress != NULL && (mrc_now() - last_draw > 0.25 || sums[1] == 0)) {
            o->progress(o->progress_arg, sums[2], sums[1], sums[1] == 0);
            last_draw = mrc_now();
        }
        if (sums[0] > 0 || sums[1] == 0) break;
    }
    free(units);
    if (rc != 0 || sums[0] > 0) stop_map(o, m);
    *local_failed = failed;
    /* Every rank left the loop on the same exchange, so all reach this collective together. */
    mrc_err cerr = {0};
    int crc = mrc_mpi_counter_close(st->counter, &cerr);
    st->counter = NULL;
    mrc_mpi_iprogress_close(st->ex);
    st->ex = NULL;
    if (rc == 0 && crc != 0 && !failed) {
        *err = cerr;
        rc = crc;
    }
    return rc;
}
