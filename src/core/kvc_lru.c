/* Licensed under the Apache License, Version 2.0 (the "License"); you may not
 * use this file except in compliance with the License.  You may obtain a copy
 * of the License at http://www.apache.org/licenses/LICENSE-2.0
 */

/**
 * @file kvc_lru.c
 * @brief LRU index over a position-independent memory block: header,
 *        bucket heads, then nodes, all linked by 32-bit index.
 */

#include <string.h>

#include "apr_general.h"
#include "apr_time.h"

#include "kvc_lru.h"

/* "KVL1" in the first word tells attach() it is looking at a formatted
 * block; bump the digit whenever the layout below changes, so a process
 * built from other sources cannot misread a block.
 */
#define KVC_LRU_MAGIC 0x314c564bu

typedef struct {
    unsigned char key[KVC_KEY_LEN];
    apr_uint32_t hnext; /* bucket chain */
    apr_uint32_t hprev;
    apr_uint32_t newer; /* recency list, towards the head */
    apr_uint32_t older; /* towards the tail; next free when free */
    apr_uint32_t used;
} kvc_lru_node;

/* Followed in the block by apr_uint32_t buckets[1 << bucket_bits], then
 * kvc_lru_node nodes[capacity].  The header size is a multiple of 8, so
 * the seed and everything after it stay aligned.
 */
struct kvc_lru {
    apr_uint32_t magic;
    apr_uint32_t capacity;
    apr_uint32_t bucket_bits;
    apr_uint32_t count;
    apr_uint32_t head; /* most recently used */
    apr_uint32_t tail; /* least recently used, evicted first */
    apr_uint32_t free_head;
    apr_uint32_t reserved;
    apr_uint64_t seed;
};

static unsigned kvc_lru_bits_for(apr_uint32_t capacity)
{
    unsigned bits = 0;

    /* One bucket per slot at most: chains stay about one long. */
    while (((apr_uint64_t)1 << bits) < capacity) {
        bits++;
    }
    return bits;
}

static apr_uint32_t *kvc_lru_buckets(kvc_lru *lru)
{
    return (apr_uint32_t *)(void *)((char *)lru + sizeof(*lru));
}

static kvc_lru_node *kvc_lru_nodes(kvc_lru *lru)
{
    return (
        kvc_lru_node *)(void *)((char *)lru + sizeof(*lru)
                                + sizeof(apr_uint32_t)
                                      * ((apr_size_t)1 << lru->bucket_bits));
}

static const kvc_lru_node *kvc_lru_cnodes(const kvc_lru *lru)
{
    return (const kvc_lru_node *)(const void *)((const char *)lru + sizeof(*lru)
                                                + sizeof(apr_uint32_t)
                                                      * ((apr_size_t)1
                                                         << lru->bucket_bits));
}

static apr_uint32_t kvc_lru_bucket(const kvc_lru *lru, const unsigned char *key)
{
    apr_uint64_t h;

    if (lru->bucket_bits == 0) {
        return 0; /* a shift by 64 would be undefined */
    }
    memcpy(&h, key, sizeof(h));
    h = (h ^ lru->seed) * APR_UINT64_C(0x9E3779B97F4A7C15);
    return (apr_uint32_t)(h >> (64 - lru->bucket_bits));
}

static int kvc_lru_valid(const kvc_lru *lru, apr_uint32_t slot)
{
    return slot < lru->capacity && kvc_lru_cnodes(lru)[slot].used;
}

static void kvc_lru_list_unlink(kvc_lru *lru, kvc_lru_node *nodes,
                                apr_uint32_t slot)
{
    kvc_lru_node *n = &nodes[slot];

    if (n->newer != KVC_LRU_NONE) {
        nodes[n->newer].older = n->older;
    }
    else {
        lru->head = n->older;
    }
    if (n->older != KVC_LRU_NONE) {
        nodes[n->older].newer = n->newer;
    }
    else {
        lru->tail = n->newer;
    }
    n->newer = n->older = KVC_LRU_NONE;
}

static void kvc_lru_list_push(kvc_lru *lru, kvc_lru_node *nodes,
                              apr_uint32_t slot)
{
    kvc_lru_node *n = &nodes[slot];

    n->newer = KVC_LRU_NONE;
    n->older = lru->head;
    if (lru->head != KVC_LRU_NONE) {
        nodes[lru->head].newer = slot;
    }
    lru->head = slot;
    if (lru->tail == KVC_LRU_NONE) {
        lru->tail = slot;
    }
}

apr_size_t kvc_lru_size(apr_uint32_t capacity)
{
    apr_uint64_t size;

    if (capacity == 0 || capacity > KVC_LRU_MAX_CAPACITY) {
        return 0;
    }
    size =
        sizeof(kvc_lru)
        + sizeof(apr_uint32_t) * ((apr_uint64_t)1 << kvc_lru_bits_for(capacity))
        + sizeof(kvc_lru_node) * (apr_uint64_t)capacity;
    if (size > (apr_uint64_t)APR_SIZE_MAX) {
        return 0;
    }
    return (apr_size_t)size;
}

kvc_lru *kvc_lru_init(void *mem, apr_uint32_t capacity)
{
    kvc_lru *lru = mem;
    kvc_lru_node *nodes;
    apr_uint32_t i;
    apr_uint64_t seed = 0;

    if (mem == NULL || kvc_lru_size(capacity) == 0) {
        return NULL;
    }
    memset(lru, 0, sizeof(*lru));
    lru->capacity = capacity;
    lru->bucket_bits = kvc_lru_bits_for(capacity);
    lru->head = lru->tail = KVC_LRU_NONE;

#if APR_HAS_RANDOM
    if (apr_generate_random_bytes((unsigned char *)&seed, sizeof(seed))
        != APR_SUCCESS) {
        seed = 0;
    }
#endif
    if (seed == 0) {
        /* Weak, but it only guards chain lengths, not secrets. */
        seed = (apr_uint64_t)apr_time_now() ^ (apr_uint64_t)(apr_uintptr_t)mem;
    }
    lru->seed = seed;

    memset(kvc_lru_buckets(lru), 0xff,
           sizeof(apr_uint32_t) * ((apr_size_t)1 << lru->bucket_bits));
    nodes = kvc_lru_nodes(lru);
    /* Free list in slot order, so an empty index hands out 0, 1, 2... */
    for (i = 0; i < capacity; i++) {
        memset(nodes[i].key, 0, sizeof(nodes[i].key));
        nodes[i].hnext = nodes[i].hprev = KVC_LRU_NONE;
        nodes[i].newer = KVC_LRU_NONE;
        nodes[i].older = i + 1 < capacity ? i + 1 : KVC_LRU_NONE;
        nodes[i].used = 0;
    }
    lru->free_head = 0;
    /* Written last: a block is only recognised once fully formatted. */
    lru->magic = KVC_LRU_MAGIC;
    return lru;
}

kvc_lru *kvc_lru_attach(void *mem)
{
    kvc_lru *lru = mem;

    if (lru == NULL || lru->magic != KVC_LRU_MAGIC
        || kvc_lru_size(lru->capacity) == 0
        || lru->bucket_bits != kvc_lru_bits_for(lru->capacity)
        || lru->count > lru->capacity) {
        return NULL;
    }
    return lru;
}

apr_uint32_t kvc_lru_find(kvc_lru *lru, const unsigned char key[KVC_KEY_LEN])
{
    const kvc_lru_node *nodes = kvc_lru_cnodes(lru);
    apr_uint32_t i = kvc_lru_buckets(lru)[kvc_lru_bucket(lru, key)];
    apr_uint32_t steps = 0;

    /* A chain never holds more than capacity nodes; the bound keeps a
     * damaged block (a process killed mid-update) from looping forever
     * under the global lock.
     */
    while (i < lru->capacity && steps++ < lru->capacity) {
        if (memcmp(nodes[i].key, key, KVC_KEY_LEN) == 0) {
            return i;
        }
        i = nodes[i].hnext;
    }
    return KVC_LRU_NONE;
}

void kvc_lru_touch(kvc_lru *lru, apr_uint32_t slot)
{
    kvc_lru_node *nodes;

    if (!kvc_lru_valid(lru, slot) || lru->head == slot) {
        return;
    }
    nodes = kvc_lru_nodes(lru);
    kvc_lru_list_unlink(lru, nodes, slot);
    kvc_lru_list_push(lru, nodes, slot);
}

void kvc_lru_remove(kvc_lru *lru, apr_uint32_t slot)
{
    kvc_lru_node *nodes;
    kvc_lru_node *n;

    if (!kvc_lru_valid(lru, slot)) {
        return;
    }
    nodes = kvc_lru_nodes(lru);
    n = &nodes[slot];

    if (n->hprev != KVC_LRU_NONE) {
        nodes[n->hprev].hnext = n->hnext;
    }
    else {
        kvc_lru_buckets(lru)[kvc_lru_bucket(lru, n->key)] = n->hnext;
    }
    if (n->hnext != KVC_LRU_NONE) {
        nodes[n->hnext].hprev = n->hprev;
    }
    n->hnext = n->hprev = KVC_LRU_NONE;

    kvc_lru_list_unlink(lru, nodes, slot);
    n->used = 0;
    n->older = lru->free_head;
    lru->free_head = slot;
    lru->count--;
}

apr_uint32_t kvc_lru_insert(kvc_lru *lru, const unsigned char key[KVC_KEY_LEN],
                            unsigned char evicted_key[KVC_KEY_LEN],
                            int *evicted)
{
    kvc_lru_node *nodes = kvc_lru_nodes(lru);
    apr_uint32_t *buckets = kvc_lru_buckets(lru);
    apr_uint32_t slot, b;
    kvc_lru_node *n;

    if (evicted != NULL) {
        *evicted = 0;
    }
    slot = kvc_lru_find(lru, key);
    if (slot != KVC_LRU_NONE) {
        kvc_lru_touch(lru, slot);
        return slot;
    }

    if (lru->free_head == KVC_LRU_NONE) {
        slot = lru->tail;
        if (!kvc_lru_valid(lru, slot)) {
            return KVC_LRU_NONE; /* damaged block: nothing to evict */
        }
        if (evicted_key != NULL) {
            memcpy(evicted_key, nodes[slot].key, KVC_KEY_LEN);
        }
        if (evicted != NULL) {
            *evicted = 1;
        }
        kvc_lru_remove(lru, slot);
    }

    slot = lru->free_head;
    if (slot >= lru->capacity) {
        return KVC_LRU_NONE; /* damaged free list */
    }
    n = &nodes[slot];
    lru->free_head = n->older;

    memcpy(n->key, key, KVC_KEY_LEN);
    n->used = 1;
    b = kvc_lru_bucket(lru, key);
    n->hprev = KVC_LRU_NONE;
    n->hnext = buckets[b];
    if (buckets[b] != KVC_LRU_NONE) {
        nodes[buckets[b]].hprev = slot;
    }
    buckets[b] = slot;

    kvc_lru_list_push(lru, nodes, slot);
    lru->count++;
    return slot;
}

apr_uint32_t kvc_lru_count(const kvc_lru *lru)
{
    return lru->count;
}

apr_uint32_t kvc_lru_capacity(const kvc_lru *lru)
{
    return lru->capacity;
}

const unsigned char *kvc_lru_key(const kvc_lru *lru, apr_uint32_t slot)
{
    if (!kvc_lru_valid(lru, slot)) {
        return NULL;
    }
    return kvc_lru_cnodes(lru)[slot].key;
}

apr_uint32_t kvc_lru_oldest(const kvc_lru *lru)
{
    return lru->tail;
}
