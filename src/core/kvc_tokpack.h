/* Licensed under the Apache License, Version 2.0 (the "License"); you may not
 * use this file except in compliance with the License.  You may obtain a copy
 * of the License at http://www.apache.org/licenses/LICENSE-2.0
 */

/**
 * @file kvc_tokpack.h
 * @brief Compact binary form of a token list, the value stored in the
 *        shared token cache (httpd-independent).
 *
 * Format: the 4 bytes "KVT1", the token count as a little-endian u32,
 * then each id as a little-endian u32.  Fixed byte order, so a redis or
 * memcache store can be shared by hosts of either endianness; the magic
 * lets a future format coexist in the same store.
 */

#ifndef KVC_TOKPACK_H
#define KVC_TOKPACK_H

#include "apr.h"
#include "apr_pools.h"

#include "kvc_vocab.h"

#ifdef __cplusplus
extern "C" {
#endif

/**
 * Bytes needed to encode `count` tokens.
 * @param count number of tokens
 * @return 8 + 4 * count, or 0 when count does not fit the u32 count
 *         field or the size would overflow apr_size_t
 */
apr_size_t kvc_tokpack_size(apr_size_t count);

/**
 * Encode a token list.  Ids are expected in 0..KVC_TOKEN_MAX, as
 * kvc_wire_parse_tokens() returns them; a negative id would make an
 * encoding that kvc_tokpack_decode() rejects (a cache miss, not a wrong
 * token).
 * @param t the tokens; t->count must have a non-zero kvc_tokpack_size()
 * @param out kvc_tokpack_size(t->count) bytes, any alignment
 */
void kvc_tokpack_encode(const kvc_tokens *t, unsigned char *out);

/**
 * Decode a token list, in place where it can: when @a buf is 4-byte
 * aligned the ids are converted where they lie and the result points into
 * @a buf, which must then live as long as the tokens (on a little-endian
 * host nothing is even written); otherwise they are copied into @a p.  A
 * long prompt's entry is then decoded without a second buffer of its
 * size.  The whole buffer must be exactly one valid encoding: values come
 * from a shared (possibly remote) store, so anything else is treated as
 * corrupt rather than trusted.
 * @param buf the encoding, any alignment; may be overwritten
 * @param len its length
 * @param p pool for the id array when @a buf is not aligned
 * @param out receives the tokens (ids NULL when count is 0); {NULL, 0} on
 *        failure
 * @return 0 on success; -1 for a wrong magic, a length that does not
 *         match the count, an id above INT32_MAX, or out of memory
 */
int kvc_tokpack_decode(unsigned char *buf, apr_size_t len, apr_pool_t *p,
                       kvc_tokens *out);

#ifdef __cplusplus
}
#endif

#endif /* KVC_TOKPACK_H */
