/* eintr.c: a signal interrupts a blocked recv(), which fails with EINTR. */
/*
 * Usage: eintr
 *
 * A client blocks in recv() on a connection to a server on 127.0.0.1 that sends nothing.
 * One second later SIGALRM arrives (alarm(1)). Its handler was installed with
 * sigaction() WITHOUT SA_RESTART, so when the handler returns, recv() does not resume:
 * it fails with EINTR. That is how a server notices SIGINT or SIGTERM while it waits
 * (Lab 01's echo_server does exactly this). Everywhere else, EINTR means "call it again".
 *
 * With SA_RESTART, the kernel restarts recv() after the handler and the program would
 * block on. (signal() on glibc sets SA_RESTART.)
 *
 * Exit codes: 1 after printing the error line (the error happened), 3 if it did not.
 */
#include "example.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static const char prog[] = "eintr";

static volatile sig_atomic_t alarms;

static void on_alarm(int sig)
{
    (void)sig;
    alarms++;
}

int main(void)
{
    struct sockaddr_in addr;
    struct sigaction sa;
    char buf[64];
    int lfd, client, server, rc;

    lfd = listen_loopback(16, &addr);
    if (lfd == -1)
        return setup_failed(prog, "listen");
    client = connect_to(&addr);
    if (client == -1)
        return setup_failed(prog, "connect");
    server = accept(lfd, NULL, NULL);
    if (server == -1)
        return setup_failed(prog, "accept");
    /* [catalog] */
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_alarm;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = 0;                      /* no SA_RESTART */
    if (sigaction(SIGALRM, &sa, NULL) == -1)
        return setup_failed(prog, "sigaction");
    printf("recv() blocks; SIGALRM arrives in 1 s\n");
    fflush(stdout);
    alarm(1);
    if (recv(client, buf, sizeof buf, 0) == -1)
        rc = expect_errno(prog, "recv", &addr, EINTR);
    /* [catalog] */
    else
        rc = not_reproduced(prog, "recv() returned");
    close(server);
    close(client);
    close(lfd);
    return rc;
}
