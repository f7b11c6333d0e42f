/* Licensed under the Apache License, Version 2.0 (the "License"); you may not
 * use this file except in compliance with the License.  You may obtain a copy
 * of the License at http://www.apache.org/licenses/LICENSE-2.0
 */

/**
 * @file test_selfcheck.c
 * @brief Tests for kvc_selfcheck: the verdicts on /health and /metrics
 *        answers, and the published problem counts.
 */

#include <string.h>

#include "kvc_selfcheck.h"
#include "kvc_test.h"

#define HEALTH(status, text)                                                   \
    kvc_selfcheck_health((status), (text), strlen(text))

static void test_selfcheck_health(apr_pool_t *p)
{
    /* Newer LMCache: one code per worker. */
    KVC_CHECK_INT(HEALTH(200, "{\"event_id\":\"Health1\","
                              "\"error_codes\":{\"0\":0,\"1\":0}}"),
                  KVC_HEALTH_OK);
    KVC_CHECK_INT(HEALTH(200, "{\"error_codes\":{\"0\":0,\"1\":-1001}}"),
                  KVC_HEALTH_UNHEALTHY);
    /* Older LMCache: one code. */
    KVC_CHECK_INT(HEALTH(200, " {\"event_id\":\"x\",\"error_code\":0} "),
                  KVC_HEALTH_OK);
    KVC_CHECK_INT(HEALTH(200, "{\"error_code\":-1002}"), KVC_HEALTH_UNHEALTHY);
    KVC_CHECK_INT(HEALTH(200, "{\"error_code\":0.5}"), KVC_HEALTH_UNHEALTHY);
    /* An unknown id trips LMCache's assertion: a 500. */
    KVC_CHECK_INT(HEALTH(500, "{\"detail\":\"unknown instance\"}"),
                  KVC_HEALTH_UNKNOWN);
    /* Controllers without this /health cannot say. */
    KVC_CHECK_INT(HEALTH(404, "{\"detail\":\"Not Found\"}"), KVC_HEALTH_NO_API);
    KVC_CHECK_INT(HEALTH(405, ""), KVC_HEALTH_NO_API);
    KVC_CHECK_INT(HEALTH(422, "{}"), KVC_HEALTH_NO_API);
    /* Anything else is garbage. */
    KVC_CHECK_INT(HEALTH(200, "{\"event_id\":\"x\"}"), KVC_HEALTH_GARBAGE);
    KVC_CHECK_INT(HEALTH(200, "{\"error_codes\":[0]}"), KVC_HEALTH_GARBAGE);
    KVC_CHECK_INT(HEALTH(200, "{\"error_codes\":{\"0\":\"0\"}}"),
                  KVC_HEALTH_GARBAGE);
    KVC_CHECK_INT(HEALTH(200, "{\"error_code\":0"), KVC_HEALTH_GARBAGE);
    KVC_CHECK_INT(HEALTH(200, "[]"), KVC_HEALTH_GARBAGE);
    KVC_CHECK_INT(HEALTH(503, "{\"error_code\":0}"), KVC_HEALTH_GARBAGE);
    KVC_CHECK_INT(kvc_selfcheck_health(200, NULL, 0), KVC_HEALTH_GARBAGE);
}

static void test_selfcheck_metrics(apr_pool_t *p)
{
    const char *usable = "# TYPE vllm:kv_cache_usage_perc gauge\n"
                         "vllm:kv_cache_usage_perc{engine=\"0\"} 0.25\n";
    const char *old = "vllm:gpu_cache_usage_perc 0.5\n";
    const char *other = "process_cpu_seconds_total 3\n";

    KVC_CHECK(kvc_selfcheck_metrics_usable(usable, strlen(usable)));
    KVC_CHECK(kvc_selfcheck_metrics_usable(old, strlen(old)));
    KVC_CHECK(!kvc_selfcheck_metrics_usable(other, strlen(other)));
    KVC_CHECK(!kvc_selfcheck_metrics_usable("<html>", 6));
    KVC_CHECK(!kvc_selfcheck_metrics_usable(NULL, 0));
}

static void test_selfcheck_state(apr_pool_t *p)
{
    kvc_selfcheck_state st;
    apr_uint32_t counts[KVC_SC_COUNT] = { 0 };

    memset(&st, 0, sizeof(st));
    KVC_CHECK(kvc_selfcheck_claim(&st));
    KVC_CHECK(!kvc_selfcheck_claim(&st)); /* once per generation */
    KVC_CHECK_INT(st.completed, 0);
    counts[KVC_SC_ROUTE] = 1;
    counts[KVC_SC_METRICS] = 2;
    kvc_selfcheck_publish(&st, counts);
    KVC_CHECK_INT(st.completed, 1);
    KVC_CHECK_INT(kvc_selfcheck_total(&st), 3);
    KVC_CHECK_INT(st.problems[KVC_SC_METRICS], 2);
    KVC_CHECK_STR(kvc_sc_check_name(KVC_SC_ROUTE), "route");
    KVC_CHECK_STR(kvc_sc_check_name(KVC_SC_INSTANCE), "instance");
    KVC_CHECK_STR(kvc_sc_check_name(KVC_SC_COUNT), "unknown");
}

const kvc_test_case kvc_selfcheck_tests[] = { KVC_TEST(test_selfcheck_health),
                                              KVC_TEST(test_selfcheck_metrics),
                                              KVC_TEST(test_selfcheck_state),
                                              KVC_TEST_END };
