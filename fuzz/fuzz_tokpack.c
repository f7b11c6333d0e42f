/* Licensed under the Apache License, Version 2.0 (the "License"); you may not
 * use this file except in compliance with the License.  You may obtain a copy
 * of the License at http://www.apache.org/licenses/LICENSE-2.0
 */

/**
 * @file fuzz_tokpack.c
 * @brief Fuzz target: the binary token-cache entry "KVT1"
 *        (kvc_tokpack_decode), which may come from a shared, remote
 *        store, and the encode∘decode round trip.
 *
 * Invariants: a decoded entry has exactly len == 8 + 4 * count and ids in
 * 0..INT32_MAX, and encoding it again gives the input byte for byte; a
 * rejected one leaves {NULL, 0}.  Then the input read as little-endian
 * ids (top bit cleared) encodes to kvc_tokpack_size() bytes that decode to
 * the same ids.
 */

#include <string.h>

#include "apr_strings.h"

#include "kvc_tokpack.h"

#include "fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    apr_pool_t *p = fz_begin();
    kvc_tokens t, back;
    unsigned char *enc, *copy;
    apr_size_t esize;
    size_t i;
    int rc;

    /* Decoding may happen in place: give it a buffer of its own. */
    copy = apr_pmemdup(p, data, size);
    rc = kvc_tokpack_decode(copy, size, p, &t);
    FZ_CHECK(rc == 0 || rc == -1);
    if (rc != 0) {
        FZ_CHECK(t.ids == NULL && t.count == 0);
    }
    else {
        FZ_CHECK(size == 8 + 4 * (size_t)t.count);
        FZ_CHECK((t.count == 0) == (t.ids == NULL));
        for (i = 0; i < t.count; i++) {
            FZ_CHECK(t.ids[i] >= 0);
        }
        esize = kvc_tokpack_size(t.count);
        FZ_CHECK(esize == size);
        enc = malloc(esize);
        FZ_CHECK(enc != NULL);
        kvc_tokpack_encode(&t, enc);
        FZ_CHECK(memcmp(enc, data, size) == 0);
        free(enc);
    }

    /* Any id list in range survives encode then decode. */
    t.count = size / 4;
    t.ids = t.count ? apr_palloc(p, t.count * sizeof(*t.ids)) : NULL;
    for (i = 0; i < t.count; i++) {
        uint32_t v = (uint32_t)data[4 * i] | ((uint32_t)data[4 * i + 1] << 8)
                     | ((uint32_t)data[4 * i + 2] << 16)
                     | ((uint32_t)data[4 * i + 3] << 24);

        t.ids[i] = (int32_t)(v & 0x7fffffffu);
    }
    esize = kvc_tokpack_size(t.count);
    FZ_CHECK(esize == 8 + 4 * t.count);
    enc = malloc(esize);
    FZ_CHECK(enc != NULL);
    kvc_tokpack_encode(&t, enc);
    FZ_CHECK(memcmp(enc, "KVT1", 4) == 0);
    FZ_CHECK(kvc_tokpack_decode(enc, esize, p, &back) == 0);
    FZ_CHECK(back.count == t.count);
    FZ_CHECK(t.count == 0
             || memcmp(back.ids, t.ids, t.count * sizeof(*t.ids)) == 0);
    /* One byte more or less is corrupt. */
    FZ_CHECK(kvc_tokpack_decode(enc, esize - 1, p, &back) == -1);
    free(enc);

    /* Counts the u32 field cannot hold have no encoding. */
    FZ_CHECK(kvc_tokpack_size((apr_size_t)0xffffffffu)
             == 8 + 4 * (apr_size_t)0xffffffffu);
    if (sizeof(apr_size_t) > 4) {
        FZ_CHECK(kvc_tokpack_size((apr_size_t)0xffffffffu + 1) == 0);
    }

    fz_end();
    return 0;
}
