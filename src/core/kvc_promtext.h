/* Licensed under the Apache License, Version 2.0 (the "License"); you may not
 * use this file except in compliance with the License.  You may obtain a copy
 * of the License at http://www.apache.org/licenses/LICENSE-2.0
 */

/**
 * @file kvc_promtext.h
 * @brief Reads sample values out of a Prometheus text exposition, such
 *        as a vLLM /metrics scrape (httpd-independent).
 *
 * Only what load-aware routing needs: the sum of a few named metrics.
 * The parser is a single bounded pass over the buffer, allocates nothing
 * and does not depend on the C locale (strtod would read "0.5" as 0 under
 * a locale with a decimal comma, which a library loaded into httpd can
 * set).
 */

#ifndef KVC_PROMTEXT_H
#define KVC_PROMTEXT_H

#include "apr.h"

#ifdef __cplusplus
extern "C" {
#endif

/**
 * Find the value of each requested metric in a Prometheus text
 * exposition (version 0.0.4, as vLLM's prometheus_client writes it).
 *
 * For each names[i] (e.g. "vllm:kv_cache_usage_perc"), out[i] receives
 * the sum of every sample of exactly that metric name, whatever its
 * labels (several engines or models are summed), and found[i] the number
 * of samples summed (0: none, and out[i] is 0), so that a caller can
 * average a ratio instead.
 *
 * Comments and HELP/TYPE lines are ignored, and so are other metrics,
 * including names that merely start with a requested one
 * ("..._total_created" never matches "..._total").  Label values may hold
 * escaped quotes and backslashes and any other characters, braces and
 * '#' included.  A sample's optional timestamp is ignored.  NaN, +Inf and
 * -Inf values (and values beyond the range of double) are skipped as if
 * the sample were absent, and so is a sample that would take the sum
 * beyond that range.  Malformed lines are skipped, and so is a last
 * line without its terminating newline, which the format requires: a
 * body cut short could otherwise yield "12" from "125".
 *
 * @param text the exposition (need not be NUL-terminated; never read
 *        past len)
 * @param len its length
 * @param names n metric names (a NULL entry is never found)
 * @param n number of names
 * @param out n sums
 * @param found n sample counts
 * @return the number of names with at least one sample
 */
int kvc_promtext_values(const char *text, apr_size_t len,
                        const char *const *names, apr_size_t n, double *out,
                        int *found);

#ifdef __cplusplus
}
#endif

#endif /* KVC_PROMTEXT_H */
