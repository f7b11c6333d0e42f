/* Licensed under the Apache License, Version 2.0 (the "License"); you may not
 * use this file except in compliance with the License.  You may obtain a copy
 * of the License at http://www.apache.org/licenses/LICENSE-2.0
 */

/**
 * @file kvc_breaker.h
 * @brief Circuit breaker whose state lives in shared memory, one per
 *        upstream role (httpd-independent).
 *
 * Routing lookups, management calls and tokenize each have their own
 * breaker, shared by every httpd process: a kvc_breaker is a fixed-size
 * block of plain integers (no pointers), so it can sit in a shared memory
 * segment mapped at a different address in each process.  A zero-filled
 * kvc_breaker is a closed breaker.
 *
 * Unlike Pixiu's breaker (which admits half_open_max_calls + 1 probes and
 * lets any late success close an open breaker), a half-open episode
 * admits exactly half_open_calls probes, and only the outcome of a probe
 * can end it.
 *
 * Locking: the caller holds the global (cross-process) lock around every
 * call except kvc_breaker_fast_reject() and kvc_breaker_state_name().
 * Time is passed in by the caller, in microseconds.
 */

#ifndef KVC_BREAKER_H
#define KVC_BREAKER_H

#include "apr.h"
#include "apr_time.h"

#ifdef __cplusplus
extern "C" {
#endif

/** Shortest time after which an unanswered half-open episode is presumed
 *  lost and restarted (see kvc_breaker_admit()): longer than any upstream
 *  call mod_kvcache makes with its default timeouts and retries, so live
 *  probes are not duplicated, yet short enough that a lost probe does not
 *  keep the upstream cut off for long. */
#define KVC_BREAKER_PROBE_LOST apr_time_from_sec(30)

/** Breaker states; the values are stored in kvc_breaker.state. */
typedef enum {
    KVC_BREAKER_CLOSED = 0,
    KVC_BREAKER_OPEN = 1,
    KVC_BREAKER_HALF_OPEN = 2
} kvc_breaker_state;

/** Configuration (KVCacheCircuitBreaker FAILURES RECOVERY HALF_OPEN_CALLS). */
typedef struct {
    apr_uint32_t failures;        /**< consecutive failures that open it;
                                         0 is treated as 1 */
    apr_interval_time_t recovery; /**< time open before probing;
                                         negative is treated as 0 */
    apr_uint32_t half_open_calls; /**< probes per half-open episode;
                                         0 is treated as 1 */
} kvc_breaker_policy;

/** Breaker state; lives in shared memory, zero-initialised = closed. */
typedef struct {
    apr_uint32_t state; /**< a kvc_breaker_state */
    apr_uint32_t consecutive_failures;
    apr_time_t opened_at;          /**< OPEN: when it (re)opened;
                                         HALF_OPEN: when the episode began */
    apr_uint32_t probes_admitted;  /**< probes admitted this episode */
    apr_uint32_t probes_in_flight; /**< of those, results still awaited
                                         (the first result ends the
                                         episode and clears both) */
    apr_uint32_t opens;            /**< times opened, for metrics */
} kvc_breaker;

/** Answer of kvc_breaker_admit(). */
typedef enum {
    KVC_BREAKER_REJECT,     /**< do not call the upstream */
    KVC_BREAKER_ADMIT,      /**< ordinary call */
    KVC_BREAKER_ADMIT_PROBE /**< half-open probe: record it with
                                         probe = 1 */
} kvc_breaker_admission;

/**
 * Decide whether a call may go to the upstream.  CLOSED admits.  OPEN
 * rejects until policy->recovery has elapsed since it opened, then turns
 * HALF_OPEN.  HALF_OPEN admits exactly policy->half_open_calls probes in
 * total per episode and rejects every other call.
 *
 * If a whole episode's probes are still unanswered
 * max(policy->recovery, KVC_BREAKER_PROBE_LOST) after it began (the
 * process that held them died, or a result was never recorded), they are
 * presumed lost and a new episode begins; otherwise one lost probe would
 * keep the breaker half-open, rejecting everything, until httpd
 * restarts.  A clock that steps backwards while the breaker is open
 * restarts the recovery wait from the new time instead of waiting for
 * the clock to catch up.
 *
 * @param b the breaker (caller holds the lock)
 * @param policy its configuration
 * @param now current time
 * @return whether to call, and whether the call is a probe
 */
kvc_breaker_admission kvc_breaker_admit(kvc_breaker *b,
                                        const kvc_breaker_policy *policy,
                                        apr_time_t now);

/**
 * Record the outcome of an admitted call.
 *
 * CLOSED: a success resets the failure count; a failure counts, and the
 * policy->failures-th consecutive one opens the breaker.  HALF_OPEN: a
 * probe's success closes the breaker, a probe's failure reopens it with a
 * fresh opened_at.  Results of ordinary calls admitted before the breaker
 * opened are stale while it is OPEN or HALF_OPEN: they are ignored, so
 * they neither close it, reset the episode nor extend the open period.
 * A probe result arriving while OPEN belongs to an episode another probe
 * already failed, and is ignored as well.
 *
 * @param b the breaker (caller holds the lock)
 * @param policy its configuration
 * @param probe non-zero when the call was admitted as KVC_BREAKER_ADMIT_PROBE
 * @param success non-zero when the call succeeded
 * @param now current time
 * @return the state after recording, so callers can log transitions
 */
kvc_breaker_state kvc_breaker_record(kvc_breaker *b,
                                     const kvc_breaker_policy *policy,
                                     int probe, int success, apr_time_t now);

/**
 * Lock-free pre-check, so that an open breaker costs no lock per request.
 * It only ever answers 1 when the breaker is open and its recovery time
 * has not elapsed; a racy (even torn) read can at worst make one caller
 * take the locked path for nothing or be rejected just as the breaker
 * changes state, which is harmless.
 * @param b the breaker (no lock needed)
 * @param policy its configuration
 * @param now current time
 * @return 1 to reject without locking; 0 to go on to kvc_breaker_admit()
 */
int kvc_breaker_fast_reject(const kvc_breaker *b,
                            const kvc_breaker_policy *policy, apr_time_t now);

/**
 * Name of a state for logs and the status page.
 * @param state the state
 * @return "closed", "open", "half-open", or "unknown" for other values
 */
const char *kvc_breaker_state_name(kvc_breaker_state state);

#ifdef __cplusplus
}
#endif

#endif /* KVC_BREAKER_H */
