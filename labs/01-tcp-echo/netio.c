/* netio.c: Lab 01's socket helpers (see netio.h). Your work: the gaps marked TODO(student), handout §4. */
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
    /* TODO(student): loop until all len bytes are sent. send() may send fewer bytes than
     * asked (a partial send) and may fail with EINTR: retry both. (SIGPIPE is ignored.)
     * Return len, or -1 with errno set. See handout §4.2. */
    (void)fd; (void)buf; (void)len;
    errno = ENOSYS;
    return -1;
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
    /* TODO(student): socket(), setsockopt(SO_REUSEADDR) before bind(), bind(), listen().
     * On each failure: set_err(err, errlen, "bind", ai) (or "socket", ...), close the
     * socket, return -1. Return the listening fd on success. See handout §4.1 and §2.3. */
    (void)ai; (void)backlog;
    (void)set_err; /* you will call it */
    snprintf(err, errlen, "listen_on: not written yet (TODO in netio.c, handout §4.1)");
    errno = ENOSYS;
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
    /* TODO(student): resolve() the host, then for each address: socket(), connect();
     * break on success; on failure set_err(err, errlen, "connect", ai), close and go on.
     * freeaddrinfo() on every path. See handout §4.1. */
    (void)host; (void)port; (void)family;
    snprintf(err, errlen, "tcp_connect: not written yet (TODO in netio.c, handout §4.1)");
    errno = ENOSYS;
    return -1;
}
