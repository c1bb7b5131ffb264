/* test_rtt.c: unit tests of rtt.c (statistics, RFC 6298 RTO, Karn's backed-off RTO). */
/*
 * Given code: run it with `make unit` in this folder. Each check prints one line, PASS or
 * FAIL, with the function, its input and what was expected (handout §3.2 and §5). Nothing
 * here touches the network or a clock: rtt.c is pure arithmetic, so each value below can be
 * checked by hand (handout §5.4 works the same numbers).
 *
 * Exit codes: 0 when every check passes, 1 otherwise.
 */
#define _POSIX_C_SOURCE 200809L
#include "rtt.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

static int failures;
static int checks;

/* Values are printed with three decimals, so agreeing to 1 us is agreeing. */
static void check(const char *what, double got, double want)
{
    int ok = fabs(got - want) <= 0.0005 + 1e-9 * fabs(want);

    checks++;
    if (!ok)
        failures++;
    printf("%s %-62s got %10.3f, expected %10.3f\n", ok ? "PASS" : "FAIL", what, got, want);
}

static void test_stats(void)
{
    struct rtt_stats s;
    const double samples[] = {10.0, 60.0, 35.0};

    memset(&s, 0, sizeof s);
    rtt_stats_add(&s, 5.0);
    check("rtt_stats_add(5): n", (double)s.n, 1);
    check("rtt_stats_add(5): min", s.min, 5.0);
    check("rtt_stats_add(5): max", s.max, 5.0);
    check("rtt_stats_mdev() of one sample (5)", rtt_stats_mdev(&s), 0.0);

    memset(&s, 0, sizeof s);
    for (size_t i = 0; i < sizeof samples / sizeof samples[0]; i++)
        rtt_stats_add(&s, samples[i]);
    check("stats of 10, 60, 35: n", (double)s.n, 3);
    check("stats of 10, 60, 35: min", s.min, 10.0);
    check("stats of 10, 60, 35: max", s.max, 60.0);
    check("stats of 10, 60, 35: sum", s.sum, 105.0);
    check("stats of 10, 60, 35: sumsq", s.sumsq, 100.0 + 3600.0 + 1225.0);
    /* Population standard deviation, as ping prints it: sqrt(4925/3 - 35^2) = 20.412 (not 25.0). */
    check("rtt_stats_mdev() of 10, 60, 35 (population, not n - 1)", rtt_stats_mdev(&s), sqrt(4925.0 / 3 - 1225.0));

    memset(&s, 0, sizeof s);
    for (int i = 0; i < 3; i++)
        rtt_stats_add(&s, 0.1);
    check("rtt_stats_mdev() of 0.1, 0.1, 0.1: 0, never NaN", rtt_stats_mdev(&s), 0.0);
}

static void test_rto(void)
{
    struct rto_estimator e;

    memset(&e, 0, sizeof e);
    /* RFC 6298 §2.1: before any sample the RTO is the initial one, here -t 20. */
    rto_init(&e, 20.0, 60000.0);
    check("rto_init(20, 60000): rto", e.rto, 20.0);
    check("rto_init(20, 60000): min_rto (the floor is -t)", e.min_rto, 20.0);
    check("rto_init(20, 60000): max_rto", e.max_rto, 60000.0);
    check("rto_init(20, 60000): has_sample", e.has_sample, 0);

    /* §5.3: each expiry multiplies the RTO, and it stays so (Karn). */
    rto_backoff(&e, 2.0);
    check("rto_backoff(x2) from 20", e.rto, 40.0);
    rto_backoff(&e, 2.0);
    check("rto_backoff(x2) again", e.rto, 80.0);

    /* §2.2: the first sample R: SRTT = R, RTTVAR = R/2, RTO = SRTT + 4 RTTVAR (handout §5.4). */
    rto_sample(&e, 50.228);
    check("first rto_sample(50.228): srtt", e.srtt, 50.228);
    check("first rto_sample(50.228): rttvar", e.rttvar, 25.114);
    check("first rto_sample(50.228): rto = srtt + 4 rttvar", e.rto, 150.684);

    /* §2.3: RTTVAR first, with the old SRTT; then SRTT. */
    rto_sample(&e, 50.150);
    check("second rto_sample(50.150): rttvar (with the old srtt)", e.rttvar, 0.75 * 25.114 + 0.25 * 0.078);
    check("second rto_sample(50.150): srtt", e.srtt, 0.875 * 50.228 + 0.125 * 50.150);
    check("second rto_sample(50.150): rto", e.rto,
          0.875 * 50.228 + 0.125 * 50.150 + 4 * (0.75 * 25.114 + 0.25 * 0.078));

    /* §5.2: the floor is -t: on a fast path the RTO never drops below it. */
    rto_init(&e, 100.0, 60000.0);
    rto_sample(&e, 0.020);
    check("rto_sample(0.020) with -t 100: rto held at the floor", e.rto, 100.0);

    /* §5.2: G, the clock granularity, when RTTVAR is 0. */
    rto_init(&e, 0.001, 60000.0);
    rto_sample(&e, 8.0);
    for (int i = 0; i < 200; i++)
        rto_sample(&e, 8.0);
    /* RTTVAR has decayed to 4 x 0.75^200, far below G: RTO = 8 + G. */
    check("rto after 201 samples of 8 ms with -t 0.001: srtt + max(G, 4 rttvar)", e.rto, 8.0 + RTO_G_MS);

    /* The cap: --max-timeout bounds every RTO, the first one and backed-off ones included. */
    rto_init(&e, 50.0, 20.0);
    check("rto_init(50, max 20): a first timeout above the cap is capped", e.rto, 20.0);
    rto_init(&e, 20.0, 100.0);
    rto_backoff(&e, 3.0);
    rto_backoff(&e, 3.0);
    check("rto_backoff(x3) twice from 20 with max 100: capped", e.rto, 100.0);
    rto_sample(&e, 40.0);
    check("rto_sample(40) with max 100: 40 + 4 x 20 = 120, capped", e.rto, 100.0);
}

int main(void)
{
    test_stats();
    test_rto();
    printf("%d of %d checks passed\n", checks - failures, checks);
    return failures == 0 ? 0 : 1;
}
