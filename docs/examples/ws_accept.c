/* ws_accept.c: the Sec-WebSocket-Accept value of a WebSocket opening handshake (RFC 6455). */
/*
 * Usage: ws_accept [KEY]
 *
 * A client asks to upgrade an HTTP/1.1 connection to a WebSocket with a random
 * Sec-WebSocket-Key: 16 random bytes in base64, 24 characters. The server proves that
 * it understood the request by answering
 *     Sec-WebSocket-Accept: base64(SHA-1(KEY + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"))
 * (RFC 6455, section 4.2.2). This program prints that value for KEY, by default the
 * RFC's own example key "dGhlIHNhbXBsZSBub25jZQ==", whose answer is
 * "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=" (RFC 6455, section 1.3).
 *
 * SHA-1 (RFC 3174) and base64 (RFC 4648) are written out below, small rather than fast.
 * SHA-1 is broken for signatures; here it only shows the server read the key.
 *
 * Exit codes: 0 with the value on stdout, 2 if KEY is not 24 base64 characters.
 */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

static const char prog[] = "ws_accept";
#define RFC_SAMPLE_KEY "dGhlIHNhbXBsZSBub25jZQ=="
#define WS_GUID "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
#define KEY_LEN 24

static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

static uint32_t rol(uint32_t x, int n)
{
    return (x << n) | (x >> (32 - n));
}

/* One 64-byte block into the five-word state h (RFC 3174, section 6.1). */
static void sha1_block(uint32_t h[5], const unsigned char *p)
{
    uint32_t w[80], a = h[0], b = h[1], c = h[2], d = h[3], e = h[4];
    int t;

    for (t = 0; t < 16; t++)
        w[t] = (uint32_t)p[4 * t] << 24 | (uint32_t)p[4 * t + 1] << 16 |
               (uint32_t)p[4 * t + 2] << 8 | (uint32_t)p[4 * t + 3];
    for (t = 16; t < 80; t++)
        w[t] = rol(w[t - 3] ^ w[t - 8] ^ w[t - 14] ^ w[t - 16], 1);
    for (t = 0; t < 80; t++) {
        uint32_t f, k, tmp;
        if (t < 20) {
            f = (b & c) | (~b & d);
            k = 0x5A827999;
        } else if (t < 40) {
            f = b ^ c ^ d;
            k = 0x6ED9EBA1;
        } else if (t < 60) {
            f = (b & c) | (b & d) | (c & d);
            k = 0x8F1BBCDC;
        } else {
            f = b ^ c ^ d;
            k = 0xCA62C1D6;
        }
        tmp = rol(a, 5) + f + e + k + w[t];
        e = d;
        d = c;
        c = rol(b, 30);
        b = a;
        a = tmp;
    }
    h[0] += a;
    h[1] += b;
    h[2] += c;
    h[3] += d;
    h[4] += e;
}

/* SHA-1 of len bytes (len < 2^29 here) into a 20-byte digest. */
static void sha1(const unsigned char *msg, size_t len, unsigned char digest[20])
{
    uint32_t h[5] = {0x67452301, 0xEFCDAB89, 0x98BADCFE, 0x10325476, 0xC3D2E1F0};
    unsigned char block[64];
    uint64_t bits = (uint64_t)len * 8;
    size_t i, rest;

    for (i = 0; i + 64 <= len; i += 64)
        sha1_block(h, msg + i);
    /* Padding: the last bytes, 0x80, zeros, then the length in bits as 8 big-endian bytes. */
    rest = len - i;
    memset(block, 0, sizeof block);
    memcpy(block, msg + i, rest);
    block[rest] = 0x80;
    if (rest >= 56) {
        sha1_block(h, block);
        memset(block, 0, sizeof block);
    }
    for (i = 0; i < 8; i++)
        block[63 - i] = (unsigned char)(bits >> (8 * i));
    sha1_block(h, block);
    for (i = 0; i < 20; i++)
        digest[i] = (unsigned char)(h[i / 4] >> (24 - 8 * (i % 4)));
}

/* Base64 of len bytes into out (4 * ((len + 2) / 3) + 1 bytes), with '=' padding. */
static void base64(const unsigned char *in, size_t len, char *out)
{
    size_t i;

    for (i = 0; i + 2 < len; i += 3) {
        uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8 | in[i + 2];
        *out++ = b64[v >> 18 & 63];
        *out++ = b64[v >> 12 & 63];
        *out++ = b64[v >> 6 & 63];
        *out++ = b64[v & 63];
    }
    if (len - i == 1) {
        uint32_t v = (uint32_t)in[i] << 16;
        *out++ = b64[v >> 18 & 63];
        *out++ = b64[v >> 12 & 63];
        *out++ = '=';
        *out++ = '=';
    } else if (len - i == 2) {
        uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8;
        *out++ = b64[v >> 18 & 63];
        *out++ = b64[v >> 12 & 63];
        *out++ = b64[v >> 6 & 63];
        *out++ = '=';
    }
    *out = '\0';
}

/* A key is 16 bytes in base64: 22 base64 characters, then "==". Anything else is refused. */
static int valid_key(const char *key)
{
    return strlen(key) == KEY_LEN && strspn(key, b64) == KEY_LEN - 2 &&
           strcmp(key + KEY_LEN - 2, "==") == 0;
}

int main(int argc, char **argv)
{
    const char *key = argc > 1 ? argv[1] : RFC_SAMPLE_KEY;
    char text[KEY_LEN + sizeof WS_GUID];
    unsigned char digest[20];
    char accept[29];

    if (argc > 2 || !valid_key(key)) {
        fprintf(stderr, "usage: %s [KEY]  (KEY: 16 bytes in base64, 24 characters)\n", prog);
        return 2;
    }
    /* [catalog] */
    snprintf(text, sizeof text, "%s%s", key, WS_GUID);
    sha1((const unsigned char *)text, strlen(text), digest);
    base64(digest, sizeof digest, accept);
    /* [catalog] */
    printf("%s\n", accept);
    return 0;
}
