/* Licensed under the Apache License, Version 2.0 (the "License"); you may not
 * use this file except in compliance with the License.  You may obtain a copy
 * of the License at http://www.apache.org/licenses/LICENSE-2.0
 */

/**
 * @file test_hotset.c
 * @brief Tests for kvc_hotset: counting per key, one pin per key per
 *        window, the threshold, expiry, the key bound with least recently
 *        seen replacement, and a block seen at another address.
 */

#include <stdlib.h>

#include "kvc_hotset.h"
#include "kvc_test.h"

#define SEC(n) ((apr_time_t)(n)*APR_USEC_PER_SEC)
#define T0     SEC(10000)

static void key_of(unsigned char key[32], int n)
{
    memset(key, 0, 32);
    key[0] = (unsigned char)n;
    key[31] = (unsigned char)(n >> 8);
}

static kvc_hotset *make(apr_pool_t *p, apr_uint32_t capacity)
{
    void *mem = apr_pcalloc(p, kvc_hotset_size(capacity));

    return kvc_hotset_init(mem, capacity);
}

static const kvc_hot_policy policy = { SEC(60), 300, 3 };

static void test_hotset_pins_once_per_window(apr_pool_t *p)
{
    kvc_hotset *hs = make(p, 8);
    unsigned char k[32];
    int pin, i, pins = 0;

    key_of(k, 1);
    KVC_CHECK_INT(kvc_hotset_hit(hs, k, T0, &policy, &pin), 1);
    KVC_CHECK_INT(pin, 0);
    KVC_CHECK_INT(kvc_hotset_hit(hs, k, T0 + 1, &policy, &pin), 2);
    KVC_CHECK_INT(pin, 0);
    KVC_CHECK_INT(kvc_hotset_hit(hs, k, T0 + 2, &policy, &pin), 3);
    KVC_CHECK_INT(pin, 1); /* reached the threshold */
    for (i = 0; i < 20; i++) {
        kvc_hotset_hit(hs, k, T0 + SEC(1) + i, &policy, &pin);
        pins += pin;
    }
    KVC_CHECK_INT(pins, 0); /* once per window */
    /* A window later, hot again: pinned again. */
    kvc_hotset_hit(hs, k, T0 + SEC(70), &policy, &pin);
    kvc_hotset_hit(hs, k, T0 + SEC(70), &policy, &pin);
    KVC_CHECK_INT(pin, 0);
    kvc_hotset_hit(hs, k, T0 + SEC(70), &policy, &pin);
    KVC_CHECK_INT(pin, 1);
}

static void test_hotset_threshold_zero_never_pins(apr_pool_t *p)
{
    kvc_hot_policy count_only = { SEC(60), 300, 0 };
    kvc_hotset *hs = make(p, 8);
    unsigned char k[32];
    int pin, i, pins = 0;

    key_of(k, 7);
    for (i = 0; i < 50; i++) {
        KVC_CHECK_INT(kvc_hotset_hit(hs, k, T0 + i, &count_only, &pin), i + 1);
        pins += pin;
    }
    KVC_CHECK_INT(pins, 0);
    /* Counted only: a later hit with a threshold pins at once. */
    kvc_hotset_hit(hs, k, T0 + 100, &policy, &pin);
    KVC_CHECK_INT(pin, 1);
}

static void test_hotset_counts_expire(apr_pool_t *p)
{
    kvc_hotset *hs = make(p, 8);
    unsigned char k[32];
    int pin;

    key_of(k, 2);
    kvc_hotset_hit(hs, k, T0, &policy, &pin);
    kvc_hotset_hit(hs, k, T0 + 1, &policy, &pin);
    KVC_CHECK_INT(kvc_hotset_hit(hs, k, T0 + SEC(61), &policy, &pin), 1);
    KVC_CHECK_INT(pin, 0);
}

static void test_hotset_keys_separate_and_capped(apr_pool_t *p)
{
    kvc_hot_policy capped = { SEC(60), 5, 0 };
    kvc_hotset *hs = make(p, 8);
    unsigned char a[32], b[32];
    int pin, i;

    key_of(a, 3);
    key_of(b, 4);
    for (i = 0; i < 9; i++) {
        kvc_hotset_hit(hs, a, T0 + i, &capped, &pin);
    }
    KVC_CHECK_INT(kvc_hotset_hit(hs, b, T0 + 10, &capped, &pin), 1);
    KVC_CHECK_INT(kvc_hotset_hit(hs, a, T0 + 11, &capped, &pin), 5);
    KVC_CHECK_INT(kvc_hotset_keys(hs), 2);
}

static void test_hotset_bounded_lru(apr_pool_t *p)
{
    kvc_hotset *hs = make(p, 4);
    unsigned char k[32];
    int pin, i;

    for (i = 0; i < 4; i++) {
        key_of(k, 10 + i);
        kvc_hotset_hit(hs, k, T0 + i, &policy, &pin);
        kvc_hotset_hit(hs, k, T0 + i, &policy, &pin);
    }
    /* Key 10 is seen again, so key 11 is now the least recently seen. */
    key_of(k, 10);
    KVC_CHECK_INT(kvc_hotset_hit(hs, k, T0 + 10, &policy, &pin), 3);
    key_of(k, 99);
    kvc_hotset_hit(hs, k, T0 + 11, &policy, &pin);
    KVC_CHECK_INT(kvc_hotset_keys(hs), 4);
    key_of(k, 10);
    KVC_CHECK_INT(kvc_hotset_hit(hs, k, T0 + 12, &policy, &pin), 4);
    key_of(k, 11);
    /* Replaced: it starts over. */
    KVC_CHECK_INT(kvc_hotset_hit(hs, k, T0 + 13, &policy, &pin), 1);
    KVC_CHECK_INT(kvc_hotset_keys(hs), 4);
}

/* Another process maps the same shared memory at another address. */
static void test_hotset_attach_elsewhere(apr_pool_t *p)
{
    apr_size_t size = kvc_hotset_size(16);
    void *mem = apr_pcalloc(p, size), *copy = apr_palloc(p, size);
    unsigned char k[32];
    int pin;

    key_of(k, 5);
    kvc_hotset_hit(kvc_hotset_init(mem, 16), k, T0, &policy, &pin);
    kvc_hotset_hit(kvc_hotset_attach(mem), k, T0 + 1, &policy, &pin);
    memcpy(copy, mem, size);
    KVC_CHECK_INT(
        kvc_hotset_hit(kvc_hotset_attach(copy), k, T0 + 2, &policy, &pin), 3);
    KVC_CHECK_INT(pin, 1);
}

const kvc_test_case kvc_hotset_tests[] = {
    KVC_TEST(test_hotset_pins_once_per_window),
    KVC_TEST(test_hotset_threshold_zero_never_pins),
    KVC_TEST(test_hotset_counts_expire),
    KVC_TEST(test_hotset_keys_separate_and_capped),
    KVC_TEST(test_hotset_bounded_lru),
    KVC_TEST(test_hotset_attach_elsewhere),
    KVC_TEST_END
};
