/* udp_client.c: numbered requests over UDP, with a timeout, retransmission and backoff. */
/*
 * Usage: udp_client [-4|-6] [-c COUNT] [-t TIMEOUT_MS] [-r RETRIES] [--backoff F]
 *                   [--max-timeout MS] [--adaptive] [-s SIZE] HOST PORT
 *
 * Sends COUNT requests (default 10) of SIZE bytes (default 64) to the echo server
 * HOST PORT, one at a time. Each carries a sequence number and an attempt number
 * (handout §3.1). The client waits up to the timeout (default 1000 ms) for the echo
 * with the matching sequence number; other datagrams (stale replies to earlier
 * requests, duplicates) are counted and ignored, and do not extend the wait.
 * On a timeout it sends the request again and multiplies the timeout by F
 * (default 2, never above --max-timeout, default 60000 ms), up to RETRIES
 * retransmissions (default 3); then the request is reported lost and the next
 * one starts. With --adaptive the timeout is the RTO of RFC 6298, computed from
 * the RTTs measured so far; TIMEOUT_MS is then its first value and its floor.
 *
 * Output (handout §3.2): one line per request, then a summary:
 *   seq=3 bytes=64 rtt=0.412 ms attempts=2
 *   seq=4 lost after 4 attempts
 *   10 requests, 9 replied, 10.0% lost, 3 retransmissions, 1 duplicates, rtt min/avg/max/mdev = ... ms
 * With --adaptive each request line ends with " rto=R ms", the RTO after it.
 *
 * Exit codes: 0 if every request was answered, 1 if any was lost or on an error
 * (an unresolvable host, a socket error), 2 for bad arguments.
 */
#define _POSIX_C_SOURCE 200809L
#include "rtt.h"
#include "sockutil.h"
#include "udpio.h"

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define PROG "udp_client"
#define MAX_COUNT 1000000UL
#define MAX_RETRIES 100UL
#define MAX_TIMEOUT_MS 3600000UL

struct options {
    int family;
    unsigned long count;
    double timeout_ms;     /* first timeout; with --adaptive the first RTO and its floor */
    unsigned long retries; /* retransmissions after the first send */
    double backoff;
    double max_timeout_ms;
    int adaptive;
    size_t size;           /* bytes per request, header included */
    const char *host;
    const char *port;
};

struct client {
    struct options opt;
    int fd;
    char peer[SOCKADDR_STRLEN];
    unsigned char req[UDP_MAX_PAYLOAD];
    unsigned char buf[UDP_RECV_BUFSIZE];
    double sent_at[MAX_RETRIES + 1]; /* mono_ms() just before each send of the current request */
    struct rto_estimator rto;
    struct rtt_stats stats;
    unsigned long replied, lost, retransmissions, duplicates;
};

/* What became of one request. */
struct outcome {
    unsigned attempts; /* transmissions made */
    int replied;
    double rtt_ms;     /* from the send of the attempt that the reply echoes */
};

enum { OPT_BACKOFF = 256, OPT_MAX_TIMEOUT, OPT_ADAPTIVE };

static void usage(void)
{
    fprintf(stderr, "usage: %s [-4|-6] [-c COUNT] [-t TIMEOUT_MS] [-r RETRIES] [--backoff F]\n"
                    "                  [--max-timeout MS] [--adaptive] [-s SIZE] HOST PORT\n", PROG);
}

/* Say which value was wrong: "usage" alone leaves the user guessing. */
static int bad_value(const char *option, const char *text, const char *range)
{
    fprintf(stderr, "%s: %s wants %s, not '%s'\n", PROG, option, range, text);
    return -1;
}

static int parse_ulong_ms(const char *opt, const char *text, unsigned long min, double *out)
{
    unsigned long v;

    if (parse_uint(text, MAX_TIMEOUT_MS, &v) == -1 || v < min)
        return bad_value(opt, text, "a whole number of milliseconds from 1 to 3600000");
    *out = (double)v;
    return 0;
}

/* One option; -1 after saying what is wrong with it. */
static int parse_option(int c, const char *arg, struct options *o)
{
    unsigned long v;

    switch (c) {
    case '4': o->family = AF_INET; return 0;
    case '6': o->family = AF_INET6; return 0;
    case OPT_ADAPTIVE: o->adaptive = 1; return 0;
    case 'c':
        if (parse_uint(arg, MAX_COUNT, &o->count) == -1 || o->count == 0)
            return bad_value("-c", arg, "a count from 1 to 1000000");
        return 0;
    case 't': return parse_ulong_ms("-t", arg, 1, &o->timeout_ms);
    case OPT_MAX_TIMEOUT: return parse_ulong_ms("--max-timeout", arg, 1, &o->max_timeout_ms);
    case 'r':
        if (parse_uint(arg, MAX_RETRIES, &o->retries) == -1)
            return bad_value("-r", arg, "a number of retransmissions from 0 to 100");
        return 0;
    case OPT_BACKOFF:
        if (parse_double(arg, 1.0, 16.0, &o->backoff) == -1)
            return bad_value("--backoff", arg, "a factor from 1 to 16");
        return 0;
    case 's':
        if (parse_uint(arg, UDP_MAX_PAYLOAD, &v) == -1 || v < WIRE_HEADER_LEN)
            return bad_value("-s", arg, "a size in bytes from 8 to 65507");
        o->size = (size_t)v;
        return 0;
    default: return -1;
    }
}

static int parse_args(int argc, char **argv, struct options *o)
{
    static const struct option longopts[] = {
        {"backoff", required_argument, NULL, OPT_BACKOFF},
        {"max-timeout", required_argument, NULL, OPT_MAX_TIMEOUT},
        {"adaptive", no_argument, NULL, OPT_ADAPTIVE},
        {NULL, 0, NULL, 0},
    };
    unsigned short port;
    int c;

    *o = (struct options){.family = AF_UNSPEC, .count = 10, .timeout_ms = 1000, .retries = 3,
                          .backoff = 2.0, .max_timeout_ms = 60000, .size = 64};
    while ((c = getopt_long(argc, argv, "46c:t:r:s:", longopts, NULL)) != -1)
        if (parse_option(c, optarg, o) == -1)
            return -1;
    if (argc - optind != 2)
        return -1;
    o->host = argv[optind];
    o->port = argv[optind + 1];
    if (parse_port(o->port, &port) == -1 || port == 0)
        return bad_value("PORT", o->port, "a port from 1 to 65535");
    return 0;
}

/* Send one transmission of request seq. A refused send is a lost attempt, not the end. */
static int send_attempt(struct client *c, uint32_t seq, unsigned attempt)
{
    wire_encode(c->req, c->opt.size, seq, (uint16_t)attempt);
    c->sent_at[attempt - 1] = mono_ms();
    if (send(c->fd, c->req, c->opt.size, 0) == -1) {
        fprintf(stderr, "%s: send %s: %s\n", PROG, c->peer, strerror(errno));
        /* ECONNREFUSED reports an ICMP "port unreachable" for an earlier datagram. */
        return errno == ECONNREFUSED ? 0 : -1;
    }
    return 0;
}

/*
 * Is the datagram in c->buf the reply to request seq, of which `attempts` were sent?
 * On yes, *answered is the attempt it echoes. Anything else is counted or reported
 * and ignored: a stale reply or a copy is normal on a lossy network (handout §4.5).
 */
static int is_reply(struct client *c, size_t n, uint32_t seq, unsigned attempts, unsigned *answered)
{
    struct wire_header h;

    if (wire_decode(c->buf, n, &h) == -1 || n != c->opt.size || h.attempt == 0
        || (h.seq == seq && h.attempt > attempts)) {
        fprintf(stderr, "%s: ignored a malformed reply of %zu bytes from %s\n", PROG, n, c->peer);
        return 0;
    }
    if (h.seq != seq) {
        c->duplicates++;
        return 0;
    }
    *answered = h.attempt;
    return 1;
}

/* Wait until the deadline for the reply to seq: 1 when it came, 0 at the deadline, -1 on error. */
static int await_reply(struct client *c, uint32_t seq, unsigned attempts, double deadline,
                       struct outcome *out)
{
    unsigned answered;

    for (;;) {
        /* The deadline stays fixed: an unwanted datagram must not restart the wait. */
        int rc = wait_readable(c->fd, deadline);
        ssize_t n;

        if (rc == 0)
            return 0;
        if (rc == -1) {
            if (errno == EINTR)
                continue;
            fprintf(stderr, "%s: poll %s: %s\n", PROG, c->peer, strerror(errno));
            return -1;
        }
        n = recv(c->fd, c->buf, sizeof c->buf, 0); /* non-blocking: EAGAIN if it is gone */
        if (n == -1) {
            if (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK)
                continue;
            fprintf(stderr, "%s: recv %s: %s\n", PROG, c->peer, strerror(errno));
            if (errno == ECONNREFUSED)
                continue;
            return -1;
        }
        if (is_reply(c, (size_t)n, seq, attempts, &answered)) {
            out->replied = 1;
            out->rtt_ms = mono_ms() - c->sent_at[answered - 1];
            return 1;
        }
    }
}

/* A timer expired: the next wait is longer (handout §4.3). With --adaptive the
 * backed-off RTO also stays in force for the next request (Karn, handout §5.3). */
static double backed_off(struct client *c, double timeout)
{
    if (c->opt.adaptive) {
        rto_backoff(&c->rto, c->opt.backoff);
        return c->rto.rto;
    }
    return fmin(timeout * c->opt.backoff, c->opt.max_timeout_ms);
}

/* Send request seq until it is answered or RETRIES retransmissions went unanswered. */
static int do_request(struct client *c, uint32_t seq, struct outcome *out)
{
    double timeout = c->opt.adaptive ? c->rto.rto : fmin(c->opt.timeout_ms, c->opt.max_timeout_ms);
    unsigned last = (unsigned)c->opt.retries + 1;

    memset(out, 0, sizeof *out);
    for (unsigned attempt = 1; attempt <= last; attempt++) {
        int rc;

        if (send_attempt(c, seq, attempt) == -1)
            return -1;
        out->attempts = attempt;
        rc = await_reply(c, seq, attempt, c->sent_at[attempt - 1] + timeout, out);
        if (rc != 0)
            return rc == 1 ? 0 : -1;
        timeout = backed_off(c, timeout);
    }
    return 0;
}

/* Count the outcome, feed the estimator, print the request's line (handout §3.2). */
static void finish_request(struct client *c, uint32_t seq, const struct outcome *out)
{
    c->retransmissions += out->attempts - 1;
    if (out->replied) {
        c->replied++;
        rtt_stats_add(&c->stats, out->rtt_ms);
        /* Karn's rule: a retransmitted request gives no RTT sample (handout §5.3). */
        if (c->opt.adaptive && out->attempts == 1)
            rto_sample(&c->rto, out->rtt_ms);
        printf("seq=%" PRIu32 " bytes=%zu rtt=%.3f ms attempts=%u", seq, c->opt.size,
               out->rtt_ms, out->attempts);
    } else {
        c->lost++;
        printf("seq=%" PRIu32 " lost after %u attempts", seq, out->attempts);
    }
    if (c->opt.adaptive)
        printf(" rto=%.3f ms", c->rto.rto);
    putchar('\n');
}

static void print_summary(const struct client *c)
{
    const struct rtt_stats *s = &c->stats;

    printf("%lu requests, %lu replied, %.1f%% lost, %lu retransmissions, %lu duplicates",
           c->opt.count, c->replied, 100.0 * (double)c->lost / (double)c->opt.count,
           c->retransmissions, c->duplicates);
    if (s->n > 0)
        printf(", rtt min/avg/max/mdev = %.3f/%.3f/%.3f/%.3f ms", s->min,
               s->sum / (double)s->n, s->max, rtt_stats_mdev(s));
    putchar('\n');
}

static int run(struct client *c)
{
    struct outcome out;

    for (unsigned long i = 1; i <= c->opt.count; i++) {
        if (do_request(c, (uint32_t)i, &out) == -1)
            return -1;
        finish_request(c, (uint32_t)i, &out);
    }
    print_summary(c);
    return 0;
}

int main(int argc, char **argv)
{
    /* Static: 130 KiB of buffers are better off the stack, and start zeroed. */
    static struct client c;
    char err[UDPIO_ERRLEN];
    struct sockaddr_storage peer;
    socklen_t peerlen = sizeof peer;
    int rc;

    if (parse_args(argc, argv, &c.opt) == -1) {
        usage();
        return 2;
    }
    c.fd = udp_connect(c.opt.host, c.opt.port, c.opt.family, err, sizeof err);
    if (c.fd == -1) {
        fprintf(stderr, "%s: %s\n", PROG, err);
        return 1;
    }
    if (udp_nonblocking(c.fd) == -1) {
        fprintf(stderr, "%s: fcntl O_NONBLOCK: %s\n", PROG, strerror(errno));
        close(c.fd);
        return 1;
    }
    if (getpeername(c.fd, (struct sockaddr *)&peer, &peerlen) == -1) {
        fprintf(stderr, "%s: getpeername: %s\n", PROG, strerror(errno));
        close(c.fd);
        return 1;
    }
    sockaddr_str((struct sockaddr *)&peer, c.peer, sizeof c.peer);
    rto_init(&c.rto, c.opt.timeout_ms, c.opt.max_timeout_ms);
    /* One line per request as it happens, even when stdout is a pipe. */
    setvbuf(stdout, NULL, _IOLBF, 0);
    rc = run(&c);
    close(c.fd);
    if (fflush(stdout) == EOF || ferror(stdout)) {
        fprintf(stderr, "%s: write stdout: %s\n", PROG, strerror(errno));
        return 1;
    }
    return (rc == 0 && c.lost == 0) ? 0 : 1;
}
