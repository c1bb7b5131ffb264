/* epipe.c: send on a connection the peer has closed, and get EPIPE (or die of SIGPIPE). */
/*
 * Usage: epipe [-s]
 *
 * A server on 127.0.0.1 accepts a client and closes the connection at once. The client
 * sees EOF (recv() returns 0) but sends anyway: the first send() succeeds, because the
 * bytes only go into the socket's buffer; the peer's kernel answers them with a RST,
 * and the next send() fails with EPIPE.
 *
 * The client passes MSG_NOSIGNAL. Without it (-s here), a send() on such a connection
 * also raises SIGPIPE, whose default action kills the process with no message at all:
 * the shell shows exit status 141 (128 + 13). Servers ignore SIGPIPE or use MSG_NOSIGNAL.
 *
 * Exit codes: 1 after printing the error line (the error happened), 2 for bad arguments,
 * 3 if it did not happen. With -s, death by SIGPIPE.
 */
#include "example.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static const char prog[] = "epipe";

int main(int argc, char **argv)
{
    struct sockaddr_in addr;
    struct pollfd pfd;
    char buf[64];
    int flags = MSG_NOSIGNAL, lfd, client, server, rc;

    if (argc == 2 && strcmp(argv[1], "-s") == 0)
        flags = 0;
    else if (argc != 1) {
        fprintf(stderr, "usage: %s [-s]\n", prog);
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
    close(server);
    if (recv(client, buf, sizeof buf, 0) != 0)
        return not_reproduced(prog, "recv() did not see the server's EOF");
    printf("the server has closed; the client sends anyway\n");
    fflush(stdout);
    /* [catalog] */
    if (send(client, "late", 4, flags) == -1)           /* accepted into the buffer */
        return expect_errno(prog, "send", &addr, EPIPE);
    pfd.fd = client;
    pfd.events = 0;                                   /* only POLLERR/POLLHUP: the RST */
    (void)poll(&pfd, 1, 2000);
    if (send(client, "later", 5, flags) == -1)
        rc = expect_errno(prog, "send", &addr, EPIPE);
    /* [catalog] */
    else
        rc = not_reproduced(prog, "the second send() succeeded");
    close(client);
    close(lfd);
    return rc;
}
