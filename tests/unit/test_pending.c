/* Licensed under the Apache License, Version 2.0 (the "License"); you may not
 * use this file except in compliance with the License.  You may obtain a copy
 * of the License at http://www.apache.org/licenses/LICENSE-2.0
 */

/**
 * @file test_pending.c
 * @brief Tests for kvc_pending: prefixes in flight, their keys, their
 *        owner and their end.
 */

#include <string.h>

#include "kvc_pending.h"
#include "kvc_test.h"

#define BLOCK KVC_PENDING_BLOCK

static kvc_pending *table(apr_pool_t *p, apr_uint32_t capacity)
{
    return kvc_pending_init(apr_pcalloc(p, kvc_pending_size(capacity)),
                            capacity);
}

/* A prompt of @a count tokens: @a shared of them a system prompt common
 * to every @a seed, the rest this seed's own. */
static kvc_tokens prompt(apr_pool_t *p, apr_size_t count, apr_size_t shared,
                         int seed)
{
    kvc_tokens t;
    apr_size_t i;

    t.count = count;
    t.ids = apr_palloc(p, count * sizeof(apr_int32_t));
    for (i = 0; i < count; i++) {
        t.ids[i] = (apr_int32_t)(i < shared ? i : i * 7 + seed * 100003);
    }
    return t;
}

/* A key names the whole prefix, so equal blocks after different
 * prefixes differ; only whole blocks count. */
static void test_pending_keys(apr_pool_t *p)
{
    kvc_tokens a = prompt(p, 3 * BLOCK + 10, BLOCK, 1);
    kvc_tokens b = prompt(p, 3 * BLOCK, BLOCK, 2);
    kvc_tokens c = prompt(p, BLOCK - 1, 0, 1);
    unsigned char *ka, *kb, *kc;

    KVC_CHECK(kvc_pending_keys(&a, p, &ka) == 3);
    KVC_CHECK(kvc_pending_keys(&b, p, &kb) == 3);
    KVC_CHECK(kvc_pending_keys(&c, p, &kc) == 0 && kc == NULL);
    KVC_CHECK(!memcmp(ka, kb, KVC_KEY_LEN));
    KVC_CHECK(memcmp(ka + KVC_KEY_LEN, kb + KVC_KEY_LEN, KVC_KEY_LEN));
    /* Same ids in block 2 of both, after different block 1s. */
    memcpy(b.ids + 2 * BLOCK, a.ids + 2 * BLOCK, BLOCK * sizeof(apr_int32_t));
    KVC_CHECK(kvc_pending_keys(&b, p, &kb) == 3);
    KVC_CHECK(memcmp(ka + 2 * KVC_KEY_LEN, kb + 2 * KVC_KEY_LEN, KVC_KEY_LEN));
}

/* A request in flight makes its prefix found on its member, until its
 * answer ends; a second request there keeps it found. */
static void test_pending_follow_until_done(apr_pool_t *p)
{
    kvc_pending *pd = table(p, 64);
    kvc_tokens first = prompt(p, 4 * BLOCK + 30, 3 * BLOCK, 1);
    kvc_tokens second = prompt(p, 5 * BLOCK, 3 * BLOCK, 2);
    unsigned char *k1, *k2;
    apr_size_t n1 = kvc_pending_keys(&first, p, &k1);
    apr_size_t n2 = kvc_pending_keys(&second, p, &k2);
    char route[KVC_ROUTE_SIZE] = "";

    KVC_CHECK(kvc_pending_match(pd, k2, n2, route) == 0 && !route[0]);
    kvc_pending_add(pd, k1, n1, "vllm-a");
    KVC_CHECK(kvc_pending_count(pd) == 4);
    /* The group's prompt shares the system prompt's three blocks. */
    KVC_CHECK(kvc_pending_match(pd, k2, n2, route) == 3 * BLOCK);
    KVC_CHECK(!strcmp(route, "vllm-a"));
    KVC_CHECK(kvc_pending_match(pd, k1, n1, route) == 4 * BLOCK);
    kvc_pending_add(pd, k2, n2, "vllm-a");
    kvc_pending_done(pd, k1, n1, "vllm-a");
    /* The second still carries the shared blocks; the first's own block
     * is gone. */
    KVC_CHECK(kvc_pending_match(pd, k1, n1, route) == 3 * BLOCK);
    KVC_CHECK(kvc_pending_count(pd) == 5);
    kvc_pending_done(pd, k2, n2, "vllm-a");
    KVC_CHECK(kvc_pending_count(pd) == 0);
    KVC_CHECK(kvc_pending_match(pd, k2, n2, route) == 0);
    /* An end told twice, or of what was never sent, changes nothing. */
    kvc_pending_done(pd, k2, n2, "vllm-a");
    KVC_CHECK(kvc_pending_count(pd) == 0);
}

/* The last member sent a block owns it: an earlier request's end there
 * does not take it away, and the match stops where owners change. */
static void test_pending_latest_owner(apr_pool_t *p)
{
    kvc_pending *pd = table(p, 64);
    kvc_tokens a = prompt(p, 4 * BLOCK, 2 * BLOCK, 1);
    kvc_tokens b = prompt(p, 3 * BLOCK, 2 * BLOCK, 2);
    unsigned char *ka, *kb;
    apr_size_t na = kvc_pending_keys(&a, p, &ka);
    apr_size_t nb = kvc_pending_keys(&b, p, &kb);
    char route[KVC_ROUTE_SIZE];

    kvc_pending_add(pd, ka, na, "vllm-a");
    kvc_pending_add(pd, kb, nb, "vllm-b");
    KVC_CHECK(kvc_pending_match(pd, kb, nb, route) == 3 * BLOCK);
    KVC_CHECK(!strcmp(route, "vllm-b"));
    /* a's first two blocks are b's now: a's own blocks follow another
     * owner, so its prefix on one member is the shared part. */
    KVC_CHECK(kvc_pending_match(pd, ka, na, route) == 2 * BLOCK);
    KVC_CHECK(!strcmp(route, "vllm-b"));
    kvc_pending_done(pd, ka, na, "vllm-a");
    KVC_CHECK(kvc_pending_match(pd, kb, nb, route) == 3 * BLOCK);
    kvc_pending_done(pd, kb, nb, "vllm-b");
    KVC_CHECK(kvc_pending_count(pd) == 0);
}

/* Bounded: the least recently routed blocks make room. */
static void test_pending_bounded(apr_pool_t *p)
{
    kvc_pending *pd = table(p, 8);
    kvc_tokens a = prompt(p, 6 * BLOCK, 0, 1);
    kvc_tokens b = prompt(p, 6 * BLOCK, 0, 2);
    unsigned char *ka, *kb;
    apr_size_t na = kvc_pending_keys(&a, p, &ka);
    apr_size_t nb = kvc_pending_keys(&b, p, &kb);
    char route[KVC_ROUTE_SIZE];

    kvc_pending_add(pd, ka, na, "vllm-a");
    kvc_pending_add(pd, kb, nb, "vllm-b");
    KVC_CHECK(kvc_pending_count(pd) == 8);
    KVC_CHECK(kvc_pending_match(pd, kb, nb, route) == 6 * BLOCK);
    /* a lost its first four blocks, so nothing of it is a prefix. */
    KVC_CHECK(kvc_pending_match(pd, ka, na, route) == 0);
}

const kvc_test_case kvc_pending_tests[] = {
    KVC_TEST(test_pending_keys), KVC_TEST(test_pending_follow_until_done),
    KVC_TEST(test_pending_latest_owner), KVC_TEST(test_pending_bounded),
    KVC_TEST_END
};
