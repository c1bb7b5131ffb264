/* http.c: Lab 05's request parser, path resolver, dates and types (see http.h). */
#ifndef _POSIX_C_SOURCE
#define _POSIX_C_SOURCE 200809L
#endif
/* realpath() is in POSIX's XSI option, which _XOPEN_SOURCE 700 asks for. */
#define _XOPEN_SOURCE 700
#include "http.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* ---- small character classes (RFC 9110 §5.6.2) ---------------------------------------- */

static int is_tchar(unsigned char ch)
{
    return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
           (ch != '\0' && strchr("!#$%&'*+-.^_`|~", ch) != NULL);
}

static int is_token(const char *p, size_t n)
{
    size_t i;

    if (n == 0)
        return 0;
    for (i = 0; i < n; i++)
        if (!is_tchar((unsigned char)p[i]))
            return 0;
    return 1;
}

/* Case-insensitive comparison of a span with a lower-case literal. */
static int span_is(struct span s, const char *lit)
{
    size_t i, n = strlen(lit);

    if (s.n != n)
        return 0;
    for (i = 0; i < n; i++) {
        char ch = s.p[i];
        if (ch >= 'A' && ch <= 'Z')
            ch = (char)(ch - 'A' + 'a');
        if (ch != lit[i])
            return 0;
    }
    return 1;
}

/* Does the comma-separated list of tokens in v hold `tok` (case-insensitive)? */
static int list_has(struct span v, const char *tok)
{
    size_t i = 0;

    while (i < v.n) {
        size_t start, end;
        while (i < v.n && (v.p[i] == ' ' || v.p[i] == '\t' || v.p[i] == ','))
            i++;
        start = i;
        while (i < v.n && v.p[i] != ',')
            i++;
        end = i;
        while (end > start && (v.p[end - 1] == ' ' || v.p[end - 1] == '\t'))
            end--;
        if (end > start && span_is((struct span){v.p + start, end - start}, tok))
            return 1;
    }
    return 0;
}

/* ---- the request line (RFC 9112 §3) ------------------------------------------------------ */

/* "METHOD SP TARGET SP HTTP/D.D": 200, or 400 / 505. */
static int parse_request_line(struct span line, struct request *r)
{
    /* TODO(student): (handout §3.1) METHOD SP TARGET SP HTTP/D.D; set r->method, r->target, r->minor,
     * r->close (HTTP/1.0); 400 if malformed, 505 for a major version other than 1. */
    (void)line;
    (void)r;
    (void)is_token;
    return 501;
}

/* ---- the header fields (RFC 9112 §5, RFC 9110 §8.6) --------------------------------------- */

struct head_state {
    int hosts;
    int has_length;
    int has_te;
};

/* Digits only, no sign, no list: "-1", "1,1" and "" are malformed; huge is 413 later. */
static int parse_length(struct span v, unsigned long long *out)
{
    unsigned long long x = 0;
    size_t i;

    if (v.n == 0)
        return -1;
    for (i = 0; i < v.n; i++) {
        if (v.p[i] < '0' || v.p[i] > '9')
            return -1;
        if (x > (ULLONG_MAX - 9) / 10)
            x = ULLONG_MAX; /* saturate: any such length is over BODY_MAX */
        else
            x = x * 10 + (unsigned long long)(v.p[i] - '0');
    }
    *out = x;
    return 0;
}

/* One field line without its CRLF: 200 or 400. */
static int parse_field(struct span f, struct request *r, struct head_state *h)
{
    /* TODO(student): (handout §3.1, §3.4) name ':' OWS value OWS; 400 for a bad line; count Host, check
     * Content-Length (parse_length), note Transfer-Encoding, Connection: close, If-Modified-Since. */
    (void)f;
    (void)r;
    (void)h;
    (void)parse_length;
    (void)list_has;
    return 501;
}

/* The end of the line that starts at p (the LF), or NULL; *n is its length without CR LF. */
static const char *line_end(const char *p, const char *end, size_t *n)
{
    const char *lf = memchr(p, '\n', (size_t)(end - p));

    if (lf != NULL) {
        *n = (size_t)(lf - p);
        if (*n > 0 && p[*n - 1] == '\r')
            (*n)--;
    }
    return lf;
}

int parse_request(const char *buf, size_t len, struct request *r)
{
    /* TODO(student): (handout §3.1, §3.3) skip empty lines; find the request line (414 past REQ_LINE_MAX);
     * parse_request_line(); find the empty line that ends the header section (431 past
     * HEADER_BYTES_MAX or HEADER_FIELDS_MAX); parse_field() each line; then Host, TE, 413. */
    (void)buf;
    (void)len;
    (void)line_end;
    (void)parse_request_line, (void)parse_field;
    memset(r, 0, sizeof *r);
    return 501;
}

/* ---- paths (RFC 3986) --------------------------------------------------------------------- */

static int hexval(char ch)
{
    if (ch >= '0' && ch <= '9')
        return ch - '0';
    if (ch >= 'a' && ch <= 'f')
        return ch - 'a' + 10;
    if (ch >= 'A' && ch <= 'F')
        return ch - 'A' + 10;
    return -1;
}

/* Percent-decode src[0..n) into dst (room for n + 1); 200, or 400 for what a path cannot hold. */
static int percent_decode(const char *src, size_t n, char *dst)
{
    /* TODO(student): (handout §4.1) %XX -> byte; 400 for a bad escape, a NUL, a backslash, an encoded '/'.
     * Until then the bytes are copied as they are: UNSAFE, and '%20' is not a space. */
    (void)hexval;
    memcpy(dst, src, n);
    dst[n] = '\0';
    return 200;
}

/* Remove "." and ".." segments and empty ones, in place: "/a/./b/../c" -> "/a/c"; 403 above root. */
static int normalise(char *path)
{
    /* TODO(student): (handout §4.1) remove '.', '..' and empty segments in place; 403 above the root.
     * Until then nothing is removed: UNSAFE, '..' reaches the disk. */
    (void)path;
    return 200;
}

int decode_path(const char *target, size_t n, char **out)
{
    const char *q = memchr(target, '?', n);
    char *path;
    int status;

    if (q != NULL)
        n = (size_t)(q - target);
    path = malloc(n + 1);
    if (path == NULL)
        return -1;
    /* Decode first, then normalise: "%2e%2e" is ".." only once decoded. */
    status = percent_decode(target, n, path);
    if (status == 200)
        status = normalise(path);
    if (status != 200) {
        free(path);
        return status;
    }
    *out = path;
    return 200;
}

/* realpath() of root + path, checked to be inside root; 200, 403, 404 or -1. */
static int real_inside(const char *root, const char *path, char **real)
{
    /* TODO(student): (handout §4.2) realpath(root + path); 404 for ENOENT/ENOTDIR/ENAMETOOLONG, 403
     * otherwise; 403 if the result is not root or under it. Until then root + path is used
     * as it is: UNSAFE, a symbolic link leads anywhere. */
    size_t rn = strlen(root), pn = strlen(path);

    *real = malloc(rn + pn + 1);
    if (*real == NULL)
        return -1;
    memcpy(*real, root, rn);
    memcpy(*real + rn, path, pn + 1);
    return 200;
}

int resolve_path(const char *root, const char *path, char **file)
{
    struct stat st;
    char *real;
    int status = real_inside(root, path, &real);

    if (status != 200)
        return status;
    if (stat(real, &st) == -1) {
        free(real);
        return 404;
    }
    if (S_ISDIR(st.st_mode)) {
        /* A directory is served by its index.html, which may be a symlink out too. */
        size_t n = strcmp(path, "/") == 0 ? 0 : strlen(path);
        char *index = malloc(n + sizeof "/index.html");
        free(real);
        if (index == NULL)
            return -1;
        memcpy(index, path, n);
        memcpy(index + n, "/index.html", sizeof "/index.html");
        status = real_inside(root, index, &real);
        free(index);
        if (status != 200)
            return status;
        if (stat(real, &st) == -1) {
            free(real);
            return 404;
        }
    }
    if (!S_ISREG(st.st_mode)) {
        free(real);
        return 403;
    }
    *file = real;
    return 200;
}

/* ---- types, dates, reasons ---------------------------------------------------------------- */

const char *mime_type(const char *name)
{
    static const struct {
        const char *ext, *type;
    } types[] = {
        {"html", "text/html; charset=utf-8"}, {"htm", "text/html; charset=utf-8"},
        {"css", "text/css"},                  {"js", "text/javascript"},
        {"json", "application/json"},         {"txt", "text/plain; charset=utf-8"},
        {"png", "image/png"},                 {"jpg", "image/jpeg"},
        {"jpeg", "image/jpeg"},               {"gif", "image/gif"},
        {"svg", "image/svg+xml"},             {"ico", "image/x-icon"},
        {"pdf", "application/pdf"},           {"wasm", "application/wasm"},
    };
    const char *slash = strrchr(name, '/');
    const char *dot = strrchr(slash != NULL ? slash : name, '.');
    size_t i;

    if (dot == NULL)
        return "application/octet-stream";
    for (i = 0; i < sizeof types / sizeof types[0]; i++)
        if (span_is((struct span){dot + 1, strlen(dot + 1)}, types[i].ext))
            return types[i].type;
    return "application/octet-stream";
}

static const char *const DAYS[] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
static const char *const MONTHS[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                     "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};

char *http_date(time_t t, char *buf)
{
    char tmp[96];
    struct tm tm;

    /* Names from our own tables: strftime's %a and %b follow the locale. */
    if (gmtime_r(&t, &tm) == NULL) {
        buf[0] = '\0';
        return buf;
    }
    /* Through a roomy buffer: the compiler cannot see that every field has its usual width. */
    snprintf(tmp, sizeof tmp, "%s, %02d %s %04d %02d:%02d:%02d GMT", DAYS[tm.tm_wday], tm.tm_mday,
             MONTHS[tm.tm_mon], tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec);
    snprintf(buf, HTTP_DATE_LEN, "%.29s", tmp);
    return buf;
}

/* Days from 1970-01-01 to y-m-d (proleptic Gregorian): timegm() is not POSIX. */
static long long days_from_civil(long long y, int m, int d)
{
    long long era, yoe, doy, doe;

    y -= m <= 2;
    era = (y >= 0 ? y : y - 399) / 400;
    yoe = y - era * 400;
    doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

static int digits(const char *s, int n)
{
    int v = 0, i;

    for (i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        v = v * 10 + (s[i] - '0');
    }
    return v;
}

int parse_http_date(const char *s, size_t n, time_t *t)
{
    /* "Sun, 06 Nov 1994 08:49:37 GMT": 29 bytes at fixed offsets. */
    int day, year, hh, mm, ss, mon = -1, i;

    if (n != 29 || memcmp(s + 3, ", ", 2) != 0 || s[7] != ' ' || s[11] != ' ' || s[16] != ' ' ||
        s[19] != ':' || s[22] != ':' || memcmp(s + 25, " GMT", 4) != 0)
        return -1;
    for (i = 0; i < 12; i++)
        if (memcmp(s + 8, MONTHS[i], 3) == 0)
            mon = i;
    day = digits(s + 5, 2);
    year = digits(s + 12, 4);
    hh = digits(s + 17, 2);
    mm = digits(s + 20, 2);
    ss = digits(s + 23, 2);
    if (mon < 0 || day < 1 || day > 31 || year < 0 || hh < 0 || hh > 23 || mm < 0 || mm > 59 ||
        ss < 0 || ss > 60)
        return -1;
    *t = (time_t)(days_from_civil(year, mon + 1, day) * 86400LL + hh * 3600 + mm * 60 + ss);
    return 0;
}

const char *reason_phrase(int status)
{
    switch (status) {
    case 200: return "OK";
    case 304: return "Not Modified";
    case 400: return "Bad Request";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 408: return "Request Timeout";
    case 413: return "Content Too Large";
    case 414: return "URI Too Long";
    case 431: return "Request Header Fields Too Large";
    case 501: return "Not Implemented";
    case 503: return "Service Unavailable";
    case 505: return "HTTP Version Not Supported";
    default: return "Unknown";
    }
}
