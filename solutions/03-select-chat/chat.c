/* chat.c: Lab 03's chat: the select() loop's steps and handlers, commands, clients, output and
 * nicks, in the order of chat.h. */
#define _POSIX_C_SOURCE 200809L
#include "chat.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

/* Defined with the output helpers below; the commands use it too. */
static size_t format_relay(char *buf, const char *prefix, const char *nick, const char *suffix,
                           const char *text, size_t len);

/* ---- the loop's steps ------------------------------------------------------------- */

void flush_all(struct server *s)
{
    int fd;

    for (fd = 0; fd <= s->maxfd; fd++) {
        struct client *c = s->clients[fd];
        if (c != NULL && !c->gone && c->out.len > 0)
            on_writable(s, c);
    }
}

void drop_gone(struct server *s)
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

int build_fdsets(struct server *s, fd_set *rfds, fd_set *wfds)
{
    int fd, maxfd = s->lfd;

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
        if (fd > maxfd)
            maxfd = fd;
    }
    return maxfd;
}

/* Clients are only closed in drop_gone(), between passes: no fd in these sets can have
 * been closed and handed out again by accept() while we walk them. */
void dispatch(struct server *s, int maxfd, fd_set *rfds, fd_set *wfds)
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

/* ---- events ----------------------------------------------------------------------- */

void on_readable(struct server *s, struct client *c)
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
    /* One read may hold half a line, or many lines: handle every complete one, in order,
     * unless one of them (/quit) made the client leave. */
    while (!c->gone && (st = linebuf_next(&c->in, &line, &len)) != LINE_NONE) {
        if (st == LINE_TOO_LONG)
            tell(s, c, "! line too long");
        else
            on_line(s, c, line, len);
    }
}

void on_writable(struct server *s, struct client *c)
{
    ssize_t n = send(c->fd, c->out.data + c->out.head, c->out.len, 0);

    if (n == -1) {
        if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
            leave_on_error(s, c, "send");
        return;
    }
    outq_consume(&c->out, (size_t)n);
}

void on_accept(struct server *s)
{
    int i;

    for (i = 0; i < ACCEPT_BATCH; i++) {
        struct sockaddr_storage ss;
        socklen_t sslen = sizeof ss;
        char addr[SOCKADDR_STRLEN];
        int fd = accept(s->lfd, (struct sockaddr *)&ss, &sslen);

        if (fd == -1) {
            /* ECONNABORTED: the newcomer reset while it waited in the backlog. */
            if (errno == EINTR || errno == ECONNABORTED)
                continue;
            if (errno == EMFILE || errno == ENFILE)
                refuse_without_fds(s);
            else if (errno != EAGAIN && errno != EWOULDBLOCK)
                fprintf(stderr, "%s: accept %s: %s\n", PROG, s->laddr, strerror(errno));
            return;
        }
        sockaddr_str((struct sockaddr *)&ss, addr, sizeof addr);
        /* FD_SET() on an fd of FD_SETSIZE or more writes past the end of the fd_set. */
        if (fd >= FD_SETSIZE || (unsigned long)s->nclients >= s->max_clients)
            refuse(fd, addr);
        else if (add_client(s, fd, addr) == NULL && close(fd) == -1)
            fprintf(stderr, "%s: close %s: %s\n", PROG, addr, strerror(errno));
    }
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

/* "/msg NICK text": the nick is up to the first space, the text is all the rest. */
static void cmd_msg(struct server *s, struct client *c, const char *arg, size_t len)
{
    const char *space = memchr(arg, ' ', len);
    struct client *to;
    char msg[MSG_MAX];

    if (space == NULL || space == arg || space + 1 == arg + len) {
        tell(s, c, "! usage: /msg NICK text");
        return;
    }
    to = find_nick(s, arg, (size_t)(space - arg));
    if (to == NULL) {
        tell(s, c, "! no such nick");
        return;
    }
    queue(s, to, msg, format_relay(msg, "*", c->nick, "* ", space + 1, (size_t)(arg + len - space - 1)));
}

static int is_word(const char *word, size_t len, const char *name)
{
    return strlen(name) == len && memcmp(word, name, len) == 0;
}

/* The command is the first word; its argument is the rest after one space. */
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

void on_line(struct server *s, struct client *c, const char *line, size_t len)
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

/* ---- clients ---------------------------------------------------------------------- */

int set_nonblocking(int fd)
{
    int flags = fcntl(fd, F_GETFL);

    if (flags == -1)
        return -1;
    return fcntl(fd, F_SETFL, flags | O_NONBLOCK);
}

struct client *add_client(struct server *s, int fd, const char *addr)
{
    struct client *c;
    int one = 1;

    if (set_nonblocking(fd) == -1) {
        fprintf(stderr, "%s: fcntl %s: %s\n", PROG, addr, strerror(errno));
        return NULL;
    }
    /* Output is already gathered into one send() per pass: Nagle would only add delay. */
    if (setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one) == -1) {
        fprintf(stderr, "%s: setsockopt TCP_NODELAY %s: %s\n", PROG, addr, strerror(errno));
        return NULL;
    }
    c = calloc(1, sizeof *c);
    if (c == NULL) {
        fprintf(stderr, "%s: calloc %s: %s\n", PROG, addr, strerror(errno));
        return NULL;
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
    return c;
}

void leave(struct server *s, struct client *c, const char *why)
{
    if (c->gone)
        return;
    c->gone = 1;
    snprintf(c->why, sizeof c->why, "%s", why);
    s->ngone++;
}

void leave_on_error(struct server *s, struct client *c, const char *call)
{
    char why[sizeof c->why];
    int e = errno;

    snprintf(why, sizeof why, "%s: %s", call, strerror(e));
    fprintf(stderr, "%s: %s %s: %s\n", PROG, call, c->addr, strerror(e));
    leave(s, c, why);
}

void refuse(int fd, const char *addr)
{
    static const char full[] = "! server full\n";

    /* A fresh socket's send buffer is empty, so this fits; O_NONBLOCK makes sure it never waits
     * (MSG_DONTWAIT would too, but POSIX does not have it). */
    if (set_nonblocking(fd) == -1 || send(fd, full, sizeof full - 1, 0) == -1)
        fprintf(stderr, "%s: send %s: %s\n", PROG, addr, strerror(errno));
    if (close(fd) == -1)
        fprintf(stderr, "%s: close %s: %s\n", PROG, addr, strerror(errno));
    fprintf(stderr, "refused %s: server full\n", addr);
}

void refuse_without_fds(struct server *s)
{
    struct sockaddr_storage ss;
    socklen_t sslen = sizeof ss;
    char addr[SOCKADDR_STRLEN];
    int fd;

    if (s->spare_fd == -1)
        return;
    if (close(s->spare_fd) == -1)
        fprintf(stderr, "%s: close /dev/null: %s\n", PROG, strerror(errno));
    fd = accept(s->lfd, (struct sockaddr *)&ss, &sslen);
    if (fd != -1)
        refuse(fd, sockaddr_str((struct sockaddr *)&ss, addr, sizeof addr));
    s->spare_fd = open("/dev/null", O_RDONLY);
    if (s->spare_fd == -1)
        fprintf(stderr, "%s: open /dev/null: %s\n", PROG, strerror(errno));
}

static void free_client(struct client *c)
{
    if (close(c->fd) == -1)
        fprintf(stderr, "%s: close %s: %s\n", PROG, c->addr, strerror(errno));
    outq_free(&c->out);
    free(c);
}

void remove_client(struct server *s, struct client *c)
{
    char nick[NICK_MAX + 1];

    /* A last try at what is queued ("* bye" after /quit); what does not fit is lost. */
    if (c->out.len > 0)
        (void)send(c->fd, c->out.data + c->out.head, c->out.len, 0);
    fprintf(stderr, "closed %s %s (%s)\n", c->nick, c->addr, c->why);
    memcpy(nick, c->nick, sizeof nick);
    s->clients[c->fd] = NULL;
    s->nclients--;
    s->ngone--;
    /* If the highest fd closed, the next select() must stop at the highest one still open. */
    while (s->maxfd > s->lfd && s->clients[s->maxfd] == NULL)
        s->maxfd--;
    free_client(c);
    tell_others(s, NULL, "* %s left", nick);
}

void close_all(struct server *s)
{
    int fd;

    for (fd = 0; fd <= s->maxfd; fd++) {
        if (s->clients[fd] != NULL) {
            free_client(s->clients[fd]);
            s->clients[fd] = NULL;
        }
    }
    if (s->spare_fd != -1 && close(s->spare_fd) == -1)
        fprintf(stderr, "%s: close /dev/null: %s\n", PROG, strerror(errno));
    if (s->lfd != -1 && close(s->lfd) == -1)
        fprintf(stderr, "%s: close %s: %s\n", PROG, s->laddr, strerror(errno));
}

/* ---- output ----------------------------------------------------------------------- */

void queue(struct server *s, struct client *c, const void *p, size_t n)
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

void broadcast(struct server *s, const struct client *except, const char *msg, size_t len)
{
    int fd;

    for (fd = 0; fd <= s->maxfd; fd++) {
        struct client *c = s->clients[fd];
        if (c != NULL && c != except && !c->gone)
            queue(s, c, msg, len);
    }
}

/* Format one of the server's own lines into buf (MSG_MAX bytes); returns its length, LF included. */
static size_t format_line(char *buf, const char *fmt, va_list ap)
{
    int n = vsnprintf(buf, MSG_MAX - 1, fmt, ap);

    if (n < 0)
        n = 0;
    if (n > MSG_MAX - 2)
        n = MSG_MAX - 2;
    buf[n] = '\n';
    return (size_t)n + 1;
}

void tell(struct server *s, struct client *to, const char *fmt, ...)
{
    char buf[MSG_MAX];
    va_list ap;
    size_t n;

    va_start(ap, fmt);
    n = format_line(buf, fmt, ap);
    va_end(ap);
    queue(s, to, buf, n);
}

void tell_others(struct server *s, const struct client *except, const char *fmt, ...)
{
    char buf[MSG_MAX];
    va_list ap;
    size_t n;

    va_start(ap, fmt);
    n = format_line(buf, fmt, ap);
    va_end(ap);
    broadcast(s, except, buf, n);
}

/* "<prefix><nick><suffix>text\n" in buf (MSG_MAX bytes): a client's text, byte for byte,
 * NULs included, which is why it is copied with its length and not printed with %s. */
static size_t format_relay(char *buf, const char *prefix, const char *nick, const char *suffix,
                           const char *text, size_t len)
{
    int n = snprintf(buf, MSG_MAX, "%s%s%s", prefix, nick, suffix);

    memcpy(buf + n, text, len);
    buf[(size_t)n + len] = '\n';
    return (size_t)n + len + 1;
}

/* ---- nicks ------------------------------------------------------------------------ */

struct client *find_nick(struct server *s, const char *nick, size_t len)
{
    int fd;

    for (fd = 0; fd <= s->maxfd; fd++) {
        struct client *c = s->clients[fd];
        if (c != NULL && !c->gone && strlen(c->nick) == len && memcmp(c->nick, nick, len) == 0)
            return c;
    }
    return NULL;
}

int valid_nick(const char *nick, size_t len)
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

void pick_guest_nick(struct server *s, char *nick)
{
    do {
        s->guests++;
        /* "guest" and 11 digits fill NICK_MAX; wrapping after 10^11 guests is fine. */
        snprintf(nick, NICK_MAX + 1, "guest%lu", s->guests % 100000000000UL);
    } while (find_nick(s, nick, strlen(nick)) != NULL);
}
