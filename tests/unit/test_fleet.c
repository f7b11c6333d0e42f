/* Licensed under the Apache License, Version 2.0 (the "License"); you may not
 * use this file except in compliance with the License.  You may obtain a copy
 * of the License at http://www.apache.org/licenses/LICENSE-2.0
 */

/**
 * @file test_fleet.c
 * @brief Tests for kvc_fleet: KVCacheFleetStore values, the names of the
 *        shared keys, and leaving and rejoining the fleet once per outage.
 */

#include <string.h>

#include "kvc_fleet.h"
#include "kvc_test.h"

static void test_fleet_parse_good(apr_pool_t *p)
{
    kvc_fleet_spec spec;

    KVC_CHECK(kvc_fleet_parse("redis:127.0.0.1:6379", p, &spec) == NULL);
    KVC_CHECK_STR(spec.host, "127.0.0.1");
    KVC_CHECK_INT(spec.port, 6379);
    KVC_CHECK_STR(spec.prefix, "kvcache");
    KVC_CHECK(
        kvc_fleet_parse("redis:cache-1.example.net:7000/prod.gw_2", p, &spec)
        == NULL);
    KVC_CHECK_STR(spec.host, "cache-1.example.net");
    KVC_CHECK_INT(spec.port, 7000);
    KVC_CHECK_STR(spec.prefix, "prod.gw_2");
    KVC_CHECK(kvc_fleet_parse("REDIS:[::1]:6380/a", p, &spec) == NULL);
    KVC_CHECK_STR(spec.host, "::1");
    KVC_CHECK_INT(spec.port, 6380);
    KVC_CHECK_STR(spec.prefix, "a");
}

static void test_fleet_parse_bad(apr_pool_t *p)
{
    static const char *const bad[] = {
        "",
        "redis",
        "redis:",
        "redis:host",
        "redis:host:",
        "redis::6379",
        "redis:host:0",
        "redis:host:65536",
        "redis:host:63x9",
        "redis:host:6379/",
        "redis:host:6379/has space",
        "redis:host:6379/a:b",
        "redis:host:6379/"
        "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
        "memcache:host:11211",
        "redis:ho st:6379",
        "redis:[::1:6379",
        "redis:[zz]:6379",
        "redis://host:6379",
        NULL
    };
    kvc_fleet_spec spec;
    const char *why;
    int i;

    for (i = 0; bad[i]; i++) {
        kvc_test_context = bad[i];
        why = kvc_fleet_parse(bad[i], p, &spec);
        KVC_CHECK(why != NULL);
        KVC_CHECK(why && !strncmp(why, "must be ", 8));
    }
}

static void test_fleet_keys(apr_pool_t *p)
{
    unsigned char key[KVC_KEY_LEN];
    int i;

    for (i = 0; i < KVC_KEY_LEN; i++) {
        key[i] = (unsigned char)((i % 16) * 17);
    }
    KVC_CHECK_STR(kvc_fleet_key(p, "kv", KVC_FLEET_HOT, key, NULL),
                  "kv:hot:00112233445566778899aabbccddeeff"
                  "00112233445566778899aabbccddeeff");
    KVC_CHECK_STR(kvc_fleet_key(p, "kv", KVC_FLEET_PIN, key, NULL),
                  "kv:pin:00112233445566778899aabbccddeeff"
                  "00112233445566778899aabbccddeeff");
    KVC_CHECK_STR(kvc_fleet_key(p, "kv", KVC_FLEET_SESSION, key, NULL),
                  "kv:session:00112233445566778899aabbccddeeff"
                  "00112233445566778899aabbccddeeff");
    KVC_CHECK_STR(kvc_fleet_key(p, "kv", KVC_FLEET_COMPRESS, NULL, "vllm-a"),
                  "kv:compress:vllm-a");
    KVC_CHECK_STR(kvc_fleet_key(p, "kv", KVC_FLEET_CLEAR, NULL, "vllm-a"),
                  "kv:clear:vllm-a");
}

/* One LEFT per outage and one REJOINED per recovery, whatever the number
 * of calls that see each. */
static void test_fleet_note_once(apr_pool_t *p)
{
    volatile apr_uint32_t degraded = 0;

    KVC_CHECK_INT(kvc_fleet_note(&degraded, 1), KVC_FLEET_UNCHANGED);
    KVC_CHECK_INT(kvc_fleet_note(&degraded, 0), KVC_FLEET_LEFT);
    KVC_CHECK_INT(degraded, 1);
    KVC_CHECK_INT(kvc_fleet_note(&degraded, 0), KVC_FLEET_UNCHANGED);
    KVC_CHECK_INT(kvc_fleet_note(&degraded, 0), KVC_FLEET_UNCHANGED);
    KVC_CHECK_INT(kvc_fleet_note(&degraded, 1), KVC_FLEET_REJOINED);
    KVC_CHECK_INT(degraded, 0);
    KVC_CHECK_INT(kvc_fleet_note(&degraded, 1), KVC_FLEET_UNCHANGED);
    KVC_CHECK_INT(kvc_fleet_note(&degraded, 0), KVC_FLEET_LEFT);
}

const kvc_test_case kvc_fleet_tests[] = {
    KVC_TEST(test_fleet_parse_good), KVC_TEST(test_fleet_parse_bad),
    KVC_TEST(test_fleet_keys), KVC_TEST(test_fleet_note_once), KVC_TEST_END
};
