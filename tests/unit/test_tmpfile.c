/* test_tmpfile.c - spill files: created without a directory entry (O_TMPFILE and the mkstemp +
 * unlink fallback), written and read back byte for byte, and every failure a message naming the
 * directory: a missing directory, a path that is a regular file, a read-only and a full file
 * system (a 64 KiB tmpfs mounted by the test; skipped where mounting is not allowed). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <fcntl.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "test_util.h"

#include "mrcount/tmpfile.h"

static char dir[256];
static int mounted;

static int dir_make(void **state)
{
    (void)state;
    return tmpdir_make(dir, sizeof dir, "/tmp/mrc_tmpfile_XXXXXX");
}

static int dir_remove(void **state)
{
    (void)state;
    return rm_tree(dir);
}

/* A 64 KiB tmpfs on the directory; the test skips when the mount is refused (containers). */
static int tmpfs_make(void **state)
{
    if (dir_make(state) != 0) return -1;
    mounted = mount("mrc_tmpfile", dir, "tmpfs", 0, "size=64k,mode=0700") == 0;
    return 0;
}

static int tmpfs_remove(void **state)
{
    if (mounted && umount2(dir, MNT_DETACH) != 0) return -1;
    mounted = 0;
    return dir_remove(state);
}

/* Entries of the directory other than "." and "..". */
static int entries(const char *path)
{
    DIR *d = opendir(path);
    assert_non_null(d);
    int n = 0;
    for (struct dirent *e; (e = readdir(d)) != NULL;)
        n += strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0;
    closedir(d);
    return n;
}

static const char *msg(const char *fmt, const char *a)
{
    static char s[1024];
    snprintf(s, sizeof s, fmt, a);
    return s;
}

/* Writes n pattern bytes in uneven pieces, reads them back at offsets, and checks the file has
 * no link in the directory. */
static void round_trip(int fd)
{
    struct stat st;
    assert_int_equal(fstat(fd, &st), 0);
    assert_int_equal(st.st_nlink, 0);
    assert_int_equal(entries(dir), 0);

    size_t n = (size_t)3 << 20;
    unsigned char *w = malloc(n), *r = malloc(n);
    assert_true(w && r);
    rng_seed(42);
    for (size_t i = 0; i < n; i++)
        w[i] = (unsigned char)rng_next();
    mrc_err err = {0};
    size_t piece[] = {1, 4095, 65536, 1000003};
    size_t done = 0;
    for (int i = 0; done < n; i = (i + 1) % 4) {
        size_t k = piece[i] < n - done ? piece[i] : n - done;
        assert_int_equal(mrc_write_full(fd, w + done, k, dir, &err), 0);
        done += k;
    }
    assert_int_equal(mrc_pread_full(fd, r, n, 0, dir, &err), 0);
    assert_bytes_equal(r, n, w, n);
    assert_int_equal(mrc_pread_full(fd, r, 777, 2000000, dir, &err), 0);
    assert_bytes_equal(r, 777, w + 2000000, 777);
    assert_int_equal(err.code, 0);

    /* asking past the end is an error, never a short read */
    assert_int_equal(mrc_pread_full(fd, r, 20, n - 10, dir, &err), MRC_EIO);
    char want[512];
    snprintf(want, sizeof want, "%s: a spill file ended early (10 of 20 bytes at offset %zu)", dir,
             n - 10);
    assert_string_equal(err.msg, want);
    free(w);
    free(r);
    assert_int_equal(entries(dir), 0);
}

static void test_otmpfile_round_trip(void **state)
{
    (void)state;
    mrc_err err = {0};
    int fd = -1;
    assert_int_equal(mrc_tmpfile_open(dir, &fd, &err), 0);
    assert_true(fd >= 0);
    assert_true(fcntl(fd, F_GETFD) & FD_CLOEXEC);
    round_trip(fd);
    assert_int_equal(close(fd), 0);
    assert_int_equal(entries(dir), 0);
}

static void test_unlinked_round_trip(void **state)
{
    (void)state;
    mrc_err err = {0};
    int fd = -1;
    assert_int_equal(mrc_tmpfile_open_unlinked(dir, &fd, &err), 0);
    assert_true(fcntl(fd, F_GETFD) & FD_CLOEXEC);
    round_trip(fd);
    assert_int_equal(close(fd), 0);
}

static void test_bad_directories(void **state)
{
    (void)state;
    char missing[300], file[300];
    snprintf(missing, sizeof missing, "%s/missing", dir);
    snprintf(file, sizeof file, "%s/file", dir);
    FILE *f = fopen(file, "w");
    assert_non_null(f);
    fclose(f);

    mrc_err err = {0};
    int fd = -1;
    assert_int_equal(mrc_tmpfile_open(missing, &fd, &err), MRC_EIO);
    assert_string_equal(
        err.msg, msg("%s: cannot create a temporary file: No such file or directory", missing));
    err = (mrc_err){0};
    assert_int_equal(mrc_tmpfile_open_unlinked(missing, &fd, &err), MRC_EIO);
    assert_string_equal(
        err.msg, msg("%s: cannot create a temporary file: No such file or directory", missing));
    err = (mrc_err){0};
    assert_int_equal(mrc_tmpfile_open(file, &fd, &err), MRC_EIO);
    assert_string_equal(err.msg, msg("%s: cannot create a temporary file: Not a directory", file));
    assert_int_equal(fd, -1);

    err = (mrc_err){0};
    assert_int_equal(mrc_tmpdir_check(missing, &err), MRC_EIO);
    assert_string_equal(
        err.msg,
        msg("%s: cannot use as the temporary directory: No such file or directory", missing));
    err = (mrc_err){0};
    assert_int_equal(mrc_tmpdir_check(file, &err), MRC_EIO);
    assert_string_equal(err.msg,
                        msg("%s: cannot use as the temporary directory: Not a directory", file));
    err = (mrc_err){0};
    assert_int_equal(mrc_tmpdir_check("", &err), MRC_EINVAL);
    assert_string_equal(err.msg, "temporary directory: empty path");
    err = (mrc_err){0};
    assert_int_equal(mrc_tmpdir_check(NULL, &err), MRC_EINVAL);

    /* a directory whose file system makes no files says so: procfs answers ENOENT */
    struct stat st;
    if (stat("/proc/self", &st) == 0) {
        err = (mrc_err){0};
        assert_int_equal(mrc_tmpdir_check("/proc", &err), MRC_EIO);
        assert_string_equal(err.msg, "/proc: cannot create a temporary file (the directory is "
                                     "there, but its file system makes no files, as /proc): No "
                                     "such file or directory");
    }

    err = (mrc_err){0};
    assert_int_equal(mrc_tmpdir_check(dir, &err), 0);
    assert_int_equal(err.code, 0);
    assert_int_equal(entries(dir), 1); /* only "file": the check's own file is gone */
}

static void test_io_errors_name_the_dir(void **state)
{
    (void)state;
    int fd = open(dir, O_RDONLY | O_DIRECTORY);
    assert_true(fd >= 0);
    mrc_err err = {0};
    assert_int_equal(mrc_write_full(fd, "x", 1, dir, &err), MRC_EIO);
    assert_string_equal(err.msg, msg("%s: cannot write a file there: Bad file descriptor", dir));
    char b[4];
    err = (mrc_err){0};
    assert_int_equal(mrc_pread_full(fd, b, sizeof b, 0, dir, &err), MRC_EIO);
    assert_string_equal(err.msg, msg("%s: cannot read a spill file: Is a directory", dir));
    close(fd);
    /* nothing asked, nothing done */
    err = (mrc_err){0};
    assert_int_equal(mrc_write_full(-1, NULL, 0, dir, &err), 0);
    assert_int_equal(mrc_pread_full(-1, NULL, 0, 0, dir, &err), 0);
}

static void test_default_dir(void **state)
{
    (void)state;
    const char *saved = getenv("TMPDIR");
    char *keep = saved ? strdup(saved) : NULL;
    assert_int_equal(setenv("TMPDIR", "/scratch/job42", 1), 0);
    assert_string_equal(mrc_tmp_dir_default(), "/scratch/job42");
    assert_int_equal(setenv("TMPDIR", "", 1), 0);
    assert_string_equal(mrc_tmp_dir_default(), "/tmp");
    assert_int_equal(unsetenv("TMPDIR"), 0);
    assert_string_equal(mrc_tmp_dir_default(), "/tmp");
    if (keep) setenv("TMPDIR", keep, 1);
    free(keep);
}

static void test_full_file_system(void **state)
{
    (void)state;
    if (!mounted) skip();
    mrc_err err = {0};
    assert_int_equal(mrc_tmpdir_check(dir, &err), 0);
    int fd = -1;
    assert_int_equal(mrc_tmpfile_open(dir, &fd, &err), 0);
    size_t n = (size_t)1 << 20;
    unsigned char *buf = calloc(1, n);
    assert_non_null(buf);
    /* 64 KiB of room: the first write is short (65536 bytes), the next one fails */
    assert_int_equal(mrc_write_full(fd, buf, n, dir, &err), MRC_EIO);
    assert_string_equal(err.msg, msg("%s: no space left (65536 of 1048576 bytes of a file "
                                     "written): No space left on device",
                                     dir));
    /* the same full file system, found before any work */
    err = (mrc_err){0};
    assert_int_equal(mrc_tmpdir_check(dir, &err), MRC_EIO);
    assert_string_equal(
        err.msg,
        msg("%s: no space left (0 of 1 bytes of a file written): No space left on device", dir));
    /* closing the nameless file gives all the room back: nothing was left behind */
    assert_int_equal(close(fd), 0);
    assert_int_equal(entries(dir), 0);
    err = (mrc_err){0};
    assert_int_equal(mrc_tmpdir_check(dir, &err), 0);
    free(buf);

    /* read-only */
    assert_int_equal(mount(NULL, dir, NULL, MS_REMOUNT | MS_RDONLY, NULL), 0);
    err = (mrc_err){0};
    assert_int_equal(mrc_tmpdir_check(dir, &err), MRC_EIO);
    assert_string_equal(err.msg,
                        msg("%s: cannot create a temporary file: Read-only file system", dir));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_otmpfile_round_trip, dir_make, dir_remove),
        cmocka_unit_test_setup_teardown(test_unlinked_round_trip, dir_make, dir_remove),
        cmocka_unit_test_setup_teardown(test_bad_directories, dir_make, dir_remove),
        cmocka_unit_test_setup_teardown(test_io_errors_name_the_dir, dir_make, dir_remove),
        cmocka_unit_test(test_default_dir),
        cmocka_unit_test_setup_teardown(test_full_file_system, tmpfs_make, tmpfs_remove),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
