/* udpio.c: Lab 02's helpers (see udpio.h). */
/*
 * TODO(student): handout §3.1, §4. Write the functions marked TODO; the section
 * named in each says how. Add static helpers of your own as you like: the reference has a
 * set_err() for "call ADDR:PORT: reason", a resolve() around getaddrinfo(), and
 * one getaddrinfo loop shared by udp_bind() and udp_connect() (handout §4.1).
 */
#define _POSIX_C_SOURCE 200809L
#include "udpio.h"
#include "sockutil.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <netdb.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

void wire_encode(unsigned char *buf, size_t len, uint32_t seq, uint16_t attempt)
{
    /* TODO(student): handout §3.1. The magic, then seq and attempt big-endian, byte by
     * byte; then payload byte i is (i mod 256). */
    (void)seq;
    (void)attempt;
    memset(buf, 0, len);
}

int wire_decode(const unsigned char *buf, size_t len, struct wire_header *h)
{
    /* TODO(student): handout §3.1. Check the length, the magic and the payload
     * pattern; then read seq and attempt. */
    (void)buf;
    (void)len;
    (void)h;
    return -1;
}

double mono_ms(void)
{
    /* TODO(student): handout §4.4. clock_gettime(CLOCK_MONOTONIC) in milliseconds:
     * never the wall clock. */
    return 0.0;
}

int wait_readable(int fd, double deadline_ms)
{
    /* TODO(student): handout §4.2. poll() with the time left until the deadline,
     * rounded up to whole milliseconds; 1 readable, 0 deadline passed, -1 error. */
    (void)fd;
    (void)deadline_ms;
    errno = ENOSYS;
    return -1;
}

int udp_bind(const char *host, const char *port, int family, char *err, size_t errlen)
{
    /* TODO(student): handout §4.1. The getaddrinfo loop with AI_PASSIVE and SOCK_DGRAM:
     * socket(), bind(). */
    (void)host;
    (void)port;
    (void)family;
    snprintf(err, errlen, "udp_bind: not written yet (TODO in udpio.c, handout §4.1)");
    errno = ENOSYS;
    return -1;
}

int udp_connect(const char *host, const char *port, int family, char *err, size_t errlen)
{
    /* TODO(student): handout §4.1. The getaddrinfo loop with SOCK_DGRAM: socket(),
     * connect(). */
    (void)host;
    (void)port;
    (void)family;
    snprintf(err, errlen, "udp_connect: not written yet (TODO in udpio.c, handout §4.1)");
    errno = ENOSYS;
    return -1;
}

int parse_double(const char *text, double min, double max, double *out)
{
    char *end;
    double v;

    /* strtod accepts " 1", "inf" and "nan": insist on a digit or a point first. */
    if (text == NULL || !(text[0] == '.' || (text[0] >= '0' && text[0] <= '9')))
        return -1;
    errno = 0;
    v = strtod(text, &end);
    if (errno != 0 || *end != '\0' || !(v >= min && v <= max))
        return -1;
    *out = v;
    return 0;
}

int udp_nonblocking(int fd)
{
    int flags = fcntl(fd, F_GETFL);

    if (flags == -1)
        return -1;
    return fcntl(fd, F_SETFL, flags | O_NONBLOCK);
}
