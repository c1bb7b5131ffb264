/* example.h: what the error-catalog examples share: loopback sockets, the error line, exit codes. */
/*
 * Every example reproduces one errno value on purpose and then behaves like a lab
 * program that met it: it prints "prog: call ADDR:PORT: reason" on stderr and exits 1.
 * See docs/errors.md, the error catalog, for what each example shows.
 */
#ifndef SOCKLAB_EXAMPLE_H
#define SOCKLAB_EXAMPLE_H

#include <netinet/in.h>
#include <sys/socket.h>

/** Exit code: the error happened, and the line on stderr names it (as a lab program exits). */
#define EX_REPRODUCED 1
/** Exit code: bad arguments. */
#define EX_USAGE 2
/** Exit code: the error did NOT happen; a line on stderr says what happened instead. */
#define EX_NOT_REPRODUCED 3

int listen_loopback(int backlog, struct sockaddr_in *addr);
int bind_loopback(struct sockaddr_in *addr);
int connect_to(const struct sockaddr_in *addr);
int expect_errno(const char *prog, const char *call, const struct sockaddr_in *addr, int want);
int not_reproduced(const char *prog, const char *what);
int setup_failed(const char *prog, const char *call);
int private_network(const char *prog);

#endif
