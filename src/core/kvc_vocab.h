/* Licensed under the Apache License, Version 2.0 (the "License"); you may not
 * use this file except in compliance with the License.  You may obtain a copy
 * of the License at http://www.apache.org/licenses/LICENSE-2.0
 */

/**
 * @file kvc_vocab.h
 * @brief The words every part of mod_kvcache shares: a prompt's tokens, an
 *        instance's match, the upstream roles, why a request was not routed
 *        and the cache actions, with the limits that go with them.  The
 *        ground floor: it includes nothing of mod_kvcache's own.
 *        Free of httpd headers.
 */
#ifndef KVC_VOCAB_H
#define KVC_VOCAB_H

#include "apr.h"

#ifdef __cplusplus
extern "C" {
#endif

/** Length of a prompt key, the SHA-256 of what changes its tokens. */
#define KVC_KEY_LEN 32

/** Hex digits of a prompt key in logs and notes: enough to tell prompts
 *  apart, never the prompt itself. */
#define KVC_KEY_LOG_CHARS 16

/** Longest instance id: httpd's BalancerMember route= holds 63 chars. */
#define KVC_ROUTE_ID_MAX 63
/** Bytes that hold a route id and its NUL. */
#define KVC_ROUTE_SIZE (KVC_ROUTE_ID_MAX + 1)

/** What an engine spends loading a cached token of a prompt, against
 *  computing one: LMCache copies KV from its CPU tier about ten times
 *  faster than a mid-range GPU prefills.  Prefill work is counted in
 *  computed tokens plus this share of the cached ones, so that a member
 *  serving mostly hits is not taken for a slow one. */
#define KVC_CACHED_TOKEN_COST 0.1

/** Largest token id and largest matched-token count accepted (2^31-1). */
#define KVC_TOKEN_MAX 2147483647L

/** Token ids of one prompt. */
typedef struct {
    apr_int32_t *ids; /**< count ids, NULL when count is 0 */
    apr_size_t count;
} kvc_tokens;

/** How much of a prompt one instance holds. */
typedef struct {
    const char *instance_id; /**< passes kvc_route_id_valid() */
    const char *location;    /**< LMCache backend, NULL when unknown */
    long matched;            /**< 0..KVC_TOKEN_MAX leading tokens */
} kvc_match;

/** The upstream roles; each has its own circuit breaker and counters. */
typedef enum {
    KVC_ROLE_TOKENIZE, /**< vLLM /tokenize */
    KVC_ROLE_LOOKUP,   /**< LMCache /lookup on the request path */
    KVC_ROLE_MANAGE,   /**< LMCache /pin, /compress, /clear */
    KVC_ROLE_FLEET,    /**< the fleet store (KVCacheFleetStore, Redis) */
    KVC_ROLE_COUNT
} kvc_role;

/** Why a request was not routed by the kvcache score: KVCACHE_DECISION
 *  reads "fallback:<name>".  KVC_REASON_NONE: no reason (yet). */
typedef enum {
    KVC_REASON_NONE = 0,
    KVC_REASON_NOT_JSON,
    KVC_REASON_ENCODED_BODY,
    KVC_REASON_BODY_TOO_LARGE,
    KVC_REASON_INVALID_JSON,
    KVC_REASON_NOT_OBJECT,
    KVC_REASON_EMPTY_PROMPT,
    KVC_REASON_INTERNAL_ERROR,
    KVC_REASON_NOT_CONFIGURED,
    KVC_REASON_TOKENIZE_TIMEOUT,
    KVC_REASON_TOKENIZE_ERROR,
    KVC_REASON_TOKENIZE_BREAKER_OPEN,
    KVC_REASON_TOKENIZE_PENDING,
    KVC_REASON_TOKENIZE_OFF,
    KVC_REASON_LOOKUP_TIMEOUT,
    KVC_REASON_LOOKUP_ERROR,
    KVC_REASON_LOOKUP_BREAKER_OPEN,
    KVC_REASON_LOOKUP_EMPTY,
    KVC_REASON_UNKNOWN_INSTANCE,
    KVC_REASON_MEMBER_UNUSABLE,
    KVC_REASON_BELOW_MIN_MATCH,
    KVC_REASON_NO_USABLE_MEMBER,
    KVC_REASON_BAD_MATCHES_NOTE,
    KVC_REASON_COUNT
} kvc_reason;

/** Cache-management actions and what became of them. */
typedef enum {
    KVC_ACTION_PIN,
    KVC_ACTION_COMPRESS,
    KVC_ACTION_CLEAR,
    KVC_ACTION_COUNT
} kvc_action;

typedef enum {
    KVC_ACTION_SENT,
    KVC_ACTION_FAILED,
    KVC_ACTION_DROPPED,
    KVC_ACTION_OUTCOME_COUNT
} kvc_action_outcome;

/** "none", "not-json", ... as KVCACHE_DECISION and the metrics spell it. */
const char *kvc_reason_name(kvc_reason reason);
/** "tokenize", "lookup", "manage", "fleet". */
const char *kvc_role_name(kvc_role role);
/** "pin", "compress", "clear". */
const char *kvc_action_name(kvc_action action);
/** "sent", "failed", "dropped". */
const char *kvc_action_outcome_name(kvc_action_outcome outcome);

#ifdef __cplusplus
}
#endif

#endif /* KVC_VOCAB_H */
