/* Licensed under the Apache License, Version 2.0 (the "License"); you may not
 * use this file except in compliance with the License.  You may obtain a copy
 * of the License at http://www.apache.org/licenses/LICENSE-2.0
 */

#include <string.h>

#include <openssl/sha.h>

#include "apr_strings.h"

#include "kvc_lru.h"
#include "kvc_sessions.h"

typedef struct {
    char route[KVC_ROUTE_SIZE];
    apr_time_t seen_at;
} kvc_session_slot;

/* Layout: this header, the LRU index, then one slot per index slot. */
struct kvc_sessions {
    apr_uint32_t capacity;
    apr_size_t slots_offset;
};

#define KVC_SESSIONS_HEADER APR_ALIGN_DEFAULT(sizeof(struct kvc_sessions))

void kvc_sessions_key(const char *name, apr_size_t len,
                      unsigned char key[KVC_KEY_LEN])
{
    SHA256((const unsigned char *)name, len, key);
}

apr_size_t kvc_sessions_size(apr_uint32_t capacity)
{
    return KVC_SESSIONS_HEADER + APR_ALIGN_DEFAULT(kvc_lru_size(capacity))
           + (apr_size_t)capacity * sizeof(kvc_session_slot);
}

static kvc_lru *index_of(const kvc_sessions *ss)
{
    return kvc_lru_attach((char *)ss + KVC_SESSIONS_HEADER);
}

static kvc_session_slot *slots_of(const kvc_sessions *ss)
{
    return (kvc_session_slot *)((char *)ss + ss->slots_offset);
}

kvc_sessions *kvc_sessions_init(void *mem, apr_uint32_t capacity)
{
    kvc_sessions *ss = mem;

    ss->capacity = capacity;
    ss->slots_offset =
        KVC_SESSIONS_HEADER + APR_ALIGN_DEFAULT(kvc_lru_size(capacity));
    kvc_lru_init((char *)mem + KVC_SESSIONS_HEADER, capacity);
    memset(slots_of(ss), 0, (apr_size_t)capacity * sizeof(kvc_session_slot));
    return ss;
}

kvc_sessions *kvc_sessions_attach(void *mem)
{
    return mem;
}

int kvc_sessions_get(kvc_sessions *ss, const unsigned char *key, apr_time_t now,
                     apr_interval_time_t ttl, char route[KVC_ROUTE_SIZE])
{
    apr_uint32_t i = kvc_lru_find(index_of(ss), key);
    const kvc_session_slot *slot;

    if (i == KVC_LRU_NONE) {
        return 0;
    }
    slot = &slots_of(ss)[i];
    /* A clock stepped backwards does not make a session immortal. */
    if (now - slot->seen_at > ttl || now < slot->seen_at) {
        return 0;
    }
    apr_cpystrn(route, slot->route, KVC_ROUTE_SIZE);
    return 1;
}

void kvc_sessions_put(kvc_sessions *ss, const unsigned char *key,
                      const char *route, apr_time_t now)
{
    kvc_lru *index = index_of(ss);
    apr_uint32_t i = kvc_lru_find(index, key);
    kvc_session_slot *slot;

    if (i == KVC_LRU_NONE) {
        i = kvc_lru_insert(index, key, NULL, NULL);
    }
    else {
        kvc_lru_touch(index, i);
    }
    slot = &slots_of(ss)[i];
    apr_cpystrn(slot->route, route, KVC_ROUTE_SIZE);
    slot->seen_at = now;
}

apr_uint32_t kvc_sessions_count(const kvc_sessions *ss)
{
    return kvc_lru_count(index_of(ss));
}
