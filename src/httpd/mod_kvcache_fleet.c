/* Licensed under the Apache License, Version 2.0 (the "License"); you may not
 * use this file except in compliance with the License.  You may obtain a copy
 * of the License at http://www.apache.org/licenses/LICENSE-2.0
 */

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

#include <hiredis.h>

#include "httpd.h"
#include "http_config.h"
#include "http_log.h"
#include "apr_strings.h"
#include "apr_thread_mutex.h"

#include "kvc_breaker.h"
#include "kvc_stats.h"
#include "kvc_wire.h"
#include "mod_kvcache_background.h"
#include "mod_kvcache_config.h"
#include "mod_kvcache_fleet.h"
#include "mod_kvcache_shm.h"

APLOG_USE_MODULE(kvcache);

/* Idle connections kept per process: enough for the threads that use the
 * store at the same moment; more are opened on demand and closed after. */
#define KVC_FLEET_IDLE_MAX 16

/* The store's own breaker, fixed rather than KVCacheCircuitBreaker's: a
 * Redis that is down answers "connection refused" at once, so three
 * failures cost nothing; a black-holed one costs three budgets.  After a
 * second a single probe asks again, so the node rejoins within about a
 * second of Redis coming back. */
static const kvc_breaker_policy fleet_breaker = { 3, APR_USEC_PER_SEC, 1 };

/* One round trip for the hot count and the pin claim, atomic in Redis:
 * KEYS[1] the count, living one window from the key's first request in
 * it; KEYS[2] the claim of the window's pin; ARGV[1] the window (ms),
 * ARGV[2] the threshold (0: count only).  Returns {count, claimed}. */
static const char hot_script[] =
    "local c = redis.call('INCR', KEYS[1]) "
    "if c == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end "
    "local t = tonumber(ARGV[2]) "
    "if t > 0 and c >= t and "
    "redis.call('SET', KEYS[2], '1', 'NX', 'PX', ARGV[1]) then "
    "return {c, 1} end "
    "return {c, 0}";

typedef struct {
    apr_thread_mutex_t *lock;
    redisContext *idle[KVC_FLEET_IDLE_MAX];
    int count;
} kvc_fleet_pool;

/* This process's connections; NULL in the parent, and without a store. */
static kvc_fleet_pool *pool;

int kvc_fleet_enabled(void)
{
    return pool != NULL;
}

static struct timeval timeval_of(apr_interval_time_t t)
{
    struct timeval tv;

    if (t < apr_time_from_msec(1)) {
        t = apr_time_from_msec(1);
    }
    tv.tv_sec = (long)apr_time_sec(t);
    tv.tv_usec = (long)apr_time_usec(t);
    return tv;
}

static struct timeval budget(void)
{
    return timeval_of(kvc_config_global()->fleet_timeout);
}

/* An idle connection (unless @a fresh), or a new one; NULL or a context
 * with err set when Redis cannot be reached. */
static redisContext *acquire(int fresh, int *reused, int *shortened)
{
    const kvc_global_conf *g = kvc_config_global();
    redisContext *c = NULL;
    struct timeval tv = budget();
    apr_time_t start;

    if (!fresh) {
        apr_thread_mutex_lock(pool->lock);
        if (pool->count > 0) {
            c = pool->idle[--pool->count];
        }
        apr_thread_mutex_unlock(pool->lock);
    }
    *reused = c != NULL;
    *shortened = 0;
    if (c) {
        return c;
    }
    start = apr_time_now();
    c = redisConnectWithTimeout(g->fleet_host, g->fleet_port, tv);
    if (c && !c->err) {
        /* Connecting and the first reply share the budget (release()
         * gives pooled connections the whole of it again); keepalive
         * finds the dead peers of idle connections. */
        redisSetTimeout(
            c, timeval_of(g->fleet_timeout - (apr_time_now() - start)));
        redisEnableKeepAlive(c);
        *shortened = 1;
    }
    return c;
}

/* A connection in doubt (error, timeout: a late reply would answer the
 * next command) is closed, never reused. */
static void release(redisContext *c, int healthy, int shortened)
{
    if (healthy && shortened) {
        redisSetTimeout(c, budget());
    }
    if (healthy) {
        apr_thread_mutex_lock(pool->lock);
        if (pool->count < KVC_FLEET_IDLE_MAX) {
            pool->idle[pool->count++] = c;
            c = NULL;
        }
        apr_thread_mutex_unlock(pool->lock);
    }
    if (c) {
        redisFree(c);
    }
}

/* As the upstream breakers: a plain read while closed or while open, the
 * lock only for half-open probes. */
static kvc_breaker_admission admit(void)
{
    kvc_breaker *b = kvc_shm_breaker(KVC_ROLE_FLEET);
    kvc_breaker_admission admission;
    apr_time_t now = apr_time_now();

    if (!b || !kvc_shm_ready()
        || ((volatile kvc_breaker *)b)->state == KVC_BREAKER_CLOSED) {
        return KVC_BREAKER_ADMIT;
    }
    if (kvc_breaker_fast_reject(b, &fleet_breaker, now)) {
        return KVC_BREAKER_REJECT;
    }
    if (kvc_shm_lock() != APR_SUCCESS) {
        return KVC_BREAKER_ADMIT;
    }
    admission = kvc_breaker_admit(b, &fleet_breaker, now);
    kvc_shm_unlock();
    return admission;
}

static void record(int probe, int success)
{
    volatile kvc_breaker *b = kvc_shm_breaker(KVC_ROLE_FLEET);

    if (!b || !kvc_shm_ready()
        || (success && !probe && b->state == KVC_BREAKER_CLOSED
            && b->consecutive_failures == 0)
        || kvc_shm_lock() != APR_SUCCESS) {
        return;
    }
    kvc_breaker_record((kvc_breaker *)b, &fleet_breaker, probe, success,
                       apr_time_now());
    kvc_shm_unlock();
}

/* Logs the node leaving or rejoining the fleet, once per change. */
static void note(server_rec *s, int success, const char *why)
{
    const kvc_global_conf *g = kvc_config_global();
    volatile apr_uint32_t *degraded = kvc_shm_fleet_degraded();

    const kvc_breaker *b = kvc_shm_breaker(KVC_ROLE_FLEET);

    /* A late answer while the breaker is still open (calls that were in
     * flight when it opened) is no recovery: the node rejoins when the
     * breaker closes, so an outage is logged once each way. */
    if (!degraded
        || (success && b
            && ((volatile const kvc_breaker *)b)->state
                   != KVC_BREAKER_CLOSED)) {
        return;
    }
    switch (kvc_fleet_note(degraded, success)) {
    case KVC_FLEET_LEFT:
        ap_log_error(APLOG_MARK, APLOG_WARNING, 0, s,
                     "[kvcache] fleet store redis %s:%d unavailable (%s): "
                     "this node decides hot counts, pins, action rate "
                     "limits and sessions on its own state until it "
                     "answers again",
                     g->fleet_host, g->fleet_port, why);
        break;
    case KVC_FLEET_REJOINED:
        ap_log_error(APLOG_MARK, APLOG_NOTICE, 0, s,
                     "[kvcache] fleet store redis %s:%d answers again: "
                     "state is shared with the fleet",
                     g->fleet_host, g->fleet_port);
        break;
    default: break;
    }
}

static void count(kvc_call_outcome outcome, apr_time_t start)
{
    kvc_stats *st = kvc_shm_stats();

    if (st) {
        kvc_stats_call(st, KVC_ROLE_FLEET, outcome, apr_time_now() - start);
    }
}

static void free_replies(int n, redisReply **replies);

/* One pipelined exchange on @a c: 1 when every reply arrived. */
static int exchange(redisContext *c, int n, const int *argc, const char ***argv,
                    const size_t **lens, redisReply **replies, int *timeout)
{
    int i;

    *timeout = 0;
    if (!c || c->err) {
        *timeout = c && c->err == REDIS_ERR_IO && errno == ETIMEDOUT;
        return 0;
    }
    for (i = 0; i < n; i++) {
        if (redisAppendCommandArgv(c, argc[i], argv[i], lens[i]) != REDIS_OK) {
            return 0;
        }
    }
    for (i = 0; i < n; i++) {
        void *reply = NULL;

        if (redisGetReply(c, &reply) != REDIS_OK || !reply) {
            *timeout = c->err == REDIS_ERR_IO
                       && (errno == EAGAIN || errno == EWOULDBLOCK);
            free_replies(i, replies);
            memset(replies, 0, n * sizeof(*replies));
            return 0;
        }
        replies[i] = reply;
    }
    return 1;
}

/* Sends @a n commands pipelined (one round trip) and collects their
 * replies.  Returns 1 when every reply arrived; a Redis error reply
 * (REDIS_REPLY_ERROR) is still an answer, the caller judges it.  The
 * replies are freed by the caller with free_replies(). */
static int call(server_rec *s, int n, const int *argc, const char ***argv,
                const size_t **lens, redisReply **replies)
{
    kvc_breaker_admission admission;
    redisContext *c;
    apr_time_t start = apr_time_now();
    int ok, reused, shortened, timeout;
    char reason[128];

    memset(replies, 0, n * sizeof(*replies));
    if (!pool) {
        return 0;
    }
    admission = admit();
    if (admission == KVC_BREAKER_REJECT) {
        count(KVC_CALL_REJECTED, start);
        note(s, 0, "circuit breaker open");
        return 0;
    }
    c = acquire(0, &reused, &shortened);
    ok = exchange(c, n, argc, argv, lens, replies, &timeout);
    if (!ok && reused && !timeout) {
        /* An idle connection that Redis (restarted, or its timeout)
         * closed fails at once: one more try, on a new connection. */
        release(c, 0, 0);
        c = acquire(1, &reused, &shortened);
        ok = exchange(c, n, argc, argv, lens, replies, &timeout);
    }
    if (ok) {
        release(c, 1, shortened);
        record(admission == KVC_BREAKER_ADMIT_PROBE, 1);
        count(KVC_CALL_OK, start);
        note(s, 1, NULL);
        return 1;
    }
    apr_snprintf(reason, sizeof(reason), "%s",
                 !c             ? "out of memory"
                 : timeout      ? "no answer within KVCacheFleetTimeout"
                 : c->errstr[0] ? c->errstr
                                : "connection error");
    if (c) {
        release(c, 0, 0);
    }
    record(admission == KVC_BREAKER_ADMIT_PROBE, 0);
    count(timeout ? KVC_CALL_TIMEOUT : KVC_CALL_ERROR, start);
    note(s, 0, reason);
    ap_log_error(APLOG_MARK, APLOG_DEBUG, 0, s,
                 "[kvcache] fleet store call failed: %s", reason);
    return 0;
}

static void free_replies(int n, redisReply **replies)
{
    int i;

    for (i = 0; i < n; i++) {
        if (replies[i]) {
            freeReplyObject(replies[i]);
        }
    }
}

/* One command, given as NUL-terminated words. */
static int call1(server_rec *s, redisReply **reply, int argc, const char **argv)
{
    size_t lens[8];
    const size_t *lensp = lens;
    int i;

    for (i = 0; i < argc; i++) {
        lens[i] = strlen(argv[i]);
    }
    return call(s, 1, &argc, &argv, &lensp, reply);
}

static const char *msec(apr_pool_t *p, apr_interval_time_t t)
{
    apr_int64_t ms = apr_time_as_msec(t);

    return apr_psprintf(p, "%" APR_INT64_T_FMT, ms > 0 ? ms : 1);
}

int kvc_fleet_hot(server_rec *s, const unsigned char *key,
                  const kvc_hot_policy *policy, apr_uint32_t *count_out,
                  int *due, apr_pool_t *p)
{
    const char *prefix = kvc_config_global()->fleet_prefix;
    const char *argv[7];
    redisReply *reply;
    int answered = 0;

    argv[0] = "EVAL";
    argv[1] = hot_script;
    argv[2] = "2";
    argv[3] = kvc_fleet_key(p, prefix, KVC_FLEET_HOT, key, NULL);
    argv[4] = kvc_fleet_key(p, prefix, KVC_FLEET_PIN, key, NULL);
    argv[5] = msec(p, policy->window);
    argv[6] = apr_psprintf(p, "%u", policy->threshold);
    if (!call1(s, &reply, 7, argv)) {
        return 0;
    }
    if (reply->type == REDIS_REPLY_ARRAY && reply->elements == 2
        && reply->element[0]->type == REDIS_REPLY_INTEGER
        && reply->element[1]->type == REDIS_REPLY_INTEGER) {
        long long n = reply->element[0]->integer;

        /* The same cap as the local table's, for the same metrics. */
        *count_out = n < 0 ? 0
                     : (unsigned long long)n > policy->max_records
                         ? policy->max_records
                         : (apr_uint32_t)n;
        *due = reply->element[1]->integer == 1;
        answered = 1;
    }
    else {
        ap_log_error(APLOG_MARK, APLOG_DEBUG, 0, s,
                     "[kvcache] fleet store: unexpected answer to the hot "
                     "count (%s)",
                     reply->type == REDIS_REPLY_ERROR ? reply->str : "type");
    }
    free_replies(1, &reply);
    return answered;
}

int kvc_fleet_claim(server_rec *s, kvc_fleet_kind kind, const char *instance,
                    apr_interval_time_t interval, int *granted, apr_pool_t *p)
{
    const char *argv[6];
    redisReply *reply;
    int answered = 0;

    argv[0] = "SET";
    argv[1] = kvc_fleet_key(p, kvc_config_global()->fleet_prefix, kind, NULL,
                            instance);
    argv[2] = "1";
    argv[3] = "NX";
    argv[4] = "PX";
    argv[5] = msec(p, interval);
    if (!call1(s, &reply, 6, argv)) {
        return 0;
    }
    if (reply->type == REDIS_REPLY_STATUS || reply->type == REDIS_REPLY_NIL) {
        *granted = reply->type == REDIS_REPLY_STATUS;
        answered = 1;
    }
    free_replies(1, &reply);
    return answered;
}

int kvc_fleet_session_get(server_rec *s, const unsigned char *key,
                          apr_interval_time_t ttl, apr_pool_t *p,
                          const char **route)
{
    const char *argv[4];
    redisReply *reply;
    int answered = 0;

    /* GETEX (Redis 6.2): reading a session also keeps it alive, so a
     * session that stays on its member costs one round trip per turn. */
    argv[0] = "GETEX";
    argv[1] = kvc_fleet_key(p, kvc_config_global()->fleet_prefix,
                            KVC_FLEET_SESSION, key, NULL);
    argv[2] = "PX";
    argv[3] = msec(p, ttl);
    *route = NULL;
    if (!call1(s, &reply, 4, argv)) {
        return 0;
    }
    if (reply->type == REDIS_REPLY_NIL) {
        answered = 1;
    }
    else if (reply->type == REDIS_REPLY_STRING) {
        /* What another node wrote is input like any other. */
        if (kvc_route_id_valid(reply->str, reply->len)) {
            *route = apr_pstrmemdup(p, reply->str, reply->len);
        }
        answered = 1;
    }
    free_replies(1, &reply);
    return answered;
}

typedef struct {
    unsigned char key[KVC_KEY_LEN];
    char route[KVC_ROUTE_SIZE];
    apr_interval_time_t ttl;
} kvc_session_job;

static void put_session(server_rec *s, void *data, apr_pool_t *p)
{
    kvc_session_job *job = data;
    const char *argv[5];
    redisReply *reply;

    argv[0] = "SET";
    argv[1] = kvc_fleet_key(p, kvc_config_global()->fleet_prefix,
                            KVC_FLEET_SESSION, job->key, NULL);
    argv[2] = job->route;
    argv[3] = "PX";
    argv[4] = msec(p, job->ttl);
    if (call1(s, &reply, 5, argv)) {
        free_replies(1, &reply);
    }
}

void kvc_fleet_session_put(server_rec *s, const unsigned char *key,
                           const char *route, apr_interval_time_t ttl)
{
    kvc_session_job *job;

    if (!pool || strlen(route) >= KVC_ROUTE_SIZE
        || !(job = malloc(sizeof(*job)))) {
        return;
    }
    memcpy(job->key, key, KVC_KEY_LEN);
    strcpy(job->route, route);
    job->ttl = ttl;
    /* A full queue loses this turn's record only: the session is still
     * known locally, and the next turn writes it again. */
    kvc_background_submit(put_session, job);
}

static apr_status_t close_pool(void *data)
{
    kvc_fleet_pool *fp = data;

    while (fp->count > 0) {
        redisFree(fp->idle[--fp->count]);
    }
    pool = NULL;
    return APR_SUCCESS;
}

/* Connections are opened after the fork, in each child, on first use: a
 * context inherited from the parent would share its socket. */
static void kvc_fleet_child_init(apr_pool_t *pchild, server_rec *s)
{
    kvc_fleet_pool *fp;

    if (!kvc_config_global()->fleet_host) {
        return;
    }
    fp = apr_pcalloc(pchild, sizeof(*fp));
    if (apr_thread_mutex_create(&fp->lock, APR_THREAD_MUTEX_DEFAULT, pchild)
        != APR_SUCCESS) {
        ap_log_error(APLOG_MARK, APLOG_ERR, 0, s,
                     "[kvcache] cannot create the fleet store's connection "
                     "pool; this process uses its node's own state");
        return;
    }
    /* A plain cleanup: the background workers, which may hold
     * connections, stop in a pre-cleanup, which runs before it. */
    apr_pool_cleanup_register(pchild, fp, close_pool, apr_pool_cleanup_null);
    pool = fp;
}

void kvc_fleet_register_hooks(apr_pool_t *p)
{
    ap_hook_child_init(kvc_fleet_child_init, NULL, NULL, APR_HOOK_MIDDLE);
}
