/* chat_server.c: a line-based chat server for many clients, one process, one select() loop. */
/*
 * Usage: chat_server [-4|-6] [-b ADDR] -p PORT [--max-clients N]
 *
 * Binds ADDR:PORT (every local address if -b is not given; -p 0 asks the kernel for
 * an ephemeral port), prints "listening on ADDR:PORT" on stdout, then relays lines
 * between its clients (the protocol is in handout §3):
 *   on connect      "* welcome guestN" to the newcomer, "* guestN joined" to the others
 *   /nick NAME      "* OLD is now NAME" to everyone; "! nick taken", "! invalid nick"
 *   /who            "* users: NICK NICK ..." to the sender
 *   /msg NICK text  "*SENDER* text" to NICK only; "! no such nick", "! usage: /msg NICK text"
 *   /quit           "* bye", then the server closes the connection
 *   /anything else  "! unknown command"
 *   any other line  "<NICK> text" to every other client (empty lines are ignored)
 *   over 1024 bytes "! line too long" to the sender; the rest of that line is dropped
 *   on disconnect   "* NICK left" to the others
 * Lines end with LF; CRLF is accepted. A client whose output queue passes 256 KiB
 * (it stopped reading) is disconnected. When FD_SETSIZE or --max-clients N (1 to
 * FD_SETSIZE) is reached, a newcomer gets "! server full" and is closed.
 * On stderr it logs "accepted ADDR:PORT as NICK" and "closed NICK ADDR:PORT (why)".
 *
 * No client can stop it or stall the others: every socket is non-blocking and every
 * client has its own input buffer and output queue (handout §4, §5).
 * SIGINT or SIGTERM closes every connection and exits 0.
 *
 * Exit codes: 0 after SIGINT/SIGTERM, 1 if the socket cannot be set up or select()
 * fails, 2 for bad arguments.
 */
#include "chatbuf.h"
#include "sockutil.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/select.h>
#include <sys/socket.h>
#include <unistd.h>

#define PROG "chat_server"
#define NICK_MAX 16
/* A client that lets this much pile up has stopped reading; holding more only
 * costs memory, and the others must not wait for it (handout §5.3). */
#define OUTQ_LIMIT (256 * 1024)
/* Accepts per pass: enough to take a crowd in a few passes, few enough that the
 * clients already connected are served in between. */
#define ACCEPT_BATCH 64
/* The longest line the server writes: "<" NICK "> " text "\n", or the /msg form. */
#define MSG_MAX (CHAT_LINE_MAX + NICK_MAX + 8)

/** One connected client: everything the loop must remember about it between passes. */
struct client {
    int fd;
    char nick[NICK_MAX + 1];
    char addr[SOCKADDR_STRLEN];
    struct linebuf in;
    struct outq out;
    int gone;     /* left the chat; closed at the end of this pass */
    char why[96]; /* why it left, for the log */
};

struct server {
    int lfd;
    int spare_fd;      /* held in reserve for EMFILE: see refuse_without_fds() */
    char laddr[SOCKADDR_STRLEN];
    struct client *clients[FD_SETSIZE]; /* indexed by fd, so that select's answers map back */
    int maxfd;         /* the highest fd open: the listener or a client */
    int nclients;
    int ngone;         /* clients marked gone and not yet closed */
    unsigned long max_clients;
    unsigned long guests; /* guest numbers handed out so far */
};

/* Set by the SIGINT/SIGTERM handler. The signals are blocked except inside pselect(),
 * so the flag cannot be set just after the loop checked it and just before it sleeps. */
static volatile sig_atomic_t stop_requested;

static void on_stop_signal(int sig)
{
    (void)sig;
    stop_requested = 1;
}

/* Block SIGINT/SIGTERM everywhere but inside pselect(); *runmask is the mask to wait with. */
static int install_signals(sigset_t *runmask)
{
    struct sigaction sa;
    sigset_t block;

    memset(&sa, 0, sizeof sa);
    sigemptyset(&sa.sa_mask);
    sa.sa_handler = on_stop_signal;
    if (sigaction(SIGINT, &sa, NULL) == -1 || sigaction(SIGTERM, &sa, NULL) == -1)
        return -1;
    /* A peer that vanished must give EPIPE, not kill the server (MSG_NOSIGNAL covers send too). */
    sa.sa_handler = SIG_IGN;
    if (sigaction(SIGPIPE, &sa, NULL) == -1)
        return -1;
    sigemptyset(&block);
    sigaddset(&block, SIGINT);
    sigaddset(&block, SIGTERM);
    if (sigprocmask(SIG_BLOCK, &block, runmask) == -1)
        return -1;
    sigdelset(runmask, SIGINT);
    sigdelset(runmask, SIGTERM);
    return 0;
}

static void usage(void)
{
    fprintf(stderr, "usage: %s [-4|-6] [-b ADDR] -p PORT [--max-clients N]\n", PROG);
}

static int set_nonblocking(int fd)
{
    int flags = fcntl(fd, F_GETFL);

    if (flags == -1)
        return -1;
    return fcntl(fd, F_SETFL, flags | O_NONBLOCK);
}

/* ---- leaving ---------------------------------------------------------------------- */

/* Mark c as gone. It is closed, and the others told, by drop_gone() at the end of the
 * pass: closing it here could free a client that a caller up the stack still uses. */
static void leave(struct server *s, struct client *c, const char *why)
{
    if (c->gone)
        return;
    c->gone = 1;
    snprintf(c->why, sizeof c->why, "%s", why);
    s->ngone++;
}

/* A call on a client's socket failed: log it in the usual shape and let the client go. */
static void leave_on_error(struct server *s, struct client *c, const char *call)
{
    char why[sizeof c->why];

    snprintf(why, sizeof why, "%s: %s", call, strerror(errno));
    fprintf(stderr, "%s: %s %s: %s\n", PROG, call, c->addr, strerror(errno));
    leave(s, c, why);
}

/* ---- output ----------------------------------------------------------------------- */

/* Queue bytes for one client. Never blocks: a client too far behind is let go instead. */
static void queue(struct server *s, struct client *c, const void *p, size_t n)
{
    if (c->gone)
        return;
    if (c->out.len + n > OUTQ_LIMIT) {
        leave(s, c, "not reading: output queue over 256 KiB");
        return;
    }
    if (outq_push(&c->out, p, n) == -1)
        leave_on_error(s, c, "queue");
}

/* Every client but `except` (NULL for everyone) gets the same bytes. */
static void broadcast(struct server *s, const struct client *except, const char *msg, size_t len)
{
    int fd;

    for (fd = 0; fd <= s->maxfd; fd++) {
        struct client *c = s->clients[fd];
        if (c != NULL && c != except && !c->gone)
            queue(s, c, msg, len);
    }
}

/* Format one of the server's own lines (fixed text and validated nicks, never a
 * client's raw text, which may hold NUL bytes); returns its length, LF included. */
static size_t format_line(char *buf, size_t cap, const char *fmt, va_list ap)
{
    int n = vsnprintf(buf, cap - 1, fmt, ap);

    if (n < 0)
        n = 0;
    if ((size_t)n > cap - 2)
        n = (int)(cap - 2);
    buf[n] = '\n';
    return (size_t)n + 1;
}

/* One line to one client. */
static void tell(struct server *s, struct client *to, const char *fmt, ...)
{
    char buf[MSG_MAX];
    va_list ap;
    size_t n;

    va_start(ap, fmt);
    n = format_line(buf, sizeof buf, fmt, ap);
    va_end(ap);
    queue(s, to, buf, n);
}

/* One line to every client but `except`, formatted once. */
static void tell_others(struct server *s, const struct client *except, const char *fmt, ...)
{
    char buf[MSG_MAX];
    va_list ap;
    size_t n;

    va_start(ap, fmt);
    n = format_line(buf, sizeof buf, fmt, ap);
    va_end(ap);
    broadcast(s, except, buf, n);
}

/* "<prefix><nick><suffix>text\n": a client's text relayed byte for byte. */
static size_t format_relay(char *buf, const char *prefix, const char *nick, const char *suffix,
                           const char *text, size_t len)
{
    int n = snprintf(buf, MSG_MAX, "%s%s%s", prefix, nick, suffix);

    memcpy(buf + n, text, len);
    buf[(size_t)n + len] = '\n';
    return (size_t)n + len + 1;
}

/* ---- nicks ------------------------------------------------------------------------ */

static struct client *find_nick(struct server *s, const char *nick, size_t len)
{
    int fd;

    for (fd = 0; fd <= s->maxfd; fd++) {
        struct client *c = s->clients[fd];
        if (c != NULL && !c->gone && strlen(c->nick) == len && memcmp(c->nick, nick, len) == 0)
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

/* guestN with the next N, skipping numbers someone took with /nick. */
static void pick_guest_nick(struct server *s, char *nick)
{
    do {
        s->guests++;
        snprintf(nick, NICK_MAX + 1, "guest%lu", s->guests % 100000000000UL);
    } while (find_nick(s, nick, strlen(nick)) != NULL);
}

/* ---- commands --------------------------------------------------------------------- */

static void cmd_nick(struct server *s, struct client *c, const char *arg, size_t len)
{
    char old[NICK_MAX + 1];

    if (!valid_nick(arg, len)) {
        tell(s, c, "! invalid nick");
        return;
    }
    if (find_nick(s, arg, len) != NULL) {
        tell(s, c, "! nick taken");
        return;
    }
    memcpy(old, c->nick, sizeof old);
    memcpy(c->nick, arg, len);
    c->nick[len] = '\0';
    fprintf(stderr, "%s is now %s\n", old, c->nick);
    tell_others(s, NULL, "* %s is now %s", old, c->nick);
}

static void cmd_who(struct server *s, struct client *c)
{
    static const char head[] = "* users:";
    int fd;

    queue(s, c, head, sizeof head - 1);
    for (fd = 0; fd <= s->maxfd; fd++) {
        struct client *o = s->clients[fd];
        if (o != NULL && !o->gone) {
            queue(s, c, " ", 1);
            queue(s, c, o->nick, strlen(o->nick));
        }
    }
    queue(s, c, "\n", 1);
}

static void cmd_msg(struct server *s, struct client *c, const char *arg, size_t len)
{
    const char *space = memchr(arg, ' ', len);
    struct client *to;
    char msg[MSG_MAX];
    size_t nicklen, textlen;

    if (space == NULL || space == arg || space + 1 == arg + len) {
        tell(s, c, "! usage: /msg NICK text");
        return;
    }
    nicklen = (size_t)(space - arg);
    textlen = len - nicklen - 1;
    to = find_nick(s, arg, nicklen);
    if (to == NULL) {
        tell(s, c, "! no such nick");
        return;
    }
    queue(s, to, msg, format_relay(msg, "*", c->nick, "* ", space + 1, textlen));
}

static int is_word(const char *word, size_t len, const char *name)
{
    return strlen(name) == len && memcmp(word, name, len) == 0;
}

/* A line that starts with '/': the command is the first word, its argument the rest
 * after one space. */
static void on_command(struct server *s, struct client *c, const char *line, size_t len)
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
        tell(s, c, "* bye");
        leave(s, c, "quit");
    } else
        tell(s, c, "! unknown command");
}

/* One complete line from c, terminator removed: a command or a message for the others. */
static void on_line(struct server *s, struct client *c, const char *line, size_t len)
{
    char msg[MSG_MAX];

    if (len == 0)
        return;
    if (line[0] == '/') {
        on_command(s, c, line, len);
        return;
    }
    broadcast(s, c, msg, format_relay(msg, "<", c->nick, "> ", line, len));
}

/* ---- events ----------------------------------------------------------------------- */

/* Readable: one recv() (not a loop, so that a client sending fast cannot starve the
 * others), then every complete line it finished, in order. */
static void on_readable(struct server *s, struct client *c)
{
    size_t room, len;
    char *p = linebuf_space(&c->in, &room);
    ssize_t n = recv(c->fd, p, room, 0);
    enum line_status st;
    const char *line;

    if (n == 0) {
        leave(s, c, "EOF");
        return;
    }
    if (n == -1) {
        if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
            leave_on_error(s, c, "recv");
        return;
    }
    linebuf_commit(&c->in, (size_t)n);
    while (!c->gone && (st = linebuf_next(&c->in, &line, &len)) != LINE_NONE) {
        if (st == LINE_TOO_LONG)
            tell(s, c, "! line too long");
        else
            on_line(s, c, line, len);
    }
}

/* Writable (or output waiting): one send() of as much of the queue as the socket takes. */
static void on_writable(struct server *s, struct client *c)
{
    ssize_t n = send(c->fd, c->out.data + c->out.head, c->out.len, MSG_NOSIGNAL);

    if (n == -1) {
        if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
            leave_on_error(s, c, "send");
        return;
    }
    outq_consume(&c->out, (size_t)n);
}

/* A newcomer we cannot take: tell it why, without ever waiting for it, and close. */
static void refuse(int fd, const char *addr)
{
    static const char full[] = "! server full\n";

    if (send(fd, full, sizeof full - 1, MSG_NOSIGNAL | MSG_DONTWAIT) == -1)
        fprintf(stderr, "%s: send %s: %s\n", PROG, addr, strerror(errno));
    if (close(fd) == -1)
        fprintf(stderr, "%s: close %s: %s\n", PROG, addr, strerror(errno));
    fprintf(stderr, "refused %s: server full\n", addr);
}

/* Out of fds (EMFILE): the pending connection stays in the backlog and the listener stays
 * readable, so select() would return at once forever. Free the spare fd, accept and
 * refuse the newcomer, then take the spare back. */
static void refuse_without_fds(struct server *s)
{
    struct sockaddr_storage ss;
    socklen_t sslen = sizeof ss;
    char addr[SOCKADDR_STRLEN];
    int fd;

    if (s->spare_fd == -1)
        return;
    close(s->spare_fd);
    fd = accept(s->lfd, (struct sockaddr *)&ss, &sslen);
    if (fd != -1)
        refuse(fd, sockaddr_str((struct sockaddr *)&ss, addr, sizeof addr));
    s->spare_fd = open("/dev/null", O_RDONLY);
    if (s->spare_fd == -1)
        fprintf(stderr, "%s: open /dev/null: %s\n", PROG, strerror(errno));
}

static int add_client(struct server *s, int fd, const char *addr)
{
    struct client *c;
    int one = 1;

    /* Queued output is already gathered into one send() per pass: Nagle would only add delay. */
    if (set_nonblocking(fd) == -1 || setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one) == -1) {
        fprintf(stderr, "%s: fcntl/setsockopt %s: %s\n", PROG, addr, strerror(errno));
        return -1;
    }
    c = calloc(1, sizeof *c);
    if (c == NULL) {
        fprintf(stderr, "%s: calloc %s: %s\n", PROG, addr, strerror(errno));
        return -1;
    }
    c->fd = fd;
    snprintf(c->addr, sizeof c->addr, "%s", addr);
    pick_guest_nick(s, c->nick);
    s->clients[fd] = c;
    s->nclients++;
    if (fd > s->maxfd)
        s->maxfd = fd;
    fprintf(stderr, "accepted %s as %s\n", addr, c->nick);
    tell(s, c, "* welcome %s", c->nick);
    tell_others(s, c, "* %s joined", c->nick);
    return 0;
}

/* The listener is readable: take the waiting connections, a batch at a time. */
static void on_accept(struct server *s)
{
    int i;

    for (i = 0; i < ACCEPT_BATCH; i++) {
        struct sockaddr_storage ss;
        socklen_t sslen = sizeof ss;
        char addr[SOCKADDR_STRLEN];
        int fd = accept(s->lfd, (struct sockaddr *)&ss, &sslen);

        if (fd == -1) {
            if (errno == EINTR || errno == ECONNABORTED)
                continue;
            if (errno == EMFILE || errno == ENFILE)
                refuse_without_fds(s);
            else if (errno != EAGAIN && errno != EWOULDBLOCK)
                fprintf(stderr, "%s: accept %s: %s\n", PROG, s->laddr, strerror(errno));
            return;
        }
        sockaddr_str((struct sockaddr *)&ss, addr, sizeof addr);
        /* FD_SET on an fd >= FD_SETSIZE writes past the end of the fd_set. */
        if (fd >= FD_SETSIZE || (unsigned long)s->nclients >= s->max_clients)
            refuse(fd, addr);
        else if (add_client(s, fd, addr) == -1 && close(fd) == -1)
            fprintf(stderr, "%s: close %s: %s\n", PROG, addr, strerror(errno));
    }
}

/* ---- the loop --------------------------------------------------------------------- */

static void free_client(struct client *c)
{
    if (close(c->fd) == -1)
        fprintf(stderr, "%s: close %s: %s\n", PROG, c->addr, strerror(errno));
    outq_free(&c->out);
    free(c);
}

/* Close a gone client, forget it, and tell the others. */
static void remove_client(struct server *s, struct client *c)
{
    char nick[NICK_MAX + 1];

    /* A last try at what is queued ("* bye" after /quit); whatever does not fit is lost. */
    if (c->out.len > 0)
        (void)send(c->fd, c->out.data + c->out.head, c->out.len, MSG_NOSIGNAL | MSG_DONTWAIT);
    fprintf(stderr, "closed %s %s (%s)\n", c->nick, c->addr, c->why);
    memcpy(nick, c->nick, sizeof nick);
    s->clients[c->fd] = NULL;
    s->nclients--;
    s->ngone--;
    /* The highest fd may have closed: the next select() must not go past the last open one. */
    while (s->maxfd > s->lfd && s->clients[s->maxfd] == NULL)
        s->maxfd--;
    free_client(c);
    tell_others(s, NULL, "* %s left", nick);
}

/* Close every gone client. Telling the others may push one of them over its queue
 * limit, so go round again until nobody is left half-gone. */
static void drop_gone(struct server *s)
{
    int fd;

    while (s->ngone > 0) {
        for (fd = 0; fd <= s->maxfd; fd++) {
            struct client *c = s->clients[fd];
            if (c != NULL && c->gone)
                remove_client(s, c);
        }
    }
}

/* Write what is queued now: most sockets have room, and this saves a trip through
 * select(). Only the clients whose socket is full wait for writability. */
static void flush_all(struct server *s)
{
    int fd;

    for (fd = 0; fd <= s->maxfd; fd++) {
        struct client *c = s->clients[fd];
        if (c != NULL && !c->gone && c->out.len > 0)
            on_writable(s, c);
    }
}

/* select() overwrites its sets with the answer, so they are built afresh on every pass. */
static void build_fdsets(struct server *s, fd_set *rfds, fd_set *wfds)
{
    int fd;

    FD_ZERO(rfds);
    FD_ZERO(wfds);
    FD_SET(s->lfd, rfds);
    for (fd = 0; fd <= s->maxfd; fd++) {
        struct client *c = s->clients[fd];
        if (c == NULL)
            continue;
        FD_SET(fd, rfds);
        if (c->out.len > 0)
            FD_SET(fd, wfds);
    }
}

/* Act on select()'s answer. Clients are only closed later, in drop_gone(), so no fd
 * can be closed and reused by accept() while these sets still describe it. */
static void dispatch(struct server *s, int maxfd, fd_set *rfds, fd_set *wfds)
{
    int fd;

    for (fd = 0; fd <= maxfd; fd++) {
        struct client *c = s->clients[fd];
        if (c == NULL)
            continue;
        if (FD_ISSET(fd, wfds) && !c->gone)
            on_writable(s, c);
        if (FD_ISSET(fd, rfds) && !c->gone)
            on_readable(s, c);
    }
    if (FD_ISSET(s->lfd, rfds))
        on_accept(s);
}

static int serve(struct server *s, const sigset_t *runmask)
{
    while (!stop_requested) {
        fd_set rfds, wfds;
        int maxfd, n;

        flush_all(s);
        drop_gone(s);
        build_fdsets(s, &rfds, &wfds);
        maxfd = s->maxfd;
        /* No timeout: with nothing to do the server sleeps here and costs no CPU. */
        n = pselect(maxfd + 1, &rfds, &wfds, NULL, NULL, runmask);
        if (n == -1) {
            if (errno == EINTR)
                continue;
            fprintf(stderr, "%s: select %s: %s\n", PROG, s->laddr, strerror(errno));
            return -1;
        }
        dispatch(s, maxfd, &rfds, &wfds);
    }
    return 0;
}

/* ---- setup ------------------------------------------------------------------------ */

/* The getaddrinfo loop of Lab 01 (AI_PASSIVE): the first address that binds wins. */
static int tcp_listen(const char *host, const char *port, int family, char *err, size_t errlen)
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
        snprintf(err, errlen, "%s %s: %s", call,
                 sockaddr_str(ai->ai_addr, addr, sizeof addr), strerror(errno));
        if (fd != -1)
            close(fd);
        fd = -1;
    }
    freeaddrinfo(res);
    return fd;
}

static void close_all(struct server *s)
{
    int fd;

    for (fd = 0; fd <= s->maxfd; fd++) {
        if (s->clients[fd] != NULL) {
            free_client(s->clients[fd]);
            s->clients[fd] = NULL;
        }
    }
    if (s->spare_fd != -1)
        close(s->spare_fd);
    close(s->lfd);
}

/* Socket, spare fd and the "listening on" line; -1 after printing why. */
static int start(struct server *s, const char *host, const char *port, int family)
{
    char err[256];

    s->lfd = tcp_listen(host, port, family, err, sizeof err);
    if (s->lfd == -1) {
        fprintf(stderr, "%s: %s\n", PROG, err);
        return -1;
    }
    s->maxfd = s->lfd;
    if (sockname_str(s->lfd, s->laddr, sizeof s->laddr) == NULL) {
        fprintf(stderr, "%s: getsockname: %s\n", PROG, strerror(errno));
        return -1;
    }
    /* select() may call the listener readable for a client that has already reset: a
     * blocking accept() would then wait for the next one, and stall everyone. */
    if (set_nonblocking(s->lfd) == -1) {
        fprintf(stderr, "%s: fcntl %s: %s\n", PROG, s->laddr, strerror(errno));
        return -1;
    }
    s->spare_fd = open("/dev/null", O_RDONLY);
    if (s->spare_fd == -1) {
        fprintf(stderr, "%s: open /dev/null: %s\n", PROG, strerror(errno));
        return -1;
    }
    /* The harness waits for this line: flush it now, stdout is a pipe, not a terminal. */
    printf("listening on %s\n", s->laddr);
    fflush(stdout);
    return 0;
}

int main(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"max-clients", required_argument, NULL, 'm'},
        {NULL, 0, NULL, 0},
    };
    /* static: FD_SETSIZE client pointers are 8 KiB, more than a stack frame should hold. */
    static struct server srv;
    const char *host = NULL, *port = NULL;
    int family = AF_UNSPEC, opt, rc;
    unsigned short portnum;
    sigset_t runmask;

    srv.max_clients = FD_SETSIZE;
    srv.spare_fd = -1;
    while ((opt = getopt_long(argc, argv, "46b:p:", longopts, NULL)) != -1) {
        switch (opt) {
        case '4': family = AF_INET; break;
        case '6': family = AF_INET6; break;
        case 'b': host = optarg; break;
        case 'p': port = optarg; break;
        case 'm':
            if (parse_uint(optarg, FD_SETSIZE, &srv.max_clients) == -1 || srv.max_clients == 0) {
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
    if (install_signals(&runmask) == -1) {
        fprintf(stderr, "%s: sigaction: %s\n", PROG, strerror(errno));
        return 1;
    }
    if (start(&srv, host, port, family) == -1) {
        if (srv.lfd != -1)
            close_all(&srv);
        return 1;
    }
    rc = serve(&srv, &runmask);
    close_all(&srv);
    return rc == 0 ? 0 : 1;
}
