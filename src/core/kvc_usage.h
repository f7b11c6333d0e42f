/* Licensed under the Apache License, Version 2.0 (the "License"); you may not
 * use this file except in compliance with the License.  You may obtain a copy
 * of the License at http://www.apache.org/licenses/LICENSE-2.0
 */

/**
 * @file kvc_usage.h
 * @brief The cached tokens an engine reports in its answer, read from the
 *        response stream as it passes (httpd-independent).
 *
 * vLLM answers `usage.prompt_tokens_details.cached_tokens` (when prompt
 * token details are on): in the JSON body of a plain answer, or in the
 * last `data:` event of a streamed one (with
 * `stream_options.include_usage`).  The scanner is fed the body in
 * whatever pieces it arrives in, keeps a few dozen bytes of state and
 * never buffers or holds back a byte: the proxy passes every piece on as
 * soon as it was looked at.  It follows only the path top-level object ->
 * "usage" -> "prompt_tokens_details" -> "cached_tokens" and skips
 * everything else; it does not validate the JSON (a malformed answer just
 * yields nothing, or whatever value the path held before the damage).
 */
#ifndef KVC_USAGE_H
#define KVC_USAGE_H

#include "apr.h"

#ifdef __cplusplus
extern "C" {
#endif

/** Scanner state; all fields private.  Initialise with kvc_usage_init(). */
typedef struct {
    int sse;            /* text/event-stream: one JSON document per data line */
    int line;           /* SSE: where in the current line */
    int prefix;         /* SSE: bytes of "data:" matched */
    int lex;            /* JSON lexer state */
    int depth;          /* open containers */
    int on_path;        /* leading levels that follow the path */
    int in_object;      /* the innermost container is an object */
    int key_pos;        /* bytes of the expected key matched, -1: another key */
    int key_match;      /* the last key was the path's at this level */
    int escaped;        /* inside a string, after a backslash */
    apr_int64_t number; /* digits of the value on the path, -1: not one */
    int negative;       /* the number had a minus sign */
    unsigned long object_bits; /* bit d set: level d+1 is an object */
    long found;                /* the last cached_tokens seen, -1: none */
} kvc_usage_scan;

/**
 * Starts a scan.
 * @param sse  non-zero for a text/event-stream answer, zero for JSON
 */
void kvc_usage_init(kvc_usage_scan *s, int sse);

/** Feeds the next piece of the body (any size, any split). */
void kvc_usage_feed(kvc_usage_scan *s, const char *data, apr_size_t len);

/**
 * The cached tokens reported so far, or -1 when the answer carried none
 * (no usage, no details, null, not an integer, above 2^31-1).  As JSON
 * readers keep the last of a repeated member, a later occurrence of the
 * path replaces an earlier one; in a stream, the last event with a usage
 * member decides.
 */
long kvc_usage_cached_tokens(const kvc_usage_scan *s);

#ifdef __cplusplus
}
#endif

#endif /* KVC_USAGE_H */
