/* Licensed under the Apache License, Version 2.0 (the "License"); you may not
 * use this file except in compliance with the License.  You may obtain a copy
 * of the License at http://www.apache.org/licenses/LICENSE-2.0
 */

#include "httpd.h"
#include "http_config.h"
#include "http_log.h"
#include "apr_strings.h"
#include "mod_proxy.h"
#include "mod_watchdog.h"

#include "kvc_http.h"
#include "kvc_promtext.h"
#include "kvc_signals.h"
#include "mod_kvcache_config.h"
#include "mod_kvcache_scrape.h"
#include "mod_kvcache_shm.h"

APLOG_USE_MODULE(kvcache);

#define KVC_WATCHDOG_NAME    "_kvcache_scraper_"
#define KVC_METRICS_MAX_SIZE (4 * 1024 * 1024)

/* vLLM renamed gpu_cache_usage_perc to kv_cache_usage_perc; ask for both
 * and prefer the new name.  The counters give the prefill rate: tokens
 * computed (prompt tokens less prefix-cache hits, GPU and LMCache's) over
 * the time spent prefilling them (or, from engines that do not publish
 * that, the time to first token, which also holds the queueing). */
enum {
    M_KV_USAGE,
    M_GPU_USAGE,
    M_RUNNING,
    M_WAITING,
    M_PROMPT_TOKENS,
    M_PREFIX_HITS,
    M_EXTERNAL_HITS,
    M_PREFILL_SECONDS,
    M_PREFILLED,
    M_TTFT_SECONDS,
    M_TTFT_COUNT,
    M_COUNT
};
static const char *const metric_names[M_COUNT] = {
    "vllm:kv_cache_usage_perc",
    "vllm:gpu_cache_usage_perc",
    "vllm:num_requests_running",
    "vllm:num_requests_waiting",
    "vllm:prompt_tokens_total",
    "vllm:prefix_cache_hits_total",
    "vllm:external_prefix_cache_hits_total",
    "vllm:request_prefill_time_seconds_sum",
    "vllm:request_prefill_time_seconds_count",
    "vllm:time_to_first_token_seconds_sum",
    "vllm:time_to_first_token_seconds_count"
};

static server_rec *main_server;
/* The scraper's own client: mod_watchdog's thread outlives the child's
 * pool, and with it the pooled clients. */
static kvc_http_handle *client;

static double counter(const double *values, const int *found, int m)
{
    return found[m] ? values[m] : -1;
}

/* Members are worked out afresh on every round: the balancer-manager can
 * change routes and add members at run time. */
static void scrape_member(const proxy_worker *w, apr_pool_t *p)
{
    const char *url = apr_psprintf(p, "%s://%s:%u/metrics", w->s->scheme,
                                   w->s->hostname_ex, (unsigned)w->s->port);
    const kvc_global_conf *g = kvc_config_global();
    kvc_http_response resp;
    kvc_signals *sig = kvc_shm_signals();
    kvc_instance_signals *e;
    kvc_scrape_sample sample;
    double values[M_COUNT], rate = 0;
    int found[M_COUNT];
    int i;

    if (kvc_http_get(client, url, g->scrape_interval / 2, KVC_METRICS_MAX_SIZE,
                     p, &resp)
        != KVC_HTTP_OK) {
        ap_log_error(APLOG_MARK, APLOG_DEBUG, 0, main_server,
                     "[kvcache] scrape %s (%s): %s, HTTP status %ld%s%s", url,
                     w->s->route, kvc_http_result_name(resp.result),
                     resp.status, resp.error ? ", " : "",
                     resp.error ? resp.error : "");
        return;
    }
    memset(values, 0, sizeof(values));
    memset(found, 0, sizeof(found));
    kvc_promtext_values(resp.body, resp.len, metric_names, M_COUNT, values,
                        found);
    /* Usage, queue lengths and counters cannot be negative: a negative
     * total is garbage, and is treated as absent. */
    for (i = 0; i < M_COUNT; i++) {
        if (found[i] && values[i] < 0) {
            found[i] = 0;
            values[i] = 0;
        }
    }
    if (!found[M_KV_USAGE] && !found[M_GPU_USAGE]) {
        ap_log_error(APLOG_MARK, APLOG_DEBUG, 0, main_server,
                     "[kvcache] scrape %s (%s): no KV-cache usage metric", url,
                     w->s->route);
        return;
    }
    /* A ratio per engine: the instance's is their mean, not their sum. */
    sample.kv_usage = found[M_KV_USAGE]
                          ? values[M_KV_USAGE] / found[M_KV_USAGE]
                          : values[M_GPU_USAGE] / found[M_GPU_USAGE];
    sample.engines = found[M_KV_USAGE] ? found[M_KV_USAGE] : found[M_GPU_USAGE];
    sample.running = values[M_RUNNING];
    sample.waiting = values[M_WAITING];
    sample.prompt_tokens = counter(values, found, M_PROMPT_TOKENS);
    sample.cached_tokens = values[M_PREFIX_HITS] + values[M_EXTERNAL_HITS];
    if (found[M_PREFILL_SECONDS]) {
        sample.prefill_seconds = values[M_PREFILL_SECONDS];
        sample.prefilled = values[M_PREFILLED];
    }
    else {
        sample.prefill_seconds = counter(values, found, M_TTFT_SECONDS);
        sample.prefilled = values[M_TTFT_COUNT];
    }
    if (kvc_shm_lock() != APR_SUCCESS) {
        return;
    }
    if ((e = kvc_signals_find(sig, w->s->route, 1))) {
        kvc_signals_scraped(e, &sample, apr_time_now());
        rate = e->prefill_rate;
    }
    kvc_shm_unlock();
    ap_log_error(APLOG_MARK, APLOG_TRACE1, 0, main_server,
                 "[kvcache] scrape %s: kv usage %.3f, running %.0f, "
                 "waiting %.0f, prefill rate %.0f tokens/s",
                 w->s->route, sample.kv_usage, sample.running, sample.waiting,
                 rate);
}

static void scrape_all(apr_pool_t *p)
{
    module *proxy = ap_find_linked_module("mod_proxy.c");
    apr_hash_t *seen = apr_hash_make(p);
    server_rec *s;
    int i, j;

    for (s = main_server; proxy && s; s = s->next) {
        proxy_server_conf *conf = ap_get_module_config(s->module_config, proxy);
        proxy_balancer *balancers = (proxy_balancer *)conf->balancers->elts;

        for (i = 0; i < conf->balancers->nelts; i++) {
            proxy_balancer *b = &balancers[i];

            if (!b->s || strcmp(b->s->lbpname, "kvcache")) {
                continue;
            }
            for (j = 0; j < b->workers->nelts; j++) {
                proxy_worker *w = APR_ARRAY_IDX(b->workers, j, proxy_worker *);

                if (!w->s->route[0]
                    || apr_hash_get(seen, w->s->route, APR_HASH_KEY_STRING)) {
                    continue;
                }
                apr_hash_set(seen, w->s->route, APR_HASH_KEY_STRING, w);
                scrape_member(w, p);
            }
        }
    }
}

static apr_status_t scrape_callback(int state, void *data, apr_pool_t *pool)
{
    switch (state) {
    case AP_WATCHDOG_STATE_RUNNING:
        if (!client) {
            client = kvc_http_handle_create();
        }
        if (client && kvc_shm_ready()) {
            scrape_all(pool);
        }
        break;
    case AP_WATCHDOG_STATE_STOPPING:
        if (client) {
            kvc_http_handle_destroy(client);
            client = NULL;
        }
        break;
    default: break;
    }
    return APR_SUCCESS;
}

static int kvc_scrape_post_config(apr_pool_t *pconf, apr_pool_t *plog,
                                  apr_pool_t *ptemp, server_rec *s)
{
    APR_OPTIONAL_FN_TYPE(ap_watchdog_get_instance) * get_instance;
    APR_OPTIONAL_FN_TYPE(ap_watchdog_register_callback) * register_callback;
    const kvc_global_conf *g = kvc_config_global();
    ap_watchdog_t *watchdog;
    apr_status_t rv;

    main_server = s;
    /* The cost model (the default policy) reads the engines' queues; the
     * actions read their load and memory. */
    if (ap_state_query(AP_SQ_MAIN_STATE) == AP_SQ_MS_CREATE_PRE_CONFIG
        || (!g->signals_needed && !g->enabled)) {
        return OK;
    }
    get_instance = APR_RETRIEVE_OPTIONAL_FN(ap_watchdog_get_instance);
    register_callback = APR_RETRIEVE_OPTIONAL_FN(ap_watchdog_register_callback);
    if (!get_instance || !register_callback) {
        if (g->signals_needed) {
            ap_log_error(APLOG_MARK, APLOG_EMERG, 0, s,
                         "[kvcache] KVCacheCompression and KVCacheEviction "
                         "need mod_watchdog to read the instances' metrics");
            return !OK;
        }
        ap_log_error(APLOG_MARK, APLOG_WARNING, 0, s,
                     "[kvcache] mod_watchdog is not loaded: the engines' "
                     "queues are not read, and KVCachePolicy ttft predicts "
                     "from this server's own routing only");
        return OK;
    }
    /* A singleton: one child scrapes for all, whatever their number. */
    rv = get_instance(&watchdog, KVC_WATCHDOG_NAME, 0, 1, pconf);
    if (rv == APR_SUCCESS) {
        rv = register_callback(watchdog, g->scrape_interval, NULL,
                               scrape_callback);
    }
    if (rv != APR_SUCCESS) {
        ap_log_error(APLOG_MARK, APLOG_EMERG, rv, s,
                     "[kvcache] cannot start the metrics scraper");
        return !OK;
    }
    return OK;
}

void kvc_scrape_register_hooks(apr_pool_t *p)
{
    static const char *const before[] = { "mod_proxy.c", "mod_proxy_balancer.c",
                                          NULL };
    static const char *const after[] = { "mod_watchdog.c", NULL };

    ap_hook_post_config(kvc_scrape_post_config, before, after, APR_HOOK_LAST);
}
