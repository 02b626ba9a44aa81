/* bench_words.c - the words job's consumers on one file held in memory, one thread, as a map
 * worker runs them (mrc_job_count_buffer: scan, key, hash, count into a fresh table), for job
 * options given on the command line; runs interleaved (a busy machine slows all alike) and
 * prints the median MB/s of each and its ratio to the first. Built with the tests, run by hand:
 *   bench_words FILE REPS 'LABEL:OPTIONS' ...   e.g. 'ws:' 'uni-fold:--tokens unicode --fold-case'
 *   bench_words FILE once 'LABEL:OPTIONS'        one run, for valgrind --tool=callgrind
 * OPTIONS are the job's long options (--tokens unicode --ngrams 2 ...), values after a space. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mrcount/map.h"
#include "mrcount/table.h"

#define MAXCFG 16
#define MAXREPS 63

typedef struct cfg {
    char label[64];
    mrc_job job;
    double t[MAXREPS];
    uint64_t tokens, grams, distinct;
} cfg;

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static void parse(cfg *c, const char *spec)
{
    const mrc_job_desc *d = mrc_job_find("words");
    void *s = mrc_job_settings_new(d);
    mrc_err err = {0};
    const char *colon = strchr(spec, ':');
    size_t ll = colon ? (size_t)(colon - spec) : strlen(spec);
    snprintf(c->label, sizeof c->label, "%.*s", (int)ll, spec);
    char *opts = strdup(colon ? colon + 1 : "");
    for (char *save = NULL, *tok = strtok_r(opts, " ", &save); tok != NULL;
         tok = strtok_r(NULL, " ", &save)) {
        if (strncmp(tok, "--", 2) != 0) continue;
        char *val = NULL;
        if (strcmp(tok, "--fold-case") != 0 && strcmp(tok, "--no-fold-case") != 0)
            val = strtok_r(NULL, " ", &save);
        if (mrc_job_set(d, s, tok + 2, val, &err) != 0) {
            fprintf(stderr, "%s: %s\n", spec, err.msg);
            exit(2);
        }
    }
    if (mrc_job_select(&c->job, d, s, NULL, &err) != 0) {
        fprintf(stderr, "%s: %s\n", spec, err.msg);
        exit(2);
    }
    free(opts);
    mrc_job_settings_free(d, s);
}

static double run(cfg *c, const unsigned char *buf, size_t len)
{
    mrc_table t;
    mrc_err err = {0};
    mrc_map_ctx ctx = {0};
    if (mrc_table_init(&t, 0, &err) != 0) exit(1);
    ctx.table = &t;
    ctx.settings = c->job.settings;
    mrc_map_ctx_piece(&ctx, "bench", 0, 0);
    double t0 = mrc_now();
    if (mrc_job_count_buffer(&c->job, &ctx, buf, len, &err) != 0) {
        fprintf(stderr, "%s: %s\n", c->label, err.msg);
        exit(1);
    }
    double s = mrc_now() - t0;
    c->tokens = ctx.records;
    c->grams = t.total;
    c->distinct = t.used;
    mrc_map_ctx_free(&ctx);
    mrc_table_free(&t);
    return s;
}

int main(int argc, char **argv)
{
    if (argc < 4 || argc - 3 > MAXCFG) {
        fprintf(stderr, "usage: bench_words FILE REPS|once 'LABEL:OPTIONS'...\n");
        return 2;
    }
    FILE *f = fopen(argv[1], "rb");
    if (f == NULL) return 1;
    fseek(f, 0, SEEK_END);
    size_t len = (size_t)ftell(f);
    fseek(f, 0, SEEK_SET);
    unsigned char *buf = malloc(len ? len : 1);
    if (buf == NULL || fread(buf, 1, len, f) != len) return 1;
    fclose(f);
    int n = argc - 3;
    static cfg cfgs[MAXCFG];
    for (int i = 0; i < n; i++)
        parse(&cfgs[i], argv[3 + i]);
    if (strcmp(argv[2], "once") == 0) {
        run(&cfgs[0], buf, len);
        return 0;
    }
    int reps = atoi(argv[2]);
    if (reps < 1 || reps > MAXREPS) reps = 5;
    for (int r = 0; r < reps; r++)
        for (int i = 0; i < n; i++)
            cfgs[i].t[r] = run(&cfgs[i], buf, len);
    printf("%s: %zu bytes, median of %d interleaved runs, one thread\n", argv[1], len, reps);
    double base = 0;
    for (int i = 0; i < n; i++) {
        qsort(cfgs[i].t, (size_t)reps, sizeof(double), cmp_double);
        double m = cfgs[i].t[reps / 2];
        if (i == 0) base = m;
        printf("%-16s %8.1f MB/s  %5.2fx  (%.1f..%.1f)  %llu tokens, %llu keys counted, %llu "
               "distinct\n",
               cfgs[i].label, (double)len / m / 1e6, base / m,
               (double)len / cfgs[i].t[reps - 1] / 1e6, (double)len / cfgs[i].t[0] / 1e6,
               (unsigned long long)cfgs[i].tokens, (unsigned long long)cfgs[i].grams,
               (unsigned long long)cfgs[i].distinct);
    }
    free(buf);
    return 0;
}
