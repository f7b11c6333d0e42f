/* Licensed under the Apache License, Version 2.0 (the "License"); you may not
 * use this file except in compliance with the License.  You may obtain a copy
 * of the License at http://www.apache.org/licenses/LICENSE-2.0
 */

/**
 * @file mod_kvcache_tokstore.h
 * @brief The token cache: tokenized prompts keyed by a SHA-256 of what
 *        changes tokenization, kept in an httpd socache provider so every
 *        child process shares them (shmcb, the default), or a fleet of
 *        httpd hosts does (redis, memcache).
 *
 * Entries are packed binary token lists with the TTL as socache expiry.
 * The entry count (KVCacheTokenCacheSize) is bounded by an LRU index of
 * keys in the module's shared memory: inserting past the bound removes the
 * least recently used entry this server stored.
 *
 * Locking, as in mod_authn_socache: a provider that is not safe across
 * processes (shmcb) gets a mutex of its own, "kvcache-tokens", held only
 * around its calls; the index takes the shared-memory lock only to look up
 * or update a slot, never across a provider call, so copying a long
 * prompt's tokens holds up neither the index nor anything else in the
 * shared segment (breakers, hot keys, signals).
 */
#ifndef MOD_KVCACHE_TOKSTORE_H
#define MOD_KVCACHE_TOKSTORE_H

#include "httpd.h"

#include "kvc_vocab.h"

#define KVC_TOKSTORE_MUTEX_TYPE "kvcache-tokens"

/** 1 and the tokens on a hit (in @a p), 0 on a miss. */
int kvc_tokstore_get(server_rec *s, const unsigned char *key, apr_pool_t *p,
                     kvc_tokens *tokens);

/** Stores tokens under key; failures only cost a later miss. */
void kvc_tokstore_put(server_rec *s, const unsigned char *key,
                      const kvc_tokens *tokens, apr_pool_t *p);

/** Entries this server has stored and not evicted (for status). */
apr_uint32_t kvc_tokstore_entries(void);

/** Registers the provider's set-up (KVCacheTokenCacheStore is checked in
 *  check_config), its mutex and its per-process attachment. */
void kvc_tokstore_register_hooks(apr_pool_t *p);

#endif /* MOD_KVCACHE_TOKSTORE_H */
