/* Licensed under the Apache License, Version 2.0 (the "License"); you may not
 * use this file except in compliance with the License.  You may obtain a copy
 * of the License at http://www.apache.org/licenses/LICENSE-2.0
 */

/**
 * @file kvc_extract.h
 * @brief Request body -> model, whether it has a prompt, and its
 *        token-cache key (httpd-independent).
 */

#ifndef KVC_EXTRACT_H
#define KVC_EXTRACT_H

#include "apr.h"
#include "apr_pools.h"
#include "apr_tables.h"

#include "kvc_vocab.h"

#ifdef __cplusplus
extern "C" {
#endif

/** Outcome of kvc_extract(). */
typedef enum {
    KVC_EXTRACT_OK,
    KVC_EXTRACT_INVALID_JSON, /**< not one strict JSON value, too deep */
    KVC_EXTRACT_NOT_OBJECT,   /**< valid JSON, but not an object */
    KVC_EXTRACT_EMPTY_PROMPT, /**< no prompt text after the fallbacks */
    KVC_EXTRACT_INTERNAL      /**< out of memory or digest failure */
} kvc_extract_status;

/** What routing needs to know about an inference request. */
typedef struct {
    /** body "model" if a non-empty string (cut at an embedded NUL), else
     *  the default model; never NULL, "" allowed */
    const char *model;
    /** the strings the prompt is made of, where they lie in the body
     *  (internal: kvc_json_str elements, see kvc_json.h); NULL unless
     *  KVC_EXTRACT_OK.  Routing only needs to know the prompt is not
     *  blank, so nothing is decoded or copied: read the text with
     *  kvc_extract_prompt_text(), and only while the body lives */
    const apr_array_header_t *prompt_pieces;
    /** SHA-256 token-cache key */
    unsigned char key[KVC_KEY_LEN];
} kvc_request_info;

/**
 * Extract model, prompt and token-cache key from a /v1/completions or
 * /v1/chat/completions body, in one pass over its bytes (no JSON tree,
 * no copy of the prompt).
 * The body must be valid JSON as kvc_json.h defines it: strict RFC 8259,
 * well-formed UTF-8, at most KVC_JSON_MAX_DEPTH (64) levels.  A member that
 * occurs more than once counts with its last value, as in Python's json
 * (what vLLM reads); member names are compared after decoding escapes and
 * in full (an escaped NUL does not end them).
 *
 * Prompt: "prompt" if a string, or the string elements of a "prompt"
 * array joined with "\n".  If that is empty or only (Unicode) whitespace
 * (as Go's unicode.IsSpace, which Pixiu trims with, sees it; escapes
 * decoded, as kvc_json_decode() decodes them), the "messages" fall back:
 * each object's "content" string, or the "text" of its content parts of
 * type "text", all joined with "\n".
 *
 * Key: SHA-256 over the model, NUL, then for each field that changes how
 * vLLM tokenizes the body (prompt, messages, tools, documents,
 * chat_template, chat_template_kwargs, add_generation_prompt,
 * continue_final_message, add_special_tokens, mm_processor_kwargs), in
 * that order and when present: its name, NUL, the raw bytes of its value
 * exactly as sent, NUL.  Sampling options such as stream or max_tokens,
 * and the order of the members, do not change it; reformatting a key
 * field's value does (such a client only misses the cache).
 *
 * @param body request body (not NUL-terminated; never read past len)
 * @param len its length
 * @param default_model model when the body names none (NULL means "")
 * @param p pool for the strings in *out
 * @param out receives the result; only meaningful on KVC_EXTRACT_OK, and
 *        its prompt_pieces point into body
 * @return KVC_EXTRACT_OK or the reason nothing can be routed
 */
kvc_extract_status kvc_extract(const char *body, apr_size_t len,
                               const char *default_model, apr_pool_t *p,
                               kvc_request_info *out);

/**
 * The prompt text of a request, decoded and joined as kvc_extract()
 * describes it: for tests, fuzzers and diagnostics, never the request
 * path (a long prompt is megabytes; never log it either).
 * @param info what kvc_extract() returned with KVC_EXTRACT_OK; the body
 *        it was extracted from must still be there
 * @param p pool for the text
 * @param len if not NULL, receives the text's length (the text may hold
 *        NULs of its own, from \u0000 escapes)
 * @return the text, NUL-terminated; "" if info has no prompt
 */
const char *kvc_extract_prompt_text(const kvc_request_info *info, apr_pool_t *p,
                                    apr_size_t *len);

/**
 * Lowercase hex of the first hex_chars digits of a key, for logs: log
 * hashes, never prompt text.
 * @param key the key
 * @param hex_chars digits wanted (capped at 64)
 * @param p pool for the string
 * @return the hex string
 */
const char *kvc_key_hex(const unsigned char key[KVC_KEY_LEN],
                        apr_size_t hex_chars, apr_pool_t *p);

/**
 * Short name of an extract status for logs and KVCACHE_DECISION:
 * "ok", "invalid-json", "not-object", "empty-prompt", "internal-error".
 * @param status the status
 * @return a static string
 */
const char *kvc_extract_status_reason(kvc_extract_status status);

#ifdef __cplusplus
}
#endif

#endif /* KVC_EXTRACT_H */
