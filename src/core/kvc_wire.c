/**
 * @file kvc_wire.c
 * @brief Upstream wire formats: vLLM /tokenize, LMCache /lookup and the
 *        kvcache-matches note.
 */

#include <string.h>

#include <json.h>

#include "apr_hash.h"
#include "apr_strings.h"

#include "kvc_json.h"
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
/* /lookup request                                                    */
/* ------------------------------------------------------------------ */

#define KVC_LOOKUP_HEAD "{\"tokens\":["
#define KVC_LOOKUP_TAIL "]}"

static const char kvc_digit_pairs[201] =
    "00010203040506070809101112131415161718192021222324252627282930313233"
    "34353637383940414243444546474849505152535455565758596061626364656667"
    "6869707172737475767778798081828384858687888990919293949596979899";

static APR_INLINE unsigned kvc_ndigits(apr_uint32_t v)
{
    unsigned n = 1;

    while (v >= 10) {
        v /= 10;
        n++;
    }
    return n;
}

/* Writes v in decimal at o, two digits per step straight into place
 * (a scratch buffer plus memcpy() per id costs more than the digits).
 */
static APR_INLINE char *kvc_put_uint(char *o, apr_uint32_t v)
{
    unsigned n = (v < 100000) ? (v < 100 ? (v < 10 ? 1 : 2)
                                         : (v < 1000 ? 3 : (v < 10000 ? 4 : 5)))
                              : kvc_ndigits(v);
    char *d = o + n;

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

const char *kvc_wire_lookup_request(const kvc_tokens *t, apr_pool_t *p,
                                    apr_size_t *len)
{
    /* Per id: up to 10 digits, a '-' a buggy caller might need, and ','. */
    const apr_size_t per_id = 12;
    const apr_size_t fixed =
        sizeof(KVC_LOOKUP_HEAD) - 1 + sizeof(KVC_LOOKUP_TAIL) - 1 + 1;
    apr_size_t count = (t != NULL && t->ids != NULL) ? t->count : 0;
    apr_size_t i;
    char *buf, *o;

    if (count > (APR_SIZE_MAX - fixed) / per_id) {
        return NULL;
    }
    buf = apr_palloc(p, fixed + count * per_id);
    memcpy(buf, KVC_LOOKUP_HEAD, sizeof(KVC_LOOKUP_HEAD) - 1);
    o = buf + sizeof(KVC_LOOKUP_HEAD) - 1;

    for (i = 0; i < count; i++) {
        apr_int32_t v = t->ids[i];

        if (i != 0) {
            *o++ = ',';
        }
        if (v < 0) {
            *o++ = '-';
            o = kvc_put_uint(o, (apr_uint32_t)0 - (apr_uint32_t)v);
        }
        else {
            o = kvc_put_uint(o, (apr_uint32_t)v);
        }
    }
    memcpy(o, KVC_LOOKUP_TAIL, sizeof(KVC_LOOKUP_TAIL));
    o += sizeof(KVC_LOOKUP_TAIL) - 1;
    if (len != NULL) {
        *len = (apr_size_t)(o - buf);
    }
    return buf;
}

/* ------------------------------------------------------------------ */
/* /lookup response                                                   */
/* ------------------------------------------------------------------ */

/* Token counts arrive as 512 or, from some serializers, 512.0. */
static int kvc_lookup_count(json_object *v, long *out)
{
    if (json_object_is_type(v, json_type_int)) {
        apr_int64_t n = json_object_get_int64(v);

        if (n < 0 || n > KVC_TOKEN_MAX) {
            return 0;
        }
        *out = (long)n;
        return 1;
    }
    if (json_object_is_type(v, json_type_double)) {
        double d = json_object_get_double(v);

        /* The range test also rejects NaN; within range, the cast is
         * exact and tells integral values apart.
         */
        if (!(d >= 0 && d <= (double)KVC_TOKEN_MAX) || (double)(long)d != d) {
            return 0;
        }
        *out = (long)d;
        return 1;
    }
    return 0;
}

/* Locations are echoed to LMCache and to logs; a name that is not plain
 * printable ASCII is dropped rather than carried around.
 */
static const char *kvc_lookup_location(json_object *v, apr_pool_t *p)
{
    const char *s = json_object_get_string(v);
    int len = json_object_get_string_len(v);
    int i;

    if (s == NULL || len < 1 || len > 255) {
        return NULL;
    }
    for (i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];

        if (c <= 0x20 || c >= 0x7f || c == '"' || c == '\\') {
            return NULL;
        }
    }
    return apr_pstrmemdup(p, s, (apr_size_t)len);
}

/* Accepts [location, n] (LMCache) and {"0": location, "1": n} (Pixiu's
 * mock).  Returns 0 when the value is malformed.
 */
static int kvc_lookup_value(json_object *v, apr_pool_t *p, kvc_match *m)
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
        || !kvc_lookup_count(num, &m->matched)) {
        return 0;
    }
    m->location = kvc_lookup_location(loc, p);
    return 1;
}

static int has_escaped_nul(const char *body, apr_size_t len)
{
    apr_size_t i;

    for (i = 0; i + 6 <= len; i++) {
        if (body[i] == '\\' && !memcmp(body + i + 1, "u0000", 5)) {
            return 1;
        }
    }
    return 0;
}

kvc_wire_status kvc_wire_parse_lookup(const char *body, apr_size_t len,
                                      apr_pool_t *p,
                                      apr_array_header_t **matches,
                                      apr_size_t *skipped)
{
    json_object *root, *layout;
    apr_array_header_t *arr;
    apr_size_t bad = 0;

    arr = apr_array_make(p, 4, sizeof(kvc_match));
    *matches = arr;
    if (skipped != NULL) {
        *skipped = 0;
    }
    /* json-c cuts member names at an escaped NUL, which would turn
     * "vllm-a\u0000x" into a valid id; no real answer carries one. */
    if (kvc_json_parse(body, len, &root) != APR_SUCCESS) {
        return KVC_WIRE_GARBAGE;
    }
    if (has_escaped_nul(body, len)) {
        json_object_put(root);
        return KVC_WIRE_GARBAGE;
    }
    if (!json_object_is_type(root, json_type_object)) {
        json_object_put(root);
        return KVC_WIRE_GARBAGE;
    }
    /* json-c represents null as a NULL object. */
    if (!json_object_object_get_ex(root, "layout_info", &layout)
        || layout == NULL) {
        json_object_put(root);
        return KVC_WIRE_EMPTY;
    }
    if (!json_object_is_type(layout, json_type_object)) {
        json_object_put(root);
        return KVC_WIRE_GARBAGE;
    }

    {
        json_object_object_foreach(layout, id, val)
        {
            kvc_match m;

            if (!kvc_route_id_valid(id, strlen(id))
                || !kvc_lookup_value(val, p, &m)) {
                bad++;
                continue;
            }
            m.instance_id = apr_pstrdup(p, id);
            APR_ARRAY_PUSH(arr, kvc_match) = m;
        }
    }
    json_object_put(root);

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
