/* Licensed under the Apache License, Version 2.0 (the "License"); you may not
 * use this file except in compliance with the License.  You may obtain a copy
 * of the License at http://www.apache.org/licenses/LICENSE-2.0
 */

/* Before any APR header: APR_RING_* then use offsetof(), not a member
 * access through a null pointer (which UBSan rejects). */
#include <stddef.h>
#include <stdlib.h>

#include "httpd.h"
#include "http_log.h"
#include "apr_ring.h"
#include "apr_strings.h"
#include "apr_thread_cond.h"
#include "apr_thread_mutex.h"
#include "apr_thread_proc.h"

#include "mod_kvcache_actions.h"
#include "mod_kvcache_config.h"
#include "mod_kvcache_shm.h"
#include "mod_kvcache_tokstore.h"
#include "mod_kvcache_upstream.h"
#include "kvc_wire.h"

APLOG_USE_MODULE(kvcache);

#define KVC_ACTION_MAX_RESPONSE (64 * 1024)

typedef struct kvc_job kvc_job;
struct kvc_job {
    APR_RING_ENTRY(kvc_job) link;
    int tokenize; /* else a cache action */
    kvc_action action;
    char *url;
    char *body; /* malloc'ed: jobs outlive requests */
    apr_size_t len;
    apr_interval_time_t budget;
    unsigned char key[32];
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
    apr_thread_t *threads[KVC_ACTION_WORKERS];
} kvc_queue;

/* This process's queue; NULL until child_init, and in the parent. */
static kvc_queue *queue;

static void free_job(kvc_job *job)
{
    free(job->url);
    free(job->body);
    free(job);
}

static void count_action(kvc_action action, kvc_action_outcome outcome)
{
    kvc_stats *st = kvc_shm_stats();

    if (st) {
        kvc_stats_action(st, action, outcome);
    }
}

static int accept_any(const kvc_http_response *resp, void *baton)
{
    return 0;
}

typedef struct {
    apr_pool_t *pool;
    kvc_tokens tokens;
} kvc_async_tokens;

static int parse_tokens(const kvc_http_response *resp, void *baton)
{
    kvc_async_tokens *res = baton;

    return kvc_wire_parse_tokens(resp->body, resp->len, res->pool, &res->tokens)
           != KVC_WIRE_OK;
}

static void run(kvc_queue *q, kvc_job *job, apr_pool_t *p)
{
    kvc_upstream_outcome out;

    if (job->tokenize) {
        kvc_async_tokens res = { p, { NULL, 0 } };

        if (kvc_upstream_call(q->s, KVC_ROLE_TOKENIZE, job->url, job->body,
                              job->len, job->budget, KVC_TOKENIZE_MAX_RESPONSE,
                              parse_tokens, &res, p, &out)
            == KVC_UPSTREAM_OK) {
            kvc_tokstore_put(q->s, job->key, &res.tokens, p);
        }
        return;
    }
    switch (kvc_upstream_call(q->s, KVC_ROLE_MANAGE, job->url, job->body,
                              job->len, job->budget, KVC_ACTION_MAX_RESPONSE,
                              accept_any, NULL, p, &out)) {
    case KVC_UPSTREAM_OK: count_action(job->action, KVC_ACTION_SENT); break;
    case KVC_UPSTREAM_BREAKER_OPEN:
        count_action(job->action, KVC_ACTION_DROPPED);
        break;
    default:
        count_action(job->action, KVC_ACTION_FAILED);
        ap_log_error(APLOG_MARK, APLOG_DEBUG, 0, q->s,
                     "[kvcache] %s failed after %d attempt(s): status %ld%s%s",
                     kvc_action_name(job->action), out.attempts,
                     out.http.status, out.http.error ? ", " : "",
                     out.http.error ? out.http.error : "");
        break;
    }
}

static void *APR_THREAD_FUNC worker(apr_thread_t *thread, void *data)
{
    kvc_queue *q = data;
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
        run(q, job, p);
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
static apr_status_t stop_workers(void *data)
{
    kvc_queue *q = data;
    apr_status_t rv;
    int i;

    apr_thread_mutex_lock(q->mutex);
    q->stopping = 1;
    apr_thread_cond_broadcast(q->ready);
    apr_thread_mutex_unlock(q->mutex);
    for (i = 0; i < KVC_ACTION_WORKERS; i++) {
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

void kvc_actions_child_init(apr_pool_t *pchild, server_rec *s)
{
    kvc_queue *q = apr_pcalloc(pchild, sizeof(*q));
    apr_status_t rv;
    int i;

    q->s = s;
    q->capacity = kvc_config_global()->action_queue_size;
    APR_RING_INIT(&q->jobs, kvc_job, link);
    if ((rv = apr_thread_mutex_create(&q->mutex, APR_THREAD_MUTEX_DEFAULT,
                                      pchild))
            != APR_SUCCESS
        || (rv = apr_thread_cond_create(&q->ready, pchild)) != APR_SUCCESS) {
        ap_log_error(APLOG_MARK, APLOG_ERR, rv, s,
                     "[kvcache] cannot create the action queue; cache "
                     "actions are disabled in this process");
        return;
    }
    for (i = 0; i < KVC_ACTION_WORKERS; i++) {
        rv = apr_thread_create(&q->threads[i], NULL, worker, q, pchild);
        if (rv != APR_SUCCESS) {
            ap_log_error(APLOG_MARK, APLOG_ERR, rv, s,
                         "[kvcache] cannot start an action worker");
            break;
        }
    }
    /* A pre-cleanup: it must run before pchild destroys its subpools,
     * the threads' own among them, and before the upstream clients go. */
    apr_pool_pre_cleanup_register(pchild, q, stop_workers);
    queue = i ? q : NULL;
}

static int enqueue(kvc_job *job)
{
    kvc_queue *q = queue;
    int queued = 0;

    if (q) {
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
        free_job(job);
        return -1;
    }
    return 0;
}

static kvc_job *new_job(const char *url, const char *body, apr_size_t len,
                        apr_interval_time_t budget)
{
    kvc_job *job = calloc(1, sizeof(*job));

    if (!job) {
        return NULL;
    }
    job->url = strdup(url);
    job->body = malloc(len + 1);
    if (!job->url || !job->body) {
        free_job(job);
        return NULL;
    }
    memcpy(job->body, body, len);
    job->body[len] = '\0';
    job->len = len;
    job->budget = budget;
    return job;
}

void kvc_actions_submit(server_rec *s, kvc_action action, const char *url,
                        const char *body, apr_size_t len,
                        apr_interval_time_t budget)
{
    kvc_job *job = new_job(url, body, len, budget);

    if (job) {
        job->action = action;
    }
    if (!job || enqueue(job) != 0) {
        count_action(action, KVC_ACTION_DROPPED);
        ap_log_error(APLOG_MARK, APLOG_DEBUG, 0, s,
                     "[kvcache] %s dropped: action queue full",
                     kvc_action_name(action));
    }
}

int kvc_actions_submit_tokenize(server_rec *s, const char *url,
                                const char *body, apr_size_t len,
                                apr_interval_time_t budget,
                                const unsigned char key[32])
{
    kvc_job *job = new_job(url, body, len, budget);

    if (!job) {
        return -1;
    }
    job->tokenize = 1;
    memcpy(job->key, key, 32);
    return enqueue(job);
}
