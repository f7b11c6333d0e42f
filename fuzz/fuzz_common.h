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
 * apr_array_push, ...) still use the pool.
 */

#ifndef KVC_FUZZ_COMMON_H
#define KVC_FUZZ_COMMON_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "apr_pools.h"

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

#ifdef __cplusplus
}
#endif

#endif /* KVC_FUZZ_COMMON_H */
