/* Licensed under the Apache License, Version 2.0 (the "License"); you may not
 * use this file except in compliance with the License.  You may obtain a copy
 * of the License at http://www.apache.org/licenses/LICENSE-2.0
 */

/**
 * @file kvc_json.c
 * @brief The strict single-pass JSON scanner shared by the parsers of
 *        mod_kvcache.
 */

#include <string.h>

#include "kvc_json.h"

#define KVC_DIGIT(c) ((unsigned char)((c) - '0') <= 9)

/* Plain string bytes are skipped eight at a time where the byte order is
 * known: request bodies are mostly long prompt strings, and a byte-wise
 * loop over them is what the whole parse would cost.
 */
#if defined(__GNUC__) && defined(__BYTE_ORDER__)                               \
    && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
#define KVC_JSON_SWAR 1

#define KVC_ONES  APR_UINT64_C(0x0101010101010101)
#define KVC_HIGHS APR_UINT64_C(0x8080808080808080)

/* High bit set in each byte of x that a string cannot simply skip: '"',
 * '\\', a control character or a byte >= 0x80.  The zero-byte tests
 * ((v - 1) & ~v) may flag extra bytes, but only above a truly flagged
 * one (a borrow starts at a real match), so the lowest set bit is exact.
 */
static APR_INLINE apr_uint64_t kvc_special8(apr_uint64_t x)
{
    apr_uint64_t q = x ^ (KVC_ONES * '"');
    apr_uint64_t b = x ^ (KVC_ONES * '\\');

    return (((q - KVC_ONES) & ~q) | ((b - KVC_ONES) & ~b)
            | ((x - KVC_ONES * 0x20) & ~x) | x)
           & KVC_HIGHS;
}
#endif

static APR_INLINE int kvc_hex(unsigned char c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')
           || (c >= 'A' && c <= 'F');
}

static APR_INLINE unsigned kvc_hexval(unsigned char c)
{
    if (c <= '9') {
        return (unsigned)(c - '0');
    }
    return (unsigned)((c | 0x20) - 'a' + 10);
}

/* The four hex digits at p, already validated. */
static APR_INLINE unsigned kvc_hex4(const char *p)
{
    return (kvc_hexval((unsigned char)p[0]) << 12)
           | (kvc_hexval((unsigned char)p[1]) << 8)
           | (kvc_hexval((unsigned char)p[2]) << 4)
           | kvc_hexval((unsigned char)p[3]);
}

int kvc_json_string(kvc_json_scan *s, kvc_json_str *out)
{
    const unsigned char *start = (const unsigned char *)s->p + 1;
    const unsigned char *p = start;
    const unsigned char *end = (const unsigned char *)s->end;
    int escaped = 0;

    for (;;) {
        unsigned c;
        apr_size_t n;

#ifdef KVC_JSON_SWAR
        while (end - p >= 8) {
            apr_uint64_t x, m;

            memcpy(&x, p, sizeof(x));
            m = kvc_special8(x);
            if (m != 0) {
                p += (unsigned)__builtin_ctzll(m) >> 3;
                break;
            }
            p += 8;
        }
#endif
        if (p >= end) {
            return 0;
        }
        c = *p;
        if (c == '"') {
            break;
        }
        if (c == '\\') {
            if (end - p < 2) {
                return 0;
            }
            switch (p[1]) {
            case '"':
            case '\\':
            case '/':
            case 'b':
            case 'f':
            case 'n':
            case 'r':
            case 't': p += 2; break;
            case 'u':
                if (end - p < 6 || !kvc_hex(p[2]) || !kvc_hex(p[3])
                    || !kvc_hex(p[4]) || !kvc_hex(p[5])) {
                    return 0;
                }
                p += 6;
                break;
            default: return 0;
            }
            escaped = 1;
            continue;
        }
        if (c < 0x20) {
            return 0;
        }
        if (c < 0x80) {
            p++;
            continue;
        }
        if ((n = kvc_json_utf8_len(p, end)) == 0) {
            return 0;
        }
        p += n;
    }
    if (out != NULL) {
        out->raw = (const char *)start;
        out->len = (apr_size_t)(p - start);
        out->escaped = escaped;
    }
    s->p = (const char *)p + 1;
    return 1;
}

int kvc_json_number(kvc_json_scan *s)
{
    const char *p = s->p;
    const char *end = s->end;

    if (p < end && *p == '-') {
        p++;
    }
    if (p >= end) {
        return 0;
    }
    if (*p == '0') {
        p++;
    }
    else if (*p >= '1' && *p <= '9') {
        while (p < end && KVC_DIGIT(*p)) {
            p++;
        }
    }
    else {
        return 0;
    }
    if (p < end && *p == '.') {
        p++;
        if (p >= end || !KVC_DIGIT(*p)) {
            return 0;
        }
        while (p < end && KVC_DIGIT(*p)) {
            p++;
        }
    }
    if (p < end && (*p == 'e' || *p == 'E')) {
        p++;
        if (p < end && (*p == '+' || *p == '-')) {
            p++;
        }
        if (p >= end || !KVC_DIGIT(*p)) {
            return 0;
        }
        while (p < end && KVC_DIGIT(*p)) {
            p++;
        }
    }
    s->p = p;
    return 1;
}

int kvc_json_literal(kvc_json_scan *s, const char *lit, apr_size_t n)
{
    if ((apr_size_t)(s->end - s->p) < n || memcmp(s->p, lit, n) != 0) {
        return 0;
    }
    s->p += n;
    return 1;
}

/* Consumes  ws "name" ws : ws  leaving s->p at the value. */
static int kvc_json_name(kvc_json_scan *s, kvc_json_str *name)
{
    kvc_json_skip_ws(s);
    if (s->p >= s->end || *s->p != '"' || !kvc_json_string(s, name)) {
        return 0;
    }
    kvc_json_skip_ws(s);
    if (s->p >= s->end || *s->p != ':') {
        return 0;
    }
    s->p++;
    kvc_json_skip_ws(s);
    return s->p < s->end;
}

/* One step through an object or array closed by `closer`: past the closer
 * (END), or at the next item, past the comma that follows every item but
 * the last (ITEM). */
static kvc_json_step kvc_json_next(kvc_json_scan *s, apr_size_t *count,
                                   char closer)
{
    kvc_json_skip_ws(s);
    if (s->p >= s->end) {
        return KVC_JSON_ERROR;
    }
    if (*s->p == closer) {
        s->p++;
        return KVC_JSON_END;
    }
    if (*count > 0) {
        if (*s->p != ',') {
            return KVC_JSON_ERROR;
        }
        s->p++;
        kvc_json_skip_ws(s);
        if (s->p >= s->end) {
            return KVC_JSON_ERROR;
        }
    }
    (*count)++;
    return KVC_JSON_ITEM;
}

kvc_json_step kvc_json_member(kvc_json_scan *s, apr_size_t *count,
                              kvc_json_str *name)
{
    kvc_json_step step = kvc_json_next(s, count, '}');

    if (step == KVC_JSON_ITEM && !kvc_json_name(s, name)) {
        return KVC_JSON_ERROR;
    }
    return step;
}

kvc_json_step kvc_json_element(kvc_json_scan *s, apr_size_t *count)
{
    return kvc_json_next(s, count, ']');
}

/* Iterative with a fixed stack, so hostile nesting costs neither C stack
 * nor heap.  Like json-c, every value, scalar or container, sits one
 * level below its container and no level may exceed KVC_JSON_MAX_DEPTH,
 * so the scanner refuses exactly the documents json-c's depth limit
 * refuses.
 */
int kvc_json_skip_value(kvc_json_scan *s, int depth)
{
    char stack[KVC_JSON_MAX_DEPTH];
    int top = 0;

    for (;;) {
        kvc_json_skip_ws(s);
        if (s->p >= s->end || depth + top >= KVC_JSON_MAX_DEPTH) {
            return 0;
        }
        switch (*s->p) {
        case '{':
        case '[':
            stack[top++] = (*s->p == '{') ? '}' : ']';
            s->p++;
            kvc_json_skip_ws(s);
            if (s->p >= s->end) {
                return 0;
            }
            if (*s->p == stack[top - 1]) {
                /* An empty container is a complete value. */
                s->p++;
                top--;
                break;
            }
            if (stack[top - 1] == '}' && !kvc_json_name(s, NULL)) {
                return 0;
            }
            continue;
        case '"':
            if (!kvc_json_string(s, NULL)) {
                return 0;
            }
            break;
        case 't':
            if (!kvc_json_literal(s, "true", 4)) {
                return 0;
            }
            break;
        case 'f':
            if (!kvc_json_literal(s, "false", 5)) {
                return 0;
            }
            break;
        case 'n':
            if (!kvc_json_literal(s, "null", 4)) {
                return 0;
            }
            break;
        default:
            if (!kvc_json_number(s)) {
                return 0;
            }
            break;
        }

        /* A value is complete: close containers until one continues. */
        for (;;) {
            if (top == 0) {
                return 1;
            }
            kvc_json_skip_ws(s);
            if (s->p >= s->end) {
                return 0;
            }
            if (*s->p == ',') {
                s->p++;
                if (stack[top - 1] == '}' && !kvc_json_name(s, NULL)) {
                    return 0;
                }
                break;
            }
            if (*s->p != stack[top - 1]) {
                return 0;
            }
            s->p++;
            top--;
        }
    }
}

/* The escape at p (a backslash of a validated string, whose end is end):
 * its code point in *cp and its length, 2 or 6, or 12 for an escaped
 * surrogate pair, which is one character (as in Python's json; json-c
 * 0.16 wrongly decodes some to U+FFFD).  An unpaired escaped surrogate
 * is U+FFFD (as in json-c); the escape after it, if any, stands alone.
 */
static APR_INLINE apr_size_t kvc_unescape(const char *p, const char *end,
                                          unsigned *cp)
{
    switch (p[1]) {
    case 'b': *cp = '\b'; return 2;
    case 'f': *cp = '\f'; return 2;
    case 'n': *cp = '\n'; return 2;
    case 'r': *cp = '\r'; return 2;
    case 't': *cp = '\t'; return 2;
    case 'u': break;
    default: *cp = (unsigned char)p[1]; return 2;
    }
    *cp = kvc_hex4(p + 2);
    if (*cp < 0xD800 || *cp > 0xDFFF) {
        return 6;
    }
    if (*cp <= 0xDBFF && end - p >= 12 && p[6] == '\\' && p[7] == 'u') {
        unsigned lo = kvc_hex4(p + 8);

        if (lo >= 0xDC00 && lo <= 0xDFFF) {
            *cp = 0x10000 + ((*cp - 0xD800) << 10) + (lo - 0xDC00);
            return 12;
        }
    }
    *cp = 0xFFFD;
    return 6;
}

int kvc_json_str_is(const kvc_json_str *str, const char *lit)
{
    const char *raw = str->raw;
    const char *end = raw + str->len;

    if (!str->escaped) {
        return strlen(lit) == str->len && memcmp(raw, lit, str->len) == 0;
    }
    /* The string was validated: every backslash starts a whole escape. */
    while (raw < end) {
        unsigned cp;

        if (*lit == '\0') {
            return 0;
        }
        if (*raw != '\\') {
            cp = (unsigned char)*raw++;
        }
        else {
            raw += kvc_unescape(raw, end, &cp);
        }
        /* A non-ASCII character never equals an ASCII literal. */
        if (cp != (unsigned char)*lit) {
            return 0;
        }
        lit++;
    }
    return *lit == '\0';
}

unsigned kvc_json_str_next(const kvc_json_str *str, apr_size_t *pos)
{
    const unsigned char *p = (const unsigned char *)str->raw + *pos;
    unsigned cp;

    if (*p == '\\') {
        *pos += kvc_unescape((const char *)p, str->raw + str->len, &cp);
        return cp;
    }
    /* Validated UTF-8: the lead byte tells the length. */
    if (*p < 0x80) {
        *pos += 1;
        return *p;
    }
    if (*p < 0xE0) {
        *pos += 2;
        return ((p[0] & 0x1Fu) << 6) | (p[1] & 0x3Fu);
    }
    if (*p < 0xF0) {
        *pos += 3;
        return ((p[0] & 0x0Fu) << 12) | ((p[1] & 0x3Fu) << 6) | (p[2] & 0x3Fu);
    }
    *pos += 4;
    return ((p[0] & 0x07u) << 18) | ((p[1] & 0x3Fu) << 12)
           | ((p[2] & 0x3Fu) << 6) | (p[3] & 0x3Fu);
}

static APR_INLINE char *kvc_put_utf8(char *o, unsigned cp)
{
    if (cp < 0x80) {
        *o++ = (char)cp;
    }
    else if (cp < 0x800) {
        *o++ = (char)(0xC0 | (cp >> 6));
        *o++ = (char)(0x80 | (cp & 0x3F));
    }
    else if (cp < 0x10000) {
        *o++ = (char)(0xE0 | (cp >> 12));
        *o++ = (char)(0x80 | ((cp >> 6) & 0x3F));
        *o++ = (char)(0x80 | (cp & 0x3F));
    }
    else {
        *o++ = (char)(0xF0 | (cp >> 18));
        *o++ = (char)(0x80 | ((cp >> 12) & 0x3F));
        *o++ = (char)(0x80 | ((cp >> 6) & 0x3F));
        *o++ = (char)(0x80 | (cp & 0x3F));
    }
    return o;
}

apr_size_t kvc_json_decode(const kvc_json_str *str, char *out)
{
    const char *p = str->raw;
    const char *end = p + str->len;
    char *o = out;

    if (!str->escaped) {
        if (str->len > 0) {
            memcpy(out, p, str->len);
        }
        return str->len;
    }
    /* Validated: every backslash starts a whole escape.  Output never
     * outgrows input: \uXXXX (6 bytes) gives at most 3, a pair (12) 4.
     */
    while (p < end) {
        const char *bs = memchr(p, '\\', (apr_size_t)(end - p));
        unsigned cp;

        if (bs == NULL) {
            memcpy(o, p, (apr_size_t)(end - p));
            o += end - p;
            break;
        }
        memcpy(o, p, (apr_size_t)(bs - p));
        o += bs - p;
        p = bs + kvc_unescape(bs, end, &cp);
        o = kvc_put_utf8(o, cp);
    }
    return (apr_size_t)(o - out);
}

int kvc_json_valid(const char *buf, apr_size_t len)
{
    kvc_json_scan s;

    if (buf == NULL) {
        return 0;
    }
    s.p = buf;
    s.end = buf + len;
    if (!kvc_json_skip_value(&s, 0)) {
        return 0;
    }
    kvc_json_skip_ws(&s);
    return s.p == s.end;
}
