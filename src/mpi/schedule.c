/* schedule.c - what crosses ranks while they map: for --schedule dynamic, the whole split plan
 * on every rank in pull order and a counter on rank 0 that ranks fetch-and-add through MPI-3
 * passive-target RMA to take the next split; for both schedules, the MPI_Iallreduce of progress
 * and failure that the main thread tests between its other work. Only the main thread calls in
 * (MPI_THREAD_FUNNELED). Every MPI error is returned as a value naming the call, never an abort:
 * the window gets MPI_ERRORS_RETURN, as windows default to fatal errors. */
#include <mpi.h>
#include <stdlib.h>
#include <string.h>

#include "mpi_internal.h"
#include "mrcount/mpi.h"

#define PLAN_BLOCK ((size_t)1 << 20) /* splits per broadcast: counts stay far below INT_MAX */

/* ---- the plan in pull order ---- */

static int cmp_file_offset(const void *pa, const void *pb)
{
    const mrc_split *a = pa, *b = pb;
    if (a->file != b->file) return a->file < b->file ? -1 : 1;
    return a->offset < b->offset ? -1 : a->offset > b->offset;
}

/* Rank 0's plan in pull order, into out (plan->n entries). A compressed file is one split that only
 * one thread can inflate, so the most work (not bytes: see mrc_split_work()) start first and finish
 * while the rest is shared out; plain splits follow in (file, offset) order, which keeps each file
 * read forwards and hands its pieces to any one thread in offset order. */
static void pull_order(const mrc_file_list *files, const mrc_split_plan *plan, mrc_split *out)
{
    size_t ngz = 0;
    for (size_t i = 0; i < plan->n; i++)
        if (files->files[plan->splits[i].file].codec != MRC_CODEC_NONE)
            out[ngz++] = plan->splits[i];
    size_t k = ngz;
    for (size_t i = 0; i < plan->n; i++)
        if (files->files[plan->splits[i].file].codec == MRC_CODEC_NONE) out[k++] = plan->splits[i];
    qsort_r(out, ngz, sizeof *out, mrc_split_cmp_most_work, (void *)files);
    qsort(out + ngz, plan->n - ngz, sizeof *out, cmp_file_offset);
}

int mrc_mpi_bcast_plan(const mrc_mpi *d, const mrc_file_list *files, const mrc_split_plan *plan,
                       mrc_split **all, size_t *n, mrc_err *err)
{
    *all = NULL;
    *n = 0;
    uint64_t count = d->rank == 0 ? plan->n : 0;
    MRC_MPI_CHECK(MPI_Bcast(&count, 1, MPI_UINT64_T, 0, MPI_COMM_WORLD), err);
    mrc_split *splits =
        count < SIZE_MAX / sizeof *splits ? malloc((count + 1) * sizeof *splits) : NULL;
    /* Every rank learns whether every rank has the memory, so none waits in a broadcast alone. */
    int ok = splits != NULL, all_ok = 0;
    MRC_MPI_CHECK(MPI_Allreduce(&ok, &all_ok, 1, MPI_INT, MPI_MIN, MPI_COMM_WORLD), err);
    if (!all_ok) {
        free(splits);
        return mrc_err_set(err, MRC_ENOMEM, "split plan: out of memory for %llu splits",
                           (unsigned long long)count);
    }
    if (d->rank == 0) pull_order(files, plan, splits);
    MPI_Datatype split_type;
    MRC_MPI_CHECK(MPI_Type_contiguous((int)sizeof(mrc_split), MPI_BYTE, &split_type), err);
    int rc = MPI_Type_commit(&split_type);
    for (size_t at = 0; rc == MPI_SUCCESS && at < count; at += PLAN_BLOCK) {
        size_t len = count - at < PLAN_BLOCK ? count - at : PLAN_BLOCK;
        rc = MPI_Bcast(splits + at, (int)len, split_type, 0, MPI_COMM_WORLD);
    }
    MPI_Type_free(&split_type);
    if (rc != MPI_SUCCESS) {
        free(splits);
        return mrc_mpi_mpi_error(err, "MPI_Bcast(split plan)", rc);
    }
    *all = splits;
    *n = (size_t)count;
    return 0;
}

/* ---- the counter on rank 0 ---- */

struct mrc_mpi_counter {
    MPI_Win win;
};

int mrc_mpi_counter_open(const mrc_mpi *d, mrc_mpi_counter **out, mrc_err *err)
{
    *out = NULL;
    mrc_mpi_counter *c = calloc(1, sizeof *c);
    int ok = c != NULL, all_ok = 0;
    int rc = MPI_Allreduce(&ok, &all_ok, 1, MPI_INT, MPI_MIN, MPI_COMM_WORLD);
    if (rc != MPI_SUCCESS || !all_ok) {
        free(c);
        if (rc != MPI_SUCCESS) return mrc_mpi_mpi_error(err, "MPI_Allreduce(counter)", rc);
        return mrc_err_set(err, MRC_ENOMEM, "split counter: out of memory");
    }
    uint64_t *value = NULL;
    MPI_Aint size = d->rank == 0 ? (MPI_Aint)sizeof *value : 0;
    rc = MPI_Win_allocate(size, (int)sizeof *value, MPI_INFO_NULL, MPI_COMM_WORLD, &value, &c->win);
    if (rc != MPI_SUCCESS) {
        free(c);
        return mrc_mpi_mpi_error(err, "MPI_Win_allocate(counter)", rc);
    }
    *out = c; /* from here on the window exists on every rank: mrc_mpi_counter_close() frees it */
    MRC_MPI_CHECK(MPI_Win_set_errhandler(c->win, MPI_ERRORS_RETURN), err);
    /* One passive-target epoch for the whole map phase: each fetch is then a single call. */
    MRC_MPI_CHECK(MPI_Win_lock_all(MPI_MODE_NOCHECK, c->win), err);
    if (d->rank == 0) {
        *value = 0;
        MRC_MPI_CHECK(MPI_Win_sync(c->win), err); /* the store, visible to RMA (separate model) */
    }
    MRC_MPI_CHECK(MPI_Barrier(MPI_COMM_WORLD), err); /* no fetch before rank 0 stored 0 */
    return 0;
}

int mrc_mpi_counter_next(mrc_mpi_counter *c, uint64_t *value, mrc_err *err)
{
    const uint64_t one = 1;
    MRC_MPI_CHECK(MPI_Fetch_and_op(&one, value, MPI_UINT64_T, 0, 0, MPI_SUM, c->win), err);
    MRC_MPI_CHECK(MPI_Win_flush(0, c->win), err);
    return 0;
}

int mrc_mpi_counter_close(mrc_mpi_counter *c, mrc_err *err)
{
    if (c == NULL) return 0;
    int rc = MPI_Win_unlock_all(c->win);
    int frc = MPI_Win_free(&c->win);
    free(c);
    if (rc != MPI_SUCCESS) return mrc_mpi_mpi_error(err, "MPI_Win_unlock_all(counter)", rc);
    if (frc != MPI_SUCCESS) return mrc_mpi_mpi_error(err, "MPI_Win_free(counter)", frc);
    return 0;
}

/* ---- progress without stalling: MPI_Iallreduce, tested ---- */

struct mrc_mpi_iprogress {
    uint64_t mine[3], sums[3]; /* MPI reads and writes them until the request completes */
    MPI_Request req;
};

int mrc_mpi_iprogress_open(mrc_mpi_iprogress **out, mrc_err *err)
{
    *out = calloc(1, sizeof **out);
    if (*out == NULL) return mrc_err_set(err, MRC_ENOMEM, "progress exchange: out of memory");
    (*out)->req = MPI_REQUEST_NULL;
    return 0;
}

int mrc_mpi_iprogress_start(mrc_mpi_iprogress *p, int failed, int mapping, uint64_t bytes,
                            mrc_err *err)
{
    if (p->req != MPI_REQUEST_NULL)
        return mrc_err_set(err, MRC_EINVAL, "progress exchange: started twice");
    p->mine[0] = failed != 0;
    p->mine[1] = mapping != 0;
    p->mine[2] = bytes;
    MRC_MPI_CHECK(
        MPI_Iallreduce(p->mine, p->sums, 3, MPI_UINT64_T, MPI_SUM, MPI_COMM_WORLD, &p->req), err);
    return 0;
}

int mrc_mpi_iprogress_test(mrc_mpi_iprogress *p, bool *ready, uint64_t sums[3], mrc_err *err)
{
    int flag = 0;
    *ready = false;
    if (p->req == MPI_REQUEST_NULL)
        return mrc_err_set(err, MRC_EINVAL, "progress exchange: tested before it started");
    MRC_MPI_CHECK(MPI_Test(&p->req, &flag, MPI_STATUS_IGNORE), err);
    if (flag) {
        memcpy(sums, p->sums, sizeof p->sums);
        *ready = true;
    }
    return 0;
}

void mrc_mpi_iprogress_close(mrc_mpi_iprogress *p)
{
    /* A collective request cannot be freed or cancelled, and MPI may still write its buffers:
     * after an MPI error left one in flight, keep the memory rather than free it under MPI. */
    if (p != NULL && p->req == MPI_REQUEST_NULL) free(p);
}
