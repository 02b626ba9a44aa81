/* reduce.c - the combine: every rank's serialized table, sorted by (hash, key), is merged into
 * rank 0's with MPI_Reduce and a commutative user MPI_Op. The whole table is one element of a
 * derived datatype, so no MPI implementation can cut a table into segments, and sizes past
 * 2 GiB are expressed in 1 MiB blocks. The operator never writes past its buffer. */
#include <limits.h>
#include <stdbool.h>
#include <mpi.h>
#include <stdlib.h>
#include <string.h>

#include "mpi_internal.h"
#include "mrcount/mpi.h"
#include "mrcount/table.h"

#define MRC_BLOCK ((size_t)1 << 20)

/* The capacity of the buffers of the reduce in progress (one reduce at a time per process). */
static size_t op_capacity;

static void merge_op(void *in, void *inout, int *len, MPI_Datatype *type)
{
    (void)type;
    for (int i = 0; i < *len; i++)
        mrc_ser_merge_into((unsigned char *)in + (size_t)i * op_capacity,
                           (unsigned char *)inout + (size_t)i * op_capacity, op_capacity);
}

/* Blocks are used past this size: INT_MAX, or a small test block (the test hook
 * MRC_TEST_REDUCE_BLOCK, read in cli/fault.c) so the tests exercise the >2 GiB path on small
 * tables. */
static size_t block_threshold(size_t test_block, size_t *block)
{
    if (test_block >= 64) {
        *block = test_block;
        return test_block;
    }
    *block = MRC_BLOCK;
    return (size_t)INT_MAX;
}

/* One element covering `cap` bytes: contiguous bytes under the threshold (2 GiB), a vector of
 * blocks beyond; cap is then a multiple of the block. */
static int table_type(size_t cap, size_t threshold, size_t blk, MPI_Datatype *type)
{
    if (cap <= threshold) {
        int rc = MPI_Type_contiguous((int)cap, MPI_BYTE, type);
        return rc != MPI_SUCCESS ? rc : MPI_Type_commit(type);
    }
    MPI_Datatype block;
    int rc = MPI_Type_contiguous((int)blk, MPI_BYTE, &block);
    if (rc == MPI_SUCCESS) rc = MPI_Type_contiguous((int)(cap / blk), block, type);
    if (rc == MPI_SUCCESS) rc = MPI_Type_commit(type);
    MPI_Type_free(&block);
    return rc;
}

int mrc_mpi_reduce_tables(const mrc_mpi *d, void **local, size_t local_len, uint64_t cap_hint,
                          size_t test_block, void **result, size_t *result_len, bool *too_small,
                          mrc_err *err)
{
    *result = NULL;
    *result_len = 0;
    *too_small = false;
    uint64_t sum = local_len, biggest = local_len;
    int rc = MPI_Allreduce(MPI_IN_PLACE, &sum, 1, MPI_UINT64_T, MPI_SUM, MPI_COMM_WORLD);
    if (rc == MPI_SUCCESS)
        rc = MPI_Allreduce(MPI_IN_PLACE, &biggest, 1, MPI_UINT64_T, MPI_MAX, MPI_COMM_WORLD);
    if (rc != MPI_SUCCESS) return mrc_mpi_mpi_error(err, "MPI_Allreduce(table sizes)", rc);
    size_t blk, threshold = block_threshold(test_block, &blk);
    /* The sum always fits the union; a smaller hint (never below the largest table) saves
     * memory and traffic, and a merge that does not fit it is reported as too_small. */
    if (cap_hint > 0 && cap_hint < sum) sum = cap_hint > biggest ? cap_hint : biggest;
    size_t cap = (size_t)sum;
    if (cap > threshold) cap = (cap + blk - 1) / blk * blk;
    /* The send buffer becomes the local table (MPI never writes a send buffer, so it is still
     * the local table afterwards, for a fall back). A larger one is a fresh buffer and a copy,
     * not a realloc(): the local merge's pages are huge, and moving them to an address of another
     * offset within 2 MiB splits every one (a 110 MB table: realloc 0.27 s, a fresh buffer and
     * the copy 0.13-0.17 s). Every rank allocates (or fails) before the collective: agree on
     * it first. */
    unsigned char *send = *local;
    if (cap > local_len) {
        send = malloc(cap);
        if (send != NULL) {
            mrc_advise_huge(send, cap);
            memcpy(send, *local, local_len);
            free(*local);
            *local = send;
        }
    }
    unsigned char *recv = d->rank == 0 ? malloc(cap) : NULL;
    int ok = send != NULL && (d->rank != 0 || recv != NULL), all_ok = 0;
    rc = MPI_Allreduce(&ok, &all_ok, 1, MPI_INT, MPI_LAND, MPI_COMM_WORLD);
    if (rc != MPI_SUCCESS || !all_ok) {
        free(recv);
        if (rc != MPI_SUCCESS) return mrc_mpi_mpi_error(err, "MPI_Allreduce(allocation)", rc);
        return mrc_err_set(err, MRC_ENOMEM, "combine: cannot allocate %zu bytes on some rank", cap);
    }
    memset(send + local_len, 0, cap - local_len);

    MPI_Datatype type;
    MPI_Op op;
    rc = table_type(cap, threshold, blk, &type);
    if (rc != MPI_SUCCESS) {
        free(recv);
        return mrc_mpi_mpi_error(err, "MPI_Type_contiguous(table)", rc);
    }
    rc = MPI_Op_create(merge_op, 1, &op);
    if (rc == MPI_SUCCESS) {
        op_capacity = cap;
        rc = MPI_Reduce(send, recv, 1, type, op, 0, MPI_COMM_WORLD);
        MPI_Op_free(&op);
    }
    MPI_Type_free(&type);
    if (rc != MPI_SUCCESS) {
        free(recv);
        return mrc_mpi_mpi_error(err, "MPI_Reduce(tables)", rc);
    }
    /* Rank 0 tells everyone whether the result fit, so all fall back together. */
    int fit = 1;
    if (d->rank == 0) {
        mrc_ser_header h0;
        mrc_ser_read_header(recv, &h0);
        fit = !(h0.flags & MRC_SER_FLAG_OVERFLOW);
    }
    rc = MPI_Bcast(&fit, 1, MPI_INT, 0, MPI_COMM_WORLD);
    if (rc != MPI_SUCCESS) {
        free(recv);
        return mrc_mpi_mpi_error(err, "MPI_Bcast(reduce fit)", rc);
    }
    if (!fit) {
        free(recv);
        *too_small = true;
        return 0;
    }
    if (d->rank != 0) return 0;
    mrc_ser_header h;
    mrc_ser_read_header(recv, &h);
    const char *why = NULL;
    if (h.flags & MRC_SER_FLAG_COUNT_OVERFLOW)
        why = "a count exceeds 2^64-1";
    else if (h.flags & MRC_SER_FLAG_OVERFLOW)
        why = "the merged table did not fit its buffer";
    else if (h.flags & MRC_SER_FLAG_CORRUPT)
        why = "a serialized table was corrupt";
    if (why != NULL && (h.flags & MRC_SER_FLAG_COUNT_OVERFLOW) &&
        !(h.flags & (MRC_SER_FLAG_OVERFLOW | MRC_SER_FLAG_CORRUPT))) {
        /* The merge saturates an overflowing count at 2^64-1: that record names the key. */
        const unsigned char *payload = (const unsigned char *)recv + MRC_SER_HEADER;
        size_t pos = 0;
        mrc_ser_rec rec;
        while (mrc_ser_next(payload, (size_t)h.payload, &pos, &rec) == 1)
            if (rec.count == UINT64_MAX) {
                char shown[MRC_KEY_SHOWN_BUF];
                mrc_err_set(err, MRC_EOVERFLOW, "combine: the count of key '%s' exceeds 2^64-1",
                            mrc_key_shown(rec.key, rec.len, shown));
                free(recv);
                return MRC_EOVERFLOW;
            }
    }
    if (why != NULL) {
        free(recv);
        return mrc_err_set(err, h.flags & MRC_SER_FLAG_COUNT_OVERFLOW ? MRC_EOVERFLOW : MRC_EIO,
                           "combine: %s", why);
    }
    *result = recv;
    *result_len = cap;
    return 0;
}
