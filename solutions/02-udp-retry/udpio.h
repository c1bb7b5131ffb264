/* udpio.h: Lab 02's helpers: UDP sockets, bounded waits, the wire format, the clock. */
/**
 * @file udpio.h
 * @brief What udp_server and udp_client share: the getaddrinfo loops for a UDP
 *        socket, a wait with a deadline, the request format, a monotonic clock.
 *
 * None of these exit or print (mono_ms() aside, see there). On failure they return
 * -1, and the two socket helpers write "call ADDR:PORT: reason" into a buffer the
 * caller owns, so that main() can print "prog: call ADDR:PORT: reason" (handout §3.3).
 */
#ifndef SOCKLAB_UDPIO_H
#define SOCKLAB_UDPIO_H

#include <stddef.h>
#include <stdint.h>

/** @brief Size in bytes of the error buffers passed to udp_bind() and udp_connect(). */
#define UDPIO_ERRLEN 256

/**
 * @brief The largest UDP payload over IPv4, in bytes: 65535 - 20 (IPv4 header) - 8 (UDP header).
 * @see handout §2.2.
 */
#define UDP_MAX_PAYLOAD 65507

/**
 * @brief A receive buffer this size (bytes) holds any UDP datagram whole, IPv6's
 *        65527-byte maximum included, so recv() never truncates one (handout §2.2).
 */
#define UDP_RECV_BUFSIZE 65536

/** @brief Bytes of the request header: magic (2), sequence number (4), attempt (2). */
#define WIRE_HEADER_LEN 8

/** @brief The first magic byte of every request: 'S' (0x53). */
#define WIRE_MAGIC0 0x53
/** @brief The second magic byte of every request: 'L' (0x4c). */
#define WIRE_MAGIC1 0x4c

/** @brief The fields of a request header (handout §3.1), in host byte order. */
struct wire_header {
    uint32_t seq;     /**< request number, 1 for the first request */
    uint16_t attempt; /**< transmission number of that request, 1 for the first send */
};

/**
 * @brief Write a whole request: the header, then the payload pattern.
 *
 * Byte i of the payload (i >= WIRE_HEADER_LEN) is (i mod 256), so that an echo
 * that lost or changed bytes is recognised. Integers are big-endian (network
 * byte order), written byte by byte, so no alignment is assumed.
 *
 * @param buf     Where the request goes; at least @p len bytes.
 * @param len     Size of the request in bytes, WIRE_HEADER_LEN to UDP_MAX_PAYLOAD.
 * @param seq     Sequence number.
 * @param attempt Attempt number, 1 for the first transmission.
 * @see handout §3.1.
 */
void wire_encode(unsigned char *buf, size_t len, uint32_t seq, uint16_t attempt);

/**
 * @brief Check a received datagram and read its header.
 *
 * @param buf The datagram.
 * @param len Its length in bytes (recv()'s return value).
 * @param h   Where the header fields go (set only on success).
 * @return 0 if the datagram is a well-formed request or echo: at least
 *         WIRE_HEADER_LEN bytes, the magic bytes, and the payload pattern intact;
 *         -1 otherwise.
 * @see handout §3.1.
 */
int wire_decode(const unsigned char *buf, size_t len, struct wire_header *h);

/**
 * @brief The monotonic clock, in milliseconds since an arbitrary start.
 *
 * CLOCK_MONOTONIC never jumps when the wall clock is set, so differences are
 * durations (handout §4.4). Its resolution here is 1 ns.
 *
 * @return Milliseconds, with a fractional part.
 * @note clock_gettime(CLOCK_MONOTONIC) can fail only if the system lacks the
 *       clock; then this prints the error and calls abort().
 * @see clock_gettime(2).
 */
double mono_ms(void);

/**
 * @brief Wait until @p fd is readable or a deadline passes.
 *
 * The deadline is absolute, on the mono_ms() clock, so that a caller that waits
 * again after reading an unwanted datagram does not extend its wait (handout §4.2).
 *
 * @param fd          The socket.
 * @param deadline_ms When to give up, in mono_ms() time; a negative value waits
 *                    without a deadline.
 * @return 1 when @p fd is readable or has a pending error (the next recv() reports
 *         it, for example ECONNREFUSED); 0 once the deadline has passed; -1 with
 *         errno set by poll() (EINTR when a signal arrived: the caller decides
 *         whether to wait again).
 * @see poll(2), handout §4.2.
 */
int wait_readable(int fd, double deadline_ms);

/**
 * @brief Create a UDP socket bound to HOST:PORT: the getaddrinfo loop with AI_PASSIVE.
 *
 * @param host   Numeric address or name to bind, or NULL for every local address.
 * @param port   Port as text, "0" for an ephemeral port chosen by the kernel.
 * @param family AF_INET, AF_INET6 or AF_UNSPEC (either).
 * @param err    On failure, "call ADDR:PORT: reason" (for example
 *               "bind 127.0.0.1:53: Permission denied"); UDPIO_ERRLEN bytes.
 * @param errlen Size of @p err in bytes.
 * @return The socket's fd, or -1 (errno from the last call that failed: EADDRINUSE,
 *         EACCES and EADDRNOTAVAIL are the usual ones; EINVAL if getaddrinfo failed).
 * @see getaddrinfo(3), bind(2), handout §4.1.
 */
int udp_bind(const char *host, const char *port, int family, char *err, size_t errlen);

/**
 * @brief Create a UDP socket connected to HOST:PORT: the getaddrinfo loop for a client.
 *
 * connect() on a UDP socket sends nothing. It fixes the peer, so that send() and
 * recv() can be used, the kernel drops datagrams from any other address, and an
 * ICMP "port unreachable" comes back as ECONNREFUSED on a later call (handout §4.1).
 *
 * @param host   A name or numeric address, IPv4 or IPv6.
 * @param port   The port as text.
 * @param family AF_INET, AF_INET6 or AF_UNSPEC (either).
 * @param err    On failure, "call ADDR:PORT: reason" (for example
 *               "getaddrinfo nosuchhost:7: Name or service not known"); UDPIO_ERRLEN bytes.
 * @param errlen Size of @p err in bytes.
 * @return A connected socket's fd, or -1 (EINVAL if the name did not resolve;
 *         ENETUNREACH, EAFNOSUPPORT from socket() or connect()).
 * @see connect(2), udp(7), handout §4.1.
 */
int udp_connect(const char *host, const char *port, int family, char *err, size_t errlen);

/**
 * @brief Parse a decimal number such as "1.5" with bounds (a finished helper).
 * @param text The text.
 * @param min  The smallest value accepted.
 * @param max  The largest value accepted.
 * @param out  Where the value goes.
 * @return 0 on success, -1 if @p text is not a whole number in [@p min, @p max]
 *         (NaN, "inf", trailing characters and empty text are refused).
 * @see strtod(3).
 */
int parse_double(const char *text, double min, double max, double *out);

/**
 * @brief Make a socket non-blocking (O_NONBLOCK), so that a recv() after poll() never blocks
 *        (a finished helper).
 *
 * poll() saying "readable" is a hint, not a promise (Linux select(2), BUGS): the
 * datagram may be gone by the time recv() runs. With O_NONBLOCK such a recv() fails
 * with EAGAIN instead of hanging. It is the portable form of recv(..., MSG_DONTWAIT),
 * which strict POSIX headers (macOS with _POSIX_C_SOURCE) do not declare.
 *
 * @param fd The socket.
 * @return 0, or -1 with errno set by fcntl().
 * @see fcntl(2), handout §4.2.
 */
int udp_nonblocking(int fd);

#endif
