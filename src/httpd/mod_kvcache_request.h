/* Licensed under the Apache License, Version 2.0 (the "License"); you may not
 * use this file except in compliance with the License.  You may obtain a copy
 * of the License at http://www.apache.org/licenses/LICENSE-2.0
 */

/**
 * @file mod_kvcache_request.h
 * @brief What mod_kvcache knows about one request, carried typed from the
 *        fixups (prompt, tokens, matches) to the lbmethod (the choice) to
 *        the log-time counters, in r->request_config.  The request notes
 *        and environment variables other modules and LogFormat read are
 *        written from it, as outputs only.
 */
#ifndef MOD_KVCACHE_REQUEST_H
#define MOD_KVCACHE_REQUEST_H

#include "httpd.h"
#include "http_log.h"

#include "kvc_vocab.h"

/* Names other modules and administrators see (README, "Observability"). */
#define KVC_NOTE_MATCHES      "kvcache-matches"
#define KVC_NOTE_ROUTE        "kvcache-route"
#define KVC_NOTE_PROMPT_HASH  "kvcache-prompt-hash"
#define KVC_NOTE_BEST_MATCHED "kvcache-best-matched"
#define KVC_ENV_ROUTE         "KVCACHE_ROUTE"
#define KVC_ENV_MATCHED       "KVCACHE_MATCHED_TOKENS"
#define KVC_ENV_PROMPT_TOKENS "KVCACHE_PROMPT_TOKENS"
#define KVC_ENV_DECISION      "KVCACHE_DECISION"

/* Logs for the request when there is one (its line then names the client),
 * else for the server: the same code runs on the request path and in
 * background jobs. */
#define KVC_LOG(level, s, r, ...)                                              \
    do {                                                                       \
        if (r) {                                                               \
            ap_log_rerror(APLOG_MARK, level, 0, r, __VA_ARGS__);               \
        }                                                                      \
        else {                                                                 \
            ap_log_error(APLOG_MARK, level, 0, s, __VA_ARGS__);                \
        }                                                                      \
    } while (0)

typedef struct {
    /** Why the score did not choose; KVC_REASON_NONE while nothing failed
     *  (and once the score chose). */
    kvc_reason reason;
    /** The kvcache score chose the member. */
    int routed;
    /** The prompt's key (KVC_KEY_LEN bytes) once the body was read. */
    const unsigned char *key;
    /** Tokens of the prompt; 0 until it was tokenized. */
    apr_size_t prompt_tokens;
    /** kvc_match per instance, from /lookup or another module's
     *  kvcache-matches note; NULL when there are none. */
    const apr_array_header_t *matches;
    /** The best-matching instance among the matches (kvcache-route). */
    const kvc_match *best;
    /** The best match among the balancer's usable members. */
    long best_available;
    /** The member finally chosen, by the score or the fallback: its route
     *  (NULL if it has none) and its match. */
    const char *chosen_route;
    long chosen_matched;
    int chosen;
    /** The keys of the prompt's blocks (kvc_pending.h), kept in flight
     *  on the chosen member until the request ends. */
    const unsigned char *block_keys;
    apr_size_t blocks;
    /** The key of the request's session (KVCacheSessionHeader), or NULL. */
    unsigned char *session_key;
    /** The session's member as the fleet store knows it (NULL: unknown,
     *  or no store), read in the fixups, off the balancer's lock. */
    const char *fleet_session_route;
    /** The cached tokens the engine reported in its answer; -1: none. */
    long found_tokens;
} kvc_request;

/** The request's context, or NULL when mod_kvcache never looked at it. */
kvc_request *kvc_request_get(const request_rec *r);

/** Creates the request's context (all unset). */
kvc_request *kvc_request_open(request_rec *r);

/** Records why the request is not routed. */
void kvc_request_fail(kvc_request *req, kvc_reason reason);

/**
 * KVCACHE_DECISION: "routed", "fallback:<reason>", or NULL when there is
 * nothing to report (no reason and no choice by the score).
 */
const char *kvc_request_decision(const kvc_request *req, apr_pool_t *p);

/**
 * Writes what the fixups learned: the notes kvcache-matches,
 * kvcache-route and kvcache-prompt-hash, KVCACHE_PROMPT_TOKENS and
 * KVCACHE_DECISION.
 */
void kvc_request_publish_lookup(request_rec *r, const kvc_request *req);

/**
 * Writes what the lbmethod chose: KVCACHE_ROUTE, KVCACHE_MATCHED_TOKENS,
 * KVCACHE_DECISION and the note kvcache-best-matched.
 */
void kvc_request_publish_choice(request_rec *r, const kvc_request *req);

#endif /* MOD_KVCACHE_REQUEST_H */
