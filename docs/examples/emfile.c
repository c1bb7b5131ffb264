/* emfile.c: a server with no file descriptor left: accept() fails with EMFILE. */
/*
 * Usage: emfile
 *
 * A server listens on 127.0.0.1, and a client connects. Then the server lowers its own
 * limit on open files (setrlimit(RLIMIT_NOFILE), `ulimit -n` in a shell) to exactly
 * the descriptors it already has, and calls accept(): there is no descriptor left for
 * the new connection, and accept() fails with EMFILE.
 *
 * The connection is still waiting in the listener's queue, so poll() keeps reporting
 * the listener readable: an event loop that only logs the error and goes round again
 * spins at 100% CPU. A server must close something, or stop polling the listener for a
 * while.
 *
 * Exit codes: 1 after printing the error line (the error happened), 3 if it did not.
 */
#include "example.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <sys/resource.h>
#include <unistd.h>

static const char prog[] = "emfile";

/* The lowest file descriptor number that is free (the one the next open would get). */
static int lowest_free_fd(void)
{
    int fd = fcntl(STDIN_FILENO, F_DUPFD, 0);

    if (fd != -1)
        close(fd);
    return fd;
}

int main(void)
{
    struct sockaddr_in addr;
    struct rlimit rl;
    struct pollfd pfd;
    int lfd, client, fd, rc;

    lfd = listen_loopback(16, &addr);
    if (lfd == -1)
        return setup_failed(prog, "listen");
    client = connect_to(&addr);
    if (client == -1)
        return setup_failed(prog, "connect");
    /* [catalog] */
    if (getrlimit(RLIMIT_NOFILE, &rl) == -1)
        return setup_failed(prog, "getrlimit RLIMIT_NOFILE");
    rl.rlim_cur = (rlim_t)lowest_free_fd();
    if (setrlimit(RLIMIT_NOFILE, &rl) == -1)
        return setup_failed(prog, "setrlimit RLIMIT_NOFILE");
    printf("RLIMIT_NOFILE is now %ld: descriptors 0 to %ld are all in use\n",
           (long)rl.rlim_cur, (long)rl.rlim_cur - 1);
    fflush(stdout);
    fd = accept(lfd, NULL, NULL);
    if (fd == -1)
        rc = expect_errno(prog, "accept", &addr, EMFILE);
    /* [catalog] */
    else {
        rc = not_reproduced(prog, "accept() succeeded");
        close(fd);
    }
    /* The client is still in the queue: poll() says "readable" again at once. */
    pfd.fd = lfd;
    pfd.events = POLLIN;
    if (rc == EX_REPRODUCED && poll(&pfd, 1, 0) == 1)
        printf("poll() still says the listener is readable: the client is still queued\n");
    close(client);
    close(lfd);
    return rc;
}
