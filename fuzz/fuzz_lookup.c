/**
 * @file fuzz_lookup.c
 * @brief Fuzz target: LMCache /lookup response (kvc_wire_parse_lookup),
 *        layout_info values in the real LMCache array form
 *        [location, n] and in Pixiu's object form {"0": location, "1": n}.
 *
 * Invariants: matches is never NULL; OK iff at least one match; every id
 * passes kvc_route_id_valid() and appears once; matched is within
 * 0..KVC_TOKEN_MAX; a location is NULL or a plain printable name of at
 * most 255 bytes; kvc_matches_format() of the result parses back
 * (kvc_matches_parse) to the same ids and counts in the same order;
 * kvc_matches_best() returns an element with the largest count.
 */

#include <string.h>

#include "kvc_wire.h"

#include "fuzz_common.h"

static int fz_plain_location(const char *s)
{
    size_t i, n = strlen(s);

    if (n < 1 || n > 255) {
        return 0;
    }
    for (i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];

        if (c <= 0x20 || c >= 0x7f || c == '"' || c == '\\') {
            return 0;
        }
    }
    return 1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    apr_pool_t *p = fz_begin();
    apr_array_header_t *m = NULL, *back = NULL;
    apr_size_t skipped = 12345;
    kvc_wire_status st;
    const kvc_match *best;
    const char *note;
    int i, j;

    st = kvc_wire_parse_lookup((const char *)data, size, p, &m, &skipped);
    FZ_CHECK(st == KVC_WIRE_OK || st == KVC_WIRE_EMPTY
             || st == KVC_WIRE_GARBAGE);
    FZ_CHECK(m != NULL);
    FZ_CHECK((st == KVC_WIRE_OK) == (m->nelts > 0));
    FZ_CHECK(skipped <= size);
    for (i = 0; i < m->nelts; i++) {
        const kvc_match *e = &APR_ARRAY_IDX(m, i, kvc_match);

        FZ_CHECK(e->instance_id != NULL);
        FZ_CHECK(kvc_route_id_valid(e->instance_id, strlen(e->instance_id)));
        FZ_CHECK(e->matched >= 0 && e->matched <= KVC_TOKEN_MAX);
        FZ_CHECK(e->location == NULL || fz_plain_location(e->location));
        for (j = 0; j < i; j++) {
            FZ_CHECK(strcmp(APR_ARRAY_IDX(m, j, kvc_match).instance_id,
                            e->instance_id)
                     != 0);
        }
    }

    /* What the request path notes is what the lbmethod reads back. */
    note = kvc_matches_format(m, p);
    FZ_CHECK(note != NULL);
    FZ_CHECK(kvc_matches_parse(note, p, &back) == 0);
    FZ_CHECK(back != NULL && back->nelts == m->nelts);
    for (i = 0; i < m->nelts; i++) {
        const kvc_match *e = &APR_ARRAY_IDX(m, i, kvc_match);
        const kvc_match *f = &APR_ARRAY_IDX(back, i, kvc_match);

        FZ_CHECK(strcmp(e->instance_id, f->instance_id) == 0);
        FZ_CHECK(e->matched == f->matched);
        FZ_CHECK(f->location == NULL);
    }

    best = kvc_matches_best(m);
    FZ_CHECK((best == NULL) == (m->nelts == 0));
    for (i = 0; best != NULL && i < m->nelts; i++) {
        FZ_CHECK(APR_ARRAY_IDX(m, i, kvc_match).matched <= best->matched);
    }

    fz_end();
    return 0;
}
