/* bench_merge.c - the k-way merges of the output orders (not a test: run by hand, pinned to one
 * core if the machine is shared): N keys key1x ... keyNx, sorted, dealt at random to K
 * in-memory streams (the wire format: a run's or an owner's records), merged in count order
 * (every count 1: the key decides) or key order by
 *   pulled: mrc_merge_source_open(), drained (the external sort's final merge of its runs);
 *   lines:  mrc_output_write_merged() to /dev/null (rank 0's merge of the owners' streams, with
 *           the lines formatted).
 * Usage: bench_merge N K count|key pulled|lines [REPS (5)]. Prints each rep's ns a record and the
 * median. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "mrcount/output.h"
#include "mrcount/table.h"

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

static int by_key(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static int by_value(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

typedef struct payload {
    unsigned char *p;
    size_t len, cap;
} payload;

static void put(payload *pl, const char *key)
{
    uint32_t l = (uint32_t)strlen(key);
    uint64_t count = 1;
    if (pl->len + 12 + l > pl->cap) {
        pl->cap = pl->cap ? 2 * pl->cap : 1 << 16;
        pl->p = realloc(pl->p, pl->cap);
        if (pl->p == NULL) exit(1);
    }
    memcpy(pl->p + pl->len, &count, 8); /* the wire record: count, length, key (host order) */
    memcpy(pl->p + pl->len + 8, &l, 4);
    memcpy(pl->p + pl->len + 12, key, l);
    pl->len += 12 + l;
}

int main(int argc, char **argv)
{
    if (argc < 5) {
        fprintf(stderr, "usage: bench_merge N K count|key pulled|lines [REPS]\n");
        return 2;
    }
    size_t n = strtoull(argv[1], NULL, 10), k = strtoull(argv[2], NULL, 10);
    enum mrc_order order = strcmp(argv[3], "key") == 0 ? MRC_ORDER_KEY : MRC_ORDER_COUNT;
    int lines = strcmp(argv[4], "lines") == 0, reps = argc > 5 ? atoi(argv[5]) : 5;
    if (n == 0 || k == 0 || reps < 1) return 2;
    char **keys = malloc(n * sizeof *keys);
    char *text = malloc(n * 32);
    payload *pl = calloc(k, sizeof *pl);
    double *ns = malloc((size_t)reps * sizeof *ns);
    if (keys == NULL || text == NULL || pl == NULL || ns == NULL) return 1;
    for (size_t i = 0; i < n; i++) {
        keys[i] = text + 32 * i;
        snprintf(keys[i], 32, "key%zux", i + 1);
    }
    qsort(keys, n, sizeof *keys, by_key); /* bytewise: count order with equal counts too */
    uint64_t s = 88172645463325252ull;
    for (size_t i = 0; i < n; i++) {
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        put(&pl[s % k], keys[i]);
    }
    mrc_output_opts o = {.path = "/dev/null",
                         .sort = order == MRC_ORDER_KEY ? MRC_SORT_KEY : MRC_SORT_COUNT};
    for (int r = 0; r < reps; r++) {
        mrc_err err = {0};
        mrc_source **src = calloc(k, sizeof *src);
        if (src == NULL) return 1;
        for (size_t j = 0; j < k; j++)
            if ((src[j] = mrc_ser_source_open(pl[j].p, pl[j].len, order, &err)) == NULL) return 1;
        size_t got = 0;
        double t0 = now();
        if (lines) {
            if (mrc_output_write_merged(src, k, &o, &err) != 0) {
                fprintf(stderr, "bench_merge: %s\n", err.msg);
                return 1;
            }
            got = n;
            for (size_t j = 0; j < k; j++)
                src[j]->close(src[j]);
        } else {
            mrc_source *m = mrc_merge_source_open(src, k, order, &err); /* owns them */
            mrc_rec_view v;
            int rc = 0;
            while (m != NULL && (rc = m->next(m, &v, &err)) == 1)
                got++;
            if (m == NULL || rc < 0) {
                fprintf(stderr, "bench_merge: %s\n", err.msg);
                return 1;
            }
            m->close(m);
        }
        double t1 = now();
        free(src);
        if (got != n) {
            fprintf(stderr, "bench_merge: %zu records out of %zu\n", got, n);
            return 1;
        }
        ns[r] = (t1 - t0) * 1e9 / (double)n;
        printf("%s %s k=%zu n=%zu: %.1f ns a record\n", argv[4], argv[3], k, n, ns[r]);
    }
    qsort(ns, (size_t)reps, sizeof *ns, by_value);
    printf("median %.1f ns a record\n", ns[reps / 2]);
    for (size_t j = 0; j < k; j++)
        free(pl[j].p);
    free(pl);
    free(ns);
    free(text);
    free(keys);
    return 0;
}
