/* Licensed under the Apache License, Version 2.0 (the "License"); you may not
 * use this file except in compliance with the License.  You may obtain a copy
 * of the License at http://www.apache.org/licenses/LICENSE-2.0
 */

/**
 * @file kvc_hotset.h
 * @brief The hot-key table: how often each prompt (token-cache key) was
 *        requested within the hot window, and when it was last pinned.
 *
 * It lives in one fixed block of shared memory sized from
 * KVCacheHotMaxKeys; when it is full the least recently seen key makes
 * room.  No pointers inside (every process maps it elsewhere); callers
 * hold the global lock around every call.  Free of httpd headers.
 */
#ifndef KVC_HOTSET_H
#define KVC_HOTSET_H

#include "apr.h"
#include "apr_time.h"

#include "kvc_vocab.h"

typedef struct kvc_hotset kvc_hotset;

typedef struct {
    apr_interval_time_t window; /* KVCacheHotWindow */
    apr_uint32_t max_records;   /* KVCacheHotMaxRecords: count cap */
    apr_uint32_t threshold;     /* KVCacheHotThreshold; 0: never pin */
} kvc_hot_policy;

/** Bytes needed for @a capacity keys. */
apr_size_t kvc_hotset_size(apr_uint32_t capacity);

/** Formats a zeroed block. */
kvc_hotset *kvc_hotset_init(void *mem, apr_uint32_t capacity);

/** The block as another process maps it. */
kvc_hotset *kvc_hotset_attach(void *mem);

/**
 * Counts one request for @a key.
 * @param pin  set to 1 when this request makes the key due for a pin: its
 *             count reached the threshold and it was not pinned within the
 *             last window.  The pin time is then recorded, so no other
 *             request, in any process, asks again within the window.
 * @return the key's count within the window, this request included
 */
apr_uint32_t kvc_hotset_hit(kvc_hotset *hs,
                            const unsigned char key[KVC_KEY_LEN],
                            apr_time_t now, const kvc_hot_policy *policy,
                            int *pin);

/** Keys tracked. */
apr_uint32_t kvc_hotset_keys(const kvc_hotset *hs);

#endif /* KVC_HOTSET_H */
