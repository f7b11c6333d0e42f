/* Licensed under the Apache License, Version 2.0 (the "License"); you may not
 * use this file except in compliance with the License.  You may obtain a copy
 * of the License at http://www.apache.org/licenses/LICENSE-2.0
 */

/**
 * @file fuzz_matches_format.c
 * @brief Fuzz target: kvc_matches_format() on arbitrary match arrays,
 *        then kvc_matches_parse() on the note it wrote.
 *
 * kvc_matches_format() promises to leave out what kvc_matches_parse()
 * would reject (NULL or invalid ids, counts outside 0..KVC_TOKEN_MAX) "so
 * the note always parses back".  The input is a list of records:
 *   flags (1 byte): bit 0 id NULL; bits 1-2 how the count is read;
 *                   bit 3 map id bytes into the id alphabet
 *   id length (1 byte, taken modulo 100), id bytes (may hold NULs)
 *   count: 1, 4 or 8 bytes, or KVC_TOKEN_MAX minus 1 byte
 * Invariant: the note is no longer than the size formatting computed and
 * parses back to exactly the formattable entries, in order.  Arrays
 * whose formattable ids repeat are only formatted, not checked:
 * kvc_matches_parse() rejects repeated ids and kvc_matches_format() does
 * not remove them (its callers pass kvc_wire_parse_lookup() results,
 * whose ids are unique).
 */

#include <string.h>

#include "kvc_wire.h"

#include "fuzz_common.h"

static const char fz_id_chars[] =
    "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._:@-";

static int fz_formattable(const kvc_match *m)
{
    return m->instance_id != NULL && strlen(m->instance_id) <= KVC_ROUTE_ID_MAX
           && kvc_route_id_valid(m->instance_id, strlen(m->instance_id))
           && m->matched >= 0 && m->matched <= KVC_TOKEN_MAX;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    apr_pool_t *p = fz_begin();
    apr_array_header_t *arr = apr_array_make(p, 4, sizeof(kvc_match));
    apr_array_header_t *want = apr_array_make(p, 4, sizeof(kvc_match));
    apr_array_header_t *back = NULL;
    size_t pos = 0;
    const char *note;
    int dup = 0, i, j;

    while (pos + 2 <= size) {
        uint8_t flags = data[pos], idlen = (uint8_t)(data[pos + 1] % 100);
        kvc_match m;
        char *id;

        pos += 2;
        if (idlen > size - pos) {
            idlen = (uint8_t)(size - pos);
        }
        id = apr_palloc(p, (apr_size_t)idlen + 1);
        memcpy(id, data + pos, idlen);
        id[idlen] = '\0';
        if (flags & 8) {
            for (j = 0; j < idlen; j++) {
                id[j] = fz_id_chars[(uint8_t)id[j] % (sizeof(fz_id_chars) - 1)];
            }
        }
        pos += idlen;
        m.instance_id = (flags & 1) ? NULL : id;
        m.location = NULL;
        m.matched = 0;
        switch ((flags >> 1) & 3) {
        case 0:
            if (pos < size) {
                m.matched = data[pos++];
            }
            break;
        case 1: {
            int32_t v = 0;

            if (size - pos >= 4) {
                memcpy(&v, data + pos, 4);
                pos += 4;
            }
            m.matched = v;
            break;
        }
        case 2: {
            int64_t v = 0;

            if (size - pos >= 8) {
                memcpy(&v, data + pos, 8);
                pos += 8;
            }
            m.matched = (long)v;
            break;
        }
        default:
            m.matched = KVC_TOKEN_MAX;
            if (pos < size) {
                m.matched = KVC_TOKEN_MAX + 1 - (long)data[pos++];
            }
            break;
        }
        APR_ARRAY_PUSH(arr, kvc_match) = m;
        if (fz_formattable(&m)) {
            for (i = 0; i < want->nelts; i++) {
                if (strcmp(APR_ARRAY_IDX(want, i, kvc_match).instance_id,
                           m.instance_id)
                    == 0) {
                    dup = 1;
                }
            }
            APR_ARRAY_PUSH(want, kvc_match) = m;
        }
    }

    note = kvc_matches_format(arr, p);
    FZ_CHECK(note != NULL);
    FZ_CHECK(strchr(note, '\t') == NULL);
    if (!dup) {
        FZ_CHECK(kvc_matches_parse(note, p, &back) == 0);
        FZ_CHECK(back->nelts == want->nelts);
        for (i = 0; i < want->nelts; i++) {
            const kvc_match *w = &APR_ARRAY_IDX(want, i, kvc_match);
            const kvc_match *g = &APR_ARRAY_IDX(back, i, kvc_match);

            FZ_CHECK(strcmp(w->instance_id, g->instance_id) == 0);
            FZ_CHECK(w->matched == g->matched);
        }
    }
    /* NULL and empty arrays format to "". */
    FZ_CHECK(strcmp(kvc_matches_format(NULL, p), "") == 0);

    fz_end();
    return 0;
}
