/* Licensed under the Apache License, Version 2.0 (the "License"); you may not
 * use this file except in compliance with the License.  You may obtain a copy
 * of the License at http://www.apache.org/licenses/LICENSE-2.0
 */

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
 *
 * Differential: anything but garbage is strict JSON and valid UTF-8
 * (fz_json_strict, fz_utf8_valid); and for those, unless they hold an
 * escaped NUL or high surrogate (see fz_jsonc_parse's users), status,
 * matches (ids, locations, counts, order) and skipped count equal what
 * the documented rules give on json-c's tree: the implementation the
 * module had before it read /lookup with its own scanner, kept here as
 * the reference.
 */

#include <string.h>

#include <json.h>

#include "kvc_json.h"
#include "kvc_wire.h"

#include "apr_strings.h"

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

/* ---- the reference: the rules of kvc_wire.h on json-c's tree ---- */

/* Token counts arrive as 512 or, from some serializers, 512.0. */
static int fz_ref_count(json_object *v, long *out)
{
    if (json_object_is_type(v, json_type_int)) {
        int64_t n = json_object_get_int64(v);

        if (n < 0 || n > KVC_TOKEN_MAX) {
            return 0;
        }
        *out = (long)n;
        return 1;
    }
    if (json_object_is_type(v, json_type_double)) {
        double d = json_object_get_double(v);

        if (!(d >= 0 && d <= (double)KVC_TOKEN_MAX) || (double)(long)d != d) {
            return 0;
        }
        *out = (long)d;
        return 1;
    }
    return 0;
}

static const char *fz_ref_location(json_object *v, apr_pool_t *p)
{
    const char *s = json_object_get_string(v);
    int len = json_object_get_string_len(v);

    if (s == NULL || len < 1 || len > 255) {
        return NULL;
    }
    return fz_plain_location(s) && (int)strlen(s) == len
               ? apr_pstrmemdup(p, s, (apr_size_t)len)
               : NULL;
}

static int fz_ref_value(json_object *v, apr_pool_t *p, kvc_match *m)
{
    json_object *loc = NULL, *num = NULL;

    if (json_object_is_type(v, json_type_array)) {
        if (json_object_array_length(v) != 2) {
            return 0;
        }
        loc = json_object_array_get_idx(v, 0);
        num = json_object_array_get_idx(v, 1);
    }
    else if (json_object_is_type(v, json_type_object)) {
        if (!json_object_object_get_ex(v, "0", &loc)
            || !json_object_object_get_ex(v, "1", &num)) {
            return 0;
        }
    }
    else {
        return 0;
    }
    if (!json_object_is_type(loc, json_type_string)
        || !fz_ref_count(num, &m->matched)) {
        return 0;
    }
    m->location = fz_ref_location(loc, p);
    return 1;
}

static kvc_wire_status fz_ref_lookup(json_object *root, apr_pool_t *p,
                                     apr_array_header_t *arr, size_t *bad)
{
    json_object *layout;

    *bad = 0;
    if (!json_object_is_type(root, json_type_object)) {
        return KVC_WIRE_GARBAGE;
    }
    /* json-c represents null as a NULL object. */
    if (!json_object_object_get_ex(root, "layout_info", &layout)
        || layout == NULL) {
        return KVC_WIRE_EMPTY;
    }
    if (!json_object_is_type(layout, json_type_object)) {
        return KVC_WIRE_GARBAGE;
    }
    {
        json_object_object_foreach(layout, id, val)
        {
            kvc_match m;

            if (!kvc_route_id_valid(id, strlen(id))
                || !fz_ref_value(val, p, &m)) {
                (*bad)++;
                continue;
            }
            m.instance_id = apr_pstrdup(p, id);
            APR_ARRAY_PUSH(arr, kvc_match) = m;
        }
    }
    return (arr->nelts > 0) ? KVC_WIRE_OK : KVC_WIRE_EMPTY;
}

static void fz_differential(const uint8_t *data, size_t size, apr_pool_t *p,
                            kvc_wire_status st, const apr_array_header_t *m,
                            apr_size_t skipped)
{
    apr_array_header_t *ref = apr_array_make(p, 4, sizeof(kvc_match));
    json_object *root = NULL;
    size_t ref_bad = 0;
    int strict, i;

    strict = fz_json_strict(data, size, KVC_JSON_MAX_DEPTH)
             && fz_utf8_valid(data, size);
    if (st != KVC_WIRE_GARBAGE) {
        FZ_CHECK(strict);
    }
    if (!strict || fz_has_nul_escape(data, size)
        || fz_has_high_surrogate(data, size)) {
        return;
    }
    FZ_CHECK(fz_jsonc_parse((const char *)data, size, &root) == APR_SUCCESS);
    FZ_CHECK(fz_ref_lookup(root, p, ref, &ref_bad) == st);
    json_object_put(root);
    FZ_CHECK(ref->nelts == m->nelts);
    FZ_CHECK(ref_bad == skipped);
    for (i = 0; i < m->nelts; i++) {
        const kvc_match *a = &APR_ARRAY_IDX(m, i, kvc_match);
        const kvc_match *b = &APR_ARRAY_IDX(ref, i, kvc_match);

        FZ_CHECK(strcmp(a->instance_id, b->instance_id) == 0);
        FZ_CHECK(a->matched == b->matched);
        FZ_CHECK((a->location == NULL) == (b->location == NULL));
        FZ_CHECK(a->location == NULL || strcmp(a->location, b->location) == 0);
    }
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

    fz_jsonc_selftest();
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

    fz_differential(data, size, p, st, m, skipped);

    fz_end();
    return 0;
}
