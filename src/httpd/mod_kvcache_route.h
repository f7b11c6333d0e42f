/* Licensed under the Apache License, Version 2.0 (the "License"); you may not
 * use this file except in compliance with the License.  You may obtain a copy
 * of the License at http://www.apache.org/licenses/LICENSE-2.0
 */

/**
 * @file mod_kvcache_route.h
 * @brief The request path (fixups): body → prompt key → tokens → /lookup →
 *        the request's context, which the kvcache lbmethod turns into a
 *        member choice.
 */
#ifndef MOD_KVCACHE_ROUTE_H
#define MOD_KVCACHE_ROUTE_H

#include "apr_pools.h"

/** Registers the fixups hook. */
void kvc_route_register_hooks(apr_pool_t *p);

#endif /* MOD_KVCACHE_ROUTE_H */
