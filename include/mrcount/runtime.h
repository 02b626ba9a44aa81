/* runtime.h - where this rank's threads run: read the cpuset the launcher gave the process
 * (hwloc), choose the thread count, place one worker per core, pin each worker and run it.
 * hwloc lives only here; no MPI (the caller says how many ranks share the same cpuset). */
#ifndef MRCOUNT_RUNTIME_H
#define MRCOUNT_RUNTIME_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>

#include "mrcount/common.h"

typedef struct mrc_topo mrc_topo;
typedef struct mrc_placement mrc_placement;

/** mrc_topo_open() : the topology of this machine (synthetic == NULL) or of an hwloc synthetic
 *  description such as "package:2 numa:2 core:4 pu:2" (for tests). @return NULL, err filled. */
mrc_topo *mrc_topo_open(const char *synthetic, mrc_err *err);
void mrc_topo_close(mrc_topo *t);

/** mrc_topo_cpuset_string() : the process's current binding as a hwloc bitmap list string
 *  ("0-3"), for comparing with the other ranks of the node; in a synthetic topology, the whole
 *  machine. Caller frees. @return NULL on error. */
char *mrc_topo_cpuset_string(mrc_topo *t, mrc_err *err);

/* Where the thread count came from. */
enum mrc_threads_source {
    MRC_THREADS_OPTION, /* --threads */
    MRC_THREADS_OMP,    /* OMP_NUM_THREADS */
    MRC_THREADS_SLURM,  /* SLURM_CPUS_PER_TASK */
    MRC_THREADS_CPUSET, /* the cores of the cpuset (shared among co-located ranks) */
};

struct mrc_placement {
    size_t nthreads;
    int *core_of;   /* per thread: logical index of the core it is pinned to, -1: unpinned */
    char **cpus_of; /* per thread: its PU list string ("4,36"), for metrics */
    size_t cores_available; /* cores in this rank's share of the cpuset */
    size_t cpus_available;  /* their PUs in the cpuset: Slurm's CPUs (2 a core with SMT) */
    enum mrc_threads_source source;
    bool oversubscribed; /* more threads than cores available: a warning for the user */
    /* OMP_NUM_THREADS or SLURM_CPUS_PER_TASK, set (not empty) and consulted but not a positive
     * integer, so ignored: a warning for the user (NULL: none) */
    const char *ignored_env;
};

/** mrc_placement_plan() : plan this rank's workers.
 *  cpuset: hwloc list string of the PUs this rank may use (NULL: the process binding);
 *  share_index/share_count: this rank is the share_index-th of share_count ranks on the node
 *  whose cpuset is identical (unbound ranks, oversubscribed runs, singletons): the cores of the
 *  set are divided among them in contiguous slices (a rank gets at least one core, shared
 *  round-robin if there are more ranks than cores);
 *  requested: --threads value (0: not given). Precedence: --threads, then OMP_NUM_THREADS, then
 *  SLURM_CPUS_PER_TASK (both read from the environment; one set to anything but a positive
 *  integer is ignored and named in ignored_env), then the core count of the share. Threads are
 *  placed one per core in the share, in topology order (spreading across packages/NUMA nodes is
 *  not attempted: the launcher already chose the set); beyond the core count they wrap
 *  round-robin and `oversubscribed` is set.
 *  @return 0, or nonzero with err filled. */
int mrc_placement_plan(mrc_topo *t, const char *cpuset, size_t share_index, size_t share_count,
                       size_t requested, mrc_placement *out, mrc_err *err);

void mrc_placement_free(mrc_placement *p);

/** mrc_topo_idle_cores() : how many cores of this machine (of those the process may use: a
 *  job's cgroup leaves the others out) have no PU in `used`, a PU list such as the union of the
 *  node's rank cpusets; *total: the cores counted. @return 0 if `used` is empty or no list. */
size_t mrc_topo_idle_cores(mrc_topo *t, const char *used, size_t *total);

/* Worker body: called once in each worker thread after it is pinned. */
typedef void (*mrc_worker_fn)(size_t thread_index, void *arg);

typedef struct mrc_pool mrc_pool;

/** mrc_pool_start() : start p->nthreads workers, pin thread i to core p->core_of[i] (the whole
 *  core: all its PUs) before calling fn(i, arg). A failed pin is not fatal (the thread runs
 *  unpinned; mrc_pool_pin_failures() tells). @return NULL with err filled if threads cannot be
 *  created (those already started are joined without calling fn: a pool runs every fn or none,
 *  so a caller may run the bodies itself after a failed start). */
mrc_pool *mrc_pool_start(mrc_topo *t, const mrc_placement *p, mrc_worker_fn fn, void *arg,
                         mrc_err *err);

/** mrc_pool_join() : wait for every worker to return, then free the pool. */
void mrc_pool_join(mrc_pool *pool);

/** mrc_pool_pin_failures() : how many workers could not be pinned (valid until join). */
size_t mrc_pool_pin_failures(const mrc_pool *pool);

/** mrc_run_parallel() : start, then join, a pool (for phases like the local merge). */
int mrc_run_parallel(mrc_topo *t, const mrc_placement *p, mrc_worker_fn fn, void *arg,
                     mrc_err *err);

/* A worker body that can fail: thread_index, the caller's arg, the run's failed flag (raised
 * once any worker failed: long bodies poll it and return early) and this thread's error.
 * @return 0, or nonzero with err filled. */
typedef int (*mrc_task_fn)(size_t thread_index, void *arg, atomic_int *failed, mrc_err *err);

/** mrc_run_tasks() : run fn once on every worker of the placement (pinned), then join; on the
 *  pool's failure to start, fn ran on none (mrc_pool_start()).
 *  @return 0, or the first error (lowest thread index, a real failure before a stop) with err
 *  filled, or the pool's own failure to start. */
int mrc_run_tasks(mrc_topo *t, const mrc_placement *p, mrc_task_fn fn, void *arg, mrc_err *err);

/** mrc_first_error() : the first of n per-thread errors into err: a real failure (lowest
 *  index) before an MRC_EINTR stop. @return its code, or 0 when every entry is clear. */
int mrc_first_error(const mrc_err *errs, size_t n, mrc_err *err);

#endif
