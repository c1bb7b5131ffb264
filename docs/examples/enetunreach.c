/* enetunreach.c: connect to an address the routing table has no route for: ENETUNREACH. */
/*
 * Usage: enetunreach
 *
 * First moves itself into a new, empty network namespace (see private_network() in
 * example.c): its only interface is lo, so no packet can leave the machine. Its routing
 * table knows 127.0.0.0/8 and nothing else: no default route. A connect() to
 * 192.0.2.1 (TEST-NET-1, an address reserved for documentation by RFC 5737) finds no
 * route and fails at once with ENETUNREACH, before any packet is sent. A laptop with
 * its network unplugged answers the same way.
 *
 * Needs root or unprivileged user namespaces (Debian's default). Without them it exits 3
 * and sends nothing.
 *
 * Exit codes: 1 after printing the error line (the error happened), 3 if it did not.
 */
#include "example.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static const char prog[] = "enetunreach";

int main(void)
{
    struct sockaddr_in addr;
    int fd, rc;

    /* Never aim at a non-loopback address outside a namespace of our own. */
    if (private_network(prog) == -1)
        return EX_NOT_REPRODUCED;
    printf("in a new network namespace: only lo, and no default route\n");
    fflush(stdout);
    memset(&addr, 0, sizeof addr);
    addr.sin_family = AF_INET;
    addr.sin_port = htons(9);
    inet_pton(AF_INET, "192.0.2.1", &addr.sin_addr);
    /* [catalog] */
    fd = connect_to(&addr);
    if (fd == -1)
        rc = expect_errno(prog, "connect", &addr, ENETUNREACH);
    /* [catalog] */
    else {
        rc = not_reproduced(prog, "connect() succeeded");
        close(fd);
    }
    return rc;
}
