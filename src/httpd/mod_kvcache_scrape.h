/* Licensed under the Apache License, Version 2.0 (the "License"); you may not
 * use this file except in compliance with the License.  You may obtain a copy
 * of the License at http://www.apache.org/licenses/LICENSE-2.0
 */

/**
 * @file mod_kvcache_scrape.h
 * @brief The queue, load and memory signals of the inference instances
 *        (for the cost model and the cache actions): one
 *        watchdog thread for the whole server (mod_watchdog singleton)
 *        reads every kvcache balancer member's Prometheus /metrics (the
 *        BalancerMember URL plus "/metrics", no second list to keep in
 *        sync) and publishes the results in shared memory.
 */
#ifndef MOD_KVCACHE_SCRAPE_H
#define MOD_KVCACHE_SCRAPE_H

#include "apr_pools.h"

void kvc_scrape_register_hooks(apr_pool_t *p);

#endif /* MOD_KVCACHE_SCRAPE_H */
