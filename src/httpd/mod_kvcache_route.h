/* Licensed under the Apache License, Version 2.0 (the "License"); you may not
 * use this file except in compliance with the License.  You may obtain a copy
 * of the License at http://www.apache.org/licenses/LICENSE-2.0
 */

/**
 * @file mod_kvcache_route.h
 * @brief The request path: body → prompt → tokens → /lookup → request notes
 *        that the kvcache lbmethod turns into a member choice.
 */
#ifndef MOD_KVCACHE_ROUTE_H
#define MOD_KVCACHE_ROUTE_H

#include "httpd.h"

#include "kvc_stats.h"

/* Names other modules and administrators see (docs/interface). */
#define KVC_NOTE_MATCHES     "kvcache-matches"
#define KVC_NOTE_ROUTE       "kvcache-route"
#define KVC_NOTE_PROMPT_HASH "kvcache-prompt-hash" /* for logs */
/* The best match among the balancer's usable members (available hit). */
#define KVC_NOTE_BEST_MATCHED "kvcache-best-matched"
#define KVC_ENV_ROUTE         "KVCACHE_ROUTE"
#define KVC_ENV_MATCHED       "KVCACHE_MATCHED_TOKENS"
#define KVC_ENV_PROMPT_TOKENS "KVCACHE_PROMPT_TOKENS"
#define KVC_ENV_DECISION      "KVCACHE_DECISION"

/** Sets KVCACHE_DECISION to "fallback:<reason>". */
void kvc_route_fallback(request_rec *r, kvc_reason reason);

/** Registers the fixups hook and the per-process setup. */
void kvc_route_register_hooks(apr_pool_t *p);

#endif /* MOD_KVCACHE_ROUTE_H */
