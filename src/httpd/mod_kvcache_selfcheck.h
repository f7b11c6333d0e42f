/* Licensed under the Apache License, Version 2.0 (the "License"); you may not
 * use this file except in compliance with the License.  You may obtain a copy
 * of the License at http://www.apache.org/licenses/LICENSE-2.0
 */

/**
 * @file mod_kvcache_selfcheck.h
 * @brief The startup self-check: once per generation (startup and every
 *        restart), on a mod_watchdog singleton thread so that it never
 *        delays startup or a request, it looks for what makes KV routing
 *        miss without an error: kvcache balancers without members or
 *        members without route=, a controller that does not answer or does
 *        not know a route= id, a /tokenize that fails, a member /metrics
 *        that cannot be read.  Each problem is one warning
 *        "[kvcache] self-check: ..." naming the directive or member, and
 *        the counts are kvcache_selfcheck_problems{check=...} in the
 *        status handler.
 */
#ifndef MOD_KVCACHE_SELFCHECK_H
#define MOD_KVCACHE_SELFCHECK_H

#include "apr_pools.h"

void kvc_selfcheck_register_hooks(apr_pool_t *p);

#endif /* MOD_KVCACHE_SELFCHECK_H */
