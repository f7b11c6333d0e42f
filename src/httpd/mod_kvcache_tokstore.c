/* Licensed under the Apache License, Version 2.0 (the "License"); you may not
 * use this file except in compliance with the License.  You may obtain a copy
 * of the License at http://www.apache.org/licenses/LICENSE-2.0
 */

#include "httpd.h"
#include "http_config.h"
#include "http_core.h"
#include "http_log.h"
#include "ap_provider.h"
#include "ap_socache.h"
#include "apr_global_mutex.h"
#include "apr_strings.h"
#include "util_mutex.h"

#include "kvc_lru.h"
#include "kvc_stats.h"
#include "kvc_tokpack.h"
#include "mod_kvcache_config.h"
#include "mod_kvcache_shm.h"
#include "mod_kvcache_tokstore.h"

APLOG_USE_MODULE(kvcache);

/* shmcb keeps an entry only if it fits one of its subcaches, a fraction of
 * the whole; 64 MB gives 16 subcaches of 4 MB, about a million tokens. */
#define KVC_SHMCB_DEFAULT_SIZE (64 * 1024 * 1024)
/* Expected entry size, which shmcb uses to size its index. */
#define KVC_AVG_ENTRY_SIZE (64 * 1024)
/* An entry another host stored has no size in our index: read it with
 * this buffer, then once more with the largest one we accept. */
#define KVC_PROBE_BUFFER (64 * 1024)
#define KVC_MAX_ENTRY    (16 * 1024 * 1024)

static const ap_socache_provider_t *provider;
static ap_socache_instance_t *instance;
/* Set for a provider that is not safe across processes (shmcb): its
 * calls are serialised by this mutex.  Such a store is also private to
 * this server: what the index does not know, it does not hold. */
static apr_global_mutex_t *provider_mutex;
static int provider_unsafe;

static apr_status_t forget_store(void *unused)
{
    provider = NULL;
    instance = NULL;
    provider_mutex = NULL;
    return APR_SUCCESS;
}

/* Validates KVCacheTokenCacheStore's "provider[:args]" and creates the
 * provider instance, once the configuration is complete. */
static const char *configure_store(const char *spec, apr_pool_t *pconf,
                                   apr_pool_t *ptemp)
{
    const char *sep = strchr(spec, ':');
    const char *name = sep ? apr_pstrmemdup(ptemp, spec, sep - spec) : spec;
    const char *args = sep ? sep + 1 : NULL;
    const char *err;

    provider = ap_lookup_provider(AP_SOCACHE_PROVIDER_GROUP, name,
                                  AP_SOCACHE_PROVIDER_VERSION);
    if (!provider) {
        return apr_psprintf(ptemp,
                            "KVCacheTokenCacheStore: socache "
                            "provider '%s' is not loaded; add LoadModule "
                            "socache_%s_module (mod_socache_%s.so)",
                            name, name, name);
    }
    if (!args && !strcmp(name, "shmcb")) {
        args = apr_psprintf(ptemp, "%s(%d)",
                            ap_runtime_dir_relative(ptemp, "kvcache-tokens"),
                            KVC_SHMCB_DEFAULT_SIZE);
    }
    err = provider->create(&instance, args, ptemp, pconf);
    if (err) {
        provider = NULL;
        return apr_psprintf(ptemp, "KVCacheTokenCacheStore '%s': %s", spec,
                            err);
    }
    provider_unsafe = (provider->flags & AP_SOCACHE_FLAG_NOTMPSAFE) != 0;
    apr_pool_cleanup_register(pconf, NULL, forget_store, apr_pool_cleanup_null);
    return NULL;
}

static int kvc_tokstore_pre_config(apr_pool_t *pconf, apr_pool_t *plog,
                                   apr_pool_t *ptemp)
{
    apr_status_t rv = ap_mutex_register(pconf, KVC_TOKSTORE_MUTEX_TYPE, NULL,
                                        APR_LOCK_DEFAULT, 0);

    if (rv != APR_SUCCESS) {
        ap_log_perror(APLOG_MARK, APLOG_CRIT, rv, plog,
                      "[kvcache] cannot register the %s mutex",
                      KVC_TOKSTORE_MUTEX_TYPE);
        return 500; /* not an HTTP status: just "fail startup" */
    }
    return OK;
}

/* In check_config, so that `apachectl -t` names a bad store. */
static int kvc_tokstore_check_config(apr_pool_t *pconf, apr_pool_t *plog,
                                     apr_pool_t *ptemp, server_rec *s)
{
    const char *err =
        configure_store(kvc_config_global()->token_store, pconf, ptemp);

    if (err) {
        ap_log_error(APLOG_MARK, APLOG_EMERG, 0, s, "[kvcache] %s", err);
        return HTTP_INTERNAL_SERVER_ERROR;
    }
    return OK;
}

static apr_status_t destroy_store(void *data)
{
    if (provider && instance) {
        provider->destroy(instance, data);
    }
    return APR_SUCCESS;
}

static int kvc_tokstore_post_config(apr_pool_t *pconf, apr_pool_t *plog,
                                    apr_pool_t *ptemp, server_rec *s)
{
    struct ap_socache_hints hints = { KVC_KEY_LEN, KVC_AVG_ENTRY_SIZE, 0 };
    apr_status_t rv;

    if (ap_state_query(AP_SQ_MAIN_STATE) == AP_SQ_MS_CREATE_PRE_CONFIG
        || !provider) {
        return OK;
    }
    if (!kvc_config_global()->enabled) {
        /* No context routes: the store was checked, and is not worth its
         * memory (64 MB for shmcb by default). */
        instance = NULL;
        return OK;
    }
    if (provider_unsafe) {
        rv = ap_global_mutex_create(&provider_mutex, NULL,
                                    KVC_TOKSTORE_MUTEX_TYPE, NULL, s, pconf, 0);
        if (rv != APR_SUCCESS) {
            return HTTP_INTERNAL_SERVER_ERROR;
        }
    }
    hints.expiry_interval = kvc_config_global()->token_cache_ttl;
    rv = provider->init(instance, "kvcache-tokens", &hints, s, pconf);
    if (rv != APR_SUCCESS) {
        ap_log_error(APLOG_MARK, APLOG_CRIT, rv, s,
                     "[kvcache] KVCacheTokenCacheStore: cannot initialise "
                     "the %s token cache",
                     provider->name);
        return HTTP_INTERNAL_SERVER_ERROR;
    }
    apr_pool_cleanup_register(pconf, s, destroy_store, apr_pool_cleanup_null);
    return OK;
}

static void kvc_tokstore_child_init(apr_pool_t *pchild, server_rec *s)
{
    apr_status_t rv;

    if (!provider_mutex) {
        return;
    }
    rv = apr_global_mutex_child_init(
        &provider_mutex, apr_global_mutex_lockfile(provider_mutex), pchild);
    if (rv != APR_SUCCESS) {
        /* Never exit here (a child that dies in child_init is respawned at
         * once): without the lock the token cache is simply not used. */
        ap_log_error(APLOG_MARK, APLOG_CRIT, rv, s,
                     "[kvcache] cannot attach the %s mutex; the token cache "
                     "is disabled in this process",
                     KVC_TOKSTORE_MUTEX_TYPE);
        instance = NULL;
    }
}

static int counted(int hit)
{
    kvc_stats *st = kvc_shm_stats();

    if (st) {
        kvc_stats_token_cache(st, hit);
    }
    return hit;
}

/* The provider calls, under its own mutex where it needs one. */
static apr_status_t provider_lock(void)
{
    return provider_mutex ? apr_global_mutex_lock(provider_mutex) : APR_SUCCESS;
}

static void provider_unlock(void)
{
    if (provider_mutex) {
        apr_global_mutex_unlock(provider_mutex);
    }
}

/* Where the provider takes a lock, the buffer is zeroed first, so that
 * its pages are faulted in before the lock is taken: the copy under the
 * lock then costs only the copy. */
static unsigned char *retrieve_buffer(apr_pool_t *p, apr_size_t len)
{
    return provider_mutex ? apr_pcalloc(p, len) : apr_palloc(p, len);
}

static apr_status_t retrieve(server_rec *s, const unsigned char *key,
                             unsigned char *buf, unsigned int *len,
                             apr_pool_t *p)
{
    apr_status_t rv = provider_lock();

    if (rv != APR_SUCCESS) {
        return rv;
    }
    rv = provider->retrieve(instance, s, key, KVC_KEY_LEN, buf, len, p);
    provider_unlock();
    return rv;
}

/* A failure to lock is a miss, never an error. */
int kvc_tokstore_get(server_rec *s, const unsigned char *key, apr_pool_t *p,
                     kvc_tokens *tokens)
{
    kvc_lru *index = kvc_shm_token_index();
    apr_uint32_t slot, known_size = 0;
    unsigned int len;
    unsigned char *buf;
    apr_status_t rv;

    if (!instance || !index || kvc_shm_lock() != APR_SUCCESS) {
        return counted(0);
    }
    slot = kvc_lru_find(index, key);
    if (slot != KVC_LRU_NONE) {
        kvc_lru_touch(index, slot);
        known_size = kvc_shm_token_sizes()[slot];
    }
    kvc_shm_unlock();
    if (slot == KVC_LRU_NONE && provider_unsafe) {
        /* Only this server writes a private store, and it always removes
         * what its index forgets. */
        return counted(0);
    }
    len = known_size ? known_size : KVC_PROBE_BUFFER;
    buf = retrieve_buffer(p, len);
    rv = retrieve(s, key, buf, &len, p);
    if (!known_size && (rv == APR_ENOMEM || rv == APR_ENOSPC)) {
        len = KVC_MAX_ENTRY;
        buf = retrieve_buffer(p, len);
        rv = retrieve(s, key, buf, &len, p);
    }
    if (rv != APR_SUCCESS) {
        return counted(0);
    }
    return counted(kvc_tokpack_decode(buf, len, p, tokens) == 0);
}

void kvc_tokstore_put(server_rec *s, const unsigned char *key,
                      const kvc_tokens *tokens, apr_pool_t *p)
{
    kvc_lru *index = kvc_shm_token_index();
    apr_size_t len = kvc_tokpack_size(tokens->count);
    unsigned char *packed, evicted_key[KVC_KEY_LEN];
    apr_uint32_t slot;
    int evicted = 0;

    if (!instance || !index || len > KVC_MAX_ENTRY
        || kvc_shm_lock() != APR_SUCCESS) {
        return;
    }
    slot = kvc_lru_find(index, key);
    if (slot == KVC_LRU_NONE) {
        slot = kvc_lru_insert(index, key, evicted_key, &evicted);
    }
    else {
        kvc_lru_touch(index, slot);
    }
    kvc_shm_token_sizes()[slot] = (apr_uint32_t)len;
    kvc_shm_unlock();

    packed = apr_palloc(p, len);
    kvc_tokpack_encode(tokens, packed);
    if (provider_lock() != APR_SUCCESS) {
        return;
    }
    if (evicted) {
        provider->remove(instance, s, evicted_key, KVC_KEY_LEN, p);
    }
    provider->store(instance, s, key, KVC_KEY_LEN,
                    apr_time_now() + kvc_config_global()->token_cache_ttl,
                    packed, (unsigned int)len, p);
    provider_unlock();
}

apr_uint32_t kvc_tokstore_entries(void)
{
    kvc_lru *index = kvc_shm_token_index();

    return index ? kvc_lru_count(index) : 0;
}

void kvc_tokstore_register_hooks(apr_pool_t *p)
{
    ap_hook_pre_config(kvc_tokstore_pre_config, NULL, NULL, APR_HOOK_MIDDLE);
    ap_hook_check_config(kvc_tokstore_check_config, NULL, NULL,
                         APR_HOOK_MIDDLE);
    ap_hook_post_config(kvc_tokstore_post_config, NULL, NULL, APR_HOOK_MIDDLE);
    ap_hook_child_init(kvc_tokstore_child_init, NULL, NULL, APR_HOOK_MIDDLE);
}
