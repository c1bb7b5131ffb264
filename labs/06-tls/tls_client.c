/* tls_client.c: an echo client over TLS that checks whom it is talking to. */
/*
 * Usage: tls_client [-4|-6] [--ca FILE] [--servername NAME] [--insecure] HOST PORT
 *
 * Connects to HOST:PORT, performs the TLS handshake (TLS 1.2 at least) with SNI, and
 * verifies the server's certificate chain against the CA certificates of --ca FILE (PEM;
 * default: the system's store) and the certificate's names against NAME (default: HOST).
 * NAME is sent as SNI unless it is an IP address (RFC 6066 §3). On success it prints the
 * session on stderr (handout §3.4):
 *
 *   version: TLSv1.3
 *   cipher: TLS_AES_256_GCM_SHA384
 *   subject: CN=localhost
 *   issuer: CN=socklab test CA
 *   expires: Dec 30 12:00:00 2027 GMT
 *
 * then works like Lab 01's echo client: stdin goes to the server, what comes back goes to
 * stdout. At the end of stdin it sends close_notify, reads the rest of the echo, and ends
 * when the server's close_notify comes. --insecure skips every check (handout §3.5 shows
 * what it lets through): never in real code.
 *
 * Exit codes: 0 after the server's close_notify; 1 on a network or system error; 2 for
 * bad arguments; 3 when the certificate is refused (the reason from OpenSSL's verification
 * result: "tls_client: certificate HOST:PORT: certificate has expired"); 4 when the
 * handshake fails for another reason (no common protocol version, not TLS at all); 5 when
 * the connection ends without close_notify (truncated).
 */
#ifndef _POSIX_C_SOURCE
#define _POSIX_C_SOURCE 200809L
#endif
#include "sockutil.h"
#include "tlsutil.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <netdb.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define PROG "tls_client"
/** One TLS record's worth of plaintext. */
#define CHUNK 16384

enum exit_code { OK = 0, E_SYS = 1, E_USAGE = 2, E_CERT = 3, E_HANDSHAKE = 4, E_TRUNCATED = 5 };

struct options {
    int family;
    const char *ca;         /* --ca FILE, or NULL for the system's store */
    const char *servername; /* --servername NAME, or NULL for HOST */
    int insecure;
    const char *host, *port;
};

struct session {
    SSL *ssl;
    int fd;
    char addr[SOCKADDR_STRLEN];
    char out[CHUNK]; /* read from stdin, not yet accepted by SSL_write() */
    size_t out_len;
    int stdin_open;
    int close_sent;  /* our close_notify is out */
    short want;      /* what the TLS calls of this pass asked poll() to wait for */
};

static void usage(void)
{
    fprintf(stderr, "usage: %s [-4|-6] [--ca FILE] [--servername NAME] [--insecure] HOST PORT\n", PROG);
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

/* The getaddrinfo loop of Lab 01: the first address that accepts the connection wins. */
static int tcp_connect(const char *host, const char *port, int family, char *addr, size_t addrlen)
{
    struct addrinfo hints, *res, *ai;
    int fd = -1, rc;

    memset(&hints, 0, sizeof hints);
    hints.ai_family = family;
    hints.ai_socktype = SOCK_STREAM;
    rc = getaddrinfo(host, port, &hints, &res);
    if (rc != 0) {
        fprintf(stderr, "%s: getaddrinfo %s:%s: %s\n", PROG, host, port, gai_strerror(rc));
        return -1;
    }
    for (ai = res; ai != NULL; ai = ai->ai_next) {
        sockaddr_str(ai->ai_addr, addr, addrlen);
        fd = socket(ai->ai_family, ai->ai_socktype, ai->ai_protocol);
        if (fd != -1 && connect(fd, ai->ai_addr, ai->ai_addrlen) == 0)
            break;
        fprintf(stderr, "%s: %s %s: %s\n", PROG, fd == -1 ? "socket" : "connect", addr, strerror(errno));
        if (fd != -1)
            close(fd);
        fd = -1;
    }
    freeaddrinfo(res);
    return fd;
}

static int is_ip_literal(const char *name)
{
    unsigned char a[16];

    return inet_pton(AF_INET, name, a) == 1 || inet_pton(AF_INET6, name, a) == 1;
}

/* The client's TLS settings: TLS 1.2 at least, whom to trust (handout §3.1). */
static SSL_CTX *make_ctx(const struct options *o)
{
    /* TODO(student): (handout §3.2) SSL_CTX_new(TLS_client_method()); TLS 1.2 at least
     * (SSL_CTX_set_min_proto_version); the CAs: SSL_CTX_load_verify_locations(o->ca) with --ca,
     * else SSL_CTX_set_default_verify_paths(); SSL_CTX_set_verify(SSL_VERIFY_PEER), or
     * SSL_VERIFY_NONE with --insecure. On failure: a message with tls_drain_errors(), NULL. */
    (void)o;
    (void)ERR_clear_error;
    fprintf(stderr, "%s: make_ctx: not written yet (TODO in tls_client.c, handout §3.2)\n", PROG);
    return NULL;
}

/* Whom we mean to talk to: the name sent in SNI and checked in the certificate (§3.2). */
static int set_peer_name(SSL *ssl, const char *name)
{
    /* TODO(student): (handout §3.2) SSL_set1_host(ssl, name): the name the certificate must
     * carry; SSL_set_tlsext_host_name(ssl, name) (SNI) unless is_ip_literal(name). -1 on failure. */
    (void)ssl;
    (void)is_ip_literal;
    fprintf(stderr, "%s: set_peer_name(%s): not written yet (TODO in tls_client.c, handout §3.2)\n", PROG, name);
    return -1;
}

/* Print the session and the server's certificate on stderr (§3.4). */
static void print_session(SSL *ssl)
{
    /* TODO(student): (handout §3.4) on stderr: "version: " SSL_get_version(), "cipher: "
     * SSL_get_cipher_name(), then from SSL_get0_peer_certificate(): "subject: " and "issuer: "
     * (X509_NAME_oneline), "expires: " (ASN1_TIME_print of X509_get0_notAfter into a memory BIO). */
    (void)ssl;
    fprintf(stderr, "%s: print_session: not written yet (TODO in tls_client.c, handout §3.4)\n", PROG);
}

/* The handshake, blocking: the client has nothing else to do meanwhile. Returns an exit code. */
static int handshake(struct session *s, const struct options *o)
{
    /* TODO(student): (handout §3.3) SSL_connect(); on success print_session() and OK. On failure:
     * SSL_get_verify_result() != X509_V_OK (and not --insecure): "certificate ADDR: REASON" with
     * X509_verify_cert_error_string(), E_CERT; SSL_ERROR_SYSCALL with errno: strerror, E_SYS;
     * otherwise "handshake ADDR: " + tls_drain_errors(), E_HANDSHAKE. */
    (void)s;
    (void)o;
    (void)print_session;
    fprintf(stderr, "%s: handshake: not written yet (TODO in tls_client.c, handout §3.3)\n", PROG);
    return E_HANDSHAKE;
}

/* After a TLS call returned <= 0: 0 to wait for s->want, or an exit code. */
static int tls_wait(struct session *s, int ret, const char *what)
{
    /* TODO(student): (handout §3.5) SSL_get_error(): WANT_READ adds POLLIN to s->want, WANT_WRITE
     * adds POLLOUT, return 0. SSL_ERROR_SYSCALL with errno: strerror, E_SYS. An EOF without
     * close_notify (SSL_R_UNEXPECTED_EOF_WHILE_READING, or SYSCALL with errno 0): "connection
     * truncated", E_TRUNCATED. Anything else: tls_drain_errors(), E_SYS. */
    (void)s;
    (void)ret;
    fprintf(stderr, "%s: %s: tls_wait: not written yet (TODO in tls_client.c, handout §3.5)\n", PROG, what);
    return E_SYS;
}

/* Send what stdin gave, then close_notify once stdin is done. Returns 0 or an exit code. */
static int flush_out(struct session *s)
{
    /* TODO(student): (handout §3.5) SSL_write() s->out (retry with the same bytes after WANT_*:
     * tls_wait()); once stdin is done and everything is sent, SSL_shutdown() once (close_notify). */
    (void)s;
    (void)tls_wait;
    fprintf(stderr, "%s: flush_out: not written yet (TODO in tls_client.c, handout §3.5)\n", PROG);
    return E_SYS;
}

/* Read every record OpenSSL can give now. Returns 0 (more later), -1 (close_notify came)
 * or an exit code. */
static int drain_in(struct session *s)
{
    /* TODO(student): (handout §3.5) SSL_read() into a CHUNK buffer until it returns <= 0, each
     * piece through write_stdout(); SSL_ERROR_ZERO_RETURN (close_notify): -1; else tls_wait(). */
    (void)s;
    (void)write_stdout;
    fprintf(stderr, "%s: drain_in: not written yet (TODO in tls_client.c, handout §3.5)\n", PROG);
    return E_SYS;
}

static void on_stdin(struct session *s)
{
    ssize_t n = read(STDIN_FILENO, s->out, sizeof s->out);

    if (n > 0)
        s->out_len = (size_t)n;
    else if (n == 0 || errno != EINTR)
        s->stdin_open = 0; /* EOF (or an unreadable stdin): time for close_notify */
}

/* The echo loop: stdin and the connection at once, so neither can block the other. */
static int relay(struct session *s)
{
    for (;;) {
        struct pollfd p[2];
        int rc;

        s->want = 0;
        rc = flush_out(s);
        if (rc != 0)
            return rc;
        rc = drain_in(s);
        if (rc != 0)
            return rc == -1 ? OK : rc;
        p[0].fd = s->fd;
        p[0].events = s->want;
        p[1].fd = STDIN_FILENO;
        p[1].events = s->stdin_open && s->out_len == 0 ? POLLIN : 0;
        if (poll(p, 2, -1) == -1) {
            if (errno == EINTR)
                continue;
            fprintf(stderr, "%s: poll %s: %s\n", PROG, s->addr, strerror(errno));
            return E_SYS;
        }
        if (p[1].revents != 0)
            on_stdin(s);
    }
}

static int run(const struct options *o)
{
    struct session s;
    SSL_CTX *ctx = make_ctx(o);
    int rc = E_SYS;

    memset(&s, 0, sizeof s);
    s.stdin_open = 1;
    if (ctx == NULL)
        return E_SYS;
    s.fd = tcp_connect(o->host, o->port, o->family, s.addr, sizeof s.addr);
    if (s.fd == -1) {
        SSL_CTX_free(ctx);
        return E_SYS;
    }
    s.ssl = SSL_new(ctx);
    if (s.ssl == NULL || SSL_set_fd(s.ssl, s.fd) != 1
        || (!o->insecure && set_peer_name(s.ssl, o->servername ? o->servername : o->host) == -1)) {
        char why[256];
        fprintf(stderr, "%s: SSL_new %s: %s\n", PROG, s.addr, tls_drain_errors(why, sizeof why, "?"));
        goto end;
    }
    rc = handshake(&s, o);
    if (rc != OK)
        goto end;
    /* From here on, non-blocking: neither stdin nor the server may stall the other. */
    if (fcntl(s.fd, F_SETFL, fcntl(s.fd, F_GETFL) | O_NONBLOCK) == -1) {
        fprintf(stderr, "%s: fcntl %s: %s\n", PROG, s.addr, strerror(errno));
        rc = E_SYS;
        goto end;
    }
    rc = relay(&s);
end:
    SSL_free(s.ssl);
    close(s.fd);
    SSL_CTX_free(ctx);
    return rc;
}

int main(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"ca", required_argument, NULL, 'c'},
        {"servername", required_argument, NULL, 's'},
        {"insecure", no_argument, NULL, 'k'},
        {NULL, 0, NULL, 0},
    };
    struct options o;
    unsigned short port;
    int opt;

    memset(&o, 0, sizeof o);
    o.family = AF_UNSPEC;
    while ((opt = getopt_long(argc, argv, "46", longopts, NULL)) != -1) {
        switch (opt) {
        case '4': o.family = AF_INET; break;
        case '6': o.family = AF_INET6; break;
        case 'c': o.ca = optarg; break;
        case 's': o.servername = optarg; break;
        case 'k': o.insecure = 1; break;
        default: usage(); return E_USAGE;
        }
    }
    if (argc - optind != 2 || parse_port(argv[optind + 1], &port) == -1 || port == 0) {
        usage();
        return E_USAGE;
    }
    o.host = argv[optind];
    o.port = argv[optind + 1];
    /* A server that vanished must give EPIPE from write(), not kill the client. */
    if (signal(SIGPIPE, SIG_IGN) == SIG_ERR) {
        fprintf(stderr, "%s: signal: %s\n", PROG, strerror(errno));
        return E_SYS;
    }
    return run(&o);
}
