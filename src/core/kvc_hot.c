/* Licensed under the Apache License, Version 2.0 (the "License"); you may not
 * use this file except in compliance with the License.  You may obtain a copy
 * of the License at http://www.apache.org/licenses/LICENSE-2.0
 */

/**
 * @file kvc_hot.c
 * @brief Ring of per-slice hit counters.
 */

#include "kvc_hot.h"

static apr_int64_t kvc_hot_slice(apr_time_t now, apr_interval_time_t window)
{
    apr_interval_time_t width = window / KVC_HOT_BUCKETS;
    apr_int64_t q;

    if (width < 1) {
        width = 1;
    }
    /* Floor division: C truncates towards zero, which would put the
     * slices on either side of time 0 in one bucket.
     */
    q = now / width;
    if (now % width != 0 && now < 0) {
        q--;
    }
    return q;
}

static unsigned kvc_hot_index(apr_int64_t slice)
{
    apr_int64_t i = slice % KVC_HOT_BUCKETS;

    return (unsigned)(i < 0 ? i + KVC_HOT_BUCKETS : i);
}

static void kvc_hot_clear(kvc_hot_window *w)
{
    unsigned i;

    for (i = 0; i < KVC_HOT_BUCKETS; i++) {
        w->counts[i] = 0;
    }
}

/* Distance from b up to a (a >= b).  Unsigned subtraction wraps modulo
 * 2^64 and the true distance is below 2^64, so it comes out exact even
 * where a - b would overflow apr_int64_t (epoch is shared memory: it
 * may be anything, including the zero of a fresh window).
 */
static apr_uint64_t kvc_hot_distance(apr_int64_t a, apr_int64_t b)
{
    return (apr_uint64_t)a - (apr_uint64_t)b;
}

/* Slides the window so that its newest slice is max(epoch, slice), or
 * restarts it at slice after a backwards clock step longer than the
 * window.  Afterwards `slice` has a bucket of its own.
 */
static void kvc_hot_advance(kvc_hot_window *w, apr_int64_t slice)
{
    if (slice >= w->epoch) {
        apr_uint64_t d = kvc_hot_distance(slice, w->epoch);

        if (d >= KVC_HOT_BUCKETS) {
            kvc_hot_clear(w);
        }
        else {
            apr_uint64_t k;

            /* The slices entering the window reuse the buckets of the
             * ones leaving it.
             */
            for (k = 1; k <= d; k++) {
                w->counts[kvc_hot_index(w->epoch + (apr_int64_t)k)] = 0;
            }
        }
        w->epoch = slice;
    }
    else if (kvc_hot_distance(w->epoch, slice) >= KVC_HOT_BUCKETS) {
        kvc_hot_clear(w);
        w->epoch = slice;
    }
}

static apr_uint32_t kvc_hot_sum(const kvc_hot_window *w, apr_uint64_t cap)
{
    apr_uint64_t sum = 0;
    unsigned i;

    /* At most 16 * (2^32 - 1): no overflow in 64 bits. */
    for (i = 0; i < KVC_HOT_BUCKETS; i++) {
        sum += w->counts[i];
    }
    return (apr_uint32_t)(sum < cap ? sum : cap);
}

apr_uint32_t kvc_hot_hit(kvc_hot_window *w, apr_time_t now,
                         apr_interval_time_t window, apr_uint32_t cap)
{
    apr_int64_t slice = kvc_hot_slice(now, window);
    apr_uint32_t limit = cap > 0 ? cap : 0xffffffffu;
    apr_uint32_t *c;

    kvc_hot_advance(w, slice);
    c = &w->counts[kvc_hot_index(slice)];
    if (*c < limit) {
        (*c)++;
    }
    return kvc_hot_sum(w, limit);
}

apr_uint32_t kvc_hot_count(kvc_hot_window *w, apr_time_t now,
                           apr_interval_time_t window)
{
    kvc_hot_advance(w, kvc_hot_slice(now, window));
    return kvc_hot_sum(w, 0xffffffffu);
}
