/* Licensed under the Apache License, Version 2.0 (the "License"); you may not
 * use this file except in compliance with the License.  You may obtain a copy
 * of the License at http://www.apache.org/licenses/LICENSE-2.0
 */

/**
 * @file kvc_backoff.c
 * @brief Full-jitter exponential backoff and the retry-budget check.
 */

#include "kvc_backoff.h"

apr_interval_time_t kvc_backoff_delay(unsigned retry, apr_interval_time_t base,
                                      apr_interval_time_t max,
                                      apr_uint32_t random32)
{
    apr_interval_time_t ceiling;
    unsigned shift = retry > 0 ? retry - 1 : 0;
    apr_uint64_t span, hi, lo;

    if (base <= 0 || max <= 0) {
        return 0;
    }
    /* base << shift would overflow long before the cap matters for large
     * retry numbers; base <= max >> shift is exactly the condition under
     * which base << shift stays within max.
     */
    if (shift >= 63 || base > (max >> shift)) {
        ceiling = max;
    }
    else {
        ceiling = base << shift;
    }

    /* floor((ceiling + 1) * random32 / 2^32) is uniform over
     * [0, ceiling] and reaches both ends.  The product needs up to 95
     * bits, so split the 64-bit factor into 32-bit halves; neither
     * partial product overflows and the sum is exact.
     */
    span = (apr_uint64_t)ceiling + 1;
    hi = span >> 32;
    lo = span & 0xffffffffu;
    return (apr_interval_time_t)(hi * random32 + ((lo * random32) >> 32));
}

int kvc_backoff_should_retry(unsigned attempt, unsigned attempts,
                             apr_interval_time_t delay,
                             apr_interval_time_t remaining,
                             apr_interval_time_t min_attempt)
{
    if (attempt >= attempts) {
        return 0;
    }
    if (delay < 0) {
        delay = 0;
    }
    /* An attempt with no time at all left can only time out. */
    if (min_attempt < 1) {
        min_attempt = 1;
    }
    /* remaining - delay >= min_attempt, arranged so nothing overflows. */
    if (remaining < min_attempt) {
        return 0;
    }
    return delay <= remaining - min_attempt;
}
