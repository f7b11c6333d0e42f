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
 * and prefer the new name. */
enum { M_KV_USAGE, M_GPU_USAGE, M_RUNNING, M_WAITING, M_COUNT };
static const char *const metric_names[M_COUNT] = {
    "vllm:kv_cache_usage_perc", "vllm:gpu_cache_usage_perc",
    "vllm:num_requests_running", "vllm:num_requests_waiting"
};

static server_rec *main_server;
/* The scraper's own client: mod_watchdog's thread outlives the child's
 * pool, and with it the pooled clients. */
static kvc_http_handle *client;

/* Members are worked out afresh on every round: the balancer-manager can
 * change routes and add members at run time. */
static void scrape_member(const proxy_worker *w, apr_pool_t *p)
{
    const char *url = apr_psprintf(p, "%s://%s:%u/metrics", w->s->scheme,
                                   w->s->hostname_ex, (unsigned)w->s->port);
    kvc_http_response resp;
    kvc_signals *sig = kvc_shm_signals();
    kvc_instance_signals *e;
    double values[M_COUNT] = { 0, 0, 0, 0 };
    int found[M_COUNT] = { 0, 0, 0, 0 };
    apr_interval_time_t budget = kvc_config_global()->scrape_interval / 2;
    double usage;
    int i;

    if (kvc_http_get(client, url, budget, KVC_METRICS_MAX_SIZE, p, &resp)
        != KVC_HTTP_OK) {
        ap_log_error(APLOG_MARK, APLOG_DEBUG, 0, main_server,
                     "[kvcache] scrape %s (%s): %s, HTTP status %ld%s%s", url,
                     w->s->route, kvc_http_result_name(resp.result),
                     resp.status, resp.error ? ", " : "",
                     resp.error ? resp.error : "");
        return;
    }
    kvc_promtext_values(resp.body, resp.len, metric_names, M_COUNT, values,
                        found);
    /* Usage and queue lengths cannot be negative: a negative total is
     * garbage, and is treated as absent. */
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
    usage = found[M_KV_USAGE] ? values[M_KV_USAGE] / found[M_KV_USAGE]
                              : values[M_GPU_USAGE] / found[M_GPU_USAGE];
    if (kvc_shm_lock() != APR_SUCCESS) {
        return;
    }
    if ((e = kvc_signals_find(sig, w->s->route, 1))) {
        e->kv_usage = usage;
        e->running = values[M_RUNNING];
        e->waiting = values[M_WAITING];
        e->scraped_at = apr_time_now();
    }
    kvc_shm_unlock();
    ap_log_error(APLOG_MARK, APLOG_TRACE1, 0, main_server,
                 "[kvcache] scrape %s: kv usage %.3f, running %.0f, "
                 "waiting %.0f",
                 w->s->route, usage, values[M_RUNNING], values[M_WAITING]);
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
    ap_watchdog_t *watchdog;
    apr_status_t rv;

    main_server = s;
    if (ap_state_query(AP_SQ_MAIN_STATE) == AP_SQ_MS_CREATE_PRE_CONFIG
        || !kvc_config_global()->signals_needed) {
        return OK;
    }
    get_instance = APR_RETRIEVE_OPTIONAL_FN(ap_watchdog_get_instance);
    register_callback = APR_RETRIEVE_OPTIONAL_FN(ap_watchdog_register_callback);
    if (!get_instance || !register_callback) {
        ap_log_error(APLOG_MARK, APLOG_EMERG, 0, s,
                     "[kvcache] KVCacheCompression and KVCacheEviction need "
                     "mod_watchdog to read the instances' metrics");
        return !OK;
    }
    /* A singleton: one child scrapes for all, whatever their number. */
    rv = get_instance(&watchdog, KVC_WATCHDOG_NAME, 0, 1, pconf);
    if (rv == APR_SUCCESS) {
        rv = register_callback(watchdog, kvc_config_global()->scrape_interval,
                               NULL, scrape_callback);
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
