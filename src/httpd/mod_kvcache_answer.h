/* Licensed under the Apache License, Version 2.0 (the "License"); you may not
 * use this file except in compliance with the License.  You may obtain a copy
 * of the License at http://www.apache.org/licenses/LICENSE-2.0
 */

/**
 * @file mod_kvcache_answer.h
 * @brief What the engine found: an output filter that reads the cached
 *        tokens vLLM reports in its answer (usage.prompt_tokens_details.
 *        cached_tokens, in a JSON body or the last event of a stream) as
 *        the answer passes, without holding back a byte, into the request's
 *        context and KVCACHE_FOUND_TOKENS.  Set against what the route
 *        predicted, it tells an operator whether routing silently misses.
 */
#ifndef MOD_KVCACHE_ANSWER_H
#define MOD_KVCACHE_ANSWER_H

#include "httpd.h"

#define KVC_ENV_FOUND_TOKENS "KVCACHE_FOUND_TOKENS"

/** Watches the answer of this request (one the module looked at). */
void kvc_answer_watch(request_rec *r);

/** Registers the output filter. */
void kvc_answer_register_hooks(apr_pool_t *p);

#endif /* MOD_KVCACHE_ANSWER_H */
