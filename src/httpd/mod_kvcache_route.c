/* Licensed under the Apache License, Version 2.0 (the "License"); you may not
 * use this file except in compliance with the License.  You may obtain a copy
 * of the License at http://www.apache.org/licenses/LICENSE-2.0
 */

#include <stdlib.h>

#include "httpd.h"
#include "http_config.h"
#include "http_core.h"
#include "http_log.h"
#include "http_protocol.h"
#include "http_request.h"
#include "apr_strings.h"

#include "kvc_extract.h"
#include "kvc_sessions.h"
#include "kvc_wire.h"
#include "mod_kvcache_answer.h"
#include "mod_kvcache_background.h"
#include "mod_kvcache_body.h"
#include "mod_kvcache_config.h"
#include "mod_kvcache_fleet.h"
#include "mod_kvcache_manage.h"
#include "mod_kvcache_plane.h"
#include "mod_kvcache_request.h"
#include "mod_kvcache_route.h"
#include "mod_kvcache_shm.h"
#include "mod_kvcache_tokstore.h"
#include "mod_kvcache_upstream.h"

APLOG_USE_MODULE(kvcache);

/* Only the initial, reverse-proxied POST to a balancer can be steered;
 * everything else passes untouched. */
static int is_candidate(const request_rec *r, const kvc_dir_conf *conf)
{
    return kvc_conf_enabled(conf) && r->method_number == M_POST
           && ap_is_initial_req((request_rec *)r)
           && r->proxyreq == PROXYREQ_REVERSE && r->filename
           && !strncmp(r->filename, "proxy:balancer://", 17);
}

/* Bodies that cannot be an OpenAI JSON request are not even buffered. */
static kvc_reason unsuitable_body(const request_rec *r)
{
    const char *type = apr_table_get(r->headers_in, "Content-Type");
    const char *encoding = apr_table_get(r->headers_in, "Content-Encoding");

    if (encoding && strcasecmp(encoding, "identity")) {
        return KVC_REASON_ENCODED_BODY;
    }
    if (type && !ap_strcasestr(type, "json")) {
        return KVC_REASON_NOT_JSON;
    }
    return KVC_REASON_NONE;
}

static kvc_reason extract_failure(kvc_extract_status st)
{
    switch (st) {
    case KVC_EXTRACT_INVALID_JSON: return KVC_REASON_INVALID_JSON;
    case KVC_EXTRACT_NOT_OBJECT: return KVC_REASON_NOT_OBJECT;
    case KVC_EXTRACT_EMPTY_PROMPT: return KVC_REASON_EMPTY_PROMPT;
    default: return KVC_REASON_INTERNAL_ERROR;
    }
}

/* What Pixiu's background goroutine does, for KVCacheTokenize async:
 * tokenize for the token cache, then the lookup and the cache management
 * the request could not wait for, so a hot prompt is pinned at the same
 * request as Pixiu would pin it.  One allocation, freed by the queue. */
typedef struct {
    kvc_dir_conf conf; /* a copy: the request's merge dies with it */
    unsigned char key[KVC_KEY_LEN];
    apr_size_t len;
    char body[1];
} kvc_tokenize_job;

static void tokenize_in_background(server_rec *s, void *data, apr_pool_t *p)
{
    kvc_tokenize_job *job = data;
    const kvc_dir_conf *conf = &job->conf;
    apr_interval_time_t budget = kvc_conf_request_timeout(conf);
    apr_array_header_t *matches;
    const kvc_match *best = NULL;
    kvc_tokens tokens;

    if (kvc_plane_tokenize(s, NULL, conf, job->body, job->len, budget, p,
                           &tokens)
        != KVC_REASON_NONE) {
        return;
    }
    if (kvc_conf_token_cache(conf)) {
        kvc_tokstore_put(s, job->key, &tokens, p);
    }
    if (!kvc_conf_manages(conf)) {
        return;
    }
    if (kvc_plane_lookup(s, NULL, conf, &tokens, budget, p, &matches)
        == KVC_REASON_NONE) {
        best = kvc_matches_best(matches);
    }
    kvc_manage_prompt(s, NULL, conf, job->key, &tokens, best, p);
}

static void tokenize_later(request_rec *r, const kvc_dir_conf *conf,
                           const unsigned char *key, const kvc_body *body)
{
    kvc_tokenize_job *job = malloc(sizeof(*job) + body->len);

    if (!job) {
        return;
    }
    job->conf = *conf;
    memcpy(job->key, key, KVC_KEY_LEN);
    job->len = body->len;
    memcpy(job->body, body->data, body->len);
    /* A full queue only delays the tokens to a later request. */
    kvc_background_submit(tokenize_in_background, job);
}

/* Tokens from the token cache, else as the KVCacheTokenize mode says. */
static kvc_reason get_tokens(request_rec *r, const kvc_dir_conf *conf,
                             const unsigned char *key, const kvc_body *body,
                             kvc_tokens *tokens)
{
    int use_cache = kvc_conf_token_cache(conf);
    kvc_reason reason;

    if (use_cache && kvc_tokstore_get(r->server, key, r->pool, tokens)) {
        return KVC_REASON_NONE;
    }
    switch (kvc_conf_tokenize_mode(conf)) {
    case KVC_TOKENIZE_OFF: return KVC_REASON_TOKENIZE_OFF;
    case KVC_TOKENIZE_ASYNC:
        /* Pixiu's timing: this request goes unrouted, the next identical
         * one finds the tokens. */
        if (use_cache || kvc_conf_manages(conf)) {
            tokenize_later(r, conf, key, body);
        }
        return KVC_REASON_TOKENIZE_PENDING;
    default: break;
    }
    reason =
        kvc_plane_tokenize(r->server, r, conf, body->data, body->len,
                           kvc_conf_tokenize_budget(conf), r->pool, tokens);
    if (reason == KVC_REASON_NONE && use_cache) {
        kvc_tokstore_put(r->server, key, tokens, r->pool);
    }
    return reason;
}

/* The requests in flight that this server sent with the same prefix:
 * their member holds it by the time this one is prefilled there, though
 * neither the controller nor the engine's events know it yet
 * (kvc_pending.h).  Only where the controller answered: its failures
 * keep their own reasons. */
static kvc_reason add_in_flight(request_rec *r, kvc_request *req,
                                const kvc_tokens *tokens, kvc_reason reason,
                                apr_array_header_t **matches)
{
    kvc_pending *pd = kvc_shm_pending();
    unsigned char *keys;
    char route[KVC_ROUTE_SIZE];
    kvc_match *m;
    long held;
    int i;

    if (!pd
        || (reason != KVC_REASON_NONE && reason != KVC_REASON_LOOKUP_EMPTY)) {
        return reason;
    }
    req->blocks = kvc_pending_keys(tokens, r->pool, &keys);
    req->block_keys = keys;
    if (!req->blocks || kvc_shm_lock() != APR_SUCCESS) {
        return reason;
    }
    held = kvc_pending_match(pd, keys, req->blocks, route);
    kvc_shm_unlock();
    if (!held) {
        return reason;
    }
    ap_log_rerror(APLOG_MARK, APLOG_TRACE1, 0, r,
                  "[kvcache] %ld tokens of the prompt are in flight to %s",
                  held, route);
    if (reason == KVC_REASON_LOOKUP_EMPTY) {
        *matches = apr_array_make(r->pool, 1, sizeof(kvc_match));
    }
    for (i = 0; i < (*matches)->nelts; i++) {
        m = &APR_ARRAY_IDX(*matches, i, kvc_match);
        if (!strcmp(m->instance_id, route)) {
            if (m->matched < held) {
                m->matched = held;
            }
            return KVC_REASON_NONE;
        }
    }
    m = apr_array_push(*matches);
    m->instance_id = apr_pstrdup(r->pool, route);
    m->location = NULL;
    m->matched = held;
    return KVC_REASON_NONE;
}

/* The whole question, from body to matches; every answer short of
 * matches is a reason in the context.  Only a body that broke off is an
 * error (APR status): there is nothing intact to forward. */
static apr_status_t find_matches(request_rec *r, const kvc_dir_conf *conf,
                                 kvc_request *req)
{
    apr_array_header_t *matches;
    kvc_request_info info;
    kvc_extract_status extracted;
    kvc_tokens tokens;
    kvc_body body;
    kvc_reason reason;
    apr_status_t rv;

    if (!conf->vllm_endpoint || !conf->lmcache_endpoint) {
        /* Only reachable through unusual nesting of <Location>s; the
         * config check covers the plain cases. */
        kvc_request_fail(req, KVC_REASON_NOT_CONFIGURED);
        return APR_SUCCESS;
    }
    if ((reason = unsuitable_body(r)) != KVC_REASON_NONE) {
        kvc_request_fail(req, reason);
        return APR_SUCCESS;
    }
    if (kvc_upstream_refused(KVC_ROLE_LOOKUP)) {
        /* Nothing could be routed: do not even read the body. */
        kvc_request_fail(req, KVC_REASON_LOOKUP_BREAKER_OPEN);
        return APR_SUCCESS;
    }
    rv = kvc_body_buffer(r, kvc_conf_max_body_size(conf), &body);
    if (rv != APR_SUCCESS) {
        return rv;
    }
    if (!body.complete) {
        kvc_request_fail(req, KVC_REASON_BODY_TOO_LARGE);
        return APR_SUCCESS;
    }
    extracted = kvc_extract(body.data, body.len,
                            conf->default_model ? conf->default_model : "",
                            r->pool, &info);
    if (extracted != KVC_EXTRACT_OK) {
        kvc_request_fail(req, extract_failure(extracted));
        return APR_SUCCESS;
    }
    req->key = apr_pmemdup(r->pool, info.key, KVC_KEY_LEN);
    reason = get_tokens(r, conf, req->key, &body, &tokens);
    if (reason != KVC_REASON_NONE) {
        kvc_request_fail(req, reason);
        return APR_SUCCESS;
    }
    req->prompt_tokens = tokens.count;
    reason = kvc_plane_lookup(r->server, r, conf, &tokens,
                              kvc_conf_lookup_budget(conf), r->pool, &matches);
    /* Cache actions go by what the controller says is stored. */
    kvc_manage_prompt(
        r->server, r, conf, req->key, &tokens,
        reason == KVC_REASON_NONE ? kvc_matches_best(matches) : NULL, r->pool);
    reason = add_in_flight(r, req, &tokens, reason, &matches);
    if (reason != KVC_REASON_NONE) {
        kvc_request_fail(req, reason);
        return APR_SUCCESS;
    }
    req->matches = matches;
    req->best = kvc_matches_best(matches);
    ap_log_rerror(APLOG_MARK, APLOG_TRACE1, 0, r,
                  "[kvcache] prompt %s (model %s): %" APR_SIZE_T_FMT
                  " tokens, %d instance(s) hold a prefix, best %s (%ld)",
                  kvc_key_hex(req->key, KVC_KEY_LOG_CHARS, r->pool), info.model,
                  tokens.count, matches->nelts, req->best->instance_id,
                  req->best->matched);
    return APR_SUCCESS;
}

/* The session's member as the fleet knows it, asked here rather than in
 * the lbmethod, which runs under the balancer's lock: a slow answer then
 * delays this request alone, never the other threads of the process. */
static void fleet_session(request_rec *r, const kvc_dir_conf *conf,
                          kvc_request *req)
{
    const char *name;

    if (!conf->session_header || !kvc_fleet_enabled()
        || !(name = apr_table_get(r->headers_in, conf->session_header))
        || !*name) {
        return;
    }
    req->session_key = apr_palloc(r->pool, KVC_KEY_LEN);
    kvc_sessions_key(name, strlen(name), req->session_key);
    kvc_fleet_session_get(r->server, req->session_key,
                          kvc_config_global()->session_ttl, r->pool,
                          &req->fleet_session_route);
}

static int kvc_route_fixups(request_rec *r)
{
    const kvc_dir_conf *conf = kvc_config_dir(r);
    kvc_request *req;
    apr_status_t rv;

    if (!is_candidate(r, conf)) {
        return DECLINED;
    }
    req = kvc_request_open(r);
    kvc_answer_watch(r);
    rv = find_matches(r, conf, req);
    fleet_session(r, conf, req);
    kvc_request_publish_lookup(r, req);
    return rv == APR_SUCCESS ? DECLINED
                             : ap_map_http_request_error(rv, HTTP_BAD_REQUEST);
}

void kvc_route_register_hooks(apr_pool_t *p)
{
    /* After mod_proxy's own fixup (APR_HOOK_FIRST) has settled the target,
     * before the handler asks the balancer. */
    ap_hook_fixups(kvc_route_fixups, NULL, NULL, APR_HOOK_MIDDLE);
}
