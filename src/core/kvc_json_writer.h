/* Licensed under the Apache License, Version 2.0 (the "License"); you may not
 * use this file except in compliance with the License.  You may obtain a copy
 * of the License at http://www.apache.org/licenses/LICENSE-2.0
 */

/**
 * @file kvc_json_writer.h
 * @brief The one JSON writer of mod_kvcache: every JSON body it sends
 *        (/lookup, the cache actions) and its status page
 *        (httpd-independent, internal to the core).
 *
 * Builds one JSON value into a pool buffer that grows as needed.  The
 * caller opens containers, writes keys (in objects) and values, and
 * closes them; commas and colons are the writer's business.  Anything
 * out of order (a value where a key is due or a key where a value is, a
 * close that does not match, a second top-level value, a value nested
 * deeper than KVC_JSON_MAX_DEPTH levels, a size past APR_SIZE_MAX) makes
 * the writer fail: every later call does nothing and
 * kvc_json_writer_finish() returns NULL, so a bug never sends half a
 * document.
 *
 * Strings are copied as they are except for three kinds of byte: '"' and
 * '\\' are escaped with a backslash, control characters (below U+0020)
 * become \u00XX, and every byte that does not start a well-formed UTF-8
 * sequence (kvc_json_utf8_len()) becomes \ufffd.  What the writer
 * produces is therefore valid JSON as kvc_json.h defines it, and
 * kvc_json_decode() gives every string back as it was written (with
 * U+FFFD for each ill-formed byte).
 */

#ifndef KVC_JSON_WRITER_H
#define KVC_JSON_WRITER_H

#include "apr.h"
#include "apr_pools.h"

#include "kvc_vocab.h"

#ifdef __cplusplus
extern "C" {
#endif

/** A document being written; initialise with kvc_json_writer_init(). */
typedef struct {
    apr_pool_t *pool;
    char *buf;
    apr_size_t len;       /**< bytes written */
    apr_size_t cap;       /**< bytes allocated, the NUL's included */
    int depth;            /**< containers open */
    apr_uint64_t objects; /**< bit d: container d (0 outermost) is {} */
    apr_uint64_t filled;  /**< bit d: container d holds an item */
    int value_due;        /**< a key was written, its value is next */
    int complete;         /**< the top-level value is written */
    int failed;
} kvc_json_writer;

/**
 * Start a document.
 * @param w the writer
 * @param p pool for the text
 * @param size_hint expected length: a good guess means no regrowth
 */
void kvc_json_writer_init(kvc_json_writer *w, apr_pool_t *p,
                          apr_size_t size_hint);

/** Open an object or an array, as a value. */
void kvc_json_write_object_open(kvc_json_writer *w);
void kvc_json_write_array_open(kvc_json_writer *w);

/** Close the innermost container, which must be of that kind. */
void kvc_json_write_object_close(kvc_json_writer *w);
void kvc_json_write_array_close(kvc_json_writer *w);

/**
 * Write a member name in the innermost container, an object.
 * @param w the writer
 * @param name the name, NUL-terminated, escaped as strings are
 */
void kvc_json_write_key(kvc_json_writer *w, const char *name);

/**
 * Write a string value.
 * @param w the writer
 * @param s the bytes (NULs included: they become \u0000)
 * @param len their number
 */
void kvc_json_write_string(kvc_json_writer *w, const char *s, apr_size_t len);

/**
 * Write a NUL-terminated string value; NULL writes null.
 */
void kvc_json_write_cstring(kvc_json_writer *w, const char *s);

/** Write an integer value in decimal. */
void kvc_json_write_uint(kvc_json_writer *w, apr_uint64_t v);
void kvc_json_write_int(kvc_json_writer *w, apr_int64_t v);

/**
 * Write a number rounded to a fixed count of decimals, exactly as the C
 * library's printf "%.*f" does, but always with '.' as the separator,
 * whatever LC_NUMERIC says; NaN and the infinities, which JSON cannot
 * hold, are written as null.
 * @param w the writer
 * @param v the number
 * @param decimals digits after the point, 0 to 9 (others fail)
 */
void kvc_json_write_fixed(kvc_json_writer *w, double v, int decimals);

/** Write null. */
void kvc_json_write_null(kvc_json_writer *w);

/**
 * Write a token list as an array value, [1,2,3] ([] for none), in one
 * tight loop: a 128k-token prompt is about a megabyte of ids, written
 * on the request path.  Ids are written as they are, sign included.
 * @param w the writer
 * @param t the tokens; NULL or ids NULL count as none
 */
void kvc_json_write_tokens(kvc_json_writer *w, const kvc_tokens *t);

/**
 * End the document.
 * @param w the writer
 * @param len if not NULL, receives the length of the text
 * @return the NUL-terminated text, allocated from the writer's pool, or
 *         NULL if the writer failed or the top-level value is not
 *         complete
 */
const char *kvc_json_writer_finish(kvc_json_writer *w, apr_size_t *len);

#ifdef __cplusplus
}
#endif

#endif /* KVC_JSON_WRITER_H */
