/* chatbuf.c: Lab 03's per-client buffers: line framing and the output queue (see chatbuf.h). */
#define _POSIX_C_SOURCE 200809L
#include "chatbuf.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* An empty queue bigger than this gives its memory back: a client that was slow once
 * should not pin 256 KiB for the rest of its session. */
#define OUTQ_KEEP (64 * 1024)
#define OUTQ_MIN 4096

char *linebuf_space(struct linebuf *lb, size_t *room)
{
    /* Move the unfinished line to the front so the free space is in one piece. */
    if (lb->start > 0) {
        memmove(lb->data, lb->data + lb->start, lb->len - lb->start);
        lb->len -= lb->start;
        lb->start = 0;
    }
    *room = sizeof lb->data - lb->len;
    return lb->data + lb->len;
}

void linebuf_commit(struct linebuf *lb, size_t n)
{
    lb->len += n;
}

/* No LF among the unread bytes: are they already more than one line may hold? The
 * limit is CHAT_LINE_MAX plus a CR that may turn out to be the start of a CRLF. */
static int cannot_fit(const char *p, size_t avail)
{
    return avail > CHAT_LINE_MAX + 1 || (avail == CHAT_LINE_MAX + 1 && p[avail - 1] != '\r');
}

enum line_status linebuf_next(struct linebuf *lb, const char **line, size_t *len)
{
    for (;;) {
        char *p = lb->data + lb->start;
        size_t avail = lb->len - lb->start;
        char *lf = memchr(p, '\n', avail);
        size_t n;

        if (lf == NULL) {
            if (lb->discarding) {
                lb->start = lb->len;
                return LINE_NONE;
            }
            if (cannot_fit(p, avail)) {
                /* Say so now, not when the LF finally comes: the sender may never send one. */
                lb->discarding = 1;
                lb->start = lb->len;
                return LINE_TOO_LONG;
            }
            return LINE_NONE;
        }
        n = (size_t)(lf - p);
        lb->start += n + 1;
        if (lb->discarding) {
            /* The tail of a line already reported as too long. */
            lb->discarding = 0;
            continue;
        }
        if (n > 0 && p[n - 1] == '\r')
            n--;
        if (n > CHAT_LINE_MAX)
            return LINE_TOO_LONG;
        *line = p;
        *len = n;
        return LINE_OK;
    }
}

/* Make room for n more bytes: first by sliding the queued bytes to the front, then by
 * growing (doubling, so that a long run of small pushes costs O(total)). */
static int outq_reserve(struct outq *q, size_t n)
{
    size_t need, cap;
    char *p;

    if (n > SIZE_MAX / 2 - q->len) {
        errno = ENOMEM;
        return -1;
    }
    need = q->len + n;
    if (q->head + need <= q->cap)
        return 0;
    if (q->head > 0) {
        memmove(q->data, q->data + q->head, q->len);
        q->head = 0;
    }
    if (need <= q->cap)
        return 0;
    cap = q->cap > 0 ? q->cap : OUTQ_MIN;
    while (cap < need)
        cap *= 2;
    p = realloc(q->data, cap);
    if (p == NULL)
        return -1;
    q->data = p;
    q->cap = cap;
    return 0;
}

int outq_push(struct outq *q, const void *p, size_t n)
{
    if (n == 0)
        return 0;
    if (outq_reserve(q, n) == -1)
        return -1;
    memcpy(q->data + q->head + q->len, p, n);
    q->len += n;
    return 0;
}

void outq_consume(struct outq *q, size_t n)
{
    q->head += n;
    q->len -= n;
    if (q->len == 0) {
        q->head = 0;
        if (q->cap > OUTQ_KEEP)
            outq_free(q);
    }
}

void outq_free(struct outq *q)
{
    free(q->data);
    q->data = NULL;
    q->head = q->len = q->cap = 0;
}
