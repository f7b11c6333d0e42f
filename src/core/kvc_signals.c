/* Licensed under the Apache License, Version 2.0 (the "License"); you may not
 * use this file except in compliance with the License.  You may obtain a copy
 * of the License at http://www.apache.org/licenses/LICENSE-2.0
 */

#include <string.h>

#include "apr_atomic.h"
#include "apr_strings.h"

#include "kvc_signals.h"

/* Weight of the newest measurement in the smoothed prefill rate and the
 * mean request size: a few scrapes or requests settle them. */
#define KVC_SMOOTHING 0.3
/* Less prefill time than this between two scrapes measures nothing. */
#define KVC_RATE_MIN_SECONDS 0.05

kvc_instance_signals *kvc_signals_find(kvc_signals *sig, const char *id,
                                       int create)
{
    apr_uint32_t count = apr_atomic_read32(&sig->count);
    apr_uint32_t i;

    for (i = 0; i < count && i < KVC_SIGNALS_MAX; i++) {
        if (!strcmp(sig->entries[i].id, id)) {
            return &sig->entries[i];
        }
    }
    if (!create || count >= KVC_SIGNALS_MAX || strlen(id) >= KVC_ROUTE_SIZE) {
        return NULL;
    }
    memset(&sig->entries[count], 0, sizeof(sig->entries[0]));
    apr_cpystrn(sig->entries[count].id, id, KVC_ROUTE_SIZE);
    sig->entries[count].prompt_tokens = -1;
    /* Published last: a reader that sees the count sees the id. */
    apr_atomic_set32(&sig->count, count + 1);
    return &sig->entries[count];
}

static double smooth(double old, double sample)
{
    return old > 0 ? (1 - KVC_SMOOTHING) * old + KVC_SMOOTHING * sample
                   : sample;
}

double kvc_signals_rate(const kvc_instance_signals *e, double fallback)
{
    return e && e->prefill_rate > 0 ? e->prefill_rate : fallback;
}

double kvc_signals_fleet_rate(const kvc_signals *sig, double fallback)
{
    apr_uint32_t n, i;
    double sum = 0;
    int known = 0;

    if (!sig) {
        return fallback;
    }
    n = apr_atomic_read32((volatile apr_uint32_t *)&sig->count);
    for (i = 0; i < n && i < KVC_SIGNALS_MAX; i++) {
        if (sig->entries[i].prefill_rate > 0) {
            sum += sig->entries[i].prefill_rate;
            known++;
        }
    }
    return known ? sum / known : fallback;
}

/* A fluid of @a tokens at @a since, drained at @a rate until @a now. */
static double drained(double tokens, apr_time_t since, double rate,
                      apr_time_t now)
{
    double gone =
        now > since ? rate * (double)(now - since) / APR_USEC_PER_SEC : 0;

    return tokens > gone ? tokens - gone : 0;
}

double kvc_signals_backlog(const kvc_instance_signals *e, double rate,
                           apr_time_t now)
{
    return e ? drained(e->backlog_tokens, e->backlog_at, rate, now) : 0;
}

void kvc_signals_routed(kvc_instance_signals *e, double work,
                        apr_uint64_t prompt, double rate, apr_time_t now)
{
    e->backlog_tokens =
        drained(e->backlog_tokens, e->backlog_at, rate, now) + work;
    e->backlog_at = now;
    e->mean_work = smooth(e->mean_work, work > 0 ? work : 1);
    e->mean_prompt = smooth(e->mean_prompt, prompt > 0 ? (double)prompt : 1);
    apr_atomic_inc32(&e->inflight);
    apr_atomic_add64(&e->inflight_tokens, prompt);
}

void kvc_signals_done(kvc_instance_signals *e, apr_uint64_t prompt)
{
    apr_atomic_dec32(&e->inflight);
    /* Two's complement: adding the negation subtracts. */
    apr_atomic_add64(&e->inflight_tokens, (apr_uint64_t)0 - prompt);
}

double kvc_signals_decode_tokens(const kvc_instance_signals *e)
{
    double ours, others;

    if (!e) {
        return 0;
    }
    ours =
        (double)apr_atomic_read64((volatile apr_uint64_t *)&e->inflight_tokens);
    others = e->running
             - (double)apr_atomic_read32((volatile apr_uint32_t *)&e->inflight);
    return ours
           + (others > 0
                  ? others
                        * (e->mean_prompt > 0 ? e->mean_prompt
                                              : KVC_SIGNALS_USUAL_REQUEST)
                  : 0);
}

void kvc_signals_scraped(kvc_instance_signals *e, const kvc_scrape_sample *s,
                         apr_time_t now)
{

    /* Counters that went back are a restarted engine: start afresh. */
    if (s->prompt_tokens >= 0 && s->prefill_seconds >= 0
        && e->prompt_tokens >= 0 && s->prompt_tokens >= e->prompt_tokens
        && s->prefill_seconds >= e->prefill_seconds
        && s->cached_tokens >= e->cached_tokens
        && s->prefilled >= e->prefilled) {
        double cached = s->cached_tokens - e->cached_tokens;
        double computed = (s->prompt_tokens - e->prompt_tokens) - cached;
        double work = computed + KVC_CACHED_TOKEN_COST * cached;
        double seconds = s->prefill_seconds - e->prefill_seconds;
        double requests = s->prefilled - e->prefilled;

        /* Each engine prefills its own requests: the instance's rate is
         * one engine's times their number. */
        if (seconds >= KVC_RATE_MIN_SECONDS && work > 0 && computed >= 0) {
            e->prefill_rate =
                smooth(e->prefill_rate,
                       work / seconds * (s->engines > 0 ? s->engines : 1));
        }
        if (requests >= 1 && computed >= 0) {
            e->mean_work = smooth(e->mean_work, work / requests);
        }
    }
    e->prompt_tokens = s->prompt_tokens;
    e->cached_tokens = s->cached_tokens;
    e->prefill_seconds = s->prefill_seconds;
    e->prefilled = s->prefilled;
    e->kv_usage = s->kv_usage;
    e->running = s->running;
    e->waiting = s->waiting;
    e->engines = s->engines;
    e->scraped_at = now;
    /* The requests routed here before this scrape wait in the engine's
     * count now, or are done: the queue starts again from that count. */
    e->backlog_tokens =
        s->waiting
        * (e->mean_work > 0 ? e->mean_work : KVC_SIGNALS_USUAL_REQUEST);
    e->backlog_at = now;
}

double kvc_signals_load(const kvc_instance_signals *e, apr_uint32_t capacity)
{
    return (e->running + e->waiting) / (capacity ? capacity : 1);
}

int kvc_signals_fresh(const kvc_instance_signals *e, apr_time_t now,
                      apr_interval_time_t max_age)
{
    return e->scraped_at && now - e->scraped_at <= max_age
           && now >= e->scraped_at;
}

int kvc_signals_take_turn(apr_time_t *last, apr_time_t now,
                          apr_interval_time_t interval)
{
    /* A clock stepped backwards must not block actions for good. */
    if (*last && now - *last < interval && now >= *last) {
        return 0;
    }
    *last = now;
    return 1;
}
