/* Licensed under the Apache License, Version 2.0 (the "License"); you may not
 * use this file except in compliance with the License.  You may obtain a copy
 * of the License at http://www.apache.org/licenses/LICENSE-2.0
 */

/**
 * @file kvc_lru.h
 * @brief Fixed-capacity LRU index of keys (KVC_KEY_LEN bytes) in a given
 *        memory block, usable from shared memory (httpd-independent).
 *
 * The block holds no pointers, only 32-bit indices, so one block can be
 * mapped at different addresses in different processes: one process
 * formats it with kvc_lru_init(), the others (or the same one after a
 * remap) use kvc_lru_attach().  Every operation is O(1): hash buckets
 * chained by index, a doubly linked recency list by index and a free
 * list.
 *
 * The index stores keys only.  A slot is a number in 0..capacity-1 that
 * stays with its key until the key is removed or evicted, so callers
 * keep per-entry payloads in their own arrays indexed by slot.
 *
 * Keys are SHA-256 digests: uniform, so 8 of their bytes make a good
 * hash.  Because clients choose what gets hashed, the bucket function
 * mixes in a random seed chosen by kvc_lru_init(); grinding keys into one
 * bucket then takes guessing the seed.
 *
 * Locking: none inside; the caller serialises every call (with the
 * global lock when the block is shared).  Invalid slots passed in (out
 * of range or free) are ignored rather than trusted, so a caller's stale
 * slot cannot corrupt the shared lists.
 */

#ifndef KVC_LRU_H
#define KVC_LRU_H

#include "apr.h"

#include "kvc_vocab.h"

#ifdef __cplusplus
extern "C" {
#endif

/** Opaque index: the formatted memory block itself. */
typedef struct kvc_lru kvc_lru;

/** "No slot": a miss, or an empty index. */
#define KVC_LRU_NONE 0xffffffffu

/** Largest capacity accepted (2^26 slots, about 3.5 GB of block). */
#define KVC_LRU_MAX_CAPACITY ((apr_uint32_t)1 << 26)

/**
 * Bytes needed for an index of `capacity` keys.
 * @param capacity 1..KVC_LRU_MAX_CAPACITY
 * @return the size, or 0 for a capacity out of range (or too large for
 *         this platform's address space)
 */
apr_size_t kvc_lru_size(apr_uint32_t capacity);

/**
 * Format a block as an empty index.
 * @param mem at least kvc_lru_size(capacity) bytes, aligned for
 *        apr_uint64_t (any malloc or shared-memory base address is)
 * @param capacity number of keys, 1..KVC_LRU_MAX_CAPACITY
 * @return the index (at address mem), or NULL for a bad capacity or mem
 */
kvc_lru *kvc_lru_init(void *mem, apr_uint32_t capacity);

/**
 * Use a block formatted by kvc_lru_init(), possibly by another process
 * and at another address.  Nothing is changed.
 * @param mem the block
 * @return the index, or NULL when mem does not hold a formatted index
 */
kvc_lru *kvc_lru_attach(void *mem);

/**
 * Look a key up.  Recency is not changed: call kvc_lru_touch() on a hit
 * that should count as a use.
 * @param lru the index
 * @param key KVC_KEY_LEN-byte key
 * @return its slot, or KVC_LRU_NONE
 */
apr_uint32_t kvc_lru_find(kvc_lru *lru, const unsigned char key[KVC_KEY_LEN]);

/**
 * Make a slot the most recently used.
 * @param lru the index
 * @param slot a slot in use (anything else is ignored)
 */
void kvc_lru_touch(kvc_lru *lru, apr_uint32_t slot);

/**
 * Insert a key as the most recently used.  When the index is full, the
 * least recently used key is evicted first; its slot is then reused.
 * The key should not be present; if it is, it is only touched and its
 * slot returned, so the index never holds a key twice.
 * @param lru the index
 * @param key KVC_KEY_LEN-byte key
 * @param evicted_key receives the evicted key, may be NULL
 * @param evicted receives 1 if a key was evicted, else 0; may be NULL
 * @return the slot now holding key
 */
apr_uint32_t kvc_lru_insert(kvc_lru *lru, const unsigned char key[KVC_KEY_LEN],
                            unsigned char evicted_key[KVC_KEY_LEN],
                            int *evicted);

/**
 * Remove the key in a slot and free the slot.
 * @param lru the index
 * @param slot a slot in use (anything else is ignored)
 */
void kvc_lru_remove(kvc_lru *lru, apr_uint32_t slot);

/**
 * Number of keys held.
 * @param lru the index
 * @return 0..capacity
 */
apr_uint32_t kvc_lru_count(const kvc_lru *lru);

/**
 * Capacity given to kvc_lru_init().
 * @param lru the index
 * @return the capacity
 */
apr_uint32_t kvc_lru_capacity(const kvc_lru *lru);

/**
 * Key held in a slot.
 * @param lru the index
 * @param slot the slot
 * @return its KVC_KEY_LEN bytes (inside the block), or NULL when the slot is out
 *         of range or free
 */
const unsigned char *kvc_lru_key(const kvc_lru *lru, apr_uint32_t slot);

/**
 * Least recently used slot, the next one kvc_lru_insert() would evict.
 * @param lru the index
 * @return the slot, or KVC_LRU_NONE when empty
 */
apr_uint32_t kvc_lru_oldest(const kvc_lru *lru);

#ifdef __cplusplus
}
#endif

#endif /* KVC_LRU_H */
