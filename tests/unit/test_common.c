/* test_common.c - the common floor's helpers that no other unit test reaches:
 * mrc_tcp_nodelay_all() on the process's own sockets; mrc_path_fd() and mrc_fd_given() on the
 * names of the process's descriptors; mrc_key_shown(), a key as messages quote it;
 * mrc_temp_path(), a result's temporary name. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <arpa/inet.h>
#include <fcntl.h>
#include <limits.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "mrcount/common.h"

static int nodelay(int fd)
{
    int v = -1;
    socklen_t len = sizeof v;
    assert_int_equal(getsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &v, &len), 0);
    return v != 0;
}

/* A listening socket on the loopback address of `family` (port chosen by the kernel), a client
 * connected to it and the accepted end: fds[0..2]. @return 0, or -1 when the family is absent. */
static int loopback_trio(int family, int fds[3])
{
    struct sockaddr_storage sa;
    memset(&sa, 0, sizeof sa);
    socklen_t len;
    if (family == AF_INET) {
        struct sockaddr_in *in = (struct sockaddr_in *)&sa;
        in->sin_family = AF_INET;
        in->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        len = sizeof *in;
    } else {
        struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&sa;
        in6->sin6_family = AF_INET6;
        in6->sin6_addr = in6addr_loopback;
        len = sizeof *in6;
    }
    fds[0] = socket(family, SOCK_STREAM, 0);
    if (fds[0] < 0) return -1;
    if (bind(fds[0], (struct sockaddr *)&sa, len) != 0 || listen(fds[0], 1) != 0) {
        close(fds[0]); /* no such loopback here (IPv6 disabled) */
        return -1;
    }
    assert_int_equal(getsockname(fds[0], (struct sockaddr *)&sa, &len), 0);
    fds[1] = socket(family, SOCK_STREAM, 0);
    assert_true(fds[1] >= 0);
    assert_int_equal(connect(fds[1], (struct sockaddr *)&sa, len), 0);
    fds[2] = accept(fds[0], NULL, NULL);
    assert_true(fds[2] >= 0);
    return 0;
}

/* Every TCP socket of the process gets TCP_NODELAY, IPv4 and IPv6, listening, connecting and
 * accepted; a Unix socket pair and a pipe are left alone; the count says how many. */
static void test_tcp_nodelay_all(void **state)
{
    (void)state;
    int tcp[6], ntcp = 0;
    assert_int_equal(loopback_trio(AF_INET, tcp), 0);
    ntcp = 3;
    if (loopback_trio(AF_INET6, tcp + 3) == 0) ntcp = 6;
    int unix_pair[2], pipe_fds[2];
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, unix_pair), 0);
    assert_int_equal(pipe(pipe_fds), 0);
    for (int i = 0; i < ntcp; i++)
        assert_false(nodelay(tcp[i])); /* the kernel's default: Nagle on */

    assert_int_equal(mrc_tcp_nodelay_all(), (size_t)ntcp);
    for (int i = 0; i < ntcp; i++)
        if (!nodelay(tcp[i])) fail_msg("TCP socket %d (fd %d) has no TCP_NODELAY", i, tcp[i]);
    int type = 0;
    socklen_t len = sizeof type;
    assert_int_equal(getsockopt(unix_pair[0], SOL_SOCKET, SO_TYPE, &type, &len), 0);
    assert_int_equal(type, SOCK_STREAM); /* still a working Unix socket: a byte goes through */
    assert_int_equal(write(unix_pair[0], "x", 1), 1);
    char c = 0;
    assert_int_equal(read(unix_pair[1], &c, 1), 1);
    assert_int_equal(c, 'x');
    for (int i = 0; i < ntcp; i++)
        close(tcp[i]);
    close(unix_pair[0]);
    close(unix_pair[1]);
    close(pipe_fds[0]);
    close(pipe_fds[1]);
    assert_int_equal(mrc_tcp_nodelay_all(), 0); /* none left */
}

/* The names a shell or a script gives a descriptor: /dev/std*, /dev/fd/N, /proc/self/fd/N,
 * /proc/PID/fd/N and /proc/PID/task/TID/fd/N, directly or through a link of our own; other
 * names, another process's descriptors and malformed numbers are none. */
static void test_path_fd(void **state)
{
    (void)state;
    assert_int_equal(mrc_path_fd("/dev/stdin"), 0);
    assert_int_equal(mrc_path_fd("/dev/stdout"), 1);
    assert_int_equal(mrc_path_fd("/dev/stderr"), 2);
    assert_int_equal(mrc_path_fd("/dev/fd/5"), 5);
    assert_int_equal(mrc_path_fd("/proc/self/fd/12"), 12);
    assert_int_equal(mrc_path_fd("/proc/thread-self/fd/7"), 7);
    char p[96];
    snprintf(p, sizeof p, "/proc/%ld/fd/3", (long)getpid());
    assert_int_equal(mrc_path_fd(p), 3);
    snprintf(p, sizeof p, "/proc/%ld/task/%ld/fd/4", (long)getpid(), (long)getpid());
    assert_int_equal(mrc_path_fd(p), 4);
    snprintf(p, sizeof p, "/proc/%ld/fd/3", (long)getpid() + 1); /* not ours */
    assert_int_equal(mrc_path_fd(p), -1);
    /* other spellings of the same directories */
    assert_int_equal(mrc_path_fd("/dev/./fd/5"), 5);
    assert_int_equal(mrc_path_fd("/proc/self/../self/fd/12"), 12);
    char *cwd = getcwd(NULL, 0);
    assert_non_null(cwd);
    assert_int_equal(chdir("/dev"), 0);
    assert_int_equal(mrc_path_fd("fd/1"), 1);
    assert_int_equal(mrc_path_fd("stdout"), 1);
    assert_int_equal(chdir(cwd), 0);
    free(cwd);
    const char *none[] = {"/dev/null",
                          "/dev/fd/",
                          "/dev/fd/1x",
                          "/dev/fd/-1",
                          "/proc/self/fd",
                          "/proc/self/fdinfo/1",
                          "/dev/fd/12345678901",
                          "out.tsv",
                          "-",
                          ""};
    for (size_t i = 0; i < sizeof none / sizeof none[0]; i++)
        assert_int_equal(mrc_path_fd(none[i]), -1);
    /* a link of ours to /dev/stderr, and one to that link */
    char dir[] = "/tmp/mrc-test-fd-XXXXXX", l1[64], l2[64];
    assert_non_null(mkdtemp(dir));
    snprintf(l1, sizeof l1, "%s/err", dir);
    snprintf(l2, sizeof l2, "%s/err2", dir);
    assert_int_equal(symlink("/dev/stderr", l1), 0);
    assert_int_equal(symlink("err", l2), 0);
    assert_int_equal(mrc_path_fd(l1), 2);
    assert_int_equal(mrc_path_fd(l2), 2);
    unlink(l1);
    unlink(l2);
    rmdir(dir);
}

/* Descriptors open before mrc_note_given_fds() are given; one opened after it (as MPI_Init
 * opens its own) is not, nor one that is closed. */
static void test_fd_given(void **state)
{
    (void)state;
    int early[2], late[2];
    assert_int_equal(pipe(early), 0);
    mrc_note_given_fds();
    assert_int_equal(pipe(late), 0);
    assert_true(mrc_fd_given(1));
    assert_true(mrc_fd_given(early[1]));
    assert_false(mrc_fd_given(late[1]));
    close(early[1]);
    assert_false(mrc_fd_given(early[1]));
    assert_false(mrc_fd_given(-1));
    close(early[0]);
    close(late[0]);
    close(late[1]);
    int high = fcntl(0, F_DUPFD, 100); /* opened after: not given, however high */
    assert_true(high >= 100);
    assert_false(mrc_fd_given(high));
    close(high);
}

/* A key in a message: NUL bytes shown (not the end of the string), long keys cut before a
 * UTF-8 character, never inside one, with "..." after. */
/* Control characters become '?', in UTF-8 and as lone bytes; the rest stays. */
static void test_msg_printable(void **state)
{
    (void)state;
    static const struct {
        const char *in, *out;
    } cases[] = {
        {"plain text", "plain text"},
        {"a\nb\rc\x1b[2Jd\x7f", "a?b?c?[2Jd?"},
        {"tab\tkept", "tab\tkept"},
        {"x\xc2\x9b"
         "2J",
         "x?2J"}, /* U+009B, CSI in UTF-8 */
        {"x\x9b"
         "2J \x85",
         "x?2J ?"}, /* raw C1 bytes */
        {"caf\xc3\xa9 \xc2\xa0 \xe2\x82\xac", "caf\xc3\xa9 \xc2\xa0 \xe2\x82\xac"}, /* kept */
        {"\xf0\x9f\x98\x80!", "\xf0\x9f\x98\x80!"},                                 /* kept */
        {"bad \xc0\x80 \xed\xa0\x80 \xff", "bad \xc0? \xed\xa0? \xff"}, /* invalid: bytes alone */
        {"cut \xc2", "cut \xc2"},
        {"", ""},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char buf[64];
        snprintf(buf, sizeof buf, "%s", cases[i].in);
        mrc_msg_printable(buf);
        assert_string_equal(buf, cases[i].out);
    }
}

static void test_key_shown(void **state)
{
    (void)state;
    char buf[MRC_KEY_SHOWN_BUF];
    assert_string_equal(mrc_key_shown("nul\0b", 5, buf), "nul?b");
    assert_string_equal(mrc_key_shown("", 0, buf), "");
    assert_string_equal(mrc_key_shown("\0", 1, buf), "?");
    unsigned char k[MRC_KEY_SHOWN + 10];
    memset(k, 'a', sizeof k);
    assert_string_equal(mrc_key_shown(k, MRC_KEY_SHOWN, buf) + MRC_KEY_SHOWN - 1, "a"); /* whole */
    mrc_key_shown(k, MRC_KEY_SHOWN + 1, buf);
    assert_int_equal(strlen(buf), MRC_KEY_SHOWN + 3);
    assert_string_equal(buf + MRC_KEY_SHOWN, "...");
    /* a 4-byte character (U+1F600) across the cut at every offset: cut before it */
    for (size_t at = MRC_KEY_SHOWN - 3; at <= MRC_KEY_SHOWN; at++) {
        memset(k, 'a', sizeof k);
        memcpy(k + at, "\xf0\x9f\x98\x80", 4);
        mrc_key_shown(k, sizeof k, buf);
        size_t n = strlen(buf) - 3, whole = at + 4 <= MRC_KEY_SHOWN ? at + 4 : at;
        assert_int_equal(n, whole);
        assert_string_equal(buf + n, "...");
    }
}

/* The temporary name of a result: PATH.tmp.PID, its last name within NAME_MAX bytes (a result
 * named with 246-255 bytes once failed: "File name too long"), names cut alike kept apart. */
static void test_temp_path(void **state)
{
    (void)state;
    char want[64];
    snprintf(want, sizeof want, "d/r.tsv.tmp.%ld", (long)getpid());
    char *t = mrc_temp_path("d/r.tsv");
    assert_string_equal(t, want);
    free(t);
    char a[300], b[300];
    for (size_t base = 240; base <= NAME_MAX; base++) {
        snprintf(a, sizeof a, "dir/%0*d", (int)base, 1); /* 000...01 */
        snprintf(b, sizeof b, "dir/%0*d", (int)base, 2);
        char *ta = mrc_temp_path(a), *tb = mrc_temp_path(b);
        assert_non_null(ta);
        assert_non_null(tb);
        assert_true(strlen(ta) - 4 <= NAME_MAX); /* the last name, past "dir/" */
        assert_memory_equal(ta, "dir/000", 7);
        assert_non_null(strstr(ta, ".tmp."));
        assert_string_not_equal(ta, tb);
        free(ta);
        free(tb);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_tcp_nodelay_all), cmocka_unit_test(test_path_fd),
        cmocka_unit_test(test_fd_given),        cmocka_unit_test(test_msg_printable),
        cmocka_unit_test(test_key_shown),       cmocka_unit_test(test_temp_path),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
