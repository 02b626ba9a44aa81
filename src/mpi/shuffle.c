/* shuffle.c - the shuffle combine: every rank cuts its serialized table (sorted by hash) into
 * one contiguous hash range per rank, the ranges travel with MPI_Alltoallv (sizes first, then
 * data, in rounds when a buffer would pass 2 GiB; a rank's own range stays in place), and each
 * rank merges the runs of its own range with its pinned threads. The ranges in rank order are the
 * whole table sorted by hash, so gathering them to rank 0 is a concatenation. Allocation failures
 * are agreed on before any transfer: a rank never waits for data another rank could not send. */
#include <limits.h>
#include <mpi.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "mpi_internal.h"
#include "mrcount/mpi.h"
#include "mrcount/runtime.h"
#include "mrcount/table.h"

#define GATHER_CHUNK ((size_t)1 << 30) /* bytes per message of the gather */
#define TAG_GATHER 7

/* Bytes one Alltoallv round may move into or out of a rank: INT_MAX (MPI counts and
 * displacements are ints), or a small test value (the test hook MRC_TEST_SHUFFLE_ROUND, read in
 * cli/fault.c) so the tests exercise the rounds on small tables. */
static size_t round_cap(int nranks, size_t test_round)
{
    size_t cap = test_round >= 64 ? test_round : (size_t)INT_MAX;
    return cap < (size_t)nranks ? (size_t)nranks : cap;
}

/* Fill `all` (size ints) from size_t values that must fit in an int. */
static void to_ints(const size_t *v, int n, int *out)
{
    for (int i = 0; i < n; i++)
        out[i] = (int)v[i];
}

typedef struct exchange {
    int size;
    const unsigned char *send;
    size_t *scount, *sdispl; /* bytes to each rank and where they start in send */
    unsigned char *recv;
    size_t *rcount, *rdispl; /* bytes from each rank and where they go in recv */
    int *ic, *id, *jc, *jd;  /* int counts and displacements of one round */
} exchange;

/* One Alltoallv straight between the final buffers (everything fits the int limits). */
static int exchange_once(exchange *x, mrc_err *err)
{
    to_ints(x->scount, x->size, x->ic);
    to_ints(x->sdispl, x->size, x->id);
    to_ints(x->rcount, x->size, x->jc);
    to_ints(x->rdispl, x->size, x->jd);
    int rc = MPI_Alltoallv(x->send, x->ic, x->id, MPI_BYTE, x->recv, x->jc, x->jd, MPI_BYTE,
                           MPI_COMM_WORLD);
    return rc != MPI_SUCCESS ? mrc_mpi_mpi_error(err, "MPI_Alltoallv(table ranges)", rc) : 0;
}

/* Rounds through staging buffers: in round k each pair moves its bytes [k q, (k+1) q), so no
 * count or displacement of a round passes size * q <= the round cap. */
static int exchange_rounds(exchange *x, size_t q, uint64_t nrounds, int *aborted, mrc_err *err)
{
    size_t stage = (size_t)x->size * q;
    unsigned char *sbuf = malloc(stage), *rbuf = malloc(stage);
    int ok = sbuf != NULL && rbuf != NULL, all_ok = 0;
    int rc = MPI_Allreduce(&ok, &all_ok, 1, MPI_INT, MPI_LAND, MPI_COMM_WORLD);
    if (rc != MPI_SUCCESS || !all_ok) {
        free(sbuf);
        free(rbuf);
        if (rc != MPI_SUCCESS) return mrc_mpi_mpi_error(err, "MPI_Allreduce(staging)", rc);
        *aborted = 1; /* the failing rank reports; the others step aside */
        return ok ? 0
                  : mrc_err_set(err, MRC_ENOMEM, "shuffle: cannot allocate %zu bytes", 2 * stage);
    }
    for (uint64_t k = 0; k < nrounds && rc == MPI_SUCCESS; k++) {
        size_t from = (size_t)k * q, sp = 0, rp = 0;
        for (int r = 0; r < x->size; r++) {
            size_t sn = x->scount[r] > from ? x->scount[r] - from : 0;
            size_t rn = x->rcount[r] > from ? x->rcount[r] - from : 0;
            sn = sn < q ? sn : q;
            rn = rn < q ? rn : q;
            memcpy(sbuf + sp, x->send + x->sdispl[r] + from, sn);
            x->ic[r] = (int)sn;
            x->id[r] = (int)sp;
            x->jc[r] = (int)rn;
            x->jd[r] = (int)rp;
            sp += sn;
            rp += rn;
        }
        rc = MPI_Alltoallv(sbuf, x->ic, x->id, MPI_BYTE, rbuf, x->jc, x->jd, MPI_BYTE,
                           MPI_COMM_WORLD);
        for (int r = 0; rc == MPI_SUCCESS && r < x->size; r++)
            memcpy(x->recv + x->rdispl[r] + from, rbuf + x->jd[r], (size_t)x->jc[r]);
    }
    free(sbuf);
    free(rbuf);
    return rc != MPI_SUCCESS ? mrc_mpi_mpi_error(err, "MPI_Alltoallv(table ranges)", rc) : 0;
}

int mrc_mpi_exchange_bytes(int size, const unsigned char *send, size_t *scount, size_t *sdispl,
                           unsigned char *recv, size_t *rcount, size_t *rdispl, uint64_t volume,
                           uint64_t pair_max, size_t test_round, int *ints, int *aborted,
                           mrc_err *err)
{
    *aborted = 0;
    exchange x = {.size = size,
                  .send = send,
                  .scount = scount,
                  .sdispl = sdispl,
                  .recv = recv,
                  .rcount = rcount,
                  .rdispl = rdispl,
                  .ic = ints};
    x.id = x.ic + size;
    x.jc = x.ic + 2 * size;
    x.jd = x.ic + 3 * size;
    size_t cap = round_cap(size, test_round), q = cap / (size_t)size;
    return volume <= cap ? exchange_once(&x, err)
                         : exchange_rounds(&x, q, (pair_max + q - 1) / q, aborted, err);
}

void mrc_mpi_release_outside(void *buf, size_t keep_from, size_t keep_to, size_t len)
{
    long pg = sysconf(_SC_PAGESIZE);
    if (pg <= 0) return;
    uintptr_t page = (uintptr_t)pg, b = (uintptr_t)buf;
    uintptr_t lo = (b + page - 1) & ~(page - 1);       /* first whole page */
    uintptr_t keep_lo = (b + keep_from) & ~(page - 1); /* the kept range, by page */
    uintptr_t keep_hi = (b + keep_to + page - 1) & ~(page - 1);
    uintptr_t hi = (b + len) & ~(page - 1); /* end of the last whole page */
    if (keep_lo > lo) madvise((void *)lo, keep_lo - lo, MADV_DONTNEED);
    if (hi > keep_hi) madvise((void *)keep_hi, hi - keep_hi, MADV_DONTNEED);
}

typedef struct merged_inputs {
    unsigned char **recv;
    void **local;
} merged_inputs;

static void free_received(void *arg)
{
    merged_inputs *m = arg; /* every run is merged: the bytes are no longer needed */
    free(*m->recv);
    *m->recv = NULL;
    free(*m->local);
    *m->local = NULL;
}

int mrc_mpi_shuffle_tables(const mrc_mpi *d, void **local, size_t local_len, mrc_topo *topo,
                           const mrc_placement *pl, size_t test_round, void **range,
                           size_t *range_len, mrc_err *err)
{
    *range = NULL;
    *range_len = 0;
    int P = d->size, rc = 0;
    exchange x = {.size = P};
    uint64_t *bounds = calloc((size_t)P, sizeof *bounds);
    uint64_t *sc = calloc((size_t)P, sizeof *sc), *rcv = calloc((size_t)P, sizeof *rcv);
    x.scount = calloc((size_t)P + 1, sizeof *x.scount);
    x.sdispl = calloc((size_t)P + 1, sizeof *x.sdispl);
    x.rcount = calloc((size_t)P, sizeof *x.rcount);
    x.rdispl = calloc((size_t)P + 1, sizeof *x.rdispl);
    x.ic = calloc((size_t)P * 4, sizeof *x.ic);
    mrc_ser_run *runs = calloc((size_t)P, sizeof *runs);
    int mine_ok =
        bounds && sc && rcv && x.scount && x.sdispl && x.rcount && x.rdispl && x.ic && runs;
    if (!mine_ok) {
        rc = mrc_err_set(err, MRC_ENOMEM, "shuffle: out of memory");
    } else {
        for (int r = 0; r < P; r++)
            bounds[r] = mrc_hash_range_start((uint32_t)r, (uint32_t)P);
        const unsigned char *pl_bytes = (const unsigned char *)*local + MRC_SER_HEADER;
        mrc_ser_header h;
        mrc_ser_read_header(*local, &h);
        if (MRC_SER_HEADER + h.payload > local_len)
            rc = mrc_err_set(err, MRC_EINVAL, "shuffle: corrupt local table");
        else
            rc = mrc_ser_cut(pl_bytes, (size_t)h.payload, bounds, (size_t)P, x.sdispl, NULL, err);
        if (rc == 0) {
            x.send = pl_bytes;
            for (int r = 0; r < P; r++) {
                x.scount[r] = x.sdispl[r + 1] - x.sdispl[r];
                sc[r] = x.scount[r];
            }
            /* its own range stays where it is: the merge reads it from the local table */
            runs[d->rank] = (mrc_ser_run){pl_bytes + x.sdispl[d->rank], x.scount[d->rank]};
            x.scount[d->rank] = 0;
            sc[d->rank] = 0;
        }
        mine_ok = rc == 0;
    }
    /* Every rank agrees twice before data moves: after its cut, and after allocating what it
     * will receive. A failing rank keeps its message; the others return 0 and step aside. */
    int failed = !mine_ok;
    int mrc = MPI_Allreduce(MPI_IN_PLACE, &failed, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD);
    if (mrc != MPI_SUCCESS) {
        rc = mrc_mpi_mpi_error(err, "MPI_Allreduce(shuffle cut)", mrc);
        goto out;
    }
    if (failed) goto out;
    mrc = MPI_Alltoall(sc, 1, MPI_UINT64_T, rcv, 1, MPI_UINT64_T, MPI_COMM_WORLD);
    if (mrc != MPI_SUCCESS) {
        rc = mrc_mpi_mpi_error(err, "MPI_Alltoall(range sizes)", mrc);
        goto out;
    }
    uint64_t recv_total = 0, send_total = 0, pair_max = 0;
    for (int r = 0; r < P; r++) {
        x.rcount[r] = (size_t)rcv[r];
        x.rdispl[r] = (size_t)recv_total;
        recv_total += rcv[r];
        send_total += sc[r];
        pair_max = sc[r] > pair_max ? sc[r] : pair_max;
    }
    {
        x.recv = malloc((size_t)recv_total + 1);
        mrc_advise_huge(x.recv, (size_t)recv_total + 1);
        if (x.recv == NULL) {
            rc = mrc_err_set(err, MRC_ENOMEM, "shuffle: cannot allocate %llu bytes",
                             (unsigned long long)recv_total);
            mine_ok = 0;
        }
    }
    uint64_t agree[3] = {(uint64_t)!mine_ok, send_total > recv_total ? send_total : recv_total,
                         pair_max};
    mrc = MPI_Allreduce(MPI_IN_PLACE, agree, 3, MPI_UINT64_T, MPI_MAX, MPI_COMM_WORLD);
    if (mrc != MPI_SUCCESS) {
        rc = mrc_mpi_mpi_error(err, "MPI_Allreduce(shuffle plan)", mrc);
        goto out;
    }
    if (agree[0] != 0) goto out;
    int aborted = 0;
    rc = mrc_mpi_exchange_bytes(P, x.send, x.scount, x.sdispl, x.recv, x.rcount, x.rdispl, agree[1],
                                agree[2], test_round, x.ic, &aborted, err);
    if (rc != 0 || aborted) goto out;
    mrc_mpi_release_outside(*local, MRC_SER_HEADER + x.sdispl[d->rank],
                            MRC_SER_HEADER + x.sdispl[d->rank + 1], local_len);
    for (int r = 0; r < P; r++)
        if (r != d->rank) runs[r] = (mrc_ser_run){x.recv + x.rdispl[r], x.rcount[r]};
    merged_inputs mi = {&x.recv, local};
    mrc_merge_input in = {.runs = runs,
                          .nruns = (size_t)P,
                          .lo = bounds[d->rank],
                          .hi = d->rank + 1 < P ? bounds[d->rank + 1] - 1 : UINT64_MAX,
                          .inputs_done = free_received,
                          .inputs_done_arg = &mi};
    uint64_t distinct = 0;
    rc = mrc_table_merge_parallel(&in, topo, pl, range, range_len, &distinct, err);
out:
    free(x.recv);
    free(x.scount);
    free(x.sdispl);
    free(x.rcount);
    free(x.rdispl);
    free(x.ic);
    free(runs);
    free(bounds);
    free(sc);
    free(rcv);
    return rc;
}

int mrc_mpi_gather_table(const mrc_mpi *d, const void *table, void **result, size_t *result_len,
                         mrc_err *err)
{
    *result = NULL;
    *result_len = 0;
    unsigned char head[MRC_SER_HEADER];
    memcpy(head, table, MRC_SER_HEADER);
    unsigned char *heads = NULL;
    if (d->rank == 0) {
        heads = malloc((size_t)d->size * MRC_SER_HEADER);
        if (heads == NULL) return mrc_err_set(err, MRC_ENOMEM, "gather: out of memory");
    }
    int mrc = MPI_Gather(head, MRC_SER_HEADER, MPI_BYTE, heads, MRC_SER_HEADER, MPI_BYTE, 0,
                         MPI_COMM_WORLD);
    if (mrc != MPI_SUCCESS) {
        free(heads);
        return mrc_mpi_mpi_error(err, "MPI_Gather(range headers)", mrc);
    }
    unsigned char *out = NULL;
    size_t *at = NULL;
    int ok = 1;
    mrc_ser_header sum = {MRC_SER_MAGIC, MRC_SER_VERSION, 0, 0, 0, 0};
    if (d->rank == 0) {
        at = malloc((size_t)d->size * sizeof *at);
        for (int r = 0; at != NULL && r < d->size; r++) {
            mrc_ser_header h;
            mrc_ser_read_header(heads + (size_t)r * MRC_SER_HEADER, &h);
            at[r] = MRC_SER_HEADER + (size_t)sum.payload;
            sum.records += h.records;
            sum.payload += h.payload;
            sum.flags |= h.flags;
            sum.total = sum.total + h.total < sum.total ? UINT64_MAX : sum.total + h.total;
        }
        out = at != NULL ? malloc(MRC_SER_HEADER + (size_t)sum.payload) : NULL;
        ok = out != NULL;
    }
    free(heads);
    mrc = MPI_Bcast(&ok, 1, MPI_INT, 0, MPI_COMM_WORLD); /* nobody sends into a failed rank 0 */
    if (mrc != MPI_SUCCESS || !ok) {
        free(out);
        free(at);
        if (mrc != MPI_SUCCESS) return mrc_mpi_mpi_error(err, "MPI_Bcast(gather)", mrc);
        return d->rank == 0 ? mrc_err_set(err, MRC_ENOMEM, "gather: cannot allocate %llu bytes",
                                          (unsigned long long)sum.payload)
                            : 0;
    }
    mrc_ser_header mine;
    mrc_ser_read_header(table, &mine);
    const unsigned char *payload = (const unsigned char *)table + MRC_SER_HEADER;
    if (d->rank == 0) {
        mrc_ser_write_header(out, &sum);
        memcpy(out + at[0], payload, (size_t)mine.payload);
        for (int r = 1; r < d->size && mrc == MPI_SUCCESS; r++) {
            size_t n = (r + 1 < d->size ? at[r + 1] : MRC_SER_HEADER + (size_t)sum.payload) - at[r];
            for (size_t off = 0; off < n && mrc == MPI_SUCCESS; off += GATHER_CHUNK) {
                size_t k = n - off < GATHER_CHUNK ? n - off : GATHER_CHUNK;
                mrc = MPI_Recv(out + at[r] + off, (int)k, MPI_BYTE, r, TAG_GATHER, MPI_COMM_WORLD,
                               MPI_STATUS_IGNORE);
            }
        }
    } else {
        for (size_t off = 0; off < mine.payload && mrc == MPI_SUCCESS; off += GATHER_CHUNK) {
            size_t k =
                mine.payload - off < GATHER_CHUNK ? (size_t)mine.payload - off : GATHER_CHUNK;
            mrc = MPI_Send(payload + off, (int)k, MPI_BYTE, 0, TAG_GATHER, MPI_COMM_WORLD);
        }
    }
    free(at);
    if (mrc != MPI_SUCCESS) {
        free(out);
        return mrc_mpi_mpi_error(err, "MPI_Send/Recv(gather ranges)", mrc);
    }
    if (d->rank == 0) {
        *result = out;
        *result_len = MRC_SER_HEADER + (size_t)sum.payload;
    }
    return 0;
}

static void psample_op(void *in, void *inout, int *len, MPI_Datatype *type)
{
    (void)type;
    for (int i = 0; i < *len; i++)
        mrc_psample_merge((mrc_psample *)inout + i, (const mrc_psample *)in + i);
}

int mrc_mpi_psample_union(const mrc_mpi *d, mrc_psample *s, mrc_err *err)
{
    (void)d;
    MPI_Datatype type;
    MPI_Op op;
    int rc = MPI_Type_contiguous((int)sizeof *s, MPI_BYTE, &type);
    if (rc == MPI_SUCCESS) rc = MPI_Type_commit(&type);
    if (rc != MPI_SUCCESS) return mrc_mpi_mpi_error(err, "MPI_Type_contiguous(sample)", rc);
    rc = MPI_Op_create(psample_op, 1, &op);
    if (rc == MPI_SUCCESS) {
        rc = MPI_Allreduce(MPI_IN_PLACE, s, 1, type, op, MPI_COMM_WORLD);
        MPI_Op_free(&op);
    }
    MPI_Type_free(&type);
    return rc != MPI_SUCCESS ? mrc_mpi_mpi_error(err, "MPI_Allreduce(samples)", rc) : 0;
}

int mrc_mpi_hll_union(const mrc_mpi *d, mrc_hll *h, mrc_err *err)
{
    (void)d;
    int rc = MPI_Allreduce(MPI_IN_PLACE, h->reg, MRC_HLL_REGISTERS, MPI_UINT8_T, MPI_MAX,
                           MPI_COMM_WORLD);
    return rc != MPI_SUCCESS ? mrc_mpi_mpi_error(err, "MPI_Allreduce(sketches)", rc) : 0;
}
