/* http.h: Lab 05's HTTP/1.1 pieces: the request parser, the path resolver, dates and types. */
/**
 * @file http.h
 * @brief What http_server needs to understand a request and find its file.
 *
 * Nothing here does I/O on a socket: the parser reads bytes the poll() loop has
 * gathered, the resolver looks at the file system. Every limit is a named constant
 * that the handout (labs/05-http-poll/README.md) quotes.
 */
#ifndef SOCKLAB_HTTP_H
#define SOCKLAB_HTTP_H

#include <stddef.h>
#include <sys/stat.h>
#include <time.h>

/** @brief Longest request line, CRLF not counted (bytes); longer gives 414 (handout §3.3). */
#define REQ_LINE_MAX 8192
/** @brief Largest header section after the request line, blank line included (bytes); 431. */
#define HEADER_BYTES_MAX 16384
/** @brief Most header fields in one request; more gives 431. */
#define HEADER_FIELDS_MAX 100
/** @brief Largest request body the server reads and discards (bytes); larger gives 413. */
#define BODY_MAX (1024 * 1024)

/** @brief A run of bytes inside the connection's input buffer (not NUL-terminated). */
struct span {
    const char *p; /**< first byte, or NULL when absent */
    size_t n;      /**< length in bytes */
};

/** @brief One parsed request head. Pointers point into the caller's buffer. */
struct request {
    struct span line;    /**< the request line without CRLF, for the log (n == 0: unknown) */
    struct span method;  /**< the method token, case-sensitive ("GET") */
    struct span target;  /**< the request target, origin-form ("/a%20b?q") */
    int minor;           /**< HTTP/1.minor: 0 or 1 (1.2 and up count as 1) */
    int close;           /**< 1 if the connection must close after the response */
    unsigned long long length; /**< Content-Length (0 without one) */
    struct span ims;     /**< If-Modified-Since value (p == NULL without one) */
    size_t head_len;     /**< bytes of the head, from the first byte to the blank line included */
};

/**
 * @brief Parse one request head from the start of @p buf.
 * @param buf Bytes received and not yet consumed.
 * @param len Their number.
 * @param r   Filled in; every field is reset first (a connection reuses one).
 * @return 0 if more bytes are needed; 200 for a complete, well-formed head (r->head_len
 *         bytes); or the error status to answer: 400 (malformed line, header, Host,
 *         Content-Length, or any Transfer-Encoding), 413 (Content-Length over BODY_MAX),
 *         414 (request line over REQ_LINE_MAX), 431 (header section over HEADER_BYTES_MAX
 *         or over HEADER_FIELDS_MAX fields), 505 (HTTP major version other than 1).
 *         After an error, r->line is set if the request line was complete.
 * @see RFC 9112 §2-§6; handout §3.
 */
int parse_request(const char *buf, size_t len, struct request *r);

/**
 * @brief Percent-decode and normalise the path of a request target.
 * @param target The target ("/a/./b/../c%20d?x"); the query (from '?') is ignored.
 * @param n      Its length in bytes.
 * @param out    On success, a malloc'd NUL-terminated path such as "/a/c d" (free it).
 * @return 200 on success; 400 for a malformed escape, a NUL, a backslash or an encoded
 *         slash ("%2F"); 403 for a ".." that climbs above the root; -1 if out of memory.
 * @see RFC 3986 §2.1 (percent-encoding), §5.2.4 (remove_dot_segments); handout §4.1.
 */
int decode_path(const char *target, size_t n, char **out);

/**
 * @brief Find the regular file that a normalised path names under the document root.
 * @param root The document root's real path (realpath(3), no trailing slash unless "/").
 * @param path A path from decode_path() ("/", "/a/b.html").
 * @param file On success, the file's real path, malloc'd (free it).
 * @return 200 on success; 404 if nothing is there (or a directory without index.html);
 *         403 if the real path leaves @p root (a symbolic link), the file is not a regular
 *         file, or it cannot be reached (EACCES, ELOOP); -1 if out of memory.
 * @see realpath(3); handout §4.2.
 */
int resolve_path(const char *root, const char *path, char **file);

/**
 * @brief The Content-Type for a file name, from its extension (case-insensitive).
 * @param name A file name or path.
 * @return A static string; "application/octet-stream" for an unknown extension.
 * @see RFC 9110 §8.3 (Content-Type); handout §3.2 (the table).
 */
const char *mime_type(const char *name);

/** @brief Room for an IMF-fixdate ("Sun, 06 Nov 1994 08:49:37 GMT") and its NUL. */
#define HTTP_DATE_LEN 30

/**
 * @brief Format a time as an IMF-fixdate.
 * @param t   Seconds since the epoch.
 * @param buf HTTP_DATE_LEN bytes.
 * @return @p buf ("" if @p t cannot be converted).
 * @see RFC 9110 §5.6.7.
 */
char *http_date(time_t t, char *buf);

/**
 * @brief Parse an IMF-fixdate.
 * @param s The text (not NUL-terminated).
 * @param n Its length.
 * @param t Where the time goes (seconds since the epoch, UTC).
 * @return 0 on success, -1 if @p s is not an IMF-fixdate (the obsolete formats are refused).
 * @see RFC 9110 §5.6.7.
 */
int parse_http_date(const char *s, size_t n, time_t *t);

/**
 * @brief The reason phrase of a status code this server sends.
 * @param status 200, 304, 400, 403, 404, 405, 408, 413, 414, 431, 501, 503 or 505.
 * @return A static string ("Not Found"); "Unknown" for another code.
 * @see RFC 9110 §15 (status codes); handout §3.4.
 */
const char *reason_phrase(int status);

#endif
