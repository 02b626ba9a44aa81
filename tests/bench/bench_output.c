/* bench_output.c - times the output phase on a synthetic vocabulary: N distinct keys key1x ...
 * keyNx in a serialized table in random order (--seq: in the order a map of them fills its
 * table), every count 1 (ones), Zipf-like (zipf: key r counts 4N/r) or mostly 1 (hapax: key r
 * counts N/2r, at least 1: three quarters of them 1, as most n-grams), sorted and written on T
 * threads; prints seconds per step, the sort's ways (sort.c) and the peak resident
 * bytes per record. A measuring tool, not a test: it prints, and it exits on errors. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/mman.h>

#include "mrcount/output.h"
#include "mrcount/runtime.h"
#include "mrcount/table.h"
#include "output_internal.h"

static const char usage[] =
    "usage: bench_output N ones|zipf|hapax T PATH new|old|sort|iter|write-table [--no-fsync] "
    "[--no-write-behind] "
    "[--key] [--huge] [--seq]\n"
    "  new: refs from the table, mrc_output_sort(), mrc_output_write_sorted() on T threads\n"
    "  old: mrc_output_write() of the table (whatever this build's is)\n"
    "  write-table: the records as lines key\\n in table order, to PATH (for sort(1))\n"
    "  sort: the sort alone; iter: the sort and one pass over the sorted records\n"
    "  merge: the records cut in two at random, each half sorted, the halves written by the\n"
    "         k-way merge of streams (rank 0's merge of two owners, without MPI)\n"
    "  --seq: the table in insertion order key1x, key2x ... (a map's), not shuffled\n";

static double cpu_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static uint64_t splitmix(uint64_t *s)
{
    uint64_t z = (*s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

static void die(const char *what, const mrc_err *e)
{
    fprintf(stderr, "bench_output: %s: %s\n", what, e != NULL ? e->msg : "failed");
    exit(1);
}

static bool huge, seq;

/* --huge: the table on transparent huge pages, as an arena could be */
static void advise(void *p, size_t len)
{
    uintptr_t a = ((uintptr_t)p + (2u << 20) - 1) & ~(uintptr_t)((2u << 20) - 1);
    uintptr_t b = ((uintptr_t)p + len) & ~(uintptr_t)((2u << 20) - 1);
    if (huge && b > a) madvise((void *)a, b - a, MADV_HUGEPAGE);
}

static unsigned char *make_table(size_t n, int dist, size_t *len)
{
    uint32_t *perm = malloc(n * sizeof *perm);
    size_t cap = MRC_SER_HEADER + n * (MRC_REC_HEAD + 24);
    unsigned char *t = malloc(cap);
    if (perm == NULL || t == NULL) die("setup", NULL);
    advise(t, cap);
    for (size_t i = 0; i < n; i++)
        perm[i] = (uint32_t)i;
    uint64_t seed = 42;
    for (size_t i = n; !seq && i > 1; i--) {
        size_t j = splitmix(&seed) % i;
        uint32_t x = perm[i - 1];
        perm[i - 1] = perm[j];
        perm[j] = x;
    }
    size_t w = MRC_SER_HEADER;
    uint64_t total = 0;
    for (size_t i = 0; i < n; i++) {
        uint64_t r = (uint64_t)perm[i] + 1;
        uint64_t count = dist == 1   ? 4 * (uint64_t)n / r
                         : dist == 2 ? n / (2 * r) + (2 * r > n)
                                     : 1;
        char key[32];
        uint32_t kl = (uint32_t)snprintf(key, sizeof key, "key%llux", (unsigned long long)r);
        memcpy(t + w, &count, 8);
        memcpy(t + w + 8, &kl, 4);
        memcpy(t + w + 12, key, kl);
        w += 12 + kl;
        total += count;
    }
    free(perm);
    mrc_ser_header h = {MRC_SER_MAGIC, MRC_SER_VERSION, n, w - MRC_SER_HEADER, 0, total};
    mrc_ser_write_header(t, &h);
    *len = w;
    return t;
}

int main(int argc, char **argv)
{
    if (argc < 6) {
        fputs(usage, stderr);
        return 2;
    }
    size_t n = strtoull(argv[1], NULL, 10);
    int dist = strcmp(argv[2], "zipf") == 0 ? 1 : strcmp(argv[2], "hapax") == 0 ? 2 : 0; /* ones */
    size_t threads = strtoull(argv[3], NULL, 10);
    const char *path = argv[4], *mode = argv[5];
    bool fsync_on = true, write_behind = true, by_key = false;
    for (int i = 6; i < argc; i++) {
        if (strcmp(argv[i], "--no-fsync") == 0) fsync_on = false;
        if (strcmp(argv[i], "--no-write-behind") == 0) write_behind = false;
        if (strcmp(argv[i], "--key") == 0) by_key = true;
        if (strcmp(argv[i], "--huge") == 0) huge = true;
        if (strcmp(argv[i], "--seq") == 0) seq = true;
    }
    size_t len;
    unsigned char *table = make_table(n, dist, &len);
    mrc_err err = {0};
    if (strcmp(mode, "write-table") == 0) {
        FILE *f = fopen(path, "w");
        if (f == NULL) die(path, NULL);
        size_t pos = 0;
        mrc_ser_rec r;
        while (mrc_ser_next(table + MRC_SER_HEADER, len - MRC_SER_HEADER, &pos, &r) == 1) {
            fwrite(r.key, 1, r.len, f);
            fputc('\n', f);
        }
        fclose(f);
        return 0;
    }
    mrc_out_set_durability(fsync_on, write_behind);
    mrc_topo *topo = mrc_topo_open(NULL, &err);
    mrc_placement pl;
    if (topo == NULL || mrc_placement_plan(topo, NULL, 0, 1, threads, &pl, &err) != 0)
        die("placement", &err);
    mrc_output_opts o = {
        .path = path, .sort = by_key ? MRC_SORT_KEY : MRC_SORT_COUNT, .top = 0, .stop = NULL};
    uint64_t rss0 = mrc_rss_window_start();
    double t0 = mrc_now(), t1 = t0, t2 = t0, t3, c0 = cpu_now(), c1 = c0, c2 = c0, c3;
    if (strcmp(mode, "old") == 0) {
        if (mrc_output_write(table, len, &o, &err) != 0) die("write", &err);
        t3 = mrc_now();
        c3 = cpu_now();
    } else {
        mrc_out_ref *refs;
        size_t nr;
        if (mrc_output_refs_from_table(table, len, "bench", &refs, &nr, &err) != 0)
            die("refs", &err);
        t1 = mrc_now();
        c1 = cpu_now();
        if (strcmp(mode, "merge") == 0) { /* two halves: the odd and even records of the table */
            size_t h = 0;
            for (size_t i = 0; i < nr; i += 2) {
                mrc_out_ref x = refs[h];
                refs[h++] = refs[i];
                refs[i] = x;
            }
            enum mrc_order ord = by_key ? MRC_ORDER_KEY : MRC_ORDER_COUNT;
            mrc_out_sorted a, b;
            if (mrc_output_sort(refs, h, ord, 0, NULL, NULL, NULL, &a, &err) != 0 ||
                mrc_output_sort(refs + h, nr - h, ord, 0, NULL, NULL, NULL, &b, &err) != 0)
                die("sort", &err);
            t2 = mrc_now();
            c2 = cpu_now();
            mrc_out_iter *ia = mrc_output_iter_open(&a, 0, &err);
            mrc_out_iter *ib = mrc_output_iter_open(&b, 0, &err);
            if (ia == NULL || ib == NULL) die("merge", &err);
            mrc_source *src[2] = {mrc_output_iter_source(ia), mrc_output_iter_source(ib)};
            if (mrc_output_write_merged(src, 2, &o, &err) != 0) die("merge", &err);
            mrc_output_iter_close(ia);
            mrc_output_iter_close(ib);
            t3 = mrc_now();
            c3 = cpu_now();
            free(refs);
            goto done;
        }
        mrc_out_sorted s;
        if (mrc_output_sort(refs, nr, by_key ? MRC_ORDER_KEY : MRC_ORDER_COUNT, 0, topo, &pl, NULL,
                            &s, &err) != 0)
            die("sort", &err);
        t2 = mrc_now();
        c2 = cpu_now();
        printf("ways: by_windows %d by_common %d\n", (int)s.by_windows, (int)s.by_common);
        if (strcmp(mode, "iter") == 0) { /* the merged order alone: one pass over the records */
            mrc_out_iter *it = mrc_output_iter_open(&s, 0, &err);
            const unsigned char *rec;
            uint64_t sum = 0;
            while ((rec = mrc_output_iter_next(it)) != NULL)
                sum += mrc_out_line_len(rec);
            mrc_output_iter_close(it);
            printf("iter: %llu bytes of text\n", (unsigned long long)sum);
        } else if (strcmp(mode, "sort") != 0 &&
                   mrc_output_write_sorted(&s, &o, topo, &pl, &err) != 0)
            die("write", &err);
        t3 = mrc_now();
        c3 = cpu_now();
        free(refs);
    }
done:;
    uint64_t peak = mrc_rss_window_peak();
    printf("%s n=%zu %s T=%zu refs=%.3f sort=%.3f write=%.3f total=%.3f table=%.1fB/rec "
           "peak=%.1fB/rec extra=%.1fB/rec | cpu refs=%.3f sort=%.3f write=%.3f\n",
           mode, n, argv[2], threads, t1 - t0, t2 - t1, t3 - t2, t3 - t0, (double)len / n,
           (double)peak / n, (double)(peak - rss0) / n, c1 - c0, c2 - c1, c3 - c2);
    mrc_placement_free(&pl);
    mrc_topo_close(topo);
    free(table);
    return 0;
}
