/* Licensed under the Apache License, Version 2.0 (the "License"); you may not
 * use this file except in compliance with the License.  You may obtain a copy
 * of the License at http://www.apache.org/licenses/LICENSE-2.0
 */

/**
 * @file mod_kvcache_config.h
 * @brief mod_kvcache configuration: directives, defaults, merging and the
 *        cross-directive checks that make `apachectl -t` fail early.
 */
#ifndef MOD_KVCACHE_CONFIG_H
#define MOD_KVCACHE_CONFIG_H

#include "httpd.h"
#include "http_config.h"

#include "kvc_breaker.h"

struct proxy_balancer_method;

typedef enum {
    KVC_TOKENIZE_SYNC,  /* within KVCacheTokenizeTimeout, then route */
    KVC_TOKENIZE_ASYNC, /* Pixiu's: in the background, for next time */
    KVC_TOKENIZE_OFF    /* only what the token cache already holds */
} kvc_tokenize_mode;

typedef enum { KVC_EVICT_API_CLEAR, KVC_EVICT_API_EVICT } kvc_evict_api;

/** Where a cache action goes: KVCachePin, KVCacheCompress, KVCacheEvict. */
typedef struct {
    const char *instance; /* NULL: "auto", the instance the lookup named */
    const char *location;
    const char *method; /* compress only */
} kvc_action_target;

/** Per-directory (server, vhost, <Location>, <Proxy>) settings. */
typedef struct {
    int enable;                /* -1 = unset */
    const char *vllm_endpoint; /* base URL without trailing '/' */
    const char *lmcache_endpoint;
    const char *default_model;
    apr_interval_time_t request_timeout; /* -1 = unset */
    apr_interval_time_t lookup_timeout;
    apr_interval_time_t tokenize_timeout;
    int token_cache;         /* -1 = unset */
    apr_off_t max_body_size; /* -1 = unset */
    long min_match_tokens;   /* -1 = unset */
    double load_weight;      /* < 0 = unset */
    int tokenize_mode;       /* kvc_tokenize_mode, -1 = unset */
    int pinning;             /* -1 = unset */
    int compression;
    int eviction;
    long hot_threshold;    /* -1 = unset */
    double load_threshold; /* < 0 = unset */
    double memory_threshold;
    const kvc_action_target *pin; /* NULL = unset */
    const kvc_action_target *compress;
    const kvc_action_target *evict;
    int evict_api; /* kvc_evict_api, -1 = unset */
} kvc_dir_conf;

/** Per-server settings, merged from the main server into vhosts. */
typedef struct {
    const char *fallback_name;                    /* NULL = unset */
    const struct proxy_balancer_method *fallback; /* set by check_config */
} kvc_server_conf;

/** Server-wide settings (global context only): the state they govern is
 *  shared by all processes and virtual hosts. */
typedef struct {
    apr_size_t token_cache_size;
    apr_interval_time_t token_cache_ttl;
    const char *token_store;    /* socache "provider[:args]" */
    kvc_breaker_policy breaker; /* the same policy for each role */
    unsigned retry_attempts;
    apr_interval_time_t retry_base;
    apr_interval_time_t retry_max;
    const char *upstream_ca_file; /* NULL: the system's CAs */
    int upstream_verify;
    apr_interval_time_t hot_window;
    apr_uint32_t hot_max_records;
    apr_uint32_t hot_max_keys;
    apr_uint32_t instance_capacity;
    apr_interval_time_t scrape_interval;
    apr_interval_time_t action_interval;
    apr_uint32_t action_queue_size;
    int signals_needed; /* some context compresses or evicts */
} kvc_global_conf;

/* Defaults, named once; the interface document lists the same values. */
#define KVC_DEFAULT_REQUEST_TIMEOUT   apr_time_from_sec(2)
#define KVC_DEFAULT_LOOKUP_TIMEOUT    apr_time_from_msec(50)
#define KVC_DEFAULT_TOKENIZE_TIMEOUT  apr_time_from_msec(200)
#define KVC_DEFAULT_MAX_BODY_SIZE     (16 * 1024 * 1024)
#define KVC_DEFAULT_MIN_MATCH_TOKENS  1
#define KVC_DEFAULT_LOAD_WEIGHT       1.0
#define KVC_DEFAULT_FALLBACK          "bybusyness"
#define KVC_DEFAULT_TOKEN_CACHE_SIZE  1024
#define KVC_DEFAULT_TOKEN_CACHE_TTL   apr_time_from_sec(600)
#define KVC_DEFAULT_TOKEN_STORE       "shmcb"
#define KVC_DEFAULT_BREAKER_FAILURES  5
#define KVC_DEFAULT_BREAKER_RECOVERY  apr_time_from_sec(10)
#define KVC_DEFAULT_BREAKER_PROBES    2
#define KVC_DEFAULT_RETRY_ATTEMPTS    3
#define KVC_DEFAULT_RETRY_BASE        apr_time_from_msec(100)
#define KVC_DEFAULT_RETRY_MAX         apr_time_from_sec(2)
#define KVC_DEFAULT_HOT_WINDOW        apr_time_from_sec(300)
#define KVC_DEFAULT_HOT_MAX_RECORDS   300
#define KVC_DEFAULT_HOT_MAX_KEYS      4096
#define KVC_DEFAULT_HOT_THRESHOLD     10
#define KVC_DEFAULT_LOAD_THRESHOLD    0.7
#define KVC_DEFAULT_MEMORY_THRESHOLD  0.85
#define KVC_DEFAULT_INSTANCE_CAPACITY 256
#define KVC_DEFAULT_SCRAPE_INTERVAL   apr_time_from_sec(5)
#define KVC_DEFAULT_ACTION_INTERVAL   apr_time_from_sec(30)
#define KVC_DEFAULT_ACTION_QUEUE_SIZE 64
#define KVC_DEFAULT_COMPRESS_METHOD   "cachegen"

extern const command_rec kvc_config_cmds[];

void *kvc_config_create_dir(apr_pool_t *p, char *dir);
void *kvc_config_merge_dir(apr_pool_t *p, void *basev, void *addv);
void *kvc_config_create_server(apr_pool_t *p, server_rec *s);
void *kvc_config_merge_server(apr_pool_t *p, void *basev, void *addv);

/** The merged per-directory settings of a request. */
const kvc_dir_conf *kvc_config_dir(const request_rec *r);
/** The settings of the server a request runs in. */
const kvc_server_conf *kvc_config_server(const server_rec *s);
/** Process-wide settings, valid after configuration. */
const kvc_global_conf *kvc_config_global(void);

/* Effective values: the configured one or its default. */
int kvc_conf_enabled(const kvc_dir_conf *c);
int kvc_conf_token_cache(const kvc_dir_conf *c);
apr_interval_time_t kvc_conf_lookup_budget(const kvc_dir_conf *c);
apr_interval_time_t kvc_conf_tokenize_budget(const kvc_dir_conf *c);
apr_off_t kvc_conf_max_body_size(const kvc_dir_conf *c);
long kvc_conf_min_match_tokens(const kvc_dir_conf *c);
double kvc_conf_load_weight(const kvc_dir_conf *c);
kvc_tokenize_mode kvc_conf_tokenize_mode(const kvc_dir_conf *c);
apr_interval_time_t kvc_conf_request_timeout(const kvc_dir_conf *c);
apr_uint32_t kvc_conf_hot_threshold(const kvc_dir_conf *c);
double kvc_conf_load_threshold(const kvc_dir_conf *c);
double kvc_conf_memory_threshold(const kvc_dir_conf *c);

/** Registers the check_config hook (cross-directive validation). */
void kvc_config_register_hooks(apr_pool_t *p);

#endif /* MOD_KVCACHE_CONFIG_H */
