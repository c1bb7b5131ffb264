/* rtt.h: round-trip time statistics, and the RTO estimator of RFC 6298. */
/**
 * @file rtt.h
 * @brief The summary line's min/avg/max/mdev, and the retransmission timeout
 *        (RTO) computed from SRTT and RTTVAR as RFC 6298 §2 says.
 *
 * All times are in milliseconds. Nothing here reads a clock: the client measures,
 * these functions only do arithmetic, so they can be checked by hand (handout §5).
 */
#ifndef SOCKLAB_RTT_H
#define SOCKLAB_RTT_H

/** @brief Running statistics of the RTTs of answered requests. */
struct rtt_stats {
    unsigned long n; /**< samples so far */
    double min;      /**< smallest sample, ms (valid when n > 0) */
    double max;      /**< largest sample, ms (valid when n > 0) */
    double sum;      /**< sum of the samples, ms */
    double sumsq;    /**< sum of their squares, ms^2 */
};

/** @brief The RFC 6298 state: smoothed RTT, its variation, and the current RTO. */
struct rto_estimator {
    double srtt;    /**< SRTT, ms (valid once has_sample is set) */
    double rttvar;  /**< RTTVAR, ms (valid once has_sample is set) */
    double rto;     /**< the timeout for the next transmission, ms */
    double min_rto; /**< lower bound on the RTO, ms (RFC 6298 §2.4 uses 1 s) */
    double max_rto; /**< upper bound on the RTO, ms (RFC 6298 §2.5: at least 60 s) */
    int has_sample; /**< 0 until the first RTT sample (RFC 6298 §2.2) */
};

/** @brief RFC 6298's alpha: the weight of a new sample in SRTT (1/8). */
#define RTO_ALPHA 0.125
/** @brief RFC 6298's beta: the weight of a new deviation in RTTVAR (1/4). */
#define RTO_BETA 0.25
/** @brief RFC 6298's K: how many RTTVARs above SRTT the RTO sits (4). */
#define RTO_K 4.0
/** @brief G, the clock granularity, ms: CLOCK_MONOTONIC counts ns; we print to 1 us. */
#define RTO_G_MS 0.001

/**
 * @brief Add one RTT sample to the statistics.
 * @param s      The statistics, zeroed before the first call.
 * @param rtt_ms The sample, ms, >= 0.
 * @see handout §3.2 (the summary line).
 */
void rtt_stats_add(struct rtt_stats *s, double rtt_ms);

/**
 * @brief Mean deviation as ping(8) prints it: the population standard deviation,
 *        sqrt(mean of squares - square of mean).
 * @param s The statistics, with s->n > 0.
 * @return mdev in ms (0 for a single sample).
 * @see ping(8), handout §3.2.
 */
double rtt_stats_mdev(const struct rtt_stats *s);

/**
 * @brief Start an estimator with no sample: RTO = @p initial_ms (RFC 6298 §2.1).
 *
 * @p initial_ms is also the lower bound of the RTO, as RFC 6298 uses 1 s for
 * both (§2.1 and §2.4); the client passes its -t TIMEOUT_MS.
 *
 * @param e          The estimator.
 * @param initial_ms First RTO and lower bound, ms, > 0.
 * @param max_ms     Upper bound, ms (the client's --max-timeout).
 * @see RFC 6298 §2.1, §2.4 and §2.5, handout §5.2.
 */
void rto_init(struct rto_estimator *e, double initial_ms, double max_ms);

/**
 * @brief Take one RTT measurement R into SRTT and RTTVAR, and recompute the RTO.
 *
 * First sample (§2.2): SRTT = R, RTTVAR = R/2. Later (§2.3), RTTVAR first, with
 * the old SRTT: RTTVAR = (1 - beta) RTTVAR + beta |SRTT - R|, then
 * SRTT = (1 - alpha) SRTT + alpha R. Then RTO = SRTT + max(G, K RTTVAR), kept
 * within [min_rto, max_rto].
 *
 * @param e      The estimator.
 * @param rtt_ms R, ms. Karn's rule: never pass the RTT of a request that was
 *               retransmitted (handout §5.3).
 * @see RFC 6298 §2, handout §5.
 */
void rto_sample(struct rto_estimator *e, double rtt_ms);

/**
 * @brief A timer expired: RTO = min(RTO * factor, max_rto) (RFC 6298 §5.5).
 *
 * The backed-off RTO stays in force for later requests until rto_sample() is
 * given a new measurement (Karn's algorithm, handout §5.3).
 *
 * @param e      The estimator.
 * @param factor The backoff factor, >= 1 (2 in RFC 6298).
 * @see RFC 6298 §5.5, handout §4.3 and §5.3.
 */
void rto_backoff(struct rto_estimator *e, double factor);

#endif
