/* ws.c: the WebSocket protocol of RFC 6455, without sockets: handshake, frames, UTF-8. */
#ifndef _POSIX_C_SOURCE
#define _POSIX_C_SOURCE 200809L
#endif
#include "ws.h"

#include <openssl/evp.h>
#include <openssl/sha.h>
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
    const struct span *v;

    *reason = NULL;
    if (!span_is(h->method, "GET"))
        return 405;
    if (span_is(h->target, "/"))
        return 200;
    if (!span_is(h->target, "/chat"))
        return 404;
    if (h->minor < 1)
        *reason = "HTTP/1.1 or later is required";
    else if (head_field(h, "Host") == NULL)
        *reason = "missing Host";
    else if ((v = head_field(h, "Upgrade")) == NULL || !has_token(*v, "websocket"))
        *reason = "Upgrade must name websocket";
    else if ((v = head_field(h, "Connection")) == NULL || !has_token(*v, "Upgrade"))
        *reason = "Connection must name Upgrade";
    else if ((v = head_field(h, "Sec-WebSocket-Key")) == NULL || !key_ok(*v))
        *reason = "bad or missing Sec-WebSocket-Key";
    else if ((v = head_field(h, "Sec-WebSocket-Version")) == NULL)
        *reason = "missing Sec-WebSocket-Version";
    else if (!span_is(*v, "13"))
        return 426;
    return *reason != NULL ? 400 : 101;
}

/* ---- frames ----------------------------------------------------------------------------- */

int ws_parse_frame(unsigned char *buf, size_t len, uint64_t max_payload, struct ws_frame *f)
{
    size_t hlen = 2, i;
    uint64_t plen;
    int opcode;
    const unsigned char *mask;

    if (len < 2)
        return 0;
    opcode = buf[0] & 0x0F;
    if (buf[0] & 0x70)
        return -WS_PROTOCOL; /* RSV1-3: no extension was negotiated */
    if (opcode != WS_CONT && opcode != WS_TEXT && opcode != WS_BINARY && opcode != WS_CLOSE &&
        opcode != WS_PING && opcode != WS_PONG)
        return -WS_PROTOCOL;
    if (!(buf[1] & 0x80))
        return -WS_PROTOCOL; /* every client frame is masked */
    plen = buf[1] & 0x7F;
    if (opcode >= WS_CLOSE && (!(buf[0] & 0x80) || plen > WS_CONTROL_MAX))
        return -WS_PROTOCOL;
    if (plen == 126) {
        if (len < 4)
            return 0;
        plen = (uint64_t)buf[2] << 8 | buf[3];
        hlen = 4;
    } else if (plen == 127) {
        if (len < 10)
            return 0;
        if (buf[2] & 0x80)
            return -WS_PROTOCOL; /* the most significant bit must be 0 */
        for (plen = 0, i = 2; i < 10; i++)
            plen = plen << 8 | buf[i];
        hlen = 10;
    }
    if (opcode < WS_CLOSE && plen > max_payload)
        return -WS_TOO_BIG; /* known before a byte of it is buffered */
    hlen += 4;
    if (len < hlen || len - hlen < plen)
        return 0;
    mask = buf + hlen - 4;
    for (i = 0; i < plen; i++)
        buf[hlen + i] ^= mask[i % 4];
    f->fin = (buf[0] & 0x80) != 0;
    f->opcode = opcode;
    f->payload = buf + hlen;
    f->len = (size_t)plen;
    f->size = hlen + (size_t)plen;
    return 1;
}

size_t ws_frame_header(unsigned char *out, int opcode, uint64_t len)
{
    int i;

    out[0] = (unsigned char)(0x80 | opcode);
    if (len <= 125) {
        out[1] = (unsigned char)len;
        return 2;
    }
    if (len <= 0xFFFF) {
        out[1] = 126;
        out[2] = (unsigned char)(len >> 8);
        out[3] = (unsigned char)len;
        return 4;
    }
    out[1] = 127;
    for (i = 0; i < 8; i++)
        out[2 + i] = (unsigned char)(len >> (56 - 8 * i));
    return 10;
}

int ws_close_code_ok(unsigned code)
{
    return (code >= 1000 && code <= 1003) || (code >= 1007 && code <= 1014) ||
           (code >= 3000 && code <= 4999);
}

/* ---- UTF-8 ------------------------------------------------------------------------------ */

int utf8_feed(struct utf8 *u, const unsigned char *p, size_t n)
{
    size_t i;

    for (i = 0; i < n; i++) {
        unsigned char b = p[i];
        if (u->need > 0) {
            if (b < u->lo || b > u->hi)
                return -1;
            u->need--;
            u->lo = 0x80;
            u->hi = 0xBF;
            continue;
        }
        u->lo = 0x80;
        u->hi = 0xBF;
        if (b < 0x80)
            continue;
        if (b >= 0xC2 && b <= 0xDF)
            u->need = 1;
        else if (b >= 0xE0 && b <= 0xEF) {
            u->need = 2;
            if (b == 0xE0)
                u->lo = 0xA0; /* no overlong forms */
            else if (b == 0xED)
                u->hi = 0x9F; /* no surrogates (U+D800-U+DFFF) */
        } else if (b >= 0xF0 && b <= 0xF4) {
            u->need = 3;
            if (b == 0xF0)
                u->lo = 0x90;
            else if (b == 0xF4)
                u->hi = 0x8F; /* nothing above U+10FFFF */
        } else
            return -1; /* 0x80-0xC1 and 0xF5-0xFF never start a character */
    }
    return 0;
}

int utf8_done(const struct utf8 *u)
{
    return u->need == 0;
}
