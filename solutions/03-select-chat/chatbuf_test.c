/* chatbuf_test.c: unit tests of chatbuf.c (given, complete): the output queue and line framing. */
/*
 * Usage: chatbuf_test [outq|linebuf]
 *
 * Checks chatbuf.c against the contract in chatbuf.h, with no sockets: bytes go in
 * the way recv() would put them (linebuf_space(), memcpy(), linebuf_commit()) and
 * come out the way send() would take them (outq_consume()). One line per check:
 * "ok - what" or "FAIL - what: got ..., expected ...". With an argument, only that
 * group runs (outq: handout step 1, linebuf: step 2).
 *
 * Run it alone with `make unit` in this folder; the tests run it too (test_unit_*), and
 * count the "ok" lines of each group (UNIT_CHECKS in harness/tests/test_lab03.py).
 * Exit codes: 0 when every check passed, 1 when one failed, 2 for bad arguments.
 */
#define _POSIX_C_SOURCE 200809L

#include "chatbuf.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int failures;

/* One check: print its verdict, count a failure. */
static void check(int ok, const char *what, const char *detail)
{
    if (ok)
        printf("ok - %s\n", what);
    else {
        printf("FAIL - %s: %s\n", what, detail);
        failures++;
    }
    fflush(stdout);
}

/* Whether the queue holds exactly these bytes; a description of the difference in why. */
static int queue_holds(const struct outq *q, const char *want, size_t n, char *why, size_t whylen)
{
    size_t i;

    if (q->len != n) {
        snprintf(why, whylen, "q->len is %zu, expected %zu", q->len, n);
        return 0;
    }
    if (n > 0 && q->data == NULL) {
        snprintf(why, whylen, "q->data is NULL with %zu bytes queued", n);
        return 0;
    }
    for (i = 0; i < n; i++) {
        if (q->data[q->head + i] != want[i]) {
            snprintf(why, whylen, "queued byte %zu (q->data[q->head + %zu]) is 0x%02x, expected 0x%02x",
                     i, i, (unsigned char)q->data[q->head + i], (unsigned char)want[i]);
            return 0;
        }
    }
    snprintf(why, whylen, "as expected");
    return 1;
}

static void test_outq(void)
{
    struct outq q = {0};
    char why[160], *big, *want;
    size_t i, n = 100 * 1000;

    check(outq_push(&q, "hello", 5) == 0 && queue_holds(&q, "hello", 5, why, sizeof why),
          "outq_push of 5 bytes to an empty queue", why);
    check(outq_push(&q, "", 0) == 0 && queue_holds(&q, "hello", 5, why, sizeof why),
          "outq_push of 0 bytes leaves the queue as it was", why);
    check(outq_push(&q, " world", 6) == 0 && queue_holds(&q, "hello world", 11, why, sizeof why),
          "a second outq_push appends after the first", why);
    outq_consume(&q, 3);
    check(queue_holds(&q, "lo world", 8, why, sizeof why),
          "outq_consume(3) drops exactly 3 bytes from the front (a partial send)", why);
    check(outq_push(&q, "!", 1) == 0 && queue_holds(&q, "lo world!", 9, why, sizeof why),
          "outq_push after a partial outq_consume appends after the queued bytes, not after data[len]", why);
    outq_consume(&q, 9);
    check(queue_holds(&q, "", 0, why, sizeof why), "outq_consume of everything empties the queue", why);
    check(outq_push(&q, "again", 5) == 0 && queue_holds(&q, "again", 5, why, sizeof why),
          "an emptied queue takes new bytes", why);
    outq_consume(&q, 5);

    /* 100 KB in 1000-byte pushes, each partly consumed in between: growth and sliding. */
    big = malloc(n);
    want = malloc(n);
    if (big == NULL || want == NULL) {
        fprintf(stderr, "chatbuf_test: malloc: out of memory\n");
        exit(1);
    }
    for (i = 0; i < n; i++)
        big[i] = (char)('a' + i % 23);
    for (i = 0; i < n; i += 1000) {
        if (outq_push(&q, big + i, 1000) == -1)
            break;
    }
    check(i == n && queue_holds(&q, big, n, why, sizeof why), "100 pushes of 1000 bytes: 100 KB, in order", why);
    outq_consume(&q, n - 10);
    memcpy(want, big + n - 10, 10);
    for (i = 0; i < 5000; i++)
        want[10 + i] = (char)('A' + i % 26);
    check(outq_push(&q, want + 10, 5000) == 0 && queue_holds(&q, want, 5010, why, sizeof why),
          "after consuming all but 10 bytes, a 5000-byte push keeps those 10 first", why);
    outq_free(&q);
    check(q.len == 0 && q.data == NULL, "outq_free leaves an empty queue with no storage", "q.len or q.data not reset");
    check(outq_push(&q, "reuse", 5) == 0 && queue_holds(&q, "reuse", 5, why, sizeof why),
          "a freed queue can be used again", why);
    outq_free(&q);
    /* Room enough in the queue, but not after head: a correct queue moves the queued bytes to
     * the front (or grows); either way they stay first, in order, and the new ones follow. */
    memcpy(want, big + 2000, 1000);
    memcpy(want + 1000, big + 5000, 2500);
    outq_push(&q, big, 3000);
    outq_consume(&q, 2000);
    check(outq_push(&q, big + 5000, 2500) == 0 && queue_holds(&q, want, 3500, why, sizeof why),
          "3000 bytes pushed, 2000 consumed, 2500 pushed: the 1000 left stay first, then the 2500", why);
    outq_free(&q);
    free(big);
    free(want);
}

/* Put bytes into the line buffer as one recv() would. 0, or -1 if there is no room. */
static int feed(struct linebuf *lb, const char *p, size_t n)
{
    size_t room;
    char *at = linebuf_space(lb, &room);

    if (at == NULL || room < n)
        return -1;
    memcpy(at, p, n);
    linebuf_commit(lb, n);
    return 0;
}

/* The next linebuf_next() must give status st, and for LINE_OK the line want (n bytes). */
static void expect_line(struct linebuf *lb, enum line_status st, const char *want, size_t n, const char *what)
{
    static const char *names[] = {"LINE_NONE", "LINE_OK", "LINE_TOO_LONG"};
    const char *line = NULL;
    size_t len = 0;
    enum line_status got = linebuf_next(lb, &line, &len);
    char why[160];

    if (got != st)
        snprintf(why, sizeof why, "returned %s, expected %s", (unsigned)got < 3 ? names[got] : "an unknown status",
                 names[st]);
    else if (st == LINE_OK && (len != n || memcmp(line, want, n) != 0))
        snprintf(why, sizeof why, "the line is %zu bytes \"%.40s\", expected %zu bytes \"%.40s\"", len,
                 len <= 40 ? line : "(long)", n, want);
    else {
        check(1, what, "");
        return;
    }
    check(0, what, why);
}

static void test_linebuf(void)
{
    struct linebuf lb;
    char long_line[2100];
    size_t room;
    int i, ok;

    memset(&lb, 0, sizeof lb);
    memset(long_line, 'x', sizeof long_line);
    feed(&lb, "hello\n", 6);
    expect_line(&lb, LINE_OK, "hello", 5, "one line");
    expect_line(&lb, LINE_NONE, NULL, 0, "then nothing");
    feed(&lb, "a\nbb\nccc\n", 9);
    expect_line(&lb, LINE_OK, "a", 1, "three lines in one recv(): the first");
    expect_line(&lb, LINE_OK, "bb", 2, "three lines in one recv(): the second");
    expect_line(&lb, LINE_OK, "ccc", 3, "three lines in one recv(): the third");
    expect_line(&lb, LINE_NONE, NULL, 0, "three lines in one recv(): then nothing");
    feed(&lb, "hel", 3);
    expect_line(&lb, LINE_NONE, NULL, 0, "half a line waits");
    feed(&lb, "lo\nwor", 6);
    expect_line(&lb, LINE_OK, "hello", 5, "the rest of the line completes it");
    expect_line(&lb, LINE_NONE, NULL, 0, "the start of the next line waits");
    feed(&lb, "ld\r\n", 4);
    expect_line(&lb, LINE_OK, "world", 5, "CRLF: the CR before the LF is removed");
    feed(&lb, "\r\n\n", 3);
    expect_line(&lb, LINE_OK, "", 0, "an empty line ending in CRLF is a line of 0 bytes");
    expect_line(&lb, LINE_OK, "", 0, "an empty line ending in LF is a line of 0 bytes");
    feed(&lb, "a\rb\n", 4);
    expect_line(&lb, LINE_OK, "a\rb", 3, "a CR that does not end the line is kept");
    feed(&lb, "n\0l\n", 4);
    expect_line(&lb, LINE_OK, "n\0l", 3, "a NUL byte is part of the line");

    feed(&lb, long_line, 1024);
    feed(&lb, "\n", 1);
    expect_line(&lb, LINE_OK, long_line, 1024, "1024 bytes and LF: the longest line");
    feed(&lb, long_line, 1024);
    feed(&lb, "\r\n", 2);
    expect_line(&lb, LINE_OK, long_line, 1024, "1024 bytes and CRLF: the longest line");
    feed(&lb, long_line, 1024);
    feed(&lb, "\r", 1);
    expect_line(&lb, LINE_NONE, NULL, 0, "1024 bytes and a CR: not too long yet (it may be a CRLF)");
    feed(&lb, "\n", 1);
    expect_line(&lb, LINE_OK, long_line, 1024, "... and the LF comes: the longest line");
    feed(&lb, long_line, 1025);
    feed(&lb, "\n", 1);
    expect_line(&lb, LINE_TOO_LONG, NULL, 0, "1025 bytes and LF: too long");
    expect_line(&lb, LINE_NONE, NULL, 0, "too long is reported once");
    feed(&lb, "next\n", 5);
    expect_line(&lb, LINE_OK, "next", 4, "the line after a too-long one");

    feed(&lb, long_line, 1000);
    expect_line(&lb, LINE_NONE, NULL, 0, "1000 bytes without an LF wait");
    feed(&lb, long_line, 1000);
    expect_line(&lb, LINE_TOO_LONG, NULL, 0, "2000 bytes without an LF: too long at once, before any LF");
    expect_line(&lb, LINE_NONE, NULL, 0, "too long, then nothing");
    ok = feed(&lb, long_line, 2000) == 0;
    check(ok, "after LINE_TOO_LONG, linebuf_space() has room again", "not enough room for 2000 more bytes");
    expect_line(&lb, LINE_NONE, NULL, 0, "more bytes of the too-long line are dropped silently");
    feed(&lb, "tail\nafter\n", 11);
    expect_line(&lb, LINE_OK, "after", 5, "the rest of a too-long line, up to its LF, is dropped");
    expect_line(&lb, LINE_NONE, NULL, 0, "and nothing else");

    /* 3000 lines of 10 bytes: far more than LINEBUF_SIZE, so space must be reclaimed. */
    ok = 1;
    for (i = 0; i < 3000 && ok; i++) {
        const char *line;
        size_t len;
        ok = feed(&lb, "123456789\n", 10) == 0 && linebuf_next(&lb, &line, &len) == LINE_OK && len == 9;
    }
    check(ok, "3000 lines of 10 bytes, one at a time: the space of handled lines is used again",
          "a feed or a line failed: linebuf_space() must move the unread bytes to the front");
    linebuf_space(&lb, &room);
    check(room >= LINEBUF_SIZE - CHAT_LINE_MAX - 1, "linebuf_space() reports the room after the unread bytes",
          "room is smaller than chatbuf.h promises");
}

int main(int argc, char **argv)
{
    const char *group = argc > 1 ? argv[1] : "all";

    if (argc > 2 || (strcmp(group, "all") != 0 && strcmp(group, "outq") != 0 && strcmp(group, "linebuf") != 0)) {
        fprintf(stderr, "usage: chatbuf_test [outq|linebuf]\n");
        return 2;
    }
    if (strcmp(group, "linebuf") != 0)
        test_outq();
    if (strcmp(group, "outq") != 0)
        test_linebuf();
    printf("%s: %d check%s failed\n", failures ? "FAILED" : "passed", failures, failures == 1 ? "" : "s");
    return failures ? 1 : 0;
}
