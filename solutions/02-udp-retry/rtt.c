/* rtt.c: RTT statistics and the RFC 6298 RTO estimator (see rtt.h). */
#define _POSIX_C_SOURCE 200809L
#include "rtt.h"

#include <math.h>

void rtt_stats_add(struct rtt_stats *s, double rtt_ms)
{
    if (s->n == 0 || rtt_ms < s->min)
        s->min = rtt_ms;
    if (s->n == 0 || rtt_ms > s->max)
        s->max = rtt_ms;
    s->n++;
    s->sum += rtt_ms;
    s->sumsq += rtt_ms * rtt_ms;
}

double rtt_stats_mdev(const struct rtt_stats *s)
{
    double avg = s->sum / (double)s->n;
    double var = s->sumsq / (double)s->n - avg * avg;

    /* Rounding can leave a tiny negative variance when all samples are equal. */
    return var > 0 ? sqrt(var) : 0.0;
}

static double clamp(double v, double lo, double hi)
{
    if (v < lo)
        v = lo;
    return v > hi ? hi : v;
}

void rto_init(struct rto_estimator *e, double initial_ms, double max_ms)
{
    e->srtt = 0;
    e->rttvar = 0;
    e->min_rto = initial_ms;
    e->max_rto = max_ms;
    e->rto = clamp(initial_ms, initial_ms, max_ms);
    e->has_sample = 0;
}

void rto_sample(struct rto_estimator *e, double rtt_ms)
{
    if (!e->has_sample) {
        e->srtt = rtt_ms;
        e->rttvar = rtt_ms / 2;
        e->has_sample = 1;
    } else {
        /* RTTVAR measures how far R is from the SRTT it was predicted by: the old one. */
        e->rttvar = (1 - RTO_BETA) * e->rttvar + RTO_BETA * fabs(e->srtt - rtt_ms);
        e->srtt = (1 - RTO_ALPHA) * e->srtt + RTO_ALPHA * rtt_ms;
    }
    e->rto = clamp(e->srtt + fmax(RTO_G_MS, RTO_K * e->rttvar), e->min_rto, e->max_rto);
}

void rto_backoff(struct rto_estimator *e, double factor)
{
    e->rto = fmin(e->rto * factor, e->max_rto);
}
