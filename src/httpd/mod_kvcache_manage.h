/* Licensed under the Apache License, Version 2.0 (the "License"); you may
 * not use this file except in compliance with the License.  You may obtain
 * a copy of the License at http://www.apache.org/licenses/LICENSE-2.0
 */

/**
 * @file mod_kvcache_manage.h
 * @brief Cache management decisions, made from shared state and carried
 *        out in the background: pin content that became hot (once per key
 *        per hot window, across processes), compress under load and clear
 *        under memory pressure (each at most once per KVCacheActionInterval
 *        per instance), all from what the instances themselves report.
 */
#ifndef MOD_KVCACHE_MANAGE_H
#define MOD_KVCACHE_MANAGE_H

#include "httpd.h"

#include "kvc_vocab.h"
#include "mod_kvcache_config.h"

/**
 * Counts a request for its prompt and queues whatever actions are due.
 * Called with the tokens of the prompt: on the request path, or by the
 * background job that tokenized it (KVCacheTokenize async).
 * @param r  the request, for its log lines; NULL in the background
 * @param key  the prompt's key (KVC_KEY_LEN bytes)
 * @param best  the lookup's best match, NULL when there was none
 */
void kvc_manage_prompt(server_rec *s, const request_rec *r,
                       const kvc_dir_conf *conf, const unsigned char *key,
                       const kvc_tokens *tokens, const kvc_match *best,
                       apr_pool_t *p);

#endif /* MOD_KVCACHE_MANAGE_H */
