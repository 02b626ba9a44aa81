/* compact.c - keeps the number of run files a merge opens at once within what the process may
 * open: a long run with many spills, or many checkpoints, can leave thousands of runs per rank,
 * and every one is a descriptor and a read buffer in the final merge. Past the fan-in, runs are
 * merged in groups into new runs first (the classic multi-pass external merge), each pass
 * reading and writing those runs' bytes once. */
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "mrcount/table.h"

#define FAN_IN_MAX 512 /* runs one merge reads at once, at most */
#define FAN_IN_MIN 8
#define FDS_SPARE 64 /* descriptors left for MPI, inputs, outputs */

size_t mrc_runs_fan_in(void)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0) return FAN_IN_MIN;
    if (rl.rlim_cur < rl.rlim_max) { /* the hard limit is ours to take */
        struct rlimit up = {rl.rlim_max, rl.rlim_max};
        if (setrlimit(RLIMIT_NOFILE, &up) == 0) rl.rlim_cur = rl.rlim_max;
    }
    rlim_t fds = rl.rlim_cur == RLIM_INFINITY ? (rlim_t)FAN_IN_MAX * 2 + FDS_SPARE : rl.rlim_cur;
    /* half the spare descriptors: a shuffle also holds the runs it receives */
    size_t fan = fds > FDS_SPARE ? (size_t)(fds - FDS_SPARE) / 2 : 0;
    return fan < FAN_IN_MIN ? FAN_IN_MIN : fan > FAN_IN_MAX ? FAN_IN_MAX : fan;
}

typedef struct group_out {
    mrc_run_writer *w;
    const mrc_stop *stop; /* a relaxed load: looked at per record */
} group_out;

static int put(void *arg, const mrc_rec_view *r, mrc_err *err)
{
    group_out *g = arg;
    if (mrc_stopped(g->stop)) return mrc_err_set(err, MRC_EINTR, "merging runs: stopped");
    return mrc_run_writer_put(g->w, r, err);
}

/* Merge runs[0, k), all in one order, into *out (a new run in dir, in that order); they stay
 * open (the caller closes them). */
static int merge_group(const mrc_run_file *runs, size_t k, const char *dir, size_t buf,
                       const mrc_stop *stop, mrc_run_file *out, mrc_err *err)
{
    mrc_source **src = calloc(k, sizeof *src);
    if (src == NULL) return mrc_err_set(err, MRC_ENOMEM, "%s: merging runs: out of memory", dir);
    int rc = 0;
    for (size_t i = 0; i < k && rc == 0; i++) {
        src[i] = mrc_run_file_source(&runs[i], 0, UINT64_MAX, buf, err);
        if (src[i] == NULL) rc = err->code ? err->code : MRC_ENOMEM;
    }
    enum mrc_order order = runs[0].order;
    mrc_run_writer *w = rc == 0 ? mrc_run_writer_open(dir, order, 0, err) : NULL;
    if (rc == 0 && w == NULL) rc = err->code ? err->code : MRC_EIO;
    group_out g = {w, stop};
    if (rc == 0) rc = mrc_source_merge(src, k, order, put, &g, err);
    if (w != NULL) {
        if (rc == 0)
            rc = mrc_run_writer_finish(w, out, err);
        else
            mrc_run_writer_abort(w);
    }
    for (size_t i = 0; i < k; i++)
        if (src[i] != NULL) src[i]->close(src[i]);
    free(src);
    return rc;
}

/* How many of runs[0, n) (two at least) a merge may open within hold bytes of their longest
 * records. */
static size_t within_hold(const mrc_run_file *runs, size_t n, uint64_t hold)
{
    uint64_t sum = 0;
    size_t k = 0;
    for (; k < n; k++) {
        sum += mrc_run_file_hold(&runs[k]);
        if (sum > hold) break;
    }
    return k < 2 ? 2 : k;
}

int mrc_runs_compact(mrc_run_file *runs, size_t *n, size_t max_runs, uint64_t hold, const char *dir,
                     size_t buf, uint64_t *bytes, const mrc_stop *stop, mrc_err *err)
{
    if (max_runs < 2) max_runs = 2;
    for (;;) {
        /* Keys of megabytes: every open run holds its longest record, a merge of hundreds of
         * them more than the limit (100 runs of a 4 MB key: 870 MiB at a 16 MiB limit). Such runs
         * are merged a few at a time, the merged ones last, so each pass reads them once. */
        bool heavy = hold > 0 && *n > 2 && within_hold(runs, *n, hold) < *n;
        if (*n <= max_runs && !heavy) break;
        /* the first group as large as the fan-in allows, but no larger than it takes to get
         * down to max_runs: merging fewer runs reads fewer bytes */
        size_t k = heavy ? *n : *n - max_runs + 1;
        if (k > max_runs) k = max_runs;
        if (hold > 0) {
            size_t fit = within_hold(runs, k, hold);
            if (k > fit) k = fit;
        }
        mrc_run_file merged;
        int rc = merge_group(runs, k, dir, buf, stop, &merged, err);
        if (rc != 0) return rc;
        if (bytes != NULL) *bytes += merged.bytes;
        for (size_t i = 0; i < k; i++)
            mrc_run_file_close(&runs[i]);
        /* the merged run goes last: the next group takes runs not merged yet */
        memmove(runs, runs + k, (*n - k) * sizeof *runs);
        *n -= k;
        runs[(*n)++] = merged;
    }
    return 0;
}
