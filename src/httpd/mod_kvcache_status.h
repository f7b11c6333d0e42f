/* Licensed under the Apache License, Version 2.0 (the "License"); you may not
 * use this file except in compliance with the License.  You may obtain a copy
 * of the License at http://www.apache.org/licenses/LICENSE-2.0
 */

/**
 * @file mod_kvcache_status.h
 * @brief What operators see: the kvcache-status handler (JSON, or
 *        Prometheus text), a section in mod_status's server-status, and
 *        the per-request counting behind both (at log time, once per
 *        request, whichever member finally served it).
 */
#ifndef MOD_KVCACHE_STATUS_H
#define MOD_KVCACHE_STATUS_H

#include "apr_pools.h"

#define KVC_STATUS_HANDLER "kvcache-status"

void kvc_status_register_hooks(apr_pool_t *p);

#endif /* MOD_KVCACHE_STATUS_H */
