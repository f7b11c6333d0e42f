/* Licensed under the Apache License, Version 2.0 (the "License"); you may not
 * use this file except in compliance with the License.  You may obtain a copy
 * of the License at http://www.apache.org/licenses/LICENSE-2.0
 */

/**
 * @file fuzz_common.h
 * @brief Shared helpers of the mod_kvcache fuzz targets (fuzz/fuzz_*.c).
 *
 * Every target defines LLVMFuzzerTestOneInput() and is built two ways by
 * tools/fuzz.sh: with clang -fsanitize=fuzzer,address,undefined (libFuzzer
 * drives it), and with gcc -fsanitize=address,undefined plus
 * fuzz/replay_main.c (a plain main() that feeds it files: the regression
 * replay, no libFuzzer needed).
 *
 * Pool allocations: APR carves apr_palloc() blocks out of 8 KiB chunks, so
 * AddressSanitizer cannot see a write one byte past a pool buffer.  Both
 * builds link with -Wl,--wrap=apr_palloc, which routes every apr_palloc()
 * (and apr_pcalloc(), a macro over it) made by the core sources to a
 * malloc() of exactly the requested size while an input is being run;
 * fz_end() frees them.  Calls made inside libapr itself (apr_pstrdup,
 * apr_array_push, ...) still use the pool.  The shim also counts them
 * (fz_allocations(), fz_allocated_bytes()), so targets can check what a
 * parser costs, not only what it returns.  apr_generate_random_bytes() is
 * wrapped too (-Wl,--wrap=apr_generate_random_bytes) and returns fixed
 * bytes: a run depends on its inputs alone, and a crash replays.
 *
 * json-c is the targets' reference implementation of JSON (never the
 * module's: the core has its own scanner and writer); fz_jsonc_parse()
 * is its front end.
 */

#ifndef KVC_FUZZ_COMMON_H
#define KVC_FUZZ_COMMON_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "apr_pools.h"

struct json_object;

#ifdef __cplusplus
extern "C" {
#endif

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/** Fails the input: libFuzzer saves it as a crash, the replay exits 1. */
#define FZ_CHECK(cond)                                                         \
    do {                                                                       \
        if (!(cond)) {                                                         \
            fprintf(stderr, "fuzz invariant failed: %s:%d: %s\n", __FILE__,    \
                    __LINE__, #cond);                                          \
            abort();                                                           \
        }                                                                      \
    } while (0)

/** Starts an input: a fresh pool, exact-size allocations on. */
apr_pool_t *fz_begin(void);

/** Ends an input: destroys the pool and frees the exact allocations. */
void fz_end(void);

/** Core apr_palloc() calls, and the bytes they asked for, since
 *  fz_begin(). */
size_t fz_allocations(void);
size_t fz_allocated_bytes(void);

/** malloc()ed NUL-terminated copy of data, cut at its first NUL. */
char *fz_cstr(const uint8_t *data, size_t size);

/** 1 if [s, s+len) is well-formed UTF-8 (RFC 3629: no overlong forms,
 *  no surrogates, nothing above U+10FFFF). */
int fz_utf8_valid(const uint8_t *s, size_t len);

/** 1 if [s, s+len) is exactly one RFC 8259 JSON value (surrounded by
 *  JSON whitespace only) whose values nest at most max_depth levels deep,
 *  counted as kvc_wire.h counts them (top level 1, {"a":[1]} is 3).
 *  UTF-8 is not checked (see fz_utf8_valid()).  An independent reference
 *  for the hand-rolled scanner: json-c's "strict" mode still accepts NaN,
 *  Infinity, 00, 1., raw tabs in strings. */
int fz_json_strict(const uint8_t *s, size_t len, int max_depth);

/** 1 if the bytes contain the JSON escape \u0000 in any letter case. */
int fz_has_nul_escape(const uint8_t *s, size_t len);

/** 1 if the bytes contain an escaped high surrogate \uD800..\uDBFF
 *  (over-approximated: any "\u" then d8..db): json-c 0.16 decodes some
 *  valid pairs as U+FFFD, see fuzz_json.c. */
int fz_has_high_surrogate(const uint8_t *s, size_t len);

/**
 * json-c's tree of a buffer that is exactly one valid JSON value as
 * kvc_json.h defines it: the scanner decides validity, json-c only builds
 * the tree, so a reference never disagrees on what "valid" means.
 * (What was kvc_json_parse() when the module itself still used json-c.)
 * @param buf the text (not NUL-terminated)
 * @param len its length (at most INT_MAX, json-c's limit)
 * @param out receives the tree (NULL for the document "null"); release
 *        it with json_object_put()
 * @return APR_SUCCESS, APR_EINVAL for invalid JSON, APR_ENOMEM if the
 *         parser could not be allocated
 */
apr_status_t fz_jsonc_parse(const char *buf, size_t len,
                            struct json_object **out);

/** Checks fz_jsonc_parse() itself (aborts on a failure): each target
 *  that uses it calls this once, so the replay checks it too. */
void fz_jsonc_selftest(void);

#ifdef __cplusplus
}
#endif

#endif /* KVC_FUZZ_COMMON_H */
