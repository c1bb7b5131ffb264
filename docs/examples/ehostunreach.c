/* ehostunreach.c: connect to a host that a route marks unreachable: EHOSTUNREACH. */
/*
 * Usage: ehostunreach
 *
 * First moves itself into a new, empty network namespace (see private_network() in
 * example.c): its only interface is lo, so no packet can leave the machine. There it
 * adds the route `ip route add unreachable 192.0.2.0/24` (with the SIOCADDRT ioctl and
 * RTF_REJECT), then connects to 192.0.2.1 (TEST-NET-1, RFC 5737). The route says the
 * host cannot be reached, and connect() fails at once with EHOSTUNREACH.
 *
 * On a real network the same error comes after a few seconds when a host on the local
 * network does not answer ARP, or when a router sends back an ICMP "host unreachable".
 *
 * Needs root or unprivileged user namespaces (Debian's default). Without them it exits 3
 * and sends nothing.
 *
 * Exit codes: 1 after printing the error line (the error happened), 3 if it did not.
 */
#include "example.h"

#include <arpa/inet.h>
#include <errno.h>
#include <net/route.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

static const char prog[] = "ehostunreach";

static void set_ipv4(struct sockaddr *sa, const char *text)
{
    struct sockaddr_in *sin = (struct sockaddr_in *)sa;

    memset(sin, 0, sizeof *sin);
    sin->sin_family = AF_INET;
    inet_pton(AF_INET, text, &sin->sin_addr);
}

/* `ip route add unreachable NET/24`, the old way: ioctl(SIOCADDRT) with RTF_REJECT. */
static int add_unreachable_route(const char *net)
{
    struct rtentry rt;
    char dev[] = "lo";
    int rc, fd = socket(AF_INET, SOCK_DGRAM, 0);

    if (fd == -1)
        return -1;
    memset(&rt, 0, sizeof rt);
    set_ipv4(&rt.rt_dst, net);
    set_ipv4(&rt.rt_genmask, "255.255.255.0");
    rt.rt_flags = RTF_UP | RTF_REJECT;
    rt.rt_dev = dev;
    rc = ioctl(fd, SIOCADDRT, &rt);
    close(fd);
    return rc;
}

int main(void)
{
    struct sockaddr_in addr;
    int fd, rc;

    /* Never aim at a non-loopback address outside a namespace of our own. */
    if (private_network(prog) == -1)
        return EX_NOT_REPRODUCED;
    if (add_unreachable_route("192.0.2.0") == -1)
        return setup_failed(prog, "ioctl SIOCADDRT unreachable 192.0.2.0/24");
    printf("in a new network namespace: route 192.0.2.0/24 is 'unreachable'\n");
    fflush(stdout);
    set_ipv4((struct sockaddr *)&addr, "192.0.2.1");
    addr.sin_port = htons(9);
    /* [catalog] */
    fd = connect_to(&addr);
    if (fd == -1)
        rc = expect_errno(prog, "connect", &addr, EHOSTUNREACH);
    /* [catalog] */
    else {
        rc = not_reproduced(prog, "connect() succeeded");
        close(fd);
    }
    return rc;
}
