/* Licensed under the Apache License, Version 2.0 (the "License"); you may not
 * use this file except in compliance with the License.  You may obtain a copy
 * of the License at http://www.apache.org/licenses/LICENSE-2.0
 */

/**
 * @file kvc_selfcheck.h
 * @brief The startup self-check's verdicts, free of httpd: what counts as
 *        a problem in each answer of the cache plane, and the per-check
 *        problem counts the status handler publishes.
 *
 * KV routing fails silently when it is misconfigured: a member without
 * route= is never preferred, a route= the controller does not know is
 * never matched, a dead /tokenize or controller leaves every request to
 * the fallback, an unreadable /metrics hides a member's queue from the
 * cost model.  Requests still succeed, so nothing else says so.
 */
#ifndef KVC_SELFCHECK_H
#define KVC_SELFCHECK_H

#include "apr.h"

#ifdef __cplusplus
extern "C" {
#endif

/** What the self-check looks at; each has its own problem count. */
typedef enum {
    KVC_SC_MEMBERS,    /**< a kvcache balancer without members */
    KVC_SC_ROUTE,      /**< a member without route= */
    KVC_SC_CONTROLLER, /**< the LMCache controller does not answer */
    KVC_SC_INSTANCE,   /**< the controller does not know a route= id */
    KVC_SC_TOKENIZE,   /**< KVCacheVLLMEndpoint's /tokenize fails */
    KVC_SC_METRICS,    /**< a member's /metrics cannot be read */
    KVC_SC_COUNT
} kvc_sc_check;

/** The label of a check in the metrics ("members", "route", ...). */
const char *kvc_sc_check_name(kvc_sc_check check);

/** Where the self-check stands; lives in shared memory, all zero at
 *  startup (each generation gets a fresh segment). */
typedef struct {
    apr_uint32_t started;   /**< claimed by the process that runs it */
    apr_uint32_t completed; /**< the counts below are final */
    apr_uint32_t problems[KVC_SC_COUNT];
} kvc_selfcheck_state;

/**
 * Claims the check for the caller (lock-free): only one process of a
 * generation runs it, whichever holds mod_watchdog's singleton first.
 * @return 1 if the caller is to run it
 */
int kvc_selfcheck_claim(kvc_selfcheck_state *st);

/** Publishes the counts of a finished check (lock-free). */
void kvc_selfcheck_publish(kvc_selfcheck_state *st,
                           const apr_uint32_t problems[KVC_SC_COUNT]);

/** The sum of the published counts. */
apr_uint32_t kvc_selfcheck_total(const kvc_selfcheck_state *st);

/** What an LMCache controller's POST /health {instance_id} said. */
typedef enum {
    KVC_HEALTH_OK,        /**< known, every worker answers 0 */
    KVC_HEALTH_UNHEALTHY, /**< known, some worker reports an error code */
    KVC_HEALTH_UNKNOWN,   /**< 500: LMCache asserts on an unknown id */
    KVC_HEALTH_NO_API,    /**< 404, 405, 422: no /health of this form, so
                               the ids cannot be checked; not a problem */
    KVC_HEALTH_GARBAGE    /**< any other answer */
} kvc_health_verdict;

/**
 * Reads a /health answer: {"event_id": ..., "error_codes": {"0": 0}}
 * (newer LMCache) or {"event_id": ..., "error_code": 0} (older).
 * @param status the HTTP status of the answer
 * @param body its body (need not be NUL-terminated), may be NULL
 * @param len its length
 */
kvc_health_verdict kvc_selfcheck_health(long status, const char *body,
                                        apr_size_t len);

/**
 * Whether a /metrics body is one the scraper can use: it names vLLM's
 * KV-cache usage gauge (kv_cache_usage_perc or gpu_cache_usage_perc).
 */
int kvc_selfcheck_metrics_usable(const char *body, apr_size_t len);

#ifdef __cplusplus
}
#endif

#endif /* KVC_SELFCHECK_H */
