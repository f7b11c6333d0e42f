/* Licensed under the Apache License, Version 2.0 (the "License"); you may not
 * use this file except in compliance with the License.  You may obtain a copy
 * of the License at http://www.apache.org/licenses/LICENSE-2.0
 */

/**
 * @file kvc_backoff.h
 * @brief Retry delays: full-jitter exponential backoff bounded by the
 *        caller's time budget (httpd-independent).
 *
 * Pixiu sleeps base * 2^a without jitter, and sleeps even after its last
 * attempt; these helpers do neither.  The caller supplies the random
 * value and the remaining budget, so both functions are pure and tests
 * are deterministic.
 */

#ifndef KVC_BACKOFF_H
#define KVC_BACKOFF_H

#include "apr.h"
#include "apr_time.h"

#ifdef __cplusplus
extern "C" {
#endif

/**
 * Delay before a retry: full-jitter exponential backoff, as described on
 * the AWS Architecture Blog ("Exponential Backoff And Jitter").  The
 * result is uniform over [0, min(max, base * 2^(retry-1))], computed
 * without overflow for any retry number.
 * @param retry the retry number, 1 for the first retry (0 is taken as 1)
 * @param base delay ceiling of the first retry; <= 0 gives 0
 * @param max cap of the ceiling; <= 0 gives 0
 * @param random32 a uniformly random 32-bit value from the caller
 * @return the delay, 0..ceiling inclusive; 0 for random32 == 0 and the
 *         ceiling for random32 == 0xffffffff whenever the ceiling is below
 *         2^32 microseconds (about 71 minutes)
 */
apr_interval_time_t kvc_backoff_delay(unsigned retry, apr_interval_time_t base,
                                      apr_interval_time_t max,
                                      apr_uint32_t random32);

/**
 * Whether to sleep `delay` and try again.  No after the last attempt, and
 * no when the sleep would leave less than `min_attempt` (and never less
 * than 1 microsecond) of the caller's remaining budget for the next
 * attempt: a routing lookup with 50ms left must not sleep 100ms, nor
 * sleep 45ms to then give its upstream 5ms.
 * @param attempt the attempt that just failed, 1-based
 * @param attempts the number of attempts allowed
 * @param delay the sleep being considered (negative is taken as 0)
 * @param remaining time left in the caller's budget
 * @param min_attempt least time worth giving an attempt (negative is
 *        taken as 0)
 * @return 1 to sleep and retry, 0 to give up now
 */
int kvc_backoff_should_retry(unsigned attempt, unsigned attempts,
                             apr_interval_time_t delay,
                             apr_interval_time_t remaining,
                             apr_interval_time_t min_attempt);

#ifdef __cplusplus
}
#endif

#endif /* KVC_BACKOFF_H */
