/* echo_stream.c: push a stream through a TCP echo server and read it back, concurrently. */
/*
 * Usage: echo_stream [-c CHUNK] [-s EVERY] HOST PORT BYTES
 *
 * Connects to HOST:PORT, sends BYTES bytes of a fixed pattern while reading the
 * echo back in the same poll() loop, half-closes after the last byte, and reads
 * until all BYTES have come back (or EOF). CHUNK is the size of each send() and
 * recv() (default 262144: with 64 KiB the client's own system calls cost it about
 * a tenth of its speed on loopback, and the client must not be the bottleneck).
 *
 * The echo is checked against the pattern: every byte count exactly, and the
 * contents of one recv() in EVERY (default 16; 1 checks every byte, 0 none).
 * Checking every byte costs the client about a third of its speed on loopback,
 * enough to make the load generator the bottleneck; sampling keeps it honest
 * (a lost, repeated or reordered chunk still shifts every later byte).
 *
 * On success it prints one line on stdout:
 *     bytes=N seconds=S bytes_per_s=R
 * where S runs from connect() returning to the last echoed byte.
 *
 * Exit codes: 0 on success, 1 on a network error, a short echo or a wrong byte,
 * 2 for bad arguments.
 */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <netdb.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define PROG "echo_stream"
/* A prime period, so that chunk boundaries fall at every phase of the pattern. */
#define PERIOD 251

static double now_s(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int connect_to(const char *host, const char *port)
{
    struct addrinfo hints, *res, *ai;
    int fd = -1, rc;

    memset(&hints, 0, sizeof hints);
    hints.ai_socktype = SOCK_STREAM;
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
    freeaddrinfo(res);
    return fd;
}

int main(int argc, char **argv)
{
    size_t chunk = 262144;
    long every = 16, nrecv = 0;
    int opt, fd;
    long long total, sent = 0, got = 0;
    unsigned char *pattern, *in;
    double t0, t1;

    while ((opt = getopt(argc, argv, "c:s:")) != -1) {
        switch (opt) {
        case 'c': chunk = strtoul(optarg, NULL, 10); break;
        case 's': every = strtol(optarg, NULL, 10); break;
        default: goto usage;
        }
    }
    if (argc - optind != 3 || chunk == 0 || chunk > (1 << 24) || every < 0)
        goto usage;
    total = atoll(argv[optind + 2]);
    if (total <= 0)
        goto usage;

    pattern = malloc(chunk + PERIOD);
    in = malloc(chunk);
    if (pattern == NULL || in == NULL) {
        fprintf(stderr, "%s: malloc: %s\n", PROG, strerror(errno));
        return 1;
    }
    for (size_t i = 0; i < chunk + PERIOD; i++)
        pattern[i] = (unsigned char)(i % PERIOD);

    fd = connect_to(argv[optind], argv[optind + 1]);
    if (fd == -1)
        return 1;
    t0 = now_s();
    while (got < total) {
        struct pollfd p = { .fd = fd, .events = POLLIN | (sent < total ? POLLOUT : 0) };

        if (poll(&p, 1, 10000) <= 0) {
            fprintf(stderr, "%s: poll: %s after %lld sent, %lld echoed\n", PROG,
                    errno ? strerror(errno) : "no progress for 10 s", sent, got);
            return 1;
        }
        if ((p.revents & POLLOUT) && sent < total) {
            size_t want = (size_t)(total - sent < (long long)chunk ? total - sent : (long long)chunk);
            ssize_t n = send(fd, pattern + sent % PERIOD, want, MSG_NOSIGNAL | MSG_DONTWAIT);

            if (n == -1 && errno != EAGAIN && errno != EINTR) {
                fprintf(stderr, "%s: send: %s\n", PROG, strerror(errno));
                return 1;
            }
            if (n > 0) {
                sent += n;
                if (sent == total)
                    shutdown(fd, SHUT_WR);
            }
        }
        if (p.revents & (POLLIN | POLLHUP | POLLERR)) {
            ssize_t n = recv(fd, in, chunk, MSG_DONTWAIT);

            if (n == -1 && errno != EAGAIN && errno != EINTR) {
                fprintf(stderr, "%s: recv: %s\n", PROG, strerror(errno));
                return 1;
            }
            if (n == 0) {
                fprintf(stderr, "%s: EOF after %lld of %lld bytes echoed\n", PROG, got, total);
                return 1;
            }
            if (n > 0) {
                if (every > 0 && nrecv++ % every == 0 && memcmp(in, pattern + got % PERIOD, (size_t)n) != 0) {
                    fprintf(stderr, "%s: wrong byte in the echo near offset %lld\n", PROG, got);
                    return 1;
                }
                got += n;
            }
        }
    }
    t1 = now_s();
    close(fd);
    printf("bytes=%lld seconds=%.6f bytes_per_s=%.0f\n", total, t1 - t0, (double)total / (t1 - t0));
    free(pattern);
    free(in);
    return 0;

usage:
    fprintf(stderr, "usage: %s [-c CHUNK] [-s EVERY] HOST PORT BYTES\n", PROG);
    return 2;
}
