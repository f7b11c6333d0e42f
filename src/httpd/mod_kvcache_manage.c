/* Licensed under the Apache License, Version 2.0 (the "License"); you may
 * not use this file except in compliance with the License.  You may obtain
 * a copy of the License at http://www.apache.org/licenses/LICENSE-2.0
 */

#include "httpd.h"
#include "http_log.h"
#include "apr_strings.h"

#include "mod_kvcache_actions.h"
#include "kvc_extract.h"
#include "mod_kvcache_manage.h"
#include "mod_kvcache_shm.h"

APLOG_USE_MODULE(kvcache);

/* Signals older than this many scrape intervals are not trusted. */
#define KVC_SIGNALS_MAX_AGE_INTERVALS 3

/* {"instance_id":...,<extra>"tokens":[...]}: the lookup request's token
 * array with fields in front.  Every value was validated at configuration
 * time or by the lookup parser, so no escaping is needed. */
static const char *action_body(request_rec *r, const char *fields,
                               const kvc_tokens *tokens, apr_size_t *len)
{
    apr_size_t tokens_len;
    const char *lookup = kvc_wire_lookup_request(tokens, r->pool, &tokens_len);
    char *body = apr_pstrcat(r->pool, "{", fields, ",", lookup + 1, NULL);

    *len = strlen(body);
    return body;
}

static void submit(request_rec *r, const kvc_dir_conf *conf, kvc_action action,
                   const char *path, const char *body, apr_size_t len,
                   const char *instance)
{
    ap_log_rerror(APLOG_MARK, APLOG_DEBUG, 0, r,
                  "[kvcache] queueing %s for instance %s",
                  kvc_action_name(action), instance);
    kvc_actions_submit(r->server, action,
                       apr_pstrcat(r->pool, conf->lmcache_endpoint, path, NULL),
                       body, len, kvc_conf_request_timeout(conf));
}

static void pin_if_hot(request_rec *r, const kvc_dir_conf *conf,
                       const unsigned char key[32], const kvc_tokens *tokens,
                       const kvc_match *best)
{
    const kvc_global_conf *g = kvc_config_global();
    const char *instance = conf->pin->instance ? conf->pin->instance
                           : best              ? best->instance_id
                                               : NULL;
    kvc_hot_policy policy;
    kvc_hotset *hs = kvc_shm_hotset();
    apr_uint32_t count;
    apr_size_t len;
    const char *body;
    int due;

    if (!hs || kvc_shm_lock() != APR_SUCCESS) {
        return;
    }
    policy.window = g->hot_window;
    policy.max_records = g->hot_max_records;
    /* Without a target the key is only counted: its pin is not spent. */
    policy.threshold = instance ? kvc_conf_hot_threshold(conf) : 0;
    count = kvc_hotset_hit(hs, key, apr_time_now(), &policy, &due);
    kvc_shm_unlock();
    ap_log_rerror(APLOG_MARK, APLOG_TRACE2, 0, r,
                  "[kvcache] prompt %s seen %u time(s) in the hot window",
                  kvc_key_hex(key, 16, r->pool), count);
    if (!due) {
        return;
    }
    body = action_body(r,
                       apr_psprintf(r->pool,
                                    "\"instance_id\":\"%s\","
                                    "\"location\":\"%s\"",
                                    instance, conf->pin->location),
                       tokens, &len);
    submit(r, conf, KVC_ACTION_PIN, "/pin", body, len, instance);
}

/* Looks up the instance's signals and takes the rate-limit turn of the
 * action if its measure reaches the threshold. */
static int due(const char *instance, int compress, double threshold)
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
            compress ? kvc_signals_load(e, g->instance_capacity) : e->kv_usage;

        if (measure >= threshold) {
            turn = kvc_signals_take_turn(compress ? &e->last_compress
                                                  : &e->last_clear,
                                         now, g->action_interval);
        }
    }
    kvc_shm_unlock();
    return turn;
}

static void compress_if_loaded(request_rec *r, const kvc_dir_conf *conf,
                               const kvc_tokens *tokens, const kvc_match *best)
{
    const kvc_action_target *t = conf->compress;
    const char *instance = t->instance ? t->instance
                           : best      ? best->instance_id
                                       : NULL;
    apr_size_t len;
    const char *body;

    if (!instance || !due(instance, 1, kvc_conf_load_threshold(conf))) {
        return;
    }
    body = action_body(r,
                       apr_psprintf(r->pool,
                                    "\"instance_id\":\"%s\","
                                    "\"method\":\"%s\",\"location\":\"%s\"",
                                    instance, t->method, t->location),
                       tokens, &len);
    submit(r, conf, KVC_ACTION_COMPRESS, "/compress", body, len, instance);
}

/* LMCache's eviction is /clear of a whole location; Pixiu's /evict exists
 * only on controllers that add it (KVCacheEvictAPI evict). */
static void clear_if_full(request_rec *r, const kvc_dir_conf *conf,
                          const kvc_tokens *tokens)
{
    const kvc_action_target *t = conf->evict;
    const char *body;
    apr_size_t len;

    if (!due(t->instance, 0, kvc_conf_memory_threshold(conf))) {
        return;
    }
    if (conf->evict_api == KVC_EVICT_API_EVICT) {
        body = action_body(
            r, apr_psprintf(r->pool, "\"instance_id\":\"%s\"", t->instance),
            tokens, &len);
        submit(r, conf, KVC_ACTION_CLEAR, "/evict", body, len, t->instance);
        return;
    }
    body = apr_psprintf(r->pool,
                        "{\"instance_id\":\"%s\",\"location\":"
                        "\"%s\"}",
                        t->instance, t->location);
    submit(r, conf, KVC_ACTION_CLEAR, "/clear", body, strlen(body),
           t->instance);
}

void kvc_manage_request(request_rec *r, const kvc_dir_conf *conf,
                        const unsigned char key[32], const kvc_tokens *tokens,
                        const kvc_match *best)
{
    /* The targets are checked together with the switches at startup;
     * only odd <Location> nesting can leave one unset here. */
    if (conf->pinning == 1 && conf->pin) {
        pin_if_hot(r, conf, key, tokens, best);
    }
    if (conf->compression == 1 && conf->compress) {
        compress_if_loaded(r, conf, tokens, best);
    }
    if (conf->eviction == 1 && conf->evict) {
        clear_if_full(r, conf, tokens);
    }
}
