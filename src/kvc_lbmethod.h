/* Licensed under the Apache License, Version 2.0 (the "License"); you may not
 * use this file except in compliance with the License.  You may obtain a copy
 * of the License at http://www.apache.org/licenses/LICENSE-2.0
 */

/**
 * @file kvc_lbmethod.h
 * @brief The "kvcache" lbmethod provider for mod_proxy_balancer.
 */
#ifndef KVC_LBMETHOD_H
#define KVC_LBMETHOD_H

#include "apr_pools.h"

/** Registers the provider (ProxySet lbmethod=kvcache) and its hooks. */
void kvc_lbmethod_register_hooks(apr_pool_t *p);

#endif /* KVC_LBMETHOD_H */
