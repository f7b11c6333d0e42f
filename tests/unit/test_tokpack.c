/* Licensed under the Apache License, Version 2.0 (the "License"); you may not
 * use this file except in compliance with the License.  You may obtain a copy
 * of the License at http://www.apache.org/licenses/LICENSE-2.0
 */

/**
 * @file test_tokpack.c
 * @brief Tests for kvc_tokpack: exact bytes, round trips up to 128k
 *        tokens, and rejection of every corruption and truncation.
 */

#include <stdlib.h>

#include "apr_strings.h"

#include "kvc_tokpack.h"
#include "kvc_test.h"

static kvc_tokens tokens_of(apr_pool_t *p, apr_size_t count, apr_uint32_t seed)
{
    kvc_tokens t;
    apr_size_t i;

    t.count = count;
    t.ids = count ? apr_palloc(p, count * sizeof(*t.ids)) : NULL;
    for (i = 0; i < count; i++) {
        seed ^= seed << 13;
        seed ^= seed >> 17;
        seed ^= seed << 5;
        t.ids[i] = (apr_int32_t)(seed & 0x7fffffffu);
    }
    return t;
}

static unsigned char *encode(const kvc_tokens *t, apr_size_t *len)
{
    unsigned char *buf;

    *len = kvc_tokpack_size(t->count);
    buf = malloc(*len);
    if (buf == NULL) {
        fprintf(stderr, "out of memory\n");
        exit(2);
    }
    kvc_tokpack_encode(t, buf);
    return buf;
}

/* Decodes from an exact heap copy, so reads past len are caught. */
static int decode(const unsigned char *buf, apr_size_t len, apr_pool_t *p,
                  kvc_tokens *out)
{
    char *copy = kvc_test_exact((const char *)buf, len);
    int r;

    out->ids = (apr_int32_t *)p; /* must be overwritten */
    out->count = 12345;
    r = kvc_tokpack_decode((unsigned char *)copy, len, p, out);
    /* In place or not, the result must not depend on the copy. */
    if (r == 0 && out->count) {
        out->ids = apr_pmemdup(p, out->ids, out->count * sizeof(*out->ids));
    }
    free(copy);
    return r;
}

static int same_tokens(const kvc_tokens *a, const kvc_tokens *b)
{
    return a->count == b->count
           && (a->count == 0
               || memcmp(a->ids, b->ids, a->count * sizeof(*a->ids)) == 0);
}

static void test_tokpack_size(apr_pool_t *p)
{
    KVC_CHECK_INT(kvc_tokpack_size(0), 8);
    KVC_CHECK_INT(kvc_tokpack_size(1), 12);
    KVC_CHECK_INT(kvc_tokpack_size(131072), 8 + 4 * 131072);
    KVC_CHECK_INT(kvc_tokpack_size(APR_SIZE_MAX), 0);
    KVC_CHECK_INT(kvc_tokpack_size((APR_SIZE_MAX - 8) / 4 + 1), 0);
#if APR_SIZEOF_VOIDP >= 8
    /* The count field is 32 bits. */
    KVC_CHECK_INT(kvc_tokpack_size((apr_size_t)0xffffffffu),
                  8 + 4 * (apr_uint64_t)0xffffffffu);
    KVC_CHECK_INT(kvc_tokpack_size((apr_size_t)0xffffffffu + 1), 0);
#endif
}

static void test_tokpack_exact_bytes(apr_pool_t *p)
{
    static const unsigned char want[] = { 'K',  'V',  'T',  '1',  3,
                                          0,    0,    0,    1,    0,
                                          0,    0,    0x04, 0x03, 0x02,
                                          0x01, 0xff, 0xff, 0xff, 0x7f };
    apr_int32_t ids[3] = { 1, 0x01020304, 0x7fffffff };
    kvc_tokens t, out;
    unsigned char *buf;
    apr_size_t len;

    t.ids = ids;
    t.count = 3;
    buf = encode(&t, &len);
    KVC_CHECK_INT(len, sizeof(want));
    KVC_CHECK(memcmp(buf, want, sizeof(want)) == 0);
    KVC_CHECK_INT(decode(buf, len, p, &out), 0);
    KVC_CHECK_INT(out.count, 3);
    KVC_CHECK(same_tokens(&out, &t));
    free(buf);
}

static void test_tokpack_round_trip(apr_pool_t *p)
{
    static const apr_size_t counts[] = { 0, 1, 2, 127, 4096, 131072 };
    unsigned i;

    for (i = 0; i < sizeof(counts) / sizeof(counts[0]); i++) {
        kvc_tokens t = tokens_of(p, counts[i], 0x9e3779b9u + i), out;
        apr_size_t len;
        unsigned char *buf = encode(&t, &len);

        KVC_CHECK_INT(len, 8 + 4 * counts[i]);
        KVC_CHECK_INT(decode(buf, len, p, &out), 0);
        KVC_CHECK_INT(out.count, counts[i]);
        KVC_CHECK(same_tokens(&out, &t));
        if (counts[i] == 0) {
            KVC_CHECK_NULL(out.ids);
        }
        free(buf);
    }
}

static void test_tokpack_unaligned(apr_pool_t *p)
{
    kvc_tokens t = tokens_of(p, 33, 7), out;
    unsigned char *raw = malloc(kvc_tokpack_size(33) + 3);

    if (raw == NULL) {
        fprintf(stderr, "out of memory\n");
        exit(2);
    }
    /* Store values come at any alignment. */
    kvc_tokpack_encode(&t, raw + 3);
    KVC_CHECK_INT(kvc_tokpack_decode(raw + 3, kvc_tokpack_size(33), p, &out),
                  0);
    KVC_CHECK(same_tokens(&out, &t));
    free(raw);
}

/* An aligned entry is decoded where it lies: no second buffer of its size
 * for a long prompt. */
static void test_tokpack_in_place(apr_pool_t *p)
{
    kvc_tokens t = tokens_of(p, 1000, 11), out;
    apr_size_t len;
    unsigned char *buf = encode(&t, &len);

    KVC_CHECK_INT(kvc_tokpack_decode(buf, len, p, &out), 0);
    KVC_CHECK(same_tokens(&out, &t));
    KVC_CHECK((void *)out.ids == (void *)(buf + 8));
    free(buf);
}

static void test_tokpack_bad_magic(apr_pool_t *p)
{
    kvc_tokens t = tokens_of(p, 4, 99), out;
    apr_size_t len, i;
    unsigned char *buf = encode(&t, &len);

    for (i = 0; i < 4; i++) {
        unsigned bit;

        for (bit = 0; bit < 8; bit++) {
            buf[i] ^= (unsigned char)(1u << bit);
            KVC_CHECK_INT(decode(buf, len, p, &out), -1);
            KVC_CHECK_NULL(out.ids);
            KVC_CHECK_INT(out.count, 0);
            buf[i] ^= (unsigned char)(1u << bit);
        }
    }
    /* A future version is not this one. */
    buf[3] = '2';
    KVC_CHECK_INT(decode(buf, len, p, &out), -1);
    buf[3] = '1';
    KVC_CHECK_INT(decode(buf, len, p, &out), 0);
    free(buf);
}

static void test_tokpack_bad_count(apr_pool_t *p)
{
    kvc_tokens t = tokens_of(p, 4, 5), out;
    apr_size_t len, i;
    unsigned char *buf = encode(&t, &len);

    /* Any bit of the count flipped no longer matches the length. */
    for (i = 4; i < 8; i++) {
        unsigned bit;

        for (bit = 0; bit < 8; bit++) {
            buf[i] ^= (unsigned char)(1u << bit);
            kvc_test_context = "count bit flip";
            KVC_CHECK_INT(decode(buf, len, p, &out), -1);
            KVC_CHECK_INT(out.count, 0);
            buf[i] ^= (unsigned char)(1u << bit);
        }
    }
    kvc_test_context = NULL;
    /* A huge count with a short buffer (4 * count overflows 32 bits). */
    buf[4] = buf[5] = buf[6] = buf[7] = 0xff;
    KVC_CHECK_INT(decode(buf, len, p, &out), -1);
    buf[4] = 0x02;
    buf[5] = buf[6] = 0x00;
    buf[7] = 0x40; /* 0x40000002: 4 * count wraps to 8 */
    KVC_CHECK_INT(decode(buf, 16, p, &out), -1);
    free(buf);
}

static void test_tokpack_bad_ids(apr_pool_t *p)
{
    kvc_tokens t = tokens_of(p, 5, 11), out;
    apr_size_t len, i;
    unsigned char *buf = encode(&t, &len);
    apr_int32_t neg[2] = { 5, -1 };

    /* The top bit of any id makes it > INT32_MAX. */
    for (i = 0; i < 5; i++) {
        buf[8 + 4 * i + 3] ^= 0x80;
        KVC_CHECK_INT(decode(buf, len, p, &out), -1);
        KVC_CHECK_NULL(out.ids);
        buf[8 + 4 * i + 3] ^= 0x80;
    }
    KVC_CHECK_INT(decode(buf, len, p, &out), 0);
    free(buf);

    /* A negative id encodes to something decode refuses. */
    t.ids = neg;
    t.count = 2;
    buf = encode(&t, &len);
    KVC_CHECK_INT(decode(buf, len, p, &out), -1);
    free(buf);
}

static void test_tokpack_truncation_and_trailing(apr_pool_t *p)
{
    kvc_tokens t = tokens_of(p, 9, 3), out;
    apr_size_t len, cut;
    unsigned char *buf = encode(&t, &len), *longer;

    for (cut = 0; cut < len; cut++) {
        KVC_CHECK_INT(decode(buf, cut, p, &out), -1);
        KVC_CHECK_INT(out.count, 0);
    }
    KVC_CHECK_INT(decode(buf, len, p, &out), 0);
    KVC_CHECK_INT(kvc_tokpack_decode(NULL, 0, p, &out), -1);

    /* Trailing bytes: one, or a whole extra id. */
    longer = malloc(len + 4);
    if (longer == NULL) {
        fprintf(stderr, "out of memory\n");
        exit(2);
    }
    memcpy(longer, buf, len);
    memset(longer + len, 0, 4);
    for (cut = len + 1; cut <= len + 4; cut++) {
        KVC_CHECK_INT(decode(longer, cut, p, &out), -1);
    }
    free(longer);
    free(buf);
}

const kvc_test_case kvc_tokpack_tests[] = {
    KVC_TEST(test_tokpack_size),
    KVC_TEST(test_tokpack_exact_bytes),
    KVC_TEST(test_tokpack_round_trip),
    KVC_TEST(test_tokpack_unaligned),
    KVC_TEST(test_tokpack_in_place),
    KVC_TEST(test_tokpack_bad_magic),
    KVC_TEST(test_tokpack_bad_count),
    KVC_TEST(test_tokpack_bad_ids),
    KVC_TEST(test_tokpack_truncation_and_trailing),
    KVC_TEST_END
};
