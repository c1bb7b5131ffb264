/* udp_server.c: a UDP echo server (RFC 862), with optional seeded loss and delay. */
/*
 * Usage: udp_server [-4|-6] [-b ADDR] -p PORT [--loss P] [--delay-ms D] [--seed S]
 *
 * Binds ADDR:PORT (every local address if -b is not given; -p 0 asks the kernel for
 * an ephemeral port), prints "listening on ADDR:PORT" on stdout, then sends every
 * datagram back to the address it came from, unchanged: any size from 0 to 65507
 * bytes, from any number of clients whose datagrams interleave.
 *
 * --loss P     drops each datagram with probability P (0 to 1) instead of echoing
 *              it, and says so on stderr: "dropped datagram N (B bytes from ADDR:PORT)".
 * --delay-ms D holds each echo back D ms (0 to 60000); the server goes on
 *              receiving meanwhile, so other clients are not held up.
 * --seed S     makes the losses repeatable. Without it the seed comes from the
 *              clock, and is printed on stderr so that a run can be repeated.
 *
 * SIGINT or SIGTERM: "N datagrams received, M echoed, K dropped" on stderr, exit 0.
 * Exit codes: 0 after SIGINT/SIGTERM, 1 if the socket cannot be set up or fails,
 * 2 for bad arguments.
 */
#define _POSIX_C_SOURCE 200809L
#include "sockutil.h"
#include "udpio.h"

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define PROG "udp_server"
#define MAX_DELAY_MS 60000UL
/* Echoes waiting out --delay-ms may hold this many bytes; beyond it they are dropped,
 * as a router drops when its queue is full. */
#define MAX_QUEUED_BYTES (16UL << 20)

struct options {
    int family;
    const char *host;
    const char *port;
    double loss;
    double delay_ms;
    unsigned long seed;
    int seeded;
};

/* An echo held back by --delay-ms. The delay is the same for all, so a FIFO keeps them in due order. */
struct pending {
    struct pending *next;
    double due_ms;
    struct sockaddr_storage to;
    socklen_t tolen;
    size_t len;
    unsigned char data[];
};

struct server {
    int fd;
    struct options opt;
    uint64_t rng;
    struct pending *head, *tail;
    size_t queued_bytes;
    unsigned long received, echoed, dropped;
    unsigned char buf[UDP_RECV_BUFSIZE]; /* holds any datagram whole: no truncation */
};

enum { OPT_LOSS = 256, OPT_DELAY, OPT_SEED };

/* Set by the SIGINT/SIGTERM handler; the loop checks it when poll() returns EINTR. */
static volatile sig_atomic_t stop_requested;

static void on_stop_signal(int sig)
{
    (void)sig;
    stop_requested = 1;
}

/* No SA_RESTART: a blocked poll() must return EINTR so that the loop sees the flag. */
static int install_signals(void)
{
    struct sigaction sa;

    memset(&sa, 0, sizeof sa);
    sigemptyset(&sa.sa_mask);
    sa.sa_handler = on_stop_signal;
    if (sigaction(SIGINT, &sa, NULL) == -1 || sigaction(SIGTERM, &sa, NULL) == -1)
        return -1;
    return 0;
}

static void usage(void)
{
    fprintf(stderr, "usage: %s [-4|-6] [-b ADDR] -p PORT [--loss P] [--delay-ms D] [--seed S]\n", PROG);
}

static int bad_value(const char *option, const char *text, const char *range)
{
    fprintf(stderr, "%s: %s wants %s, not '%s'\n", PROG, option, range, text);
    return -1;
}

static int parse_option(int c, const char *arg, struct options *o)
{
    unsigned long v;

    switch (c) {
    case '4': o->family = AF_INET; return 0;
    case '6': o->family = AF_INET6; return 0;
    case 'b': o->host = arg; return 0;
    case 'p': o->port = arg; return 0;
    case OPT_LOSS:
        if (parse_double(arg, 0.0, 1.0, &o->loss) == -1)
            return bad_value("--loss", arg, "a probability from 0 to 1");
        return 0;
    case OPT_DELAY:
        if (parse_uint(arg, MAX_DELAY_MS, &v) == -1)
            return bad_value("--delay-ms", arg, "a delay in ms from 0 to 60000");
        o->delay_ms = (double)v;
        return 0;
    case OPT_SEED:
        if (parse_uint(arg, ULONG_MAX, &o->seed) == -1)
            return bad_value("--seed", arg, "a whole number");
        o->seeded = 1;
        return 0;
    default: return -1;
    }
}

static int parse_args(int argc, char **argv, struct options *o)
{
    static const struct option longopts[] = {
        {"loss", required_argument, NULL, OPT_LOSS},
        {"delay-ms", required_argument, NULL, OPT_DELAY},
        {"seed", required_argument, NULL, OPT_SEED},
        {NULL, 0, NULL, 0},
    };
    unsigned short port;
    int c;

    *o = (struct options){.family = AF_UNSPEC};
    while ((c = getopt_long(argc, argv, "46b:p:", longopts, NULL)) != -1)
        if (parse_option(c, optarg, o) == -1)
            return -1;
    if (o->port == NULL || optind != argc)
        return -1;
    if (parse_port(o->port, &port) == -1)
        return bad_value("-p", o->port, "a port from 0 to 65535");
    return 0;
}

/* splitmix64: a tiny generator whose sequence depends only on the seed, on any libc. */
static uint64_t rng_next(uint64_t *state)
{
    uint64_t z = (*state += UINT64_C(0x9e3779b97f4a7c15));

    z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
    z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
    return z ^ (z >> 31);
}

/* Uniform in [0, 1): the top 53 bits fill a double's mantissa exactly. */
static double rng_uniform(uint64_t *state)
{
    return (double)(rng_next(state) >> 11) * 0x1.0p-53;
}

static void send_echo(struct server *s, const void *data, size_t len,
                      const struct sockaddr *to, socklen_t tolen)
{
    /* TODO(student): handout §4.1. sendto() the datagram back to `to` and count it in
     * s->echoed. A failed echo is one lost datagram: report it, count it, carry on. */
    (void)s;
    (void)data;
    (void)len;
    (void)to;
    (void)tolen;
}

static void drop(struct server *s, size_t len, const struct sockaddr *from, const char *why)
{
    char addr[SOCKADDR_STRLEN];

    s->dropped++;
    fprintf(stderr, "dropped datagram %lu (%zu bytes from %s): %s\n", s->received, len,
            sockaddr_str(from, addr, sizeof addr), why);
}

/* Hold an echo back until now + --delay-ms. */
static void enqueue(struct server *s, size_t len, const struct sockaddr_storage *from, socklen_t fromlen)
{
    /* TODO(student): handout §4.6. Copy the datagram into a struct pending due at
     * now + --delay-ms, at the tail of the queue; past MAX_QUEUED_BYTES, or if malloc()
     * fails, drop() it instead. */
    (void)s;
    (void)len;
    (void)from;
    (void)fromlen;
}

static struct pending *dequeue(struct server *s)
{
    /* TODO(student): handout §4.6. Unlink the head of the queue and return it. */
    (void)s;
    return NULL;
}

/* Send every held echo whose time has come. */
static void flush_due(struct server *s)
{
    /* TODO(student): handout §4.6. send_echo() and free() every queued echo whose due
     * time has come. */
    (void)s;
    (void)dequeue;
}

/* One datagram: drop it, hold it, or send it straight back to its sender. */
static int on_datagram(struct server *s)
{
    /* TODO(student): handout §2.1, §4.1, §4.6. recvfrom() one datagram and its sender's
     * address (the socket is non-blocking: EAGAIN is not an error), then drop() it (--loss, rng_uniform()), enqueue() it (--delay-ms), or
     * send_echo() it to that sender at once. A 0-byte datagram is a datagram too. */
    (void)s;
    (void)rng_uniform;
    (void)drop;
    (void)enqueue;
    (void)send_echo;
    errno = ENOSYS;
    return -1;
}

/* Receive and echo until a stop signal; the poll deadline is the next held echo's time. */
static int serve(struct server *s)
{
    /* TODO(student): handout §4.6. Until stop_requested: wait_readable() with the first
     * queued echo's due time as the deadline (none when the queue is empty),
     * on_datagram() when readable, flush_due() every time round. */
    (void)s;
    (void)on_datagram;
    (void)flush_due;
    fprintf(stderr, "%s: serve: not written yet (TODO in udp_server.c, handout §4.6)\n", PROG);
    return -1;
}

static void seed_rng(struct server *s)
{
    s->rng = s->opt.seed;
    if (!s->opt.seeded) {
        s->rng = (uint64_t)mono_ms() ^ ((uint64_t)getpid() << 32);
        if (s->opt.loss > 0)
            fprintf(stderr, "loss %.3f with seed %" PRIu64 " (repeat with --seed)\n", s->opt.loss, s->rng);
    }
}

int main(int argc, char **argv)
{
    /* Static: the 64 KiB receive buffer is better off the stack, and it starts zeroed. */
    static struct server s;
    char err[UDPIO_ERRLEN], addr[SOCKADDR_STRLEN];
    int rc;

    if (parse_args(argc, argv, &s.opt) == -1) {
        usage();
        return 2;
    }
    if (install_signals() == -1) {
        fprintf(stderr, "%s: sigaction: %s\n", PROG, strerror(errno));
        return 1;
    }
    seed_rng(&s);
    s.fd = udp_bind(s.opt.host, s.opt.port, s.opt.family, err, sizeof err);
    if (s.fd == -1) {
        fprintf(stderr, "%s: %s\n", PROG, err);
        return 1;
    }
    if (udp_nonblocking(s.fd) == -1) {
        fprintf(stderr, "%s: fcntl O_NONBLOCK: %s\n", PROG, strerror(errno));
        close(s.fd);
        return 1;
    }
    if (sockname_str(s.fd, addr, sizeof addr) == NULL) {
        fprintf(stderr, "%s: getsockname: %s\n", PROG, strerror(errno));
        close(s.fd);
        return 1;
    }
    /* The harness waits for this line: flush it now, stdout is a pipe, not a terminal. */
    printf("listening on %s\n", addr);
    fflush(stdout);
    rc = serve(&s);
    while (s.head != NULL)
        free(dequeue(&s));
    close(s.fd);
    fprintf(stderr, "%lu datagrams received, %lu echoed, %lu dropped\n", s.received, s.echoed, s.dropped);
    return rc == 0 ? 0 : 1;
}
