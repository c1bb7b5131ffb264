/* etimedout.c: a SYN that is never answered, and the ETIMEDOUT it ends in. */
/*
 * Usage: etimedout
 *
 * A listener on 127.0.0.1 with backlog 0 that never calls accept(): its queue of
 * completed connections holds one, so a first client connects and fills it. Linux
 * drops the SYNs of any further client while the queue is full (`nstat -az
 * TcpExtListenOverflows` counts them), exactly as if they were lost on the way.
 *
 * The second client retransmits its SYN after 1 s, 2 s, 4 s... and by default gives up
 * after net.ipv4.tcp_syn_retries (6) retransmissions, about 127 s later. Here it sets
 * TCP_USER_TIMEOUT to 500 ms, so connect() fails with ETIMEDOUT at the first
 * retransmission timer, after about 1 s. Every packet stays on loopback.
 *
 * Exit codes: 1 after printing the error line (the error happened), 3 if it did not.
 */
#include "example.h"

#include <errno.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <time.h>
#include <unistd.h>

static const char prog[] = "etimedout";
#define USER_TIMEOUT_MS 500

static double now_s(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int main(void)
{
    struct sockaddr_in addr;
    unsigned int timeout_ms = USER_TIMEOUT_MS;
    double t0;
    int lfd, first, fd, rc;

    lfd = listen_loopback(0, &addr);
    if (lfd == -1)
        return setup_failed(prog, "listen");
    first = connect_to(&addr);
    if (first == -1)
        return setup_failed(prog, "connect (first client)");
    printf("the listener's queue is full (backlog 0, one connection not accepted)\n");
    fflush(stdout);

    /* [catalog] */
    fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd == -1)
        return setup_failed(prog, "socket");
    /* Give up when data (here: the SYN) has gone unacknowledged for this long. */
    if (setsockopt(fd, IPPROTO_TCP, TCP_USER_TIMEOUT, &timeout_ms, sizeof timeout_ms) == -1)
        return setup_failed(prog, "setsockopt TCP_USER_TIMEOUT");
    t0 = now_s();
    if (connect(fd, (struct sockaddr *)&addr, sizeof addr) == -1) {
        printf("connect() failed after %.1f s\n", now_s() - t0);
        fflush(stdout);
        rc = expect_errno(prog, "connect", &addr, ETIMEDOUT);
    }
    /* [catalog] */
    else
        rc = not_reproduced(prog, "connect() succeeded: the SYN was not dropped");
    close(fd);
    close(first);
    close(lfd);
    return rc;
}
