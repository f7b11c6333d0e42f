/* Licensed under the Apache License, Version 2.0 (the "License"); you may not
 * use this file except in compliance with the License.  You may obtain a copy
 * of the License at http://www.apache.org/licenses/LICENSE-2.0
 */

/**
 * @file kvc_json.h
 * @brief The one JSON reader of mod_kvcache: strict, single pass, no
 *        tree (httpd-independent, internal to the core).  Every wire
 *        format mod_kvcache parses (client bodies, /tokenize, /lookup) goes
 *        through it; kvc_json_writer.h writes what this reads.
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
 * Length of the well-formed UTF-8 sequence of two to four bytes at p
 * (RFC 3629, Unicode table 3-7), 0 if there is none: what strings may
 * hold besides ASCII.  The second byte's range is what excludes overlong
 * forms, surrogates and values above U+10FFFF.
 * @param p the lead byte (p < end)
 * @param end one past the last byte that may be read
 */
static APR_INLINE apr_size_t kvc_json_utf8_len(const unsigned char *p,
                                               const unsigned char *end)
{
    unsigned c = p[0], lo = 0x80, hi = 0xBF;
    apr_size_t n, i;

    if (c >= 0xC2 && c <= 0xDF) {
        n = 2;
    }
    else if (c >= 0xE0 && c <= 0xEF) {
        n = 3;
        if (c == 0xE0) {
            lo = 0xA0;
        }
        else if (c == 0xED) {
            hi = 0x9F;
        }
    }
    else if (c >= 0xF0 && c <= 0xF4) {
        n = 4;
        if (c == 0xF0) {
            lo = 0x90;
        }
        else if (c == 0xF4) {
            hi = 0x8F;
        }
    }
    else {
        return 0;
    }
    if ((apr_size_t)(end - p) < n || p[1] < lo || p[1] > hi) {
        return 0;
    }
    for (i = 2; i < n; i++) {
        if ((p[i] & 0xC0) != 0x80) {
            return 0;
        }
    }
    return n;
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
 * Consumes the number at s->p: -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?
 * What may follow it (a separator; never a digit after a leading 0) is
 * the enclosing container's check, or the document's.
 * @return 1, or 0 if there is no number at s->p
 */
int kvc_json_number(kvc_json_scan *s);

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
 * The next character of a validated string, its escapes decoded as
 * kvc_json_decode() decodes them, without copying anything: for callers
 * that only look at the characters (is a prompt blank?).
 * @param str the string
 * @param pos offset in str->raw of the character (< str->len); advanced
 *        past it, escape or UTF-8 sequence
 * @return its code point
 */
unsigned kvc_json_str_next(const kvc_json_str *str, apr_size_t *pos);

/**
 * Whether [buf, buf+len) is exactly one valid JSON value.
 * @return 1 or 0; a NULL buf is not valid
 */
int kvc_json_valid(const char *buf, apr_size_t len);

#ifdef __cplusplus
}
#endif

#endif /* KVC_JSON_H */
