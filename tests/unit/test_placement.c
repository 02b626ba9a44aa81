/* test_placement.c - placement planning on hwloc synthetic topologies (any host can check SMT,
 * multi-package, restricted and shared cpusets, thread-count precedence), then the worker pool
 * on this machine: every index runs once, and pinned workers run inside their planned PUs.
 * No MPI; it must not depend on the host's core count beyond "at least one PU". */
#include <sched.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "mrcount/runtime.h"

#define SMT "pack:2 numa:1 core:4 pu:2"

static void clear_env(void)
{
    unsetenv("OMP_NUM_THREADS");
    unsetenv("SLURM_CPUS_PER_TASK");
}

static mrc_topo *open_topo(const char *synthetic)
{
    mrc_err err = {0};
    mrc_topo *t = mrc_topo_open(synthetic, &err);
    if (t == NULL) fail_msg("mrc_topo_open(%s): %s", synthetic ? synthetic : "NULL", err.msg);
    return t;
}

static void plan_ok(mrc_topo *t, const char *cpuset, size_t index, size_t count, size_t requested,
                    mrc_placement *p)
{
    mrc_err err = {0};
    int rc = mrc_placement_plan(t, cpuset, index, count, requested, p, &err);
    if (rc != 0)
        fail_msg("plan(%s, %zu/%zu, %zu): %s", cpuset ? cpuset : "NULL", index, count, requested,
                 err.msg);
    assert_int_equal(err.code, MRC_OK);
}

static int plan_err(mrc_topo *t, const char *cpuset, size_t index, size_t count)
{
    mrc_err err = {0};
    mrc_placement p;
    memset(&p, 0xa5, sizeof p);
    int rc = mrc_placement_plan(t, cpuset, index, count, 0, &p, &err);
    assert_int_not_equal(rc, 0);
    assert_int_equal(rc, err.code);
    assert_true(err.msg[0] != '\0');
    /* A failed plan leaves nothing to free. */
    assert_null(p.core_of);
    assert_null(p.cpus_of);
    assert_int_equal(p.nthreads, 0);
    return rc;
}

static int setup(void **state)
{
    (void)state;
    clear_env();
    return 0;
}

static void test_smt_default_one_thread_per_core(void **state)
{
    (void)state;
    mrc_topo *t = open_topo(SMT);
    mrc_err err = {0};
    char *all = mrc_topo_cpuset_string(t, &err);
    assert_non_null(all);
    assert_string_equal(all, "0-15");
    free(all);

    mrc_placement p;
    plan_ok(t, NULL, 0, 1, 0, &p);
    assert_int_equal(p.nthreads, 8);
    assert_int_equal(p.cores_available, 8);
    assert_int_equal(p.cpus_available, 16); /* two PUs a core */
    assert_int_equal(p.source, MRC_THREADS_CPUSET);
    assert_false(p.oversubscribed);
    for (size_t i = 0; i < p.nthreads; i++) {
        char want[32];
        snprintf(want, sizeof want, "%zu-%zu", 2 * i, 2 * i + 1);
        assert_int_equal(p.core_of[i], (int)i);
        assert_string_equal(p.cpus_of[i], want);
    }
    mrc_placement_free(&p);
    assert_null(p.core_of);
    mrc_placement_free(&p); /* freeing twice is harmless */
    mrc_topo_close(t);
}

static void test_multi_numa_no_smt(void **state)
{
    (void)state;
    mrc_topo *t = open_topo("pack:2 numa:2 core:4 pu:1");
    mrc_placement p;
    plan_ok(t, NULL, 0, 1, 0, &p);
    assert_int_equal(p.nthreads, 16);
    for (size_t i = 0; i < p.nthreads; i++) {
        char want[32];
        snprintf(want, sizeof want, "%zu", i);
        assert_int_equal(p.core_of[i], (int)i);
        assert_string_equal(p.cpus_of[i], want);
    }
    mrc_placement_free(&p);
    mrc_topo_close(t);
}

static void test_two_cores(void **state)
{
    (void)state;
    mrc_topo *t = open_topo("core:2 pu:1");
    mrc_placement p;
    plan_ok(t, "0-1", 0, 1, 0, &p);
    assert_int_equal(p.nthreads, 2);
    assert_string_equal(p.cpus_of[0], "0");
    assert_string_equal(p.cpus_of[1], "1");
    mrc_placement_free(&p);
    mrc_topo_close(t);
}

static void test_no_cores_means_pus(void **state)
{
    (void)state;
    mrc_topo *t = open_topo("numa:1 pu:3");
    mrc_placement p;
    plan_ok(t, NULL, 0, 1, 0, &p);
    assert_int_equal(p.nthreads, 3);
    assert_int_equal(p.cores_available, 3);
    assert_int_equal(p.cpus_available, 3);
    assert_int_equal(p.core_of[2], 2);
    assert_string_equal(p.cpus_of[2], "2");
    mrc_placement_free(&p);
    mrc_topo_close(t);
}

static void test_restricted_cpuset(void **state)
{
    (void)state;
    mrc_topo *t = open_topo(SMT);
    mrc_placement p;
    plan_ok(t, "0-3", 0, 1, 0, &p);
    assert_int_equal(p.nthreads, 2);
    assert_int_equal(p.cores_available, 2);
    assert_int_equal(p.cpus_available, 4);
    assert_int_equal(p.core_of[0], 0);
    assert_int_equal(p.core_of[1], 1);
    assert_string_equal(p.cpus_of[0], "0-1");
    assert_string_equal(p.cpus_of[1], "2-3");
    mrc_placement_free(&p);

    /* One PU of each of two cores, and cores from the second package: logical core numbers. */
    plan_ok(t, "1,2,12", 0, 1, 0, &p);
    assert_int_equal(p.nthreads, 3);
    assert_int_equal(p.core_of[0], 0);
    assert_int_equal(p.core_of[1], 1);
    assert_int_equal(p.core_of[2], 6);
    assert_string_equal(p.cpus_of[0], "1");
    assert_string_equal(p.cpus_of[1], "2");
    assert_string_equal(p.cpus_of[2], "12");
    mrc_placement_free(&p);

    /* PUs beyond the machine are ignored as long as some PU is real. */
    plan_ok(t, "14-40", 0, 1, 0, &p);
    assert_int_equal(p.nthreads, 1);
    assert_string_equal(p.cpus_of[0], "14-15");
    mrc_placement_free(&p);
    mrc_topo_close(t);
}

/* k ranks sharing one set: disjoint contiguous slices that together cover every core once. */
static void check_shares(mrc_topo *t, const char *cpuset, size_t k, size_t ncores)
{
    int seen[64] = {0};
    int next = 0;
    for (size_t r = 0; r < k; r++) {
        mrc_placement p;
        plan_ok(t, cpuset, r, k, 0, &p);
        assert_int_equal(p.nthreads, p.cores_available);
        assert_true(p.cores_available >= ncores / k);
        assert_true(p.cores_available <= (ncores + k - 1) / k);
        for (size_t i = 0; i < p.nthreads; i++) {
            assert_int_equal(p.core_of[i], next); /* contiguous, in order, no gap */
            seen[p.core_of[i]]++;
            next++;
        }
        mrc_placement_free(&p);
    }
    assert_int_equal(next, (int)ncores);
    for (size_t c = 0; c < ncores; c++)
        assert_int_equal(seen[c], 1);
}

static void test_shares(void **state)
{
    (void)state;
    mrc_topo *t = open_topo(SMT);
    check_shares(t, NULL, 2, 8);
    check_shares(t, NULL, 3, 8);
    check_shares(t, "0-15", 8, 8);
    mrc_topo_close(t);

    t = open_topo("pack:2 numa:2 core:4 pu:1");
    check_shares(t, NULL, 3, 16);
    check_shares(t, NULL, 5, 16);
    mrc_topo_close(t);
}

static void test_more_ranks_than_cores(void **state)
{
    (void)state;
    mrc_topo *t = open_topo("core:2 pu:1");
    for (size_t r = 0; r < 5; r++) {
        mrc_placement p;
        plan_ok(t, NULL, r, 5, 0, &p);
        assert_int_equal(p.cores_available, 1);
        assert_int_equal(p.nthreads, 1);
        assert_int_equal(p.core_of[0], (int)(r % 2));
        assert_false(p.oversubscribed);
        mrc_placement_free(&p);
    }
    mrc_topo_close(t);
}

static void test_oversubscribed_wraps(void **state)
{
    (void)state;
    mrc_topo *t = open_topo("core:2 pu:1");
    mrc_placement p;
    plan_ok(t, NULL, 0, 1, 5, &p);
    assert_int_equal(p.nthreads, 5);
    assert_int_equal(p.source, MRC_THREADS_OPTION);
    assert_int_equal(p.cores_available, 2);
    assert_true(p.oversubscribed);
    for (size_t i = 0; i < 5; i++) {
        assert_int_equal(p.core_of[i], (int)(i % 2));
        assert_string_equal(p.cpus_of[i], i % 2 ? "1" : "0");
    }
    mrc_placement_free(&p);

    /* Fewer threads than cores: the first cores of the share, not oversubscribed. */
    mrc_topo_close(t);
    t = open_topo(SMT);
    plan_ok(t, NULL, 1, 2, 2, &p);
    assert_int_equal(p.nthreads, 2);
    assert_int_equal(p.cores_available, 4);
    assert_false(p.oversubscribed);
    assert_int_equal(p.core_of[0], 4);
    assert_int_equal(p.core_of[1], 5);
    mrc_placement_free(&p);
    mrc_topo_close(t);
}

/* ignored: the variable the plan says it ignored (a warning for the user), NULL: none */
static void expect_threads_ignoring(mrc_topo *t, size_t requested, size_t n,
                                    enum mrc_threads_source src, const char *ignored)
{
    mrc_placement p;
    plan_ok(t, NULL, 0, 1, requested, &p);
    assert_int_equal(p.nthreads, n);
    assert_int_equal(p.source, src);
    assert_int_equal(p.oversubscribed, n > 8);
    if (ignored == NULL)
        assert_null(p.ignored_env);
    else
        assert_string_equal(p.ignored_env != NULL ? p.ignored_env : "(none)", ignored);
    mrc_placement_free(&p);
}

static void expect_threads(mrc_topo *t, size_t requested, size_t n, enum mrc_threads_source src)
{
    expect_threads_ignoring(t, requested, n, src, NULL);
}

static void test_thread_count_precedence(void **state)
{
    (void)state;
    mrc_topo *t = open_topo(SMT);
    setenv("OMP_NUM_THREADS", "3", 1);
    setenv("SLURM_CPUS_PER_TASK", "5", 1);
    expect_threads(t, 2, 2, MRC_THREADS_OPTION);
    expect_threads(t, 0, 3, MRC_THREADS_OMP);
    setenv("OMP_NUM_THREADS", "12,2", 1); /* nested list: the outer level */
    expect_threads(t, 0, 12, MRC_THREADS_OMP);
    setenv("OMP_NUM_THREADS", " 4 ", 1);
    expect_threads(t, 0, 4, MRC_THREADS_OMP);

    const char *junk[] = {"abc", "0", "-3", "", "4x", "0x10", ",4", "99999999999999999999999"};
    for (size_t i = 0; i < sizeof junk / sizeof junk[0]; i++) {
        setenv("OMP_NUM_THREADS", junk[i], 1);
        expect_threads_ignoring(t, 0, 5, MRC_THREADS_SLURM, *junk[i] ? "OMP_NUM_THREADS" : NULL);
        expect_threads(t, 3, 3, MRC_THREADS_OPTION); /* not consulted: not ignored */
    }
    unsetenv("OMP_NUM_THREADS");
    expect_threads(t, 0, 5, MRC_THREADS_SLURM);
    for (size_t i = 0; i < sizeof junk / sizeof junk[0]; i++) {
        setenv("SLURM_CPUS_PER_TASK", junk[i], 1);
        expect_threads_ignoring(t, 0, 8, MRC_THREADS_CPUSET,
                                *junk[i] ? "SLURM_CPUS_PER_TASK" : NULL);
    }
    setenv("OMP_NUM_THREADS", "abc", 1); /* both bad: the first consulted is named */
    expect_threads_ignoring(t, 0, 8, MRC_THREADS_CPUSET, "OMP_NUM_THREADS");
    setenv("OMP_NUM_THREADS", "  ", 1); /* blanks: as if not set */
    expect_threads_ignoring(t, 0, 8, MRC_THREADS_CPUSET, "SLURM_CPUS_PER_TASK");
    unsetenv("OMP_NUM_THREADS");
    setenv("SLURM_CPUS_PER_TASK", "4,2", 1); /* not a list variable */
    expect_threads_ignoring(t, 0, 8, MRC_THREADS_CPUSET, "SLURM_CPUS_PER_TASK");
    unsetenv("SLURM_CPUS_PER_TASK");
    expect_threads(t, 0, 8, MRC_THREADS_CPUSET);

    /* A share's default is its own cores, whatever the environment once held. */
    mrc_placement p;
    plan_ok(t, NULL, 0, 3, 0, &p);
    assert_int_equal(p.nthreads, 2);
    assert_int_equal(p.source, MRC_THREADS_CPUSET);
    mrc_placement_free(&p);

    /* An absurd count is an error, not a million threads. */
    mrc_err err = {0};
    assert_int_equal(mrc_placement_plan(t, NULL, 0, 1, 1000000, &p, &err), MRC_EINVAL);
    assert_non_null(strstr(err.msg, "--threads"));
    setenv("OMP_NUM_THREADS", "1000000", 1);
    memset(&err, 0, sizeof err);
    assert_int_equal(mrc_placement_plan(t, NULL, 0, 1, 0, &p, &err), MRC_EINVAL);
    assert_non_null(strstr(err.msg, "OMP_NUM_THREADS"));
    clear_env();
    mrc_topo_close(t);
}

static void test_bad_input(void **state)
{
    (void)state;
    mrc_err err = {0};
    assert_null(mrc_topo_open("bogus:3", &err));
    assert_int_equal(err.code, MRC_EINVAL);
    assert_non_null(strstr(err.msg, "bogus:3"));

    mrc_topo *t = open_topo(SMT);
    const char *bad[] = {"abc", "", "0xff", "1x", "-1", "0-1,abc", "0 - 3", "3-1", "100-200"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_int_equal(plan_err(t, bad[i], 0, 1), MRC_EINVAL);
    assert_int_equal(plan_err(t, NULL, 0, 0), MRC_EINVAL);
    assert_int_equal(plan_err(t, NULL, 2, 2), MRC_EINVAL);

    /* The first error wins: a later failure does not overwrite the message. */
    memset(&err, 0, sizeof err);
    mrc_placement p;
    assert_int_not_equal(mrc_placement_plan(t, "abc", 0, 1, 0, &p, &err), 0);
    assert_int_not_equal(mrc_placement_plan(t, "", 0, 1, 0, &p, &err), 0);
    assert_non_null(strstr(err.msg, "abc"));
    mrc_topo_close(t);
}

/* ---- the pool, on this machine ---- */

struct record {
    const mrc_placement *plan;
    atomic_int *calls; /* per index */
    int *cpu;          /* per index: sched_getcpu() inside the body */
    atomic_size_t done;
};

static void record_body(size_t i, void *arg)
{
    struct record *r = arg; /* no cmocka assertion here: it cannot fail from another thread */
    r->cpu[i] = sched_getcpu();
    atomic_fetch_add(&r->calls[i], 1);
    atomic_fetch_add(&r->done, 1);
}

/* Is `cpu` in the hwloc list string `list` ("0-3,8")? */
static int list_has(const char *list, int cpu)
{
    const char *s = list;
    while (*s != '\0') {
        char *end;
        long lo = strtol(s, &end, 10), hi = lo;
        if (*end == '-') hi = strtol(end + 1, &end, 10);
        if (cpu >= lo && cpu <= hi) return 1;
        s = *end == ',' ? end + 1 : end;
    }
    return 0;
}

static void run_recorded(mrc_topo *t, const mrc_placement *p, size_t *pin_failures)
{
    struct record r = {.plan = p};
    r.calls = calloc(p->nthreads, sizeof *r.calls);
    r.cpu = calloc(p->nthreads, sizeof *r.cpu);
    assert_non_null(r.calls);
    assert_non_null(r.cpu);
    atomic_init(&r.done, 0);

    mrc_err err = {0};
    mrc_pool *pool = mrc_pool_start(t, p, record_body, &r, &err);
    if (pool == NULL) fail_msg("mrc_pool_start: %s", err.msg);
    while (atomic_load(&r.done) < p->nthreads)
        sched_yield();
    *pin_failures = mrc_pool_pin_failures(pool); /* every bind has happened by now */
    mrc_pool_join(pool);

    for (size_t i = 0; i < p->nthreads; i++) {
        assert_int_equal(atomic_load(&r.calls[i]), 1);
        if (*pin_failures == 0 && p->core_of[i] >= 0 && !list_has(p->cpus_of[i], r.cpu[i]))
            fail_msg("worker %zu ran on CPU %d, planned on %s", i, r.cpu[i], p->cpus_of[i]);
    }
    free(r.calls);
    free(r.cpu);
}

static void test_pool_pins_on_this_machine(void **state)
{
    (void)state;
    mrc_topo *t = open_topo(NULL);
    mrc_err err = {0};
    char *mine = mrc_topo_cpuset_string(t, &err);
    assert_non_null(mine);

    mrc_placement p;
    plan_ok(t, NULL, 0, 1, 0, &p);
    assert_true(p.nthreads >= 1);
    assert_int_equal(p.nthreads, p.cores_available);
    for (size_t i = 0; i < p.nthreads; i++) /* every planned PU is in the process binding */
        assert_true(p.cpus_of[i][0] != '\0');
    size_t failures = 0;
    run_recorded(t, &p, &failures);
    if (failures != 0 || getenv("MRC_TEST_VERBOSE") != NULL)
        print_message("note: %zu of %zu workers could not be pinned here\n", failures, p.nthreads);
    mrc_placement_free(&p);

    /* Same through the explicit string the process would send to its node peers. */
    plan_ok(t, mine, 0, 1, 0, &p);
    run_recorded(t, &p, &failures);
    mrc_placement_free(&p);
    free(mine);
    mrc_topo_close(t);
}

static void count_body(size_t i, void *arg)
{
    atomic_int *calls = arg;
    atomic_fetch_add(&calls[i], 1);
}

static void test_pool_runs_each_index_once(void **state)
{
    (void)state;
    mrc_topo *t = open_topo(NULL);
    enum { N = 7 };
    mrc_placement p;
    plan_ok(t, NULL, 0, 1, N, &p);
    assert_int_equal(p.nthreads, N);
    for (int round = 0; round < 20; round++) {
        atomic_int calls[N];
        for (int i = 0; i < N; i++)
            atomic_init(&calls[i], 0);
        mrc_err err = {0};
        assert_int_equal(mrc_run_parallel(t, &p, count_body, calls, &err), MRC_OK);
        for (int i = 0; i < N; i++)
            assert_int_equal(atomic_load(&calls[i]), 1);
    }
    mrc_placement_free(&p);

    /* Nothing planned is refused, not silently skipped. */
    mrc_placement none = {0};
    mrc_err err = {0};
    assert_int_equal(mrc_run_parallel(t, &none, count_body, NULL, &err), MRC_EINVAL);
    mrc_topo_close(t);
}

/* The node's cores no rank's cpuset touches: SMT cores count once, whichever PU is used. */
static void test_idle_cores(void **state)
{
    (void)state;
    mrc_topo *t = open_topo(SMT); /* 8 cores: core c is PUs 2c, 2c+1 */
    size_t total = 0;
    assert_int_equal(mrc_topo_idle_cores(t, "0-15", &total), 0);
    assert_int_equal(total, 8);
    assert_int_equal(mrc_topo_idle_cores(t, "0", &total), 7);          /* mpirun -np 1: one core */
    assert_int_equal(mrc_topo_idle_cores(t, "0-1,3", &total), 6);      /* cores 0 and 1 */
    assert_int_equal(mrc_topo_idle_cores(t, "2-3,0-1,15", &total), 5); /* joined, unsorted */
    assert_int_equal(mrc_topo_idle_cores(t, "8-", &total), 4);         /* package 1 */
    /* nothing known (no rank has a cpuset) or no list: no idle core claimed */
    assert_int_equal(mrc_topo_idle_cores(t, "", &total), 0);
    assert_int_equal(total, 0);
    assert_int_equal(mrc_topo_idle_cores(t, "0,x", &total), 0);
    assert_int_equal(mrc_topo_idle_cores(t, NULL, &total), 0);
    mrc_topo_close(t);

    t = open_topo("pack:1 pu:4"); /* no cores reported: PUs count */
    assert_int_equal(mrc_topo_idle_cores(t, "1", &total), 3);
    assert_int_equal(total, 4);
    mrc_topo_close(t);
}

static void test_pool_never_binds_synthetic(void **state)
{
    (void)state;
    mrc_topo *t = open_topo(SMT);
    mrc_placement p;
    plan_ok(t, NULL, 0, 1, 0, &p);
    size_t failures = 0;
    run_recorded(t, &p, &failures);
    assert_int_equal(failures, p.nthreads); /* all ran, none pinned */
    mrc_placement_free(&p);
    mrc_topo_close(t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(test_smt_default_one_thread_per_core, setup),
        cmocka_unit_test_setup(test_multi_numa_no_smt, setup),
        cmocka_unit_test_setup(test_two_cores, setup),
        cmocka_unit_test_setup(test_no_cores_means_pus, setup),
        cmocka_unit_test_setup(test_restricted_cpuset, setup),
        cmocka_unit_test_setup(test_shares, setup),
        cmocka_unit_test_setup(test_more_ranks_than_cores, setup),
        cmocka_unit_test_setup(test_oversubscribed_wraps, setup),
        cmocka_unit_test_setup(test_thread_count_precedence, setup),
        cmocka_unit_test_setup(test_bad_input, setup),
        cmocka_unit_test_setup(test_pool_pins_on_this_machine, setup),
        cmocka_unit_test_setup(test_pool_runs_each_index_once, setup),
        cmocka_unit_test_setup(test_pool_never_binds_synthetic, setup),
        cmocka_unit_test_setup(test_idle_cores, setup),
    };
    return cmocka_run_group_tests_name("placement", tests, NULL, NULL);
}
