/* example.c: loopback helpers and the error line for the error-catalog examples (see example.h). */
#define _GNU_SOURCE /* unshare() and CLONE_NEWNET are Linux extensions */
#include "example.h"
#include "sockutil.h"

#include <arpa/inet.h>
#include <errno.h>
#include <net/if.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

/* A TCP socket bound to 127.0.0.1 on an ephemeral port (port 0: the kernel picks a free one). */
int bind_loopback(struct sockaddr_in *addr)
{
    socklen_t len = sizeof *addr;
    int fd = socket(AF_INET, SOCK_STREAM, 0);

    if (fd == -1)
        return -1;
    memset(addr, 0, sizeof *addr);
    addr->sin_family = AF_INET;
    addr->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr->sin_port = 0;
    /* getsockname() tells us which port the kernel chose. */
    if (bind(fd, (struct sockaddr *)addr, sizeof *addr) == -1 ||
        getsockname(fd, (struct sockaddr *)addr, &len) == -1) {
        close(fd);
        return -1;
    }
    return fd;
}

/* A listening socket on 127.0.0.1:ephemeral; *addr gets its address. -1 with errno on failure. */
int listen_loopback(int backlog, struct sockaddr_in *addr)
{
    int fd = bind_loopback(addr);

    if (fd != -1 && listen(fd, backlog) == -1) {
        close(fd);
        return -1;
    }
    return fd;
}

/* A blocking TCP connect to addr; the socket, or -1 with errno. */
int connect_to(const struct sockaddr_in *addr)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);

    if (fd == -1)
        return -1;
    if (connect(fd, (const struct sockaddr *)addr, sizeof *addr) == -1) {
        int saved = errno;
        close(fd);
        errno = saved;
        return -1;
    }
    return fd;
}

/*
 * A call has just failed: print the kit's error line "prog: call ADDR:PORT: reason" and
 * return EX_REPRODUCED if errno is the one the example is about, EX_NOT_REPRODUCED if not.
 */
int expect_errno(const char *prog, const char *call, const struct sockaddr_in *addr, int want)
{
    int got = errno;
    char where[SOCKADDR_STRLEN];

    if (addr != NULL)
        fprintf(stderr, "%s: %s %s: %s\n", prog, call,
                sockaddr_str((const struct sockaddr *)addr, where, sizeof where), strerror(got));
    else
        fprintf(stderr, "%s: %s: %s\n", prog, call, strerror(got));
    if (got == want)
        return EX_REPRODUCED;
    fprintf(stderr, "%s: expected \"%s\", got another error\n", prog, strerror(want));
    return EX_NOT_REPRODUCED;
}

/* The call that should have failed succeeded (or the setup failed): say so. */
int not_reproduced(const char *prog, const char *what)
{
    fprintf(stderr, "%s: not reproduced: %s\n", prog, what);
    return EX_NOT_REPRODUCED;
}

/* A call that prepares the scene failed: print "prog: call: reason"; the example proves nothing. */
int setup_failed(const char *prog, const char *call)
{
    fprintf(stderr, "%s: %s: %s\n", prog, call, strerror(errno));
    return EX_NOT_REPRODUCED;
}

/*
 * Move this process into a new, empty network namespace and bring its lo up.
 *
 * A new namespace has one interface, lo, and no routes but its own: nothing sent in it
 * can leave the machine. As root, unshare(CLONE_NEWNET) is enough; an ordinary user
 * first needs a user namespace of its own, where it holds CAP_NET_ADMIN.
 * Returns 0, or -1 after printing why (the caller then exits EX_NOT_REPRODUCED).
 */
int private_network(const char *prog)
{
    struct ifreq ifr;
    int fd;

    if (unshare(CLONE_NEWNET) == -1 && unshare(CLONE_NEWUSER | CLONE_NEWNET) == -1) {
        fprintf(stderr, "%s: unshare CLONE_NEWNET: %s (run as root, or allow user namespaces)\n",
                prog, strerror(errno));
        return -1;
    }
    fd = socket(AF_INET, SOCK_DGRAM, 0);
    if (fd == -1) {
        fprintf(stderr, "%s: socket: %s\n", prog, strerror(errno));
        return -1;
    }
    /* `ip link set lo up`: a new namespace's lo starts down. */
    memset(&ifr, 0, sizeof ifr);
    snprintf(ifr.ifr_name, sizeof ifr.ifr_name, "lo");
    if (ioctl(fd, SIOCGIFFLAGS, &ifr) == -1)
        goto error;
    ifr.ifr_flags |= IFF_UP;
    if (ioctl(fd, SIOCSIFFLAGS, &ifr) == -1)
        goto error;
    close(fd);
    return 0;
error:
    fprintf(stderr, "%s: ioctl lo up: %s\n", prog, strerror(errno));
    close(fd);
    return -1;
}
