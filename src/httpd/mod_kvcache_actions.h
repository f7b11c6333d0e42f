/* Licensed under the Apache License, Version 2.0 (the "License"); you may not
 * use this file except in compliance with the License.  You may obtain a copy
 * of the License at http://www.apache.org/licenses/LICENSE-2.0
 */

/**
 * @file mod_kvcache_actions.h
 * @brief Work that must not delay a client: cache-management calls
 *        (/pin, /compress, /clear) and Pixiu-style background tokenizing.
 *        Each process keeps a bounded queue worked by its own threads;
 *        when the queue is full the job is dropped and counted, so a slow
 *        or dead controller never holds up a request.
 */
#ifndef MOD_KVCACHE_ACTIONS_H
#define MOD_KVCACHE_ACTIONS_H

#include "httpd.h"

#include "kvc_stats.h"

/* Threads per process.  Two: one stuck on a hung controller (until the
 * manage breaker opens) leaves the other for background tokenizing. */
#define KVC_ACTION_WORKERS 2

/**
 * Queues a cache-management call; never blocks.
 * @param body  JSON, copied
 * @param budget  time for the call, retries included
 */
void kvc_actions_submit(server_rec *s, kvc_action action, const char *url,
                        const char *body, apr_size_t len,
                        apr_interval_time_t budget);

/**
 * Queues tokenizing @a body for the token cache under @a key; never
 * blocks.
 * @return 0 if queued, -1 if the queue was full
 */
int kvc_actions_submit_tokenize(server_rec *s, const char *url,
                                const char *body, apr_size_t len,
                                apr_interval_time_t budget,
                                const unsigned char key[32]);

/** Starts this process's workers; they stop with @a pchild. */
void kvc_actions_child_init(apr_pool_t *pchild, server_rec *s);

#endif /* MOD_KVCACHE_ACTIONS_H */
