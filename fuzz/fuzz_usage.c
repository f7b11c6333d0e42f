/* Licensed under the Apache License, Version 2.0 (the "License"); you may not
 * use this file except in compliance with the License.  You may obtain a copy
 * of the License at http://www.apache.org/licenses/LICENSE-2.0
 */

/**
 * @file fuzz_usage.c
 * @brief Fuzz target: the cached tokens an engine reports in its answer
 *        (kvc_usage), read from a JSON body or an SSE stream in pieces.
 *
 * Invariants: the result is -1 or 0..KVC_TOKEN_MAX, and it does not depend
 * on how the stream is cut (whole, at a point the input chooses, byte by
 * byte).  Differential checks against json-c on strict JSON without
 * backslashes (the scanner, by design, does not follow escaped member
 * names): as a plain answer, the value at usage.prompt_tokens_details.
 * cached_tokens when it is an integer in range; as a stream, that of the
 * last data line whose document has a "usage" member.
 */

#include <string.h>

#include <json.h>

#include "kvc_usage.h"
#include "kvc_vocab.h"

#include "fuzz_common.h"

static long scan(const uint8_t *data, size_t size, int sse, size_t cut)
{
    kvc_usage_scan s;

    kvc_usage_init(&s, sse);
    kvc_usage_feed(&s, (const char *)data, cut);
    kvc_usage_feed(&s, (const char *)data + cut, size - cut);
    return kvc_usage_cached_tokens(&s);
}

static long scan_bytewise(const uint8_t *data, size_t size, int sse)
{
    kvc_usage_scan s;
    size_t i;

    kvc_usage_init(&s, sse);
    for (i = 0; i < size; i++) {
        kvc_usage_feed(&s, (const char *)data + i, 1);
    }
    return kvc_usage_cached_tokens(&s);
}

/* The reference: json-c's tree of a strict JSON object.  Returns 1 and the
 * expected value when the document is one the scanner must agree on. */
static int reference(const uint8_t *doc, size_t len, int *has_usage,
                     long *expected)
{
    json_object *root = NULL, *usage, *details, *cached;

    *has_usage = 0;
    *expected = -1;
    if (!fz_json_strict(doc, len, 64) || memchr(doc, '\\', len)
        || fz_jsonc_parse((const char *)doc, len, &root) != APR_SUCCESS) {
        return 0;
    }
    if (!json_object_is_type(root, json_type_object)) {
        json_object_put(root);
        return 0;
    }
    if (json_object_object_get_ex(root, "usage", &usage)) {
        *has_usage = 1;
        if (json_object_is_type(usage, json_type_object)
            && json_object_object_get_ex(usage, "prompt_tokens_details",
                                         &details)
            && json_object_is_type(details, json_type_object)
            && json_object_object_get_ex(details, "cached_tokens", &cached)
            && json_object_is_type(cached, json_type_int)) {
            int64_t v = json_object_get_int64(cached);

            if (v >= 0 && v <= KVC_TOKEN_MAX) {
                *expected = (long)v;
            }
        }
    }
    json_object_put(root);
    return 1;
}

/* The stream as the scanner should read it: per "data:" line (one space
 * after the colon dropped), the last document with a "usage" member.
 * Returns 0 when some data line is not one the reference can judge. */
static int reference_sse(const uint8_t *data, size_t size, long *expected)
{
    size_t start = 0;

    *expected = -1;
    while (start < size) {
        size_t end = start;
        int has_usage;
        long value;

        while (end < size && data[end] != '\n' && data[end] != '\r') {
            end++;
        }
        if (end - start >= 5 && !memcmp(data + start, "data:", 5)) {
            size_t payload = start + 5;

            if (payload < end && data[payload] == ' ') {
                payload++;
            }
            /* A line still open at the end may yet grow: not judged. */
            if (end == size || !reference(data + payload, end - payload,
                                          &has_usage, &value)) {
                return 0;
            }
            if (has_usage) {
                *expected = value;
            }
        }
        start = end + 1;
    }
    return 1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static int selftested;
    size_t cut = size ? data[0] % (size + 1) : 0;
    int sse, has_usage;
    long expected;

    if (!selftested) {
        fz_jsonc_selftest();
        selftested = 1;
    }
    fz_begin();
    for (sse = 0; sse <= 1; sse++) {
        long whole = scan(data, size, sse, size);

        FZ_CHECK(whole >= -1 && whole <= KVC_TOKEN_MAX);
        FZ_CHECK(scan(data, size, sse, cut) == whole);
        FZ_CHECK(scan_bytewise(data, size, sse) == whole);
        if (!sse && reference(data, size, &has_usage, &expected)) {
            FZ_CHECK(whole == expected);
        }
        if (sse && reference_sse(data, size, &expected)) {
            FZ_CHECK(whole == expected);
        }
    }
    fz_end();
    return 0;
}
