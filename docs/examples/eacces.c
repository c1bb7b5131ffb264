/* eacces.c: bind a privileged port as an ordinary user, and get EACCES. */
/*
 * Usage: eacces [PORT]
 *
 * Binds a TCP socket to 127.0.0.1:PORT (default 7, the echo port of RFC 862). Ports
 * below net.ipv4.ip_unprivileged_port_start (1024 by default) need the capability
 * CAP_NET_BIND_SERVICE, which root has and an ordinary user has not: for a user, bind()
 * fails with EACCES before it even looks at whether the port is free.
 *
 * Run it as an ordinary user. As root, drop the privilege first:
 *     setpriv --reuid=nobody --regid=nogroup --clear-groups build/eacces
 *
 * Exit codes: 1 after printing the error line (the error happened), 2 for a bad PORT,
 * 3 if bind() succeeded (the process had the capability).
 */
#include "example.h"
#include "sockutil.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static const char prog[] = "eacces";

/* The first port an unprivileged process may bind, from /proc (1024 if unreadable). */
static int unprivileged_port_start(void)
{
    FILE *f = fopen("/proc/sys/net/ipv4/ip_unprivileged_port_start", "r");
    int start = 1024;

    if (f != NULL) {
        if (fscanf(f, "%d", &start) != 1)
            start = 1024;
        fclose(f);
    }
    return start;
}

int main(int argc, char **argv)
{
    struct sockaddr_in addr;
    unsigned short port = 7;
    int fd, rc;

    if (argc > 2 || (argc == 2 && parse_port(argv[1], &port) == -1)) {
        fprintf(stderr, "usage: %s [PORT]\n", prog);
        return EX_USAGE;
    }
    fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd == -1)
        return setup_failed(prog, "socket");
    printf("ports below %d need CAP_NET_BIND_SERVICE; this process runs as uid %d\n",
           unprivileged_port_start(), (int)geteuid());
    fflush(stdout);
    memset(&addr, 0, sizeof addr);
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = htons(port);
    /* [catalog] */
    if (bind(fd, (struct sockaddr *)&addr, sizeof addr) == -1)
        rc = expect_errno(prog, "bind", &addr, EACCES);
    /* [catalog] */
    else
        rc = not_reproduced(prog, "bind() succeeded: this process may bind privileged ports "
                                  "(root?); run it as an ordinary user");
    close(fd);
    return rc;
}
