/* test_memlimit.c - the default memory budget from each of its sources, on fake roots built under
 * a mkdtemp directory (/proc/self/cgroup, /proc/meminfo, cgroup v1 and v2 limit files) and fake
 * Slurm values, so no real cgroup is needed. Every expected number is worked out by hand in the
 * comment beside it: headroom = max(source / 100 * 10, 64 MiB), budget = source - headroom,
 * never below 32 MiB. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <errno.h>
#include <sys/stat.h>

#include <cmocka.h>

#include "test_util.h"

#include "mrcount/memlimit.h"

#define MiB ((uint64_t)1 << 20)
#define GiB ((uint64_t)1 << 30)

static char root[256];

static int root_make(void **state)
{
    (void)state;
    return tmpdir_make(root, sizeof root, "/tmp/mrc_memlimit_XXXXXX");
}

static int root_remove(void **state)
{
    (void)state;
    return rm_tree(root);
}

/* Writes <root>/<rel> with the given contents, making its directories. */
static void put(const char *rel, const char *contents)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", root, rel);
    for (char *p = path + strlen(root) + 1; (p = strchr(p, '/')) != NULL; p++) {
        *p = '\0';
        assert_true(mkdir(path, 0755) == 0 || errno == EEXIST);
        *p = '/';
    }
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    assert_int_equal(fputs(contents, f) >= 0, 1);
    assert_int_equal(fclose(f), 0);
}

static mrc_memlimit detect(const char *node, const char *cpu, unsigned ranks, unsigned cpus)
{
    mrc_memlimit_env env = {root, node, cpu, ranks, cpus, 0, 0};
    mrc_memlimit m;
    memset(&m, 0x5a, sizeof m);
    mrc_memlimit_detect(&env, &m);
    return m;
}

/* "<root><rest>", the source text of a file under the fake root. */
static const char *rooted(const char *prefix, const char *rest, const char *suffix)
{
    static char s[1024];
    snprintf(s, sizeof s, "%s%s%s%s", prefix, root, rest, suffix);
    return s;
}

static void assert_none(const mrc_memlimit *m)
{
    assert_true(m->limit == MRC_MEMLIMIT_UNLIMITED);
    assert_true(m->source_bytes == MRC_MEMLIMIT_UNLIMITED);
    assert_int_equal(m->headroom, 0);
    assert_string_equal(m->source, "none");
}

static void test_v2_tightest_ancestor(void **state)
{
    (void)state;
    put("proc/self/cgroup", "0::/a/b/c\n");
    put("sys/fs/cgroup/a/memory.max", "max\n");
    put("sys/fs/cgroup/a/b/memory.max", "1073741824\n");
    put("sys/fs/cgroup/a/b/c/memory.max", "2147483648\n");
    mrc_memlimit m = detect(NULL, NULL, 1, 1);
    assert_int_equal(m.source_bytes, 1073741824u);
    /* 1073741824 / 100 = 10737418, x 10 = 107374180 > 64 MiB */
    assert_int_equal(m.headroom, 107374180u);
    assert_int_equal(m.limit, 966367644u);
    assert_string_equal(m.source, rooted("cgroup v2 ", "/sys/fs/cgroup/a/b/memory.max", ""));

    /* the leaf tighter still, and the same with two ranks on the node */
    put("sys/fs/cgroup/a/b/c/memory.max", "536870912");
    m = detect(NULL, NULL, 2, 1);
    assert_int_equal(m.source_bytes, 268435456u);
    assert_string_equal(m.source,
                        rooted("cgroup v2 ", "/sys/fs/cgroup/a/b/c/memory.max", " / 2 ranks"));
}

static void test_v2_max_everywhere(void **state)
{
    (void)state;
    put("proc/self/cgroup", "0::/user.slice/session-1.scope\n");
    put("sys/fs/cgroup/memory.max", "max\n");
    put("sys/fs/cgroup/user.slice/memory.max", "max\n");
    put("sys/fs/cgroup/user.slice/session-1.scope/memory.max", "max\n");
    mrc_memlimit m = detect(NULL, NULL, 1, 1);
    assert_none(&m);
}

/* A container without a cgroup namespace: its path names the host's hierarchy, which is not
 * under the mount; the mount root is the container's cgroup. */
static void test_v2_path_missing_under_mount(void **state)
{
    (void)state;
    put("proc/self/cgroup", "0::/docker/4f1e2d\n");
    put("sys/fs/cgroup/memory.max", "536870912\n");
    mrc_memlimit m = detect(NULL, NULL, 1, 1);
    assert_int_equal(m.source_bytes, 512 * MiB);
    assert_string_equal(m.source, rooted("cgroup v2 ", "/sys/fs/cgroup/memory.max", ""));

    /* a path outside our namespace ("/../..") must not lead out of the mount */
    put("proc/self/cgroup", "0::/../../escape\n");
    put("sys/escape/memory.max", "1048576\n");
    m = detect(NULL, NULL, 1, 1);
    assert_int_equal(m.source_bytes, 512 * MiB);
}

static void test_v1_combined_controllers(void **state)
{
    (void)state;
    put("proc/self/cgroup", "12:cpu,cpuacct:/x\n"
                            "7:nomemory:/decoy\n"
                            "4:hugetlb,memory:/job/step\n"
                            "1:name=systemd:/\n"
                            "0::/\n");
    put("sys/fs/cgroup/memory/memory.limit_in_bytes", "9223372036854771712\n");
    put("sys/fs/cgroup/memory/job/memory.limit_in_bytes", "4294967296\n");
    put("sys/fs/cgroup/memory/job/step/memory.limit_in_bytes", "9223372036854771712\n");
    put("sys/fs/cgroup/memory/decoy/memory.limit_in_bytes", "1048576\n");
    mrc_memlimit m = detect(NULL, NULL, 2, 1);
    assert_int_equal(m.source_bytes, 2147483648u); /* 4 GiB / 2 ranks */
    /* 2147483648 / 100 = 21474836, x 10 = 214748360 */
    assert_int_equal(m.headroom, 214748360u);
    assert_int_equal(m.limit, 1932735288u);
    assert_string_equal(
        m.source,
        rooted("cgroup v1 ", "/sys/fs/cgroup/memory/job/memory.limit_in_bytes", " / 2 ranks"));
}

static void test_v1_huge_is_unlimited(void **state)
{
    (void)state;
    put("proc/self/cgroup", "4:memory:/p\n0::/\n");
    put("sys/fs/cgroup/memory/memory.limit_in_bytes", "9223372036854771712\n");
    put("sys/fs/cgroup/memory/p/memory.limit_in_bytes", "9223372036854710272\n"); /* 64 KiB pages */
    mrc_memlimit m = detect(NULL, NULL, 1, 1);
    assert_none(&m);
    /* just under 2^62 is still a limit */
    put("sys/fs/cgroup/memory/p/memory.limit_in_bytes", "4611686018427387903\n");
    m = detect(NULL, NULL, 1, 1);
    assert_int_equal(m.source_bytes, 4611686018427387903u);
}

static void test_no_proc_no_slurm(void **state)
{
    (void)state;
    mrc_memlimit m = detect(NULL, NULL, 1, 1);
    assert_none(&m);
    m = detect(NULL, NULL, 0, 0); /* 0 ranks and CPUs count as 1 */
    assert_none(&m);
    /* cgroup files without /proc/self/cgroup are not read */
    put("sys/fs/cgroup/memory.max", "1073741824\n");
    m = detect(NULL, NULL, 1, 1);
    assert_none(&m);
}

static void test_slurm_mem_per_node(void **state)
{
    (void)state;
    mrc_memlimit m = detect("4096", NULL, 2, 8);
    assert_int_equal(m.source_bytes, 2 * GiB);
    assert_string_equal(m.source, "SLURM_MEM_PER_NODE=4096 / 2 ranks");
    m = detect("4096M", NULL, 1, 1);
    assert_int_equal(m.source_bytes, 4 * GiB);
    assert_string_equal(m.source, "SLURM_MEM_PER_NODE=4096M");
    m = detect("4G", NULL, 4, 1);
    assert_int_equal(m.source_bytes, 1 * GiB);
    m = detect("1T", NULL, 1, 1);
    assert_int_equal(m.source_bytes, 1099511627776u);
    m = detect("524288K", NULL, 1, 1);
    assert_int_equal(m.source_bytes, 512 * MiB);
    m = detect("3g", NULL, 3, 1);
    assert_int_equal(m.source_bytes, 1 * GiB);
}

static void test_slurm_mem_per_cpu(void **state)
{
    (void)state;
    mrc_memlimit m = detect(NULL, "2048", 4, 3); /* per rank: not divided by the 4 ranks */
    assert_int_equal(m.source_bytes, 6442450944u);
    assert_string_equal(m.source, "SLURM_MEM_PER_CPU=2048 x 3 CPUs");
    m = detect(NULL, "1G", 1, 1);
    assert_int_equal(m.source_bytes, 1 * GiB);
    assert_string_equal(m.source, "SLURM_MEM_PER_CPU=1G x 1 CPU");
    m = detect(NULL, "512", 1, 0); /* 0 CPUs counts as 1 */
    assert_int_equal(m.source_bytes, 512 * MiB);
}

static void test_mem_available(void **state)
{
    (void)state;
    put("proc/meminfo", "MemTotal:       16000000 kB\n"
                        "MemFree:         1000000 kB\n"
                        "MemAvailable:    8000000 kB\n"
                        "Buffers:          100000 kB\n");
    mrc_memlimit m = detect(NULL, NULL, 4, 1);
    assert_int_equal(m.source_bytes, 2048000000u); /* 8000000 x 1024 / 4 */
    assert_string_equal(m.source, "MemAvailable / 4 ranks");
    m = detect(NULL, NULL, 1, 1);
    assert_int_equal(m.source_bytes, 8192000000u);
    assert_string_equal(m.source, "MemAvailable");
    /* a kernel before 3.14 has no MemAvailable: no source */
    put("proc/meminfo", "MemTotal:       16000000 kB\nMemFree:         1000000 kB\n");
    m = detect(NULL, NULL, 1, 1);
    assert_none(&m);
}

static void test_smallest_wins(void **state)
{
    (void)state;
    put("proc/self/cgroup", "0::/job\n");
    put("sys/fs/cgroup/job/memory.max", "3221225472\n");  /* 3 GiB / 2 = 1.5 GiB */
    put("proc/meminfo", "MemAvailable:   10485760 kB\n"); /* 10 GiB / 2 = 5 GiB */
    mrc_memlimit m = detect("4096", "1024", 2, 2); /* node 4 GiB / 2 = 2 GiB, cpu 1 GiB x 2 */
    assert_int_equal(m.source_bytes, 1610612736u);
    assert_string_equal(m.source,
                        rooted("cgroup v2 ", "/sys/fs/cgroup/job/memory.max", " / 2 ranks"));
    m = detect("4096", "512", 2, 2); /* cpu 512 MiB x 2 = 1 GiB */
    assert_int_equal(m.source_bytes, 1 * GiB);
    assert_string_equal(m.source, "SLURM_MEM_PER_CPU=512 x 2 CPUs");
    m = detect("2048", "1024", 2, 2); /* node 2 GiB / 2 = 1 GiB < cpu 2 GiB */
    assert_int_equal(m.source_bytes, 1 * GiB);
    assert_string_equal(m.source, "SLURM_MEM_PER_NODE=2048 / 2 ranks");
    put("proc/meminfo", "MemAvailable:   1048576 kB\n"); /* 1 GiB / 2 */
    m = detect("4096", "1024", 2, 2);
    assert_int_equal(m.source_bytes, 512 * MiB);
    assert_string_equal(m.source, "MemAvailable / 2 ranks");
}

static void test_headroom_and_floor(void **state)
{
    (void)state;
    assert_int_equal(mrc_memlimit_headroom(1 * GiB), 107374180u);
    assert_int_equal(mrc_memlimit_headroom(100 * MiB), 64 * MiB);
    assert_int_equal(mrc_memlimit_headroom(640 * MiB), 64 * MiB);  /* 10% = 67108860 */
    assert_int_equal(mrc_memlimit_headroom(641 * MiB), 67213720u); /* 672137216 / 100 x 10 */
    assert_int_equal(mrc_memlimit_headroom(MRC_MEMLIMIT_UNLIMITED), 0);

    mrc_memlimit m = detect("200", NULL, 1, 1); /* 200 - 64 MiB */
    assert_int_equal(m.limit, 136 * MiB);
    assert_int_equal(m.headroom, 64 * MiB);
    m = detect("80", NULL, 1, 1); /* 80 - 64 = 16 MiB: the floor, 48 MiB kept */
    assert_int_equal(m.source_bytes, 80 * MiB);
    assert_int_equal(m.limit, 32 * MiB);
    assert_int_equal(m.headroom, 48 * MiB);
    m = detect("20", NULL, 1, 1); /* below the floor: the floor, nothing kept */
    assert_int_equal(m.limit, 32 * MiB);
    assert_int_equal(m.headroom, 0);

    mrc_memlimit_explicit(100 * MiB, &m);
    assert_int_equal(m.limit, 100 * MiB);
    assert_int_equal(m.source_bytes, 100 * MiB);
    assert_int_equal(m.headroom, 0);
    assert_string_equal(m.source, "--memory-limit");
}

static void test_malformed_ignored(void **state)
{
    (void)state;
    put("proc/self/cgroup", "garbage without colons\n"
                            "0::/a/b\n"
                            "::\n"
                            "5:memory\n");
    put("sys/fs/cgroup/a/b/memory.max", "12abc\n");
    put("sys/fs/cgroup/a/memory.max", "");
    put("sys/fs/cgroup/memory.max", "-5\n");
    put("proc/meminfo", "MemAvailable:   lots kB\n");
    const char *bad[] = {"abc", "", "4X", "0", "-1", "4096 M", "99999999999999999999", "12MBx"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        mrc_memlimit m = detect(bad[i], bad[i], 1, 1);
        assert_none(&m);
        /* named as ignored (for a warning) when set, but for 0: all of the node's memory */
        char want[64] = "";
        if (bad[i][0] != '\0' && strcmp(bad[i], "0") != 0)
            snprintf(want, sizeof want, "SLURM_MEM_PER_NODE=%s", bad[i]);
        assert_string_equal(m.ignored, want);
        m = detect(NULL, bad[i], 1, 1);
        if (want[0] != '\0') snprintf(want, sizeof want, "SLURM_MEM_PER_CPU=%s", bad[i]);
        assert_string_equal(m.ignored, want);
    }
    mrc_memlimit ok = detect("4096", "1G", 1, 1);
    assert_string_equal(ok.ignored, "");
    /* a valid ancestor still counts when the leaf is malformed */
    put("sys/fs/cgroup/a/memory.max", "2147483648\n");
    mrc_memlimit m = detect("abc", "", 1, 1);
    assert_int_equal(m.source_bytes, 2 * GiB);
    assert_string_equal(m.source, rooted("cgroup v2 ", "/sys/fs/cgroup/a/memory.max", ""));
    /* a product that would overflow saturates instead of wrapping to a tiny limit */
    m = detect(NULL, "17179869184T", 1, 1); /* 2^34 TiB = 2^74 bytes: out of range, ignored */
    assert_int_equal(m.source_bytes, 2 * GiB);
    m = detect(NULL, "4194304T", 1, 8); /* 2^62 x 8 saturates (a wrap would give 2 bytes) */
    assert_int_equal(m.source_bytes, 2 * GiB);
}

/* RLIMIT_AS (ulimit -v, SGE's h_vmem): per process, less what is mapped and the threads'
 * reserves, a third of the rest; no VmSize, no source (what is left is unknown). */
static void test_address_space_limit(void **state)
{
    (void)state;
    put("proc/meminfo", "MemAvailable:   10485760 kB\n"); /* 10 GiB: not the smallest */
    put("proc/self/status", "Name:\tmrcount\nVmPeak:\t  300000 kB\nVmSize:\t  204800 kB\n"
                            "VmRSS:\t   20000 kB\n");
    mrc_memlimit_env env = {root, NULL, NULL, 2, 2, 1000 * MiB, 2}; /* 2 threads */
    mrc_memlimit m;
    mrc_memlimit_detect(&env, &m);
    assert_int_equal(m.source_bytes, (1000 - 200 - 144) * MiB / 3); /* not / 2 ranks */
    assert_string_equal(m.source, "RLIMIT_AS less 200 MiB mapped and 144 MiB for 2 threads, / 3");
    assert_int_equal(m.limit, m.source_bytes - 64 * MiB);
    env.as_limit = 0; /* none */
    mrc_memlimit_detect(&env, &m);
    assert_string_equal(m.source, "MemAvailable / 2 ranks");
    env.as_limit = 300 * MiB; /* less than mapped and reserved: the floor */
    mrc_memlimit_detect(&env, &m);
    assert_int_equal(m.source_bytes, 0);
    assert_int_equal(m.limit, MRC_MEMLIMIT_FLOOR);
    env.as_limit = 1000 * MiB;
    put("proc/self/status", "Name:\tmrcount\nVmRSS:\t   20000 kB\n");
    mrc_memlimit_detect(&env, &m);
    assert_string_equal(m.source, "MemAvailable / 2 ranks");
}

static void test_env_from_process(void **state)
{
    (void)state;
    assert_int_equal(setenv("SLURM_MEM_PER_NODE", "8G", 1), 0);
    assert_int_equal(unsetenv("SLURM_MEM_PER_CPU"), 0);
    mrc_memlimit_env env;
    mrc_memlimit_env_from_process(&env, 2, 3, 4);
    assert_null(env.root);
    assert_string_equal(env.slurm_mem_per_node, "8G");
    assert_null(env.slurm_mem_per_cpu);
    assert_int_equal(env.ranks_on_node, 2);
    assert_int_equal(env.cpus, 3);
    assert_int_equal(env.threads, 4);
    struct rlimit rl;
    assert_int_equal(getrlimit(RLIMIT_AS, &rl), 0);
    assert_true(env.as_limit == (rl.rlim_cur == RLIM_INFINITY ? 0 : (uint64_t)rl.rlim_cur));
    /* the real machine: 8 GiB / 2 bounds whatever else it has */
    mrc_memlimit m;
    mrc_memlimit_detect(&env, &m);
    assert_true(m.source_bytes <= 4 * GiB);
    assert_true(m.limit <= m.source_bytes || m.limit == MRC_MEMLIMIT_FLOOR);
    assert_int_equal(unsetenv("SLURM_MEM_PER_NODE"), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
#define T(f) cmocka_unit_test_setup_teardown(f, root_make, root_remove)
        T(test_v2_tightest_ancestor),
        T(test_v2_max_everywhere),
        T(test_v2_path_missing_under_mount),
        T(test_v1_combined_controllers),
        T(test_v1_huge_is_unlimited),
        T(test_no_proc_no_slurm),
        T(test_slurm_mem_per_node),
        T(test_slurm_mem_per_cpu),
        T(test_mem_available),
        T(test_smallest_wins),
        T(test_address_space_limit),
        T(test_headroom_and_floor),
        T(test_malformed_ignored),
        T(test_env_from_process),
#undef T
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
