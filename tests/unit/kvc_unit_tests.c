/* Licensed under the Apache License, Version 2.0 (the "License"); you may not
 * use this file except in compliance with the License.  You may obtain a copy
 * of the License at http://www.apache.org/licenses/LICENSE-2.0
 */

/**
 * @file kvc_unit_tests.c
 * @brief Runs every unit-test case; "--bench" runs the benchmarks instead.
 *
 * Usage: kvc_unit_tests [--bench | --list | SUBSTRING...]
 * The last line of a test run is always "N passed, M failed"; the exit
 * status is non-zero when any case failed.
 */

#include <stdarg.h>
#include <stdlib.h>

#include "apr_general.h"

#include "kvc_test.h"

int kvc_test_failed_checks;
const char *kvc_test_context;

void kvc_test_fail(const char *file, int line, const char *fmt, ...)
{
    va_list ap;

    kvc_test_failed_checks++;
    fprintf(stdout, "    %s:%d: ", file, line);
    va_start(ap, fmt);
    vfprintf(stdout, fmt, ap);
    va_end(ap);
    if (kvc_test_context != NULL) {
        fprintf(stdout, " [%s]", kvc_test_context);
    }
    fputc('\n', stdout);
}

char *kvc_test_exact(const char *data, apr_size_t len)
{
    /* malloc(0) is a valid zero-sized block for the sanitizers; keep a
     * non-NULL pointer even where it would return NULL.
     */
    char *buf = malloc(len ? len : 1);

    if (buf == NULL) {
        fprintf(stderr, "out of memory\n");
        exit(2);
    }
    if (len > 0) {
        memcpy(buf, data, len);
    }
    return buf;
}

static const kvc_test_case *const kvc_suites[] = {
    kvc_parse_tests,     kvc_extract_tests,     kvc_wire_tests,
    kvc_json_tests,      kvc_json_writer_tests, kvc_score_tests,
    kvc_stats_tests,     kvc_hotset_tests,      kvc_signals_tests,
    kvc_breaker_tests,   kvc_backoff_tests,     kvc_lru_tests,
    kvc_hot_tests,       kvc_promtext_tests,    kvc_tokpack_tests,
    kvc_usage_tests,     kvc_sessions_tests,    kvc_pending_tests,
    kvc_selfcheck_tests, kvc_fleet_tests,       NULL
};

static int kvc_selected(const char *name, int argc, const char *const *argv)
{
    int i;

    if (argc <= 1) {
        return 1;
    }
    for (i = 1; i < argc; i++) {
        if (strstr(name, argv[i]) != NULL) {
            return 1;
        }
    }
    return 0;
}

int main(int argc, const char *const *argv)
{
    apr_pool_t *root;
    int passed = 0, failed = 0, s, i;

    /* Keep what was printed if a case crashes. */
    setvbuf(stdout, NULL, _IOLBF, 0);
    if (apr_app_initialize(&argc, &argv, NULL) != APR_SUCCESS) {
        fprintf(stderr, "apr_app_initialize failed\n");
        return 2;
    }
    atexit(apr_terminate);
    if (apr_pool_create(&root, NULL) != APR_SUCCESS) {
        fprintf(stderr, "apr_pool_create failed\n");
        return 2;
    }

    if (argc > 1 && strcmp(argv[1], "--bench") == 0) {
        return kvc_bench_run(root) == 0 ? 0 : 1;
    }
    if (argc > 1 && strcmp(argv[1], "--list") == 0) {
        for (s = 0; kvc_suites[s] != NULL; s++) {
            for (i = 0; kvc_suites[s][i].name != NULL; i++) {
                printf("%s\n", kvc_suites[s][i].name);
            }
        }
        return 0;
    }

    for (s = 0; kvc_suites[s] != NULL; s++) {
        for (i = 0; kvc_suites[s][i].name != NULL; i++) {
            const kvc_test_case *tc = &kvc_suites[s][i];
            apr_pool_t *p;

            if (!kvc_selected(tc->name, argc, argv)) {
                continue;
            }
            apr_pool_create(&p, root);
            kvc_test_failed_checks = 0;
            kvc_test_context = NULL;
            tc->fn(p);
            apr_pool_destroy(p);
            if (kvc_test_failed_checks == 0) {
                passed++;
            }
            else {
                failed++;
                printf("FAIL %s (%d failed checks)\n", tc->name,
                       kvc_test_failed_checks);
            }
            fflush(stdout);
        }
    }
    apr_pool_destroy(root);
    printf("%d passed, %d failed\n", passed, failed);
    return failed == 0 ? 0 : 1;
}
