/* Licensed under the Apache License, Version 2.0 (the "License"); you may not
 * use this file except in compliance with the License.  You may obtain a copy
 * of the License at http://www.apache.org/licenses/LICENSE-2.0
 */

/**
 * @file test_signals.c
 * @brief Tests for kvc_signals: the instance table, load, freshness and
 *        the per-instance rate limit.
 */

#include "apr_strings.h"

#include "kvc_signals.h"
#include "kvc_test.h"

#define SEC(n) ((apr_time_t)(n)*APR_USEC_PER_SEC)

static void test_signals_table(apr_pool_t *p)
{
    kvc_signals *sig = apr_pcalloc(p, sizeof(*sig));
    kvc_instance_signals *a, *b;
    int i;

    KVC_CHECK_NULL(kvc_signals_find(sig, "vllm-a", 0));
    a = kvc_signals_find(sig, "vllm-a", 1);
    KVC_CHECK_NOT_NULL(a);
    b = kvc_signals_find(sig, "vllm-b", 1);
    KVC_CHECK(a != b);
    KVC_CHECK(kvc_signals_find(sig, "vllm-a", 1) == a);
    KVC_CHECK_INT(sig->count, 2);
    for (i = 0; i < KVC_SIGNALS_MAX; i++) {
        kvc_signals_find(sig, apr_psprintf(p, "i%d", i), 1);
    }
    KVC_CHECK_INT(sig->count, KVC_SIGNALS_MAX);
    KVC_CHECK_NULL(kvc_signals_find(sig, "one-too-many", 1));
    /* Ids longer than a route cannot be stored. */
    KVC_CHECK_NULL(kvc_signals_find(apr_pcalloc(p, sizeof(*sig)),
                                    "0123456789012345678901234567890123456"
                                    "789012345678901234567890123456",
                                    1));
}

static void test_signals_load_and_freshness(apr_pool_t *p)
{
    kvc_instance_signals e;

    memset(&e, 0, sizeof(e));
    e.running = 6;
    e.waiting = 2;
    KVC_CHECK(kvc_signals_load(&e, 10) > 0.79
              && kvc_signals_load(&e, 10) < 0.81);
    KVC_CHECK(kvc_signals_load(&e, 0) > 7.9);             /* 0 counts as 1 */
    KVC_CHECK(!kvc_signals_fresh(&e, SEC(100), SEC(15))); /* never */
    e.scraped_at = SEC(90);
    KVC_CHECK(kvc_signals_fresh(&e, SEC(100), SEC(15)));
    KVC_CHECK(!kvc_signals_fresh(&e, SEC(106), SEC(15)));
    KVC_CHECK(!kvc_signals_fresh(&e, SEC(80), SEC(15))); /* future */
}

static void test_signals_rate_limit(apr_pool_t *p)
{
    apr_time_t last = 0;

    KVC_CHECK(kvc_signals_take_turn(&last, SEC(100), SEC(30)));
    KVC_CHECK_INT(last, SEC(100));
    KVC_CHECK(!kvc_signals_take_turn(&last, SEC(110), SEC(30)));
    KVC_CHECK(!kvc_signals_take_turn(&last, SEC(129), SEC(30)));
    KVC_CHECK(kvc_signals_take_turn(&last, SEC(130), SEC(30)));
    /* A clock stepped back does not block actions for good. */
    KVC_CHECK(kvc_signals_take_turn(&last, SEC(50), SEC(30)));
}

#define NEAR(a, b) ((a) - (b) < 1e-6 && (b) - (a) < 1e-6)

static kvc_scrape_sample sample(double prompt, double cached, double seconds,
                                double prefilled, double waiting)
{
    kvc_scrape_sample s;

    memset(&s, 0, sizeof(s));
    s.engines = 1;
    s.prompt_tokens = prompt;
    s.cached_tokens = cached;
    s.prefill_seconds = seconds;
    s.prefilled = prefilled;
    s.waiting = waiting;
    return s;
}

/* The queue drains at the prefill rate, grows with every routed request
 * and never goes below nothing. */
static void test_signals_fluid_queue(apr_pool_t *p)
{
    kvc_signals *sig = apr_pcalloc(p, sizeof(*sig));
    kvc_instance_signals *e = kvc_signals_find(sig, "vllm-a", 1);

    KVC_CHECK(NEAR(kvc_signals_backlog(e, 1000, SEC(10)), 0));
    kvc_signals_routed(e, 3000, 4000, 1000, SEC(10));
    KVC_CHECK(NEAR(kvc_signals_backlog(e, 1000, SEC(10)), 3000));
    KVC_CHECK(NEAR(kvc_signals_backlog(e, 1000, SEC(11)), 2000));
    kvc_signals_routed(e, 500, 4000, 1000, SEC(11));
    KVC_CHECK(NEAR(kvc_signals_backlog(e, 1000, SEC(11)), 2500));
    KVC_CHECK(NEAR(kvc_signals_backlog(e, 1000, SEC(20)), 0));
    KVC_CHECK(NEAR(kvc_signals_backlog(NULL, 1000, SEC(20)), 0));
    /* The usual request follows what is routed. */
    KVC_CHECK(e->mean_work > 500 && e->mean_work < 3000);
}

/* The prefill rate and the usual request come from the counters' growth:
 * tokens computed (prompt less cached) per second and per request. */
static void test_signals_learned_rate(apr_pool_t *p)
{
    kvc_signals *sig = apr_pcalloc(p, sizeof(*sig));
    kvc_instance_signals *e = kvc_signals_find(sig, "vllm-a", 1);
    kvc_scrape_sample s;

    KVC_CHECK(NEAR(kvc_signals_rate(e, 10000), 10000)); /* not yet */
    s = sample(1000, 0, 1.0, 2, 0);
    kvc_signals_scraped(e, &s, SEC(1));
    KVC_CHECK(NEAR(kvc_signals_rate(e, 10000), 10000)); /* one point */
    /* 12,000 tokens, 2,000 of them cached, in 2 s over 5 requests: 10,000
     * computed and 2,000 loaded at a tenth of the cost. */
    s = sample(13000, 2000, 3.0, 7, 0);
    kvc_signals_scraped(e, &s, SEC(2));
    KVC_CHECK(NEAR(kvc_signals_rate(e, 1), 5100));
    KVC_CHECK(NEAR(e->mean_work, 2040));
    /* Two engines behind the member prefill twice as fast together. */
    s = sample(23000, 2000, 5.0, 12, 0);
    s.engines = 2;
    kvc_signals_scraped(e, &s, SEC(3));
    KVC_CHECK(NEAR(kvc_signals_rate(e, 1), 0.7 * 5100 + 0.3 * 10000));
    /* A restarted engine (counters back to small) teaches nothing. */
    s = sample(100, 0, 0.1, 1, 0);
    kvc_signals_scraped(e, &s, SEC(4));
    KVC_CHECK(NEAR(kvc_signals_rate(e, 1), 6570));
    /* An engine that publishes no counters keeps the default. */
    e = kvc_signals_find(sig, "vllm-b", 1);
    s = sample(-1, 0, -1, 0, 0);
    kvc_signals_scraped(e, &s, SEC(4));
    s = sample(-1, 0, -1, 0, 0);
    kvc_signals_scraped(e, &s, SEC(5));
    KVC_CHECK(NEAR(kvc_signals_rate(e, 10000), 10000));
}

/* Each scrape sets the queue to what the engine says waits (it sees what
 * other gateways sent), of the usual size there; requests routed since
 * add to it; it drains at the prefill rate. */
static void test_signals_scrape_sets_queue(apr_pool_t *p)
{
    kvc_signals *sig = apr_pcalloc(p, sizeof(*sig));
    kvc_instance_signals *e = kvc_signals_find(sig, "vllm-a", 1);
    kvc_scrape_sample s = sample(-1, 0, -1, 0, 4);

    /* Waiting requests of no known size count as the usual one. */
    kvc_signals_scraped(e, &s, SEC(1));
    KVC_CHECK(NEAR(kvc_signals_backlog(e, 1000, SEC(1)),
                   4 * KVC_SIGNALS_USUAL_REQUEST));
    KVC_CHECK(NEAR(kvc_signals_backlog(e, 1000, SEC(2)),
                   3 * KVC_SIGNALS_USUAL_REQUEST));
    kvc_signals_routed(e, 6000, 6000, 1000, SEC(2));
    KVC_CHECK(NEAR(kvc_signals_backlog(e, 1000, SEC(2)),
                   3 * KVC_SIGNALS_USUAL_REQUEST + 6000));
    /* The engine sees one waiting of the usual size here now (6,000: the
     * one request routed taught it). */
    s = sample(-1, 0, -1, 0, 1);
    kvc_signals_scraped(e, &s, SEC(3));
    KVC_CHECK(NEAR(kvc_signals_backlog(e, 1000, SEC(3)), 6000));
    /* Another gateway's crowd: 20 waiting. */
    s = sample(-1, 0, -1, 0, 20);
    kvc_signals_scraped(e, &s, SEC(4));
    KVC_CHECK(NEAR(kvc_signals_backlog(e, 1000, SEC(4)), 120000));
    /* Gone at the next scrape, whatever the drain had left. */
    s = sample(-1, 0, -1, 0, 0);
    kvc_signals_scraped(e, &s, SEC(5));
    KVC_CHECK(NEAR(kvc_signals_backlog(e, 1000, SEC(5)), 0));
}

/* The context decoded: this server's requests in flight with their
 * prompts, plus the engine's other running requests at the usual prompt. */
static void test_signals_decode_tokens(apr_pool_t *p)
{
    kvc_signals *sig = apr_pcalloc(p, sizeof(*sig));
    kvc_instance_signals *e = kvc_signals_find(sig, "vllm-a", 1);
    kvc_scrape_sample s = sample(-1, 0, -1, 0, 0);

    KVC_CHECK(NEAR(kvc_signals_decode_tokens(NULL), 0));
    KVC_CHECK(NEAR(kvc_signals_decode_tokens(e), 0));
    /* Another gateway's two, before this server sent any. */
    s.running = 2;
    kvc_signals_scraped(e, &s, SEC(1));
    KVC_CHECK(
        NEAR(kvc_signals_decode_tokens(e), 2 * KVC_SIGNALS_USUAL_REQUEST));
    s.running = 0;
    kvc_signals_scraped(e, &s, SEC(1));
    kvc_signals_routed(e, 100, 3000, 1000, SEC(1));
    kvc_signals_routed(e, 100, 3000, 1000, SEC(1));
    KVC_CHECK(e->inflight == 2);
    KVC_CHECK(NEAR(kvc_signals_decode_tokens(e), 6000));
    /* The engine runs five: three more of another gateway's. */
    s.running = 5;
    kvc_signals_scraped(e, &s, SEC(2));
    KVC_CHECK(NEAR(kvc_signals_decode_tokens(e), 6000 + 3 * 3000));
    kvc_signals_done(e, 3000);
    kvc_signals_done(e, 3000);
    KVC_CHECK(e->inflight == 0 && e->inflight_tokens == 0);
    KVC_CHECK(NEAR(kvc_signals_decode_tokens(e), 5 * 3000));
}

/* A member not measured yet is taken for the fleet's mean. */
static void test_signals_fleet_rate(apr_pool_t *p)
{
    kvc_signals *sig = apr_pcalloc(p, sizeof(*sig));

    KVC_CHECK(NEAR(kvc_signals_fleet_rate(NULL, 7), 7));
    kvc_signals_find(sig, "vllm-a", 1)->prefill_rate = 4000;
    kvc_signals_find(sig, "vllm-b", 1);
    KVC_CHECK(NEAR(kvc_signals_fleet_rate(sig, 7), 4000));
    kvc_signals_find(sig, "vllm-c", 1)->prefill_rate = 8000;
    KVC_CHECK(NEAR(kvc_signals_fleet_rate(sig, 7), 6000));
}

const kvc_test_case kvc_signals_tests[] = {
    KVC_TEST(test_signals_table),
    KVC_TEST(test_signals_load_and_freshness),
    KVC_TEST(test_signals_rate_limit),
    KVC_TEST(test_signals_fluid_queue),
    KVC_TEST(test_signals_learned_rate),
    KVC_TEST(test_signals_scrape_sets_queue),
    KVC_TEST(test_signals_decode_tokens),
    KVC_TEST(test_signals_fleet_rate),
    KVC_TEST_END
};
