/* lab04_trace.c: the harness's own clock inside sockopt_lab (an LD_PRELOAD library). */
/*
 * Lab 04's tests must check every time the program prints against something the harness
 * observed itself. A single process plays both ends of each connection, so nothing
 * outside it sees when a round started or when its reply was read. This library,
 * preloaded by the tests (never part of a student's build), wraps the socket calls and
 * appends one line per call to the file named by SOCKLAB_TRACE:
 *
 *     PID CALL FD RET T0 T1
 *
 * with T0 and T1 the CLOCK_MONOTONIC readings (ns) just before and just after the real
 * call. A round that claims to start after its first send(), or to end before its reply
 * was read, then contradicts the harness's own timestamps. Every way to send (send,
 * sendto, sendmsg, write, writev) is logged as "send" and every way to receive as "recv";
 * read()/write() and their vector forms only for sockets, and so is close():
 * every socket() and accept() must meet its close() before the program exits.
 *
 * It needs _GNU_SOURCE for RTLD_NEXT. Under a statically linked sanitizer runtime
 * (clang's default) the program's own interceptors win and nothing is logged: the
 * tests then skip the checks that need the trace.
 */
#define _GNU_SOURCE 1
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

static int trace_fd = -1;
/* Created when a line could not be written (a full disk): the harness then ignores the trace. */
static char overflow_path[4096];

#define REAL(name) static __typeof__(name) *real_##name; \
    if (real_##name == NULL) real_##name = (__typeof__(name) *)dlsym(RTLD_NEXT, #name)

static long long mono_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

__attribute__((constructor)) static void trace_open(void)
{
    const char *path = getenv("SOCKLAB_TRACE");

    if (path != NULL && *path != '\0' && strlen(path) + sizeof ".overflow" <= sizeof overflow_path) {
        snprintf(overflow_path, sizeof overflow_path, "%s.overflow", path);
        trace_fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0666);
    }
}

static void real_close_quietly(int fd)
{
    REAL(close);
    if (real_close != NULL)
        real_close(fd);
}

/* One line per call, written with one write(): O_APPEND keeps lines of two processes whole. */
static void trace(const char *call, int fd, long ret, long long t0, long long t1)
{
    REAL(write);
    char line[128];
    int saved = errno, n;

    if (trace_fd == -1 || real_write == NULL)
        return;
    n = snprintf(line, sizeof line, "%ld %s %d %ld %lld %lld\n", (long)getpid(), call, fd, ret, t0, t1);
    if (n > 0 && (size_t)n < sizeof line && real_write(trace_fd, line, (size_t)n) != n) {
        int fd = open(overflow_path, O_WRONLY | O_CREAT | O_CLOEXEC, 0666);

        if (fd != -1)
            real_close_quietly(fd);
        trace_fd = -1;
    }
    errno = saved;
}

static int is_socket(int fd)
{
    struct stat st;
    int saved = errno, yes = fstat(fd, &st) == 0 && S_ISSOCK(st.st_mode);

    errno = saved;
    return yes;
}

ssize_t send(int fd, const void *buf, size_t len, int flags)
{
    REAL(send);
    long long t0 = mono_ns();
    ssize_t r = real_send(fd, buf, len, flags);
    trace("send", fd, (long)r, t0, mono_ns());
    return r;
}

ssize_t sendto(int fd, const void *buf, size_t len, int flags, const struct sockaddr *to, socklen_t tolen)
{
    REAL(sendto);
    long long t0 = mono_ns();
    ssize_t r = real_sendto(fd, buf, len, flags, to, tolen);
    trace("send", fd, (long)r, t0, mono_ns());
    return r;
}

ssize_t recv(int fd, void *buf, size_t len, int flags)
{
    REAL(recv);
    long long t0 = mono_ns();
    ssize_t r = real_recv(fd, buf, len, flags);
    trace("recv", fd, (long)r, t0, mono_ns());
    return r;
}

ssize_t recvfrom(int fd, void *buf, size_t len, int flags, struct sockaddr *from, socklen_t *fromlen)
{
    REAL(recvfrom);
    long long t0 = mono_ns();
    ssize_t r = real_recvfrom(fd, buf, len, flags, from, fromlen);
    trace("recv", fd, (long)r, t0, mono_ns());
    return r;
}

ssize_t write(int fd, const void *buf, size_t len)
{
    REAL(write);
    long long t0 = mono_ns();
    ssize_t r = real_write(fd, buf, len);
    if (fd > 2 && fd != trace_fd && is_socket(fd))
        trace("send", fd, (long)r, t0, mono_ns());
    return r;
}

ssize_t read(int fd, void *buf, size_t len)
{
    REAL(read);
    long long t0 = mono_ns();
    ssize_t r = real_read(fd, buf, len);
    if (fd > 2 && is_socket(fd))
        trace("recv", fd, (long)r, t0, mono_ns());
    return r;
}

ssize_t sendmsg(int fd, const struct msghdr *msg, int flags)
{
    REAL(sendmsg);
    long long t0 = mono_ns();
    ssize_t r = real_sendmsg(fd, msg, flags);
    trace("send", fd, (long)r, t0, mono_ns());
    return r;
}

ssize_t recvmsg(int fd, struct msghdr *msg, int flags)
{
    REAL(recvmsg);
    long long t0 = mono_ns();
    ssize_t r = real_recvmsg(fd, msg, flags);
    trace("recv", fd, (long)r, t0, mono_ns());
    return r;
}

ssize_t writev(int fd, const struct iovec *iov, int n)
{
    REAL(writev);
    long long t0 = mono_ns();
    ssize_t r = real_writev(fd, iov, n);
    if (fd > 2 && fd != trace_fd && is_socket(fd))
        trace("send", fd, (long)r, t0, mono_ns());
    return r;
}

ssize_t readv(int fd, const struct iovec *iov, int n)
{
    REAL(readv);
    long long t0 = mono_ns();
    ssize_t r = real_readv(fd, iov, n);
    if (fd > 2 && is_socket(fd))
        trace("recv", fd, (long)r, t0, mono_ns());
    return r;
}

int connect(int fd, const struct sockaddr *sa, socklen_t len)
{
    REAL(connect);
    long long t0 = mono_ns();
    int r = real_connect(fd, sa, len);
    trace("connect", fd, r, t0, mono_ns());
    return r;
}

int accept(int fd, struct sockaddr *sa, socklen_t *len)
{
    REAL(accept);
    long long t0 = mono_ns();
    int r = real_accept(fd, sa, len);
    trace("accept", fd, r, t0, mono_ns());
    return r;
}

int accept4(int fd, struct sockaddr *sa, socklen_t *len, int flags)
{
    REAL(accept4);
    long long t0 = mono_ns();
    int r = real_accept4(fd, sa, len, flags);
    trace("accept", fd, r, t0, mono_ns());
    return r;
}

int shutdown(int fd, int how)
{
    REAL(shutdown);
    long long t0 = mono_ns();
    int r = real_shutdown(fd, how);
    trace("shutdown", fd, r, t0, mono_ns());
    return r;
}

int socket(int domain, int type, int protocol)
{
    REAL(socket);
    long long t0 = mono_ns();
    int r = real_socket(domain, type, protocol);
    trace("socket", r, r, t0, mono_ns());
    return r;
}

/* Logged only for sockets: the tests check that every socket opened is closed again. */
int close(int fd)
{
    REAL(close);
    long long t0 = mono_ns();
    int sock = fd > 2 && fd != trace_fd && is_socket(fd);
    int r = real_close(fd);
    if (sock)
        trace("close", fd, r, t0, mono_ns());
    return r;
}

int setsockopt(int fd, int level, int name, const void *value, socklen_t len)
{
    REAL(setsockopt);
    long long t0 = mono_ns();
    int r = real_setsockopt(fd, level, name, value, len);
    trace("setsockopt", fd, r, t0, mono_ns());
    return r;
}
