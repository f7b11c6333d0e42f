/* Licensed under the Apache License, Version 2.0 (the "License"); you may not
 * use this file except in compliance with the License.  You may obtain a copy
 * of the License at http://www.apache.org/licenses/LICENSE-2.0
 */

/**
 * @file test_breaker.c
 * @brief Tests for kvc_breaker: opening, recovery, exactly K probes,
 *        probe outcomes, stale results, lost probes and clock steps.
 */

#include "kvc_breaker.h"
#include "kvc_test.h"

#define MS(n) ((apr_time_t)(n)*1000)
#define T0    MS(1000000) /* arbitrary start, far from 0 */

/* 3 failures open it, 10s recovery, 2 probes: easy to count in tests. */
static const kvc_breaker_policy policy = { 3, MS(10000), 2 };

static void fail_n(kvc_breaker *b, const kvc_breaker_policy *pol, int n,
                   apr_time_t now)
{
    int i;

    for (i = 0; i < n; i++) {
        KVC_CHECK_INT(kvc_breaker_admit(b, pol, now), KVC_BREAKER_ADMIT);
        kvc_breaker_record(b, pol, 0, 0, now);
    }
}

/* Opens a fresh breaker at 'now' through the normal path. */
static void open_at(kvc_breaker *b, apr_time_t now)
{
    memset(b, 0, sizeof(*b));
    fail_n(b, &policy, 3, now);
    KVC_CHECK_INT(b->state, KVC_BREAKER_OPEN);
}

static void test_breaker_zero_is_closed(apr_pool_t *p)
{
    kvc_breaker b;

    memset(&b, 0, sizeof(b));
    KVC_CHECK_INT(kvc_breaker_admit(&b, &policy, T0), KVC_BREAKER_ADMIT);
    KVC_CHECK_INT(kvc_breaker_fast_reject(&b, &policy, T0), 0);
    KVC_CHECK_INT(kvc_breaker_record(&b, &policy, 0, 1, T0),
                  KVC_BREAKER_CLOSED);
    KVC_CHECK_INT(b.opens, 0);
}

static void test_breaker_opens_after_n_failures(apr_pool_t *p)
{
    kvc_breaker b;

    memset(&b, 0, sizeof(b));
    KVC_CHECK_INT(kvc_breaker_record(&b, &policy, 0, 0, T0),
                  KVC_BREAKER_CLOSED);
    KVC_CHECK_INT(kvc_breaker_record(&b, &policy, 0, 0, T0 + 1),
                  KVC_BREAKER_CLOSED);
    KVC_CHECK_INT(b.consecutive_failures, 2);
    KVC_CHECK_INT(kvc_breaker_admit(&b, &policy, T0 + 2), KVC_BREAKER_ADMIT);
    KVC_CHECK_INT(kvc_breaker_record(&b, &policy, 0, 0, T0 + 3),
                  KVC_BREAKER_OPEN);
    KVC_CHECK_INT(b.opened_at, T0 + 3);
    KVC_CHECK_INT(b.opens, 1);
}

static void test_breaker_success_resets_count(apr_pool_t *p)
{
    kvc_breaker b;

    memset(&b, 0, sizeof(b));
    fail_n(&b, &policy, 2, T0);
    kvc_breaker_record(&b, &policy, 0, 1, T0);
    KVC_CHECK_INT(b.consecutive_failures, 0);
    /* Not consecutive any more: two more failures keep it closed. */
    fail_n(&b, &policy, 2, T0);
    KVC_CHECK_INT(b.state, KVC_BREAKER_CLOSED);
    fail_n(&b, &policy, 1, T0);
    KVC_CHECK_INT(b.state, KVC_BREAKER_OPEN);
}

static void test_breaker_rejects_while_open(apr_pool_t *p)
{
    kvc_breaker b;
    apr_time_t t;

    open_at(&b, T0);
    for (t = T0; t < T0 + MS(10000); t += MS(500)) {
        KVC_CHECK_INT(kvc_breaker_admit(&b, &policy, t), KVC_BREAKER_REJECT);
        KVC_CHECK_INT(kvc_breaker_fast_reject(&b, &policy, t), 1);
    }
    KVC_CHECK_INT(kvc_breaker_admit(&b, &policy, T0 + MS(10000) - 1),
                  KVC_BREAKER_REJECT);
    KVC_CHECK_INT(b.state, KVC_BREAKER_OPEN);
    KVC_CHECK_INT(b.opened_at, T0);
    /* Recovery over: the pre-check sends callers to the locked path. */
    KVC_CHECK_INT(kvc_breaker_fast_reject(&b, &policy, T0 + MS(10000)), 0);
}

static void test_breaker_exactly_k_probes(apr_pool_t *p)
{
    kvc_breaker b;
    apr_time_t t = T0 + MS(10000);
    int i, probes = 0;

    open_at(&b, T0);
    for (i = 0; i < 20; i++) {
        kvc_breaker_admission a = kvc_breaker_admit(&b, &policy, t + i);

        KVC_CHECK(a != KVC_BREAKER_ADMIT);
        if (a == KVC_BREAKER_ADMIT_PROBE) {
            probes++;
            /* The first two calls are the probes, not later ones. */
            KVC_CHECK(i < 2);
        }
    }
    KVC_CHECK_INT(probes, 2);
    KVC_CHECK_INT(b.state, KVC_BREAKER_HALF_OPEN);
    KVC_CHECK_INT(b.probes_admitted, 2);
    KVC_CHECK_INT(b.probes_in_flight, 2);
    /* Half-open is not "open": the lock-free check must not reject. */
    KVC_CHECK_INT(kvc_breaker_fast_reject(&b, &policy, t), 0);
}

static void test_breaker_k_probes_other_policies(apr_pool_t *p)
{
    static const apr_uint32_t ks[] = { 1, 3, 7 };
    kvc_breaker b;
    unsigned j;
    int i;

    for (j = 0; j < sizeof(ks) / sizeof(ks[0]); j++) {
        kvc_breaker_policy pol = { 1, MS(100), ks[j] };
        int probes = 0;

        memset(&b, 0, sizeof(b));
        fail_n(&b, &pol, 1, T0);
        KVC_CHECK_INT(b.state, KVC_BREAKER_OPEN);
        for (i = 0; i < 50; i++) {
            if (kvc_breaker_admit(&b, &pol, T0 + MS(100))
                == KVC_BREAKER_ADMIT_PROBE) {
                probes++;
            }
        }
        KVC_CHECK_INT(probes, ks[j]);
    }
}

static void test_breaker_probe_success_closes(apr_pool_t *p)
{
    kvc_breaker b;
    apr_time_t t = T0 + MS(10000);

    open_at(&b, T0);
    KVC_CHECK_INT(kvc_breaker_admit(&b, &policy, t), KVC_BREAKER_ADMIT_PROBE);
    KVC_CHECK_INT(kvc_breaker_record(&b, &policy, 1, 1, t + 5),
                  KVC_BREAKER_CLOSED);
    KVC_CHECK_INT(b.consecutive_failures, 0);
    KVC_CHECK_INT(b.probes_admitted, 0);
    KVC_CHECK_INT(b.probes_in_flight, 0);
    KVC_CHECK_INT(kvc_breaker_admit(&b, &policy, t + 6), KVC_BREAKER_ADMIT);
    /* Counters really reset: it takes a full 3 failures to reopen. */
    fail_n(&b, &policy, 2, t + 7);
    KVC_CHECK_INT(b.state, KVC_BREAKER_CLOSED);
    fail_n(&b, &policy, 1, t + 8);
    KVC_CHECK_INT(b.state, KVC_BREAKER_OPEN);
    KVC_CHECK_INT(b.opens, 2);
}

static void test_breaker_probe_failure_reopens(apr_pool_t *p)
{
    kvc_breaker b;
    apr_time_t t = T0 + MS(10000);

    open_at(&b, T0);
    KVC_CHECK_INT(kvc_breaker_admit(&b, &policy, t), KVC_BREAKER_ADMIT_PROBE);
    KVC_CHECK_INT(kvc_breaker_record(&b, &policy, 1, 0, t + MS(30)),
                  KVC_BREAKER_OPEN);
    KVC_CHECK_INT(b.opened_at, t + MS(30));
    KVC_CHECK_INT(b.opens, 2);
    KVC_CHECK_INT(b.probes_in_flight, 0);
    /* A full recovery period from the probe's failure, not the first open. */
    KVC_CHECK_INT(kvc_breaker_admit(&b, &policy, t + MS(10029)),
                  KVC_BREAKER_REJECT);
    KVC_CHECK_INT(kvc_breaker_fast_reject(&b, &policy, t + MS(10029)), 1);
    KVC_CHECK_INT(kvc_breaker_admit(&b, &policy, t + MS(10030)),
                  KVC_BREAKER_ADMIT_PROBE);
}

static void test_breaker_probes_interleaved(apr_pool_t *p)
{
    kvc_breaker b;
    apr_time_t t = T0 + MS(10000);

    /* Two probes out; the first fails, reopening; the second's late
     * success belongs to a finished episode and must not close it.
     */
    open_at(&b, T0);
    KVC_CHECK_INT(kvc_breaker_admit(&b, &policy, t), KVC_BREAKER_ADMIT_PROBE);
    KVC_CHECK_INT(kvc_breaker_admit(&b, &policy, t), KVC_BREAKER_ADMIT_PROBE);
    KVC_CHECK_INT(kvc_breaker_admit(&b, &policy, t), KVC_BREAKER_REJECT);
    KVC_CHECK_INT(kvc_breaker_record(&b, &policy, 1, 0, t + 10),
                  KVC_BREAKER_OPEN);
    KVC_CHECK_INT(kvc_breaker_record(&b, &policy, 1, 1, t + 20),
                  KVC_BREAKER_OPEN);
    KVC_CHECK_INT(b.opened_at, t + 10);
    KVC_CHECK_INT(b.probes_in_flight, 0);

    /* Next episode: first probe succeeds and closes; the second one's
     * failure then counts as an ordinary closed-state failure.
     */
    t += 10 + MS(10000);
    KVC_CHECK_INT(kvc_breaker_admit(&b, &policy, t), KVC_BREAKER_ADMIT_PROBE);
    KVC_CHECK_INT(kvc_breaker_admit(&b, &policy, t), KVC_BREAKER_ADMIT_PROBE);
    KVC_CHECK_INT(kvc_breaker_record(&b, &policy, 1, 1, t + 1),
                  KVC_BREAKER_CLOSED);
    KVC_CHECK_INT(kvc_breaker_record(&b, &policy, 1, 0, t + 2),
                  KVC_BREAKER_CLOSED);
    KVC_CHECK_INT(b.consecutive_failures, 1);
    KVC_CHECK_INT(b.probes_in_flight, 0);
    KVC_CHECK_INT(b.opens, 2);
}

static void test_breaker_probe_results_count_down(apr_pool_t *p)
{
    kvc_breaker_policy pol = { 1, MS(100), 3 };
    kvc_breaker b;
    apr_time_t t = T0 + MS(100);

    memset(&b, 0, sizeof(b));
    fail_n(&b, &pol, 1, T0);
    KVC_CHECK_INT(kvc_breaker_admit(&b, &pol, t), KVC_BREAKER_ADMIT_PROBE);
    KVC_CHECK_INT(kvc_breaker_admit(&b, &pol, t), KVC_BREAKER_ADMIT_PROBE);
    KVC_CHECK_INT(b.probes_in_flight, 2);
    /* A stale ordinary result does not consume a probe slot. */
    KVC_CHECK_INT(kvc_breaker_record(&b, &pol, 0, 0, t), KVC_BREAKER_HALF_OPEN);
    KVC_CHECK_INT(b.probes_in_flight, 2);
    KVC_CHECK_INT(kvc_breaker_admit(&b, &pol, t), KVC_BREAKER_ADMIT_PROBE);
    KVC_CHECK_INT(b.probes_in_flight, 3);
    KVC_CHECK_INT(kvc_breaker_admit(&b, &pol, t), KVC_BREAKER_REJECT);
}

static void test_breaker_late_success_while_open(apr_pool_t *p)
{
    kvc_breaker b;

    open_at(&b, T0);
    /* An ordinary call admitted before it opened succeeds late. */
    KVC_CHECK_INT(kvc_breaker_record(&b, &policy, 0, 1, T0 + MS(1)),
                  KVC_BREAKER_OPEN);
    KVC_CHECK_INT(b.opened_at, T0);
    KVC_CHECK_INT(b.consecutive_failures, 3);
    KVC_CHECK_INT(kvc_breaker_admit(&b, &policy, T0 + MS(2)),
                  KVC_BREAKER_REJECT);
}

static void test_breaker_late_failure_while_open(apr_pool_t *p)
{
    kvc_breaker b;

    open_at(&b, T0);
    KVC_CHECK_INT(kvc_breaker_record(&b, &policy, 0, 0, T0 + MS(9000)),
                  KVC_BREAKER_OPEN);
    /* Not re-extended: recovery still counts from T0. */
    KVC_CHECK_INT(b.opened_at, T0);
    KVC_CHECK_INT(b.opens, 1);
    KVC_CHECK_INT(kvc_breaker_admit(&b, &policy, T0 + MS(10000)),
                  KVC_BREAKER_ADMIT_PROBE);
}

static void test_breaker_late_results_while_half_open(apr_pool_t *p)
{
    kvc_breaker b;
    apr_time_t t = T0 + MS(10000);

    open_at(&b, T0);
    KVC_CHECK_INT(kvc_breaker_admit(&b, &policy, t), KVC_BREAKER_ADMIT_PROBE);
    KVC_CHECK_INT(kvc_breaker_admit(&b, &policy, t), KVC_BREAKER_ADMIT_PROBE);

    /* Neither a late ordinary success nor failure ends the episode... */
    KVC_CHECK_INT(kvc_breaker_record(&b, &policy, 0, 1, t + 1),
                  KVC_BREAKER_HALF_OPEN);
    KVC_CHECK_INT(kvc_breaker_record(&b, &policy, 0, 0, t + 2),
                  KVC_BREAKER_HALF_OPEN);
    /* ...nor do they give back probe slots or touch the counters. */
    KVC_CHECK_INT(b.probes_admitted, 2);
    KVC_CHECK_INT(b.probes_in_flight, 2);
    KVC_CHECK_INT(b.opened_at, t);
    KVC_CHECK_INT(kvc_breaker_admit(&b, &policy, t + 3), KVC_BREAKER_REJECT);
}

static void test_breaker_no_underflow(apr_pool_t *p)
{
    kvc_breaker b;
    apr_time_t t = T0 + MS(10000);
    int i;

    open_at(&b, T0);
    KVC_CHECK_INT(kvc_breaker_admit(&b, &policy, t), KVC_BREAKER_ADMIT_PROBE);
    /* A caller that wrongly reports many probe results while half-open
     * (only the first counts, and it ends the episode).
     */
    KVC_CHECK_INT(b.probes_in_flight, 1);
    for (i = 0; i < 5; i++) {
        kvc_breaker_record(&b, &policy, 1, 0, t + 1);
    }
    KVC_CHECK_INT(b.probes_in_flight, 0);
    KVC_CHECK_INT(b.opened_at, t + 1);
    KVC_CHECK_INT(b.opens, 2);

    /* Damaged block: in_flight already 0 while half-open. */
    memset(&b, 0, sizeof(b));
    b.state = KVC_BREAKER_HALF_OPEN;
    b.opened_at = t;
    kvc_breaker_record(&b, &policy, 1, 1, t);
    KVC_CHECK_INT(b.probes_in_flight, 0);
    KVC_CHECK_INT(b.state, KVC_BREAKER_CLOSED);
}

static void test_breaker_lost_probes(apr_pool_t *p)
{
    kvc_breaker b;
    apr_time_t t = T0 + MS(10000);

    open_at(&b, T0);
    KVC_CHECK_INT(kvc_breaker_admit(&b, &policy, t), KVC_BREAKER_ADMIT_PROBE);
    KVC_CHECK_INT(kvc_breaker_admit(&b, &policy, t), KVC_BREAKER_ADMIT_PROBE);
    /* Both probes vanish.  Until KVC_BREAKER_PROBE_LOST has passed
     * (recovery is shorter here) everything is rejected...
     */
    KVC_CHECK_INT(
        kvc_breaker_admit(&b, &policy, t + KVC_BREAKER_PROBE_LOST - 1),
        KVC_BREAKER_REJECT);
    /* ...then a new episode admits exactly K probes again. */
    KVC_CHECK_INT(kvc_breaker_admit(&b, &policy, t + KVC_BREAKER_PROBE_LOST),
                  KVC_BREAKER_ADMIT_PROBE);
    KVC_CHECK_INT(b.opened_at, t + KVC_BREAKER_PROBE_LOST);
    KVC_CHECK_INT(kvc_breaker_admit(&b, &policy, t + KVC_BREAKER_PROBE_LOST),
                  KVC_BREAKER_ADMIT_PROBE);
    KVC_CHECK_INT(kvc_breaker_admit(&b, &policy, t + KVC_BREAKER_PROBE_LOST),
                  KVC_BREAKER_REJECT);
    KVC_CHECK_INT(b.probes_in_flight, 2);
}

static void test_breaker_lost_probes_long_recovery(apr_pool_t *p)
{
    kvc_breaker_policy pol = { 1, KVC_BREAKER_PROBE_LOST * 2, 1 };
    kvc_breaker b;
    apr_time_t t = T0 + pol.recovery;

    memset(&b, 0, sizeof(b));
    fail_n(&b, &pol, 1, T0);
    KVC_CHECK_INT(kvc_breaker_admit(&b, &pol, t), KVC_BREAKER_ADMIT_PROBE);
    /* With recovery longer than the floor, recovery is the limit. */
    KVC_CHECK_INT(kvc_breaker_admit(&b, &pol, t + KVC_BREAKER_PROBE_LOST),
                  KVC_BREAKER_REJECT);
    KVC_CHECK_INT(kvc_breaker_admit(&b, &pol, t + pol.recovery - 1),
                  KVC_BREAKER_REJECT);
    KVC_CHECK_INT(kvc_breaker_admit(&b, &pol, t + pol.recovery),
                  KVC_BREAKER_ADMIT_PROBE);
}

static void test_breaker_clock_backwards(apr_pool_t *p)
{
    kvc_breaker b;

    open_at(&b, T0);
    /* The clock steps back an hour: the wait restarts from the new now
     * instead of lasting an hour and ten seconds.
     */
    KVC_CHECK_INT(kvc_breaker_fast_reject(&b, &policy, T0 - MS(3600000)), 0);
    KVC_CHECK_INT(kvc_breaker_admit(&b, &policy, T0 - MS(3600000)),
                  KVC_BREAKER_REJECT);
    KVC_CHECK_INT(b.opened_at, T0 - MS(3600000));
    KVC_CHECK_INT(kvc_breaker_admit(&b, &policy, T0 - MS(3600000) + MS(10000)),
                  KVC_BREAKER_ADMIT_PROBE);
}

static void test_breaker_skewed_callers(apr_pool_t *p)
{
    kvc_breaker b;
    apr_time_t t = T0 + MS(10000);

    /* Processes read the clock before taking the lock, so a caller may
     * arrive with a time a little before the episode began: that is not
     * a lost probe, and must not buy extra probes.
     */
    open_at(&b, T0);
    KVC_CHECK_INT(kvc_breaker_admit(&b, &policy, t), KVC_BREAKER_ADMIT_PROBE);
    KVC_CHECK_INT(kvc_breaker_admit(&b, &policy, t), KVC_BREAKER_ADMIT_PROBE);
    KVC_CHECK_INT(kvc_breaker_admit(&b, &policy, t - 1), KVC_BREAKER_REJECT);
    KVC_CHECK_INT(kvc_breaker_admit(&b, &policy, t - MS(5)),
                  KVC_BREAKER_REJECT);
    KVC_CHECK_INT(b.probes_admitted, 2);
    /* The lost-probe timer now counts from the earliest time seen. */
    KVC_CHECK_INT(
        kvc_breaker_admit(&b, &policy, t - MS(5) + KVC_BREAKER_PROBE_LOST),
        KVC_BREAKER_ADMIT_PROBE);

    /* A caller slightly behind the one that opened it is rejected. */
    open_at(&b, T0);
    KVC_CHECK_INT(kvc_breaker_admit(&b, &policy, T0 - 1), KVC_BREAKER_REJECT);
    KVC_CHECK_INT(b.state, KVC_BREAKER_OPEN);
}

static void test_breaker_degenerate_policy(apr_pool_t *p)
{
    kvc_breaker_policy pol = { 0, -5, 0 };
    kvc_breaker b;

    memset(&b, 0, sizeof(b));
    /* failures 0 acts as 1, recovery < 0 as 0, probes 0 as 1. */
    KVC_CHECK_INT(kvc_breaker_record(&b, &pol, 0, 0, T0), KVC_BREAKER_OPEN);
    KVC_CHECK_INT(kvc_breaker_fast_reject(&b, &pol, T0), 0);
    KVC_CHECK_INT(kvc_breaker_admit(&b, &pol, T0), KVC_BREAKER_ADMIT_PROBE);
    KVC_CHECK_INT(kvc_breaker_admit(&b, &pol, T0), KVC_BREAKER_REJECT);
}

static void test_breaker_damaged_state(apr_pool_t *p)
{
    kvc_breaker b;

    memset(&b, 0, sizeof(b));
    b.state = 77;
    KVC_CHECK_INT(kvc_breaker_admit(&b, &policy, T0), KVC_BREAKER_ADMIT);
    KVC_CHECK_INT(b.state, KVC_BREAKER_CLOSED);
    b.state = 77;
    KVC_CHECK_INT(kvc_breaker_record(&b, &policy, 0, 0, T0),
                  KVC_BREAKER_CLOSED);
    KVC_CHECK_INT(kvc_breaker_fast_reject(&b, &policy, T0), 0);
}

static void test_breaker_full_cycle(apr_pool_t *p)
{
    kvc_breaker b;
    apr_time_t t = T0;
    int cycle;

    memset(&b, 0, sizeof(b));
    for (cycle = 1; cycle <= 3; cycle++) {
        fail_n(&b, &policy, 3, t);
        KVC_CHECK_INT(b.state, KVC_BREAKER_OPEN);
        KVC_CHECK_INT(b.opens, cycle);
        t += MS(10000);
        KVC_CHECK_INT(kvc_breaker_admit(&b, &policy, t),
                      KVC_BREAKER_ADMIT_PROBE);
        KVC_CHECK_INT(kvc_breaker_record(&b, &policy, 1, 1, t),
                      KVC_BREAKER_CLOSED);
        t += MS(1);
    }
}

static void test_breaker_state_names(apr_pool_t *p)
{
    KVC_CHECK_STR(kvc_breaker_state_name(KVC_BREAKER_CLOSED), "closed");
    KVC_CHECK_STR(kvc_breaker_state_name(KVC_BREAKER_OPEN), "open");
    KVC_CHECK_STR(kvc_breaker_state_name(KVC_BREAKER_HALF_OPEN), "half-open");
    KVC_CHECK_STR(kvc_breaker_state_name((kvc_breaker_state)9), "unknown");
}

static void test_breaker_plain_integers(apr_pool_t *p)
{
    kvc_breaker a, b;
    apr_time_t t = T0 + MS(10000);

    /* The state works from a byte copy (another process's mapping). */
    open_at(&a, T0);
    memcpy(&b, &a, sizeof(a));
    KVC_CHECK_INT(kvc_breaker_admit(&b, &policy, t), KVC_BREAKER_ADMIT_PROBE);
    KVC_CHECK_INT(kvc_breaker_admit(&a, &policy, t - 1), KVC_BREAKER_REJECT);
}

const kvc_test_case kvc_breaker_tests[] = {
    KVC_TEST(test_breaker_zero_is_closed),
    KVC_TEST(test_breaker_opens_after_n_failures),
    KVC_TEST(test_breaker_success_resets_count),
    KVC_TEST(test_breaker_rejects_while_open),
    KVC_TEST(test_breaker_exactly_k_probes),
    KVC_TEST(test_breaker_k_probes_other_policies),
    KVC_TEST(test_breaker_probe_success_closes),
    KVC_TEST(test_breaker_probe_failure_reopens),
    KVC_TEST(test_breaker_probes_interleaved),
    KVC_TEST(test_breaker_probe_results_count_down),
    KVC_TEST(test_breaker_late_success_while_open),
    KVC_TEST(test_breaker_late_failure_while_open),
    KVC_TEST(test_breaker_late_results_while_half_open),
    KVC_TEST(test_breaker_no_underflow),
    KVC_TEST(test_breaker_lost_probes),
    KVC_TEST(test_breaker_lost_probes_long_recovery),
    KVC_TEST(test_breaker_clock_backwards),
    KVC_TEST(test_breaker_skewed_callers),
    KVC_TEST(test_breaker_degenerate_policy),
    KVC_TEST(test_breaker_damaged_state),
    KVC_TEST(test_breaker_full_cycle),
    KVC_TEST(test_breaker_state_names),
    KVC_TEST(test_breaker_plain_integers),
    KVC_TEST_END
};
