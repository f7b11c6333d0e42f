/* Licensed under the Apache License, Version 2.0 (the "License"); you may not
 * use this file except in compliance with the License.  You may obtain a copy
 * of the License at http://www.apache.org/licenses/LICENSE-2.0
 */

#include "httpd.h"
#include "http_config.h"
#include "http_log.h"
#include "apr_strings.h"

#include "kvc_wire.h"
#include "mod_kvcache_plane.h"
#include "mod_kvcache_request.h"
#include "mod_kvcache_upstream.h"

APLOG_USE_MODULE(kvcache);

/* What went wrong with which upstream (tokenize-timeout,
 * lookup-breaker-open, ...). */
static kvc_reason call_failure(server_rec *s, const request_rec *r,
                               kvc_role role, const kvc_upstream_outcome *out)
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

    KVC_LOG(APLOG_DEBUG, s, r,
            "[kvcache] %s failed: %s after %d attempt(s) (last: %s, "
            "status %ld, %" APR_TIME_T_FMT "ms%s%s)",
            kvc_role_name(role), kvc_reason_name(reason), out->attempts,
            kvc_http_result_name(out->http.result), out->http.status,
            apr_time_as_msec(out->http.elapsed), out->http.error ? ", " : "",
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

kvc_reason kvc_plane_tokenize(server_rec *s, const request_rec *r,
                              const kvc_dir_conf *conf, const char *body,
                              apr_size_t len, apr_interval_time_t budget,
                              apr_pool_t *p, kvc_tokens *tokens)
{
    kvc_tokenize_result res = { p, tokens };
    kvc_upstream_outcome out;
    const char *url = apr_pstrcat(p, conf->vllm_endpoint, "/tokenize", NULL);

    if (kvc_upstream_call(s, KVC_ROLE_TOKENIZE, url, body, len, budget,
                          KVC_TOKENIZE_MAX_RESPONSE, parse_tokenize, &res, p,
                          &out)
        != KVC_UPSTREAM_OK) {
        return call_failure(s, r, KVC_ROLE_TOKENIZE, &out);
    }
    return KVC_REASON_NONE;
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

kvc_reason kvc_plane_lookup(server_rec *s, const request_rec *r,
                            const kvc_dir_conf *conf, const kvc_tokens *tokens,
                            apr_interval_time_t budget, apr_pool_t *p,
                            apr_array_header_t **matches)
{
    apr_size_t len;
    const char *req = kvc_wire_lookup_request(tokens, p, &len);
    kvc_lookup_result res = { p, NULL, 0, KVC_WIRE_GARBAGE };
    kvc_upstream_outcome out;
    const char *url = apr_pstrcat(p, conf->lmcache_endpoint, "/lookup", NULL);
    int i;

    *matches = NULL;
    if (kvc_upstream_call(s, KVC_ROLE_LOOKUP, url, req, len, budget,
                          KVC_LOOKUP_MAX_RESPONSE, parse_lookup, &res, p, &out)
        != KVC_UPSTREAM_OK) {
        return call_failure(s, r, KVC_ROLE_LOOKUP, &out);
    }
    if (res.skipped) {
        /* Ids that could smuggle text into notes, headers or logs. */
        KVC_LOG(APLOG_DEBUG, s, r,
                "[kvcache] lookup: ignored %" APR_SIZE_T_FMT
                " layout_info entries with invalid instance ids or "
                "values",
                res.skipped);
    }
    if (res.status == KVC_WIRE_EMPTY) {
        return KVC_REASON_LOOKUP_EMPTY;
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
    return KVC_REASON_NONE;
}
