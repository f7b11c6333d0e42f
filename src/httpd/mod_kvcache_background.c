/* Licensed under the Apache License, Version 2.0 (the "License"); you may not
 * use this file except in compliance with the License.  You may obtain a copy
 * of the License at http://www.apache.org/licenses/LICENSE-2.0
 */

/* Before any APR header: APR_RING_* then use offsetof(), not a member
 * access through a null pointer (which UBSan rejects). */
#include <stddef.h>
#include <stdlib.h>

#include "httpd.h"
#include "http_config.h"
#include "http_log.h"
#include "apr_ring.h"
#include "apr_thread_cond.h"
#include "apr_thread_mutex.h"
#include "apr_thread_proc.h"

#include "mod_kvcache_background.h"
#include "mod_kvcache_config.h"

APLOG_USE_MODULE(kvcache);

typedef struct kvc_job kvc_job;
struct kvc_job {
    APR_RING_ENTRY(kvc_job) link;
    kvc_background_fn *fn;
    void *data;
};

APR_RING_HEAD(kvc_job_ring, kvc_job);

typedef struct {
    server_rec *s;
    apr_thread_mutex_t *mutex;
    apr_thread_cond_t *ready;
    struct kvc_job_ring jobs;
    apr_uint32_t queued;
    apr_uint32_t capacity;
    int stopping;
    apr_thread_t *threads[KVC_BACKGROUND_WORKERS];
} kvc_queue;

/* This process's queue; NULL until child_init, and in the parent. */
static kvc_queue *queue;

static void free_job(kvc_job *job)
{
    free(job->data);
    free(job);
}

static void *APR_THREAD_FUNC worker(apr_thread_t *thread, void *arg)
{
    kvc_queue *q = arg;
    apr_pool_t *p;

    apr_pool_create(&p, NULL);
    apr_thread_mutex_lock(q->mutex);
    for (;;) {
        kvc_job *job;

        while (!q->stopping && APR_RING_EMPTY(&q->jobs, kvc_job, link)) {
            apr_thread_cond_wait(q->ready, q->mutex);
        }
        if (q->stopping) {
            break;
        }
        job = APR_RING_FIRST(&q->jobs);
        APR_RING_REMOVE(job, link);
        q->queued--;
        apr_thread_mutex_unlock(q->mutex);
        job->fn(q->s, job->data, p);
        free_job(job);
        apr_pool_clear(p);
        apr_thread_mutex_lock(q->mutex);
    }
    apr_thread_mutex_unlock(q->mutex);
    apr_pool_destroy(p);
    /* A plain return, not apr_thread_exit(): that never returns without
     * telling ASan the frame is gone.  join still sees APR_SUCCESS. */
    return NULL;
}

/* Jobs still queued when the process ends are dropped: they are hints,
 * and the next requests will ask again. */
static apr_status_t stop_workers(void *arg)
{
    kvc_queue *q = arg;
    apr_status_t rv;
    int i;

    apr_thread_mutex_lock(q->mutex);
    q->stopping = 1;
    apr_thread_cond_broadcast(q->ready);
    apr_thread_mutex_unlock(q->mutex);
    for (i = 0; i < KVC_BACKGROUND_WORKERS; i++) {
        if (q->threads[i]) {
            apr_thread_join(&rv, q->threads[i]);
        }
    }
    while (!APR_RING_EMPTY(&q->jobs, kvc_job, link)) {
        kvc_job *job = APR_RING_FIRST(&q->jobs);

        APR_RING_REMOVE(job, link);
        free_job(job);
    }
    queue = NULL;
    return APR_SUCCESS;
}

static void kvc_background_child_init(apr_pool_t *pchild, server_rec *s)
{
    kvc_queue *q = apr_pcalloc(pchild, sizeof(*q));
    apr_status_t rv;
    int i;

    q->s = s;
    q->capacity = (apr_uint32_t)kvc_config_global()->action_queue_size;
    APR_RING_INIT(&q->jobs, kvc_job, link);
    if ((rv = apr_thread_mutex_create(&q->mutex, APR_THREAD_MUTEX_DEFAULT,
                                      pchild))
            != APR_SUCCESS
        || (rv = apr_thread_cond_create(&q->ready, pchild)) != APR_SUCCESS) {
        ap_log_error(APLOG_MARK, APLOG_ERR, rv, s,
                     "[kvcache] cannot create the background queue; cache "
                     "actions are disabled in this process");
        return;
    }
    for (i = 0; i < KVC_BACKGROUND_WORKERS; i++) {
        rv = apr_thread_create(&q->threads[i], NULL, worker, q, pchild);
        if (rv != APR_SUCCESS) {
            ap_log_error(APLOG_MARK, APLOG_ERR, rv, s,
                         "[kvcache] cannot start a background worker");
            break;
        }
    }
    /* A pre-cleanup: it must run before pchild destroys its subpools,
     * the threads' own among them, and before the upstream clients go. */
    apr_pool_pre_cleanup_register(pchild, q, stop_workers);
    queue = i ? q : NULL;
}

int kvc_background_submit(kvc_background_fn *fn, void *data)
{
    kvc_queue *q = queue;
    kvc_job *job = malloc(sizeof(*job));
    int queued = 0;

    if (q && job) {
        job->fn = fn;
        job->data = data;
        apr_thread_mutex_lock(q->mutex);
        if (!q->stopping && q->queued < q->capacity) {
            APR_RING_INSERT_TAIL(&q->jobs, job, kvc_job, link);
            q->queued++;
            queued = 1;
            apr_thread_cond_signal(q->ready);
        }
        apr_thread_mutex_unlock(q->mutex);
    }
    if (!queued) {
        free(job);
        free(data);
        return -1;
    }
    return 0;
}

void kvc_background_register_hooks(apr_pool_t *p)
{
    ap_hook_child_init(kvc_background_child_init, NULL, NULL, APR_HOOK_MIDDLE);
}
