/* dist.c - start-up, agreement and data movement between ranks: node-local cpuset sharing,
 * the file table broadcast, the scatter of split descriptors (never file bytes), the periodic
 * progress/failure exchange. Every MPI error is returned as a value naming the call. */
#include <limits.h>
#include <mpi.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "mpi_internal.h"
#include "mrcount/mpi.h"

static MPI_Comm node_comm = MPI_COMM_NULL;

int mrc_mpi_mpi_error(mrc_err *err, const char *call, int rc)
{
    char msg[MPI_MAX_ERROR_STRING];
    int len = 0;
    if (MPI_Error_string(rc, msg, &len) != MPI_SUCCESS) len = 0;
    msg[len] = '\0';
    const char *paren = strchr(call, '(');
    int name_len = paren ? (int)(paren - call) : (int)strlen(call);
    return mrc_err_set(err, MRC_EMPI, "%.*s failed: %s", name_len, call, msg);
}

static bool env_is(const char *name, const char *value)
{
    const char *v = getenv(name);
    return v != NULL && value != NULL && strcmp(v, value) == 0;
}

/* Ranks that are all on this node need no network fabric: Open MPI's ob1 PML over shared
 * memory carries everything, and choosing it up front skips the ~0.2 s MPI_Init otherwise
 * spends probing fabric libraries (psm, psm2, ofi, ucx) for hardware one node does not use.
 * Only when the user chose no PML and every rank is known to be here: a singleton, mpirun with
 * all ranks local, a one-node srun step. Ranks on several nodes must all make the same choice,
 * so they are left to the site's configuration. @return whether ob1 was chosen. */
static bool prefer_node_local_pml(void)
{
    if (getenv("OMPI_MCA_pml") != NULL) return false;
    bool one_node;
    if (getenv("OMPI_COMM_WORLD_SIZE") != NULL) /* mpirun */
        one_node = env_is("OMPI_COMM_WORLD_LOCAL_SIZE", getenv("OMPI_COMM_WORLD_SIZE"));
    else if (getenv("PMIX_RANK") != NULL || getenv("PMI_RANK") != NULL) /* direct launch */
        one_node = env_is("SLURM_STEP_NUM_NODES", "1");
    else /* a singleton */
        one_node = true;
    return one_node && setenv("OMPI_MCA_pml", "ob1", 0) == 0;
}

int mrc_mpi_init(int *argc, char ***argv, mrc_mpi *d, mrc_err *err)
{
    int provided = 0;
    memset(d, 0, sizeof *d);
    d->node_local_pml = prefer_node_local_pml();
    MRC_MPI_CHECK(MPI_Init_thread(argc, argv, MPI_THREAD_FUNNELED, &provided), err);
    /* Open MPI's PMIx client talks to mpirun over loopback TCP without TCP_NODELAY: the fence
     * of MPI_Finalize then sat 37 ms in the socket waiting for the server's delayed ACK (strace).
     * A bare MPI_Init + MPI_Finalize under mpirun -np 1 on the 2-core VM: MPI_Finalize 44-55 ms,
     * 2.7-3.7 ms with the option set here. Under srun the PMIx socket is a Unix one: nothing. */
    (void)mrc_tcp_nodelay_all();
    MRC_MPI_CHECK(MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN), err);
    MRC_MPI_CHECK(MPI_Comm_rank(MPI_COMM_WORLD, &d->rank), err);
    MRC_MPI_CHECK(MPI_Comm_size(MPI_COMM_WORLD, &d->size), err);
    MRC_MPI_CHECK(MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, d->rank, MPI_INFO_NULL,
                                      &node_comm),
                  err);
    MRC_MPI_CHECK(MPI_Comm_set_errhandler(node_comm, MPI_ERRORS_RETURN), err);
    MRC_MPI_CHECK(MPI_Comm_rank(node_comm, &d->node_rank), err);
    MRC_MPI_CHECK(MPI_Comm_size(node_comm, &d->node_size), err);
    if (gethostname(d->host, sizeof d->host) != 0) strcpy(d->host, "?");
    d->host[sizeof d->host - 1] = '\0';
    if (provided < MPI_THREAD_FUNNELED)
        return mrc_err_set(err, MRC_EMPI, "MPI_Init_thread: MPI_THREAD_FUNNELED not provided");
    return 0;
}

void mrc_mpi_finalize(void)
{
    if (node_comm != MPI_COMM_NULL) MPI_Comm_free(&node_comm);
    MPI_Finalize();
}

void mrc_mpi_abort(int code)
{
    MPI_Abort(MPI_COMM_WORLD, code);
}

/* The node's non-empty cpusets joined by commas: itself a PU list, of their union. */
static char *join_cpusets(const char *all, const int *displs, int n, size_t total)
{
    char *u = malloc(total + 1), *p = u;
    if (u == NULL) return NULL;
    for (int i = 0; i < n; i++) {
        const char *s = all + displs[i];
        size_t len = strlen(s);
        if (len == 0) continue;
        if (p != u) *p++ = ',';
        memcpy(p, s, len);
        p += len;
    }
    *p = '\0';
    return u;
}

int mrc_mpi_share(const mrc_mpi *d, const char *cpuset, size_t *index, size_t *count,
                  char **node_union, mrc_err *err)
{
    (void)d;
    int n = 0, me = 0;
    MRC_MPI_CHECK(MPI_Comm_size(node_comm, &n), err);
    MRC_MPI_CHECK(MPI_Comm_rank(node_comm, &me), err);
    int len = (int)strlen(cpuset) + 1;
    int *lens = calloc((size_t)n, sizeof *lens);
    int *displs = calloc((size_t)n, sizeof *displs);
    if (lens == NULL || displs == NULL) {
        free(lens);
        free(displs);
        return mrc_err_set(err, MRC_ENOMEM, "cpuset exchange: out of memory");
    }
    int rc = MPI_Allgather(&len, 1, MPI_INT, lens, 1, MPI_INT, node_comm);
    char *all = NULL;
    if (rc == MPI_SUCCESS) {
        int total = 0;
        for (int i = 0; i < n; i++) {
            displs[i] = total;
            total += lens[i];
        }
        all = malloc((size_t)total);
        if (all == NULL) {
            free(lens);
            free(displs);
            return mrc_err_set(err, MRC_ENOMEM, "cpuset exchange: out of memory");
        }
        rc = MPI_Allgatherv(cpuset, len, MPI_CHAR, all, lens, displs, MPI_CHAR, node_comm);
    }
    if (rc == MPI_SUCCESS) {
        size_t idx = 0, cnt = 0;
        for (int i = 0; i < n; i++)
            if (strcmp(all + displs[i], cpuset) == 0) {
                if (i < me) idx++;
                cnt++;
            }
        *index = idx;
        *count = cnt;
    }
    char *u = NULL;
    if (rc == MPI_SUCCESS && node_union != NULL)
        u = join_cpusets(all, displs, n, (size_t)displs[n - 1] + (size_t)lens[n - 1]);
    free(all);
    free(lens);
    free(displs);
    if (rc != MPI_SUCCESS) return mrc_mpi_mpi_error(err, "MPI_Allgather(cpusets)", rc);
    if (node_union != NULL && u == NULL)
        return mrc_err_set(err, MRC_ENOMEM, "cpuset exchange: out of memory");
    if (node_union != NULL) *node_union = u;
    return 0;
}

int mrc_mpi_agree(const mrc_mpi *d, int status, mrc_err *err)
{
    /* the lowest rank whose error is its own; else the lowest that relays one */
    int mine = status == 0 ? 2 * d->size : err->relayed ? d->size + d->rank : d->rank;
    int lowest = 2 * d->size;
    MRC_MPI_CHECK(MPI_Allreduce(&mine, &lowest, 1, MPI_INT, MPI_MIN, MPI_COMM_WORLD), err);
    if (lowest == 2 * d->size) return 0;
    int first = lowest % d->size;
    mrc_err msg = {0};
    if (d->rank == first) {
        msg = *err;
        if (msg.code == 0) msg.code = status;
        if (d->size > 1) {
            char tmp[MRC_ERR_MSG_MAX];
            memcpy(tmp, msg.msg, sizeof tmp);
            int n = snprintf(msg.msg, sizeof msg.msg, "rank %d: ", first);
            if (n > 0 && (size_t)n < sizeof msg.msg)
                memcpy(msg.msg + n, tmp, sizeof msg.msg - (size_t)n - 1);
            msg.msg[sizeof msg.msg - 1] = '\0';
        }
    }
    MRC_MPI_CHECK(MPI_Bcast(&msg, (int)sizeof msg, MPI_BYTE, first, MPI_COMM_WORLD), err);
    *err = msg;
    return msg.code != 0 ? msg.code : MRC_EIO;
}

/* Broadcast a byte buffer of any size (in pieces under INT_MAX). */
static int bcast_bytes(void *buf, uint64_t len, mrc_err *err)
{
    unsigned char *p = buf;
    while (len > 0) {
        int n = len > (uint64_t)(INT_MAX / 2) ? INT_MAX / 2 : (int)len;
        MRC_MPI_CHECK(MPI_Bcast(p, n, MPI_BYTE, 0, MPI_COMM_WORLD), err);
        p += n;
        len -= (uint64_t)n;
    }
    return 0;
}

int mrc_mpi_bcast_string(const mrc_mpi *d, char **s, mrc_err *err)
{
    uint64_t len = d->rank == 0 && *s != NULL ? strlen(*s) : 0;
    MRC_MPI_CHECK(MPI_Bcast(&len, 1, MPI_UINT64_T, 0, MPI_COMM_WORLD), err);
    if (d->rank != 0) {
        free(*s);
        *s = len < SIZE_MAX ? malloc((size_t)len + 1) : NULL;
    }
    /* every rank learns whether every rank has the memory, so none waits in a broadcast alone */
    int ok = *s != NULL || len == 0, all_ok = 0;
    MRC_MPI_CHECK(MPI_Allreduce(&ok, &all_ok, 1, MPI_INT, MPI_MIN, MPI_COMM_WORLD), err);
    if (!all_ok)
        return mrc_err_set(err, MRC_ENOMEM, "broadcast of %llu bytes: out of memory",
                           (unsigned long long)len);
    if (len == 0) {
        if (*s != NULL) (*s)[0] = '\0';
        return 0;
    }
    int rc = bcast_bytes(*s, len, err);
    if (rc == 0) (*s)[len] = '\0';
    return rc;
}

int mrc_mpi_bcast_files(const mrc_mpi *d, mrc_file_list *files, mrc_err *err)
{
    uint64_t len = 0;
    unsigned char *buf = NULL;
    if (d->rank == 0) {
        len = 8;
        for (size_t i = 0; i < files->n; i++)
            len += 8 + 1 + 4 + strlen(files->files[i].path);
        buf = malloc(len);
        if (buf == NULL) return mrc_err_set(err, MRC_ENOMEM, "file table: out of memory");
        unsigned char *p = buf;
        uint64_t n = files->n;
        memcpy(p, &n, 8);
        p += 8;
        for (size_t i = 0; i < files->n; i++) {
            const mrc_file *f = &files->files[i];
            uint32_t pl = (uint32_t)strlen(f->path);
            memcpy(p, &f->size, 8);
            p[8] = f->codec;
            memcpy(p + 9, &pl, 4);
            memcpy(p + 13, f->path, pl);
            p += 13 + pl;
        }
    }
    MRC_MPI_CHECK(MPI_Bcast(&len, 1, MPI_UINT64_T, 0, MPI_COMM_WORLD), err);
    if (d->rank != 0) {
        buf = malloc(len);
        if (buf == NULL) return mrc_err_set(err, MRC_ENOMEM, "file table: out of memory");
    }
    int rc = bcast_bytes(buf, len, err);
    if (rc != 0 || d->rank == 0) {
        free(buf);
        return rc;
    }
    uint64_t n;
    memcpy(&n, buf, 8);
    memset(files, 0, sizeof *files);
    files->files = calloc(n + 1, sizeof *files->files);
    if (files->files == NULL) {
        free(buf);
        return mrc_err_set(err, MRC_ENOMEM, "file table: out of memory");
    }
    files->cap = n + 1;
    const unsigned char *p = buf + 8;
    for (uint64_t i = 0; i < n; i++) {
        mrc_file *f = &files->files[i];
        uint32_t pl;
        memcpy(&f->size, p, 8);
        f->codec = p[8];
        memcpy(&pl, p + 9, 4);
        f->path = strndup((const char *)p + 13, pl);
        if (f->path == NULL) {
            free(buf);
            return mrc_err_set(err, MRC_ENOMEM, "file table: out of memory");
        }
        files->n++;
        files->total_bytes += f->size;
        p += 13 + pl;
    }
    free(buf);
    return 0;
}

int mrc_mpi_scatter_splits(const mrc_mpi *d, const mrc_split_plan *plan, mrc_split **mine,
                           size_t *n, mrc_err *err)
{
    MPI_Datatype split_type;
    MRC_MPI_CHECK(MPI_Type_contiguous((int)sizeof(mrc_split), MPI_BYTE, &split_type), err);
    MRC_MPI_CHECK(MPI_Type_commit(&split_type), err);
    int *counts = NULL, *displs = NULL, count = 0;
    if (d->rank == 0) {
        counts = calloc((size_t)d->size, sizeof *counts);
        displs = calloc((size_t)d->size, sizeof *displs);
        if (counts == NULL || displs == NULL) {
            free(counts);
            free(displs);
            MPI_Type_free(&split_type);
            return mrc_err_set(err, MRC_ENOMEM, "split scatter: out of memory");
        }
        for (int r = 0; r < d->size; r++) {
            counts[r] = (int)(plan->first[r + 1] - plan->first[r]);
            displs[r] = (int)plan->first[r];
        }
    }
    int rc = MPI_Scatter(counts, 1, MPI_INT, &count, 1, MPI_INT, 0, MPI_COMM_WORLD);
    *mine = malloc(((size_t)count + 1) * sizeof **mine);
    if (rc == MPI_SUCCESS && *mine != NULL)
        rc = MPI_Scatterv(d->rank == 0 ? plan->splits : NULL, counts, displs, split_type, *mine,
                          count, split_type, 0, MPI_COMM_WORLD);
    free(counts);
    free(displs);
    MPI_Type_free(&split_type);
    if (*mine == NULL) return mrc_err_set(err, MRC_ENOMEM, "split scatter: out of memory");
    if (rc != MPI_SUCCESS) return mrc_mpi_mpi_error(err, "MPI_Scatterv(splits)", rc);
    *n = (size_t)count;
    return 0;
}

int mrc_mpi_sum_u64(const mrc_mpi *d, uint64_t *v, size_t n, mrc_err *err)
{
    (void)d;
    MRC_MPI_CHECK(MPI_Allreduce(MPI_IN_PLACE, v, (int)n, MPI_UINT64_T, MPI_SUM, MPI_COMM_WORLD),
                  err);
    return 0;
}

int mrc_mpi_max_u64(const mrc_mpi *d, uint64_t *v, size_t n, mrc_err *err)
{
    (void)d;
    MRC_MPI_CHECK(MPI_Allreduce(MPI_IN_PLACE, v, (int)n, MPI_UINT64_T, MPI_MAX, MPI_COMM_WORLD),
                  err);
    return 0;
}

int mrc_mpi_gather_doubles(const mrc_mpi *d, const double *mine, size_t n, double *all,
                           mrc_err *err)
{
    (void)d;
    MRC_MPI_CHECK(MPI_Gather(mine, (int)n, MPI_DOUBLE, all, (int)n, MPI_DOUBLE, 0, MPI_COMM_WORLD),
                  err);
    return 0;
}

int mrc_mpi_gather_bytes(const mrc_mpi *d, const void *mine, size_t len, void **all,
                         size_t **lens_out, mrc_err *err)
{
    *all = NULL;
    if (lens_out != NULL) *lens_out = NULL;
    if (len > INT_MAX)
        return mrc_err_set(err, MRC_EOVERFLOW, "gather: %zu bytes from one rank", len);
    int n = (int)len, *lens = NULL, *displs = NULL;
    unsigned char *buf = NULL;
    int ok = 1; /* rank 0 could allocate; others pass a NULL receive buffer, which is unused */
    if (d->rank == 0) {
        lens = calloc((size_t)d->size, sizeof *lens);
        displs = calloc((size_t)d->size, sizeof *displs);
        ok = lens != NULL && displs != NULL;
    }
    int rc = MPI_Bcast(&ok, 1, MPI_INT, 0, MPI_COMM_WORLD); /* keep ranks in step on failure */
    if (rc == MPI_SUCCESS && !ok) {
        free(lens);
        free(displs);
        return mrc_err_set(err, MRC_ENOMEM, "gather: out of memory");
    }
    if (rc == MPI_SUCCESS) rc = MPI_Gather(&n, 1, MPI_INT, lens, 1, MPI_INT, 0, MPI_COMM_WORLD);
    if (rc == MPI_SUCCESS && d->rank == 0) {
        long long total = 0;
        for (int r = 0; r < d->size; r++) {
            displs[r] = (int)total;
            total += lens[r];
        }
        ok = total <= INT_MAX && (buf = malloc((size_t)total + 1)) != NULL;
    }
    if (rc == MPI_SUCCESS) rc = MPI_Bcast(&ok, 1, MPI_INT, 0, MPI_COMM_WORLD);
    if (rc == MPI_SUCCESS && ok)
        rc = MPI_Gatherv(mine, n, MPI_BYTE, buf, lens, displs, MPI_BYTE, 0, MPI_COMM_WORLD);
    free(displs);
    if (rc != MPI_SUCCESS || !ok) {
        free(buf);
        free(lens);
        if (rc != MPI_SUCCESS) return mrc_mpi_mpi_error(err, "MPI_Gatherv(bytes)", rc);
        return mrc_err_set(err, MRC_ENOMEM, "gather: out of memory or over 2 GiB");
    }
    if (d->rank == 0) {
        *all = buf;
        if (lens_out != NULL) {
            size_t *l = malloc((size_t)d->size * sizeof *l);
            if (l == NULL) {
                free(buf);
                free(lens);
                *all = NULL;
                return mrc_err_set(err, MRC_ENOMEM, "gather: out of memory");
            }
            for (int r = 0; r < d->size; r++)
                l[r] = (size_t)lens[r];
            *lens_out = l;
        }
    }
    free(lens);
    return 0;
}

int mrc_mpi_gather_strings(const mrc_mpi *d, const char *mine, char ***all, mrc_err *err)
{
    void *buf = NULL;
    size_t *lens = NULL;
    *all = NULL;
    int rc = mrc_mpi_gather_bytes(d, mine, strlen(mine) + 1, &buf, &lens, err);
    if (rc != 0 || d->rank != 0) return rc;
    char **v = calloc((size_t)d->size, sizeof *v);
    size_t off = 0;
    for (int r = 0; v != NULL && r < d->size; r++) {
        v[r] = strdup((const char *)buf + off);
        off += lens[r];
    }
    free(buf);
    free(lens);
    *all = v;
    return 0;
}

static int cmp_bad_file(const void *a, const void *b)
{
    const mrc_bad_file *x = a, *y = b;
    return x->file < y->file ? -1 : x->file > y->file;
}

int mrc_mpi_gather_bad(const mrc_mpi *d, const mrc_map_stats *st, const mrc_file_list *files,
                       mrc_bad_report *out, mrc_err *err)
{
    void *fbuf = NULL, *sbuf = NULL;
    size_t *flens = NULL, *slens = NULL;
    memset(out, 0, sizeof *out);
    int rc = mrc_mpi_gather_bytes(d, st->bad_files, st->nbad_files * sizeof *st->bad_files, &fbuf,
                                  &flens, err);
    if (rc == 0)
        rc = mrc_mpi_gather_bytes(d, st->bad_samples, st->nbad_samples * sizeof *st->bad_samples,
                                  &sbuf, &slens, err);
    if (rc == 0 && d->rank == 0) {
        size_t nf = 0, ns = 0;
        for (int k = 0; k < d->size; k++) {
            nf += flens[k] / sizeof(mrc_bad_file);
            ns += slens[k] / sizeof(mrc_bad_sample);
        }
        mrc_bad_file *bf = fbuf;
        if (nf > 1) qsort(bf, nf, sizeof *bf, cmp_bad_file);
        size_t k = 0;
        for (size_t i = 0; i < nf; i++) {
            if (k > 0 && bf[k - 1].file == bf[i].file)
                bf[k - 1].count += bf[i].count;
            else
                bf[k++] = bf[i];
        }
        ns = mrc_bad_samples_first(sbuf, ns);
        rc = mrc_bad_report_make(out, bf, k, sbuf, ns, files, err);
    }
    free(fbuf);
    free(sbuf);
    free(flens);
    free(slens);
    return rc;
}
