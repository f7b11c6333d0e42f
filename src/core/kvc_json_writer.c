/* Licensed under the Apache License, Version 2.0 (the "License"); you may not
 * use this file except in compliance with the License.  You may obtain a copy
 * of the License at http://www.apache.org/licenses/LICENSE-2.0
 */

/**
 * @file kvc_json_writer.c
 * @brief The JSON writer: containers, escaped strings, numbers and the
 *        token array.
 */

#include <locale.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "kvc_json.h"
#include "kvc_json_writer.h"

void kvc_json_writer_init(kvc_json_writer *w, apr_pool_t *p,
                          apr_size_t size_hint)
{
    memset(w, 0, sizeof(*w));
    w->pool = p;
    w->cap = (size_hint < 64) ? 64 : size_hint + 1;
    if (w->cap == 0) {
        /* size_hint was APR_SIZE_MAX: nothing that large can be built. */
        w->cap = 64;
        w->failed = 1;
    }
    w->buf = apr_palloc(p, w->cap);
}

static void kvc_fail(kvc_json_writer *w)
{
    w->failed = 1;
}

/* Room for n more bytes and the final NUL; regrowth doubles, so a
 * document costs at most about twice its size in the pool. */
static int kvc_reserve(kvc_json_writer *w, apr_size_t n)
{
    apr_size_t need, cap;
    char *grown;

    if (w->failed) {
        return 0;
    }
    if (w->cap - w->len > n) {
        return 1;
    }
    if (n > APR_SIZE_MAX - 1 - w->len) {
        kvc_fail(w);
        return 0;
    }
    need = w->len + n + 1;
    cap = (w->cap > APR_SIZE_MAX / 2) ? need : 2 * w->cap;
    if (cap < need) {
        cap = need;
    }
    grown = apr_palloc(w->pool, cap);
    memcpy(grown, w->buf, w->len);
    w->buf = grown;
    w->cap = cap;
    return 1;
}

static APR_INLINE void kvc_put(kvc_json_writer *w, const char *s, apr_size_t n)
{
    if (kvc_reserve(w, n)) {
        memcpy(w->buf + w->len, s, n);
        w->len += n;
    }
}

/* Whether a key (is_key) or a value may come next, writing the comma
 * that separates it from the item before.  A value sits one level below
 * its container, and no level may exceed KVC_JSON_MAX_DEPTH, the limit
 * every parser here applies. */
static int kvc_item(kvc_json_writer *w, int is_key)
{
    apr_uint64_t bit;
    int in_object;

    if (w->failed) {
        return 0;
    }
    if (w->depth == 0) {
        if (is_key || w->complete) {
            kvc_fail(w);
            return 0;
        }
        return 1;
    }
    if (w->depth >= KVC_JSON_MAX_DEPTH) {
        kvc_fail(w);
        return 0;
    }
    bit = APR_UINT64_C(1) << (w->depth - 1);
    in_object = (w->objects & bit) != 0;
    if (in_object && !is_key && w->value_due) {
        w->value_due = 0;
        return 1;
    }
    if (is_key != in_object || w->value_due) {
        kvc_fail(w);
        return 0;
    }
    if (w->filled & bit) {
        kvc_put(w, ",", 1);
    }
    w->filled |= bit;
    return !w->failed;
}

static void kvc_value_done(kvc_json_writer *w)
{
    if (w->depth == 0) {
        w->complete = 1;
    }
}

static void kvc_open(kvc_json_writer *w, int object)
{
    apr_uint64_t bit;

    if (!kvc_item(w, 0)) {
        return;
    }
    /* kvc_item() kept depth below KVC_JSON_MAX_DEPTH (64): the bit fits. */
    bit = APR_UINT64_C(1) << w->depth;
    kvc_put(w, object ? "{" : "[", 1);
    w->depth++;
    w->filled &= ~bit;
    if (object) {
        w->objects |= bit;
    }
    else {
        w->objects &= ~bit;
    }
}

static void kvc_close(kvc_json_writer *w, int object)
{
    apr_uint64_t bit;

    if (w->failed) {
        return;
    }
    if (w->depth == 0 || w->value_due) {
        kvc_fail(w);
        return;
    }
    bit = APR_UINT64_C(1) << (w->depth - 1);
    if (((w->objects & bit) != 0) != object) {
        kvc_fail(w);
        return;
    }
    kvc_put(w, object ? "}" : "]", 1);
    w->depth--;
    kvc_value_done(w);
}

void kvc_json_write_object_open(kvc_json_writer *w)
{
    kvc_open(w, 1);
}

void kvc_json_write_array_open(kvc_json_writer *w)
{
    kvc_open(w, 0);
}

void kvc_json_write_object_close(kvc_json_writer *w)
{
    kvc_close(w, 1);
}

void kvc_json_write_array_close(kvc_json_writer *w)
{
    kvc_close(w, 0);
}

/* The quoted, escaped string: plain bytes and well-formed UTF-8 are
 * copied in runs, everything else replaced by its escape. */
static void kvc_put_string(kvc_json_writer *w, const char *s, apr_size_t len)
{
    static const char hex[] = "0123456789abcdef";
    const unsigned char *p = (const unsigned char *)s;
    const unsigned char *end = p + len;
    const unsigned char *plain = p;

    /* Most strings need no escape: one reservation for all of it. */
    if (len > APR_SIZE_MAX - 2) {
        kvc_fail(w);
        return;
    }
    kvc_reserve(w, len + 2);
    kvc_put(w, "\"", 1);
    while (p < end) {
        unsigned c = *p;
        char esc[6];
        apr_size_t n;

        if (c >= 0x20 && c < 0x80 && c != '"' && c != '\\') {
            p++;
            continue;
        }
        if (c >= 0x80 && (n = kvc_json_utf8_len(p, end)) != 0) {
            p += n;
            continue;
        }
        kvc_put(w, (const char *)plain, (apr_size_t)(p - plain));
        if (c == '"' || c == '\\') {
            esc[0] = '\\';
            esc[1] = (char)c;
            kvc_put(w, esc, 2);
        }
        else if (c < 0x20) {
            memcpy(esc, "\\u00", 4);
            esc[4] = hex[c >> 4];
            esc[5] = hex[c & 0x0F];
            kvc_put(w, esc, 6);
        }
        else {
            kvc_put(w, "\\ufffd", 6);
        }
        plain = ++p;
    }
    kvc_put(w, (const char *)plain, (apr_size_t)(p - plain));
    kvc_put(w, "\"", 1);
}

void kvc_json_write_key(kvc_json_writer *w, const char *name)
{
    if (!kvc_item(w, 1)) {
        return;
    }
    kvc_put_string(w, name, strlen(name));
    kvc_put(w, ":", 1);
    w->value_due = 1;
}

void kvc_json_write_string(kvc_json_writer *w, const char *s, apr_size_t len)
{
    if (!kvc_item(w, 0)) {
        return;
    }
    kvc_put_string(w, s, len);
    kvc_value_done(w);
}

void kvc_json_write_cstring(kvc_json_writer *w, const char *s)
{
    if (s == NULL) {
        kvc_json_write_null(w);
        return;
    }
    kvc_json_write_string(w, s, strlen(s));
}

void kvc_json_write_null(kvc_json_writer *w)
{
    if (!kvc_item(w, 0)) {
        return;
    }
    kvc_put(w, "null", 4);
    kvc_value_done(w);
}

static const char kvc_digit_pairs[201] =
    "00010203040506070809101112131415161718192021222324252627282930313233"
    "34353637383940414243444546474849505152535455565758596061626364656667"
    "6869707172737475767778798081828384858687888990919293949596979899";

/* Writes v in decimal at o, two digits per step straight into place (a
 * scratch buffer plus memcpy() per id costs more than the digits). */
static APR_INLINE char *kvc_put_u32(char *o, apr_uint32_t v)
{
    unsigned n;
    char *d;

    if (v < 100000) {
        n = v < 100 ? (v < 10 ? 1 : 2) : (v < 1000 ? 3 : (v < 10000 ? 4 : 5));
    }
    else {
        n = v < 10000000 ? (v < 1000000 ? 6 : 7)
                         : (v < 100000000 ? 8 : (v < 1000000000 ? 9 : 10));
    }
    d = o + n;
    while (v >= 100) {
        unsigned r = (unsigned)(v % 100) * 2;

        v /= 100;
        *--d = kvc_digit_pairs[r + 1];
        *--d = kvc_digit_pairs[r];
    }
    if (v >= 10) {
        *--d = kvc_digit_pairs[v * 2 + 1];
        *--d = kvc_digit_pairs[v * 2];
    }
    else {
        *--d = (char)('0' + v);
    }
    return o + n;
}

/* Decimal digits of v, with a '-' in front if negative. */
static void kvc_put_integer(kvc_json_writer *w, apr_uint64_t magnitude,
                            int negative)
{
    char digits[21];
    char *d = digits + sizeof(digits);

    do {
        *--d = (char)('0' + magnitude % 10);
        magnitude /= 10;
    } while (magnitude != 0);
    if (negative) {
        *--d = '-';
    }
    kvc_put(w, d, (apr_size_t)(digits + sizeof(digits) - d));
}

void kvc_json_write_uint(kvc_json_writer *w, apr_uint64_t v)
{
    if (!kvc_item(w, 0)) {
        return;
    }
    kvc_put_integer(w, v, 0);
    kvc_value_done(w);
}

void kvc_json_write_int(kvc_json_writer *w, apr_int64_t v)
{
    if (!kvc_item(w, 0)) {
        return;
    }
    /* The magnitude of INT64_MIN only fits unsigned. */
    kvc_put_integer(
        w, v < 0 ? (apr_uint64_t)0 - (apr_uint64_t)v : (apr_uint64_t)v, v < 0);
    kvc_value_done(w);
}

void kvc_json_write_fixed(kvc_json_writer *w, double v, int decimals)
{
    /* "%.9f" of -DBL_MAX: a sign, 309 digits, a point and 9 more. */
    char text[400];
    const char *dp;
    char *at;
    kvc_json_scan s;
    int n;

    if (decimals < 0 || decimals > 9) {
        kvc_fail(w);
        return;
    }
    if (!isfinite(v)) {
        kvc_json_write_null(w);
        return;
    }
    if (!kvc_item(w, 0)) {
        return;
    }
    /* The C library rounds exactly (APR's formatter loses digits past
     * 1e80), but follows LC_NUMERIC, which another module's setlocale()
     * may have changed: the locale's separator becomes '.' again.
     */
    n = snprintf(text, sizeof(text), "%.*f", decimals, v);
    if (n <= 0 || (apr_size_t)n >= sizeof(text)) {
        kvc_fail(w);
        return;
    }
    dp = localeconv()->decimal_point;
    if (decimals > 0 && dp != NULL && *dp != '\0' && strcmp(dp, ".") != 0
        && (at = strstr(text, dp)) != NULL) {
        apr_size_t dplen = strlen(dp);

        *at = '.';
        memmove(at + 1, at + dplen, strlen(at + dplen) + 1);
        n -= (int)dplen - 1;
    }
    /* Whatever the library made of it, only a JSON number goes out. */
    s.p = text;
    s.end = text + n;
    if (!kvc_json_number(&s) || s.p != s.end) {
        kvc_fail(w);
        return;
    }
    kvc_put(w, text, (apr_size_t)n);
    kvc_value_done(w);
}

void kvc_json_write_tokens(kvc_json_writer *w, const kvc_tokens *t)
{
    /* Per id: a '-' a buggy caller might need, up to 10 digits, ','. */
    const apr_size_t per_id = 12;
    apr_size_t count = (t != NULL && t->ids != NULL) ? t->count : 0;
    const apr_int32_t *ids;
    apr_size_t i;
    char *o;

    if (!kvc_item(w, 0)) {
        return;
    }
    /* The ids sit one level below the array. */
    if ((count > 0 && w->depth + 2 > KVC_JSON_MAX_DEPTH)
        || count > (APR_SIZE_MAX - 2) / per_id
        || !kvc_reserve(w, count * per_id + 2)) {
        kvc_fail(w);
        return;
    }
    /* Locals the compiler can keep in registers: stores through o may
     * alias anything, *t included. */
    ids = (count > 0) ? t->ids : NULL;
    o = w->buf + w->len;
    *o++ = '[';
    for (i = 0; i < count; i++) {
        apr_int32_t v = ids[i];

        if (i != 0) {
            *o++ = ',';
        }
        if (v < 0) {
            *o++ = '-';
            o = kvc_put_u32(o, (apr_uint32_t)0 - (apr_uint32_t)v);
        }
        else {
            o = kvc_put_u32(o, (apr_uint32_t)v);
        }
    }
    *o++ = ']';
    w->len = (apr_size_t)(o - w->buf);
    kvc_value_done(w);
}

const char *kvc_json_writer_finish(kvc_json_writer *w, apr_size_t *len)
{
    if (w->failed || !w->complete) {
        return NULL;
    }
    /* kvc_reserve() always kept a byte for this NUL. */
    w->buf[w->len] = '\0';
    if (len != NULL) {
        *len = w->len;
    }
    return w->buf;
}
