/* Licensed under the Apache License, Version 2.0 (the "License"); you may not
 * use this file except in compliance with the License.  You may obtain a copy
 * of the License at http://www.apache.org/licenses/LICENSE-2.0
 */

/**
 * @file kvc_parse.c
 * @brief Validation of mod_kvcache directive values.
 */

#include <errno.h>
#include <float.h>
#include <limits.h>
#include <locale.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kvc_parse.h"

/* Range reasons must name the numbers, but the API has no pool (directive
 * handlers copy the reason at once).  A per-thread buffer keeps that safe
 * even if some caller ever parses outside httpd's single-threaded config
 * phase.
 */
#if defined(__GNUC__) || defined(__clang__)
#define KVC_TLS __thread
#else
#define KVC_TLS
#endif

#define KVC_REASON_LEN 128

static KVC_TLS char kvc_reason_buf[KVC_REASON_LEN];

static const char kvc_duration_reason[] =
    "not a duration; use e.g. 50ms, 2s, 5m, 1h or whole seconds";
static const char kvc_duration_big[] = "duration is too large";
static const char kvc_size_reason[] =
    "not a size; use bytes with an optional K, M or G suffix, e.g. 16M";
static const char kvc_size_big[] = "size is too large";

/* apr_off_t is 64 bits on every platform httpd builds with large file
 * support, but APR publishes no maximum, so derive it from the width.
 */
#define KVC_OFF_T_MAX                                                          \
    ((apr_off_t)(sizeof(apr_off_t) == 8 ? APR_INT64_MAX : APR_INT32_MAX))

/* Reads a run of ASCII digits into *out.  Returns the number of digits
 * consumed, or -1 when the value exceeds 'limit'.  Done by hand because
 * strtol() and friends skip leading blanks and accept signs, which would
 * let " 5" or "+5" slip through as valid.
 */
static int kvc_digits(const char *s, apr_uint64_t limit, apr_uint64_t *out)
{
    apr_uint64_t v = 0;
    int n = 0;

    while (s[n] >= '0' && s[n] <= '9') {
        unsigned d = (unsigned)(s[n] - '0');
        if (v > (limit - d) / 10) {
            return -1;
        }
        v = v * 10 + d;
        n++;
    }
    *out = v;
    return n;
}

const char *kvc_parse_duration(const char *text, apr_interval_time_t *out_usec)
{
    apr_uint64_t v, mult;
    const char *unit;
    int n;

    if (text == NULL || out_usec == NULL) {
        return kvc_duration_reason;
    }
    n = kvc_digits(text, APR_INT64_MAX, &v);
    if (n < 0) {
        return kvc_duration_big;
    }
    if (n == 0) {
        return kvc_duration_reason;
    }
    unit = text + n;
    if (*unit == '\0' || strcmp(unit, "s") == 0) {
        mult = APR_USEC_PER_SEC;
    }
    else if (strcmp(unit, "ms") == 0) {
        mult = 1000;
    }
    else if (strcmp(unit, "m") == 0) {
        mult = 60 * (apr_uint64_t)APR_USEC_PER_SEC;
    }
    else if (strcmp(unit, "h") == 0) {
        mult = 3600 * (apr_uint64_t)APR_USEC_PER_SEC;
    }
    else {
        return kvc_duration_reason;
    }
    if (v > (apr_uint64_t)APR_INT64_MAX / mult) {
        return kvc_duration_big;
    }
    *out_usec = (apr_interval_time_t)(v * mult);
    return NULL;
}

const char *kvc_parse_size(const char *text, apr_off_t *out_bytes)
{
    apr_uint64_t v, mult = 1;
    const char *unit;
    int n;

    if (text == NULL || out_bytes == NULL) {
        return kvc_size_reason;
    }
    n = kvc_digits(text, (apr_uint64_t)KVC_OFF_T_MAX, &v);
    if (n < 0) {
        return kvc_size_big;
    }
    if (n == 0) {
        return kvc_size_reason;
    }
    unit = text + n;
    if (*unit != '\0') {
        if (unit[1] != '\0') {
            return kvc_size_reason;
        }
        switch (*unit) {
        case 'k':
        case 'K': mult = APR_UINT64_C(1) << 10; break;
        case 'm':
        case 'M': mult = APR_UINT64_C(1) << 20; break;
        case 'g':
        case 'G': mult = APR_UINT64_C(1) << 30; break;
        default: return kvc_size_reason;
        }
    }
    if (v > (apr_uint64_t)KVC_OFF_T_MAX / mult) {
        return kvc_size_big;
    }
    *out_bytes = (apr_off_t)(v * mult);
    return NULL;
}

static const char *kvc_long_reason(long min, long max)
{
    if (max == LONG_MAX) {
        snprintf(kvc_reason_buf, sizeof(kvc_reason_buf),
                 "must be a whole number of at least %ld", min);
    }
    else {
        snprintf(kvc_reason_buf, sizeof(kvc_reason_buf),
                 "must be a whole number from %ld to %ld", min, max);
    }
    return kvc_reason_buf;
}

const char *kvc_parse_long(const char *text, long min, long max, long *out)
{
    apr_uint64_t mag, limit;
    int neg = 0, n;
    long v;

    if (text == NULL || out == NULL) {
        return kvc_long_reason(min, max);
    }
    if (*text == '-') {
        neg = 1;
        text++;
    }
    /* LONG_MIN's magnitude is one more than LONG_MAX's. */
    limit = neg ? (apr_uint64_t)LONG_MAX + 1 : (apr_uint64_t)LONG_MAX;
    n = kvc_digits(text, limit, &mag);
    if (n <= 0 || text[n] != '\0') {
        return kvc_long_reason(min, max);
    }
    if (neg) {
        v = (mag == (apr_uint64_t)LONG_MAX + 1) ? LONG_MIN : -(long)mag;
    }
    else {
        v = (long)mag;
    }
    if (v < min || v > max) {
        return kvc_long_reason(min, max);
    }
    *out = v;
    return NULL;
}

static const char *kvc_double_reason(double min, double max)
{
    if (isinf(max) || max >= DBL_MAX) {
        snprintf(kvc_reason_buf, sizeof(kvc_reason_buf),
                 "must be a number of at least %g", min);
    }
    else {
        snprintf(kvc_reason_buf, sizeof(kvc_reason_buf),
                 "must be a number from %g to %g", min, max);
    }
    return kvc_reason_buf;
}

/* Checks the strict decimal grammar  -?(D+(.D*)?|.D+)([eE][+-]?D+)?  so
 * that strtod() never sees the forms it would otherwise accept: blanks,
 * '+', "nan", "inf", hexadecimal floats.
 */
static int kvc_decimal_syntax(const char *s)
{
    size_t i = 0, int_digits = 0, frac_digits = 0;

    if (s[i] == '-') {
        i++;
    }
    while (s[i] >= '0' && s[i] <= '9') {
        i++;
        int_digits++;
    }
    if (s[i] == '.') {
        i++;
        while (s[i] >= '0' && s[i] <= '9') {
            i++;
            frac_digits++;
        }
    }
    if (int_digits + frac_digits == 0) {
        return 0;
    }
    if (s[i] == 'e' || s[i] == 'E') {
        size_t exp_digits = 0;

        i++;
        if (s[i] == '+' || s[i] == '-') {
            i++;
        }
        while (s[i] >= '0' && s[i] <= '9') {
            i++;
            exp_digits++;
        }
        if (exp_digits == 0) {
            return 0;
        }
    }
    return s[i] == '\0';
}

const char *kvc_parse_double(const char *text, double min, double max,
                             double *out)
{
    /* Long enough for any sensible threshold; longer text is rejected
     * rather than truncated.
     */
    char buf[80];
    const char *dp;
    size_t dplen, i, o = 0;
    char *end;
    double v;

    if (text == NULL || out == NULL || !kvc_decimal_syntax(text)) {
        return kvc_double_reason(min, max);
    }

    /* strtod() honours LC_NUMERIC; another module calling setlocale()
     * must not turn "0.7" into a config error, so swap in the locale's
     * separator.
     */
    dp = localeconv()->decimal_point;
    dplen = (dp != NULL) ? strlen(dp) : 0;
    if (dplen == 0) {
        dp = ".";
        dplen = 1;
    }
    for (i = 0; text[i] != '\0'; i++) {
        if (text[i] == '.') {
            if (o + dplen >= sizeof(buf)) {
                return kvc_double_reason(min, max);
            }
            memcpy(buf + o, dp, dplen);
            o += dplen;
        }
        else {
            if (o + 1 >= sizeof(buf)) {
                return kvc_double_reason(min, max);
            }
            buf[o++] = text[i];
        }
    }
    buf[o] = '\0';

    errno = 0;
    v = strtod(buf, &end);
    if (end != buf + o || !isfinite(v)) {
        return kvc_double_reason(min, max);
    }
    /* ERANGE with a finite result is underflow: the value is as close to
     * the text as a double gets, so it is accepted.
     */
    if (v < min || v > max) {
        return kvc_double_reason(min, max);
    }
    /* "-0" would otherwise print back as "-0" in status output. */
    *out = (v == 0.0) ? 0.0 : v;
    return NULL;
}
