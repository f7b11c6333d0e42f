/* Licensed under the Apache License, Version 2.0 (the "License"); you may not
 * use this file except in compliance with the License.  You may obtain a copy
 * of the License at http://www.apache.org/licenses/LICENSE-2.0
 */

/**
 * @file kvc_parse.h
 * @brief Validation of mod_kvcache directive values (httpd-independent).
 *
 * Every function returns NULL on success and stores the value, or returns a
 * short reason saying what is allowed and leaves the output untouched.  The
 * caller prefixes the directive name, e.g.
 * "KVCacheLookupTimeout: not a duration; use e.g. 50ms, 2s, 5m, 1h or
 * whole seconds".  Values come from httpd's argument tokenizer, so any
 * whitespace, sign or suffix not listed below is rejected, never ignored.
 */

#ifndef KVC_PARSE_H
#define KVC_PARSE_H

#include "apr.h"
#include "apr_time.h"

#ifdef __cplusplus
extern "C" {
#endif

/**
 * Parse a duration: a non-negative whole number followed by "ms", "s",
 * "m" or "h" (lower case), or a bare whole number meaning seconds.
 * @param text NUL-terminated value
 * @param out_usec receives the duration in microseconds on success
 * @return NULL on success, else a static reason
 */
const char *kvc_parse_duration(const char *text, apr_interval_time_t *out_usec);

/**
 * Parse a size: a non-negative whole number of bytes with an optional
 * binary suffix K, M or G (either case; 1K = 1024).
 * @param text NUL-terminated value
 * @param out_bytes receives the size in bytes on success
 * @return NULL on success, else a static reason
 */
const char *kvc_parse_size(const char *text, apr_off_t *out_bytes);

/**
 * Parse a decimal integer (optional leading '-') within [min, max].
 * @param text NUL-terminated value
 * @param min smallest allowed value
 * @param max largest allowed value
 * @param out receives the value on success
 * @return NULL on success, else a reason naming the allowed range.  The
 *         reason lives in a per-thread buffer that the next failing
 *         kvc_parse_long() or kvc_parse_double() call in the same thread
 *         overwrites: copy it (apr_psprintf) before parsing again.
 */
const char *kvc_parse_long(const char *text, long min, long max, long *out);

/**
 * Parse a finite decimal number ("0.7", "1", "-2.5e-3") within [min, max].
 * NaN, infinities, hexadecimal forms and junk are rejected.  The decimal
 * separator is always '.', whatever the process locale is.
 * @param text NUL-terminated value
 * @param min smallest allowed value
 * @param max largest allowed value
 * @param out receives the value on success
 * @return NULL on success, else a reason naming the allowed range, e.g.
 *         "must be a number from 0 to 1" (same buffer rules as
 *         kvc_parse_long())
 */
const char *kvc_parse_double(const char *text, double min, double max,
                             double *out);

#ifdef __cplusplus
}
#endif

#endif /* KVC_PARSE_H */
