/* exp_states.c: one TCP connection walked through its states, seen by TCP_INFO and by ss. */
/* Your work: the gaps marked TODO(student), in the order of handout §3.4. */
/*
 * The walk (handout §10): listen; connect and accept; the client half-closes behind
 * data the server has no room for (FIN_WAIT1); the server reads to EOF (CLOSE_WAIT,
 * FIN_WAIT2); the server half-closes behind data the client has no room for (LAST_ACK);
 * the client reads to EOF (TIME_WAIT); both close. After each step every socket is
 * reported twice: by getsockopt(TCP_INFO) on its fd, and by `ss -tan` from the kernel's
 * socket tables. Small buffers make the "no room" quick: a few KiB fill them.
 */
/*
 * Feature macros: POSIX.1-2008, and glibc's _DEFAULT_SOURCE for the TCP_* states of
 * <netinet/tcp.h>. The walk needs Linux (TCP_INFO, SIOCOUTQNSD): elsewhere exp_states()
 * only says so (handout §10.1).
 */
#define _POSIX_C_SOURCE 200809L
#define _DEFAULT_SOURCE 1

#include "jsonl.h"
#include "probe.h"
#include "sockopt_lab.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#ifdef __linux__
#include <linux/sockios.h>

/* The smallest buffers Linux allows, about: the windows fill after a few KiB. */
#define SMALL_BUF 4096
/* How long a fill or a state change may take on loopback before we call it stuck, ms. */
#define SETTLE_MS 2000

/* A gap of the skeleton: say which, and fail at once (an expression worth -1). */
#define NOT_WRITTEN(what, file, section)                                                 \
    (fprintf(stderr, "sockopt_lab: %s: not written yet (TODO in %s, handout %s)\n",     \
             (what), (file), (section)),                                                 \
     errno = ENOSYS, -1)

/* The connection being walked, and where the walk is. */
struct walk {
    const struct lab_opts *o;
    struct pair p;
    int step;
    const char *action;
};

/* One socket's line: its state from TCP_INFO (null once the fd is closed) and from ss. */
static int report(const struct walk *w, const char *name, int fd, const char *local,
                  const char *remote)
{
    struct jline j;
    char ssbuf[32];
    const char *ss = ss_state(local, remote, ssbuf, sizeof ssbuf);
    int state = fd == -1 ? -1 : tcp_state(fd);

    if (fd != -1 && state == -1)
        return report_error("getsockopt TCP_INFO", local);
    jl_begin(&j, "states", "socket");
    jl_int(&j, "step", w->step);
    jl_str(&j, "action", w->action);
    jl_str(&j, "socket", name);
    jl_str(&j, "local", local);
    jl_str(&j, "remote", remote);
    jl_str(&j, "tcp_info", state == -1 ? NULL : tcp_state_name(state));
    jl_str(&j, "ss", ss);
    fprintf(stderr, "states: step %d %-44s %-8s TCP_INFO %-12s ss %s\n", w->step, w->action, name,
            state == -1 ? "(no fd)" : tcp_state_name(state), ss ? ss : "(none)");
    return jl_emit(&j) == -1 ? report_error("write stdout", NULL) : 0;
}

/* Report both ends of the connection, then stop at the pause point if asked to. */
static int report_both(struct walk *w)
{
    if (report(w, "client", w->p.cfd, w->p.client_addr, w->p.listen_addr) == -1 ||
        report(w, "server", w->p.sfd, w->p.listen_addr, w->p.client_addr) == -1)
        return -1;
    return pause_point(w->o->pause, "states", w->step++);
}

/* Bytes in the send queue that have not been sent yet (Linux's SIOCOUTQNSD). */
static int unsent_bytes(int fd, const char *addr)
{
    /* Set first: valgrind does not know that this Linux-only ioctl writes n. */
    int n = 0;

    if (ioctl(fd, SIOCOUTQNSD, &n) == -1)
        return report_error("ioctl SIOCOUTQNSD", addr);
    return n;
}

/* O_NONBLOCK on (1) or off (0): the portable way to a send() that does not wait. */
static int set_nonblocking(int fd, int on, const char *addr)
{
    int flags = fcntl(fd, F_GETFL);

    if (flags == -1 || fcntl(fd, F_SETFL, on ? flags | O_NONBLOCK : flags & ~O_NONBLOCK) == -1)
        return report_error("fcntl O_NONBLOCK", addr);
    return 0;
}

/* The loop of fill_until_stuck(), on a non-blocking socket: 0 once stuck, or -1. */
static int fill_loop(int fd, const char *addr)
{
    static const char chunk[4096];
    long long deadline = now_ns() + (long long)SETTLE_MS * 1000000LL;
    struct pollfd pfd = {fd, POLLOUT, 0};
    int unsent;

    while (now_ns() < deadline && !stop_requested) {
        ssize_t n = send(fd, chunk, sizeof chunk, 0);
        if (n >= 0 || errno == EINTR)
            continue;
        if (errno != EAGAIN && errno != EWOULDBLOCK)
            return report_error("send", addr);
        unsent = unsent_bytes(fd, addr);
        if (unsent == -1)
            return -1;
        if (unsent > 0)
            return 0;
        /* Full but all in flight: wait until the peer's ACKs make room, then send more. */
        if (poll(&pfd, 1, 100) == -1 && errno != EINTR)
            return report_error("poll", addr);
    }
    errno = stop_requested ? EINTR : ETIMEDOUT;
    return report_error("filling the peer's window", addr);
}

/*
 * Send until the peer's receive window is full and some bytes wait unsent in our queue:
 * a FIN queued behind them cannot leave until the peer reads. Bounded by SETTLE_MS.
 * The socket is non-blocking only meanwhile: the steps after it block as usual.
 */
static int fill_until_stuck(int fd, const char *addr)
{
    int rc;

    if (set_nonblocking(fd, 1, addr) == -1)
        return -1;
    rc = fill_loop(fd, addr);
    if (set_nonblocking(fd, 0, addr) == -1)
        return -1;
    return rc;
}

/* Read and discard until EOF. */
static int drain(int fd, const char *addr)
{
    char buf[4096];
    ssize_t n;

    while ((n = recv(fd, buf, sizeof buf, 0)) != 0) {
        if (n == -1 && !(errno == EINTR && !stop_requested))
            return report_error("recv", addr);
    }
    return 0;
}

/* Half-close behind unsent data: shutdown(SHUT_WR) queues a FIN that cannot leave yet. */
static int half_close_behind_data(int fd, const char *addr)
{
    /* TODO(student): fill_until_stuck(), then shutdown(fd, SHUT_WR): the FIN waits behind
     * the unsent data. See handout §10.2. */
    (void)fd; (void)addr; (void)fill_until_stuck;
    return NOT_WRITTEN("half_close_behind_data", "exp_states.c", "§10.2");
}

static int step_listen(struct walk *w)
{
    const struct early_opts small = {0, SMALL_BUF, SMALL_BUF};

    w->action = "listen()";
    w->p.lfd = tcp_listener(w->o->host, &small, &w->p.listen_sa, &w->p.listen_salen,
                            w->p.listen_addr);
    if (w->p.lfd == -1)
        return -1;
    if (report(w, "listener", w->p.lfd, w->p.listen_addr, NULL) == -1)
        return -1;
    return pause_point(w->o->pause, "states", w->step++);
}

static int step_connect(struct walk *w)
{
    const struct early_opts small = {0, SMALL_BUF, SMALL_BUF};

    w->action = "connect() and accept(); listener closed";
    w->p.cfd = tcp_connect_to(&w->p.listen_sa, w->p.listen_salen, &small, w->p.client_addr);
    if (w->p.cfd == -1 || (w->p.sfd = accept_one(w->p.lfd, w->p.listen_addr)) == -1)
        return -1;
    /* The accepted connection does not need its listener any more. */
    close(w->p.lfd);
    w->p.lfd = -1;
    return report_both(w);
}

static int step_client_half_close(struct walk *w)
{
    w->action = "client: shutdown(SHUT_WR) behind unsent data";
    if (half_close_behind_data(w->p.cfd, w->p.client_addr) == -1)
        return -1;
    return report_both(w);
}

static int step_server_drain(struct walk *w)
{
    w->action = "server: recv() until EOF";
    if (drain(w->p.sfd, w->p.listen_addr) == -1)
        return -1;
    /* The ACK of the client's FIN may still be on its way to the client. */
    wait_tcp_state(w->p.cfd, TCP_FIN_WAIT2, SETTLE_MS);
    return report_both(w);
}

static int step_server_half_close(struct walk *w)
{
    w->action = "server: shutdown(SHUT_WR) behind unsent data";
    if (half_close_behind_data(w->p.sfd, w->p.listen_addr) == -1)
        return -1;
    return report_both(w);
}

static int step_client_drain(struct walk *w)
{
    w->action = "client: recv() until EOF";
    if (drain(w->p.cfd, w->p.client_addr) == -1)
        return -1;
    /* The server's socket closes when the client's last ACK reaches it. */
    wait_tcp_state(w->p.sfd, TCP_CLOSE, SETTLE_MS);
    return report_both(w);
}

static int step_close(struct walk *w)
{
    w->action = "close() both";
    pair_close(&w->p);
    return report_both(w);
}

int exp_states(const struct lab_opts *o)
{
    static int (*const steps[])(struct walk *) = {
        step_listen, step_connect, step_client_half_close, step_server_drain,
        step_server_half_close, step_client_drain, step_close,
    };
    struct walk w;
    size_t i;
    int rc = 0;

    memset(&w, 0, sizeof w);
    w.o = o;
    w.step = 1;
    w.p.lfd = w.p.cfd = w.p.sfd = -1;
    for (i = 0; i < sizeof steps / sizeof steps[0] && rc == 0 && !stop_requested; i++)
        rc = steps[i](&w);
    pair_close(&w.p);
    return rc;
}

#else /* not Linux */

int exp_states(const struct lab_opts *o)
{
    (void)o;
    fprintf(stderr, "sockopt_lab: states: needs Linux (TCP_INFO, SIOCOUTQNSD); skipped\n");
    return 0;
}

#endif
