/* echo_client.c: send stdin to a TCP echo server and print what comes back. */
/*
 * Usage: echo_client [-4|-6] HOST PORT
 *
 * Whatever arrives on stdin is sent as soon as it is read (a line typed at a
 * terminal goes out at once), and every byte the server returns is written to
 * stdout unchanged. At the end of stdin the client half-closes the connection
 * (shutdown SHUT_WR), reads the rest of the echo and exits.
 *
 * Sending and receiving interleave in one poll() loop, so an input larger than
 * the socket buffers cannot deadlock (handout §4.4).
 *
 * Exit codes: 0 when the whole echo came back, 1 on a network error or when the
 * server closed before echoing everything, 2 for bad arguments.
 */
#define _POSIX_C_SOURCE 200809L
#include "netio.h"
#include "sockutil.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define PROG "echo_client"
#define BUFSIZE 65536

/* Bytes read from stdin and not yet sent: the client reads more only when it is empty. */
struct outbuf {
    char data[BUFSIZE];
    size_t len;
    size_t off;
};

struct session {
    int sock;
    struct outbuf out;
    int stdin_open;
    long long sent;
    long long received;
};

static void usage(void)
{
    fprintf(stderr, "usage: %s [-4|-6] HOST PORT\n", PROG);
}

/* Write all of buf to stdout; stdout may be a pipe that takes it piecewise. */
static int write_stdout(const char *buf, size_t len)
{
    while (len > 0) {
        ssize_t n = write(STDOUT_FILENO, buf, len);
        if (n == -1) {
            if (errno == EINTR)
                continue;
            fprintf(stderr, "%s: write stdout: %s\n", PROG, strerror(errno));
            return -1;
        }
        buf += n;
        len -= (size_t)n;
    }
    return 0;
}

/* stdin is readable: take one chunk, or half-close the connection at EOF. */
static int on_stdin(struct session *s)
{
    ssize_t n = read(STDIN_FILENO, s->out.data, sizeof s->out.data);

    if (n == -1) {
        if (errno == EINTR)
            return 0;
        fprintf(stderr, "%s: read stdin: %s\n", PROG, strerror(errno));
        return -1;
    }
    if (n == 0) {
        s->stdin_open = 0;
        /* SHUT_WR sends FIN: "no more requests", while the echo can still flow back. */
        if (shutdown(s->sock, SHUT_WR) == -1) {
            fprintf(stderr, "%s: shutdown: %s\n", PROG, strerror(errno));
            return -1;
        }
        return 0;
    }
    s->out.len = (size_t)n;
    s->out.off = 0;
    return 0;
}

/* The socket can take more: send what it takes now and keep the rest for later. */
static int on_writable(struct session *s)
{
    ssize_t n = send(s->sock, s->out.data + s->out.off, s->out.len - s->out.off, 0);

    if (n == -1) {
        if (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK)
            return 0;
        fprintf(stderr, "%s: send: %s\n", PROG, strerror(errno));
        return -1;
    }
    s->out.off += (size_t)n;
    s->sent += n;
    if (s->out.off == s->out.len)
        s->out.len = s->out.off = 0;
    return 0;
}

/* The socket has data or EOF: 1 at EOF, 0 to go on, -1 on error. */
static int on_readable(struct session *s)
{
    char buf[BUFSIZE];
    ssize_t n = recv(s->sock, buf, sizeof buf, 0);

    if (n == -1) {
        /* Non-blocking: EAGAIN is "nothing after all", a wake-up poll() may give. */
        if (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK)
            return 0;
        fprintf(stderr, "%s: recv: %s\n", PROG, strerror(errno));
        return -1;
    }
    if (n == 0)
        return 1;
    s->received += n;
    return write_stdout(buf, (size_t)n);
}

/*
 * Portable stand-ins for MSG_DONTWAIT and MSG_NOSIGNAL, which macOS lacks under POSIX: a
 * non-blocking socket, so that send() takes what fits and returns (§4.4); and SIGPIPE
 * ignored, so that writing to a closed connection fails with EPIPE instead of killing us.
 */
static int prepare_socket(int sock)
{
    struct sigaction sa;
    int flags = fcntl(sock, F_GETFL);

    if (flags == -1 || fcntl(sock, F_SETFL, flags | O_NONBLOCK) == -1)
        return -1;
    memset(&sa, 0, sizeof sa);
    sigemptyset(&sa.sa_mask);
    sa.sa_handler = SIG_IGN;
    return sigaction(SIGPIPE, &sa, NULL);
}

/* One poll() loop: read stdin only when the previous chunk is fully sent. */
static int run(struct session *s)
{
    for (;;) {
        struct pollfd pfd[2];
        int pending = s->out.len > 0, rc;

        pfd[0].fd = s->sock;
        pfd[0].events = POLLIN | (pending ? POLLOUT : 0);
        pfd[1].fd = (s->stdin_open && !pending) ? STDIN_FILENO : -1;
        pfd[1].events = POLLIN;
        if (poll(pfd, 2, -1) == -1) {
            if (errno == EINTR)
                continue;
            fprintf(stderr, "%s: poll: %s\n", PROG, strerror(errno));
            return -1;
        }
        if (pfd[0].revents & (POLLIN | POLLERR | POLLHUP)) {
            rc = on_readable(s);
            if (rc != 0)
                return rc == 1 ? 0 : -1;
        }
        if (pending && (pfd[0].revents & POLLOUT) && on_writable(s) == -1)
            return -1;
        if ((pfd[1].revents & (POLLIN | POLLHUP | POLLERR)) && on_stdin(s) == -1)
            return -1;
        /* Try the new chunk at once: the socket usually has room, which saves a poll() round. */
        if (!pending && s->out.len > 0 && on_writable(s) == -1)
            return -1;
    }
}

int main(int argc, char **argv)
{
    struct session s;
    int family = AF_UNSPEC, opt;
    unsigned short portnum;
    char err[NETIO_ERRLEN];

    while ((opt = getopt(argc, argv, "46")) != -1) {
        switch (opt) {
        case '4': family = AF_INET; break;
        case '6': family = AF_INET6; break;
        default: usage(); return 2;
        }
    }
    if (argc - optind != 2 || parse_port(argv[optind + 1], &portnum) == -1) {
        usage();
        return 2;
    }
    memset(&s, 0, sizeof s);
    s.stdin_open = 1;
    s.sock = tcp_connect(argv[optind], argv[optind + 1], family, err, sizeof err);
    if (s.sock == -1) {
        fprintf(stderr, "%s: %s\n", PROG, err);
        return 1;
    }
    if (prepare_socket(s.sock) == -1) {
        fprintf(stderr, "%s: fcntl/sigaction: %s\n", PROG, strerror(errno));
        close(s.sock);
        return 1;
    }
    if (run(&s) == -1) {
        close(s.sock);
        return 1;
    }
    close(s.sock);
    if (s.stdin_open || s.out.len > 0 || s.received != s.sent) {
        fprintf(stderr, "%s: server closed the connection after echoing %lld of %lld bytes\n",
                PROG, s.received, s.sent + (long long)(s.out.len - s.out.off));
        return 1;
    }
    return 0;
}
