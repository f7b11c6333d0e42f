/* Licensed under the Apache License, Version 2.0 (the "License"); you may not
 * use this file except in compliance with the License.  You may obtain a copy
 * of the License at http://www.apache.org/licenses/LICENSE-2.0
 */

#include <stdlib.h>

#include <curl/curl.h>

#include "apr_reslist.h"
#include "apr_strings.h"

#include "kvc_http.h"

/* One pool of easy handles per process, as mod_dbd pools connections: a
 * handle keeps its connection cache between calls, so a thread that borrows
 * one reuses a keep-alive connection instead of opening a new one.  A handle
 * is never used by two threads at once (libcurl-thread(3)). */
static apr_reslist_t *handles;
static struct curl_slist *json_headers;
static const char *tls_ca_file;
static long tls_verify = 1;

typedef struct {
    char *data;
    apr_size_t len;
    apr_size_t cap; /* allocated */
    apr_size_t max; /* the caller's limit */
    int too_large;
} kvc_http_sink;

static apr_status_t global_cleanup(void *unused)
{
    curl_global_cleanup();
    return APR_SUCCESS;
}

apr_status_t kvc_http_global_init(apr_pool_t *pconf)
{
    if (curl_global_init(CURL_GLOBAL_ALL) != CURLE_OK) {
        return APR_EGENERAL;
    }
    apr_pool_cleanup_register(pconf, NULL, global_cleanup,
                              apr_pool_cleanup_null);
    return APR_SUCCESS;
}

static apr_status_t handle_construct(void **resource, void *params,
                                     apr_pool_t *pool)
{
    CURL *curl = curl_easy_init();

    if (!curl) {
        return APR_ENOMEM;
    }
    *resource = curl;
    return APR_SUCCESS;
}

static apr_status_t handle_destruct(void *resource, void *params,
                                    apr_pool_t *pool)
{
    curl_easy_cleanup(resource);
    return APR_SUCCESS;
}

static apr_status_t free_headers(void *unused)
{
    curl_slist_free_all(json_headers);
    json_headers = NULL;
    handles = NULL;
    return APR_SUCCESS;
}

apr_status_t kvc_http_child_init(apr_pool_t *pchild, int max_handles,
                                 const char *ca_file, int verify)
{
    apr_status_t rv;

    tls_ca_file = ca_file;
    tls_verify = verify ? 1L : 0L;

    /* An empty "Expect:" keeps libcurl from waiting for 100-continue on
     * large bodies, which would eat most of a 50ms budget. */
    json_headers = curl_slist_append(NULL, "Content-Type: application/json");
    json_headers = curl_slist_append(json_headers, "Accept: application/json");
    json_headers = curl_slist_append(json_headers, "Expect:");
    if (!json_headers) {
        return APR_ENOMEM;
    }
    /* Registered before the reslist so that it runs after the reslist's own
     * cleanup has destroyed the handles (cleanups run in reverse order). */
    apr_pool_cleanup_register(pchild, NULL, free_headers,
                              apr_pool_cleanup_null);
    rv = apr_reslist_create(&handles, 0, max_handles > 0 ? max_handles : 1,
                            max_handles > 0 ? max_handles : 1, 0,
                            handle_construct, handle_destruct, NULL, pchild);
    if (rv == APR_SUCCESS) {
        apr_reslist_cleanup_order_set(handles, APR_RESLIST_CLEANUP_FIRST);
    }
    return rv;
}

static apr_status_t free_sink(void *data)
{
    free(data);
    return APR_SUCCESS;
}

static size_t sink_write(char *ptr, size_t size, size_t nmemb, void *userdata)
{
    kvc_http_sink *sink = userdata;
    apr_size_t n = size * nmemb;

    if (sink->len + n > sink->max) {
        sink->too_large = 1;
        return 0; /* a short count makes libcurl abort */
    }
    if (sink->len + n + 1 > sink->cap) {
        apr_size_t cap = sink->cap ? sink->cap : 4096;
        char *grown;

        while (cap < sink->len + n + 1) {
            cap *= 2;
        }
        grown = realloc(sink->data, cap);
        if (!grown) {
            return 0;
        }
        sink->data = grown;
        sink->cap = cap;
    }
    memcpy(sink->data + sink->len, ptr, n);
    sink->len += n;
    return n;
}

const char *kvc_http_result_name(kvc_http_result result)
{
    switch (result) {
    case KVC_HTTP_OK: return "ok";
    case KVC_HTTP_STATUS: return "status";
    case KVC_HTTP_TIMEOUT: return "timeout";
    case KVC_HTTP_TOO_LARGE: return "too-large";
    default: return "error";
    }
}

/* One exchange on @a curl: a JSON POST when body is not NULL, else a
 * GET. */
static kvc_http_result exchange(CURL *curl, const char *url, const char *body,
                                apr_size_t len, apr_interval_time_t timeout,
                                apr_size_t max_response, apr_pool_t *p,
                                kvc_http_response *resp)
{
    CURLcode cc;
    char errbuf[CURL_ERROR_SIZE];
    kvc_http_sink sink = { NULL, 0, 0, max_response, 0 };
    long timeout_ms = (long)apr_time_as_msec(timeout);
    apr_time_t start = apr_time_now();

    memset(resp, 0, sizeof(*resp));
    errbuf[0] = '\0';
    curl_easy_setopt(curl, CURLOPT_URL, url);
    if (body) {
        curl_easy_setopt(curl, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
        curl_easy_setopt(curl, CURLOPT_HTTPHEADER, json_headers);
    }
    else {
        curl_easy_setopt(curl, CURLOPT_HTTPGET, 1L);
        curl_easy_setopt(curl, CURLOPT_HTTPHEADER, NULL);
    }
    curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS,
                     timeout_ms > 0 ? timeout_ms : 1L);
    curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT_MS,
                     timeout_ms > 0 ? timeout_ms : 1L);
    curl_easy_setopt(curl, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(curl, CURLOPT_TCP_KEEPALIVE, 1L);
    curl_easy_setopt(curl, CURLOPT_TCP_NODELAY, 1L);
    curl_easy_setopt(curl, CURLOPT_SSL_VERIFYPEER, tls_verify);
    curl_easy_setopt(curl, CURLOPT_SSL_VERIFYHOST, tls_verify ? 2L : 0L);
    if (tls_ca_file) {
        curl_easy_setopt(curl, CURLOPT_CAINFO, tls_ca_file);
    }
    curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, errbuf);
    curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, sink_write);
    curl_easy_setopt(curl, CURLOPT_WRITEDATA, &sink);

    cc = curl_easy_perform(curl);
    curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &resp->status);
    resp->elapsed = apr_time_now() - start;
    /* The answer is handed over, not copied (a tokenized long prompt is
     * megabytes): the caller's pool frees it.  A cut-off one is of no
     * use. */
    if (sink.data && !sink.too_large) {
        sink.data[sink.len] = '\0';
        resp->body = sink.data;
        resp->len = sink.len;
        apr_pool_cleanup_register(p, sink.data, free_sink,
                                  apr_pool_cleanup_null);
    }
    else {
        free(sink.data);
    }
    if (cc == CURLE_OK) {
        resp->result = (resp->status >= 200 && resp->status < 300)
                           ? KVC_HTTP_OK
                           : KVC_HTTP_STATUS;
    }
    else {
        resp->result = sink.too_large                   ? KVC_HTTP_TOO_LARGE
                       : cc == CURLE_OPERATION_TIMEDOUT ? KVC_HTTP_TIMEOUT
                                                        : KVC_HTTP_ERROR;
        resp->error =
            apr_pstrdup(p, errbuf[0] ? errbuf : curl_easy_strerror(cc));
    }
    /* The error buffer lives on this stack frame. */
    curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, NULL);
    curl_easy_setopt(curl, CURLOPT_WRITEDATA, NULL);
    return resp->result;
}

static kvc_http_result perform(const char *url, const char *body,
                               apr_size_t len, apr_interval_time_t timeout,
                               apr_size_t max_response, apr_pool_t *p,
                               kvc_http_response *resp)
{
    void *curl;

    if (!handles || apr_reslist_acquire(handles, &curl) != APR_SUCCESS) {
        memset(resp, 0, sizeof(*resp));
        resp->error = "no upstream client in this process";
        return resp->result = KVC_HTTP_ERROR;
    }
    exchange(curl, url, body, len, timeout, max_response, p, resp);
    if (resp->result == KVC_HTTP_ERROR) {
        /* The handle's connection state is suspect: start afresh. */
        apr_reslist_invalidate(handles, curl);
    }
    else {
        apr_reslist_release(handles, curl);
    }
    return resp->result;
}

kvc_http_result kvc_http_post_json(const char *url, const char *body,
                                   apr_size_t len, apr_interval_time_t timeout,
                                   apr_size_t max_response, apr_pool_t *p,
                                   kvc_http_response *resp)
{
    return perform(url, body, len, timeout, max_response, p, resp);
}

kvc_http_result kvc_http_handle_post_json(kvc_http_handle *h, const char *url,
                                          const char *body, apr_size_t len,
                                          apr_interval_time_t timeout,
                                          apr_size_t max_response,
                                          apr_pool_t *p,
                                          kvc_http_response *resp)
{
    return exchange((CURL *)h, url, body, len, timeout, max_response, p, resp);
}

kvc_http_handle *kvc_http_handle_create(void)
{
    return (kvc_http_handle *)curl_easy_init();
}

void kvc_http_handle_destroy(kvc_http_handle *h)
{
    curl_easy_cleanup((CURL *)h);
}

kvc_http_result kvc_http_get(kvc_http_handle *h, const char *url,
                             apr_interval_time_t timeout,
                             apr_size_t max_response, apr_pool_t *p,
                             kvc_http_response *resp)
{
    return exchange((CURL *)h, url, NULL, 0, timeout, max_response, p, resp);
}
