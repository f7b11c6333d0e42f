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
    double seen, routed;

    if (!e) {
        return 0;
    }
    seen = drained(e->seen_backlog, e->seen_at, rate, now);
    routed = drained(e->routed_backlog, e->routed_at, rate, now);
    return seen > routed ? seen : routed;
}

void kvc_signals_routed(kvc_instance_signals *e, double uncached, double rate,
                        apr_time_t now)
{
    e->routed_backlog =
        drained(e->routed_backlog, e->routed_at, rate, now) + uncached;
    e->routed_at = now;
    e->mean_uncached = smooth(e->mean_uncached, uncached > 0 ? uncached : 1);
}

void kvc_signals_scraped(kvc_instance_signals *e, const kvc_scrape_sample *s,
                         double default_rate, apr_time_t now)
{

    /* Counters that went back are a restarted engine: start afresh. */
    if (s->prompt_tokens >= 0 && s->prefill_seconds >= 0
        && e->prompt_tokens >= 0 && s->prompt_tokens >= e->prompt_tokens
        && s->prefill_seconds >= e->prefill_seconds
        && s->cached_tokens >= e->cached_tokens
        && s->prefilled >= e->prefilled) {
        double computed = (s->prompt_tokens - e->prompt_tokens)
                          - (s->cached_tokens - e->cached_tokens);
        double seconds = s->prefill_seconds - e->prefill_seconds;
        double requests = s->prefilled - e->prefilled;

        /* Each engine prefills its own requests: the instance's rate is
         * one engine's times their number. */
        if (seconds >= KVC_RATE_MIN_SECONDS && computed > 0) {
            e->prefill_rate =
                smooth(e->prefill_rate,
                       computed / seconds * (s->engines > 0 ? s->engines : 1));
        }
        if (requests >= 1 && computed >= 0) {
            e->mean_uncached = smooth(e->mean_uncached, computed / requests);
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
    e->seen_backlog =
        s->waiting
        * (e->mean_uncached > 0 ? e->mean_uncached : KVC_SIGNALS_USUAL_REQUEST);
    e->seen_at = now;
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
