/* Licensed under the Apache License, Version 2.0 (the "License"); you may not
 * use this file except in compliance with the License.  You may obtain a copy
 * of the License at http://www.apache.org/licenses/LICENSE-2.0
 */

/**
 * @file kvc_hot.h
 * @brief Sliding-window hit counter per key, kept in shared memory
 *        (httpd-independent).
 *
 * Pixiu keeps every hit's timestamp per key in a Go map; mod_kvcache
 * needs the count shared by all httpd processes, so each key gets a
 * fixed-size ring of KVC_HOT_BUCKETS counters, each covering
 * window / KVC_HOT_BUCKETS of time.  The count therefore covers between
 * (KVC_HOT_BUCKETS - 1) / KVC_HOT_BUCKETS of the window and the whole
 * window, depending on where in its time slice `now` falls.
 *
 * A zero-filled kvc_hot_window is empty.  It holds plain integers only
 * (no pointers), so it can live in a shared segment; the caller holds the
 * global lock around every call.  Time is passed in, in microseconds.
 */

#ifndef KVC_HOT_H
#define KVC_HOT_H

#include "apr.h"
#include "apr_time.h"

#ifdef __cplusplus
extern "C" {
#endif

/** Number of time slices a window is divided into. */
#define KVC_HOT_BUCKETS 16

/** Hits of one key over the recent window. */
typedef struct {
    apr_uint32_t counts[KVC_HOT_BUCKETS]; /**< ring, slice i at i % BUCKETS */
    apr_int64_t epoch; /**< index of the newest bucket's time slice */
} kvc_hot_window;

/**
 * Add one hit at `now` and count the hits within the window.
 *
 * The window slides to now first.  Callers read the clock before taking
 * the lock, so a hit may come slightly out of order: one older than the
 * newest slice but still inside the window is counted in its own slice.
 * A clock that stepped back by more than the window makes the history
 * meaningless; it is dropped and counting restarts at now.
 *
 * @param w the counters (caller holds the lock)
 * @param now time of the hit
 * @param window length of the window (KVCacheHotWindow); values below
 *        KVC_HOT_BUCKETS microseconds are taken as KVC_HOT_BUCKETS
 * @param cap largest count reported (KVCacheHotMaxRecords); every bucket
 *        saturates at it too, so nothing overflows; 0 means no cap other
 *        than 2^32-1
 * @return the hits within the window, this one included, at most cap
 */
apr_uint32_t kvc_hot_hit(kvc_hot_window *w, apr_time_t now,
                         apr_interval_time_t window, apr_uint32_t cap);

/**
 * Count the hits within the window without adding one.  Buckets that
 * have slid out of the window are cleared (hence the non-const w).
 * @param w the counters (caller holds the lock)
 * @param now current time
 * @param window as for kvc_hot_hit()
 * @return the hits within the window, saturating at 2^32-1
 */
apr_uint32_t kvc_hot_count(kvc_hot_window *w, apr_time_t now,
                           apr_interval_time_t window);

#ifdef __cplusplus
}
#endif

#endif /* KVC_HOT_H */
