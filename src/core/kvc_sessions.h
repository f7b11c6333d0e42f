/* Licensed under the Apache License, Version 2.0 (the "License"); you may not
 * use this file except in compliance with the License.  You may obtain a copy
 * of the License at http://www.apache.org/licenses/LICENSE-2.0
 */

/**
 * @file kvc_sessions.h
 * @brief Session affinity: which member last served each agent or chat
 *        session (KVCacheSessionHeader), for KVCacheSessionTTL.
 *
 * One fixed block of shared memory sized from KVCacheSessionMaxKeys,
 * keyed by a hash of the session's name (never the name itself); when
 * it is full the least recently seen session makes room.  No pointers
 * inside (every process maps it elsewhere); callers hold the global lock
 * around every call.  Free of httpd headers.
 */
#ifndef KVC_SESSIONS_H
#define KVC_SESSIONS_H

#include "apr.h"
#include "apr_time.h"

#include "kvc_vocab.h"

typedef struct kvc_sessions kvc_sessions;

/** The key of a session name (a SHA-256: names are never kept). */
void kvc_sessions_key(const char *name, apr_size_t len,
                      unsigned char key[KVC_KEY_LEN]);

/** Bytes needed for @a capacity sessions. */
apr_size_t kvc_sessions_size(apr_uint32_t capacity);

/** Formats a zeroed block. */
kvc_sessions *kvc_sessions_init(void *mem, apr_uint32_t capacity);

/** The block as another process maps it. */
kvc_sessions *kvc_sessions_attach(void *mem);

/**
 * The route of the member that last served session @a key, copied into
 * @a route; 0 when the session is unknown or was last seen more than
 * @a ttl ago.
 */
int kvc_sessions_get(kvc_sessions *ss, const unsigned char *key, apr_time_t now,
                     apr_interval_time_t ttl, char route[KVC_ROUTE_SIZE]);

/** Records that @a route served session @a key at @a now. */
void kvc_sessions_put(kvc_sessions *ss, const unsigned char *key,
                      const char *route, apr_time_t now);

/** Sessions tracked. */
apr_uint32_t kvc_sessions_count(const kvc_sessions *ss);

#endif /* KVC_SESSIONS_H */
