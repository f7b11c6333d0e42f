/* Licensed under the Apache License, Version 2.0 (the "License"); you may not
 * use this file except in compliance with the License.  You may obtain a copy
 * of the License at http://www.apache.org/licenses/LICENSE-2.0
 */

/**
 * @file test_score.c
 * @brief Tests for kvc_score: the worked example of kvc_lbmethod.c, the
 *        weight-0 policy and the tie rules.
 */

#include "kvc_score.h"
#include "kvc_test.h"

#define NEAR(a, b) ((a) - (b) < 1e-3 && (b) - (a) < 1e-3)

/* The share score: a busy best match loses to idle members. */
static void test_score_worked_example(apr_pool_t *p)
{
    double a = kvc_score_share(1536, 2000, 6, 3, 1.0);
    double b = kvc_score_share(512, 2000, 2, 3, 1.0);
    double c = kvc_score_share(0, 2000, 1, 3, 1.0);

    KVC_CHECK(NEAR(a, -0.232));
    KVC_CHECK(NEAR(b, 0.589));
    KVC_CHECK(NEAR(c, 0.667));
    KVC_CHECK(kvc_score_prefer(c, 1, 0, b, 2, 512));
    KVC_CHECK(!kvc_score_prefer(a, 6, 1536, c, 1, 0));
    /* Equally busy: the cache advantage decides. */
    KVC_CHECK(NEAR(kvc_score_share(1536, 2000, 3, 3, 1.0), 0.768));
}

static void test_score_weight_zero_is_max_match(apr_pool_t *p)
{
    double busy_best = kvc_score_share(1536, 2000, 50, 3, 0.0);
    double idle_other = kvc_score_share(512, 2000, 0, 3, 0.0);

    KVC_CHECK(NEAR(busy_best, 0.768));
    KVC_CHECK(kvc_score_prefer(busy_best, 50, 1536, idle_other, 0, 512));
}

/* The load term is relative: below one request in flight on average it is
 * measured against 1, so a single busy request is not a catastrophe. */
static void test_score_relative_load(apr_pool_t *p)
{
    KVC_CHECK(NEAR(kvc_score_share(0, 100, 1, 0.25, 1.0), -0.75));
    KVC_CHECK(NEAR(kvc_score_share(0, 100, 20, 10, 1.0), -1.0));
    KVC_CHECK(NEAR(kvc_score_share(0, 100, 0, 10, 2.0), 2.0));
    /* A prompt size of 0 counts as 1 (no division by zero). */
    KVC_CHECK(NEAR(kvc_score_share(0, 0, 0, 0, 1.0), 0.0));
}

static void test_score_ties(apr_pool_t *p)
{
    /* Equal scores: the less busy one wins... */
    KVC_CHECK(kvc_score_prefer(0.5, 1, 10, 0.5, 2, 10));
    KVC_CHECK(!kvc_score_prefer(0.5, 2, 10, 0.5, 1, 10));
    /* ...then the larger match... */
    KVC_CHECK(kvc_score_prefer(0.5, 1, 20, 0.5, 1, 10));
    /* ...and a full tie keeps the earlier member. */
    KVC_CHECK(!kvc_score_prefer(0.5, 1, 10, 0.5, 1, 10));
    /* Differences below rounding noise are ties. */
    KVC_CHECK(kvc_score_prefer(0.5 + 1e-12, 1, 10, 0.5, 2, 10));
    KVC_CHECK(kvc_score_prefer(0.51, 9, 0, 0.5, 0, 99));
}

static double ttft(long matched, double backlog, double decoding)
{
    kvc_engine_load load = { 10000, backlog, decoding, 1.0 };

    return kvc_score_ttft(matched, 8000, 8200, &load, 1.0);
}

/* The ttft example in the comment of mod_kvcache_lbmethod.c. */
static void test_score_ttft_worked_example(apr_pool_t *p)
{
    double a = ttft(8000, 20000, 40000), b = ttft(0, 0, 80000),
           c = ttft(0, 3000, 0);

    KVC_CHECK(NEAR(a, 2.92));
    KVC_CHECK(NEAR(b, 4.04));
    KVC_CHECK(NEAR(c, 2.74));
    KVC_CHECK(kvc_score_prefer(-c, 0, 0, -a, 0, 8000));
    KVC_CHECK(kvc_score_prefer(-a, 0, 8000, -b, 0, 0));
    /* Less queued on vllm-a, it keeps its prefix. */
    KVC_CHECK(NEAR(ttft(8000, 12000, 40000), 2.12));
    KVC_CHECK(kvc_score_prefer(-ttft(8000, 12000, 40000), 0, 8000, -c, 0, 0));
    /* Idle, it needs a tenth of a second. */
    KVC_CHECK(NEAR(ttft(8000, 0, 0), 0.12));
}

static void test_score_ttft_edges(apr_pool_t *p)
{
    kvc_engine_load load = { 0, -5, -1, -1 };

    /* Nonsense inputs are clamped, never divided by. */
    KVC_CHECK(NEAR(kvc_score_ttft(0, 0, 10, &load, 1.0), 10));
    /* A match beyond the prompt leaves only the prompt to load. */
    load.prefill_rate = 100;
    KVC_CHECK(NEAR(kvc_score_ttft(50, 50, 10, &load, 1.0), 0.01));
    KVC_CHECK(NEAR(kvc_score_work(50, 10), 1));
    KVC_CHECK(NEAR(kvc_score_work(-3, 10), 10));
    /* A best match below this one's is no avoidable work. */
    KVC_CHECK(NEAR(kvc_score_ttft(50, 20, 100, &load, 1.0), 0.55));
    /* Weight 0: the decoding load is ignored. */
    load.decode_tokens = 1000;
    KVC_CHECK(NEAR(kvc_score_ttft(0, 0, 100, &load, 0.0), 1.0));
    KVC_CHECK(NEAR(kvc_score_ttft(0, 0, 100, &load, 1.0), 3.0));
    /* A full cache makes what is stored displace as much. */
    load.cache_full = 0.5;
    KVC_CHECK(NEAR(kvc_score_ttft(0, 0, 100, &load, 0.0), 1.5));
    load.cache_full = 7;
    KVC_CHECK(NEAR(kvc_score_ttft(0, 0, 100, &load, 0.0), 2.0));
}

const kvc_test_case kvc_score_tests[] = {
    KVC_TEST(test_score_ttft_worked_example),
    KVC_TEST(test_score_ttft_edges),
    KVC_TEST(test_score_worked_example),
    KVC_TEST(test_score_weight_zero_is_max_match),
    KVC_TEST(test_score_relative_load),
    KVC_TEST(test_score_ties),
    KVC_TEST_END
};
