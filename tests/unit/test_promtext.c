/* Licensed under the Apache License, Version 2.0 (the "License"); you may not
 * use this file except in compliance with the License.  You may obtain a copy
 * of the License at http://www.apache.org/licenses/LICENSE-2.0
 */

/**
 * @file test_promtext.c
 * @brief Tests for kvc_promtext: a vLLM v1 /metrics scrape, exact name
 *        matching, labels, special values, malformed lines and every
 *        truncation of the sample.
 */

#include <stdlib.h>

#include "kvc_promtext.h"
#include "kvc_test.h"

/* Shaped like vLLM v1 (0.8+) output from prometheus_client, with two
 * engines and the pre-v1 gauge name from an older instance.
 */
static const char vllm_metrics[] =
    "# HELP python_gc_objects_collected_total Objects collected during gc\n"
    "# TYPE python_gc_objects_collected_total counter\n"
    "python_gc_objects_collected_total{generation=\"0\"} 12345.0\n"
    "# HELP vllm:num_requests_running Number of requests in model "
    "execution batches.\n"
    "# TYPE vllm:num_requests_running gauge\n"
    "vllm:num_requests_running{engine=\"0\",model_name=\"m\"} 3.0\n"
    "vllm:num_requests_running{engine=\"1\",model_name=\"m\"} 2.0\n"
    "# HELP vllm:num_requests_waiting Number of requests waiting to be "
    "processed.\n"
    "# TYPE vllm:num_requests_waiting gauge\n"
    "vllm:num_requests_waiting{engine=\"0\",model_name=\"m\"} 0.0\n"
    "vllm:num_requests_waiting{engine=\"1\",model_name=\"m\"} 7.0\n"
    "# HELP vllm:kv_cache_usage_perc KV-cache usage. 1 means 100 percent "
    "usage.\n"
    "# TYPE vllm:kv_cache_usage_perc gauge\n"
    "vllm:kv_cache_usage_perc{engine=\"0\",model_name=\"m\"} "
    "0.4236111111111111\n"
    "vllm:kv_cache_usage_perc{engine=\"1\",model_name=\"m\"} 0.25\n"
    "# HELP vllm:gpu_cache_usage_perc GPU KV-cache usage. 1 means 100 "
    "percent usage.\n"
    "# TYPE vllm:gpu_cache_usage_perc gauge\n"
    "vllm:gpu_cache_usage_perc{model_name=\"old\"} 0.125\n"
    "# HELP vllm:prompt_tokens_total Number of prefill tokens processed.\n"
    "# TYPE vllm:prompt_tokens_total counter\n"
    "vllm:prompt_tokens_total{engine=\"0\",model_name=\"m\"} 1.234e+06\n"
    "# HELP vllm:prompt_tokens_created Number of prefill tokens processed.\n"
    "# TYPE vllm:prompt_tokens_created gauge\n"
    "vllm:prompt_tokens_created{engine=\"0\",model_name=\"m\"} "
    "1.7170001234567e+09\n"
    "vllm:prompt_tokens_total_created{engine=\"0\",model_name=\"m\"} "
    "1.7170001234567e+09\n"
    "# HELP vllm:time_to_first_token_seconds Histogram of time to first "
    "token in seconds.\n"
    "# TYPE vllm:time_to_first_token_seconds histogram\n"
    "vllm:time_to_first_token_seconds_bucket{engine=\"0\",le=\"0.001\","
    "model_name=\"m\"} 0.0\n"
    "vllm:time_to_first_token_seconds_bucket{engine=\"0\",le=\"0.005\","
    "model_name=\"m\"} 4.0\n"
    "vllm:time_to_first_token_seconds_bucket{engine=\"0\",le=\"+Inf\","
    "model_name=\"m\"} 17.0\n"
    "vllm:time_to_first_token_seconds_count{engine=\"0\",model_name=\"m\"}"
    " 17.0\n"
    "vllm:time_to_first_token_seconds_sum{engine=\"0\",model_name=\"m\"} "
    "2.5\n"
    "# HELP vllm:cache_config_info Information of the LLMEngine "
    "CacheConfig\n"
    "# TYPE vllm:cache_config_info gauge\n"
    "vllm:cache_config_info{block_size=\"16\",cache_dtype=\"auto\","
    "enable_prefix_caching=\"True\",engine=\"0\"} 1.0\n";

static const char *const sample_names[] = {
    "vllm:num_requests_running",
    "vllm:num_requests_waiting",
    "vllm:kv_cache_usage_perc",
    "vllm:gpu_cache_usage_perc",
    "vllm:prompt_tokens_total",
    "vllm:time_to_first_token_seconds",
    "vllm:time_to_first_token_seconds_count",
    "vllm:missing_metric"
};
#define SAMPLE_N (sizeof(sample_names) / sizeof(sample_names[0]))

#define CHECK_DBL(actual, expected)                                            \
    do {                                                                       \
        double kvc_da_ = (actual), kvc_de_ = (expected);                       \
        if (!(kvc_da_ - kvc_de_                                                \
                  < 1e-9 * (1 + (kvc_de_ < 0 ? -kvc_de_ : kvc_de_))            \
              && kvc_de_ - kvc_da_                                             \
                     < 1e-9 * (1 + (kvc_de_ < 0 ? -kvc_de_ : kvc_de_)))) {     \
            kvc_test_fail(__FILE__, __LINE__, "%s: got %.17g, want %.17g",     \
                          #actual, kvc_da_, kvc_de_);                          \
        }                                                                      \
    } while (0)

/* Runs the parser on an exact heap copy, so overreads are caught. */
static int values(const char *text, apr_size_t len, const char *const *names,
                  apr_size_t n, double *out, int *found)
{
    char *buf = kvc_test_exact(text, len);
    int r = kvc_promtext_values(buf, len, names, n, out, found);

    free(buf);
    return r;
}

/* Value of one metric in a NUL-terminated text; sample count in *f. */
static double one(const char *text, const char *name, int *f)
{
    const char *names[1];
    double out = -12345;

    names[0] = name;
    values(text, strlen(text), names, 1, &out, f);
    return out;
}

static void test_promtext_vllm_sample(apr_pool_t *p)
{
    double out[SAMPLE_N];
    int found[SAMPLE_N];

    KVC_CHECK_INT(values(vllm_metrics, sizeof(vllm_metrics) - 1, sample_names,
                         SAMPLE_N, out, found),
                  6);
    /* Two engines summed. */
    KVC_CHECK_INT(found[0], 2);
    CHECK_DBL(out[0], 5.0);
    KVC_CHECK_INT(found[1], 2);
    CHECK_DBL(out[1], 7.0);
    KVC_CHECK_INT(found[2], 2);
    CHECK_DBL(out[2], 0.4236111111111111 + 0.25);
    KVC_CHECK_INT(found[3], 1);
    CHECK_DBL(out[3], 0.125);
    /* _created lines share the prefix but are other metrics. */
    KVC_CHECK_INT(found[4], 1);
    CHECK_DBL(out[4], 1234000.0);
    /* A histogram's family name has no samples of its own. */
    KVC_CHECK_INT(found[5], 0);
    CHECK_DBL(out[5], 0.0);
    KVC_CHECK_INT(found[6], 1);
    CHECK_DBL(out[6], 17.0);
    KVC_CHECK_INT(found[7], 0);
    CHECK_DBL(out[7], 0.0);
}

static void test_promtext_exact_name(apr_pool_t *p)
{
    int f;

    /* Neither a longer nor a shorter name matches. */
    CHECK_DBL(one("foo_total_created 5\nfoo_totals 6\nfoo_tota 7\n"
                  "foo_total 1\n",
                  "foo_total", &f),
              1.0);
    KVC_CHECK_INT(f, 1);
    CHECK_DBL(one("foo_total_created 5\n", "foo_total", &f), 0.0);
    KVC_CHECK_INT(f, 0);
    CHECK_DBL(one("foo 5\n", "foo_total", &f), 0.0);
    KVC_CHECK_INT(f, 0);
    /* Name ends at '{' or a blank, never mid-token. */
    CHECK_DBL(one("foo-bar 5\nfoo.x 6\n", "foo", &f), 0.0);
    KVC_CHECK_INT(f, 0);
    CHECK_DBL(one("foo\t4\n", "foo", &f), 4.0);
    KVC_CHECK_INT(f, 1);
}

static void test_promtext_labels(apr_pool_t *p)
{
    int f;

    /* Escaped quotes, backslashes, braces, commas and '#' in values. */
    CHECK_DBL(one("m{a=\"x\\\"} 9\",b=\"}{\"} 1\n"
                  "m{path=\"C:\\\\dir\\\\\"} 2\n"
                  "m{q=\"# not a comment\",r=\"a,b=c\"} 4\n"
                  "m{n=\"line\\nbreak\"} 8\n",
                  "m", &f),
              15.0);
    KVC_CHECK_INT(f, 4);
    /* Empty label set, trailing comma, blanks around tokens. */
    CHECK_DBL(
        one("m{} 1\nm{a=\"1\",} 2\nm { a = \"1\" , b=\"2\" } 4\n", "m", &f),
        7.0);
    KVC_CHECK_INT(f, 3);
    /* Malformed label sets are skipped, well-formed lines still count. */
    CHECK_DBL(one("m{a=\"1} 100\n"
                  "m{a=1} 200\n"
                  "m{=\"1\"} 300\n"
                  "m{1a=\"1\"} 400\n"
                  "m{a=\"1\"b=\"2\"} 500\n"
                  "m{a=\"1\" 600\n"
                  "m{a=\"\\\n"
                  "m 3\n",
                  "m", &f),
              3.0);
    KVC_CHECK_INT(f, 1);
}

static void test_promtext_numbers(apr_pool_t *p)
{
    static const struct {
        const char *line;
        double value;
    } ok[] = { { "v 0\n", 0.0 },
               { "v 42\n", 42.0 },
               { "v -3.5\n", -3.5 },
               { "v +2\n", 2.0 },
               { "v .5\n", 0.5 },
               { "v 5.\n", 5.0 },
               { "v 1e3\n", 1000.0 },
               { "v 1E-2\n", 0.01 },
               { "v 2.5e+2\n", 250.0 },
               { "v 0.4236111111111111\n", 0.4236111111111111 },
               { "v 1.7976931348623157e308\n", 1.7976931348623157e308 },
               { "v 123456789012345678901234567890\n", 1.2345678901234568e29 },
               { "v 0.000000000000000000000000000001\n", 1e-30 },
               { "v 1e-400\n", 0.0 },
               { "v 0e999999999999\n", 0.0 },
               { "v 7 1717000123456\n", 7.0 },
               { "v 7 -5\n", 7.0 },
               { "v 7   \n", 7.0 },
               { "v 7\r\n", 7.0 },
               { "  v 7\n", 7.0 } };
    static const char *const skipped[] = {
        "v NaN\n",  "v nan\n",      "v +Inf\n",  "v -Inf\n",
        "v Inf\n",  "v infinity\n", "v 1e400\n", "v -1e99999999999\n",
        "v\n",      "v \n",         "v abc\n",   "v 1.2.3\n",
        "v 1e\n",   "v 1e+\n",      "v .\n",     "v -\n",
        "v 0x10\n", "v 1_000\n",    "v 3 4 5\n", "v 3 12a\n",
        "v 3 -\n",  "v 3,5\n"
    };
    unsigned i;
    int f;

    for (i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
        kvc_test_context = ok[i].line;
        CHECK_DBL(one(ok[i].line, "v", &f), ok[i].value);
        KVC_CHECK_INT(f, 1);
    }
    for (i = 0; i < sizeof(skipped) / sizeof(skipped[0]); i++) {
        kvc_test_context = skipped[i];
        CHECK_DBL(one(skipped[i], "v", &f), 0.0);
        KVC_CHECK_INT(f, 0);
    }
    kvc_test_context = NULL;
    /* A NaN sample does not hide its siblings. */
    CHECK_DBL(one("v{a=\"1\"} NaN\nv{a=\"2\"} 2\n", "v", &f), 2.0);
    KVC_CHECK_INT(f, 1);
    /* Nor does a sample that would overflow the sum. */
    CHECK_DBL(
        one("v{a=\"1\"} 1e308\nv{a=\"2\"} 1e308\nv{a=\"3\"} 2\n", "v", &f),
        1e308 + 2);
    KVC_CHECK_INT(f, 2);
    CHECK_DBL(one("v{a=\"1\"} -1e308\nv{a=\"2\"} -1e308\n", "v", &f), -1e308);
}

static void test_promtext_comments_and_garbage(apr_pool_t *p)
{
    static const char text[] = "# TYPE v gauge\n"
                               "#v 100\n"
                               "   # v 200\n"
                               "\n"
                               "\t\n"
                               "}{\"\\ 300\n"
                               "{v=\"1\"} 400\n"
                               "\"v\" 500\n"
                               "v 1\n";
    unsigned char junk[4096];
    apr_uint32_t x = 12345;
    unsigned i;
    int f;

    CHECK_DBL(one(text, "v", &f), 1.0);
    KVC_CHECK_INT(f, 1);

    /* Random bytes (NULs, high bytes) never crash or overread. */
    for (i = 0; i < sizeof(junk); i++) {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        junk[i] = (unsigned char)(x >> 24);
    }
    {
        const char *names[2] = { "v", "vllm:num_requests_running" };
        double out[2];
        int found[2];

        values((const char *)junk, sizeof(junk), names, 2, out, found);
        /* An embedded NUL does not end the scan early. */
        memcpy(junk, "v 1\n\0v 2\n", 9);
        KVC_CHECK_INT(values((const char *)junk, 9, names, 2, out, found), 1);
        CHECK_DBL(out[0], 1.0);
    }
}

static void test_promtext_unterminated_last_line(apr_pool_t *p)
{
    int f;

    /* "125" cut to "12" must not be read as 12. */
    CHECK_DBL(one("a 1\nv 12", "v", &f), 0.0);
    KVC_CHECK_INT(f, 0);
    CHECK_DBL(one("v 12\n", "v", &f), 12.0);
    KVC_CHECK_INT(f, 1);
}

static void test_promtext_arguments(apr_pool_t *p)
{
    const char *names[3] = { "v", NULL, "v" };
    double out[3] = { 9, 9, 9 };
    int found[3] = { 9, 9, 9 };

    /* Duplicates each get the sum; NULL names are never found. */
    KVC_CHECK_INT(values("v 2\n", 4, names, 3, out, found), 2);
    CHECK_DBL(out[0], 2.0);
    CHECK_DBL(out[2], 2.0);
    KVC_CHECK_INT(found[1], 0);
    CHECK_DBL(out[1], 0.0);
    /* Empty and NULL text reset the outputs. */
    out[0] = 9;
    found[0] = 9;
    KVC_CHECK_INT(kvc_promtext_values(NULL, 0, names, 3, out, found), 0);
    KVC_CHECK_INT(found[0], 0);
    CHECK_DBL(out[0], 0.0);
    KVC_CHECK_INT(values("", 0, names, 3, out, found), 0);
    KVC_CHECK_INT(kvc_promtext_values("v 1\n", 4, names, 0, NULL, NULL), 0);
}

static void test_promtext_every_truncation(apr_pool_t *p)
{
    static const char line[] =
        "vllm:kv_cache_usage_perc{engine=\"1\",model_name=\"m\"} 0.25\n";
    apr_size_t len = sizeof(vllm_metrics) - 1, cut, line_end;
    double out[SAMPLE_N], full_out[SAMPLE_N];
    int found[SAMPLE_N], full_found[SAMPLE_N];
    unsigned i;
    int bad = 0;

    line_end = (apr_size_t)(strstr(vllm_metrics, line) - vllm_metrics)
               + sizeof(line) - 1;
    values(vllm_metrics, len, sample_names, SAMPLE_N, full_out, full_found);
    for (cut = 0; cut <= len && !bad; cut++) {
        values(vllm_metrics, cut, sample_names, SAMPLE_N, out, found);
        /* A prefix holds some of the complete lines: never a sample the
         * whole text lacks, never more than the full sums.
         */
        for (i = 0; i < SAMPLE_N; i++) {
            if (found[i] > full_found[i] || out[i] > full_out[i] + 1e-9) {
                kvc_test_fail(__FILE__, __LINE__, "cut %lu name %s: %g",
                              (unsigned long)cut, sample_names[i], out[i]);
                bad = 1;
            }
        }
        /* "0.25" cut to "0.2", "0." or "0" is not read; the whole line
         * (newline included) is.
         */
        if (cut + 5 >= line_end && cut < line_end) {
            CHECK_DBL(out[2], 0.4236111111111111);
        }
        else if (cut == line_end) {
            CHECK_DBL(out[2], 0.4236111111111111 + 0.25);
        }
    }
    KVC_CHECK_INT(bad, 0);
    for (i = 0; i < SAMPLE_N; i++) {
        CHECK_DBL(out[i], full_out[i]);
        KVC_CHECK_INT(found[i], full_found[i]);
    }
}

const kvc_test_case kvc_promtext_tests[] = {
    KVC_TEST(test_promtext_vllm_sample),
    KVC_TEST(test_promtext_exact_name),
    KVC_TEST(test_promtext_labels),
    KVC_TEST(test_promtext_numbers),
    KVC_TEST(test_promtext_comments_and_garbage),
    KVC_TEST(test_promtext_unterminated_last_line),
    KVC_TEST(test_promtext_arguments),
    KVC_TEST(test_promtext_every_truncation),
    KVC_TEST_END
};
