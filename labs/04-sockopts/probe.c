/* probe.c: Lab 04's plumbing (see probe.h). */
/* Your work: the gaps marked TODO(student), in the order of handout §3.4. */
/*
 * Feature macros: POSIX.1-2008, and glibc's _DEFAULT_SOURCE for struct tcp_info and the
 * TCP_* states of <netinet/tcp.h> (used on Linux only, inside #ifdef __linux__).
 */
#define _POSIX_C_SOURCE 200809L
#define _DEFAULT_SOURCE 1

#include "probe.h"
#include "jsonl.h"
#include "sockutil.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define PROG "sockopt_lab"
#define BACKLOG 16

/* A gap of the skeleton: say which, and fail at once (an expression worth -1). */
#define NOT_WRITTEN(what, file, section)                                                 \
    (fprintf(stderr, "sockopt_lab: %s: not written yet (TODO in %s, handout %s)\n",     \
             (what), (file), (section)),                                                 \
     errno = ENOSYS, -1)

volatile sig_atomic_t stop_requested;

int report_error(const char *call, const char *addr)
{
    int saved = errno;

    if (!(saved == EINTR && stop_requested)) {
        if (addr != NULL)
            fprintf(stderr, "%s: %s %s: %s\n", PROG, call, addr, strerror(saved));
        else
            fprintf(stderr, "%s: %s: %s\n", PROG, call, strerror(saved));
    }
    errno = saved;
    return -1;
}

long long now_ns(void)
{
    struct timespec ts;

    /* CLOCK_MONOTONIC never jumps when the wall clock is set: right for intervals. */
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

const char *errno_name(int err)
{
    static const struct { int err; const char *name; } names[] = {
        {0, "OK"}, {EADDRINUSE, "EADDRINUSE"}, {EADDRNOTAVAIL, "EADDRNOTAVAIL"},
        {ECONNRESET, "ECONNRESET"}, {ECONNREFUSED, "ECONNREFUSED"}, {EPIPE, "EPIPE"},
        {EAGAIN, "EAGAIN"}, {EINPROGRESS, "EINPROGRESS"}, {EINTR, "EINTR"},
        {EINVAL, "EINVAL"}, {ENOPROTOOPT, "ENOPROTOOPT"}, {EACCES, "EACCES"},
        {EPERM, "EPERM"}, {EBADF, "EBADF"}, {ENOTSOCK, "ENOTSOCK"}, {ENOTCONN, "ENOTCONN"},
        {ETIMEDOUT, "ETIMEDOUT"}, {EDOM, "EDOM"}, {ENOBUFS, "ENOBUFS"}, {ENOMEM, "ENOMEM"},
    };
    size_t i;

    for (i = 0; i < sizeof names / sizeof names[0]; i++)
        if (names[i].err == err)
            return names[i].name;
    return "E?";
}

int set_int_opt(int fd, int level, int name, int value, const char *what, const char *addr)
{
    char call[64];

    if (setsockopt(fd, level, name, &value, sizeof value) == 0)
        return 0;
    snprintf(call, sizeof call, "setsockopt %s", what);
    return report_error(call, addr);
}

int get_int_opt(int fd, int level, int name, int *value, const char *what, const char *addr)
{
    char call[64];
    /* optlen is in and out: the size of our int going in, the size written coming back. */
    socklen_t len = sizeof *value;

    if (getsockopt(fd, level, name, value, &len) == 0)
        return 0;
    snprintf(call, sizeof call, "getsockopt %s", what);
    return report_error(call, addr);
}

int set_early_opts(int fd, const struct early_opts *e, const char *addr)
{
    /* TODO(student): for each option of e that is asked for (reuseaddr 1, sndbuf or rcvbuf
     * above 0), call set_int_opt() at level SOL_SOCKET: SO_REUSEADDR, SO_SNDBUF, SO_RCVBUF.
     * e == NULL sets nothing. The callers run this between socket() and bind()/connect():
     * handout §2.4. Return 0, or -1 as soon as one fails. */
    (void)fd; (void)e; (void)addr;
    return NOT_WRITTEN("set_early_opts", "probe.c", "§2.4");
}

/* close() that keeps the errno of the call that failed before it. */
static void close_keep_errno(int fd)
{
    int saved = errno;

    close(fd);
    errno = saved;
}

/* A TCP socket that the shell popen() starts for ss does not inherit (close-on-exec). */
static int socket_cloexec(int family)
{
#ifdef SOCK_CLOEXEC
    return socket(family, SOCK_STREAM | SOCK_CLOEXEC, 0);
#else
    /* macOS has no SOCK_CLOEXEC: set the flag just after. */
    int fd = socket(family, SOCK_STREAM, 0);

    if (fd != -1 && fcntl(fd, F_SETFD, FD_CLOEXEC) == -1) {
        close_keep_errno(fd);
        return -1;
    }
    return fd;
#endif
}

/* Record "call ADDR:PORT: reason" for the caller, keeping errno intact (as in Lab 01). */
static void set_err(char *err, size_t errlen, const char *call, const char *addr)
{
    int saved = errno;

    snprintf(err, errlen, "%s %s: %s", call, addr, strerror(saved));
    errno = saved;
}

/* getaddrinfo() for a listener on an ephemeral port; -1 leaves the reason in err. */
static int resolve(const char *host, struct addrinfo **res, char *err, size_t errlen)
{
    struct addrinfo hints;
    int rc;

    memset(&hints, 0, sizeof hints);
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
    rc = getaddrinfo(host, "0", &hints, res);
    if (rc != 0) {
        snprintf(err, errlen, "getaddrinfo %s:0: %s", host, gai_strerror(rc));
        errno = (rc == EAI_SYSTEM) ? errno : EINVAL;
        return -1;
    }
    return 0;
}

/*
 * One address of the listen loop: socket, early options, bind, listen. -1 leaves the
 * reason in err, or err empty when set_early_opts() has already printed it.
 */
static int listen_on(const struct addrinfo *ai, const struct early_opts *e, char *addr,
                     char *err, size_t errlen)
{
    int fd = socket_cloexec(ai->ai_family);

    sockaddr_str(ai->ai_addr, addr, SOCKADDR_STRLEN);
    if (fd == -1) {
        set_err(err, errlen, "socket", addr);
        return -1;
    }
    if (set_early_opts(fd, e, addr) == -1) {
        err[0] = '\0';
        goto error;
    }
    if (bind(fd, ai->ai_addr, ai->ai_addrlen) == -1) {
        set_err(err, errlen, "bind", addr);
        goto error;
    }
    if (listen(fd, BACKLOG) == -1) {
        set_err(err, errlen, "listen", addr);
        goto error;
    }
    return fd;
error:
    close_keep_errno(fd);
    return -1;
}

int tcp_listener(const char *host, const struct early_opts *e, struct sockaddr_storage *sa,
                 socklen_t *salen, char *addr)
{
    struct addrinfo *res, *ai;
    char err[256] = "";
    int fd = -1;

    if (resolve(host, &res, err, sizeof err) == -1) {
        fprintf(stderr, "%s: %s\n", PROG, err);
        return -1;
    }
    for (ai = res; ai != NULL; ai = ai->ai_next) {
        fd = listen_on(ai, e, addr, err, sizeof err);
        if (fd != -1)
            break;
    }
    freeaddrinfo(res);
    if (fd == -1) {
        if (err[0] != '\0')
            fprintf(stderr, "%s: %s\n", PROG, err);
        return -1;
    }
    /* Port 0 asked for an ephemeral port: getsockname() says which one we got. */
    *salen = sizeof *sa;
    if (getsockname(fd, (struct sockaddr *)sa, salen) == -1) {
        report_error("getsockname", addr);
        close(fd);
        return -1;
    }
    sockaddr_str((struct sockaddr *)sa, addr, SOCKADDR_STRLEN);
    return fd;
}

int tcp_connect_to(const struct sockaddr_storage *sa, socklen_t salen,
                   const struct early_opts *e, char *addr)
{
    char peer[SOCKADDR_STRLEN];
    int fd = socket_cloexec(sa->ss_family);

    sockaddr_str((const struct sockaddr *)sa, peer, sizeof peer);
    if (fd == -1)
        return report_error("socket", peer);
    /* Buffers must be sized before connect(): the SYN announces the window scale. */
    if (set_early_opts(fd, e, peer) == -1)
        goto error;
    if (connect(fd, (const struct sockaddr *)sa, salen) == -1) {
        report_error("connect", peer);
        goto error;
    }
    if (sockname_str(fd, addr, SOCKADDR_STRLEN) == NULL) {
        report_error("getsockname", peer);
        goto error;
    }
    return fd;
error:
    close(fd);
    return -1;
}

int accept_one(int lfd, const char *addr)
{
    for (;;) {
        int fd = accept(lfd, NULL, NULL);
        if (fd != -1) {
            if (fcntl(fd, F_SETFD, FD_CLOEXEC) == -1) {
                report_error("fcntl FD_CLOEXEC", addr);
                close(fd);
                return -1;
            }
            return fd;
        }
        /* A signal interrupted the wait: go on waiting unless it asked us to stop. */
        if (errno == EINTR && !stop_requested)
            continue;
        return report_error("accept", addr);
    }
}

int pair_open(const char *host, const struct early_opts *e, struct pair *p)
{
    p->cfd = p->sfd = -1;
    p->lfd = tcp_listener(host, e, &p->listen_sa, &p->listen_salen, p->listen_addr);
    if (p->lfd == -1)
        return -1;
    p->cfd = tcp_connect_to(&p->listen_sa, p->listen_salen, e, p->client_addr);
    if (p->cfd == -1)
        goto error;
    /* The handshake finished inside connect(): accept() returns at once. */
    p->sfd = accept_one(p->lfd, p->listen_addr);
    if (p->sfd == -1)
        goto error;
    return 0;
error:
    pair_close(p);
    return -1;
}

static void close_fd(int *fd)
{
    if (*fd != -1) {
        close(*fd);
        *fd = -1;
    }
}

void pair_close(struct pair *p)
{
    close_fd(&p->cfd);
    close_fd(&p->sfd);
    close_fd(&p->lfd);
}

int send_exact(int fd, const void *buf, size_t len)
{
    const char *p = buf;

    while (len > 0) {
        /* No MSG_NOSIGNAL (Linux's): main() ignores SIGPIPE, so a gone peer is EPIPE. */
        ssize_t n = send(fd, p, len, 0);
        if (n == -1) {
            if (errno == EINTR && !stop_requested)
                continue;
            return -1;
        }
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

int recv_exact(int fd, void *buf, size_t len)
{
    char *p = buf;

    while (len > 0) {
        ssize_t n = recv(fd, p, len, 0);
        if (n == 0)
            return 0;
        if (n == -1) {
            if (errno == EINTR && !stop_requested)
                continue;
            return -1;
        }
        p += n;
        len -= (size_t)n;
    }
    return 1;
}

int tcp_state(int fd)
{
#ifdef __linux__
    /* TODO(student): getsockopt(fd, IPPROTO_TCP, TCP_INFO) into a struct tcp_info, with
     * optlen = sizeof that struct; return its tcpi_state, or -1. See handout §10.1. */
    (void)fd;
    return NOT_WRITTEN("tcp_state", "probe.c", "§10.1");
#else
    /* TCP_INFO and struct tcp_info are Linux's (handout §10.1). */
    (void)fd;
    errno = ENOPROTOOPT;
    return -1;
#endif
}

const char *tcp_state_name(int state)
{
#ifdef __linux__
    /* The TCP_* states start at 1 (TCP_ESTABLISHED): index by name, not by position. */
    static const char *const names[] = {
        [TCP_ESTABLISHED] = "ESTABLISHED", [TCP_SYN_SENT] = "SYN_SENT",
        [TCP_SYN_RECV] = "SYN_RECV",       [TCP_FIN_WAIT1] = "FIN_WAIT1",
        [TCP_FIN_WAIT2] = "FIN_WAIT2",     [TCP_TIME_WAIT] = "TIME_WAIT",
        [TCP_CLOSE] = "CLOSE",             [TCP_CLOSE_WAIT] = "CLOSE_WAIT",
        [TCP_LAST_ACK] = "LAST_ACK",       [TCP_LISTEN] = "LISTEN",
        [TCP_CLOSING] = "CLOSING",
    };

    if (state < 0 || (size_t)state >= sizeof names / sizeof names[0] || names[state] == NULL)
        return "UNKNOWN";
    return names[state];
#else
    /* The TCP_* state numbers are Linux's (handout §10.1). */
    (void)state;
    return "UNKNOWN";
#endif
}

int wait_tcp_state(int fd, int want, int timeout_ms)
{
    const struct timespec nap = {0, 1000000};
    long long deadline = now_ns() + (long long)timeout_ms * 1000000LL;
    int state;

    /* No event announces a state change, so poll TCP_INFO; on loopback it takes microseconds. */
    while ((state = tcp_state(fd)) != want && state != -1 && now_ns() < deadline && !stop_requested)
        nanosleep(&nap, NULL);
    return state;
}

/* The port of "ADDR:PORT" or "[ADDR]:PORT": the text after the last colon. */
static const char *port_of(const char *addr)
{
    const char *colon = strrchr(addr, ':');
    return colon ? colon + 1 : addr;
}

/* Does an ss peer column match? A listener's peer is "0.0.0.0:*" or "[::]:*". */
static int peer_matches(const char *column, const char *remote)
{
    if (remote == NULL)
        return strcmp(port_of(column), "*") == 0;
    return strcmp(column, remote) == 0;
}

const char *ss_state(const char *local, const char *remote, char *buf, size_t len)
{
    char cmd[128], line[512], state[32], laddr[96], raddr[96];
    const char *found = NULL;
    FILE *ss;
    int status;

    /* The filter keeps the output short on a busy machine: only our local port. */
    snprintf(cmd, sizeof cmd, "ss -tanH state all '( sport = :%s )' 2>/dev/null", port_of(local));
    ss = popen(cmd, "r");
    if (ss == NULL)
        return NULL;
    while (fgets(line, sizeof line, ss) != NULL) {
        if (found == NULL && sscanf(line, "%31s %*s %*s %95s %95s", state, laddr, raddr) == 3 &&
            strcmp(laddr, local) == 0 && peer_matches(raddr, remote)) {
            snprintf(buf, len, "%s", state);
            found = buf;
        }
    }
    status = pclose(ss);
    if (status != 0 && found == NULL) {
        static int warned;
        if (!warned++)
            fprintf(stderr, "%s: could not run ss (iproute2); its column stays null\n", PROG);
    }
    return found;
}

int pause_point(int enabled, const char *experiment, int step)
{
    static int stdin_closed;
    struct jline j;
    char c;

    if (!enabled || stdin_closed)
        return 0;
    jl_begin(&j, experiment, "pause");
    jl_int(&j, "step", step);
    if (jl_emit(&j) == -1)
        return report_error("write stdout", NULL);
    fprintf(stderr, "%s: %s: paused after step %d; press Enter to go on\n", PROG, experiment, step);
    for (;;) {
        struct pollfd pfd = {STDIN_FILENO, POLLIN, 0};
        ssize_t n;
        /* A stop signal may come before read() blocks: wake up now and then to see it. */
        int ready = poll(&pfd, 1, 100);

        if (stop_requested)
            return 0;
        if (ready == 0 || (ready == -1 && errno == EINTR))
            continue;
        if (ready == -1)
            return report_error("poll stdin", NULL);
        n = read(STDIN_FILENO, &c, 1);
        if (n == 1 && c == '\n')
            return 0;
        if (n == 0) {
            /* EOF: nobody will press Enter, so run on without pausing again. */
            stdin_closed = 1;
            return 0;
        }
        if (n == -1 && !(errno == EINTR && !stop_requested))
            return report_error("read stdin", NULL);
    }
}

long read_sysctl(const char *path)
{
    FILE *f = fopen(path, "r");
    long value = -1;

    if (f == NULL)
        return -1;
    if (fscanf(f, "%ld", &value) != 1)
        value = -1;
    fclose(f);
    return value;
}
