/* Licensed under the Apache License, Version 2.0 (the "License"); you may not
 * use this file except in compliance with the License.  You may obtain a copy
 * of the License at http://www.apache.org/licenses/LICENSE-2.0
 */

/**
 * @file mod_kvcache_upstream.h
 * @brief Calls to the cache plane under a time budget: the role's circuit
 *        breaker (shared by all processes) admits or refuses the call,
 *        LMCache calls are retried with jittered backoff inside the
 *        budget, and every outcome feeds the breaker.
 */
#ifndef MOD_KVCACHE_UPSTREAM_H
#define MOD_KVCACHE_UPSTREAM_H

#include "httpd.h"

#include "kvc_http.h"
#include "kvc_vocab.h"

typedef enum {
    KVC_UPSTREAM_OK,
    KVC_UPSTREAM_BREAKER_OPEN, /* refused without a call */
    KVC_UPSTREAM_TIMEOUT,      /* the budget ran out */
    KVC_UPSTREAM_ERROR,        /* transport error, bad status, too large */
    KVC_UPSTREAM_GARBAGE       /* 2xx, but the parser rejected the body */
} kvc_upstream_result;

typedef struct {
    kvc_upstream_result result;
    int attempts;           /* calls actually made */
    kvc_http_response http; /* the last call's response */
} kvc_upstream_outcome;

/**
 * Whether the role's breaker would refuse a call now (a lock-free read):
 * lets the request path skip work whose result it could not use.
 */
int kvc_upstream_refused(kvc_role role);

/**
 * Turns a 2xx body into the caller's result.
 * @return 0 when the body is usable (an empty answer is usable), else
 *         non-zero: the upstream is answering garbage, a breaker failure
 */
typedef int kvc_upstream_parse_fn(const kvc_http_response *resp, void *baton);

/**
 * POSTs @a body to @a url as the given role within @a budget.
 * @return the outcome's result; details in @a out
 */
kvc_upstream_result kvc_upstream_call(server_rec *s, kvc_role role,
                                      const char *url, const char *body,
                                      apr_size_t len,
                                      apr_interval_time_t budget,
                                      apr_size_t max_response,
                                      kvc_upstream_parse_fn *parse, void *baton,
                                      apr_pool_t *p, kvc_upstream_outcome *out);

/** Registers libcurl's global set-up (post_config) and the per-process
 *  client pool (child_init). */
void kvc_upstream_register_hooks(apr_pool_t *p);

#endif /* MOD_KVCACHE_UPSTREAM_H */
