/* Licensed under the Apache License, Version 2.0 (the "License"); you may not
 * use this file except in compliance with the License.  You may obtain a copy
 * of the License at http://www.apache.org/licenses/LICENSE-2.0
 */

/**
 * @file test_json.c
 * @brief Tests for kvc_json: the strict scanner every parser shares.
 *        (Its json-c front end moved to fuzz/, where json-c is the
 *        fuzzers' reference: fuzz_common.c tests it.)
 */

#include <stdlib.h>

#include "apr_strings.h"

#include "kvc_json.h"
#include "kvc_test.h"

/* kvc_json_valid() over an exact-size heap copy, so that ASan and
 * valgrind see any read past len.
 */
static int valid_len(const char *text, apr_size_t len)
{
    char *buf = kvc_test_exact(text, len);
    int v = kvc_json_valid(buf, len);

    free(buf);
    return v;
}

static int valid(const char *text)
{
    return valid_len(text, strlen(text));
}

/* Decodes the JSON string literal text (quotes included). */
static const char *decode(const char *text, apr_pool_t *p, apr_size_t *len)
{
    kvc_json_scan s;
    kvc_json_str str;
    char *out;

    s.p = text;
    s.end = text + strlen(text);
    if (!kvc_json_string(&s, &str) || s.p != s.end) {
        return NULL;
    }
    out = apr_palloc(p, str.len + 1);
    *len = kvc_json_decode(&str, out);
    out[*len] = '\0';
    return out;
}

static void test_json_valid_documents(apr_pool_t *p)
{
    static const char *const docs[] = {
        "{}", "[]", "\"\"", "0", "-0", "1", "-1", "0.5", "-0.0e-0", "1E+2",
        "1e2", "12345678901234567890123456789", "true", "false", "null",
        " \t\r\n{} \t\r\n", "[1,\"a\",true,false,null,{},[],-1.5e3]",
        "{\"a\":{\"b\":[{\"c\":null}]},\"\":0,\"a\":1}", "[ 1 , 2 ]",
        "{ \"a\" : 1 , \"b\" : 2 }",
        "\"\\\"\\\\\\/\\b\\f\\n\\r\\t\\u0000\\uFFFF\\ud800\\udc00\\uDBFF\"",
        /* every boundary of well-formed UTF-8, and DEL */
        "\"\xc2\x80 \xdf\xbf \xe0\xa0\x80 \xe1\x80\x80 \xec\xbf\xbf "
        "\xed\x80\x80 \xed\x9f\xbf \xee\x80\x80 \xef\xbf\xbf "
        "\xf0\x90\x80\x80 \xf1\x80\x80\x80 \xf3\xbf\xbf\xbf "
        "\xf4\x80\x80\x80 \xf4\x8f\xbf\xbf \x7f\"",
        "{\"\xe6\x97\xa5\":\"\xe6\x97\xa5\"}"
    };
    apr_size_t i;

    (void)p;
    for (i = 0; i < sizeof(docs) / sizeof(*docs); i++) {
        kvc_test_context = docs[i];
        KVC_CHECK_INT(valid(docs[i]), 1);
    }
}

static void test_json_invalid_documents(apr_pool_t *p)
{
    static const char *const docs[] = {
        "", " ", "{", "}", "[", "]", "{]", "[}", "{}}", "[]]", "{}{}", "[] 1",
        "{\"a\"}", "{\"a\":}", "{\"a\" 1}", "{\"a\"::1}", "{a:1}", "{'a':1}",
        "{\"a\":1,}", "{,\"a\":1}", "{\"a\":1 \"b\":2}", "{1:2}", "[1,]",
        "[,1]", "[,]", "[1 2]", "[1;2]", "tru", "true1", "nul", "nulls", "fals",
        "TRUE", "True", "NaN", "-NaN", "Infinity", "-Infinity", "undefined",
        "01", "00", "-01", "1.", ".5", "-", "-a", "+1", "1e", "1e+", "1E-",
        "0x1", "1.e3", "--1", "\"", "\"abc", "\"\\\"", "\"\\x\"", "\"\\'\"",
        "\"\\U0041\"", "\"\\u12\"", "\"\\u12G4\"", "\"\\uG123\"", "\"\\u 123\"",
        "\"\\u\"", "\"a\tb\"", "\"a\nb\"", "\"\x01\"", "\"\x1f\"", "'a'",
        "{} \v", "{} \f", "\xef\xbb\xbf{}", "/* c */ {}", "{} // c", "[1,2",
        "{\"a\":[1,{\"b\":2]}}",
        /* ill-formed UTF-8 */
        "\"\x80\"", "\"\xbf\"", "\"\xc0\x80\"", "\"\xc1\xbf\"", "\"\xc2\"",
        "\"\xc2\x7f\"", "\"\xc2\xc0\"", "\"\xe0\x80\x80\"", "\"\xe0\x9f\xbf\"",
        "\"\xe1\x80\"", "\"\xe1\x80\x7f\"", "\"\xed\xa0\x80\"",
        "\"\xed\xbf\xbf\"", "\"\xf0\x80\x80\x80\"", "\"\xf0\x8f\xbf\xbf\"",
        "\"\xf0\x90\x80\"", "\"\xf4\x90\x80\x80\"", "\"\xf5\x80\x80\x80\"",
        "\"\xf8\x88\x80\x80\x80\"", "\"\xfe\"", "\"\xff\"", "{\"\xff\":1}",
        "[1]\xc2\xa0"
    };
    apr_size_t i;

    (void)p;
    for (i = 0; i < sizeof(docs) / sizeof(*docs); i++) {
        kvc_test_context = docs[i];
        KVC_CHECK_INT(valid(docs[i]), 0);
    }
    kvc_test_context = NULL;
    /* NUL bytes are junk anywhere; NULL is no text at all. */
    KVC_CHECK_INT(valid_len("{}\0", 3), 0);
    KVC_CHECK_INT(valid_len("\0{}", 3), 0);
    KVC_CHECK_INT(valid_len("\"a\0b\"", 5), 0);
    KVC_CHECK_INT(valid_len("[1\0]", 4), 0);
    KVC_CHECK_INT(kvc_json_valid(NULL, 0), 0);
}

/* Only the first len bytes are the text, whatever follows in memory. */
static void test_json_len_bounds(apr_pool_t *p)
{
    (void)p;
    KVC_CHECK_INT(kvc_json_valid("[1]2", 3), 1);
    KVC_CHECK_INT(kvc_json_valid("12", 1), 1);
    KVC_CHECK_INT(kvc_json_valid("\"ab\"", 3), 0);
    KVC_CHECK_INT(kvc_json_valid("true", 3), 0);
    KVC_CHECK_INT(kvc_json_valid("\"\\u0041\"", 6), 0);
    KVC_CHECK_INT(kvc_json_valid("\"\xe6\x97\xa5\"", 3), 0);
    KVC_CHECK_INT(valid_len("1.5e3", 4), 0);
    KVC_CHECK_INT(valid_len("1.5e3", 3), 1);
}

/* Every byte value at every offset of strings of 0..40 bytes, so the
 * eight-byte fast path and the byte loop both see each one, at each
 * alignment and near the end of the text.
 */
static void test_json_string_bytes(apr_pool_t *p)
{
    char buf[64];
    apr_size_t n, i;
    unsigned c;

    (void)p;
    for (n = 1; n <= 40; n++) {
        for (i = 0; i < n; i++) {
            for (c = 0; c < 256; c++) {
                int want = (c >= 0x20 && c < 0x80 && c != '"' && c != '\\');
                int got;

                /* 'x': no hex digit to complete a \u escape. */
                buf[0] = '"';
                memset(buf + 1, 'x', n);
                buf[1 + i] = (char)c;
                buf[1 + n] = '"';
                got = valid_len(buf, n + 2);
                if (got != want) {
                    kvc_test_fail(__FILE__, __LINE__,
                                  "byte 0x%02x at %lu of %lu: %d", c,
                                  (unsigned long)i, (unsigned long)n, got);
                }
            }
            /* A well-formed sequence, an escape, and their truncations. */
            if (i + 4 <= n) {
                memcpy(buf + 1 + i, "\xf0\x9f\x98\x80", 4);
                KVC_CHECK_INT(valid_len(buf, n + 2), 1);
                memcpy(buf + 1 + i, "\\u00", 4);
                KVC_CHECK_INT(valid_len(buf, n + 2), 0);
                memcpy(buf + 1 + i, "\xf0\x9f\x98", 3);
                KVC_CHECK_INT(valid_len(buf, n + 2), 0);
            }
            if (i + 6 <= n) {
                memcpy(buf + 1 + i, "\\uD83D", 6);
                KVC_CHECK_INT(valid_len(buf, n + 2), 1);
            }
        }
        /* Unterminated, with the text ending at every length. */
        memset(buf + 1, 'x', n);
        KVC_CHECK_INT(valid_len(buf, n + 1), 0);
    }
}

static char *nest(apr_pool_t *p, int levels, int object, apr_size_t *len)
{
    apr_size_t per = object ? 5 : 1;
    char *s = apr_palloc(p, (per + 1) * (apr_size_t)levels + 2), *o = s;
    int i;

    for (i = 0; i < levels; i++) {
        memcpy(o, object ? "{\"a\":" : "[", per);
        o += per;
    }
    *o++ = '0';
    for (i = 0; i < levels; i++) {
        *o++ = object ? '}' : ']';
    }
    *len = (apr_size_t)(o - s);
    return s;
}

/* The top-level value is level 1, every value below a container one
 * more; nothing may go beyond KVC_JSON_MAX_DEPTH, as in json-c.
 */
static void test_json_depth(apr_pool_t *p)
{
    apr_size_t len;
    int object;
    char *s;

    for (object = 0; object <= 1; object++) {
        /* 63 containers and the 0 inside them: level 64. */
        s = nest(p, KVC_JSON_MAX_DEPTH - 1, object, &len);
        KVC_CHECK_INT(valid_len(s, len), 1);
        s = nest(p, KVC_JSON_MAX_DEPTH, object, &len);
        KVC_CHECK_INT(valid_len(s, len), 0);
        s = nest(p, 100000, object, &len);
        KVC_CHECK_INT(valid_len(s, len), 0);
    }
    /* An empty container adds no level below itself: 64 arrays. */
    s = apr_palloc(p, 2 * KVC_JSON_MAX_DEPTH);
    memset(s, '[', KVC_JSON_MAX_DEPTH);
    memset(s + KVC_JSON_MAX_DEPTH, ']', KVC_JSON_MAX_DEPTH);
    KVC_CHECK_INT(valid_len(s, 2 * KVC_JSON_MAX_DEPTH), 1);
    KVC_CHECK_INT(valid_len("[[]]", 4), 1);
}

/* No prefix of a valid document is valid (it has no bare number at the
 * top), none crashes or reads past its end.
 */
static void test_json_every_prefix(apr_pool_t *p)
{
    static const char doc[] =
        "{\"a\":[true,false,null,-1.5e+3,0,{},[],\"s\\\"\\u00e9\\n\","
        "\"\xe6\x97\xa5\\ud83d\\ude00\"],\"b\":{\"c\":{\"d\":[[1]]}},"
        "\"e\":\"\"}";
    apr_size_t n = sizeof(doc) - 1, i;

    (void)p;
    KVC_CHECK_INT(valid_len(doc, n), 1);
    for (i = 0; i < n; i++) {
        if (valid_len(doc, i)) {
            kvc_test_fail(__FILE__, __LINE__, "prefix of %lu bytes valid",
                          (unsigned long)i);
        }
    }
}

static void test_json_decode(apr_pool_t *p)
{
    apr_size_t len = 0;

    KVC_CHECK_STR(decode("\"plain text\"", p, &len), "plain text");
    KVC_CHECK_INT(len, 10);
    KVC_CHECK_STR(decode("\"\"", p, &len), "");
    KVC_CHECK_INT(len, 0);
    KVC_CHECK_STR(decode("\"\\\"\\\\\\/\\b\\f\\n\\r\\t\"", p, &len),
                  "\"\\/\b\f\n\r\t");
    KVC_CHECK_STR(decode("\"\\u0041\\u00e9\\u00E9\\u20ac\\uffff\"", p, &len),
                  "A\xc3\xa9\xc3\xa9\xe2\x82\xac\xef\xbf\xbf");
    KVC_CHECK_STR(decode("\"\\u007f\\u0080\\u07ff\\u0800\"", p, &len),
                  "\x7f\xc2\x80\xdf\xbf\xe0\xa0\x80");
    /* Pairs, and unpaired surrogates as json-c decodes them. */
    KVC_CHECK_STR(
        decode("\"\\ud83d\\ude00\\uDBFF\\uDFFF\\ud800\\udc00\"", p, &len),
        "\xf0\x9f\x98\x80\xf4\x8f\xbf\xbf\xf0\x90\x80\x80");
    /* As Python decodes it (what vLLM sees); json-c 0.16 wrongly makes
     * U+FFFD of every pair whose high surrogate ends in 0x36 or 0x37.
     */
    KVC_CHECK_STR(decode("\"\\ud837\\ude00\\uDBF6\\uDFFF\"", p, &len),
                  "\xf0\x9d\xb8\x80\xf4\x8d\xaf\xbf");
    KVC_CHECK_STR(decode("\"\\ud800\"", p, &len), "\xef\xbf\xbd");
    KVC_CHECK_STR(decode("\"\\udc00x\"", p, &len), "\xef\xbf\xbdx");
    KVC_CHECK_STR(decode("\"\\ud800\\u0041\"", p, &len), "\xef\xbf\xbd"
                                                         "A");
    KVC_CHECK_STR(decode("\"\\ud800\\n\"", p, &len), "\xef\xbf\xbd\n");
    KVC_CHECK_STR(decode("\"\\ud800\\ud800\\udc00\"", p, &len),
                  "\xef\xbf\xbd\xf0\x90\x80\x80");
    KVC_CHECK_STR(decode("\"\\udc00\\ud800\"", p, &len),
                  "\xef\xbf\xbd\xef\xbf\xbd");
    /* NUL bytes are kept; the length tells. */
    KVC_CHECK(memcmp(decode("\"a\\u0000b\"", p, &len), "a\0b", 3) == 0);
    KVC_CHECK_INT(len, 3);
    KVC_CHECK_STR(decode("\"x\xe6\x97\xa5\\t\"", p, &len), "x\xe6\x97\xa5\t");
    KVC_CHECK_NULL(decode("\"\\q\"", p, &len));
}

static void test_json_str_is(apr_pool_t *p)
{
    static const struct {
        const char *text;
        const char *lit;
        int want;
    } cases[] = { { "\"tokens\"", "tokens", 1 },
                  { "\"tok\\u0065ns\"", "tokens", 1 },
                  { "\"\\u0074\\u006F\\u006b\\u0065\\u006e\\u0073\"", "tokens",
                    1 },
                  { "\"\\/a\"", "/a", 1 },
                  { "\"a\\tb\"", "a\tb", 1 },
                  { "\"\"", "", 1 },
                  { "\"token\"", "tokens", 0 },
                  { "\"tokens \"", "tokens", 0 },
                  { "\"Tokens\"", "tokens", 0 },
                  { "\"tokens\\u0000\"", "tokens", 0 },
                  { "\"tok\\u0165ns\"", "tokens", 0 },
                  { "\"t\xc3\xa9\"", "t", 0 },
                  { "\"x\"", "", 0 } };
    apr_size_t i;

    (void)p;
    for (i = 0; i < sizeof(cases) / sizeof(*cases); i++) {
        kvc_json_scan s;
        kvc_json_str str;

        kvc_test_context = cases[i].text;
        s.p = cases[i].text;
        s.end = s.p + strlen(s.p);
        KVC_CHECK_INT(kvc_json_string(&s, &str), 1);
        KVC_CHECK_INT(kvc_json_str_is(&str, cases[i].lit), cases[i].want);
    }
}

/* Walks an object of arrays with the step functions, the way the
 * request parsers do, collecting "name:count" per member.
 */
static const char *walk(const char *text, apr_pool_t *p)
{
    kvc_json_scan s;
    kvc_json_step step;
    kvc_json_str name;
    apr_size_t members = 0;
    const char *out = "";

    s.p = text;
    s.end = text + strlen(text);
    kvc_json_skip_ws(&s);
    if (s.p >= s.end || *s.p != '{') {
        return NULL;
    }
    s.p++;
    while ((step = kvc_json_member(&s, &members, &name)) == KVC_JSON_ITEM) {
        apr_size_t elements = 0;

        if (*s.p != '[') {
            if (!kvc_json_skip_value(&s, 1)) {
                return NULL;
            }
            continue;
        }
        s.p++;
        while ((step = kvc_json_element(&s, &elements)) == KVC_JSON_ITEM) {
            if (!kvc_json_skip_value(&s, 2)) {
                return NULL;
            }
        }
        if (step != KVC_JSON_END) {
            return NULL;
        }
        out = apr_psprintf(p, "%s%.*s:%lu ", out, (int)name.len, name.raw,
                           (unsigned long)elements);
    }
    if (step != KVC_JSON_END) {
        return NULL;
    }
    kvc_json_skip_ws(&s);
    return s.p == s.end ? out : NULL;
}

static void test_json_steps(apr_pool_t *p)
{
    static const char *const bad[] = { "{\"a\":[1,]}",  "{\"a\":[,1]}",
                                       "{\"a\":[1 2]}", "{\"a\":[1}",
                                       "{\"a\":[1],}",  "{,\"a\":[1]}",
                                       "{\"a\" [1]}",   "{\"a\":[1] \"b\":[]}",
                                       "{\"a\":[",      "{\"a\":[1",
                                       "{\"a\":[1,",    "{\"a\"",
                                       "{\"a\":",       "{",
                                       "{\"a\":[]}x",   "{\"a\":[\"\\x\"]}" };
    apr_size_t i;

    KVC_CHECK_STR(walk("{}", p), "");
    KVC_CHECK_STR(walk(" { } ", p), "");
    KVC_CHECK_STR(walk("{\"a\":[],\"b\":[1],\"c\":5,\"d\":[1,[2,3],{}]}", p),
                  "a:0 b:1 d:3 ");
    KVC_CHECK_STR(walk("{ \"a\" :\n[ 1 ,\t2 ] , \"b\\\"\" : [ ] }", p),
                  "a:2 b\\\":0 ");
    for (i = 0; i < sizeof(bad) / sizeof(*bad); i++) {
        kvc_test_context = bad[i];
        KVC_CHECK_NULL(walk(bad[i], p));
    }
}

/* Code points one at a time, as kvc_json_decode() decodes them. */
static void test_json_str_next(apr_pool_t *p)
{
    static const struct {
        const char *text;
        unsigned cps[8];
        int n;
    } cases[] = {
        { "\"\"", { 0 }, 0 },
        { "\"a\\n\\u0000\"", { 'a', '\n', 0 }, 3 },
        { "\"\xc2\xa0\xe3\x80\x80\xf0\x9f\x98\x80\x7f\"",
          { 0xA0, 0x3000, 0x1F600, 0x7F },
          4 },
        { "\"\\u00a0\\u3000\\ud83d\\ude00\\ud800\\u0041\"",
          { 0xA0, 0x3000, 0x1F600, 0xFFFD, 'A' },
          5 },
        { "\"\\\"\\\\\\/\\b\\f\\r\\t\\udc00\"",
          { '"', '\\', '/', '\b', '\f', '\r', '\t', 0xFFFD },
          8 },
        { "\"\\ud837\\ude00\\uDBFF\\uDFFF\"", { 0x1DE00, 0x10FFFF }, 2 }
    };
    apr_size_t i;

    (void)p;
    for (i = 0; i < sizeof(cases) / sizeof(*cases); i++) {
        kvc_json_scan s;
        kvc_json_str str;
        apr_size_t pos = 0;
        int k = 0;

        kvc_test_context = cases[i].text;
        s.p = cases[i].text;
        s.end = s.p + strlen(s.p);
        KVC_CHECK_INT(kvc_json_string(&s, &str), 1);
        while (pos < str.len && k < 8) {
            KVC_CHECK_INT(kvc_json_str_next(&str, &pos), cases[i].cps[k]);
            k++;
        }
        KVC_CHECK_INT(k, cases[i].n);
        KVC_CHECK_INT(pos, str.len);
    }
}

/* kvc_json_number() takes exactly the RFC 8259 grammar and stops there. */
static void test_json_number(apr_pool_t *p)
{
    static const struct {
        const char *text;
        int ok;
        int used;
    } cases[] = { { "0", 1, 1 },        { "-0", 1, 2 },    { "01", 1, 1 },
                  { "12.5e-3,", 1, 7 }, { "1E+2]", 1, 4 }, { "-", 0, 0 },
                  { "1.", 0, 0 },       { ".5", 0, 0 },    { "1e", 0, 0 },
                  { "+1", 0, 0 },       { "x", 0, 0 },     { "", 0, 0 } };
    apr_size_t i;

    (void)p;
    for (i = 0; i < sizeof(cases) / sizeof(*cases); i++) {
        kvc_json_scan s;

        kvc_test_context = cases[i].text;
        s.p = cases[i].text;
        s.end = s.p + strlen(s.p);
        KVC_CHECK_INT(kvc_json_number(&s), cases[i].ok);
        if (cases[i].ok) {
            KVC_CHECK_INT(s.p - cases[i].text, cases[i].used);
        }
    }
}

const kvc_test_case kvc_json_tests[] = {
    KVC_TEST(test_json_valid_documents), KVC_TEST(test_json_invalid_documents),
    KVC_TEST(test_json_len_bounds),      KVC_TEST(test_json_string_bytes),
    KVC_TEST(test_json_depth),           KVC_TEST(test_json_every_prefix),
    KVC_TEST(test_json_decode),          KVC_TEST(test_json_str_is),
    KVC_TEST(test_json_steps),           KVC_TEST(test_json_str_next),
    KVC_TEST(test_json_number),          KVC_TEST_END
};
