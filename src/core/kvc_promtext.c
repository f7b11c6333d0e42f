/* Licensed under the Apache License, Version 2.0 (the "License"); you may not
 * use this file except in compliance with the License.  You may obtain a copy
 * of the License at http://www.apache.org/licenses/LICENSE-2.0
 */

/**
 * @file kvc_promtext.c
 * @brief Line-by-line Prometheus text scanner with a locale-free number
 *        reader.
 */

#include <float.h>
#include <string.h>

#include "kvc_promtext.h"

/* Largest decimal digit count that always fits an apr_uint64_t. */
#define KVC_PT_MAX_DIGITS 19

static const double kvc_pt_pow10[] = { 1e0,  1e1,  1e2,  1e3,  1e4,  1e5,
                                       1e6,  1e7,  1e8,  1e9,  1e10, 1e11,
                                       1e12, 1e13, 1e14, 1e15, 1e16, 1e17,
                                       1e18, 1e19, 1e20, 1e21, 1e22 };

static int kvc_pt_blank(char c)
{
    /* '\r' too: a CRLF exposition is not valid, but is unambiguous. */
    return c == ' ' || c == '\t' || c == '\r';
}

static int kvc_pt_digit(char c)
{
    return c >= '0' && c <= '9';
}

static int kvc_pt_alpha(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
}

static const char *kvc_pt_skip_blanks(const char *s, const char *e)
{
    while (s < e && kvc_pt_blank(*s)) {
        s++;
    }
    return s;
}

/* Case-insensitive comparison of [s, e) with a lowercase word. */
static int kvc_pt_word(const char *s, const char *e, const char *word)
{
    apr_size_t n = strlen(word), i;

    if ((apr_size_t)(e - s) != n) {
        return 0;
    }
    for (i = 0; i < n; i++) {
        char c = s[i];

        if (c >= 'A' && c <= 'Z') {
            c = (char)(c - 'A' + 'a');
        }
        if (c != word[i]) {
            return 0;
        }
    }
    return 1;
}

/* mantissa * 10^exp10.  Exact (one correctly rounded operation) for the
 * values exporters actually print; otherwise within a few ulps, which is
 * plenty for load figures.
 */
static double kvc_pt_scale(apr_uint64_t mantissa, long exp10)
{
    double v = (double)mantissa;

    if (mantissa == 0) {
        return 0.0;
    }
    if (exp10 > 400) {
        return v * 1e308 * 1e308; /* +Inf: rejected by caller */
    }
    if (exp10 < -400) {
        return 0.0;
    }
    while (exp10 > 22) {
        v *= 1e22;
        exp10 -= 22;
    }
    while (exp10 < -22) {
        v /= 1e22;
        exp10 += 22;
    }
    return exp10 >= 0 ? v * kvc_pt_pow10[exp10] : v / kvc_pt_pow10[-exp10];
}

/* Parses the value token [s, e).  Returns 1 with a finite *v, 0 for a
 * valid non-finite value (NaN, Inf, overflow) and -1 for a malformed
 * token.
 */
static int kvc_pt_number(const char *s, const char *e, double *v)
{
    int neg = 0, digits = 0, any = 0;
    apr_uint64_t mantissa = 0;
    long exp10 = 0;
    double d;

    if (s < e && (*s == '+' || *s == '-')) {
        neg = *s == '-';
        s++;
    }
    if (kvc_pt_word(s, e, "nan") || kvc_pt_word(s, e, "inf")
        || kvc_pt_word(s, e, "infinity")) {
        return 0;
    }
    for (; s < e && kvc_pt_digit(*s); s++) {
        any = 1;
        if (digits < KVC_PT_MAX_DIGITS) {
            if (mantissa != 0 || *s != '0') {
                mantissa = mantissa * 10 + (apr_uint64_t)(*s - '0');
                digits++;
            }
        }
        else {
            exp10++; /* a dropped integer digit */
        }
    }
    if (s < e && *s == '.') {
        for (s++; s < e && kvc_pt_digit(*s); s++) {
            any = 1;
            if (digits < KVC_PT_MAX_DIGITS) {
                if (mantissa != 0 || *s != '0') {
                    mantissa = mantissa * 10 + (apr_uint64_t)(*s - '0');
                    digits++;
                }
                exp10--;
            }
        }
    }
    if (!any) {
        return -1;
    }
    if (s < e && (*s == 'e' || *s == 'E')) {
        int eneg = 0, edigits = 0;
        long x = 0;

        s++;
        if (s < e && (*s == '+' || *s == '-')) {
            eneg = *s == '-';
            s++;
        }
        for (; s < e && kvc_pt_digit(*s); s++) {
            edigits++;
            if (x < 100000) { /* saturate: 1e100000 is Inf anyway */
                x = x * 10 + (*s - '0');
            }
        }
        if (edigits == 0) {
            return -1;
        }
        exp10 += eneg ? -x : x;
    }
    if (s != e) {
        return -1;
    }
    d = kvc_pt_scale(mantissa, exp10);
    /* d - d is NaN for infinities (and NaN), 0 for finite values. */
    if (d - d != 0.0) {
        return 0;
    }
    *v = neg ? -d : d;
    return 1;
}

/* Skips a label set; s points at '{'.  Returns the position after '}'
 * or NULL when malformed.
 */
static const char *kvc_pt_labels(const char *s, const char *e)
{
    s++;
    for (;;) {
        s = kvc_pt_skip_blanks(s, e);
        if (s < e && *s == '}') {
            return s + 1;
        }
        if (s == e || !kvc_pt_alpha(*s)) {
            return NULL;
        }
        while (s < e && (kvc_pt_alpha(*s) || kvc_pt_digit(*s))) {
            s++;
        }
        s = kvc_pt_skip_blanks(s, e);
        if (s == e || *s != '=') {
            return NULL;
        }
        s = kvc_pt_skip_blanks(s + 1, e);
        if (s == e || *s != '"') {
            return NULL;
        }
        /* Any byte but an unescaped quote, so braces, commas and '#' in
         * values cannot end the label set early.
         */
        for (s++; s < e && *s != '"'; s++) {
            if (*s == '\\' && ++s == e) {
                return NULL;
            }
        }
        if (s == e) {
            return NULL;
        }
        s = kvc_pt_skip_blanks(s + 1, e);
        if (s < e && *s == ',') {
            s++;
        }
        else if (s == e || *s != '}') {
            return NULL;
        }
    }
}

static int kvc_pt_wanted(const char *name, apr_size_t nlen,
                         const char *const *names, apr_size_t n)
{
    apr_size_t i;

    for (i = 0; i < n; i++) {
        if (names[i] != NULL && strncmp(names[i], name, nlen) == 0
            && names[i][nlen] == '\0') {
            return 1;
        }
    }
    return 0;
}

/* One line [s, e) without its newline. */
static void kvc_pt_line(const char *s, const char *e, const char *const *names,
                        apr_size_t n, double *out, int *found)
{
    const char *name, *val, *ts;
    apr_size_t nlen, i;
    double v;

    s = kvc_pt_skip_blanks(s, e);
    if (s == e || *s == '#') {
        return;
    }
    name = s;
    if (!kvc_pt_alpha(*s) && *s != ':') {
        return;
    }
    while (s < e && (kvc_pt_alpha(*s) || kvc_pt_digit(*s) || *s == ':')) {
        s++;
    }
    nlen = (apr_size_t)(s - name);
    /* Most lines are other metrics: reject them before parsing labels. */
    if (!kvc_pt_wanted(name, nlen, names, n)) {
        return;
    }
    if (s < e && !kvc_pt_blank(*s) && *s != '{') {
        return; /* e.g. "name-x 1": not a metric name */
    }
    s = kvc_pt_skip_blanks(s, e);
    if (s < e && *s == '{') {
        s = kvc_pt_labels(s, e);
        if (s == NULL) {
            return;
        }
        s = kvc_pt_skip_blanks(s, e);
    }
    val = s;
    while (s < e && !kvc_pt_blank(*s)) {
        s++;
    }
    if (kvc_pt_number(val, s, &v) != 1) {
        return;
    }
    s = kvc_pt_skip_blanks(s, e);
    if (s < e) {
        /* Optional timestamp: integer milliseconds. */
        ts = s;
        if (*s == '-') {
            s++;
        }
        while (s < e && kvc_pt_digit(*s)) {
            s++;
        }
        if (s == ts || (s == ts + 1 && *ts == '-')) {
            return;
        }
        if (kvc_pt_skip_blanks(s, e) != e) {
            return;
        }
    }
    for (i = 0; i < n; i++) {
        if (names[i] != NULL && strncmp(names[i], name, nlen) == 0
            && names[i][nlen] == '\0') {
            double sum = out[i] + v;

            /* Finite samples can still add up to infinity. */
            if (sum > DBL_MAX || sum < -DBL_MAX) {
                continue;
            }
            out[i] = sum;
            found[i]++;
        }
    }
}

int kvc_promtext_values(const char *text, apr_size_t len,
                        const char *const *names, apr_size_t n, double *out,
                        int *found)
{
    const char *p = text, *end;
    apr_size_t i;
    int count = 0;

    for (i = 0; i < n; i++) {
        out[i] = 0.0;
        found[i] = 0;
    }
    if (text == NULL) {
        return 0;
    }
    end = text + len;
    while (p < end) {
        const char *nl = memchr(p, '\n', (apr_size_t)(end - p));

        if (nl == NULL) {
            break; /* unterminated: possibly cut short */
        }
        kvc_pt_line(p, nl, names, n, out, found);
        p = nl + 1;
    }
    for (i = 0; i < n; i++) {
        count += found[i] > 0;
    }
    return count;
}
