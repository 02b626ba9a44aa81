/* addq.h - keys on their way into the count table, private to map/. A key is hashed and its
 * home slot fetched as it is queued; the queue is added a batch at a time, each record fetched
 * AHEAD adds early, so that the cache misses of a table larger than the caches overlap instead
 * of costing one wait per key. The n-gram consumer (tokens.c) queues into its own buffer with
 * add_pending(); the line jobs (ngram.c, tsv.c) use the addq, which copies each key (theirs
 * are rewritten in ctx->scratch line by line) and must be emptied before their consumer
 * returns: between two calls the table holds every count, as a spill, a checkpoint or the end
 * of the map expects. Measured on 30 M distinct keys, one v2 row each (649 MB, the 2-core VM,
 * 3 interleaved rounds beside the build before, identical results, medians): the ngram job's
 * map 8.97 -> 4.92 s at 1 x 1 and 4.37 -> 2.45 s at 1 x 2, the tsv job's 9.34 -> 5.76 s at
 * 1 x 1; in-cache vocabularies (1-gram exports, 50 k tsv keys) unchanged. */
#ifndef MRCOUNT_MAP_ADDQ_H
#define MRCOUNT_MAP_ADDQ_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifndef XXH_INLINE_ALL
#define XXH_INLINE_ALL
#endif
#include <xxhash.h>

#include "mrcount/map.h"
#include "mrcount/table.h"

#define AHEAD 64         /* how far ahead of its add a record is fetched */
#define ADDQ_KEYS 256    /* keys a queue holds before it is added */
#define ADDQ_BYTES 65536 /* their bytes */
/* A longer key is added at once (the queue emptied first), not copied. */
#define ADDQ_COPY_MAX 4096

/* A key waiting for its add: at base + off (the queue's or the caller's buffer). */
typedef struct pending {
    size_t off;
    uint32_t len;
    uint64_t hash;
    uint64_t value;
} pending;

/* Fetch the record that hash's home slot points at, if any (the slot was fetched earlier). */
static inline void prefetch_rec(const mrc_table *t, uint64_t hash)
{
    uint64_t s = *mrc_table_home(t, hash);
    if (s != 0) __builtin_prefetch(mrc_table_rec_at(t, s));
}

/* Add p[0, n) (keys at base + off), each record fetched AHEAD adds early.
 * @return 0, or -1 with err filled (mrc_table_add's error). */
static inline int add_pending(mrc_table *t, const unsigned char *base, const pending *p, size_t n,
                              mrc_err *err)
{
    for (size_t i = 0; i < n && i < AHEAD; i++)
        prefetch_rec(t, p[i].hash);
    for (size_t i = 0; i < n; i++) {
        if (i + AHEAD < n) prefetch_rec(t, p[i + AHEAD].hash);
        if (mrc_table_add(t, base + p[i].off, p[i].len, p[i].hash, p[i].value, err) != 0) return -1;
    }
    return 0;
}

/* The line jobs' queue: keys copied into bytes. */
typedef struct addq {
    size_t n, used;
    pending key[ADDQ_KEYS];
    unsigned char bytes[ADDQ_BYTES];
} addq;

/* Add every queued key; the queue is empty afterwards, on an error too. @return 0 or -1. */
static inline int addq_flush(mrc_table *t, addq *q, mrc_err *err)
{
    size_t n = q->n;
    q->n = q->used = 0; /* nothing writes the bytes until the adds are done */
    return n > 0 ? add_pending(t, q->bytes, q->key, n, err) : 0;
}

/* Queue `value` under key[0, len) (len < 2^32: the caller checks, naming its input).
 * @return 0, or -1 with err filled (an add of the keys queued before it failed). */
static inline int addq_push(mrc_table *t, addq *q, const unsigned char *key, size_t len,
                            uint64_t value, mrc_err *err)
{
    uint64_t h = XXH3_64bits_withSeed(key, len, MRC_HASH_SEED);
    if (len > ADDQ_COPY_MAX) {
        if (addq_flush(t, q, err) != 0) return -1;
        return mrc_table_add(t, key, (uint32_t)len, h, value, err) != 0 ? -1 : 0;
    }
    if ((q->n == ADDQ_KEYS || ADDQ_BYTES - q->used < len) && addq_flush(t, q, err) != 0) return -1;
    __builtin_prefetch(mrc_table_home(t, h));
    memcpy(q->bytes + q->used, key, len);
    q->key[q->n++] = (pending){q->used, (uint32_t)len, h, value};
    q->used += len;
    return 0;
}

/* A failed add, named with the file being read: the table's messages (a count past 2^64-1,
 * its own limits) name the key or nothing. For a failure of the table only (a consumer's own
 * messages name the file already). @return -1. */
static inline int addq_name_failure(const mrc_map_ctx *ctx, mrc_err *err)
{
    if (err->code == MRC_EOVERFLOW && ctx->path != NULL) {
        char msg[MRC_ERR_MSG_MAX];
        snprintf(msg, sizeof msg, "%s", err->msg);
        memset(err, 0, sizeof *err);
        mrc_err_set(err, MRC_EOVERFLOW, "%s: %s", ctx->path, msg);
    }
    return -1;
}

/* The end of a consumer call that queued its keys: r, its result, once the queue is added
 * (-1 if that fails, the failure named); after a failure the queue is emptied, added or not
 * (the run ends with the error). */
static inline long long addq_finish(mrc_map_ctx *ctx, addq *q, long long r, mrc_err *err)
{
    if (r >= 0 && addq_flush(ctx->table, q, err) != 0) r = addq_name_failure(ctx, err);
    if (r < 0) q->n = q->used = 0;
    return r;
}

static void addq_free(void *q)
{
    free(q);
}

/* The thread's queue, kept in ctx->state (made on the first call). @return NULL: MRC_ENOMEM. */
static inline addq *addq_of(mrc_map_ctx *ctx, mrc_err *err)
{
    if (ctx->state != NULL && ctx->state_free == addq_free) return ctx->state;
    if (ctx->state != NULL && ctx->state_free != NULL) ctx->state_free(ctx->state);
    ctx->state = NULL;
    ctx->state_free = NULL;
    addq *q = malloc(sizeof *q);
    if (q == NULL) {
        mrc_err_set(err, MRC_ENOMEM, "out of memory for the table's add queue");
        return NULL;
    }
    q->n = q->used = 0;
    ctx->state = q;
    ctx->state_free = addq_free;
    return q;
}

#endif
