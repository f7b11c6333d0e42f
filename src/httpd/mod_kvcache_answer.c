/* Licensed under the Apache License, Version 2.0 (the "License"); you may not
 * use this file except in compliance with the License.  You may obtain a copy
 * of the License at http://www.apache.org/licenses/LICENSE-2.0
 */

/* Before any APR header: the brigade macros then use offsetof(), not a
 * member access through a null pointer (which UBSan rejects). */
#include <stddef.h>

#include "httpd.h"
#include "http_config.h"
#include "http_log.h"
#include "apr_strings.h"
#include "util_filter.h"

#include "kvc_usage.h"
#include "mod_kvcache_answer.h"
#include "mod_kvcache_request.h"

APLOG_USE_MODULE(kvcache);

#define KVC_ANSWER_FILTER "KVCACHE_ANSWER"

static ap_filter_rec_t *answer_filter_handle;

/* Only an uncompressed JSON or event-stream answer can be read as it
 * passes; anything else is simply not counted. */
static int readable(const request_rec *r, int *sse)
{
    const char *type = r->content_type;
    const char *encoding = apr_table_get(r->headers_out, "Content-Encoding");

    if ((encoding && strcasecmp(encoding, "identity"))
        || (r->content_encoding && strcasecmp(r->content_encoding, "identity"))
        || !type) {
        return 0;
    }
    *sse = ap_strcasestr(type, "text/event-stream") != NULL;
    return *sse || ap_strcasestr(type, "json") != NULL;
}

static apr_status_t answer_filter(ap_filter_t *f, apr_bucket_brigade *bb)
{
    request_rec *r = f->r;
    kvc_usage_scan *scan = f->ctx;
    kvc_request *req = kvc_request_get(r);
    apr_bucket *b;
    int sse;

    if (!scan) {
        if (!req || !readable(r, &sse)) {
            ap_remove_output_filter(f);
            return ap_pass_brigade(f->next, bb);
        }
        f->ctx = scan = apr_palloc(r->pool, sizeof(*scan));
        kvc_usage_init(scan, sse);
    }
    for (b = APR_BRIGADE_FIRST(bb); b != APR_BRIGADE_SENTINEL(bb);
         b = APR_BUCKET_NEXT(b)) {
        const char *data;
        apr_size_t len;

        if (APR_BUCKET_IS_EOS(b)) {
            req->found_tokens = kvc_usage_cached_tokens(scan);
            if (req->found_tokens >= 0) {
                apr_table_setn(r->subprocess_env, KVC_ENV_FOUND_TOKENS,
                               apr_ltoa(r->pool, req->found_tokens));
            }
            ap_remove_output_filter(f);
            break;
        }
        if (!APR_BUCKET_IS_METADATA(b)
            && apr_bucket_read(b, &data, &len, APR_BLOCK_READ) == APR_SUCCESS) {
            kvc_usage_feed(scan, data, len);
        }
    }
    return ap_pass_brigade(f->next, bb);
}

void kvc_answer_watch(request_rec *r)
{
    ap_add_output_filter_handle(answer_filter_handle, NULL, r, r->connection);
}

void kvc_answer_register_hooks(apr_pool_t *p)
{
    /* A resource filter: it sees the answer as the proxy hands it over,
     * before any content filter (mod_deflate) changes it. */
    answer_filter_handle = ap_register_output_filter(
        KVC_ANSWER_FILTER, answer_filter, NULL, AP_FTYPE_RESOURCE);
}
