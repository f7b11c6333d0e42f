/* Licensed under the Apache License, Version 2.0 (the "License"); you may not
 * use this file except in compliance with the License.  You may obtain a copy
 * of the License at http://www.apache.org/licenses/LICENSE-2.0
 */

/**
 * @file kvc_test.h
 * @brief Minimal unit-test harness for the httpd-independent units.
 *
 * A test is a function taking a fresh pool; each test file exports a
 * NULL-terminated array of cases that kvc_unit_tests.c runs.  A case fails
 * when any of its checks fails; every failed check is reported with its
 * file and line, and the run continues.
 */

#ifndef KVC_TEST_H
#define KVC_TEST_H

#include <stdio.h>
#include <string.h>

#include "apr.h"
#include "apr_pools.h"

typedef void (*kvc_test_fn)(apr_pool_t *p);

typedef struct {
    const char *name;
    kvc_test_fn fn;
} kvc_test_case;

#define KVC_TEST(fn)                                                           \
    {                                                                          \
#fn, fn                                                                \
    }
#define KVC_TEST_END                                                           \
    {                                                                          \
        NULL, NULL                                                             \
    }

/* Suites (one per unit) and the benchmark. */
extern const kvc_test_case kvc_parse_tests[];
extern const kvc_test_case kvc_extract_tests[];
extern const kvc_test_case kvc_wire_tests[];
extern const kvc_test_case kvc_json_tests[];
extern const kvc_test_case kvc_json_writer_tests[];
extern const kvc_test_case kvc_score_tests[];
extern const kvc_test_case kvc_stats_tests[];
extern const kvc_test_case kvc_hotset_tests[];
extern const kvc_test_case kvc_signals_tests[];
extern const kvc_test_case kvc_breaker_tests[];
extern const kvc_test_case kvc_backoff_tests[];
extern const kvc_test_case kvc_lru_tests[];
extern const kvc_test_case kvc_hot_tests[];
extern const kvc_test_case kvc_promtext_tests[];
extern const kvc_test_case kvc_tokpack_tests[];
extern const kvc_test_case kvc_usage_tests[];
extern const kvc_test_case kvc_sessions_tests[];
extern const kvc_test_case kvc_pending_tests[];
extern const kvc_test_case kvc_selfcheck_tests[];
extern const kvc_test_case kvc_fleet_tests[];
int kvc_bench_run(apr_pool_t *p);

/* Failed checks in the running case; only the main thread may check. */
extern int kvc_test_failed_checks;

/* Label added to failure reports, e.g. the input of a table-driven loop;
 * reset before every case.  Must outlive the checks that use it. */
extern const char *kvc_test_context;

#if defined(__GNUC__)
__attribute__((format(printf, 3, 4)))
#endif
void kvc_test_fail(const char *file, int line, const char *fmt, ...);

/** Heap copy of exactly len bytes, no terminator, so that ASan and
 *  valgrind catch a parser reading past len.  Release with free(). */
char *kvc_test_exact(const char *data, apr_size_t len);

/** The value at path (member names joined by '.') in a JSON text, read
 *  with the kvc_json scanner: a string decoded and NUL-terminated, any
 *  other value as its JSON text; a repeated member counts with its last
 *  value.  NULL if the text is not valid JSON or has no such member. */
const char *kvc_test_json_at(const char *text, const char *path, apr_pool_t *p);

#define KVC_CHECK(cond)                                                        \
    do {                                                                       \
        if (!(cond)) {                                                         \
            kvc_test_fail(__FILE__, __LINE__, "%s", #cond);                    \
        }                                                                      \
    } while (0)

#define KVC_CHECK_INT(actual, expected)                                        \
    do {                                                                       \
        long long kvc_a_ = (long long)(actual);                                \
        long long kvc_e_ = (long long)(expected);                              \
        if (kvc_a_ != kvc_e_) {                                                \
            kvc_test_fail(__FILE__, __LINE__, "%s: got %lld, want %lld",       \
                          #actual, kvc_a_, kvc_e_);                            \
        }                                                                      \
    } while (0)

#define KVC_CHECK_STR(actual, expected)                                        \
    do {                                                                       \
        const char *kvc_a_ = (actual);                                         \
        const char *kvc_e_ = (expected);                                       \
        if (kvc_a_ == NULL || kvc_e_ == NULL ? kvc_a_ != kvc_e_                \
                                             : strcmp(kvc_a_, kvc_e_) != 0) {  \
            kvc_test_fail(__FILE__, __LINE__, "%s: got \"%s\", want \"%s\"",   \
                          #actual, kvc_a_ ? kvc_a_ : "(null)",                 \
                          kvc_e_ ? kvc_e_ : "(null)");                         \
        }                                                                      \
    } while (0)

#define KVC_CHECK_NULL(actual)                                                 \
    do {                                                                       \
        const void *kvc_a_ = (actual);                                         \
        if (kvc_a_ != NULL) {                                                  \
            kvc_test_fail(__FILE__, __LINE__, "%s: want NULL", #actual);       \
        }                                                                      \
    } while (0)

#define KVC_CHECK_NOT_NULL(actual)                                             \
    do {                                                                       \
        if ((actual) == NULL) {                                                \
            kvc_test_fail(__FILE__, __LINE__, "%s: got NULL", #actual);        \
        }                                                                      \
    } while (0)

#endif /* KVC_TEST_H */
