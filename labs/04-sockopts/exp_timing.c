/* exp_timing.c: the measured experiments: nodelay (latency) and bufsize (throughput). */
/* Your work: the gaps marked TODO(student), in the order of handout §3.4. */
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

/* A gap of the skeleton: say which, and fail at once (an expression worth -1). */
#define NOT_WRITTEN(what, file, section)                                                 \
    (fprintf(stderr, "sockopt_lab: %s: not written yet (TODO in %s, handout %s)\n",     \
             (what), (file), (section)),                                                 \
     errno = ENOSYS, -1)

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
    /* TODO(student): *start_ns = now_ns(); the client sends HEADER_LEN bytes, then BODY_LEN
     * bytes, in two send_exact() calls; the server side (p->sfd) reads both with recv_exact()
     * and sends a REPLY_LEN reply; the client reads it; *elapsed_ns = now_ns() - *start_ns.
     * See handout §5.1. */
    (void)p; (void)start_ns; (void)elapsed_ns;
    return NOT_WRITTEN("run_round", "exp_timing.c", "§5.1");
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
    /* TODO(student): sort ns (qsort with cmp_ll), then mean, p50 and p99 (percentile():
     * nearest rank), min and max, all in microseconds. See handout §5.3. */
    (void)ns; (void)n; (void)cmp_ll; (void)percentile;
    memset(st, 0, sizeof *st);
    (void)NOT_WRITTEN("summarize", "exp_timing.c", "§5.3");
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
    /* TODO(student): o->warmup rounds first, each reported with emit_round(..., warmup 1, ...)
     * but not kept; then o->rounds rounds, each reported (warmup 0) and its latency kept in
     * ns[i]. See handout §5.2. */
    (void)p; (void)o; (void)nodelay; (void)ns; (void)emit_round; (void)run_round;
    return NOT_WRITTEN("measure", "exp_timing.c", "§5.2");
}

/* TCP_NODELAY on the client's socket, and what getsockopt() reads back from it. */
static int set_nodelay(const struct pair *p, int on, int *readback)
{
    /* TODO(student): TCP_NODELAY = on with set_int_opt(), on the right socket at the right
     * level, then read it back into *readback with get_int_opt(). See handout §5.1, §2.2. */
    (void)p; (void)on; (void)readback;
    return NOT_WRITTEN("set_nodelay", "exp_timing.c", "§5.1");
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
    /* TODO(student): *start_ns = now_ns(); send_exact() CHUNK bytes at a time until
     * duration_ms have passed; shutdown(SHUT_WR); recv_exact() the receiver's 8-byte
     * big-endian count into *received; *elapsed_ns = now_ns() - *start_ns.
     * See handout §6.2. */
    (void)fd; (void)duration_ms; (void)addr; (void)received; (void)start_ns; (void)elapsed_ns;
    return NOT_WRITTEN("send_for", "exp_timing.c", "§6.2");
}

/* SO_SNDBUF as the client holds it, SO_RCVBUF as the accepted socket inherited it. */
static int read_back_buffers(const struct pair *p, int *sndbuf, int *rcvbuf)
{
    /* TODO(student): getsockopt SO_SNDBUF of the client (p->cfd) into *sndbuf, and SO_RCVBUF
     * of the accepted socket (p->sfd) into *rcvbuf, with get_int_opt(). See handout §6.1. */
    (void)p; (void)sndbuf; (void)rcvbuf;
    return NOT_WRITTEN("read_back_buffers", "exp_timing.c", "§6.1");
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
