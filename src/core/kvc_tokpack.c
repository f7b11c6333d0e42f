/* Licensed under the Apache License, Version 2.0 (the "License"); you may not
 * use this file except in compliance with the License.  You may obtain a copy
 * of the License at http://www.apache.org/licenses/LICENSE-2.0
 */

/**
 * @file kvc_tokpack.c
 * @brief "KVT1" token-list encoding.
 */

#include <string.h>

#include "kvc_tokpack.h"

#define KVC_TOKPACK_HEADER 8

static const unsigned char kvc_tokpack_magic[4] = { 'K', 'V', 'T', '1' };

/* Byte by byte: buffers from a store need not be aligned, and the format
 * is little-endian whatever the host is.
 */
static void kvc_tp_put32(unsigned char *out, apr_uint32_t v)
{
    out[0] = (unsigned char)(v & 0xff);
    out[1] = (unsigned char)((v >> 8) & 0xff);
    out[2] = (unsigned char)((v >> 16) & 0xff);
    out[3] = (unsigned char)((v >> 24) & 0xff);
}

static apr_uint32_t kvc_tp_get32(const unsigned char *in)
{
    return (apr_uint32_t)in[0] | ((apr_uint32_t)in[1] << 8)
           | ((apr_uint32_t)in[2] << 16) | ((apr_uint32_t)in[3] << 24);
}

apr_size_t kvc_tokpack_size(apr_size_t count)
{
    if ((apr_uint64_t)count > 0xffffffffu
        || count > (APR_SIZE_MAX - KVC_TOKPACK_HEADER) / 4) {
        return 0;
    }
    return KVC_TOKPACK_HEADER + count * 4;
}

void kvc_tokpack_encode(const kvc_tokens *t, unsigned char *out)
{
    apr_size_t i;

    memcpy(out, kvc_tokpack_magic, sizeof(kvc_tokpack_magic));
    kvc_tp_put32(out + 4, (apr_uint32_t)t->count);
    out += KVC_TOKPACK_HEADER;
    for (i = 0; i < t->count; i++, out += 4) {
        kvc_tp_put32(out, (apr_uint32_t)t->ids[i]);
    }
}

int kvc_tokpack_decode(unsigned char *buf, apr_size_t len, apr_pool_t *p,
                       kvc_tokens *out)
{
    apr_uint32_t count;
    apr_int32_t *ids = NULL;
    const unsigned char *in;
    apr_size_t i;

    out->ids = NULL;
    out->count = 0;
    if (buf == NULL || len < KVC_TOKPACK_HEADER
        || memcmp(buf, kvc_tokpack_magic, sizeof(kvc_tokpack_magic)) != 0) {
        return -1;
    }
    count = kvc_tp_get32(buf + 4);
    /* Compare without multiplying count: 4 * count can overflow a 32-bit
     * apr_size_t, and len - 8 cannot underflow here.
     */
    if ((len - KVC_TOKPACK_HEADER) % 4 != 0
        || (len - KVC_TOKPACK_HEADER) / 4 != count) {
        return -1;
    }
    in = buf + KVC_TOKPACK_HEADER;
    if (count == 0) {
        return 0;
    }
    /* Reading id i before writing slot i keeps the in-place case exact:
     * both are the same four bytes. */
    ids = ((apr_uintptr_t)in % sizeof(*ids) == 0)
              ? (apr_int32_t *)(void *)(buf + KVC_TOKPACK_HEADER)
              : apr_palloc(p, (apr_size_t)count * sizeof(*ids));
    if (ids == NULL) {
        return -1;
    }
    for (i = 0; i < count; i++, in += 4) {
        apr_uint32_t v = kvc_tp_get32(in);

        if (v > 0x7fffffffu) {
            return -1;
        }
        ids[i] = (apr_int32_t)v;
    }
    out->ids = ids;
    out->count = count;
    return 0;
}
