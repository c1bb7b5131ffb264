/* chatbuf.c: Lab 03's per-client buffers (see chatbuf.h). Your work: the gaps marked TODO(student), handout §5.2 and §6. */
#define _POSIX_C_SOURCE 200809L
#include "chatbuf.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Stubs call this: a gap not filled yet stops the program at once, with a message,
 * rather than leaving the server spinning. Delete it once every TODO is done. */
static void not_written(const char *func, const char *section)
{
    fprintf(stderr, "chat_server: %s: not written yet (TODO in chatbuf.c, handout %s)\n", func, section);
    exit(1);
}

char *linebuf_space(struct linebuf *lb, size_t *room)
{
    /* TODO(student): (§6.2) move the unread bytes data[start .. len) to the front of data
     * (memmove: they may overlap), set start to 0, and report the free space after them
     * in *room. Return where the next recv() should write. See handout §6.2. */
    (void)lb; (void)room;
    not_written("linebuf_space", "§6.2");
    return NULL;
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
    /* TODO(student): (§6.2) find the next LF among data[start .. len) (memchr, not strchr: the
     * bytes may hold NULs). See handout §6.2 and §6.3.
     * - An LF: the line is the bytes before it, without a CR just before the LF (§6.4);
     *   move start past the LF. If lb->discarding, this was the tail of a line already
     *   reported: clear discarding and look for the next LF. If the line is longer than
     *   CHAT_LINE_MAX, return LINE_TOO_LONG. Otherwise set *line, *len, return LINE_OK.
     * - No LF: if discarding, drop the bytes (start = len) and return LINE_NONE. If
     *   cannot_fit(), set discarding, drop the bytes, return LINE_TOO_LONG (now, not at
     *   the LF: it may never come). Otherwise return LINE_NONE and wait for more. */
    (void)lb; (void)line; (void)len;
    (void)cannot_fit; /* you will call it */
    not_written("linebuf_next", "§6.2");
    return LINE_NONE;
}

int outq_push(struct outq *q, const void *p, size_t n)
{
    /* TODO(student): (§5.2) append n bytes after data[head .. head + len). When they do not fit
     * behind the queued bytes, first slide those to the front (head = 0); if that is
     * still not enough, realloc() to double the capacity (start at 4096) until it fits.
     * realloc() failing: return -1 (errno is ENOMEM) and leave the queue as it was.
     * See handout §5.2. */
    (void)q; (void)p; (void)n;
    not_written("outq_push", "§5.2");
    return -1;
}

void outq_consume(struct outq *q, size_t n)
{
    /* TODO(student): (§5.2) n bytes were sent: drop them from the front (head += n, len -= n).
     * When the queue becomes empty, set head back to 0 (and, if it grew past 64 KiB,
     * give the memory back with outq_free()). See handout §5.2. */
    (void)q; (void)n;
    not_written("outq_consume", "§5.2");
}

void outq_free(struct outq *q)
{
    free(q->data);
    q->data = NULL;
    q->head = q->len = q->cap = 0;
}
