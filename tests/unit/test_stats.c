/* Licensed under the Apache License, Version 2.0 (the "License"); you may not
 * use this file except in compliance with the License.  You may obtain a copy
 * of the License at http://www.apache.org/licenses/LICENSE-2.0
 */

/**
 * @file test_stats.c
 * @brief Tests for kvc_stats: counting, histograms, route slots, and both
 *        renderings (JSON read back with the kvc_json scanner; Prometheus
 *        text checked line by line and for unique metric families).
 */

#include <stdlib.h>

#include "apr_hash.h"
#include "apr_strings.h"

#include "kvc_stats.h"
#include "kvc_test.h"

static void fill(kvc_stats *st)
{
    kvc_stats_request(st, KVC_REASON_NONE, 1000, 768, 768, "vllm-a");
    kvc_stats_request(st, KVC_REASON_NONE, 1000, 256, 768, "vllm-b");
    kvc_stats_request(st, KVC_REASON_NONE, 500, 0, 0, "vllm-a");
    kvc_stats_request(st, KVC_REASON_LOOKUP_TIMEOUT, 300, 0, 0, "vllm-c");
    kvc_stats_request(st, KVC_REASON_LOOKUP_TIMEOUT, 0, 0, 0, NULL);
    kvc_stats_request(st, KVC_REASON_INVALID_JSON, 0, 0, 0, NULL);
    kvc_stats_call(st, KVC_ROLE_LOOKUP, KVC_CALL_OK, 300);  /* 0.3ms */
    kvc_stats_call(st, KVC_ROLE_LOOKUP, KVC_CALL_OK, 2000); /* 2ms */
    kvc_stats_call(st, KVC_ROLE_LOOKUP, KVC_CALL_TIMEOUT, 50000);
    kvc_stats_call(st, KVC_ROLE_LOOKUP, KVC_CALL_REJECTED, 0);
    kvc_stats_call(st, KVC_ROLE_TOKENIZE, KVC_CALL_ERROR, 9000000);
    kvc_stats_token_cache(st, 1);
    kvc_stats_token_cache(st, 0);
    kvc_stats_token_cache(st, 1);
    kvc_stats_action(st, KVC_ACTION_PIN, KVC_ACTION_SENT);
    kvc_stats_action(st, KVC_ACTION_CLEAR, KVC_ACTION_DROPPED);
}

static kvc_stats_gauges gauges(void)
{
    kvc_stats_gauges g;

    memset(&g, 0, sizeof(g));
    g.breaker_state[0] = "closed";
    g.breaker_state[1] = "open";
    g.breaker_state[2] = "half-open";
    g.breaker_state[3] = "closed";
    g.breaker_opens[1] = 3;
    g.token_cache_entries = 7;
    g.hot_keys = 5;
    return g;
}

/* Reason names are metric labels and KVCACHE_DECISION values: each one
 * distinct, lowercase words joined by '-'. */
static void test_stats_reason_names(apr_pool_t *p)
{
    int i, j;

    KVC_CHECK_STR(kvc_reason_name(KVC_REASON_NONE), "none");
    KVC_CHECK_STR(kvc_reason_name(KVC_REASON_LOOKUP_TIMEOUT), "lookup-timeout");
    KVC_CHECK_STR(kvc_reason_name(KVC_REASON_INTERNAL_ERROR), "internal-error");
    KVC_CHECK_STR(kvc_reason_name(KVC_REASON_COUNT), "unknown");
    for (i = 0; i < KVC_REASON_COUNT; i++) {
        const char *name = kvc_reason_name((kvc_reason)i);

        KVC_CHECK_INT(
            strspn(name, "abcdefghijklmnopqrstuvwxyz-") == strlen(name), 1);
        for (j = 0; j < i; j++) {
            KVC_CHECK_INT(strcmp(name, kvc_reason_name((kvc_reason)j)) != 0, 1);
        }
    }
}

static void test_stats_counting(apr_pool_t *p)
{
    kvc_stats *st = apr_pcalloc(p, sizeof(*st));

    fill(st);
    KVC_CHECK_INT(st->seen, 6);
    KVC_CHECK_INT(st->eligible, 5); /* not the invalid JSON one */
    KVC_CHECK_INT(st->routed, 3);
    KVC_CHECK_INT(st->fallbacks[KVC_REASON_LOOKUP_TIMEOUT], 2);
    KVC_CHECK_INT(st->prompt_tokens, 2800);
    KVC_CHECK_INT(st->matched_tokens, 1024);
    KVC_CHECK_INT(st->best_matched_tokens, 1536);
    KVC_CHECK_INT(st->routes_used, 2); /* fallbacks name no route */
    KVC_CHECK_STR(st->routes[0].route, "vllm-a");
    KVC_CHECK_INT(st->routes[0].routed, 2);
    KVC_CHECK_INT(st->calls[KVC_ROLE_LOOKUP].calls, 3);
    KVC_CHECK_INT(st->calls[KVC_ROLE_LOOKUP].timeouts, 1);
    KVC_CHECK_INT(st->calls[KVC_ROLE_LOOKUP].rejected, 1);
    KVC_CHECK_INT(st->calls[KVC_ROLE_LOOKUP].buckets[0], 1); /* 0.5ms */
    KVC_CHECK_INT(st->calls[KVC_ROLE_LOOKUP].buckets[2], 1); /* 2.5ms */
    KVC_CHECK_INT(st->calls[KVC_ROLE_LOOKUP].buckets[6], 1); /* 50ms */
    KVC_CHECK_INT(st->calls[KVC_ROLE_TOKENIZE].buckets[KVC_LATENCY_BUCKETS],
                  1); /* +Inf */
    KVC_CHECK_INT(st->calls[KVC_ROLE_LOOKUP].latency_us, 52300);
}

static void test_stats_route_slots_bounded(apr_pool_t *p)
{
    kvc_stats *st = apr_pcalloc(p, sizeof(*st));
    int i;

    for (i = 0; i < KVC_STATS_ROUTES + 10; i++) {
        kvc_stats_request(st, KVC_REASON_NONE, 10, 5, 5,
                          apr_psprintf(p, "r%d", i));
    }
    kvc_stats_request(st, KVC_REASON_NONE, 10, 5, 5, "r3");
    KVC_CHECK_INT(st->routes_used, KVC_STATS_ROUTES);
    KVC_CHECK_INT(st->routes[3].routed, 2);
    KVC_CHECK_INT(st->routed, KVC_STATS_ROUTES + 11);
}

/* The integer at path in the JSON text, -1 if there is none. */
static long long int_at(const char *text, const char *path, apr_pool_t *p)
{
    const char *v = kvc_test_json_at(text, path, p);
    char *end;
    long long n;

    if (v == NULL) {
        return -1;
    }
    n = strtoll(v, &end, 10);
    return (*end == '\0') ? n : -1;
}

static void test_stats_json(apr_pool_t *p)
{
    kvc_stats *st = apr_pcalloc(p, sizeof(*st));
    kvc_stats_gauges g = gauges();
    const char *doc;

    fill(st);
    doc = kvc_stats_render(st, &g, 0, p);
    KVC_CHECK_NOT_NULL(kvc_test_json_at(doc, "", p));
    KVC_CHECK_INT(int_at(doc, "requests.seen", p), 6);
    KVC_CHECK_INT(int_at(doc, "requests.routed", p), 3);
    KVC_CHECK_INT(int_at(doc, "fallbacks.lookup-timeout", p), 2);
    KVC_CHECK_INT(int_at(doc, "fallbacks.invalid-json", p), 1);
    KVC_CHECK_INT(int_at(doc, "tokens.best_matched", p), 1536);
    KVC_CHECK_INT(int_at(doc, "upstreams.lookup.calls", p), 3);
    KVC_CHECK_INT(int_at(doc, "upstreams.lookup.rejected", p), 1);
    KVC_CHECK_INT(int_at(doc, "upstreams.lookup.latency_seconds.count", p), 3);
    KVC_CHECK_STR(kvc_test_json_at(doc, "upstreams.lookup.breaker", p), "open");
    KVC_CHECK_INT(int_at(doc, "upstreams.lookup.breaker_opens", p), 3);
    KVC_CHECK_INT(int_at(doc, "token_cache.hits", p), 2);
    KVC_CHECK_INT(int_at(doc, "token_cache.entries", p), 7);
    KVC_CHECK_INT(int_at(doc, "hot_keys", p), 5);
    KVC_CHECK_INT(int_at(doc, "actions.clear.dropped", p), 1);
    KVC_CHECK_INT(int_at(doc, "routes.vllm-a", p), 2);
    KVC_CHECK_INT(int_at(doc, "routes.vllm-b", p), 1);
    /* Histogram buckets are cumulative; the sum is in seconds. */
    KVC_CHECK_INT(int_at(doc, "upstreams.lookup.latency_seconds.buckets.1", p),
                  3);
    KVC_CHECK_STR(
        kvc_test_json_at(doc, "upstreams.lookup.latency_seconds.sum", p),
        "0.052300");
    KVC_CHECK_INT(
        int_at(doc, "upstreams.lookup.latency_seconds.buckets.+Inf", p), 3);
    /* One document, and the newline after it. */
    KVC_CHECK(doc[strlen(doc) - 1] == '\n');
}

static int has_line(const char *text, const char *line)
{
    const char *at = strstr(text, line);
    apr_size_t n = strlen(line);

    while (at) {
        if ((at == text || at[-1] == '\n') && at[n] == '\n') {
            return 1;
        }
        at = strstr(at + 1, line);
    }
    return 0;
}

static void test_stats_prometheus(apr_pool_t *p)
{
    kvc_stats *st = apr_pcalloc(p, sizeof(*st));
    kvc_stats_gauges g = gauges();
    const char *text, *line;
    apr_hash_t *families = apr_hash_make(p);

    fill(st);
    text = kvc_stats_render(st, &g, 1, p);
    KVC_CHECK(has_line(text, "kvcache_requests_routed_total 3"));
    KVC_CHECK(
        has_line(text, "kvcache_fallbacks_total{reason=\"lookup-timeout\"} 2"));
    KVC_CHECK(has_line(
        text, "kvcache_upstream_duration_seconds_bucket{role=\"lookup\","
              "le=\"0.0005\"} 1"));
    KVC_CHECK(has_line(
        text, "kvcache_upstream_duration_seconds_bucket{role=\"lookup\","
              "le=\"0.0025\"} 2"));
    KVC_CHECK(has_line(
        text, "kvcache_upstream_duration_seconds_bucket{role=\"lookup\","
              "le=\"+Inf\"} 3"));
    KVC_CHECK(has_line(text,
                       "kvcache_upstream_duration_seconds_sum{role=\"lookup\"} "
                       "0.052300"));
    KVC_CHECK(has_line(
        text, "kvcache_breaker_state{role=\"lookup\",state=\"open\"} 1"));
    KVC_CHECK(has_line(
        text, "kvcache_breaker_state{role=\"lookup\",state=\"closed\"} 0"));
    KVC_CHECK(has_line(text, "kvcache_routed_total{route=\"vllm-a\"} 2"));
    KVC_CHECK(has_line(text, "kvcache_token_cache_entries 7"));
    /* Each family is declared once. */
    for (line = text; (line = strstr(line, "# TYPE ")); line++) {
        const char *end = strchr(line + 7, ' ');
        char *name = apr_pstrmemdup(p, line + 7, end - line - 7);

        KVC_CHECK(apr_hash_get(families, name, APR_HASH_KEY_STRING) == NULL);
        apr_hash_set(families, name, APR_HASH_KEY_STRING, name);
    }
    KVC_CHECK(apr_hash_count(families) > 15);
}

static void test_stats_escapes_routes(apr_pool_t *p)
{
    kvc_stats *st = apr_pcalloc(p, sizeof(*st));
    kvc_stats_gauges g = gauges();
    const char *doc;

    kvc_stats_request(st, KVC_REASON_NONE, 10, 5, 5, "a\"b\\c");
    kvc_stats_request(st, KVC_REASON_NONE, 10, 5, 5, "tab\there");
    KVC_CHECK(strstr(kvc_stats_render(st, &g, 1, p), "route=\"a\\\"b\\\\c\"")
              != NULL);
    doc = kvc_stats_render(st, &g, 0, p);
    KVC_CHECK_NOT_NULL(kvc_test_json_at(doc, "", p));
    KVC_CHECK_INT(int_at(doc, "routes.a\"b\\c", p), 1);
    /* JSON keeps the control character, escaped. */
    KVC_CHECK(strstr(doc, "\"tab\\u0009here\":1") != NULL);
    KVC_CHECK_INT(int_at(doc, "routes.tab\there", p), 1);
}

const kvc_test_case kvc_stats_tests[] = { KVC_TEST(test_stats_reason_names),
                                          KVC_TEST(test_stats_counting),
                                          KVC_TEST(
                                              test_stats_route_slots_bounded),
                                          KVC_TEST(test_stats_json),
                                          KVC_TEST(test_stats_prometheus),
                                          KVC_TEST(test_stats_escapes_routes),
                                          KVC_TEST_END };
