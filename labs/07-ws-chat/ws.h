/* ws.h: Lab 07's WebSocket pieces: the HTTP handshake, frames, close codes and UTF-8. */
/**
 * @file ws.h
 * @brief What ws_chat_server needs to speak RFC 6455 over the bytes its poll() loop gathers.
 *
 * Nothing here does I/O on a socket: every function reads or writes bytes in the caller's
 * buffers. Every limit is a named constant that the handout (labs/07-ws-chat/README.md)
 * quotes.
 */
#ifndef SOCKLAB_WS_H
#define SOCKLAB_WS_H

#include <stddef.h>
#include <stdint.h>

/** @brief Largest request head (request line, header fields, blank line), bytes; larger gets 431. */
#define HEAD_MAX 8192
/** @brief Most header fields in one request; more gets 431. */
#define FIELDS_MAX 64
/** @brief The GUID of RFC 6455 §1.3 that the accept key appends to the client's key. */
#define WS_GUID "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
/** @brief Length of a Sec-WebSocket-Accept value: base64 of a 20-byte SHA-1 (no NUL). */
#define WS_ACCEPT_LEN 28
/** @brief Longest frame header: 2 bytes, 8 of extended length, 4 of masking key. */
#define WS_HEADER_MAX 14
/** @brief Largest payload of a control frame (RFC 6455 §5.5). */
#define WS_CONTROL_MAX 125

/** @brief Opcodes (RFC 6455 §5.2). */
enum ws_opcode {
    WS_CONT = 0x0,   /**< continuation of a fragmented message */
    WS_TEXT = 0x1,   /**< a text message (UTF-8) */
    WS_BINARY = 0x2, /**< a binary message */
    WS_CLOSE = 0x8,  /**< close (optional 2-byte status code, then UTF-8 reason) */
    WS_PING = 0x9,   /**< ping: answered by a pong with the same payload */
    WS_PONG = 0xA    /**< pong */
};

/** @brief Close status codes this server sends (RFC 6455 §7.4.1). */
enum ws_close_code {
    WS_NORMAL = 1000,       /**< normal closure */
    WS_GOING_AWAY = 1001,   /**< the server is shutting down */
    WS_PROTOCOL = 1002,     /**< protocol error */
    WS_UNSUPPORTED = 1003,  /**< a data type the endpoint cannot accept (binary, here) */
    WS_BAD_DATA = 1007,     /**< a text message that is not valid UTF-8 */
    WS_TOO_BIG = 1009       /**< a message over --max-message */
};

/** @brief A run of bytes inside the caller's buffer (not NUL-terminated). */
struct span {
    const char *p; /**< first byte (NULL when absent) */
    size_t n;      /**< length in bytes */
};

/** @brief One header field; the value has no leading or trailing spaces or tabs. */
struct field {
    struct span name;  /**< the field name as sent (compare it case-insensitively) */
    struct span value; /**< the field value, optional whitespace trimmed (RFC 9110 §5.5) */
};

/** @brief One parsed request head. Pointers point into the caller's buffer. */
struct http_head {
    struct span method;   /**< "GET" */
    struct span target;   /**< "/chat" */
    int minor;            /**< HTTP/1.minor (HTTP/1.1 gives 1) */
    struct field fields[FIELDS_MAX]; /**< the header fields, in order */
    size_t nfields;       /**< how many */
    size_t len;           /**< bytes of the head, blank line included */
};

/**
 * @brief Parse one request head (request line and header fields) at the start of @p buf.
 * @param buf Bytes received and not yet consumed.
 * @param len Their number.
 * @param h   Filled in.
 * @return 1 for a complete head (h->len bytes); 0 if more bytes are needed; 400 if the
 *         head is malformed (request line, field syntax, a version other than HTTP/1.x);
 *         431 if it is longer than HEAD_MAX or has more than FIELDS_MAX fields.
 * @see RFC 9112 §2-§5; handout §3.1.
 */
int parse_head(const char *buf, size_t len, struct http_head *h);

/**
 * @brief The value of the first field named @p name (case-insensitive).
 * @param h    A head from parse_head().
 * @param name The field name ("Sec-WebSocket-Key").
 * @return A pointer to it inside @p h, or NULL if there is no such field.
 * @see RFC 9110 §5.1 (field names are case-insensitive); handout §3.1.
 */
const struct span *head_field(const struct http_head *h, const char *name);

/**
 * @brief Does a comma-separated list ("keep-alive, Upgrade") hold @p token (case-insensitive)?
 * @param list  A field value.
 * @param token The token ("Upgrade").
 * @return 1 if it does, 0 if not.
 * @see RFC 9110 §5.6.1 (lists), §7.6.1 (Connection).
 */
int has_token(struct span list, const char *token);

/**
 * @brief Sec-WebSocket-Accept for a key: base64(SHA-1(key + WS_GUID)).
 * @param key The key as the client sent it, already trimmed.
 * @param n   Its length in bytes (at most 64).
 * @param out WS_ACCEPT_LEN + 1 bytes: the value and a NUL.
 * @see RFC 6455 §4.2.2 step 5.4; docs/websocket.md.
 */
void ws_accept_key(const char *key, size_t n, char *out);

/**
 * @brief Decide what a request gets (the opening handshake, RFC 6455 §4.2.1).
 * @param h      A complete head from parse_head().
 * @param reason Set to a short reason for a 400 ("missing Sec-WebSocket-Key"), else NULL.
 * @return 200 for GET / (the chat page); 101 for a valid WebSocket handshake on GET /chat;
 *         404 for any other target; 405 for a method other than GET; 400 for a bad
 *         handshake on /chat (with @p reason); 426 for a Sec-WebSocket-Version other than 13.
 * @see handout §3.2.
 */
int check_handshake(const struct http_head *h, const char **reason);

/** @brief One frame from a client, its payload unmasked in place. */
struct ws_frame {
    int fin;                       /**< 1 if this is the last frame of its message */
    int opcode;                    /**< enum ws_opcode */
    unsigned char *payload;        /**< inside the caller's buffer, unmasked */
    size_t len;                    /**< payload length in bytes */
    size_t size;                   /**< bytes of the whole frame, header included */
};

/**
 * @brief Parse one client frame at the start of @p buf, and unmask its payload in place.
 * @param buf         Bytes received and not yet consumed (modified: the payload is unmasked).
 * @param len         Their number.
 * @param max_payload Largest payload allowed for a data frame (bytes).
 * @param f           Filled in when a whole frame is there.
 * @return 1 for a whole frame; 0 if more bytes are needed (nothing is modified);
 *         -1002 (WS_PROTOCOL) for a reserved bit set, a reserved opcode, an unmasked frame,
 *         a length whose top bit is set, a control frame that is fragmented or longer than
 *         WS_CONTROL_MAX; -1009 (WS_TOO_BIG) for a data frame longer than @p max_payload.
 *         An error is known from the header alone: the payload need not have arrived.
 * @see RFC 6455 §5.2, §5.3, §5.5; handout §4.1.
 */
int ws_parse_frame(unsigned char *buf, size_t len, uint64_t max_payload, struct ws_frame *f);

/**
 * @brief Write the header of a server frame: FIN set, never masked, shortest length form.
 * @param out    WS_HEADER_MAX bytes.
 * @param opcode enum ws_opcode.
 * @param len    The payload length in bytes.
 * @return The header's length: 2, 4 or 10 bytes.
 * @see RFC 6455 §5.2; handout §4.2.
 */
size_t ws_frame_header(unsigned char *out, int opcode, uint64_t len);

/**
 * @brief May a close frame carry this status code? (RFC 6455 §7.4.1, §7.4.2)
 * @param code The status code of a close frame (0 to 65535).
 * @return 1 for 1000-1003, 1007-1014 and 3000-4999; 0 for the rest (among them 1005,
 *         1006 and 1015, which must never be sent).
 * @see handout §4.5.
 */
int ws_close_code_ok(unsigned code);

/** @brief An incremental UTF-8 validator: the state between two pieces of one message. */
struct utf8 {
    unsigned need; /**< continuation bytes still expected for the current character */
    unsigned lo;   /**< smallest allowed value of the next continuation byte */
    unsigned hi;   /**< largest allowed value of the next continuation byte */
};

/**
 * @brief Check the next piece of a text message.
 * @param u State: all zero at the start of a message.
 * @param p The piece (a character may be split between two pieces).
 * @param n Its length.
 * @return 0 if the bytes so far may start valid UTF-8; -1 as soon as they cannot (an
 *         invalid byte, an overlong form, a surrogate, a code point above U+10FFFF).
 * @see RFC 3629 §4; handout §4.4.
 */
int utf8_feed(struct utf8 *u, const unsigned char *p, size_t n);

/**
 * @brief Does the message end on a character boundary?
 * @param u The state after the last piece of the message.
 * @return 1 if no character is left unfinished, 0 otherwise.
 * @see RFC 3629 §4; handout §4.4.
 */
int utf8_done(const struct utf8 *u);

#endif
