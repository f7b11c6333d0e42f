/* Licensed under the Apache License, Version 2.0 (the "License"); you may not
 * use this file except in compliance with the License.  You may obtain a copy
 * of the License at http://www.apache.org/licenses/LICENSE-2.0
 */

/**
 * @file kvc_pending.h
 * @brief Prefixes in flight: the prompts this server sent to a member and
 *        that member has not answered yet.
 *
 * An engine stores a prompt's KV cache as it prefills it, and the LMCache
 * controller (or the engine's KV events) only knows it then.  A request
 * that waits in an engine's queue is invisible to both, so the next
 * request with the same prefix (a shared-prefix group, a second turn
 * sent early) finds nobody holding it, goes elsewhere, and the cluster
 * prefills and stores the prefix twice, evicting something else for the
 * copy.  The routers that own their cache state count such requests too
 * (SGLang's approximate tree inserts at routing time, Dynamo tracks the
 * blocks of active sequences); this table is that memory for routing by
 * /lookup: what was sent where, until its answer ends.
 *
 * A prompt is cut into blocks of KVC_PENDING_BLOCK tokens, and block i is
 * keyed by the SHA-256 of block i-1's key and block i's token ids, so a
 * key names a whole prefix (prompts never appear; uniform keys need no
 * seed).  Each key remembers one member, the last one sent it, and how
 * many of its requests there are in flight.  The table is a fixed block
 * of shared memory: when full, the least recently routed key goes.
 * Callers hold the global lock around every call but kvc_pending_keys().
 * Free of httpd headers.
 */
#ifndef KVC_PENDING_H
#define KVC_PENDING_H

#include "apr.h"
#include "apr_pools.h"

#include "kvc_vocab.h"

/** Tokens per block: LMCache's default chunk, the controller's grain. */
#define KVC_PENDING_BLOCK 256

/** Blocks the table remembers: 4M tokens in flight. */
#define KVC_PENDING_CAPACITY 16384

typedef struct kvc_pending kvc_pending;

/** The keys of a prompt's whole blocks, KVC_KEY_LEN bytes each, in
 *  @a *keys (from @a p); returns how many (0: shorter than a block). */
apr_size_t kvc_pending_keys(const kvc_tokens *tokens, apr_pool_t *p,
                            unsigned char **keys);

/** Bytes needed for @a capacity blocks. */
apr_size_t kvc_pending_size(apr_uint32_t capacity);

/** Formats a block of kvc_pending_size() bytes. */
kvc_pending *kvc_pending_init(void *mem, apr_uint32_t capacity);

/** The block as another process maps it. */
kvc_pending *kvc_pending_attach(void *mem);

/** A request with these @a blocks keys was sent to @a route. */
void kvc_pending_add(kvc_pending *pd, const unsigned char *keys,
                     apr_size_t blocks, const char *route);

/** That request was answered (or failed): its blocks are the engine's
 *  to report now, unless other requests still carry them there. */
void kvc_pending_done(kvc_pending *pd, const unsigned char *keys,
                      apr_size_t blocks, const char *route);

/**
 * The longest prefix of the prompt with these keys that requests in
 * flight carry to one member: its route in @a route and the prefix's
 * tokens as the result (0, and @a route untouched, when none).
 */
long kvc_pending_match(kvc_pending *pd, const unsigned char *keys,
                       apr_size_t blocks, char route[KVC_ROUTE_SIZE]);

/** Blocks remembered. */
apr_uint32_t kvc_pending_count(const kvc_pending *pd);

#endif /* KVC_PENDING_H */
