/* tls_echo_server.c: a TLS echo server, one process, one poll() loop, non-blocking TLS. */
/*
 * Usage: tls_echo_server [-4|-6] [-b ADDR] -p PORT --cert FILE --key FILE
 *                        [--max-clients N] [--handshake-timeout MS]
 *
 * Binds ADDR:PORT (every local address without -b; -p 0 asks for an ephemeral port),
 * loads the certificate chain (PEM) and its private key, prints "listening on ADDR:PORT"
 * on stdout, then echoes every byte each client sends over TLS 1.2 or 1.3 (handout §4).
 *
 * Every socket is non-blocking and so is every TLS operation: when SSL_accept(),
 * SSL_read(), SSL_write() or SSL_shutdown() says SSL_ERROR_WANT_READ or
 * SSL_ERROR_WANT_WRITE, the connection waits in poll() for that event, and the loop
 * serves the others meanwhile (handout §4.2). A handshake not finished after
 * --handshake-timeout MS (default 10000) is closed. --max-clients N (default 1000):
 * a newcomer beyond N is closed at once.
 *
 * stderr: one line per failed or timed-out handshake and per connection closed on an
 * error, "tls_echo_server: handshake ADDR:PORT: REASON", with OpenSSL's reason (the
 * error queue drained each time, handout §3.3).
 *
 * Exit codes: 0 after SIGINT/SIGTERM, 1 if the socket, the certificate or the key
 * cannot be set up or poll() fails, 2 for bad arguments.
 */
#ifndef _POSIX_C_SOURCE
#define _POSIX_C_SOURCE 200809L
#endif
#include "sockutil.h"
#include "tlsutil.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <netdb.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define PROG "tls_echo_server"
/** One TLS record's worth of plaintext: what SSL_read() gives at most. */
#define CHUNK 16384
/** SSL_read() calls per connection per pass of the loop, so that one fast client cannot
 *  hold the loop; what is left is served on the next pass (see has_buffered()). */
#define READS_PER_PASS 8
#define DEFAULT_MAX_CLIENTS 1000
#define DEFAULT_HANDSHAKE_MS 10000

enum conn_state {
    HANDSHAKE, /* SSL_accept() not finished */
    ECHO,      /* reading records and writing them back */
    CLOSING,   /* the client's close_notify came: sending ours */
    DEAD       /* to be closed and removed by the loop */
};

struct conn {
    int fd;
    SSL *ssl;
    enum conn_state state;
    char addr[SOCKADDR_STRLEN]; /* ADDR:PORT, for the log */
    short events;               /* what the last TLS call asked poll() to wait for */
    long long deadline;         /* end of the handshake (ms, CLOCK_MONOTONIC) */
    char out[CHUNK];            /* read and not yet written back */
    size_t out_len;
};

struct server {
    SSL_CTX *ctx;
    int lfd, sig_rfd, sig_wfd;
    char laddr[SOCKADDR_STRLEN];
    struct conn **conns;
    struct pollfd *pfds; /* [0] listener, [1] signal pipe, [i + 2] conns[i] */
    size_t nconns;
    unsigned long max_clients;
    long long handshake_ms;
};

static int sig_write_fd = -1;

/* The self-pipe trick: the handler only writes a byte; poll() wakes up on the pipe. */
static void on_stop_signal(int sig)
{
    int saved = errno;
    char b = (char)sig;

    if (write(sig_write_fd, &b, 1) == -1) {
        /* The pipe is full: a byte is already waiting, which is all the loop needs. */
    }
    errno = saved;
}

static int set_nonblocking(int fd)
{
    int flags = fcntl(fd, F_GETFL);

    if (flags == -1)
        return -1;
    return fcntl(fd, F_SETFL, flags | O_NONBLOCK);
}

static int install_signals(struct server *s)
{
    struct sigaction sa;
    int p[2];

    if (pipe(p) == -1)
        return -1;
    s->sig_rfd = p[0];
    s->sig_wfd = sig_write_fd = p[1];
    if (set_nonblocking(p[0]) == -1 || set_nonblocking(p[1]) == -1)
        return -1;
    memset(&sa, 0, sizeof sa);
    sigemptyset(&sa.sa_mask);
    sa.sa_handler = on_stop_signal;
    if (sigaction(SIGINT, &sa, NULL) == -1 || sigaction(SIGTERM, &sa, NULL) == -1)
        return -1;
    /* OpenSSL writes with write(): a vanished client must give EPIPE, not kill the server. */
    sa.sa_handler = SIG_IGN;
    return sigaction(SIGPIPE, &sa, NULL);
}

static long long now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void usage(void)
{
    fprintf(stderr, "usage: %s [-4|-6] [-b ADDR] -p PORT --cert FILE --key FILE "
                    "[--max-clients N] [--handshake-timeout MS]\n", PROG);
}

/* The getaddrinfo loop of Lab 01 (AI_PASSIVE): the first address that binds wins. */
static int tls_listen(const char *host, const char *port, int family, char *err, size_t errlen)
{
    struct addrinfo hints, *res, *ai;
    char addr[SOCKADDR_STRLEN];
    int fd = -1, one = 1, rc;

    memset(&hints, 0, sizeof hints);
    hints.ai_family = family;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE;
    rc = getaddrinfo(host, port, &hints, &res);
    if (rc != 0) {
        snprintf(err, errlen, "getaddrinfo %s:%s: %s", host ? host : "*", port, gai_strerror(rc));
        return -1;
    }
    for (ai = res; ai != NULL; ai = ai->ai_next) {
        const char *call = "socket";
        fd = socket(ai->ai_family, ai->ai_socktype, ai->ai_protocol);
        if (fd != -1) {
            /* SO_REUSEADDR: a restarted server must not wait for TIME_WAIT to clear. */
            if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) == -1)
                call = "setsockopt SO_REUSEADDR";
            else if (bind(fd, ai->ai_addr, ai->ai_addrlen) == -1)
                call = "bind";
            else if (listen(fd, SOMAXCONN) == -1)
                call = "listen";
            else
                break;
        }
        snprintf(err, errlen, "%s %s: %s", call, sockaddr_str(ai->ai_addr, addr, sizeof addr),
                 strerror(errno));
        if (fd != -1)
            close(fd);
        fd = -1;
    }
    freeaddrinfo(res);
    return fd;
}

/* The server's TLS settings: TLS 1.2 at least, our certificate and key (handout §4.1). */
static SSL_CTX *make_ctx(const char *cert, const char *key)
{
    /* TODO(student): (handout §4.1) SSL_CTX_new(TLS_server_method()); TLS 1.2 at least;
     * SSL_CTX_use_certificate_chain_file(cert), SSL_CTX_use_PrivateKey_file(key),
     * SSL_CTX_check_private_key(); "certificate FILE: REASON" / "key FILE: REASON" with
     * tls_drain_errors() and NULL on failure. Read-ahead on (SSL_CTX_set_read_ahead) and
     * SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER. */
    (void)cert;
    (void)key;
    fprintf(stderr, "%s: make_ctx: not written yet (TODO in tls_echo_server.c, handout §4.1)\n", PROG);
    return NULL;
}

/* ---- connections -------------------------------------------------------------------------- */

static void free_conn(struct conn *c)
{
    SSL_free(c->ssl);
    close(c->fd);
    free(c);
}

static void remove_conn(struct server *s, size_t i)
{
    free_conn(s->conns[i]);
    s->conns[i] = s->conns[s->nconns - 1];
    s->pfds[i + 2] = s->pfds[s->nconns + 1];
    s->nconns--;
}

/* Log why a connection ends, with OpenSSL's reason (or errno's when the queue is empty). */
static void log_failure(struct conn *c, const char *what, int ssl_err)
{
    char why[256];
    const char *fallback = "connection closed without close_notify";

    if (ssl_err == SSL_ERROR_SYSCALL && errno != 0)
        fallback = strerror(errno);
    fprintf(stderr, "%s: %s %s: %s\n", PROG, what, c->addr, tls_drain_errors(why, sizeof why, fallback));
}

/*
 * Act on SSL_get_error() after a TLS call returned <= 0: wait for the event OpenSSL asks
 * for, or end the connection. Returns 1 to wait, 0 when the connection is done.
 */
static int wait_or_fail(struct conn *c, int ret, const char *what)
{
    /* TODO(student): (handout §4.2) SSL_get_error(c->ssl, ret) (errno = 0 first): WANT_READ sets
     * c->events = POLLIN, WANT_WRITE POLLOUT, return 1. Anything else: log_failure(c, what, e),
     * DEAD, return 0. */
    (void)ret;
    (void)log_failure;
    fprintf(stderr, "%s: %s: wait_or_fail: not written yet (TODO in tls_echo_server.c, handout §4.2)\n", PROG, what);
    c->state = DEAD;
    return 0;
}

static void on_accept(struct server *s)
{
    struct sockaddr_storage ss;
    socklen_t sl = sizeof ss;
    struct conn *c;
    struct pollfd *pfds;
    struct conn **conns;
    int fd = accept(s->lfd, (struct sockaddr *)&ss, &sl);

    if (fd == -1) {
        /* EAGAIN: the newcomer reset before we got to it; EMFILE: try again next pass. */
        if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR && errno != ECONNABORTED)
            fprintf(stderr, "%s: accept %s: %s\n", PROG, s->laddr, strerror(errno));
        return;
    }
    if (s->nconns >= s->max_clients) {
        close(fd); /* full: better an immediate close than a handshake that never starts */
        return;
    }
    c = calloc(1, sizeof *c);
    pfds = realloc(s->pfds, (s->nconns + 3) * sizeof *pfds);
    if (pfds != NULL)
        s->pfds = pfds;
    conns = realloc(s->conns, (s->nconns + 1) * sizeof *conns);
    if (conns != NULL)
        s->conns = conns;
    if (c == NULL || pfds == NULL || conns == NULL || set_nonblocking(fd) == -1) {
        fprintf(stderr, "%s: accept %s: %s\n", PROG, s->laddr, strerror(errno));
        free(c);
        close(fd);
        return;
    }
    c->fd = fd;
    sockaddr_str((struct sockaddr *)&ss, c->addr, sizeof c->addr);
    c->ssl = SSL_new(s->ctx);
    if (c->ssl == NULL || SSL_set_fd(c->ssl, fd) != 1) {
        log_failure(c, "SSL_new", SSL_ERROR_SSL);
        free_conn(c);
        return;
    }
    c->state = HANDSHAKE;
    c->events = POLLIN;
    c->deadline = now_ms() + s->handshake_ms;
    s->conns[s->nconns++] = c;
}

/* One step of the handshake: as far as the bytes received allow, never waiting (§4.2). */
static void do_handshake(struct conn *c)
{
    /* TODO(student): (handout §4.2) SSL_accept(): 1 means ECHO (events POLLIN); otherwise
     * wait_or_fail(c, ret, "handshake"). Never wait here: the loop does. */
    (void)wait_or_fail;
    fprintf(stderr, "%s: do_handshake: not written yet (TODO in tls_echo_server.c, handout §4.2)\n", PROG);
    c->state = DEAD;
}

/* The client's close_notify came: send ours (non-blocking, so perhaps in several steps). */
static void do_shutdown(struct conn *c)
{
    /* TODO(student): (handout §4.4) SSL_shutdown(): >= 0 means ours is sent: DEAD (the loop
     * closes); < 0: wait_or_fail(c, ret, "shutdown"). */
    fprintf(stderr, "%s: do_shutdown: not written yet (TODO in tls_echo_server.c, handout §4.4)\n", PROG);
    c->state = DEAD;
}

/* Write back what was read, then read more: until OpenSSL needs the socket (§4.3). */
static void do_echo(struct conn *c)
{
    /* TODO(student): (handout §4.2) loop: SSL_write() what is in c->out (WANT_*: wait_or_fail,
     * return; success: out_len = 0); stop after READS_PER_PASS reads; SSL_read() into c->out:
     * > 0 keeps looping; SSL_ERROR_ZERO_RETURN: CLOSING and do_shutdown(); else wait_or_fail(). */
    fprintf(stderr, "%s: do_echo: not written yet (TODO in tls_echo_server.c, handout §4.2)\n", PROG);
    c->state = DEAD;
}

static void step(struct conn *c)
{
    if (c->state == HANDSHAKE)
        do_handshake(c);
    if (c->state == ECHO)
        do_echo(c);
    else if (c->state == CLOSING)
        do_shutdown(c);
}

/* Bytes OpenSSL has already taken from the socket but not given us: poll() cannot see them. */
static int has_buffered(const struct conn *c)
{
    /* TODO(student): (handout §4.2) true when in ECHO, nothing waits to be written, and OpenSSL
     * holds bytes poll() cannot see (SSL_has_pending()). */
    (void)c;
    return 0;
}

/* Fill pfds for the connections and return poll()'s timeout in ms (-1: none). */
static int prepare(struct server *s, long long now)
{
    size_t i;
    long long next = -1;

    s->pfds[0].fd = s->lfd;
    s->pfds[0].events = POLLIN;
    s->pfds[0].revents = 0;
    s->pfds[1].fd = s->sig_rfd;
    s->pfds[1].events = POLLIN;
    s->pfds[1].revents = 0;
    for (i = 0; i < s->nconns; i++) {
        struct conn *c = s->conns[i];
        s->pfds[i + 2].fd = c->fd;
        s->pfds[i + 2].events = c->events;
        s->pfds[i + 2].revents = 0;
        if (has_buffered(c))
            next = now;
        else if (c->state == HANDSHAKE && (next == -1 || c->deadline < next))
            next = c->deadline;
    }
    if (next == -1)
        return -1;
    return next <= now ? 0 : (int)(next - now);
}

static int serve(struct server *s)
{
    for (;;) {
        size_t i;
        int n = poll(s->pfds, s->nconns + 2, prepare(s, now_ms()));
        long long now;

        if (n == -1) {
            if (errno == EINTR)
                continue;
            fprintf(stderr, "%s: poll %s: %s\n", PROG, s->laddr, strerror(errno));
            return -1;
        }
        if (s->pfds[1].revents & POLLIN)
            return 0; /* SIGINT or SIGTERM */
        now = now_ms();
        for (i = 0; i < s->nconns; i++) {
            struct conn *c = s->conns[i];
            /* POLLHUP and POLLERR too: the TLS call then reports what happened. */
            if (s->pfds[i + 2].revents != 0 || has_buffered(c))
                step(c);
            if (c->state == HANDSHAKE && now >= c->deadline) {
                fprintf(stderr, "%s: handshake %s: timed out after %lld ms\n", PROG, c->addr,
                        s->handshake_ms);
                c->state = DEAD;
            }
        }
        for (i = s->nconns; i-- > 0;)
            if (s->conns[i]->state == DEAD)
                remove_conn(s, i);
        /* Last: the newcomers' pollfds are filled in by the next prepare(). */
        if (s->pfds[0].revents & POLLIN)
            on_accept(s);
    }
}

static int start(struct server *s, const char *host, const char *port, int family,
                 const char *cert, const char *key)
{
    char err[256];

    s->ctx = make_ctx(cert, key);
    if (s->ctx == NULL)
        return -1;
    s->lfd = tls_listen(host, port, family, err, sizeof err);
    if (s->lfd == -1) {
        fprintf(stderr, "%s: %s\n", PROG, err);
        return -1;
    }
    if (sockname_str(s->lfd, s->laddr, sizeof s->laddr) == NULL) {
        fprintf(stderr, "%s: getsockname: %s\n", PROG, strerror(errno));
        return -1;
    }
    /* poll() may call the listener readable for a newcomer that has already reset. */
    if (set_nonblocking(s->lfd) == -1) {
        fprintf(stderr, "%s: fcntl %s: %s\n", PROG, s->laddr, strerror(errno));
        return -1;
    }
    s->pfds = malloc(2 * sizeof *s->pfds);
    if (s->pfds == NULL) {
        fprintf(stderr, "%s: malloc: %s\n", PROG, strerror(errno));
        return -1;
    }
    printf("listening on %s\n", s->laddr);
    fflush(stdout);
    return 0;
}

static void close_all(struct server *s)
{
    size_t i;

    for (i = 0; i < s->nconns; i++)
        free_conn(s->conns[i]);
    free(s->conns);
    free(s->pfds);
    SSL_CTX_free(s->ctx);
    if (s->lfd != -1)
        close(s->lfd);
    if (s->sig_rfd != -1)
        close(s->sig_rfd);
    if (s->sig_wfd != -1)
        close(s->sig_wfd);
}

int main(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"cert", required_argument, NULL, 'c'},
        {"key", required_argument, NULL, 'k'},
        {"max-clients", required_argument, NULL, 'm'},
        {"handshake-timeout", required_argument, NULL, 't'},
        {NULL, 0, NULL, 0},
    };
    struct server srv;
    const char *host = NULL, *port = NULL, *cert = NULL, *key = NULL;
    int family = AF_UNSPEC, opt, rc;
    unsigned long hs = DEFAULT_HANDSHAKE_MS;
    unsigned short portnum;

    memset(&srv, 0, sizeof srv);
    srv.lfd = srv.sig_rfd = srv.sig_wfd = -1;
    srv.max_clients = DEFAULT_MAX_CLIENTS;
    while ((opt = getopt_long(argc, argv, "46b:p:", longopts, NULL)) != -1) {
        switch (opt) {
        case '4': family = AF_INET; break;
        case '6': family = AF_INET6; break;
        case 'b': host = optarg; break;
        case 'p': port = optarg; break;
        case 'c': cert = optarg; break;
        case 'k': key = optarg; break;
        case 'm':
            if (parse_uint(optarg, 100000, &srv.max_clients) == -1 || srv.max_clients == 0) {
                usage();
                return 2;
            }
            break;
        case 't':
            if (parse_uint(optarg, 3600000, &hs) == -1 || hs == 0) {
                usage();
                return 2;
            }
            break;
        default: usage(); return 2;
        }
    }
    if (port == NULL || cert == NULL || key == NULL || optind != argc || parse_port(port, &portnum) == -1) {
        usage();
        return 2;
    }
    srv.handshake_ms = (long long)hs;
    if (install_signals(&srv) == -1) {
        fprintf(stderr, "%s: sigaction: %s\n", PROG, strerror(errno));
        close_all(&srv);
        return 1;
    }
    if (start(&srv, host, port, family, cert, key) == -1) {
        close_all(&srv);
        return 1;
    }
    rc = serve(&srv);
    close_all(&srv);
    return rc == 0 ? 0 : 1;
}
