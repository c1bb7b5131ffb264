/* chat.h: Lab 03's chat state and the event handlers of its select() loop. */
/**
 * @file chat.h
 * @brief The server's state (every client, indexed by fd) and one function per
 *        event the select() loop can report: a newcomer on the listener, a
 *        client readable, a client writable.
 *
 * The loop itself is in chat_server.c (handout §4.1):
 *
 *     for (;;) {
 *         drop_gone();  flush_all();  maxfd = build_fdsets(&r, &w);
 *         pselect(maxfd + 1, &r, &w, ...);
 *         dispatch(maxfd, &r, &w);     -> on_writable, on_readable, on_accept
 *     }
 *
 * Nothing here blocks: every socket is non-blocking, what a client cannot take
 * yet waits in its output queue, and a client that leaves is only marked
 * (leave()) and closed at the top of the next pass (drop_gone()), so that no
 * handler ever frees a client that its caller is still using (handout §7.2).
 * Messages are in handout §3; errors are logged on stderr as
 * "chat_server: call ADDR:PORT: reason", and never stop the server.
 */
#ifndef SOCKLAB_CHAT_H
#define SOCKLAB_CHAT_H

#include "chatbuf.h"
#include "sockutil.h"

#include <stddef.h>
#include <sys/select.h>

/** @brief The program's name, at the start of every error message. */
#define PROG "chat_server"

/** @brief The longest nick in bytes: 1 to NICK_MAX of [A-Za-z0-9_-] (handout §3.3). */
#define NICK_MAX 16

/**
 * @brief A client whose output queue would pass this many bytes is disconnected.
 *
 * It has stopped reading; holding more only costs memory, and the others must
 * never wait for it (handout §5.3).
 */
#define OUTQ_LIMIT (256 * 1024)

/**
 * @brief The most connections on_accept() takes in one pass: enough to let a crowd
 *        in within a few passes, few enough that the clients already there are
 *        served in between.
 */
#define ACCEPT_BATCH 64

/** @brief Room for the longest line the server writes: "<" NICK "> " text LF. */
#define MSG_MAX (CHAT_LINE_MAX + NICK_MAX + 8)

/** @brief One connected client: everything the loop remembers about it between passes. */
struct client {
    int fd;                     /**< its connected, non-blocking socket */
    char nick[NICK_MAX + 1];    /**< its nick, NUL-terminated */
    char addr[SOCKADDR_STRLEN]; /**< "ADDR:PORT" of the peer, for the log */
    struct linebuf in;          /**< bytes received, not yet a whole line */
    struct outq out;            /**< bytes for it that the socket has not taken yet */
    int gone;                   /**< 1 once it left: no more input or messages; closed by drop_gone() */
    char why[96];               /**< why it left ("EOF", "quit", "recv: ..."), for the log */
};

/** @brief The whole server: the listener and every client. */
struct server {
    int lfd;                            /**< the listening socket, non-blocking */
    int spare_fd;                       /**< an fd held in reserve for EMFILE (refuse_without_fds()), or -1 */
    char laddr[SOCKADDR_STRLEN];        /**< "ADDR:PORT" the server listens on */
    struct client *clients[FD_SETSIZE]; /**< clients[fd]: NULL, or the client on that fd */
    int maxfd;                          /**< the highest fd open: the listener or a client */
    int nclients;                       /**< clients connected, gone ones included */
    int ngone;                          /**< clients marked gone and not yet closed */
    unsigned long max_clients;          /**< --max-clients: at most this many at once */
    unsigned long guests;               /**< guest numbers handed out so far */
};

/* ---- the loop's steps (called by serve() in chat_server.c) ------------------------ */

/**
 * @brief Send what is queued for every client now, one send() each.
 *
 * Most sockets have room, so this saves a trip through select(); only the
 * clients whose socket is full are left for select() to report writable.
 * @param s The server.
 * @see on_writable(), handout §5.2.
 */
void flush_all(struct server *s);

/**
 * @brief Close every client marked gone, and tell the others "* NICK left".
 *
 * Telling the others may push one of them over OUTQ_LIMIT and mark it gone
 * too: it goes round until no client is left half-gone.
 * @param s The server.
 * @see remove_client(), handout §7.2.
 */
void drop_gone(struct server *s);

/**
 * @brief Build select()'s sets afresh: select() overwrites them with its answer.
 *
 * The listener and every client go in @p rfds; a client with queued output
 * also goes in @p wfds.
 * @param s    The server.
 * @param rfds Filled with the fds to watch for reading.
 * @param wfds Filled with the fds to watch for writing.
 * @return The highest fd in either set (select()'s first argument is this + 1).
 * @see select(2), handout §4.2.
 */
int build_fdsets(struct server *s, fd_set *rfds, fd_set *wfds);

/**
 * @brief Act on select()'s answer: on_writable(), on_readable() for each ready
 *        client, then on_accept() if the listener is ready.
 * @param s     The server.
 * @param maxfd The value build_fdsets() returned for these sets.
 * @param rfds  The fds select() found readable.
 * @param wfds  The fds select() found writable.
 * @see select(2) (FD_ISSET), handout §4.1.
 */
void dispatch(struct server *s, int maxfd, fd_set *rfds, fd_set *wfds);

/* ---- events ----------------------------------------------------------------------- */

/**
 * @brief The listener is readable: accept up to ACCEPT_BATCH newcomers.
 *
 * Each one is added with add_client(), or refused with "! server full" when
 * its fd is FD_SETSIZE or more, or --max-clients are already connected.
 * EAGAIN ends the batch; ECONNABORTED and EINTR are skipped; EMFILE and ENFILE
 * go to refuse_without_fds().
 * @param s The server.
 * @see accept(2), handout §4.3, §5.4.
 */
void on_accept(struct server *s);

/**
 * @brief A client is readable: one recv() into its line buffer, then handle
 *        every complete line, in order.
 *
 * One recv() per pass, not a loop until EAGAIN, so that a client sending fast
 * cannot starve the others. recv() returning 0 (EOF) or failing (ECONNRESET)
 * makes the client leave; EAGAIN and EINTR are ignored.
 * @param s The server.
 * @param c The client.
 * @see recv(2), handout §6.
 */
void on_readable(struct server *s, struct client *c);

/**
 * @brief A client is writable (or has output waiting): one send() of as much of
 *        its queue as the socket takes.
 *
 * EAGAIN leaves the rest for later; EPIPE or ECONNRESET make the client leave.
 * SIGPIPE is ignored (chat_server.c): a vanished peer gives EPIPE, not a signal.
 * @param s The server.
 * @param c The client; its queue must not be empty.
 * @see send(2), handout §5.2.
 */
void on_writable(struct server *s, struct client *c);

/**
 * @brief One complete line from a client, terminator removed: ignore it if
 *        empty, run it if it starts with '/', otherwise relay it to the others
 *        as "<NICK> text".
 * @param s    The server.
 * @param c    The sender.
 * @param line The line's bytes (not NUL-terminated; may hold any byte but LF).
 * @param len  Its length in bytes, 0 to CHAT_LINE_MAX.
 * @see handout §3.
 */
void on_line(struct server *s, struct client *c, const char *line, size_t len);

/* ---- clients ---------------------------------------------------------------------- */

/**
 * @brief Make a socket non-blocking (O_NONBLOCK).
 * @param fd The socket.
 * @return 0, or -1 with errno set by fcntl() (EBADF).
 * @see fcntl(2), handout §5.1.
 */
int set_nonblocking(int fd);

/**
 * @brief Take a newly accepted connection into the chat.
 *
 * Makes it non-blocking, sets TCP_NODELAY, gives it a guest nick, files it in
 * s->clients[fd] (raising s->maxfd if needed), sends it "* welcome NICK" and
 * tells the others "* NICK joined".
 * @param s    The server.
 * @param fd   The connected socket, less than FD_SETSIZE.
 * @param addr The peer's "ADDR:PORT".
 * @return The new client, or NULL (errno ENOMEM, or from fcntl()/setsockopt());
 *         the caller then closes @p fd.
 * @see fcntl(2), tcp(7) TCP_NODELAY, handout §3.2, §4.2, §7.1.
 */
struct client *add_client(struct server *s, int fd, const char *addr);

/**
 * @brief Close a gone client, forget it (s->clients, s->maxfd), free it, and
 *        tell the others "* NICK left".
 * @param s The server.
 * @param c The client, marked gone. It is freed: do not use it afterwards.
 * @see close(2), handout §4.2, §7.2.
 */
void remove_client(struct server *s, struct client *c);

/**
 * @brief Mark a client as gone (idempotent): it gets no more messages, is not
 *        read again, and drop_gone() closes it.
 * @param s   The server.
 * @param c   The client.
 * @param why A few words for the log ("EOF", "quit").
 * @see drop_gone(), handout §7.2.
 */
void leave(struct server *s, struct client *c, const char *why);

/**
 * @brief A call on a client's socket failed: log "chat_server: CALL ADDR:PORT:
 *        strerror(errno)" and let the client leave.
 * @param s    The server.
 * @param c    The client.
 * @param call The call that failed ("recv", "send").
 * @see strerror(3), handout §2.2, §7.2.
 */
void leave_on_error(struct server *s, struct client *c, const char *call);

/**
 * @brief Tell a newcomer "! server full" (without waiting for it) and close it.
 * @param fd   Its socket.
 * @param addr Its "ADDR:PORT", for the log.
 * @see handout §4.3.
 */
void refuse(int fd, const char *addr);

/**
 * @brief accept() failed with EMFILE: free the spare fd, accept and refuse the
 *        newcomer, then take the spare back.
 *
 * Otherwise the connection stays in the backlog, the listener stays readable,
 * and select() returns at once forever: a busy loop (handout §5.4).
 * @param s The server.
 * @see accept(2) (EMFILE), handout §5.4.
 */
void refuse_without_fds(struct server *s);

/* ---- output ----------------------------------------------------------------------- */

/**
 * @brief Append bytes to one client's output queue; never blocks, never sends.
 *
 * A client that is gone gets nothing. A client whose queue would pass
 * OUTQ_LIMIT leaves instead ("not reading").
 * @param s The server.
 * @param c The client.
 * @param p The bytes.
 * @param n How many.
 * @see handout §5.2, §5.3.
 */
void queue(struct server *s, struct client *c, const void *p, size_t n);

/**
 * @brief queue() the same bytes for every client but @p except.
 * @param s      The server.
 * @param except The client left out (the sender), or NULL for everyone.
 * @param msg    The bytes, usually one line with its LF.
 * @param len    How many.
 * @see queue(), handout §3.5.
 */
void broadcast(struct server *s, const struct client *except, const char *msg, size_t len);

/**
 * @brief Queue one line of the server's own for one client, printf-style; the
 *        LF is added.
 * @param s   The server.
 * @param to  The client.
 * @param fmt A format for fixed text and validated nicks only, never for a
 *            client's own text, which may hold NUL bytes.
 * @see vsnprintf(3), handout §3.6.
 */
void tell(struct server *s, struct client *to, const char *fmt, ...);

/**
 * @brief Like tell(), to every client but @p except (NULL for everyone).
 * @param s      The server.
 * @param except The client left out, or NULL.
 * @param fmt    The format (see tell()).
 * @see broadcast(), handout §3.6.
 */
void tell_others(struct server *s, const struct client *except, const char *fmt, ...);

/* ---- nicks ------------------------------------------------------------------------ */

/**
 * @brief The client (not gone) whose nick is @p nick.
 * @param s    The server.
 * @param nick The nick's bytes.
 * @param len  Its length in bytes.
 * @return The client, or NULL.
 * @see handout §3.3.
 */
struct client *find_nick(struct server *s, const char *nick, size_t len);

/**
 * @brief Whether @p nick is 1 to NICK_MAX bytes of [A-Za-z0-9_-].
 * @param nick The bytes.
 * @param len  How many.
 * @return 1 if valid, 0 if not.
 * @see handout §3.3.
 */
int valid_nick(const char *nick, size_t len);

/**
 * @brief The next free guest nick: "guestN", N counting up from 1 and skipping
 *        numbers someone took with /nick.
 * @param s    The server (s->guests counts the numbers handed out).
 * @param nick Where it goes: NICK_MAX + 1 bytes.
 * @see handout §3.2, §3.3.
 */
void pick_guest_nick(struct server *s, char *nick);

/**
 * @brief Close and free every client, the spare fd and the listener (at exit).
 * @param s The server.
 * @see close(2), free(3), handout §4.5.
 */
void close_all(struct server *s);

#endif
