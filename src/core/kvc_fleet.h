/* Licensed under the Apache License, Version 2.0 (the "License"); you may not
 * use this file except in compliance with the License.  You may obtain a copy
 * of the License at http://www.apache.org/licenses/LICENSE-2.0
 */

/**
 * @file kvc_fleet.h
 * @brief The httpd-free part of the fleet store (KVCacheFleetStore): what
 *        the directive's value means, how the shared keys are named, and
 *        when a node says it left or rejoined the fleet.
 *
 * Several httpd nodes share their hot counts, pin claims, action rate
 * limits and session members through one Redis.  The names below are
 * the whole protocol between the nodes: every node must build the same
 * key from the same prompt, so they are fixed here and unit tested.
 * Keys carry hashes only (prompt keys, session keys), never text.
 */
#ifndef KVC_FLEET_H
#define KVC_FLEET_H

#include "apr.h"
#include "apr_pools.h"

#include "kvc_vocab.h"

#ifdef __cplusplus
extern "C" {
#endif

#define KVC_FLEET_DEFAULT_PREFIX "kvcache"
#define KVC_FLEET_PREFIX_MAX     64

/** A parsed KVCacheFleetStore value. */
typedef struct {
    const char *host;
    int port;
    const char *prefix; /**< first part of every key, without the ':' */
} kvc_fleet_spec;

/**
 * Parses "redis:HOST:PORT[/PREFIX]".  HOST is a name or an IPv4 address,
 * or an IPv6 address in brackets; PORT 1..65535; PREFIX 1 to 64 of
 * A-Z a-z 0-9 . _ - (default "kvcache"), so that fleets sharing one Redis
 * keep apart.
 * @return NULL, or why the value is wrong ("must be ..."), in @a p
 */
const char *kvc_fleet_parse(const char *value, apr_pool_t *p,
                            kvc_fleet_spec *out);

/** What a shared key is for. */
typedef enum {
    KVC_FLEET_HOT,      /**< a prompt's count in its hot window */
    KVC_FLEET_PIN,      /**< the claim of a prompt's pin in this window */
    KVC_FLEET_SESSION,  /**< the member that last served a session */
    KVC_FLEET_COMPRESS, /**< an instance's /compress turn */
    KVC_FLEET_CLEAR     /**< an instance's /clear turn */
} kvc_fleet_kind;

/**
 * The Redis key: "PREFIX:hot:HEX", "PREFIX:pin:HEX", "PREFIX:session:HEX"
 * (HEX: the KVC_KEY_LEN bytes of @a key in lower-case hex), or
 * "PREFIX:compress:INSTANCE", "PREFIX:clear:INSTANCE" (@a instance, a
 * valid route id; @a key unused).
 */
const char *kvc_fleet_key(apr_pool_t *p, const char *prefix,
                          kvc_fleet_kind kind, const unsigned char *key,
                          const char *instance);

/** What one call's outcome changes in a node's view of the fleet. */
typedef enum {
    KVC_FLEET_UNCHANGED,
    KVC_FLEET_LEFT,    /**< first failure: now on local state */
    KVC_FLEET_REJOINED /**< first success after failures: shared again */
} kvc_fleet_transition;

/**
 * Records one call's outcome in @a degraded (0: shared, 1: local), a word
 * every process of the node sees (shared memory): only the call that
 * flips it gets LEFT or REJOINED, so each outage is logged once per
 * node however many processes and threads see it.  Lock-free.
 */
kvc_fleet_transition kvc_fleet_note(volatile apr_uint32_t *degraded,
                                    int success);

#ifdef __cplusplus
}
#endif

#endif /* KVC_FLEET_H */
