/* econnrefused.c: connect to a port where nothing listens, and get ECONNREFUSED. */
/*
 * Usage: econnrefused
 *
 * Binds a TCP socket to 127.0.0.1 on an ephemeral port and never calls listen(): the
 * port is taken, but nobody accepts connections on it. The kernel answers the SYN of a
 * connect() to that port with a RST, and connect() fails at once with ECONNREFUSED.
 *
 * Exit codes: 1 after printing the error line (the error happened), 3 if it did not.
 */
#include "example.h"

#include <errno.h>
#include <stdio.h>
#include <unistd.h>

static const char prog[] = "econnrefused";

int main(void)
{
    struct sockaddr_in addr;
    int rc, fd;
    int reserved = bind_loopback(&addr);

    if (reserved == -1)
        return setup_failed(prog, "bind");
    printf("bound a socket to a port without listen(): nothing accepts there\n");
    fflush(stdout);
   /* [catalog] */
    fd = connect_to(&addr);
    if (fd == -1)
        rc = expect_errno(prog, "connect", &addr, ECONNREFUSED);
    /* [catalog] */
    else {
        rc = not_reproduced(prog, "connect() succeeded");
        close(fd);
    }
    close(reserved);
    return rc;
}
