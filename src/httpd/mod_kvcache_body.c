/* Licensed under the Apache License, Version 2.0 (the "License"); you may not
 * use this file except in compliance with the License.  You may obtain a copy
 * of the License at http://www.apache.org/licenses/LICENSE-2.0
 */

/* Before any APR header: the brigade macros then use offsetof(), not a
 * member access through a null pointer (which UBSan rejects). */
#include <stddef.h>

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

apr_status_t kvc_body_buffer(request_rec *r, apr_off_t max, kvc_body *out)
{
    apr_bucket_brigade *saved =
        apr_brigade_create(r->pool, r->connection->bucket_alloc);
    apr_bucket_brigade *bb =
        apr_brigade_create(r->pool, r->connection->bucket_alloc);
    apr_off_t total = 0;
    char *flat;
    apr_size_t flat_len;
    apr_status_t rv;
    int seen_eos = 0;

    /* Read one byte past the cap, so a body of exactly max bytes is still
     * known to be complete. */
    while (!seen_eos && total <= max) {
        apr_off_t want = max + 1 - total;
        apr_bucket *b;

        rv = ap_get_brigade(r->input_filters, bb, AP_MODE_READBYTES,
                            APR_BLOCK_READ,
                            want < KVC_READ_CHUNK ? want : KVC_READ_CHUNK);
        if (rv != APR_SUCCESS) {
            apr_brigade_cleanup(bb);
            return rv;
        }
        if (APR_BRIGADE_EMPTY(bb)) {
            break; /* no progress: leave the rest to HTTP_IN */
        }
        while (!APR_BRIGADE_EMPTY(bb)) {
            b = APR_BRIGADE_FIRST(bb);
            if (APR_BUCKET_IS_EOS(b)) {
                seen_eos = 1;
            }
            else if (!APR_BUCKET_IS_METADATA(b)) {
                total += b->length;
            }
            rv = apr_bucket_setaside(b, r->pool);
            if (rv != APR_SUCCESS && rv != APR_ENOTIMPL) {
                return rv;
            }
            APR_BUCKET_REMOVE(b);
            APR_BRIGADE_INSERT_TAIL(saved, b);
        }
    }
    ap_add_input_filter_handle(replay_filter_handle, saved, r, r->connection);
    if (seen_eos) {
        /* HTTP_IN already parsed the framing at its first read; from now on
         * the body is a known-length buffer (as mod_request's kept body). */
        apr_table_unset(r->headers_in, "Transfer-Encoding");
        apr_table_setn(r->headers_in, "Content-Length",
                       apr_off_t_toa(r->pool, total));
    }
    /* Parsing wants contiguous bytes; an over-cap body is never parsed, so
     * it is not copied either.  The replay filter is already in place, so
     * even a failed copy loses nothing: the request just goes unrouted. */
    out->data = NULL;
    out->len = 0;
    out->complete = 0;
    if (seen_eos
        && apr_brigade_pflatten(saved, &flat, &flat_len, r->pool)
               == APR_SUCCESS) {
        out->data = flat;
        out->len = flat_len;
        out->complete = 1;
    }
    return APR_SUCCESS;
}

void kvc_body_register_hooks(apr_pool_t *p)
{
    replay_filter_handle = ap_register_input_filter(
        KVC_REPLAY_FILTER, replay_filter, NULL, AP_FTYPE_RESOURCE);
}
