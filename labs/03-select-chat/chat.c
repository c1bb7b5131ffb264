/* chat.c: Lab 03's chat: the select() loop's steps and handlers, commands, clients, output and
 * nicks, in the order of chat.h.
 * Your work: the gaps marked TODO(student), handout §3 to §7. */
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

/* Stubs call this: a gap not filled yet stops the server at once, with a message, rather
 * than leaving it spinning. Delete it once every TODO is done. */
static void not_written(const char *func, const char *section)
{
    fprintf(stderr, "%s: %s: not written yet (TODO in chat.c, handout %s)\n", PROG, func, section);
    exit(1);
}

/* Defined with the output helpers below; the commands use it too. */
static size_t format_relay(char *buf, const char *prefix, const char *nick, const char *suffix,
                           const char *text, size_t len);

/* ---- the loop's steps ------------------------------------------------------------- */

void flush_all(struct server *s)
{
    /* TODO(student): (§5.2) on_writable() for every client that is not gone and has bytes
     * queued (c->out.len > 0). See handout §5.2. */
    (void)s;
    not_written("flush_all", "§5.2");
}

void drop_gone(struct server *s)
{
    /* TODO(student): (§7.2) while s->ngone > 0, remove_client() every client marked gone. (Telling
     * the others "left" may push another one over its limit: go round again.) See §7.2. */
    (void)s;
    not_written("drop_gone", "§7.2");
}

int build_fdsets(struct server *s, fd_set *rfds, fd_set *wfds)
{
    /* TODO(student): (§4.2) FD_ZERO both sets; FD_SET the listener in rfds; then every client in
     * rfds, and in wfds too if it has bytes queued (only then: a socket with room is
     * always writable, and select() would return at once, for ever). Return the highest
     * fd you set. See handout §4.2. */
    (void)s; (void)rfds; (void)wfds;
    not_written("build_fdsets", "§4.2");
    return -1;
}

/* Clients are only closed in drop_gone(), between passes: no fd in these sets can have
 * been closed and handed out again by accept() while we walk them. */
void dispatch(struct server *s, int maxfd, fd_set *rfds, fd_set *wfds)
{
    /* TODO(student): (§4.1) for each fd from 0 to maxfd that holds a client: on_writable() if it is
     * in wfds, then on_readable() if it is in rfds (skip a client that is gone). Then, if
     * the listener is in rfds, on_accept(). See handout §4.1. */
    (void)s; (void)maxfd; (void)rfds; (void)wfds;
    not_written("dispatch", "§4.1");
}

/* ---- events ----------------------------------------------------------------------- */

void on_readable(struct server *s, struct client *c)
{
    /* TODO(student): (§6.2) linebuf_space(), then ONE recv() into it. 0 (EOF): leave(s, c, "EOF").
     * -1: EAGAIN, EWOULDBLOCK or EINTR mean nothing (try next pass); any other error:
     * leave_on_error(s, c, "recv"). Then linebuf_commit(), and take every complete line
     * with linebuf_next() until LINE_NONE (or until c is gone: /quit): LINE_TOO_LONG gets
     * tell(s, c, "! line too long"), LINE_OK goes to on_line(). See handout §6.2. */
    (void)s; (void)c;
    not_written("on_readable", "§6.2");
}

void on_writable(struct server *s, struct client *c)
{
    /* TODO(student): (§5.2) ONE send() of c->out.data + c->out.head, c->out.len bytes (flags 0:
     * SIGPIPE is ignored, §4.5). -1 with EAGAIN, EWOULDBLOCK or EINTR: keep the queue for later; another
     * error: leave_on_error(s, c, "send"). Otherwise outq_consume() what was sent: it may be
     * less than asked (a partial send). See handout §5.2. */
    (void)s; (void)c;
    not_written("on_writable", "§5.2");
}

void on_accept(struct server *s)
{
    /* TODO(student): (§4.3) up to ACCEPT_BATCH times: accept() on s->lfd (non-blocking).
     * -1 with EAGAIN/EWOULDBLOCK: no one else is waiting, return. EINTR or ECONNABORTED:
     * go on. EMFILE or ENFILE: refuse_without_fds(s) and return. Other errors: log
     * "chat_server: accept ADDR:PORT: reason" and return.
     * A new fd: format its address with sockaddr_str(); if fd >= FD_SETSIZE (select()
     * cannot watch it) or s->nclients >= s->max_clients, refuse() it; otherwise
     * add_client(), and close the fd if that fails. See handout §4.3 and §5.4. */
    (void)s;
    not_written("on_accept", "§4.3");
}

/* ---- commands --------------------------------------------------------------------- */

static void cmd_nick(struct server *s, struct client *c, const char *arg, size_t len)
{
    /* TODO(student): (§3.3) "! invalid nick" unless valid_nick(); "! nick taken" if find_nick()
     * finds it (errors with tell(), to the sender only). Otherwise keep the old nick,
     * copy the new one into c->nick (arg is not NUL-terminated: copy len bytes, then a
     * NUL), log it on stderr, and tell_others(s, NULL, "* %s is now %s", ...): everyone,
     * the sender included. See handout §3.3. */
    (void)s; (void)c; (void)arg; (void)len;
    not_written("cmd_nick", "§3.3");
}

static void cmd_who(struct server *s, struct client *c)
{
    /* TODO(student): (§3.4) one line for c: "* users:", then " NICK" for every client that is
     * not gone, then "\n". queue() the pieces. See handout §3.4. */
    (void)s; (void)c;
    not_written("cmd_who", "§3.4");
}

/* "/msg NICK text": the nick is up to the first space, the text is all the rest. */
static void cmd_msg(struct server *s, struct client *c, const char *arg, size_t len)
{
    /* TODO(student): (§3.4) arg is "NICK text": the nick up to the first space, the text all the
     * rest. No space, an empty nick or an empty text: "! usage: /msg NICK text". No such
     * client: "! no such nick". Otherwise queue "*SENDER* text" for NICK only, built with
     * format_relay() (the text may hold any byte). See handout §3.4. */
    (void)s; (void)c; (void)arg; (void)len;
    not_written("cmd_msg", "§3.4");
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
    /* TODO(student): set_nonblocking(fd) (§5.1) and TCP_NODELAY (setsockopt with
     * IPPROTO_TCP); calloc() a struct client; fill in fd, addr (snprintf) and a nick from
     * pick_guest_nick(); file it in s->clients[fd], count it, raise s->maxfd if fd is
     * higher; log "accepted ADDR:PORT as NICK" on stderr; then tell() it
     * "* welcome NICK" and tell_others() "* NICK joined". Any failure: log
     * "chat_server: call ADDR:PORT: reason" and return NULL. See handout §3.2, §4.2, §7.1. */
    (void)s; (void)fd; (void)addr;
    not_written("add_client", "§7.1");
    return NULL;
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
    /* TODO(student): (§7.2) try one last send() of what is queued (the socket is non-blocking:
     * "* bye" after /quit), log "closed NICK ADDR:PORT (why)" on stderr, keep a copy of the nick, set
     * s->clients[c->fd] to NULL, update s->nclients and s->ngone, lower s->maxfd while it
     * names an empty slot (but not below s->lfd), free_client(c) (it closes the fd), and
     * last tell_others(s, NULL, "* %s left", nick). See handout §4.2 and §7.2. */
    (void)s; (void)c;
    not_written("remove_client", "§7.2");
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
    /* TODO(student): (§5.2) nothing for a client that is gone. If its queue would pass OUTQ_LIMIT,
     * leave(s, c, "not reading: output queue over 256 KiB") instead: it stopped reading,
     * and the others must not wait for it. Otherwise outq_push(); if that fails,
     * leave_on_error(s, c, "queue"). Never send() here. See handout §5.2 and §5.3. */
    (void)s; (void)c; (void)p; (void)n;
    not_written("queue", "§5.2");
}

void broadcast(struct server *s, const struct client *except, const char *msg, size_t len)
{
    /* TODO(student): (§3.5) queue() the bytes for every client in s->clients[0 .. s->maxfd] that
     * is there, is not `except` and is not gone. See handout §3.5 and §7.1. */
    (void)s; (void)except; (void)msg; (void)len;
    not_written("broadcast", "§3.5");
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
