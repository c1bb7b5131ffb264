/* eaddrinuse.c: bind a port that a listening socket holds, and get EADDRINUSE. */
/*
 * Usage: eaddrinuse
 *
 * A server listens on 127.0.0.1 on an ephemeral port; a second socket then binds the
 * same address and port, as a second copy of the server would. Both set SO_REUSEADDR,
 * and it does not help: it lets a new socket bind a port whose old connections are in
 * TIME_WAIT, never a port that another socket is listening on.
 *
 * Exit codes: 1 after printing the error line (the error happened), 3 if it did not.
 */
#include "example.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static const char prog[] = "eaddrinuse";

static int reusable_socket(void)
{
    int one = 1;
    int fd = socket(AF_INET, SOCK_STREAM, 0);

    if (fd != -1 && setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) == -1) {
        close(fd);
        return -1;
    }
    return fd;
}

int main(void)
{
    struct sockaddr_in addr;
    socklen_t len = sizeof addr;
    int first = reusable_socket(), second = reusable_socket(), rc;

    if (first == -1 || second == -1)
        return setup_failed(prog, "socket");
    memset(&addr, 0, sizeof addr);
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (bind(first, (struct sockaddr *)&addr, sizeof addr) == -1 ||
        getsockname(first, (struct sockaddr *)&addr, &len) == -1 || listen(first, 16) == -1)
        return setup_failed(prog, "bind and listen (first server)");
    printf("a first server is listening; a second one binds the same port\n");
    fflush(stdout);
    /* [catalog] */
    if (bind(second, (struct sockaddr *)&addr, sizeof addr) == -1)
        rc = expect_errno(prog, "bind", &addr, EADDRINUSE);
    /* [catalog] */
    else
        rc = not_reproduced(prog, "the second bind() succeeded");
    close(second);
    close(first);
    return rc;
}
