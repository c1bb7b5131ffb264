/* http_server.c: an HTTP/1.1 static file server, one process, one poll() loop. */
/*
 * Usage: http_server [-4|-6] [-b ADDR] -p PORT -r DOCROOT [--max-clients N] [--idle-timeout MS]
 *
 * Binds ADDR:PORT (every local address if -b is not given; -p 0 asks the kernel for an
 * ephemeral port), prints "listening on ADDR:PORT" on stdout, then serves the regular
 * files under DOCROOT to GET and HEAD requests (handout §3, §4): Content-Type from the
 * extension, Content-Length, Date, Last-Modified and 304 for If-Modified-Since,
 * index.html for a directory, persistent connections and pipelining (HTTP/1.1),
 * one response then close (HTTP/1.0 or "Connection: close"). Errors get a short
 * text body: 400 403 404 405 408 413 414 431 501 503 505 (handout §3.4).
 *
 * Every socket is non-blocking; files go out in chunks of FILE_CHUNK bytes from the
 * loop, and a connection holds at most IN_MAX bytes of input and one chunk of output
 * beyond the response being sent, so no client can stall the others or fill memory
 * (handout §5). --max-clients N (default 1000): a newcomer beyond N gets 503 and is
 * closed. --idle-timeout MS (default 30000): see handout §5.3.
 *
 * stdout: the "listening on" line, then one Common Log Format line per response:
 *   HOST - - [DD/Mon/YYYY:HH:MM:SS +0000] "REQUEST LINE" STATUS SIZE
 * stderr: errors, as "http_server: call ADDR:PORT: reason".
 *
 * Exit codes: 0 after SIGINT/SIGTERM, 1 if the socket or DOCROOT cannot be set up or
 * poll() fails, 2 for bad arguments.
 */
#ifndef _POSIX_C_SOURCE
#define _POSIX_C_SOURCE 200809L
#endif
/* realpath() is in POSIX's XSI option, which _XOPEN_SOURCE 700 asks for. */
#define _XOPEN_SOURCE 700
#include "http.h"
#include "sockutil.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <netdb.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define PROG "http_server"
/** Input a connection may hold: one whole head (request line + header section) fits. */
#define IN_MAX (REQ_LINE_MAX + HEADER_BYTES_MAX + 1024)
/** Bytes read from a file per step of the loop. */
#define FILE_CHUNK (64 * 1024)
/** Below this much unsent output, the server reads the next chunk or answers the next request. */
#define OUT_LOW (64 * 1024)
/** After the server's last response on a connection, how long it waits for the client's EOF. */
#define LINGER_MS 2000
#define DEFAULT_MAX_CLIENTS 1000
#define DEFAULT_IDLE_MS 30000

/* A byte queue: data[off..len) is pending. It grows on demand; callers bound what they add. */
struct buf {
    char *data;
    size_t off, len, cap;
};

enum conn_state {
    OPEN,    /* reading requests, answering them in order */
    CLOSING, /* last response queued: send it, then shut down our side */
    LINGER,  /* our side shut down: read and drop until the client's EOF (or LINGER_MS) */
    DEAD     /* to be closed and removed by the loop */
};

struct conn {
    int fd;
    char host[SOCKADDR_STRLEN]; /* the client's address, for the log (no port) */
    char addr[SOCKADDR_STRLEN]; /* ADDR:PORT, for error messages */
    struct buf in, out;
    int file_fd;                   /* the file being sent, or -1 */
    unsigned long long file_left;  /* its bytes still to queue */
    unsigned long long skip;       /* request body bytes still to drop */
    int peer_eof;                  /* the client shut down its side */
    enum conn_state state;
    long long deadline;            /* CLOCK_MONOTONIC ms: see handout §5.3 */
};

struct server {
    int lfd, spare_fd, sig_rfd, sig_wfd;
    char laddr[SOCKADDR_STRLEN];
    char *root;                   /* DOCROOT's real path */
    unsigned long max_clients;
    long long idle_ms;
    struct conn **conns;          /* conns[i] is polled in pfds[i + 2] */
    struct pollfd *pfds;          /* [0] listener, [1] signal pipe, then one per connection */
    size_t nconns, cap;
};

static int sig_write_fd = -1;

/* The self-pipe trick: the handler only writes a byte; poll() wakes up on the pipe.
 * (ppoll() would do it with a signal mask, but it is not POSIX.) */
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
    /* A client that vanished must give EPIPE from send(), not kill the server. */
    sa.sa_handler = SIG_IGN;
    return sigaction(SIGPIPE, &sa, NULL);
}

static long long now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---- byte queues -------------------------------------------------------------------------- */

static size_t buf_pending(const struct buf *b)
{
    return b->len - b->off;
}

/* Make room for n more bytes at data + len; -1 if out of memory. */
static int buf_reserve(struct buf *b, size_t n)
{
    char *p;
    size_t cap;

    if (b->off > 0 && b->cap - b->len < n) {
        memmove(b->data, b->data + b->off, b->len - b->off);
        b->len -= b->off;
        b->off = 0;
    }
    if (b->cap - b->len >= n)
        return 0;
    cap = b->cap ? b->cap : 4096;
    while (cap - b->len < n)
        cap *= 2;
    p = realloc(b->data, cap);
    if (p == NULL)
        return -1;
    b->data = p;
    b->cap = cap;
    return 0;
}

static int buf_append(struct buf *b, const void *p, size_t n)
{
    if (buf_reserve(b, n) == -1)
        return -1;
    memcpy(b->data + b->len, p, n);
    b->len += n;
    return 0;
}

static void buf_consume(struct buf *b, size_t n)
{
    b->off += n;
    if (b->off == b->len)
        b->off = b->len = 0;
}

/* ---- the listener ------------------------------------------------------------------------- */

static void usage(void)
{
    fprintf(stderr, "usage: %s [-4|-6] [-b ADDR] -p PORT -r DOCROOT [--max-clients N] "
                    "[--idle-timeout MS]\n", PROG);
}

/* The getaddrinfo loop of Lab 01 (AI_PASSIVE): the first address that binds wins. */
static int http_listen(const char *host, const char *port, int family, char *err, size_t errlen)
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
            /* A long backlog: a browser opens several connections at once. */
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

/* ---- connections -------------------------------------------------------------------------- */

static void close_file(struct conn *c)
{
    if (c->file_fd != -1)
        close(c->file_fd);
    c->file_fd = -1;
    c->file_left = 0;
}

static void free_conn(struct conn *c)
{
    close_file(c);
    close(c->fd);
    free(c->in.data);
    free(c->out.data);
    free(c);
}

/* Remove conns[i]: the last connection takes its slot, in both arrays, so that
 * conns[j] stays polled by pfds[j + 2] and poll() never sees a closed fd. */
static void remove_conn(struct server *s, size_t i)
{
    /* TODO(student): (handout §5.4) free_conn(conns[i]), then move the last connection into slot i, in
     * conns[] and in pfds[] (at i + 2) together. */
    (void)s;
    (void)i;
    fprintf(stderr, "%s: remove_conn: not written yet (TODO in http_server.c, handout §5.4)\n", PROG);
}

static int add_conn(struct server *s, int fd, const struct sockaddr *sa)
{
    struct conn *c;
    char *dot;

    if (s->nconns == s->cap) {
        size_t cap = s->cap ? s->cap * 2 : 64;
        struct conn **conns = realloc(s->conns, cap * sizeof *conns);
        struct pollfd *pfds;
        if (conns == NULL)
            return -1;
        s->conns = conns;
        pfds = realloc(s->pfds, (cap + 2) * sizeof *pfds);
        if (pfds == NULL)
            return -1;
        s->pfds = pfds;
        s->cap = cap;
    }
    c = calloc(1, sizeof *c);
    if (c == NULL)
        return -1;
    c->fd = fd;
    c->file_fd = -1;
    c->state = OPEN;
    c->deadline = now_ms() + s->idle_ms;
    sockaddr_str(sa, c->addr, sizeof c->addr);
    /* The log wants the address alone: "127.0.0.1:5000" -> "127.0.0.1", "[::1]:5000" -> "::1". */
    snprintf(c->host, sizeof c->host, "%s", c->addr[0] == '[' ? c->addr + 1 : c->addr);
    dot = strrchr(c->host, c->addr[0] == '[' ? ']' : ':');
    if (dot != NULL)
        *dot = '\0';
    s->conns[s->nconns] = c;
    s->pfds[s->nconns + 2] = (struct pollfd){.fd = fd, .events = POLLIN, .revents = 0};
    s->nconns++;
    return 0;
}

/* ---- responses ---------------------------------------------------------------------------- */

/* The request line for the log: printable ASCII kept, '"', '\\' and the rest as \xHH. */
static void log_request(const struct conn *c, const struct request *r, int status,
                        unsigned long long size)
{
    static const char *const MON[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                      "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
    time_t t = time(NULL);
    struct tm tm;
    size_t i;

    if (gmtime_r(&t, &tm) == NULL)
        memset(&tm, 0, sizeof tm);
    printf("%s - - [%02d/%s/%04d:%02d:%02d:%02d +0000] \"", c->host, tm.tm_mday, MON[tm.tm_mon],
           tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec);
    if (r == NULL || r->line.n == 0)
        putchar('-');
    for (i = 0; r != NULL && i < r->line.n; i++) {
        unsigned char ch = (unsigned char)r->line.p[i];
        if (ch < 0x20 || ch > 0x7e || ch == '"' || ch == '\\')
            printf("\\x%02x", ch);
        else
            putchar(ch);
    }
    if (size > 0)
        printf("\" %d %llu\n", status, size);
    else
        printf("\" %d -\n", status);
}

/* Queue a status line and the common headers; the caller adds its own, then "\r\n". */
static int queue_head(struct conn *c, int status, int close_conn)
{
    char date[HTTP_DATE_LEN], head[256];
    int n = snprintf(head, sizeof head,
                     "HTTP/1.1 %d %s\r\nDate: %s\r\nServer: socklab-http\r\n%s", status,
                     reason_phrase(status), http_date(time(NULL), date),
                     close_conn ? "Connection: close\r\n" : "");

    return buf_append(&c->out, head, (size_t)n);
}

/* An error response with its short text body ("404 Not Found\n"); no body for HEAD. */
static int queue_error(struct conn *c, const struct request *r, int status, int is_head,
                       int close_conn)
{
    char body[80], extra[128];
    int bn = snprintf(body, sizeof body, "%d %s\n", status, reason_phrase(status));
    int en = snprintf(extra, sizeof extra, "%sContent-Type: text/plain; charset=utf-8\r\n"
                      "Content-Length: %d\r\n\r\n", status == 405 ? "Allow: GET, HEAD\r\n" : "", bn);

    log_request(c, r, status, is_head ? 0 : (unsigned long long)bn);
    if (queue_head(c, status, close_conn) == -1 || buf_append(&c->out, extra, (size_t)en) == -1)
        return -1;
    return is_head ? 0 : buf_append(&c->out, body, (size_t)bn);
}

/* Is the file at least as old as the If-Modified-Since date? (only for a valid date) */
static int not_modified(const struct request *r, const struct stat *st)
{
    time_t since;

    return r->ims.p != NULL && parse_http_date(r->ims.p, r->ims.n, &since) == 0 &&
           st->st_mtime <= since;
}

/* Answer a well-formed GET or HEAD: 200 with the file, 304, or 403/404. */
static int serve_file(struct server *s, struct conn *c, const struct request *r, int is_head)
{
    /* TODO(student): (handout §3.2) decode_path(), resolve_path(), open(), fstat(); 304 if not_modified();
     * otherwise log_request() and queue_head() + Content-Type, Content-Length, Last-Modified;
     * for GET, leave the fd in c->file_fd for fill_from_file(). Close the fd on every other path. */
    (void)s;
    (void)is_head;
    (void)not_modified;
    fprintf(stderr, "%s: serve_file: not written yet (TODO in http_server.c, handout §3.2)\n", PROG);
    return queue_error(c, r, 501, 0, 1);
}

/* Methods this server knows but does not allow on files: 405 with Allow. Others: 501. */
static int is_known_method(struct span m)
{
    static const char *const known[] = {"POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE",
                                        "PATCH"};
    size_t i;

    for (i = 0; i < sizeof known / sizeof known[0]; i++)
        if (m.n == strlen(known[i]) && memcmp(m.p, known[i], m.n) == 0)
            return 1;
    return 0;
}

static int span_eq(struct span s, const char *lit)
{
    return s.n == strlen(lit) && memcmp(s.p, lit, s.n) == 0;
}

/* Answer the request whose parse gave `status`; -1 if out of memory. */
static int respond(struct server *s, struct conn *c, const struct request *r, int status)
{
    int is_head = status == 200 && span_eq(r->method, "HEAD");
    int rc;

    if (status != 200) {
        /* The framing of what follows is unknown: answer, then close (handout §3.4). */
        c->state = CLOSING;
        return queue_error(c, r, status, 0, 1);
    }
    if (r->close)
        c->state = CLOSING;
    /* A body (allowed on any request) is read and dropped, so the next request starts clean. */
    c->skip = r->length;
    if (span_eq(r->method, "GET") || is_head)
        rc = serve_file(s, c, r, is_head);
    else
        rc = queue_error(c, r, is_known_method(r->method) ? 405 : 501, 0, r->close);
    return rc;
}

/* Queue more of the file being sent, up to about OUT_LOW bytes of output; -1 on error. */
static int fill_from_file(struct conn *c)
{
    /* TODO(student): (handout §5.2) while the queue holds less than OUT_LOW, read() up to FILE_CHUNK of the
     * file into it; close_file() after the last byte; a short file (read() returns 0): -1. */
    if (c->file_fd == -1)
        return 0;
    fprintf(stderr, "%s: fill_from_file: not written yet (TODO in http_server.c, handout §5.2)\n", PROG);
    close_file(c);
    return -1;
}

/* Answer every complete request in the input, in order, while the output has room. */
static void process(struct server *s, struct conn *c)
{
    /* TODO(student): (handout §3.5) while OPEN and the output has room (no file being sent, less than
     * OUT_LOW queued): drop body bytes still to skip, parse_request(), and if complete restart
     * the timer, respond(), and consume the head (r.head_len; all of it after an error).
     * Keep the rest for the next request (pipelining). On the client's EOF: CLOSING. */
    (void)s;
    (void)respond, (void)fill_from_file, (void)buf_consume;
    fprintf(stderr, "%s: process: not written yet (TODO in http_server.c, handout §3.5)\n", PROG);
    c->state = DEAD;
}

/* ---- the poll() loop ---------------------------------------------------------------------- */

static void on_accept(struct server *s)
{
    /* TODO(student): (handout §5.4) accept() every newcomer (non-blocking listener) until EAGAIN; 503 and
     * close beyond max_clients; set_nonblocking() and add_conn(); the EMFILE spare-fd trick. */
    fprintf(stderr, "%s: on_accept: not written yet (TODO in http_server.c, handout §5.4)\n", PROG);
    (void)s;
    (void)add_conn;
}

static void on_readable(struct conn *c)
{
    /* TODO(student): (handout §5.1, §5.2) one recv() into the input buffer (room: IN_MAX - pending); 0 is the
     * client's EOF; EAGAIN/EINTR: nothing yet; other errors: DEAD. In LINGER, read and drop. */
    fprintf(stderr, "%s: on_readable: not written yet (TODO in http_server.c, handout §5.1, §5.2)\n", PROG);
    c->state = DEAD;
}

static void on_writable(struct server *s, struct conn *c)
{
    /* TODO(student): (handout §5.2) send() the output queue until it is empty or EAGAIN; restart the
     * idle timer on progress (§5.3); EPIPE/ECONNRESET: DEAD. */
    (void)s;
    fprintf(stderr, "%s: on_writable: not written yet (TODO in http_server.c, handout §5.2)\n", PROG);
    c->state = DEAD;
}

/* After the last response: shut down our side, then wait (briefly) for the client's EOF,
 * so that its unread bytes do not make the kernel reset the connection (RFC 9112 §9.6). */
static void finish_if_done(struct server *s, struct conn *c)
{
    /* TODO(student): (handout §3.5) once CLOSING and everything is sent: shutdown(SHUT_WR), then LINGER
     * until the client's EOF or LINGER_MS (RFC 9112 §9.6). For now: close at once. */
    (void)s;
    if (c->state == CLOSING && buf_pending(&c->out) == 0 && c->file_fd == -1)
        c->state = DEAD;
}

/* The idle timer of handout §5.3 ran out. */
static void on_timeout(struct server *s, struct conn *c)
{
    /* TODO(student): (handout §5.3) a partial request and nothing to send: queue 408 and close; otherwise
     * (idle, or a response nobody reads, or lingering done): DEAD. For now: never time out. */
    (void)s;
    c->deadline = now_ms() + 3600000;
}

/* The events each connection waits for, and the poll() timeout to the nearest deadline. */
static int prepare(struct server *s, long long now)
{
    /* TODO(student): (handout §5.1, §5.3) fds[0] listener and fds[1] signal pipe (POLLIN); for each connection
     * POLLIN while it may read (§5.2), POLLOUT while it has output; return the ms to the nearest
     * deadline (0 if passed, -1 without connections). */
    (void)s;
    (void)now;
    return -1;
}

static int serve(struct server *s)
{
    /* TODO(student): (handout §5.1) the poll() loop of §5.1: prepare(), poll(), the signal pipe (§5.5),
     * on_accept(), then for each connection with revents: on_readable() (POLLIN), close on
     * POLLHUP/POLLERR without POLLIN, process(), on_writable(), process(), finish_if_done();
     * on_timeout() when its deadline passed; then remove_conn() the DEAD ones (§5.4). */
    (void)s;
    /* The helpers it calls (these casts only silence -Wunused-function until then). */
    (void)prepare, (void)on_accept, (void)remove_conn, (void)on_readable, (void)on_writable;
    (void)process, (void)finish_if_done, (void)on_timeout;
    fprintf(stderr, "%s: serve: not written yet (TODO in http_server.c, handout §5.1)\n", PROG);
    return -1;
}

static int start(struct server *s, const char *host, const char *port, int family,
                 const char *docroot)
{
    char err[256];
    struct stat st;

    s->root = realpath(docroot, NULL);
    if (s->root == NULL || stat(s->root, &st) == -1 || !S_ISDIR(st.st_mode)) {
        fprintf(stderr, "%s: realpath %s: %s\n", PROG, docroot,
                s->root == NULL ? strerror(errno) : strerror(ENOTDIR));
        return -1;
    }
    s->lfd = http_listen(host, port, family, err, sizeof err);
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
    s->spare_fd = open("/dev/null", O_RDONLY);
    s->pfds = malloc(2 * sizeof *s->pfds);
    if (s->spare_fd == -1 || s->pfds == NULL) {
        fprintf(stderr, "%s: start %s: %s\n", PROG, s->laddr, strerror(errno));
        return -1;
    }
    printf("listening on %s\n", s->laddr);
    /* One log line per request: line-buffered, so each reaches the pipe at once. */
    fflush(stdout);
    setvbuf(stdout, NULL, _IOLBF, 0);
    return 0;
}

static void close_all(struct server *s)
{
    size_t i;

    for (i = 0; i < s->nconns; i++)
        free_conn(s->conns[i]);
    free(s->conns);
    free(s->pfds);
    free(s->root);
    if (s->lfd != -1)
        close(s->lfd);
    if (s->spare_fd != -1)
        close(s->spare_fd);
    if (s->sig_rfd != -1)
        close(s->sig_rfd);
    if (s->sig_wfd != -1)
        close(s->sig_wfd);
}

int main(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"max-clients", required_argument, NULL, 'm'},
        {"idle-timeout", required_argument, NULL, 't'},
        {NULL, 0, NULL, 0},
    };
    struct server srv;
    const char *host = NULL, *port = NULL, *docroot = NULL;
    int family = AF_UNSPEC, opt, rc;
    unsigned long idle = DEFAULT_IDLE_MS;
    unsigned short portnum;

    memset(&srv, 0, sizeof srv);
    srv.lfd = srv.spare_fd = srv.sig_rfd = srv.sig_wfd = -1;
    srv.max_clients = DEFAULT_MAX_CLIENTS;
    while ((opt = getopt_long(argc, argv, "46b:p:r:", longopts, NULL)) != -1) {
        switch (opt) {
        case '4': family = AF_INET; break;
        case '6': family = AF_INET6; break;
        case 'b': host = optarg; break;
        case 'p': port = optarg; break;
        case 'r': docroot = optarg; break;
        case 'm':
            if (parse_uint(optarg, 100000, &srv.max_clients) == -1 || srv.max_clients == 0) {
                usage();
                return 2;
            }
            break;
        case 't':
            if (parse_uint(optarg, 3600000, &idle) == -1 || idle == 0) {
                usage();
                return 2;
            }
            break;
        default: usage(); return 2;
        }
    }
    if (port == NULL || docroot == NULL || optind != argc || parse_port(port, &portnum) == -1) {
        usage();
        return 2;
    }
    srv.idle_ms = (long long)idle;
    if (install_signals(&srv) == -1) {
        fprintf(stderr, "%s: sigaction: %s\n", PROG, strerror(errno));
        close_all(&srv);
        return 1;
    }
    if (start(&srv, host, port, family, docroot) == -1) {
        close_all(&srv);
        return 1;
    }
    rc = serve(&srv);
    close_all(&srv);
    return rc == 0 ? 0 : 1;
}
