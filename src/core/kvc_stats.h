/* Licensed under the Apache License, Version 2.0 (the "License"); you may not
 * use this file except in compliance with the License.  You may obtain a copy
 * of the License at http://www.apache.org/licenses/LICENSE-2.0
 */

/**
 * @file kvc_stats.h
 * @brief Counters and latency histograms of the routing plane, kept in
 *        shared memory and updated with atomic operations (no global lock
 *        on the request path), rendered as JSON or Prometheus text.
 *        Free of httpd headers.
 */
#ifndef KVC_STATS_H
#define KVC_STATS_H

#include "apr.h"
#include "apr_pools.h"
#include "apr_time.h"

#include "kvc_selfcheck.h"
#include "kvc_vocab.h"

/** Outcome of one upstream call, for the per-role counters. */
typedef enum {
    KVC_CALL_OK,
    KVC_CALL_ERROR,
    KVC_CALL_TIMEOUT,
    KVC_CALL_REJECTED
} kvc_call_outcome;

#define KVC_LATENCY_BUCKETS 12
#define KVC_STATS_ROUTES    64

typedef struct {
    apr_uint64_t calls;
    apr_uint64_t errors;
    apr_uint64_t timeouts;
    apr_uint64_t rejected; /* refused by an open breaker */
    apr_uint64_t buckets[KVC_LATENCY_BUCKETS + 1]; /* last one: +Inf */
    apr_uint64_t latency_us;                       /* sum */
} kvc_call_stats;

typedef struct {
    apr_uint32_t ready; /* set once route[] is written */
    char route[KVC_ROUTE_SIZE];
    apr_uint64_t routed;
    /* Answers whose engine reported its cached tokens: what the route
     * predicted for them and what the engine found. */
    apr_uint64_t answers;
    apr_uint64_t predicted_tokens;
    apr_uint64_t found_tokens;
} kvc_route_stats;

/* Buckets of the prediction error, (found - predicted) / prompt tokens,
 * from a whole prompt missed to a whole prompt more than predicted. */
#define KVC_ERROR_BUCKETS 11

/** Lives in shared memory; all zero is the initial state. */
typedef struct {
    apr_uint64_t seen;     /* requests the module looked at */
    apr_uint64_t eligible; /* ... that had a prompt to route */
    apr_uint64_t routed;
    apr_uint64_t fallbacks[KVC_REASON_COUNT];
    apr_uint64_t prompt_tokens;       /* over requests with known tokens */
    apr_uint64_t matched_tokens;      /* of the member chosen */
    apr_uint64_t best_matched_tokens; /* best available */
    kvc_call_stats calls[KVC_ROLE_COUNT];
    apr_uint64_t token_cache_hits;
    apr_uint64_t token_cache_misses;
    apr_uint64_t actions[KVC_ACTION_COUNT][KVC_ACTION_OUTCOME_COUNT];
    apr_uint64_t answers; /* answers that reported cached tokens */
    apr_uint64_t answer_predicted_tokens;
    apr_uint64_t answer_found_tokens;
    apr_uint64_t prediction_error[KVC_ERROR_BUCKETS + 1]; /* last: +Inf */
    apr_uint64_t prediction_error_micros; /* their sum, 1e-6 units, signed */
    apr_uint32_t routes_used;
    kvc_route_stats routes[KVC_STATS_ROUTES];
} kvc_stats;

/** What the cost model knows of one engine, for the gauges. */
typedef struct {
    const char *route;
    double prefill_rate;   /* tokens/s, learned or configured */
    double backlog_tokens; /* prefill work queued, now */
    double waiting;        /* as scraped */
    double running;
    double kv_usage;
    double scrape_age; /* seconds since the last scrape; < 0: never */
} kvc_engine_gauges;

/** State that is not a counter, gathered when rendering. */
typedef struct {
    const char *breaker_state[KVC_ROLE_COUNT]; /* "closed", ... */
    apr_uint64_t breaker_opens[KVC_ROLE_COUNT];
    apr_uint64_t token_cache_entries;
    apr_uint64_t hot_keys;
    apr_uint64_t sessions;
    apr_uint64_t inflight_blocks;
    const kvc_engine_gauges *engines;
    int engines_count;
    int selfcheck_completed; /* the startup self-check has run */
    apr_uint32_t selfcheck_problems[KVC_SC_COUNT];
} kvc_stats_gauges;

/** Counts one upstream call (lock-free). */
void kvc_stats_call(kvc_stats *st, kvc_role role, kvc_call_outcome outcome,
                    apr_interval_time_t elapsed);

/**
 * Counts one finished request (lock-free).
 * @param reason  KVC_REASON_NONE when it was routed
 * @param prompt_tokens  0 when the prompt was never tokenized
 * @param route  the member chosen by the score, NULL when not routed
 */
void kvc_stats_request(kvc_stats *st, kvc_reason reason, long prompt_tokens,
                       long matched, long best_matched, const char *route);

/**
 * Counts one answer whose engine reported the cached tokens it found
 * (lock-free), against what was predicted for the member that served it.
 * @param route  that member's route, NULL if it has none
 * @param prompt_tokens  0 when the prompt was never tokenized (then the
 *        error is not binned)
 */
void kvc_stats_answer(kvc_stats *st, const char *route, long prompt_tokens,
                      long predicted, long found);

/** The upper bounds of the prediction-error buckets. */
extern const double kvc_stats_error_bounds[KVC_ERROR_BUCKETS];

void kvc_stats_token_cache(kvc_stats *st, int hit);
void kvc_stats_action(kvc_stats *st, kvc_action action,
                      kvc_action_outcome outcome);

/**
 * Renders everything, as JSON or as Prometheus text exposition (metric
 * names kvcache_*, histograms in seconds).
 */
const char *kvc_stats_render(const kvc_stats *st,
                             const kvc_stats_gauges *gauges, int prometheus,
                             apr_pool_t *p);

#endif /* KVC_STATS_H */
