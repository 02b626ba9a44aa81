/* shared.c - whether the ranks can all write the one result file that rank 0 made: rank 0 puts
 * a random mark at its start and names it; every other rank must open that name and read the
 * same mark. A path on a node-local disk (each node its own /tmp) names another file, or none,
 * on another node: then nobody writes in place and rank 0 writes every line itself. */
#include <fcntl.h>
#include <mpi.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "mpi_internal.h"
#include "mrcount/mpi.h"

#define MARK_LEN 16

static void make_mark(unsigned char mark[MARK_LEN])
{
    if (getrandom(mark, MARK_LEN, GRND_NONBLOCK) == MARK_LEN) return;
    struct timespec ts; /* no entropy yet (early boot): unique enough for one run's file */
    clock_gettime(CLOCK_REALTIME, &ts);
    uint64_t a = (uint64_t)ts.tv_nsec ^ ((uint64_t)getpid() << 32), b = (uint64_t)ts.tv_sec;
    memcpy(mark, &a, sizeof a);
    memcpy(mark + sizeof a, &b, sizeof b);
}

/* Rank 0: its mark at the file's start, where every rank can read it. @return 1 or 0. */
static int put_mark(const mrc_mpi *d, int fd, unsigned char mark[MARK_LEN])
{
    if (fd < 0) return 0;
    make_mark(mark); /* the lines overwrite it, or the file is cut to their length after */
    if (pwrite(fd, mark, MARK_LEN, 0) != MARK_LEN) return 0;
    /* ranks of other nodes read it from the file system's server, not from this page cache */
    return d->node_size == d->size || fdatasync(fd) == 0;
}

/* Another rank: a descriptor for writing the file `name`, if it holds the mark. @return it or
 * -1. Read through a descriptor of its own: the writer's never reads (NFS would read pages
 * that it only partly writes). */
static int open_marked(const char *name, const unsigned char mark[MARK_LEN])
{
    unsigned char seen[MARK_LEN];
    int rfd = open(name, O_RDONLY | O_CLOEXEC);
    if (rfd < 0) return -1;
    ssize_t n = pread(rfd, seen, MARK_LEN, 0);
    close(rfd);
    if (n != MARK_LEN || memcmp(seen, mark, MARK_LEN) != 0) return -1;
    return open(name, O_WRONLY | O_CLOEXEC);
}

int mrc_mpi_share_file(const mrc_mpi *d, int fd0, const char *name, bool refuse, int *fd,
                       uint64_t *page, mrc_err *err)
{
    *fd = -1;
    *page = 0;
    unsigned char mark[MARK_LEN] = {0};
    int ok = 1;
    char *s = NULL;
    if (d->rank == 0) {
        ok = name != NULL && !refuse && put_mark(d, fd0, mark);
        if ((s = strdup(ok ? name : "")) == NULL) ok = 0;
    }
    int rc = mrc_mpi_bcast_string(d, &s, err);
    if (rc == 0) {
        int mrc = MPI_Bcast(mark, MARK_LEN, MPI_BYTE, 0, MPI_COMM_WORLD);
        if (mrc != MPI_SUCCESS) rc = mrc_mpi_mpi_error(err, "MPI_Bcast(result file)", mrc);
    }
    if (rc == 0 && d->rank != 0) ok = !refuse && s[0] != '\0' && (*fd = open_marked(s, mark)) >= 0;
    free(s);
    long pg = sysconf(_SC_PAGESIZE);
    int mine[2] = {rc == 0 && ok ? 0 : 1, pg > 0 && pg < INT32_MAX ? (int)pg : 4096}, all[2];
    int mrc = MPI_Allreduce(mine, all, 2, MPI_INT, MPI_MAX, MPI_COMM_WORLD);
    if (rc == 0 && mrc != MPI_SUCCESS)
        rc = mrc_mpi_mpi_error(err, "MPI_Allreduce(result file)", mrc);
    if (rc != 0 || all[0] != 0) {
        if (*fd >= 0 && d->rank != 0) close(*fd);
        *fd = -1;
        return rc;
    }
    if (d->rank == 0) *fd = fd0;
    *page = (uint64_t)all[1];
    return 0;
}

int mrc_mpi_offsets(const mrc_mpi *d, uint64_t bytes, uint64_t *at, uint64_t *total, mrc_err *err)
{
    *at = 0;
    MRC_MPI_CHECK(MPI_Exscan(&bytes, at, 1, MPI_UINT64_T, MPI_SUM, MPI_COMM_WORLD), err);
    if (d->rank == 0) *at = 0; /* MPI leaves rank 0's undefined */
    *total = bytes;
    return mrc_mpi_sum_u64(d, total, 1, err);
}
