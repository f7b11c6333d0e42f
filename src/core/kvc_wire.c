/* Licensed under the Apache License, Version 2.0 (the "License"); you may not
 * use this file except in compliance with the License.  You may obtain a copy
 * of the License at http://www.apache.org/licenses/LICENSE-2.0
 */

/**
 * @file kvc_wire.c
 * @brief Upstream wire formats: vLLM /tokenize, LMCache /lookup and the
 *        kvcache-matches note.
 */

#include <locale.h>
#include <stdlib.h>
#include <string.h>

#include "apr_hash.h"
#include "apr_strings.h"

#include "kvc_json.h"
#include "kvc_json_writer.h"
#include "kvc_wire.h"

#define KVC_DIGIT(c) ((unsigned char)((c) - '0') <= 9)

const char *kvc_wire_status_reason(kvc_wire_status status)
{
    switch (status) {
    case KVC_WIRE_OK: return "ok";
    case KVC_WIRE_GARBAGE: return "garbage";
    case KVC_WIRE_EMPTY: return "empty";
    }
    return "unknown";
}

/* ------------------------------------------------------------------ */
/* /tokenize response                                                 */
/* ------------------------------------------------------------------ */

/* Eight bytes at a time where the byte order is known: the digit count
 * and value of an id then cost a few multiplications instead of a serial
 * multiply-add and a mispredicted branch per digit, which is what keeps a
 * 128k-token response well under a millisecond.
 */
#if defined(__GNUC__) && defined(__BYTE_ORDER__)                               \
    && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
#define KVC_SWAR 1

/* Leading ASCII digits among the 8 bytes (first byte lowest), 0..8.  A
 * byte is a digit iff its high nibble is 3 and adding 6 keeps it 3.  The
 * +6 can carry out of a byte >= 0xFA, but only into later bytes, and
 * only the first non-digit matters.
 */
static APR_INLINE unsigned kvc_digit_run8(apr_uint64_t chunk)
{
    const apr_uint64_t hi = APR_UINT64_C(0xF0F0F0F0F0F0F0F0);
    const apr_uint64_t threes = APR_UINT64_C(0x3030303030303030);
    apr_uint64_t t =
        ((chunk & hi) ^ threes)
        | (((chunk + APR_UINT64_C(0x0606060606060606)) & hi) ^ threes);

    return t ? (unsigned)__builtin_ctzll(t) >> 3 : 8;
}

/* Value of the first n (1..8) bytes, all digits.  Shifting them to the
 * top leaves zero bytes below, which read as leading zeros; the usual
 * three multiply-shift steps then combine 1+1, 2+2 and 4+4 digits.
 */
static APR_INLINE apr_uint32_t kvc_digits_value8(apr_uint64_t chunk, unsigned n)
{
    apr_uint64_t v = chunk << (8 * (8 - n));

    v = ((v & APR_UINT64_C(0x0F0F0F0F0F0F0F0F)) * 2561) >> 8;
    v = ((v & APR_UINT64_C(0x00FF00FF00FF00FF)) * 6553601) >> 16;
    return (apr_uint32_t)(((v & APR_UINT64_C(0x0000FFFF0000FFFF))
                           * APR_UINT64_C(42949672960001))
                          >> 32);
}
#endif

/* One token id at *pp, bounded by end; 0 if there is none.  At most ten
 * digits are taken: they cannot overflow 64 bits, and an eleventh means
 * the id is out of range anyway (the separator check after the id
 * catches it).  A leading 0 takes no more digits, so "01" fails there
 * too; '-', ".5", strings and nested values fail here.
 */
static APR_INLINE int kvc_token_id(const char **pp, const char *end,
                                   apr_uint64_t *out)
{
    const char *p = *pp;
    const char *stop;
    apr_uint64_t v;
    unsigned d;

#ifdef KVC_SWAR
    if (end - p >= 8) {
        apr_uint64_t chunk;
        unsigned run;

        memcpy(&chunk, p, sizeof(chunk));
        run = kvc_digit_run8(chunk);
        if (run == 0) {
            return 0;
        }
        if ((chunk & 0xff) == '0') {
            run = 1;
        }
        v = kvc_digits_value8(chunk, run);
        p += run;
        if (run < 8) {
            *pp = p;
            *out = v;
            return 1;
        }
        stop = (end - p > 2) ? p + 2 : end;
    }
    else
#endif
    {
        if (p >= end) {
            return 0;
        }
        d = (unsigned)(unsigned char)*p - '0';
        if (d > 9) {
            return 0;
        }
        p++;
        v = d;
        stop = (d == 0) ? p : (end - p > 9) ? p + 9 : end;
    }
    while (p < stop && (d = (unsigned)(unsigned char)*p - '0') <= 9) {
        v = v * 10 + d;
        p++;
    }
    if (v > (apr_uint64_t)KVC_TOKEN_MAX) {
        return 0;
    }
    *pp = p;
    *out = v;
    return 1;
}

/* Where the ids of a "tokens" array go: one pool block, sized from the
 * bytes left when the first array starts.  Compact output spends six to
 * seven bytes per id of a 32k-256k vocabulary, so a fifth of the length
 * almost never needs the doubling below (which copies the ids and
 * strands the old block in the pool).  A repeated "tokens" reuses the
 * block: allocating one per member would let a body of many small
 * arrays cost memory quadratic in its length.
 */
typedef struct {
    apr_pool_t *pool;
    apr_int32_t *ids;
    apr_size_t cap;
} kvc_id_buffer;

/* The hot loop: an array of non-negative integers, s->p at '['.  On
 * failure s->p is unspecified and *t unchanged. */
static int kvc_scan_token_array(kvc_json_scan *s, kvc_id_buffer *buf,
                                kvc_tokens *t)
{
    const char *p = s->p + 1;
    const char *end = s->end;
    apr_int32_t *ids;
    apr_size_t n = 0, cap;

    while (p < end && KVC_JSON_WS(*p)) {
        p++;
    }
    if (p < end && *p == ']') {
        s->p = p + 1;
        t->ids = NULL;
        t->count = 0;
        return 1;
    }
    if (buf->ids == NULL) {
        buf->cap = (apr_size_t)(end - p) / 5 + 16;
        buf->ids = apr_palloc(buf->pool, buf->cap * sizeof(*buf->ids));
    }
    ids = buf->ids;
    cap = buf->cap;

    for (;;) {
        apr_uint64_t v;

        if (!kvc_token_id(&p, end, &v)) {
            return 0;
        }
        if (n == cap) {
            apr_int32_t *grown =
                apr_palloc(buf->pool, 2 * cap * sizeof(*grown));

            memcpy(grown, ids, n * sizeof(*ids));
            buf->ids = ids = grown;
            buf->cap = cap = 2 * cap;
        }
        ids[n++] = (apr_int32_t)v;

        /* Anything but blanks and then ',' or ']' ("1.0", "1e3", an
         * eleventh digit, "01") is not an id list.
         */
        while (p < end && KVC_JSON_WS(*p)) {
            p++;
        }
        if (p >= end) {
            return 0;
        }
        if (*p == ',') {
            p++;
            while (p < end && KVC_JSON_WS(*p)) {
                p++;
            }
            continue;
        }
        if (*p != ']') {
            return 0;
        }
        p++;
        break;
    }
    s->p = p;
    t->ids = ids;
    t->count = n;
    return 1;
}

kvc_wire_status kvc_wire_parse_tokens(const char *body, apr_size_t len,
                                      apr_pool_t *p, kvc_tokens *out)
{
    kvc_tokens found = { NULL, 0 };
    kvc_id_buffer buf = { p, NULL, 0 };
    kvc_json_scan s;
    kvc_json_step step;
    kvc_json_str name;
    apr_size_t count = 0;
    /* The last "tokens" seen is not null, [] or an id list. */
    int unusable = 0;

    out->ids = NULL;
    out->count = 0;
    if (body == NULL) {
        return KVC_WIRE_GARBAGE;
    }
    s.p = body;
    s.end = body + len;

    kvc_json_skip_ws(&s);
    if (s.p >= s.end || *s.p != '{') {
        return KVC_WIRE_GARBAGE;
    }
    s.p++;
    while ((step = kvc_json_member(&s, &count, &name)) == KVC_JSON_ITEM) {
        const char *value = s.p;

        if (!kvc_json_str_is(&name, "tokens")) {
            if (!kvc_json_skip_value(&s, 1)) {
                return KVC_WIRE_GARBAGE;
            }
            continue;
        }
        /* The last "tokens" wins, so an unusable one only decides when
         * no other follows: until then it need only be valid JSON.
         */
        unusable = 0;
        if (*s.p == '[' && kvc_scan_token_array(&s, &buf, &found)) {
            continue;
        }
        found.ids = NULL;
        found.count = 0;
        if (kvc_json_literal(&s, "null", 4)) {
            continue;
        }
        s.p = value;
        if (!kvc_json_skip_value(&s, 1)) {
            return KVC_WIRE_GARBAGE;
        }
        unusable = 1;
    }
    if (step == KVC_JSON_ERROR) {
        return KVC_WIRE_GARBAGE;
    }
    kvc_json_skip_ws(&s);
    if (s.p != s.end || unusable) {
        return KVC_WIRE_GARBAGE;
    }
    if (found.count == 0) {
        return KVC_WIRE_EMPTY;
    }
    *out = found;
    return KVC_WIRE_OK;
}

/* ------------------------------------------------------------------ */
/* /lookup request and cache-action bodies                            */
/* ------------------------------------------------------------------ */

/* Room for every id and some members around them, exactly: the body is
 * built without regrowth, and a 128k-token prompt's request takes the
 * 0.8 MB it needs rather than the 1.5 MB of 12 bytes per id, which counts
 * against what httpd keeps of freed memory (MaxMemFree).
 */
static apr_size_t kvc_body_size_hint(const kvc_tokens *t)
{
    apr_size_t count = (t != NULL && t->ids != NULL) ? t->count : 0;
    apr_size_t i, size = 1024;

    if (count >= (APR_SIZE_MAX - 1024) / 12) {
        return 0;
    }
    for (i = 0; i < count; i++) {
        apr_uint32_t v = t->ids[i] < 0
                             ? (apr_uint32_t)0 - (apr_uint32_t)t->ids[i]
                             : (apr_uint32_t)t->ids[i];

        /* digits, a comma, and a sign for a negative id */
        size += 2 + (t->ids[i] < 0) + (v >= 10) + (v >= 100) + (v >= 1000)
                + (v >= 10000) + (v >= 100000) + (v >= 1000000)
                + (v >= 10000000) + (v >= 100000000) + (v >= 1000000000);
    }
    return size;
}

const char *kvc_wire_lookup_request(const kvc_tokens *t, apr_pool_t *p,
                                    apr_size_t *len)
{
    kvc_json_writer w;

    kvc_json_writer_init(&w, p, kvc_body_size_hint(t));
    kvc_json_write_object_open(&w);
    kvc_json_write_key(&w, "tokens");
    kvc_json_write_tokens(&w, t);
    kvc_json_write_object_close(&w);
    return kvc_json_writer_finish(&w, len);
}

const char *kvc_wire_action_request(const kvc_wire_action *action,
                                    apr_pool_t *p, apr_size_t *len)
{
    kvc_json_writer w;

    if (action == NULL || action->instance_id == NULL) {
        return NULL;
    }
    kvc_json_writer_init(&w, p, kvc_body_size_hint(action->tokens));
    kvc_json_write_object_open(&w);
    kvc_json_write_key(&w, "instance_id");
    kvc_json_write_cstring(&w, action->instance_id);
    if (action->location != NULL) {
        kvc_json_write_key(&w, "location");
        kvc_json_write_cstring(&w, action->location);
    }
    if (action->method != NULL) {
        kvc_json_write_key(&w, "method");
        kvc_json_write_cstring(&w, action->method);
    }
    if (action->tokens != NULL) {
        kvc_json_write_key(&w, "tokens");
        kvc_json_write_tokens(&w, action->tokens);
    }
    kvc_json_write_object_close(&w);
    return kvc_json_writer_finish(&w, len);
}

/* ------------------------------------------------------------------ */
/* /lookup response                                                   */
/* ------------------------------------------------------------------ */

/* A layout_info member as it is read.  As in json-c and Python's json, a
 * repeated id keeps the position of its first occurrence and the value
 * of its last one, so entries are kept by decoded id until the object
 * closes.
 */
typedef struct {
    const char *id; /* decoded, NUL-terminated */
    apr_size_t id_len;
    int usable; /* the last value was well formed */
    kvc_match match;
} kvc_layout_entry;

/* A validated string, decoded and NUL-terminated, from the pool. */
static char *kvc_decoded(const kvc_json_str *str, apr_pool_t *p,
                         apr_size_t *len)
{
    char *out = apr_palloc(p, str->len + 1);

    *len = kvc_json_decode(str, out);
    out[*len] = '\0';
    return out;
}

/* The value of the JSON number [text, text+len) read as a double, the
 * way json-c and Python's json read a number with a fraction or an
 * exponent.  strtod() follows LC_NUMERIC, which another module may have
 * set, so it is shown the locale's decimal separator.
 */
static double kvc_decimal_value(const char *text, apr_size_t len, apr_pool_t *p)
{
    const char *dp = localeconv()->decimal_point;
    apr_size_t dplen = (dp != NULL) ? strlen(dp) : 0;
    char small[64], *buf, *o;
    apr_size_t i;

    if (dplen == 0) {
        dp = ".";
        dplen = 1;
    }
    /* A JSON number has at most one '.'. */
    buf =
        (len + dplen < sizeof(small)) ? small : apr_palloc(p, len + dplen + 1);
    for (i = 0, o = buf; i < len; i++) {
        if (text[i] == '.') {
            memcpy(o, dp, dplen);
            o += dplen;
        }
        else {
            *o++ = text[i];
        }
    }
    *o = '\0';
    /* Out of range gives HUGE_VAL or 0, as in json-c: both are judged
     * as values below. */
    return strtod(buf, NULL);
}

/* A token count at s->p (in a container, depth levels deep): a number
 * whose value is a whole number in 0..KVC_TOKEN_MAX.  512, 512.0, 5.12e2
 * and -0 are; 12.5, -1, 1e10 and anything but a number are not.
 * Returns -1 if the text is not valid JSON, 0 if it is no count, 1 with
 * the count in *out.
 */
static int kvc_lookup_count(kvc_json_scan *s, int depth, apr_pool_t *p,
                            long *out)
{
    const char *text = s->p;
    apr_size_t len, i, digits;
    apr_uint64_t v = 0;
    int negative, integral = 1;

    if (*text != '-' && !KVC_DIGIT(*text)) {
        return kvc_json_skip_value(s, depth) ? 0 : -1;
    }
    if (!kvc_json_number(s)) {
        return -1;
    }
    len = (apr_size_t)(s->p - text);
    for (i = 0; i < len; i++) {
        if (text[i] == '.' || text[i] == 'e' || text[i] == 'E') {
            integral = 0;
            break;
        }
    }
    if (!integral) {
        double d = kvc_decimal_value(text, len, p);

        /* The range test also rejects NaN; within range, the cast is
         * exact and tells whole values apart.
         */
        if (!(d >= 0 && d <= (double)KVC_TOKEN_MAX) || (double)(long)d != d) {
            return 0;
        }
        *out = (long)d;
        return 1;
    }
    /* An integer: only "-0" may carry a sign.  Ten digits cannot overflow
     * 64 bits, and more are out of range anyway. */
    negative = (*text == '-');
    digits = len - (apr_size_t)negative;
    if (digits > 10) {
        return 0;
    }
    for (i = (apr_size_t)negative; i < len; i++) {
        v = v * 10 + (apr_uint64_t)(text[i] - '0');
    }
    if (v > (apr_uint64_t)KVC_TOKEN_MAX || (negative && v != 0)) {
        return 0;
    }
    *out = (long)v;
    return 1;
}

/* Locations are echoed to LMCache and to logs; a name that is not plain
 * printable ASCII is dropped rather than carried around.
 */
static const char *kvc_lookup_location(const kvc_json_str *loc, apr_pool_t *p)
{
    apr_size_t len, i;
    char *s;

    /* An escape of six bytes decodes to one at least, so nothing longer
     * decodes to 255 bytes or fewer.
     */
    if (loc->len == 0 || loc->len > 6 * 255) {
        return NULL;
    }
    s = kvc_decoded(loc, p, &len);
    if (len < 1 || len > 255) {
        return NULL;
    }
    for (i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];

        if (c <= 0x20 || c >= 0x7f || c == '"' || c == '\\') {
            return NULL;
        }
    }
    return s;
}

/* A layout_info value (level 3) at s->p: [location, n] (LMCache) or
 * {"0": location, "1": n} (Pixiu's mock), where a repeated "0" or "1"
 * counts with its last value.  Returns -1 if the text is not valid JSON,
 * 0 if the value is malformed, 1 with m's location and count set.
 */
static int kvc_lookup_value(kvc_json_scan *s, apr_pool_t *p, kvc_match *m)
{
    kvc_json_str loc, name;
    kvc_json_step step;
    apr_size_t count = 0;
    int has_loc = 0, has_count = 0, r;
    long n = 0;

    if (*s->p != '[' && *s->p != '{') {
        return kvc_json_skip_value(s, 2) ? 0 : -1;
    }
    if (*s->p++ == '[') {
        while ((step = kvc_json_element(s, &count)) == KVC_JSON_ITEM) {
            if (count == 1 && *s->p == '"') {
                if (!kvc_json_string(s, &loc)) {
                    return -1;
                }
                has_loc = 1;
            }
            else if (count == 2) {
                if ((r = kvc_lookup_count(s, 3, p, &n)) < 0) {
                    return -1;
                }
                has_count = r;
            }
            else if (!kvc_json_skip_value(s, 3)) {
                return -1;
            }
        }
        if (count != 2) {
            has_loc = 0;
        }
    }
    else {
        while ((step = kvc_json_member(s, &count, &name)) == KVC_JSON_ITEM) {
            if (kvc_json_str_is(&name, "0")) {
                has_loc = (*s->p == '"');
                if (has_loc ? !kvc_json_string(s, &loc)
                            : !kvc_json_skip_value(s, 3)) {
                    return -1;
                }
            }
            else if (kvc_json_str_is(&name, "1")) {
                if ((r = kvc_lookup_count(s, 3, p, &n)) < 0) {
                    return -1;
                }
                has_count = r;
            }
            else if (!kvc_json_skip_value(s, 3)) {
                return -1;
            }
        }
    }
    if (step != KVC_JSON_END) {
        return -1;
    }
    if (!has_loc || !has_count) {
        return 0;
    }
    m->matched = n;
    m->location = kvc_lookup_location(&loc, p);
    return 1;
}

/* The object of layout_info (level 2) at s->p: its entries, by decoded
 * id, in the order the ids first appear.  0 if it is not valid JSON.
 */
static int kvc_lookup_layout(kvc_json_scan *s, apr_pool_t *p,
                             apr_array_header_t *entries)
{
    apr_hash_t *position = apr_hash_make(p);
    kvc_json_step step;
    kvc_json_str name;
    apr_size_t count = 0;

    s->p++;
    while ((step = kvc_json_member(s, &count, &name)) == KVC_JSON_ITEM) {
        kvc_layout_entry *e;
        kvc_match m;
        apr_size_t id_len;
        char *id = kvc_decoded(&name, p, &id_len);
        /* 1 + the entry's index; NULL for an id not seen yet */
        apr_uintptr_t at =
            (apr_uintptr_t)apr_hash_get(position, id, (apr_ssize_t)id_len);
        int r = kvc_lookup_value(s, p, &m);

        if (r < 0) {
            return 0;
        }
        if (at == 0) {
            e = apr_array_push(entries);
            e->id = id;
            e->id_len = id_len;
            apr_hash_set(position, id, (apr_ssize_t)id_len,
                         (void *)(apr_uintptr_t)entries->nelts);
        }
        else {
            e = &APR_ARRAY_IDX(entries, (int)(at - 1), kvc_layout_entry);
        }
        e->usable = r;
        if (r) {
            e->match = m;
        }
    }
    return step == KVC_JSON_END;
}

/* Whether a validated JSON text holds the escape \u0000.  Backslashes
 * occur only in escapes there, and each escape is a backslash and one
 * more byte (a \u's hex digits hold none): walking from one to the next
 * never mistakes an escaped backslash for the start of an escape.
 */
static int kvc_has_escaped_nul(const char *text, apr_size_t len)
{
    const char *p = text;
    const char *end = text + len;

    while ((p = memchr(p, '\\', (apr_size_t)(end - p))) != NULL) {
        if (end - p >= 6 && memcmp(p + 1, "u0000", 5) == 0) {
            return 1;
        }
        p += 2;
    }
    return 0;
}

kvc_wire_status kvc_wire_parse_lookup(const char *body, apr_size_t len,
                                      apr_pool_t *p,
                                      apr_array_header_t **matches,
                                      apr_size_t *skipped)
{
    /* What the last layout_info was. */
    enum {
        KVC_LAYOUT_NONE,
        KVC_LAYOUT_OBJECT,
        KVC_LAYOUT_OTHER
    } layout = KVC_LAYOUT_NONE;
    apr_array_header_t *arr, *entries = NULL;
    kvc_json_scan s;
    kvc_json_step step;
    kvc_json_str name;
    apr_size_t count = 0, bad = 0;
    int i;

    arr = apr_array_make(p, 4, sizeof(kvc_match));
    *matches = arr;
    if (skipped != NULL) {
        *skipped = 0;
    }
    if (body == NULL) {
        return KVC_WIRE_GARBAGE;
    }
    s.p = body;
    s.end = body + len;
    kvc_json_skip_ws(&s);
    if (s.p >= s.end || *s.p != '{') {
        return KVC_WIRE_GARBAGE;
    }
    s.p++;
    while ((step = kvc_json_member(&s, &count, &name)) == KVC_JSON_ITEM) {
        if (!kvc_json_str_is(&name, "layout_info")) {
            if (!kvc_json_skip_value(&s, 1)) {
                return KVC_WIRE_GARBAGE;
            }
        }
        else if (*s.p == '{') {
            /* The last layout_info wins: its entries start afresh. */
            entries = apr_array_make(p, 8, sizeof(kvc_layout_entry));
            if (!kvc_lookup_layout(&s, p, entries)) {
                return KVC_WIRE_GARBAGE;
            }
            layout = KVC_LAYOUT_OBJECT;
        }
        else if (kvc_json_literal(&s, "null", 4)) {
            layout = KVC_LAYOUT_NONE;
        }
        else {
            if (!kvc_json_skip_value(&s, 1)) {
                return KVC_WIRE_GARBAGE;
            }
            layout = KVC_LAYOUT_OTHER;
        }
    }
    if (step == KVC_JSON_ERROR) {
        return KVC_WIRE_GARBAGE;
    }
    kvc_json_skip_ws(&s);
    /* No real answer holds an escaped NUL; a C string cut at one would
     * make "vllm-a\u0000x" the id vllm-a (json-c did just that). */
    if (s.p != s.end || kvc_has_escaped_nul(body, len)
        || layout == KVC_LAYOUT_OTHER) {
        return KVC_WIRE_GARBAGE;
    }
    if (layout == KVC_LAYOUT_NONE) {
        return KVC_WIRE_EMPTY;
    }
    for (i = 0; i < entries->nelts; i++) {
        const kvc_layout_entry *e =
            &APR_ARRAY_IDX(entries, i, kvc_layout_entry);
        kvc_match *m;

        if (!e->usable || !kvc_route_id_valid(e->id, e->id_len)) {
            bad++;
            continue;
        }
        m = apr_array_push(arr);
        *m = e->match;
        m->instance_id = e->id;
    }
    if (skipped != NULL) {
        *skipped = bad;
    }
    return (arr->nelts > 0) ? KVC_WIRE_OK : KVC_WIRE_EMPTY;
}

/* ------------------------------------------------------------------ */
/* Instance ids and the kvcache-matches note                          */
/* ------------------------------------------------------------------ */

static APR_INLINE int kvc_route_char(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
           || (c >= '0' && c <= '9') || c == '.' || c == '_' || c == ':'
           || c == '@' || c == '-';
}

int kvc_route_id_valid(const char *id, apr_size_t len)
{
    apr_size_t i;

    if (id == NULL || len == 0 || len > KVC_ROUTE_ID_MAX) {
        return 0;
    }
    for (i = 0; i < len; i++) {
        if (!kvc_route_char((unsigned char)id[i])) {
            return 0;
        }
    }
    return 1;
}

static int kvc_match_formattable(const kvc_match *m)
{
    apr_size_t len = 0;

    if (m->instance_id == NULL) {
        return 0;
    }
    /* Bounded: an id longer than the limit is invalid however long. */
    while (len <= KVC_ROUTE_ID_MAX && m->instance_id[len] != '\0') {
        len++;
    }
    return kvc_route_id_valid(m->instance_id, len) && m->matched >= 0
           && m->matched <= KVC_TOKEN_MAX;
}

const char *kvc_matches_format(const apr_array_header_t *matches, apr_pool_t *p)
{
    apr_size_t total = 1;
    char *buf, *o;
    int i;

    if (matches == NULL || matches->nelts == 0) {
        return "";
    }
    for (i = 0; i < matches->nelts; i++) {
        const kvc_match *m = &APR_ARRAY_IDX(matches, i, kvc_match);

        if (kvc_match_formattable(m)) {
            /* id, '=', at most 10 digits, separator */
            total += strlen(m->instance_id) + 12;
        }
    }
    buf = o = apr_palloc(p, total);
    for (i = 0; i < matches->nelts; i++) {
        const kvc_match *m = &APR_ARRAY_IDX(matches, i, kvc_match);
        apr_size_t idlen;

        if (!kvc_match_formattable(m)) {
            continue;
        }
        if (o != buf) {
            *o++ = ' ';
        }
        idlen = strlen(m->instance_id);
        memcpy(o, m->instance_id, idlen);
        o += idlen;
        o += apr_snprintf(o, 12, "=%ld", m->matched);
    }
    *o = '\0';
    return buf;
}

int kvc_matches_parse(const char *note, apr_pool_t *p,
                      apr_array_header_t **matches)
{
    apr_array_header_t *arr;
    apr_hash_t *seen;
    const char *s = note;

    *matches = NULL;
    if (note == NULL) {
        return -1;
    }
    arr = apr_array_make(p, 4, sizeof(kvc_match));
    seen = apr_hash_make(p);

    for (;;) {
        const char *id;
        apr_size_t idlen, ndigits = 0;
        apr_uint64_t v = 0;
        kvc_match m;

        while (*s == ' ' || *s == '\t') {
            s++;
        }
        if (*s == '\0') {
            break;
        }
        id = s;
        while (kvc_route_char((unsigned char)*s)) {
            s++;
        }
        idlen = (apr_size_t)(s - id);
        if (*s != '=' || !kvc_route_id_valid(id, idlen)) {
            return -1;
        }
        s++;
        while (KVC_DIGIT(*s)) {
            if (++ndigits > 10) {
                return -1;
            }
            v = v * 10 + (apr_uint64_t)(*s++ - '0');
        }
        if (ndigits == 0 || v > (apr_uint64_t)KVC_TOKEN_MAX
            || (*s != ' ' && *s != '\t' && *s != '\0')) {
            return -1;
        }
        /* Two values for one member would make the choice depend on
         * which one a consumer happened to read.
         */
        if (apr_hash_get(seen, id, (apr_ssize_t)idlen) != NULL) {
            return -1;
        }
        m.instance_id = apr_pstrmemdup(p, id, idlen);
        m.location = NULL;
        m.matched = (long)v;
        apr_hash_set(seen, m.instance_id, (apr_ssize_t)idlen, "");
        APR_ARRAY_PUSH(arr, kvc_match) = m;
    }
    *matches = arr;
    return 0;
}

const kvc_match *kvc_matches_best(const apr_array_header_t *matches)
{
    const kvc_match *best = NULL;
    int i;

    if (matches == NULL) {
        return NULL;
    }
    for (i = 0; i < matches->nelts; i++) {
        const kvc_match *m = &APR_ARRAY_IDX(matches, i, kvc_match);

        if (m->instance_id == NULL) {
            continue;
        }
        if (best == NULL || m->matched > best->matched
            || (m->matched == best->matched
                && strcmp(m->instance_id, best->instance_id) < 0)) {
            best = m;
        }
    }
    return best;
}
