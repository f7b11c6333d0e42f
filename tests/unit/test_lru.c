/* Licensed under the Apache License, Version 2.0 (the "License"); you may not
 * use this file except in compliance with the License.  You may obtain a copy
 * of the License at http://www.apache.org/licenses/LICENSE-2.0
 */

/**
 * @file test_lru.c
 * @brief Tests for kvc_lru: order, eviction, slot reuse, collisions,
 *        attach at another address, and a model check against a naive
 *        reference implementation.
 */

#include <stdlib.h>

#include "kvc_lru.h"
#include "kvc_test.h"

static void make_key(unsigned char *key, unsigned n)
{
    memset(key, 0xA5, 32);
    key[0] = (unsigned char)(n & 0xff);
    key[1] = (unsigned char)((n >> 8) & 0xff);
    key[2] = (unsigned char)((n >> 16) & 0xff);
}

/* Identical first 8 bytes (the hash): same bucket whatever the seed;
 * they differ only in the last bytes, so a compare of fewer than 32
 * bytes would confuse them.
 */
static void make_colliding_key(unsigned char *key, unsigned n)
{
    memset(key, 0x5A, 32);
    key[31] = (unsigned char)(n & 0xff);
    key[30] = (unsigned char)((n >> 8) & 0xff);
}

/* Exactly sized heap block, so ASan and valgrind see any overrun. */
static kvc_lru *new_lru(apr_uint32_t capacity, void **mem)
{
    apr_size_t size = kvc_lru_size(capacity);

    *mem = malloc(size);
    if (*mem == NULL) {
        fprintf(stderr, "out of memory\n");
        exit(2);
    }
    return kvc_lru_init(*mem, capacity);
}

static void test_lru_size_and_init(apr_pool_t *p)
{
    void *mem;
    kvc_lru *lru;

    KVC_CHECK_INT(kvc_lru_size(0), 0);
    KVC_CHECK_INT(kvc_lru_size(KVC_LRU_MAX_CAPACITY + 1), 0);
    KVC_CHECK(kvc_lru_size(1) > 32);
    KVC_CHECK(kvc_lru_size(100) > kvc_lru_size(99));
    KVC_CHECK(kvc_lru_size(1000) >= 1000 * 32);
    KVC_CHECK_NULL(kvc_lru_init(NULL, 10));

    lru = new_lru(10, &mem);
    KVC_CHECK_NOT_NULL(lru);
    KVC_CHECK(lru == mem);
    KVC_CHECK_NULL(kvc_lru_init(mem, 0));
    KVC_CHECK_INT(kvc_lru_count(lru), 0);
    KVC_CHECK_INT(kvc_lru_capacity(lru), 10);
    KVC_CHECK_INT(kvc_lru_oldest(lru), KVC_LRU_NONE);
    KVC_CHECK_NULL(kvc_lru_key(lru, 0));
    KVC_CHECK_NULL(kvc_lru_key(lru, 10));
    free(mem);
}

static void test_lru_attach_rejects(apr_pool_t *p)
{
    unsigned char junk[256];
    void *mem;
    kvc_lru *lru;
    unsigned i;

    memset(junk, 0, sizeof(junk));
    KVC_CHECK_NULL(kvc_lru_attach(NULL));
    KVC_CHECK_NULL(kvc_lru_attach(junk));
    memset(junk, 0xff, sizeof(junk));
    KVC_CHECK_NULL(kvc_lru_attach(junk));

    lru = new_lru(8, &mem);
    KVC_CHECK(kvc_lru_attach(mem) == lru);
    /* A damaged header is refused rather than trusted.  White-box: the
     * header starts with the u32 words magic, capacity, bucket_bits and
     * count; each one damaged alone must be caught.
     */
    for (i = 0; i < 4; i++) {
        apr_uint32_t *word = (apr_uint32_t *)mem + i, saved = *word;

        *word = 0xffffffffu;
        KVC_CHECK_NULL(kvc_lru_attach(mem));
        *word = saved;
        KVC_CHECK(kvc_lru_attach(mem) == lru);
    }
    ((unsigned char *)mem)[0] ^= 1;
    KVC_CHECK_NULL(kvc_lru_attach(mem));
    free(mem);
}

static void test_lru_insert_find_evict(apr_pool_t *p)
{
    unsigned char k[6][32], ev[32];
    apr_uint32_t s[6];
    int evicted = -1;
    void *mem;
    kvc_lru *lru = new_lru(3, &mem);
    unsigned i;

    for (i = 0; i < 6; i++) {
        make_key(k[i], i);
    }
    for (i = 0; i < 3; i++) {
        s[i] = kvc_lru_insert(lru, k[i], ev, &evicted);
        KVC_CHECK_INT(evicted, 0);
        /* An empty index hands out slots in order. */
        KVC_CHECK_INT(s[i], i);
        KVC_CHECK_INT(kvc_lru_count(lru), i + 1);
    }
    for (i = 0; i < 3; i++) {
        KVC_CHECK_INT(kvc_lru_find(lru, k[i]), s[i]);
        KVC_CHECK(memcmp(kvc_lru_key(lru, s[i]), k[i], 32) == 0);
    }
    KVC_CHECK_INT(kvc_lru_find(lru, k[3]), KVC_LRU_NONE);
    /* find() did not change recency: k0 is still the oldest. */
    KVC_CHECK_INT(kvc_lru_oldest(lru), s[0]);

    /* Full: inserting evicts in insertion order, reusing the slot. */
    s[3] = kvc_lru_insert(lru, k[3], ev, &evicted);
    KVC_CHECK_INT(evicted, 1);
    KVC_CHECK(memcmp(ev, k[0], 32) == 0);
    KVC_CHECK_INT(s[3], s[0]);
    KVC_CHECK_INT(kvc_lru_find(lru, k[0]), KVC_LRU_NONE);
    KVC_CHECK_INT(kvc_lru_count(lru), 3);
    KVC_CHECK_INT(kvc_lru_oldest(lru), s[1]);

    s[4] = kvc_lru_insert(lru, k[4], ev, &evicted);
    KVC_CHECK_INT(evicted, 1);
    KVC_CHECK(memcmp(ev, k[1], 32) == 0);
    KVC_CHECK_INT(s[4], s[1]);
    KVC_CHECK_INT(kvc_lru_oldest(lru), s[2]);

    /* NULL outputs are allowed. */
    s[5] = kvc_lru_insert(lru, k[5], NULL, NULL);
    KVC_CHECK_INT(s[5], s[2]);
    KVC_CHECK_INT(kvc_lru_find(lru, k[2]), KVC_LRU_NONE);
    KVC_CHECK_INT(kvc_lru_find(lru, k[5]), s[5]);
    free(mem);
}

static void test_lru_touch_changes_order(apr_pool_t *p)
{
    unsigned char k[4][32], ev[32];
    int evicted;
    void *mem;
    kvc_lru *lru = new_lru(3, &mem);
    unsigned i;

    for (i = 0; i < 4; i++) {
        make_key(k[i], i);
    }
    for (i = 0; i < 3; i++) {
        kvc_lru_insert(lru, k[i], NULL, NULL);
    }
    kvc_lru_touch(lru, kvc_lru_find(lru, k[0]));
    KVC_CHECK_INT(kvc_lru_oldest(lru), kvc_lru_find(lru, k[1]));
    kvc_lru_touch(lru, kvc_lru_find(lru, k[1]));
    KVC_CHECK_INT(kvc_lru_oldest(lru), kvc_lru_find(lru, k[2]));
    /* Touching the newest changes nothing. */
    kvc_lru_touch(lru, kvc_lru_find(lru, k[1]));
    KVC_CHECK_INT(kvc_lru_oldest(lru), kvc_lru_find(lru, k[2]));

    kvc_lru_insert(lru, k[3], ev, &evicted);
    KVC_CHECK_INT(evicted, 1);
    KVC_CHECK(memcmp(ev, k[2], 32) == 0);
    KVC_CHECK(kvc_lru_find(lru, k[0]) != KVC_LRU_NONE);
    KVC_CHECK_INT(kvc_lru_oldest(lru), kvc_lru_find(lru, k[0]));

    /* Invalid slots are ignored. */
    kvc_lru_touch(lru, 3);
    kvc_lru_touch(lru, KVC_LRU_NONE);
    KVC_CHECK_INT(kvc_lru_oldest(lru), kvc_lru_find(lru, k[0]));
    KVC_CHECK_INT(kvc_lru_count(lru), 3);
    free(mem);
}

static void test_lru_insert_present_touches(apr_pool_t *p)
{
    unsigned char a[32], b[32];
    int evicted = -1;
    void *mem;
    kvc_lru *lru = new_lru(2, &mem);
    apr_uint32_t sa;

    make_key(a, 1);
    make_key(b, 2);
    sa = kvc_lru_insert(lru, a, NULL, NULL);
    kvc_lru_insert(lru, b, NULL, NULL);
    KVC_CHECK_INT(kvc_lru_insert(lru, a, NULL, &evicted), sa);
    KVC_CHECK_INT(evicted, 0);
    KVC_CHECK_INT(kvc_lru_count(lru), 2);
    KVC_CHECK_INT(kvc_lru_oldest(lru), kvc_lru_find(lru, b));
    free(mem);
}

static void test_lru_remove_and_reuse(apr_pool_t *p)
{
    unsigned char k[5][32];
    apr_uint32_t s[5];
    int evicted = -1;
    void *mem;
    kvc_lru *lru = new_lru(4, &mem);
    unsigned i;

    for (i = 0; i < 4; i++) {
        make_key(k[i], i);
        s[i] = kvc_lru_insert(lru, k[i], NULL, NULL);
    }
    kvc_lru_remove(lru, s[1]);
    KVC_CHECK_INT(kvc_lru_count(lru), 3);
    KVC_CHECK_INT(kvc_lru_find(lru, k[1]), KVC_LRU_NONE);
    KVC_CHECK_NULL(kvc_lru_key(lru, s[1]));
    /* Removing again, or a free slot, is ignored. */
    kvc_lru_remove(lru, s[1]);
    kvc_lru_remove(lru, 99);
    KVC_CHECK_INT(kvc_lru_count(lru), 3);

    /* The freed slot is reused without evicting anything. */
    make_key(k[4], 4);
    s[4] = kvc_lru_insert(lru, k[4], NULL, &evicted);
    KVC_CHECK_INT(evicted, 0);
    KVC_CHECK_INT(s[4], s[1]);
    KVC_CHECK_INT(kvc_lru_count(lru), 4);

    /* Removing the oldest and the newest fixes both list ends. */
    kvc_lru_remove(lru, s[0]);
    KVC_CHECK_INT(kvc_lru_oldest(lru), s[2]);
    kvc_lru_remove(lru, s[4]);
    KVC_CHECK_INT(kvc_lru_oldest(lru), s[2]);
    kvc_lru_remove(lru, s[2]);
    KVC_CHECK_INT(kvc_lru_oldest(lru), s[3]);
    kvc_lru_remove(lru, s[3]);
    KVC_CHECK_INT(kvc_lru_oldest(lru), KVC_LRU_NONE);
    KVC_CHECK_INT(kvc_lru_count(lru), 0);
    for (i = 0; i < 5; i++) {
        KVC_CHECK_INT(kvc_lru_find(lru, k[i]), KVC_LRU_NONE);
    }
    /* Empty again: fills up to capacity with no eviction. */
    for (i = 0; i < 4; i++) {
        kvc_lru_insert(lru, k[i], NULL, &evicted);
        KVC_CHECK_INT(evicted, 0);
    }
    KVC_CHECK_INT(kvc_lru_count(lru), 4);
    free(mem);
}

static void test_lru_collisions(apr_pool_t *p)
{
    unsigned char k[32];
    apr_uint32_t slots[100];
    void *mem;
    kvc_lru *lru = new_lru(128, &mem);
    unsigned i;

    for (i = 0; i < 100; i++) {
        make_colliding_key(k, i);
        slots[i] = kvc_lru_insert(lru, k, NULL, NULL);
    }
    for (i = 0; i < 100; i++) {
        make_colliding_key(k, i);
        KVC_CHECK_INT(kvc_lru_find(lru, k), slots[i]);
    }
    /* Unlink from the middle, head and tail of one long chain. */
    for (i = 0; i < 100; i += 3) {
        kvc_lru_remove(lru, slots[i]);
    }
    kvc_lru_remove(lru, slots[99]);
    for (i = 0; i < 100; i++) {
        int gone = i % 3 == 0 || i == 99;

        make_colliding_key(k, i);
        KVC_CHECK_INT(kvc_lru_find(lru, k), gone ? KVC_LRU_NONE : slots[i]);
    }
    make_colliding_key(k, 1000);
    KVC_CHECK_INT(kvc_lru_find(lru, k), KVC_LRU_NONE);
    /* Differing in the last byte only still misses. */
    make_colliding_key(k, 5);
    k[31] ^= 0x80;
    KVC_CHECK_INT(kvc_lru_find(lru, k), KVC_LRU_NONE);
    free(mem);
}

static void test_lru_capacity_one(apr_pool_t *p)
{
    unsigned char a[32], b[32], ev[32];
    int evicted = -1;
    void *mem;
    kvc_lru *lru = new_lru(1, &mem);

    make_key(a, 1);
    make_key(b, 2);
    KVC_CHECK_INT(kvc_lru_insert(lru, a, ev, &evicted), 0);
    KVC_CHECK_INT(evicted, 0);
    KVC_CHECK_INT(kvc_lru_oldest(lru), 0);
    KVC_CHECK_INT(kvc_lru_insert(lru, b, ev, &evicted), 0);
    KVC_CHECK_INT(evicted, 1);
    KVC_CHECK(memcmp(ev, a, 32) == 0);
    KVC_CHECK_INT(kvc_lru_find(lru, a), KVC_LRU_NONE);
    KVC_CHECK_INT(kvc_lru_find(lru, b), 0);
    kvc_lru_touch(lru, 0);
    kvc_lru_remove(lru, 0);
    KVC_CHECK_INT(kvc_lru_count(lru), 0);
    KVC_CHECK_INT(kvc_lru_oldest(lru), KVC_LRU_NONE);
    KVC_CHECK_INT(kvc_lru_insert(lru, a, ev, &evicted), 0);
    KVC_CHECK_INT(evicted, 0);
    free(mem);
}

static void test_lru_attach_copy(apr_pool_t *p)
{
    unsigned char k[32], ev[32];
    apr_size_t size = kvc_lru_size(16);
    void *mem, *copy;
    kvc_lru *lru = new_lru(16, &mem), *other;
    int evicted;
    unsigned i;

    for (i = 0; i < 16; i++) {
        make_key(k, i);
        kvc_lru_insert(lru, k, NULL, NULL);
    }
    make_key(k, 0);
    kvc_lru_touch(lru, kvc_lru_find(lru, k));

    /* Same bytes at another address: another process's mapping. */
    copy = malloc(size);
    if (copy == NULL) {
        fprintf(stderr, "out of memory\n");
        exit(2);
    }
    memcpy(copy, mem, size);
    other = kvc_lru_attach(copy);
    KVC_CHECK(other == copy);
    KVC_CHECK(other != lru);
    KVC_CHECK_INT(kvc_lru_count(other), 16);
    KVC_CHECK_INT(kvc_lru_capacity(other), 16);
    for (i = 0; i < 16; i++) {
        make_key(k, i);
        KVC_CHECK_INT(kvc_lru_find(other, k), kvc_lru_find(lru, k));
    }
    /* Recency survived the move: key 1 is the oldest in both. */
    make_key(k, 1);
    KVC_CHECK_INT(kvc_lru_oldest(other), kvc_lru_find(lru, k));

    /* Attaching does not reformat, and the copy keeps working alone. */
    KVC_CHECK(memcmp(copy, mem, size) == 0);
    make_key(k, 100);
    kvc_lru_insert(other, k, ev, &evicted);
    KVC_CHECK_INT(evicted, 1);
    make_key(k, 1);
    KVC_CHECK(memcmp(ev, k, 32) == 0);
    KVC_CHECK_INT(kvc_lru_find(other, k), KVC_LRU_NONE);
    KVC_CHECK(kvc_lru_find(lru, k) != KVC_LRU_NONE);
    make_key(k, 100);
    KVC_CHECK_INT(kvc_lru_find(lru, k), KVC_LRU_NONE);
    KVC_CHECK(kvc_lru_find(other, k) != KVC_LRU_NONE);
    free(copy);
    free(mem);
}

/* ------------------------------------------------------------------ */
/* model check                                                        */
/* ------------------------------------------------------------------ */

#define MODEL_KEYS 48
#define MODEL_CAP  13

typedef struct {
    int present[MODEL_KEYS];
    unsigned long stamp[MODEL_KEYS]; /* larger = more recent */
    apr_uint32_t slot[MODEL_KEYS];
    unsigned count;
    unsigned long clock;
} lru_model;

static apr_uint32_t next_random(apr_uint32_t *state)
{
    apr_uint32_t x = *state;

    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    *state = x;
    return x;
}

/* Half the keys collide on their hash, half do not. */
static void model_key(unsigned char *key, unsigned n)
{
    if (n % 2) {
        make_colliding_key(key, n);
    }
    else {
        make_key(key, n);
    }
}

static int model_oldest(const lru_model *m)
{
    int best = -1;
    unsigned i;

    for (i = 0; i < MODEL_KEYS; i++) {
        if (m->present[i] && (best < 0 || m->stamp[i] < m->stamp[best])) {
            best = (int)i;
        }
    }
    return best;
}

/* Full comparison of the index with the model; 0 on the first mismatch
 * (reported), so one bug does not flood the output.
 */
static int model_agrees(kvc_lru *lru, const lru_model *m, int op)
{
    unsigned char key[32];
    int oldest = model_oldest(m);
    unsigned i, j;

    if (kvc_lru_count(lru) != m->count) {
        kvc_test_fail(__FILE__, __LINE__, "op %d: count %u, want %u", op,
                      (unsigned)kvc_lru_count(lru), m->count);
        return 0;
    }
    if (kvc_lru_oldest(lru) != (oldest < 0 ? KVC_LRU_NONE : m->slot[oldest])) {
        kvc_test_fail(__FILE__, __LINE__, "op %d: wrong oldest", op);
        return 0;
    }
    for (i = 0; i < MODEL_KEYS; i++) {
        apr_uint32_t s;

        model_key(key, i);
        s = kvc_lru_find(lru, key);
        if (s != (m->present[i] ? m->slot[i] : KVC_LRU_NONE)) {
            kvc_test_fail(__FILE__, __LINE__, "op %d: key %u slot %u", op, i,
                          (unsigned)s);
            return 0;
        }
        if (m->present[i]
            && (s >= MODEL_CAP || kvc_lru_key(lru, s) == NULL
                || memcmp(kvc_lru_key(lru, s), key, 32) != 0)) {
            kvc_test_fail(__FILE__, __LINE__, "op %d: key %u bad slot", op, i);
            return 0;
        }
        for (j = 0; j < i; j++) {
            if (m->present[i] && m->present[j] && m->slot[i] == m->slot[j]) {
                kvc_test_fail(__FILE__, __LINE__, "op %d: shared slot", op);
                return 0;
            }
        }
    }
    return 1;
}

static void test_lru_model_check(apr_pool_t *p)
{
    apr_uint32_t state = 0xC0FFEEu;
    unsigned char key[32], ev[32];
    lru_model m;
    void *mem;
    kvc_lru *lru = new_lru(MODEL_CAP, &mem);
    int op, inserts = 0, evictions = 0, removes = 0;

    memset(&m, 0, sizeof(m));
    for (op = 0; op < 10000; op++) {
        unsigned k = next_random(&state) % MODEL_KEYS;
        unsigned what = next_random(&state) % 10;

        model_key(key, k);
        if (what < 5) {
            int evicted = -1;
            apr_uint32_t s = kvc_lru_insert(lru, key, ev, &evicted);

            inserts++;
            if (!m.present[k] && m.count == MODEL_CAP) {
                int victim = model_oldest(&m);
                unsigned char vkey[32];

                model_key(vkey, (unsigned)victim);
                if (evicted != 1 || memcmp(ev, vkey, 32) != 0) {
                    kvc_test_fail(__FILE__, __LINE__, "op %d: wrong eviction",
                                  op);
                    break;
                }
                /* The victim's slot is the one reused. */
                if (s != m.slot[victim]) {
                    kvc_test_fail(__FILE__, __LINE__,
                                  "op %d: victim slot not reused", op);
                    break;
                }
                m.present[victim] = 0;
                m.count--;
                evictions++;
            }
            else if (evicted != 0) {
                kvc_test_fail(__FILE__, __LINE__, "op %d: spurious eviction",
                              op);
                break;
            }
            if (m.present[k] && s != m.slot[k]) {
                kvc_test_fail(__FILE__, __LINE__, "op %d: slot moved", op);
                break;
            }
            if (!m.present[k]) {
                m.present[k] = 1;
                m.count++;
            }
            m.slot[k] = s;
            m.stamp[k] = ++m.clock;
        }
        else if (what < 7) {
            if (m.present[k]) {
                kvc_lru_touch(lru, m.slot[k]);
                m.stamp[k] = ++m.clock;
            }
        }
        else if (what < 9) {
            if (m.present[k]) {
                kvc_lru_remove(lru, m.slot[k]);
                m.present[k] = 0;
                m.count--;
                removes++;
            }
        }
        /* what == 9: lookups only, checked below. */
        if (!model_agrees(lru, &m, op)) {
            break;
        }
    }
    KVC_CHECK_INT(op, 10000);
    /* The run really exercised every path. */
    KVC_CHECK(inserts > 3000);
    KVC_CHECK(evictions > 200);
    KVC_CHECK(removes > 200);
    free(mem);
}

const kvc_test_case kvc_lru_tests[] = { KVC_TEST(test_lru_size_and_init),
                                        KVC_TEST(test_lru_attach_rejects),
                                        KVC_TEST(test_lru_insert_find_evict),
                                        KVC_TEST(test_lru_touch_changes_order),
                                        KVC_TEST(
                                            test_lru_insert_present_touches),
                                        KVC_TEST(test_lru_remove_and_reuse),
                                        KVC_TEST(test_lru_collisions),
                                        KVC_TEST(test_lru_capacity_one),
                                        KVC_TEST(test_lru_attach_copy),
                                        KVC_TEST(test_lru_model_check),
                                        KVC_TEST_END };
