/* Licensed under the Apache License, Version 2.0 (the "License"); you may not
 * use this file except in compliance with the License.  You may obtain a copy
 * of the License at http://www.apache.org/licenses/LICENSE-2.0
 */

#include <string.h>

#include "kvc_hot.h"
#include "kvc_hotset.h"
#include "kvc_lru.h"

typedef struct {
    kvc_hot_window window;
    apr_time_t pinned_at; /* 0: never */
} kvc_hot_slot;

/* Layout: this header, the LRU index, then one slot per index slot. */
struct kvc_hotset {
    apr_uint32_t capacity;
    apr_size_t slots_offset;
};

#define KVC_HOTSET_HEADER APR_ALIGN_DEFAULT(sizeof(struct kvc_hotset))

apr_size_t kvc_hotset_size(apr_uint32_t capacity)
{
    return KVC_HOTSET_HEADER + APR_ALIGN_DEFAULT(kvc_lru_size(capacity))
           + (apr_size_t)capacity * sizeof(kvc_hot_slot);
}

static kvc_lru *index_of(const kvc_hotset *hs)
{
    return kvc_lru_attach((char *)hs + KVC_HOTSET_HEADER);
}

static kvc_hot_slot *slots_of(const kvc_hotset *hs)
{
    return (kvc_hot_slot *)((char *)hs + hs->slots_offset);
}

kvc_hotset *kvc_hotset_init(void *mem, apr_uint32_t capacity)
{
    kvc_hotset *hs = mem;

    hs->capacity = capacity;
    hs->slots_offset =
        KVC_HOTSET_HEADER + APR_ALIGN_DEFAULT(kvc_lru_size(capacity));
    kvc_lru_init((char *)mem + KVC_HOTSET_HEADER, capacity);
    memset(slots_of(hs), 0, (apr_size_t)capacity * sizeof(kvc_hot_slot));
    return hs;
}

kvc_hotset *kvc_hotset_attach(void *mem)
{
    return mem;
}

apr_uint32_t kvc_hotset_hit(kvc_hotset *hs,
                            const unsigned char key[KVC_KEY_LEN],
                            apr_time_t now, const kvc_hot_policy *policy,
                            int *pin)
{
    kvc_lru *index = index_of(hs);
    kvc_hot_slot *slot;
    apr_uint32_t i = kvc_lru_find(index, key), count;

    *pin = 0;
    if (i == KVC_LRU_NONE) {
        /* A new key takes the least recently seen key's place when the
         * table is full; its slot starts afresh. */
        i = kvc_lru_insert(index, key, NULL, NULL);
        memset(&slots_of(hs)[i], 0, sizeof(kvc_hot_slot));
    }
    else {
        kvc_lru_touch(index, i);
    }
    slot = &slots_of(hs)[i];
    count =
        kvc_hot_hit(&slot->window, now, policy->window, policy->max_records);
    if (policy->threshold && count >= policy->threshold
        && (!slot->pinned_at || now - slot->pinned_at >= policy->window
            || now < slot->pinned_at)) {
        slot->pinned_at = now;
        *pin = 1;
    }
    return count;
}

apr_uint32_t kvc_hotset_keys(const kvc_hotset *hs)
{
    return kvc_lru_count(index_of(hs));
}
