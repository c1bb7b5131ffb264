/* netio.c: Lab 01's socket helpers (see netio.h). */
#define _POSIX_C_SOURCE 200809L
#include "netio.h"
#include "sockutil.h"

#include <errno.h>
#include <netdb.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

ssize_t send_all(int fd, const void *buf, size_t len)
{
    const char *p = buf;
    size_t left = len;

    while (left > 0) {
        ssize_t n = send(fd, p, left, 0);
        if (n == -1) {
            /* A signal arrived before anything was sent: nothing is lost, try again. */
            if (errno == EINTR)
                continue;
            return -1;
        }
        p += n;
        left -= (size_t)n;
    }
    return (ssize_t)len;
}

/* Record "call ADDR:PORT: reason" for the caller, keeping errno intact. */
static void set_err(char *err, size_t errlen, const char *call,
                    const struct addrinfo *ai)
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
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = flags;
    rc = getaddrinfo(host, port, &hints, res);
    if (rc != 0) {
        snprintf(err, errlen, "getaddrinfo %s:%s: %s", host ? host : "*", port,
                 gai_strerror(rc));
        errno = (rc == EAI_SYSTEM) ? errno : EINVAL;
        return -1;
    }
    return 0;
}

/* One address of the listen loop; -1 leaves the reason in err. */
static int listen_on(const struct addrinfo *ai, int backlog, char *err, size_t errlen)
{
    int one = 1;
    int fd = socket(ai->ai_family, ai->ai_socktype, ai->ai_protocol);

    if (fd == -1) {
        set_err(err, errlen, "socket", ai);
        return -1;
    }
    if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) == -1) {
        set_err(err, errlen, "setsockopt SO_REUSEADDR", ai);
        goto error;
    }
    if (bind(fd, ai->ai_addr, ai->ai_addrlen) == -1) {
        set_err(err, errlen, "bind", ai);
        goto error;
    }
    if (listen(fd, backlog) == -1) {
        set_err(err, errlen, "listen", ai);
        goto error;
    }
    return fd;
error:
    close(fd);
    return -1;
}

int tcp_listen(const char *host, const char *port, int family, int backlog,
               char *err, size_t errlen)
{
    struct addrinfo *res, *ai;
    int fd = -1;

    if (resolve(host, port, family, AI_PASSIVE, &res, err, errlen) == -1)
        return -1;
    for (ai = res; ai != NULL; ai = ai->ai_next) {
        fd = listen_on(ai, backlog, err, errlen);
        if (fd != -1)
            break;
    }
    freeaddrinfo(res);
    return fd;
}

int tcp_connect(const char *host, const char *port, int family,
                char *err, size_t errlen)
{
    struct addrinfo *res, *ai;
    int fd = -1;

    if (resolve(host, port, family, 0, &res, err, errlen) == -1)
        return -1;
    for (ai = res; ai != NULL; ai = ai->ai_next) {
        fd = socket(ai->ai_family, ai->ai_socktype, ai->ai_protocol);
        if (fd == -1) {
            set_err(err, errlen, "socket", ai);
            continue;
        }
        if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0)
            break;
        set_err(err, errlen, "connect", ai);
        close(fd);
        fd = -1;
    }
    freeaddrinfo(res);
    return fd;
}
