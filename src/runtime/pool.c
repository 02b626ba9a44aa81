/* pool.c - runs a placement: one pthread per planned worker, each pinned to its core's PUs
 * (from the plan's cpus_of) before it calls the worker body. A worker runs its body exactly
 * once, or not at all if the pool could not be fully started. It must never print or exit, and
 * never bind on a topology that is not this machine. */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "topo_internal.h"

enum pool_gate { GATE_WAIT, GATE_GO, GATE_ABORT };

struct pool_worker {
    mrc_pool *pool;
    size_t index;
    hwloc_bitmap_t set; /* PUs to bind to; NULL: run unpinned */
    pthread_t tid;
};

struct mrc_pool {
    mrc_topo *topo;
    mrc_worker_fn fn;
    void *arg;
    size_t nworkers;
    struct pool_worker *workers;
    atomic_size_t pin_failures;
    /* Workers wait at the gate until every thread exists, so a failed start runs no body. */
    pthread_mutex_t gate_lock;
    pthread_cond_t gate_cond;
    enum pool_gate gate;
};

static void *pool_worker_main(void *opaque)
{
    struct pool_worker *w = opaque;
    mrc_pool *pool = w->pool;

    pthread_mutex_lock(&pool->gate_lock);
    while (pool->gate == GATE_WAIT)
        pthread_cond_wait(&pool->gate_cond, &pool->gate_lock);
    enum pool_gate gate = pool->gate;
    pthread_mutex_unlock(&pool->gate_lock);
    if (gate == GATE_ABORT) return NULL;

    if (w->set != NULL && hwloc_set_cpubind(pool->topo->topo, w->set, HWLOC_CPUBIND_THREAD) != 0)
        atomic_fetch_add(&pool->pin_failures, 1);
    pool->fn(w->index, pool->arg);
    return NULL;
}

static void pool_free(mrc_pool *pool)
{
    for (size_t i = 0; i < pool->nworkers; i++)
        hwloc_bitmap_free(pool->workers[i].set);
    pthread_cond_destroy(&pool->gate_cond);
    pthread_mutex_destroy(&pool->gate_lock);
    free(pool->workers);
    free(pool);
}

static void pool_open_gate(mrc_pool *pool, enum pool_gate gate)
{
    pthread_mutex_lock(&pool->gate_lock);
    pool->gate = gate;
    pthread_cond_broadcast(&pool->gate_cond);
    pthread_mutex_unlock(&pool->gate_lock);
}

/* The bind set of each worker, parsed here in the caller's thread so that workers only read.
 * A worker the plan pinned but that cannot be (no PU string, or a topology that is not this
 * machine) is counted as a pin failure now. */
static int pool_prepare_sets(mrc_pool *pool, const mrc_placement *p, mrc_err *err)
{
    size_t unpinnable = 0;
    for (size_t i = 0; i < pool->nworkers; i++) {
        pool->workers[i].pool = pool;
        pool->workers[i].index = i;
        if (p->core_of[i] < 0) continue;
        if (!pool->topo->this_system || p->cpus_of == NULL || p->cpus_of[i] == NULL) {
            unpinnable++;
            continue;
        }
        hwloc_bitmap_t set = hwloc_bitmap_alloc();
        if (set == NULL) return mrc_err_set(err, MRC_ENOMEM, "worker pool: out of memory");
        if (hwloc_bitmap_list_sscanf(set, p->cpus_of[i]) != 0 || hwloc_bitmap_iszero(set)) {
            hwloc_bitmap_free(set);
            unpinnable++;
            continue;
        }
        pool->workers[i].set = set;
    }
    atomic_store(&pool->pin_failures, unpinnable);
    return MRC_OK;
}

mrc_pool *mrc_pool_start(mrc_topo *t, const mrc_placement *p, mrc_worker_fn fn, void *arg,
                         mrc_err *err)
{
    if (t == NULL || p == NULL || fn == NULL || p->nthreads == 0 || p->core_of == NULL) {
        mrc_err_set(err, MRC_EINVAL, "worker pool: no topology, body or planned worker");
        return NULL;
    }
    mrc_pool *pool = calloc(1, sizeof *pool);
    if (pool == NULL) {
        mrc_err_set(err, MRC_ENOMEM, "worker pool: out of memory");
        return NULL;
    }
    pool->workers = calloc(p->nthreads, sizeof *pool->workers);
    if (pool->workers == NULL) {
        free(pool);
        mrc_err_set(err, MRC_ENOMEM, "worker pool: out of memory");
        return NULL;
    }
    pool->topo = t;
    pool->fn = fn;
    pool->arg = arg;
    pool->nworkers = p->nthreads;
    pool->gate = GATE_WAIT;
    atomic_init(&pool->pin_failures, 0);
    if (pthread_mutex_init(&pool->gate_lock, NULL) != 0) {
        free(pool->workers);
        free(pool);
        mrc_err_set(err, MRC_ENOMEM, "worker pool: cannot create a mutex");
        return NULL;
    }
    if (pthread_cond_init(&pool->gate_cond, NULL) != 0) {
        pthread_mutex_destroy(&pool->gate_lock);
        free(pool->workers);
        free(pool);
        mrc_err_set(err, MRC_ENOMEM, "worker pool: cannot create a condition variable");
        return NULL;
    }
    if (pool_prepare_sets(pool, p, err) != MRC_OK) {
        pool_free(pool);
        return NULL;
    }

    for (size_t i = 0; i < pool->nworkers; i++) {
        int rc = pthread_create(&pool->workers[i].tid, NULL, pool_worker_main, &pool->workers[i]);
        if (rc != 0) {
            mrc_err_set(err, rc == EAGAIN || rc == ENOMEM ? MRC_ENOMEM : MRC_EINVAL,
                        "worker pool: cannot create worker %zu of %zu: %s", i + 1, pool->nworkers,
                        strerror(rc));
            pool_open_gate(pool, GATE_ABORT);
            for (size_t j = 0; j < i; j++)
                pthread_join(pool->workers[j].tid, NULL);
            pool_free(pool);
            return NULL;
        }
    }
    pool_open_gate(pool, GATE_GO);
    return pool;
}

void mrc_pool_join(mrc_pool *pool)
{
    if (pool == NULL) return;
    for (size_t i = 0; i < pool->nworkers; i++)
        pthread_join(pool->workers[i].tid, NULL);
    pool_free(pool);
}

size_t mrc_pool_pin_failures(const mrc_pool *pool)
{
    return pool == NULL ? 0 : atomic_load(&pool->pin_failures);
}

int mrc_run_parallel(mrc_topo *t, const mrc_placement *p, mrc_worker_fn fn, void *arg, mrc_err *err)
{
    mrc_pool *pool = mrc_pool_start(t, p, fn, arg, err);
    if (pool == NULL) return err != NULL && err->code != MRC_OK ? err->code : MRC_EINVAL;
    mrc_pool_join(pool);
    return MRC_OK;
}

/* ---- tasks that can fail: the first error of N threads, written once ---- */

typedef struct task_run {
    mrc_task_fn fn;
    void *arg;
    mrc_err *errs; /* one per thread */
    atomic_int failed;
} task_run;

static void task_worker(size_t ti, void *arg)
{
    task_run *t = arg;
    if (atomic_load_explicit(&t->failed, memory_order_relaxed)) return;
    if (t->fn(ti, t->arg, &t->failed, &t->errs[ti]) != 0) {
        if (t->errs[ti].code == MRC_OK) mrc_err_set(&t->errs[ti], MRC_EIO, "a worker failed");
        atomic_store(&t->failed, 1);
    }
}

int mrc_run_tasks(mrc_topo *t, const mrc_placement *p, mrc_task_fn fn, void *arg, mrc_err *err)
{
    task_run run = {fn, arg, calloc(p->nthreads ? p->nthreads : 1, sizeof(mrc_err)), 0};
    if (run.errs == NULL) return mrc_err_set(err, MRC_ENOMEM, "worker pool: out of memory");
    int rc = mrc_run_parallel(t, p, task_worker, &run, err);
    if (rc == MRC_OK) rc = mrc_first_error(run.errs, p->nthreads, err);
    free(run.errs);
    return rc;
}

int mrc_first_error(const mrc_err *errs, size_t n, mrc_err *err)
{
    for (size_t i = 0; i < n; i++)
        if (errs[i].code != MRC_OK && errs[i].code != MRC_EINTR) {
            *err = errs[i];
            return errs[i].code;
        }
    for (size_t i = 0; i < n; i++) /* only stops: the first of those */
        if (errs[i].code != MRC_OK) {
            *err = errs[i];
            return errs[i].code;
        }
    return MRC_OK;
}
