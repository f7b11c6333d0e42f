/* Licensed under the Apache License, Version 2.0 (the "License"); you may not
 * use this file except in compliance with the License.  You may obtain a copy
 * of the License at http://www.apache.org/licenses/LICENSE-2.0
 */

#include "apr_atomic.h"

#include "kvc_json.h"
#include "kvc_promtext.h"
#include "kvc_selfcheck.h"

static const char *const check_names[KVC_SC_COUNT] = {
    "members", "route", "controller", "instance", "tokenize", "metrics"
};

const char *kvc_sc_check_name(kvc_sc_check check)
{
    return (unsigned)check < KVC_SC_COUNT ? check_names[check] : "unknown";
}

int kvc_selfcheck_claim(kvc_selfcheck_state *st)
{
    return apr_atomic_cas32(&st->started, 1, 0) == 0;
}

void kvc_selfcheck_publish(kvc_selfcheck_state *st,
                           const apr_uint32_t problems[KVC_SC_COUNT])
{
    int i;

    for (i = 0; i < KVC_SC_COUNT; i++) {
        apr_atomic_set32(&st->problems[i], problems[i]);
    }
    /* Readers look at the counts once this is set. */
    apr_atomic_set32(&st->completed, 1);
}

apr_uint32_t kvc_selfcheck_total(const kvc_selfcheck_state *st)
{
    apr_uint32_t total = 0;
    int i;

    for (i = 0; i < KVC_SC_COUNT; i++) {
        total += apr_atomic_read32((volatile apr_uint32_t *)&st->problems[i]);
    }
    return total;
}

/* An error code: 1 for 0, 0 for any other number, -1 if not a number. */
static int zero_code(kvc_json_scan *s)
{
    const char *start = s->p;

    if (!kvc_json_number(s)) {
        return -1;
    }
    return (s->p - start == 1 && *start == '0')
           || (s->p - start == 2 && start[0] == '-' && start[1] == '0');
}

/* {"worker id": code, ...}: 1 all zero, 0 some error, -1 garbage. */
static int zero_codes(kvc_json_scan *s)
{
    apr_size_t count = 0;
    kvc_json_str name;
    kvc_json_step step;
    int all_zero = 1, z;

    if (s->p >= s->end || *s->p != '{') {
        return -1;
    }
    s->p++;
    while ((step = kvc_json_member(s, &count, &name)) == KVC_JSON_ITEM) {
        if ((z = zero_code(s)) < 0) {
            return -1;
        }
        all_zero &= z;
    }
    return step == KVC_JSON_END ? all_zero : -1;
}

kvc_health_verdict kvc_selfcheck_health(long status, const char *body,
                                        apr_size_t len)
{
    kvc_json_scan s;
    kvc_json_str name;
    kvc_json_step step;
    apr_size_t count = 0;
    int verdict = -2; /* no code seen */

    if (status == 404 || status == 405 || status == 422) {
        return KVC_HEALTH_NO_API;
    }
    if (status == 500) {
        return KVC_HEALTH_UNKNOWN;
    }
    if (status < 200 || status > 299 || !body || !kvc_json_valid(body, len)) {
        return KVC_HEALTH_GARBAGE;
    }
    s.p = body;
    s.end = body + len;
    kvc_json_skip_ws(&s);
    if (s.p >= s.end || *s.p != '{') {
        return KVC_HEALTH_GARBAGE;
    }
    s.p++;
    while ((step = kvc_json_member(&s, &count, &name)) == KVC_JSON_ITEM) {
        if (kvc_json_str_is(&name, "error_codes")) {
            verdict = zero_codes(&s);
        }
        else if (kvc_json_str_is(&name, "error_code")) {
            verdict = zero_code(&s);
        }
        else if (!kvc_json_skip_value(&s, 1)) {
            return KVC_HEALTH_GARBAGE;
        }
        if (verdict == -1) {
            return KVC_HEALTH_GARBAGE;
        }
    }
    if (step != KVC_JSON_END || verdict == -2) {
        return KVC_HEALTH_GARBAGE;
    }
    return verdict ? KVC_HEALTH_OK : KVC_HEALTH_UNHEALTHY;
}

int kvc_selfcheck_metrics_usable(const char *body, apr_size_t len)
{
    static const char *const names[] = { "vllm:kv_cache_usage_perc",
                                         "vllm:gpu_cache_usage_perc" };
    double values[2];
    int found[2];

    return body && kvc_promtext_values(body, len, names, 2, values, found) > 0;
}
