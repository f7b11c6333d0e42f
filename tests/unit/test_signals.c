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

const kvc_test_case kvc_signals_tests[] = {
    KVC_TEST(test_signals_table), KVC_TEST(test_signals_load_and_freshness),
    KVC_TEST(test_signals_rate_limit), KVC_TEST_END
};
