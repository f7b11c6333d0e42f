/* Licensed under the Apache License, Version 2.0 (the "License"); you may not
 * use this file except in compliance with the License.  You may obtain a copy
 * of the License at http://www.apache.org/licenses/LICENSE-2.0
 */

/**
 * @file fuzz_extract.c
 * @brief Fuzz target: request body -> model, prompt, token-cache key
 *        (kvc_extract), the one-pass parser every client body goes
 *        through.
 *
 * Invariants:
 *  - the status is a documented one, never "internal" (no allocation
 *    fails here); "invalid-json" exactly when an independent strict
 *    RFC 8259 + UTF-8 + depth check (fuzz_common.c) refuses the body,
 *    "not-object" exactly when it accepts a body that is not an object;
 *  - kvc_extract() copies nothing but the model (at most one core
 *    allocation): the prompt is only looked at;
 *  - on success the prompt text (kvc_extract_prompt_text) is
 *    NUL-terminated, not longer than the body, and the model is the
 *    default or a non-empty string from the body;
 *  - model and prompt equal what a reference implementation of the
 *    documented rules computes from json-c's tree of the same body
 *    (skipped for bodies with a \u0000 escape: json-c cuts member names
 *    at NUL, kvc_extract and Python's json do not; and for bodies with an
 *    escaped high surrogate: json-c 0.16 turns some valid pairs into
 *    U+FFFD, see fuzz_json.c, which checks the decoding itself);
 *  - trailing whitespace, and one more non-key member ("max_tokens"),
 *    change neither status, model, prompt nor key.
 */

#include <string.h>

#include <json.h>

#include "kvc_extract.h"
#include "kvc_json.h"

#include "fuzz_common.h"

#define FZ_DEFAULT_MODEL "fz-default-model"

/* Go's unicode.IsSpace, on the code points of valid UTF-8. */
static int fz_blank(const char *s, size_t len)
{
    const unsigned char *u = (const unsigned char *)s;
    size_t i = 0;

    while (i < len) {
        unsigned cp, n;

        if (u[i] < 0x80) {
            cp = u[i];
            n = 1;
        }
        else if (u[i] < 0xE0) {
            cp = ((u[i] & 0x1Fu) << 6) | (u[i + 1] & 0x3Fu);
            n = 2;
        }
        else if (u[i] < 0xF0) {
            cp = ((u[i] & 0x0Fu) << 12) | ((u[i + 1] & 0x3Fu) << 6)
                 | (u[i + 2] & 0x3Fu);
            n = 3;
        }
        else {
            return 0; /* nothing above U+FFFF is a space */
        }
        if (!((cp >= 9 && cp <= 13) || cp == ' ' || cp == 0x85 || cp == 0xA0
              || cp == 0x1680 || (cp >= 0x2000 && cp <= 0x200A) || cp == 0x2028
              || cp == 0x2029 || cp == 0x202F || cp == 0x205F
              || cp == 0x3000)) {
            return 0;
        }
        i += n;
    }
    return 1;
}

typedef struct {
    char *buf;
    size_t len, cap;
    int pieces, has_text;
} fz_text;

static void fz_add(fz_text *t, json_object *s)
{
    size_t n = (size_t)json_object_get_string_len(s);

    if (t->len + n + 1 > t->cap) {
        t->cap = 2 * (t->len + n + 1);
        t->buf = realloc(t->buf, t->cap);
        FZ_CHECK(t->buf != NULL);
    }
    if (t->pieces++ > 0) {
        t->buf[t->len++] = '\n';
    }
    memcpy(t->buf + t->len, json_object_get_string(s), n);
    t->len += n;
    if (!fz_blank(json_object_get_string(s), n)) {
        t->has_text = 1;
    }
}

/* The documented rules of kvc_extract.h, on a json-c tree. */
static void fz_reference(json_object *root, fz_text *t, const char **model)
{
    json_object *v, *el, *c, *part, *type, *text;
    size_t i, j;

    *model = FZ_DEFAULT_MODEL;
    if (json_object_object_get_ex(root, "model", &v)
        && json_object_is_type(v, json_type_string)
        && json_object_get_string(v)[0] != '\0') {
        *model = json_object_get_string(v);
    }
    memset(t, 0, sizeof(*t));
    if (json_object_object_get_ex(root, "prompt", &v)) {
        if (json_object_is_type(v, json_type_string)) {
            fz_add(t, v);
        }
        else if (json_object_is_type(v, json_type_array)) {
            for (i = 0; i < json_object_array_length(v); i++) {
                el = json_object_array_get_idx(v, i);
                if (json_object_is_type(el, json_type_string)) {
                    fz_add(t, el);
                }
            }
        }
    }
    if (t->has_text) {
        return;
    }
    t->len = 0;
    t->pieces = 0;
    if (!json_object_object_get_ex(root, "messages", &v)
        || !json_object_is_type(v, json_type_array)) {
        return;
    }
    for (i = 0; i < json_object_array_length(v); i++) {
        el = json_object_array_get_idx(v, i);
        if (!json_object_is_type(el, json_type_object)
            || !json_object_object_get_ex(el, "content", &c)) {
            continue;
        }
        if (json_object_is_type(c, json_type_string)) {
            fz_add(t, c);
            continue;
        }
        if (!json_object_is_type(c, json_type_array)) {
            continue;
        }
        for (j = 0; j < json_object_array_length(c); j++) {
            part = json_object_array_get_idx(c, j);
            if (json_object_is_type(part, json_type_object)
                && json_object_object_get_ex(part, "type", &type)
                && json_object_is_type(type, json_type_string)
                && json_object_get_string_len(type) == 4
                && memcmp(json_object_get_string(type), "text", 4) == 0
                && json_object_object_get_ex(part, "text", &text)
                && json_object_is_type(text, json_type_string)) {
                fz_add(t, text);
            }
        }
    }
}

static void fz_same(kvc_extract_status st, const kvc_request_info *a,
                    const char *text, apr_size_t text_len, const char *body,
                    size_t len, apr_pool_t *p)
{
    kvc_request_info b;

    FZ_CHECK(kvc_extract(body, len, FZ_DEFAULT_MODEL, p, &b) == st);
    if (st == KVC_EXTRACT_OK) {
        apr_size_t n = 0;
        const char *t = kvc_extract_prompt_text(&b, p, &n);

        FZ_CHECK(strcmp(a->model, b.model) == 0);
        FZ_CHECK(n == text_len);
        FZ_CHECK(memcmp(t, text, n) == 0);
        FZ_CHECK(memcmp(a->key, b.key, KVC_KEY_LEN) == 0);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    apr_pool_t *p = fz_begin();
    kvc_request_info a;
    kvc_extract_status st;
    const char *reason, *hex, *text;
    apr_size_t text_len = 0;
    size_t lead = 0, end = size;
    char *alt;
    int valid;

    fz_jsonc_selftest();
    st = kvc_extract((const char *)data, size, FZ_DEFAULT_MODEL, p, &a);
    FZ_CHECK(st == KVC_EXTRACT_OK || st == KVC_EXTRACT_INVALID_JSON
             || st == KVC_EXTRACT_NOT_OBJECT || st == KVC_EXTRACT_EMPTY_PROMPT);
    /* The model's copy, if any: the prompt is never decoded or copied. */
    FZ_CHECK(fz_allocations() <= 1);
    reason = kvc_extract_status_reason(st);
    FZ_CHECK(reason != NULL && strcmp(reason, "unknown") != 0);
    FZ_CHECK(a.model != NULL);
    FZ_CHECK((st == KVC_EXTRACT_OK) == (a.prompt_pieces != NULL));
    text = kvc_extract_prompt_text(&a, p, &text_len);
    FZ_CHECK(text != NULL && text[text_len] == '\0');

    while (lead < size
           && (data[lead] == ' ' || data[lead] == '\t' || data[lead] == '\n'
               || data[lead] == '\r')) {
        lead++;
    }
    valid = fz_json_strict(data, size, KVC_JSON_MAX_DEPTH)
            && fz_utf8_valid(data, size);
    FZ_CHECK((st == KVC_EXTRACT_INVALID_JSON) == !valid);
    FZ_CHECK((st == KVC_EXTRACT_NOT_OBJECT) == (valid && data[lead] != '{'));

    if (st == KVC_EXTRACT_OK) {
        FZ_CHECK(text_len > 0);
        FZ_CHECK(text_len <= size);
        FZ_CHECK(strcmp(a.model, FZ_DEFAULT_MODEL) == 0
                 || (a.model[0] != '\0' && strlen(a.model) <= size));
        hex = kvc_key_hex(a.key, (apr_size_t)(size % 80), p);
        FZ_CHECK(strlen(hex) == (size % 80 > 64 ? 64 : size % 80));
        FZ_CHECK(strspn(hex, "0123456789abcdef") == strlen(hex));
    }

    /* The same rules computed from json-c's tree. */
    if ((st == KVC_EXTRACT_OK || st == KVC_EXTRACT_EMPTY_PROMPT)
        && !fz_has_nul_escape(data, size)
        && !fz_has_high_surrogate(data, size)) {
        json_object *root = NULL;
        const char *model;
        fz_text t;

        FZ_CHECK(fz_jsonc_parse((const char *)data, size, &root)
                 == APR_SUCCESS);
        fz_reference(root, &t, &model);
        FZ_CHECK((st == KVC_EXTRACT_OK) == t.has_text);
        FZ_CHECK(strcmp(a.model, model) == 0);
        if (st == KVC_EXTRACT_OK) {
            FZ_CHECK(text_len == t.len);
            FZ_CHECK(memcmp(text, t.buf, t.len) == 0);
        }
        free(t.buf);
        json_object_put(root);
    }

    /* Trailing whitespace changes nothing. */
    alt = malloc(size + 32);
    FZ_CHECK(alt != NULL);
    if (size > 0) {
        memcpy(alt, data, size);
    }
    memcpy(alt + size, " \t\r\n", 4);
    fz_same(st, &a, text, text_len, alt, size + 4, p);

    /* Nor does a sampling option added at the end of the object. */
    if (st == KVC_EXTRACT_OK || st == KVC_EXTRACT_EMPTY_PROMPT) {
        size_t close, k, n;
        int empty = 1;

        while (end > 0 && data[end - 1] != '}') {
            end--;
        }
        close = end - 1;
        for (k = lead + 1; k < close; k++) {
            if (data[k] != ' ' && data[k] != '\t' && data[k] != '\n'
                && data[k] != '\r') {
                empty = 0;
                break;
            }
        }
        memcpy(alt, data, close);
        n = close;
        if (!empty) {
            alt[n++] = ',';
        }
        memcpy(alt + n, "\"max_tokens\":7}", 15);
        n += 15;
        fz_same(st, &a, text, text_len, alt, n, p);
    }
    free(alt);

    fz_end();
    return 0;
}
