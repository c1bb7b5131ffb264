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
    const char *sp1, *sp2, *v;
    size_t vn;

    sp1 = memchr(line.p, ' ', line.n);
    if (sp1 == NULL)
        return 400;
    sp2 = memchr(sp1 + 1, ' ', line.n - (size_t)(sp1 + 1 - line.p));
    if (sp2 == NULL)
        return 400;
    r->method = (struct span){line.p, (size_t)(sp1 - line.p)};
    r->target = (struct span){sp1 + 1, (size_t)(sp2 - sp1 - 1)};
    v = sp2 + 1;
    vn = line.n - (size_t)(v - line.p);
    if (!is_token(r->method.p, r->method.n) || r->target.n == 0 || r->target.p[0] != '/')
        return 400;
    for (size_t i = 0; i < r->target.n; i++)
        if ((unsigned char)r->target.p[i] <= 0x20 || (unsigned char)r->target.p[i] >= 0x7f)
            return 400;
    if (vn != 8 || memcmp(v, "HTTP/", 5) != 0 || v[5] < '0' || v[5] > '9' || v[6] != '.' ||
        v[7] < '0' || v[7] > '9')
        return 400;
    if (v[5] != '1')
        return 505;
    r->minor = v[7] == '0' ? 0 : 1;
    /* HTTP/1.0 closes after each response (handout §3.5): no keep-alive for 1.0 here. */
    r->close = r->minor == 0;
    return 200;
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
    const char *colon = memchr(f.p, ':', f.n);
    struct span name, value;
    size_t i;

    /* A line that starts with whitespace is obsolete line folding (RFC 9112 §5.2): refused. */
    if (colon == NULL || f.n == 0 || f.p[0] == ' ' || f.p[0] == '\t')
        return 400;
    name = (struct span){f.p, (size_t)(colon - f.p)};
    /* is_token also refuses whitespace between the name and the colon (RFC 9112 §5.1). */
    if (!is_token(name.p, name.n))
        return 400;
    value = (struct span){colon + 1, f.n - name.n - 1};
    while (value.n > 0 && (value.p[0] == ' ' || value.p[0] == '\t')) {
        value.p++;
        value.n--;
    }
    while (value.n > 0 && (value.p[value.n - 1] == ' ' || value.p[value.n - 1] == '\t'))
        value.n--;
    for (i = 0; i < value.n; i++) {
        unsigned char ch = (unsigned char)value.p[i];
        if ((ch < 0x20 && ch != '\t') || ch == 0x7f)
            return 400;
    }
    if (span_is(name, "host")) {
        h->hosts++;
    } else if (span_is(name, "content-length")) {
        unsigned long long len;
        if (parse_length(value, &len) == -1 || (h->has_length && len != r->length))
            return 400;
        h->has_length = 1;
        r->length = len;
    } else if (span_is(name, "transfer-encoding")) {
        h->has_te = 1;
    } else if (span_is(name, "connection")) {
        if (list_has(value, "close"))
            r->close = 1;
    } else if (span_is(name, "if-modified-since")) {
        r->ims = value;
    }
    return 200;
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
    const char *p = buf, *end = buf + len, *lf;
    struct head_state h = {0, 0, 0};
    size_t n, fields = 0;
    int status;

    memset(r, 0, sizeof *r);
    /* Empty lines before a request line are ignored (RFC 9112 §2.2). */
    while (p < end && (*p == '\n' || (*p == '\r' && p + 1 < end && p[1] == '\n')))
        p += *p == '\n' ? 1 : 2;
    lf = line_end(p, end, &n);
    if (lf == NULL)
        return (size_t)(end - p) > REQ_LINE_MAX + 1 ? 414 : 0;
    if (n > REQ_LINE_MAX)
        return 414;
    r->line = (struct span){p, n};
    if (memchr(p, '\r', n) != NULL || memchr(p, '\0', n) != NULL)
        return 400;
    status = parse_request_line(r->line, r);
    if (status != 200)
        return status;
    /* The header section: complete (blank line) and within limits before any field counts. */
    {
        const char *fields_start = lf + 1, *q = fields_start;
        for (;;) {
            const char *flf = line_end(q, end, &n);
            if (flf == NULL) {
                if ((size_t)(end - fields_start) > HEADER_BYTES_MAX)
                    return 431;
                return 0;
            }
            if ((size_t)(flf + 1 - fields_start) > HEADER_BYTES_MAX)
                return 431;
            if (n == 0) {
                r->head_len = (size_t)(flf + 1 - buf);
                break;
            }
            if (++fields > HEADER_FIELDS_MAX)
                return 431;
            q = flf + 1;
        }
        for (q = fields_start; ; ) {
            const char *flf = line_end(q, end, &n);
            if (n == 0)
                break;
            if (memchr(q, '\r', n) != NULL)
                return 400; /* a bare CR inside a line */
            status = parse_field((struct span){q, n}, r, &h);
            if (status != 200)
                return status;
            q = flf + 1;
        }
    }
    /* HTTP/1.1 requires exactly one Host; HTTP/1.0 allows none (RFC 9112 §3.2). */
    if (h.hosts > 1 || (r->minor == 1 && h.hosts == 0))
        return 400;
    /* No request body coding is taken: Transfer-Encoding (with or without a Content-Length,
     * the classic request-smuggling pair) is refused, and the connection closed. */
    if (h.has_te)
        return 400;
    if (r->length > BODY_MAX)
        return 413;
    return 200;
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
    size_t i, k = 0;

    for (i = 0; i < n; i++) {
        int ch = (unsigned char)src[i];
        if (ch == '%') {
            int hi = i + 2 < n ? hexval(src[i + 1]) : -1;
            int lo = hi >= 0 ? hexval(src[i + 2]) : -1;
            if (hi < 0 || lo < 0)
                return 400;
            ch = hi * 16 + lo;
            i += 2;
            /* An encoded slash would let "..%2F" pass the segment check as one name. */
            if (ch == '/')
                return 400;
        }
        if (ch == '\0' || ch == '\\')
            return 400;
        dst[k++] = (char)ch;
    }
    dst[k] = '\0';
    return 200;
}

/* Remove "." and ".." segments and empty ones, in place: "/a/./b/../c" -> "/a/c"; 403 above root. */
static int normalise(char *path)
{
    char *in = path, *out = path;

    while (*in != '\0') {
        char *seg, *next;
        size_t n;
        while (*in == '/')
            in++;
        if (*in == '\0')
            break;
        seg = in;
        next = strchr(seg, '/');
        n = next != NULL ? (size_t)(next - seg) : strlen(seg);
        in = seg + n;
        if (n == 1 && seg[0] == '.')
            continue;
        if (n == 2 && seg[0] == '.' && seg[1] == '.') {
            if (out == path)
                return 403;
            while (out > path && *--out != '/')
                ;
            continue;
        }
        *out++ = '/';
        memmove(out, seg, n);
        out += n;
    }
    if (out == path)
        *out++ = '/';
    *out = '\0';
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
    size_t rn = strlen(root), pn = strlen(path);
    char *full = malloc(rn + pn + 1);
    int saved;

    if (full == NULL)
        return -1;
    memcpy(full, root, rn);
    memcpy(full + rn, path, pn + 1);
    *real = realpath(full, NULL);
    saved = errno;
    free(full);
    if (*real == NULL) {
        if (saved == ENOMEM)
            return -1;
        return saved == ENOENT || saved == ENOTDIR || saved == ENAMETOOLONG ? 404 : 403;
    }
    /* A symbolic link may lead anywhere: only the resolved path says where the file is. */
    if (strcmp(root, "/") != 0 &&
        (strncmp(*real, root, rn) != 0 || ((*real)[rn] != '/' && (*real)[rn] != '\0'))) {
        free(*real);
        *real = NULL;
        return 403;
    }
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
