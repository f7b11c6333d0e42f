/* Licensed under the Apache License, Version 2.0 (the "License"); you may not
 * use this file except in compliance with the License.  You may obtain a copy
 * of the License at http://www.apache.org/licenses/LICENSE-2.0
 */

/**
 * @file fuzz_parse.c
 * @brief Fuzz target: directive values (kvc_parse_duration,
 *        kvc_parse_size, kvc_parse_long, kvc_parse_double).
 *
 * The input up to its first NUL is the value.  Each parser is checked
 * against an independent reference written from its documented grammar
 * (128-bit arithmetic for the integers, strtod() in the C locale for
 * decimals): it must accept exactly what the grammar allows within range,
 * with the same value, and leave the output untouched otherwise, giving a
 * non-empty reason.
 */

#include <float.h>
#include <limits.h>
#include <math.h>
#include <string.h>

#include "kvc_parse.h"

#include "fuzz_common.h"

typedef __int128 fz_i128;

#define FZ_SENTINEL 0x5a5a5a5a

/* Digits at s (at least one), value capped just above any limit used. */
static size_t fz_ref_digits(const char *s, fz_i128 *v)
{
    const fz_i128 cap = (fz_i128)1 << 80; /* > any limit; v * 3.6e9 fits */
    size_t n = 0;

    *v = 0;
    while (s[n] >= '0' && s[n] <= '9') {
        if (*v < cap) {
            *v = *v * 10 + (s[n] - '0');
        }
        n++;
    }
    return n;
}

/* Returns 1 and the microseconds when valid and in range. */
static int fz_ref_duration(const char *s, fz_i128 *usec)
{
    fz_i128 v, mult;
    size_t n = fz_ref_digits(s, &v);
    const char *u = s + n;

    if (n == 0) {
        return 0;
    }
    if (*u == '\0' || strcmp(u, "s") == 0) {
        mult = 1000000;
    }
    else if (strcmp(u, "ms") == 0) {
        mult = 1000;
    }
    else if (strcmp(u, "m") == 0) {
        mult = 60000000;
    }
    else if (strcmp(u, "h") == 0) {
        mult = (fz_i128)3600000000LL;
    }
    else {
        return 0;
    }
    *usec = v * mult;
    return *usec <= (fz_i128)INT64_MAX;
}

static int fz_ref_size(const char *s, fz_i128 *bytes)
{
    fz_i128 v, mult = 1;
    size_t n = fz_ref_digits(s, &v);
    const char *u = s + n;

    if (n == 0) {
        return 0;
    }
    if (*u != '\0') {
        if (u[1] != '\0') {
            return 0;
        }
        switch (*u) {
        case 'k':
        case 'K': mult = 1024; break;
        case 'm':
        case 'M': mult = 1024 * 1024; break;
        case 'g':
        case 'G': mult = 1024 * 1024 * 1024; break;
        default: return 0;
        }
    }
    *bytes = v * mult;
    return *bytes <= (fz_i128)(sizeof(apr_off_t) == 8 ? INT64_MAX : INT32_MAX);
}

static int fz_ref_long(const char *s, long min, long max, long *out)
{
    fz_i128 v;
    int neg = (*s == '-');
    size_t n = fz_ref_digits(s + neg, &v);

    if (n == 0 || s[neg + n] != '\0') {
        return 0;
    }
    if (neg) {
        v = -v;
    }
    if (v < min || v > max) {
        return 0;
    }
    *out = (long)v;
    return 1;
}

/* -?(D+(.D*)?|.D+)([eE][+-]?D+)? */
static int fz_ref_decimal(const char *s)
{
    size_t i = 0, id = 0, fd = 0, ed = 0;

    if (s[i] == '-') {
        i++;
    }
    for (; s[i] >= '0' && s[i] <= '9'; i++) {
        id++;
    }
    if (s[i] == '.') {
        for (i++; s[i] >= '0' && s[i] <= '9'; i++) {
            fd++;
        }
    }
    if (id + fd == 0) {
        return 0;
    }
    if (s[i] == 'e' || s[i] == 'E') {
        i++;
        if (s[i] == '+' || s[i] == '-') {
            i++;
        }
        for (; s[i] >= '0' && s[i] <= '9'; i++) {
            ed++;
        }
        if (ed == 0) {
            return 0;
        }
    }
    return s[i] == '\0';
}

static void fz_check_double(const char *s, double min, double max)
{
    double got = -12345.0, want;
    const char *r = kvc_parse_double(s, min, max, &got);
    char *end;

    if (!fz_ref_decimal(s)) {
        FZ_CHECK(r != NULL && *r != '\0' && got == -12345.0);
        return;
    }
    want = strtod(s, &end);
    FZ_CHECK(*end == '\0');
    if (!isfinite(want) || want < min || want > max) {
        FZ_CHECK(r != NULL && *r != '\0' && got == -12345.0);
        return;
    }
    /* Values longer than the parser's buffer may be refused. */
    if (r != NULL) {
        FZ_CHECK(strlen(s) >= 80 && *r != '\0' && got == -12345.0);
        return;
    }
    if (want == 0.0) {
        want = 0.0; /* "-0" reads as +0 */
    }
    FZ_CHECK(memcmp(&got, &want, sizeof(got)) == 0);
}

static void fz_check_long(const char *s, long min, long max)
{
    long got = FZ_SENTINEL, want = 0;
    const char *r = kvc_parse_long(s, min, max, &got);

    if (fz_ref_long(s, min, max, &want)) {
        FZ_CHECK(r == NULL && got == want);
    }
    else {
        FZ_CHECK(r != NULL && *r != '\0' && got == FZ_SENTINEL);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *s = fz_cstr(data, size);
    apr_interval_time_t usec = FZ_SENTINEL;
    apr_off_t bytes = FZ_SENTINEL;
    fz_i128 want;
    const char *r;

    r = kvc_parse_duration(s, &usec);
    if (fz_ref_duration(s, &want)) {
        FZ_CHECK(r == NULL && (fz_i128)usec == want && usec >= 0);
    }
    else {
        FZ_CHECK(r != NULL && *r != '\0' && usec == FZ_SENTINEL);
    }

    r = kvc_parse_size(s, &bytes);
    if (fz_ref_size(s, &want)) {
        FZ_CHECK(r == NULL && (fz_i128)bytes == want && bytes >= 0);
    }
    else {
        FZ_CHECK(r != NULL && *r != '\0' && bytes == FZ_SENTINEL);
    }

    fz_check_long(s, LONG_MIN, LONG_MAX);
    fz_check_long(s, 0, 100);
    fz_check_long(s, 1, LONG_MAX);
    fz_check_long(s, -5, -1);

    fz_check_double(s, 0.0, 1.0);
    fz_check_double(s, -DBL_MAX, DBL_MAX);
    fz_check_double(s, 0.0, INFINITY);

    FZ_CHECK(kvc_parse_duration(NULL, &usec) != NULL);
    FZ_CHECK(kvc_parse_size(NULL, &bytes) != NULL);

    free(s);
    return 0;
}
