/* Licensed under the Apache License, Version 2.0 (the "License"); you may not
 * use this file except in compliance with the License.  You may obtain a copy
 * of the License at http://www.apache.org/licenses/LICENSE-2.0
 */

/**
 * @file kvc_breaker.c
 * @brief Circuit breaker over a shared-memory block of plain integers.
 */

#include "kvc_breaker.h"

/* Policies are validated at configuration time, but a breaker must never
 * misbehave on odd values: a zero threshold or probe count would either
 * never open or never probe, so both mean 1.
 */
static apr_uint32_t kvc_br_failures(const kvc_breaker_policy *policy)
{
    return policy->failures > 0 ? policy->failures : 1;
}

static apr_uint32_t kvc_br_probes(const kvc_breaker_policy *policy)
{
    return policy->half_open_calls > 0 ? policy->half_open_calls : 1;
}

static apr_interval_time_t kvc_br_recovery(const kvc_breaker_policy *policy)
{
    return policy->recovery > 0 ? policy->recovery : 0;
}

static void kvc_br_open(kvc_breaker *b, apr_time_t now)
{
    b->state = KVC_BREAKER_OPEN;
    b->opened_at = now;
    b->probes_admitted = 0;
    /* Probes still out belong to the episode that just ended; their
     * results are ignored while open, so nothing is left to count.
     */
    b->probes_in_flight = 0;
    if (b->opens < 0xffffffffu) {
        b->opens++;
    }
}

static void kvc_br_close(kvc_breaker *b)
{
    b->state = KVC_BREAKER_CLOSED;
    b->consecutive_failures = 0;
    b->probes_admitted = 0;
    b->probes_in_flight = 0;
}

static void kvc_br_half_open(kvc_breaker *b, apr_time_t now)
{
    b->state = KVC_BREAKER_HALF_OPEN;
    b->opened_at = now;
    b->probes_admitted = 0;
    b->probes_in_flight = 0;
}

kvc_breaker_admission kvc_breaker_admit(kvc_breaker *b,
                                        const kvc_breaker_policy *policy,
                                        apr_time_t now)
{
    apr_interval_time_t recovery = kvc_br_recovery(policy);

    switch (b->state) {
    case KVC_BREAKER_CLOSED: return KVC_BREAKER_ADMIT;

    case KVC_BREAKER_OPEN:
        if (now < b->opened_at) {
            /* The clock stepped back (or this caller read it just before
             * another opened the breaker): waiting for the clock to
             * catch up could keep the upstream cut off for hours, so
             * restart the wait.
             */
            b->opened_at = now;
        }
        if (now - b->opened_at < recovery) {
            return KVC_BREAKER_REJECT;
        }
        kvc_br_half_open(b, now);
        break;

    case KVC_BREAKER_HALF_OPEN:
        if (b->probes_admitted >= kvc_br_probes(policy)) {
            apr_interval_time_t lost = recovery > KVC_BREAKER_PROBE_LOST
                                           ? recovery
                                           : KVC_BREAKER_PROBE_LOST;

            if (now < b->opened_at) {
                /* Callers read the clock before taking the lock, so a
                 * slightly earlier now is routine; it must not look like
                 * a probe lost for ages.  A real step back restarts the
                 * wait, as when open.
                 */
                b->opened_at = now;
            }
            if (now - b->opened_at < lost) {
                return KVC_BREAKER_REJECT;
            }
            /* Every probe of this episode has been out for longer than
             * any call lasts: presume them lost rather than stay
             * half-open for good.
             */
            kvc_br_half_open(b, now);
        }
        break;

    default:
        /* Not a state this code writes: the block was damaged.  Closed
         * is the state a zeroed block starts in, and the breaker will
         * reopen by itself if the upstream is really down.
         */
        kvc_br_close(b);
        return KVC_BREAKER_ADMIT;
    }

    b->probes_admitted++;
    b->probes_in_flight++;
    return KVC_BREAKER_ADMIT_PROBE;
}

kvc_breaker_state kvc_breaker_record(kvc_breaker *b,
                                     const kvc_breaker_policy *policy,
                                     int probe, int success, apr_time_t now)
{
    switch (b->state) {
    case KVC_BREAKER_CLOSED:
        /* Probe results landing here come from an episode a sibling
         * probe already closed; they are still fresh observations of the
         * upstream, so they count like any other call.
         */
        if (success) {
            b->consecutive_failures = 0;
        }
        else {
            if (b->consecutive_failures < 0xffffffffu) {
                b->consecutive_failures++;
            }
            if (b->consecutive_failures >= kvc_br_failures(policy)) {
                kvc_br_open(b, now);
            }
        }
        break;

    case KVC_BREAKER_OPEN:
        /* Either a call admitted before the breaker opened or a probe of
         * an episode that already failed: old news either way.  Letting
         * it close the breaker is Pixiu's bug; letting a failure move
         * opened_at would keep the breaker open for as long as stale
         * calls trickle in.
         */
        break;

    case KVC_BREAKER_HALF_OPEN:
        if (!probe) {
            /* Admitted before the breaker opened: says nothing about the
             * upstream since then, and must not end the episode.
             */
            break;
        }
        /* Any probe's outcome ends the episode, and both transitions
         * clear the probe counters: the others still out are now stale.
         */
        if (success) {
            kvc_br_close(b);
        }
        else {
            kvc_br_open(b, now);
        }
        break;

    default: kvc_br_close(b); break;
    }
    return (kvc_breaker_state)b->state;
}

int kvc_breaker_fast_reject(const kvc_breaker *b,
                            const kvc_breaker_policy *policy, apr_time_t now)
{
    /* Read each field once through volatile: other processes write them
     * under the lock we are not holding, and the decision must be made
     * on one consistent-enough snapshot rather than re-read values.
     */
    const volatile kvc_breaker *vb = b;
    apr_uint32_t state = vb->state;
    apr_time_t opened_at = vb->opened_at;

    if (state != KVC_BREAKER_OPEN || now < opened_at) {
        return 0;
    }
    return now - opened_at < kvc_br_recovery(policy);
}

const char *kvc_breaker_state_name(kvc_breaker_state state)
{
    switch (state) {
    case KVC_BREAKER_CLOSED: return "closed";
    case KVC_BREAKER_OPEN: return "open";
    case KVC_BREAKER_HALF_OPEN: return "half-open";
    }
    return "unknown";
}
