/* Licensed under the Apache License, Version 2.0 (the "License"); you may not
 * use this file except in compliance with the License.  You may obtain a copy
 * of the License at http://www.apache.org/licenses/LICENSE-2.0
 */

/**
 * @file kvc_extract.c
 * @brief Request body -> model, whether it has a prompt, and its
 *        token-cache key.
 */

#include <string.h>

#include <openssl/evp.h>

#include "apr_strings.h"
#include "apr_tables.h"

#include "kvc_extract.h"
#include "kvc_json.h"

/* Fields that change the tokens vLLM produces for a body, in the fixed
 * order they enter the key.
 *
 * Why not just hash the prompt text, as Pixiu did (its defect #21)?  The
 * body goes to vLLM's /tokenize as is, and vLLM renders "messages"
 * through the chat template: roles, tool schemas and template options
 * all become tokens.  Two bodies with the same joined text but different
 * roles or tools tokenize differently, so a text-only key would hand one
 * request the other's tokens and route it on a prefix it does not have.
 * Sampling options (stream, max_tokens, temperature, ...) never reach the
 * tokenizer and are left out so they still share an entry.
 *
 * Each field enters the key as the raw bytes of its value in the body,
 * not re-serialized: identical requests (what a retrying or replaying
 * client sends) still share an entry, and a client that reformats its
 * JSON only misses the cache, which costs one /tokenize call, never a
 * wrong route.  Serializing would cost a copy of the whole prompt.
 */
static const char *const kvc_members[] = {
    "prompt", "messages", "tools", "documents", "chat_template",
    "chat_template_kwargs", "add_generation_prompt", "continue_final_message",
    "add_special_tokens", "mm_processor_kwargs",
    /* not a key field: hashed on its own, decoded */
    "model"
};

/* Whitespace as Go's unicode.IsSpace sees it, which is what Pixiu trims
 * with: a prompt of U+00A0 or U+3000 is as empty as one of spaces. */
static int kvc_space(unsigned cp)
{
    return (cp >= '\t' && cp <= '\r') || cp == ' ' || cp == 0x85 || cp == 0xA0
           || cp == 0x1680 || (cp >= 0x2000 && cp <= 0x200A) || cp == 0x2028
           || cp == 0x2029 || cp == 0x202F || cp == 0x205F || cp == 0x3000;
}

/* Whether the strings hold a character that is not whitespace.  Only
 * this matters on the request path, so escapes are decoded on the fly
 * and nothing is copied; a prompt that is not blank usually says so at
 * its first character.
 */
static int kvc_has_text(const apr_array_header_t *pieces)
{
    int i;

    if (pieces == NULL) {
        return 0;
    }
    for (i = 0; i < pieces->nelts; i++) {
        const kvc_json_str *str = &APR_ARRAY_IDX(pieces, i, kvc_json_str);
        apr_size_t pos = 0;

        while (pos < str->len) {
            if (!kvc_space(kvc_json_str_next(str, &pos))) {
                return 1;
            }
        }
    }
    return 0;
}

#define KVC_NMEMBERS (sizeof(kvc_members) / sizeof(*kvc_members))
#define KVC_NFIELDS  (KVC_NMEMBERS - 1)
#define KVC_PROMPT   0
#define KVC_MESSAGES 1
#define KVC_MODEL    KVC_NFIELDS

/* What one pass over the body leaves for the decisions after it: every
 * member is a "last one wins" slot, as in Python's json.
 */
typedef struct {
    apr_pool_t *pool;
    /* kvc_json_str pieces of the last "prompt" and "messages" */
    apr_array_header_t *pieces[2];
    /* the last "model", if it was a string */
    kvc_json_str model;
    int has_model;
    /* raw JSON of the last member of each key field, NULL if absent */
    const char *field[KVC_NFIELDS];
    apr_size_t field_len[KVC_NFIELDS];
} kvc_body_scan;

/* Index of a top-level member in kvc_members, -1 if it does not count. */
static int kvc_member_index(const kvc_json_str *name)
{
    apr_size_t i;

    for (i = 0; i < KVC_NMEMBERS; i++) {
        if (kvc_json_str_is(name, kvc_members[i])) {
            return (int)i;
        }
    }
    return -1;
}

/* Consumes the string at s->p as a piece of prompt text. */
static int kvc_piece(kvc_json_scan *s, apr_array_header_t *pieces)
{
    return kvc_json_string(s, apr_array_push(pieces));
}

/* "prompt" (level 2): a string, or an array whose string elements count
 * (token-id arrays therefore yield nothing).
 */
static int kvc_scan_prompt(kvc_json_scan *s, apr_array_header_t *pieces)
{
    kvc_json_step step;
    apr_size_t count = 0;

    if (*s->p == '"') {
        return kvc_piece(s, pieces);
    }
    if (*s->p != '[') {
        return kvc_json_skip_value(s, 1);
    }
    s->p++;
    while ((step = kvc_json_element(s, &count)) == KVC_JSON_ITEM) {
        if (*s->p == '"' ? !kvc_piece(s, pieces) : !kvc_json_skip_value(s, 2)) {
            return 0;
        }
    }
    return step == KVC_JSON_END;
}

/* A multimodal content part (level 5): its "text" counts when its "type"
 * is the string "text".
 */
static int kvc_scan_part(kvc_json_scan *s, apr_array_header_t *pieces)
{
    kvc_json_step step;
    kvc_json_str name, value, text = { NULL, 0, 0 };
    apr_size_t count = 0;
    int type_is_text = 0, has_text = 0;

    s->p++;
    while ((step = kvc_json_member(s, &count, &name)) == KVC_JSON_ITEM) {
        int is_type = kvc_json_str_is(&name, "type");
        int is_text = !is_type && kvc_json_str_is(&name, "text");

        if ((is_type || is_text) && *s->p == '"') {
            if (!kvc_json_string(s, &value)) {
                return 0;
            }
            if (is_type) {
                type_is_text = kvc_json_str_is(&value, "text");
            }
            else {
                text = value;
                has_text = 1;
            }
            continue;
        }
        /* A later non-string "type" or "text" replaces an earlier one. */
        if (is_type) {
            type_is_text = 0;
        }
        else if (is_text) {
            has_text = 0;
        }
        if (!kvc_json_skip_value(s, 5)) {
            return 0;
        }
    }
    if (step != KVC_JSON_END) {
        return 0;
    }
    if (type_is_text && has_text) {
        *(kvc_json_str *)apr_array_push(pieces) = text;
    }
    return 1;
}

/* One message (level 3): its "content" string, or the text parts of its
 * content array (level 4).  Tool-call messages (null content) and
 * anything else contribute nothing.
 */
static int kvc_scan_message(kvc_json_scan *s, apr_array_header_t *pieces)
{
    const int first = pieces->nelts;
    kvc_json_step step;
    kvc_json_str name;
    apr_size_t count = 0;

    s->p++;
    while ((step = kvc_json_member(s, &count, &name)) == KVC_JSON_ITEM) {
        apr_size_t parts = 0;

        if (!kvc_json_str_is(&name, "content")) {
            if (!kvc_json_skip_value(s, 3)) {
                return 0;
            }
            continue;
        }
        /* A repeated "content": only the last one counts. */
        pieces->nelts = first;
        if (*s->p == '"') {
            if (!kvc_piece(s, pieces)) {
                return 0;
            }
            continue;
        }
        if (*s->p != '[') {
            if (!kvc_json_skip_value(s, 3)) {
                return 0;
            }
            continue;
        }
        s->p++;
        while ((step = kvc_json_element(s, &parts)) == KVC_JSON_ITEM) {
            if (*s->p == '{' ? !kvc_scan_part(s, pieces)
                             : !kvc_json_skip_value(s, 4)) {
                return 0;
            }
        }
        if (step != KVC_JSON_END) {
            return 0;
        }
    }
    return step == KVC_JSON_END;
}

/* "messages" (level 2): an array of messages. */
static int kvc_scan_messages(kvc_json_scan *s, apr_array_header_t *pieces)
{
    kvc_json_step step;
    apr_size_t count = 0;

    if (*s->p != '[') {
        return kvc_json_skip_value(s, 1);
    }
    s->p++;
    while ((step = kvc_json_element(s, &count)) == KVC_JSON_ITEM) {
        if (*s->p == '{' ? !kvc_scan_message(s, pieces)
                         : !kvc_json_skip_value(s, 2)) {
            return 0;
        }
    }
    return step == KVC_JSON_END;
}

/* The one pass: validates the whole body and records what the request
 * needs.  Returns KVC_EXTRACT_OK when the body is a valid JSON object.
 */
static kvc_extract_status kvc_scan_body(const char *body, apr_size_t len,
                                        kvc_body_scan *b)
{
    kvc_json_scan s;
    kvc_json_step step;
    kvc_json_str name;
    apr_size_t count = 0;

    if (body == NULL) {
        return KVC_EXTRACT_INVALID_JSON;
    }
    s.p = body;
    s.end = body + len;
    kvc_json_skip_ws(&s);
    if (s.p >= s.end) {
        return KVC_EXTRACT_INVALID_JSON;
    }
    if (*s.p != '{') {
        return kvc_json_valid(body, len) ? KVC_EXTRACT_NOT_OBJECT
                                         : KVC_EXTRACT_INVALID_JSON;
    }
    s.p++;
    while ((step = kvc_json_member(&s, &count, &name)) == KVC_JSON_ITEM) {
        const char *value = s.p;
        int i = kvc_member_index(&name);
        int ok;

        switch (i) {
        case -1: ok = kvc_json_skip_value(&s, 1); break;
        case KVC_MODEL:
            b->has_model = (*s.p == '"');
            ok = b->has_model ? kvc_json_string(&s, &b->model)
                              : kvc_json_skip_value(&s, 1);
            break;
        case KVC_PROMPT:
        case KVC_MESSAGES:
            if (b->pieces[i] == NULL) {
                b->pieces[i] = apr_array_make(b->pool, 4, sizeof(kvc_json_str));
            }
            apr_array_clear(b->pieces[i]);
            ok = (i == KVC_PROMPT) ? kvc_scan_prompt(&s, b->pieces[i])
                                   : kvc_scan_messages(&s, b->pieces[i]);
            break;
        default: ok = kvc_json_skip_value(&s, 1); break;
        }
        if (!ok) {
            return KVC_EXTRACT_INVALID_JSON;
        }
        if (i >= 0 && i < (int)KVC_NFIELDS) {
            b->field[i] = value;
            b->field_len[i] = (apr_size_t)(s.p - value);
        }
    }
    if (step != KVC_JSON_END) {
        return KVC_EXTRACT_INVALID_JSON;
    }
    kvc_json_skip_ws(&s);
    return s.p == s.end ? KVC_EXTRACT_OK : KVC_EXTRACT_INVALID_JSON;
}

/* The model never contains NUL (it was cut at the first one), and raw
 * JSON never does either (a NUL byte is invalid anywhere in JSON text),
 * and field names are fixed, so the NUL separators keep the encoding
 * unambiguous: no crafted model string can reproduce another body's key.
 */
static int kvc_compute_key(const kvc_body_scan *b, const char *model,
                           unsigned char key[KVC_KEY_LEN])
{
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    unsigned int outlen = 0;
    apr_size_t i;
    int ok;

    if (ctx == NULL) {
        return 0;
    }
    ok = EVP_DigestInit_ex(ctx, EVP_sha256(), NULL)
         && EVP_DigestUpdate(ctx, model, strlen(model) + 1);
    for (i = 0; ok && i < KVC_NFIELDS; i++) {
        const char *name = kvc_members[i];

        /* A member that is present but null still hashes, as "null". */
        if (b->field[i] == NULL) {
            continue;
        }
        ok = EVP_DigestUpdate(ctx, name, strlen(name) + 1)
             && EVP_DigestUpdate(ctx, b->field[i], b->field_len[i])
             && EVP_DigestUpdate(ctx, "", 1);
    }
    ok = ok && EVP_DigestFinal_ex(ctx, key, &outlen) && outlen == KVC_KEY_LEN;
    EVP_MD_CTX_free(ctx);
    return ok;
}

kvc_extract_status kvc_extract(const char *body, apr_size_t len,
                               const char *default_model, apr_pool_t *p,
                               kvc_request_info *out)
{
    const apr_array_header_t *pieces;
    kvc_body_scan b;
    kvc_extract_status st;

    memset(out, 0, sizeof(*out));
    out->model = (default_model != NULL) ? default_model : "";

    memset(&b, 0, sizeof(b));
    b.pool = p;
    st = kvc_scan_body(body, len, &b);
    if (st != KVC_EXTRACT_OK) {
        return st;
    }

    if (b.has_model) {
        char *m = apr_palloc(p, b.model.len + 1);

        /* Cut at an embedded NUL: from here on the model is a C string. */
        m[kvc_json_decode(&b.model, m)] = '\0';
        if (*m != '\0') {
            out->model = m;
        }
    }

    /* Whitespace-only prompt: unlike Pixiu (defect #19), fall back. */
    if (kvc_has_text(b.pieces[KVC_PROMPT])) {
        pieces = b.pieces[KVC_PROMPT];
    }
    else if (kvc_has_text(b.pieces[KVC_MESSAGES])) {
        pieces = b.pieces[KVC_MESSAGES];
    }
    else {
        return KVC_EXTRACT_EMPTY_PROMPT;
    }

    if (!kvc_compute_key(&b, out->model, out->key)) {
        return KVC_EXTRACT_INTERNAL;
    }
    out->prompt_pieces = pieces;
    return KVC_EXTRACT_OK;
}

const char *kvc_extract_prompt_text(const kvc_request_info *info, apr_pool_t *p,
                                    apr_size_t *len)
{
    const apr_array_header_t *pieces = info->prompt_pieces;
    apr_size_t total = 1;
    char *buf, *o;
    int i;

    if (pieces == NULL) {
        if (len != NULL) {
            *len = 0;
        }
        return "";
    }
    /* Decoding never grows a string: the raw lengths bound the text. */
    for (i = 0; i < pieces->nelts; i++) {
        total += APR_ARRAY_IDX(pieces, i, kvc_json_str).len + 1;
    }
    buf = o = apr_palloc(p, total);
    for (i = 0; i < pieces->nelts; i++) {
        if (i > 0) {
            *o++ = '\n';
        }
        o += kvc_json_decode(&APR_ARRAY_IDX(pieces, i, kvc_json_str), o);
    }
    *o = '\0';
    if (len != NULL) {
        *len = (apr_size_t)(o - buf);
    }
    return buf;
}

const char *kvc_key_hex(const unsigned char key[KVC_KEY_LEN],
                        apr_size_t hex_chars, apr_pool_t *p)
{
    static const char digits[] = "0123456789abcdef";
    char *buf;
    apr_size_t i;

    if (hex_chars > 2 * KVC_KEY_LEN) {
        hex_chars = 2 * KVC_KEY_LEN;
    }
    buf = apr_palloc(p, hex_chars + 1);
    for (i = 0; i < hex_chars; i++) {
        unsigned char b = key[i / 2];

        buf[i] = digits[(i % 2 == 0) ? (b >> 4) : (b & 0x0f)];
    }
    buf[hex_chars] = '\0';
    return buf;
}

const char *kvc_extract_status_reason(kvc_extract_status status)
{
    switch (status) {
    case KVC_EXTRACT_OK: return "ok";
    case KVC_EXTRACT_INVALID_JSON: return "invalid-json";
    case KVC_EXTRACT_NOT_OBJECT: return "not-object";
    case KVC_EXTRACT_EMPTY_PROMPT: return "empty-prompt";
    case KVC_EXTRACT_INTERNAL: return "internal-error";
    }
    return "unknown";
}
