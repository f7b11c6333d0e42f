/* Licensed under the Apache License, Version 2.0 (the "License"); you may not
 * use this file except in compliance with the License.  You may obtain a copy
 * of the License at http://www.apache.org/licenses/LICENSE-2.0
 */

/**
 * @file mod_kvcache_fleet.h
 * @brief State shared by several httpd nodes through Redis
 *        (KVCacheFleetStore): hot counts and the pin claim of each window,
 *        the /compress and /clear turns, and the member of each session.
 *
 * Every call has the short budget KVCacheFleetTimeout (connecting
 * included) and goes through the "fleet" circuit breaker in shared
 * memory.  A call returns 0 when Redis did not answer (down, slow, breaker
 * open, store unset): the caller then decides on the node's own shared
 * memory, as a single node does.  Leaving and rejoining the fleet is
 * logged once per node; the fleet role's counters count every call.
 * Connections are per process (hiredis contexts, a small idle stack),
 * opened on first use after the fork.
 */
#ifndef MOD_KVCACHE_FLEET_H
#define MOD_KVCACHE_FLEET_H

#include "httpd.h"

#include "kvc_fleet.h"
#include "kvc_hotset.h"

/** Whether KVCacheFleetStore is set (and this process can use it). */
int kvc_fleet_enabled(void);

/**
 * Counts one request for prompt @a key in the fleet's hot window and, when
 * the count reaches @a policy->threshold (0: never), claims the window's
 * pin for the whole fleet: one round trip, atomic in Redis.
 * @param count  the fleet's count of the key in its window
 * @param due    1 when this node won the claim and is to send the /pin
 * @return 1 when Redis answered
 */
int kvc_fleet_hot(server_rec *s, const unsigned char *key,
                  const kvc_hot_policy *policy, apr_uint32_t *count, int *due,
                  apr_pool_t *p);

/**
 * Claims @a instance's turn of an action (KVC_FLEET_COMPRESS or
 * KVC_FLEET_CLEAR) for @a interval, fleet-wide.
 * @param granted  1 when no node acted within the interval
 * @return 1 when Redis answered
 */
int kvc_fleet_claim(server_rec *s, kvc_fleet_kind kind, const char *instance,
                    apr_interval_time_t interval, int *granted, apr_pool_t *p);

/**
 * The member that last served session @a key anywhere in the fleet (NULL:
 * none within @a ttl), which then stays remembered for another @a ttl.
 * @return 1 when Redis answered
 */
int kvc_fleet_session_get(server_rec *s, const unsigned char *key,
                          apr_interval_time_t ttl, apr_pool_t *p,
                          const char **route);

/** Records, off the request path (background queue), that @a route
 *  served session @a key. */
void kvc_fleet_session_put(server_rec *s, const unsigned char *key,
                           const char *route, apr_interval_time_t ttl);

void kvc_fleet_register_hooks(apr_pool_t *p);

#endif /* MOD_KVCACHE_FLEET_H */
