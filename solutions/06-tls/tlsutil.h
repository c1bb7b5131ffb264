/* tlsutil.h: the OpenSSL helpers that tls_client and tls_echo_server share. */
/**
 * @file tlsutil.h
 * @brief Reading OpenSSL's error queue into one line of text (handout §3.3).
 */
#ifndef SOCKLAB_TLSUTIL_H
#define SOCKLAB_TLSUTIL_H

#include <stddef.h>

/**
 * @brief Drain this thread's OpenSSL error queue into one line: the reasons, oldest first,
 *        separated by "; " (for example "wrong version number").
 * @param buf Where the text goes (256 bytes is plenty; longer text is cut).
 * @param len Size of @p buf in bytes (at least 1).
 * @param fallback What to write when the queue is empty (an SSL_ERROR_SYSCALL with errno 0,
 *        for example): NULL for "".
 * @return @p buf. The queue is empty afterwards, so that the next failure is not blamed on
 *         this one's reasons.
 * @see ERR_get_error(3), ERR_reason_error_string(3), ERR_error_string_n(3).
 */
const char *tls_drain_errors(char *buf, size_t len, const char *fallback);

#endif
