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
#include "kvc_json_writer.h"
#include "kvc_selfcheck.h"
#include "kvc_wire.h"
#include "mod_kvcache_config.h"
#include "mod_kvcache_selfcheck.h"
#include "mod_kvcache_shm.h"

APLOG_USE_MODULE(kvcache);

#define KVC_SELFCHECK_WATCHDOG "_kvcache_selfcheck_"
#define KVC_SMALL_ANSWER       (64 * 1024)
#define KVC_METRICS_ANSWER     (4 * 1024 * 1024)
/* What the self-check tokenizes: a fixed text, never a client's. */
#define KVC_SELFCHECK_PROMPT "mod_kvcache self-check"

static server_rec *main_server;

/* One run: its client, pool and counts. */
typedef struct {
    kvc_http_handle *client;
    apr_pool_t *p;
    apr_uint32_t problems[KVC_SC_COUNT];
    apr_hash_t *routes;  /* route -> member, over every kvcache balancer */
    apr_hash_t *members; /* route -> its balancer's name */
} kvc_selfcheck_run;

static void problem(kvc_selfcheck_run *run, kvc_sc_check check, const char *fmt,
                    ...)
{
    va_list ap;
    const char *msg;

    va_start(ap, fmt);
    msg = apr_pvsprintf(run->p, fmt, ap);
    va_end(ap);
    run->problems[check]++;
    ap_log_error(APLOG_MARK, APLOG_WARNING, 0, main_server,
                 "[kvcache] self-check: %s", msg);
}

static const char *why(const kvc_http_response *resp, apr_pool_t *p)
{
    if (resp->result == KVC_HTTP_STATUS) {
        return apr_psprintf(p, "HTTP status %ld", resp->status);
    }
    return apr_psprintf(p, "%s%s%s", kvc_http_result_name(resp->result),
                        resp->error ? ": " : "",
                        resp->error ? resp->error : "");
}

static const char *member_name(const proxy_worker *w)
{
    return w->s->name_ex[0] ? w->s->name_ex : w->s->name;
}

/* A member's /metrics: the scraper's input (queue, load, prefill rate). */
static void check_metrics(kvc_selfcheck_run *run, const proxy_balancer *b,
                          const proxy_worker *w)
{
    const char *url = apr_psprintf(run->p, "%s://%s:%u/metrics", w->s->scheme,
                                   w->s->hostname_ex, (unsigned)w->s->port);
    kvc_http_response resp;

    if (kvc_http_get(run->client, url, KVC_DEFAULT_REQUEST_TIMEOUT,
                     KVC_METRICS_ANSWER, run->p, &resp)
        != KVC_HTTP_OK) {
        problem(run, KVC_SC_METRICS,
                "%s member %s (route=%s): GET %s failed (%s); the cost model "
                "does not see its queue",
                b->s->name, member_name(w), w->s->route[0] ? w->s->route : "-",
                url, why(&resp, run->p));
    }
    else if (!kvc_selfcheck_metrics_usable(resp.body, resp.len)) {
        problem(run, KVC_SC_METRICS,
                "%s member %s (route=%s): %s has no vllm:kv_cache_usage_perc "
                "(is it a vLLM instance?)",
                b->s->name, member_name(w), w->s->route[0] ? w->s->route : "-",
                url);
    }
}

/* Every lbmethod=kvcache balancer: members, route=, /metrics. */
static void check_balancers(kvc_selfcheck_run *run)
{
    module *proxy = ap_find_linked_module("mod_proxy.c");
    apr_hash_t *seen = apr_hash_make(run->p);
    server_rec *s;
    int i, j;

    for (s = main_server; proxy && s; s = s->next) {
        proxy_server_conf *conf = ap_get_module_config(s->module_config, proxy);
        proxy_balancer *balancers = (proxy_balancer *)conf->balancers->elts;

        for (i = 0; i < conf->balancers->nelts; i++) {
            proxy_balancer *b = &balancers[i];

            /* Vhosts inherit the main server's balancers: once each. */
            if (!b->s || strcmp(b->s->lbpname, "kvcache")
                || apr_hash_get(seen, &b->s, sizeof(b->s))) {
                continue;
            }
            apr_hash_set(seen, &b->s, sizeof(b->s), b);
            if (b->workers->nelts == 0) {
                problem(run, KVC_SC_MEMBERS,
                        "%s has lbmethod=kvcache but no BalancerMember",
                        b->s->name);
            }
            for (j = 0; j < b->workers->nelts; j++) {
                proxy_worker *w = APR_ARRAY_IDX(b->workers, j, proxy_worker *);

                if (!w->s->route[0]) {
                    problem(run, KVC_SC_ROUTE,
                            "%s member %s has no route=: kvcache never "
                            "prefers it; set BalancerMember ... route= to "
                            "its LMCache instance id (lmcache_instance_id)",
                            b->s->name, member_name(w));
                }
                else if (!apr_hash_get(run->routes, w->s->route,
                                       APR_HASH_KEY_STRING)) {
                    apr_hash_set(run->routes, w->s->route, APR_HASH_KEY_STRING,
                                 member_name(w));
                    apr_hash_set(run->members, w->s->route, APR_HASH_KEY_STRING,
                                 b->s->name);
                }
                if (!apr_hash_get(seen, member_name(w), APR_HASH_KEY_STRING)) {
                    apr_hash_set(seen, member_name(w), APR_HASH_KEY_STRING, w);
                    check_metrics(run, b, w);
                }
            }
        }
    }
}

/* A controller asked about every route: 1 if it answered /health for
 * them (so that *known says which it knows), 0 if it could not say. */
static int ask_controller(kvc_selfcheck_run *run, const kvc_dir_conf *c,
                          apr_hash_t *known, apr_hash_t *unhealthy)
{
    apr_hash_index_t *hi;
    const char *url = apr_pstrcat(run->p, c->lmcache_endpoint, "/health", NULL);

    for (hi = apr_hash_first(run->p, run->routes); hi; hi = apr_hash_next(hi)) {
        const char *route = apr_hash_this_key(hi);
        kvc_json_writer w;
        const char *body;
        apr_size_t len;
        kvc_http_response resp;

        kvc_json_writer_init(&w, run->p, 128);
        kvc_json_write_object_open(&w);
        kvc_json_write_key(&w, "instance_id");
        kvc_json_write_cstring(&w, route);
        kvc_json_write_object_close(&w);
        body = kvc_json_writer_finish(&w, &len);
        kvc_http_handle_post_json(run->client, url, body, len,
                                  kvc_conf_request_timeout(c), KVC_SMALL_ANSWER,
                                  run->p, &resp);
        if (resp.result != KVC_HTTP_OK && resp.result != KVC_HTTP_STATUS) {
            problem(run, KVC_SC_CONTROLLER,
                    "KVCacheLMCacheEndpoint %s: the LMCache controller does "
                    "not answer (POST %s: %s); every request falls back",
                    c->lmcache_endpoint, url, why(&resp, run->p));
            return 0;
        }
        switch (kvc_selfcheck_health(resp.status, resp.body, resp.len)) {
        case KVC_HEALTH_OK:
            apr_hash_set(known, route, APR_HASH_KEY_STRING, url);
            break;
        case KVC_HEALTH_UNHEALTHY:
            apr_hash_set(known, route, APR_HASH_KEY_STRING, url);
            apr_hash_set(unhealthy, route, APR_HASH_KEY_STRING, url);
            break;
        case KVC_HEALTH_UNKNOWN: break;
        case KVC_HEALTH_NO_API:
            ap_log_error(APLOG_MARK, APLOG_INFO, 0, main_server,
                         "[kvcache] self-check: KVCacheLMCacheEndpoint %s "
                         "has no POST /health (HTTP status %ld): instance "
                         "ids not checked",
                         c->lmcache_endpoint, resp.status);
            return 0;
        default:
            problem(run, KVC_SC_CONTROLLER,
                    "KVCacheLMCacheEndpoint %s: POST %s answered HTTP status "
                    "%ld with a body that is not LMCache's",
                    c->lmcache_endpoint, url, resp.status);
            return 0;
        }
    }
    return 1;
}

static void check_tokenize(kvc_selfcheck_run *run, const kvc_dir_conf *c,
                           const char *where)
{
    const char *url = apr_pstrcat(run->p, c->vllm_endpoint, "/tokenize", NULL);
    kvc_json_writer w;
    kvc_http_response resp;
    kvc_tokens tokens;
    const char *body;
    apr_size_t len;

    kvc_json_writer_init(&w, run->p, 256);
    kvc_json_write_object_open(&w);
    if (c->default_model) {
        kvc_json_write_key(&w, "model");
        kvc_json_write_cstring(&w, c->default_model);
    }
    kvc_json_write_key(&w, "prompt");
    kvc_json_write_cstring(&w, KVC_SELFCHECK_PROMPT);
    kvc_json_write_object_close(&w);
    body = kvc_json_writer_finish(&w, &len);
    if (kvc_http_handle_post_json(run->client, url, body, len,
                                  kvc_conf_request_timeout(c), KVC_SMALL_ANSWER,
                                  run->p, &resp)
        != KVC_HTTP_OK) {
        problem(run, KVC_SC_TOKENIZE,
                "KVCacheVLLMEndpoint %s (KVCacheEnable at %s): POST %s "
                "failed (%s); prompts are not tokenized, requests fall back",
                c->vllm_endpoint, where, url, why(&resp, run->p));
    }
    else if (kvc_wire_parse_tokens(resp.body, resp.len, run->p, &tokens)
             != KVC_WIRE_OK) {
        problem(run, KVC_SC_TOKENIZE,
                "KVCacheVLLMEndpoint %s (KVCacheEnable at %s): %s answered "
                "without token ids",
                c->vllm_endpoint, where, url);
    }
}

/* The cache plane of every enabled context, each endpoint once. */
static void check_endpoints(kvc_selfcheck_run *run)
{
    apr_hash_t *asked = apr_hash_make(run->p);
    apr_hash_t *known = apr_hash_make(run->p);
    apr_hash_t *unhealthy = apr_hash_make(run->p);
    apr_hash_index_t *hi;
    const char *controllers = NULL;
    int i, answered = 0;

    for (i = 0; i < kvc_config_enabled_count(); i++) {
        const char *where = NULL;
        const kvc_dir_conf *c = kvc_config_enabled_site(i, &where);
        const char *key;

        if (!c || !c->vllm_endpoint || !c->lmcache_endpoint) {
            continue;
        }
        key = apr_pstrcat(run->p, "v ", c->vllm_endpoint, " ",
                          c->default_model ? c->default_model : "", NULL);
        if (!apr_hash_get(asked, key, APR_HASH_KEY_STRING)) {
            apr_hash_set(asked, key, APR_HASH_KEY_STRING, key);
            check_tokenize(run, c, where);
        }
        key = apr_pstrcat(run->p, "c ", c->lmcache_endpoint, NULL);
        if (!apr_hash_get(asked, key, APR_HASH_KEY_STRING)) {
            apr_hash_set(asked, key, APR_HASH_KEY_STRING, key);
            if (ask_controller(run, c, known, unhealthy)) {
                answered++;
                controllers = controllers
                                  ? apr_pstrcat(run->p, controllers, ", ",
                                                c->lmcache_endpoint, NULL)
                                  : c->lmcache_endpoint;
            }
        }
    }
    /* A route is wrong only if no controller that could say knows it:
     * several contexts may each have their own controller. */
    for (hi = apr_hash_first(run->p, run->routes); answered && hi;
         hi = apr_hash_next(hi)) {
        const char *route = apr_hash_this_key(hi);
        const char *member = apr_hash_this_val(hi);
        const char *balancer =
            apr_hash_get(run->members, route, APR_HASH_KEY_STRING);

        if (!apr_hash_get(known, route, APR_HASH_KEY_STRING)) {
            problem(run, KVC_SC_INSTANCE,
                    "%s member %s: route=%s is not an instance id the LMCache "
                    "controller knows (%s); its cached prefixes are never "
                    "matched",
                    balancer, member, route, controllers);
        }
        else if (apr_hash_get(unhealthy, route, APR_HASH_KEY_STRING)) {
            problem(run, KVC_SC_INSTANCE,
                    "%s member %s: the LMCache controller (%s) reports "
                    "route=%s's workers unhealthy",
                    balancer, member, controllers, route);
        }
    }
}

static void selfcheck(apr_pool_t *p)
{
    kvc_selfcheck_state *st = kvc_shm_selfcheck();
    kvc_selfcheck_run run;
    apr_uint32_t total = 0;
    int i;

    if (!st || !kvc_selfcheck_claim(st)) {
        return;
    }
    memset(&run, 0, sizeof(run));
    run.p = p;
    run.routes = apr_hash_make(p);
    run.members = apr_hash_make(p);
    run.client = kvc_http_handle_create();
    if (!run.client) {
        ap_log_error(APLOG_MARK, APLOG_WARNING, 0, main_server,
                     "[kvcache] self-check: no HTTP client, skipped");
        kvc_selfcheck_publish(st, run.problems);
        return;
    }
    check_balancers(&run);
    check_endpoints(&run);
    kvc_http_handle_destroy(run.client);
    kvc_selfcheck_publish(st, run.problems);
    for (i = 0; i < KVC_SC_COUNT; i++) {
        total += run.problems[i];
    }
    ap_log_error(APLOG_MARK, total ? APLOG_WARNING : APLOG_INFO, 0, main_server,
                 "[kvcache] self-check: done, %u problem%s "
                 "(kvcache_selfcheck_problems in the status handler)",
                 total, total == 1 ? "" : "s");
}

static apr_status_t selfcheck_callback(int state, void *data, apr_pool_t *pool)
{
    if (state == AP_WATCHDOG_STATE_RUNNING && kvc_shm_ready()) {
        selfcheck(pool);
    }
    return APR_SUCCESS;
}

static int kvc_selfcheck_post_config(apr_pool_t *pconf, apr_pool_t *plog,
                                     apr_pool_t *ptemp, server_rec *s)
{
    APR_OPTIONAL_FN_TYPE(ap_watchdog_get_instance) * get_instance;
    APR_OPTIONAL_FN_TYPE(ap_watchdog_register_callback) * register_callback;
    ap_watchdog_t *watchdog;
    apr_status_t rv;

    main_server = s;
    if (ap_state_query(AP_SQ_MAIN_STATE) == AP_SQ_MS_CREATE_PRE_CONFIG
        || !kvc_config_global()->enabled) {
        return OK;
    }
    get_instance = APR_RETRIEVE_OPTIONAL_FN(ap_watchdog_get_instance);
    register_callback = APR_RETRIEVE_OPTIONAL_FN(ap_watchdog_register_callback);
    if (!get_instance || !register_callback) {
        ap_log_error(APLOG_MARK, APLOG_INFO, 0, s,
                     "[kvcache] self-check: skipped, it runs on "
                     "mod_watchdog, which is not loaded");
        return OK;
    }
    /* Its own singleton thread: a slow upstream holds up neither the
     * scraper nor startup.  After the first round, the callback only
     * finds the check done. */
    rv = get_instance(&watchdog, KVC_SELFCHECK_WATCHDOG, 0, 1, pconf);
    if (rv == APR_SUCCESS) {
        rv = register_callback(watchdog, AP_WD_TM_INTERVAL, NULL,
                               selfcheck_callback);
    }
    if (rv != APR_SUCCESS) {
        /* Not worth failing startup for. */
        ap_log_error(APLOG_MARK, APLOG_WARNING, rv, s,
                     "[kvcache] self-check: cannot start its watchdog, "
                     "skipped");
    }
    return OK;
}

void kvc_selfcheck_register_hooks(apr_pool_t *p)
{
    static const char *const before[] = { "mod_proxy.c", "mod_proxy_balancer.c",
                                          NULL };
    static const char *const after[] = { "mod_watchdog.c", NULL };

    /* As the scraper's (mod_kvcache_scrape.c). */
    ap_hook_post_config(kvc_selfcheck_post_config, before, after,
                        APR_HOOK_LAST);
}
