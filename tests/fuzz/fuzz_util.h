/* fuzz_util.h - what the libFuzzer harnesses share: the invariant check that abort()s (so a
 * logic bug is a crash the fuzzer keeps, like a memory error), exact-size copies (ASan sees any
 * read one byte past the data), the reader's way of feeding a consumer, and a (key, count) list
 * in the wire format's key order, a job counting into a table of its own the way a map worker
 * does, a line job's reference result held against it, and a memfd the code under test opens by
 * path. All static: each harness is one translation unit. */
#ifndef MRC_FUZZ_UTIL_H
#define MRC_FUZZ_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "mrcount/common.h"
#include "mrcount/input.h"
#include "mrcount/map.h"
#include "mrcount/table.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond, ...)                                                                           \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "%s:%d: invariant failed: %s: ", __FILE__, __LINE__, #cond);           \
            fprintf(stderr, __VA_ARGS__);                                                          \
            fputc('\n', stderr);                                                                   \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

/* A file the code under test opens by its path (/proc/self/fd/N): a memfd, made on first use,
 * so nothing is written to disk. */
typedef struct fuzz_file {
    int fd;
    char path[64];
} fuzz_file;
#define FUZZ_FILE_INIT                                                                             \
    {                                                                                              \
        -1, ""                                                                                     \
    }

/* f now holds exactly data[0..size). */
static inline void fuzz_file_put(fuzz_file *f, const char *name, const void *data, size_t size)
{
    if (f->fd < 0) {
        f->fd = memfd_create(name, 0);
        CHECK(f->fd >= 0, "memfd_create failed");
        snprintf(f->path, sizeof f->path, "/proc/self/fd/%d", f->fd);
    }
    CHECK(ftruncate(f->fd, 0) == 0, "ftruncate");
    CHECK(size == 0 || pwrite(f->fd, data, size, 0) == (ssize_t)size, "pwrite");
}

static inline void *xmalloc(size_t n)
{
    void *p = malloc(n ? n : 1);
    if (p == NULL) abort();
    return p;
}

/* A copy in an allocation of exactly n bytes. */
static inline unsigned char *exact_copy(const void *src, size_t n)
{
    unsigned char *b = xmalloc(n);
    if (n) memcpy(b, src, n);
    return b;
}

/* Feed text[0..len) to consume as the streaming reader does: a window that grows by `step` bytes
 * per call, each an exact-size copy, the bytes the consumer leaves carried into the next window;
 * the last window is final. @return 0, or -1 when the consumer fails (err filled). */
static inline int feed_in_pieces(mrc_consume_fn consume, void *ctx, const unsigned char *text,
                                 size_t len, size_t step, mrc_err *err)
{
    size_t start = 0, end = len < step ? len : step;
    for (;;) {
        bool final = end == len;
        size_t n = end - start;
        unsigned char *w = exact_copy(text + start, n);
        long long used = consume(ctx, w, n, SIZE_MAX, final, err);
        free(w);
        if (used < 0) return -1;
        CHECK((unsigned long long)used <= n, "consumed %lld of %zu bytes", used, n);
        if (final) return 0;
        start += (size_t)used;
        end = len - end > step ? end + step : len;
    }
}

/* ---- (key, count) lists, compared in key order (bytes, then the shorter first) ---- */

typedef struct kc {
    const unsigned char *key;
    uint32_t len;
    uint64_t count;
} kc;

typedef struct kclist {
    kc *v;
    size_t n, cap;
} kclist;

static inline void kc_push(kclist *l, const unsigned char *key, size_t len, uint64_t count)
{
    if (l->n == l->cap) {
        l->cap = l->cap ? 2 * l->cap : 64;
        l->v = realloc(l->v, l->cap * sizeof *l->v);
        if (l->v == NULL) abort();
    }
    l->v[l->n++] = (kc){key, (uint32_t)len, count};
}

static inline int kc_key_cmp(const void *pa, const void *pb)
{
    const kc *a = pa, *b = pb;
    size_t n = a->len < b->len ? a->len : b->len;
    for (size_t i = 0; i < n; i++)
        if (a->key[i] != b->key[i]) return a->key[i] < b->key[i] ? -1 : 1;
    return a->len < b->len ? -1 : a->len > b->len;
}

static inline void kc_sort(kclist *l)
{
    if (l->n > 1) qsort(l->v, l->n, sizeof *l->v, kc_key_cmp);
}

/* Sort by key and add the counts of equal keys; *overflow set when a sum passes 2^64-1. */
static inline void kc_aggregate(kclist *l, bool *overflow)
{
    kc_sort(l);
    size_t w = 0;
    for (size_t i = 0; i < l->n; i++) {
        if (w > 0 && kc_key_cmp(&l->v[w - 1], &l->v[i]) == 0) {
            if (mrc_add_u64(l->v[w - 1].count, l->v[i].count, &l->v[w - 1].count)) *overflow = true;
        } else {
            l->v[w++] = l->v[i];
        }
    }
    l->n = w;
}

/* Both sorted lists hold the same keys with the same counts. */
static inline void kc_expect_equal(const kclist *got, const kclist *want, const char *what)
{
    CHECK(got->n == want->n, "%s: %zu distinct keys, the reference has %zu", what, got->n, want->n);
    for (size_t i = 0; i < want->n; i++) {
        CHECK(kc_key_cmp(&got->v[i], &want->v[i]) == 0, "%s: key %zu differs (len %u vs %u)", what,
              i, got->v[i].len, want->v[i].len);
        CHECK(got->v[i].count == want->v[i].count, "%s: key %zu (len %u) counted %llu, want %llu",
              what, i, want->v[i].len, (unsigned long long)got->v[i].count,
              (unsigned long long)want->v[i].count);
    }
}

/* mrc_table_each() callback: the table's records into a kclist. */
static inline void kc_push_rec(const mrc_rec *r, void *arg)
{
    kc_push(arg, r->key, r->len, r->count);
}

static inline void kc_free(kclist *l)
{
    free(l->v);
    memset(l, 0, sizeof *l);
}

/* ---- a job counting into its own table, the way one map worker does ---- */

typedef struct counter {
    mrc_job job;
    mrc_table table;
    mrc_map_ctx ctx;
    mrc_err err;
} counter;

/* Must not move afterwards: ctx points into it. */
static inline void counter_init(counter *c, const mrc_job *job)
{
    memset(c, 0, sizeof *c);
    c->job = *job;
    CHECK(mrc_table_init(&c->table, 0, &c->err) == 0, "mrc_table_init: %s", c->err.msg);
    c->ctx.table = &c->table;
    c->ctx.settings = c->job.settings;
    mrc_map_ctx_piece(&c->ctx, "fuzz-input", 0, 0);
}

static inline void counter_free(counter *c)
{
    mrc_map_ctx_free(&c->ctx);
    mrc_table_free(&c->table);
}

/* The counter's table as a list in key order (kc_free() it), the hot front's counts settled. */
static inline kclist counter_keys(counter *c)
{
    kclist got = {0};
    mrc_table_settle(&c->table);
    mrc_table_each(&c->table, kc_push_rec, &got);
    kc_sort(&got);
    return got;
}

/* ---- a line job's reference result, and the counter held against it ---- */

typedef struct ref_result {
    kclist keys; /* aggregated; key bytes in `arena` */
    unsigned char *arena;
    uint64_t lines, bad; /* the records counted (ctx.records), the bad ones */
    bool error;          /* the run must fail */
} ref_result;

static inline void ref_result_free(ref_result *r)
{
    kc_free(&r->keys);
    free(r->arena);
}

/* The counter after rc (its consume's status) is the reference: an error exactly when one is
 * due, else the same records, bad records, keys and sums. */
static inline void expect_outcome(counter *c, int rc, const ref_result *want, const char *how)
{
    if (want->error) {
        CHECK(rc != 0 && c->err.code != 0 && c->err.msg[0] != '\0', "%s: an error was due", how);
        return;
    }
    CHECK(rc == 0, "%s: unexpected error: %s", how, c->err.msg);
    CHECK(c->ctx.records == want->lines, "%s: %llu lines, the reference has %llu", how,
          (unsigned long long)c->ctx.records, (unsigned long long)want->lines);
    CHECK(c->ctx.bad.total == want->bad, "%s: %llu bad records, the reference has %llu", how,
          (unsigned long long)c->ctx.bad.total, (unsigned long long)want->bad);
    kclist got = counter_keys(c);
    CHECK(c->table.used == got.n, "%s: table says %zu keys, holds %zu", how, c->table.used, got.n);
    kc_expect_equal(&got, &want->keys, how);
    kc_free(&got);
}

#endif
