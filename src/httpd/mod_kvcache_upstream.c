/* Licensed under the Apache License, Version 2.0 (the "License"); you may not
 * use this file except in compliance with the License.  You may obtain a copy
 * of the License at http://www.apache.org/licenses/LICENSE-2.0
 */

#include "httpd.h"
#include "http_config.h"
#include "http_core.h"
#include "http_log.h"
#include "ap_mpm.h"
#include "apr_general.h"

#include "kvc_backoff.h"
#include "mod_kvcache_background.h"
#include "mod_kvcache_config.h"
#include "mod_kvcache_shm.h"
#include "mod_kvcache_upstream.h"

APLOG_USE_MODULE(kvcache);

/* A retry is only worth making if this much budget is left for it. */
#define KVC_MIN_ATTEMPT apr_time_from_msec(2)

/* The global lock stays off the request path while all is well: a closed
 * breaker admits on a plain read, and an open one turns calls away on a
 * plain read too, so it costs the request nothing.  Only transitions
 * (half-open probes) take the lock.  A stale read admits or refuses one
 * call too many, which the next record corrects. */
static kvc_breaker_admission admit(kvc_role role,
                                   const kvc_breaker_policy *policy)
{
    kvc_breaker *b = kvc_shm_breaker(role);
    kvc_breaker_admission admission;
    apr_time_t now = apr_time_now();

    if (!b || !kvc_shm_ready()
        || ((volatile kvc_breaker *)b)->state == KVC_BREAKER_CLOSED) {
        return KVC_BREAKER_ADMIT;
    }
    if (kvc_breaker_fast_reject(b, policy, now)) {
        return KVC_BREAKER_REJECT;
    }
    if (kvc_shm_lock() != APR_SUCCESS) {
        return KVC_BREAKER_ADMIT;
    }
    admission = kvc_breaker_admit(b, policy, now);
    kvc_shm_unlock();
    return admission;
}

int kvc_upstream_refused(kvc_role role)
{
    kvc_breaker *b = kvc_shm_breaker(role);

    return b
           && kvc_breaker_fast_reject(b, &kvc_config_global()->breaker,
                                      apr_time_now());
}

static void record(server_rec *s, kvc_role role,
                   const kvc_breaker_policy *policy, int probe, int success)
{
    volatile kvc_breaker *b = kvc_shm_breaker(role);
    kvc_breaker_state before, after;

    /* A success with nothing to forget changes nothing: no lock. */
    if (!b || !kvc_shm_ready()
        || (success && !probe && b->state == KVC_BREAKER_CLOSED
            && b->consecutive_failures == 0)
        || kvc_shm_lock() != APR_SUCCESS) {
        return;
    }
    before = (kvc_breaker_state)b->state;
    after = kvc_breaker_record((kvc_breaker *)b, policy, probe, success,
                               apr_time_now());
    kvc_shm_unlock();
    if (after == before) {
        return;
    }
    if (after == KVC_BREAKER_OPEN) {
        ap_log_error(APLOG_MARK, APLOG_WARNING, 0, s,
                     "[kvcache] %s circuit breaker opened (%s); calls "
                     "resume with probes in %" APR_TIME_T_FMT "ms",
                     kvc_role_name(role),
                     before == KVC_BREAKER_HALF_OPEN ? "probe failed"
                                                     : "consecutive failures",
                     apr_time_as_msec(policy->recovery));
    }
    else if (after == KVC_BREAKER_CLOSED) {
        ap_log_error(APLOG_MARK, APLOG_NOTICE, 0, s,
                     "[kvcache] %s circuit breaker closed: upstream "
                     "recovered",
                     kvc_role_name(role));
    }
}

static void count(kvc_role role, kvc_call_outcome outcome,
                  apr_interval_time_t elapsed)
{
    kvc_stats *st = kvc_shm_stats();

    if (st) {
        kvc_stats_call(st, role, outcome, elapsed);
    }
}

/* 4xx means the upstream is alive and did not like this one request: not
 * an upstream failure, and retrying it would not help either. */
static int is_client_error(const kvc_http_response *resp)
{
    return resp->result == KVC_HTTP_STATUS && resp->status >= 400
           && resp->status < 500 && resp->status != 429;
}

static apr_uint32_t random32(void)
{
    apr_uint32_t r = 0;

    if (apr_generate_random_bytes((unsigned char *)&r, sizeof(r))
        != APR_SUCCESS) {
        r = (apr_uint32_t)apr_time_now();
    }
    return r;
}

kvc_upstream_result kvc_upstream_call(server_rec *s, kvc_role role,
                                      const char *url, const char *body,
                                      apr_size_t len,
                                      apr_interval_time_t budget,
                                      apr_size_t max_response,
                                      kvc_upstream_parse_fn *parse, void *baton,
                                      apr_pool_t *p, kvc_upstream_outcome *out)
{
    const kvc_global_conf *g = kvc_config_global();
    apr_time_t deadline = apr_time_now() + budget;
    /* Tokenize is never retried: a tokenizer stalling every scheduling
     * decision behind retries is the failure peers warn about. */
    unsigned attempts =
        role == KVC_ROLE_TOKENIZE ? 1 : (unsigned)g->retry_attempts;
    unsigned attempt;

    memset(out, 0, sizeof(*out));
    for (attempt = 1;; attempt++) {
        kvc_breaker_admission admission = admit(role, &g->breaker);
        apr_interval_time_t remaining = deadline - apr_time_now();
        apr_interval_time_t delay;
        int failed;

        if (admission == KVC_BREAKER_REJECT) {
            count(role, KVC_CALL_REJECTED, 0);
            out->result = KVC_UPSTREAM_BREAKER_OPEN;
            return out->result;
        }
        if (remaining <= 0) {
            /* An admitted probe that is never made must not be lost. */
            record(s, role, &g->breaker, admission == KVC_BREAKER_ADMIT_PROBE,
                   0);
            out->result = KVC_UPSTREAM_TIMEOUT;
            return out->result;
        }
        out->attempts++;
        kvc_http_post_json(url, body, len, remaining, max_response, p,
                           &out->http);
        switch (out->http.result) {
        case KVC_HTTP_OK:
            out->result = parse(&out->http, baton) ? KVC_UPSTREAM_GARBAGE
                                                   : KVC_UPSTREAM_OK;
            break;
        case KVC_HTTP_TIMEOUT: out->result = KVC_UPSTREAM_TIMEOUT; break;
        default: out->result = KVC_UPSTREAM_ERROR; break;
        }
        failed = out->result != KVC_UPSTREAM_OK && !is_client_error(&out->http);
        count(role,
              out->result == KVC_UPSTREAM_OK        ? KVC_CALL_OK
              : out->result == KVC_UPSTREAM_TIMEOUT ? KVC_CALL_TIMEOUT
                                                    : KVC_CALL_ERROR,
              out->http.elapsed);
        record(s, role, &g->breaker, admission == KVC_BREAKER_ADMIT_PROBE,
               !failed);
        /* Only transient failures are retried: not garbage, not a
         * too-large answer, not a client error. */
        if (!failed || out->result == KVC_UPSTREAM_GARBAGE
            || out->http.result == KVC_HTTP_TOO_LARGE) {
            return out->result;
        }
        delay =
            kvc_backoff_delay(attempt, g->retry_base, g->retry_max, random32());
        if (!kvc_backoff_should_retry(attempt, attempts, delay,
                                      deadline - apr_time_now(),
                                      KVC_MIN_ATTEMPT)) {
            return out->result;
        }
        apr_sleep(delay);
    }
}

static int kvc_upstream_post_config(apr_pool_t *pconf, apr_pool_t *plog,
                                    apr_pool_t *ptemp, server_rec *s)
{
    if (ap_state_query(AP_SQ_MAIN_STATE) == AP_SQ_MS_CREATE_PRE_CONFIG) {
        return OK;
    }
    if (kvc_http_global_init(pconf) != APR_SUCCESS) {
        ap_log_error(APLOG_MARK, APLOG_EMERG, 0, s,
                     "[kvcache] libcurl global initialisation failed");
        return !OK;
    }
    if (!kvc_config_global()->upstream_verify) {
        ap_log_error(APLOG_MARK, APLOG_WARNING, 0, s,
                     "[kvcache] KVCacheUpstreamVerify Off: certificates and "
                     "host names of https upstreams are not verified");
    }
    return OK;
}

/* Upstream clients are per process: a thread borrows a handle for one
 * call, so a handle for every thread that calls (request threads and the
 * background workers; the scraper has its own) never makes one wait. */
static void kvc_upstream_child_init(apr_pool_t *pchild, server_rec *s)
{
    const kvc_global_conf *g = kvc_config_global();
    int threads = 1;
    apr_status_t rv;

    ap_mpm_query(AP_MPMQ_MAX_THREADS, &threads);
    rv = kvc_http_child_init(
        pchild, (threads > 0 ? threads : 1) + KVC_BACKGROUND_WORKERS,
        g->upstream_ca_file, g->upstream_verify);
    if (rv != APR_SUCCESS) {
        ap_log_error(APLOG_MARK, APLOG_ERR, rv, s,
                     "[kvcache] cannot create upstream clients; requests "
                     "will use the fallback lbmethod");
    }
}

void kvc_upstream_register_hooks(apr_pool_t *p)
{
    ap_hook_post_config(kvc_upstream_post_config, NULL, NULL, APR_HOOK_MIDDLE);
    ap_hook_child_init(kvc_upstream_child_init, NULL, NULL, APR_HOOK_MIDDLE);
}
