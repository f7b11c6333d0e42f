/* Licensed under the Apache License, Version 2.0 (the "License"); you may not
 * use this file except in compliance with the License.  You may obtain a copy
 * of the License at http://www.apache.org/licenses/LICENSE-2.0
 */

/**
 * @file test_usage.c
 * @brief Tests for kvc_usage: cached tokens from plain and streamed vLLM
 *        answers, fed whole and in every split, and what does not count.
 */

#include <string.h>

#include "kvc_usage.h"
#include "kvc_test.h"

/* A plain /v1/chat/completions answer of vLLM with prompt token details. */
static const char chat_answer[] =
    "{\"id\":\"chatcmpl-1\",\"object\":\"chat.completion\",\"model\":\"m\","
    "\"choices\":[{\"index\":0,\"message\":{\"role\":\"assistant\","
    "\"content\":\"the \\\"cached_tokens\\\": 99 of it\"},"
    "\"finish_reason\":\"stop\"}],"
    "\"usage\":{\"prompt_tokens\":1200,\"total_tokens\":1210,"
    "\"completion_tokens\":10,"
    "\"prompt_tokens_details\":{\"cached_tokens\":1024}},"
    "\"kvemu\":{\"cached_tokens\":7}}";

/* A streamed answer with stream_options.include_usage: usage only in the
 * last chunk before [DONE]. */
static const char sse_answer[] =
    "data: {\"id\":\"c\",\"choices\":[{\"delta\":{\"content\":\"ok\"}}],"
    "\"usage\":null}\n\n"
    ": a comment\n"
    "event: message\n"
    "data: {\"id\":\"c\",\"choices\":[],\"usage\":{\"prompt_tokens\":300,"
    "\"prompt_tokens_details\":{\"cached_tokens\":256},"
    "\"completion_tokens\":2}}\r\n\r\n"
    "data: [DONE]\n\n";

static long scan_whole(const char *text, int sse)
{
    kvc_usage_scan s;

    kvc_usage_init(&s, sse);
    kvc_usage_feed(&s, text, strlen(text));
    return kvc_usage_cached_tokens(&s);
}

/* Every way of cutting the answer in two, and byte by byte: the stream
 * arrives in buckets of any size. */
static void check_every_split(const char *text, int sse, long want)
{
    apr_size_t len = strlen(text), cut, i;
    kvc_usage_scan s;

    for (cut = 0; cut <= len; cut++) {
        kvc_usage_init(&s, sse);
        kvc_usage_feed(&s, text, cut);
        kvc_usage_feed(&s, text + cut, len - cut);
        KVC_CHECK_INT(kvc_usage_cached_tokens(&s), want);
    }
    kvc_usage_init(&s, sse);
    for (i = 0; i < len; i++) {
        kvc_usage_feed(&s, text + i, 1);
    }
    KVC_CHECK_INT(kvc_usage_cached_tokens(&s), want);
}

static void test_usage_plain_answer(apr_pool_t *p)
{
    /* Neither the text of a message nor another object's member of the
     * same name counts: only usage.prompt_tokens_details. */
    KVC_CHECK_INT(scan_whole(chat_answer, 0), 1024);
    check_every_split(chat_answer, 0, 1024);
}

static void test_usage_streamed_answer(apr_pool_t *p)
{
    KVC_CHECK_INT(scan_whole(sse_answer, 1), 256);
    check_every_split(sse_answer, 1, 256);
    /* The same text read as one JSON document is not one. */
    KVC_CHECK_INT(scan_whole(sse_answer, 0), -1);
}

static void test_usage_absent(apr_pool_t *p)
{
    static const char *const none[] = {
        "{\"usage\":{\"prompt_tokens\":5}}",
        "{\"usage\":{\"prompt_tokens_details\":null}}",
        "{\"usage\":{\"prompt_tokens_details\":{\"cached_tokens\":null}}}",
        "{\"usage\":{\"prompt_tokens_details\":{\"cached_tokens\":-4}}}",
        "{\"usage\":{\"prompt_tokens_details\":{\"cached_tokens\":1.5}}}",
        "{\"usage\":{\"prompt_tokens_details\":{\"cached_tokens\":1e3}}}",
        "{\"usage\":{\"prompt_tokens_details\":{\"cached_tokens\":\"9\"}}}",
        "{\"usage\":{\"prompt_tokens_details\":"
        "{\"cached_tokens\":99999999999}}}",
        /* Not at the top level's usage. */
        "{\"x\":{\"usage\":{\"prompt_tokens_details\":{\"cached_tokens\":1}}}}",
        "[{\"usage\":{\"prompt_tokens_details\":{\"cached_tokens\":1}}}]",
        "{\"usage\":[{\"prompt_tokens_details\":{\"cached_tokens\":1}}]}",
        "{\"usage\":{\"x\":{\"prompt_tokens_details\":{\"cached_tokens\":1}}}}",
        "{\"usage\":{\"prompt_tokens_details\":{\"x\":{\"cached_tokens\":1}}}}",
        /* An escaped name, a cut-off value, garbage, nothing. */
        "{\"usage\":{\"prompt_tokens_details\":{\"cached\\u005ftokens\":1}}}",
        "{\"usage\":{\"prompt_tokens_details\":{\"cached_tokens\":12",
        "<html>502 Bad Gateway</html>",
        "",
    };
    apr_size_t i;

    for (i = 0; i < sizeof(none) / sizeof(*none); i++) {
        kvc_test_context = none[i];
        KVC_CHECK_INT(scan_whole(none[i], 0), -1);
    }
    kvc_test_context = NULL;
}

static void test_usage_layout(apr_pool_t *p)
{
    /* Blanks anywhere, members in any order, deep siblings, the largest
     * count; the last usage wins (a repeated member, as json readers do). */
    KVC_CHECK_INT(scan_whole(" {\n \"a\" : [ [ ] , { } , [1, {\"b\":[]}]],"
                             "\"usage\" : { \"prompt_tokens_details\" : {"
                             " \"x\" : true , \"cached_tokens\" : 0 } } } ",
                             0),
                  0);
    KVC_CHECK_INT(scan_whole("{\"usage\":{\"prompt_tokens_details\":"
                             "{\"cached_tokens\":2147483647}}}",
                             0),
                  2147483647L);
    KVC_CHECK_INT(scan_whole("{\"usage\":{\"prompt_tokens_details\":"
                             "{\"cached_tokens\":5}},\"usage\":{\"prompt_"
                             "tokens_details\":{\"cached_tokens\":6}}}",
                             0),
                  6);
    /* The later member replaces the earlier even when it holds nothing. */
    KVC_CHECK_INT(scan_whole("{\"usage\":{\"prompt_tokens_details\":"
                             "{\"cached_tokens\":5}},\"usage\":null}",
                             0),
                  -1);
    KVC_CHECK_INT(scan_whole("{\"usage\":{\"prompt_tokens_details\":"
                             "{\"cached_tokens\":-0}}}",
                             0),
                  0);
    /* Streams: a data line per event, CRLF or LF, no space after the
     * colon; an event without usage does not clear an earlier one. */
    KVC_CHECK_INT(scan_whole("data:{\"usage\":{\"prompt_tokens_details\":"
                             "{\"cached_tokens\":3}}}\r\ndata: {}\r\n",
                             1),
                  3);
    KVC_CHECK_INT(scan_whole("datum: {\"usage\":{\"prompt_tokens_details\":"
                             "{\"cached_tokens\":3}}}\n",
                             1),
                  -1);
}

/* Deep nesting is given up on, without overflowing anything. */
static void test_usage_deep(apr_pool_t *p)
{
    char deep[400];
    apr_size_t n = 150;

    memset(deep, '[', n);
    memset(deep + n, ']', n);
    deep[2 * n] = '\0';
    KVC_CHECK_INT(scan_whole(deep, 0), -1);
    KVC_CHECK_INT(scan_whole(deep, 1), -1);
}

const kvc_test_case kvc_usage_tests[] = {
    KVC_TEST(test_usage_plain_answer), KVC_TEST(test_usage_streamed_answer),
    KVC_TEST(test_usage_absent),       KVC_TEST(test_usage_layout),
    KVC_TEST(test_usage_deep),         KVC_TEST_END
};
