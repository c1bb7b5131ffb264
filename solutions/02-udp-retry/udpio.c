/* udpio.c: Lab 02's helpers (see udpio.h). */
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
    buf[0] = WIRE_MAGIC0;
    buf[1] = WIRE_MAGIC1;
    buf[2] = (unsigned char)(seq >> 24);
    buf[3] = (unsigned char)(seq >> 16);
    buf[4] = (unsigned char)(seq >> 8);
    buf[5] = (unsigned char)seq;
    buf[6] = (unsigned char)(attempt >> 8);
    buf[7] = (unsigned char)attempt;
    for (size_t i = WIRE_HEADER_LEN; i < len; i++)
        buf[i] = (unsigned char)i;
}

int wire_decode(const unsigned char *buf, size_t len, struct wire_header *h)
{
    if (len < WIRE_HEADER_LEN || buf[0] != WIRE_MAGIC0 || buf[1] != WIRE_MAGIC1)
        return -1;
    for (size_t i = WIRE_HEADER_LEN; i < len; i++)
        if (buf[i] != (unsigned char)i)
            return -1;
    h->seq = (uint32_t)buf[2] << 24 | (uint32_t)buf[3] << 16 | (uint32_t)buf[4] << 8 | buf[5];
    h->attempt = (uint16_t)(buf[6] << 8 | buf[7]);
    return 0;
}

double mono_ms(void)
{
    struct timespec ts;

    if (clock_gettime(CLOCK_MONOTONIC, &ts) == -1) {
        perror("clock_gettime CLOCK_MONOTONIC");
        abort();
    }
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

/* poll() counts whole milliseconds: round up, or we would wake just before the deadline. */
static int poll_timeout(double deadline_ms)
{
    double left;

    if (deadline_ms < 0)
        return -1;
    left = ceil(deadline_ms - mono_ms());
    if (left <= 0)
        return 0;
    return left > INT_MAX ? INT_MAX : (int)left;
}

int wait_readable(int fd, double deadline_ms)
{
    struct pollfd p;

    p.fd = fd;
    p.events = POLLIN;
    for (;;) {
        int timeout = poll_timeout(deadline_ms);
        int rc = poll(&p, 1, timeout);

        if (rc == -1)
            return -1;
        if (rc > 0)
            return 1;
        if (timeout == 0 || mono_ms() >= deadline_ms)
            return 0;
    }
}

/* Record "call ADDR:PORT: reason" for the caller, keeping errno intact. */
static void set_err(char *err, size_t errlen, const char *call, const struct addrinfo *ai)
{
    int saved = errno;
    char addr[SOCKADDR_STRLEN];

    snprintf(err, errlen, "%s %s: %s", call,
             sockaddr_str(ai->ai_addr, addr, sizeof addr), strerror(saved));
    errno = saved;
}

static int resolve(const char *host, const char *port, int family, int flags,
                   struct addrinfo **res, char *err, size_t errlen)
{
    struct addrinfo hints;
    int rc;

    memset(&hints, 0, sizeof hints);
    hints.ai_family = family;
    hints.ai_socktype = SOCK_DGRAM;
    hints.ai_flags = flags;
    rc = getaddrinfo(host, port, &hints, res);
    if (rc != 0) {
        snprintf(err, errlen, "getaddrinfo %s:%s: %s", host ? host : "*", port,
                 rc == EAI_SYSTEM ? strerror(errno) : gai_strerror(rc));
        errno = (rc == EAI_SYSTEM) ? errno : EINVAL;
        return -1;
    }
    return 0;
}

/* socket() then bind() or connect() for one address; -1 leaves the reason in err. */
static int open_one(const struct addrinfo *ai, int do_bind, char *err, size_t errlen)
{
    int fd = socket(ai->ai_family, ai->ai_socktype, ai->ai_protocol);

    if (fd == -1) {
        set_err(err, errlen, "socket", ai);
        return -1;
    }
    if (do_bind ? bind(fd, ai->ai_addr, ai->ai_addrlen) : connect(fd, ai->ai_addr, ai->ai_addrlen)) {
        set_err(err, errlen, do_bind ? "bind" : "connect", ai);
        close(fd);
        return -1;
    }
    return fd;
}

/* The getaddrinfo loop: the first address that works wins. */
static int open_udp(const char *host, const char *port, int family, int do_bind,
                    char *err, size_t errlen)
{
    struct addrinfo *res, *ai;
    int fd = -1;

    if (resolve(host, port, family, do_bind ? AI_PASSIVE : 0, &res, err, errlen) == -1)
        return -1;
    for (ai = res; ai != NULL; ai = ai->ai_next) {
        fd = open_one(ai, do_bind, err, errlen);
        if (fd != -1)
            break;
    }
    freeaddrinfo(res);
    return fd;
}

int udp_bind(const char *host, const char *port, int family, char *err, size_t errlen)
{
    return open_udp(host, port, family, 1, err, errlen);
}

int udp_connect(const char *host, const char *port, int family, char *err, size_t errlen)
{
    return open_udp(host, port, family, 0, err, errlen);
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
