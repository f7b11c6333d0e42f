/* Licensed under the Apache License, Version 2.0 (the "License"); you may not
 * use this file except in compliance with the License.  You may obtain a copy
 * of the License at http://www.apache.org/licenses/LICENSE-2.0
 */

#include "httpd.h"
#include "apr_strings.h"
#include "http_log.h"
#include "mod_proxy.h"

#include "kvc_score.h"
#include "kvc_wire.h"
#include "mod_kvcache_config.h"
#include "mod_kvcache_lbmethod.h"
#include "mod_kvcache_request.h"

APLOG_USE_MODULE(kvcache);

static APR_OPTIONAL_FN_TYPE(
    proxy_balancer_get_best_worker) *get_best_worker_fn = NULL;

/*
 * The kvcache scheduler sends a request to the member that already holds
 * most of its prompt in KV cache, unless that member is markedly busier
 * than the others.
 *
 * Its input is the request's matches, found during fixups from the LMCache
 * controller's /lookup answer (or, from another module, the request note
 * "kvcache-matches"): for each instance id, how many leading tokens of this
 * prompt it holds.  A member is matched by its
 * route= (which must equal the LMCache instance id); members the controller
 * did not name hold 0 tokens.  Among usable members it picks the highest
 *
 *   score = matched / prompt_tokens
 *           - KVCacheLoadWeight * (busy - mean_busy) / max(1, mean_busy)
 *
 * where busy is mod_proxy_balancer's live count of requests in flight on
 * the member and mean_busy its mean over usable members.  A tie goes to
 * the less busy member, then to the larger match, then to the member
 * listed first, so the choice is deterministic.
 *
 * Why the load term: a shared system prompt is cached on one instance
 * first, and pure max-match (KVCacheLoadWeight 0, Pixiu's policy) then
 * sends every conversation there.  That instance queues, evicts under the
 * pressure, and the cluster ends up hitting less cache than round-robin.
 *
 * Worked example, prompt of 2000 tokens, weight 1.0:
 *
 *   member   matched  busy   hit    load term            score
 *   vllm-a     1536     6   0.768  (6 - 3) / 3 =  1.0   -0.232
 *   vllm-b      512     2   0.256  (2 - 3) / 3 = -0.33   0.589
 *   vllm-c        0     1   0.000  (1 - 3) / 3 = -0.67   0.667
 *
 * vllm-c wins: vllm-a's cache advantage (0.5 of the prompt) is smaller
 * than its excess load.  Had vllm-a been only as busy as the mean (busy 3,
 * others 3 and 3), it would have scored 0.768 and won.  With weight 0
 * vllm-a always wins.
 *
 * When no usable member's match reaches KVCacheMinMatchTokens (or the
 * request carries no matches: not an LLM request, tokenizer or controller
 * down), there is no preference and the KVCacheFallbackLBMethod provider
 * (bybusyness by default) chooses.  lbsets, hot standbys, spares, draining
 * and error states are handled as in httpd's own methods, because the
 * candidates are walked by ap_proxy_balancer_get_best_worker().
 */

typedef struct {
    const apr_array_header_t *matches;
    long prompt_tokens;
    double mean_busy;
    double weight;
    double best_score;
    double best_busy;
    long best_matched;
    long best_available; /* the best match among usable members */
} kvc_pick;

static long matched_tokens(const apr_array_header_t *matches,
                           const proxy_worker *worker)
{
    int i;

    if (!worker->s->route[0]) {
        return 0;
    }
    for (i = 0; i < matches->nelts; i++) {
        const kvc_match *m = &APR_ARRAY_IDX(matches, i, kvc_match);

        if (!strcmp(m->instance_id, worker->s->route)) {
            return m->matched;
        }
    }
    return 0;
}

static int is_named(const apr_array_header_t *matches,
                    const proxy_worker *worker)
{
    int i;

    for (i = 0; worker->s->route[0] && i < matches->nelts; i++) {
        if (!strcmp(APR_ARRAY_IDX(matches, i, kvc_match).instance_id,
                    worker->s->route)) {
            return 1;
        }
    }
    return 0;
}

/* One pass before choosing: the mean load of the usable members, and
 * whether any of them holds enough of the prompt to be worth preferring.
 * Returns KVC_REASON_NONE when one does, else the fallback reason. */
static kvc_reason survey(const proxy_balancer *balancer, kvc_pick *pick,
                         long min_match)
{
    int i, usable = 0, named = 0, eligible = 0, named_unusable = 0;
    double busy_sum = 0;

    pick->best_available = 0;
    for (i = 0; i < balancer->workers->nelts; i++) {
        const proxy_worker *w =
            APR_ARRAY_IDX(balancer->workers, i, proxy_worker *);
        long matched = matched_tokens(pick->matches, w);
        int holds_enough = matched >= min_match;

        named += is_named(pick->matches, w);
        if (!PROXY_WORKER_IS_USABLE(w) || PROXY_WORKER_IS_DRAINING(w)) {
            named_unusable += holds_enough;
            continue;
        }
        usable++;
        busy_sum += (double)w->s->busy;
        eligible += holds_enough;
        if (matched > pick->best_available) {
            pick->best_available = matched;
        }
    }
    pick->mean_busy = usable ? busy_sum / usable : 0;
    if (eligible) {
        return KVC_REASON_NONE;
    }
    return !named           ? KVC_REASON_UNKNOWN_INSTANCE
           : named_unusable ? KVC_REASON_MEMBER_UNUSABLE
                            : KVC_REASON_BELOW_MIN_MATCH;
}

static int is_best_kvcache(proxy_worker *current, proxy_worker *prev_best,
                           void *baton)
{
    kvc_pick *pick = baton;
    long matched = matched_tokens(pick->matches, current);
    double busy = (double)current->s->busy;
    double score = kvc_score(matched, pick->prompt_tokens, busy,
                             pick->mean_busy, pick->weight);

    if (prev_best
        && !kvc_score_prefer(score, busy, matched, pick->best_score,
                             pick->best_busy, pick->best_matched)) {
        return 0;
    }
    pick->best_score = score;
    pick->best_busy = busy;
    pick->best_matched = matched;
    return 1;
}

/* Remembers the member finally chosen, whoever chose it, and publishes
 * the choice.  The route is copied: the balancer-manager may change the
 * shared one at any time. */
static proxy_worker *chosen(request_rec *r, kvc_request *req,
                            proxy_worker *worker, long matched)
{
    if (!req) {
        return worker;
    }
    req->chosen = worker != NULL;
    req->chosen_route = worker && worker->s->route[0]
                            ? apr_pstrdup(r->pool, worker->s->route)
                            : NULL;
    req->chosen_matched = worker ? matched : 0;
    kvc_request_publish_choice(r, req);
    return worker;
}

/* Leaves the choice to KVCacheFallbackLBMethod.  KVC_REASON_NONE: no new
 * reason (the request carried no matches; the fixups' reason stands). */
static proxy_worker *delegate(proxy_balancer *balancer, request_rec *r,
                              kvc_request *req, kvc_reason reason)
{
    const proxy_balancer_method *fallback =
        kvc_config_server(r->server)->fallback;
    proxy_worker *worker = fallback->finder(balancer, r);

    if (reason != KVC_REASON_NONE) {
        ap_log_rerror(APLOG_MARK, APLOG_TRACE1, 0, r,
                      "[kvcache] %s: no preferred member (%s), %s chose %s",
                      balancer->s->name, kvc_reason_name(reason),
                      fallback->name, worker ? worker->s->name : "none");
        kvc_request_fail(req, reason);
    }
    return chosen(r, req, worker,
                  req && req->matches && worker
                      ? matched_tokens(req->matches, worker)
                      : 0);
}

/* The matches of this request: the fixups' own, or else those another
 * module put in the kvcache-matches note (parsed here, and validated:
 * it is input like any other).  Returns the reason they are unusable. */
static kvc_reason request_matches(request_rec *r, kvc_request **reqp)
{
    const char *note;
    apr_array_header_t *parsed;

    if (*reqp && (*reqp)->matches) {
        return KVC_REASON_NONE;
    }
    note = apr_table_get(r->notes, KVC_NOTE_MATCHES);
    if (!note) {
        return KVC_REASON_NONE;
    }
    if (!*reqp) {
        *reqp = kvc_request_open(r);
    }
    if (kvc_matches_parse(note, r->pool, &parsed) != 0) {
        return KVC_REASON_BAD_MATCHES_NOTE;
    }
    (*reqp)->matches = parsed;
    (*reqp)->best = kvc_matches_best(parsed);
    return KVC_REASON_NONE;
}

static proxy_worker *find_best_kvcache(proxy_balancer *balancer, request_rec *r)
{
    const kvc_dir_conf *conf = kvc_config_dir(r);
    kvc_request *req = kvc_request_get(r);
    kvc_reason reason;
    proxy_worker *worker;
    kvc_pick pick;

    if ((reason = request_matches(r, &req)) != KVC_REASON_NONE || !req
        || !req->matches) {
        return delegate(balancer, r, req, reason);
    }
    memset(&pick, 0, sizeof(pick));
    pick.matches = req->matches;
    pick.weight = kvc_conf_load_weight(conf);
    /* Matches from another module come without a prompt size: the largest
     * match is then the best available scale for the hit ratio. */
    pick.prompt_tokens = req->prompt_tokens ? (long)req->prompt_tokens
                         : req->best        ? req->best->matched
                                            : 1;
    reason = survey(balancer, &pick, kvc_conf_min_match_tokens(conf));
    req->best_available = pick.best_available;
    if (reason != KVC_REASON_NONE) {
        return delegate(balancer, r, req, reason);
    }
    worker = get_best_worker_fn(balancer, r, is_best_kvcache, &pick);
    if (!worker) {
        return delegate(balancer, r, req, KVC_REASON_NO_USABLE_MEMBER);
    }
    ap_log_rerror(APLOG_MARK, APLOG_TRACE1, 0, r,
                  "[kvcache] %s: routed to %s (route %s, matched %ld of %ld "
                  "tokens, busy %" APR_SIZE_T_FMT ", mean busy %.2f, "
                  "score %.3f)",
                  balancer->s->name, worker->s->name, worker->s->route,
                  pick.best_matched, pick.prompt_tokens, worker->s->busy,
                  pick.mean_busy, pick.best_score);
    req->reason = KVC_REASON_NONE;
    req->routed = 1;
    return chosen(r, req, worker, pick.best_matched);
}

/* Both run with the balancer's lock held; the fallback keeps its own
 * bookkeeping (lbstatus, busy) in order. */
static apr_status_t reset(proxy_balancer *balancer, server_rec *s)
{
    const proxy_balancer_method *fallback = kvc_config_server(s)->fallback;

    return fallback && fallback->reset ? fallback->reset(balancer, s)
                                       : APR_SUCCESS;
}

static apr_status_t age(proxy_balancer *balancer, server_rec *s)
{
    return APR_SUCCESS;
}

static const proxy_balancer_method kvcache_lbmethod = {
    "kvcache", &find_best_kvcache, NULL, &reset, &age, NULL
};

static int kvc_lbmethod_post_config(apr_pool_t *pconf, apr_pool_t *plog,
                                    apr_pool_t *ptemp, server_rec *s)
{
    /* Called twice at startup; the first (preflight) pass is discarded. */
    if (ap_state_query(AP_SQ_MAIN_STATE) == AP_SQ_MS_CREATE_PRE_CONFIG) {
        return OK;
    }
    get_best_worker_fn =
        APR_RETRIEVE_OPTIONAL_FN(proxy_balancer_get_best_worker);
    if (!get_best_worker_fn) {
        ap_log_error(APLOG_MARK, APLOG_EMERG, 0, s,
                     "[kvcache] mod_proxy (2.4.35 or later) must be loaded "
                     "for lbmethod=kvcache");
        return !OK;
    }
    return OK;
}

void kvc_lbmethod_register_hooks(apr_pool_t *p)
{
    ap_register_provider(p, PROXY_LBMETHOD, "kvcache", "0", &kvcache_lbmethod);
    ap_hook_post_config(kvc_lbmethod_post_config, NULL, NULL, APR_HOOK_MIDDLE);
}
