/**
 * @file kvc_extract.c
 * @brief Request body -> model, prompt and token-cache key.
 */

#include <string.h>

#include <json.h>
#include <openssl/evp.h>

#include "apr_strings.h"
#include "apr_tables.h"

#include "kvc_extract.h"
#include "kvc_wire.h"

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
 */
static const char *const kvc_key_fields[] = {
    "prompt",
    "messages",
    "tools",
    "documents",
    "chat_template",
    "chat_template_kwargs",
    "add_generation_prompt",
    "continue_final_message",
    "add_special_tokens",
    "mm_processor_kwargs"
};

#define KVC_SERIALIZE_FLAGS (JSON_C_TO_STRING_PLAIN \
                             | JSON_C_TO_STRING_NOSLASHESCAPE)

typedef struct {
    const char *text;
    apr_size_t len;
} kvc_piece;

/* Whitespace as Go's unicode.IsSpace sees it, which is what Pixiu trims
 * with: a prompt of U+00A0 or U+3000 is as empty as one of spaces.
 * Bytes that are not valid UTF-8 count as content.
 */
static int kvc_blank(const char *text, apr_size_t len)
{
    const unsigned char *s = (const unsigned char *)text;
    apr_size_t i = 0;

    while (i < len) {
        unsigned char c = s[i];

        if (c == ' ' || (c >= '\t' && c <= '\r')) {
            i++;
        }
        else if (c == 0xC2 && i + 1 < len
                 && (s[i + 1] == 0x85 || s[i + 1] == 0xA0)) {
            /* U+0085 NEL, U+00A0 NBSP */
            i += 2;
        }
        else if (c == 0xE1 && i + 2 < len && s[i + 1] == 0x9A
                 && s[i + 2] == 0x80) {
            /* U+1680 OGHAM SPACE MARK */
            i += 3;
        }
        else if (c == 0xE2 && i + 2 < len && s[i + 1] == 0x80
                 && ((s[i + 2] >= 0x80 && s[i + 2] <= 0x8A)
                     || s[i + 2] == 0xA8 || s[i + 2] == 0xA9
                     || s[i + 2] == 0xAF)) {
            /* U+2000..U+200A, U+2028, U+2029, U+202F */
            i += 3;
        }
        else if (c == 0xE2 && i + 2 < len && s[i + 1] == 0x81
                 && s[i + 2] == 0x9F) {
            /* U+205F MEDIUM MATHEMATICAL SPACE */
            i += 3;
        }
        else if (c == 0xE3 && i + 2 < len && s[i + 1] == 0x80
                 && s[i + 2] == 0x80) {
            /* U+3000 IDEOGRAPHIC SPACE */
            i += 3;
        }
        else {
            return 0;
        }
    }
    return 1;
}

static void kvc_add_piece(apr_array_header_t *pieces, json_object *s,
                          int *has_text)
{
    kvc_piece *pc = apr_array_push(pieces);

    pc->text = json_object_get_string(s);
    pc->len = (apr_size_t)json_object_get_string_len(s);
    if (!*has_text && !kvc_blank(pc->text, pc->len)) {
        *has_text = 1;
    }
}

/* "prompt": a string, or an array whose string elements count (token-id
 * arrays therefore yield nothing).
 */
static int kvc_prompt_pieces(json_object *root, apr_array_header_t *pieces)
{
    json_object *prompt;
    int has_text = 0;

    if (!json_object_object_get_ex(root, "prompt", &prompt)) {
        return 0;
    }
    if (json_object_is_type(prompt, json_type_string)) {
        kvc_add_piece(pieces, prompt, &has_text);
    }
    else if (json_object_is_type(prompt, json_type_array)) {
        size_t i, n = json_object_array_length(prompt);

        for (i = 0; i < n; i++) {
            json_object *el = json_object_array_get_idx(prompt, i);

            if (json_object_is_type(el, json_type_string)) {
                kvc_add_piece(pieces, el, &has_text);
            }
        }
    }
    return has_text;
}

/* "messages": string contents, and the text parts of multimodal contents.
 * Tool-call messages (null content) and non-objects contribute nothing.
 */
static int kvc_message_pieces(json_object *root,
                              apr_array_header_t *pieces)
{
    json_object *messages;
    size_t i, n;
    int has_text = 0;

    if (!json_object_object_get_ex(root, "messages", &messages)
        || !json_object_is_type(messages, json_type_array)) {
        return 0;
    }
    n = json_object_array_length(messages);
    for (i = 0; i < n; i++) {
        json_object *msg = json_object_array_get_idx(messages, i);
        json_object *content;

        if (!json_object_is_type(msg, json_type_object)
            || !json_object_object_get_ex(msg, "content", &content)) {
            continue;
        }
        if (json_object_is_type(content, json_type_string)) {
            kvc_add_piece(pieces, content, &has_text);
        }
        else if (json_object_is_type(content, json_type_array)) {
            size_t j, m = json_object_array_length(content);

            for (j = 0; j < m; j++) {
                json_object *part = json_object_array_get_idx(content, j);
                json_object *type, *text;

                if (json_object_is_type(part, json_type_object)
                    && json_object_object_get_ex(part, "type", &type)
                    && json_object_is_type(type, json_type_string)
                    && strcmp(json_object_get_string(type), "text") == 0
                    && json_object_object_get_ex(part, "text", &text)
                    && json_object_is_type(text, json_type_string)) {
                    kvc_add_piece(pieces, text, &has_text);
                }
            }
        }
    }
    return has_text;
}

static const char *kvc_join(const apr_array_header_t *pieces, apr_pool_t *p,
                            apr_size_t *len)
{
    apr_size_t total = 0;
    char *buf, *o;
    int i;

    for (i = 0; i < pieces->nelts; i++) {
        total += APR_ARRAY_IDX(pieces, i, kvc_piece).len + (i > 0);
    }
    buf = o = apr_palloc(p, total + 1);
    for (i = 0; i < pieces->nelts; i++) {
        const kvc_piece *pc = &APR_ARRAY_IDX(pieces, i, kvc_piece);

        if (i > 0) {
            *o++ = '\n';
        }
        memcpy(o, pc->text, pc->len);
        o += pc->len;
    }
    *o = '\0';
    *len = total;
    return buf;
}

/* The model never contains NUL (it was cut at the first one), serialized
 * JSON never does either (json-c escapes it), and field names are fixed,
 * so the NUL separators keep the encoding unambiguous: no crafted model
 * string can reproduce another body's key.
 */
static int kvc_compute_key(json_object *root, const char *model,
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
    for (i = 0; ok && i < sizeof(kvc_key_fields) / sizeof(*kvc_key_fields);
         i++) {
        const char *name = kvc_key_fields[i];
        json_object *v;
        const char *json;
        size_t json_len = 0;

        /* A member that is present but null still hashes, as "null". */
        if (!json_object_object_get_ex(root, name, &v)) {
            continue;
        }
        json = json_object_to_json_string_length(v, KVC_SERIALIZE_FLAGS,
                                                  &json_len);
        ok = json != NULL
             && EVP_DigestUpdate(ctx, name, strlen(name) + 1)
             && EVP_DigestUpdate(ctx, json, json_len)
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
    json_object *root, *model;
    apr_array_header_t *pieces;
    apr_status_t rv;

    memset(out, 0, sizeof(*out));
    out->model = (default_model != NULL) ? default_model : "";
    out->prompt = "";

    rv = kvc_json_parse(body, len, &root);
    if (rv == APR_ENOMEM) {
        return KVC_EXTRACT_INTERNAL;
    }
    if (rv != APR_SUCCESS) {
        return KVC_EXTRACT_INVALID_JSON;
    }
    if (!json_object_is_type(root, json_type_object)) {
        json_object_put(root);
        return KVC_EXTRACT_NOT_OBJECT;
    }

    if (json_object_object_get_ex(root, "model", &model)
        && json_object_is_type(model, json_type_string)) {
        const char *m = apr_pstrdup(p, json_object_get_string(model));

        if (*m != '\0') {
            out->model = m;
        }
    }

    /* Pieces point into the json-c tree until they are joined into p. */
    pieces = apr_array_make(p, 8, sizeof(kvc_piece));
    if (!kvc_prompt_pieces(root, pieces)) {
        /* Whitespace-only prompt: unlike Pixiu (defect #19), fall back. */
        apr_array_clear(pieces);
        if (!kvc_message_pieces(root, pieces)) {
            json_object_put(root);
            return KVC_EXTRACT_EMPTY_PROMPT;
        }
    }
    out->prompt = kvc_join(pieces, p, &out->prompt_len);

    if (!kvc_compute_key(root, out->model, out->key)) {
        json_object_put(root);
        return KVC_EXTRACT_INTERNAL;
    }
    json_object_put(root);
    return KVC_EXTRACT_OK;
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
    case KVC_EXTRACT_OK:
        return "ok";
    case KVC_EXTRACT_INVALID_JSON:
        return "invalid-json";
    case KVC_EXTRACT_NOT_OBJECT:
        return "not-object";
    case KVC_EXTRACT_EMPTY_PROMPT:
        return "empty-prompt";
    case KVC_EXTRACT_INTERNAL:
        return "internal-error";
    }
    return "unknown";
}
