/* lines.c - line numbers for messages: counts the LFs of a plain file's prefix, so a record
 * found in a piece deep inside a file can be named "file:line". Only ever on an error or
 * report path, never while mapping. */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "mrcount/input.h"

#define LINES_BUF ((size_t)1 << 20)

int mrc_input_count_newlines(const char *path, uint64_t upto, uint64_t most, uint64_t *count,
                             mrc_err *err)
{
    *count = 0;
    int fd;
    int rc = mrc_input_open(path, &fd, err);
    if (rc != MRC_OK) return rc;
    unsigned char *buf = malloc(LINES_BUF);
    if (buf == NULL) {
        rc = mrc_err_errno(err, ENOMEM, "%s: line count buffer", path);
        goto out;
    }
    posix_fadvise(fd, 0, (off_t)upto, POSIX_FADV_SEQUENTIAL);
    for (uint64_t pos = 0; pos < upto && *count < most;) {
        size_t want = upto - pos < LINES_BUF ? (size_t)(upto - pos) : LINES_BUF;
        ssize_t got = pread(fd, buf, want, (off_t)pos);
        if (got < 0 && errno == EINTR) continue;
        if (got < 0) {
            rc = mrc_err_errno(err, errno, "%s", path);
            goto out;
        }
        if (got == 0) break; /* the file shrank: count what is there */
        for (const unsigned char *p = buf, *end = buf + got;
             *count < most && (p = memchr(p, '\n', (size_t)(end - p))) != NULL; p++)
            (*count)++;
        pos += (uint64_t)got;
    }
out:
    free(buf);
    close(fd);
    return rc;
}
