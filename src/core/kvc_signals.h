/* Licensed under the Apache License, Version 2.0 (the "License"); you may not
 * use this file except in compliance with the License.  You may obtain a copy
 * of the License at http://www.apache.org/licenses/LICENSE-2.0
 */

/**
 * @file kvc_signals.h
 * @brief What each inference instance reports about itself (scraped from
 *        its Prometheus /metrics by one process, read by all), and when
 *        each cache action was last sent to it (the per-instance rate
 *        limit).  A fixed table in shared memory; callers hold the global
 *        lock.  Free of httpd headers.
 */
#ifndef KVC_SIGNALS_H
#define KVC_SIGNALS_H

#include "apr.h"
#include "apr_time.h"

#define KVC_SIGNALS_MAX     64
#define KVC_INSTANCE_ID_MAX 64 /* httpd's route= limit, with the NUL */

typedef struct {
    char id[KVC_INSTANCE_ID_MAX];
    apr_time_t scraped_at;    /* 0: never scraped successfully */
    double kv_usage;          /* vllm:kv_cache_usage_perc, 0..1 */
    double running;           /* vllm:num_requests_running */
    double waiting;           /* vllm:num_requests_waiting */
    apr_time_t last_compress; /* 0: never */
    apr_time_t last_clear;
} kvc_instance_signals;

typedef struct {
    apr_uint32_t count;
    kvc_instance_signals entries[KVC_SIGNALS_MAX];
} kvc_signals;

/**
 * The entry of instance @a id; with @a create, a new one when there is
 * room.  NULL otherwise.
 */
kvc_instance_signals *kvc_signals_find(kvc_signals *sig, const char *id,
                                       int create);

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
