/* Licensed under the Apache License, Version 2.0 (the "License"); you may not
 * use this file except in compliance with the License.  You may obtain a copy
 * of the License at http://www.apache.org/licenses/LICENSE-2.0
 */

/**
 * @file mod_kvcache_plane.h
 * @brief The two questions mod_kvcache asks the cache plane: which tokens
 *        vLLM makes of a request body (/tokenize), and how much of them
 *        each instance holds (LMCache /lookup).  Asked on the request path
 *        and by background jobs alike; every failure is a fallback reason,
 *        never an error for the client.
 */
#ifndef MOD_KVCACHE_PLANE_H
#define MOD_KVCACHE_PLANE_H

#include "httpd.h"

#include "kvc_vocab.h"
#include "mod_kvcache_config.h"

/**
 * Tokens as vLLM would prefill them: the client's own body goes to
 * /tokenize, so chat templates, tools and template options all count.
 * @param r  the request, for its log lines; NULL in the background
 * @return KVC_REASON_NONE with @a tokens set, or why there are none
 */
kvc_reason kvc_plane_tokenize(server_rec *s, const request_rec *r,
                              const kvc_dir_conf *conf, const char *body,
                              apr_size_t len, apr_interval_time_t budget,
                              apr_pool_t *p, kvc_tokens *tokens);

/**
 * The instances holding a prefix of @a tokens (matched counts clamped to
 * the prompt length).
 * @return KVC_REASON_NONE with @a matches set (at least one), or why there
 *         are none (KVC_REASON_LOOKUP_EMPTY when nobody holds anything)
 */
kvc_reason kvc_plane_lookup(server_rec *s, const request_rec *r,
                            const kvc_dir_conf *conf, const kvc_tokens *tokens,
                            apr_interval_time_t budget, apr_pool_t *p,
                            apr_array_header_t **matches);

#endif /* MOD_KVCACHE_PLANE_H */
