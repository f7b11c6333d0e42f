/* Licensed under the Apache License, Version 2.0 (the "License"); you may
 * not use this file except in compliance with the License.  You may obtain
 * a copy of the License at http://www.apache.org/licenses/LICENSE-2.0
 */

/**
 * @file mod_kvcache_manage.h
 * @brief Cache management decisions, made on the request path from shared
 *        state and carried out in the background: pin content that became
 *        hot (once per key per hot window, across processes), compress
 *        under load and clear under memory pressure (each at most once per
 *        KVCacheActionInterval per instance), all from what the instances
 *        themselves report.
 */
#ifndef MOD_KVCACHE_MANAGE_H
#define MOD_KVCACHE_MANAGE_H

#include "httpd.h"

#include "mod_kvcache_config.h"
#include "kvc_wire.h"

/**
 * Counts the request's prompt and queues whatever actions are due.
 * @param key  the token-cache key of the prompt
 * @param best  the lookup's best match, NULL when there was none
 */
void kvc_manage_request(request_rec *r, const kvc_dir_conf *conf,
                        const unsigned char key[32], const kvc_tokens *tokens,
                        const kvc_match *best);

#endif /* MOD_KVCACHE_MANAGE_H */
