/* Licensed under the Apache License, Version 2.0 (the "License"); you may not
 * use this file except in compliance with the License.  You may obtain a copy
 * of the License at http://www.apache.org/licenses/LICENSE-2.0
 */

/**
 * @file kvc_http.h
 * @brief Upstream HTTP client: JSON POSTs through libcurl handles pooled per
 *        process, so calls reuse keep-alive connections.  Free of httpd
 *        headers; the module calls kvc_http_child_init from child_init.
 */
#ifndef KVC_HTTP_H
#define KVC_HTTP_H

#include "apr_pools.h"
#include "apr_time.h"

typedef enum {
    KVC_HTTP_OK,        /* 2xx, body within the cap */
    KVC_HTTP_STATUS,    /* the upstream answered, but not 2xx */
    KVC_HTTP_TIMEOUT,   /* the budget ran out */
    KVC_HTTP_TOO_LARGE, /* the response exceeded the size cap */
    KVC_HTTP_ERROR      /* connection refused, reset, DNS, TLS... */
} kvc_http_result;

typedef struct {
    kvc_http_result result;
    long status;      /* HTTP status, 0 without a response */
    const char *body; /* NUL-terminated; freed with the caller's pool */
    apr_size_t len;
    const char *error; /* libcurl's message when not OK */
    apr_interval_time_t elapsed;
} kvc_http_response;

/** libcurl's process-global init; call once in the parent, before forking. */
apr_status_t kvc_http_global_init(apr_pool_t *pconf);

/**
 * Creates this process's handle pool.
 * @param pchild  the child's pool; the pool and its handles die with it
 * @param max_handles  the number of threads that may call at once
 * @param ca_file  CA certificates for https upstreams, NULL for the
 *                 system's
 * @param verify  0 to skip certificate and host name verification
 */
apr_status_t kvc_http_child_init(apr_pool_t *pchild, int max_handles,
                                 const char *ca_file, int verify);

/**
 * POSTs a JSON body and waits at most @a timeout for the whole exchange.
 * Never follows redirects; never raises signals.
 * @param max_response  larger responses are cut off (KVC_HTTP_TOO_LARGE)
 */
kvc_http_result kvc_http_post_json(const char *url, const char *body,
                                   apr_size_t len, apr_interval_time_t timeout,
                                   apr_size_t max_response, apr_pool_t *p,
                                   kvc_http_response *resp);

/**
 * A handle of one's own, outside the per-process pool, for a thread that
 * may outlive the child's pool (mod_watchdog's threads do: their pool is
 * not the child's).  Not for concurrent use.
 */
typedef struct kvc_http_handle kvc_http_handle;

kvc_http_handle *kvc_http_handle_create(void);
void kvc_http_handle_destroy(kvc_http_handle *h);

/** GETs @a url (e.g. an instance's /metrics) on handle @a h. */
kvc_http_result kvc_http_get(kvc_http_handle *h, const char *url,
                             apr_interval_time_t timeout,
                             apr_size_t max_response, apr_pool_t *p,
                             kvc_http_response *resp);

/** POSTs a JSON body on handle @a h, as kvc_http_post_json() does. */
kvc_http_result kvc_http_handle_post_json(kvc_http_handle *h, const char *url,
                                          const char *body, apr_size_t len,
                                          apr_interval_time_t timeout,
                                          apr_size_t max_response,
                                          apr_pool_t *p,
                                          kvc_http_response *resp);

/** A short name of a result for logs and fallback reasons. */
const char *kvc_http_result_name(kvc_http_result result);

#endif /* KVC_HTTP_H */
