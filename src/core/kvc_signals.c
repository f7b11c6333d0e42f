/* Licensed under the Apache License, Version 2.0 (the "License"); you may not
 * use this file except in compliance with the License.  You may obtain a copy
 * of the License at http://www.apache.org/licenses/LICENSE-2.0
 */

#include <string.h>

#include "apr_strings.h"

#include "kvc_signals.h"

kvc_instance_signals *kvc_signals_find(kvc_signals *sig, const char *id,
                                       int create)
{
    apr_uint32_t i;

    for (i = 0; i < sig->count && i < KVC_SIGNALS_MAX; i++) {
        if (!strcmp(sig->entries[i].id, id)) {
            return &sig->entries[i];
        }
    }
    if (!create || sig->count >= KVC_SIGNALS_MAX
        || strlen(id) >= KVC_INSTANCE_ID_MAX) {
        return NULL;
    }
    memset(&sig->entries[sig->count], 0, sizeof(sig->entries[0]));
    apr_cpystrn(sig->entries[sig->count].id, id, KVC_INSTANCE_ID_MAX);
    return &sig->entries[sig->count++];
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
