/* test_common.c - the common floor's helpers that no other unit test reaches:
 * mrc_tcp_nodelay_all() on the process's own sockets. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
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

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_tcp_nodelay_all),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
