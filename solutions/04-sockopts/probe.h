/* probe.h: Lab 04's plumbing: loopback connections, clocks, names, ss and pauses. */
/**
 * @file probe.h
 * @brief What every experiment needs around its socket options.
 *
 * A connection here is always on loopback between two sockets of this one process:
 * the client (connect()) and the server (accept()). The kernel runs both ends of
 * TCP, so one thread can play both parts; an experiment waits only for what its
 * previous call made possible (handout §3.5).
 *
 * Functions that can fail print "sockopt_lab: call ADDR:PORT: reason" on stderr
 * (through report_error()) and return -1 with errno kept, so the experiment that
 * called them can simply return -1 in turn (handout §3.3).
 */
#ifndef SOCKLAB_PROBE_H
#define SOCKLAB_PROBE_H

#include <signal.h>
#include <stddef.h>
#include <sys/socket.h>
#include <sys/types.h>

#include "sockutil.h"

/** @brief Set by SIGINT/SIGTERM: blocking helpers give up with EINTR and main() exits 0. */
extern volatile sig_atomic_t stop_requested;

/**
 * @brief Options that only work when set between socket() and bind()/listen()/connect().
 *
 * Zero leaves an option alone. The listening socket passes sndbuf and rcvbuf on to
 * every socket accept() returns (handout §2.4).
 */
struct early_opts {
    int reuseaddr; /**< SO_REUSEADDR: 1 to set it */
    int sndbuf;    /**< SO_SNDBUF request in bytes; 0 for the kernel's default */
    int rcvbuf;    /**< SO_RCVBUF request in bytes; 0 for the kernel's default */
};

/** @brief A loopback connection and the listener it came from; -1 marks a closed fd. */
struct pair {
    int lfd; /**< the listening socket */
    int cfd; /**< the client's socket (connect()) */
    int sfd; /**< the server's socket (accept()) */
    struct sockaddr_storage listen_sa;   /**< the listener's address and port */
    socklen_t listen_salen;              /**< size of listen_sa in bytes */
    char listen_addr[SOCKADDR_STRLEN];   /**< "ADDR:PORT" of the listener and server side */
    char client_addr[SOCKADDR_STRLEN];   /**< "ADDR:PORT" of the client side */
};

/**
 * @brief Print "sockopt_lab: CALL ADDR: strerror(errno)" on stderr, unless a stop
 *        signal explains the failure (EINTR after SIGINT/SIGTERM is not an error).
 * @param call What failed, for example "setsockopt TCP_NODELAY".
 * @param addr The socket's "ADDR:PORT", or NULL when there is none.
 * @return -1 always, with errno unchanged.
 * @see strerror(3), handout §3.3.
 */
int report_error(const char *call, const char *addr);

/**
 * @brief The time on CLOCK_MONOTONIC, in nanoseconds.
 *
 * The same clock as Python's time.monotonic_ns(), so the harness can place each
 * measurement inside its own view of the run (handout §3.2).
 * @return Nanoseconds since an arbitrary point (boot, on Linux).
 * @see clock_gettime(2), handout §3.2.
 */
long long now_ns(void);

/**
 * @brief The symbolic name of an errno value: "EADDRINUSE", "ECONNRESET", "EAGAIN"...
 * @param err An errno value; 0 gives "OK".
 * @return A static string; "E?" for a value the table does not know.
 * @note EWOULDBLOCK equals EAGAIN on Linux, BSD and macOS: it is reported as "EAGAIN".
 * @see errno(3), handout §3.2.
 */
const char *errno_name(int err);

/**
 * @brief Set the options of @p e on a socket that is not yet bound or connected.
 * @param fd   A fresh socket.
 * @param e    The options; NULL sets nothing.
 * @param addr The address it will use, for error messages.
 * @return 0, or -1 (message printed; errno from setsockopt: EINVAL, ENOPROTOOPT).
 * @see setsockopt(2), socket(7), handout §2.4.
 */
int set_early_opts(int fd, const struct early_opts *e, const char *addr);

/**
 * @brief setsockopt() of one int-valued option, with the error reported.
 * @param fd    The socket.
 * @param level SOL_SOCKET or IPPROTO_TCP.
 * @param name  The option, for example TCP_NODELAY.
 * @param value The value to set.
 * @param what  Its name for messages, for example "TCP_NODELAY".
 * @param addr  The socket's "ADDR:PORT" for messages.
 * @return 0, or -1 (message printed; EINVAL, ENOPROTOOPT, EBADF).
 * @see setsockopt(2), handout §2.1 to §2.3.
 */
int set_int_opt(int fd, int level, int name, int value, const char *what, const char *addr);

/**
 * @brief getsockopt() of one int-valued option, with the error reported.
 * @param fd    The socket.
 * @param level SOL_SOCKET or IPPROTO_TCP.
 * @param name  The option.
 * @param value Where the value goes.
 * @param what  Its name for messages.
 * @param addr  The socket's "ADDR:PORT" for messages.
 * @return 0, or -1 (message printed; ENOPROTOOPT, EBADF).
 * @see getsockopt(2), handout §2.1, §2.5.
 */
int get_int_opt(int fd, int level, int name, int *value, const char *what, const char *addr);

/**
 * @brief A listening TCP socket on HOST, ephemeral port: the getaddrinfo loop.
 * @param host    A loopback address or name ("127.0.0.1", "::1", "localhost").
 * @param e       Options to set before bind() and listen(); NULL for none.
 * @param sa      Where the bound address goes (for connect() and bind() tests).
 * @param salen   In: size of @p sa; out: the address length.
 * @param addr    Where "ADDR:PORT" goes; SOCKADDR_STRLEN bytes.
 * @return The listening fd, or -1 (message printed: "sockopt_lab: bind ADDR:PORT: reason",
 *         or the getaddrinfo error).
 * @note Named tcp_listener, not tcp_listen: Lab 01's tcp_listen(host, port, family, backlog,
 *       err, errlen) takes other arguments. The loop is Lab 01's idiom: errno saved, the
 *       reason in an error buffer, one cleanup path.
 * @see getaddrinfo(3), bind(2), listen(2), handout §2.4, §3.5.
 */
int tcp_listener(const char *host, const struct early_opts *e, struct sockaddr_storage *sa,
                 socklen_t *salen, char *addr);

/**
 * @brief A client socket connected to a listener on this host.
 * @param sa    The listener's address (from tcp_listener()).
 * @param salen Its length in bytes.
 * @param e     Options to set before connect(); NULL for none.
 * @param addr  Where the client's own "ADDR:PORT" goes; SOCKADDR_STRLEN bytes.
 * @return The connected fd, or -1 (message printed; ECONNREFUSED...).
 * @see connect(2), handout §2.4, §3.5.
 */
int tcp_connect_to(const struct sockaddr_storage *sa, socklen_t salen,
                   const struct early_opts *e, char *addr);

/**
 * @brief accept() one connection, retrying EINTR; the new fd is close-on-exec.
 * @param lfd  The listening socket.
 * @param addr Its "ADDR:PORT", for messages.
 * @return The connected fd, or -1 (message printed).
 * @see accept(2), handout §2.4 (what an accepted socket inherits).
 */
int accept_one(int lfd, const char *addr);

/**
 * @brief A listener, a client connected to it, and the server side from accept().
 * @param host A loopback address or name.
 * @param e    Options for both the listener and the client, set before listen() and
 *             connect(); NULL for none.
 * @param p    The pair to fill; on failure every fd in it is closed.
 * @return 0, or -1 (message printed).
 * @see handout §3.5.
 */
int pair_open(const char *host, const struct early_opts *e, struct pair *p);

/**
 * @brief Close every fd of @p p that is still open, and mark it -1.
 * @param p The pair.
 * @see close(2), handout §3.5.
 */
void pair_close(struct pair *p);

/**
 * @brief Send all @p len bytes (MSG_NOSIGNAL), retrying partial sends and EINTR.
 * @param fd  A connected stream socket.
 * @param buf The bytes to send.
 * @param len How many bytes.
 * @return 0, or -1 with errno set (EPIPE, ECONNRESET; EINTR after a stop signal).
 * @see send(2), handout §5.1 and Lab 01 §4.2 (partial sends).
 */
int send_exact(int fd, const void *buf, size_t len);

/**
 * @brief Receive exactly @p len bytes, however many recv() calls that takes.
 * @param fd  A connected stream socket.
 * @param buf Where the bytes go; room for @p len bytes.
 * @param len How many bytes to wait for.
 * @return 1 when all arrived, 0 at EOF before that, -1 with errno set (ECONNRESET,
 *         EAGAIN after SO_RCVTIMEO, EINTR after a stop signal).
 * @see recv(2), handout §5.1.
 */
int recv_exact(int fd, void *buf, size_t len);

/**
 * @brief The TCP state of a socket, from getsockopt(IPPROTO_TCP, TCP_INFO).
 * @param fd A TCP socket.
 * @return The state (TCP_ESTABLISHED... TCP_CLOSING, from <netinet/tcp.h>), or -1
 *         with errno set (EBADF, ENOPROTOOPT for a socket that is not TCP).
 * @see tcp(7) "TCP_INFO", handout §10.1.
 */
int tcp_state(int fd);

/**
 * @brief The name of a TCP state, as Linux names it: "ESTABLISHED", "FIN_WAIT1"...
 * @param state A value returned by tcp_state().
 * @return A static string; "UNKNOWN" for a value outside the table.
 * @see tcp(7), handout §10.1 (the table of states).
 */
const char *tcp_state_name(int state);

/**
 * @brief Wait until TCP_INFO reports @p want, checking every millisecond.
 *
 * A packet the other end sent on loopback is processed by the kernel soon after the
 * call that sent it returns, but not always before: this bounded wait bridges that gap.
 * @param fd         A TCP socket.
 * @param want       The state to wait for.
 * @param timeout_ms How long to wait at most, in milliseconds.
 * @return The last state seen (equal to @p want unless time ran out), or -1 on error.
 * @see tcp_state(), handout §10.2.
 */
int wait_tcp_state(int fd, int want, int timeout_ms);

/**
 * @brief The state `ss -tan` shows for a socket: "ESTAB", "TIME-WAIT", "LISTEN"...
 * @param local  The socket's local "ADDR:PORT".
 * @param remote The peer's "ADDR:PORT", or NULL for a listener (peer "*").
 * @param buf    Where the state goes.
 * @param len    Size of @p buf in bytes (16 is enough).
 * @return @p buf, or NULL if ss shows no such socket or could not run.
 * @see ss(8), handout §10.2.
 */
const char *ss_state(const char *local, const char *remote, char *buf, size_t len);

/**
 * @brief A pause point: print {"experiment":E,"kind":"pause","step":N} and wait for a
 *        line on stdin, so a person (or the harness) can look with ss meanwhile.
 * @param enabled    Zero skips the pause; so does EOF on stdin, for good.
 * @param experiment The experiment's name.
 * @param step       Which pause this is.
 * @return 0, or -1 (stdout failed, or a stop signal came).
 * @see handout §3.3.
 */
int pause_point(int enabled, const char *experiment, int step);

/**
 * @brief Read a sysctl such as net.core.rmem_max from /proc/sys.
 * @param path "/proc/sys/net/core/rmem_max".
 * @return The value, or -1 if it cannot be read (not Linux, or no /proc).
 * @see proc(5) /proc/sys/net/core, handout §6.1.
 */
long read_sysctl(const char *path);

#endif
