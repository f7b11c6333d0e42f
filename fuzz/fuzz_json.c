/* Licensed under the Apache License, Version 2.0 (the "License"); you may not
 * use this file except in compliance with the License.  You may obtain a copy
 * of the License at http://www.apache.org/licenses/LICENSE-2.0
 */

/**
 * @file fuzz_json.c
 * @brief Fuzz target: the strict single-pass JSON scanner every parser of
 *        mod_kvcache shares (kvc_json_valid, kvc_json_string,
 *        kvc_json_decode, kvc_json_str_is, kvc_json_str_next,
 *        kvc_json_member), and the json-c front end the other targets'
 *        references use (fz_jsonc_parse).
 *
 * Invariants: kvc_json_valid() agrees exactly with an independent strict
 * RFC 8259 validator plus an RFC 3629 UTF-8 check and the same depth rule
 * (fuzz_common.c), and fz_jsonc_parse() succeeds exactly then; a document
 * that is one string decodes (kvc_json_decode) to no more bytes than it
 * has, to what a reference decoder of the documented rules gives, and to
 * what json-c gives unless json-c wrote a U+FFFD (json-c 0.16 turns valid
 * pairs such as \ud836\ude0d, U+1DA0D, into U+FFFD: it tests the low 16
 * bits of the code point for the surrogate range); kvc_json_str_next()
 * walks it to the same characters; the members of a top-level
 * object are walked with kvc_json_member() and each decoded ASCII name
 * compares equal under kvc_json_str_is() and unequal once changed.
 */

#include <string.h>

#include <json.h>

#include "kvc_json.h"

#include "fuzz_common.h"

static unsigned fz_hex4(const char *p)
{
    unsigned v = 0;
    int i;

    for (i = 0; i < 4; i++) {
        char c = p[i];

        v = v * 16 + (unsigned)(c <= '9' ? c - '0' : (c | 0x20) - 'a' + 10);
    }
    return v;
}

/* The rules of kvc_json.h: escapes decoded, escaped pairs joined, an
 * unpaired escaped surrogate U+FFFD, \u0000 a NUL byte. */
static size_t fz_decode_ref(const char *raw, size_t len, char *out)
{
    size_t i = 0, o = 0;

    while (i < len) {
        unsigned cp;

        if (raw[i] != '\\') {
            out[o++] = raw[i++];
            continue;
        }
        switch (raw[i + 1]) {
        case 'b': cp = 8; break;
        case 'f': cp = 12; break;
        case 'n': cp = 10; break;
        case 'r': cp = 13; break;
        case 't': cp = 9; break;
        case 'u': cp = 0x110000; break;
        default: cp = (unsigned char)raw[i + 1]; break;
        }
        if (cp != 0x110000) {
            out[o++] = (char)cp;
            i += 2;
            continue;
        }
        cp = fz_hex4(raw + i + 2);
        i += 6;
        if (cp >= 0xD800 && cp <= 0xDBFF && i + 6 <= len && raw[i] == '\\'
            && raw[i + 1] == 'u' && fz_hex4(raw + i + 2) >= 0xDC00
            && fz_hex4(raw + i + 2) <= 0xDFFF) {
            cp = 0x10000 + ((cp - 0xD800) << 10)
                 + (fz_hex4(raw + i + 2) - 0xDC00);
            i += 6;
        }
        else if (cp >= 0xD800 && cp <= 0xDFFF) {
            cp = 0xFFFD;
        }
        if (cp < 0x80) {
            out[o++] = (char)cp;
        }
        else if (cp < 0x800) {
            out[o++] = (char)(0xC0 | (cp >> 6));
            out[o++] = (char)(0x80 | (cp & 0x3F));
        }
        else if (cp < 0x10000) {
            out[o++] = (char)(0xE0 | (cp >> 12));
            out[o++] = (char)(0x80 | ((cp >> 6) & 0x3F));
            out[o++] = (char)(0x80 | (cp & 0x3F));
        }
        else {
            out[o++] = (char)(0xF0 | (cp >> 18));
            out[o++] = (char)(0x80 | ((cp >> 12) & 0x3F));
            out[o++] = (char)(0x80 | ((cp >> 6) & 0x3F));
            out[o++] = (char)(0x80 | (cp & 0x3F));
        }
    }
    return o;
}

static int fz_has_fffd(const char *s, size_t len)
{
    size_t i;

    for (i = 0; i + 3 <= len; i++) {
        if ((unsigned char)s[i] == 0xEF && (unsigned char)s[i + 1] == 0xBF
            && (unsigned char)s[i + 2] == 0xBD) {
            return 1;
        }
    }
    return 0;
}

/* kvc_json_str_next() yields the characters of the decoded text. */
static void fz_check_str_next(const kvc_json_str *str, const char *dec,
                              size_t n)
{
    apr_size_t pos = 0;
    size_t o = 0;

    while (pos < str->len) {
        apr_size_t before = pos;
        unsigned cp = kvc_json_str_next(str, &pos);
        unsigned char u[4];
        size_t k, len;

        FZ_CHECK(pos > before && pos <= str->len);
        FZ_CHECK(cp <= 0x10FFFF && (cp < 0xD800 || cp > 0xDFFF));
        if (cp < 0x80) {
            u[0] = (unsigned char)cp;
            len = 1;
        }
        else if (cp < 0x800) {
            u[0] = (unsigned char)(0xC0 | (cp >> 6));
            u[1] = (unsigned char)(0x80 | (cp & 0x3F));
            len = 2;
        }
        else if (cp < 0x10000) {
            u[0] = (unsigned char)(0xE0 | (cp >> 12));
            u[1] = (unsigned char)(0x80 | ((cp >> 6) & 0x3F));
            u[2] = (unsigned char)(0x80 | (cp & 0x3F));
            len = 3;
        }
        else {
            u[0] = (unsigned char)(0xF0 | (cp >> 18));
            u[1] = (unsigned char)(0x80 | ((cp >> 12) & 0x3F));
            u[2] = (unsigned char)(0x80 | ((cp >> 6) & 0x3F));
            u[3] = (unsigned char)(0x80 | (cp & 0x3F));
            len = 4;
        }
        FZ_CHECK(o + len <= n);
        for (k = 0; k < len; k++) {
            FZ_CHECK((unsigned char)dec[o + k] == u[k]);
        }
        o += len;
    }
    FZ_CHECK(o == n);
}

static void fz_check_str_is(const kvc_json_str *str)
{
    char *dec = malloc(str->len + 1);
    apr_size_t n, i;

    FZ_CHECK(dec != NULL);
    n = kvc_json_decode(str, dec);
    FZ_CHECK(n <= str->len);
    FZ_CHECK(str->escaped == (memchr(str->raw, '\\', str->len) != NULL));
    dec[n] = '\0';
    for (i = 0; i < n; i++) {
        if (dec[i] == '\0' || (unsigned char)dec[i] >= 0x80) {
            free(dec);
            return; /* not an ASCII literal */
        }
    }
    FZ_CHECK(kvc_json_str_is(str, dec));
    if (n > 0) {
        dec[n - 1] = (char)(dec[n - 1] == 'x' ? 'y' : 'x');
        FZ_CHECK(!kvc_json_str_is(str, dec));
        dec[n - 1] = '\0';
        FZ_CHECK(!kvc_json_str_is(str, dec));
    }
    free(dec);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *buf = (const char *)data;
    json_object *root = NULL;
    apr_status_t rv;
    size_t lead = 0;
    int valid, ref;

    valid = kvc_json_valid(buf, size);
    ref = fz_json_strict(data, size, KVC_JSON_MAX_DEPTH)
          && fz_utf8_valid(data, size);
    FZ_CHECK(valid == ref);

    fz_jsonc_selftest();
    rv = fz_jsonc_parse(buf, size, &root);
    FZ_CHECK(rv != APR_ENOMEM);
    FZ_CHECK((rv == APR_SUCCESS) == valid);

    while (lead < size
           && (data[lead] == ' ' || data[lead] == '\t' || data[lead] == '\n'
               || data[lead] == '\r')) {
        lead++;
    }
    if (lead < size && data[lead] == '"') {
        kvc_json_scan s;
        kvc_json_str str;
        int ok;

        s.p = buf + lead;
        s.end = buf + size;
        ok = kvc_json_string(&s, &str);
        if (valid) {
            char *dec, *ref_dec;
            apr_size_t n;
            size_t jn;

            FZ_CHECK(ok && str.raw == buf + lead + 1);
            FZ_CHECK(json_object_is_type(root, json_type_string));
            dec = malloc(str.len + 1);
            FZ_CHECK(dec != NULL);
            n = kvc_json_decode(&str, dec);
            FZ_CHECK(n <= str.len);
            ref_dec = malloc(str.len + 1);
            FZ_CHECK(ref_dec != NULL);
            FZ_CHECK(fz_decode_ref(str.raw, str.len, ref_dec) == n);
            FZ_CHECK(memcmp(dec, ref_dec, n) == 0);
            fz_check_str_next(&str, dec, n);
            jn = (size_t)json_object_get_string_len(root);
            if (!fz_has_fffd(json_object_get_string(root), jn)) {
                FZ_CHECK(n == jn);
                FZ_CHECK(memcmp(dec, json_object_get_string(root), n) == 0);
            }
            free(ref_dec);
            free(dec);
        }
        if (ok) {
            FZ_CHECK(str.raw + str.len < buf + size && str.raw[str.len] == '"');
            fz_check_str_is(&str);
        }
    }
    else if (valid && data[lead] == '{') {
        kvc_json_scan s;
        kvc_json_str name;
        kvc_json_step step;
        apr_size_t count = 0;

        s.p = buf + lead + 1;
        s.end = buf + size;
        while ((step = kvc_json_member(&s, &count, &name)) == KVC_JSON_ITEM) {
            fz_check_str_is(&name);
            FZ_CHECK(kvc_json_skip_value(&s, 1));
        }
        FZ_CHECK(step == KVC_JSON_END);
        FZ_CHECK(count >= (apr_size_t)json_object_object_length(root));
    }
    json_object_put(root);
    FZ_CHECK(!kvc_json_valid(NULL, 0));
    return 0;
}
