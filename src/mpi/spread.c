/* spread.c - the shuffle of a rank whose tables spilled: its records go to their owners range by
 * range in bounded rounds, with bounded memory on both sides. In phase p each rank sends its
 * records of range (rank + p) mod P, read straight from its frozen tables and its run files
 * (each sliced by hash range) through one k-way merge, in chunks of at most round_bytes, while it
 * receives its own range from rank (rank - p) mod P into a chunk store that spills to --tmp-dir
 * past its budget. A rank that fails goes on through every phase sending empty chunks flagged
 * with the failure, so no rank waits for data that will not come; the agreement then stops the
 * run. The same phases carry a spilled result's ranges of the output order to the ranks that
 * write them (mrc_mpi_exchange_ranges()). */
#include <mpi.h>
#include <stdlib.h>
#include <string.h>

#include "mpi_internal.h"
#include "mrcount/mpi.h"

#define TAG_SPREAD 31
#define FLAG_LAST 1u /* the sender's last chunk for this range */
#define FLAG_FAIL 2u /* the sender failed: its data is incomplete */
#define CHUNK_HEAD 8 /* u32 flags, u32 part (of the range), then whole records */

/* One range of this rank's data as a stream: the merge of every table's and run's slice. */
static mrc_source *range_stream(mrc_table *const *tables, size_t ntables, const mrc_run_file *runs,
                                size_t nruns, uint64_t lo, uint64_t hi, size_t read_buf,
                                mrc_err *err)
{
    mrc_source **src = calloc(ntables + nruns + 1, sizeof *src);
    if (src == NULL) {
        mrc_err_set(err, MRC_ENOMEM, "shuffle: out of memory");
        return NULL;
    }
    size_t n = 0;
    for (size_t i = 0; i < ntables; i++)
        if (tables[i]->used > 0 && (src[n] = mrc_table_source(tables[i], lo, hi, err)) != NULL) n++;
    for (size_t i = 0; i < nruns && err->code == 0; i++)
        if ((src[n] = mrc_run_file_source(&runs[i], lo, hi, read_buf, err)) != NULL) n++;
    mrc_source *m = NULL;
    if (err->code == 0) {
        m = mrc_merge_source_open(src, n, MRC_ORDER_HASH, err); /* owns them from here */
    } else {
        for (size_t i = 0; i < n; i++)
            src[i]->close(src[i]);
    }
    free(src);
    return m;
}

/* Fill a chunk with the stream's next records (a record bigger than the chunk alone), keeping
 * one that does not fit for the next chunk. @return 0, or -1 on the stream's error. */
typedef struct chunk_fill {
    mrc_source *src;
    mrc_rec_view held;
    bool have, ended;
} chunk_fill;

static int fill(chunk_fill *c, unsigned char **buf, size_t *cap, size_t round, size_t *len,
                mrc_err *err)
{
    *len = CHUNK_HEAD;
    while (!c->ended) {
        if (!c->have) {
            int got = c->src->next(c->src, &c->held, err);
            if (got < 0) return -1;
            if (got == 0) {
                c->ended = true;
                break;
            }
            c->have = true;
        }
        size_t need = MRC_REC_HEAD + (size_t)c->held.len;
        if (*len + need > round && *len > CHUNK_HEAD) break; /* the next chunk starts with it */
        if (*len + need > *cap) {
            unsigned char *b = realloc(*buf, *len + need);
            if (b == NULL) return mrc_err_set(err, MRC_ENOMEM, "shuffle: out of memory"), -1;
            *buf = b;
            *cap = *len + need;
        }
        memcpy(*buf + *len, &c->held.count, 8);
        memcpy(*buf + *len + 8, &c->held.len, 4);
        memcpy(*buf + *len + MRC_REC_HEAD, c->held.key, c->held.len);
        *len += need;
        c->have = false;
    }
    return 0;
}

/* The phased exchange: part j of range `dest` of this rank's data is open(dest, j, arg), sent
 * in chunks that each hold records of one part; rank `from`'s part j of this rank's range is
 * source from * parts + j of the store. This rank's own range goes into the store too, or
 * (skip_own) is not opened at all. */
typedef mrc_source *(*range_open_fn)(int dest, size_t part, void *arg, mrc_err *err);

static int exchange(const mrc_mpi *d, range_open_fn open, void *arg, size_t parts, bool skip_own,
                    const mrc_spread_opts *o, mrc_chunk_store **out, mrc_spread_stats *stats,
                    mrc_err *err)
{
    int P = d->size, me = d->rank;
    *out = NULL;
    memset(stats, 0, sizeof *stats);
    int failed = 0;
    mrc_chunk_store *store =
        parts > 0 && parts <= UINT32_MAX && (size_t)P <= SIZE_MAX / parts
            ? mrc_chunk_store_open((size_t)P * parts, o->mem_budget, o->tmp_dir, err)
            : NULL;
    if (store != NULL && o->test_store_full) mrc_chunk_store_test_room(store, 0);
    size_t round = o->round_bytes > CHUNK_HEAD + 64 ? o->round_bytes : CHUNK_HEAD + 64;
    size_t scap = round, rcap = round;
    unsigned char *sbuf = malloc(scap), *rbuf = malloc(rcap);
    if (store == NULL || sbuf == NULL || rbuf == NULL) {
        if (err->code == 0) mrc_err_set(err, MRC_ENOMEM, "shuffle: out of memory");
        failed = 1;
    }
    int mpi_rc = MPI_SUCCESS;
    for (int p = skip_own ? 1 : 0; p < P && mpi_rc == MPI_SUCCESS; p++) {
        int dest = (me + p) % P, from = (me - p + P) % P;
        chunk_fill c = {0};
        uint32_t part = 0;
        if (!failed) {
            c.src = open(dest, 0, arg, err);
            if (c.src == NULL) failed = 1;
        }
        bool send_done = false, recv_done = false;
        while (!send_done || !recv_done) {
            if (mrc_stopped(o->stop) && !failed) {
                failed = 1;
                mrc_err_set(err, MRC_EINTR, "shuffle: stopped");
            }
            MPI_Request req[2] = {MPI_REQUEST_NULL, MPI_REQUEST_NULL};
            size_t slen = CHUNK_HEAD;
            if (!send_done) {
                uint32_t flags = 0;
                while (!failed && c.ended && !c.have && part + 1 < parts) { /* the next part */
                    c.src->close(c.src);
                    c = (chunk_fill){.src = open(dest, ++part, arg, err)};
                    if (c.src == NULL) failed = 1;
                }
                if (!failed && fill(&c, &sbuf, &scap, round, &slen, err) != 0) failed = 1;
                if (failed) {
                    slen = CHUNK_HEAD;
                    flags |= FLAG_FAIL | FLAG_LAST;
                } else if (c.ended && !c.have && part + 1 == parts) {
                    flags |= FLAG_LAST;
                }
                memcpy(sbuf, &flags, 4);
                memcpy(sbuf + 4, &part, 4);
                send_done = (flags & FLAG_LAST) != 0;
                if (dest == me) { /* to itself: straight into the store */
                    if (!failed && slen > CHUNK_HEAD &&
                        mrc_chunk_store_append(store, (size_t)me * parts + part, sbuf + CHUNK_HEAD,
                                               slen - CHUNK_HEAD, err) != 0)
                        failed = 1;
                    stats->kept += slen - CHUNK_HEAD;
                    recv_done = send_done;
                    continue;
                }
                if (slen > (size_t)0x7fffffff) {
                    failed = 1;
                    mrc_err_set(err, MRC_EOVERFLOW, "shuffle: a record of over 2 GiB");
                    slen = CHUNK_HEAD;
                    flags = FLAG_FAIL | FLAG_LAST;
                    memcpy(sbuf, &flags, 4);
                    send_done = true;
                }
                stats->sent += slen - CHUNK_HEAD;
                mpi_rc =
                    MPI_Isend(sbuf, (int)slen, MPI_BYTE, dest, TAG_SPREAD, MPI_COMM_WORLD, &req[0]);
                if (mpi_rc != MPI_SUCCESS) break;
            }
            if (!recv_done) {
                MPI_Status st;
                mpi_rc = MPI_Probe(from, TAG_SPREAD, MPI_COMM_WORLD, &st);
                int n = 0;
                if (mpi_rc == MPI_SUCCESS) mpi_rc = MPI_Get_count(&st, MPI_BYTE, &n);
                if (mpi_rc == MPI_SUCCESS && (size_t)n > rcap) {
                    unsigned char *b = realloc(rbuf, (size_t)n);
                    if (b == NULL) { /* cannot receive it: drop it in pieces is not possible */
                        mpi_rc = MPI_ERR_NO_MEM;
                        break;
                    }
                    rbuf = b;
                    rcap = (size_t)n;
                }
                if (mpi_rc == MPI_SUCCESS)
                    mpi_rc =
                        MPI_Irecv(rbuf, n, MPI_BYTE, from, TAG_SPREAD, MPI_COMM_WORLD, &req[1]);
                if (mpi_rc != MPI_SUCCESS) break;
                mpi_rc = MPI_Waitall(2, req, MPI_STATUSES_IGNORE);
                if (mpi_rc != MPI_SUCCESS) break;
                uint32_t flags = 0, rpart = 0;
                if (n >= CHUNK_HEAD) {
                    memcpy(&flags, rbuf, 4);
                    memcpy(&rpart, rbuf + 4, 4);
                }
                recv_done = n < CHUNK_HEAD || (flags & FLAG_LAST) != 0;
                if (flags & FLAG_FAIL) stats->peer_failed = true;
                stats->received += (uint64_t)(n > CHUNK_HEAD ? n - CHUNK_HEAD : 0);
                if (!failed && n > CHUNK_HEAD && rpart >= parts) {
                    mrc_err_set(err, MRC_EINVAL, "shuffle: rank %d sent part %u of %zu", from,
                                (unsigned)rpart, parts);
                    failed = 1;
                }
                if (!failed && n > CHUNK_HEAD &&
                    mrc_chunk_store_append(store, (size_t)from * parts + rpart, rbuf + CHUNK_HEAD,
                                           (size_t)n - CHUNK_HEAD, err) != 0)
                    failed = 1;
            } else {
                mpi_rc = MPI_Waitall(2, req, MPI_STATUSES_IGNORE);
            }
        }
        if (c.src != NULL) c.src->close(c.src);
    }
    free(sbuf);
    free(rbuf);
    if (mpi_rc != MPI_SUCCESS) {
        mrc_chunk_store_close(store);
        return mrc_mpi_mpi_error(err, "the shuffle's exchange", mpi_rc);
    }
    if (failed) {
        mrc_chunk_store_close(store);
        return err->code ? err->code : MRC_EIO;
    }
    *out = store;
    return 0;
}

typedef struct hash_ranges {
    int P;
    mrc_table *const *tables;
    size_t ntables;
    const mrc_run_file *runs;
    size_t nruns, read_buf;
} hash_ranges;

static mrc_source *hash_range_open(int dest, size_t part, void *arg, mrc_err *err)
{
    (void)part;
    const hash_ranges *h = arg;
    uint64_t lo = mrc_hash_range_start((uint32_t)dest, (uint32_t)h->P);
    uint64_t hi =
        dest + 1 < h->P ? mrc_hash_range_start((uint32_t)dest + 1, (uint32_t)h->P) - 1 : UINT64_MAX;
    return range_stream(h->tables, h->ntables, h->runs, h->nruns, lo, hi, h->read_buf, err);
}

int mrc_mpi_shuffle_spilled(const mrc_mpi *d, mrc_table *const *tables, size_t ntables,
                            const mrc_run_file *runs, size_t nruns, const mrc_spread_opts *o,
                            mrc_chunk_store **out, mrc_spread_stats *stats, mrc_err *err)
{
    hash_ranges h = {d->size, tables, ntables, runs, nruns, o->read_buf};
    return exchange(d, hash_range_open, &h, 1, false, o, out, stats, err);
}

int mrc_mpi_exchange_ranges(const mrc_mpi *d,
                            mrc_source *(*open)(int dest, size_t part, void *arg, mrc_err *err),
                            void *arg, size_t parts, const mrc_spread_opts *o,
                            mrc_chunk_store **out, mrc_spread_stats *stats, mrc_err *err)
{
    return exchange(d, open, arg, parts, true, o, out, stats, err);
}
