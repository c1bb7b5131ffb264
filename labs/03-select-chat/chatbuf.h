/* chatbuf.h: Lab 03's per-client buffers: line framing for input, a queue for output. */
/**
 * @file chatbuf.h
 * @brief The two buffers every chat client owns: a line buffer that turns a byte
 *        stream into lines, and an output queue that holds what the peer has not
 *        yet taken.
 *
 * TCP delivers bytes, not lines: one recv() may return half a line, or many
 * lines at once (handout §6). And a non-blocking send() may take only part of
 * what it is offered, or nothing at all (handout §5). Each client therefore
 * keeps its own input and its own output, in these structs; none of the
 * functions here keeps state of its own, prints, or exits.
 */
#ifndef SOCKLAB_CHATBUF_H
#define SOCKLAB_CHATBUF_H

#include <stddef.h>

/** @brief The longest line accepted, in bytes, without its LF or CRLF terminator (handout §3). */
#define CHAT_LINE_MAX 1024

/**
 * @brief Size of a line buffer in bytes: room for one whole line and its CRLF,
 *        with space left over so that one recv() can take several short lines.
 */
#define LINEBUF_SIZE 4096

/**
 * @brief Input framing for one client: bytes received but not yet handled.
 *
 * Bytes data[start .. len) are unread. A line longer than CHAT_LINE_MAX sets
 * @c discarding, and the rest of that line is dropped up to its LF.
 */
struct linebuf {
    char data[LINEBUF_SIZE]; /**< received bytes */
    size_t start;            /**< offset of the first byte not yet returned as a line */
    size_t len;              /**< offset one past the last byte received */
    int discarding;          /**< 1 while dropping the rest of an over-long line */
};

/** @brief What linebuf_next() found. */
enum line_status {
    LINE_NONE = 0,     /**< no complete line yet: recv() more */
    LINE_OK = 1,       /**< a line, terminator removed */
    LINE_TOO_LONG = 2  /**< a line passed CHAT_LINE_MAX bytes; it is (or will be) discarded */
};

/**
 * @brief Where the next recv() should write, after moving unread bytes to the front.
 * @param lb   The client's line buffer.
 * @param room Set to the free space in bytes; always at least
 *             LINEBUF_SIZE - CHAT_LINE_MAX - 1, because linebuf_next() never
 *             keeps more than one unfinished line.
 * @return A pointer into lb->data. Pointers from earlier linebuf_next() calls
 *         become invalid.
 * @see memmove(3), recv(2), handout §6.2.
 */
char *linebuf_space(struct linebuf *lb, size_t *room);

/**
 * @brief Record that recv() wrote @p n bytes at the place linebuf_space() gave.
 * @param lb The client's line buffer.
 * @param n  Bytes received, at most the room linebuf_space() reported.
 * @see linebuf_space(), handout §6.2.
 */
void linebuf_commit(struct linebuf *lb, size_t n);

/**
 * @brief Take the next complete line out of the buffer.
 *
 * A line ends at LF; a CR just before the LF is removed too, so CRLF clients
 * work. Call it in a loop until it returns LINE_NONE: one recv() may have
 * brought several lines (handout §6).
 *
 * @param lb   The client's line buffer.
 * @param line Set to the first byte of the line (not NUL-terminated; it may
 *             contain NUL bytes). Valid until the next linebuf_space().
 * @param len  Set to the line's length in bytes, 0 to CHAT_LINE_MAX.
 * @return LINE_OK with @p line and @p len set; LINE_NONE when only part of a
 *         line is buffered; LINE_TOO_LONG once per over-long line (reported as
 *         soon as it is known to be too long, its bytes dropped up to its LF).
 * @see memchr(3), handout §6.2, §6.3, §6.4.
 */
enum line_status linebuf_next(struct linebuf *lb, const char **line, size_t *len);

/**
 * @brief An output queue: bytes waiting for the peer to have room for them.
 *
 * Bytes data[head .. head + len) are queued. The queue grows as needed; the
 * caller decides how much is too much (handout §5.3).
 */
struct outq {
    char *data;  /**< heap storage, NULL while empty and never used */
    size_t head; /**< offset of the first queued byte */
    size_t len;  /**< bytes queued */
    size_t cap;  /**< bytes allocated */
};

/**
 * @brief Append @p n bytes at the end of the queue.
 * @param q The queue.
 * @param p The bytes.
 * @param n How many, 0 or more.
 * @return 0 on success; -1 with errno ENOMEM if the queue could not grow (the
 *         queue is unchanged).
 * @see realloc(3), handout §5.2.
 */
int outq_push(struct outq *q, const void *p, size_t n);

/**
 * @brief Drop @p n bytes from the front of the queue (they were sent).
 * @param q The queue.
 * @param n Bytes sent, at most q->len.
 * @see send(2), handout §5.2.
 */
void outq_consume(struct outq *q, size_t n);

/**
 * @brief Free the queue's storage; the queue is empty and reusable afterwards.
 * @param q The queue.
 * @see free(3), handout §7.2.
 */
void outq_free(struct outq *q);

#endif
