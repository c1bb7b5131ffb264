/* chat_load.c: many line-chat clients on one epoll loop, to time a chat server. */
/*
 * Usage: chat_load [-d SECONDS] [-w WINDOW] MODE HOST PORT N [ARGS]
 *
 *   join N             N clients connect, at most WINDOW of them (default 8) joining at
 *                      a time: below ncat's listen backlog of 10, so that no SYN is
 *                      dropped and retried a second later.
 *                      A client has joined when the first line from the server reaches
 *                      it. Then the last client sends a line, and the time stops when
 *                      every other client has it: all are in, and the server has written
 *                      everything the joins made it say.
 *   rate N ROUNDS      N clients join (not timed); then each sends ROUNDS short lines,
 *                      one per send(), at most 4 rounds ahead of what it has received
 *                      (every other client's line of a round); delivered lines per second.
 *   bcast N COUNT      one sender and N receivers join; COUNT times, the sender sends
 *                      one line and the time runs until the last receiver has it.
 *   slow N COUNT SIZE  one sender, N - 2 readers, and one client that never reads
 *                      (SO_RCVBUF 4096). The sender sends COUNT lines of SIZE bytes,
 *                      each when the readers have the previous one; latency as for
 *                      bcast. A line that some reader still lacks after 1 s is a stall,
 *                      and the run ends there.
 *
 * It works with any server that sends each newcomer a line first and relays a line
 * of text to every other client with a prefix ("<nick> text", as socklab's chat_server
 * and `ncat --chat` do): the lines it sends end in a token such as "@b17" and it
 * looks only at the last word of each line it receives.
 *
 * Output, one line on stdout of key=value pairs, times in microseconds or seconds:
 *   join:  clients= seconds= join_p50_us= join_p99_us= refused=
 *   rate:  clients= delivered= seconds= per_s=
 *   bcast, slow: sent= p50_us= p99_us= max_us= each_p50_us= stalled= [slow_client=]
 * plus "error=..." when the run could not finish (the server closed connections, or
 * the -d deadline, default 60 s, passed).
 *
 * Exit codes: 0 when the run finished, 1 when it could not, 2 for bad arguments.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#define PROG "chat_load"
#define JOIN_WINDOW 8      /* the default of -w */
#define RATE_DEPTH 4
#define KEEP 256          /* the tail of a line kept: enough for every token we send */
#define STALL_S 1.0

struct cl {
    int fd;
    int greeted;          /* the first line has come */
    int dead;             /* EOF or error */
    int refused;          /* its first line started with '!' */
    int reading;
    int settled;          /* greeted or dead: counted once in nsettled */
    char part[KEEP];      /* the tail of the line being received */
    size_t plen;
    long msgs;            /* "@m" lines received */
    long seq;             /* the last "@bN" seen */
    double t_connect, t_greet, t_seq;
    int got_q;
};

static struct cl *cls;
static int epfd, nsettled, nq, ndead, join_window = JOIN_WINDOW;
static long long total_msgs;
static double deadline;
static struct addrinfo *server_ai;
static char rbuf[1 << 18];

static double now_s(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;

    return (x > y) - (x < y);
}

static double pct(double *v, long n, int p)
{
    if (n == 0)
        return -1;
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    return v[(n * p) / 100 < n ? (n * p) / 100 : n - 1];
}

static void fail(const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    printf("error=");
    vprintf(fmt, ap);
    printf("\n");
    va_end(ap);
    exit(1);
}

static void on_line(struct cl *c, const char *line, size_t len, double t)
{
    const char *tok = line;

    for (size_t i = len; i > 0; i--) {
        if (line[i - 1] == ' ') {
            tok = line + i;
            break;
        }
    }
    if (!c->greeted) {
        c->greeted = 1;
        c->t_greet = t;
        nsettled += !c->settled;
        c->settled = 1;
        if (len > 0 && line[0] == '!')
            c->refused = 1;
        return;
    }
    if (line + len - tok < 2 || tok[0] != '@')
        return;
    if (tok[1] == 'm') {
        c->msgs++;
        total_msgs++;
    } else if (tok[1] == 'b') {
        c->seq = strtol(tok + 2, NULL, 10);
        c->t_seq = t;
    } else if (tok[1] == 'Q' && !c->got_q) {
        c->got_q = 1;
        nq++;
    }
}

/* Split received bytes into lines; of a line longer than KEEP only its tail is kept. */
static void on_data(struct cl *c, const char *p, size_t n, double t)
{
    while (n > 0) {
        const char *lf = memchr(p, '\n', n);
        size_t seg = lf ? (size_t)(lf - p) : n;
        const char *tail = seg > KEEP ? p + seg - KEEP : p;
        size_t take = seg > KEEP ? KEEP : seg;

        if (c->plen + take > KEEP) {
            size_t keep = KEEP - take;

            memmove(c->part, c->part + c->plen - keep, keep);
            c->plen = keep;
        }
        memcpy(c->part + c->plen, tail, take);
        c->plen += take;
        if (lf == NULL)
            return;
        on_line(c, c->part, c->plen, t);
        c->plen = 0;
        p = lf + 1;
        n -= seg + 1;
    }
}

static void on_readable(struct cl *c)
{
    ssize_t n = recv(c->fd, rbuf, sizeof rbuf, 0);

    if (n > 0) {
        on_data(c, rbuf, (size_t)n, now_s());
    } else if (n == 0 || (errno != EAGAIN && errno != EINTR)) {
        c->dead = 1;
        ndead += !c->refused;   /* a refused client is closed by design */
        nsettled += !c->settled;
        c->settled = 1;
        epoll_ctl(epfd, EPOLL_CTL_DEL, c->fd, NULL);
    }
}

/* One epoll_wait() of at most timeout_ms, then one recv() on every ready client. */
static void pump(int timeout_ms)
{
    struct epoll_event ev[256];
    int n;

    if (now_s() > deadline)
        fail("deadline passed (%d clients had joined)", nsettled);
    n = epoll_wait(epfd, ev, 256, timeout_ms);
    if (n == -1 && errno != EINTR)
        fail("epoll_wait: %s", strerror(errno));
    for (int i = 0; i < n; i++)
        on_readable(&cls[ev[i].data.u32]);
}

static void set_reading(struct cl *c, int on)
{
    struct epoll_event ev = { .events = EPOLLIN, .data.u32 = (uint32_t)(c - cls) };

    if (on == c->reading || c->dead)
        return;
    epoll_ctl(epfd, on ? EPOLL_CTL_ADD : EPOLL_CTL_DEL, c->fd, &ev);
    c->reading = on;
}

static void connect_client(struct cl *c, int rcvbuf)
{
    /* A connect() whose SYN the server's full listen queue dropped is retried by the kernel
     * for minutes: give up after 5 s (Linux bounds a blocking connect by SO_SNDTIMEO). */
    struct timeval tv = { .tv_sec = 5 }, none = { .tv_sec = 0 };
    int one = 1;

    c->fd = socket(server_ai->ai_family, SOCK_STREAM, 0);
    if (c->fd == -1)
        fail("socket: %s (raise ulimit -n)", strerror(errno));
    if (rcvbuf > 0)
        setsockopt(c->fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf);
    setsockopt(c->fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    c->t_connect = now_s();
    if (connect(c->fd, server_ai->ai_addr, server_ai->ai_addrlen) == -1)
        fail("connect: %s after %d clients had connected", errno == EINPROGRESS ?
             "no answer in 5 s (the listen queue is full?)" : strerror(errno), (int)(c - cls));
    setsockopt(c->fd, SOL_SOCKET, SO_SNDTIMEO, &none, sizeof none);
    setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    fcntl(c->fd, F_SETFL, fcntl(c->fd, F_GETFL) | O_NONBLOCK);
    c->seq = -1;
    set_reading(c, 1);
}

static void send_line(struct cl *c, const char *line, size_t len)
{
    ssize_t n = send(c->fd, line, len, MSG_NOSIGNAL);

    if (n != (ssize_t)len)
        fail("send: %s", n == -1 ? strerror(errno) : "short send");
}

/* Connect clients [0, n) with at most join_window joining at once; returns when all have settled. */
static void join(int n, int slow_last)
{
    int next = 0;

    while (nsettled < n) {
        if (ndead > 0)
            fail("the server dropped its clients (%d closed so far) after %d had connected", ndead, next);
        if (now_s() > deadline)
            fail("deadline passed with %d of %d clients joined", nsettled, n);
        while (next < n && next - nsettled < join_window) {
            connect_client(&cls[next], slow_last && next == n - 1 ? 4096 : 0);
            next++;
        }
        pump(100);
    }
}

/*
 * The last client that joined sends a marker; wait until every other live reader has it.
 * Clients [0, n) only; a refused or closed client neither sends nor waits.
 */
static void quiesce(int n)
{
    int want = 0, from = n - 1;

    while (from >= 0 && (cls[from].dead || cls[from].refused))
        from--;
    if (from < 0)
        fail("no client is left to talk");
    for (int i = 0; i < n; i++)
        want += i != from && !cls[i].dead && !cls[i].refused && cls[i].reading;
    send_line(&cls[from], "@Q\n", 3);
    while (nq < want) {
        pump(100);
        if (ndead > 0)
            fail("%d clients were disconnected", ndead);
    }
}

static int run_join(int n)
{
    double t0 = now_s(), t1, *lat = calloc((size_t)n, sizeof *lat);
    int refused = 0;
    long k = 0;

    join(n, 0);
    quiesce(n);
    t1 = now_s();
    for (int i = 0; i < n; i++) {
        refused += cls[i].refused;
        if (!cls[i].refused && !cls[i].dead)
            lat[k++] = (cls[i].t_greet - cls[i].t_connect) * 1e6;
    }
    printf("clients=%d seconds=%.6f join_p50_us=%.1f join_p99_us=%.1f refused=%d\n", n, t1 - t0,
           pct(lat, k, 50), pct(lat, k, 99), refused);
    return 0;
}

static int run_rate(int n, long rounds)
{
    long *sent = calloc((size_t)n, sizeof *sent);
    long long want = (long long)rounds * n * (n - 1);
    double t0, t1;

    join(n, 0);
    quiesce(n);
    total_msgs = 0;
    for (int i = 0; i < n; i++)
        cls[i].msgs = 0;
    t0 = now_s();
    while (total_msgs < want) {
        for (int i = 0; i < n; i++) {
            struct cl *c = &cls[i];

            if (sent[i] < rounds && c->msgs >= (sent[i] - RATE_DEPTH) * (n - 1)) {
                send_line(c, "@m\n", 3);
                sent[i]++;
            }
        }
        pump(100);
        if (ndead > 0)
            fail("%d clients were disconnected", ndead);
    }
    t1 = now_s();
    printf("clients=%d delivered=%lld seconds=%.6f per_s=%.0f\n", n, total_msgs, t1 - t0,
           (double)total_msgs / (t1 - t0));
    return 0;
}

/*
 * Client 0 sends COUNT lines of SIZE bytes, one at a time; clients [1, last] read.
 * With slow, the client n - 1 joined but never reads.
 */
static int run_bcast(int n, long count, size_t size, int slow)
{
    int last = slow ? n - 2 : n - 1;
    double *worst = calloc((size_t)count, sizeof *worst);
    double *each = calloc((size_t)count * (size_t)n, sizeof *each);
    char *line = malloc(size + 32);
    long k = 0, ne = 0, sent = 0;
    int stalled = 0;

    if (worst == NULL || each == NULL || line == NULL)
        fail("out of memory");
    join(n, slow);
    if (slow)
        set_reading(&cls[n - 1], 0);
    quiesce(slow ? n - 1 : n);
    for (long s = 0; s < count && !stalled; s++) {
        size_t pad = size > 24 ? size - 24 : 0;
        double t0, stop;
        int have;

        memset(line, 'x', pad);
        int len = (int)pad + snprintf(line + pad, 32, " @b%ld\n", s);
        t0 = now_s();
        send_line(&cls[0], line, (size_t)len);
        sent++;
        stop = t0 + STALL_S;
        do {
            pump(10);
            have = 0;
            for (int i = 1; i <= last; i++)
                have += cls[i].seq >= s;
            if (ndead > 0)
                fail("%d readers were disconnected", ndead);
        } while (have < last && now_s() < stop);
        if (have < last) {
            stalled = 1;
            break;
        }
        worst[k] = 0;
        for (int i = 1; i <= last; i++) {
            double d = (cls[i].t_seq - t0) * 1e6;
            each[ne++] = d;
            if (d > worst[k])
                worst[k] = d;
        }
        k++;
    }
    printf("sent=%ld delivered=%ld p50_us=%.1f p99_us=%.1f", sent, k, pct(worst, k, 50), pct(worst, k, 99));
    printf(" max_us=%.1f each_p50_us=%.1f stalled=%d", k ? worst[k - 1] : -1.0, pct(each, ne, 50), stalled);
    if (slow) {
        /* Did the server drop the client that stopped reading? Read it until EOF, or
         * until it has been quiet for 0.2 s: then the server still holds it. */
        struct pollfd pfd = { .fd = cls[n - 1].fd, .events = POLLIN };
        const char *state = "connected";

        while (poll(&pfd, 1, 200) == 1) {
            ssize_t r = recv(pfd.fd, rbuf, sizeof rbuf, 0);
            if (r == 0 || (r == -1 && errno != EAGAIN && errno != EINTR)) {
                state = "disconnected";
                break;
            }
            if (now_s() > deadline)
                break;
        }
        printf(" slow_client=%s", state);
    }
    printf("\n");
    return 0;
}

int main(int argc, char **argv)
{
    struct addrinfo hints;
    struct rlimit rl;
    double seconds = 60;
    const char *mode;
    int opt, n, rc;

    while ((opt = getopt(argc, argv, "d:w:")) != -1) {
        if (opt == 'd')
            seconds = strtod(optarg, NULL);
        else if (opt == 'w')
            join_window = atoi(optarg);
        else
            goto usage;
    }
    if (join_window < 1)
        goto usage;
    if (argc - optind < 4)
        goto usage;
    mode = argv[optind];
    n = atoi(argv[optind + 3]);
    if (n < 2 || n > 100000)
        goto usage;
    /* One fd per client: take the whole hard limit. */
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
    memset(&hints, 0, sizeof hints);
    hints.ai_socktype = SOCK_STREAM;
    rc = getaddrinfo(argv[optind + 1], argv[optind + 2], &hints, &server_ai);
    if (rc != 0) {
        fprintf(stderr, "%s: getaddrinfo: %s\n", PROG, gai_strerror(rc));
        return 1;
    }
    cls = calloc((size_t)n + 1, sizeof *cls);   /* bcast adds the sender */
    epfd = epoll_create1(0);
    if (cls == NULL || epfd == -1) {
        fprintf(stderr, "%s: setup: %s\n", PROG, strerror(errno));
        return 1;
    }
    deadline = now_s() + seconds;
    if (strcmp(mode, "join") == 0 && argc - optind == 4)
        return run_join(n);
    if (strcmp(mode, "rate") == 0 && argc - optind == 5)
        return run_rate(n, atol(argv[optind + 4]));
    if (strcmp(mode, "bcast") == 0 && argc - optind == 5)
        return run_bcast(n + 1, atol(argv[optind + 4]), 16, 0);
    if (strcmp(mode, "slow") == 0 && argc - optind == 6 && n >= 3)
        return run_bcast(n, atol(argv[optind + 4]), (size_t)atol(argv[optind + 5]), 1);

usage:
    fprintf(stderr, "usage: %s [-d SECONDS] [-w WINDOW] join|rate|bcast|slow HOST PORT N [ROUNDS|COUNT [SIZE]]\n",
            PROG);
    return 2;
}
