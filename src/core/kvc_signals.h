/* Licensed under the Apache License, Version 2.0 (the "License"); you may not
 * use this file except in compliance with the License.  You may obtain a copy
 * of the License at http://www.apache.org/licenses/LICENSE-2.0
 */

/**
 * @file kvc_signals.h
 * @brief What each inference instance reports about itself (scraped from
 *        its Prometheus /metrics by one process, read by all), the prefill
 *        work queued on it, and when each cache action was last sent to it
 *        (the per-instance rate limit).  A fixed table in shared memory.
 *        Free of httpd headers.
 *
 * Locking: writers (the scraper, a routed request, an action's turn) hold
 * the global lock.  Readers on the request path need none: entries are
 * only ever appended, an entry's id is written before the count that
 * publishes it, and a number read while it changes is one moment old.
 *
 * The prefill queue is a fluid model: every scrape sets it to the engine's
 * own count of waiting requests (which sees what other gateways sent) times
 * the usual request's uncached tokens there; each request routed to the
 * instance since adds its own; and the instance drains them at its
 * prefill rate.
 */
#ifndef KVC_SIGNALS_H
#define KVC_SIGNALS_H

#include "apr.h"
#include "apr_time.h"

#include "kvc_vocab.h"

#define KVC_SIGNALS_MAX 64

/** Uncached tokens assumed of a waiting request until an engine's
 *  counters or routed requests tell: a chat turn of a few paragraphs. */
#define KVC_SIGNALS_USUAL_REQUEST 1000.0

/** One scrape of an instance's /metrics (sums over its engines). */
typedef struct {
    double kv_usage; /* vllm:kv_cache_usage_perc, mean over engines, 0..1 */
    double running;  /* vllm:num_requests_running */
    double waiting;  /* vllm:num_requests_waiting */
    int engines;     /* engines reporting (data-parallel ranks) */
    /* Counters for the prefill rate: prompt tokens and prefill seconds
     * negative when not published, cached tokens then 0. */
    double prompt_tokens;   /* vllm:prompt_tokens_total */
    double cached_tokens;   /* prefix-cache hits, GPU and external */
    double prefill_seconds; /* vllm:request_prefill_time_seconds_sum, else
                               vllm:time_to_first_token_seconds_sum */
    double prefilled;       /* the requests those seconds were spent on
                               (the histogram's _count) */
} kvc_scrape_sample;

typedef struct {
    char id[KVC_ROUTE_SIZE];
    apr_time_t scraped_at; /* 0: never scraped successfully */
    double kv_usage;
    double running;
    double waiting;
    int engines;
    /* The counters of the last scrape, for the next one's deltas. */
    double prompt_tokens;
    double cached_tokens;
    double prefill_seconds;
    double prefilled;
    double prefill_rate; /* work tokens/s (KVC_CACHED_TOKEN_COST), learned;
                            0: not yet */
    /* The prefill queue, drained at the prefill rate since its time. */
    double backlog_tokens;
    apr_time_t backlog_at;
    double mean_work;   /* prefill work per request, from the engine's
                           counters and the requests routed here */
    double mean_prompt; /* prompt tokens of the requests routed here */
    /* The requests this server routed here and still has in flight, and
     * their prompt tokens: atomics, added at routing, taken away when a
     * request ends. */
    apr_uint32_t inflight;
    apr_uint64_t inflight_tokens;
    apr_time_t last_compress; /* 0: never */
    apr_time_t last_clear;
} kvc_instance_signals;

typedef struct {
    apr_uint32_t count;
    kvc_instance_signals entries[KVC_SIGNALS_MAX];
} kvc_signals;

/**
 * The entry of instance @a id; with @a create (global lock held), a new
 * one when there is room.  NULL otherwise.
 */
kvc_instance_signals *kvc_signals_find(kvc_signals *sig, const char *id,
                                       int create);

/**
 * Records a scrape (global lock held): the gauges, and from the counters'
 * growth since the last scrape the prefill rate (work over prefill
 * seconds, smoothed, times the engines; work is the computed tokens and
 * KVC_CACHED_TOKEN_COST of each cached one) and the usual request (work
 * per request prefilled); the queue starts again from the engine's waiting
 * requests of the usual size.
 */
void kvc_signals_scraped(kvc_instance_signals *e, const kvc_scrape_sample *s,
                         apr_time_t now);

/** The instance's prefill rate in tokens/s: learned, else @a fallback. */
double kvc_signals_rate(const kvc_instance_signals *e, double fallback);

/**
 * The rate to assume of an instance not measured yet: the mean of those
 * that are (engines of one fleet are usually alike, and a newcomer taken
 * for slower than it is gets no work to be measured by), else
 * @a fallback.  Lock-free, as every reader of the table.
 */
double kvc_signals_fleet_rate(const kvc_signals *sig, double fallback);

/** The prefill work (tokens) still queued on the instance at @a now. */
double kvc_signals_backlog(const kvc_instance_signals *e, double rate,
                           apr_time_t now);

/** Adds a request of @a prompt tokens routed here, @a work of prefill
 *  work (global lock held), in flight until kvc_signals_done(). */
void kvc_signals_routed(kvc_instance_signals *e, double work,
                        apr_uint64_t prompt, double rate, apr_time_t now);

/** The request of @a prompt tokens routed here has ended (no lock). */
void kvc_signals_done(kvc_instance_signals *e, apr_uint64_t prompt);

/**
 * The context the engine is decoding: the prompts of the requests this
 * server has in flight there, and as many more of the usual size (of this
 * server's prompts there, else KVC_SIGNALS_USUAL_REQUEST) as the engine's
 * own count of running requests exceeds them (other gateways').
 */
double kvc_signals_decode_tokens(const kvc_instance_signals *e);

/**
 * Load as a ratio of the instance's capacity: (running + waiting) /
 * capacity, so 1.0 means as many requests as it serves at once and more
 * means a queue.
 */
double kvc_signals_load(const kvc_instance_signals *e, apr_uint32_t capacity);

/** Whether the entry was scraped within @a max_age of @a now. */
int kvc_signals_fresh(const kvc_instance_signals *e, apr_time_t now,
                      apr_interval_time_t max_age);

/**
 * The rate limit: 1 (and @a last set to @a now) when no action of this
 * kind went out within @a interval, else 0.
 */
int kvc_signals_take_turn(apr_time_t *last, apr_time_t now,
                          apr_interval_time_t interval);

#endif /* KVC_SIGNALS_H */
