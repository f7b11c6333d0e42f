/* Licensed under the Apache License, Version 2.0 (the "License"); you may not
 * use this file except in compliance with the License.  You may obtain a copy
 * of the License at http://www.apache.org/licenses/LICENSE-2.0
 */

#include <string.h>

#include "kvc_usage.h"
#include "kvc_vocab.h"

/* The JSON lexer's states. */
enum {
    L_VALUE, /* a value is due */
    L_KEY,   /* a member name or '}' is due */
    L_NAME,  /* inside a member name */
    L_COLON, /* ':' is due */
    L_STR,   /* inside a string value */
    L_NUM,   /* inside a number */
    L_WORD,  /* inside true, false or null */
    L_AFTER, /* ',' or the container's end is due */
    L_DONE,  /* the document is complete */
    L_DEAD   /* not JSON we can follow: ignore the rest */
};

/* The SSE line reader's states. */
enum { S_START, S_PREFIX, S_SPACE, S_DATA, S_SKIP };

/* Nesting followed; deeper documents are given up on. */
#define KVC_USAGE_MAX_DEPTH 64

/* The member names of the path, by the depth of the object holding them:
 * the top-level object is depth 1. */
static const char *const path_names[] = { NULL, "usage",
                                          "prompt_tokens_details",
                                          "cached_tokens" };
#define KVC_USAGE_PATH_LEN 3

static void json_reset(kvc_usage_scan *s)
{
    s->lex = L_VALUE;
    s->depth = 0;
    s->on_path = 0;
    s->in_object = 0;
    s->key_match = 0;
    s->escaped = 0;
    s->number = -1;
    s->object_bits = 0;
}

void kvc_usage_init(kvc_usage_scan *s, int sse)
{
    memset(s, 0, sizeof(*s));
    s->sse = sse;
    s->line = S_START;
    s->found = -1;
    json_reset(s);
}

/* The value just parsed is on the path's last member. */
static int value_on_path(const kvc_usage_scan *s)
{
    return s->key_match && s->on_path == s->depth
           && s->depth == KVC_USAGE_PATH_LEN;
}

static void after_value(kvc_usage_scan *s)
{
    s->key_match = 0;
    s->lex = s->depth == 0 ? L_DONE : L_AFTER;
}

static void open_container(kvc_usage_scan *s, int object)
{
    /* The top-level object starts the path; below it, an object continues
     * it when it is the value of the path's member at the parent level. */
    int extends = object
                  && (s->depth == 0
                      || (s->key_match && s->on_path == s->depth
                          && s->depth < KVC_USAGE_PATH_LEN));

    if (s->depth == KVC_USAGE_MAX_DEPTH) {
        s->lex = L_DEAD;
        return;
    }
    if (object) {
        s->object_bits |= 1UL << s->depth;
    }
    else {
        s->object_bits &= ~(1UL << s->depth);
    }
    s->depth++;
    if (extends) {
        s->on_path = s->depth;
    }
    s->in_object = object;
    s->key_match = 0;
    s->lex = object ? L_KEY : L_VALUE;
}

static void close_container(kvc_usage_scan *s)
{
    s->depth--;
    if (s->on_path > s->depth) {
        s->on_path = s->depth;
    }
    s->in_object = s->depth > 0 && (s->object_bits >> (s->depth - 1)) & 1UL;
    after_value(s);
}

static void end_number(kvc_usage_scan *s)
{
    if (value_on_path(s) && s->number >= 0 && !(s->negative && s->number > 0)) {
        s->found = (long)s->number;
    }
    after_value(s);
}

static int is_blank(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

/* One byte of JSON; returns 1 when the byte was consumed, 0 when it ended
 * a number or literal and must be looked at again in the new state. */
static int json_byte(kvc_usage_scan *s, char c)
{
    switch (s->lex) {
    case L_VALUE:
        if (is_blank(c)) {
            return 1;
        }
        if (c == '{' || c == '[') {
            open_container(s, c == '{');
        }
        else if (c == ']' && !s->in_object && s->depth > 0) {
            close_container(s); /* an empty array */
        }
        else if (c == '"') {
            s->lex = L_STR;
        }
        else if (c == '-' || (c >= '0' && c <= '9')) {
            /* A sign is kept aside: "-0" is 0, any other negative none. */
            s->negative = c == '-';
            s->number = c == '-' ? 0 : c - '0';
            s->lex = L_NUM;
        }
        else if (c >= 'a' && c <= 'z') {
            s->lex = L_WORD;
        }
        else {
            s->lex = L_DEAD;
        }
        return 1;
    case L_KEY:
        if (is_blank(c)) {
            return 1;
        }
        if (c == '"') {
            s->key_pos =
                s->on_path == s->depth && s->depth <= KVC_USAGE_PATH_LEN ? 0
                                                                         : -1;
            s->lex = L_NAME;
        }
        else if (c == '}') {
            close_container(s);
        }
        else {
            s->lex = L_DEAD;
        }
        return 1;
    case L_NAME:
        if (s->escaped) {
            s->escaped = 0;
        }
        else if (c == '\\') {
            /* Escaped names are never the path's: vLLM writes plain ones. */
            s->escaped = 1;
            s->key_pos = -1;
        }
        else if (c == '"') {
            s->key_match =
                s->key_pos >= 0 && path_names[s->depth][s->key_pos] == '\0';
            /* A member of the path again: its new value replaces what the
             * earlier one held, as JSON readers keep the last. */
            if (s->key_match) {
                s->found = -1;
            }
            s->lex = L_COLON;
        }
        else if (s->key_pos >= 0) {
            const char *want = path_names[s->depth];

            /* Past the end of the name, any byte is a mismatch (a NUL,
             * invalid in JSON, would otherwise match its terminator). */
            s->key_pos = want[s->key_pos] != '\0' && want[s->key_pos] == c
                             ? s->key_pos + 1
                             : -1;
        }
        return 1;
    case L_COLON:
        if (c == ':') {
            s->lex = L_VALUE;
        }
        else if (!is_blank(c)) {
            s->lex = L_DEAD;
        }
        return 1;
    case L_STR:
        if (s->escaped) {
            s->escaped = 0;
        }
        else if (c == '\\') {
            s->escaped = 1;
        }
        else if (c == '"') {
            after_value(s);
        }
        return 1;
    case L_NUM:
        if (c >= '0' && c <= '9') {
            if (s->number >= 0) {
                s->number = s->number * 10 + (c - '0');
                if (s->number > KVC_TOKEN_MAX) {
                    s->number = -1;
                }
            }
            return 1;
        }
        if (c == '.' || c == 'e' || c == 'E' || c == '+' || c == '-') {
            s->number = -1; /* not a token count */
            return 1;
        }
        end_number(s);
        return 0;
    case L_WORD:
        if (c >= 'a' && c <= 'z') {
            return 1;
        }
        after_value(s);
        return 0;
    case L_AFTER:
        if (is_blank(c)) {
            return 1;
        }
        if (c == ',') {
            s->lex = s->in_object ? L_KEY : L_VALUE;
        }
        else if (c == (s->in_object ? '}' : ']')) {
            close_container(s);
        }
        else {
            s->lex = L_DEAD;
        }
        return 1;
    default: return 1;
    }
}

/* A number or literal can end the document itself ("data: 42"). */
static void json_end(kvc_usage_scan *s)
{
    if (s->lex == L_NUM) {
        end_number(s);
    }
    else if (s->lex == L_WORD) {
        after_value(s);
    }
}

static void json_feed(kvc_usage_scan *s, const char *p, const char *end)
{
    while (p < end) {
        if (s->lex == L_DEAD || s->lex == L_DONE) {
            return;
        }
        if (s->lex == L_STR && !s->escaped) {
            /* Most of an answer is text: skip to its next quote or
             * backslash at once. */
            const char *q = p;

            while (q < end && *q != '"' && *q != '\\') {
                q++;
            }
            p = q;
            if (p == end) {
                return;
            }
        }
        if (json_byte(s, *p)) {
            p++;
        }
    }
}

/* SSE (text/event-stream): each "data:" line of vLLM's stream is one JSON
 * document; other fields, comments and "[DONE]" are skipped. */
static void sse_feed(kvc_usage_scan *s, const char *p, const char *end)
{
    static const char prefix[] = "data:";

    while (p < end) {
        char c = *p;

        switch (s->line) {
        case S_START:
            if (c == 'd') {
                s->line = S_PREFIX;
                s->prefix = 1;
            }
            else if (c != '\n' && c != '\r') {
                s->line = S_SKIP;
            }
            p++;
            break;
        case S_PREFIX:
            if (c == prefix[s->prefix]) {
                if (++s->prefix == (int)sizeof(prefix) - 1) {
                    s->line = S_SPACE;
                    json_reset(s);
                }
            }
            else {
                s->line = c == '\n' || c == '\r' ? S_START : S_SKIP;
            }
            p++;
            break;
        case S_SPACE:
            s->line = S_DATA;
            if (c == ' ') {
                p++;
            }
            break;
        case S_DATA: {
            const char *eol = p;

            while (eol < end && *eol != '\n' && *eol != '\r') {
                eol++;
            }
            json_feed(s, p, eol);
            p = eol;
            if (p < end) {
                json_end(s);
                s->line = S_START;
            }
            break;
        }
        default:
            if (c == '\n' || c == '\r') {
                s->line = S_START;
            }
            p++;
            break;
        }
    }
}

void kvc_usage_feed(kvc_usage_scan *s, const char *data, apr_size_t len)
{
    if (s->sse) {
        sse_feed(s, data, data + len);
    }
    else {
        json_feed(s, data, data + len);
    }
}

long kvc_usage_cached_tokens(const kvc_usage_scan *s)
{
    return s->found;
}
