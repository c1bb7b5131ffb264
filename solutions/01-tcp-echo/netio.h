/* netio.h: Lab 01's socket helpers: connect, listen, and a send that finishes. */
/**
 * @file netio.h
 * @brief The getaddrinfo loops for a client and a server, and send_all().
 *
 * None of these exit or print. On failure they return -1, and the two
 * connection helpers write "call ADDR:PORT: reason" into a buffer the caller
 * owns, so that main() can print "prog: call ADDR:PORT: reason" (handout §5).
 */
#ifndef SOCKLAB_NETIO_H
#define SOCKLAB_NETIO_H

#include <stddef.h>
#include <sys/types.h>

/** @brief Size in bytes of the error buffers passed to tcp_listen() and tcp_connect(). */
#define NETIO_ERRLEN 256

/**
 * @brief Send all @p len bytes, however many send() calls that takes.
 *
 * send() on a stream socket may take fewer bytes than asked (a "partial send"),
 * and may fail with EINTR when a signal arrives; both are retried here.
 * @note The caller ignores SIGPIPE, so that a closed peer gives EPIPE instead of
 *       killing the process (portable; MSG_NOSIGNAL would do it per call on Linux only).
 *
 * @param fd  A connected stream socket.
 * @param buf The bytes to send.
 * @param len How many bytes, 0 or more.
 * @return @p len on success; -1 with errno set on failure (EPIPE or ECONNRESET
 *         when the peer has gone, EAGAIN on a non-blocking socket that is full).
 * @see send(2), handout §4.2 "Partial sends".
 */
ssize_t send_all(int fd, const void *buf, size_t len);

/**
 * @brief Create a listening socket: the getaddrinfo loop with AI_PASSIVE.
 *
 * Each address is tried in turn: socket(), SO_REUSEADDR, bind(), listen().
 * SO_REUSEADDR is set before bind() so that a restarted server can bind a port
 * whose old connections are still in TIME_WAIT (handout §2.3).
 *
 * @param host    Numeric address or name to bind, or NULL for every local address.
 * @param port    Port as text, "0" for an ephemeral port chosen by the kernel.
 * @param family  AF_INET, AF_INET6 or AF_UNSPEC (either).
 * @param backlog Length of the queue of completed connections for listen().
 * @param err     On failure, "call ADDR:PORT: reason" (for example
 *                "bind 127.0.0.1:80: Permission denied"); NETIO_ERRLEN bytes.
 * @param errlen  Size of @p err in bytes.
 * @return The listening socket's fd, or -1 (errno from the last call that failed;
 *         EADDRINUSE, EACCES and EADDRNOTAVAIL are the usual ones).
 * @see getaddrinfo(3), bind(2), listen(2), handout §4.1.
 */
int tcp_listen(const char *host, const char *port, int family, int backlog,
               char *err, size_t errlen);

/**
 * @brief Connect to HOST:PORT: the getaddrinfo loop for a client.
 *
 * @param host   A name or numeric address, IPv4 or IPv6.
 * @param port   The port as text.
 * @param family AF_INET, AF_INET6 or AF_UNSPEC (either).
 * @param err    On failure, "call ADDR:PORT: reason" (for example
 *               "connect 127.0.0.1:7: Connection refused"); NETIO_ERRLEN bytes.
 * @param errlen Size of @p err in bytes.
 * @return A connected socket's fd, or -1 (ECONNREFUSED, ETIMEDOUT, ENETUNREACH...).
 * @see connect(2), handout §4.1.
 */
int tcp_connect(const char *host, const char *port, int family,
                char *err, size_t errlen);

#endif
