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
#include "apr_strings.h"

#include "mod_kvcache_config.h"
#include "kvc_lru.h"
#include "mod_kvcache_shm.h"
#include "kvc_tokpack.h"
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
/* Whether the provider needs our global lock (shmcb does). */
static int needs_lock;

static apr_status_t forget_store(void *unused)
{
    provider = NULL;
    instance = NULL;
    return APR_SUCCESS;
}

const char *kvc_tokstore_configure(const char *spec, apr_pool_t *pconf,
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
    needs_lock = (provider->flags & AP_SOCACHE_FLAG_NOTMPSAFE) != 0;
    apr_pool_cleanup_register(pconf, NULL, forget_store, apr_pool_cleanup_null);
    return NULL;
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
    struct ap_socache_hints hints = { 32, KVC_AVG_ENTRY_SIZE, 0 };
    apr_status_t rv;

    if (ap_state_query(AP_SQ_MAIN_STATE) == AP_SQ_MS_CREATE_PRE_CONFIG
        || !provider) {
        return OK;
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

/* Both take the global lock for the shared index; for a provider that is
 * not multi-process safe the lock also covers the provider call.  A
 * failure to lock is a miss, never an error. */
static int counted(int hit)
{
    kvc_stats *st = kvc_shm_stats();

    if (st) {
        kvc_stats_token_cache(st, hit);
    }
    return hit;
}

int kvc_tokstore_get(server_rec *s, const unsigned char key[32], apr_pool_t *p,
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
    if (!needs_lock) {
        kvc_shm_unlock();
    }
    else if (slot == KVC_LRU_NONE) {
        /* Only this server writes a private store, and it always removes
         * what its index forgets. */
        kvc_shm_unlock();
        return counted(0);
    }
    len = known_size ? known_size : KVC_PROBE_BUFFER;
    buf = apr_palloc(p, len);
    rv = provider->retrieve(instance, s, key, 32, buf, &len, p);
    if (!known_size && (rv == APR_ENOMEM || rv == APR_ENOSPC)) {
        len = KVC_MAX_ENTRY;
        buf = apr_palloc(p, len);
        rv = provider->retrieve(instance, s, key, 32, buf, &len, p);
    }
    if (needs_lock) {
        kvc_shm_unlock();
    }
    if (rv != APR_SUCCESS) {
        return counted(0);
    }
    return counted(kvc_tokpack_decode(buf, len, p, tokens) == 0);
}

void kvc_tokstore_put(server_rec *s, const unsigned char key[32],
                      const kvc_tokens *tokens, apr_pool_t *p)
{
    kvc_lru *index = kvc_shm_token_index();
    apr_size_t len = kvc_tokpack_size(tokens->count);
    unsigned char *packed, evicted_key[32];
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
    if (!needs_lock) {
        kvc_shm_unlock();
    }
    packed = apr_palloc(p, len);
    kvc_tokpack_encode(tokens, packed);
    if (evicted) {
        provider->remove(instance, s, evicted_key, 32, p);
    }
    provider->store(instance, s, key, 32,
                    apr_time_now() + kvc_config_global()->token_cache_ttl,
                    packed, (unsigned int)len, p);
    if (needs_lock) {
        kvc_shm_unlock();
    }
}

apr_uint32_t kvc_tokstore_entries(void)
{
    kvc_lru *index = kvc_shm_token_index();

    return index ? kvc_lru_count(index) : 0;
}

void kvc_tokstore_register_hooks(apr_pool_t *p)
{
    ap_hook_post_config(kvc_tokstore_post_config, NULL, NULL, APR_HOOK_MIDDLE);
}
