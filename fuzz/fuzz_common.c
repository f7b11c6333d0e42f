/* Licensed under the Apache License, Version 2.0 (the "License"); you may not
 * use this file except in compliance with the License.  You may obtain a copy
 * of the License at http://www.apache.org/licenses/LICENSE-2.0
 */

/**
 * @file fuzz_common.c
 * @brief Pool set-up and the exact-size apr_palloc() shim of the fuzz
 *        targets, the json-c front end and the reference checks they
 *        share (see fuzz_common.h).
 */

#include <limits.h>
#include <string.h>

#include <json.h>

#include "apr_general.h"

#include "kvc_json.h"

#include "fuzz_common.h"

static apr_pool_t *fz_root;
static apr_pool_t *fz_pool;
static void **fz_allocs;
static size_t fz_nallocs, fz_capallocs, fz_nbytes;
static int fz_tracking;

/* Provided by the linker under -Wl,--wrap=apr_palloc. */
void *__real_apr_palloc(apr_pool_t *p, apr_size_t size);
void *__wrap_apr_palloc(apr_pool_t *p, apr_size_t size);

void *__wrap_apr_palloc(apr_pool_t *p, apr_size_t size)
{
    void *m;

    if (!fz_tracking) {
        return __real_apr_palloc(p, size);
    }
    if (fz_nallocs == fz_capallocs) {
        size_t cap = fz_capallocs ? 2 * fz_capallocs : 64;
        void **grown = realloc(fz_allocs, cap * sizeof(*grown));

        if (grown == NULL) {
            abort();
        }
        fz_allocs = grown;
        fz_capallocs = cap;
    }
    /* malloc(0) may return NULL; apr_palloc(p, 0) never does. */
    m = malloc(size ? size : 1);
    if (m == NULL) {
        abort();
    }
    fz_allocs[fz_nallocs++] = m;
    fz_nbytes += size;
    return m;
}

/* Provided by the linker under -Wl,--wrap=apr_generate_random_bytes: the
 * core seeds its hash tables at random (kvc_lru), which would make the
 * course of a run, and whether a crash reproduces, a matter of chance.
 * Under the fuzzers every "random" byte is the same. */
apr_status_t __wrap_apr_generate_random_bytes(unsigned char *buf,
                                              apr_size_t length);

apr_status_t __wrap_apr_generate_random_bytes(unsigned char *buf,
                                              apr_size_t length)
{
    memset(buf, 0x5a, length);
    return APR_SUCCESS;
}

apr_pool_t *fz_begin(void)
{
    if (fz_root == NULL) {
        if (apr_initialize() != APR_SUCCESS
            || apr_pool_create(&fz_root, NULL) != APR_SUCCESS) {
            abort();
        }
    }
    if (apr_pool_create(&fz_pool, fz_root) != APR_SUCCESS) {
        abort();
    }
    fz_tracking = 1;
    return fz_pool;
}

void fz_end(void)
{
    size_t i;

    fz_tracking = 0;
    if (fz_pool != NULL) {
        apr_pool_destroy(fz_pool);
        fz_pool = NULL;
    }
    for (i = 0; i < fz_nallocs; i++) {
        free(fz_allocs[i]);
    }
    fz_nallocs = 0;
    fz_nbytes = 0;
}

size_t fz_allocations(void)
{
    return fz_nallocs;
}

size_t fz_allocated_bytes(void)
{
    return fz_nbytes;
}

char *fz_cstr(const uint8_t *data, size_t size)
{
    const uint8_t *nul = memchr(data, '\0', size);
    size_t n = nul ? (size_t)(nul - data) : size;
    char *s = malloc(n + 1);

    if (s == NULL) {
        abort();
    }
    memcpy(s, data, n);
    s[n] = '\0';
    return s;
}

int fz_utf8_valid(const uint8_t *s, size_t len)
{
    size_t i = 0;

    while (i < len) {
        uint8_t c = s[i];
        size_t n;
        uint32_t cp;

        if (c < 0x80) {
            i++;
            continue;
        }
        if (c >= 0xC2 && c <= 0xDF) {
            n = 1;
            cp = c & 0x1F;
        }
        else if (c >= 0xE0 && c <= 0xEF) {
            n = 2;
            cp = c & 0x0F;
        }
        else if (c >= 0xF0 && c <= 0xF4) {
            n = 3;
            cp = c & 0x07;
        }
        else {
            return 0;
        }
        if (len - i - 1 < n) {
            return 0;
        }
        for (size_t k = 1; k <= n; k++) {
            if ((s[i + k] & 0xC0) != 0x80) {
                return 0;
            }
            cp = (cp << 6) | (s[i + k] & 0x3F);
        }
        if ((n == 2 && cp < 0x800) || (n == 3 && cp < 0x10000) || cp > 0x10FFFF
            || (cp >= 0xD800 && cp <= 0xDFFF)) {
            return 0;
        }
        i += n + 1;
    }
    return 1;
}

int fz_has_nul_escape(const uint8_t *s, size_t len)
{
    size_t i;

    for (i = 0; i + 6 <= len; i++) {
        if (s[i] == '\\' && (s[i + 1] == 'u' || s[i + 1] == 'U')
            && s[i + 2] == '0' && s[i + 3] == '0' && s[i + 4] == '0'
            && s[i + 5] == '0') {
            return 1;
        }
    }
    return 0;
}

int fz_has_high_surrogate(const uint8_t *s, size_t len)
{
    size_t i;

    for (i = 0; i + 4 <= len; i++) {
        if (s[i] == '\\' && s[i + 1] == 'u' && (s[i + 2] | 0x20) == 'd'
            && ((s[i + 3] >= '8' && s[i + 3] <= '9')
                || ((s[i + 3] | 0x20) >= 'a' && (s[i + 3] | 0x20) <= 'b'))) {
            return 1;
        }
    }
    return 0;
}

/* ---- json-c front end ---- */

apr_status_t fz_jsonc_parse(const char *buf, size_t len, json_object **out)
{
    json_tokener *tok;
    json_object *obj;
    enum json_tokener_error err;

    *out = NULL;
    /* json-c alone is laxer (NaN, 00, raw tabs, overlong UTF-8); the
     * scanner makes it see only what every parser here accepts.
     */
    if (len > (size_t)INT_MAX || !kvc_json_valid(buf, len)) {
        return APR_EINVAL;
    }
    tok = json_tokener_new_ex(KVC_JSON_MAX_DEPTH);
    if (tok == NULL) {
        return APR_ENOMEM;
    }
    json_tokener_set_flags(tok, JSON_TOKENER_STRICT);
    obj = json_tokener_parse_ex(tok, buf, (int)len);
    err = json_tokener_get_error(tok);
    if (obj == NULL && err == json_tokener_continue) {
        /* A bare number has no closing character; json-c only finishes
         * it when shown the terminating NUL, which we pass separately
         * because the body has none.
         */
        obj = json_tokener_parse_ex(tok, "", 1);
        err = json_tokener_get_error(tok);
    }
    json_tokener_free(tok);
    /* Success with a NULL object is the document "null"; what follows
     * the value was checked to be whitespace.
     */
    if (err != json_tokener_success) {
        json_object_put(obj);
        return APR_EINVAL;
    }
    *out = obj;
    return APR_SUCCESS;
}

/* The scanner decides, json-c only builds the tree (these were the unit
 * tests of kvc_json_parse()). */
void fz_jsonc_selftest(void)
{
    static const char *const lax[] = { "{\"a\":NaN}",
                                       "{\"a\":00}",
                                       "{\"a\":\"x\ty\"}",
                                       "{\"a\":\"\xc0\x80\"}",
                                       "{\"a\":\"\xed\xa0\x80\"}",
                                       "{\"a\":1}x",
                                       "{\"a\":1} \v",
                                       "[1,]" };
    static int done;
    json_object *o = NULL;
    size_t i;

    if (done) {
        return;
    }
    done = 1;
    FZ_CHECK(fz_jsonc_parse("{\"a\":[1,\"b\"]} ", 14, &o) == APR_SUCCESS);
    FZ_CHECK(o != NULL && json_object_is_type(o, json_type_object));
    json_object_put(o);
    FZ_CHECK(fz_jsonc_parse("42", 2, &o) == APR_SUCCESS);
    FZ_CHECK(o != NULL && json_object_get_int(o) == 42);
    json_object_put(o);
    FZ_CHECK(fz_jsonc_parse("422", 2, &o) == APR_SUCCESS);
    FZ_CHECK(o != NULL && json_object_get_int(o) == 42);
    json_object_put(o);
    FZ_CHECK(fz_jsonc_parse(" null ", 6, &o) == APR_SUCCESS);
    FZ_CHECK(o == NULL);
    for (i = 0; i < sizeof(lax) / sizeof(*lax); i++) {
        o = (json_object *)lax;
        FZ_CHECK(fz_jsonc_parse(lax[i], strlen(lax[i]), &o) == APR_EINVAL);
        FZ_CHECK(o == NULL);
    }
    FZ_CHECK(fz_jsonc_parse(NULL, 0, &o) == APR_EINVAL);
    FZ_CHECK(fz_jsonc_parse("", 0, &o) == APR_EINVAL);
}

/* ---- strict JSON reference validator (recursive, depth-bounded) ---- */

typedef struct {
    const uint8_t *p, *end;
    int max_depth;
} fz_json;

static void fz_json_ws(fz_json *j)
{
    while (
        j->p < j->end
        && (*j->p == ' ' || *j->p == '\t' || *j->p == '\n' || *j->p == '\r')) {
        j->p++;
    }
}

static int fz_json_value(fz_json *j, int level);

static int fz_json_string(fz_json *j)
{
    j->p++; /* opening quote */
    while (j->p < j->end) {
        uint8_t c = *j->p++;

        if (c == '"') {
            return 1;
        }
        if (c < 0x20) {
            return 0;
        }
        if (c == '\\') {
            if (j->p >= j->end) {
                return 0;
            }
            c = *j->p++;
            if (c == 'u') {
                int k;

                for (k = 0; k < 4; k++) {
                    if (j->p >= j->end
                        || !((*j->p >= '0' && *j->p <= '9')
                             || (*j->p >= 'a' && *j->p <= 'f')
                             || (*j->p >= 'A' && *j->p <= 'F'))) {
                        return 0;
                    }
                    j->p++;
                }
            }
            else if (!strchr("\"\\/bfnrt", c) || c == '\0') {
                return 0;
            }
        }
    }
    return 0;
}

static int fz_json_digits(fz_json *j)
{
    const uint8_t *start = j->p;

    while (j->p < j->end && *j->p >= '0' && *j->p <= '9') {
        j->p++;
    }
    return j->p > start;
}

static int fz_json_number(fz_json *j)
{
    if (j->p < j->end && *j->p == '-') {
        j->p++;
    }
    if (j->p < j->end && *j->p == '0') {
        j->p++;
    }
    else if (!(j->p < j->end && *j->p >= '1' && *j->p <= '9')
             || !fz_json_digits(j)) {
        return 0;
    }
    if (j->p < j->end && *j->p == '.') {
        j->p++;
        if (!fz_json_digits(j)) {
            return 0;
        }
    }
    if (j->p < j->end && (*j->p == 'e' || *j->p == 'E')) {
        j->p++;
        if (j->p < j->end && (*j->p == '+' || *j->p == '-')) {
            j->p++;
        }
        if (!fz_json_digits(j)) {
            return 0;
        }
    }
    return 1;
}

static int fz_json_lit(fz_json *j, const char *lit)
{
    size_t n = strlen(lit);

    if ((size_t)(j->end - j->p) < n || memcmp(j->p, lit, n) != 0) {
        return 0;
    }
    j->p += n;
    return 1;
}

static int fz_json_value(fz_json *j, int level)
{
    fz_json_ws(j);
    if (j->p >= j->end || level > j->max_depth) {
        return 0;
    }
    switch (*j->p) {
    case '{':
        j->p++;
        fz_json_ws(j);
        if (j->p < j->end && *j->p == '}') {
            j->p++;
            return 1;
        }
        for (;;) {
            fz_json_ws(j);
            if (j->p >= j->end || *j->p != '"' || !fz_json_string(j)) {
                return 0;
            }
            fz_json_ws(j);
            if (j->p >= j->end || *j->p++ != ':'
                || !fz_json_value(j, level + 1)) {
                return 0;
            }
            fz_json_ws(j);
            if (j->p >= j->end) {
                return 0;
            }
            if (*j->p == '}') {
                j->p++;
                return 1;
            }
            if (*j->p++ != ',') {
                return 0;
            }
        }
    case '[':
        j->p++;
        fz_json_ws(j);
        if (j->p < j->end && *j->p == ']') {
            j->p++;
            return 1;
        }
        for (;;) {
            if (!fz_json_value(j, level + 1)) {
                return 0;
            }
            fz_json_ws(j);
            if (j->p >= j->end) {
                return 0;
            }
            if (*j->p == ']') {
                j->p++;
                return 1;
            }
            if (*j->p++ != ',') {
                return 0;
            }
        }
    case '"': return fz_json_string(j);
    case 't': return fz_json_lit(j, "true");
    case 'f': return fz_json_lit(j, "false");
    case 'n': return fz_json_lit(j, "null");
    default: return fz_json_number(j);
    }
}

int fz_json_strict(const uint8_t *s, size_t len, int max_depth)
{
    fz_json j;

    j.p = s;
    j.end = s + len;
    j.max_depth = max_depth;
    if (!fz_json_value(&j, 1)) {
        return 0;
    }
    fz_json_ws(&j);
    return j.p == j.end;
}
