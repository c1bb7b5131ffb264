/* econnreset.c: a peer that closes without reading the request resets the connection. */
/*
 * Usage: econnreset
 *
 * A client connects to a server on 127.0.0.1 and sends a request. The server close()s
 * the connection without reading it. When a socket is closed with unread data in its
 * receive buffer, TCP cannot deliver the data and says so with a RST instead of a FIN
 * (RFC 9293, 3.6.1; Linux does this too). The client's next recv() fails with
 * ECONNRESET instead of returning 0 (EOF).
 *
 * setsockopt(SO_LINGER) with {l_onoff = 1, l_linger = 0} before close() sends a RST too.
 *
 * Exit codes: 1 after printing the error line (the error happened), 3 if it did not.
 */
#include "example.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <unistd.h>

static const char prog[] = "econnreset";

int main(void)
{
    struct sockaddr_in addr;
    struct pollfd pfd;
    char buf[64];
    ssize_t n;
    int lfd, client, server, rc;

    lfd = listen_loopback(16, &addr);
    if (lfd == -1)
        return setup_failed(prog, "listen");
    client = connect_to(&addr);
    if (client == -1)
        return setup_failed(prog, "connect");
    server = accept(lfd, NULL, NULL);
    if (server == -1)
        return setup_failed(prog, "accept");
    if (send(client, "GET / HTTP/1.0\r\n\r\n", 18, MSG_NOSIGNAL) == -1)
        return setup_failed(prog, "send");
    /* Wait (at most 2 s) until the request has arrived, so it is surely unread at close(). */
    pfd.fd = server;
    pfd.events = POLLIN;
    if (poll(&pfd, 1, 2000) != 1)
        return not_reproduced(prog, "the request never reached the server");
    printf("the server closes the connection without reading the request\n");
    fflush(stdout);
    /* [catalog] */
    close(server);
    n = recv(client, buf, sizeof buf, 0);
    if (n == -1)
        rc = expect_errno(prog, "recv", &addr, ECONNRESET);
    /* [catalog] */
    else
        rc = not_reproduced(prog, n == 0 ? "recv() returned 0 (an orderly EOF)" : "recv() returned data");
    close(client);
    close(lfd);
    return rc;
}
