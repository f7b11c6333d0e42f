/* Licensed under the Apache License, Version 2.0 (the "License"); you may not
 * use this file except in compliance with the License.  You may obtain a copy
 * of the License at http://www.apache.org/licenses/LICENSE-2.0
 */

#include "httpd.h"
#include "apr_strings.h"
#include "http_log.h"
#include "mod_proxy.h"

#include "kvc_score.h"
#include "kvc_sessions.h"
#include "kvc_signals.h"
#include "kvc_wire.h"
#include "mod_kvcache_config.h"
#include "mod_kvcache_fleet.h"
#include "mod_kvcache_lbmethod.h"
#include "mod_kvcache_request.h"
#include "mod_kvcache_shm.h"

APLOG_USE_MODULE(kvcache);

static APR_OPTIONAL_FN_TYPE(
    proxy_balancer_get_best_worker) *get_best_worker_fn = NULL;

/*
 * The kvcache scheduler sends a request to the member that will answer it
 * first: the one with the lowest predicted time to first token
 * (KVCachePolicy ttft, the default).
 *
 * Its input is the request's matches, found during fixups from the LMCache
 * controller's /lookup answer (or, from another module, the request note
 * "kvcache-matches"): for each instance id, how many leading tokens of this
 * prompt it holds.  A member is matched by its route= (which must equal the
 * LMCache instance id); members the controller did not name hold 0 tokens.
 * For each usable member it predicts what sending the request there
 * costs, in seconds:
 *
 *   cost = (backlog + work + full * uncached + (best - matched)
 *           + KVCacheLoadWeight * 0.2 * decoding) / rate
 *
 * rate is the engine's prefill rate (learned from its own metrics, or
 * KVCachePrefillRate); backlog the prefill work queued there (its own
 * count of waiting requests at the last scrape, plus what this server
 * routed there since, drained at that rate); work this prompt's own (the
 * uncached tokens, plus a tenth of the matched ones for loading them).
 * Together they are the request's time to first token there.  The next
 * two terms are what the choice costs the requests after it: the uncached
 * tokens it stores evict as many from a cache that is full (full is
 * vllm:kv_cache_usage_perc), and a prefix the best member holds (best)
 * computed again here is work the cluster does twice.  decoding is the
 * context of the requests the engine is decoding, which share its steps
 * and keep their KV resident.  The lowest cost wins; a tie goes to the
 * less busy member (mod_proxy_balancer's count in flight), then to the
 * larger match, then to the member listed first, so the choice is
 * deterministic.  A prompt nobody holds goes by the same cost.
 *
 * The matches include the requests in flight: a prompt sent to a member
 * and not yet answered is not stored yet, so neither the controller nor
 * the engine's events know it, but the next request with its prefix
 * (a shared-prefix group) is best sent after it (kvc_pending.h).
 *
 * Why a prediction and not the longest match: a shared system prompt is
 * cached on one instance first, and pure max-match (KVCachePolicy
 * maxmatch, Pixiu's policy) then sends every conversation there; it queues
 * and evicts, and the cluster ends up hitting less cache than round-robin.
 * A count of requests in flight (KVCachePolicy share) does not fix that
 * well either: it is mostly requests decoding, and it moves a prompt off
 * the instance holding its 8,000-token prefix when that instance is
 * merely busy decoding.  Prefill work queued is what the user waits for.
 * And why the costs to others: without them every queued member looks
 * worth leaving, and a loaded cluster recomputes the prefixes it holds,
 * evicts others for them and queues more.
 *
 * Worked example, a prompt of 8,200 tokens of which vllm-a holds 8,000,
 * engines of 10,000 tokens/s with full caches, weight 1.0:
 *
 *            matched  backlog  decoding     own  others'  decode    cost
 *   vllm-a      8,000   20,000    40,000  21,000      200   8,000  2.92 s
 *   vllm-b          0        0    80,000   8,200   16,200  16,000  4.04 s
 *   vllm-c          0    3,000         0  11,200   16,200       0  2.74 s
 *
 * (own = backlog + work, others' = full * uncached + best - matched,
 * decode = 0.2 * decoding, all in tokens; cost = their sum / rate.)
 * vllm-c wins: vllm-a is 17,000 tokens behind it, more than computing the
 * prefix again costs.  With 12,000 queued there vllm-a would cost 2.12 s
 * and keep the prompt; idle, 0.12 s.
 *
 * KVCachePolicy share keeps the earlier score, the highest
 * matched / prompt_tokens - KVCacheLoadWeight * (busy - mean) / max(1, mean)
 * over busy counts; maxmatch is share with no load term.
 *
 * With KVCacheSessionHeader, a request of a session stays on the member
 * that served the session last unless another is predicted faster by more
 * than KVCacheSessionMargin (with share and maxmatch: unless another
 * scores higher); without matches it still goes there, if usable.
 *
 * When no usable member's match reaches KVCacheMinMatchTokens (or the
 * request carries no matches: not an LLM request, tokenizer or controller
 * down), there is no preference and the KVCacheFallbackLBMethod provider
 * (bybusyness by default) chooses.  lbsets, hot standbys, spares, draining
 * and error states are handled as in httpd's own methods, because the
 * candidates are walked by ap_proxy_balancer_get_best_worker().
 */

typedef struct {
    request_rec *r;
    const apr_array_header_t *matches;
    long prompt_tokens;
    kvc_policy policy;
    double weight;
    double mean_busy;
    /* For the ttft policy: what the engines report, now, and the rate of
     * an engine that reported none (or all of them, when configured). */
    kvc_signals *signals;
    apr_time_t now;
    double default_rate;
    int fixed_rate;
    /* The best so far, and the session's member when it is a candidate. */
    double best_score;
    double best_busy;
    long best_matched;
    const char *session_route;
    proxy_worker *session_worker;
    double session_score;
    long session_matched;
    long best_available; /* the best match among usable members */
} kvc_pick;

static long matched_tokens(const apr_array_header_t *matches,
                           const proxy_worker *worker)
{
    int i;

    if (!matches || !worker->s->route[0]) {
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

/* A member's engine as the cost model sees it.  Its signals are read
 * without a lock (see kvc_signals.h); an engine never scraped is taken to
 * be idle but for what this server routed to it. */
static kvc_engine_load engine_load(const kvc_pick *pick, const proxy_worker *w)
{
    const kvc_instance_signals *e =
        pick->signals && w->s->route[0]
            ? kvc_signals_find(pick->signals, w->s->route, 0)
            : NULL;
    kvc_engine_load load;

    load.prefill_rate = pick->fixed_rate
                            ? pick->default_rate
                            : kvc_signals_rate(e, pick->default_rate);
    load.backlog_tokens = kvc_signals_backlog(e, load.prefill_rate, pick->now);
    load.decode_tokens = kvc_signals_decode_tokens(e);
    load.cache_full = e ? e->kv_usage : 0;
    return load;
}

/* Higher is better, whatever the policy: a predicted time is negated. */
static double member_score(const kvc_pick *pick, const proxy_worker *w,
                           long matched)
{
    kvc_engine_load load;

    switch (pick->policy) {
    case KVC_POLICY_SHARE:
        return kvc_score_share(matched, pick->prompt_tokens, (double)w->s->busy,
                               pick->mean_busy, pick->weight);
    case KVC_POLICY_MAXMATCH:
        return kvc_score_share(matched, pick->prompt_tokens, (double)w->s->busy,
                               pick->mean_busy, 0);
    default:
        load = engine_load(pick, w);
        return -kvc_score_ttft(matched, pick->best_available,
                               pick->prompt_tokens, &load, pick->weight);
    }
}

static int is_session_member(const kvc_pick *pick, const proxy_worker *w)
{
    return pick->session_route && w->s->route[0]
           && !strcmp(w->s->route, pick->session_route);
}

static int is_best_kvcache(proxy_worker *current, proxy_worker *prev_best,
                           void *baton)
{
    kvc_pick *pick = baton;
    long matched = matched_tokens(pick->matches, current);
    double busy = (double)current->s->busy;
    double score = member_score(pick, current, matched);

    if (APLOGrtrace2(pick->r)) {
        kvc_engine_load load = engine_load(pick, current);

        ap_log_rerror(APLOG_MARK, APLOG_TRACE2, 0, pick->r,
                      "[kvcache] candidate %s: matched %ld of %ld, backlog "
                      "%.0f tokens at %.0f tokens/s, decoding %.0f, busy %.0f: "
                      "score %.4f",
                      current->s->route, matched, pick->prompt_tokens,
                      load.backlog_tokens, load.prefill_rate,
                      load.decode_tokens, busy, score);
    }

    if (is_session_member(pick, current)) {
        pick->session_worker = current;
        pick->session_score = score;
        pick->session_matched = matched;
    }
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

/* For a request without matches: the session's member if it is among
 * the candidates (get_best_worker() keeps to the first usable lbset). */
static int is_best_session(proxy_worker *current, proxy_worker *prev_best,
                           void *baton)
{
    return !prev_best || is_session_member(baton, current);
}

/* The member that last served the request's session, if any. */
static const char *session_route(request_rec *r, const kvc_dir_conf *conf,
                                 kvc_request *req)
{
    const kvc_global_conf *g = kvc_config_global();
    const char *name;
    kvc_sessions *ss = kvc_shm_sessions();
    char route[KVC_ROUTE_SIZE];
    int known = 0;

    if (!req || !conf->session_header || !ss
        || !(name = apr_table_get(r->headers_in, conf->session_header))
        || !*name) {
        return NULL;
    }
    if (req->fleet_session_route) {
        /* The fleet's record wins over this node's: another node may
         * have served the session's last turns. */
        return req->fleet_session_route;
    }
    if (!req->session_key) {
        req->session_key = apr_palloc(r->pool, KVC_KEY_LEN);
        kvc_sessions_key(name, strlen(name), req->session_key);
    }
    if (kvc_shm_lock() == APR_SUCCESS) {
        known = kvc_sessions_get(ss, req->session_key, apr_time_now(),
                                 g->session_ttl, route);
        kvc_shm_unlock();
    }
    return known ? apr_pstrdup(r->pool, route) : NULL;
}

/* A request in flight on an engine, until its pool goes: its prompt
 * tokens decoding there, and its prefix in flight (kvc_pending.h). */
typedef struct {
    kvc_instance_signals *e;
    apr_uint64_t prompt;
    const kvc_request *req;
} kvc_in_flight;

static apr_status_t request_done(void *data)
{
    kvc_in_flight *done = data;
    kvc_pending *pd = kvc_shm_pending();

    if (done->e) {
        kvc_signals_done(done->e, done->prompt);
    }
    if (done->req->blocks && pd && kvc_shm_lock() == APR_SUCCESS) {
        kvc_pending_done(pd, done->req->block_keys, done->req->blocks,
                         done->req->chosen_route);
        kvc_shm_unlock();
    }
    return APR_SUCCESS;
}

/* Records the member finally chosen, whoever chose it: in the request's
 * context (and what it publishes), as the session's member, as prefill
 * work queued on its engine and as the prefix in flight there.  The route
 * is copied: the balancer-manager may change the shared one at any time. */
static proxy_worker *chosen(request_rec *r, kvc_request *req,
                            proxy_worker *worker, long matched)
{
    const kvc_global_conf *g = kvc_config_global();
    kvc_signals *sig = kvc_shm_signals();
    kvc_sessions *ss = kvc_shm_sessions();
    kvc_pending *pd = kvc_shm_pending();
    kvc_instance_signals *e;
    kvc_in_flight *done;
    apr_time_t now = apr_time_now();

    if (!req) {
        return worker;
    }
    req->chosen = worker != NULL;
    req->chosen_route = worker && worker->s->route[0]
                            ? apr_pstrdup(r->pool, worker->s->route)
                            : NULL;
    req->chosen_matched = worker ? matched : 0;
    kvc_request_publish_choice(r, req);
    if (!req->chosen_route) {
        return worker;
    }
    /* The fleet learns of a session's member when it is new or moved;
     * a turn that stays has already renewed the record by reading it. */
    if (req->session_key && kvc_fleet_enabled()
        && (!req->fleet_session_route
            || strcmp(req->fleet_session_route, req->chosen_route))) {
        kvc_fleet_session_put(r->server, req->session_key, req->chosen_route,
                              g->session_ttl);
    }
    if (kvc_shm_lock() != APR_SUCCESS) {
        return worker;
    }
    done = apr_pcalloc(r->pool, sizeof(*done));
    done->req = req;
    if (req->session_key && ss) {
        kvc_sessions_put(ss, req->session_key, req->chosen_route, now);
    }
    if (sig && (e = kvc_signals_find(sig, req->chosen_route, 1))) {
        /* A prompt of unknown size counts as the usual one. */
        double work = req->prompt_tokens
                          ? kvc_score_work(matched, (long)req->prompt_tokens)
                          : e->mean_work;
        double rate =
            g->prefill_rate > 0
                ? g->prefill_rate
                : kvc_signals_rate(
                    e, kvc_signals_fleet_rate(sig, KVC_DEFAULT_PREFILL_RATE));

        kvc_signals_routed(e, work, req->prompt_tokens, rate, now);
        done->e = e;
        done->prompt = req->prompt_tokens;
    }
    if (req->blocks && pd) {
        kvc_pending_add(pd, req->block_keys, req->blocks, req->chosen_route);
    }
    kvc_shm_unlock();
    if (done->e || req->blocks) {
        apr_pool_cleanup_register(r->pool, done, request_done,
                                  apr_pool_cleanup_null);
    }
    return worker;
}

/* Leaves the choice to KVCacheFallbackLBMethod, or to the session: with
 * nothing to predict, the member that served the session last is the best
 * guess of where its prefix is.  KVC_REASON_NONE: no new reason (the
 * request carried no matches; the fixups' reason stands). */
static proxy_worker *delegate(proxy_balancer *balancer, request_rec *r,
                              kvc_request *req, kvc_reason reason,
                              kvc_pick *pick)
{
    const proxy_balancer_method *fallback =
        kvc_config_server(r->server)->fallback;
    proxy_worker *worker = NULL;

    if (pick->session_route) {
        worker = get_best_worker_fn(balancer, r, is_best_session, pick);
        if (worker && !is_session_member(pick, worker)) {
            worker = NULL;
        }
    }
    if (!worker && pick->policy == KVC_POLICY_TTFT && req && req->prompt_tokens
        && (req->reason == KVC_REASON_LOOKUP_EMPTY
            || reason == KVC_REASON_BELOW_MIN_MATCH)) {
        worker = get_best_worker_fn(balancer, r, is_best_kvcache, pick);
    }
    if (!worker) {
        worker = fallback->finder(balancer, r);
    }
    if (reason != KVC_REASON_NONE) {
        ap_log_rerror(APLOG_MARK, APLOG_TRACE1, 0, r,
                      "[kvcache] %s: no preferred member (%s), %s chose %s",
                      balancer->s->name, kvc_reason_name(reason),
                      pick->session_route && worker
                              && is_session_member(pick, worker)
                          ? "the session"
                          : fallback->name,
                      worker ? worker->s->name : "none");
        kvc_request_fail(req, reason);
    }
    return chosen(r, req, worker,
                  req && worker ? matched_tokens(req->matches, worker) : 0);
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

static void start_pick(kvc_pick *pick, request_rec *r, const kvc_dir_conf *conf,
                       const kvc_request *req)
{
    const kvc_global_conf *g = kvc_config_global();

    memset(pick, 0, sizeof(*pick));
    pick->r = r;
    pick->matches = req ? req->matches : NULL;
    pick->policy = kvc_conf_policy(conf);
    pick->weight = kvc_conf_load_weight(conf);
    pick->signals = kvc_shm_signals();
    pick->now = apr_time_now();
    pick->fixed_rate = g->prefill_rate > 0;
    pick->default_rate =
        pick->fixed_rate
            ? g->prefill_rate
            : kvc_signals_fleet_rate(pick->signals, KVC_DEFAULT_PREFILL_RATE);
    /* Matches from another module come without a prompt size: the largest
     * match is then the best available scale. */
    pick->prompt_tokens = req && req->prompt_tokens ? (long)req->prompt_tokens
                          : req && req->best        ? req->best->matched
                                                    : 1;
}

/* The session's member, when it is not predicted slower than the best by
 * more than the margin (seconds, for ttft; scores otherwise). */
static int session_holds(const kvc_pick *pick, const kvc_dir_conf *conf)
{
    double margin =
        pick->policy == KVC_POLICY_TTFT
            ? (double)kvc_conf_session_margin(conf) / APR_USEC_PER_SEC
            : 0;

    return pick->session_worker
           && pick->best_score - pick->session_score <= margin;
}

static proxy_worker *find_best_kvcache(proxy_balancer *balancer, request_rec *r)
{
    const kvc_dir_conf *conf = kvc_config_dir(r);
    kvc_request *req = kvc_request_get(r);
    kvc_reason reason = request_matches(r, &req);
    proxy_worker *worker;
    kvc_pick pick;

    start_pick(&pick, r, conf, req);
    pick.session_route = session_route(r, conf, req);
    if (reason != KVC_REASON_NONE || !req || !req->matches) {
        return delegate(balancer, r, req, reason, &pick);
    }
    reason = survey(balancer, &pick, kvc_conf_min_match_tokens(conf));
    req->best_available = pick.best_available;
    if (reason != KVC_REASON_NONE) {
        return delegate(balancer, r, req, reason, &pick);
    }
    worker = get_best_worker_fn(balancer, r, is_best_kvcache, &pick);
    if (!worker) {
        return delegate(balancer, r, req, KVC_REASON_NO_USABLE_MEMBER, &pick);
    }
    if (worker != pick.session_worker && session_holds(&pick, conf)) {
        worker = pick.session_worker;
        pick.best_score = pick.session_score;
        pick.best_matched = pick.session_matched;
    }
    ap_log_rerror(APLOG_MARK, APLOG_TRACE1, 0, r,
                  "[kvcache] %s: routed to %s (route %s, matched %ld of %ld "
                  "tokens, busy %" APR_SIZE_T_FMT ", score %.4f, policy %s%s)",
                  balancer->s->name, worker->s->name, worker->s->route,
                  pick.best_matched, pick.prompt_tokens, worker->s->busy,
                  pick.best_score, kvc_policy_words[pick.policy],
                  worker == pick.session_worker ? ", session" : "");
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
