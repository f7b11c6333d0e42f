/* Licensed under the Apache License, Version 2.0 (the "License"); you may not
 * use this file except in compliance with the License.  You may obtain a copy
 * of the License at http://www.apache.org/licenses/LICENSE-2.0
 */

/**
 * @file test_backoff.c
 * @brief Tests for kvc_backoff: jittered delay bounds, the cap, overflow,
 *        determinism and the retry-budget decision.
 */

#include "kvc_backoff.h"
#include "kvc_test.h"

#define MS(n) ((apr_interval_time_t)(n)*1000)

/* xorshift32: a fixed sequence, so a failure reproduces. */
static apr_uint32_t next_random(apr_uint32_t *state)
{
    apr_uint32_t x = *state;

    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    *state = x;
    return x;
}

static void test_backoff_ends_of_range(apr_pool_t *p)
{
    /* Default policy 100ms..2s: ceilings 100, 200, 400, 800, 1600, 2000. */
    static const apr_interval_time_t ceilings[] = { MS(100), MS(200),  MS(400),
                                                    MS(800), MS(1600), MS(2000),
                                                    MS(2000) };
    unsigned r;

    for (r = 1; r <= sizeof(ceilings) / sizeof(ceilings[0]); r++) {
        KVC_CHECK_INT(kvc_backoff_delay(r, MS(100), MS(2000), 0), 0);
        KVC_CHECK_INT(kvc_backoff_delay(r, MS(100), MS(2000), 0xffffffffu),
                      ceilings[r - 1]);
    }
    /* Midpoint of the first retry's range. */
    KVC_CHECK_INT(kvc_backoff_delay(1, MS(100), MS(2000), 0x80000000u),
                  (MS(100) + 1) / 2);
    /* retry 0 is taken as the first retry. */
    KVC_CHECK_INT(kvc_backoff_delay(0, MS(100), MS(2000), 0xffffffffu),
                  MS(100));
}

static void test_backoff_bounds_random(apr_pool_t *p)
{
    apr_uint32_t state = 0x12345678u;
    apr_interval_time_t lo = MS(100000), hi = 0;
    unsigned i, r;

    for (r = 1; r <= 10; r++) {
        apr_interval_time_t ceiling = MS(100) << (r - 1);

        if (ceiling > MS(2000)) {
            ceiling = MS(2000);
        }
        lo = MS(100000);
        hi = 0;
        for (i = 0; i < 20000; i++) {
            apr_interval_time_t d =
                kvc_backoff_delay(r, MS(100), MS(2000), next_random(&state));

            if (d < 0 || d > ceiling) {
                kvc_test_fail(__FILE__, __LINE__,
                              "retry %u: delay %lld outside [0, %lld]", r,
                              (long long)d, (long long)ceiling);
                return;
            }
            lo = d < lo ? d : lo;
            hi = d > hi ? d : hi;
        }
        /* Full jitter: the whole range is used, not just its top. */
        KVC_CHECK(lo < ceiling / 100);
        KVC_CHECK(hi > ceiling - ceiling / 100);
    }
}

static void test_backoff_uniform(apr_pool_t *p)
{
    apr_uint32_t state = 42;
    unsigned counts[10] = { 0 };
    unsigned i;

    /* 10 equal bins over [0, 1000ms]: each gets about 10%. */
    for (i = 0; i < 100000; i++) {
        apr_interval_time_t d =
            kvc_backoff_delay(1, MS(1000), MS(1000), next_random(&state));
        unsigned bin = (unsigned)(d / MS(100));

        counts[bin < 10 ? bin : 9]++;
    }
    for (i = 0; i < 10; i++) {
        KVC_CHECK(counts[i] > 9000 && counts[i] < 11000);
    }
}

static void test_backoff_deterministic(apr_pool_t *p)
{
    apr_uint32_t rnd[] = { 1, 77, 0x7fffffffu, 0xdeadbeefu };
    unsigned i;

    for (i = 0; i < sizeof(rnd) / sizeof(rnd[0]); i++) {
        KVC_CHECK_INT(kvc_backoff_delay(3, MS(100), MS(2000), rnd[i]),
                      kvc_backoff_delay(3, MS(100), MS(2000), rnd[i]));
    }
    /* floor(400001 * 0xdeadbeef / 2^32) computed by hand. */
    KVC_CHECK_INT(
        kvc_backoff_delay(3, MS(100), MS(2000), 0xdeadbeefu),
        (apr_interval_time_t)(((apr_uint64_t)400001 * 0xdeadbeefu) >> 32));
    KVC_CHECK_INT(kvc_backoff_delay(3, MS(100), MS(2000), 0xdeadbeefu), 347936);
}

static void test_backoff_cap(apr_pool_t *p)
{
    /* Base above max: max wins from the first retry. */
    KVC_CHECK_INT(kvc_backoff_delay(1, MS(500), MS(300), 0xffffffffu), MS(300));
    /* Base equal to max. */
    KVC_CHECK_INT(kvc_backoff_delay(4, MS(300), MS(300), 0xffffffffu), MS(300));
    /* Cap reached exactly on a power of two. */
    KVC_CHECK_INT(kvc_backoff_delay(3, MS(100), MS(400), 0xffffffffu), MS(400));
    KVC_CHECK_INT(kvc_backoff_delay(4, MS(100), MS(400), 0xffffffffu), MS(400));
    KVC_CHECK_INT(kvc_backoff_delay(2, MS(100), MS(400), 0xffffffffu), MS(200));
}

static void test_backoff_no_overflow(apr_pool_t *p)
{
    static const unsigned retries[] = { 30, 62,  63,   64,
                                        65, 100, 1000, 0xffffffffu };
    apr_interval_time_t big = APR_INT64_MAX;
    unsigned i;

    for (i = 0; i < sizeof(retries) / sizeof(retries[0]); i++) {
        apr_interval_time_t d =
            kvc_backoff_delay(retries[i], MS(100), MS(2000), 0xffffffffu);

        KVC_CHECK_INT(d, MS(2000));
        /* Huge cap: the delay can be huge but never negative or above. */
        d = kvc_backoff_delay(retries[i], MS(100), big, 0xffffffffu);
        KVC_CHECK(d > 0 && d <= big);
        d = kvc_backoff_delay(retries[i], big, big, 0x80000000u);
        KVC_CHECK(d > 0 && d <= big);
    }
    /* Largest ceiling, largest random: below the ceiling by < 2^31. */
    KVC_CHECK(kvc_backoff_delay(70, 1, big, 0xffffffffu) > big - 0x80000000LL);
    KVC_CHECK_INT(kvc_backoff_delay(70, 1, big, 0), 0);
}

static void test_backoff_degenerate(apr_pool_t *p)
{
    KVC_CHECK_INT(kvc_backoff_delay(1, 0, MS(100), 0xffffffffu), 0);
    KVC_CHECK_INT(kvc_backoff_delay(1, -5, MS(100), 0xffffffffu), 0);
    KVC_CHECK_INT(kvc_backoff_delay(1, MS(100), 0, 0xffffffffu), 0);
    KVC_CHECK_INT(kvc_backoff_delay(1, MS(100), -1, 0xffffffffu), 0);
    /* A 1us ceiling: both values possible. */
    KVC_CHECK_INT(kvc_backoff_delay(1, 1, 1, 0), 0);
    KVC_CHECK_INT(kvc_backoff_delay(1, 1, 1, 0xffffffffu), 1);
}

static void test_backoff_last_attempt(apr_pool_t *p)
{
    /* Plenty of budget, yet never after the last attempt. */
    KVC_CHECK_INT(kvc_backoff_should_retry(1, 3, MS(100), MS(10000), MS(50)),
                  1);
    KVC_CHECK_INT(kvc_backoff_should_retry(2, 3, MS(100), MS(10000), MS(50)),
                  1);
    KVC_CHECK_INT(kvc_backoff_should_retry(3, 3, MS(100), MS(10000), MS(50)),
                  0);
    KVC_CHECK_INT(kvc_backoff_should_retry(4, 3, 0, MS(10000), 0), 0);
    KVC_CHECK_INT(kvc_backoff_should_retry(1, 1, 0, MS(10000), 0), 0);
    KVC_CHECK_INT(kvc_backoff_should_retry(1, 0, 0, MS(10000), 0), 0);
}

static void test_backoff_budget(apr_pool_t *p)
{
    /* The routing lookup case: 50ms left never sleeps 100ms. */
    KVC_CHECK_INT(kvc_backoff_should_retry(1, 3, MS(100), MS(50), 0), 0);
    /* 50ms left, 45ms sleep would leave 5ms < 10ms minimum. */
    KVC_CHECK_INT(kvc_backoff_should_retry(1, 3, MS(45), MS(50), MS(10)), 0);
    /* Exactly the minimum left over is enough... */
    KVC_CHECK_INT(kvc_backoff_should_retry(1, 3, MS(40), MS(50), MS(10)), 1);
    /* ...one microsecond less is not. */
    KVC_CHECK_INT(kvc_backoff_should_retry(1, 3, MS(40) + 1, MS(50), MS(10)),
                  0);
    /* No budget left at all, even for a zero sleep. */
    KVC_CHECK_INT(kvc_backoff_should_retry(1, 3, 0, 0, 0), 0);
    KVC_CHECK_INT(kvc_backoff_should_retry(1, 3, 0, -MS(5), 0), 0);
    /* A zero minimum still needs 1us for the attempt itself. */
    KVC_CHECK_INT(kvc_backoff_should_retry(1, 3, MS(10), MS(10), 0), 0);
    KVC_CHECK_INT(kvc_backoff_should_retry(1, 3, MS(10) - 1, MS(10), 0), 1);
    /* Negative delay and minimum are taken as 0. */
    KVC_CHECK_INT(kvc_backoff_should_retry(1, 3, -MS(5), MS(1), -MS(5)), 1);
    /* Extreme values do not overflow. */
    KVC_CHECK_INT(
        kvc_backoff_should_retry(1, 3, APR_INT64_MAX, APR_INT64_MAX, 1), 0);
    KVC_CHECK_INT(
        kvc_backoff_should_retry(1, 3, APR_INT64_MAX - 1, APR_INT64_MAX, 1), 1);
    KVC_CHECK_INT(
        kvc_backoff_should_retry(1, 3, 0, APR_INT64_MIN, APR_INT64_MAX), 0);
}

const kvc_test_case kvc_backoff_tests[] = {
    KVC_TEST(test_backoff_ends_of_range), KVC_TEST(test_backoff_bounds_random),
    KVC_TEST(test_backoff_uniform),       KVC_TEST(test_backoff_deterministic),
    KVC_TEST(test_backoff_cap),           KVC_TEST(test_backoff_no_overflow),
    KVC_TEST(test_backoff_degenerate),    KVC_TEST(test_backoff_last_attempt),
    KVC_TEST(test_backoff_budget),        KVC_TEST_END
};
