/* ws.c: the WebSocket protocol of RFC 6455, without sockets: handshake, frames, UTF-8. */
#ifndef _POSIX_C_SOURCE
#define _POSIX_C_SOURCE 200809L
#endif
#include "ws.h"

#include <openssl/evp.h>
#include <openssl/sha.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

/* ---- the request head (given) ----------------------------------------------------------- */

static int is_tchar(unsigned char ch)
{
    return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
           (ch != '\0' && strchr("!#$%&'*+-.^_`|~", ch) != NULL);
}

/* Find CRLF in buf[from..len); the index of its CR, or len if none. */
static size_t find_crlf(const char *buf, size_t from, size_t len)
{
    size_t i;

    for (i = from; i + 1 < len; i++)
        if (buf[i] == '\r' && buf[i + 1] == '\n')
            return i;
    return len;
}

/* "METHOD SP TARGET SP HTTP/1.x": 1 if well-formed. */
static int parse_request_line(const char *p, size_t n, struct http_head *h)
{
    const char *sp1 = memchr(p, ' ', n), *sp2;
    size_t i;

    if (sp1 == NULL || sp1 == p)
        return 0;
    sp2 = memchr(sp1 + 1, ' ', (size_t)(p + n - sp1 - 1));
    if (sp2 == NULL || sp2 == sp1 + 1 || p + n - sp2 - 1 != 8 || memcmp(sp2 + 1, "HTTP/1.", 7) != 0 ||
        sp2[8] < '0' || sp2[8] > '9')
        return 0;
    for (i = 0; p + i < sp1; i++)
        if (!is_tchar((unsigned char)p[i]))
            return 0;
    for (i = 1; sp1 + i < sp2; i++)
        if ((unsigned char)sp1[i] <= ' ' || sp1[i] == 0x7f)
            return 0;
    h->method = (struct span){p, (size_t)(sp1 - p)};
    h->target = (struct span){sp1 + 1, (size_t)(sp2 - sp1 - 1)};
    h->minor = sp2[8] - '0';
    return 1;
}

/* "name: value": 1 if well-formed; the value without the spaces and tabs around it. */
static int parse_field(const char *p, size_t n, struct field *f)
{
    const char *colon = memchr(p, ':', n), *v, *end = p + n;
    size_t i;

    if (colon == NULL || colon == p)
        return 0;
    for (i = 0; p + i < colon; i++)
        if (!is_tchar((unsigned char)p[i]))
            return 0;
    /* Optional whitespace around the value is not part of it (RFC 9110 §5.5). */
    for (v = colon + 1; v < end && (*v == ' ' || *v == '\t'); v++)
        ;
    while (end > v && (end[-1] == ' ' || end[-1] == '\t'))
        end--;
    for (i = 0; v + i < end; i++)
        if (v[i] == '\0' || v[i] == '\r' || v[i] == '\n')
            return 0;
    f->name = (struct span){p, (size_t)(colon - p)};
    f->value = (struct span){v, (size_t)(end - v)};
    return 1;
}

int parse_head(const char *buf, size_t len, struct http_head *h)
{
    size_t end = find_crlf(buf, 0, len), pos;

    memset(h, 0, sizeof *h);
    if (end == len)
        return len >= HEAD_MAX ? 431 : 0;
    if (!parse_request_line(buf, end, h))
        return 400;
    for (pos = end + 2;; pos = end + 2) {
        end = find_crlf(buf, pos, len);
        if (end == len)
            return len >= HEAD_MAX ? 431 : 0;
        if (end + 2 > HEAD_MAX)
            return 431;
        if (end == pos)
            break; /* the blank line */
        if (h->nfields == FIELDS_MAX)
            return 431;
        if (!parse_field(buf + pos, end - pos, &h->fields[h->nfields]))
            return 400;
        h->nfields++;
    }
    h->len = end + 2;
    return 1;
}

const struct span *head_field(const struct http_head *h, const char *name)
{
    size_t i, n = strlen(name);

    for (i = 0; i < h->nfields; i++)
        if (h->fields[i].name.n == n && strncasecmp(h->fields[i].name.p, name, n) == 0)
            return &h->fields[i].value;
    return NULL;
}

int has_token(struct span list, const char *token)
{
    size_t n = strlen(token), i = 0;

    while (i < list.n) {
        size_t start, end;
        while (i < list.n && (list.p[i] == ' ' || list.p[i] == '\t' || list.p[i] == ','))
            i++;
        start = i;
        while (i < list.n && list.p[i] != ',')
            i++;
        end = i;
        while (end > start && (list.p[end - 1] == ' ' || list.p[end - 1] == '\t'))
            end--;
        if (end - start == n && n > 0 && strncasecmp(list.p + start, token, n) == 0)
            return 1;
    }
    return 0;
}

void ws_accept_key(const char *key, size_t n, char *out)
{
    unsigned char in[64 + sizeof WS_GUID], md[SHA_DIGEST_LENGTH];

    if (n > 64)
        n = 64;
    memcpy(in, key, n);
    memcpy(in + n, WS_GUID, sizeof WS_GUID - 1);
    SHA1(in, n + sizeof WS_GUID - 1, md);
    /* EVP_EncodeBlock writes 28 characters and a NUL for 20 bytes. */
    EVP_EncodeBlock((unsigned char *)out, md, SHA_DIGEST_LENGTH);
}

/* ---- the handshake ---------------------------------------------------------------------- */

static int span_is(struct span s, const char *lit)
{
    return s.p != NULL && s.n == strlen(lit) && memcmp(s.p, lit, s.n) == 0;
}

/* A key is 16 bytes in base64: 22 characters of the alphabet, then "==" (RFC 6455 §4.1). */
static int key_ok(struct span k)
{
    static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    size_t i;

    if (k.n != 24 || k.p[22] != '=' || k.p[23] != '=')
        return 0;
    for (i = 0; i < 22; i++)
        if (k.p[i] == '\0' || strchr(b64, k.p[i]) == NULL)
            return 0;
    return 1;
}

int check_handshake(const struct http_head *h, const char **reason)
{
    /* TODO(student): (handout §3.2) 405 for a method other than GET; 200 for "/"; 404 for any
     * other target; for "/chat", check in turn HTTP/1.1, Host, Upgrade (has_token "websocket"),
     * Connection (has_token "Upgrade"), the key (key_ok) and the version: 400 with *reason set,
     * 426 for a version other than 13, or 101. Until then / gets the page and the rest 404. */
    (void)key_ok;
    *reason = NULL;
    return span_is(h->target, "/") ? 200 : 404;
}

/* ---- frames ----------------------------------------------------------------------------- */

int ws_parse_frame(unsigned char *buf, size_t len, uint64_t max_payload, struct ws_frame *f)
{
    /* TODO(student): (handout §4.1, §4.3) 0 until the header is there; -WS_PROTOCOL for RSV bits,
     * an unknown opcode, no MASK bit, a control frame fragmented or over WS_CONTROL_MAX, a 64-bit
     * length with its top bit set; -WS_TOO_BIG for a data frame over max_payload (from the header
     * alone); 0 until the whole payload is there; then unmask it in place and fill in *f. */
    (void)buf;
    (void)max_payload;
    (void)f;
    fprintf(stderr, "ws_chat_server: ws_parse_frame: not written yet (TODO in ws.c, handout §4.1)\n");
    return len < 2 ? 0 : -WS_PROTOCOL;
}

size_t ws_frame_header(unsigned char *out, int opcode, uint64_t len)
{
    /* TODO(student): (handout §4.2) FIN and the opcode; no MASK bit; the length in 7 bits (up to
     * 125), or 126 and 16 bits, or 127 and 64 bits, big-endian. Return the header's length. */
    (void)out;
    (void)opcode;
    (void)len;
    return 0;
}

int ws_close_code_ok(unsigned code)
{
    /* TODO(student): (handout §4.5) 1000-1003, 1007-1014 and 3000-4999 only. Until then every
     * code is taken. */
    (void)code;
    return 1;
}

/* ---- UTF-8 ------------------------------------------------------------------------------ */

int utf8_feed(struct utf8 *u, const unsigned char *p, size_t n)
{
    /* TODO(student): (handout §4.4) for each byte: a continuation byte within [u->lo, u->hi] while
     * u->need > 0; otherwise the lead byte of a 1-, 2-, 3- or 4-byte character (set need, and lo
     * or hi for E0, ED, F0, F4); -1 at the first byte that cannot be valid. Until then any
     * byte passes. */
    (void)u;
    (void)p;
    (void)n;
    return 0;
}

int utf8_done(const struct utf8 *u)
{
    /* TODO(student): (handout §4.4) 1 when no character is left unfinished. */
    (void)u;
    return 1;
}
