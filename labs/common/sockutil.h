/* sockutil.h: small finished helpers shared by every socklab lab. */
/**
 * @file sockutil.h
 * @brief Address formatting and argument parsing that are not the lesson of any lab.
 *
 * These helpers are complete: students use them but do not write them. They never
 * exit and never print; they report failure through their return value.
 */
#ifndef SOCKLAB_SOCKUTIL_H
#define SOCKLAB_SOCKUTIL_H

#include <stddef.h>
#include <sys/socket.h>

/** @brief Room for "[" + an IPv6 address + "]:" + a port + NUL, in bytes. */
#define SOCKADDR_STRLEN 64

/**
 * @brief Format a socket address as "ADDR:PORT" ("127.0.0.1:7", or "[::1]:7" for IPv6).
 * @param sa  An AF_INET or AF_INET6 address, as filled in by accept(), getsockname()
 *            or getaddrinfo().
 * @param buf Where the text goes; SOCKADDR_STRLEN bytes is always enough.
 * @param len Size of @p buf in bytes.
 * @return @p buf. For another family, or if getnameinfo() fails, @p buf holds "?".
 * @see getnameinfo(3) with NI_NUMERICHOST | NI_NUMERICSERV.
 */
const char *sockaddr_str(const struct sockaddr *sa, char *buf, size_t len);

/**
 * @brief Format the local address of a socket (getsockname(2)) as "ADDR:PORT".
 * @param fd  A bound socket.
 * @param buf Where the text goes (SOCKADDR_STRLEN bytes).
 * @param len Size of @p buf in bytes.
 * @return @p buf, or NULL with errno set by getsockname() (EBADF, ENOTSOCK).
 * @see getsockname(2); sockaddr_str().
 */
const char *sockname_str(int fd, char *buf, size_t len);

/**
 * @brief Parse a decimal TCP or UDP port number.
 * @param text The text, for example "8080". Leading '+', '-' or spaces are refused.
 * @param port Where the port goes: 0 to 65535 (0 asks the kernel for an ephemeral port).
 * @return 0 on success, -1 if @p text is not a whole number in range.
 * @see parse_uint(); services(5) for well-known ports.
 */
int parse_port(const char *text, unsigned short *port);

/**
 * @brief Parse a non-negative decimal integer with an upper bound.
 * @param text The text, for example "250".
 * @param max  The largest value accepted.
 * @param out  Where the value goes.
 * @return 0 on success, -1 if @p text is not a whole number in 0..@p max.
 * @see strtoul(3), which this wraps with stricter checks.
 */
int parse_uint(const char *text, unsigned long max, unsigned long *out);

#endif
