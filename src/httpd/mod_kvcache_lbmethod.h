/* Licensed under the Apache License, Version 2.0 (the "License"); you may not
 * use this file except in compliance with the License.  You may obtain a copy
 * of the License at http://www.apache.org/licenses/LICENSE-2.0
 */

/**
 * @file mod_kvcache_lbmethod.h
 * @brief The "kvcache" lbmethod provider for mod_proxy_balancer.
 */
#ifndef MOD_KVCACHE_LBMETHOD_H
#define MOD_KVCACHE_LBMETHOD_H

#include "apr_pools.h"

/** Registers the provider (ProxySet lbmethod=kvcache) and its hooks. */
void kvc_lbmethod_register_hooks(apr_pool_t *p);

#endif /* MOD_KVCACHE_LBMETHOD_H */
