/* Licensed under the Apache License, Version 2.0 (the "License"); you may
 * not use this file except in compliance with the License.  You may obtain
 * a copy of the License at http://www.apache.org/licenses/LICENSE-2.0
 */

#include <stdlib.h>

#include "httpd.h"
#include "http_config.h"
#include "http_log.h"
#include "apr_strings.h"

#include "kvc_extract.h"
#include "kvc_hotset.h"
#include "kvc_signals.h"
#include "kvc_stats.h"
#include "kvc_wire.h"
#include "mod_kvcache_background.h"
#include "mod_kvcache_fleet.h"
#include "mod_kvcache_manage.h"
#include "mod_kvcache_request.h"
#include "mod_kvcache_shm.h"
#include "mod_kvcache_upstream.h"

APLOG_USE_MODULE(kvcache);

/* Signals older than this many scrape intervals are not trusted. */
#define KVC_SIGNALS_MAX_AGE_INTERVALS 3
#define KVC_ACTION_MAX_RESPONSE       (64 * 1024)

/* One management call, in a single allocation (the queue frees it). */
typedef struct {
    kvc_action action;
    apr_interval_time_t budget;
    apr_size_t len;
    char *url; /* both point into text[] */
    char *body;
    char text[1];
} kvc_action_job;

static void count_action(kvc_action action, kvc_action_outcome outcome)
{
    kvc_stats *st = kvc_shm_stats();

    if (st) {
        kvc_stats_action(st, action, outcome);
    }
}

static int accept_any(const kvc_http_response *resp, void *baton)
{
    return 0;
}

static void run_action(server_rec *s, void *data, apr_pool_t *p)
{
    kvc_action_job *job = data;
    kvc_upstream_outcome out;

    switch (kvc_upstream_call(s, KVC_ROLE_MANAGE, job->url, job->body, job->len,
                              job->budget, KVC_ACTION_MAX_RESPONSE, accept_any,
                              NULL, p, &out)) {
    case KVC_UPSTREAM_OK: count_action(job->action, KVC_ACTION_SENT); break;
    case KVC_UPSTREAM_BREAKER_OPEN:
        count_action(job->action, KVC_ACTION_DROPPED);
        break;
    default:
        count_action(job->action, KVC_ACTION_FAILED);
        ap_log_error(APLOG_MARK, APLOG_DEBUG, 0, s,
                     "[kvcache] %s failed after %d attempt(s): status %ld%s%s",
                     kvc_action_name(job->action), out.attempts,
                     out.http.status, out.http.error ? ", " : "",
                     out.http.error ? out.http.error : "");
        break;
    }
}

static void submit(server_rec *s, const request_rec *r,
                   const kvc_dir_conf *conf, kvc_action action,
                   const char *path, const char *body, apr_size_t len,
                   const char *instance)
{
    apr_size_t url_len = strlen(conf->lmcache_endpoint) + strlen(path) + 1;
    kvc_action_job *job = malloc(sizeof(*job) + url_len + len + 1);

    if (job) {
        job->action = action;
        job->budget = kvc_conf_request_timeout(conf);
        job->len = len;
        job->url = job->text;
        job->body = job->text + url_len;
        apr_snprintf(job->url, url_len, "%s%s", conf->lmcache_endpoint, path);
        memcpy(job->body, body, len);
        job->body[len] = '\0';
    }
    if (!job || kvc_background_submit(run_action, job) != 0) {
        count_action(action, KVC_ACTION_DROPPED);
        KVC_LOG(APLOG_DEBUG, s, r, "[kvcache] %s dropped: action queue full",
                kvc_action_name(action));
        return;
    }
    KVC_LOG(APLOG_DEBUG, s, r, "[kvcache] queued %s for instance %s",
            kvc_action_name(action), instance);
}

/* The body of an action, built by the JSON writer; a body that cannot
 * be built (nothing to build it from) is not sent. */
static const char *action_body(apr_pool_t *p, const char *instance,
                               const char *location, const char *method,
                               const kvc_tokens *tokens, apr_size_t *len)
{
    kvc_wire_action action;

    action.instance_id = instance;
    action.location = location;
    action.method = method;
    action.tokens = tokens;
    return kvc_wire_action_request(&action, p, len);
}

static void pin_if_hot(server_rec *s, const request_rec *r,
                       const kvc_dir_conf *conf, const unsigned char *key,
                       const kvc_tokens *tokens, const kvc_match *best,
                       apr_pool_t *p)
{
    const kvc_global_conf *g = kvc_config_global();
    const char *instance = conf->pin->instance ? conf->pin->instance
                           : best              ? best->instance_id
                                               : NULL;
    kvc_hot_policy policy, local;
    kvc_hotset *hs = kvc_shm_hotset();
    apr_uint32_t count = 0, local_count;
    apr_size_t len;
    const char *body;
    int due = 0, local_due, shared;

    policy.window = g->hot_window;
    policy.max_records = (apr_uint32_t)g->hot_max_records;
    /* Without a target the key is only counted: its pin is not spent. */
    policy.threshold = instance ? kvc_conf_hot_threshold(conf) : 0;
    local = policy;
    /* With a fleet store the fleet's count decides and one node in the
     * fleet wins the window's pin; the local table then only counts, so
     * that it is warm should the store go away.  Without an answer the
     * node decides alone, as a single node does. */
    shared =
        kvc_fleet_enabled() && kvc_fleet_hot(s, key, &policy, &count, &due, p);
    if (shared) {
        local.threshold = 0;
    }
    if (hs && kvc_shm_lock() == APR_SUCCESS) {
        local_count =
            kvc_hotset_hit(hs, key, apr_time_now(), &local, &local_due);
        kvc_shm_unlock();
        if (!shared) {
            count = local_count;
            due = local_due;
        }
    }
    else if (!shared) {
        return;
    }
    KVC_LOG(APLOG_TRACE2, s, r,
            "[kvcache] prompt %s seen %u time(s) in the %s hot window",
            kvc_key_hex(key, KVC_KEY_LOG_CHARS, p), count,
            shared ? "fleet's" : "node's");
    if (!due) {
        return;
    }
    body = action_body(p, instance, conf->pin->location, NULL, tokens, &len);
    if (body) {
        submit(s, r, conf, KVC_ACTION_PIN, "/pin", body, len, instance);
    }
}

/* Looks up the instance's signals and takes the rate-limit turn of the
 * action if its measure reaches the threshold. */
static int due(server_rec *s, const char *instance, int compress,
               double threshold, apr_pool_t *p)
{
    const kvc_global_conf *g = kvc_config_global();
    kvc_signals *sig = kvc_shm_signals();
    kvc_instance_signals *e;
    apr_time_t now = apr_time_now();
    int turn = 0;

    if (!sig || kvc_shm_lock() != APR_SUCCESS) {
        return 0;
    }
    e = kvc_signals_find(sig, instance, 0);
    if (e
        && kvc_signals_fresh(
            e, now, KVC_SIGNALS_MAX_AGE_INTERVALS * g->scrape_interval)) {
        double measure =
            compress ? kvc_signals_load(e, (apr_uint32_t)g->instance_capacity)
                     : e->kv_usage;

        if (measure >= threshold) {
            turn = kvc_signals_take_turn(compress ? &e->last_compress
                                                  : &e->last_clear,
                                         now, g->action_interval);
        }
    }
    kvc_shm_unlock();
    /* The local turn first: a node asks the fleet at most once per
     * interval and instance.  Without an answer the local turn stands. */
    if (turn && kvc_fleet_enabled()) {
        int granted;

        if (kvc_fleet_claim(s, compress ? KVC_FLEET_COMPRESS : KVC_FLEET_CLEAR,
                            instance, g->action_interval, &granted, p)) {
            turn = granted;
        }
    }
    return turn;
}

static void compress_if_loaded(server_rec *s, const request_rec *r,
                               const kvc_dir_conf *conf,
                               const kvc_tokens *tokens, const kvc_match *best,
                               apr_pool_t *p)
{
    const kvc_action_target *t = conf->compress;
    const char *instance = t->instance ? t->instance
                           : best      ? best->instance_id
                                       : NULL;
    apr_size_t len;
    const char *body;

    if (!instance || !due(s, instance, 1, kvc_conf_load_threshold(conf), p)) {
        return;
    }
    body = action_body(p, instance, t->location, t->method, tokens, &len);
    if (body) {
        submit(s, r, conf, KVC_ACTION_COMPRESS, "/compress", body, len,
               instance);
    }
}

/* LMCache's eviction is /clear of a whole location; Pixiu's /evict exists
 * only on controllers that add it (KVCacheEvictAPI evict). */
static void clear_if_full(server_rec *s, const request_rec *r,
                          const kvc_dir_conf *conf, const kvc_tokens *tokens,
                          apr_pool_t *p)
{
    const kvc_action_target *t = conf->evict;
    const char *body, *path;
    apr_size_t len;

    if (!due(s, t->instance, 0, kvc_conf_memory_threshold(conf), p)) {
        return;
    }
    if (conf->evict_api == KVC_EVICT_API_EVICT) {
        body = action_body(p, t->instance, NULL, NULL, tokens, &len);
        path = "/evict";
    }
    else {
        body = action_body(p, t->instance, t->location, NULL, NULL, &len);
        path = "/clear";
    }
    if (body) {
        submit(s, r, conf, KVC_ACTION_CLEAR, path, body, len, t->instance);
    }
}

void kvc_manage_prompt(server_rec *s, const request_rec *r,
                       const kvc_dir_conf *conf, const unsigned char *key,
                       const kvc_tokens *tokens, const kvc_match *best,
                       apr_pool_t *p)
{
    if (conf->pinning == 1 && conf->pin) {
        pin_if_hot(s, r, conf, key, tokens, best, p);
    }
    if (conf->compression == 1 && conf->compress) {
        compress_if_loaded(s, r, conf, tokens, best, p);
    }
    if (conf->eviction == 1 && conf->evict) {
        clear_if_full(s, r, conf, tokens, p);
    }
}
