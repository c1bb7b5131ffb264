/* sockopt_lab.h: Lab 04's experiments and the command-line options they share. */
/**
 * @file sockopt_lab.h
 * @brief One function per experiment of `sockopt_lab EXPERIMENT [options]`.
 *
 * Each experiment sets socket options, observes what the kernel does with them, and
 * prints one JSON line per measurement on stdout (handout §3) and a summary for people
 * on stderr. Each returns 0 when it could run to the end, whatever it measured, and
 * -1 when a system call failed (the message is already on stderr).
 */
#ifndef SOCKLAB_SOCKOPT_LAB_H
#define SOCKLAB_SOCKOPT_LAB_H

#include <stddef.h>

/** @brief The most buffer sizes one bufsize run takes (--sizes). */
#define MAX_SIZES 32

/** @brief Everything the command line can set; see handout §3.1 for the defaults. */
struct lab_opts {
    const char *host;            /**< loopback address or name (--host) */
    unsigned long rounds;        /**< nodelay: measured rounds per half (--rounds) */
    unsigned long warmup;        /**< nodelay: unmeasured rounds before them (--warmup) */
    unsigned long sizes[MAX_SIZES]; /**< bufsize: SO_SNDBUF/SO_RCVBUF requests, bytes (--sizes) */
    size_t nsizes;               /**< how many sizes */
    unsigned long duration_ms;   /**< bufsize: transfer time per size, ms (--duration-ms) */
    unsigned long timeout_ms;    /**< rcvtimeo: SO_RCVTIMEO, ms (--timeout-ms) */
    unsigned long idle_s;        /**< keepalive: TCP_KEEPIDLE, s (--idle) */
    unsigned long intvl_s;       /**< keepalive: TCP_KEEPINTVL, s (--intvl) */
    unsigned long count;         /**< keepalive: TCP_KEEPCNT, probes (--count) */
    int pause;                   /**< wait for Enter at each pause point (--pause) */
};

/**
 * @brief TIME_WAIT and SO_REUSEADDR: bind a port in TIME_WAIT without, then with, the option.
 * @param o The options (host).
 * @return 0, or -1 if a system call failed.
 * @see socket(7) SO_REUSEADDR, handout §4.
 */
int exp_reuseaddr(const struct lab_opts *o);

/**
 * @brief Nagle and delayed ACK: request/response latency without, then with, TCP_NODELAY.
 * @param o The options (host, rounds, warmup).
 * @return 0, or -1 if a system call failed.
 * @see tcp(7) TCP_NODELAY, handout §5.
 */
int exp_nodelay(const struct lab_opts *o);

/**
 * @brief SO_SNDBUF/SO_RCVBUF: the read-back of each requested size, and the throughput.
 * @param o The options (host, sizes, duration_ms).
 * @return 0, or -1 if a system call failed.
 * @see socket(7) SO_SNDBUF, handout §6.
 */
int exp_bufsize(const struct lab_opts *o);

/**
 * @brief SO_LINGER: what the peer sees after a default close, a {1,0} close, and a close
 *        with unread data.
 * @param o The options (host).
 * @return 0, or -1 if a system call failed.
 * @see socket(7) SO_LINGER, handout §7.
 */
int exp_linger(const struct lab_opts *o);

/**
 * @brief SO_KEEPALIVE and TCP_KEEPIDLE/KEEPINTVL/KEEPCNT: set them and read them back.
 * @param o The options (host, idle_s, intvl_s, count, pause).
 * @return 0, or -1 if a system call failed.
 * @see tcp(7), handout §8.
 */
int exp_keepalive(const struct lab_opts *o);

/**
 * @brief SO_RCVTIMEO: recv() on a silent peer fails with EAGAIN after the timeout.
 * @param o The options (host, timeout_ms).
 * @return 0, or -1 if a system call failed.
 * @see socket(7) SO_RCVTIMEO, handout §9.
 */
int exp_rcvtimeo(const struct lab_opts *o);

/**
 * @brief One connection walked through its TCP states, from TCP_INFO and from ss.
 * @param o The options (host, pause).
 * @return 0, or -1 if a system call failed.
 * @see tcp(7) TCP_INFO, RFC 9293 §3.3.2, handout §10.
 */
int exp_states(const struct lab_opts *o);

#endif
