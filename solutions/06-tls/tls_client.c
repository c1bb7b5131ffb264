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
    char why[256];
    SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());

    if (ctx == NULL) {
        fprintf(stderr, "%s: SSL_CTX_new: %s\n", PROG, tls_drain_errors(why, sizeof why, "?"));
        return NULL;
    }
    if (SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION) != 1) {
        fprintf(stderr, "%s: SSL_CTX_set_min_proto_version: %s\n", PROG, tls_drain_errors(why, sizeof why, "?"));
        SSL_CTX_free(ctx);
        return NULL;
    }
    /* Without --ca: the system's store (SSL_CERT_FILE and SSL_CERT_DIR may move it). */
    if ((o->ca != NULL ? SSL_CTX_load_verify_locations(ctx, o->ca, NULL)
                       : SSL_CTX_set_default_verify_paths(ctx)) != 1) {
        fprintf(stderr, "%s: CA certificates %s: %s\n", PROG, o->ca ? o->ca : "(system store)",
                tls_drain_errors(why, sizeof why, "?"));
        SSL_CTX_free(ctx);
        return NULL;
    }
    /* The handshake fails on a chain that does not verify: no data ever reaches a fake. */
    SSL_CTX_set_verify(ctx, o->insecure ? SSL_VERIFY_NONE : SSL_VERIFY_PEER, NULL);
    return ctx;
}

/* Whom we mean to talk to: the name sent in SNI and checked in the certificate (§3.2). */
static int set_peer_name(SSL *ssl, const char *name)
{
    /* A chain that verifies proves only that some CA vouched for some name: this is ours. */
    if (SSL_set1_host(ssl, name) != 1)
        return -1;
    /* SNI: the server may host many names on one address. RFC 6066 allows no IP address. */
    if (!is_ip_literal(name) && SSL_set_tlsext_host_name(ssl, name) != 1)
        return -1;
    return 0;
}

/* Print the session and the server's certificate on stderr (§3.4). */
static void print_session(SSL *ssl)
{
    X509 *cert = SSL_get0_peer_certificate(ssl);
    char name[512];

    fprintf(stderr, "version: %s\n", SSL_get_version(ssl));
    fprintf(stderr, "cipher: %s\n", SSL_get_cipher_name(ssl));
    if (cert == NULL)
        return;
    X509_NAME_oneline(X509_get_subject_name(cert), name, sizeof name);
    fprintf(stderr, "subject: %s\n", name);
    X509_NAME_oneline(X509_get_issuer_name(cert), name, sizeof name);
    fprintf(stderr, "issuer: %s\n", name);
    {
        BIO *bio = BIO_new(BIO_s_mem());
        char *text;
        long n;

        if (bio != NULL && ASN1_TIME_print(bio, X509_get0_notAfter(cert)) == 1) {
            n = BIO_get_mem_data(bio, &text);
            fprintf(stderr, "expires: %.*s\n", (int)n, text);
        }
        BIO_free(bio);
    }
}

/* The handshake, blocking: the client has nothing else to do meanwhile. Returns an exit code. */
static int handshake(struct session *s, const struct options *o)
{
    char why[256];
    long verdict;
    int ret;

    ret = SSL_connect(s->ssl);
    if (ret == 1) {
        print_session(s->ssl);
        return OK;
    }
    /* A refused certificate: the verification result says why, in words (§3.3). */
    verdict = SSL_get_verify_result(s->ssl);
    if (!o->insecure && verdict != X509_V_OK) {
        ERR_clear_error();
        fprintf(stderr, "%s: certificate %s: %s\n", PROG, s->addr, X509_verify_cert_error_string(verdict));
        return E_CERT;
    }
    errno = 0;
    if (SSL_get_error(s->ssl, ret) == SSL_ERROR_SYSCALL && errno != 0) {
        ERR_clear_error();
        fprintf(stderr, "%s: handshake %s: %s\n", PROG, s->addr, strerror(errno));
        return E_SYS;
    }
    fprintf(stderr, "%s: handshake %s: %s\n", PROG, s->addr,
            tls_drain_errors(why, sizeof why, "connection closed during the handshake"));
    return E_HANDSHAKE;
}

/* After a TLS call returned <= 0: 0 to wait for s->want, or an exit code. */
static int tls_wait(struct session *s, int ret, const char *what)
{
    char why[256];
    int e;

    errno = 0;
    e = SSL_get_error(s->ssl, ret);
    if (e == SSL_ERROR_WANT_READ) {
        s->want |= POLLIN;
        return 0;
    }
    if (e == SSL_ERROR_WANT_WRITE) {
        s->want |= POLLOUT;
        return 0;
    }
    if (e == SSL_ERROR_SYSCALL && errno != 0) {
        ERR_clear_error();
        fprintf(stderr, "%s: %s %s: %s\n", PROG, what, s->addr, strerror(errno));
        return E_SYS;
    }
    /* OpenSSL 3 calls a TCP EOF without close_notify "unexpected eof while reading":
     * an attacker who can cut the connection could otherwise cut the data short (§3.6). */
    if (ERR_GET_REASON(ERR_peek_error()) == SSL_R_UNEXPECTED_EOF_WHILE_READING || e == SSL_ERROR_SYSCALL) {
        ERR_clear_error();
        fprintf(stderr, "%s: %s %s: connection truncated: closed without close_notify\n", PROG, what, s->addr);
        return E_TRUNCATED;
    }
    fprintf(stderr, "%s: %s %s: %s\n", PROG, what, s->addr, tls_drain_errors(why, sizeof why, "?"));
    return E_SYS;
}

/* Send what stdin gave, then close_notify once stdin is done. Returns 0 or an exit code. */
static int flush_out(struct session *s)
{
    int ret;

    if (s->out_len > 0) {
        ret = SSL_write(s->ssl, s->out, (int)s->out_len);
        if (ret <= 0)
            return tls_wait(s, ret, "write");
        s->out_len = 0; /* all or nothing, without SSL_MODE_ENABLE_PARTIAL_WRITE */
    }
    if (!s->stdin_open && !s->close_sent) {
        ret = SSL_shutdown(s->ssl);
        if (ret < 0)
            return tls_wait(s, ret, "shutdown");
        s->close_sent = 1; /* TLS 1.3 lets us go on reading the rest of the echo */
    }
    return 0;
}

/* Read every record OpenSSL can give now. Returns 0 (more later), -1 (close_notify came)
 * or an exit code. */
static int drain_in(struct session *s)
{
    char buf[CHUNK];

    for (;;) {
        int ret = SSL_read(s->ssl, buf, sizeof buf);
        if (ret > 0) {
            if (write_stdout(buf, (size_t)ret) == -1)
                return E_SYS;
            continue;
        }
        if (SSL_get_error(s->ssl, ret) == SSL_ERROR_ZERO_RETURN)
            return -1; /* the server's close_notify: every byte it sent is here */
        return tls_wait(s, ret, "read");
    }
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
