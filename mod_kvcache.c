/* Licensed under the Apache License, Version 2.0 (the "License"); you may not
 * use this file except in compliance with the License.  You may obtain a copy
 * of the License at http://www.apache.org/licenses/LICENSE-2.0
 */

/*
 * mod_kvcache: routes LLM inference requests to the vLLM instance that
 * already holds the longest cached prefix of the prompt (KV cache tracked by
 * an LMCache controller), through mod_proxy_balancer's lbmethod "kvcache".
 *
 * This file is glue: the module record, the directives and the hooks.  The
 * work is done in src/httpd/mod_kvcache_*.c (httpd glue, one concept per
 * unit) over src/core/kvc_*.c (the httpd-free core).
 */

#include <stddef.h>

#include "httpd.h"
#include "http_config.h"

#include "mod_kvcache_answer.h"
#include "mod_kvcache_background.h"
#include "mod_kvcache_body.h"
#include "mod_kvcache_config.h"
#include "mod_kvcache_fleet.h"
#include "mod_kvcache_lbmethod.h"
#include "mod_kvcache_route.h"
#include "mod_kvcache_scrape.h"
#include "mod_kvcache_selfcheck.h"
#include "mod_kvcache_shm.h"
#include "mod_kvcache_status.h"
#include "mod_kvcache_tokstore.h"
#include "mod_kvcache_upstream.h"

#define MS(n)      ((double)apr_time_from_msec(n))
#define SECONDS(n) ((double)apr_time_from_sec(n))

/* Each value is checked where it is set: a bad one fails `apachectl -t`
 * naming the directive.  RSRC_CONF entries with a global slot are refused
 * outside the main server. */
static const command_rec kvcache_cmds[] = {
    /* Routing, per directory. */
    AP_INIT_FLAG("KVCacheEnable", kvc_set_enable, NULL, KVC_DIR_CONTEXT,
                 "On to route POSTed LLM requests by cached KV prefix"),
    AP_INIT_TAKE1("KVCacheVLLMEndpoint", kvc_set_url_slot,
                  KVC_DIR_SLOT(vllm_endpoint, 0, 0), KVC_DIR_CONTEXT,
                  "vLLM base URL (POST URL/tokenize)"),
    AP_INIT_TAKE1("KVCacheLMCacheEndpoint", kvc_set_url_slot,
                  KVC_DIR_SLOT(lmcache_endpoint, 0, 0), KVC_DIR_CONTEXT,
                  "LMCache controller base URL"),
    AP_INIT_TAKE1("KVCacheDefaultModel", kvc_set_string_slot,
                  KVC_DIR_SLOT(default_model, 0, 0), KVC_DIR_CONTEXT,
                  "model name when the body has none"),
    AP_INIT_TAKE1("KVCacheRequestTimeout", kvc_set_duration_slot,
                  KVC_DIR_SLOT(request_timeout, MS(1), 0), KVC_DIR_CONTEXT,
                  "cap on any upstream call (2s)"),
    AP_INIT_TAKE1("KVCacheLookupTimeout", kvc_set_duration_slot,
                  KVC_DIR_SLOT(lookup_timeout, MS(1), 0), KVC_DIR_CONTEXT,
                  "budget of the routing /lookup (50ms)"),
    AP_INIT_TAKE1("KVCacheTokenizeTimeout", kvc_set_duration_slot,
                  KVC_DIR_SLOT(tokenize_timeout, MS(1), 0), KVC_DIR_CONTEXT,
                  "budget of the request-path /tokenize (200ms)"),
    AP_INIT_TAKE1("KVCacheTokenize", kvc_set_word_slot,
                  KVC_DIR_WORDS(tokenize_mode, kvc_tokenize_mode_words),
                  KVC_DIR_CONTEXT, "sync, async (Pixiu's) or off (sync)"),
    AP_INIT_FLAG("KVCacheTokenCache", kvc_set_flag_slot,
                 KVC_DIR_SLOT(token_cache, 0, 0), KVC_DIR_CONTEXT,
                 "On to cache tokenized prompts (On)"),
    AP_INIT_TAKE1("KVCacheMaxBodySize", kvc_set_size_slot,
                  KVC_DIR_SLOT(max_body_size, 1, 1024.0 * 1024 * 1024),
                  KVC_DIR_CONTEXT,
                  "larger bodies are forwarded unrouted (16M)"),
    AP_INIT_TAKE1("KVCacheMinMatchTokens", kvc_set_count_slot,
                  KVC_DIR_SLOT(min_match_tokens, 1, APR_INT32_MAX),
                  KVC_DIR_CONTEXT,
                  "below this match for every member, no preference (1)"),
    AP_INIT_TAKE1("KVCacheLoadWeight", kvc_set_number_slot,
                  KVC_DIR_SLOT(load_weight, 0, 100), KVC_DIR_CONTEXT,
                  "weight of the load term; 0 = pure max-match (1.0)"),
    AP_INIT_TAKE1("KVCacheFallbackLBMethod", kvc_set_fallback, NULL, RSRC_CONF,
                  "lbmethod for requests without a preference (bybusyness)"),
    AP_INIT_TAKE1("KVCachePolicy", kvc_set_word_slot,
                  KVC_DIR_WORDS(policy, kvc_policy_words), KVC_DIR_CONTEXT,
                  "ttft (lowest predicted time to first token), share or "
                  "maxmatch (ttft)"),
    AP_INIT_TAKE1("KVCacheSessionHeader", kvc_set_string_slot,
                  KVC_DIR_SLOT(session_header, 0, 0), KVC_DIR_CONTEXT,
                  "request header naming a session, for affinity"),
    AP_INIT_TAKE1("KVCacheSessionMargin", kvc_set_duration_slot,
                  KVC_DIR_SLOT(session_margin, 0, 0), KVC_DIR_CONTEXT,
                  "how much faster another member must be predicted to "
                  "leave the session's (50ms)"),

    /* Cache management, per directory. */
    AP_INIT_FLAG("KVCachePinning", kvc_set_flag_slot,
                 KVC_DIR_SLOT(pinning, 0, 0), KVC_DIR_CONTEXT,
                 "On to pin hot content (Off)"),
    AP_INIT_TAKE1("KVCacheHotThreshold", kvc_set_count_slot,
                  KVC_DIR_SLOT(hot_threshold, 1, 1000000), KVC_DIR_CONTEXT,
                  "requests in the window that make content hot (10)"),
    AP_INIT_TAKE2("KVCachePin", kvc_set_target, "pin", KVC_DIR_CONTEXT,
                  "INSTANCE|auto LOCATION of /pin"),
    AP_INIT_FLAG("KVCacheCompression", kvc_set_signals_flag,
                 KVC_DIR_SLOT(compression, 0, 0), KVC_DIR_CONTEXT,
                 "On to compress under load (Off)"),
    AP_INIT_TAKE1("KVCacheLoadThreshold", kvc_set_number_slot,
                  KVC_DIR_SLOT(load_threshold, 0, 1), KVC_DIR_CONTEXT,
                  "instance load that triggers /compress (0.7)"),
    AP_INIT_TAKE23("KVCacheCompress", kvc_set_compress_target, NULL,
                   KVC_DIR_CONTEXT,
                   "INSTANCE|auto LOCATION [cachegen] of /compress"),
    AP_INIT_FLAG("KVCacheEviction", kvc_set_signals_flag,
                 KVC_DIR_SLOT(eviction, 0, 0), KVC_DIR_CONTEXT,
                 "On to clear under memory pressure (Off)"),
    AP_INIT_TAKE1("KVCacheMemoryThreshold", kvc_set_number_slot,
                  KVC_DIR_SLOT(memory_threshold, 0, 1), KVC_DIR_CONTEXT,
                  "KV-cache usage that triggers /clear (0.85)"),
    AP_INIT_TAKE2("KVCacheEvict", kvc_set_target, "evict", KVC_DIR_CONTEXT,
                  "INSTANCE LOCATION of /clear"),
    AP_INIT_TAKE1("KVCacheEvictAPI", kvc_set_word_slot,
                  KVC_DIR_WORDS(evict_api, kvc_evict_api_words),
                  KVC_DIR_CONTEXT,
                  "clear (LMCache) or evict (Pixiu-style) (clear)"),

    /* Server-wide: the state these govern is shared by every process. */
    AP_INIT_TAKE1("KVCacheTokenCacheSize", kvc_set_count_slot,
                  KVC_GLOBAL_SLOT(token_cache_size, 1, 10000000), RSRC_CONF,
                  "token cache entries (1024)"),
    AP_INIT_TAKE1("KVCacheTokenCacheTTL", kvc_set_duration_slot,
                  KVC_GLOBAL_SLOT(token_cache_ttl, SECONDS(1), 0), RSRC_CONF,
                  "token cache entry lifetime (10m)"),
    AP_INIT_TAKE1("KVCacheTokenCacheStore", kvc_set_string_slot,
                  KVC_GLOBAL_SLOT(token_store, 0, 0), RSRC_CONF,
                  "socache provider[:args] of the shared token cache "
                  "(shmcb)"),
    AP_INIT_TAKE3("KVCacheCircuitBreaker", kvc_set_breaker, NULL, RSRC_CONF,
                  "FAILURES RECOVERY HALF_OPEN_CALLS of each upstream's "
                  "breaker (5 10s 2)"),
    AP_INIT_TAKE3("KVCacheRetry", kvc_set_retry, NULL, RSRC_CONF,
                  "ATTEMPTS BASE MAX of LMCache calls (3 100ms 2s)"),
    AP_INIT_TAKE1("KVCacheUpstreamCACertificate", kvc_set_ca_file, NULL,
                  RSRC_CONF, "CA certificates for https upstreams"),
    AP_INIT_FLAG("KVCacheUpstreamVerify", kvc_set_flag_slot,
                 KVC_GLOBAL_SLOT(upstream_verify, 0, 0), RSRC_CONF,
                 "Off to skip TLS verification of upstreams (On)"),
    AP_INIT_TAKE1("KVCacheHotWindow", kvc_set_duration_slot,
                  KVC_GLOBAL_SLOT(hot_window, MS(1), 0), RSRC_CONF,
                  "window of the hot-content counts (5m)"),
    AP_INIT_TAKE1("KVCacheHotMaxRecords", kvc_set_count_slot,
                  KVC_GLOBAL_SLOT(hot_max_records, 1, 1000000), RSRC_CONF,
                  "cap of each key's count (300)"),
    AP_INIT_TAKE1("KVCacheHotMaxKeys", kvc_set_count_slot,
                  KVC_GLOBAL_SLOT(hot_max_keys, 1, 1000000), RSRC_CONF,
                  "keys in the shared hot table (4096)"),
    AP_INIT_TAKE1("KVCacheInstanceCapacity", kvc_set_count_slot,
                  KVC_GLOBAL_SLOT(instance_capacity, 1, 1000000), RSRC_CONF,
                  "requests an instance serves at once, the unit of its "
                  "load (256)"),
    AP_INIT_TAKE1("KVCacheScrapeInterval", kvc_set_duration_slot,
                  KVC_GLOBAL_SLOT(scrape_interval, MS(1), 0), RSRC_CONF,
                  "how often instances' /metrics are read (1s)"),
    AP_INIT_TAKE1("KVCacheActionInterval", kvc_set_duration_slot,
                  KVC_GLOBAL_SLOT(action_interval, MS(1), 0), RSRC_CONF,
                  "least time between two /compress or two /clear to one "
                  "instance (30s)"),
    AP_INIT_TAKE1("KVCachePrefillRate", kvc_set_prefill_rate, NULL, RSRC_CONF,
                  "auto (learned from each engine's metrics) or the tokens "
                  "per second every engine prefills (auto)"),
    AP_INIT_TAKE1("KVCacheSessionTTL", kvc_set_duration_slot,
                  KVC_GLOBAL_SLOT(session_ttl, SECONDS(1), 0), RSRC_CONF,
                  "how long a session's member is remembered (10m)"),
    AP_INIT_TAKE1("KVCacheSessionMaxKeys", kvc_set_count_slot,
                  KVC_GLOBAL_SLOT(session_max_keys, 1, 1000000), RSRC_CONF,
                  "sessions in the shared table (4096)"),
    AP_INIT_TAKE1("KVCacheActionQueueSize", kvc_set_count_slot,
                  KVC_GLOBAL_SLOT(action_queue_size, 1, 1000000), RSRC_CONF,
                  "background calls waiting per process (64)"),
    AP_INIT_TAKE1("KVCacheFleetStore", kvc_set_fleet_store, NULL, RSRC_CONF,
                  "redis:HOST:PORT[/PREFIX]: hot counts, pins, action "
                  "rate limits and sessions shared by several httpd nodes "
                  "(unset: this node alone)"),
    AP_INIT_TAKE1("KVCacheFleetTimeout", kvc_set_duration_slot,
                  KVC_GLOBAL_SLOT(fleet_timeout, MS(1), SECONDS(1)), RSRC_CONF,
                  "budget of each fleet-store call, connecting included; "
                  "beyond it the node uses its own state (20ms)"),
    { NULL }
};

static void kvcache_register_hooks(apr_pool_t *p)
{
    kvc_config_register_hooks(p);
    kvc_shm_register_hooks(p);
    kvc_upstream_register_hooks(p);
    kvc_background_register_hooks(p);
    kvc_tokstore_register_hooks(p);
    kvc_body_register_hooks(p);
    kvc_route_register_hooks(p);
    kvc_lbmethod_register_hooks(p);
    kvc_answer_register_hooks(p);
    kvc_status_register_hooks(p);
    kvc_scrape_register_hooks(p);
    kvc_selfcheck_register_hooks(p);
    kvc_fleet_register_hooks(p);
}

AP_DECLARE_MODULE(kvcache) = {
    STANDARD20_MODULE_STUFF,  kvc_config_create_dir,   kvc_config_merge_dir,
    kvc_config_create_server, kvc_config_merge_server, kvcache_cmds,
    kvcache_register_hooks,   AP_MODULE_FLAG_NONE
};
