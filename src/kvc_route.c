/* Licensed under the Apache License, Version 2.0 (the "License"); you may not
 * use this file except in compliance with the License.  You may obtain a copy
 * of the License at http://www.apache.org/licenses/LICENSE-2.0
 */

#include "httpd.h"
#include "http_config.h"
#include "http_core.h"
#include "ap_mpm.h"
#include "apr_strings.h"
#include "http_log.h"
#include "http_protocol.h"
#include "http_request.h"

#include "kvc_body.h"
#include "kvc_config.h"
#include "kvc_extract.h"
#include "kvc_http.h"
#include "kvc_route.h"
#include "kvc_tokcache.h"
#include "kvc_wire.h"

APLOG_USE_MODULE(kvcache);

/* Response caps: a 1M-token prompt tokenizes to about 8 MB of JSON, and a
 * lookup answer names a handful of instances. */
#define KVC_TOKENIZE_MAX_RESPONSE (32 * 1024 * 1024)
#define KVC_LOOKUP_MAX_RESPONSE   (1024 * 1024)
#define KVC_KEY_LOG_CHARS         16

/* This process's token cache; NULL until child_init. */
static kvc_tokcache *token_cache;

void kvc_route_fallback(request_rec *r, const char *reason)
{
    apr_table_setn(r->subprocess_env, KVC_ENV_DECISION,
                   apr_pstrcat(r->pool, "fallback:", reason, NULL));
}

/* Only the initial, reverse-proxied POST to a balancer can be steered;
 * everything else passes untouched. */
static int is_candidate(const request_rec *r, const kvc_dir_conf *conf)
{
    return kvc_conf_enabled(conf)
           && r->method_number == M_POST
           && ap_is_initial_req((request_rec *)r)
           && r->proxyreq == PROXYREQ_REVERSE
           && r->filename
           && !strncmp(r->filename, "proxy:balancer://", 17);
}

/* Bodies that cannot be an OpenAI JSON request are not even buffered. */
static const char *unsuitable_body(const request_rec *r)
{
    const char *type = apr_table_get(r->headers_in, "Content-Type");
    const char *encoding = apr_table_get(r->headers_in, "Content-Encoding");

    if (encoding && strcasecmp(encoding, "identity")) {
        return "encoded-body";
    }
    if (type && !ap_strcasestr(type, "json")) {
        return "not-json";
    }
    return NULL;
}

static const char *call_failure(request_rec *r, const char *what,
                                const kvc_http_response *resp)
{
    ap_log_rerror(APLOG_MARK, APLOG_DEBUG, 0, r,
                  "[kvcache] %s failed: %s (status %ld, %" APR_TIME_T_FMT
                  "ms%s%s)", what, kvc_http_result_name(resp->result),
                  resp->status, apr_time_as_msec(resp->elapsed),
                  resp->error ? ", " : "", resp->error ? resp->error : "");
    return apr_pstrcat(r->pool, what,
                       resp->result == KVC_HTTP_TIMEOUT ? "-timeout"
                                                        : "-error", NULL);
}

/* Tokens as vLLM would prefill them: the client's own body goes to
 * /tokenize, so chat templates, tools and template options all count. */
static const char *get_tokens(request_rec *r, const kvc_dir_conf *conf,
                              const kvc_request_info *info,
                              const kvc_body *body, kvc_tokens *tokens)
{
    int use_cache = token_cache && kvc_conf_token_cache(conf);
    kvc_http_response resp;

    if (use_cache && kvc_tokcache_get(token_cache, info->key, apr_time_now(),
                                      r->pool, tokens)) {
        return NULL;
    }
    if (kvc_http_post_json(apr_pstrcat(r->pool, conf->vllm_endpoint,
                                       "/tokenize", NULL),
                           body->data, body->len,
                           kvc_conf_tokenize_budget(conf),
                           KVC_TOKENIZE_MAX_RESPONSE, r->pool, &resp)
        != KVC_HTTP_OK) {
        return call_failure(r, "tokenize", &resp);
    }
    if (kvc_wire_parse_tokens(resp.body, resp.len, r->pool, tokens)
        != KVC_WIRE_OK) {
        ap_log_rerror(APLOG_MARK, APLOG_DEBUG, 0, r,
                      "[kvcache] tokenize answered %" APR_SIZE_T_FMT
                      " bytes without usable tokens", resp.len);
        return "tokenize-error";
    }
    if (use_cache) {
        kvc_tokcache_put(token_cache, info->key, tokens, apr_time_now());
    }
    return NULL;
}

static const char *lookup(request_rec *r, const kvc_dir_conf *conf,
                          const kvc_tokens *tokens,
                          apr_array_header_t **matches)
{
    apr_size_t len;
    const char *req = kvc_wire_lookup_request(tokens, r->pool, &len);
    kvc_http_response resp;
    kvc_wire_status status;
    apr_size_t skipped = 0;

    if (kvc_http_post_json(apr_pstrcat(r->pool, conf->lmcache_endpoint,
                                       "/lookup", NULL),
                           req, len, kvc_conf_lookup_budget(conf),
                           KVC_LOOKUP_MAX_RESPONSE, r->pool, &resp)
        != KVC_HTTP_OK) {
        return call_failure(r, "lookup", &resp);
    }
    status = kvc_wire_parse_lookup(resp.body, resp.len, r->pool, matches,
                                   &skipped);
    if (skipped) {
        /* Ids that could smuggle text into notes, headers or logs. */
        ap_log_rerror(APLOG_MARK, APLOG_DEBUG, 0, r,
                      "[kvcache] lookup: ignored %" APR_SIZE_T_FMT " layout_info entries with "
                      "invalid instance ids or values", skipped);
    }
    switch (status) {
    case KVC_WIRE_OK:
        return NULL;
    case KVC_WIRE_EMPTY:
        return "lookup-empty";
    default:
        ap_log_rerror(APLOG_MARK, APLOG_DEBUG, 0, r,
                      "[kvcache] lookup answered %" APR_SIZE_T_FMT
                      " bytes that are not a layout_info", resp.len);
        return "lookup-error";
    }
}

static int kvc_route_fixups(request_rec *r)
{
    const kvc_dir_conf *conf = kvc_config_dir(r);
    const char *reason;
    const kvc_match *best;
    apr_array_header_t *matches;
    kvc_request_info info;
    kvc_extract_status extracted;
    kvc_tokens tokens;
    kvc_body body;
    apr_status_t rv;

    if (!is_candidate(r, conf)) {
        return DECLINED;
    }
    if (!conf->vllm_endpoint || !conf->lmcache_endpoint) {
        /* Only reachable through unusual nesting of <Location>s; the
         * config check covers the plain cases. */
        kvc_route_fallback(r, "not-configured");
        return DECLINED;
    }
    if ((reason = unsuitable_body(r))) {
        kvc_route_fallback(r, reason);
        return DECLINED;
    }
    rv = kvc_body_buffer(r, kvc_conf_max_body_size(conf), &body);
    if (rv != APR_SUCCESS) {
        /* The client's body broke off (timeout, bad chunking): there is
         * nothing intact to forward. */
        return ap_map_http_request_error(rv, HTTP_BAD_REQUEST);
    }
    if (!body.complete) {
        kvc_route_fallback(r, "body-too-large");
        return DECLINED;
    }
    extracted = kvc_extract(body.data, body.len,
                            conf->default_model ? conf->default_model : "",
                            r->pool, &info);
    if (extracted != KVC_EXTRACT_OK) {
        kvc_route_fallback(r, kvc_extract_status_reason(extracted));
        return DECLINED;
    }
    if ((reason = get_tokens(r, conf, &info, &body, &tokens))) {
        kvc_route_fallback(r, reason);
        return DECLINED;
    }
    apr_table_setn(r->subprocess_env, KVC_ENV_PROMPT_TOKENS,
                   apr_ltoa(r->pool, (long)tokens.count));
    if ((reason = lookup(r, conf, &tokens, &matches))) {
        kvc_route_fallback(r, reason);
        return DECLINED;
    }
    best = kvc_matches_best(matches);
    apr_table_setn(r->notes, KVC_NOTE_MATCHES,
                   kvc_matches_format(matches, r->pool));
    apr_table_setn(r->notes, KVC_NOTE_ROUTE, best->instance_id);
    ap_log_rerror(APLOG_MARK, APLOG_DEBUG, 0, r,
                  "[kvcache] prompt %s (model %s): %" APR_SIZE_T_FMT
                  " tokens, best %s with %ld, matches %s",
                  kvc_key_hex(info.key, KVC_KEY_LOG_CHARS, r->pool),
                  info.model, tokens.count, best->instance_id, best->matched,
                  apr_table_get(r->notes, KVC_NOTE_MATCHES));
    return DECLINED;
}

static int kvc_route_post_config(apr_pool_t *pconf, apr_pool_t *plog,
                                 apr_pool_t *ptemp, server_rec *s)
{
    if (ap_state_query(AP_SQ_MAIN_STATE) == AP_SQ_MS_CREATE_PRE_CONFIG) {
        return OK;
    }
    if (kvc_http_global_init(pconf) != APR_SUCCESS) {
        ap_log_error(APLOG_MARK, APLOG_EMERG, 0, s,
                     "[kvcache] libcurl global initialisation failed");
        return !OK;
    }
    return OK;
}

/* Upstream clients and the token cache are per process: a thread borrows a
 * handle for one call, so as many handles as threads never makes one
 * wait. */
static void kvc_route_child_init(apr_pool_t *pchild, server_rec *s)
{
    const kvc_global_conf *g = kvc_config_global();
    int threads = 1;
    apr_status_t rv;

    ap_mpm_query(AP_MPMQ_MAX_THREADS, &threads);
    rv = kvc_http_child_init(pchild, threads > 0 ? threads : 1);
    if (rv != APR_SUCCESS) {
        ap_log_error(APLOG_MARK, APLOG_ERR, rv, s,
                     "[kvcache] cannot create upstream clients; requests "
                     "will use the fallback lbmethod");
    }
    rv = kvc_tokcache_create(&token_cache, g->token_cache_size,
                             g->token_cache_ttl, pchild);
    if (rv != APR_SUCCESS) {
        token_cache = NULL;
        ap_log_error(APLOG_MARK, APLOG_ERR, rv, s,
                     "[kvcache] cannot create the token cache; prompts "
                     "will be tokenized on every request");
    }
}

void kvc_route_register_hooks(apr_pool_t *p)
{
    ap_hook_post_config(kvc_route_post_config, NULL, NULL, APR_HOOK_MIDDLE);
    ap_hook_child_init(kvc_route_child_init, NULL, NULL, APR_HOOK_MIDDLE);
    /* After mod_proxy's own fixup (APR_HOOK_FIRST) has settled the target,
     * before the handler asks the balancer. */
    ap_hook_fixups(kvc_route_fixups, NULL, NULL, APR_HOOK_MIDDLE);
}
