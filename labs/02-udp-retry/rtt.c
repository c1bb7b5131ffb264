/* rtt.c: RTT statistics and the RFC 6298 RTO estimator (see rtt.h). */
#define _POSIX_C_SOURCE 200809L
#include "rtt.h"

#include <math.h>

void rtt_stats_add(struct rtt_stats *s, double rtt_ms)
{
    /* TODO(student): handout §3.2. Update n, min, max, sum and sumsq. */
    (void)s;
    (void)rtt_ms;
}

double rtt_stats_mdev(const struct rtt_stats *s)
{
    /* TODO(student): handout §3.2. The mean deviation: sqrt(mean of squares - square
     * of mean), never negative. */
    (void)s;
    return 0.0;
}

void rto_init(struct rto_estimator *e, double initial_ms, double max_ms)
{
    /* TODO(student): handout §5.2. No sample yet; RTO = initial_ms, which is also the
     * floor. */
    (void)e;
    (void)initial_ms;
    (void)max_ms;
}

void rto_sample(struct rto_estimator *e, double rtt_ms)
{
    /* TODO(student): handout §5.1, §5.2. RFC 6298 §2.2 and §2.3: the first sample, then
     * RTTVAR before SRTT; RTO = SRTT + max(G, K RTTVAR) within [min_rto, max_rto]. */
    (void)e;
    (void)rtt_ms;
}

void rto_backoff(struct rto_estimator *e, double factor)
{
    /* TODO(student): handout §5.3. RTO times factor, at most max_rto. */
    (void)e;
    (void)factor;
}
