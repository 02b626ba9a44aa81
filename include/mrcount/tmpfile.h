/* tmpfile.h - spill files: anonymous read-write files in --tmp-dir that have no name, so nothing is
 * left behind whatever ends the process (a normal end, an error, SIGTERM, even SIGKILL), and the
 * full-length reads and writes the spill writer and the merge use on them. Every error names the
 * directory, so a full disk or an unwritable tmp dir says where. */
#ifndef MRCOUNT_TMPFILE_H
#define MRCOUNT_TMPFILE_H

#include <stddef.h>
#include <stdint.h>

#include "mrcount/common.h"

/** mrc_tmp_dir_default() : the documented default of --tmp-dir: $TMPDIR when set and not empty
 *  (Slurm sites point it at node-local disk), else "/tmp". Reads the environment (the only place
 *  of this module that does). @return a string owned by the environment or static. */
const char *mrc_tmp_dir_default(void);

/** mrc_tmpfile_open() : a new empty read-write file in dir without a directory entry: O_TMPFILE
 *  (Linux 3.11+, on most local file systems), else, where the file system lacks it (EOPNOTSUPP,
 *  EISDIR, EINVAL), mrc_tmpfile_open_unlinked(). close() is its only clean-up. The descriptor is
 *  close-on-exec. @return 0 with *fd set, or MRC_EIO with "<dir>: cannot create a temporary
 *  file: <strerror>". */
int mrc_tmpfile_open(const char *dir, int *fd, mrc_err *err);

/** mrc_tmpfile_open_unlinked() : the fallback of mrc_tmpfile_open(): mkstemp() in dir and an
 *  unlink() at once (a name exists for those few instructions only: a SIGKILL between the two
 *  leaves one empty ".mrcount-spill-XXXXXX"). Public so the fallback is tested on file systems
 *  that have O_TMPFILE. @return as mrc_tmpfile_open(), or MRC_EIO with "<dir>/.mrcount-spill-
 *  XXXXXX: cannot remove the name of a temporary file: <strerror>" (the name left behind). */
int mrc_tmpfile_open_unlinked(const char *dir, int *fd, mrc_err *err);

/** mrc_tmpdir_check() : fail early, before any work, when dir cannot hold spill files: it is
 *  empty, does not exist, is not a directory, or a temporary file cannot be created and written
 *  there (read-only, no permission, a full file system). @return 0, MRC_EINVAL for an empty
 *  path, or MRC_EIO with "<dir>: cannot use as the temporary directory: <cause>" or one of the
 *  messages of mrc_tmpfile_open() and mrc_write_full(). */
int mrc_tmpdir_check(const char *dir, mrc_err *err);

/** mrc_write_full() : write all n bytes of buf at fd's offset, over short writes and EINTR.
 *  @return 0, or MRC_EIO with "<dir>: no space left for spill files (<k> of <n> bytes written):
 *  <strerror>" on ENOSPC or EDQUOT, "<dir>: cannot write a spill file: <strerror>" otherwise. */
int mrc_write_full(int fd, const void *buf, size_t n, const char *dir, mrc_err *err);

/** mrc_write_error() : mrc_write_full()'s error for errno e after done of n bytes.
 *  @return what it set err to. */
int mrc_write_error(int e, size_t done, size_t n, const char *dir, mrc_err *err);

/** mrc_pread_full() : read exactly n bytes at offset off of fd, over short reads and EINTR.
 *  @return 0, or MRC_EIO with "<dir>: cannot read a spill file: <strerror>", or "<dir>: a spill
 *  file ended early (<k> of <n> bytes at offset <off>)" when it is shorter than asked. */
int mrc_pread_full(int fd, void *buf, size_t n, uint64_t off, const char *dir, mrc_err *err);

#endif
