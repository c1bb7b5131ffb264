/* exp_options.c: the experiments on single options: reuseaddr, linger, keepalive, rcvtimeo. */
/* Your work: the gaps marked TODO(student), in the order of handout §3.4. */
/*
 * Each experiment sets an option, reads it back with getsockopt(), and then makes the
 * kernel show what the option does: a bind() that fails or works, a peer that sees
 * EOF or a reset, a recv() that times out. Handout §4 and §7 to §9.
 */
/*
 * Feature macros: POSIX.1-2008; _DARWIN_C_SOURCE because macOS hides TCP_KEEPALIVE,
 * TCP_KEEPINTVL and TCP_KEEPCNT under strict POSIX (it changes nothing elsewhere).
 */
#define _POSIX_C_SOURCE 200809L
#define _DARWIN_C_SOURCE 1

#include "jsonl.h"
#include "probe.h"
#include "sockopt_lab.h"

#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

/* Linux and FreeBSD call the idle time TCP_KEEPIDLE; macOS calls it TCP_KEEPALIVE (§8.1). */
#ifdef TCP_KEEPIDLE
#define KEEPIDLE_OPTION TCP_KEEPIDLE
#define KEEPIDLE_NAME "TCP_KEEPIDLE"
#else
#define KEEPIDLE_OPTION TCP_KEEPALIVE
#define KEEPIDLE_NAME "TCP_KEEPALIVE"
#endif

/* How long the peer waits to see EOF or a reset before it reports "TIMEOUT", in ms. */
#define PEER_WAIT_MS 2000

/* A gap of the skeleton: say which, and fail at once (an expression worth -1). */
#define NOT_WRITTEN(what, file, section)                                                 \
    (fprintf(stderr, "sockopt_lab: %s: not written yet (TODO in %s, handout %s)\n",     \
             (what), (file), (section)),                                                 \
     errno = ENOSYS, -1)

/* ---- reuseaddr (handout §4) ------------------------------------------------------------ */

/*
 * Leave the listener's port in TIME_WAIT: the server side closes first (the active
 * close), the client answers with its own FIN, and the side that sent the first FIN
 * keeps the connection in TIME_WAIT. shutdown() sends the same FIN as close() but keeps
 * the fd open for reading: its recv() returns 0 once the client's FIN is in, and by
 * then the kernel has moved the connection to TIME_WAIT.
 */
static int make_time_wait(const struct lab_opts *o, struct pair *p)
{
    const struct early_opts reuse = {1, 0, 0};
    char byte;

    /* The old listener sets SO_REUSEADDR, as every server should: see handout §4.1. */
    if (pair_open(o->host, &reuse, p) == -1)
        return -1;
    if (shutdown(p->sfd, SHUT_WR) == -1)
        return report_error("shutdown", p->listen_addr);
    if (recv_exact(p->cfd, &byte, 1) != 0)
        return report_error("recv (expected EOF)", p->client_addr);
    if (close(p->cfd) == -1)
        return report_error("close", p->client_addr);
    p->cfd = -1;
    if (recv_exact(p->sfd, &byte, 1) != 0)
        return report_error("recv (expected EOF)", p->listen_addr);
    return 0;
}

/* bind() a new socket to the address, with or without SO_REUSEADDR first.
 * Returns 0 if bind() worked, the errno of bind() if not, -1 if another call failed. */
static int try_bind(const struct pair *p, int reuse)
{
    /* TODO(student): a new socket of the listener's family (p->listen_sa.ss_family); if
     * reuse, SO_REUSEADDR = 1 (where? handout §2.4); bind() it to p->listen_sa. Return 0 if
     * bind() worked, bind()'s errno if not, -1 if another call failed. Close the socket.
     * See handout §4.2. */
    (void)p; (void)reuse;
    return NOT_WRITTEN("try_bind", "exp_options.c", "§4.2");
}

static int emit_bind(const struct pair *p, const char *ss, int reuse, int err)
{
    struct jline j;

    jl_begin(&j, "reuseaddr", "bind");
    jl_str(&j, "addr", p->listen_addr);
    jl_str(&j, "peer", p->client_addr);
    jl_str(&j, "ss", ss);
    jl_int(&j, "so_reuseaddr", reuse);
    jl_str(&j, "result", errno_name(err));
    fprintf(stderr, "reuseaddr: bind %s (old connection: %s) %s SO_REUSEADDR: %s\n",
            p->listen_addr, ss ? ss : "?", reuse ? "with" : "without", errno_name(err));
    return jl_emit(&j) == -1 ? report_error("write stdout", NULL) : 0;
}

int exp_reuseaddr(const struct lab_opts *o)
{
    struct pair p;
    char ssbuf[32];
    const char *ss;
    int reuse, err;

    if (make_time_wait(o, &p) == -1) {
        pair_close(&p);
        return -1;
    }
    pair_close(&p);
    ss = ss_state(p.listen_addr, p.client_addr, ssbuf, sizeof ssbuf);
    for (reuse = 0; reuse <= 1; reuse++) {
        err = try_bind(&p, reuse);
        if (err == -1 || emit_bind(&p, ss, reuse, err) == -1)
            return -1;
    }
    return 0;
}

/* ---- linger (handout §7) --------------------------------------------------------------- */

/* The three ways a client can close, and what its peer should see. */
struct close_case {
    const char *name;
    int linger;      /* set SO_LINGER {1, 0} first */
    int unread;      /* leave data from the peer unread in the client's receive buffer */
};

static int set_linger(int fd, int onoff, int seconds, const char *addr)
{
    /* TODO(student): a struct linger {l_onoff, l_linger} and setsockopt(SOL_SOCKET,
     * SO_LINGER); optlen is the size of the whole struct. See handout §7.1. */
    (void)fd; (void)onoff; (void)seconds; (void)addr;
    return NOT_WRITTEN("set_linger", "exp_options.c", "§7.1");
}

static int get_linger(int fd, struct linger *lg, const char *addr)
{
    socklen_t len = sizeof *lg;

    if (getsockopt(fd, SOL_SOCKET, SO_LINGER, lg, &len) == -1)
        return report_error("getsockopt SO_LINGER", addr);
    return 0;
}

/* Wait (bounded) for data on fd: the unread case needs the bytes in the buffer before close. */
static int wait_readable(int fd, int timeout_ms, const char *addr)
{
    struct pollfd pfd = {fd, POLLIN, 0};
    int n;

    while ((n = poll(&pfd, 1, timeout_ms)) == -1 && errno == EINTR && !stop_requested)
        ;
    if (n == -1)
        return report_error("poll", addr);
    return n;
}

/* What one recv() on the peer returns after the close: "EOF", an errno name, "DATA" or "TIMEOUT". */
static const char *peer_sees(int fd, const char *addr, long *ret, int *err)
{
    /* TODO(student): wait (wait_readable(), PEER_WAIT_MS) until fd is readable, then one
     * recv(). Set *ret to what recv() returned and *err to its errno (0 if none). Return
     * "EOF", "DATA", errno_name(errno), "TIMEOUT" if nothing came, or NULL if poll failed.
     * See handout §7.2. */
    (void)fd; (void)addr; (void)ret; (void)err; (void)wait_readable;
    (void)NOT_WRITTEN("peer_sees", "exp_options.c", "§7.2");
    return NULL;
}

static int emit_close(const struct close_case *c, const struct pair *p, const struct linger *lg,
                      long ret, int err, const char *saw)
{
    struct jline j;

    jl_begin(&j, "linger", "close");
    jl_str(&j, "case", c->name);
    jl_int(&j, "so_linger_onoff", lg->l_onoff);
    jl_int(&j, "so_linger_secs", lg->l_linger);
    jl_str(&j, "closer", p->client_addr);
    jl_str(&j, "peer", p->listen_addr);
    jl_int(&j, "peer_recv", ret);
    jl_str(&j, "peer_errno", err ? errno_name(err) : NULL);
    jl_str(&j, "peer_saw", saw);
    fprintf(stderr, "linger: %-12s SO_LINGER {%d,%d}: the peer's recv() saw %s\n", c->name,
            lg->l_onoff, lg->l_linger, saw);
    return jl_emit(&j) == -1 ? report_error("write stdout", NULL) : 0;
}

/* Close the client one way, then let the server side recv() and report what it saw. */
static int close_and_watch(const struct lab_opts *o, const struct close_case *c)
{
    struct pair p;
    struct linger lg;
    const char *saw;
    long ret;
    int err, rc = -1;

    if (pair_open(o->host, NULL, &p) == -1)
        return -1;
    if (c->linger && set_linger(p.cfd, 1, 0, p.client_addr) == -1)
        goto end;
    if (c->unread && (send_exact(p.sfd, "unread", 6) == -1 ||
                      wait_readable(p.cfd, PEER_WAIT_MS, p.client_addr) != 1))
        goto end;
    if (get_linger(p.cfd, &lg, p.client_addr) == -1)
        goto end;
    if (close(p.cfd) == -1) {
        report_error("close", p.client_addr);
        goto end;
    }
    p.cfd = -1;
    saw = peer_sees(p.sfd, p.listen_addr, &ret, &err);
    if (saw != NULL)
        rc = emit_close(c, &p, &lg, ret, err, saw);
end:
    pair_close(&p);
    return rc;
}

int exp_linger(const struct lab_opts *o)
{
    static const struct close_case cases[] = {
        {"default", 0, 0}, {"linger_1_0", 1, 0}, {"unread_data", 0, 1},
    };
    size_t i;

    for (i = 0; i < sizeof cases / sizeof cases[0]; i++)
        if (close_and_watch(o, &cases[i]) == -1)
            return -1;
    return 0;
}

/* ---- keepalive (handout §8) ------------------------------------------------------------ */

/* One keepalive knob: where it lives, what we ask for, and how to name it. */
struct knob {
    const char *name;
    const char *level_name;
    int level;
    int option;
    unsigned long requested;
    const char *unit;
};

static int set_keepalive(int fd, const struct knob *k, size_t n, const char *addr)
{
    /* TODO(student): set each of the n knobs on fd with set_int_opt(): its level, option
     * and requested value. See handout §8.1. */
    (void)fd; (void)k; (void)n; (void)addr;
    return NOT_WRITTEN("set_keepalive", "exp_options.c", "§8.1");
}

static int emit_knob(const struct knob *k, int readback, const struct pair *p)
{
    struct jline j;

    jl_begin(&j, "keepalive", "option");
    jl_str(&j, "option", k->name);
    jl_str(&j, "level", k->level_name);
    jl_int(&j, "requested", (long long)k->requested);
    jl_int(&j, "readback", readback);
    jl_str(&j, "unit", k->unit);
    jl_str(&j, "local", p->client_addr);
    jl_str(&j, "remote", p->listen_addr);
    fprintf(stderr, "keepalive: %-13s requested %lu, read back %d (%s)\n", k->name, k->requested,
            readback, k->unit);
    return jl_emit(&j) == -1 ? report_error("write stdout", NULL) : 0;
}

int exp_keepalive(const struct lab_opts *o)
{
    const struct knob knobs[] = {
        {"SO_KEEPALIVE", "SOL_SOCKET", SOL_SOCKET, SO_KEEPALIVE, 1, "on/off"},
        {KEEPIDLE_NAME, "IPPROTO_TCP", IPPROTO_TCP, KEEPIDLE_OPTION, o->idle_s, "s"},
        {"TCP_KEEPINTVL", "IPPROTO_TCP", IPPROTO_TCP, TCP_KEEPINTVL, o->intvl_s, "s"},
        {"TCP_KEEPCNT", "IPPROTO_TCP", IPPROTO_TCP, TCP_KEEPCNT, o->count, "probes"},
    };
    const size_t n = sizeof knobs / sizeof knobs[0];
    struct pair p;
    size_t i;
    int value, rc = -1;

    if (pair_open(o->host, NULL, &p) == -1)
        return -1;
    if (set_keepalive(p.cfd, knobs, n, p.client_addr) == -1)
        goto end;
    for (i = 0; i < n; i++) {
        if (get_int_opt(p.cfd, knobs[i].level, knobs[i].option, &value, knobs[i].name,
                        p.client_addr) == -1 || emit_knob(&knobs[i], value, &p) == -1)
            goto end;
    }
    /* Hold the connection open here: `ss -tno` shows its keepalive timer counting down. */
    rc = pause_point(o->pause, "keepalive", 1);
end:
    pair_close(&p);
    return rc;
}

/* ---- rcvtimeo (handout §9) ------------------------------------------------------------- */

static int set_rcvtimeo(int fd, unsigned long ms, const char *addr)
{
    /* TODO(student): a struct timeval for ms milliseconds (tv_sec and tv_usec, tv_usec
     * below 1000000) and setsockopt(SOL_SOCKET, SO_RCVTIMEO). See handout §9.1. */
    (void)fd; (void)ms; (void)addr;
    return NOT_WRITTEN("set_rcvtimeo", "exp_options.c", "§9.1");
}

/* The timeout as the kernel holds it, in ms: it rounds to its clock tick. */
static int get_rcvtimeo(int fd, double *ms, const char *addr)
{
    struct timeval tv;
    socklen_t len = sizeof tv;

    if (getsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, &len) == -1)
        return report_error("getsockopt SO_RCVTIMEO", addr);
    *ms = (double)tv.tv_sec * 1e3 + (double)tv.tv_usec / 1e3;
    return 0;
}

static int emit_timeout(const struct lab_opts *o, double readback, long long t0, long long t1,
                        const char *result)
{
    struct jline j;
    double measured = (double)(t1 - t0) / 1e6;

    jl_begin(&j, "rcvtimeo", "recv");
    jl_int(&j, "requested_ms", (long long)o->timeout_ms);
    jl_num(&j, "readback_ms", readback, 3);
    jl_num(&j, "measured_ms", measured, 3);
    jl_str(&j, "result", result);
    jl_int(&j, "start_ns", t0);
    jl_int(&j, "end_ns", t1);
    fprintf(stderr, "rcvtimeo: SO_RCVTIMEO %lu ms (read back %.3f ms): recv() gave %s after %.3f ms\n",
            o->timeout_ms, readback, result, measured);
    return jl_emit(&j) == -1 ? report_error("write stdout", NULL) : 0;
}

int exp_rcvtimeo(const struct lab_opts *o)
{
    struct pair p;
    double readback = 0;
    long long t0, t1;
    const char *result;
    char byte;
    ssize_t n;
    int rc = -1;

    if (pair_open(o->host, NULL, &p) == -1)
        return -1;
    if (set_rcvtimeo(p.cfd, o->timeout_ms, p.client_addr) == -1 ||
        get_rcvtimeo(p.cfd, &readback, p.client_addr) == -1)
        goto end;
    /* The server side never sends: only the timeout can end this recv(). */
    t0 = now_ns();
    n = recv(p.cfd, &byte, 1, 0);
    t1 = now_ns();
    if (n == -1 && errno == EINTR && stop_requested)
        goto end;
    result = n == -1 ? errno_name(errno) : n == 0 ? "EOF" : "DATA";
    rc = emit_timeout(o, readback, t0, t1, result);
end:
    pair_close(&p);
    return rc;
}
