/* tcp_states.c: every TCP state that ss can show, made on purpose on loopback. */
/*
 * Usage: tcp_states [-w]
 *
 * Builds ten small scenes on 127.0.0.1, one per TCP state (RFC 9293, section 3.3.2),
 * and for each runs `ss -tan` filtered to the scene's ports, so that you see how ss names
 * the state of each end. CLOSED has no socket to show. The scenes:
 *
 *   LISTEN       a listening socket
 *   ESTAB        a connection, both ends open
 *   SYN-SENT     a client whose SYNs are dropped: the listener's queue is full (backlog 0)
 *   SYN-RECV     the server end of a handshake whose last ACK the listener ignores:
 *                TCP_DEFER_ACCEPT waits for the client's first data
 *   FIN-WAIT-1   the end that closed first, its FIN stuck behind data the peer will not read
 *   FIN-WAIT-2   the end that closed first (shutdown SHUT_WR), its FIN acknowledged,
 *   CLOSE-WAIT   and the other end: it has read EOF but not closed yet. The ACK of a FIN
 *                may be delayed (by about 4 ms here), so this scene waits for FIN-WAIT-2
 *   LAST-ACK     the end that closed second, its FIN stuck behind unread data
 *   CLOSING      both ends closed at once: each FIN crossed the other's
 *   TIME-WAIT    the end that closed first, after both FINs: it stays 60 s on Linux
 *
 * Data that nobody reads is the tool: with 4 KiB buffers, a few non-blocking sends fill
 * the peer's receive window, and a FIN queued behind that data cannot be sent.
 *
 * With -w it waits for Enter before cleaning up, so you can look with ss, lsof or
 * tcpdump yourself (see docs/troubleshooting.md).
 *
 * Exit codes: 0 after the last scene, 1 if a scene could not be built, 2 for bad arguments.
 */
#include "example.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char prog[] = "tcp_states";
#define SMALL_BUF 4096

/* Run ss for the connections on either side of port (and, if listening, the listener). */
static void show(const char *state, const char *what, unsigned short port)
{
    char cmd[160];

    printf("\n== %s: %s\n", state, what);
    snprintf(cmd, sizeof cmd, "ss -tan '( sport = :%u or dport = :%u )'", port, port);
    printf("$ %s\n", cmd);
    fflush(stdout);
    if (system(cmd) != 0)
        printf("(ss failed: is iproute2 installed?)\n");
}

static unsigned short local_port(int fd)
{
    struct sockaddr_in a;
    socklen_t len = sizeof a;

    if (getsockname(fd, (struct sockaddr *)&a, &len) == -1)
        return 0;
    return ntohs(a.sin_port);
}

static int small_buffers(int fd)
{
    int size = SMALL_BUF;

    if (setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, sizeof size) == -1 ||
        setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &size, sizeof size) == -1)
        return -1;
    return 0;
}

/* A connection to the listener lfd at addr: *client and *server get its two ends. */
static int make_pair(int lfd, const struct sockaddr_in *addr, int *client, int *server)
{
    *client = socket(AF_INET, SOCK_STREAM, 0);
    if (*client == -1 || small_buffers(*client) == -1 ||
        connect(*client, (const struct sockaddr *)addr, sizeof *addr) == -1)
        return -1;
    *server = accept(lfd, NULL, NULL);
    return *server == -1 ? -1 : 0;
}

/* Send until the peer's receive window and our send buffer are full (EAGAIN). */
static int fill(int fd)
{
    char junk[SMALL_BUF];
    int flags = fcntl(fd, F_GETFL);

    memset(junk, 'x', sizeof junk);
    if (flags == -1 || fcntl(fd, F_SETFL, flags | O_NONBLOCK) == -1)
        return -1;
    for (;;) {
        if (send(fd, junk, sizeof junk, MSG_NOSIGNAL) == -1)
            return (errno == EAGAIN || errno == EWOULDBLOCK) ? 0 : -1;
    }
}

/* Read until EOF (recv() returns 0), waiting at most 2 s for each piece. */
static int drain_to_eof(int fd)
{
    char buf[SMALL_BUF];
    struct pollfd pfd = {fd, POLLIN, 0};

    for (;;) {
        ssize_t n;
        if (poll(&pfd, 1, 2000) != 1)
            return -1;
        n = recv(fd, buf, sizeof buf, MSG_DONTWAIT);
        if (n == 0)
            return 0;
        if (n == -1 && errno != EAGAIN && errno != EWOULDBLOCK)
            return -1;
    }
}

/* Wait (at most 1 s) until the kernel reports fd in `state` (TCP_INFO), e.g. for a delayed ACK. */
static int wait_state(int fd, int state)
{
    int i;

    for (i = 0; i < 100; i++) {
        struct tcp_info info;
        socklen_t len = sizeof info;
        if (getsockopt(fd, IPPROTO_TCP, TCP_INFO, &info, &len) == -1)
            return -1;
        if (info.tcpi_state == state)
            return 0;
        poll(NULL, 0, 10);
    }
    errno = ETIMEDOUT;
    return -1;
}

static int failed(const char *scene)
{
    fprintf(stderr, "%s: %s: %s\n", prog, scene, strerror(errno));
    exit(1);
}

int main(int argc, char **argv)
{
    struct sockaddr_in addr, full_addr, defer_addr;
    int lfd, full, defer, c, s, c2, s2, c3, s3, c4, s4, c5, s5, c6, s6, q, syn, late;
    int defer_s = 10, wait = argc == 2 && strcmp(argv[1], "-w") == 0;

    if (argc > 2 || (argc == 2 && !wait)) {
        fprintf(stderr, "usage: %s [-w]\n", prog);
        return 2;
    }
    /* Accepted sockets inherit the listener's buffer sizes. */
    lfd = listen_loopback(16, &addr);
    if (lfd == -1 || small_buffers(lfd) == -1)
        failed("listen");
    show("LISTEN", "a listening socket", ntohs(addr.sin_port));

    if (make_pair(lfd, &addr, &c, &s) == -1)
        failed("ESTAB");
    show("ESTAB", "a connection, both ends open", local_port(c));

    /* Backlog 0: one connection fills the queue; the SYNs of the next are dropped. */
    full = listen_loopback(0, &full_addr);
    q = connect_to(&full_addr);
    syn = socket(AF_INET, SOCK_STREAM, 0);
    if (full == -1 || q == -1 || syn == -1 || fcntl(syn, F_SETFL, O_NONBLOCK) == -1)
        failed("SYN-SENT");
    if (connect(syn, (struct sockaddr *)&full_addr, sizeof full_addr) == 0 || errno != EINPROGRESS)
        failed("SYN-SENT connect");
    show("SYN-SENT", "a SYN nobody answers (the listener's queue is full)", local_port(syn));

    /* TCP_DEFER_ACCEPT: the listener ignores the handshake's last ACK until data comes. */
    defer = listen_loopback(16, &defer_addr);
    if (defer == -1 || setsockopt(defer, IPPROTO_TCP, TCP_DEFER_ACCEPT, &defer_s, sizeof defer_s) == -1)
        failed("SYN-RECV listener");
    late = connect_to(&defer_addr);
    if (late == -1)
        failed("SYN-RECV connect");
    show("SYN-RECV", "the server end of a handshake still waiting (TCP_DEFER_ACCEPT)", local_port(late));

    /* FIN-WAIT-1: the client's FIN waits behind data the server does not read. */
    if (make_pair(lfd, &addr, &c2, &s2) == -1 || fill(c2) == -1 || shutdown(c2, SHUT_WR) == -1)
        failed("FIN-WAIT-1");
    show("FIN-WAIT-1", "the client closed first; its FIN waits behind unread data", local_port(c2));

    /* FIN-WAIT-2 and CLOSE-WAIT: the client's FIN arrived; the server has not closed. */
    if (make_pair(lfd, &addr, &c3, &s3) == -1 || shutdown(c3, SHUT_WR) == -1 || drain_to_eof(s3) == -1 ||
        wait_state(c3, TCP_FIN_WAIT2) == -1)
        failed("FIN-WAIT-2");
    show("FIN-WAIT-2 and CLOSE-WAIT", "the client closed first; the server read EOF and has not closed",
         local_port(c3));

    /* LAST-ACK: the server closes second, its FIN behind data the client does not read. */
    if (make_pair(lfd, &addr, &c4, &s4) == -1 || shutdown(c4, SHUT_WR) == -1 ||
        drain_to_eof(s4) == -1 || fill(s4) == -1 || shutdown(s4, SHUT_WR) == -1)
        failed("LAST-ACK");
    show("LAST-ACK", "the server closed second; its FIN waits behind unread data", local_port(c4));

    /* CLOSING: both ends close with unread data; the client then reads to the server's FIN. */
    if (make_pair(lfd, &addr, &c5, &s5) == -1 || fill(c5) == -1 || fill(s5) == -1 ||
        shutdown(c5, SHUT_WR) == -1 || shutdown(s5, SHUT_WR) == -1 || drain_to_eof(c5) == -1)
        failed("CLOSING");
    show("CLOSING", "both closed; the client got the server's FIN before its own was acknowledged",
         local_port(c5));

    /* TIME-WAIT: the client closes first, the server second; the client's end waits. */
    if (make_pair(lfd, &addr, &c6, &s6) == -1)
        failed("TIME-WAIT");
    {
        unsigned short port = local_port(c6);
        close(c6);
        if (drain_to_eof(s6) == -1)
            failed("TIME-WAIT");
        close(s6);
        show("TIME-WAIT", "the client closed first; both FINs acknowledged", port);
    }

    if (wait) {
        printf("\nPress Enter to close every socket.\n");
        fflush(stdout);
        (void)getchar();
    }
    return 0;
}
