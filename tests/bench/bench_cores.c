/* bench_cores.c - what T cores of this machine give at the moment, as a ceiling for mrcount's
 * scaling figures (bench/bench-scaling.sh runs it after every round of its timings).
 *
 * A virtual machine's vCPUs are host threads: two of them may be two cores, or the two hardware
 * threads of one core, or share a core with other guests, and that changes from minute to
 * minute (on the 2-core VM of this project, a loop of independent integer operations ran 2.0x
 * faster on two threads than on one at one moment and 1.1-1.6x a minute later). A 1 x 2 run of
 * mrcount cannot scale past what the machine gives two threads, so the ratio of its 1 x 1 and
 * 1 x 2 runs means little without this one, measured at the same time.
 *
 * The same total work on 1 thread, then split over T threads pinned to T distinct CPUs of the
 * process's affinity mask, alternated ROUNDS times (quick trials, so that both see the same
 * host); per round the ratio t(1) / t(T) (T: perfect). Two loops:
 *   alu  eight independent integer chains (shift, xor, add): the core's execution units alone;
 *   l2   dependent loads at random in a 512 KiB table per thread (mrcount's hot keys stay in
 *        L2): the core and its private caches.
 *
 * usage: bench_cores [T [ROUNDS [MS]]]  (defaults: 2 threads, 9 rounds, about 150 ms a trial
 *        on one thread). Output: one line per loop, "alu T=2 ratio median 1.97 (min 1.90, max
 *        2.00) of 9 rounds", exit 0; 2 on a usage error or fewer CPUs than T. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <pthread.h>
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define L2_BYTES ((size_t)512 << 10)
#define MAX_THREADS 256

typedef struct job {
    int cpu;
    int loop; /* 0: alu, 1: l2 */
    uint64_t iters;
    unsigned char *table;
    uint64_t sink;
} job;

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

static uint64_t alu_loop(uint64_t n)
{
    uint64_t x[8] = {1, 2, 3, 4, 5, 6, 7, 8};
    for (uint64_t i = 0; i < n; i++) {
        for (int k = 0; k < 8; k++)
            x[k] += (x[k] >> (k + 2)) ^ i;
        __asm__ volatile(""
                         : "+r"(x[0]), "+r"(x[1]), "+r"(x[2]), "+r"(x[3]), "+r"(x[4]), "+r"(x[5]),
                           "+r"(x[6]), "+r"(x[7]));
    }
    return x[0] ^ x[1] ^ x[2] ^ x[3] ^ x[4] ^ x[5] ^ x[6] ^ x[7];
}

static uint64_t l2_loop(const unsigned char *t, uint64_t n)
{
    uint64_t x = 1;
    for (uint64_t i = 0; i < n; i++)
        x += t[(x * 2654435761u + i) & (L2_BYTES - 1)];
    return x;
}

static void *run_job(void *arg)
{
    job *j = arg;
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(j->cpu, &set);
    pthread_setaffinity_np(pthread_self(), sizeof set, &set);
    j->sink = j->loop == 0 ? alu_loop(j->iters) : l2_loop(j->table, j->iters);
    return NULL;
}

/* Seconds for `total` iterations of the loop split over t threads on cpus[0, t). */
static double trial(int loop, uint64_t total, int t, const int *cpus, unsigned char **tables)
{
    job jobs[MAX_THREADS];
    pthread_t th[MAX_THREADS];
    for (int i = 0; i < t; i++)
        jobs[i] = (job){cpus[i], loop, total / (uint64_t)t, tables[i], 0};
    double t0 = now();
    for (int i = 0; i < t; i++)
        if (pthread_create(&th[i], NULL, run_job, &jobs[i]) != 0) {
            perror("bench_cores: pthread_create");
            exit(1);
        }
    for (int i = 0; i < t; i++)
        pthread_join(th[i], NULL);
    double dt = now() - t0;
    uint64_t sink = 0;
    for (int i = 0; i < t; i++)
        sink ^= jobs[i].sink;
    if (sink == 42) fputc(' ', stderr); /* keeps the loops */
    return dt;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

int main(int argc, char **argv)
{
    int t = argc > 1 ? atoi(argv[1]) : 2, rounds = argc > 2 ? atoi(argv[2]) : 9;
    double ms = argc > 3 ? atof(argv[3]) : 150;
    if (argc > 4 || t < 1 || t > MAX_THREADS || rounds < 1 || ms <= 0) {
        fprintf(stderr, "usage: bench_cores [T [ROUNDS [MS]]]\n");
        return 2;
    }
    cpu_set_t set;
    if (sched_getaffinity(0, sizeof set, &set) != 0) {
        perror("bench_cores: sched_getaffinity");
        return 1;
    }
    int cpus[MAX_THREADS], n = 0;
    for (int c = 0; c < CPU_SETSIZE && n < t; c++)
        if (CPU_ISSET(c, &set)) cpus[n++] = c;
    if (n < t) {
        fprintf(stderr, "bench_cores: %d threads asked, %d CPUs allowed\n", t, n);
        return 2;
    }
    unsigned char *tables[MAX_THREADS];
    for (int i = 0; i < t; i++) {
        tables[i] = malloc(L2_BYTES);
        if (tables[i] == NULL) {
            perror("bench_cores");
            return 1;
        }
        memset(tables[i], i + 1, L2_BYTES);
    }
    static const char *names[] = {"alu", "l2"};
    for (int loop = 0; loop < 2; loop++) {
        /* iterations for about `ms` on one thread, from a short calibration */
        uint64_t probe = 1u << 22;
        double dt = trial(loop, probe, 1, cpus, tables);
        uint64_t total = (uint64_t)((double)probe * (ms / 1e3) / (dt > 1e-6 ? dt : 1e-6));
        total -= total % (uint64_t)t;
        if (total < (uint64_t)t) total = (uint64_t)t;
        double *ratio = malloc((size_t)rounds * sizeof *ratio);
        if (ratio == NULL) return 1;
        for (int r = 0; r < rounds; r++) {
            double one = trial(loop, total, 1, cpus, tables);
            double many = trial(loop, total, t, cpus, tables);
            ratio[r] = one / many;
        }
        qsort(ratio, (size_t)rounds, sizeof *ratio, cmp_double);
        printf("%s T=%d ratio median %.2f (min %.2f, max %.2f) of %d rounds\n", names[loop], t,
               ratio[rounds / 2], ratio[0], ratio[rounds - 1], rounds);
        free(ratio);
    }
    for (int i = 0; i < t; i++)
        free(tables[i]);
    return 0;
}
