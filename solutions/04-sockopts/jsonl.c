/* jsonl.c: the JSON Lines writer (see jsonl.h). */
/* Feature macros: POSIX.1-2008 only. */
#define _POSIX_C_SOURCE 200809L

#include "jsonl.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

/* Append formatted text; remember an overflow instead of writing past the buffer. */
static void add(struct jline *j, const char *fmt, ...)
{
    va_list ap;
    int n;

    if (j->overflow)
        return;
    va_start(ap, fmt);
    n = vsnprintf(j->buf + j->len, sizeof j->buf - j->len, fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= sizeof j->buf - j->len) {
        j->overflow = 1;
        return;
    }
    j->len += (size_t)n;
}

static void add_key(struct jline *j, const char *key)
{
    add(j, ",\"%s\":", key);
}

/* JSON strings: escape the quote, the backslash and control characters (RFC 8259 §7). */
static void add_escaped(struct jline *j, const char *s)
{
    add(j, "\"");
    for (; *s != '\0'; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\')
            add(j, "\\%c", c);
        else if (c < 0x20)
            add(j, "\\u%04x", c);
        else
            add(j, "%c", c);
    }
    add(j, "\"");
}

void jl_begin(struct jline *j, const char *experiment, const char *kind)
{
    j->len = 0;
    j->overflow = 0;
    add(j, "{\"experiment\":");
    add_escaped(j, experiment);
    add(j, ",\"kind\":");
    add_escaped(j, kind);
}

void jl_str(struct jline *j, const char *key, const char *value)
{
    add_key(j, key);
    if (value == NULL)
        add(j, "null");
    else
        add_escaped(j, value);
}

void jl_int(struct jline *j, const char *key, long long value)
{
    add_key(j, key);
    add(j, "%lld", value);
}

void jl_num(struct jline *j, const char *key, double value, int decimals)
{
    add_key(j, key);
    if (isfinite(value))
        add(j, "%.*f", decimals, value);
    else
        add(j, "null");
}

void jl_bool(struct jline *j, const char *key, int value)
{
    add_key(j, key);
    add(j, value ? "true" : "false");
}

int jl_emit(struct jline *j)
{
    add(j, "}\n");
    if (j->overflow) {
        errno = EMSGSIZE;
        return -1;
    }
    /* One fwrite per line and a flush: a reader on a pipe sees whole lines, at once. */
    if (fwrite(j->buf, 1, j->len, stdout) != j->len || fflush(stdout) == EOF)
        return -1;
    return 0;
}
