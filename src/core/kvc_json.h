/**
 * @file kvc_json.h
 * @brief The one JSON scanner of mod_kvcache: strict, single pass, no
 *        tree (httpd-independent, internal to the core).
 *
 * What is valid JSON, for every parser of mod_kvcache: exactly one RFC
 * 8259 value (no comments, trailing commas, NaN, leading zeros or raw
 * control characters in strings) surrounded by JSON whitespace only;
 * strings that are well-formed UTF-8 (RFC 3629: no overlong forms, no
 * encoded surrogates, nothing above U+10FFFF); and values nested at most
 * KVC_JSON_MAX_DEPTH levels deep.
 *
 * The scanner works on a byte range [p, end) that need not be
 * NUL-terminated and is never read past end.  Its entry points consume
 * one piece of the grammar at s->p and return 1, or return 0 (the text
 * is not valid JSON; s->p is then unspecified).  Callers walk the
 * structures they care about with kvc_json_member() and
 * kvc_json_element() and pass everything else to kvc_json_skip_value(),
 * which validates it.
 */

#ifndef KVC_JSON_H
#define KVC_JSON_H

#include "apr.h"
#include "apr_errno.h"

#ifdef __cplusplus
extern "C" {
#endif

/** Deepest nesting any mod_kvcache JSON parser accepts.  As in json-c,
 *  the top-level value is at level 1 and every value inside a container,
 *  scalar or not, one level below it: {"a":[1]} reaches level 3. */
#define KVC_JSON_MAX_DEPTH 64

/** RFC 8259 whitespace; anything else (\v, \f, NUL) is junk. */
#define KVC_JSON_WS(c) ((c) == ' ' || (c) == '\n' || (c) == '\r' || (c) == '\t')

/** Position in a JSON text. */
typedef struct {
    const char *p;   /**< next unread byte */
    const char *end; /**< one past the last byte of the text */
} kvc_json_scan;

/** A validated JSON string as it lies in the text, quotes excluded. */
typedef struct {
    const char *raw; /**< first byte after the opening quote */
    apr_size_t len;  /**< raw bytes up to the closing quote */
    int escaped;     /**< 1 if raw holds a backslash escape */
} kvc_json_str;

/** Outcome of one kvc_json_member() or kvc_json_element() step. */
typedef enum {
    KVC_JSON_ERROR = -1, /**< not valid JSON */
    KVC_JSON_END = 0,    /**< the container closed */
    KVC_JSON_ITEM = 1    /**< s->p is at the next value */
} kvc_json_step;

/** Skips JSON whitespace. */
static APR_INLINE void kvc_json_skip_ws(kvc_json_scan *s)
{
    while (s->p < s->end && KVC_JSON_WS(*s->p)) {
        s->p++;
    }
}

/**
 * Consumes the string whose opening quote is at s->p, checking escapes,
 * control characters and UTF-8.
 * @param s the scanner
 * @param out if not NULL, receives where the string lies
 * @return 1, or 0 if it is not a valid string
 */
int kvc_json_string(kvc_json_scan *s, kvc_json_str *out);

/**
 * Consumes and validates one value of any type at s->p (after
 * whitespace).
 * @param s the scanner
 * @param depth containers already open around the value (0 for the
 *        top-level value); the value and everything in it must stay
 *        within KVC_JSON_MAX_DEPTH levels
 * @return 1, or 0 if it is not a valid value
 */
int kvc_json_skip_value(kvc_json_scan *s, int depth);

/**
 * Consumes the literal lit (e.g. "null") at s->p.
 * @return 1 if it is there, else 0 and s->p unchanged
 */
int kvc_json_literal(kvc_json_scan *s, const char *lit, apr_size_t n);

/**
 * One step through an object: call it first with *count 0 just after the
 * '{', then again after consuming each member's value.  On KVC_JSON_ITEM
 * the member name is in *name and s->p is at its value (whitespace
 * skipped, at least one byte left); on KVC_JSON_END the '}' is consumed.
 */
kvc_json_step kvc_json_member(kvc_json_scan *s, apr_size_t *count,
                              kvc_json_str *name);

/**
 * One step through an array, as kvc_json_member() does for objects: on
 * KVC_JSON_ITEM s->p is at the next element (not yet validated).
 */
kvc_json_step kvc_json_element(kvc_json_scan *s, apr_size_t *count);

/**
 * Whether a validated string equals an ASCII literal once its escapes
 * are decoded (with "e" escaped as U+0065, "tokens" is still "tokens").
 */
int kvc_json_str_is(const kvc_json_str *str, const char *lit);

/**
 * Decodes a validated string into out, which must hold str->len bytes
 * (decoding never grows a string).  Escaped surrogate pairs become one
 * UTF-8 character (as in Python's json; json-c 0.16 wrongly decodes some
 * to U+FFFD), an unpaired escaped surrogate becomes U+FFFD (as in
 * json-c), an escaped U+0000 a NUL byte.  Nothing is NUL-terminated.
 * @return the number of bytes written
 */
apr_size_t kvc_json_decode(const kvc_json_str *str, char *out);

/**
 * Whether [buf, buf+len) is exactly one valid JSON value.
 * @return 1 or 0; a NULL buf is not valid
 */
int kvc_json_valid(const char *buf, apr_size_t len);

struct json_object;

/**
 * Parse a buffer holding exactly one valid JSON value (see above) into a
 * json-c tree, for the parsers whose input is small enough that a tree
 * costs nothing worth mentioning.  The scanner decides validity, json-c
 * only builds the tree, so every parser agrees on what "valid" means.
 * @param buf the text (not NUL-terminated)
 * @param len its length (at most INT_MAX, json-c's limit)
 * @param out receives the tree (NULL for the document "null"); release
 *        it with json_object_put()
 * @return APR_SUCCESS, APR_EINVAL for invalid JSON, APR_ENOMEM if the
 *         parser could not be allocated
 */
apr_status_t kvc_json_parse(const char *buf, apr_size_t len,
                            struct json_object **out);

#ifdef __cplusplus
}
#endif

#endif /* KVC_JSON_H */
