/* Licensed under the Apache License, Version 2.0 (the "License"); you may not
 * use this file except in compliance with the License.  You may obtain a copy
 * of the License at http://www.apache.org/licenses/LICENSE-2.0
 */

/**
 * @file fuzz_lru.c
 * @brief Fuzz target: the shared-memory LRU index (kvc_lru) driven by an
 *        arbitrary sequence of operations and checked against a plain
 *        reference model after every step.
 *
 * Not a parser, but the index lives in shared memory and sits under the
 * global lock: a broken link there corrupts every process.  Input: the
 * first byte gives the capacity (1..16), then each pair of bytes is an
 * operation and an argument.  Keys are 32 bytes with only a few varying
 * bytes, so bucket chains collide.  Invariants: find, insert (touch of a
 * present key, eviction of exactly the least recently used key into the
 * slot it freed), touch and remove behave as the model says, invalid or
 * free slots are ignored, count and oldest always agree with the model,
 * and kvc_lru_attach() on the block gives the same index.
 */

#include <string.h>

#include "apr_general.h"

#include "kvc_lru.h"

#include "fuzz_common.h"

#define FZ_MAX_CAP 16

typedef struct {
    unsigned char key[32];
    apr_uint32_t slot;
} fz_entry;

/* Model: entries ordered most recently used first. */
static fz_entry fz_model[FZ_MAX_CAP];
static apr_uint32_t fz_n;

static void fz_key(unsigned char key[32], uint8_t b)
{
    memset(key, 0, 32);
    key[0] = (unsigned char)(b & 0x07); /* bucket bytes collide */
    key[31] = (unsigned char)(b >> 3);
}

static int fz_model_find_key(const unsigned char key[32])
{
    apr_uint32_t i;

    for (i = 0; i < fz_n; i++) {
        if (memcmp(fz_model[i].key, key, 32) == 0) {
            return (int)i;
        }
    }
    return -1;
}

static int fz_model_find_slot(apr_uint32_t slot)
{
    apr_uint32_t i;

    for (i = 0; i < fz_n; i++) {
        if (fz_model[i].slot == slot) {
            return (int)i;
        }
    }
    return -1;
}

static void fz_model_to_front(int i)
{
    fz_entry e = fz_model[i];

    memmove(&fz_model[1], &fz_model[0], (size_t)i * sizeof(e));
    fz_model[0] = e;
}

static void fz_model_remove(int i)
{
    memmove(&fz_model[i], &fz_model[i + 1],
            (size_t)(fz_n - (apr_uint32_t)i - 1) * sizeof(fz_entry));
    fz_n--;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    apr_uint32_t cap, i;
    void *mem;
    kvc_lru *lru;
    size_t pos;

    if (size < 1) {
        return 0;
    }
    (void)fz_begin(); /* apr_initialize() for the random seed */
    cap = (apr_uint32_t)(data[0] % FZ_MAX_CAP) + 1;
    FZ_CHECK(kvc_lru_size(0) == 0);
    FZ_CHECK(kvc_lru_size(KVC_LRU_MAX_CAPACITY + 1) == 0);
    mem = malloc(kvc_lru_size(cap));
    FZ_CHECK(mem != NULL);
    lru = kvc_lru_init(mem, cap);
    FZ_CHECK(lru != NULL && kvc_lru_capacity(lru) == cap);
    fz_n = 0;

    for (pos = 1; pos + 2 <= size; pos += 2) {
        uint8_t op = data[pos] % 6, arg = data[pos + 1];
        unsigned char key[32], ev_key[32];
        apr_uint32_t slot;
        int evicted = -1, m;

        switch (op) {
        case 0: /* insert */
            fz_key(key, arg);
            m = fz_model_find_key(key);
            slot = kvc_lru_insert(lru, key, ev_key, &evicted);
            FZ_CHECK(slot < cap);
            if (m >= 0) {
                FZ_CHECK(evicted == 0 && slot == fz_model[m].slot);
                fz_model_to_front(m);
                break;
            }
            if (fz_n == cap) {
                fz_entry *old = &fz_model[fz_n - 1];

                FZ_CHECK(evicted == 1);
                FZ_CHECK(memcmp(ev_key, old->key, 32) == 0);
                FZ_CHECK(slot == old->slot);
                fz_n--;
            }
            else {
                FZ_CHECK(evicted == 0);
                FZ_CHECK(fz_model_find_slot(slot) < 0);
            }
            memmove(&fz_model[1], &fz_model[0], fz_n * sizeof(fz_entry));
            memcpy(fz_model[0].key, key, 32);
            fz_model[0].slot = slot;
            fz_n++;
            break;
        case 1: /* find */
            fz_key(key, arg);
            m = fz_model_find_key(key);
            slot = kvc_lru_find(lru, key);
            FZ_CHECK(m < 0 ? slot == KVC_LRU_NONE : slot == fz_model[m].slot);
            break;
        case 2: /* touch, any slot number */
            slot = (arg == 0xff) ? KVC_LRU_NONE : (apr_uint32_t)arg % 20;
            kvc_lru_touch(lru, slot);
            m = fz_model_find_slot(slot);
            if (m >= 0) {
                fz_model_to_front(m);
            }
            break;
        case 3: /* remove, any slot number */
            slot = (arg == 0xff) ? KVC_LRU_NONE : (apr_uint32_t)arg % 20;
            kvc_lru_remove(lru, slot);
            m = fz_model_find_slot(slot);
            if (m >= 0) {
                fz_model_remove(m);
            }
            break;
        case 4: /* key of a slot */
            slot = (apr_uint32_t)arg % 20;
            m = fz_model_find_slot(slot);
            if (m < 0) {
                FZ_CHECK(kvc_lru_key(lru, slot) == NULL);
            }
            else {
                FZ_CHECK(kvc_lru_key(lru, slot) != NULL);
                FZ_CHECK(memcmp(kvc_lru_key(lru, slot), fz_model[m].key, 32)
                         == 0);
            }
            break;
        default: /* another process attaches */
            FZ_CHECK(kvc_lru_attach(mem) == lru);
            break;
        }
        FZ_CHECK(kvc_lru_count(lru) == fz_n);
        FZ_CHECK(kvc_lru_oldest(lru)
                 == (fz_n ? fz_model[fz_n - 1].slot : KVC_LRU_NONE));
    }
    /* Every model entry is still found in its slot. */
    for (i = 0; i < fz_n; i++) {
        FZ_CHECK(kvc_lru_find(lru, fz_model[i].key) == fz_model[i].slot);
    }
    free(mem);
    fz_end();
    return 0;
}
