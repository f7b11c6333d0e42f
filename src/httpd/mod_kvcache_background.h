/* Licensed under the Apache License, Version 2.0 (the "License"); you may not
 * use this file except in compliance with the License.  You may obtain a copy
 * of the License at http://www.apache.org/licenses/LICENSE-2.0
 */

/**
 * @file mod_kvcache_background.h
 * @brief Work that must not delay a client (cache-management calls,
 *        Pixiu-style background tokenizing): each process keeps a bounded
 *        queue worked by its own threads.  When the queue is full a job is
 *        refused, so a slow or dead controller never holds up a request.
 */
#ifndef MOD_KVCACHE_BACKGROUND_H
#define MOD_KVCACHE_BACKGROUND_H

#include "httpd.h"

/* Threads per process.  Two: one stuck on a hung controller (until the
 * manage breaker opens) leaves the other for background tokenizing. */
#define KVC_BACKGROUND_WORKERS 2

/**
 * A job: runs on a worker thread with a pool cleared after it.  Its data
 * was malloc'ed by the submitter (jobs outlive requests) and is released
 * with free() after the job ran or when it is dropped.
 */
typedef void kvc_background_fn(server_rec *s, void *data, apr_pool_t *p);

/**
 * Queues a job; never blocks.
 * @param data  malloc'ed, owned by the queue from now on (even on refusal)
 * @return 0 if queued, -1 if refused (queue full, no workers, stopping)
 */
int kvc_background_submit(kvc_background_fn *fn, void *data);

/** Registers the per-process start (child_init) of the workers. */
void kvc_background_register_hooks(apr_pool_t *p);

#endif /* MOD_KVCACHE_BACKGROUND_H */
