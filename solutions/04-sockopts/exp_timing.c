/* exp_timing.c: the measured experiments: nodelay (latency) and bufsize (throughput). */
/*
 * nodelay times request/response rounds on one connection, first without TCP_NODELAY,
 * then with it, each after a few unmeasured warm-up rounds (handout §5). bufsize sets
 * SO_SNDBUF and SO_RCVBUF, reads them back, and times a bulk transfer to a receiver in
 * a child process (handout §6). Every round and every size is a JSON line that carries
 * its CLOCK_MONOTONIC start, so the harness can check it against its own clock.
 */
/* Feature macros: POSIX.1-2008 only. */
#define _POSIX_C_SOURCE 200809L

#include "jsonl.h"
#include "probe.h"
#include "sockopt_lab.h"

#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

/* The request is a header and a body sent by two send() calls, as a naive client does. */
#define HEADER_LEN 10
#define BODY_LEN 10
#define REPLY_LEN 10
/* bufsize moves data in chunks of this size, whatever the socket buffers: only they vary. */
#define CHUNK (64 * 1024)

/** Latency statistics of the measured rounds, in microseconds. */
struct stats {
    double mean_us, p50_us, p99_us, min_us, max_us;
};

/* ---- nodelay (handout §5) -------------------------------------------------------------- */

/*
 * One round: the client sends a header and a body in two send()s, the server side reads
 * both and replies, the client reads the reply. One thread plays both ends: the kernel
 * moves the bytes and runs the timers, so each call waits only for what the previous
 * call made possible, exactly as it would across two processes.
 */
static int run_round(const struct pair *p, long long *start_ns, long long *elapsed_ns)
{
    static const char request[HEADER_LEN + BODY_LEN] = "HEADER....body......";
    static const char reply[REPLY_LEN] = "REPLY.....";
    char in[HEADER_LEN + BODY_LEN];

    *start_ns = now_ns();
    if (send_exact(p->cfd, request, HEADER_LEN) == -1 ||
        send_exact(p->cfd, request + HEADER_LEN, BODY_LEN) == -1)
        return report_error("send", p->client_addr);
    if (recv_exact(p->sfd, in, sizeof in) != 1)
        return report_error("recv request", p->listen_addr);
    if (send_exact(p->sfd, reply, REPLY_LEN) == -1)
        return report_error("send reply", p->listen_addr);
    if (recv_exact(p->cfd, in, REPLY_LEN) != 1)
        return report_error("recv reply", p->client_addr);
    *elapsed_ns = now_ns() - *start_ns;
    return 0;
}

static int cmp_ll(const void *a, const void *b)
{
    long long x = *(const long long *)a, y = *(const long long *)b;
    return (x > y) - (x < y);
}

/* The nearest-rank percentile of sorted values: the smallest value with pct% at or below it. */
static long long percentile(const long long *sorted, size_t n, unsigned pct)
{
    size_t rank = (pct * n + 99) / 100;
    return sorted[rank > 0 ? rank - 1 : 0];
}

/* Mean, p50, p99, min and max of n > 0 latencies in ns; sorts the array. */
static void summarize(long long *ns, size_t n, struct stats *st)
{
    double sum = 0;
    size_t i;

    qsort(ns, n, sizeof ns[0], cmp_ll);
    for (i = 0; i < n; i++)
        sum += (double)ns[i];
    st->mean_us = sum / (double)n / 1e3;
    st->p50_us = (double)percentile(ns, n, 50) / 1e3;
    st->p99_us = (double)percentile(ns, n, 99) / 1e3;
    st->min_us = (double)ns[0] / 1e3;
    st->max_us = (double)ns[n - 1] / 1e3;
}

static int emit_round(int nodelay, unsigned long round, int warmup, long long start, long long ns)
{
    struct jline j;

    jl_begin(&j, "nodelay", "round");
    jl_int(&j, "nodelay", nodelay);
    jl_bool(&j, "warmup", warmup);
    jl_int(&j, "round", (long long)round);
    jl_int(&j, "start_ns", start);
    jl_num(&j, "latency_us", (double)ns / 1e3, 3);
    return jl_emit(&j) == -1 ? report_error("write stdout", NULL) : 0;
}

static int emit_summary(int nodelay, int readback, const struct lab_opts *o, const struct stats *st)
{
    struct jline j;

    jl_begin(&j, "nodelay", "summary");
    jl_int(&j, "nodelay", nodelay);
    jl_int(&j, "readback", readback);
    jl_int(&j, "rounds", (long long)o->rounds);
    jl_int(&j, "warmup", (long long)o->warmup);
    jl_num(&j, "mean_us", st->mean_us, 3);
    jl_num(&j, "p50_us", st->p50_us, 3);
    jl_num(&j, "p99_us", st->p99_us, 3);
    jl_num(&j, "min_us", st->min_us, 3);
    jl_num(&j, "max_us", st->max_us, 3);
    fprintf(stderr, "nodelay: TCP_NODELAY=%d (read back %d): %lu rounds after %lu warm-up: "
            "mean %.1f us, p50 %.1f us, p99 %.1f us\n", nodelay, readback, o->rounds, o->warmup,
            st->mean_us, st->p50_us, st->p99_us);
    return jl_emit(&j) == -1 ? report_error("write stdout", NULL) : 0;
}

/* Warm-up rounds (reported, not counted), then the measured rounds into ns[]. */
static int measure(const struct pair *p, const struct lab_opts *o, int nodelay, long long *ns)
{
    long long start, elapsed;
    unsigned long i;

    /* The first rounds of a connection are fast whatever the option: the receiver ACKs
     * at once until it has seen the request/response pattern (handout §5.2). */
    for (i = 0; i < o->warmup; i++)
        if (run_round(p, &start, &elapsed) == -1 || emit_round(nodelay, i, 1, start, elapsed) == -1)
            return -1;
    for (i = 0; i < o->rounds; i++) {
        if (run_round(p, &start, &elapsed) == -1 || emit_round(nodelay, i, 0, start, elapsed) == -1)
            return -1;
        ns[i] = elapsed;
    }
    return 0;
}

/* TCP_NODELAY on the client's socket, and what getsockopt() reads back from it. */
static int set_nodelay(const struct pair *p, int on, int *readback)
{
    /* Nagle holds back the client's small second send(): the option goes on the client. */
    if (set_int_opt(p->cfd, IPPROTO_TCP, TCP_NODELAY, on, "TCP_NODELAY", p->client_addr) == -1)
        return -1;
    return get_int_opt(p->cfd, IPPROTO_TCP, TCP_NODELAY, readback, "TCP_NODELAY", p->client_addr);
}

/* One half of the experiment, on a fresh connection: TCP_NODELAY off (0) or on (1). */
static int nodelay_half(const struct lab_opts *o, int nodelay, struct stats *st)
{
    struct pair p;
    long long *ns = malloc(o->rounds * sizeof *ns);
    int readback = 0, rc = -1;

    if (ns == NULL)
        return report_error("malloc", NULL);
    if (pair_open(o->host, NULL, &p) == -1) {
        free(ns);
        return -1;
    }
    if (set_nodelay(&p, nodelay, &readback) == -1 || measure(&p, o, nodelay, ns) == -1)
        goto end;
    summarize(ns, o->rounds, st);
    rc = emit_summary(nodelay, readback, o, st);
end:
    pair_close(&p);
    free(ns);
    return rc;
}

int exp_nodelay(const struct lab_opts *o)
{
    struct stats off = {0}, on = {0};

    if (nodelay_half(o, 0, &off) == -1 || nodelay_half(o, 1, &on) == -1)
        return -1;
    fprintf(stderr, "nodelay: p50 %.1f us without TCP_NODELAY, %.1f us with it: %.0f times faster\n",
            off.p50_us, on.p50_us, on.p50_us > 0 ? off.p50_us / on.p50_us : 0.0);
    return 0;
}

/* ---- bufsize (handout §6) -------------------------------------------------------------- */

/* The receiver, in the child: read until EOF, then tell the sender how much arrived. */
static int receive_all(int fd, const char *addr)
{
    static char buf[CHUNK];
    uint64_t total = 0;
    unsigned char count[8];
    ssize_t n;
    int i;

    while ((n = recv(fd, buf, sizeof buf, 0)) != 0) {
        if (n == -1) {
            if (errno == EINTR && !stop_requested)
                continue;
            return report_error("recv", addr);
        }
        total += (uint64_t)n;
    }
    /* Big-endian, so the byte order of the count is fixed whatever the machine. */
    for (i = 0; i < 8; i++)
        count[i] = (unsigned char)(total >> (56 - 8 * i));
    if (send_exact(fd, count, sizeof count) == -1)
        return report_error("send count", addr);
    return 0;
}

/* The sender: send() for duration_ms, then half-close and wait for the receiver's count. */
static int send_for(int fd, unsigned long duration_ms, const char *addr, uint64_t *received,
                    long long *start_ns, long long *elapsed_ns)
{
    static const char chunk[CHUNK];
    unsigned char count[8];
    long long deadline;
    int i;

    *start_ns = now_ns();
    deadline = *start_ns + (long long)duration_ms * 1000000LL;
    while (now_ns() < deadline)
        if (send_exact(fd, chunk, sizeof chunk) == -1)
            return report_error("send", addr);
    /* The clock stops when the receiver has everything: bytes still queued are not delivered. */
    if (shutdown(fd, SHUT_WR) == -1)
        return report_error("shutdown", addr);
    if (recv_exact(fd, count, sizeof count) != 1)
        return report_error("recv count", addr);
    *elapsed_ns = now_ns() - *start_ns;
    *received = 0;
    for (i = 0; i < 8; i++)
        *received = (*received << 8) | count[i];
    return 0;
}

/* SO_SNDBUF as the client holds it, SO_RCVBUF as the accepted socket inherited it. */
static int read_back_buffers(const struct pair *p, int *sndbuf, int *rcvbuf)
{
    if (get_int_opt(p->cfd, SOL_SOCKET, SO_SNDBUF, sndbuf, "SO_SNDBUF", p->client_addr) == -1)
        return -1;
    return get_int_opt(p->sfd, SOL_SOCKET, SO_RCVBUF, rcvbuf, "SO_RCVBUF", p->listen_addr);
}

/* Fork the receiver; the parent keeps only the client's socket. Returns the child's pid. */
static pid_t start_receiver(struct pair *p)
{
    pid_t pid;

    /* Flush first, or the child would inherit and print again what stdout still buffers. */
    fflush(stdout);
    fflush(stderr);
    pid = fork();
    if (pid == -1)
        return report_error("fork", NULL);
    if (pid == 0) {
        close(p->cfd);
        close(p->lfd);
        /* _exit: the child must not run the parent's exit handlers or flush its buffers. */
        _exit(receive_all(p->sfd, p->listen_addr) == 0 ? 0 : 1);
    }
    close(p->sfd);
    p->sfd = -1;
    return pid;
}

static int reap(pid_t pid)
{
    int status;

    while (waitpid(pid, &status, 0) == -1) {
        if (errno != EINTR)
            return report_error("waitpid", NULL);
    }
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        fprintf(stderr, "sockopt_lab: bufsize: the receiver process failed\n");
        return -1;
    }
    return 0;
}

struct transfer {
    unsigned long requested;
    int sndbuf, rcvbuf;
    uint64_t bytes;
    long long start_ns, elapsed_ns;
};

static int emit_size(const struct transfer *t)
{
    struct jline j;
    double seconds = (double)t->elapsed_ns / 1e9;
    double mbps = (double)t->bytes / 1e6 / seconds;

    jl_begin(&j, "bufsize", "size");
    jl_int(&j, "requested", (long long)t->requested);
    jl_int(&j, "sndbuf", t->sndbuf);
    jl_int(&j, "rcvbuf", t->rcvbuf);
    jl_int(&j, "wmem_max", read_sysctl("/proc/sys/net/core/wmem_max"));
    jl_int(&j, "rmem_max", read_sysctl("/proc/sys/net/core/rmem_max"));
    jl_int(&j, "bytes", (long long)t->bytes);
    jl_num(&j, "seconds", seconds, 6);
    jl_num(&j, "mb_per_s", mbps, 1);
    jl_int(&j, "start_ns", t->start_ns);
    fprintf(stderr, "bufsize: asked %8lu B: SO_SNDBUF %8d, SO_RCVBUF %8d, %8.1f MB/s\n",
            t->requested, t->sndbuf, t->rcvbuf, mbps);
    return jl_emit(&j) == -1 ? report_error("write stdout", NULL) : 0;
}

/* One size: buffers set before listen() and connect(), read back, then a timed transfer. */
static int bufsize_one(const struct lab_opts *o, unsigned long size)
{
    const struct early_opts e = {0, (int)size, (int)size};
    struct transfer t;
    struct pair p;
    pid_t pid;
    int rc;

    memset(&t, 0, sizeof t);
    t.requested = size;
    if (pair_open(o->host, &e, &p) == -1)
        return -1;
    if (read_back_buffers(&p, &t.sndbuf, &t.rcvbuf) == -1 || (pid = start_receiver(&p)) == -1) {
        pair_close(&p);
        return -1;
    }
    rc = send_for(p.cfd, o->duration_ms, p.client_addr, &t.bytes, &t.start_ns, &t.elapsed_ns);
    /* Close before reaping: after a failed send the receiver is still waiting for EOF. */
    pair_close(&p);
    if (reap(pid) == -1 || rc == -1)
        return -1;
    return emit_size(&t);
}

int exp_bufsize(const struct lab_opts *o)
{
    size_t i;

    for (i = 0; i < o->nsizes && !stop_requested; i++)
        if (bufsize_one(o, o->sizes[i]) == -1)
            return -1;
    return 0;
}
