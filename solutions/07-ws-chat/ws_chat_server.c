/* ws_chat_server.c: Lab 03's chat for browsers, over WebSocket (RFC 6455), one poll() loop. */
/*
 * Usage: ws_chat_server [-4|-6] [-b ADDR] -p PORT [--page FILE] [--max-clients N]
 *                       [--max-message BYTES]
 *
 * Binds ADDR:PORT (every local address if -b is not given; -p 0 asks the kernel for an
 * ephemeral port) and prints "listening on ADDR:PORT" on stdout. Then, over HTTP/1.1:
 * GET / answers the chat page (FILE, default chat.html in the current folder, read once at
 * start); GET /chat with the WebSocket handshake headers switches the connection to the
 * WebSocket protocol and joins the chat; anything else gets 404, 405, 400 (a bad handshake,
 * with the reason), 426 (a version other than 13) or 431, then the connection closes
 * (handout §3).
 *
 * The chat is Lab 03's (welcome, joins, nicks, /who, /msg, /quit), one chat line per text
 * message, both ways (handout §5). Frames are parsed whole from a per-connection buffer,
 * masks applied, fragments reassembled up to --max-message BYTES (default 65536), text
 * checked as UTF-8, pings answered; a frame that breaks RFC 6455 gets a close frame with
 * the status code the RFC names (1002, 1003, 1007, 1009), then the connection ends
 * (handout §4). A client whose unsent output passes OUT_LIMIT is dropped, so one that stops
 * reading never stalls the others. --max-clients N (default 1000): a newcomer beyond N
 * connections gets 503 and is closed.
 *
 * stdout: the "listening on" line. stderr: "accepted ADDR:PORT as NICK",
 * "closed NICK ADDR:PORT (why)", and errors as "ws_chat_server: call ADDR:PORT: reason".
 *
 * Exit codes: 0 after SIGINT/SIGTERM, 1 if the page cannot be read, the socket cannot be set
 * up or poll() fails, 2 for bad arguments.
 */
#ifndef _POSIX_C_SOURCE
#define _POSIX_C_SOURCE 200809L
#endif
#include "ws.h"
#include "sockutil.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <netdb.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define PROG "ws_chat_server"
#define NICK_MAX 16
/** A client with more unsent output than this is dropped: it stopped reading (handout §5.3). */
#define OUT_LIMIT (256 * 1024)
/** How long the server waits for the client's close frame, or for its EOF at the end (ms). */
#define CLOSE_TIMEOUT_MS 1000
/** Largest chat page (bytes). */
#define PAGE_MAX (1024 * 1024)
/** Most bytes one recv() asks for. */
#define RECV_CHUNK (16 * 1024)
#define DEFAULT_MAX_CLIENTS 1000
#define DEFAULT_MAX_MESSAGE 65536
#define MAX_MESSAGE_LIMIT (16 * 1024 * 1024)

/* A byte queue: data[off..len) is pending. It grows on demand; callers bound what they add. */
struct buf {
    char *data;
    size_t off, len, cap;
};

enum conn_state {
    HTTP,    /* reading the request head */
    OPEN,    /* a WebSocket, in the chat */
    CLOSING, /* we sent a close frame: reading frames until the client's (or CLOSE_TIMEOUT_MS) */
    DONE,    /* nothing more to read: send what is queued, then shut down our side */
    LINGER,  /* our side shut down: read and drop until the client's EOF (or CLOSE_TIMEOUT_MS) */
    DEAD     /* to be closed and removed by the loop */
};

struct conn {
    int fd;
    char addr[SOCKADDR_STRLEN]; /* ADDR:PORT, for the log and error messages */
    struct buf in, out;
    struct buf msg;             /* the text message being reassembled from its fragments */
    int msg_op;                 /* WS_TEXT or WS_BINARY while a message is open, else 0 */
    struct utf8 utf;            /* the UTF-8 state of that message */
    enum conn_state state;
    int joined;                 /* in the chat: gets messages, is announced when it leaves */
    char nick[NICK_MAX + 1];    /* "" until it joined */
    const char *why;            /* why it ends, for the log */
    long long deadline;         /* CLOCK_MONOTONIC ms, in CLOSING and LINGER */
};

struct server {
    int lfd, spare_fd, sig_rfd, sig_wfd;
    char laddr[SOCKADDR_STRLEN];
    char *page;                 /* the chat page, read once at start */
    size_t page_len;
    unsigned long max_clients;
    size_t max_message;
    unsigned long guests;       /* guest numbers handed out so far */
    struct conn **conns;        /* conns[i] is polled in pfds[i + 2] */
    struct pollfd *pfds;        /* [0] listener, [1] signal pipe, then one per connection */
    size_t nconns, cap;
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
    if (n == 0)
        return 0;
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
    fprintf(stderr, "usage: %s [-4|-6] [-b ADDR] -p PORT [--page FILE] [--max-clients N] "
                    "[--max-message BYTES]\n", PROG);
}

/* The getaddrinfo loop of Lab 01 (AI_PASSIVE): the first address that binds wins. */
static int ws_listen(const char *host, const char *port, int family, char *err, size_t errlen)
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
            /* A long backlog: a crowd of browsers may arrive at once. */
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

static void free_conn(struct conn *c)
{
    close(c->fd);
    free(c->in.data);
    free(c->out.data);
    free(c->msg.data);
    free(c);
}

/* Remove conns[i]: the last connection takes its slot, in both arrays, so that
 * conns[j] stays polled by pfds[j + 2] and poll() never sees a closed fd. */
static void remove_conn(struct server *s, size_t i)
{
    struct conn *c = s->conns[i];

    if (c->nick[0] != '\0')
        fprintf(stderr, "closed %s %s (%s)\n", c->nick, c->addr, c->why ? c->why : "closed");
    free_conn(c);
    s->nconns--;
    if (i != s->nconns) {
        s->conns[i] = s->conns[s->nconns];
        s->pfds[i + 2] = s->pfds[s->nconns + 2];
    }
}

static int add_conn(struct server *s, int fd, const struct sockaddr *sa)
{
    struct conn *c;

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
    c->state = HTTP;
    sockaddr_str(sa, c->addr, sizeof c->addr);
    s->conns[s->nconns] = c;
    s->pfds[s->nconns + 2] = (struct pollfd){.fd = fd, .events = POLLIN, .revents = 0};
    s->nconns++;
    return 0;
}

/* Mark a connection for removal at the end of this pass; the loop announces its departure. */
static void drop(struct conn *c, const char *why)
{
    if (c->state != DEAD)
        c->why = why;
    c->state = DEAD;
}

/* ---- frames out --------------------------------------------------------------------------- */

/* Queue one unfragmented server frame. A client whose queue passes OUT_LIMIT has stopped
 * reading: it is dropped rather than allowed to hold the server's memory (handout §5.3). */
static void send_frame(struct conn *c, int opcode, const void *payload, size_t n)
{
    unsigned char head[WS_HEADER_MAX];
    size_t hn = ws_frame_header(head, opcode, n);

    if (c->state == DEAD)
        return;
    if (buf_append(&c->out, head, hn) == -1 || buf_append(&c->out, payload, n) == -1) {
        drop(c, "out of memory");
        return;
    }
    if (buf_pending(&c->out) > OUT_LIMIT)
        drop(c, "too slow: stopped reading");
}

static void send_close(struct conn *c, unsigned code)
{
    unsigned char p[2] = {(unsigned char)(code >> 8), (unsigned char)code};

    send_frame(c, WS_CLOSE, p, code ? 2 : 0);
}

/* One chat line, as one text message, to one client. */
static void tell(struct conn *c, const char *fmt, ...)
{
    char line[256];
    va_list ap;
    int n;

    va_start(ap, fmt);
    n = vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    if (n > (int)sizeof line - 1)
        n = (int)sizeof line - 1;
    send_frame(c, WS_TEXT, line, (size_t)n);
}

/* A message (already framed as text) to every client in the chat but `except`. */
static void broadcast(struct server *s, const struct conn *except, const void *text, size_t n)
{
    size_t i;

    for (i = 0; i < s->nconns; i++) {
        struct conn *o = s->conns[i];
        if (o != except && o->joined && o->state == OPEN)
            send_frame(o, WS_TEXT, text, n);
    }
}

static void tell_others(struct server *s, const struct conn *except, const char *fmt, ...)
{
    char line[256];
    va_list ap;
    int n;

    va_start(ap, fmt);
    n = vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    if (n > (int)sizeof line - 1)
        n = (int)sizeof line - 1;
    broadcast(s, except, line, (size_t)n);
}

/* Leave the chat (once): the others get "* NICK left". */
static void part(struct server *s, struct conn *c)
{
    if (!c->joined)
        return;
    c->joined = 0;
    tell_others(s, c, "* %s left", c->nick);
}

/* ---- the chat (Lab 03's protocol) --------------------------------------------------------- */

static struct conn *find_nick(struct server *s, const char *nick, size_t len)
{
    size_t i;

    for (i = 0; i < s->nconns; i++) {
        struct conn *c = s->conns[i];
        if (c->joined && strlen(c->nick) == len && memcmp(c->nick, nick, len) == 0)
            return c;
    }
    return NULL;
}

static int valid_nick(const char *nick, size_t len)
{
    size_t i;

    if (len < 1 || len > NICK_MAX)
        return 0;
    for (i = 0; i < len; i++) {
        char ch = nick[i];
        if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9')
              || ch == '_' || ch == '-'))
            return 0;
    }
    return 1;
}

static void pick_guest_nick(struct server *s, char *nick)
{
    do {
        s->guests++;
        snprintf(nick, NICK_MAX + 1, "guest%lu", s->guests % 100000000000UL);
    } while (find_nick(s, nick, strlen(nick)) != NULL);
}

/* A relayed message: PREFIX NICK SUFFIX TEXT, e.g. "<alice> hi" or "*alice* psst". */
static void relay(struct server *s, struct conn *from, struct conn *to, const char *prefix,
                  const char *suffix, const char *text, size_t n)
{
    struct buf m = {NULL, 0, 0, 0};

    if (buf_append(&m, prefix, strlen(prefix)) == -1 ||
        buf_append(&m, from->nick, strlen(from->nick)) == -1 ||
        buf_append(&m, suffix, strlen(suffix)) == -1 || buf_append(&m, text, n) == -1)
        drop(from, "out of memory");
    else if (to != NULL)
        send_frame(to, WS_TEXT, m.data, m.len);
    else
        broadcast(s, from, m.data, m.len);
    free(m.data);
}

static void cmd_nick(struct server *s, struct conn *c, const char *arg, size_t len)
{
    char old[NICK_MAX + 1];

    if (!valid_nick(arg, len)) {
        tell(c, "! invalid nick");
        return;
    }
    if (find_nick(s, arg, len) != NULL) {
        tell(c, "! nick taken");
        return;
    }
    memcpy(old, c->nick, sizeof old);
    memcpy(c->nick, arg, len);
    c->nick[len] = '\0';
    fprintf(stderr, "%s is now %s\n", old, c->nick);
    tell_others(s, NULL, "* %s is now %s", old, c->nick);
}

static void cmd_who(struct server *s, struct conn *c)
{
    struct buf m = {NULL, 0, 0, 0};
    size_t i;
    int bad = buf_append(&m, "* users:", 8);

    for (i = 0; i < s->nconns && bad == 0; i++)
        if (s->conns[i]->joined)
            bad = buf_append(&m, " ", 1) | buf_append(&m, s->conns[i]->nick, strlen(s->conns[i]->nick));
    if (bad)
        drop(c, "out of memory");
    else
        send_frame(c, WS_TEXT, m.data, m.len);
    free(m.data);
}

/* "/msg NICK text": the nick is up to the first space, the text is all the rest. */
static void cmd_msg(struct server *s, struct conn *c, const char *arg, size_t len)
{
    const char *space = memchr(arg, ' ', len);
    struct conn *to;

    if (space == NULL || space == arg || space + 1 == arg + len) {
        tell(c, "! usage: /msg NICK text");
        return;
    }
    to = find_nick(s, arg, (size_t)(space - arg));
    if (to == NULL) {
        tell(c, "! no such nick");
        return;
    }
    relay(s, c, to, "*", "* ", space + 1, (size_t)(arg + len - space - 1));
}

static int is_word(const char *word, size_t len, const char *name)
{
    return strlen(name) == len && memcmp(word, name, len) == 0;
}

/* The server starts the close handshake: close frame sent, the client's awaited. */
static void start_close(struct server *s, struct conn *c, unsigned code, const char *why)
{
    part(s, c);
    send_close(c, code);
    if (c->state != DEAD) {
        c->state = CLOSING;
        c->why = why;
        c->deadline = now_ms() + CLOSE_TIMEOUT_MS;
    }
}

/* The command is the first word; its argument is the rest after one space. */
static void on_command(struct server *s, struct conn *c, const char *line, size_t len)
{
    const char *space = memchr(line, ' ', len);
    size_t wordlen = space ? (size_t)(space - line) : len;
    const char *arg = space ? space + 1 : line + len;
    size_t arglen = len - (size_t)(arg - line);

    if (is_word(line, wordlen, "/nick"))
        cmd_nick(s, c, arg, arglen);
    else if (is_word(line, wordlen, "/who"))
        cmd_who(s, c);
    else if (is_word(line, wordlen, "/msg"))
        cmd_msg(s, c, arg, arglen);
    else if (is_word(line, wordlen, "/quit")) {
        tell(c, "* bye");
        start_close(s, c, WS_NORMAL, "quit");
    } else
        tell(c, "! unknown command");
}

/* One whole text message from a client: a chat line (handout §5.1). */
static void on_message(struct server *s, struct conn *c, const char *text, size_t len)
{
    if (len == 0)
        return;
    if (text[0] == '/')
        on_command(s, c, text, len);
    else
        relay(s, c, NULL, "<", "> ", text, len);
}

/* ---- frames in ---------------------------------------------------------------------------- */

/* Fail the WebSocket connection (RFC 6455 §7.1.7): a close frame with the code, then the end,
 * without reading another byte: after a broken frame the stream cannot be parsed. */
static void fail(struct server *s, struct conn *c, unsigned code, const char *why)
{
    part(s, c);
    send_close(c, code);
    if (c->state != DEAD) {
        c->state = DONE;
        c->why = why;
    }
}

/* A close frame from the client: answer it (unless we began), then end (RFC 6455 §5.5.1). */
static void on_close_frame(struct server *s, struct conn *c, const struct ws_frame *f)
{
    struct utf8 u = {0, 0, 0};
    unsigned code = f->len >= 2 ? (unsigned)f->payload[0] << 8 | f->payload[1] : 0;

    if (f->len == 1 || (f->len >= 2 && !ws_close_code_ok(code))) {
        fail(s, c, WS_PROTOCOL, "bad close frame");
        return;
    }
    if (f->len > 2 && (utf8_feed(&u, f->payload + 2, f->len - 2) == -1 || !utf8_done(&u))) {
        fail(s, c, WS_BAD_DATA, "close reason not UTF-8");
        return;
    }
    if (c->state == OPEN) {
        part(s, c);
        send_close(c, code); /* the same status code back; none if it gave none */
        c->why = "closed by the client";
    }
    if (c->state != DEAD)
        c->state = DONE;
}

/* A data frame: part of a message, or all of one. */
static void on_data_frame(struct server *s, struct conn *c, const struct ws_frame *f)
{
    if (f->opcode == WS_CONT ? c->msg_op == 0 : c->msg_op != 0) {
        fail(s, c, WS_PROTOCOL, "bad fragment order");
        return;
    }
    if (f->opcode == WS_BINARY) {
        fail(s, c, WS_UNSUPPORTED, "binary message");
        return;
    }
    if (f->opcode == WS_TEXT) {
        c->msg_op = WS_TEXT;
        memset(&c->utf, 0, sizeof c->utf);
    }
    /* UTF-8 is checked across the fragments: a character may be split between two. */
    if (utf8_feed(&c->utf, f->payload, f->len) == -1 || (f->fin && !utf8_done(&c->utf))) {
        fail(s, c, WS_BAD_DATA, "invalid UTF-8");
        return;
    }
    if (buf_append(&c->msg, f->payload, f->len) == -1) {
        drop(c, "out of memory");
        return;
    }
    if (!f->fin)
        return;
    c->msg_op = 0;
    on_message(s, c, c->msg.data + c->msg.off, buf_pending(&c->msg));
    buf_consume(&c->msg, buf_pending(&c->msg));
}

static void on_frame(struct server *s, struct conn *c, const struct ws_frame *f)
{
    if (f->opcode == WS_CLOSE)
        on_close_frame(s, c, f);
    else if (f->opcode == WS_PING && c->state == OPEN)
        send_frame(c, WS_PONG, f->payload, f->len);
    else if ((f->opcode == WS_TEXT || f->opcode == WS_BINARY || f->opcode == WS_CONT) &&
             c->state == OPEN)
        on_data_frame(s, c, f);
    /* A pong, or a data frame after our close frame: nothing to do. */
}

/* ---- the handshake ------------------------------------------------------------------------ */

static void respond(struct server *s, struct conn *c, int status, const char *reason)
{
    static const struct { int status; const char *text, *extra; } table[] = {
        {400, "Bad Request", ""},
        {404, "Not Found", ""},
        {405, "Method Not Allowed", "Allow: GET\r\n"},
        {426, "Upgrade Required", "Sec-WebSocket-Version: 13\r\nUpgrade: websocket\r\n"},
        {431, "Request Header Fields Too Large", ""},
        {503, "Service Unavailable", ""},
    };
    char head[512], body[160];
    size_t i;
    int hn, bn;

    if (status == 200) {
        hn = snprintf(head, sizeof head, "HTTP/1.1 200 OK\r\nContent-Type: text/html; charset=utf-8\r\n"
                      "Content-Length: %zu\r\nCache-Control: no-store\r\nConnection: close\r\n\r\n",
                      s->page_len);
        if (buf_append(&c->out, head, (size_t)hn) == -1 || buf_append(&c->out, s->page, s->page_len) == -1)
            drop(c, "out of memory");
        return;
    }
    for (i = 0; i + 1 < sizeof table / sizeof table[0] && table[i].status != status; i++)
        ;
    bn = snprintf(body, sizeof body, "%d %s%s%s\n", status, table[i].text, reason ? ": " : "",
                  reason ? reason : "");
    hn = snprintf(head, sizeof head, "HTTP/1.1 %d %s\r\n%sContent-Type: text/plain; charset=utf-8\r\n"
                  "Content-Length: %d\r\nConnection: close\r\n\r\n", status, table[i].text,
                  table[i].extra, bn);
    if (buf_append(&c->out, head, (size_t)hn) == -1 || buf_append(&c->out, body, (size_t)bn) == -1)
        drop(c, "out of memory");
}

/* 101 Switching Protocols, then the client joins the chat (handout §3.2, §5.1). */
static void upgrade(struct server *s, struct conn *c, const struct http_head *h)
{
    const struct span *key = head_field(h, "Sec-WebSocket-Key");
    char accept[WS_ACCEPT_LEN + 1], head[256];
    int n;

    ws_accept_key(key->p, key->n, accept);
    n = snprintf(head, sizeof head, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                 "Connection: Upgrade\r\nSec-WebSocket-Accept: %s\r\n\r\n", accept);
    if (buf_append(&c->out, head, (size_t)n) == -1) {
        drop(c, "out of memory");
        return;
    }
    c->state = OPEN;
    pick_guest_nick(s, c->nick);
    c->joined = 1;
    fprintf(stderr, "accepted %s as %s\n", c->addr, c->nick);
    tell(c, "* welcome %s", c->nick);
    tell_others(s, c, "* %s joined", c->nick);
}

static void on_request(struct server *s, struct conn *c)
{
    struct http_head h;
    const char *reason = NULL;
    int rc = parse_head(c->in.data + c->in.off, buf_pending(&c->in), &h);

    if (rc == 0)
        return;
    if (rc == 1)
        rc = check_handshake(&h, &reason);
    if (rc == 101) {
        buf_consume(&c->in, h.len); /* what follows the head is frames already */
        upgrade(s, c, &h);
        return;
    }
    respond(s, c, rc, reason);
    buf_consume(&c->in, buf_pending(&c->in));
    if (c->state != DEAD)
        c->state = DONE;
}

/* Handle every whole frame (or the request head) in the input. */
static void process(struct server *s, struct conn *c)
{
    if (c->state == HTTP)
        on_request(s, c);
    while (c->state == OPEN || c->state == CLOSING) {
        struct ws_frame f;
        int rc = ws_parse_frame((unsigned char *)c->in.data + c->in.off, buf_pending(&c->in),
                                s->max_message - buf_pending(&c->msg), &f);
        if (rc == 0)
            break;
        if (rc < 0) {
            if (c->state == OPEN)
                fail(s, c, (unsigned)-rc, -rc == WS_TOO_BIG ? "message too big" : "protocol error");
            else
                drop(c, "protocol error while closing");
            break;
        }
        on_frame(s, c, &f);
        buf_consume(&c->in, f.size);
    }
    if (c->state == DONE || c->state == LINGER)
        buf_consume(&c->in, buf_pending(&c->in));
}

/* ---- the poll() loop ---------------------------------------------------------------------- */

static void on_accept(struct server *s)
{
    for (;;) {
        struct sockaddr_storage ss;
        socklen_t sl = sizeof ss;
        char addr[SOCKADDR_STRLEN];
        int fd = accept(s->lfd, (struct sockaddr *)&ss, &sl);

        if (fd == -1) {
            if ((errno == EMFILE || errno == ENFILE) && s->spare_fd != -1) {
                /* Out of fds: free the spare one, take the newcomer and close it, so the
                 * listener stops being readable (otherwise poll() returns at once forever). */
                close(s->spare_fd);
                fd = accept(s->lfd, NULL, NULL);
                if (fd != -1)
                    close(fd);
                s->spare_fd = open("/dev/null", O_RDONLY);
                if (fd == -1)
                    return;
                fprintf(stderr, "%s: accept %s: %s\n", PROG, s->laddr, strerror(EMFILE));
                continue;
            }
            if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR && errno != ECONNABORTED)
                fprintf(stderr, "%s: accept %s: %s\n", PROG, s->laddr, strerror(errno));
            return;
        }
        if (s->nconns >= s->max_clients) {
            static const char busy[] = "HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/plain; "
                                       "charset=utf-8\r\nContent-Length: 29\r\nConnection: close\r\n\r\n"
                                       "503 Service Unavailable: full\n";
            /* A fresh socket's send buffer takes these few bytes at once; if not, too bad. */
            if (send(fd, busy, sizeof busy - 1, 0) == -1)
                fprintf(stderr, "%s: send %s: %s\n", PROG,
                        sockaddr_str((struct sockaddr *)&ss, addr, sizeof addr), strerror(errno));
            close(fd);
            continue;
        }
        if (set_nonblocking(fd) == -1 || add_conn(s, fd, (struct sockaddr *)&ss) == -1) {
            fprintf(stderr, "%s: accept %s: %s\n", PROG,
                    sockaddr_str((struct sockaddr *)&ss, addr, sizeof addr), strerror(errno));
            close(fd);
        }
    }
}

/* Room for input: a whole request head, or a whole frame of the largest message. */
static size_t in_room(const struct server *s, const struct conn *c)
{
    size_t cap = c->state == HTTP ? HEAD_MAX
                 : (s->max_message > WS_CONTROL_MAX ? s->max_message : WS_CONTROL_MAX) + WS_HEADER_MAX;
    size_t pending = buf_pending(&c->in);

    return pending < cap ? cap - pending : 0;
}

/* One recv() per pass, whatever is left: a flooding client cannot starve the others. */
static void on_readable(struct server *s, struct conn *c)
{
    size_t room = in_room(s, c);
    ssize_t n;

    if (room > RECV_CHUNK)
        room = RECV_CHUNK;
    if (buf_reserve(&c->in, room) == -1) {
        drop(c, "out of memory");
        return;
    }
    n = recv(c->fd, c->in.data + c->in.len, room, 0);
    if (n > 0) {
        c->in.len += (size_t)n;
        return;
    }
    if (n == -1 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
        return;
    if (n == -1 && c->state != LINGER)
        fprintf(stderr, "%s: recv %s: %s\n", PROG, c->addr, strerror(errno));
    /* EOF without a close frame (or a reset): the WebSocket ends abnormally (1006). */
    if (c->state == OPEN || c->state == HTTP)
        c->why = n == 0 ? "EOF without a close frame" : "reset";
    c->state = DEAD;
}

static void on_writable(struct conn *c)
{
    while (buf_pending(&c->out) > 0) {
        ssize_t n = send(c->fd, c->out.data + c->out.off, buf_pending(&c->out), 0);
        if (n == -1) {
            if (errno == EINTR)
                continue;
            if (errno != EAGAIN && errno != EWOULDBLOCK) {
                fprintf(stderr, "%s: send %s: %s\n", PROG, c->addr, strerror(errno));
                drop(c, "send failed");
            }
            return;
        }
        buf_consume(&c->out, (size_t)n);
    }
}

/* Everything sent after the last frame or response: the server closes first (RFC 6455
 * §7.1.1): shut down our side, then wait briefly for the client's EOF, so that its unread
 * bytes do not make the kernel reset the connection. */
static void finish_if_done(struct conn *c)
{
    if (c->state != DONE || buf_pending(&c->out) > 0)
        return;
    if (shutdown(c->fd, SHUT_WR) == -1) {
        c->state = DEAD;
        return;
    }
    c->state = LINGER;
    c->deadline = now_ms() + CLOSE_TIMEOUT_MS;
}

/* The events each connection waits for, and the poll() timeout to the nearest deadline. */
static int prepare(struct server *s, long long now)
{
    long long next = -1;
    size_t i;

    s->pfds[0] = (struct pollfd){.fd = s->lfd, .events = POLLIN, .revents = 0};
    s->pfds[1] = (struct pollfd){.fd = s->sig_rfd, .events = POLLIN, .revents = 0};
    for (i = 0; i < s->nconns; i++) {
        struct conn *c = s->conns[i];
        short ev = 0;
        if (c->state != DONE && in_room(s, c) > 0)
            ev |= POLLIN;
        if (buf_pending(&c->out) > 0)
            ev |= POLLOUT;
        s->pfds[i + 2].events = ev;
        s->pfds[i + 2].revents = 0;
        if ((c->state == CLOSING || c->state == LINGER) && (next == -1 || c->deadline < next))
            next = c->deadline;
    }
    if (next == -1)
        return -1; /* nothing to time out: sleep until something happens */
    return next <= now ? 0 : (int)(next - now);
}

/* Remove the dead; each one still in the chat is announced first, which may drop another
 * (a slow reader over its limit), so go round until none is left (handout §5.3). */
static void drop_dead(struct server *s)
{
    size_t i;
    int again = 1;

    while (again) {
        again = 0;
        for (i = 0; i < s->nconns; i++) {
            if (s->conns[i]->state == DEAD && s->conns[i]->joined) {
                part(s, s->conns[i]);
                again = 1;
            }
        }
    }
    for (i = s->nconns; i-- > 0;)
        if (s->conns[i]->state == DEAD)
            remove_conn(s, i);
}

static int serve(struct server *s)
{
    for (;;) {
        size_t i;
        int n, timeout = prepare(s, now_ms());
        long long now;

        n = poll(s->pfds, s->nconns + 2, timeout);
        if (n == -1) {
            if (errno == EINTR)
                continue;
            fprintf(stderr, "%s: poll %s: %s\n", PROG, s->laddr, strerror(errno));
            return -1;
        }
        if (s->pfds[1].revents & POLLIN)
            return 0; /* SIGINT or SIGTERM */
        if (s->pfds[0].revents & POLLIN)
            on_accept(s);
        now = now_ms();
        /* The listener may have added connections: their revents are 0 this pass. */
        for (i = 0; i < s->nconns; i++) {
            struct conn *c = s->conns[i];
            short re = s->pfds[i + 2].revents;
            if (c->state == DEAD)
                continue; /* dropped by another client's broadcast this pass */
            if (re & POLLIN)
                on_readable(s, c);
            else if (re & (POLLHUP | POLLERR | POLLNVAL))
                drop(c, "connection lost");
            if (c->state != DEAD && (re & POLLIN))
                process(s, c);
        }
        /* Then send: what this pass queued, for clients polled before or after the sender
         * (a send that would block just leaves the rest queued for POLLOUT). */
        for (i = 0; i < s->nconns; i++) {
            struct conn *c = s->conns[i];
            if (c->state != DEAD && buf_pending(&c->out) > 0)
                on_writable(c);
            if (c->state != DEAD)
                finish_if_done(c);
            if ((c->state == CLOSING || c->state == LINGER) && now >= c->deadline) {
                if (c->state == CLOSING)
                    c->why = "no close frame in time";
                c->state = DEAD;
            }
        }
        drop_dead(s);
    }
}

/* Read the chat page once, at start: the loop never blocks on a file. */
static int load_page(struct server *s, const char *path)
{
    FILE *f = fopen(path, "rb");
    size_t n;

    if (f == NULL)
        return -1;
    s->page = malloc(PAGE_MAX);
    if (s->page == NULL) {
        fclose(f);
        return -1;
    }
    n = fread(s->page, 1, PAGE_MAX, f);
    if (ferror(f) || n == PAGE_MAX) {
        if (!ferror(f))
            errno = EFBIG;
        fclose(f);
        return -1;
    }
    s->page_len = n;
    return fclose(f);
}

static int start(struct server *s, const char *host, const char *port, int family,
                 const char *page)
{
    char err[256];

    if (load_page(s, page) == -1) {
        fprintf(stderr, "%s: open %s: %s\n", PROG, page, strerror(errno));
        return -1;
    }
    s->lfd = ws_listen(host, port, family, err, sizeof err);
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
    fflush(stdout);
    return 0;
}

/* At exit, each chat client gets a close frame 1001 "going away" if its socket takes it
 * at once: a best effort, since the server will not wait for the answer. */
static void close_all(struct server *s)
{
    static const unsigned char going_away[] = {0x88, 0x02, 0x03, 0xE9};
    size_t i;

    for (i = 0; i < s->nconns; i++) {
        struct conn *c = s->conns[i];
        if (c->state == OPEN && buf_pending(&c->out) == 0 &&
            send(c->fd, going_away, sizeof going_away, 0) == -1 && errno != EAGAIN &&
            errno != EWOULDBLOCK)
            fprintf(stderr, "%s: send %s: %s\n", PROG, c->addr, strerror(errno));
        free_conn(c);
    }
    free(s->conns);
    free(s->pfds);
    free(s->page);
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
        {"page", required_argument, NULL, 'P'},
        {"max-clients", required_argument, NULL, 'm'},
        {"max-message", required_argument, NULL, 'M'},
        {NULL, 0, NULL, 0},
    };
    struct server srv;
    const char *host = NULL, *port = NULL, *page = "chat.html";
    int family = AF_UNSPEC, opt, rc;
    unsigned long max_message = DEFAULT_MAX_MESSAGE;
    unsigned short portnum;

    memset(&srv, 0, sizeof srv);
    srv.lfd = srv.spare_fd = srv.sig_rfd = srv.sig_wfd = -1;
    srv.max_clients = DEFAULT_MAX_CLIENTS;
    while ((opt = getopt_long(argc, argv, "46b:p:", longopts, NULL)) != -1) {
        switch (opt) {
        case '4': family = AF_INET; break;
        case '6': family = AF_INET6; break;
        case 'b': host = optarg; break;
        case 'p': port = optarg; break;
        case 'P': page = optarg; break;
        case 'm':
            if (parse_uint(optarg, 100000, &srv.max_clients) == -1 || srv.max_clients == 0) {
                usage();
                return 2;
            }
            break;
        case 'M':
            if (parse_uint(optarg, MAX_MESSAGE_LIMIT, &max_message) == -1 || max_message == 0) {
                usage();
                return 2;
            }
            break;
        default: usage(); return 2;
        }
    }
    if (port == NULL || optind != argc || parse_port(port, &portnum) == -1) {
        usage();
        return 2;
    }
    srv.max_message = max_message;
    if (install_signals(&srv) == -1) {
        fprintf(stderr, "%s: sigaction: %s\n", PROG, strerror(errno));
        close_all(&srv);
        return 1;
    }
    if (start(&srv, host, port, family, page) == -1) {
        close_all(&srv);
        return 1;
    }
    rc = serve(&srv);
    close_all(&srv);
    return rc == 0 ? 0 : 1;
}
