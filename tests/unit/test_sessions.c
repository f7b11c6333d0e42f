/* Licensed under the Apache License, Version 2.0 (the "License"); you may not
 * use this file except in compliance with the License.  You may obtain a copy
 * of the License at http://www.apache.org/licenses/LICENSE-2.0
 */

/**
 * @file test_sessions.c
 * @brief Tests for kvc_sessions: the session table's memory, TTL, bound
 *        and keys.
 */

#include <string.h>

#include "apr_strings.h"

#include "kvc_sessions.h"
#include "kvc_test.h"

#define SEC(n) ((apr_time_t)(n)*APR_USEC_PER_SEC)

static kvc_sessions *table(apr_pool_t *p, apr_uint32_t capacity)
{
    return kvc_sessions_init(apr_pcalloc(p, kvc_sessions_size(capacity)),
                             capacity);
}

static void key_of(const char *name, unsigned char key[KVC_KEY_LEN])
{
    kvc_sessions_key(name, strlen(name), key);
}

static void test_sessions_remember_and_forget(apr_pool_t *p)
{
    kvc_sessions *ss = table(p, 8);
    unsigned char a[KVC_KEY_LEN], b[KVC_KEY_LEN];
    char route[KVC_ROUTE_SIZE];

    key_of("agent-1", a);
    key_of("agent-2", b);
    KVC_CHECK(memcmp(a, b, KVC_KEY_LEN) != 0);
    KVC_CHECK(!kvc_sessions_get(ss, a, SEC(1), SEC(60), route));
    kvc_sessions_put(ss, a, "vllm-b", SEC(1));
    KVC_CHECK(kvc_sessions_get(ss, a, SEC(30), SEC(60), route));
    KVC_CHECK_STR(route, "vllm-b");
    KVC_CHECK(!kvc_sessions_get(ss, b, SEC(30), SEC(60), route));
    /* The member follows the last turn served. */
    kvc_sessions_put(ss, a, "vllm-c", SEC(40));
    KVC_CHECK(kvc_sessions_get(ss, a, SEC(41), SEC(60), route));
    KVC_CHECK_STR(route, "vllm-c");
    /* Older than the TTL, or a clock stepped back: forgotten. */
    KVC_CHECK(!kvc_sessions_get(ss, a, SEC(101), SEC(60), route));
    KVC_CHECK(!kvc_sessions_get(ss, a, SEC(10), SEC(60), route));
    KVC_CHECK_INT(kvc_sessions_count(ss), 1);
}

/* Bounded: past the capacity the least recently seen session goes. */
static void test_sessions_bounded(apr_pool_t *p)
{
    kvc_sessions *ss = table(p, 4);
    unsigned char key[KVC_KEY_LEN], first[KVC_KEY_LEN];
    char route[KVC_ROUTE_SIZE], name[16];
    int i;

    key_of("s0", first);
    for (i = 0; i < 10; i++) {
        apr_snprintf(name, sizeof(name), "s%d", i);
        key_of(name, key);
        kvc_sessions_put(ss, key, "vllm-a", SEC(i));
    }
    KVC_CHECK_INT(kvc_sessions_count(ss), 4);
    KVC_CHECK(!kvc_sessions_get(ss, first, SEC(10), SEC(60), route));
    KVC_CHECK(kvc_sessions_get(ss, key, SEC(10), SEC(60), route));
}

const kvc_test_case kvc_sessions_tests[] = {
    KVC_TEST(test_sessions_remember_and_forget),
    KVC_TEST(test_sessions_bounded), KVC_TEST_END
};
