/* tlsutil.c: the OpenSSL helpers that tls_client and tls_echo_server share. */
#define _POSIX_C_SOURCE 200809L
#include "tlsutil.h"

#include <openssl/err.h>
#include <stdio.h>
#include <string.h>

const char *tls_drain_errors(char *buf, size_t len, const char *fallback)
{
    unsigned long e;
    size_t used = 0;

    buf[0] = '\0';
    /* Pop every entry, not just the first: what is left would be printed as the
     * reason of the next, unrelated failure. */
    while ((e = ERR_get_error()) != 0) {
        const char *reason = ERR_reason_error_string(e);
        char code[32];
        int n;

        if (reason == NULL) {
            snprintf(code, sizeof code, "error %lx", e);
            reason = code;
        }
        if (used > 0 && strstr(buf, reason) != NULL)
            continue; /* the same reason from two layers says nothing new */
        n = snprintf(buf + used, len - used, "%s%s", used > 0 ? "; " : "", reason);
        if (n < 0 || (size_t)n >= len - used)
            used = len - 1;
        else
            used += (size_t)n;
    }
    if (used == 0 && fallback != NULL)
        snprintf(buf, len, "%s", fallback);
    return buf;
}
