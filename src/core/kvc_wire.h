/* Licensed under the Apache License, Version 2.0 (the "License"); you may not
 * use this file except in compliance with the License.  You may obtain a copy
 * of the License at http://www.apache.org/licenses/LICENSE-2.0
 */

/**
 * @file kvc_wire.h
 * @brief Upstream wire formats: vLLM /tokenize, LMCache /lookup, and the
 *        "kvcache-matches" request note (httpd-independent).
 *
 * Every parser takes a buffer and its length; buffers need not be
 * NUL-terminated and are never read past len.  All results are allocated
 * from the pool passed in.  Every parser reads JSON with the kvc_json
 * scanner, in one pass and without a tree, so all of them agree on what
 * valid JSON is (kvc_json.h); every body sent is written with
 * kvc_json_writer.h.
 */

#ifndef KVC_WIRE_H
#define KVC_WIRE_H

#include "apr.h"
#include "apr_errno.h"
#include "apr_pools.h"
#include "apr_tables.h"

#include "kvc_vocab.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Response caps.  A million-token prompt tokenizes to about 8 MB of JSON;
 * a lookup answer names a few instances in a few hundred bytes, so 64 KB
 * is generous and a runaway controller costs little memory. */
#define KVC_TOKENIZE_MAX_RESPONSE (16 * 1024 * 1024)
#define KVC_LOOKUP_MAX_RESPONSE   (64 * 1024)

/** Outcome of parsing an upstream response. */
typedef enum {
    KVC_WIRE_OK,      /**< at least one usable item */
    KVC_WIRE_GARBAGE, /**< malformed: log it, do not route */
    KVC_WIRE_EMPTY    /**< well formed but nothing usable */
} kvc_wire_status;

/**
 * Short name of a wire status for logs: "ok", "garbage" or "empty".
 * @param status the status
 * @return a static string
 */
const char *kvc_wire_status_reason(kvc_wire_status status);

/**
 * Parse a vLLM /tokenize response body, e.g.
 * {"count":3,"max_model_len":4096,"tokens":[1,2,3],"token_strs":null}.
 * Only the top-level "tokens" member is used; every other member, of any
 * JSON type, is validated and skipped.  Token ids must be JSON integers
 * in 0..KVC_TOKEN_MAX written without sign, fraction or exponent.  If
 * "tokens" occurs more than once the last one wins, as in Python's json:
 * an earlier one only has to be valid JSON, whatever it holds.  Single
 * pass over the bytes: a 128k-token response must not cost a tree of
 * 128k objects on the request path; memory stays linear in len however
 * often "tokens" repeats.
 * @param body response body (not NUL-terminated)
 * @param len its length
 * @param p pool for the id array
 * @param out receives the ids; {NULL, 0} unless KVC_WIRE_OK
 * @return KVC_WIRE_OK; KVC_WIRE_EMPTY when "tokens" is missing, null or
 *         []; KVC_WIRE_GARBAGE for anything that is not one valid JSON
 *         object as kvc_json.h defines it (trailing junk, truncation, bad
 *         escapes or UTF-8, nesting deeper than KVC_JSON_MAX_DEPTH levels)
 *         or whose last "tokens" is neither null nor an array of such
 *         integers
 */
kvc_wire_status kvc_wire_parse_tokens(const char *body, apr_size_t len,
                                      apr_pool_t *p, kvc_tokens *out);

/**
 * Build the LMCache /lookup request body {"tokens":[1,2,3]}.
 * @param t the tokens (NULL or count 0 gives {"tokens":[]})
 * @param p pool for the body
 * @param len if not NULL, receives the body length
 * @return the NUL-terminated body, or NULL if its size would overflow
 */
const char *kvc_wire_lookup_request(const kvc_tokens *t, apr_pool_t *p,
                                    apr_size_t *len);

/** What a cache-action body holds (LMCache /pin, /compress, /clear, Pixiu
 *  /evict); members that are NULL are left out of the body. */
typedef struct {
    const char *instance_id;  /**< required */
    const char *location;     /**< /pin, /compress, /clear */
    const char *method;       /**< /compress */
    const kvc_tokens *tokens; /**< /pin, /compress, /evict */
} kvc_wire_action;

/**
 * Build a cache-action body, e.g. for /compress
 * {"instance_id":"vllm-a","location":"LocalCPUBackend","method":"cachegen",
 * "tokens":[1,2,3]}: members in that order, strings escaped by the JSON
 * writer (whatever the configuration or a controller put in them, the
 * body stays one valid JSON object), tokens written as by
 * kvc_wire_lookup_request().
 * @param action the members
 * @param p pool for the body
 * @param len if not NULL, receives the body length
 * @return the NUL-terminated body, or NULL if action or its instance_id
 *         is NULL or the size would overflow
 */
const char *kvc_wire_action_request(const kvc_wire_action *action,
                                    apr_pool_t *p, apr_size_t *len);

/**
 * Parse an LMCache /lookup response, e.g.
 * {"event_id":"e","layout_info":{"vllm-a":["LocalCPUBackend",512]}}.
 * Each layout_info value may be the real LMCache array [location, n] or
 * the Pixiu/mock object {"0": location, "1": n}.  n must be an integer
 * 0..KVC_TOKEN_MAX; an integral float such as 512.0 is accepted, 12.5 or
 * a negative is not.  An entry whose id fails kvc_route_id_valid() or
 * whose value is malformed is skipped and counted in *skipped; a
 * location that is a string but not a plain name (printable ASCII, no
 * blanks or quotes, at most 255 bytes) only yields location NULL.
 * Entries keep the response order; a repeated id keeps its first
 * position and its last value (ids are compared decoded, in full), and
 * counts once in *skipped if that value is malformed.  As everywhere, a
 * repeated member ("layout_info", or "0" and "1" in the object form)
 * counts with its last value.
 * @param body response body (not NUL-terminated)
 * @param len its length
 * @param p pool for the result
 * @param matches receives an array of kvc_match (never NULL; empty
 *        unless KVC_WIRE_OK)
 * @param skipped if not NULL, receives the number of skipped entries
 * @return KVC_WIRE_OK with at least one match; KVC_WIRE_EMPTY when
 *         layout_info is missing, null, {} or every entry was skipped;
 *         KVC_WIRE_GARBAGE when the body is not a JSON object, holds
 *         a string with an escaped NUL (\u0000: no real answer has one,
 *         and an id cut at it could pass for another), or its
 *         layout_info is neither an object nor null
 */
kvc_wire_status kvc_wire_parse_lookup(const char *body, apr_size_t len,
                                      apr_pool_t *p,
                                      apr_array_header_t **matches,
                                      apr_size_t *skipped);

/**
 * Check an LMCache instance id / BalancerMember route: 1 to
 * KVC_ROUTE_ID_MAX bytes of [A-Za-z0-9._:@-].  Ids end up in request
 * notes, the environment and logs, so nothing that could inject headers
 * or log lines is allowed.
 * @param id the id (need not be NUL-terminated; may be NULL)
 * @param len its length
 * @return 1 if valid, 0 otherwise
 */
int kvc_route_id_valid(const char *id, apr_size_t len);

/**
 * Format matches as the kvcache-matches note: "vllm-a=512 vllm-b=1024".
 * Entries that kvc_matches_parse() would reject (invalid id, matched out
 * of 0..KVC_TOKEN_MAX) are left out, so the note parses back whenever the
 * ids are unique, as kvc_wire_parse_lookup()'s are.
 * @param matches array of kvc_match (may be NULL)
 * @param p pool for the string
 * @return the note, "" when there is nothing to format
 */
const char *kvc_matches_format(const apr_array_header_t *matches,
                               apr_pool_t *p);

/**
 * Parse a kvcache-matches note (inverse of kvc_matches_format()).  Other
 * modules may set the note, so it is validated: entries "ID=N" separated
 * by blanks (spaces or tabs), ID valid per kvc_route_id_valid(), N
 * decimal digits with a value of at most KVC_TOKEN_MAX, no repeated ID.
 * A note that is empty or blank parses to an empty array.
 * @param note the NUL-terminated note (NULL is malformed)
 * @param p pool for the result
 * @param matches receives an array of kvc_match with location NULL, or
 *        NULL on error
 * @return 0 on success, -1 if the note is malformed (then do not route)
 */
int kvc_matches_parse(const char *note, apr_pool_t *p,
                      apr_array_header_t **matches);

/**
 * Pick the best match: the highest matched count, ties broken by the
 * smallest instance id under strcmp() so that every process and every
 * run agrees.
 * @param matches array of kvc_match (may be NULL)
 * @return the best element (points into the array), NULL if empty
 */
const kvc_match *kvc_matches_best(const apr_array_header_t *matches);

#ifdef __cplusplus
}
#endif

#endif /* KVC_WIRE_H */
