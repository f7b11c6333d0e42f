/* Licensed under the Apache License, Version 2.0 (the "License"); you may not
 * use this file except in compliance with the License.  You may obtain a copy
 * of the License at http://www.apache.org/licenses/LICENSE-2.0
 */

#include "httpd.h"
#include "http_config.h"
#include "http_log.h"
#include "http_protocol.h"
#include "http_request.h"
#include "apr_atomic.h"
#include "apr_strings.h"
#include "mod_status.h"

#include "kvc_extract.h"
#include "kvc_hotset.h"
#include "kvc_sessions.h"
#include "kvc_signals.h"
#include "kvc_stats.h"
#include "mod_kvcache_config.h"
#include "mod_kvcache_request.h"
#include "mod_kvcache_shm.h"
#include "mod_kvcache_status.h"
#include "mod_kvcache_tokstore.h"

APLOG_USE_MODULE(kvcache);

/* Counts and logs the request once it is over: by then its context holds
 * the final word (the lbmethod may have overruled the fixups, or a
 * failover may have re-chosen).  One debug line per decision, with the
 * prompt's hash, never its text. */
static int kvc_status_log(request_rec *r)
{
    const kvc_request *req = kvc_request_get(r);
    const char *decision = req ? kvc_request_decision(req, r->pool) : NULL;
    kvc_stats *st = kvc_shm_stats();

    if (!decision || !st) {
        return DECLINED;
    }
    kvc_stats_request(st, req->reason, (long)req->prompt_tokens,
                      req->chosen_matched, req->best_available,
                      req->routed ? req->chosen_route : NULL);
    if (req->found_tokens >= 0) {
        kvc_stats_answer(st, req->chosen_route, (long)req->prompt_tokens,
                         req->chosen_matched, req->found_tokens);
    }
    ap_log_rerror(
        APLOG_MARK, APLOG_DEBUG, 0, r,
        "[kvcache] prompt %s: %s, member %s, matched %ld of "
        "%" APR_SIZE_T_FMT " tokens (best available %ld), "
        "engine found %s",
        req->key ? kvc_key_hex(req->key, KVC_KEY_LOG_CHARS, r->pool) : "-",
        decision, req->chosen_route ? req->chosen_route : "-",
        req->chosen_matched, req->prompt_tokens, req->best_available,
        req->found_tokens >= 0 ? apr_ltoa(r->pool, req->found_tokens) : "-");
    return DECLINED;
}

/* The engines as the cost model sees them, read without a lock (see
 * kvc_signals.h): a status page may show a state a moment old. */
static void gather_engines(kvc_stats_gauges *g, apr_pool_t *p)
{
    const kvc_global_conf *conf = kvc_config_global();
    const kvc_signals *sig = kvc_shm_signals();
    apr_uint32_t n =
        sig ? apr_atomic_read32((volatile apr_uint32_t *)&sig->count) : 0;
    kvc_engine_gauges *engines;
    apr_time_t now = apr_time_now();
    apr_uint32_t i;

    n = n < KVC_SIGNALS_MAX ? n : KVC_SIGNALS_MAX;
    engines = apr_pcalloc(p, (n ? n : 1) * sizeof(*engines));
    for (i = 0; i < n; i++) {
        const kvc_instance_signals *e = &sig->entries[i];
        double rate =
            conf->prefill_rate > 0
                ? conf->prefill_rate
                : kvc_signals_rate(
                    e, kvc_signals_fleet_rate(sig, KVC_DEFAULT_PREFILL_RATE));

        engines[i].route = e->id;
        engines[i].prefill_rate = rate;
        engines[i].backlog_tokens = kvc_signals_backlog(e, rate, now);
        engines[i].waiting = e->waiting;
        engines[i].running = e->running;
        engines[i].kv_usage = e->kv_usage;
        engines[i].scrape_age =
            e->scraped_at ? (double)(now - e->scraped_at) / APR_USEC_PER_SEC
                          : -1;
    }
    g->engines = engines;
    g->engines_count = (int)n;
}

static void gather_gauges(kvc_stats_gauges *g, apr_pool_t *p)
{
    kvc_sessions *ss = kvc_shm_sessions();
    kvc_pending *pd = kvc_shm_pending();
    kvc_selfcheck_state *sc = kvc_shm_selfcheck();
    int i;

    memset(g, 0, sizeof(*g));
    for (i = 0; i < KVC_ROLE_COUNT; i++) {
        const kvc_breaker *b = kvc_shm_breaker((kvc_role)i);

        /* Unlocked reads: a status page may show a state a moment old. */
        g->breaker_state[i] = kvc_breaker_state_name(
            b ? (kvc_breaker_state)b->state : KVC_BREAKER_CLOSED);
        g->breaker_opens[i] = b ? b->opens : 0;
    }
    g->token_cache_entries = kvc_tokstore_entries();
    g->hot_keys = kvc_shm_hotset() ? kvc_hotset_keys(kvc_shm_hotset()) : 0;
    g->sessions = ss ? kvc_sessions_count(ss) : 0;
    g->inflight_blocks = pd ? kvc_pending_count(pd) : 0;
    if (sc && apr_atomic_read32(&sc->completed)) {
        g->selfcheck_completed = 1;
        for (i = 0; i < KVC_SC_COUNT; i++) {
            g->selfcheck_problems[i] = apr_atomic_read32(&sc->problems[i]);
        }
    }
    gather_engines(g, p);
}

static int wants_prometheus(request_rec *r)
{
    const char *accept = apr_table_get(r->headers_in, "Accept");

    if (r->args && ap_strstr_c(r->args, "format=prometheus")) {
        return 1;
    }
    if (r->args && ap_strstr_c(r->args, "format=json")) {
        return 0;
    }
    /* Prometheus scrapers ask for text/plain (or openmetrics). */
    return accept
           && (ap_strstr_c(accept, "text/plain")
               || ap_strstr_c(accept, "openmetrics"));
}

static int kvc_status_handler(request_rec *r)
{
    kvc_stats_gauges gauges;
    const kvc_stats *st = kvc_shm_stats();
    int prometheus;

    if (!r->handler || strcmp(r->handler, KVC_STATUS_HANDLER)) {
        return DECLINED;
    }
    r->allowed |= (AP_METHOD_BIT << M_GET);
    if (r->method_number != M_GET) {
        return HTTP_METHOD_NOT_ALLOWED;
    }
    if (!st) {
        return HTTP_SERVICE_UNAVAILABLE;
    }
    gather_gauges(&gauges, r->pool);
    prometheus = wants_prometheus(r);
    ap_set_content_type(r, prometheus
                               ? "text/plain; version=0.0.4; charset=utf-8"
                               : "application/json");
    apr_table_setn(r->headers_out, "Cache-Control", "no-store");
    if (!r->header_only) {
        ap_rputs(kvc_stats_render(st, &gauges, prometheus, r->pool), r);
    }
    return OK;
}

/* Per member: found / predicted, where answers said.  Far below 100%
 * the controller promises what the engine does not have (a hash-seed
 * mismatch, a lying controller); far above, the engine has what routing
 * did not know of (wrong route= ids, a GPU cache the controller does not
 * see). */
static void status_members(request_rec *r, const kvc_stats *st)
{
    int i,
        n = (int)apr_atomic_read32((volatile apr_uint32_t *)&st->routes_used);

    for (i = 0; i < n && i < KVC_STATS_ROUTES; i++) {
        const kvc_route_stats *m = &st->routes[i];

        if (!apr_atomic_read32((volatile apr_uint32_t *)&m->ready)
            || !m->answers) {
            continue;
        }
        ap_rprintf(r,
                   "<dd>%s: %" APR_UINT64_T_FMT
                   " answers, found %" APR_UINT64_T_FMT " of %" APR_UINT64_T_FMT
                   " predicted cached tokens (%.1f%%)</dd>\n",
                   ap_escape_html(r->pool, m->route), m->answers,
                   m->found_tokens, m->predicted_tokens,
                   m->predicted_tokens ? 100.0 * (double)m->found_tokens
                                             / (double)m->predicted_tokens
                                       : 0.0);
    }
}

/* A few lines in server-status: enough to see at a glance whether routing
 * pays off and which breaker is open; the handler has the rest. */
static int kvc_status_hook(request_rec *r, int flags)
{
    const kvc_stats *st = kvc_shm_stats();
    kvc_stats_gauges g;
    apr_uint64_t prompt, matched, best;

    if (!st) {
        return OK;
    }
    gather_gauges(&g, r->pool);
    prompt = st->prompt_tokens;
    matched = st->matched_tokens;
    best = st->best_matched_tokens;
    if (flags & AP_STATUS_SHORT) {
        ap_rprintf(r,
                   "KVCacheRequests: %" APR_UINT64_T_FMT "\n"
                   "KVCacheRouted: %" APR_UINT64_T_FMT "\n"
                   "KVCachePromptTokens: %" APR_UINT64_T_FMT "\n"
                   "KVCacheMatchedTokens: %" APR_UINT64_T_FMT "\n"
                   "KVCacheBestMatchedTokens: %" APR_UINT64_T_FMT "\n"
                   "KVCacheTokenCacheEntries: %" APR_UINT64_T_FMT "\n"
                   "KVCacheAnswersCounted: %" APR_UINT64_T_FMT "\n"
                   "KVCachePredictedCachedTokens: %" APR_UINT64_T_FMT "\n"
                   "KVCacheFoundCachedTokens: %" APR_UINT64_T_FMT "\n"
                   "KVCacheBreakers: tokenize=%s lookup=%s manage=%s\n",
                   st->seen, st->routed, prompt, matched, best,
                   g.token_cache_entries, st->answers,
                   st->answer_predicted_tokens, st->answer_found_tokens,
                   g.breaker_state[0], g.breaker_state[1], g.breaker_state[2]);
        return OK;
    }
    ap_rputs("<hr />\n<h2>KV-cache routing (mod_kvcache)</h2>\n<dl>\n", r);
    ap_rprintf(
        r,
        "<dt>%" APR_UINT64_T_FMT " requests looked at, %" APR_UINT64_T_FMT
        " with a prompt, %" APR_UINT64_T_FMT " routed by cached prefix</dt>\n",
        st->seen, st->eligible, st->routed);
    ap_rprintf(r,
               "<dt>predicted hit %.1f%% of prompt tokens, best "
               "available %.1f%%</dt>\n",
               prompt ? 100.0 * (double)matched / (double)prompt : 0.0,
               prompt ? 100.0 * (double)best / (double)prompt : 0.0);
    ap_rprintf(r,
               "<dt>engines found %" APR_UINT64_T_FMT
               " cached tokens where %" APR_UINT64_T_FMT
               " were predicted (%.1f%%), over %" APR_UINT64_T_FMT
               " answers that said</dt>\n",
               st->answer_found_tokens, st->answer_predicted_tokens,
               st->answer_predicted_tokens
                   ? 100.0 * (double)st->answer_found_tokens
                         / (double)st->answer_predicted_tokens
                   : 0.0,
               st->answers);
    status_members(r, st);
    ap_rprintf(r,
               "<dt>token cache: %" APR_UINT64_T_FMT " hits, %" APR_UINT64_T_FMT
               " misses, %" APR_UINT64_T_FMT " entries</dt>\n",
               st->token_cache_hits, st->token_cache_misses,
               g.token_cache_entries);
    ap_rprintf(r,
               "<dt>circuit breakers: tokenize %s, lookup %s, manage "
               "%s</dt>\n</dl>\n",
               g.breaker_state[0], g.breaker_state[1], g.breaker_state[2]);
    return OK;
}

void kvc_status_register_hooks(apr_pool_t *p)
{
    ap_hook_handler(kvc_status_handler, NULL, NULL, APR_HOOK_MIDDLE);
    ap_hook_log_transaction(kvc_status_log, NULL, NULL, APR_HOOK_MIDDLE);
    APR_OPTIONAL_HOOK(ap, status_hook, kvc_status_hook, NULL, NULL,
                      APR_HOOK_MIDDLE);
}
