/* sockutil.c: address formatting and argument parsing for every lab. */
/* Feature macros: POSIX.1-2008 only (getnameinfo, strtoul); nothing beyond it is used, so it
 * builds on glibc, musl and macOS alike. */
#ifndef _POSIX_C_SOURCE
#define _POSIX_C_SOURCE 200809L
#endif
#include "sockutil.h"

#include <ctype.h>
#include <errno.h>
#include <net/if.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *sockaddr_str(const struct sockaddr *sa, char *buf, size_t len)
{
    /* Numeric forms only, so POSIX's sizes suffice (NI_MAXHOST and NI_MAXSERV are BSD
     * extensions that strict POSIX hides): an IPv6 address, '%' and a scope's interface name;
     * a port number. */
    char host[INET6_ADDRSTRLEN + 1 + IF_NAMESIZE], serv[sizeof "65535"];
    socklen_t salen;

    if (sa->sa_family == AF_INET)
        salen = sizeof(struct sockaddr_in);
    else if (sa->sa_family == AF_INET6)
        salen = sizeof(struct sockaddr_in6);
    else {
        snprintf(buf, len, "?");
        return buf;
    }
    if (getnameinfo(sa, salen, host, sizeof host, serv, sizeof serv,
                    NI_NUMERICHOST | NI_NUMERICSERV) != 0) {
        snprintf(buf, len, "?");
        return buf;
    }
    /* Brackets keep the port apart from an IPv6 address's own colons (RFC 3986). */
    if (sa->sa_family == AF_INET6)
        snprintf(buf, len, "[%s]:%s", host, serv);
    else
        snprintf(buf, len, "%s:%s", host, serv);
    return buf;
}

const char *sockname_str(int fd, char *buf, size_t len)
{
    struct sockaddr_storage ss;
    socklen_t sslen = sizeof ss;

    if (getsockname(fd, (struct sockaddr *)&ss, &sslen) == -1)
        return NULL;
    return sockaddr_str((struct sockaddr *)&ss, buf, len);
}

int parse_uint(const char *text, unsigned long max, unsigned long *out)
{
    char *end;
    unsigned long v;

    /* strtoul would accept " 12" and "-1" (as a huge number): insist on digits only. */
    if (text == NULL || !isdigit((unsigned char)text[0]))
        return -1;
    errno = 0;
    v = strtoul(text, &end, 10);
    if (errno != 0 || *end != '\0' || v > max)
        return -1;
    *out = v;
    return 0;
}

int parse_port(const char *text, unsigned short *port)
{
    unsigned long v;

    if (parse_uint(text, 65535, &v) == -1)
        return -1;
    *port = (unsigned short)v;
    return 0;
}
