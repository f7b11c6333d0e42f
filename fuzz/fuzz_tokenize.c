/* Licensed under the Apache License, Version 2.0 (the "License"); you may not
 * use this file except in compliance with the License.  You may obtain a copy
 * of the License at http://www.apache.org/licenses/LICENSE-2.0
 */

/**
 * @file fuzz_tokenize.c
 * @brief Fuzz target: vLLM /tokenize response (kvc_wire_parse_tokens),
 *        the hand-rolled single-pass JSON scanner.
 *
 * Invariants: OK means 1..len/2 ids (every id needs a digit and a
 * separator), each in 0..KVC_TOKEN_MAX, else {NULL, 0}; the parser's
 * memory stays linear in len (at most 8 bytes per input byte and a few
 * allocations, however often "tokens" repeats); the ids survive
 * kvc_wire_lookup_request() and parse back identically.  Differential
 * checks against an independent strict RFC 8259 validator
 * (fz_json_strict) and json-c (fz_jsonc_parse), whose objects keep the
 * last of repeated members, as the documented contract says:
 *  - whatever the scanner accepts is one strict JSON object;
 *  - for strict JSON objects that are valid UTF-8 with no \u0000 escape
 *    (json-c cuts member names at NUL, Python's json and this scanner do
 *    not), json-c accepts them too (same depth rule), its "tokens" has
 *    the same ids (OK) or is missing/null/[] (EMPTY), and the scanner
 *    only calls one garbage when its (last) "tokens" is present and not
 *    null.  fuzz/regressions/tokenize/ holds the input that found an
 *    earlier, unusable "tokens" wrongly deciding.
 */

#include <string.h>

#include <json.h>

#include "kvc_json.h"
#include "kvc_wire.h"

#include "fuzz_common.h"

static void fz_differential(const uint8_t *data, size_t size,
                            kvc_wire_status st, const kvc_tokens *t)
{
    json_object *root = NULL, *tokens = NULL;
    apr_status_t rv;
    int strict, has_tokens;
    size_t lead = 0;

    while (lead < size
           && (data[lead] == ' ' || data[lead] == '\t' || data[lead] == '\n'
               || data[lead] == '\r')) {
        lead++;
    }
    strict = fz_json_strict(data, size, KVC_JSON_MAX_DEPTH) && lead < size
             && data[lead] == '{';
    /* Whatever the scanner accepts is one strict JSON object. */
    if (st != KVC_WIRE_GARBAGE) {
        FZ_CHECK(strict);
    }
    if (!strict || !fz_utf8_valid(data, size)
        || fz_has_nul_escape(data, size)) {
        return;
    }
    /* json-c (laxer than RFC 8259, same depth rule) accepts it too. */
    rv = fz_jsonc_parse((const char *)data, size, &root);
    FZ_CHECK(rv == APR_SUCCESS);
    FZ_CHECK(json_object_is_type(root, json_type_object));
    has_tokens = json_object_object_get_ex(root, "tokens", &tokens);
    if (st == KVC_WIRE_OK) {
        size_t i;

        FZ_CHECK(has_tokens && json_object_is_type(tokens, json_type_array));
        FZ_CHECK(json_object_array_length(tokens) == t->count);
        for (i = 0; i < t->count; i++) {
            json_object *el = json_object_array_get_idx(tokens, i);

            FZ_CHECK(json_object_is_type(el, json_type_int));
            FZ_CHECK(json_object_get_int64(el) == (int64_t)t->ids[i]);
        }
    }
    else if (st == KVC_WIRE_EMPTY) {
        FZ_CHECK(!has_tokens || tokens == NULL
                 || (json_object_is_type(tokens, json_type_array)
                     && json_object_array_length(tokens) == 0));
    }
    else {
        /* Garbage although strict JSON: only a bad "tokens" may be why. */
        FZ_CHECK(has_tokens && tokens != NULL);
    }
    json_object_put(root);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    apr_pool_t *p = fz_begin();
    kvc_tokens t, back;
    kvc_wire_status st;
    size_t i;

    fz_jsonc_selftest();
    st = kvc_wire_parse_tokens((const char *)data, size, p, &t);
    /* The id buffer, a fifth of the input in ids, doubled at most thrice
     * (two bytes per id at the densest): never one buffer per member. */
    FZ_CHECK(fz_allocations() <= 4);
    FZ_CHECK(fz_allocated_bytes() <= 8 * size + 512);
    FZ_CHECK(st == KVC_WIRE_OK || st == KVC_WIRE_EMPTY
             || st == KVC_WIRE_GARBAGE);
    FZ_CHECK(strcmp(kvc_wire_status_reason(st), "unknown") != 0);
    if (st != KVC_WIRE_OK) {
        FZ_CHECK(t.ids == NULL && t.count == 0);
    }
    else {
        const char *req;
        apr_size_t len = 0;

        FZ_CHECK(t.ids != NULL && t.count >= 1);
        FZ_CHECK(t.count <= size / 2);
        for (i = 0; i < t.count; i++) {
            FZ_CHECK(t.ids[i] >= 0 && t.ids[i] <= KVC_TOKEN_MAX);
        }
        /* The /lookup request carries exactly these ids. */
        req = kvc_wire_lookup_request(&t, p, &len);
        FZ_CHECK(req != NULL && strlen(req) == len);
        FZ_CHECK(kvc_wire_parse_tokens(req, len, p, &back) == KVC_WIRE_OK);
        FZ_CHECK(back.count == t.count);
        FZ_CHECK(memcmp(back.ids, t.ids, t.count * sizeof(*t.ids)) == 0);
    }
    fz_differential(data, size, st, &t);

    fz_end();
    return 0;
}
