/* Licensed under the Apache License, Version 2.0 (the "License"); you may not
 * use this file except in compliance with the License.  You may obtain a copy
 * of the License at http://www.apache.org/licenses/LICENSE-2.0
 */

#include "httpd.h"
#include "http_config.h"
#include "apr_strings.h"

#include "kvc_extract.h"
#include "kvc_wire.h"
#include "mod_kvcache_request.h"

APLOG_USE_MODULE(kvcache);

kvc_request *kvc_request_get(const request_rec *r)
{
    return ap_get_module_config(r->request_config, &kvcache_module);
}

kvc_request *kvc_request_open(request_rec *r)
{
    kvc_request *req = apr_pcalloc(r->pool, sizeof(*req));

    req->found_tokens = -1;
    ap_set_module_config(r->request_config, &kvcache_module, req);
    return req;
}

void kvc_request_fail(kvc_request *req, kvc_reason reason)
{
    req->reason = reason;
    req->routed = 0;
}

const char *kvc_request_decision(const kvc_request *req, apr_pool_t *p)
{
    if (req->routed) {
        return "routed";
    }
    if (req->reason == KVC_REASON_NONE) {
        return NULL;
    }
    return apr_pstrcat(p, "fallback:", kvc_reason_name(req->reason), NULL);
}

static void publish_decision(request_rec *r, const kvc_request *req)
{
    const char *decision = kvc_request_decision(req, r->pool);

    if (decision) {
        apr_table_setn(r->subprocess_env, KVC_ENV_DECISION, decision);
    }
}

void kvc_request_publish_lookup(request_rec *r, const kvc_request *req)
{
    if (req->key) {
        apr_table_setn(r->notes, KVC_NOTE_PROMPT_HASH,
                       kvc_key_hex(req->key, KVC_KEY_LOG_CHARS, r->pool));
    }
    if (req->prompt_tokens) {
        apr_table_setn(r->subprocess_env, KVC_ENV_PROMPT_TOKENS,
                       apr_off_t_toa(r->pool, (apr_off_t)req->prompt_tokens));
    }
    if (req->matches) {
        apr_table_setn(r->notes, KVC_NOTE_MATCHES,
                       kvc_matches_format(req->matches, r->pool));
    }
    if (req->best) {
        apr_table_setn(r->notes, KVC_NOTE_ROUTE, req->best->instance_id);
    }
    publish_decision(r, req);
}

void kvc_request_publish_choice(request_rec *r, const kvc_request *req)
{
    if (req->matches) {
        apr_table_setn(r->notes, KVC_NOTE_BEST_MATCHED,
                       apr_ltoa(r->pool, req->best_available));
    }
    /* Only for requests with something to report, as KVCACHE_DECISION:
     * the others are not the module's business. */
    if (!kvc_request_decision(req, r->pool)) {
        return;
    }
    if (req->chosen && req->chosen_route) {
        apr_table_setn(r->subprocess_env, KVC_ENV_ROUTE, req->chosen_route);
    }
    else {
        apr_table_unset(r->subprocess_env, KVC_ENV_ROUTE);
    }
    apr_table_setn(r->subprocess_env, KVC_ENV_MATCHED,
                   apr_ltoa(r->pool, req->chosen ? req->chosen_matched : 0));
    publish_decision(r, req);
}
