/* Licensed under the Apache License, Version 2.0 (the "License"); you may not
 * use this file except in compliance with the License.  You may obtain a copy
 * of the License at http://www.apache.org/licenses/LICENSE-2.0
 */

/**
 * @file fuzz_matches.c
 * @brief Fuzz target: the kvcache-matches request note
 *        (kvc_matches_parse), which other modules may set, and the
 *        format∘parse round trip.
 *
 * The input up to its first NUL is the note.  Invariants: 0 with an
 * array or -1 with NULL; every id valid and unique, every count within
 * 0..KVC_TOKEN_MAX, locations NULL; at most one entry per 4 bytes
 * ("a=0" plus a blank); kvc_matches_format() of the result parses back to
 * the same entries, and formatting that again gives the same string (the
 * canonical form is a fixed point); kvc_matches_best() agrees with a
 * straightforward scan.
 */

#include <string.h>

#include "kvc_wire.h"

#include "fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    apr_pool_t *p = fz_begin();
    apr_array_header_t *m = (apr_array_header_t *)1, *back = NULL;
    char *note = fz_cstr(data, size);
    const kvc_match *best;
    const char *f1, *f2;
    int rc, i, j;

    rc = kvc_matches_parse(note, p, &m);
    FZ_CHECK(rc == 0 || rc == -1);
    if (rc == -1) {
        FZ_CHECK(m == NULL);
    }
    else {
        FZ_CHECK(m != NULL);
        FZ_CHECK((size_t)m->nelts <= (strlen(note) + 1) / 4);
        if (strspn(note, " \t") == strlen(note)) {
            FZ_CHECK(m->nelts == 0);
        }
        for (i = 0; i < m->nelts; i++) {
            const kvc_match *e = &APR_ARRAY_IDX(m, i, kvc_match);

            FZ_CHECK(e->instance_id != NULL && e->location == NULL);
            FZ_CHECK(
                kvc_route_id_valid(e->instance_id, strlen(e->instance_id)));
            FZ_CHECK(e->matched >= 0 && e->matched <= KVC_TOKEN_MAX);
            FZ_CHECK(strstr(note, e->instance_id) != NULL);
            for (j = 0; j < i; j++) {
                FZ_CHECK(strcmp(APR_ARRAY_IDX(m, j, kvc_match).instance_id,
                                e->instance_id)
                         != 0);
            }
        }

        f1 = kvc_matches_format(m, p);
        FZ_CHECK(f1 != NULL && strlen(f1) <= strlen(note));
        FZ_CHECK(kvc_matches_parse(f1, p, &back) == 0);
        FZ_CHECK(back->nelts == m->nelts);
        for (i = 0; i < m->nelts; i++) {
            const kvc_match *e = &APR_ARRAY_IDX(m, i, kvc_match);
            const kvc_match *g = &APR_ARRAY_IDX(back, i, kvc_match);

            FZ_CHECK(strcmp(e->instance_id, g->instance_id) == 0);
            FZ_CHECK(e->matched == g->matched);
        }
        f2 = kvc_matches_format(back, p);
        FZ_CHECK(strcmp(f1, f2) == 0);

        best = kvc_matches_best(m);
        FZ_CHECK((best == NULL) == (m->nelts == 0));
        for (i = 0; best != NULL && i < m->nelts; i++) {
            const kvc_match *e = &APR_ARRAY_IDX(m, i, kvc_match);

            FZ_CHECK(e->matched < best->matched
                     || (e->matched == best->matched
                         && strcmp(e->instance_id, best->instance_id) >= 0));
        }
    }
    FZ_CHECK(kvc_matches_parse(NULL, p, &back) == -1 && back == NULL);

    free(note);
    fz_end();
    return 0;
}
