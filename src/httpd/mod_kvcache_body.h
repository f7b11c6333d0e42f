/* Licensed under the Apache License, Version 2.0 (the "License"); you may not
 * use this file except in compliance with the License.  You may obtain a copy
 * of the License at http://www.apache.org/licenses/LICENSE-2.0
 */

/**
 * @file mod_kvcache_body.h
 * @brief Buffering the request body before the balancer chooses a member,
 *        and replaying it byte for byte to mod_proxy.
 */
#ifndef MOD_KVCACHE_BODY_H
#define MOD_KVCACHE_BODY_H

#include "httpd.h"

typedef struct {
    const char *data; /* the whole body, contiguous (not NUL-ended),
                         valid until mod_proxy sends it; NULL when
                         incomplete */
    apr_size_t len;
    int complete; /* 1: the whole body; 0: over the cap, more follows */
} kvc_body;

/**
 * Reads up to @a max bytes of the body and inserts the replay filter, which
 * hands mod_proxy the buffered bytes and then whatever the client still has
 * to send.  Nothing is ever dropped or truncated.
 * @return APR_SUCCESS, or the read error (the client's body is unusable)
 */
apr_status_t kvc_body_buffer(request_rec *r, apr_off_t max, kvc_body *out);

/** Registers the replay input filter. */
void kvc_body_register_hooks(apr_pool_t *p);

#endif /* MOD_KVCACHE_BODY_H */
