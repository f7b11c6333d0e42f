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

#include "mod_kvcache_actions.h"
#include "mod_kvcache_body.h"
#include "mod_kvcache_config.h"
#include "kvc_extract.h"
#include "mod_kvcache_manage.h"
#include "mod_kvcache_route.h"
#include "mod_kvcache_tokstore.h"
#include "mod_kvcache_upstream.h"
#include "kvc_wire.h"

APLOG_USE_MODULE(kvcache);

#define KVC_KEY_LOG_CHARS 16

void kvc_route_fallback(request_rec *r, kvc_reason reason)
{
    apr_table_setn(
        r->subprocess_env, KVC_ENV_DECISION,
        apr_pstrcat(r->pool, "fallback:", kvc_reason_name(reason), NULL));
}

/* Only the initial, reverse-proxied POST to a balancer can be steered;
 * everything else passes untouched. */
static int is_candidate(const request_rec *r, const kvc_dir_conf *conf)
{
    return kvc_conf_enabled(conf) && r->method_number == M_POST
           && ap_is_initial_req((request_rec *)r)
           && r->proxyreq == PROXYREQ_REVERSE && r->filename
           && !strncmp(r->filename, "proxy:balancer://", 17);
}

/* Bodies that cannot be an OpenAI JSON request are not even buffered.
 * Returns KVC_REASON_NONE for a body worth reading. */
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

/* What went wrong with which upstream (tokenize-timeout,
 * lookup-breaker-open, ...). */
static kvc_reason call_failure(request_rec *r, kvc_role role,
                               const kvc_upstream_outcome *out)
{
    int tokenize = role == KVC_ROLE_TOKENIZE;
    kvc_reason reason =
        out->result == KVC_UPSTREAM_BREAKER_OPEN
            ? (tokenize ? KVC_REASON_TOKENIZE_BREAKER_OPEN
                        : KVC_REASON_LOOKUP_BREAKER_OPEN)
        : out->result == KVC_UPSTREAM_TIMEOUT
            ? (tokenize ? KVC_REASON_TOKENIZE_TIMEOUT
                        : KVC_REASON_LOOKUP_TIMEOUT)
            : (tokenize ? KVC_REASON_TOKENIZE_ERROR : KVC_REASON_LOOKUP_ERROR);

    ap_log_rerror(APLOG_MARK, APLOG_DEBUG, 0, r,
                  "[kvcache] %s failed: %s after %d attempt(s) (last: %s, "
                  "status %ld, %" APR_TIME_T_FMT "ms%s%s)",
                  kvc_role_name(role), kvc_reason_name(reason), out->attempts,
                  kvc_http_result_name(out->http.result), out->http.status,
                  apr_time_as_msec(out->http.elapsed),
                  out->http.error ? ", " : "",
                  out->http.error ? out->http.error : "");
    return reason;
}

typedef struct {
    apr_pool_t *pool;
    kvc_tokens *tokens;
} kvc_tokenize_result;

static int parse_tokenize(const kvc_http_response *resp, void *baton)
{
    kvc_tokenize_result *res = baton;

    return kvc_wire_parse_tokens(resp->body, resp->len, res->pool, res->tokens)
           != KVC_WIRE_OK;
}

typedef struct {
    apr_pool_t *pool;
    apr_array_header_t *matches;
    apr_size_t skipped;
    kvc_wire_status status;
} kvc_lookup_result;

static int parse_lookup(const kvc_http_response *resp, void *baton)
{
    kvc_lookup_result *res = baton;

    res->status = kvc_wire_parse_lookup(resp->body, resp->len, res->pool,
                                        &res->matches, &res->skipped);
    return res->status == KVC_WIRE_GARBAGE;
}

/* Tokens as vLLM would prefill them: the client's own body goes to
 * /tokenize, so chat templates, tools and template options all count. */
static kvc_reason get_tokens(request_rec *r, const kvc_dir_conf *conf,
                             const kvc_request_info *info, const kvc_body *body,
                             kvc_tokens *tokens)
{
    int use_cache = kvc_conf_token_cache(conf);
    kvc_tokenize_result res = { r->pool, tokens };
    kvc_upstream_outcome out;
    const char *url;

    if (use_cache && kvc_tokstore_get(r->server, info->key, r->pool, tokens)) {
        return KVC_REASON_NONE;
    }
    url = apr_pstrcat(r->pool, conf->vllm_endpoint, "/tokenize", NULL);
    switch (kvc_conf_tokenize_mode(conf)) {
    case KVC_TOKENIZE_OFF: return KVC_REASON_TOKENIZE_OFF;
    case KVC_TOKENIZE_ASYNC:
        /* Pixiu's timing: this request goes unrouted, the next identical
         * one finds the tokens (a full queue only delays that). */
        if (use_cache) {
            kvc_actions_submit_tokenize(r->server, url, body->data, body->len,
                                        kvc_conf_request_timeout(conf),
                                        info->key);
        }
        return KVC_REASON_TOKENIZE_PENDING;
    default: break;
    }
    if (kvc_upstream_call(r->server, KVC_ROLE_TOKENIZE, url, body->data,
                          body->len, kvc_conf_tokenize_budget(conf),
                          KVC_TOKENIZE_MAX_RESPONSE, parse_tokenize, &res,
                          r->pool, &out)
        != KVC_UPSTREAM_OK) {
        return call_failure(r, KVC_ROLE_TOKENIZE, &out);
    }
    if (use_cache) {
        kvc_tokstore_put(r->server, info->key, tokens, r->pool);
    }
    return KVC_REASON_NONE;
}

static kvc_reason lookup(request_rec *r, const kvc_dir_conf *conf,
                         const kvc_tokens *tokens, apr_array_header_t **matches)
{
    apr_size_t len;
    const char *req = kvc_wire_lookup_request(tokens, r->pool, &len);
    kvc_lookup_result res = { r->pool, NULL, 0, KVC_WIRE_GARBAGE };
    kvc_upstream_outcome out;
    int i;

    if (kvc_upstream_call(
            r->server, KVC_ROLE_LOOKUP,
            apr_pstrcat(r->pool, conf->lmcache_endpoint, "/lookup", NULL), req,
            len, kvc_conf_lookup_budget(conf), KVC_LOOKUP_MAX_RESPONSE,
            parse_lookup, &res, r->pool, &out)
        != KVC_UPSTREAM_OK) {
        return call_failure(r, KVC_ROLE_LOOKUP, &out);
    }
    if (res.skipped) {
        /* Ids that could smuggle text into notes, headers or logs. */
        ap_log_rerror(APLOG_MARK, APLOG_DEBUG, 0, r,
                      "[kvcache] lookup: ignored %" APR_SIZE_T_FMT
                      " layout_info entries with invalid instance ids or "
                      "values",
                      res.skipped);
    }
    /* A controller cannot hold more of a prompt than the prompt: a larger
     * count would outweigh the load term and skew the hit ratios. */
    for (i = 0; i < res.matches->nelts; i++) {
        kvc_match *m = &APR_ARRAY_IDX(res.matches, i, kvc_match);

        if (m->matched > (long)tokens->count) {
            m->matched = (long)tokens->count;
        }
    }
    *matches = res.matches;
    return res.status == KVC_WIRE_EMPTY ? KVC_REASON_LOOKUP_EMPTY
                                        : KVC_REASON_NONE;
}

static int kvc_route_fixups(request_rec *r)
{
    const kvc_dir_conf *conf = kvc_config_dir(r);
    kvc_reason reason;
    const kvc_match *best;
    apr_array_header_t *matches = NULL;
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
        kvc_route_fallback(r, KVC_REASON_NOT_CONFIGURED);
        return DECLINED;
    }
    if ((reason = unsuitable_body(r)) != KVC_REASON_NONE) {
        kvc_route_fallback(r, reason);
        return DECLINED;
    }
    if (kvc_upstream_refused(KVC_ROLE_LOOKUP)) {
        /* Nothing could be routed: do not even read the body. */
        kvc_route_fallback(r, KVC_REASON_LOOKUP_BREAKER_OPEN);
        return DECLINED;
    }
    rv = kvc_body_buffer(r, kvc_conf_max_body_size(conf), &body);
    if (rv != APR_SUCCESS) {
        /* The client's body broke off (timeout, bad chunking): there is
         * nothing intact to forward. */
        return ap_map_http_request_error(rv, HTTP_BAD_REQUEST);
    }
    if (!body.complete) {
        kvc_route_fallback(r, KVC_REASON_BODY_TOO_LARGE);
        return DECLINED;
    }
    extracted = kvc_extract(body.data, body.len,
                            conf->default_model ? conf->default_model : "",
                            r->pool, &info);
    if (extracted != KVC_EXTRACT_OK) {
        kvc_route_fallback(r, extract_failure(extracted));
        return DECLINED;
    }
    apr_table_setn(r->notes, KVC_NOTE_PROMPT_HASH,
                   kvc_key_hex(info.key, KVC_KEY_LOG_CHARS, r->pool));
    if ((reason = get_tokens(r, conf, &info, &body, &tokens))
        != KVC_REASON_NONE) {
        kvc_route_fallback(r, reason);
        return DECLINED;
    }
    apr_table_setn(r->subprocess_env, KVC_ENV_PROMPT_TOKENS,
                   apr_ltoa(r->pool, (long)tokens.count));
    reason = lookup(r, conf, &tokens, &matches);
    best = reason == KVC_REASON_NONE ? kvc_matches_best(matches) : NULL;
    kvc_manage_request(r, conf, info.key, &tokens, best);
    if (reason != KVC_REASON_NONE) {
        kvc_route_fallback(r, reason);
        return DECLINED;
    }
    apr_table_setn(r->notes, KVC_NOTE_MATCHES,
                   kvc_matches_format(matches, r->pool));
    apr_table_setn(r->notes, KVC_NOTE_ROUTE, best->instance_id);
    ap_log_rerror(APLOG_MARK, APLOG_TRACE1, 0, r,
                  "[kvcache] prompt %s (model %s): %" APR_SIZE_T_FMT
                  " tokens, matches %s",
                  apr_table_get(r->notes, KVC_NOTE_PROMPT_HASH), info.model,
                  tokens.count, apr_table_get(r->notes, KVC_NOTE_MATCHES));
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
    if (!kvc_config_global()->upstream_verify) {
        ap_log_error(APLOG_MARK, APLOG_WARNING, 0, s,
                     "[kvcache] KVCacheUpstreamVerify Off: certificates and "
                     "host names of https upstreams are not verified");
    }
    return OK;
}

/* Upstream clients are per process: a thread borrows a handle for one
 * call, so a handle for every thread that calls (request threads and the
 * action workers; the scraper has its own) never makes one wait. */
static void kvc_route_child_init(apr_pool_t *pchild, server_rec *s)
{
    const kvc_global_conf *g = kvc_config_global();
    int threads = 1;
    apr_status_t rv;

    ap_mpm_query(AP_MPMQ_MAX_THREADS, &threads);
    rv = kvc_http_child_init(pchild,
                             (threads > 0 ? threads : 1) + KVC_ACTION_WORKERS,
                             g->upstream_ca_file, g->upstream_verify);
    if (rv != APR_SUCCESS) {
        ap_log_error(APLOG_MARK, APLOG_ERR, rv, s,
                     "[kvcache] cannot create upstream clients; requests "
                     "will use the fallback lbmethod");
        return;
    }
    /* After the clients, so that its cleanup (stopping the workers) runs
     * before theirs. */
    kvc_actions_child_init(pchild, s);
}

void kvc_route_register_hooks(apr_pool_t *p)
{
    ap_hook_post_config(kvc_route_post_config, NULL, NULL, APR_HOOK_MIDDLE);
    ap_hook_child_init(kvc_route_child_init, NULL, NULL, APR_HOOK_MIDDLE);
    /* After mod_proxy's own fixup (APR_HOOK_FIRST) has settled the target,
     * before the handler asks the balancer. */
    ap_hook_fixups(kvc_route_fixups, NULL, NULL, APR_HOOK_MIDDLE);
}
