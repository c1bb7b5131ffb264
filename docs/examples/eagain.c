/* eagain.c: a receive that would block: EAGAIN (also spelled EWOULDBLOCK). */
/*
 * Usage: eagain [-t]
 *
 * A client connects to a server on 127.0.0.1 that sends nothing, and calls recv().
 * On a non-blocking socket (O_NONBLOCK), recv() with no data fails at once with EAGAIN:
 * "nothing now, try again when poll() says the socket is readable". It is not a failure
 * of the connection. On Linux EWOULDBLOCK is the same value as EAGAIN.
 *
 * With -t the socket stays blocking but has a receive timeout (SO_RCVTIMEO, 200 ms):
 * when it expires, recv() fails with EAGAIN too, not ETIMEDOUT.
 *
 * Exit codes: 1 after printing the error line (the error happened), 2 for bad arguments,
 * 3 if it did not happen.
 */
#include "example.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/time.h>
#include <unistd.h>

static const char prog[] = "eagain";

int main(int argc, char **argv)
{
    struct sockaddr_in addr;
    struct timeval tv = {0, 200000};
    int use_timeout = 0, lfd, client, server, rc;
    char buf[64];

    if (argc == 2 && strcmp(argv[1], "-t") == 0)
        use_timeout = 1;
    else if (argc != 1) {
        fprintf(stderr, "usage: %s [-t]\n", prog);
        return EX_USAGE;
    }
    lfd = listen_loopback(16, &addr);
    if (lfd == -1)
        return setup_failed(prog, "listen");
    client = connect_to(&addr);
    if (client == -1)
        return setup_failed(prog, "connect");
    server = accept(lfd, NULL, NULL);
    if (server == -1)
        return setup_failed(prog, "accept");
    /* [catalog] */
    if (use_timeout) {
        printf("recv() on a blocking socket with a 200 ms SO_RCVTIMEO; the server sends nothing\n");
        if (setsockopt(client, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv) == -1)
            return setup_failed(prog, "setsockopt SO_RCVTIMEO");
    } else {
        printf("recv() on a non-blocking socket; the server sends nothing\n");
        if (fcntl(client, F_SETFL, fcntl(client, F_GETFL) | O_NONBLOCK) == -1)
            return setup_failed(prog, "fcntl O_NONBLOCK");
    }
    fflush(stdout);
    if (recv(client, buf, sizeof buf, 0) == -1)
        rc = expect_errno(prog, "recv", &addr, EAGAIN);
    /* [catalog] */
    else
        rc = not_reproduced(prog, "recv() returned");
    close(server);
    close(client);
    close(lfd);
    return rc;
}
