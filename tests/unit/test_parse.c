/* Licensed under the Apache License, Version 2.0 (the "License"); you may not
 * use this file except in compliance with the License.  You may obtain a copy
 * of the License at http://www.apache.org/licenses/LICENSE-2.0
 */

/**
 * @file test_parse.c
 * @brief Tests for kvc_parse: durations, sizes, longs and doubles.
 */

#include <limits.h>
#include <locale.h>
#include <math.h>

#include "apr_strings.h"

#include "kvc_parse.h"
#include "kvc_test.h"

#define DURATION_REASON                                                        \
    "not a duration; use e.g. 50ms, 2s, 5m, 1h or whole seconds"
#define SIZE_REASON                                                            \
    "not a size; use bytes with an optional K, M or G suffix, e.g. 16M"

static void check_duration(const char *text, apr_interval_time_t want)
{
    apr_interval_time_t v = -12345;

    kvc_test_context = text;
    KVC_CHECK_NULL(kvc_parse_duration(text, &v));
    KVC_CHECK_INT(v, want);
    kvc_test_context = NULL;
}

static void check_duration_bad(const char *text, const char *reason)
{
    apr_interval_time_t v = -12345;

    kvc_test_context = text ? text : "(null)";
    KVC_CHECK_STR(kvc_parse_duration(text, &v), reason);
    KVC_CHECK_INT(v, -12345);
    kvc_test_context = NULL;
}

static void test_duration_units(apr_pool_t *p)
{
    (void)p;
    check_duration("50ms", 50000);
    check_duration("0ms", 0);
    check_duration("1ms", 1000);
    check_duration("2s", 2000000);
    check_duration("5m", APR_INT64_C(300000000));
    check_duration("1h", APR_INT64_C(3600000000));
    check_duration("24h", APR_INT64_C(86400000000));
    check_duration("007s", 7000000);
}

static void test_duration_bare_seconds(apr_pool_t *p)
{
    (void)p;
    check_duration("0", 0);
    check_duration("7", 7000000);
    check_duration("600", APR_INT64_C(600000000));
}

static void test_duration_limits(apr_pool_t *p)
{
    (void)p;
    /* INT64_MAX microseconds is 9223372036854775807. */
    check_duration("9223372036854", APR_INT64_C(9223372036854000000));
    check_duration("9223372036854s", APR_INT64_C(9223372036854000000));
    check_duration("9223372036854775ms", APR_INT64_C(9223372036854775000));
    check_duration("2562047788h", APR_INT64_C(9223372036800000000));
    check_duration("153722867280m", APR_INT64_C(9223372036800000000));
    check_duration_bad("153722867281m", "duration is too large");
    check_duration_bad("9223372036855", "duration is too large");
    check_duration_bad("9223372036854776ms", "duration is too large");
    check_duration_bad("2562047789h", "duration is too large");
    check_duration_bad("99999999999999999999", "duration is too large");
    check_duration_bad("99999999999999999999999999999ms",
                       "duration is too large");
}

static void test_duration_rejects(apr_pool_t *p)
{
    static const char *const bad[] = {
        "",     "-1",    "-5s",   "-0",   "+5",   "+5s", "1.5s", "1.0",  "0.5",
        "5 s",  " 5s",   "5s ",   "5sec", "5S",   "5MS", "5H",   "s",    "ms",
        "5us",  "5d",    "5mss",  "5hm",  "0x10", "1e3", "5ms5", "5\ts", "5\n",
        "\xff", "1_000", "1,000", "5 ",   "inf",  "nan"
    };
    apr_size_t i;

    (void)p;
    for (i = 0; i < sizeof(bad) / sizeof(*bad); i++) {
        check_duration_bad(bad[i], DURATION_REASON);
    }
    check_duration_bad(NULL, DURATION_REASON);
}

static void check_size(const char *text, apr_off_t want)
{
    apr_off_t v = -12345;

    kvc_test_context = text;
    KVC_CHECK_NULL(kvc_parse_size(text, &v));
    KVC_CHECK_INT(v, want);
    kvc_test_context = NULL;
}

static void check_size_bad(const char *text, const char *reason)
{
    apr_off_t v = -12345;

    kvc_test_context = text ? text : "(null)";
    KVC_CHECK_STR(kvc_parse_size(text, &v), reason);
    KVC_CHECK_INT(v, -12345);
    kvc_test_context = NULL;
}

static void test_size_forms(apr_pool_t *p)
{
    (void)p;
    check_size("0", 0);
    check_size("123", 123);
    check_size("1K", 1024);
    check_size("1k", 1024);
    check_size("16M", 16777216);
    check_size("16m", 16777216);
    check_size("2G", APR_INT64_C(2147483648));
    check_size("2g", APR_INT64_C(2147483648));
    check_size("0G", 0);
    check_size("9223372036854775807", APR_INT64_C(9223372036854775807));
    check_size("8589934591G", APR_INT64_C(9223372035781033984));
}

static void test_size_rejects(apr_pool_t *p)
{
    static const char *const bad[] = { "",    "-1",    "-1K",  "+1",   "1.5M",
                                       "1.0", "16MB",  "16KB", "16kb", "16KiB",
                                       "1T",  "1 K",   " 1",   "1K ",  "K",
                                       "M",   "0x10",  "1e3",  "1KK",  "1b",
                                       "1B",  "16M\n", "1,024" };
    apr_size_t i;

    (void)p;
    for (i = 0; i < sizeof(bad) / sizeof(*bad); i++) {
        check_size_bad(bad[i], SIZE_REASON);
    }
    check_size_bad(NULL, SIZE_REASON);
    check_size_bad("9223372036854775808", "size is too large");
    check_size_bad("8589934592G", "size is too large");
    check_size_bad("9007199254740992K", "size is too large");
    check_size_bad("99999999999999999999999", "size is too large");
}

static void check_long(const char *text, long min, long max, long want)
{
    long v = -12345;

    kvc_test_context = text;
    KVC_CHECK_NULL(kvc_parse_long(text, min, max, &v));
    KVC_CHECK_INT(v, want);
    kvc_test_context = NULL;
}

static void check_long_bad(const char *text, long min, long max,
                           const char *reason)
{
    long v = -12345;

    kvc_test_context = text ? text : "(null)";
    KVC_CHECK_STR(kvc_parse_long(text, min, max, &v), reason);
    KVC_CHECK_INT(v, -12345);
    kvc_test_context = NULL;
}

static void test_long_valid(apr_pool_t *p)
{
    char buf[64];

    (void)p;
    check_long("0", 0, 10, 0);
    check_long("-0", 0, 10, 0);
    check_long("10", 0, 10, 10);
    check_long("-5", -10, 10, -5);
    check_long("4096", 1, 4096, 4096);
    check_long("0300", 1, 4096, 300);
    snprintf(buf, sizeof(buf), "%ld", LONG_MAX);
    check_long(buf, LONG_MIN, LONG_MAX, LONG_MAX);
    snprintf(buf, sizeof(buf), "%ld", LONG_MIN);
    check_long(buf, LONG_MIN, LONG_MAX, LONG_MIN);
}

static void test_long_rejects(apr_pool_t *p)
{
    static const char *const bad[] = { "",    "-",   "--1", "abc",  "1.0",
                                       "1e3", " 1",  "1 ",  "+1",   "0x10",
                                       "1k",  "12a", "\t3", "1,000" };
    const char *reason = "must be a whole number from 1 to 4096";
    char buf[64];
    apr_size_t i;

    (void)p;
    for (i = 0; i < sizeof(bad) / sizeof(*bad); i++) {
        check_long_bad(bad[i], 1, 4096, reason);
    }
    check_long_bad(NULL, 1, 4096, reason);
    check_long_bad("0", 1, 4096, reason);
    check_long_bad("4097", 1, 4096, reason);
    check_long_bad("-1", 1, 4096, reason);
    check_long_bad("99999999999999999999", 1, 4096, reason);
    check_long_bad("-99999999999999999999", 1, 4096, reason);
    check_long_bad("0", 1, LONG_MAX, "must be a whole number of at least 1");
    snprintf(buf, sizeof(buf), "%lu0", (unsigned long)LONG_MAX);
    check_long_bad(buf, 0, LONG_MAX, "must be a whole number of at least 0");
    check_long_bad("-11", -10, 10, "must be a whole number from -10 to 10");
}

static void check_double(const char *text, double min, double max, double want)
{
    double v = -12345;

    kvc_test_context = text;
    KVC_CHECK_NULL(kvc_parse_double(text, min, max, &v));
    if (fabs(v - want) > 1e-12 * fabs(want)) {
        kvc_test_fail(__FILE__, __LINE__, "got %.17g, want %.17g", v, want);
    }
    kvc_test_context = NULL;
}

static void check_double_bad(const char *text, double min, double max,
                             const char *reason)
{
    double v = -12345;

    kvc_test_context = text ? text : "(null)";
    KVC_CHECK_STR(kvc_parse_double(text, min, max, &v), reason);
    KVC_CHECK(v == -12345);
    kvc_test_context = NULL;
}

static void test_double_valid(apr_pool_t *p)
{
    double v = 5;

    (void)p;
    check_double("0", 0, 1, 0);
    check_double("1", 0, 1, 1);
    check_double("0.7", 0, 1, 0.7);
    check_double("0.85", 0, 1, 0.85);
    check_double(".5", 0, 1, 0.5);
    check_double("1.", 0, 1, 1);
    check_double("1.000", 0, 1, 1);
    check_double("-2.5e-3", -1, 1, -2.5e-3);
    check_double("1E2", 0, 1000, 100);
    check_double("25e-1", 0, 10, 2.5);
    check_double("1e+1", 0, 10, 10);
    /* Underflow to zero is a value, not an error. */
    check_double("1e-400", 0, 1, 0);
    /* "-0" is normalised so it never prints back as "-0". */
    KVC_CHECK_NULL(kvc_parse_double("-0", 0, 1, &v));
    KVC_CHECK(v == 0 && !signbit(v));
}

static void test_double_rejects(apr_pool_t *p)
{
    static const char *const bad[] = {
        "",         "nan",   "NaN",    "-nan",  "inf",  "-inf", "infinity",
        "Infinity", "1e999", "-1e999", "0x1p3", "0x10", " 0.5", "0.5 ",
        "+0.5",     ".",     "-",      "-.",    "e5",   ".e5",  "1e",
        "1e+",      "1e-",   "0.7.1",  "1,5",   "0,7",  "1.5",  "-0.1",
        "2",        "1e1",   "0.5f",   "1..0",  "\n1"
    };
    apr_size_t i;
    char longtext[200];

    (void)p;
    for (i = 0; i < sizeof(bad) / sizeof(*bad); i++) {
        check_double_bad(bad[i], 0, 1, "must be a number from 0 to 1");
    }
    check_double_bad(NULL, 0, 1, "must be a number from 0 to 1");
    check_double_bad("-1", 0, HUGE_VAL, "must be a number of at least 0");
    /* Overflow to infinity is refused even when no maximum would. */
    check_double_bad("1e999", 0, HUGE_VAL, "must be a number of at least 0");
    check_double_bad("-1e999", -HUGE_VAL, HUGE_VAL,
                     "must be a number of at least -inf");
    check_double_bad("0.1", 0.25, 0.75, "must be a number from 0.25 to 0.75");
    /* Too long to be a threshold anyone means: rejected, not cut. */
    memset(longtext, '0', sizeof(longtext) - 1);
    longtext[sizeof(longtext) - 1] = '\0';
    longtext[1] = '.';
    check_double_bad(longtext, 0, 1, "must be a number from 0 to 1");
}

/* A module calling setlocale() must not turn "0.7" into a config error. */
static void test_double_locale(apr_pool_t *p)
{
    static const char *const locales[] = { "de_DE.UTF-8", "de_DE.utf8",
                                           "fr_FR.UTF-8", "fr_FR.utf8",
                                           "C.UTF-8" };
    char *saved;
    double v = 0;
    apr_size_t i;

    saved = apr_pstrdup(p, setlocale(LC_NUMERIC, NULL));
    for (i = 0; i < sizeof(locales) / sizeof(*locales); i++) {
        if (setlocale(LC_NUMERIC, locales[i]) != NULL) {
            kvc_test_context = locales[i];
            KVC_CHECK_NULL(kvc_parse_double("0.7", 0, 1, &v));
            KVC_CHECK(v == 0.7);
            KVC_CHECK_NOT_NULL(kvc_parse_double("0,7", 0, 1, &v));
            kvc_test_context = NULL;
        }
    }
    setlocale(LC_NUMERIC, saved);
}

const kvc_test_case kvc_parse_tests[] = {
    KVC_TEST(test_duration_units),  KVC_TEST(test_duration_bare_seconds),
    KVC_TEST(test_duration_limits), KVC_TEST(test_duration_rejects),
    KVC_TEST(test_size_forms),      KVC_TEST(test_size_rejects),
    KVC_TEST(test_long_valid),      KVC_TEST(test_long_rejects),
    KVC_TEST(test_double_valid),    KVC_TEST(test_double_rejects),
    KVC_TEST(test_double_locale),   KVC_TEST_END
};
