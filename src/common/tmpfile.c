/* tmpfile.c - the spill files under --tmp-dir: created without a name (O_TMPFILE, or mkstemp and
 * an immediate unlink), written and read back in full. A spill file must never outlive the
 * process and a failed write must never pass as a short one: every error is returned, naming
 * the directory. No printing, no exit. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "mrcount/tmpfile.h"

const char *mrc_tmp_dir_default(void)
{
    const char *t = getenv("TMPDIR");
    return t != NULL && t[0] != '\0' ? t : "/tmp";
}

/* A file that dir could not take (e: the errno): a directory that is there but answers ENOENT
 * is on a file system that makes no files (procfs). */
static int cannot_create(const char *dir, int e, mrc_err *err)
{
    struct stat st;
    if (e == ENOENT && stat(dir, &st) == 0 && S_ISDIR(st.st_mode))
        return mrc_err_errno(err, e,
                             "%s: cannot create a temporary file (the directory is there, but its "
                             "file system makes no files, as /proc)",
                             dir);
    return mrc_err_errno(err, e, "%s: cannot create a temporary file", dir);
}

int mrc_tmpfile_open_unlinked(const char *dir, int *fd, mrc_err *err)
{
    char path[4096];
    int n = snprintf(path, sizeof path, "%s/.mrcount-spill-XXXXXX", dir);
    if (n < 0 || (size_t)n >= sizeof path)
        return mrc_err_errno(err, ENAMETOOLONG, "%s: cannot create a temporary file", dir);
    int f = mkostemp(path, O_CLOEXEC);
    if (f < 0) return cannot_create(dir, errno, err);
    if (unlink(path) != 0) {
        int e = errno;
        close(f);
        return mrc_err_errno(err, e, "%s: cannot remove the name of a temporary file", path);
    }
    *fd = f;
    return 0;
}

int mrc_tmpfile_open(const char *dir, int *fd, mrc_err *err)
{
    int f = open(dir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
    if (f >= 0) {
        *fd = f;
        return 0;
    }
    /* EISDIR: a kernel older than O_TMPFILE opened the directory itself */
    if (errno == EOPNOTSUPP || errno == EISDIR || errno == EINVAL)
        return mrc_tmpfile_open_unlinked(dir, fd, err);
    return cannot_create(dir, errno, err);
}

int mrc_tmpdir_check(const char *dir, mrc_err *err)
{
    if (dir == NULL || dir[0] == '\0')
        return mrc_err_set(err, MRC_EINVAL, "temporary directory: empty path");
    struct stat st;
    if (stat(dir, &st) != 0)
        return mrc_err_errno(err, errno, "%s: cannot use as the temporary directory", dir);
    if (!S_ISDIR(st.st_mode))
        return mrc_err_errno(err, ENOTDIR, "%s: cannot use as the temporary directory", dir);
    int fd;
    int rc = mrc_tmpfile_open(dir, &fd, err);
    if (rc != 0) return rc;
    /* one byte: a file system with no block left accepts the inode but not the data */
    rc = mrc_write_full(fd, "", 1, dir, err);
    close(fd);
    return rc;
}

int mrc_write_full(int fd, const void *buf, size_t n, const char *dir, mrc_err *err)
{
    const unsigned char *p = buf;
    size_t done = 0;
    while (done < n) {
        ssize_t k = write(fd, p + done, n - done);
        if (k > 0) {
            done += (size_t)k;
            continue;
        }
        int e = k == 0 ? ENOSPC : errno; /* 0 for a positive count: no room for a byte */
        if (e == EINTR) continue;
        return mrc_write_error(e, done, n, dir, err);
    }
    return 0;
}

int mrc_write_error(int e, size_t done, size_t n, const char *dir, mrc_err *err)
{
    if (e == ENOSPC || e == EDQUOT)
        return mrc_err_set(err, MRC_EIO,
                           "%s: no space left (%zu of %zu bytes of a file written): %s", dir, done,
                           n, strerror(e));
    return mrc_err_errno(err, e, "%s: cannot write a file there", dir);
}

int mrc_pread_full(int fd, void *buf, size_t n, uint64_t off, const char *dir, mrc_err *err)
{
    unsigned char *p = buf;
    size_t done = 0;
    while (done < n) {
        ssize_t k = pread(fd, p + done, n - done, (off_t)(off + done));
        if (k > 0) {
            done += (size_t)k;
        } else if (k == 0) {
            return mrc_err_set(err, MRC_EIO,
                               "%s: a spill file ended early (%zu of %zu bytes at offset %" PRIu64
                               ")",
                               dir, done, n, off);
        } else if (errno != EINTR) {
            return mrc_err_errno(err, errno, "%s: cannot read a spill file", dir);
        }
    }
    return 0;
}
