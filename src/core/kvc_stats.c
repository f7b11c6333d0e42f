/* Licensed under the Apache License, Version 2.0 (the "License"); you may not
 * use this file except in compliance with the License.  You may obtain a copy
 * of the License at http://www.apache.org/licenses/LICENSE-2.0
 */

#include <stdarg.h>
#include <stddef.h>
#include <string.h>

#include "apr_atomic.h"
#include "apr_strings.h"
#include "apr_tables.h"

#include "kvc_json_writer.h"
#include "kvc_stats.h"

/* Upper bounds in seconds: from sub-millisecond token-cache-fed lookups to
 * calls that hit a 2s request timeout. */
static const double latency_bounds[KVC_LATENCY_BUCKETS] = {
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5
};
/* The same, as labels: APR's formatter would print %g as ".0005". */
static const char *const latency_labels[KVC_LATENCY_BUCKETS] = {
    "0.0005", "0.001", "0.0025", "0.005", "0.01", "0.025",
    "0.05",   "0.1",   "0.25",   "0.5",   "1",    "2.5"
};

void kvc_stats_call(kvc_stats *st, kvc_role role, kvc_call_outcome outcome,
                    apr_interval_time_t elapsed)
{
    kvc_call_stats *c = &st->calls[role];
    double seconds = (double)elapsed / APR_USEC_PER_SEC;
    int b = 0;

    if (outcome == KVC_CALL_REJECTED) {
        apr_atomic_inc64(&c->rejected);
        return;
    }
    apr_atomic_inc64(&c->calls);
    if (outcome == KVC_CALL_ERROR) {
        apr_atomic_inc64(&c->errors);
    }
    else if (outcome == KVC_CALL_TIMEOUT) {
        apr_atomic_inc64(&c->timeouts);
    }
    while (b < KVC_LATENCY_BUCKETS && seconds > latency_bounds[b]) {
        b++;
    }
    apr_atomic_inc64(&c->buckets[b]);
    apr_atomic_add64(&c->latency_us, (apr_uint64_t)(elapsed > 0 ? elapsed : 0));
}

/* Routes get a slot the first time they are routed to; a slot is claimed
 * with compare-and-swap and published with its ready flag, so readers
 * never see half a name.  Beyond KVC_STATS_ROUTES routes, the rest are
 * only counted in the total. */
static kvc_route_stats *route_slot(kvc_stats *st, const char *route)
{
    apr_uint32_t used = apr_atomic_read32(&st->routes_used);
    apr_uint32_t i;

    for (i = 0; i < used && i < KVC_STATS_ROUTES; i++) {
        kvc_route_stats *slot = &st->routes[i];

        if (apr_atomic_read32(&slot->ready) && !strcmp(slot->route, route)) {
            return slot;
        }
    }
    while (used < KVC_STATS_ROUTES) {
        if (apr_atomic_cas32(&st->routes_used, used + 1, used) == used) {
            kvc_route_stats *slot = &st->routes[used];

            apr_cpystrn(slot->route, route, sizeof(slot->route));
            apr_atomic_set32(&slot->ready, 1);
            return slot;
        }
        used = apr_atomic_read32(&st->routes_used);
    }
    return NULL;
}

void kvc_stats_request(kvc_stats *st, kvc_reason reason, long prompt_tokens,
                       long matched, long best_matched, const char *route)
{
    apr_atomic_inc64(&st->seen);
    /* The reasons up to not-configured are about the request itself (no
     * prompt to route); every later one, and routing, had a prompt. */
    if (reason == KVC_REASON_NONE || reason > KVC_REASON_NOT_CONFIGURED) {
        apr_atomic_inc64(&st->eligible);
    }
    if (reason != KVC_REASON_NONE) {
        apr_atomic_inc64(&st->fallbacks[reason]);
    }
    else {
        kvc_route_stats *slot = route ? route_slot(st, route) : NULL;

        apr_atomic_inc64(&st->routed);
        if (slot) {
            apr_atomic_inc64(&slot->routed);
        }
    }
    if (prompt_tokens > 0) {
        apr_atomic_add64(&st->prompt_tokens, (apr_uint64_t)prompt_tokens);
        apr_atomic_add64(&st->matched_tokens,
                         (apr_uint64_t)(matched > 0 ? matched : 0));
        apr_atomic_add64(&st->best_matched_tokens,
                         (apr_uint64_t)(best_matched > 0 ? best_matched : 0));
    }
}

const double kvc_stats_error_bounds[KVC_ERROR_BUCKETS] = {
    -0.99, -0.5, -0.25, -0.1, -0.01, 0.01, 0.1, 0.25, 0.5, 0.99, 1.0
};

void kvc_stats_answer(kvc_stats *st, const char *route, long prompt_tokens,
                      long predicted, long found)
{
    kvc_route_stats *slot = route ? route_slot(st, route) : NULL;
    apr_uint64_t p = (apr_uint64_t)(predicted > 0 ? predicted : 0);
    apr_uint64_t f = (apr_uint64_t)(found > 0 ? found : 0);

    apr_atomic_inc64(&st->answers);
    apr_atomic_add64(&st->answer_predicted_tokens, p);
    apr_atomic_add64(&st->answer_found_tokens, f);
    if (prompt_tokens > 0) {
        double error = ((double)f - (double)p) / (double)prompt_tokens;
        int b = 0;

        while (b < KVC_ERROR_BUCKETS && error > kvc_stats_error_bounds[b]) {
            b++;
        }
        apr_atomic_inc64(&st->prediction_error[b]);
        /* Two's complement: adding a negative amount wraps as it should. */
        apr_atomic_add64(&st->prediction_error_micros,
                         (apr_uint64_t)(apr_int64_t)(error * 1e6));
    }
    if (slot) {
        apr_atomic_inc64(&slot->answers);
        apr_atomic_add64(&slot->predicted_tokens, p);
        apr_atomic_add64(&slot->found_tokens, f);
    }
}

void kvc_stats_token_cache(kvc_stats *st, int hit)
{
    apr_atomic_inc64(hit ? &st->token_cache_hits : &st->token_cache_misses);
}

void kvc_stats_action(kvc_stats *st, kvc_action action,
                      kvc_action_outcome outcome)
{
    apr_atomic_inc64(&st->actions[action][outcome]);
}

/* Rendering.  The JSON is built by the JSON writer; the Prometheus text
 * line by line into an array, joined once.  The status page is rare,
 * clarity wins over speed. */

typedef struct {
    apr_array_header_t *parts;
    apr_pool_t *pool;
} kvc_out;

#if defined(__GNUC__)
static void emit(kvc_out *out, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
#endif

static void emit(kvc_out *out, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    APR_ARRAY_PUSH(out->parts, const char *) =
        apr_pvsprintf(out->pool, fmt, ap);
    va_end(ap);
}

/* Routes are admin-configured; escape what Prometheus label values
 * cannot hold as is. */
static const char *escaped(apr_pool_t *p, const char *s)
{
    char *out = apr_palloc(p, 2 * strlen(s) + 1), *o = out;

    for (; *s; s++) {
        if (*s == '"' || *s == '\\') {
            *o++ = '\\';
            *o++ = *s;
        }
        else if (*s == '\n' || (unsigned char)*s < 0x20) {
            *o++ = ' ';
        }
        else {
            *o++ = *s;
        }
    }
    *o = '\0';
    return out;
}

static apr_uint64_t rd(const apr_uint64_t *v)
{
    return apr_atomic_read64((volatile apr_uint64_t *)v);
}

#define U64 "%" APR_UINT64_T_FMT

/* Route slots claimed so far (see route_slot()); each one is readable
 * once its ready flag is set. */
static int routes_claimed(const kvc_stats *st)
{
    apr_uint32_t used =
        apr_atomic_read32((volatile apr_uint32_t *)&st->routes_used);

    return used < KVC_STATS_ROUTES ? (int)used : KVC_STATS_ROUTES;
}

static void prom_header(kvc_out *out, const char *name, const char *type,
                        const char *help)
{
    emit(out, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* One counter family with a sample per role: the field at @a offset of
 * each role's kvc_call_stats. */
static void per_role(kvc_out *out, const kvc_stats *st, const char *name,
                     const char *help, apr_size_t offset)
{
    int i;

    prom_header(out, name, "counter", help);
    for (i = 0; i < KVC_ROLE_COUNT; i++) {
        const char *c = (const char *)&st->calls[i];

        emit(out, "%s{role=\"%s\"} " U64 "\n", name, kvc_role_name((kvc_role)i),
             rd((const apr_uint64_t *)(c + offset)));
    }
}

static void render_prometheus(kvc_out *out, const kvc_stats *st,
                              const kvc_stats_gauges *g)
{
    int i, j;

    prom_header(out, "kvcache_requests_seen_total", "counter",
                "Requests the module looked at.");
    emit(out, "kvcache_requests_seen_total " U64 "\n", rd(&st->seen));
    prom_header(out, "kvcache_requests_eligible_total", "counter",
                "Requests with a prompt to route.");
    emit(out, "kvcache_requests_eligible_total " U64 "\n", rd(&st->eligible));
    prom_header(out, "kvcache_requests_routed_total", "counter",
                "Requests sent to the member the kvcache score chose.");
    emit(out, "kvcache_requests_routed_total " U64 "\n", rd(&st->routed));
    prom_header(out, "kvcache_fallbacks_total", "counter",
                "Requests left to the fallback lbmethod, by reason.");
    for (i = KVC_REASON_NONE + 1; i < KVC_REASON_COUNT; i++) {
        emit(out, "kvcache_fallbacks_total{reason=\"%s\"} " U64 "\n",
             kvc_reason_name((kvc_reason)i), rd(&st->fallbacks[i]));
    }
    prom_header(out, "kvcache_prompt_tokens_total", "counter",
                "Prompt tokens of tokenized requests.");
    emit(out, "kvcache_prompt_tokens_total " U64 "\n", rd(&st->prompt_tokens));
    prom_header(out, "kvcache_matched_tokens_total", "counter",
                "Cached prompt tokens the chosen member holds (predicted "
                "hit).");
    emit(out, "kvcache_matched_tokens_total " U64 "\n",
         rd(&st->matched_tokens));
    prom_header(out, "kvcache_best_matched_tokens_total", "counter",
                "Cached prompt tokens the best member holds (available "
                "hit).");
    emit(out, "kvcache_best_matched_tokens_total " U64 "\n",
         rd(&st->best_matched_tokens));

    per_role(out, st, "kvcache_upstream_calls_total",
             "Calls made to the cache plane, by role.",
             offsetof(kvc_call_stats, calls));
    per_role(out, st, "kvcache_upstream_errors_total",
             "Calls that failed (status, transport, garbage), by role.",
             offsetof(kvc_call_stats, errors));
    per_role(out, st, "kvcache_upstream_timeouts_total",
             "Calls cut off by their time budget, by role.",
             offsetof(kvc_call_stats, timeouts));
    per_role(out, st, "kvcache_upstream_rejected_total",
             "Calls not made because the circuit breaker was open.",
             offsetof(kvc_call_stats, rejected));
    prom_header(out, "kvcache_upstream_duration_seconds", "histogram",
                "Duration of calls to the cache plane, by role.");
    for (i = 0; i < KVC_ROLE_COUNT; i++) {
        const kvc_call_stats *c = &st->calls[i];
        apr_uint64_t cumulative = 0;

        for (j = 0; j <= KVC_LATENCY_BUCKETS; j++) {
            cumulative += rd(&c->buckets[j]);
            if (j < KVC_LATENCY_BUCKETS) {
                emit(out,
                     "kvcache_upstream_duration_seconds_bucket{role="
                     "\"%s\",le=\"%s\"} " U64 "\n",
                     kvc_role_name((kvc_role)i), latency_labels[j], cumulative);
            }
            else {
                emit(out,
                     "kvcache_upstream_duration_seconds_bucket{role="
                     "\"%s\",le=\"+Inf\"} " U64 "\n",
                     kvc_role_name((kvc_role)i), cumulative);
            }
        }
        emit(out,
             "kvcache_upstream_duration_seconds_sum{role=\"%s\"} "
             "%.6f\n",
             kvc_role_name((kvc_role)i),
             (double)rd(&c->latency_us) / APR_USEC_PER_SEC);
        emit(out,
             "kvcache_upstream_duration_seconds_count{role=\"%s\"} " U64 "\n",
             kvc_role_name((kvc_role)i), cumulative);
    }
    prom_header(out, "kvcache_breaker_state", "gauge",
                "Circuit breaker state by role (1 for the current one).");
    for (i = 0; i < KVC_ROLE_COUNT; i++) {
        static const char *const states[] = { "closed", "open", "half-open" };

        for (j = 0; j < 3; j++) {
            emit(out, "kvcache_breaker_state{role=\"%s\",state=\"%s\"} %d\n",
                 kvc_role_name((kvc_role)i), states[j],
                 !strcmp(g->breaker_state[i], states[j]));
        }
    }
    prom_header(out, "kvcache_breaker_opens_total", "counter",
                "Times each circuit breaker opened.");
    for (i = 0; i < KVC_ROLE_COUNT; i++) {
        emit(out, "kvcache_breaker_opens_total{role=\"%s\"} " U64 "\n",
             kvc_role_name((kvc_role)i), g->breaker_opens[i]);
    }
    prom_header(out, "kvcache_token_cache_hits_total", "counter",
                "Prompts found in the token cache.");
    emit(out, "kvcache_token_cache_hits_total " U64 "\n",
         rd(&st->token_cache_hits));
    prom_header(out, "kvcache_token_cache_misses_total", "counter",
                "Prompts not found in the token cache.");
    emit(out, "kvcache_token_cache_misses_total " U64 "\n",
         rd(&st->token_cache_misses));
    prom_header(out, "kvcache_token_cache_entries", "gauge",
                "Entries in the token cache.");
    emit(out, "kvcache_token_cache_entries " U64 "\n", g->token_cache_entries);
    prom_header(out, "kvcache_hot_keys", "gauge",
                "Prompts tracked in the hot window.");
    emit(out, "kvcache_hot_keys " U64 "\n", g->hot_keys);
    prom_header(out, "kvcache_actions_total", "counter",
                "Cache-management actions by outcome.");
    for (i = 0; i < KVC_ACTION_COUNT; i++) {
        for (j = 0; j < KVC_ACTION_OUTCOME_COUNT; j++) {
            emit(out,
                 "kvcache_actions_total{action=\"%s\",outcome=\"%s\"} " U64
                 "\n",
                 kvc_action_name((kvc_action)i),
                 kvc_action_outcome_name((kvc_action_outcome)j),
                 rd(&st->actions[i][j]));
        }
    }
    prom_header(out, "kvcache_routed_total", "counter",
                "Requests routed by the kvcache score, by member route.");
    for (i = 0; i < routes_claimed(st); i++) {
        const kvc_route_stats *r = &st->routes[i];

        if (apr_atomic_read32((volatile apr_uint32_t *)&r->ready)) {
            emit(out, "kvcache_routed_total{route=\"%s\"} " U64 "\n",
                 escaped(out->pool, r->route), rd(&r->routed));
        }
    }
}

/* Did the predictions come true?  Per member, what was predicted for the
 * answers that reported their cached tokens and what the engines found;
 * the error as a share of the prompt; and the engines as the cost model
 * sees them. */
static void render_prometheus_answers(kvc_out *out, const kvc_stats *st,
                                      const kvc_stats_gauges *g)
{
    static const struct {
        const char *name, *help;
        apr_size_t offset;
    } per_route[] = {
        { "kvcache_answers_counted_total",
          "Answers that reported the cached tokens the engine found.",
          offsetof(kvc_route_stats, answers) },
        { "kvcache_predicted_cached_tokens_total",
          "Cached tokens predicted for those answers' members.",
          offsetof(kvc_route_stats, predicted_tokens) },
        { "kvcache_found_cached_tokens_total",
          "Cached tokens the engines found for those answers.",
          offsetof(kvc_route_stats, found_tokens) },
    };
    static const struct {
        const char *name, *help;
        apr_size_t offset;
    } per_engine[] = {
        { "kvcache_engine_prefill_rate_tokens",
          "Tokens per second the engine prefills (learned or configured).",
          offsetof(kvc_engine_gauges, prefill_rate) },
        { "kvcache_engine_backlog_tokens",
          "Prefill work queued on the engine, as the cost model sees it.",
          offsetof(kvc_engine_gauges, backlog_tokens) },
        { "kvcache_engine_waiting_requests",
          "Requests waiting on the engine at the last scrape.",
          offsetof(kvc_engine_gauges, waiting) },
        { "kvcache_engine_running_requests",
          "Requests running on the engine at the last scrape.",
          offsetof(kvc_engine_gauges, running) },
        { "kvcache_engine_kv_usage_ratio",
          "KV-cache usage of the engine at the last scrape.",
          offsetof(kvc_engine_gauges, kv_usage) },
        { "kvcache_engine_scrape_age_seconds",
          "Seconds since the engine's metrics were last read (-1: never).",
          offsetof(kvc_engine_gauges, scrape_age) },
    };
    apr_uint64_t cumulative = 0;
    apr_size_t k;
    int i;

    for (k = 0; k < sizeof(per_route) / sizeof(*per_route); k++) {
        prom_header(out, per_route[k].name, "counter", per_route[k].help);
        for (i = 0; i < routes_claimed(st); i++) {
            const kvc_route_stats *r = &st->routes[i];

            if (apr_atomic_read32((volatile apr_uint32_t *)&r->ready)) {
                emit(out, "%s{route=\"%s\"} " U64 "\n", per_route[k].name,
                     escaped(out->pool, r->route),
                     rd((const apr_uint64_t *)((const char *)r
                                               + per_route[k].offset)));
            }
        }
    }
    prom_header(out, "kvcache_prediction_error_ratio", "histogram",
                "(found - predicted) / prompt tokens, per counted answer.");
    for (i = 0; i <= KVC_ERROR_BUCKETS; i++) {
        cumulative += rd(&st->prediction_error[i]);
        if (i < KVC_ERROR_BUCKETS) {
            emit(out,
                 "kvcache_prediction_error_ratio_bucket{le=\"%g\"} " U64 "\n",
                 kvc_stats_error_bounds[i], cumulative);
        }
    }
    emit(out, "kvcache_prediction_error_ratio_bucket{le=\"+Inf\"} " U64 "\n",
         cumulative);
    emit(out, "kvcache_prediction_error_ratio_sum %.6f\n",
         (double)(apr_int64_t)rd(&st->prediction_error_micros) / 1e6);
    emit(out, "kvcache_prediction_error_ratio_count " U64 "\n", cumulative);
    prom_header(out, "kvcache_sessions", "gauge",
                "Sessions whose member is remembered.");
    emit(out, "kvcache_sessions " U64 "\n", g->sessions);
    prom_header(out, "kvcache_inflight_prefix_blocks", "gauge",
                "Prompt blocks of requests in flight, counted as held by "
                "their member.");
    emit(out, "kvcache_inflight_prefix_blocks " U64 "\n", g->inflight_blocks);
    prom_header(out, "kvcache_selfcheck_completed", "gauge",
                "1 once the startup self-check of this generation has run.");
    emit(out, "kvcache_selfcheck_completed %d\n", g->selfcheck_completed);
    prom_header(out, "kvcache_selfcheck_problems", "gauge",
                "Problems the startup self-check found, by check (each is "
                "a warning in the error log).");
    for (i = 0; i < KVC_SC_COUNT; i++) {
        emit(out, "kvcache_selfcheck_problems{check=\"%s\"} %u\n",
             kvc_sc_check_name((kvc_sc_check)i),
             (unsigned)g->selfcheck_problems[i]);
    }
    for (k = 0; k < sizeof(per_engine) / sizeof(*per_engine); k++) {
        prom_header(out, per_engine[k].name, "gauge", per_engine[k].help);
        for (i = 0; i < g->engines_count; i++) {
            const kvc_engine_gauges *e = &g->engines[i];

            emit(out, "%s{route=\"%s\"} %.6g\n", per_engine[k].name,
                 escaped(out->pool, e->route),
                 *(const double *)((const char *)e + per_engine[k].offset));
        }
    }
}

/* A JSON object member whose value is a counter. */
static void json_count(kvc_json_writer *w, const char *name, apr_uint64_t v)
{
    kvc_json_write_key(w, name);
    kvc_json_write_uint(w, v);
}

/* The predictions against what the engines found, and the engines as the
 * cost model sees them (see render_prometheus_answers()). */
static void render_json_answers(kvc_json_writer *w, const kvc_stats *st,
                                const kvc_stats_gauges *g)
{
    int i;

    kvc_json_write_key(w, "answers");
    kvc_json_write_object_open(w);
    json_count(w, "counted", rd(&st->answers));
    json_count(w, "predicted_cached_tokens", rd(&st->answer_predicted_tokens));
    json_count(w, "found_cached_tokens", rd(&st->answer_found_tokens));
    kvc_json_write_key(w, "by_route");
    kvc_json_write_object_open(w);
    for (i = 0; i < routes_claimed(st); i++) {
        const kvc_route_stats *r = &st->routes[i];

        if (apr_atomic_read32((volatile apr_uint32_t *)&r->ready)) {
            kvc_json_write_key(w, r->route);
            kvc_json_write_object_open(w);
            json_count(w, "counted", rd(&r->answers));
            json_count(w, "predicted_cached_tokens", rd(&r->predicted_tokens));
            json_count(w, "found_cached_tokens", rd(&r->found_tokens));
            kvc_json_write_object_close(w);
        }
    }
    kvc_json_write_object_close(w);
    kvc_json_write_object_close(w);
    json_count(w, "sessions", g->sessions);
    json_count(w, "inflight_prefix_blocks", g->inflight_blocks);
    kvc_json_write_key(w, "selfcheck");
    kvc_json_write_object_open(w);
    kvc_json_write_key(w, "completed");
    kvc_json_write_uint(w, (apr_uint64_t)g->selfcheck_completed);
    {
        apr_uint64_t total = 0;

        kvc_json_write_key(w, "by_check");
        kvc_json_write_object_open(w);
        for (i = 0; i < KVC_SC_COUNT; i++) {
            json_count(w, kvc_sc_check_name((kvc_sc_check)i),
                       g->selfcheck_problems[i]);
            total += g->selfcheck_problems[i];
        }
        kvc_json_write_object_close(w);
        json_count(w, "problems", total);
    }
    kvc_json_write_object_close(w);
    kvc_json_write_key(w, "engines");
    kvc_json_write_object_open(w);
    for (i = 0; i < g->engines_count; i++) {
        const kvc_engine_gauges *e = &g->engines[i];

        kvc_json_write_key(w, e->route);
        kvc_json_write_object_open(w);
        kvc_json_write_key(w, "prefill_rate_tokens");
        kvc_json_write_fixed(w, e->prefill_rate, 1);
        kvc_json_write_key(w, "backlog_tokens");
        kvc_json_write_fixed(w, e->backlog_tokens, 1);
        kvc_json_write_key(w, "waiting");
        kvc_json_write_fixed(w, e->waiting, 0);
        kvc_json_write_key(w, "running");
        kvc_json_write_fixed(w, e->running, 0);
        kvc_json_write_key(w, "kv_usage");
        kvc_json_write_fixed(w, e->kv_usage, 4);
        kvc_json_write_key(w, "scrape_age_seconds");
        kvc_json_write_fixed(w, e->scrape_age, 3);
        kvc_json_write_object_close(w);
    }
    kvc_json_write_object_close(w);
}

static const char *render_json(const kvc_stats *st, const kvc_stats_gauges *g,
                               apr_pool_t *p)
{
    kvc_json_writer w;
    const char *text;
    int i, j;

    kvc_json_writer_init(&w, p, 8192);
    kvc_json_write_object_open(&w);
    kvc_json_write_key(&w, "requests");
    kvc_json_write_object_open(&w);
    json_count(&w, "seen", rd(&st->seen));
    json_count(&w, "eligible", rd(&st->eligible));
    json_count(&w, "routed", rd(&st->routed));
    kvc_json_write_object_close(&w);

    kvc_json_write_key(&w, "fallbacks");
    kvc_json_write_object_open(&w);
    for (i = KVC_REASON_NONE + 1; i < KVC_REASON_COUNT; i++) {
        json_count(&w, kvc_reason_name((kvc_reason)i), rd(&st->fallbacks[i]));
    }
    kvc_json_write_object_close(&w);

    kvc_json_write_key(&w, "tokens");
    kvc_json_write_object_open(&w);
    json_count(&w, "prompt", rd(&st->prompt_tokens));
    json_count(&w, "matched", rd(&st->matched_tokens));
    json_count(&w, "best_matched", rd(&st->best_matched_tokens));
    kvc_json_write_object_close(&w);

    kvc_json_write_key(&w, "upstreams");
    kvc_json_write_object_open(&w);
    for (i = 0; i < KVC_ROLE_COUNT; i++) {
        const kvc_call_stats *c = &st->calls[i];
        apr_uint64_t count = 0;

        kvc_json_write_key(&w, kvc_role_name((kvc_role)i));
        kvc_json_write_object_open(&w);
        json_count(&w, "calls", rd(&c->calls));
        json_count(&w, "errors", rd(&c->errors));
        json_count(&w, "timeouts", rd(&c->timeouts));
        json_count(&w, "rejected", rd(&c->rejected));
        kvc_json_write_key(&w, "breaker");
        kvc_json_write_cstring(&w, g->breaker_state[i]);
        json_count(&w, "breaker_opens", g->breaker_opens[i]);
        kvc_json_write_key(&w, "latency_seconds");
        kvc_json_write_object_open(&w);
        kvc_json_write_key(&w, "buckets");
        kvc_json_write_object_open(&w);
        for (j = 0; j <= KVC_LATENCY_BUCKETS; j++) {
            count += rd(&c->buckets[j]);
            json_count(&w, j < KVC_LATENCY_BUCKETS ? latency_labels[j] : "+Inf",
                       count);
        }
        kvc_json_write_object_close(&w);
        kvc_json_write_key(&w, "sum");
        kvc_json_write_fixed(&w, (double)rd(&c->latency_us) / APR_USEC_PER_SEC,
                             6);
        json_count(&w, "count", count);
        kvc_json_write_object_close(&w);
        kvc_json_write_object_close(&w);
    }
    kvc_json_write_object_close(&w);

    kvc_json_write_key(&w, "token_cache");
    kvc_json_write_object_open(&w);
    json_count(&w, "hits", rd(&st->token_cache_hits));
    json_count(&w, "misses", rd(&st->token_cache_misses));
    json_count(&w, "entries", g->token_cache_entries);
    kvc_json_write_object_close(&w);
    json_count(&w, "hot_keys", g->hot_keys);

    kvc_json_write_key(&w, "actions");
    kvc_json_write_object_open(&w);
    for (i = 0; i < KVC_ACTION_COUNT; i++) {
        kvc_json_write_key(&w, kvc_action_name((kvc_action)i));
        kvc_json_write_object_open(&w);
        for (j = 0; j < KVC_ACTION_OUTCOME_COUNT; j++) {
            json_count(&w, kvc_action_outcome_name((kvc_action_outcome)j),
                       rd(&st->actions[i][j]));
        }
        kvc_json_write_object_close(&w);
    }
    kvc_json_write_object_close(&w);

    /* Route names come from the configuration: the writer escapes them. */
    kvc_json_write_key(&w, "routes");
    kvc_json_write_object_open(&w);
    for (i = 0; i < routes_claimed(st); i++) {
        const kvc_route_stats *r = &st->routes[i];

        if (apr_atomic_read32((volatile apr_uint32_t *)&r->ready)) {
            json_count(&w, r->route, rd(&r->routed));
        }
    }
    kvc_json_write_object_close(&w);
    render_json_answers(&w, st, g);
    kvc_json_write_object_close(&w);

    text = kvc_json_writer_finish(&w, NULL);
    return text != NULL ? apr_pstrcat(p, text, "\n", NULL) : "{}\n";
}

const char *kvc_stats_render(const kvc_stats *st,
                             const kvc_stats_gauges *gauges, int prometheus,
                             apr_pool_t *p)
{
    kvc_out out;

    if (!prometheus) {
        return render_json(st, gauges, p);
    }
    out.pool = p;
    out.parts = apr_array_make(p, 256, sizeof(const char *));
    render_prometheus(&out, st, gauges);
    render_prometheus_answers(&out, st, gauges);
    return apr_array_pstrcat(p, out.parts, '\0');
}
