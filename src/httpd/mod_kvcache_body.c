/* Licensed under the Apache License, Version 2.0 (the "License"); you may not
 * use this file except in compliance with the License.  You may obtain a copy
 * of the License at http://www.apache.org/licenses/LICENSE-2.0
 */

/* Before any APR header: the brigade macros then use offsetof(), not a
 * member access through a null pointer (which UBSan rejects). */
#include <stddef.h>
#include <stdlib.h>

#include "httpd.h"
#include "apr_strings.h"
#include "http_protocol.h"
#include "util_filter.h"

#include "mod_kvcache_body.h"

#define KVC_REPLAY_FILTER "KVCACHE_REPLAY"
#define KVC_READ_CHUNK    (64 * 1024)

static ap_filter_rec_t *replay_filter_handle;

/* An input filter that serves the saved brigade first.  Once it is empty
 * the filter removes itself, so the rest of an over-cap body flows from
 * HTTP_IN untouched, with the client's own framing. */
static apr_status_t replay_filter(ap_filter_t *f, apr_bucket_brigade *bb,
                                  ap_input_mode_t mode, apr_read_type_e block,
                                  apr_off_t readbytes)
{
    apr_bucket_brigade *saved = f->ctx;
    apr_bucket *split;
    apr_status_t rv;

    if (APR_BRIGADE_EMPTY(saved)) {
        ap_remove_input_filter(f);
        return ap_get_brigade(f->next, bb, mode, block, readbytes);
    }
    if (mode != AP_MODE_READBYTES) {
        /* mod_proxy only ever reads bytes; other modes would need the
         * saved data in line form, which no consumer of a proxied body
         * asks for. */
        return ap_get_brigade(f->next, bb, mode, block, readbytes);
    }
    rv = apr_brigade_partition(saved, readbytes, &split);
    if (rv != APR_SUCCESS && rv != APR_INCOMPLETE) {
        return rv;
    }
    if (rv == APR_INCOMPLETE || split == APR_BRIGADE_SENTINEL(saved)) {
        APR_BRIGADE_CONCAT(bb, saved);
    }
    else {
        apr_bucket_brigade *rest = apr_brigade_split_ex(saved, split, NULL);

        APR_BRIGADE_CONCAT(bb, saved);
        APR_BRIGADE_CONCAT(saved, rest);
        apr_brigade_destroy(rest);
    }
    return APR_SUCCESS;
}

/* The body is gathered straight into one contiguous buffer, which the
 * parsers need, instead of keeping the buckets and flattening them: one
 * copy and one allocation per body, not two.  The buffer is malloc'ed
 * (realloc grows it in place where it can, a pool could not) and handed
 * to a heap bucket, which frees it once mod_proxy has sent it on. */
typedef struct {
    char *data;
    apr_size_t len;
    apr_size_t cap;
} kvc_gather;

static apr_status_t gather(kvc_gather *g, const char *data, apr_size_t n)
{
    if (g->len + n > g->cap) {
        apr_size_t cap = g->cap ? g->cap : KVC_READ_CHUNK;
        char *grown;

        while (cap < g->len + n) {
            cap *= 2;
        }
        grown = realloc(g->data, cap);
        if (!grown) {
            return APR_ENOMEM;
        }
        g->data = grown;
        g->cap = cap;
    }
    memcpy(g->data + g->len, data, n);
    g->len += n;
    return APR_SUCCESS;
}

/* The first allocation: the announced length when there is one (and it is
 * within the cap), so a Content-Length body is copied once and never
 * reallocated. */
static apr_size_t expected_size(request_rec *r, apr_off_t max)
{
    const char *cl = apr_table_get(r->headers_in, "Content-Length");
    apr_off_t n;

    if (cl && apr_strtoff(&n, cl, NULL, 10) == APR_SUCCESS && n > 0) {
        return (apr_size_t)(n <= max ? n : max + 1);
    }
    return KVC_READ_CHUNK;
}

apr_status_t kvc_body_buffer(request_rec *r, apr_off_t max, kvc_body *out)
{
    apr_bucket_alloc_t *ba = r->connection->bucket_alloc;
    apr_bucket_brigade *bb = apr_brigade_create(r->pool, ba);
    apr_bucket_brigade *saved = apr_brigade_create(r->pool, ba);
    apr_bucket_brigade *spilled = apr_brigade_create(r->pool, ba);
    kvc_gather g = { NULL, 0, 0 };
    apr_status_t rv = APR_SUCCESS;
    int seen_eos = 0, full = 0;

    g.cap = expected_size(r, max);
    g.data = malloc(g.cap);
    full = g.data == NULL;
    /* Read one byte past the cap, so a body of exactly max bytes is still
     * known to be complete. */
    while (!seen_eos && !full && (apr_off_t)g.len <= max) {
        apr_off_t want = max + 1 - (apr_off_t)g.len;

        rv = ap_get_brigade(r->input_filters, bb, AP_MODE_READBYTES,
                            APR_BLOCK_READ,
                            want < KVC_READ_CHUNK ? want : KVC_READ_CHUNK);
        if (rv != APR_SUCCESS) {
            /* The client's body broke off: there is nothing to forward. */
            apr_brigade_cleanup(bb);
            free(g.data);
            return rv;
        }
        if (APR_BRIGADE_EMPTY(bb)) {
            break; /* no progress: leave the rest to HTTP_IN */
        }
        while (!APR_BRIGADE_EMPTY(bb)) {
            apr_bucket *b = APR_BRIGADE_FIRST(bb);
            const char *data;
            apr_size_t n;

            if (APR_BUCKET_IS_EOS(b)) {
                seen_eos = 1;
            }
            else if (!full && !APR_BUCKET_IS_METADATA(b)
                     && (apr_bucket_read(b, &data, &n, APR_BLOCK_READ)
                             != APR_SUCCESS
                         || gather(&g, data, n) != APR_SUCCESS)) {
                /* Out of memory: what is left goes on as it came, after
                 * what was gathered, and the request is not routed. */
                full = 1;
            }
            if (full || seen_eos) {
                APR_BUCKET_REMOVE(b);
                apr_bucket_setaside(b, r->pool);
                APR_BRIGADE_INSERT_TAIL(spilled, b);
            }
            else {
                apr_bucket_delete(b);
            }
        }
    }
    if (g.len) {
        APR_BRIGADE_INSERT_TAIL(
            saved, apr_bucket_heap_create(g.data, g.len, free, ba));
    }
    else {
        free(g.data);
        g.data = NULL;
    }
    APR_BRIGADE_CONCAT(saved, spilled);
    ap_add_input_filter_handle(replay_filter_handle, saved, r, r->connection);
    if (seen_eos) {
        apr_off_t total = 0;

        /* HTTP_IN already parsed the framing at its first read; from now on
         * the body is a known-length buffer (as mod_request's kept body). */
        apr_brigade_length(saved, 0, &total);
        apr_table_unset(r->headers_in, "Transfer-Encoding");
        apr_table_setn(r->headers_in, "Content-Length",
                       apr_off_t_toa(r->pool, total));
    }
    out->complete = seen_eos && !full;
    /* The data stays valid as long as the heap bucket, which mod_proxy
     * only consumes in the handler, after every parser is done with it. */
    out->data = out->complete ? (g.data ? g.data : "") : NULL;
    out->len = out->complete ? g.len : 0;
    return APR_SUCCESS;
}

void kvc_body_register_hooks(apr_pool_t *p)
{
    replay_filter_handle = ap_register_input_filter(
        KVC_REPLAY_FILTER, replay_filter, NULL, AP_FTYPE_RESOURCE);
}
