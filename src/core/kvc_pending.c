/* Licensed under the Apache License, Version 2.0 (the "License"); you may not
 * use this file except in compliance with the License.  You may obtain a copy
 * of the License at http://www.apache.org/licenses/LICENSE-2.0
 */

#include <string.h>

#include <openssl/sha.h>

#include "apr_strings.h"

#include "kvc_lru.h"
#include "kvc_pending.h"

typedef struct {
    char route[KVC_ROUTE_SIZE];
    apr_uint32_t inflight;
} kvc_pending_slot;

/* Layout: this header, the LRU index, then one slot per index slot. */
struct kvc_pending {
    apr_uint32_t capacity;
    apr_size_t slots_offset;
};

#define KVC_PENDING_HEADER APR_ALIGN_DEFAULT(sizeof(struct kvc_pending))

apr_size_t kvc_pending_keys(const kvc_tokens *tokens, apr_pool_t *p,
                            unsigned char **keys)
{
    apr_size_t blocks = tokens->count / KVC_PENDING_BLOCK, i;
    /* The previous key, then the block's ids. */
    unsigned char link[KVC_KEY_LEN + KVC_PENDING_BLOCK * sizeof(apr_int32_t)];
    unsigned char *out;

    *keys = NULL;
    if (!blocks) {
        return 0;
    }
    out = apr_palloc(p, blocks * KVC_KEY_LEN);
    for (i = 0; i < blocks; i++) {
        apr_size_t at = i ? KVC_KEY_LEN : 0;

        if (i) {
            memcpy(link, out + (i - 1) * KVC_KEY_LEN, KVC_KEY_LEN);
        }
        memcpy(link + at, tokens->ids + i * KVC_PENDING_BLOCK,
               KVC_PENDING_BLOCK * sizeof(apr_int32_t));
        SHA256(link, at + KVC_PENDING_BLOCK * sizeof(apr_int32_t),
               out + i * KVC_KEY_LEN);
    }
    *keys = out;
    return blocks;
}

apr_size_t kvc_pending_size(apr_uint32_t capacity)
{
    return KVC_PENDING_HEADER + APR_ALIGN_DEFAULT(kvc_lru_size(capacity))
           + (apr_size_t)capacity * sizeof(kvc_pending_slot);
}

static kvc_lru *index_of(const kvc_pending *pd)
{
    return kvc_lru_attach((char *)pd + KVC_PENDING_HEADER);
}

static kvc_pending_slot *slots_of(const kvc_pending *pd)
{
    return (kvc_pending_slot *)((char *)pd + pd->slots_offset);
}

kvc_pending *kvc_pending_init(void *mem, apr_uint32_t capacity)
{
    kvc_pending *pd = mem;

    pd->capacity = capacity;
    pd->slots_offset =
        KVC_PENDING_HEADER + APR_ALIGN_DEFAULT(kvc_lru_size(capacity));
    kvc_lru_init((char *)mem + KVC_PENDING_HEADER, capacity);
    memset(slots_of(pd), 0, (apr_size_t)capacity * sizeof(kvc_pending_slot));
    return pd;
}

kvc_pending *kvc_pending_attach(void *mem)
{
    return mem;
}

void kvc_pending_add(kvc_pending *pd, const unsigned char *keys,
                     apr_size_t blocks, const char *route)
{
    kvc_lru *lru = index_of(pd);
    apr_size_t i;

    for (i = 0; i < blocks; i++) {
        const unsigned char *key = keys + i * KVC_KEY_LEN;
        apr_uint32_t slot = kvc_lru_find(lru, key);
        kvc_pending_slot *s;

        if (slot == KVC_LRU_NONE) {
            slot = kvc_lru_insert(lru, key, NULL, NULL);
            if (slot == KVC_LRU_NONE) {
                return;
            }
            s = &slots_of(pd)[slot];
            s->inflight = 0;
            s->route[0] = '\0';
        }
        else {
            kvc_lru_touch(lru, slot);
            s = &slots_of(pd)[slot];
        }
        /* The latest choice is where the next request should follow. */
        if (strcmp(s->route, route)) {
            apr_cpystrn(s->route, route, sizeof(s->route));
            s->inflight = 0;
        }
        s->inflight++;
    }
}

void kvc_pending_done(kvc_pending *pd, const unsigned char *keys,
                      apr_size_t blocks, const char *route)
{
    kvc_lru *lru = index_of(pd);
    apr_size_t i;

    for (i = 0; i < blocks; i++) {
        apr_uint32_t slot = kvc_lru_find(lru, keys + i * KVC_KEY_LEN);
        kvc_pending_slot *s;

        if (slot == KVC_LRU_NONE) {
            continue;
        }
        s = &slots_of(pd)[slot];
        /* Sent elsewhere since: that request owns the block now. */
        if (strcmp(s->route, route)) {
            continue;
        }
        if (s->inflight <= 1) {
            kvc_lru_remove(lru, slot);
        }
        else {
            s->inflight--;
        }
    }
}

long kvc_pending_match(kvc_pending *pd, const unsigned char *keys,
                       apr_size_t blocks, char route[KVC_ROUTE_SIZE])
{
    kvc_lru *lru = index_of(pd);
    const kvc_pending_slot *first = NULL;
    apr_size_t i;

    for (i = 0; i < blocks; i++) {
        apr_uint32_t slot = kvc_lru_find(lru, keys + i * KVC_KEY_LEN);
        const kvc_pending_slot *s;

        if (slot == KVC_LRU_NONE) {
            break;
        }
        s = &slots_of(pd)[slot];
        if (!first) {
            first = s;
        }
        else if (strcmp(s->route, first->route)) {
            break;
        }
    }
    if (!first) {
        return 0;
    }
    apr_cpystrn(route, first->route, KVC_ROUTE_SIZE);
    return (long)(i * KVC_PENDING_BLOCK);
}

apr_uint32_t kvc_pending_count(const kvc_pending *pd)
{
    return kvc_lru_count(index_of(pd));
}
