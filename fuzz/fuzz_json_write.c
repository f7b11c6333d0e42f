/* Licensed under the Apache License, Version 2.0 (the "License"); you may not
 * use this file except in compliance with the License.  You may obtain a
 * copy of the License at http://www.apache.org/licenses/LICENSE-2.0
 */

/**
 * @file fuzz_json_write.c
 * @brief Fuzz target: the JSON writer (kvc_json_writer), and the bodies
 *        built with it (kvc_wire_lookup_request, kvc_wire_action_request).
 *
 * The input is a program of writer calls (containers, keys, strings of
 * any bytes, integers, fixed-point numbers with any double and decimal
 * count, null, token arrays), legal or not.  Invariants:
 *  - kvc_json_writer_finish() returns text exactly when a reference model
 *    of the documented rules says the sequence was legal, and then the
 *    text is byte for byte what an independent reference serializer of
 *    the documented escaping rules writes;
 *  - the text is valid JSON (kvc_json_valid), and reading it back with
 *    the scanner (kvc_json_member/element/string/number, kvc_json_decode)
 *    gives the values written, ill-formed UTF-8 as U+FFFD;
 *  - json-c reads the same values (unless an object repeats a key, which
 *    json-c's objects merge, or an integer is beyond 64 bits, which
 *    json-c clamps);
 *  - a fixed-point number is within half a unit of its last decimal of
 *    the double written.
 * Inputs whose first byte is odd are a cache-action body instead
 * (instance id, location, method and tokens from the input bytes), read
 * back with the scanner; the /lookup request's ids parse back with
 * kvc_wire_parse_tokens().
 */

#include <math.h>
#include <stdio.h>
#include <string.h>

#include <json.h>

#include "kvc_json.h"
#include "kvc_json_writer.h"
#include "kvc_wire.h"

#include "fuzz_common.h"

/* A growable byte buffer (malloc, freed at the end of the input). */
typedef struct {
    char *b;
    size_t n, cap;
} fz_buf;

static void fz_put(fz_buf *o, const void *s, size_t n)
{
    if (o->n + n + 1 > o->cap) {
        o->cap = 2 * (o->n + n + 1);
        o->b = realloc(o->b, o->cap);
        FZ_CHECK(o->b != NULL);
    }
    memcpy(o->b + o->n, s, n);
    o->n += n;
    o->b[o->n] = '\0';
}

static void fz_putc(fz_buf *o, char c)
{
    fz_put(o, &c, 1);
}

/* Trace records: a tag, then for keys, strings and numbers the length
 * (4 bytes) and the bytes: what a reader sees, in order. */
static void fz_trace(fz_buf *t, char tag, const char *s, size_t n)
{
    uint32_t len = (uint32_t)n;

    fz_putc(t, tag);
    if (s != NULL) {
        fz_put(t, &len, sizeof(len));
        fz_put(t, s, n);
    }
}

/* A number as a reader compares it: integers as written ("-0" is 0),
 * anything with a fraction or exponent as the double it denotes. */
static void fz_trace_number(fz_buf *t, const char *text, size_t n)
{
    char buf[512], out[64];
    int len;

    FZ_CHECK(n < sizeof(buf));
    memcpy(buf, text, n);
    buf[n] = '\0';
    if (strpbrk(buf, ".eE") != NULL) {
        len = snprintf(out, sizeof(out), "%.17g", strtod(buf, NULL));
        fz_trace(t, 'N', out, (size_t)len);
    }
    else if (strcmp(buf, "-0") == 0) {
        fz_trace(t, 'N', "0", 1);
    }
    else {
        fz_trace(t, 'N', buf, n);
    }
}

/* ---- reference serializer and model of the documented rules ---- */

/* Length of the well-formed UTF-8 sequence at s (by decoded value, not
 * by the scanner's table), 0 if none. */
static size_t fz_utf8_seq(const uint8_t *s, size_t left)
{
    size_t n = (s[0] >= 0xC2 && s[0] <= 0xDF)   ? 2
               : (s[0] >= 0xE0 && s[0] <= 0xEF) ? 3
               : (s[0] >= 0xF0 && s[0] <= 0xF4) ? 4
                                                : 0;

    return (n != 0 && n <= left && fz_utf8_valid(s, n)) ? n : 0;
}

/* The documented escaping, and the decoded value a reader must see. */
static void fz_ref_string(fz_buf *text, fz_buf *dec, const uint8_t *s, size_t n)
{
    static const char hex[] = "0123456789abcdef";
    size_t i = 0;

    fz_putc(text, '"');
    while (i < n) {
        uint8_t c = s[i];
        size_t k;

        if (c == '"' || c == '\\') {
            fz_putc(text, '\\');
            fz_putc(text, (char)c);
            fz_putc(dec, (char)c);
            i++;
        }
        else if (c < 0x20) {
            char e[6] = { '\\', 'u', '0', '0', hex[c >> 4], hex[c & 15] };

            fz_put(text, e, 6);
            fz_putc(dec, (char)c);
            i++;
        }
        else if (c < 0x80) {
            fz_putc(text, (char)c);
            fz_putc(dec, (char)c);
            i++;
        }
        else if ((k = fz_utf8_seq(s + i, n - i)) != 0) {
            fz_put(text, s + i, k);
            fz_put(dec, s + i, k);
            i += k;
        }
        else {
            fz_put(text, "\\ufffd", 6);
            fz_put(dec, "\xef\xbf\xbd", 3);
            i++;
        }
    }
    fz_putc(text, '"');
}

#define FZ_STACK 256

typedef struct {
    char stack[FZ_STACK]; /* '{' or '[' */
    int filled[FZ_STACK];
    /* keys of each open object, for json-c's sake: offsets in keys */
    int depth, value_due, complete, failed;
    int dup_keys, huge_ints;
    fz_buf text;  /* what the writer must write */
    fz_buf trace; /* what a reader must read */
    fz_buf keys[FZ_STACK];
} fz_model;

static int fz_model_item(fz_model *m, int is_key)
{
    int in_object;

    if (m->failed) {
        return 0;
    }
    if (m->depth == 0) {
        if (is_key || m->complete) {
            m->failed = 1;
        }
        return !m->failed;
    }
    if (m->depth >= KVC_JSON_MAX_DEPTH) {
        m->failed = 1;
        return 0;
    }
    in_object = m->stack[m->depth - 1] == '{';
    if (in_object && !is_key && m->value_due) {
        m->value_due = 0;
        return 1;
    }
    if (is_key != in_object || m->value_due) {
        m->failed = 1;
        return 0;
    }
    if (m->filled[m->depth - 1]) {
        fz_putc(&m->text, ',');
    }
    m->filled[m->depth - 1] = 1;
    return 1;
}

static void fz_model_done(fz_model *m)
{
    if (m->depth == 0) {
        m->complete = 1;
    }
}

/* Records a key of the innermost object; notes a repeat. */
static void fz_model_key_seen(fz_model *m, const char *k, size_t n)
{
    fz_buf *keys = &m->keys[m->depth - 1];
    size_t at = 0;
    uint32_t len = (uint32_t)n;

    while (at < keys->n) {
        uint32_t l;

        memcpy(&l, keys->b + at, sizeof(l));
        if (l == n && memcmp(keys->b + at + sizeof(l), k, n) == 0) {
            m->dup_keys = 1;
        }
        at += sizeof(l) + l;
    }
    fz_put(keys, &len, sizeof(len));
    fz_put(keys, k, n);
}

/* ---- reading back ---- */

/* The scanner's reading of the value at s->p, depth levels deep. */
static void fz_walk(kvc_json_scan *s, int depth, fz_buf *t)
{
    kvc_json_str str;
    kvc_json_step step;
    apr_size_t count = 0;
    char *dec;

    kvc_json_skip_ws(s);
    FZ_CHECK(s->p < s->end);
    switch (*s->p) {
    case '{':
        fz_trace(t, '{', NULL, 0);
        s->p++;
        while ((step = kvc_json_member(s, &count, &str)) == KVC_JSON_ITEM) {
            dec = malloc(str.len + 1);
            FZ_CHECK(dec != NULL);
            fz_trace(t, 'K', dec, kvc_json_decode(&str, dec));
            free(dec);
            fz_walk(s, depth + 1, t);
        }
        FZ_CHECK(step == KVC_JSON_END);
        fz_trace(t, '}', NULL, 0);
        break;
    case '[':
        fz_trace(t, '[', NULL, 0);
        s->p++;
        while ((step = kvc_json_element(s, &count)) == KVC_JSON_ITEM) {
            fz_walk(s, depth + 1, t);
        }
        FZ_CHECK(step == KVC_JSON_END);
        fz_trace(t, ']', NULL, 0);
        break;
    case '"':
        FZ_CHECK(kvc_json_string(s, &str));
        dec = malloc(str.len + 1);
        FZ_CHECK(dec != NULL);
        fz_trace(t, 'S', dec, kvc_json_decode(&str, dec));
        free(dec);
        break;
    case 'n':
        FZ_CHECK(kvc_json_literal(s, "null", 4));
        fz_trace(t, 'n', NULL, 0);
        break;
    default: {
        const char *start = s->p;

        FZ_CHECK(kvc_json_number(s));
        fz_trace_number(t, start, (size_t)(s->p - start));
        break;
    }
    }
}

/* json-c's reading of the same value. */
static void fz_walk_jsonc(json_object *o, fz_buf *t)
{
    char out[64];
    int len;
    size_t i;

    switch (json_object_get_type(o)) {
    case json_type_null: fz_trace(t, 'n', NULL, 0); break;
    case json_type_object:
        fz_trace(t, '{', NULL, 0);
        {
            json_object_object_foreach(o, k, v)
            {
                fz_trace(t, 'K', k, strlen(k));
                fz_walk_jsonc(v, t);
            }
        }
        fz_trace(t, '}', NULL, 0);
        break;
    case json_type_array:
        fz_trace(t, '[', NULL, 0);
        for (i = 0; i < json_object_array_length(o); i++) {
            fz_walk_jsonc(json_object_array_get_idx(o, i), t);
        }
        fz_trace(t, ']', NULL, 0);
        break;
    case json_type_string:
        fz_trace(t, 'S', json_object_get_string(o),
                 (size_t)json_object_get_string_len(o));
        break;
    case json_type_int:
        /* json-c keeps a non-negative int as uint64 when it must. */
        if (json_object_get_int64(o) < 0) {
            len = snprintf(out, sizeof(out), "%lld",
                           (long long)json_object_get_int64(o));
        }
        else {
            len = snprintf(out, sizeof(out), "%llu",
                           (unsigned long long)json_object_get_uint64(o));
        }
        fz_trace(t, 'N', out, (size_t)len);
        break;
    case json_type_double:
        len = snprintf(out, sizeof(out), "%.17g", json_object_get_double(o));
        fz_trace(t, 'N', out, (size_t)len);
        break;
    default: FZ_CHECK(0 && "the writer writes no booleans");
    }
}

/* ---- the program ---- */

typedef struct {
    const uint8_t *p, *end;
} fz_in;

static int fz_byte(fz_in *in)
{
    return in->p < in->end ? *in->p++ : 0;
}

static uint64_t fz_u64(fz_in *in)
{
    uint64_t v = 0;
    int i;

    for (i = 0; i < 8; i++) {
        v |= (uint64_t)fz_byte(in) << (8 * i);
    }
    return v;
}

static size_t fz_take(fz_in *in, size_t n)
{
    size_t left = (size_t)(in->end - in->p);

    return n < left ? n : left;
}

static void fz_program(fz_in *in, apr_pool_t *p)
{
    kvc_json_writer w;
    fz_model *m = calloc(1, sizeof(*m));
    const char *out;
    apr_size_t out_len = 0;
    fz_buf dec = { 0 };
    int i;

    FZ_CHECK(m != NULL);
    kvc_json_writer_init(&w, p, fz_byte(in) * 16);
    while (in->p < in->end) {
        int op = fz_byte(in) % 13;

        switch (op) {
        case 0:
        case 1:
        case 2:
            if (op == 2) {
                kvc_json_write_array_open(&w);
            }
            else {
                kvc_json_write_object_open(&w);
            }
            if (fz_model_item(m, 0)) {
                char c = (op == 2) ? '[' : '{';

                if (m->depth >= FZ_STACK) {
                    m->failed = 1;
                    break;
                }
                fz_putc(&m->text, c);
                fz_trace(&m->trace, c, NULL, 0);
                m->stack[m->depth] = c;
                m->filled[m->depth] = 0;
                m->keys[m->depth].n = 0;
                m->depth++;
            }
            break;
        case 3:
        case 4: {
            char open = (op == 3) ? '{' : '[';

            if (op == 3) {
                kvc_json_write_object_close(&w);
            }
            else {
                kvc_json_write_array_close(&w);
            }
            if (m->failed) {
                break;
            }
            if (m->depth == 0 || m->value_due
                || m->stack[m->depth - 1] != open) {
                m->failed = 1;
                break;
            }
            fz_putc(&m->text, op == 3 ? '}' : ']');
            fz_trace(&m->trace, op == 3 ? '}' : ']', NULL, 0);
            m->depth--;
            fz_model_done(m);
            break;
        }
        case 5:
        case 6: {
            char key[32];
            size_t n = fz_take(in, (size_t)fz_byte(in) % 32), k;

            memcpy(key, in->p, n);
            in->p += n;
            key[n] = '\0';
            kvc_json_write_key(&w, key);
            if (fz_model_item(m, 1)) {
                k = strlen(key);
                dec.n = 0;
                fz_ref_string(&m->text, &dec, (const uint8_t *)key, k);
                fz_putc(&m->text, ':');
                fz_trace(&m->trace, 'K', dec.b ? dec.b : "", dec.n);
                fz_model_key_seen(m, dec.b ? dec.b : "", dec.n);
                m->value_due = 1;
            }
            break;
        }
        case 7: {
            size_t n = fz_take(in, (size_t)fz_byte(in));

            kvc_json_write_string(&w, (const char *)in->p, n);
            if (fz_model_item(m, 0)) {
                dec.n = 0;
                fz_ref_string(&m->text, &dec, in->p, n);
                fz_trace(&m->trace, 'S', dec.b ? dec.b : "", dec.n);
                fz_model_done(m);
            }
            in->p += n;
            break;
        }
        case 8:
        case 9: {
            uint64_t v = fz_u64(in);
            char t[32];
            int len;

            if (op == 8) {
                kvc_json_write_uint(&w, v);
                len = snprintf(t, sizeof(t), "%llu", (unsigned long long)v);
            }
            else {
                kvc_json_write_int(&w, (apr_int64_t)v);
                len = snprintf(t, sizeof(t), "%lld", (long long)(int64_t)v);
            }
            if (fz_model_item(m, 0)) {
                fz_put(&m->text, t, (size_t)len);
                fz_trace_number(&m->trace, t, (size_t)len);
                fz_model_done(m);
            }
            break;
        }
        case 10: {
            uint64_t bits = fz_u64(in);
            int decimals = fz_byte(in) % 12;
            double v;
            char t[512];
            int len;

            memcpy(&v, &bits, sizeof(v));
            kvc_json_write_fixed(&w, v, decimals);
            if (decimals > 9) {
                m->failed = 1;
                break;
            }
            if (!fz_model_item(m, 0)) {
                break;
            }
            if (!isfinite(v)) {
                fz_put(&m->text, "null", 4);
                fz_trace(&m->trace, 'n', NULL, 0);
                fz_model_done(m);
                break;
            }
            len = snprintf(t, sizeof(t), "%.*f", decimals, v);
            fz_put(&m->text, t, (size_t)len);
            fz_trace_number(&m->trace, t, (size_t)len);
            if (decimals == 0 && fabs(v) >= 9e18) {
                m->huge_ints = 1;
            }
            /* Within half a unit of the last decimal (and the rounding
             * of the text back to a double). */
            {
                double back = strtod(t, NULL);

                FZ_CHECK(fabs(back - v) <= 0.5 * pow(10, -decimals) * (1 + 1e-9)
                                               + fabs(v) * 4.5e-16);
            }
            fz_model_done(m);
            break;
        }
        case 11: {
            size_t n = (size_t)fz_byte(in) % 41, k;
            apr_int32_t ids[40];
            kvc_tokens t;

            n = (n == 40) ? 0 : n;
            for (k = 0; k < n; k++) {
                uint32_t u = (uint32_t)fz_u64(in);

                memcpy(&ids[k], &u, sizeof(u));
            }
            t.ids = ids;
            t.count = n;
            /* No tokens: a NULL list, or an empty one. */
            kvc_json_write_tokens(&w,
                                  (n == 0 && (fz_byte(in) & 1)) ? NULL : &t);
            if (!fz_model_item(m, 0)) {
                break;
            }
            if (n > 0 && m->depth + 2 > KVC_JSON_MAX_DEPTH) {
                m->failed = 1;
                break;
            }
            fz_putc(&m->text, '[');
            fz_trace(&m->trace, '[', NULL, 0);
            for (k = 0; k < n; k++) {
                char d[16];
                int len = snprintf(d, sizeof(d), "%d", (int)ids[k]);

                if (k > 0) {
                    fz_putc(&m->text, ',');
                }
                fz_put(&m->text, d, (size_t)len);
                fz_trace_number(&m->trace, d, (size_t)len);
            }
            fz_putc(&m->text, ']');
            fz_trace(&m->trace, ']', NULL, 0);
            fz_model_done(m);
            break;
        }
        default:
            kvc_json_write_null(&w);
            if (fz_model_item(m, 0)) {
                fz_put(&m->text, "null", 4);
                fz_trace(&m->trace, 'n', NULL, 0);
                fz_model_done(m);
            }
            break;
        }
    }

    out = kvc_json_writer_finish(&w, &out_len);
    FZ_CHECK((out != NULL) == (!m->failed && m->complete));
    if (out != NULL) {
        kvc_json_scan s;
        fz_buf seen = { 0 };
        json_object *root = NULL;

        FZ_CHECK(out_len == m->text.n && out[out_len] == '\0');
        FZ_CHECK(memcmp(out, m->text.b, out_len) == 0);
        FZ_CHECK(kvc_json_valid(out, out_len));
        s.p = out;
        s.end = out + out_len;
        fz_walk(&s, 0, &seen);
        FZ_CHECK(s.p == s.end);
        FZ_CHECK(seen.n == m->trace.n);
        FZ_CHECK(memcmp(seen.b, m->trace.b, seen.n) == 0);
        if (!m->dup_keys && !m->huge_ints) {
            seen.n = 0;
            FZ_CHECK(fz_jsonc_parse(out, out_len, &root) == APR_SUCCESS);
            fz_walk_jsonc(root, &seen);
            json_object_put(root);
            FZ_CHECK(seen.n == m->trace.n);
            FZ_CHECK(memcmp(seen.b, m->trace.b, seen.n) == 0);
        }
        free(seen.b);
    }
    free(m->text.b);
    free(m->trace.b);
    for (i = 0; i < FZ_STACK; i++) {
        free(m->keys[i].b);
    }
    free(dec.b);
    free(m);
}

/* A cache-action body from the input: whatever the strings hold, the
 * body is one JSON object whose members read back as given. */
static void fz_action(fz_in *in, apr_pool_t *p)
{
    char *field[3];
    apr_int32_t ids[64];
    kvc_tokens t = { ids, 0 };
    kvc_wire_action a;
    const char *body, *name[3] = { "instance_id", "location", "method" };
    apr_size_t len = 0, k;
    int present = fz_byte(in), i;

    for (i = 0; i < 3; i++) {
        size_t n = fz_take(in, (size_t)fz_byte(in) % 64);

        field[i] = fz_cstr(in->p, n);
        in->p += n;
    }
    t.count = fz_take(in, (size_t)fz_byte(in) % 64);
    for (k = 0; k < t.count; k++) {
        ids[k] = (apr_int32_t)(fz_byte(in) * 1000003 % 2147483647);
    }
    a.instance_id = field[0];
    a.location = (present & 1) ? field[1] : NULL;
    a.method = (present & 2) ? field[2] : NULL;
    a.tokens = (present & 4) ? &t : NULL;
    body = kvc_wire_action_request(&a, p, &len);
    FZ_CHECK(body != NULL && strlen(body) == len);
    FZ_CHECK(kvc_json_valid(body, len));
    {
        kvc_json_scan s;
        kvc_json_str str;
        kvc_json_step step;
        apr_size_t count = 0, members = 0;

        s.p = body + 1;
        s.end = body + len;
        FZ_CHECK(body[0] == '{');
        while ((step = kvc_json_member(&s, &count, &str)) == KVC_JSON_ITEM) {
            if (kvc_json_str_is(&str, "tokens")) {
                kvc_tokens back;
                const char *req;
                apr_size_t rlen;

                FZ_CHECK(a.tokens != NULL);
                FZ_CHECK(kvc_json_skip_value(&s, 1));
                req = kvc_wire_lookup_request(&t, p, &rlen);
                FZ_CHECK(req != NULL);
                FZ_CHECK(kvc_wire_parse_tokens(req, rlen, p, &back)
                         == (t.count ? KVC_WIRE_OK : KVC_WIRE_EMPTY));
                FZ_CHECK(back.count == t.count);
                FZ_CHECK(t.count == 0
                         || memcmp(back.ids, ids, t.count * sizeof(*ids)) == 0);
                members++;
                continue;
            }
            for (i = 0; i < 3; i++) {
                if (kvc_json_str_is(&str, name[i])) {
                    kvc_json_str v;
                    fz_buf want = { 0 }, text = { 0 };
                    char *dec;
                    size_t n;

                    FZ_CHECK(*s.p == '"' && kvc_json_string(&s, &v));
                    dec = malloc(v.len + 1);
                    FZ_CHECK(dec != NULL);
                    n = kvc_json_decode(&v, dec);
                    fz_ref_string(&text, &want, (const uint8_t *)field[i],
                                  strlen(field[i]));
                    FZ_CHECK(n == want.n);
                    FZ_CHECK(n == 0 || memcmp(dec, want.b, n) == 0);
                    free(dec);
                    free(want.b);
                    free(text.b);
                    members++;
                    break;
                }
            }
            FZ_CHECK(i < 3);
        }
        FZ_CHECK(step == KVC_JSON_END);
        FZ_CHECK(members
                 == (apr_size_t)(1 + (a.location != NULL) + (a.method != NULL)
                                 + (a.tokens != NULL)));
    }
    for (i = 0; i < 3; i++) {
        free(field[i]);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    apr_pool_t *p = fz_begin();
    fz_in in = { data, data + size };

    fz_jsonc_selftest();
    if (size > 0 && (data[0] & 1)) {
        in.p++;
        fz_action(&in, p);
    }
    else {
        fz_program(&in, p);
    }
    fz_end();
    return 0;
}
