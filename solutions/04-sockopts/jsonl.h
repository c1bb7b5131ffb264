/* jsonl.h: one JSON object per line on stdout, the lab's measurement format. */
/**
 * @file jsonl.h
 * @brief A tiny writer for JSON Lines: build one flat object, then emit it as one line.
 *
 * Every line the lab prints starts with "experiment" and "kind" (handout §3), so a
 * reader can route lines without knowing their order. The writer is finished: it is
 * not the lesson of the lab. It keeps its text in a struct the caller owns, never in a
 * static buffer, and emit() flushes at once because stdout is usually a pipe.
 *
 * Numbers are plain JSON numbers; a string value of NULL is written as null.
 */
#ifndef SOCKLAB_JSONL_H
#define SOCKLAB_JSONL_H

#include <stddef.h>

/** @brief Longest line the writer builds, in bytes; longer lines are an error at emit time. */
#define JLINE_MAX 1024

/** @brief One JSON object being built. Start it with jl_begin(). */
struct jline {
    char buf[JLINE_MAX]; /**< the text so far, without the closing brace */
    size_t len;          /**< bytes used in buf */
    int overflow;        /**< set when a field did not fit; jl_emit() then fails */
};

/**
 * @brief Start a line: {"experiment":EXPERIMENT,"kind":KIND
 * @param j          The line to fill (owned by the caller, no set-up needed).
 * @param experiment The experiment's name, for example "nodelay".
 * @param kind       What the line measures, for example "round" or "summary".
 * @see handout §3.2 (the line format), RFC 8259 (JSON), https://jsonlines.org
 */
void jl_begin(struct jline *j, const char *experiment, const char *kind);

/**
 * @brief Add "key": "value", escaped; @p value NULL adds "key": null.
 * @param j     The line.
 * @param key   The field name (plain ASCII, not escaped).
 * @param value The text, or NULL.
 * @see handout §3.2, RFC 8259 §7 (strings and their escapes).
 */
void jl_str(struct jline *j, const char *key, const char *value);

/**
 * @brief Add "key": integer.
 * @param j     The line.
 * @param key   The field name.
 * @param value The value.
 * @see handout §3.2.
 */
void jl_int(struct jline *j, const char *key, long long value);

/**
 * @brief Add "key": number with @p decimals digits after the point (3 gives ns in a us field).
 * @param j        The line.
 * @param key      The field name.
 * @param value    The value; NaN and infinities are written as null (JSON has neither).
 * @param decimals Digits after the decimal point, 0 to 9.
 * @see handout §3.2 (units in field names), printf(3) "%.*f".
 */
void jl_num(struct jline *j, const char *key, double value, int decimals);

/**
 * @brief Add "key": true or false.
 * @param j     The line.
 * @param key   The field name.
 * @param value Zero for false, anything else for true.
 * @see handout §3.2.
 */
void jl_bool(struct jline *j, const char *key, int value);

/**
 * @brief Close the object, write it and a newline to stdout, and flush.
 * @param j The line.
 * @return 0, or -1 with errno set: EMSGSIZE if the line outgrew JLINE_MAX, or the
 *         error of the write (EPIPE when the reader has gone).
 * @see fwrite(3), fflush(3), handout §3.2.
 */
int jl_emit(struct jline *j);

#endif
