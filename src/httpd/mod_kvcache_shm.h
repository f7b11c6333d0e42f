/* Licensed under the Apache License, Version 2.0 (the "License"); you may not
 * use this file except in compliance with the License.  You may obtain a copy
 * of the License at http://www.apache.org/licenses/LICENSE-2.0
 */

/**
 * @file mod_kvcache_shm.h
 * @brief The state all httpd child processes share: one shared memory
 *        segment guarded by the global mutex "kvcache-shm" (tunable with
 *        httpd's Mutex directive).
 *
 * Lifecycle, as in httpd's own mod_example_ipc and mod_authn_socache: the
 * mutex type is registered in pre_config; the segment and mutex are made
 * in the real (not the preflight) post_config pass and die with pconf; each
 * child re-attaches the mutex in child_init.  A restart, graceful or not,
 * makes a new segment: what it holds (breaker states, counters, hot keys)
 * starts afresh, and during a graceful restart the old children finish
 * their requests on the old segment: hot counts and rate limits are
 * relearnt within one hot window or action interval.
 */
#ifndef MOD_KVCACHE_SHM_H
#define MOD_KVCACHE_SHM_H

#include "httpd.h"

#include "kvc_breaker.h"
#include "kvc_hotset.h"
#include "kvc_lru.h"
#include "kvc_pending.h"
#include "kvc_selfcheck.h"
#include "kvc_sessions.h"
#include "kvc_signals.h"
#include "kvc_stats.h"

#define KVC_SHM_MUTEX_TYPE "kvcache-shm"

/** Takes the global lock; APR_SUCCESS or the reason it failed. */
apr_status_t kvc_shm_lock(void);
void kvc_shm_unlock(void);

/** Whether the segment exists in this process (false in the parent
 *  before post_config and when creation failed). */
int kvc_shm_ready(void);

kvc_breaker *kvc_shm_breaker(kvc_role role);

/** The counters; NULL where there is no segment. */
kvc_stats *kvc_shm_stats(void);

/** The hot-key table (KVCacheHotMaxKeys keys). */
kvc_hotset *kvc_shm_hotset(void);

/** Which member last served each session (KVCacheSessionMaxKeys). */
kvc_sessions *kvc_shm_sessions(void);

/** The prefixes of requests in flight (kvc_pending.h). */
kvc_pending *kvc_shm_pending(void);

/** What the scraper learned of each instance, and the action rate
 *  limits. */
kvc_signals *kvc_shm_signals(void);
/** Where the startup self-check of this generation stands. */
kvc_selfcheck_state *kvc_shm_selfcheck(void);

/** Whether this node is cut off from its fleet store (kvc_fleet.h). */
volatile apr_uint32_t *kvc_shm_fleet_degraded(void);

/** The token cache's shared index (entry count bound) and the packed
 *  size of each slot's entry. */
kvc_lru *kvc_shm_token_index(void);
apr_uint32_t *kvc_shm_token_sizes(void);

/** Registers the mutex type and the lifecycle hooks. */
void kvc_shm_register_hooks(apr_pool_t *p);

#endif /* MOD_KVCACHE_SHM_H */
