/* Licensed under the Apache License, Version 2.0 (the "License"); you may not
 * use this file except in compliance with the License.  You may obtain a copy
 * of the License at http://www.apache.org/licenses/LICENSE-2.0
 */

/**
 * @file test_json_writer.c
 * @brief Tests for kvc_json_writer: escaping, structure, numbers, the
 *        token array, and that the scanner reads back what it writes.
 */

#include <float.h>
#include <math.h>
#include <stdlib.h>

#include "apr_strings.h"

#include "kvc_json.h"
#include "kvc_json_writer.h"
#include "kvc_test.h"

/* The document holding only the string s (len bytes), or NULL. */
static const char *string_doc(const char *s, apr_size_t len, apr_pool_t *p)
{
    kvc_json_writer w;

    kvc_json_writer_init(&w, p, 0);
    kvc_json_write_string(&w, s, len);
    return kvc_json_writer_finish(&w, NULL);
}

/* Decodes the one string of a document with the scanner; NULL unless
 * the document is valid JSON and exactly one string. */
static const char *read_string(const char *doc, apr_pool_t *p, apr_size_t *len)
{
    kvc_json_scan s;
    kvc_json_str str;
    char *out;

    if (doc == NULL || !kvc_json_valid(doc, strlen(doc))) {
        return NULL;
    }
    s.p = doc;
    s.end = doc + strlen(doc);
    if (*s.p != '"' || !kvc_json_string(&s, &str) || s.p != s.end) {
        return NULL;
    }
    out = apr_palloc(p, str.len + 1);
    *len = kvc_json_decode(&str, out);
    out[*len] = '\0';
    return out;
}

static void test_writer_string_escapes(apr_pool_t *p)
{
    static const struct {
        const char *in;
        apr_size_t len;
        const char *out;
    } cases[] = {
        { "", 0, "\"\"" },
        { "plain / text~\x7f", 14, "\"plain / text~\x7f\"" },
        { "q\"b\\", 4, "\"q\\\"b\\\\\"" },
        { "\n\r\t\b\f", 5, "\"\\u000a\\u000d\\u0009\\u0008\\u000c\"" },
        { "a\0b", 3, "\"a\\u0000b\"" },
        { "\x01\x1f\x20", 3, "\"\\u0001\\u001f \"" },
        /* well-formed UTF-8 passes, at every length */
        { "\xc3\xa9\xe6\x97\xa5\xf0\x9f\x98\x80\xf4\x8f\xbf\xbf", 13,
          "\"\xc3\xa9\xe6\x97\xa5\xf0\x9f\x98\x80\xf4\x8f\xbf\xbf\"" },
        { "\xe2\x80\xa8", 3, "\"\xe2\x80\xa8\"" },
        /* every ill-formed byte is one U+FFFD */
        { "\x80", 1, "\"\\ufffd\"" },
        { "a\xff"
          "b",
          3, "\"a\\ufffdb\"" },
        { "\xc0\x80", 2, "\"\\ufffd\\ufffd\"" },
        { "\xed\xa0\x80", 3, "\"\\ufffd\\ufffd\\ufffd\"" },
        { "\xf4\x90\x80\x80", 4, "\"\\ufffd\\ufffd\\ufffd\\ufffd\"" },
        { "\xe6\x97", 2, "\"\\ufffd\\ufffd\"" },
        { "\xe6\x97x", 3, "\"\\ufffd\\ufffdx\"" },
        { "\xc3\xa9\xc3", 3, "\"\xc3\xa9\\ufffd\"" }
    };
    apr_size_t i;

    for (i = 0; i < sizeof(cases) / sizeof(*cases); i++) {
        kvc_test_context = cases[i].out;
        KVC_CHECK_STR(string_doc(cases[i].in, cases[i].len, p), cases[i].out);
    }
}

/* Every byte value at every position of strings of 1..12 bytes reads
 * back as written, ill-formed bytes as U+FFFD. */
static void test_writer_string_roundtrip(apr_pool_t *p)
{
    char in[16], want[64];
    apr_size_t n, i, len = 0;
    unsigned c;

    for (n = 1; n <= 12; n++) {
        for (i = 0; i < n; i++) {
            for (c = 0; c < 256; c++) {
                const char *got;
                apr_size_t wn;

                memset(in, 'x', n);
                in[i] = (char)c;
                memcpy(want, in, i);
                if (c >= 0x80) {
                    memcpy(want + i, "\xef\xbf\xbd", 3);
                    wn = i + 3;
                }
                else {
                    want[i] = (char)c;
                    wn = i + 1;
                }
                memcpy(want + wn, in + i + 1, n - i - 1);
                wn += n - i - 1;
                got = read_string(string_doc(in, n, p), p, &len);
                if (got == NULL || len != wn || memcmp(got, want, wn) != 0) {
                    kvc_test_fail(__FILE__, __LINE__,
                                  "byte 0x%02x at %lu of %lu", c,
                                  (unsigned long)i, (unsigned long)n);
                }
            }
        }
        /* A four-byte character at every position, and cut short. */
        for (i = 0; i + 4 <= n; i++) {
            const char *got;

            memset(in, 'x', n);
            memcpy(in + i, "\xf0\x9f\x98\x80", 4);
            got = read_string(string_doc(in, n, p), p, &len);
            KVC_CHECK(got != NULL && len == n && memcmp(got, in, n) == 0);
            got = read_string(string_doc(in, i + 3, p), p, &len);
            KVC_CHECK(got != NULL && len == i + 9);
        }
    }
    /* NULL is null; a C string stops at its NUL. */
    {
        kvc_json_writer w;

        kvc_json_writer_init(&w, p, 0);
        kvc_json_write_cstring(&w, NULL);
        KVC_CHECK_STR(kvc_json_writer_finish(&w, NULL), "null");
        kvc_json_writer_init(&w, p, 0);
        kvc_json_write_cstring(&w, "a\0b");
        KVC_CHECK_STR(kvc_json_writer_finish(&w, NULL), "\"a\"");
    }
}

static void test_writer_structure(apr_pool_t *p)
{
    kvc_json_writer w;
    apr_size_t len = 0;
    const char *doc;

    kvc_json_writer_init(&w, p, 0);
    kvc_json_write_object_open(&w);
    kvc_json_write_key(&w, "a");
    kvc_json_write_array_open(&w);
    kvc_json_write_uint(&w, 1);
    kvc_json_write_cstring(&w, "x");
    kvc_json_write_null(&w);
    kvc_json_write_object_open(&w);
    kvc_json_write_object_close(&w);
    kvc_json_write_array_open(&w);
    kvc_json_write_array_close(&w);
    kvc_json_write_array_close(&w);
    kvc_json_write_key(&w, "b\"");
    kvc_json_write_object_open(&w);
    kvc_json_write_key(&w, "c");
    kvc_json_write_int(&w, -2);
    kvc_json_write_object_close(&w);
    kvc_json_write_key(&w, "");
    kvc_json_write_uint(&w, 0);
    kvc_json_write_object_close(&w);
    doc = kvc_json_writer_finish(&w, &len);
    KVC_CHECK_STR(doc, "{\"a\":[1,\"x\",null,{},[]],\"b\\\"\":{\"c\":-2},"
                       "\"\":0}");
    KVC_CHECK_INT(len, doc ? strlen(doc) : 0);
    KVC_CHECK_STR(kvc_test_json_at(doc, "b\".c", p), "-2");
    KVC_CHECK_STR(kvc_test_json_at(doc, "a", p), "[1,\"x\",null,{},[]]");

    /* A top-level scalar is a document too. */
    kvc_json_writer_init(&w, p, 0);
    kvc_json_write_uint(&w, 7);
    KVC_CHECK_STR(kvc_json_writer_finish(&w, NULL), "7");
}

/* Each step of a broken sequence: the writer fails, and stays failed. */
typedef enum {
    OP_OBJ,
    OP_ARR,
    OP_END_OBJ,
    OP_END_ARR,
    OP_KEY,
    OP_VAL,
    OP_STOP
} op;

static const char *run_ops(const op *ops, apr_pool_t *p)
{
    kvc_json_writer w;

    kvc_json_writer_init(&w, p, 0);
    for (; *ops != OP_STOP; ops++) {
        switch (*ops) {
        case OP_OBJ: kvc_json_write_object_open(&w); break;
        case OP_ARR: kvc_json_write_array_open(&w); break;
        case OP_END_OBJ: kvc_json_write_object_close(&w); break;
        case OP_END_ARR: kvc_json_write_array_close(&w); break;
        case OP_KEY: kvc_json_write_key(&w, "k"); break;
        case OP_VAL: kvc_json_write_uint(&w, 1); break;
        case OP_STOP: break;
        }
    }
    return kvc_json_writer_finish(&w, NULL);
}

static void test_writer_misuse_fails(apr_pool_t *p)
{
    static const op bad[][8] = {
        { OP_STOP },                             /* nothing */
        { OP_OBJ, OP_STOP },                     /* unclosed */
        { OP_OBJ, OP_VAL, OP_END_OBJ, OP_STOP }, /* value, no key */
        { OP_OBJ, OP_KEY, OP_END_OBJ, OP_STOP }, /* key, no value */
        { OP_OBJ, OP_KEY, OP_KEY, OP_VAL, OP_END_OBJ, OP_STOP },
        { OP_ARR, OP_KEY, OP_VAL, OP_END_ARR, OP_STOP }, /* key in array */
        { OP_KEY, OP_VAL, OP_STOP },                     /* key at the top */
        { OP_OBJ, OP_END_ARR, OP_STOP },                 /* wrong closer */
        { OP_ARR, OP_END_OBJ, OP_STOP },
        { OP_VAL, OP_VAL, OP_STOP }, /* two documents */
        { OP_ARR, OP_END_ARR, OP_ARR, OP_END_ARR, OP_STOP },
        { OP_END_ARR, OP_STOP }, /* nothing open */
        /* failed stays failed, even if the rest is fine */
        { OP_ARR, OP_END_OBJ, OP_END_ARR, OP_STOP }
    };
    static const op good[] = { OP_OBJ, OP_KEY,     OP_ARR,     OP_VAL,
                               OP_VAL, OP_END_ARR, OP_END_OBJ, OP_STOP };
    apr_size_t i;

    for (i = 0; i < sizeof(bad) / sizeof(*bad); i++) {
        kvc_test_context = apr_psprintf(p, "sequence %lu", (unsigned long)i);
        KVC_CHECK_NULL(run_ops(bad[i], p));
    }
    kvc_test_context = NULL;
    KVC_CHECK_STR(run_ops(good, p), "{\"k\":[1,1]}");
}

/* No value deeper than KVC_JSON_MAX_DEPTH levels: what is written is
 * what every parser here accepts. */
static void test_writer_depth(apr_pool_t *p)
{
    kvc_json_writer w;
    const char *doc;
    kvc_tokens t;
    apr_int32_t one = 1;
    int i;

    t.ids = &one;
    t.count = 1;
    /* 63 arrays and a value inside: level 64. */
    kvc_json_writer_init(&w, p, 0);
    for (i = 0; i < KVC_JSON_MAX_DEPTH - 1; i++) {
        kvc_json_write_array_open(&w);
    }
    kvc_json_write_uint(&w, 0);
    for (i = 0; i < KVC_JSON_MAX_DEPTH - 1; i++) {
        kvc_json_write_array_close(&w);
    }
    doc = kvc_json_writer_finish(&w, NULL);
    KVC_CHECK(doc != NULL && kvc_json_valid(doc, strlen(doc)));
    /* 64 arrays: empty is fine, anything inside is not. */
    kvc_json_writer_init(&w, p, 0);
    for (i = 0; i < KVC_JSON_MAX_DEPTH; i++) {
        kvc_json_write_array_open(&w);
    }
    for (i = 0; i < KVC_JSON_MAX_DEPTH; i++) {
        kvc_json_write_array_close(&w);
    }
    doc = kvc_json_writer_finish(&w, NULL);
    KVC_CHECK(doc != NULL && kvc_json_valid(doc, strlen(doc)));
    kvc_json_writer_init(&w, p, 0);
    for (i = 0; i < KVC_JSON_MAX_DEPTH; i++) {
        kvc_json_write_array_open(&w);
    }
    kvc_json_write_null(&w);
    for (i = 0; i < KVC_JSON_MAX_DEPTH; i++) {
        kvc_json_write_array_close(&w);
    }
    KVC_CHECK_NULL(kvc_json_writer_finish(&w, NULL));
    /* A token array at level 64 may be empty only. */
    kvc_json_writer_init(&w, p, 0);
    for (i = 0; i < KVC_JSON_MAX_DEPTH - 1; i++) {
        kvc_json_write_array_open(&w);
    }
    kvc_json_write_tokens(&w, &t);
    for (i = 0; i < KVC_JSON_MAX_DEPTH - 1; i++) {
        kvc_json_write_array_close(&w);
    }
    KVC_CHECK_NULL(kvc_json_writer_finish(&w, NULL));
    kvc_json_writer_init(&w, p, 0);
    for (i = 0; i < KVC_JSON_MAX_DEPTH - 1; i++) {
        kvc_json_write_array_open(&w);
    }
    kvc_json_write_tokens(&w, NULL);
    for (i = 0; i < KVC_JSON_MAX_DEPTH - 1; i++) {
        kvc_json_write_array_close(&w);
    }
    doc = kvc_json_writer_finish(&w, NULL);
    KVC_CHECK(doc != NULL && kvc_json_valid(doc, strlen(doc)));
}

static const char *number_doc(int kind, apr_uint64_t u, apr_int64_t i, double d,
                              int decimals, apr_pool_t *p)
{
    kvc_json_writer w;

    kvc_json_writer_init(&w, p, 0);
    switch (kind) {
    case 0: kvc_json_write_uint(&w, u); break;
    case 1: kvc_json_write_int(&w, i); break;
    default: kvc_json_write_fixed(&w, d, decimals); break;
    }
    return kvc_json_writer_finish(&w, NULL);
}

static void test_writer_numbers(apr_pool_t *p)
{
    KVC_CHECK_STR(number_doc(0, 0, 0, 0, 0, p), "0");
    KVC_CHECK_STR(number_doc(0, 1234567890123ULL, 0, 0, 0, p), "1234567890123");
    KVC_CHECK_STR(number_doc(0, APR_UINT64_C(18446744073709551615), 0, 0, 0, p),
                  "18446744073709551615");
    KVC_CHECK_STR(number_doc(1, 0, -1, 0, 0, p), "-1");
    KVC_CHECK_STR(number_doc(1, 0, APR_INT64_MIN, 0, 0, p),
                  "-9223372036854775808");
    KVC_CHECK_STR(number_doc(1, 0, APR_INT64_MAX, 0, 0, p),
                  "9223372036854775807");
    KVC_CHECK_STR(number_doc(2, 0, 0, 0.0523, 6, p), "0.052300");
    KVC_CHECK_STR(number_doc(2, 0, 0, 2.5, 0, p), "2");
    KVC_CHECK_STR(number_doc(2, 0, 0, -1.25, 3, p), "-1.250");
    {
        const char *big = number_doc(2, 0, 0, 1e300, 2, p);

        KVC_CHECK(big != NULL && strlen(big) == 304
                  && strcmp(big + 301, ".00") == 0);
    }
    KVC_CHECK_STR(number_doc(2, 0, 0, NAN, 6, p), "null");
    KVC_CHECK_STR(number_doc(2, 0, 0, INFINITY, 6, p), "null");
    KVC_CHECK_STR(number_doc(2, 0, 0, -INFINITY, 6, p), "null");
    KVC_CHECK_NULL(number_doc(2, 0, 0, 1.0, 10, p));
    KVC_CHECK_NULL(number_doc(2, 0, 0, 1.0, -1, p));
    /* Whatever the value, a valid JSON number (or null) comes out. */
    {
        static const double values[] = { 0.0,        -0.0,
                                         1e-300,     -1e-300,
                                         DBL_MAX,    -DBL_MAX,
                                         123.456789, 4503599627370497.0 };
        apr_size_t k;
        int d;

        for (k = 0; k < sizeof(values) / sizeof(*values); k++) {
            for (d = 0; d <= 9; d++) {
                const char *doc = number_doc(2, 0, 0, values[k], d, p);

                KVC_CHECK(doc != NULL && kvc_json_valid(doc, strlen(doc)));
            }
        }
    }
}

static void test_writer_tokens(apr_pool_t *p)
{
    apr_int32_t ids[] = { 0,   1,     9,          10, 99,
                          100, 12345, 2147483647, -5, -2147483647 - 1 };
    kvc_json_writer w;
    kvc_tokens t;

    t.ids = ids;
    t.count = sizeof(ids) / sizeof(*ids);
    kvc_json_writer_init(&w, p, 0);
    kvc_json_write_tokens(&w, &t);
    KVC_CHECK_STR(kvc_json_writer_finish(&w, NULL),
                  "[0,1,9,10,99,100,12345,2147483647,-5,-2147483648]");
    kvc_json_writer_init(&w, p, 0);
    kvc_json_write_tokens(&w, NULL);
    KVC_CHECK_STR(kvc_json_writer_finish(&w, NULL), "[]");
    t.ids = NULL;
    t.count = 5;
    kvc_json_writer_init(&w, p, 0);
    kvc_json_write_tokens(&w, &t);
    KVC_CHECK_STR(kvc_json_writer_finish(&w, NULL), "[]");
    /* Between other members, with separators. */
    t.ids = ids;
    t.count = 2;
    kvc_json_writer_init(&w, p, 0);
    kvc_json_write_object_open(&w);
    kvc_json_write_key(&w, "a");
    kvc_json_write_tokens(&w, &t);
    kvc_json_write_key(&w, "b");
    kvc_json_write_array_open(&w);
    kvc_json_write_tokens(&w, &t);
    kvc_json_write_tokens(&w, &t);
    kvc_json_write_array_close(&w);
    kvc_json_write_object_close(&w);
    KVC_CHECK_STR(kvc_json_writer_finish(&w, NULL),
                  "{\"a\":[0,1],\"b\":[[0,1],[0,1]]}");
}

/* However small the first guess, the text is the same: growth copies
 * what was written. */
static void test_writer_growth(apr_pool_t *p)
{
    const apr_size_t n = 100000;
    apr_int32_t *ids = apr_palloc(p, n * sizeof(*ids));
    const char *small = NULL, *sized = NULL;
    apr_size_t i, small_len = 0, sized_len = 0;
    kvc_json_writer w;
    kvc_tokens t;
    int pass;

    for (i = 0; i < n; i++) {
        ids[i] = (apr_int32_t)(i * 2654435761u % 2147483647u);
    }
    t.ids = ids;
    t.count = n;
    for (pass = 0; pass < 2; pass++) {
        kvc_json_writer_init(&w, p, pass ? 12 * n + 4096 : 0);
        kvc_json_write_array_open(&w);
        for (i = 0; i < 300; i++) {
            kvc_json_write_cstring(&w, "some text \"quoted\" and \t tabbed");
        }
        kvc_json_write_tokens(&w, &t);
        kvc_json_write_array_close(&w);
        if (pass) {
            sized = kvc_json_writer_finish(&w, &sized_len);
        }
        else {
            small = kvc_json_writer_finish(&w, &small_len);
        }
    }
    KVC_CHECK(small != NULL && sized != NULL);
    KVC_CHECK_INT(small_len, sized_len);
    KVC_CHECK(small && sized && memcmp(small, sized, sized_len + 1) == 0);
    KVC_CHECK(sized && kvc_json_valid(sized, sized_len));
}

const kvc_test_case kvc_json_writer_tests[] = {
    KVC_TEST(test_writer_string_escapes),
    KVC_TEST(test_writer_string_roundtrip),
    KVC_TEST(test_writer_structure),
    KVC_TEST(test_writer_misuse_fails),
    KVC_TEST(test_writer_depth),
    KVC_TEST(test_writer_numbers),
    KVC_TEST(test_writer_tokens),
    KVC_TEST(test_writer_growth),
    KVC_TEST_END
};
