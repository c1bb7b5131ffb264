/* echo_ping.c: the round-trip latency of 1 byte through an echo server, TCP or UDP. */
/*
 * Usage: echo_ping [-u] [-w WARMUP] HOST PORT COUNT
 *
 * Connects to HOST:PORT with TCP_NODELAY (with -u: a connected UDP socket), then
 * COUNT times: send 1 byte, wait for it to come back, and time the round trip
 * with CLOCK_MONOTONIC. WARMUP round trips (default 100) come first and are not
 * counted. Over UDP a reply that does not come within 1 s is an error.
 *
 * On success it prints one line on stdout, every time in microseconds:
 *     count=N p50_us=A p99_us=B min_us=C max_us=D mean_us=E
 *
 * Exit codes: 0 on success, 1 on a network error, a lost reply or a wrong byte,
 * 2 for bad arguments.
 */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#define PROG "echo_ping"

static double now_us(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e6 + (double)ts.tv_nsec / 1e3;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;

    return (x > y) - (x < y);
}

static int connect_to(const char *host, const char *port, int type)
{
    struct addrinfo hints, *res, *ai;
    int fd = -1, rc, one = 1;
    struct timeval tv = { .tv_sec = 1 };

    memset(&hints, 0, sizeof hints);
    hints.ai_socktype = type;
    rc = getaddrinfo(host, port, &hints, &res);
    if (rc != 0) {
        fprintf(stderr, "%s: getaddrinfo %s:%s: %s\n", PROG, host, port, gai_strerror(rc));
        return -1;
    }
    for (ai = res; ai != NULL; ai = ai->ai_next) {
        fd = socket(ai->ai_family, ai->ai_socktype, ai->ai_protocol);
        if (fd == -1)
            continue;
        if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0)
            break;
        close(fd);
        fd = -1;
    }
    if (fd == -1)
        fprintf(stderr, "%s: connect %s:%s: %s\n", PROG, host, port, strerror(errno));
    else if (type == SOCK_STREAM)
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    else
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    freeaddrinfo(res);
    return fd;
}

/* One round trip of the byte c; -1 on error, EOF or a wrong byte. */
static int ping(int fd, unsigned char c)
{
    unsigned char r;
    ssize_t n;

    do
        n = send(fd, &c, 1, MSG_NOSIGNAL);
    while (n == -1 && errno == EINTR);
    if (n != 1) {
        fprintf(stderr, "%s: send: %s\n", PROG, strerror(errno));
        return -1;
    }
    do
        n = recv(fd, &r, 1, 0);
    while (n == -1 && errno == EINTR);
    if (n != 1 || r != c) {
        fprintf(stderr, "%s: recv: %s\n", PROG, n == 0 ? "EOF" : n == 1 ? "wrong byte" : strerror(errno));
        return -1;
    }
    return 0;
}

int main(int argc, char **argv)
{
    long warmup = 100, count;
    int opt, fd, type = SOCK_STREAM;
    double *rtt, sum = 0;

    while ((opt = getopt(argc, argv, "uw:")) != -1) {
        if (opt == 'u')
            type = SOCK_DGRAM;
        else if (opt == 'w')
            warmup = strtol(optarg, NULL, 10);
        else
            goto usage;
    }
    if (argc - optind != 3 || warmup < 0)
        goto usage;
    count = strtol(argv[optind + 2], NULL, 10);
    if (count <= 0 || count > 100000000)
        goto usage;
    rtt = malloc((size_t)count * sizeof *rtt);
    if (rtt == NULL) {
        fprintf(stderr, "%s: malloc: %s\n", PROG, strerror(errno));
        return 1;
    }
    fd = connect_to(argv[optind], argv[optind + 1], type);
    if (fd == -1)
        return 1;
    for (long i = 0; i < warmup; i++)
        if (ping(fd, (unsigned char)i) == -1)
            return 1;
    for (long i = 0; i < count; i++) {
        double t0 = now_us();

        if (ping(fd, (unsigned char)i) == -1)
            return 1;
        rtt[i] = now_us() - t0;
        sum += rtt[i];
    }
    close(fd);
    qsort(rtt, (size_t)count, sizeof *rtt, cmp_double);
    printf("count=%ld p50_us=%.2f p99_us=%.2f min_us=%.2f max_us=%.2f mean_us=%.2f\n", count,
           rtt[count / 2], rtt[(count * 99) / 100], rtt[0], rtt[count - 1], sum / (double)count);
    free(rtt);
    return 0;

usage:
    fprintf(stderr, "usage: %s [-u] [-w WARMUP] HOST PORT COUNT\n", PROG);
    return 2;
}
