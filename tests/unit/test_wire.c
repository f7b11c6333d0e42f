/* Licensed under the Apache License, Version 2.0 (the "License"); you may not
 * use this file except in compliance with the License.  You may obtain a copy
 * of the License at http://www.apache.org/licenses/LICENSE-2.0
 */

/**
 * @file test_wire.c
 * @brief Tests for kvc_wire: /tokenize and /lookup parsing, the lookup
 *        request and the cache-action bodies, instance ids and the
 *        kvcache-matches note; plus the --bench benchmarks.
 */

#include <stdarg.h>
#include <stdlib.h>

#include "apr_strings.h"
#include "apr_time.h"

#include "kvc_extract.h"
#include "kvc_tokpack.h"
#include "kvc_wire.h"
#include "kvc_test.h"

/* ------------------------------------------------------------------ */
/* helpers                                                            */
/* ------------------------------------------------------------------ */

static kvc_wire_status tok_len(const char *body, apr_size_t len, apr_pool_t *p,
                               kvc_tokens *out)
{
    char *buf = kvc_test_exact(body, len);
    kvc_wire_status st = kvc_wire_parse_tokens(buf, len, p, out);

    free(buf);
    return st;
}

static kvc_wire_status tok(const char *body, apr_pool_t *p, kvc_tokens *out)
{
    return tok_len(body, strlen(body), p, out);
}

static kvc_wire_status lookup(const char *body, apr_pool_t *p,
                              apr_array_header_t **m, apr_size_t *skipped)
{
    apr_size_t len = strlen(body);
    char *buf = kvc_test_exact(body, len);
    kvc_wire_status st = kvc_wire_parse_lookup(buf, len, p, m, skipped);

    free(buf);
    return st;
}

/* ids[i], or -1 when there is no such id: a failed count check must
 * not turn into a crash.
 */
static long id_at(const kvc_tokens *t, apr_size_t i)
{
    return (t->ids != NULL && i < t->count) ? (long)t->ids[i] : -1;
}

static const kvc_match *match_at(apr_array_header_t *m, int i)
{
    return &APR_ARRAY_IDX(m, i, kvc_match);
}

static void check_match(apr_array_header_t *m, int i, const char *id,
                        const char *location, long matched)
{
    if (m == NULL || i >= m->nelts) {
        kvc_test_fail(__FILE__, __LINE__, "no match #%d (%s)", i, id);
        return;
    }
    KVC_CHECK_STR(match_at(m, i)->instance_id, id);
    KVC_CHECK_STR(match_at(m, i)->location, location);
    KVC_CHECK_INT(match_at(m, i)->matched, matched);
}

static apr_array_header_t *make_matches(apr_pool_t *p, int n, ...)
{
    apr_array_header_t *arr = apr_array_make(p, n, sizeof(kvc_match));
    va_list ap;
    int i;

    va_start(ap, n);
    for (i = 0; i < n; i++) {
        kvc_match *m = apr_array_push(arr);

        m->instance_id = va_arg(ap, const char *);
        m->location = NULL;
        m->matched = va_arg(ap, long);
    }
    va_end(ap);
    return arr;
}

/* Deterministic generator so failures reproduce. */
static apr_uint32_t rng_next(apr_uint64_t *state)
{
    *state = *state * APR_UINT64_C(6364136223846793005)
             + APR_UINT64_C(1442695040888963407);
    return (apr_uint32_t)(*state >> 33);
}

/* A /tokenize response as vLLM writes it (compact, FastAPI). */
static char *tokenize_response(apr_pool_t *p, const kvc_tokens *t,
                               apr_size_t *len)
{
    apr_size_t rlen;
    const char *req = kvc_wire_lookup_request(t, p, &rlen);
    const char *list = req + 10; /* the "[...]" of {"tokens":[...]} */
    char *body = apr_psprintf(p,
                              "{\"count\":%lu,\"max_model_len\":131072,"
                              "\"tokens\":%.*s,\"token_strs\":null}",
                              (unsigned long)t->count, (int)(rlen - 11), list);

    *len = strlen(body);
    return body;
}

/* ------------------------------------------------------------------ */
/* /tokenize                                                          */
/* ------------------------------------------------------------------ */

static void test_tokens_normal(apr_pool_t *p)
{
    kvc_tokens t;

    KVC_CHECK_INT(tok("{\"count\":4,\"max_model_len\":4096,"
                      "\"tokens\":[128000,0,1,2147483647],"
                      "\"token_strs\":null}",
                      p, &t),
                  KVC_WIRE_OK);
    KVC_CHECK_INT(t.count, 4);
    if (t.count == 4) {
        KVC_CHECK_INT(id_at(&t, 0), 128000);
        KVC_CHECK_INT(id_at(&t, 1), 0);
        KVC_CHECK_INT(id_at(&t, 2), 1);
        KVC_CHECK_INT(id_at(&t, 3), 2147483647);
    }
    KVC_CHECK_INT(tok("{\"tokens\":[7]}", p, &t), KVC_WIRE_OK);
    KVC_CHECK_INT(t.count, 1);
    KVC_CHECK_INT(id_at(&t, 0), 7);
}

static void test_tokens_whitespace(apr_pool_t *p)
{
    kvc_tokens t;

    KVC_CHECK_INT(tok(" \r\n\t{ \"count\" : 3 ,\n  \"tokens\" :\t[ 1 ,2\n, 3 ]"
                      " \n}\r\n ",
                      p, &t),
                  KVC_WIRE_OK);
    KVC_CHECK_INT(t.count, 3);
    KVC_CHECK(t.count == 3 && id_at(&t, 0) == 1 && id_at(&t, 1) == 2
              && id_at(&t, 2) == 3);
}

static void test_tokens_extra_fields(apr_pool_t *p)
{
    kvc_tokens t;

    KVC_CHECK_INT(tok("{\"s\":\"str\",\"n\":-1.5e-3,\"z\":-0,\"i\":123,"
                      "\"e\":1E+2,\"f\":0.0,\"t\":true,\"fa\":false,"
                      "\"nu\":null,\"o\":{\"x\":[1,{\"y\":[]},\"]\"],"
                      "\"z\":{},\"w\":{\"a\":{\"b\":[[],[{}]]}}},"
                      "\"a\":[],\"a2\":[null,true,\"}\",-2,[[]]],"
                      "\"token_strs\":[\"<s>\",\"\\u00e9\",\"\\\"\"],"
                      "\"tokens\":[5,6],"
                      "\"after\":{\"tokens\":\"not this one\"}}",
                      p, &t),
                  KVC_WIRE_OK);
    KVC_CHECK_INT(t.count, 2);
    KVC_CHECK(t.count == 2 && id_at(&t, 0) == 5 && id_at(&t, 1) == 6);
}

static void test_tokens_escapes_in_other_keys(apr_pool_t *p)
{
    kvc_tokens t;

    KVC_CHECK_INT(tok("{\"tok\\\"ens\":[1],\"to\\\\kens\":[2],"
                      "\"a\\u0000b\":"
                      "\"\\\\\\\"\\/\\b\\f\\n\\r\\t\\uD83D\\uDE00\","
                      "\"tokens \":[3],\"Tokens\":[4],\"tokens\\u0000\":[8],"
                      "\"tokens\":[5]}",
                      p, &t),
                  KVC_WIRE_OK);
    KVC_CHECK_INT(t.count, 1);
    KVC_CHECK_INT(id_at(&t, 0), 5);

    /* An escaped spelling of "tokens" is still "tokens". */
    KVC_CHECK_INT(tok("{\"tok\\u0065ns\":[9,10]}", p, &t), KVC_WIRE_OK);
    KVC_CHECK_INT(t.count, 2);
    KVC_CHECK_INT(
        tok("{\"\\u0074\\u006F\\u006b\\u0065\\u006e\\u0073\":[11]}", p, &t),
        KVC_WIRE_OK);
    KVC_CHECK_INT(t.count, 1);
    KVC_CHECK_INT(id_at(&t, 0), 11);
    /* Well-formed UTF-8 in skipped members is fine. */
    KVC_CHECK_INT(tok("{\"token_strs\":[\"\xe6\x97\xa5\","
                      "\"\xf0\x9f\x98\x80\"],"
                      "\"\xc3\xa9\":1,\"tokens\":[3]}",
                      p, &t),
                  KVC_WIRE_OK);
    KVC_CHECK_INT(t.count, 1);
    /* ...but a non-ASCII escape never matches. */
    KVC_CHECK_INT(tok("{\"tok\\u0165ns\":[9]}", p, &t), KVC_WIRE_EMPTY);
}

static void test_tokens_duplicate_last_wins(apr_pool_t *p)
{
    kvc_tokens t;

    KVC_CHECK_INT(tok("{\"tokens\":[1,2,3],\"tokens\":[4]}", p, &t),
                  KVC_WIRE_OK);
    KVC_CHECK_INT(t.count, 1);
    KVC_CHECK_INT(id_at(&t, 0), 4);
    KVC_CHECK_INT(tok("{\"tokens\":[1,2,3],\"tokens\":[]}", p, &t),
                  KVC_WIRE_EMPTY);
    KVC_CHECK_INT(tok("{\"tokens\":[1],\"tokens\":null}", p, &t),
                  KVC_WIRE_EMPTY);

    /* An earlier "tokens" that holds no ids only has to be valid JSON:
     * the last one decides, as in Python's json (vLLM's side).  Found by
     * fuzz_tokenize against json-c: fuzz/regressions/tokenize/. */
    KVC_CHECK_INT(tok("{\"tokens\":1,\"tokens\":null}", p, &t), KVC_WIRE_EMPTY);
    KVC_CHECK_INT(tok("{\"tokens\":\"x\",\"a\":0,\"tokens\":[]}", p, &t),
                  KVC_WIRE_EMPTY);
    KVC_CHECK_INT(tok("{\"tokens\":{\"a\":[1]},\"tokens\":[2,3]}", p, &t),
                  KVC_WIRE_OK);
    KVC_CHECK(t.count == 2 && id_at(&t, 0) == 2 && id_at(&t, 1) == 3);
    KVC_CHECK_INT(tok("{\"tokens\":[1,2.5,3],\"tokens\":[4]}", p, &t),
                  KVC_WIRE_OK);
    KVC_CHECK(t.count == 1 && id_at(&t, 0) == 4);
    KVC_CHECK_INT(tok("{\"tokens\":[1,-2],\"tokens\":[5,6,7],\"x\":1}", p, &t),
                  KVC_WIRE_OK);
    KVC_CHECK(t.count == 3 && id_at(&t, 0) == 5 && id_at(&t, 2) == 7);
    /* ...but the last one must be usable, and every one valid JSON. */
    KVC_CHECK_INT(tok("{\"tokens\":[1],\"tokens\":[1.5]}", p, &t),
                  KVC_WIRE_GARBAGE);
    KVC_CHECK_INT(tok("{\"tokens\":null,\"tokens\":\"x\"}", p, &t),
                  KVC_WIRE_GARBAGE);
    KVC_CHECK_INT(tok("{\"tokens\":[1,],\"tokens\":[2]}", p, &t),
                  KVC_WIRE_GARBAGE);
    KVC_CHECK_INT(tok("{\"tokens\":[1,\"\\x\"],\"tokens\":[2]}", p, &t),
                  KVC_WIRE_GARBAGE);
    KVC_CHECK_INT(tok("{\"tokens\":nul,\"tokens\":[2]}", p, &t),
                  KVC_WIRE_GARBAGE);
    KVC_CHECK(t.count == 0 && t.ids == NULL);
}

/* However often "tokens" repeats, one id buffer serves: a body of many
 * small arrays must not cost an allocation sized from the rest of the
 * body per member (memory quadratic in its length). */
static void test_tokens_repeated_many(apr_pool_t *p)
{
    const apr_size_t members = 200000;
    static const char one[] = "\"tokens\":[1,2,3],";
    apr_size_t len =
        1 + members * (sizeof(one) - 1) + sizeof("\"tokens\":[4,5]}");
    char *body = apr_palloc(p, len), *o = body;
    apr_size_t i;
    kvc_tokens t;

    *o++ = '{';
    for (i = 0; i < members; i++) {
        memcpy(o, one, sizeof(one) - 1);
        o += sizeof(one) - 1;
    }
    memcpy(o, "\"tokens\":[4,5]}", sizeof("\"tokens\":[4,5]}") - 1);
    o += sizeof("\"tokens\":[4,5]}") - 1;
    KVC_CHECK_INT(tok_len(body, (apr_size_t)(o - body), p, &t), KVC_WIRE_OK);
    KVC_CHECK(t.count == 2 && id_at(&t, 0) == 4 && id_at(&t, 1) == 5);
    /* The same with a dense array first, which grows the buffer. */
    o = body;
    *o++ = '{';
    memcpy(o, "\"tokens\":[", 10);
    o += 10;
    for (i = 0; i < 100000; i++) {
        memcpy(o, "7,", 2);
        o += 2;
    }
    memcpy(o, "7],", 3);
    o += 3;
    for (i = 0; i < 1000; i++) {
        memcpy(o, one, sizeof(one) - 1);
        o += sizeof(one) - 1;
    }
    o[-1] = '}';
    KVC_CHECK_INT(tok_len(body, (apr_size_t)(o - body), p, &t), KVC_WIRE_OK);
    KVC_CHECK(t.count == 3 && id_at(&t, 0) == 1 && id_at(&t, 2) == 3);
}

static void test_tokens_empty(apr_pool_t *p)
{
    static const char *const bodies[] = {
        "{}",
        "{ }",
        "{\"tokens\":[]}",
        "{\"tokens\":[ \n ]}",
        "{\"tokens\":null}",
        "{\"count\":0,\"max_model_len\":4096}",
        "{\"count\":0,\"tokens\":[],\"token_strs\":null}"
    };
    apr_size_t i;
    kvc_tokens t;

    for (i = 0; i < sizeof(bodies) / sizeof(*bodies); i++) {
        kvc_test_context = bodies[i];
        t.ids = (apr_int32_t *)bodies;
        t.count = 99;
        KVC_CHECK_INT(tok(bodies[i], p, &t), KVC_WIRE_EMPTY);
        KVC_CHECK_INT(t.count, 0);
        KVC_CHECK_NULL(t.ids);
    }
}

static void test_tokens_garbage(apr_pool_t *p)
{
    static const char *const bodies[] = {
        /* not an object */
        "", " ", "[]", "[1,2]", "null", "\"x\"", "1", "true",
        /* bad token arrays */
        "{\"tokens\":[1,]}", "{\"tokens\":[,1]}", "{\"tokens\":[,]}",
        "{\"tokens\":[-1]}", "{\"tokens\":[-0]}", "{\"tokens\":[1.0]}",
        "{\"tokens\":[1.5]}", "{\"tokens\":[1e3]}", "{\"tokens\":[1E3]}",
        "{\"tokens\":[01]}", "{\"tokens\":[00]}", "{\"tokens\":[2147483648]}",
        "{\"tokens\":[4294967296]}", "{\"tokens\":[99999999999]}",
        "{\"tokens\":[12345678901234567890]}", "{\"tokens\":[\"1\"]}",
        "{\"tokens\":[[1]]}", "{\"tokens\":[{}]}", "{\"tokens\":[true]}",
        "{\"tokens\":[null]}", "{\"tokens\":\"1,2\"}", "{\"tokens\":{}}",
        "{\"tokens\":1}", "{\"tokens\":true}", "{\"tokens\":[1 2]}",
        "{\"tokens\":[1;2]}", "{\"tokens\":[+1]}", "{\"tokens\":[.5]}",
        "{\"tokens\":[0x10]}", "{\"tokens\":[1]]}", "{\"tokens\":[[]]}",
        "{\"tokens\":nul}", "{\"tokens\":nulls}", "{\"tokens\":}",
        /* bad objects */
        "{\"tokens\":[1],}", "{,\"tokens\":[1]}", "{\"tokens\" [1]}",
        "{\"tokens\"::[1]}", "{tokens:[1]}", "{'tokens':[1]}",
        "{\"tokens\":[1]", "{\"tokens\":[1", "{\"tokens\":[", "{\"tokens\"",
        "{\"tok", "{", "{\"a\":1 \"tokens\":[1]}", "{\"a\"}",
        /* bad skipped values */
        "{\"a\":tru,\"tokens\":[1]}", "{\"a\":nul}", "{\"a\":fals}",
        "{\"a\":TRUE}", "{\"a\":01}", "{\"a\":1.}", "{\"a\":.5}", "{\"a\":-}",
        "{\"a\":-a}", "{\"a\":1e}", "{\"a\":1e+}", "{\"a\":+1}", "{\"a\":0x1}",
        "{\"a\":\"\\x\"}", "{\"a\":\"\\u12G4\"}", "{\"a\":\"\\u12\"}",
        "{\"a\":\"\\uG123\"}", "{\"a\":\"\\u1G23\"}", "{\"a\":\"\\u123G\"}",
        "{\"a\":\"\\U0041\"}", "{\"a\":\"\\u 123\"}", "{\"a\":\"\\u\"}",
        "{\"a\":\"\\\"}", "{\"a\":\"raw\nnewline\"}", "{\"a\":\"tab\there\"}",
        "{\"a\":[1,]}", "{\"a\":[,]}", "{\"a\":{\"b\"}}", "{\"a\":{\"b\":}}",
        "{\"a\":{\"b\":1,}}", "{\"a\":{1:2}}", "{\"a\":[}", "{\"a\":]}",
        "{\"a\":{]}", "{\"a\":[1}", "{\"a\":NaN}", "{\"a\":Infinity}",
        "{\"a\":-Infinity}", "{\"a\":'x'}", "{\"a\":undefined}", "{\"a\":1 2}",
        "{\"a\":[1 2]}", "{\"a\":{\"b\":1 \"c\":2}}", "{\"a\"1}", "{\"a\":}",
        "{\"a\":", "{\"a\":\"", "{\"a\":[", "{\"a\":{", "{\"a\":{\"",
        "{\"a\":\"\\",
        /* trailing junk */
        "{\"tokens\":[1]}x", "{\"tokens\":[1]}{}", "{\"tokens\":[1]}}",
        "{\"tokens\":[1]}]", "{\"tokens\":[1]} 1", "{}{}", "{\"tokens\":[1]}\v",
        "{\"tokens\":[1]}\f",
        /* ill-formed UTF-8 anywhere, as for every JSON parser here */
        "{\"token_strs\":[\"\xff\"],\"tokens\":[1]}",
        "{\"a\":\"\xc0\x80\",\"tokens\":[1]}",
        "{\"a\":\"\xed\xa0\x80\",\"tokens\":[1]}",
        "{\"tokens\":[1],\"\xe6\x97\":0}"
    };
    apr_size_t i;
    kvc_tokens t;

    for (i = 0; i < sizeof(bodies) / sizeof(*bodies); i++) {
        kvc_test_context = bodies[i];
        KVC_CHECK_INT(tok(bodies[i], p, &t), KVC_WIRE_GARBAGE);
        KVC_CHECK_INT(t.count, 0);
        KVC_CHECK_NULL(t.ids);
    }
    kvc_test_context = NULL;

    /* NUL bytes are junk, inside or after the document. */
    KVC_CHECK_INT(tok_len("{\"tokens\":[1]}\0", 15, p, &t), KVC_WIRE_GARBAGE);
    KVC_CHECK_INT(tok_len("{\"tokens\":[1\0]}", 15, p, &t), KVC_WIRE_GARBAGE);
    KVC_CHECK_INT(tok_len("{\"a\":\"x\0y\",\"tokens\":[1]}", 24, p, &t),
                  KVC_WIRE_GARBAGE);
    KVC_CHECK_INT(tok_len("\0{\"tokens\":[1]}", 15, p, &t), KVC_WIRE_GARBAGE);
    KVC_CHECK_INT(kvc_wire_parse_tokens(NULL, 0, p, &t), KVC_WIRE_GARBAGE);
}

/* Only the first len bytes are the body, whatever follows in memory. */
static void test_tokens_len_bounds_body(apr_pool_t *p)
{
    static const char text[] = "{\"tokens\":[12,34]}56]}";
    kvc_tokens t;

    KVC_CHECK_INT(kvc_wire_parse_tokens(text, 18, p, &t), KVC_WIRE_OK);
    KVC_CHECK_INT(t.count, 2);
    KVC_CHECK_INT(kvc_wire_parse_tokens(text, 16, p, &t), KVC_WIRE_GARBAGE);
    /* "{\"tokens\":[1" must not run on into the digits after len. */
    KVC_CHECK_INT(kvc_wire_parse_tokens("{\"tokens\":[12345]}", 13, p, &t),
                  KVC_WIRE_GARBAGE);
}

static char *nested_member(apr_pool_t *p, int levels, char open,
                           apr_size_t *len)
{
    /* {"tokens":[1],"deep": open^levels [close]^levels } */
    static const char head[] = "{\"tokens\":[1],\"deep\":";
    apr_size_t per = (open == '[') ? 1 : 6; /* {"a": ... } */
    apr_size_t n = sizeof(head) - 1 + (per + 1) * (apr_size_t)levels + 2;
    char *s = apr_palloc(p, n + 1), *o = s;
    int i;

    memcpy(o, head, sizeof(head) - 1);
    o += sizeof(head) - 1;
    for (i = 0; i < levels; i++) {
        if (open == '[') {
            *o++ = '[';
        }
        else {
            memcpy(o, "{\"a\":", 5);
            o += 5;
        }
    }
    *o++ = '0';
    for (i = 0; i < levels; i++) {
        *o++ = (open == '[') ? ']' : '}';
    }
    *o++ = '}';
    *o = '\0';
    *len = (apr_size_t)(o - s);
    return s;
}

static void test_tokens_depth(apr_pool_t *p)
{
    apr_size_t len;
    kvc_tokens t;
    char *s;

    /* Top-level object: level 1; 62 containers: levels 2..63; the
     * innermost 0: level 64, the cap.
     */
    s = nested_member(p, 62, '[', &len);
    KVC_CHECK_INT(tok_len(s, len, p, &t), KVC_WIRE_OK);
    s = nested_member(p, 63, '[', &len);
    KVC_CHECK_INT(tok_len(s, len, p, &t), KVC_WIRE_GARBAGE);
    s = nested_member(p, 62, '{', &len);
    KVC_CHECK_INT(tok_len(s, len, p, &t), KVC_WIRE_OK);
    s = nested_member(p, 63, '{', &len);
    KVC_CHECK_INT(tok_len(s, len, p, &t), KVC_WIRE_GARBAGE);
    s = nested_member(p, 200000, '[', &len);
    KVC_CHECK_INT(tok_len(s, len, p, &t), KVC_WIRE_GARBAGE);

    /* Exactly the limit json-c applies to the other parsers. */
    s = nested_member(p, 62, '[', &len);
    KVC_CHECK_INT(kvc_extract(s, len, "", p, &(kvc_request_info){ 0 }),
                  KVC_EXTRACT_EMPTY_PROMPT);
    s = nested_member(p, 63, '[', &len);
    KVC_CHECK_INT(kvc_extract(s, len, "", p, &(kvc_request_info){ 0 }),
                  KVC_EXTRACT_INVALID_JSON);
    s = nested_member(p, 62, '{', &len);
    KVC_CHECK_INT(kvc_extract(s, len, "", p, &(kvc_request_info){ 0 }),
                  KVC_EXTRACT_EMPTY_PROMPT);
    s = nested_member(p, 63, '{', &len);
    KVC_CHECK_INT(kvc_extract(s, len, "", p, &(kvc_request_info){ 0 }),
                  KVC_EXTRACT_INVALID_JSON);

    /* An empty container adds no level below itself. */
    KVC_CHECK_INT(tok("{\"tokens\":[1],\"e\":[[]]}", p, &t), KVC_WIRE_OK);
}

/* No prefix of a valid document may parse, crash or read past its end. */
static void test_tokens_every_prefix(apr_pool_t *p)
{
    static const char doc[] =
        "{\"count\":3,\"max_model_len\":4096,\"x\":{\"a\":[true,false,null,"
        "-1.5e+3,0,\"s\\\"\\u00e9\\n\"],\"b\":{}},\"tokens\":[128000,0,42],"
        "\"token_strs\":null}";
    apr_size_t n = sizeof(doc) - 1, i;
    kvc_tokens t;

    KVC_CHECK_INT(tok_len(doc, n, p, &t), KVC_WIRE_OK);
    KVC_CHECK_INT(t.count, 3);
    for (i = 0; i < n; i++) {
        kvc_wire_status st = tok_len(doc, i, p, &t);

        if (st != KVC_WIRE_GARBAGE || t.count != 0) {
            kvc_test_fail(__FILE__, __LINE__,
                          "prefix of %lu bytes: status %d count %lu",
                          (unsigned long)i, (int)st, (unsigned long)t.count);
        }
    }
}

/* Every single-byte corruption must be handled (any status, no crash);
 * under ASan this doubles as a small deterministic fuzz run.
 */
static void test_tokens_byte_flips(apr_pool_t *p)
{
    static const char doc[] =
        "{\"count\":2,\"x\":[{\"a\":\"\\u00e9\"},-1.5e3],\"tokens\":[10,20]}";
    static const char subst[] = "\"\\{}[],:0-1.eE+ \n\0tnfu";
    apr_size_t n = sizeof(doc) - 1, i, j;
    int ok = 0;
    char buf[sizeof(doc)];
    kvc_tokens t;

    for (i = 0; i < n; i++) {
        for (j = 0; j < sizeof(subst) - 1; j++) {
            kvc_wire_status st;

            memcpy(buf, doc, n);
            buf[i] = subst[j];
            st = tok_len(buf, n, p, &t);
            if (st == KVC_WIRE_OK) {
                ok++;
                KVC_CHECK(t.count > 0 && t.ids != NULL);
            }
            else {
                KVC_CHECK(t.count == 0 && t.ids == NULL);
            }
        }
    }
    /* Some flips stay valid (digits in other members, blanks). */
    KVC_CHECK(ok > 0);
}

static void test_tokens_large_roundtrip(apr_pool_t *p)
{
    static const apr_size_t sizes[] = { 1, 15, 16, 17, 1000, 131072, 300000 };
    apr_uint64_t rng = 42;
    apr_size_t s;

    for (s = 0; s < sizeof(sizes) / sizeof(*sizes); s++) {
        apr_size_t n = sizes[s], i, len;
        kvc_tokens in, out;
        char *body;
        int small;

        for (small = 0; small <= 1; small++) {
            in.count = n;
            in.ids = apr_palloc(p, n * sizeof(*in.ids));
            for (i = 0; i < n; i++) {
                /* Single-digit ids are far denser than the initial
                 * capacity guess and force the array to grow.
                 */
                in.ids[i] = small ? (apr_int32_t)(rng_next(&rng) % 10)
                                  : (apr_int32_t)(rng_next(&rng) & 0x7fffffff);
            }
            if (n > 2) {
                in.ids[n - 1] = 2147483647;
                in.ids[n - 2] = 0;
            }
            body = tokenize_response(p, &in, &len);
            KVC_CHECK_INT(tok_len(body, len, p, &out), KVC_WIRE_OK);
            KVC_CHECK_INT(out.count, n);
            if (out.count == n) {
                KVC_CHECK(memcmp(out.ids, in.ids, n * sizeof(*in.ids)) == 0);
            }
        }
    }
}

/* Ids of every width from 1 to 10 digits, at every alignment relative to
 * the end of the body (the last 7 bytes take the byte-wise path).
 */
static void test_tokens_all_widths(apr_pool_t *p)
{
    static const apr_int32_t edge[] = {
        0,         1,          9,          10,         99,         100,
        999,       1000,       9999,       10000,      99999,      100000,
        999999,    1000000,    9999999,    10000000,   99999999,   100000000,
        999999999, 1000000000, 2147483646, 2147483647, 1234567890, 12345678,
        87654321,  101010101,  80000000
    };
    static const char *const too_big[] = {
        "2147483648", "9999999999", "10000000000", "99999999999999999999",
        "000",        "0123456789", "00000000001"
    };
    apr_uint64_t rng = 99;
    apr_size_t i, j, len;
    kvc_tokens in, out;
    const char *body;

    for (i = 0; i < sizeof(edge) / sizeof(*edge); i++) {
        /* Alone, then followed by 0..12 short ids to shift the end. */
        for (j = 0; j <= 12; j++) {
            apr_int32_t ids[13];
            apr_size_t k;

            ids[0] = edge[i];
            for (k = 1; k <= j; k++) {
                ids[k] = (apr_int32_t)k;
            }
            in.ids = ids;
            in.count = j + 1;
            body = kvc_wire_lookup_request(&in, p, &len);
            KVC_CHECK_INT(tok_len(body, len, p, &out), KVC_WIRE_OK);
            KVC_CHECK_INT(out.count, j + 1);
            KVC_CHECK_INT(id_at(&out, 0), edge[i]);
            if (out.count == j + 1) {
                KVC_CHECK(memcmp(out.ids, ids, (j + 1) * sizeof(*ids)) == 0);
            }
        }
    }
    for (i = 0; i < sizeof(too_big) / sizeof(*too_big); i++) {
        const char *b1 = apr_psprintf(p, "{\"tokens\":[%s]}", too_big[i]);
        const char *b2 =
            apr_psprintf(p, "{\"tokens\":[%s,1,2,3,4,5,6,7,8]}", too_big[i]);

        kvc_test_context = too_big[i];
        KVC_CHECK_INT(tok(b1, p, &out), KVC_WIRE_GARBAGE);
        KVC_CHECK_INT(tok(b2, p, &out), KVC_WIRE_GARBAGE);
    }
    kvc_test_context = NULL;

    /* Random widths. */
    in.count = 5000;
    in.ids = apr_palloc(p, in.count * sizeof(*in.ids));
    for (i = 0; i < in.count; i++) {
        static const apr_uint32_t mod[] = { 10,         100,       1000,
                                            10000,      100000,    1000000,
                                            10000000,   100000000, 1000000000,
                                            2147483647u };

        in.ids[i] = (apr_int32_t)(rng_next(&rng) % mod[rng_next(&rng) % 10]);
    }
    body = kvc_wire_lookup_request(&in, p, &len);
    KVC_CHECK_INT(tok_len(body, len, p, &out), KVC_WIRE_OK);
    KVC_CHECK_INT(out.count, in.count);
    if (out.count == in.count) {
        KVC_CHECK(memcmp(out.ids, in.ids, in.count * sizeof(*in.ids)) == 0);
    }
}

/* ------------------------------------------------------------------ */
/* /lookup request                                                    */
/* ------------------------------------------------------------------ */

static void test_lookup_request(apr_pool_t *p)
{
    apr_int32_t ids[] = { 1, 2, 3 };
    apr_int32_t edge[] = { 0, 2147483647, 10, 9, 100 };
    apr_int32_t neg[] = { -5, -2147483647 - 1 };
    kvc_tokens t;
    apr_size_t len = 0;
    const char *s;

    t.ids = ids;
    t.count = 3;
    s = kvc_wire_lookup_request(&t, p, &len);
    KVC_CHECK_STR(s, "{\"tokens\":[1,2,3]}");
    KVC_CHECK_INT(len, 18);

    t.ids = edge;
    t.count = 5;
    s = kvc_wire_lookup_request(&t, p, &len);
    KVC_CHECK_STR(s, "{\"tokens\":[0,2147483647,10,9,100]}");
    KVC_CHECK_INT(len, strlen(s));

    t.ids = NULL;
    t.count = 0;
    s = kvc_wire_lookup_request(&t, p, &len);
    KVC_CHECK_STR(s, "{\"tokens\":[]}");
    KVC_CHECK_INT(len, 13);
    KVC_CHECK_STR(kvc_wire_lookup_request(NULL, p, NULL), "{\"tokens\":[]}");

    /* Never produced by the parser, but written faithfully. */
    t.ids = neg;
    t.count = 2;
    KVC_CHECK_STR(kvc_wire_lookup_request(&t, p, NULL),
                  "{\"tokens\":[-5,-2147483648]}");

    /* A size that would overflow is refused, not wrapped. */
    t.ids = ids;
    t.count = APR_SIZE_MAX / 4;
    KVC_CHECK_NULL(kvc_wire_lookup_request(&t, p, &len));
}

static void test_action_requests(apr_pool_t *p)
{
    apr_int32_t ids[] = { 1, 2, 3 };
    kvc_tokens t = { ids, 3 };
    kvc_wire_action pin = { "vllm-a", "LocalCPUBackend", NULL, NULL };
    kvc_wire_action a = { 0 };
    apr_size_t len = 0;
    const char *body;

    pin.tokens = &t;
    body = kvc_wire_action_request(&pin, p, &len);
    KVC_CHECK_STR(body, "{\"instance_id\":\"vllm-a\",\"location\":"
                        "\"LocalCPUBackend\",\"tokens\":[1,2,3]}");
    KVC_CHECK_INT(len, body ? strlen(body) : 0);

    a.instance_id = "vllm-b";
    a.location = "LocalDiskBackend";
    a.method = "cachegen";
    a.tokens = &t;
    KVC_CHECK_STR(kvc_wire_action_request(&a, p, NULL),
                  "{\"instance_id\":\"vllm-b\",\"location\":"
                  "\"LocalDiskBackend\",\"method\":\"cachegen\","
                  "\"tokens\":[1,2,3]}");
    /* /clear: no tokens; /evict: no location. */
    a.method = NULL;
    a.tokens = NULL;
    KVC_CHECK_STR(kvc_wire_action_request(&a, p, NULL),
                  "{\"instance_id\":\"vllm-b\",\"location\":"
                  "\"LocalDiskBackend\"}");
    a.location = NULL;
    a.tokens = &t;
    KVC_CHECK_STR(kvc_wire_action_request(&a, p, NULL),
                  "{\"instance_id\":\"vllm-b\",\"tokens\":[1,2,3]}");
    t.count = 0;
    KVC_CHECK_STR(kvc_wire_action_request(&a, p, NULL),
                  "{\"instance_id\":\"vllm-b\",\"tokens\":[]}");

    /* Whatever a configuration holds, the body stays one JSON object. */
    a.instance_id = "a\"b";
    a.location = "x\\y\n\xff";
    a.tokens = NULL;
    body = kvc_wire_action_request(&a, p, &len);
    KVC_CHECK_STR(body, "{\"instance_id\":\"a\\\"b\",\"location\":"
                        "\"x\\\\y\\u000a\\ufffd\"}");
    KVC_CHECK_STR(kvc_test_json_at(body, "instance_id", p), "a\"b");
    KVC_CHECK_STR(kvc_test_json_at(body, "location", p), "x\\y\n\xef\xbf\xbd");

    a.instance_id = NULL;
    KVC_CHECK_NULL(kvc_wire_action_request(&a, p, &len));
    KVC_CHECK_NULL(kvc_wire_action_request(NULL, p, &len));
}

/* ------------------------------------------------------------------ */
/* /lookup response                                                   */
/* ------------------------------------------------------------------ */

static void test_lookup_array_form(apr_pool_t *p)
{
    apr_array_header_t *m;
    apr_size_t skipped = 99;

    KVC_CHECK_INT(lookup("{\"event_id\":\"Lookup3f2a\",\"layout_info\":{"
                         "\"vllm-a\":[\"LocalCPUBackend\",512],"
                         "\"vllm-b\":[\"LocalCPUBackend\",1024]}}",
                         p, &m, &skipped),
                  KVC_WIRE_OK);
    KVC_CHECK_INT(skipped, 0);
    KVC_CHECK_INT(m->nelts, 2);
    check_match(m, 0, "vllm-a", "LocalCPUBackend", 512);
    check_match(m, 1, "vllm-b", "LocalCPUBackend", 1024);
}

static void test_lookup_object_form(apr_pool_t *p)
{
    apr_array_header_t *m;
    apr_size_t skipped = 99;

    KVC_CHECK_INT(lookup("{\"event_id\":\"evt\",\"layout_info\":{"
                         "\"node-a\":{\"0\":\"x\",\"1\":2},"
                         "\"node-b\":{\"1\":8,\"0\":\"y\",\"extra\":true},"
                         "\"node-c\":[\"LocalDiskBackend\",16]}}",
                         p, &m, &skipped),
                  KVC_WIRE_OK);
    KVC_CHECK_INT(skipped, 0);
    KVC_CHECK_INT(m->nelts, 3);
    check_match(m, 0, "node-a", "x", 2);
    check_match(m, 1, "node-b", "y", 8);
    check_match(m, 2, "node-c", "LocalDiskBackend", 16);
}

static void test_lookup_counts(apr_pool_t *p)
{
    apr_array_header_t *m;
    apr_size_t skipped = 99;

    KVC_CHECK_INT(lookup("{\"layout_info\":{"
                         "\"f\":[\"L\",512.0],"
                         "\"e\":[\"L\",1e3],"
                         "\"z\":[\"L\",0],"
                         "\"mz\":[\"L\",-0.0],"
                         "\"max\":[\"L\",2147483647],"
                         "\"frac\":[\"L\",12.5],"
                         "\"neg\":[\"L\",-1],"
                         "\"negf\":[\"L\",-1.0],"
                         "\"big\":[\"L\",2147483648],"
                         "\"bigf\":[\"L\",2147483648.0],"
                         "\"huge\":[\"L\",1e300],"
                         "\"u64\":[\"L\",18446744073709551615],"
                         "\"str\":[\"L\",\"512\"],"
                         "\"bool\":[\"L\",true],"
                         "\"null\":[\"L\",null],"
                         "\"arr\":[\"L\",[512]]}}",
                         p, &m, &skipped),
                  KVC_WIRE_OK);
    KVC_CHECK_INT(m->nelts, 5);
    check_match(m, 0, "f", "L", 512);
    check_match(m, 1, "e", "L", 1000);
    check_match(m, 2, "z", "L", 0);
    check_match(m, 3, "mz", "L", 0);
    check_match(m, 4, "max", "L", 2147483647);
    KVC_CHECK_INT(skipped, 11);
}

static void test_lookup_invalid_ids_skipped(apr_pool_t *p)
{
    apr_array_header_t *m;
    apr_size_t skipped = 99;

    KVC_CHECK_INT(lookup("{\"layout_info\":{"
                         "\"\":[\"L\",1],"
                         "\"bad id\":[\"L\",2],"
                         "\"a\\nb\":[\"L\",3],"
                         "\"a\\r\\nX-Evil: 1\":[\"L\",4],"
                         "\"caf\\u00e9\":[\"L\",5],"
                         "\"a/b\":[\"L\",6],"
                         "\"a=b\":[\"L\",7],"
                         "\"a\\\"b\":[\"L\",8],"
                         "\"0123456789012345678901234567890123456789"
                         "012345678901234567890123\":[\"L\",9],"
                         "\"ok:id@host_1.2-x\":[\"L\",10],"
                         "\"012345678901234567890123456789012345678901234"
                         "567890123456789012\":[\"L\",11]}}",
                         p, &m, &skipped),
                  KVC_WIRE_OK);
    KVC_CHECK_INT(m->nelts, 2);
    check_match(m, 0, "ok:id@host_1.2-x", "L", 10);
    check_match(m, 1,
                "012345678901234567890123456789012345678901234"
                "567890123456789012",
                "L", 11);
    KVC_CHECK_INT(skipped, 9);
    /* json-c would read "vllm-a\u0000evil" as "vllm-a": the whole answer
     * is refused instead. */
    KVC_CHECK_INT(lookup("{\"layout_info\":{\"vllm-a\\u0000evil\":"
                         "[\"L\",256]}}",
                         p, &m, &skipped),
                  KVC_WIRE_GARBAGE);
}

static void test_lookup_malformed_values_skipped(apr_pool_t *p)
{
    apr_array_header_t *m;
    apr_size_t skipped = 99;

    KVC_CHECK_INT(lookup("{\"layout_info\":{"
                         "\"a\":[\"L\"],"
                         "\"b\":[\"L\",1,2],"
                         "\"c\":[1,512],"
                         "\"d\":[null,512],"
                         "\"e\":{\"0\":\"x\"},"
                         "\"f\":{\"1\":5},"
                         "\"g\":{\"0\":5,\"1\":5},"
                         "\"h\":\"L\","
                         "\"i\":5,"
                         "\"j\":null,"
                         "\"k\":[],"
                         "\"l\":{},"
                         "\"ok\":[\"L\",3]}}",
                         p, &m, &skipped),
                  KVC_WIRE_OK);
    KVC_CHECK_INT(m->nelts, 1);
    check_match(m, 0, "ok", "L", 3);
    KVC_CHECK_INT(skipped, 12);
}

static void test_lookup_odd_locations(apr_pool_t *p)
{
    apr_array_header_t *m;
    apr_size_t skipped = 99;
    char loc255[256], loc256[257];
    const char *body;

    memset(loc255, 'L', 255);
    loc255[255] = '\0';
    memset(loc256, 'L', 256);
    loc256[256] = '\0';
    body = apr_psprintf(p,
                        "{\"layout_info\":{"
                        "\"a\":[\"Local CPU\",1],"
                        "\"b\":[\"\",2],"
                        "\"c\":[\"x\\ny\",3],"
                        "\"d\":[\"%s\",4],"
                        "\"e\":[\"%s\",5],"
                        "\"f\":[\"caf\\u00e9\",6],"
                        "\"g\":[\"q\\\"\",7]}}",
                        loc255, loc256);
    /* The match still counts; only the location is unknown. */
    KVC_CHECK_INT(lookup(body, p, &m, &skipped), KVC_WIRE_OK);
    KVC_CHECK_INT(skipped, 0);
    KVC_CHECK_INT(m->nelts, 7);
    check_match(m, 0, "a", NULL, 1);
    check_match(m, 1, "b", NULL, 2);
    check_match(m, 2, "c", NULL, 3);
    check_match(m, 3, "d", loc255, 4);
    check_match(m, 4, "e", NULL, 5);
    check_match(m, 5, "f", NULL, 6);
    check_match(m, 6, "g", NULL, 7);
}

static void test_lookup_order_kept(apr_pool_t *p)
{
    apr_array_header_t *m;

    KVC_CHECK_INT(lookup("{\"layout_info\":{\"z\":[\"L\",1],\"a\":[\"L\",2],"
                         "\"m\":[\"L\",3],\"b\":[\"L\",4]},"
                         "\"event_id\":\"e\"}",
                         p, &m, NULL),
                  KVC_WIRE_OK);
    KVC_CHECK_INT(m->nelts, 4);
    check_match(m, 0, "z", "L", 1);
    check_match(m, 1, "a", "L", 2);
    check_match(m, 2, "m", "L", 3);
    check_match(m, 3, "b", "L", 4);

    /* A repeated id keeps its first position and its last value. */
    KVC_CHECK_INT(lookup("{\"layout_info\":{\"a\":[\"L\",1],\"b\":[\"L\",2],"
                         "\"a\":[\"M\",3]}}",
                         p, &m, NULL),
                  KVC_WIRE_OK);
    KVC_CHECK_INT(m->nelts, 2);
    check_match(m, 0, "a", "M", 3);
    check_match(m, 1, "b", "L", 2);
}

/* Ids are compared decoded and in full; a repeated member counts with
 * its last value at every level, as in Python's json (LMCache's side). */
static void test_lookup_repeats_and_escapes(apr_pool_t *p)
{
    apr_array_header_t *m;
    apr_size_t skipped = 99;

    /* An escaped spelling is the same id. */
    KVC_CHECK_INT(lookup("{\"layout_info\":{\"vllm\\u002da\":[\"L\",1],"
                         "\"b\":[\"L\",2],\"vllm-a\":[\"M\",3],"
                         "\"\\u0062\":[\"N\",4]}}",
                         p, &m, &skipped),
                  KVC_WIRE_OK);
    KVC_CHECK_INT(m->nelts, 2);
    check_match(m, 0, "vllm-a", "M", 3);
    check_match(m, 1, "b", "N", 4);
    KVC_CHECK_INT(skipped, 0);

    /* The last value decides, well formed or not, at the first place. */
    KVC_CHECK_INT(lookup("{\"layout_info\":{\"a\":[\"L\",1],\"b\":5,"
                         "\"c\":[\"L\",3],\"a\":[\"L\",-1],"
                         "\"b\":[\"L\",2]}}",
                         p, &m, &skipped),
                  KVC_WIRE_OK);
    KVC_CHECK_INT(m->nelts, 2);
    check_match(m, 0, "b", "L", 2);
    check_match(m, 1, "c", "L", 3);
    KVC_CHECK_INT(skipped, 1);
    /* A repeated bad id is one skipped entry. */
    KVC_CHECK_INT(lookup("{\"layout_info\":{\"bad id\":[\"L\",1],"
                         "\"bad\\u0020id\":[\"L\",2],\"ok\":[\"L\",3]}}",
                         p, &m, &skipped),
                  KVC_WIRE_OK);
    KVC_CHECK_INT(skipped, 1);

    /* "0" and "1" of the object form, and layout_info itself. */
    KVC_CHECK_INT(lookup("{\"layout_info\":{\"a\":{\"0\":5,\"1\":1,"
                         "\"0\":\"L\"},\"b\":{\"0\":\"L\",\"1\":2,"
                         "\"1\":\"x\"},\"c\":{\"\\u0030\":\"K\","
                         "\"\\u0031\":7}}}",
                         p, &m, &skipped),
                  KVC_WIRE_OK);
    KVC_CHECK_INT(m->nelts, 2);
    check_match(m, 0, "a", "L", 1);
    check_match(m, 1, "c", "K", 7);
    KVC_CHECK_INT(skipped, 1);
    KVC_CHECK_INT(lookup("{\"layout_info\":{\"a\":[\"L\",1]},"
                         "\"layout_info\":{\"b\":[\"L\",2]}}",
                         p, &m, &skipped),
                  KVC_WIRE_OK);
    KVC_CHECK_INT(m->nelts, 1);
    check_match(m, 0, "b", "L", 2);
    KVC_CHECK_INT(lookup("{\"layout_info\":{\"a\":[\"L\",1]},"
                         "\"layout_info\":null}",
                         p, &m, &skipped),
                  KVC_WIRE_EMPTY);
    KVC_CHECK_INT(m->nelts, 0);
    KVC_CHECK_INT(
        lookup("{\"layout_info\":5,\"layout_info\":{\"a\":[\"L\",1]}}", p, &m,
               &skipped),
        KVC_WIRE_OK);
    KVC_CHECK_INT(lookup("{\"layout_info\":{\"a\":[\"L\",1]},"
                         "\"layout_info\":[]}",
                         p, &m, &skipped),
                  KVC_WIRE_GARBAGE);
    KVC_CHECK_INT(m->nelts, 0);
    /* An escaped layout_info is layout_info. */
    KVC_CHECK_INT(
        lookup("{\"layout\\u005finfo\":{\"a\":[\"L\",1]}}", p, &m, &skipped),
        KVC_WIRE_OK);
    /* Locations are decoded before they are judged. */
    KVC_CHECK_INT(lookup("{\"layout_info\":{\"a\":[\"Local\\u0043PU\",1],"
                         "\"b\":[\"x\\u0020y\",2]}}",
                         p, &m, &skipped),
                  KVC_WIRE_OK);
    check_match(m, 0, "a", "LocalCPU", 1);
    check_match(m, 1, "b", NULL, 2);
}

/* Counts as json-c and Python's json read them: a number with a fraction
 * or an exponent is a double, and counts if it is a whole number. */
static void test_lookup_count_forms(apr_pool_t *p)
{
    apr_array_header_t *m;
    apr_size_t skipped = 99;
    const char *zeros = apr_pstrcat(
        p, "{\"layout_info\":{\"a\":[\"L\",512.",
        "0000000000000000000000000000000000000000000000000000000000000000",
        "0000000000000000000000000000000000000000000000000000000000000000",
        "],\"b\":[\"L\",1",
        "0000000000000000000000000000000000000000000000000000000000000000",
        "e-64]}}", NULL);

    KVC_CHECK_INT(lookup("{\"layout_info\":{\"a\":[\"L\",5.12e2],"
                         "\"b\":[\"L\",51200E-2],\"c\":[\"L\",0.0e5],"
                         "\"d\":[\"L\",-0],\"e\":[\"L\",2.147483647e9],"
                         "\"f\":[\"L\",2147483647.00000000001],"
                         "\"g\":[\"L\",0.5e1],\"h\":[\"L\",2.1474836475e9],"
                         "\"i\":[\"L\",1e-5],\"j\":[\"L\",-5e0],"
                         "\"l\":[\"L\",1e999],\"m\":[\"L\",-1e999],"
                         "\"n\":[\"L\",-0.0e-0]}}",
                         p, &m, &skipped),
                  KVC_WIRE_OK);
    KVC_CHECK_INT(m->nelts, 8);
    check_match(m, 0, "a", "L", 512);
    check_match(m, 1, "b", "L", 512);
    check_match(m, 2, "c", "L", 0);
    check_match(m, 3, "d", "L", 0);
    check_match(m, 4, "e", "L", 2147483647);
    /* as a double, 2147483647.00000000001 is 2147483647 */
    check_match(m, 5, "f", "L", 2147483647);
    check_match(m, 6, "g", "L", 5);
    check_match(m, 7, "n", "L", 0);
    KVC_CHECK_INT(skipped, 5);
    /* Longer than any buffer on the stack. */
    KVC_CHECK_INT(lookup(zeros, p, &m, &skipped), KVC_WIRE_OK);
    KVC_CHECK_INT(m->nelts, 2);
    check_match(m, 0, "a", "L", 512);
    check_match(m, 1, "b", "L", 1);
}

/* An escaped NUL anywhere makes the answer garbage; an escaped backslash
 * followed by "u0000" is no such escape. */
static void test_lookup_escaped_nul(apr_pool_t *p)
{
    apr_array_header_t *m;

    KVC_CHECK_INT(lookup("{\"event_id\":\"e\\u0000\",\"layout_info\":"
                         "{\"a\":[\"L\",1]}}",
                         p, &m, NULL),
                  KVC_WIRE_GARBAGE);
    KVC_CHECK_INT(
        lookup("{\"layout_info\":{\"a\":[\"L\\u0000\",1]}}", p, &m, NULL),
        KVC_WIRE_GARBAGE);
    KVC_CHECK_INT(m->nelts, 0);
    KVC_CHECK_INT(lookup("{\"event_id\":\"\\\\u0000\",\"layout_info\":"
                         "{\"a\":[\"L\",1]},\"x\":\"\\\\\\\\u0000\"}",
                         p, &m, NULL),
                  KVC_WIRE_OK);
    KVC_CHECK_INT(lookup("{\"event_id\":\"\\\\\\u0000\",\"layout_info\":"
                         "{\"a\":[\"L\",1]}}",
                         p, &m, NULL),
                  KVC_WIRE_GARBAGE);
}

static void test_lookup_empty(apr_pool_t *p)
{
    static const char *const bodies[] = {
        "{\"event_id\":\"e\",\"layout_info\":{}}", "{\"event_id\":\"e\"}", "{}",
        "{\"layout_info\":null}", " {\"layout_info\" : { } } \n"
    };
    apr_array_header_t *m;
    apr_size_t skipped = 99, i;

    for (i = 0; i < sizeof(bodies) / sizeof(*bodies); i++) {
        kvc_test_context = bodies[i];
        m = NULL;
        KVC_CHECK_INT(lookup(bodies[i], p, &m, &skipped), KVC_WIRE_EMPTY);
        KVC_CHECK(m != NULL && m->nelts == 0);
        KVC_CHECK_INT(skipped, 0);
    }
    kvc_test_context = NULL;

    /* Every entry skipped: nothing usable, but say why. */
    KVC_CHECK_INT(lookup("{\"layout_info\":{\"bad id\":[\"L\",1],"
                         "\"x\":[\"L\",-1]}}",
                         p, &m, &skipped),
                  KVC_WIRE_EMPTY);
    KVC_CHECK(m != NULL && m->nelts == 0);
    KVC_CHECK_INT(skipped, 2);
}

static void test_lookup_garbage(apr_pool_t *p)
{
    static const char *const bodies[] = {
        "", " ", "{", "[]", "null", "\"x\"", "5", "{\"layout_info\":[]}",
        "{\"layout_info\":[[\"a\",1]]}", "{\"layout_info\":\"x\"}",
        "{\"layout_info\":5}", "{\"layout_info\":true}",
        "{\"layout_info\":{\"a\":[\"L\",1]}}x",
        "{\"layout_info\":{\"a\":[\"L\",1]}}{}",
        "{\"layout_info\":{\"a\":[\"L\",1],}}",
        "{\"layout_info\":{\"a\":[\"L\",1]}",
        "{\"layout_info\":{\"a\":[\"\xff\",1]}}",
        "{\"detail\":\"boom\"}garbage",
        /* json-c alone would take these; the shared scanner does not */
        "{\"layout_info\":{\"a\":[\"L\",1]},\"x\":NaN}",
        "{\"layout_info\":{\"a\":[\"L\",1]},\"x\":00}",
        "{\"layout_info\":{\"a\":[\"L\\tx\",1]},\"x\":\"a\tb\"}",
        "{\"layout_info\":{\"a\":[\"\xc0\x80\",1]}}"
    };
    apr_array_header_t *m;
    apr_size_t skipped = 99, i;

    for (i = 0; i < sizeof(bodies) / sizeof(*bodies); i++) {
        kvc_test_context = bodies[i];
        m = NULL;
        KVC_CHECK_INT(lookup(bodies[i], p, &m, &skipped), KVC_WIRE_GARBAGE);
        KVC_CHECK(m != NULL && m->nelts == 0);
    }
    kvc_test_context = NULL;
    KVC_CHECK_INT(kvc_wire_parse_lookup(NULL, 0, p, &m, NULL),
                  KVC_WIRE_GARBAGE);
}

static void test_lookup_depth(apr_pool_t *p)
{
    apr_array_header_t *m;
    const char *ok, *deep;
    char open[64], close[64];

    /* root 1, layout_info 2, value 3, 60 arrays 4..63, the 1 at 64 */
    memset(open, '[', 60);
    open[60] = '\0';
    memset(close, ']', 60);
    close[60] = '\0';
    ok = apr_psprintf(p,
                      "{\"layout_info\":{\"a\":[\"L\",1],"
                      "\"b\":[\"L\",%s1%s]}}",
                      open, close);
    KVC_CHECK_INT(lookup(ok, p, &m, NULL), KVC_WIRE_OK);
    KVC_CHECK_INT(m->nelts, 1);
    deep = apr_psprintf(p,
                        "{\"layout_info\":{\"a\":[\"L\",1],"
                        "\"b\":[\"L\",[%s1%s]]}}",
                        open, close);
    KVC_CHECK_INT(lookup(deep, p, &m, NULL), KVC_WIRE_GARBAGE);
}

/* ------------------------------------------------------------------ */
/* instance ids and the kvcache-matches note                          */
/* ------------------------------------------------------------------ */

static void test_route_id_valid(apr_pool_t *p)
{
    static const char *const good[] = { "a",
                                        "vllm-a",
                                        "vllm_b.1",
                                        "host:8000",
                                        "inst@node",
                                        "A-Z.0_9:@-",
                                        "lmcache_default_instance" };
    static const char *const bad[] = {
        "",     " ",   "a b",  "a/b",  "a=b",  "a,b",  "a;b",
        "a\"b", "a'b", "a\\b", "a\rb", "a\nb", "a\tb", "caf\xc3\xa9",
        "a%20", "a+b", "a|b",  "a#b",  "<a>",  "a?",   "a*",
        "a~b",  "a$b", "a!b",  "(a)",  "[a]",  "{a}"
    };
    char id[80];
    apr_size_t i;

    (void)p;
    for (i = 0; i < sizeof(good) / sizeof(*good); i++) {
        kvc_test_context = good[i];
        KVC_CHECK_INT(kvc_route_id_valid(good[i], strlen(good[i])), 1);
    }
    for (i = 0; i < sizeof(bad) / sizeof(*bad); i++) {
        kvc_test_context = bad[i];
        KVC_CHECK_INT(kvc_route_id_valid(bad[i], strlen(bad[i])), 0);
    }
    kvc_test_context = NULL;
    memset(id, 'x', sizeof(id));
    KVC_CHECK_INT(kvc_route_id_valid(id, 63), 1);
    KVC_CHECK_INT(kvc_route_id_valid(id, 64), 0);
    KVC_CHECK_INT(kvc_route_id_valid(id, 0), 0);
    KVC_CHECK_INT(kvc_route_id_valid(NULL, 0), 0);
    KVC_CHECK_INT(kvc_route_id_valid(NULL, 5), 0);
    /* Length, not NUL, bounds the id. */
    KVC_CHECK_INT(kvc_route_id_valid("ab\0c", 4), 0);
    KVC_CHECK_INT(kvc_route_id_valid("ab c", 2), 1);
}

static void test_matches_format(apr_pool_t *p)
{
    char id64[65];

    memset(id64, 'x', 64);
    id64[64] = '\0';
    KVC_CHECK_STR(kvc_matches_format(
                      make_matches(p, 2, "vllm-a", 512L, "vllm-b", 1024L), p),
                  "vllm-a=512 vllm-b=1024");
    KVC_CHECK_STR(kvc_matches_format(make_matches(p, 1, "a", 0L), p), "a=0");
    KVC_CHECK_STR(kvc_matches_format(make_matches(p, 0), p), "");
    KVC_CHECK_STR(kvc_matches_format(NULL, p), "");
    /* What would not parse back is left out. */
    KVC_CHECK_STR(kvc_matches_format(make_matches(p, 6, "a b", 1L, "ok", 2L,
                                                  "neg", -1L, (char *)NULL, 4L,
                                                  "big", 2147483648L, id64, 5L),
                                     p),
                  "ok=2");
    KVC_CHECK_STR(kvc_matches_format(
                      make_matches(p, 2, "bad id", 1L, "x", 2147483647L), p),
                  "x=2147483647");
}

static void test_matches_parse(apr_pool_t *p)
{
    apr_array_header_t *m;

    KVC_CHECK_INT(kvc_matches_parse("vllm-a=512 vllm-b=1024", p, &m), 0);
    KVC_CHECK_INT(m->nelts, 2);
    check_match(m, 0, "vllm-a", NULL, 512);
    check_match(m, 1, "vllm-b", NULL, 1024);

    KVC_CHECK_INT(kvc_matches_parse("  a=1\tb=2  \t", p, &m), 0);
    KVC_CHECK_INT(m->nelts, 2);
    check_match(m, 0, "a", NULL, 1);
    check_match(m, 1, "b", NULL, 2);

    KVC_CHECK_INT(kvc_matches_parse("x=0 y=2147483647 z=007", p, &m), 0);
    KVC_CHECK_INT(m->nelts, 3);
    check_match(m, 1, "y", NULL, 2147483647);
    check_match(m, 2, "z", NULL, 7);

    KVC_CHECK_INT(kvc_matches_parse("", p, &m), 0);
    KVC_CHECK(m != NULL && m->nelts == 0);
    KVC_CHECK_INT(kvc_matches_parse("   ", p, &m), 0);
    KVC_CHECK(m != NULL && m->nelts == 0);
}

static void test_matches_roundtrip(apr_pool_t *p)
{
    apr_array_header_t *in = make_matches(p, 4, "vllm-a", 512L, "node:1@h", 0L,
                                          "z.z_z", 7L, "b", 2147483647L);
    apr_array_header_t *out;
    const char *note = kvc_matches_format(in, p);
    int i;

    KVC_CHECK_INT(kvc_matches_parse(note, p, &out), 0);
    KVC_CHECK_INT(out->nelts, in->nelts);
    for (i = 0; i < in->nelts && i < out->nelts; i++) {
        KVC_CHECK_STR(match_at(out, i)->instance_id,
                      match_at(in, i)->instance_id);
        KVC_CHECK_INT(match_at(out, i)->matched, match_at(in, i)->matched);
    }
    KVC_CHECK_STR(kvc_matches_format(out, p), note);

    /* Parsing then formatting canonicalises blanks and leading zeros. */
    KVC_CHECK_INT(kvc_matches_parse(" a=01\t\tb=2 ", p, &out), 0);
    KVC_CHECK_STR(kvc_matches_format(out, p), "a=1 b=2");
}

static void test_matches_malformed(apr_pool_t *p)
{
    static const char *const bad[] = {
        "a",
        "a=",
        "=5",
        "a=-1",
        "a=+1",
        "a=1x",
        "a=1,b=2",
        "a=1;b=2",
        "a=2147483648",
        "a=99999999999",
        "a=99999999999999999999999",
        "a=1 a=2",
        "b=1 a=2 b=3",
        "bad id=1",
        "a==1",
        "a b=1",
        "a=1\n",
        "a=1\r\nb=2",
        "a=0x1",
        "a=1.0",
        "a=1 =2",
        "caf\xc3\xa9=1",
        "a/b=1",
        "a=1 b",
        "a=\t1",
        "0123456789012345678901234567890123456789012345678901234567890123=1"
    };
    apr_array_header_t *m;
    apr_size_t i;

    for (i = 0; i < sizeof(bad) / sizeof(*bad); i++) {
        kvc_test_context = bad[i];
        m = (apr_array_header_t *)bad;
        KVC_CHECK_INT(kvc_matches_parse(bad[i], p, &m), -1);
        KVC_CHECK_NULL(m);
    }
    kvc_test_context = NULL;
    KVC_CHECK_INT(kvc_matches_parse(NULL, p, &m), -1);
    KVC_CHECK_NULL(m);
}

static void test_matches_best(apr_pool_t *p)
{
    const kvc_match *b;

    b = kvc_matches_best(make_matches(p, 3, "a", 5L, "b", 9L, "c", 3L));
    KVC_CHECK(b != NULL && strcmp(b->instance_id, "b") == 0);
    /* Ties go to the smallest id, wherever it sits. */
    b = kvc_matches_best(make_matches(p, 3, "c", 5L, "b", 5L, "a", 3L));
    KVC_CHECK(b != NULL && strcmp(b->instance_id, "b") == 0);
    b = kvc_matches_best(
        make_matches(p, 3, "vllm-b", 512L, "vllm-a", 512L, "vllm-c", 512L));
    KVC_CHECK(b != NULL && strcmp(b->instance_id, "vllm-a") == 0);
    /* strcmp order: upper case sorts before lower case. */
    b = kvc_matches_best(make_matches(p, 2, "a", 1L, "B", 1L));
    KVC_CHECK(b != NULL && strcmp(b->instance_id, "B") == 0);
    b = kvc_matches_best(make_matches(p, 2, "ab", 1L, "a", 1L));
    KVC_CHECK(b != NULL && strcmp(b->instance_id, "a") == 0);
    /* All zero still picks one; the threshold is the caller's. */
    b = kvc_matches_best(make_matches(p, 2, "y", 0L, "x", 0L));
    KVC_CHECK(b != NULL && strcmp(b->instance_id, "x") == 0);
    b = kvc_matches_best(make_matches(p, 1, "only", 4L));
    KVC_CHECK(b != NULL && b->matched == 4);
    KVC_CHECK_NULL(kvc_matches_best(make_matches(p, 0)));
    KVC_CHECK_NULL(kvc_matches_best(NULL));
}

static void test_wire_status_reasons(apr_pool_t *p)
{
    (void)p;
    KVC_CHECK_STR(kvc_wire_status_reason(KVC_WIRE_OK), "ok");
    KVC_CHECK_STR(kvc_wire_status_reason(KVC_WIRE_GARBAGE), "garbage");
    KVC_CHECK_STR(kvc_wire_status_reason(KVC_WIRE_EMPTY), "empty");
}

const kvc_test_case kvc_wire_tests[] = {
    KVC_TEST(test_tokens_normal),
    KVC_TEST(test_tokens_whitespace),
    KVC_TEST(test_tokens_extra_fields),
    KVC_TEST(test_tokens_escapes_in_other_keys),
    KVC_TEST(test_tokens_duplicate_last_wins),
    KVC_TEST(test_tokens_repeated_many),
    KVC_TEST(test_tokens_empty),
    KVC_TEST(test_tokens_garbage),
    KVC_TEST(test_tokens_len_bounds_body),
    KVC_TEST(test_tokens_depth),
    KVC_TEST(test_tokens_every_prefix),
    KVC_TEST(test_tokens_byte_flips),
    KVC_TEST(test_tokens_large_roundtrip),
    KVC_TEST(test_tokens_all_widths),
    KVC_TEST(test_lookup_request),
    KVC_TEST(test_action_requests),
    KVC_TEST(test_lookup_array_form),
    KVC_TEST(test_lookup_object_form),
    KVC_TEST(test_lookup_counts),
    KVC_TEST(test_lookup_invalid_ids_skipped),
    KVC_TEST(test_lookup_malformed_values_skipped),
    KVC_TEST(test_lookup_odd_locations),
    KVC_TEST(test_lookup_order_kept),
    KVC_TEST(test_lookup_repeats_and_escapes),
    KVC_TEST(test_lookup_count_forms),
    KVC_TEST(test_lookup_escaped_nul),
    KVC_TEST(test_lookup_empty),
    KVC_TEST(test_lookup_garbage),
    KVC_TEST(test_lookup_depth),
    KVC_TEST(test_route_id_valid),
    KVC_TEST(test_matches_format),
    KVC_TEST(test_matches_parse),
    KVC_TEST(test_matches_roundtrip),
    KVC_TEST(test_matches_malformed),
    KVC_TEST(test_matches_best),
    KVC_TEST(test_wire_status_reasons),
    KVC_TEST_END
};

/* ------------------------------------------------------------------ */
/* --bench                                                            */
/* ------------------------------------------------------------------ */

static int cmp_time(const void *a, const void *b)
{
    apr_time_t x = *(const apr_time_t *)a, y = *(const apr_time_t *)b;

    return (x > y) - (x < y);
}

#define BENCH_RUNS 301

static void bench_report(const char *what, apr_time_t *t, int runs,
                         apr_size_t bytes)
{
    qsort(t, (size_t)runs, sizeof(*t), cmp_time);
    printf("%-40s min %7.3f ms  median %7.3f ms  p90 %7.3f ms", what,
           t[0] / 1000.0, t[runs / 2] / 1000.0, t[runs * 9 / 10] / 1000.0);
    if (bytes > 0) {
        printf("  (%.0f MB/s at median)",
               (double)bytes / (double)(t[runs / 2] ? t[runs / 2] : 1));
    }
    printf("\n");
}

/* English-like prompt text of about 'tokens' tokens (some 4.3 bytes
 * each) as it appears inside a JSON string: words, punctuation, "\n"
 * escapes between paragraphs, an escaped quote and some non-ASCII (raw
 * UTF-8 and \u escapes), so that the escape and UTF-8 paths count.
 */
static apr_size_t bench_text(char *o, apr_size_t tokens, apr_uint64_t *rng)
{
    static const char *const words[] = { "the",
                                         "model",
                                         "routes",
                                         "each",
                                         "request",
                                         "to",
                                         "an",
                                         "instance",
                                         "whose",
                                         "cache",
                                         "already",
                                         "holds",
                                         "longest",
                                         "prefix",
                                         "of",
                                         "its",
                                         "prompt",
                                         "tokens",
                                         "and",
                                         "so",
                                         "saves",
                                         "prefill",
                                         "time",
                                         "caf\xc3\xa9",
                                         "na\\u00efve",
                                         "\\\"quoted\\\"",
                                         "r\xc3\xa9sum\xc3\xa9",
                                         "configuration",
                                         "throughput",
                                         "latency",
                                         "a",
                                         "is",
                                         "with" };
    apr_size_t n = 0, w;

    for (w = 0; w < tokens; w++) {
        const char *word =
            words[rng_next(rng) % (sizeof(words) / sizeof(*words))];
        apr_size_t wl = strlen(word);

        memcpy(o + n, word, wl);
        n += wl;
        if (w % 97 == 96) {
            memcpy(o + n, ".\\n\\n", 5);
            n += 5;
        }
        else if (w % 13 == 12) {
            memcpy(o + n, ", ", 2);
            n += 2;
        }
        else {
            o[n++] = ' ';
        }
    }
    return n;
}

/* A /v1/completions body with a text prompt of about 'tokens' tokens. */
static char *bench_completion_body(apr_pool_t *p, apr_size_t tokens,
                                   apr_size_t *len)
{
    static const char head[] = "{\"model\":\"meta-llama/Llama-3.1-8B\","
                               "\"prompt\":\"";
    static const char tail[] = "\",\"max_tokens\":128,\"temperature\":0.7,"
                               "\"stream\":true}";
    apr_uint64_t rng = 11;
    char *body = apr_palloc(p, sizeof(head) + tokens * 24 + sizeof(tail));
    apr_size_t n = sizeof(head) - 1;

    memcpy(body, head, n);
    n += bench_text(body + n, tokens, &rng);
    memcpy(body + n, tail, sizeof(tail) - 1);
    *len = n + sizeof(tail) - 1;
    return body;
}

/* An agent-style /v1/chat/completions body: system prompt, tools, and
 * alternating turns (some with multimodal content parts) adding up to
 * about 'tokens' tokens.
 */
static char *bench_agent_body(apr_pool_t *p, apr_size_t tokens, apr_size_t *len)
{
    static const char head[] =
        "{\"model\":\"m\",\"stream\":true,\"tools\":[{\"type\":"
        "\"function\",\"function\":{\"name\":\"search\",\"parameters\":"
        "{\"type\":\"object\",\"properties\":{\"q\":{\"type\":"
        "\"string\"}}}}}],\"messages\":[{\"role\":\"system\","
        "\"content\":\"You are a helpful assistant.\"}";
    static const char tail[] = "],\"max_tokens\":512}";
    const apr_size_t per_turn = 400;
    apr_size_t turns = tokens / per_turn, k;
    apr_uint64_t rng = 13;
    char *body = apr_palloc(p, sizeof(head) + turns * (per_turn * 24 + 200)
                                   + sizeof(tail));
    apr_size_t n = sizeof(head) - 1;

    memcpy(body, head, n);
    for (k = 0; k < turns; k++) {
        const char *open;

        if (k % 10 == 5) {
            open = ",{\"role\":\"user\",\"content\":[{\"type\":"
                   "\"image_url\",\"image_url\":{\"url\":\"u\"}},"
                   "{\"type\":\"text\",\"text\":\"";
        }
        else {
            open = (k % 2 == 0) ? ",{\"role\":\"user\",\"content\":\""
                                : ",{\"role\":\"assistant\",\"content\":\"";
        }
        memcpy(body + n, open, strlen(open));
        n += strlen(open);
        n += bench_text(body + n, per_turn, &rng);
        if (k % 10 == 5) {
            memcpy(body + n, "\"}]}", 4);
            n += 4;
        }
        else {
            memcpy(body + n, "\"}", 2);
            n += 2;
        }
    }
    memcpy(body + n, tail, sizeof(tail) - 1);
    *len = n + sizeof(tail) - 1;
    return body;
}

/* kvc_extract() over an exact-size copy of body; 1 if it failed. */
static int bench_extract(const char *what, const char *body, apr_size_t len,
                         apr_pool_t *p, apr_time_t *t)
{
    const int runs = 101;
    char *exact = kvc_test_exact(body, len);
    kvc_request_info info;
    apr_size_t text_len = 0;
    int r, rc = 0;

    for (r = 0; r < runs; r++) {
        apr_time_t start = apr_time_now();

        if (kvc_extract(exact, len, "", p, &info) != KVC_EXTRACT_OK) {
            rc = 1;
        }
        t[r] = apr_time_now() - start;
        apr_pool_clear(p);
    }
    /* The text itself is not on the request path: measured apart. */
    if (kvc_extract(exact, len, "", p, &info) == KVC_EXTRACT_OK) {
        kvc_extract_prompt_text(&info, p, &text_len);
    }
    apr_pool_clear(p);
    printf("request body: %lu bytes, prompt text %lu bytes\n",
           (unsigned long)len, (unsigned long)text_len);
    bench_report(what, t, runs, len);
    free(exact);
    return rc;
}

int kvc_bench_run(apr_pool_t *root)
{
    const apr_size_t n = 131072;
    apr_time_t *t = apr_palloc(root, BENCH_RUNS * sizeof(*t));
    apr_uint64_t rng = 7;
    apr_size_t i, len, rlen;
    kvc_tokens in, out;
    char *body, *exact;
    apr_pool_t *p;
    int r, rc = 0;

    apr_pool_create(&p, root);
    in.count = n;
    in.ids = apr_palloc(root, n * sizeof(*in.ids));
    for (i = 0; i < n; i++) {
        /* Llama-3 sized vocabulary: mostly five- and six-digit ids. */
        in.ids[i] = (apr_int32_t)(rng_next(&rng) % 128256);
    }
    body = tokenize_response(root, &in, &len);
    exact = kvc_test_exact(body, len);
    printf("/tokenize response: %lu tokens, %lu bytes\n", (unsigned long)n,
           (unsigned long)len);

    for (r = 0; r < BENCH_RUNS; r++) {
        apr_time_t start = apr_time_now();

        if (kvc_wire_parse_tokens(exact, len, p, &out) != KVC_WIRE_OK
            || out.count != n) {
            rc = 1;
        }
        t[r] = apr_time_now() - start;
        apr_pool_clear(p);
    }
    bench_report("kvc_wire_parse_tokens (128k tokens)", t, BENCH_RUNS, len);

    for (r = 0; r < BENCH_RUNS; r++) {
        apr_time_t start = apr_time_now();

        if (kvc_wire_lookup_request(&in, p, &rlen) == NULL) {
            rc = 1;
        }
        t[r] = apr_time_now() - start;
        apr_pool_clear(p);
    }
    bench_report("kvc_wire_lookup_request (128k tokens)", t, BENCH_RUNS, rlen);
    free(exact);

    {
        /* A chat body of about the same size. */
        apr_size_t plen = 900 * 1024;
        char *chat = apr_palloc(root, plen + 128);

        len = (apr_size_t)apr_snprintf(chat, 128,
                                       "{\"model\":\"m\",\"messages\":"
                                       "[{\"role\":\"user\",\"content\":\"");
        for (i = 0; i < plen; i++) {
            chat[len + i] = (char)('a' + i % 26);
        }
        len += plen;
        memcpy(chat + len, "\"}]}", 4);
        len += 4;
        rc |= bench_extract("kvc_extract (900 KB chat body)", chat, len, p, t);
    }
    {
        body = bench_completion_body(root, 131072, &len);
        rc |= bench_extract("kvc_extract (128k-token completion)", body, len, p,
                            t);
        body = bench_agent_body(root, 131072, &len);
        rc |= bench_extract("kvc_extract (128k-token multi-turn chat)", body,
                            len, p, t);
    }

    {
        /* The token cache hit path: decoding a stored entry. */
        apr_size_t packed_len = kvc_tokpack_size(in.count);
        unsigned char *packed = apr_palloc(p, packed_len);

        kvc_tokpack_encode(&in, packed);
        for (r = 0; r < BENCH_RUNS; r++) {
            apr_pool_t *q;
            apr_time_t start;

            apr_pool_create(&q, p);
            start = apr_time_now();
            if (kvc_tokpack_decode(packed, packed_len, q, &out) != 0
                || out.count != in.count) {
                rc = 1;
            }
            t[r] = apr_time_now() - start;
            apr_pool_destroy(q);
        }
        bench_report("kvc_tokpack_decode (128k tokens)", t, BENCH_RUNS,
                     packed_len);
    }
    apr_pool_destroy(p);
    if (rc != 0) {
        printf("benchmark self-check FAILED\n");
    }
    return rc;
}
