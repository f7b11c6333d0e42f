/* Licensed under the Apache License, Version 2.0 (the "License"); you may not
 * use this file except in compliance with the License.  You may obtain a copy
 * of the License at http://www.apache.org/licenses/LICENSE-2.0
 */

#include "httpd.h"
#include "http_config.h"
#include "http_core.h"
#include "http_log.h"
#include "apr_global_mutex.h"
#include "apr_shm.h"
#include "apr_strings.h"
#include "util_mutex.h"

#include "mod_kvcache_config.h"
#include "mod_kvcache_shm.h"

APLOG_USE_MODULE(kvcache);

/* The segment starts with this header; variable-size sections follow at
 * the recorded offsets (offsets, not pointers: every process may map the
 * segment at another address). */
typedef struct {
    kvc_breaker breakers[KVC_ROLE_COUNT];
    kvc_stats stats;
    kvc_signals signals;
    kvc_selfcheck_state selfcheck;
    /* 1 while the fleet store is unreachable (kvc_fleet_note()). */
    apr_uint32_t fleet_degraded;
    apr_size_t token_index_offset;
    apr_size_t token_sizes_offset;
    apr_size_t hotset_offset;
    apr_size_t sessions_offset;
    apr_size_t pending_offset;
} kvc_shm_header;

static apr_shm_t *shm;
static kvc_shm_header *header;
static apr_global_mutex_t *mutex;

static int kvc_shm_pre_config(apr_pool_t *pconf, apr_pool_t *plog,
                              apr_pool_t *ptemp)
{
    apr_status_t rv =
        ap_mutex_register(pconf, KVC_SHM_MUTEX_TYPE, NULL, APR_LOCK_DEFAULT, 0);

    if (rv != APR_SUCCESS) {
        ap_log_perror(APLOG_MARK, APLOG_CRIT, rv, plog,
                      "[kvcache] cannot register the %s mutex",
                      KVC_SHM_MUTEX_TYPE);
        return 500; /* not an HTTP status: just "fail startup" */
    }
    return OK;
}

/* pconf is cleared on every restart; the statics must not outlive it or a
 * restarted parent would hand children a destroyed segment. */
static apr_status_t forget_segment(void *unused)
{
    shm = NULL;
    header = NULL;
    mutex = NULL;
    return APR_SUCCESS;
}

static apr_status_t create_segment(apr_size_t size, server_rec *s,
                                   apr_pool_t *pconf)
{
    apr_status_t rv = apr_shm_create(&shm, size, NULL, pconf);

    if (APR_STATUS_IS_ENOTIMPL(rv)) {
        /* No anonymous shared memory here: use a file in the runtime
         * directory, removing a stale one a crash may have left. */
        const char *file = ap_runtime_dir_relative(pconf, "kvcache-shm");

        apr_shm_remove(file, pconf);
        rv = apr_shm_create(&shm, size, file, pconf);
    }
    return rv;
}

static int kvc_shm_post_config(apr_pool_t *pconf, apr_pool_t *plog,
                               apr_pool_t *ptemp, server_rec *s)
{
    const kvc_global_conf *g = kvc_config_global();
    apr_uint32_t token_slots = (apr_uint32_t)g->token_cache_size;
    apr_size_t size, index_off, sizes_off, hotset_off, sessions_off,
        pending_off;
    apr_status_t rv;
    char *base;

    /* The preflight pass's pconf is thrown away: make nothing there. */
    if (ap_state_query(AP_SQ_MAIN_STATE) == AP_SQ_MS_CREATE_PRE_CONFIG) {
        return OK;
    }
    apr_pool_cleanup_register(pconf, NULL, forget_segment,
                              apr_pool_cleanup_null);

    index_off = APR_ALIGN_DEFAULT(sizeof(kvc_shm_header));
    sizes_off = index_off + APR_ALIGN_DEFAULT(kvc_lru_size(token_slots));
    hotset_off =
        sizes_off + APR_ALIGN_DEFAULT(token_slots * sizeof(apr_uint32_t));
    sessions_off =
        hotset_off
        + APR_ALIGN_DEFAULT(kvc_hotset_size((apr_uint32_t)g->hot_max_keys));
    pending_off = sessions_off
                  + APR_ALIGN_DEFAULT(
                      kvc_sessions_size((apr_uint32_t)g->session_max_keys));
    size =
        pending_off + APR_ALIGN_DEFAULT(kvc_pending_size(KVC_PENDING_CAPACITY));

    rv = create_segment(size, s, pconf);
    if (rv != APR_SUCCESS) {
        ap_log_error(APLOG_MARK, APLOG_CRIT, rv, s,
                     "[kvcache] cannot create %" APR_SIZE_T_FMT " bytes of "
                     "shared memory",
                     size);
        return HTTP_INTERNAL_SERVER_ERROR;
    }
    base = apr_shm_baseaddr_get(shm);
    memset(base, 0, size);
    header = (kvc_shm_header *)base;
    header->token_index_offset = index_off;
    header->token_sizes_offset = sizes_off;
    header->hotset_offset = hotset_off;
    header->sessions_offset = sessions_off;
    header->pending_offset = pending_off;
    kvc_lru_init(base + index_off, token_slots);
    kvc_hotset_init(base + hotset_off, (apr_uint32_t)g->hot_max_keys);
    kvc_sessions_init(base + sessions_off, (apr_uint32_t)g->session_max_keys);
    kvc_pending_init(base + pending_off, KVC_PENDING_CAPACITY);

    /* Picks the mechanism from the Mutex directive, logs its own errors
     * and sets the permissions children need after dropping root. */
    rv = ap_global_mutex_create(&mutex, NULL, KVC_SHM_MUTEX_TYPE, NULL, s,
                                pconf, 0);
    if (rv != APR_SUCCESS) {
        return HTTP_INTERNAL_SERVER_ERROR;
    }
    return OK;
}

static void kvc_shm_child_init(apr_pool_t *pchild, server_rec *s)
{
    apr_status_t rv;

    if (!mutex) {
        return;
    }
    /* File-based mechanisms need the child to reopen the lock file. */
    rv = apr_global_mutex_child_init(&mutex, apr_global_mutex_lockfile(mutex),
                                     pchild);
    if (rv != APR_SUCCESS) {
        /* Not fatal, and never exit here: a child that dies in child_init
         * is respawned at once, a fork bomb.  Without the lock the shared
         * state is simply not used. */
        ap_log_error(APLOG_MARK, APLOG_CRIT, rv, s,
                     "[kvcache] cannot attach the %s mutex; shared state "
                     "is disabled in this process",
                     KVC_SHM_MUTEX_TYPE);
        mutex = NULL;
    }
}

int kvc_shm_ready(void)
{
    return header != NULL && mutex != NULL;
}

apr_status_t kvc_shm_lock(void)
{
    return mutex ? apr_global_mutex_lock(mutex) : APR_ENOLOCK;
}

void kvc_shm_unlock(void)
{
    apr_global_mutex_unlock(mutex);
}

kvc_breaker *kvc_shm_breaker(kvc_role role)
{
    return header ? &header->breakers[role] : NULL;
}

kvc_stats *kvc_shm_stats(void)
{
    return header ? &header->stats : NULL;
}

kvc_hotset *kvc_shm_hotset(void)
{
    return header ? kvc_hotset_attach((char *)header + header->hotset_offset)
                  : NULL;
}

kvc_sessions *kvc_shm_sessions(void)
{
    return header
               ? kvc_sessions_attach((char *)header + header->sessions_offset)
               : NULL;
}

kvc_pending *kvc_shm_pending(void)
{
    return header ? kvc_pending_attach((char *)header + header->pending_offset)
                  : NULL;
}

kvc_selfcheck_state *kvc_shm_selfcheck(void)
{
    return header ? &header->selfcheck : NULL;
}

kvc_signals *kvc_shm_signals(void)
{
    return header ? &header->signals : NULL;
}

volatile apr_uint32_t *kvc_shm_fleet_degraded(void)
{
    return header ? &header->fleet_degraded : NULL;
}

kvc_lru *kvc_shm_token_index(void)
{
    return header ? kvc_lru_attach((char *)header + header->token_index_offset)
                  : NULL;
}

apr_uint32_t *kvc_shm_token_sizes(void)
{
    return header
               ? (apr_uint32_t *)((char *)header + header->token_sizes_offset)
               : NULL;
}

void kvc_shm_register_hooks(apr_pool_t *p)
{
    ap_hook_pre_config(kvc_shm_pre_config, NULL, NULL, APR_HOOK_MIDDLE);
    /* Before the other units' post_config hooks, which may use it. */
    ap_hook_post_config(kvc_shm_post_config, NULL, NULL, APR_HOOK_REALLY_FIRST);
    ap_hook_child_init(kvc_shm_child_init, NULL, NULL, APR_HOOK_REALLY_FIRST);
}
