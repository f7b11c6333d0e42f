/* Licensed under the Apache License, Version 2.0 (the "License"); you may not
 * use this file except in compliance with the License.  You may obtain a copy
 * of the License at http://www.apache.org/licenses/LICENSE-2.0
 */

/**
 * @file test_hot.c
 * @brief Tests for kvc_hot: counting, full and partial expiry, caps,
 *        out-of-order hits and clock steps.
 */

#include "kvc_hot.h"
#include "kvc_test.h"

#define SEC(n) ((apr_time_t)(n)*APR_USEC_PER_SEC)
#define MS(n)  ((apr_time_t)(n)*1000)

/* A 16s window: 16 one-second slices, easy to reason about. */
#define W  SEC(16)
#define T0 SEC(1000)

static void test_hot_counts(apr_pool_t *p)
{
    kvc_hot_window w;
    apr_uint32_t i;

    memset(&w, 0, sizeof(w));
    KVC_CHECK_INT(kvc_hot_count(&w, T0, W), 0);
    for (i = 1; i <= 5; i++) {
        KVC_CHECK_INT(kvc_hot_hit(&w, T0 + MS(i), W, 300), i);
    }
    KVC_CHECK_INT(kvc_hot_count(&w, T0 + MS(10), W), 5);
    /* count() adds nothing. */
    KVC_CHECK_INT(kvc_hot_count(&w, T0 + MS(10), W), 5);
    /* Hits in later slices add up. */
    KVC_CHECK_INT(kvc_hot_hit(&w, T0 + SEC(3), W, 300), 6);
    KVC_CHECK_INT(kvc_hot_hit(&w, T0 + SEC(15), W, 300), 7);
}

static void test_hot_full_expiry(apr_pool_t *p)
{
    kvc_hot_window w;
    int i;

    memset(&w, 0, sizeof(w));
    for (i = 0; i < 4; i++) {
        kvc_hot_hit(&w, T0, W, 300);
    }
    /* Still inside the window in its last slice... */
    KVC_CHECK_INT(kvc_hot_count(&w, T0 + SEC(16) - 1, W), 4);
    /* ...gone once the window has moved past it. */
    KVC_CHECK_INT(kvc_hot_count(&w, T0 + SEC(16), W), 0);
    KVC_CHECK_INT(kvc_hot_hit(&w, T0 + SEC(17), W, 300), 1);

    /* A hit in every slice, then a long silence: all buckets expire. */
    memset(&w, 0, sizeof(w));
    for (i = 0; i < 16; i++) {
        KVC_CHECK_INT(kvc_hot_hit(&w, T0 + SEC(i), W, 300), i + 1);
    }
    KVC_CHECK_INT(kvc_hot_count(&w, T0 + SEC(15), W), 16);
    KVC_CHECK_INT(kvc_hot_count(&w, T0 + SEC(3600), W), 0);
    for (i = 0; i < KVC_HOT_BUCKETS; i++) {
        KVC_CHECK_INT(w.counts[i], 0);
    }
}

static void test_hot_partial_expiry(apr_pool_t *p)
{
    kvc_hot_window w;
    int i;

    memset(&w, 0, sizeof(w));
    for (i = 0; i < 3; i++) {
        kvc_hot_hit(&w, T0, W, 300);
    }
    for (i = 0; i < 2; i++) {
        kvc_hot_hit(&w, T0 + SEC(8), W, 300);
    }
    KVC_CHECK_INT(kvc_hot_count(&w, T0 + SEC(15), W), 5);
    KVC_CHECK_INT(kvc_hot_count(&w, T0 + SEC(16), W), 2);
    KVC_CHECK_INT(kvc_hot_count(&w, T0 + SEC(23), W), 2);
    KVC_CHECK_INT(kvc_hot_count(&w, T0 + SEC(24), W), 0);

    /* Steady rate: one hit per second keeps a full window at 16. */
    memset(&w, 0, sizeof(w));
    for (i = 0; i < 100; i++) {
        apr_uint32_t n = kvc_hot_hit(&w, T0 + SEC(i), W, 300);

        KVC_CHECK_INT(n, i < 16 ? i + 1 : 16);
    }
}

static void test_hot_cap(apr_pool_t *p)
{
    kvc_hot_window w;
    int i;

    memset(&w, 0, sizeof(w));
    for (i = 1; i <= 10; i++) {
        KVC_CHECK_INT(kvc_hot_hit(&w, T0, W, 5), i < 5 ? i : 5);
    }
    /* The bucket itself stopped at the cap. */
    KVC_CHECK_INT(w.counts[(T0 / SEC(1)) % KVC_HOT_BUCKETS], 5);

    /* Across buckets: the answer is capped, the buckets are not summed
     * past what they hold.
     */
    memset(&w, 0, sizeof(w));
    for (i = 0; i < 9; i++) {
        kvc_hot_hit(&w, T0 + SEC(i / 3), W, 5);
    }
    KVC_CHECK_INT(kvc_hot_hit(&w, T0 + SEC(3), W, 5), 5);
    KVC_CHECK_INT(kvc_hot_count(&w, T0 + SEC(3), W), 10);
}

static void test_hot_no_overflow(apr_pool_t *p)
{
    kvc_hot_window w;
    int i;

    /* cap 0 = only the type's limit: buckets saturate, sums too. */
    memset(&w, 0, sizeof(w));
    kvc_hot_hit(&w, T0, W, 0);
    for (i = 0; i < KVC_HOT_BUCKETS; i++) {
        w.counts[i] = 0xffffffffu;
    }
    KVC_CHECK_INT(kvc_hot_hit(&w, T0, W, 0), 0xffffffffu);
    KVC_CHECK_INT(w.counts[(T0 / SEC(1)) % KVC_HOT_BUCKETS], 0xffffffffu);
    KVC_CHECK_INT(kvc_hot_count(&w, T0, W), 0xffffffffu);

    memset(&w, 0, sizeof(w));
    for (i = 0; i < 1000; i++) {
        kvc_hot_hit(&w, T0, W, 0);
    }
    KVC_CHECK_INT(kvc_hot_count(&w, T0, W), 1000);
}

static void test_hot_out_of_order(apr_pool_t *p)
{
    kvc_hot_window w;

    /* Processes read the clock before the lock: a slightly older hit
     * lands in its own slice, and expires with it.
     */
    memset(&w, 0, sizeof(w));
    kvc_hot_hit(&w, T0 + SEC(10), W, 300);
    KVC_CHECK_INT(kvc_hot_hit(&w, T0 + SEC(5), W, 300), 2);
    KVC_CHECK_INT(w.epoch, (T0 + SEC(10)) / SEC(1));
    KVC_CHECK_INT(kvc_hot_count(&w, T0 + SEC(10), W), 2);
    KVC_CHECK_INT(kvc_hot_count(&w, T0 + SEC(21), W), 1);
    KVC_CHECK_INT(kvc_hot_count(&w, T0 + SEC(26), W), 0);
}

static void test_hot_clock_backwards(apr_pool_t *p)
{
    kvc_hot_window w;
    int i;

    memset(&w, 0, sizeof(w));
    for (i = 0; i < 3; i++) {
        kvc_hot_hit(&w, T0 + SEC(100), W, 300);
    }
    /* Stepped back by more than the window: history restarts. */
    KVC_CHECK_INT(kvc_hot_hit(&w, T0, W, 300), 1);
    KVC_CHECK_INT(w.epoch, T0 / SEC(1));
    KVC_CHECK_INT(kvc_hot_count(&w, T0 + SEC(1), W), 1);
    /* And forward again: the hit at T0 is far outside the window. */
    KVC_CHECK_INT(kvc_hot_count(&w, T0 + SEC(100), W), 0);

    /* count() after a step back also restarts, without adding. */
    memset(&w, 0, sizeof(w));
    kvc_hot_hit(&w, T0 + SEC(100), W, 300);
    KVC_CHECK_INT(kvc_hot_count(&w, T0, W), 0);
}

static void test_hot_negative_time(apr_pool_t *p)
{
    kvc_hot_window w;

    /* Slices are floor(now / width): -0.5s is in slice -1, not slice 0,
     * so 15.5s later (slice 15) it has left the window.
     */
    memset(&w, 0, sizeof(w));
    w.epoch = -100;
    KVC_CHECK_INT(kvc_hot_hit(&w, -MS(500), W, 300), 1);
    KVC_CHECK_INT(w.epoch, -1);
    KVC_CHECK_INT(kvc_hot_count(&w, MS(14500), W), 1);
    KVC_CHECK_INT(kvc_hot_count(&w, MS(15500), W), 0);
}

static void test_hot_extremes(apr_pool_t *p)
{
    kvc_hot_window w;

    memset(&w, 0, sizeof(w));
    w.epoch = APR_INT64_MIN;
    w.counts[3] = 7;
    KVC_CHECK_INT(kvc_hot_hit(&w, APR_INT64_MAX, W, 300), 1);
    KVC_CHECK_INT(kvc_hot_hit(&w, APR_INT64_MIN, W, 300), 1);
    KVC_CHECK_INT(kvc_hot_hit(&w, APR_INT64_MAX, 1, 300), 1);
    KVC_CHECK_INT(kvc_hot_hit(&w, APR_INT64_MAX, 1, 300), 2);
    KVC_CHECK_INT(kvc_hot_count(&w, APR_INT64_MIN, APR_INT64_MAX), 0);

    /* Windows below one microsecond per slice. */
    memset(&w, 0, sizeof(w));
    KVC_CHECK_INT(kvc_hot_hit(&w, T0, 0, 300), 1);
    KVC_CHECK_INT(kvc_hot_hit(&w, T0, -5, 300), 2);
    KVC_CHECK_INT(kvc_hot_count(&w, T0 + KVC_HOT_BUCKETS - 1, 0), 2);
    KVC_CHECK_INT(kvc_hot_count(&w, T0 + KVC_HOT_BUCKETS, 0), 0);
}

static void test_hot_default_window(apr_pool_t *p)
{
    kvc_hot_window w;
    apr_time_t t;
    apr_uint32_t n = 0;

    /* KVCacheHotWindow 5m, one hit every 10s: about 30 in the window,
     * never more than the exact 31 nor fewer than 15/16 of it.
     */
    memset(&w, 0, sizeof(w));
    for (t = T0; t < T0 + SEC(1800); t += SEC(10)) {
        n = kvc_hot_hit(&w, t, SEC(300), 300);
    }
    KVC_CHECK(n >= 28 && n <= 31);
}

const kvc_test_case kvc_hot_tests[] = { KVC_TEST(test_hot_counts),
                                        KVC_TEST(test_hot_full_expiry),
                                        KVC_TEST(test_hot_partial_expiry),
                                        KVC_TEST(test_hot_cap),
                                        KVC_TEST(test_hot_no_overflow),
                                        KVC_TEST(test_hot_out_of_order),
                                        KVC_TEST(test_hot_clock_backwards),
                                        KVC_TEST(test_hot_negative_time),
                                        KVC_TEST(test_hot_extremes),
                                        KVC_TEST(test_hot_default_window),
                                        KVC_TEST_END };
