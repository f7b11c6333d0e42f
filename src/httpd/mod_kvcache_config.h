/* Licensed under the Apache License, Version 2.0 (the "License"); you may not
 * use this file except in compliance with the License.  You may obtain a copy
 * of the License at http://www.apache.org/licenses/LICENSE-2.0
 */

/**
 * @file mod_kvcache_config.h
 * @brief mod_kvcache's settings: what each directive sets, its default, the
 *        setters the directive table (mod_kvcache.c) points at, merging, and
 *        the cross-directive checks that make `apachectl -t` fail early.
 *
 * Most directives are table-driven, in the manner of httpd's own
 * ap_set_*_slot(): the table entry names the field (by offset) and its
 * bounds in a kvc_slot, and one setter per kind of value (flag, count,
 * number, duration, size, URL, word) parses, checks and stores it.  A bad
 * value fails with "<directive>: invalid value '<arg>': <what is allowed>".
 */
#ifndef MOD_KVCACHE_CONFIG_H
#define MOD_KVCACHE_CONFIG_H

#include <stddef.h>

#include "httpd.h"
#include "http_config.h"

#include "kvc_breaker.h"
#include "kvc_score.h"

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

/** Per-directory (server, vhost, <Location>, <Proxy>) settings; a number
 *  below 0 or a NULL pointer is unset (the default applies). */
typedef struct {
    int enable;
    const char *vllm_endpoint; /* base URL without trailing '/' */
    const char *lmcache_endpoint;
    const char *default_model;
    apr_interval_time_t request_timeout;
    apr_interval_time_t lookup_timeout;
    apr_interval_time_t tokenize_timeout;
    int token_cache;
    apr_off_t max_body_size;
    long min_match_tokens;
    double load_weight;
    int tokenize_mode; /* kvc_tokenize_mode */
    int pinning;
    int compression;
    int eviction;
    long hot_threshold;
    double load_threshold;
    double memory_threshold;
    const kvc_action_target *pin;
    const kvc_action_target *compress;
    const kvc_action_target *evict;
    int evict_api; /* kvc_evict_api */
    int policy;    /* kvc_policy */
    const char *session_header;
    apr_interval_time_t session_margin;
} kvc_dir_conf;

/** Per-server settings, merged from the main server into vhosts. */
typedef struct {
    const char *fallback_name;                    /* NULL = unset */
    const struct proxy_balancer_method *fallback; /* set by check_config */
} kvc_server_conf;

/** Server-wide settings (global context only): the state they govern is
 *  shared by all processes and virtual hosts.  Filled with the defaults
 *  before the configuration is read. */
typedef struct {
    long token_cache_size;
    apr_interval_time_t token_cache_ttl;
    const char *token_store; /* socache "provider[:args]" */
    kvc_breaker_policy breaker;
    long retry_attempts;
    apr_interval_time_t retry_base;
    apr_interval_time_t retry_max;
    const char *upstream_ca_file; /* NULL: the system's CAs */
    int upstream_verify;
    apr_interval_time_t hot_window;
    long hot_max_records;
    long hot_max_keys;
    long instance_capacity;
    apr_interval_time_t scrape_interval;
    apr_interval_time_t action_interval;
    long action_queue_size;
    double prefill_rate; /* tokens/s of every engine; 0: learn each one's */
    apr_interval_time_t session_ttl;
    long session_max_keys;
    /* KVCacheFleetStore: NULL host = a single node, nothing shared. */
    const char *fleet_host;
    int fleet_port;
    const char *fleet_prefix;
    apr_interval_time_t fleet_timeout; /* KVCacheFleetTimeout */
    int signals_needed;                /* some context compresses or evicts */
    int enabled;                       /* some context has KVCacheEnable On */
} kvc_global_conf;

/* Defaults, named once; the README lists the same values. */
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
#define KVC_DEFAULT_SCRAPE_INTERVAL   apr_time_from_sec(1)
#define KVC_DEFAULT_ACTION_INTERVAL   apr_time_from_sec(30)
#define KVC_DEFAULT_ACTION_QUEUE_SIZE 64
/* The prefill rate assumed of an engine until its metrics tell: an 8B
 * model on a mid-range GPU. */
#define KVC_DEFAULT_PREFILL_RATE   10000.0
#define KVC_DEFAULT_SESSION_MARGIN apr_time_from_msec(50)
#define KVC_DEFAULT_SESSION_TTL    apr_time_from_sec(600)
#define KVC_DEFAULT_SESSION_KEYS   4096
/* Redis on the LAN answers in well under a millisecond; beyond this a
 * node stops waiting for it and uses its own state. */
#define KVC_DEFAULT_FLEET_TIMEOUT apr_time_from_msec(20)
/* The only method LMCache's engine implements; others do nothing. */
#define KVC_COMPRESS_METHOD "cachegen"

/** What a table-driven directive sets: a field of kvc_dir_conf (or, when
 *  global, of kvc_global_conf), the bounds of its value and, for a word,
 *  the words allowed (the index is the stored value). */
typedef struct {
    apr_size_t offset;
    int global;
    double min; /* durations in microseconds */
    double max; /* 0: no upper bound for durations */
    const char *const *words;
} kvc_slot;

#define KVC_DIR_SLOT(field, min, max)                                          \
    ((void *)&(const kvc_slot){ offsetof(kvc_dir_conf, field), 0, (min),       \
                                (max), NULL })
#define KVC_GLOBAL_SLOT(field, min, max)                                       \
    ((void *)&(const kvc_slot){ offsetof(kvc_global_conf, field), 1, (min),    \
                                (max), NULL })
#define KVC_DIR_WORDS(field, words)                                            \
    ((void *)&(const kvc_slot){ offsetof(kvc_dir_conf, field), 0, 0, 0,        \
                                (words) })

/* Directive contexts: "dir" = server, vhost, <Location>, <Proxy>;
 * global slots are refused anywhere but the main server. */
#define KVC_DIR_CONTEXT (RSRC_CONF | ACCESS_CONF)

/* The setters, one per kind of value (cmd->info is a kvc_slot). */
const char *kvc_set_flag_slot(cmd_parms *cmd, void *mconfig, int on);
const char *kvc_set_count_slot(cmd_parms *cmd, void *mconfig, const char *arg);
const char *kvc_set_number_slot(cmd_parms *cmd, void *mconfig, const char *arg);
const char *kvc_set_duration_slot(cmd_parms *cmd, void *mconfig,
                                  const char *arg);
const char *kvc_set_size_slot(cmd_parms *cmd, void *mconfig, const char *arg);
const char *kvc_set_url_slot(cmd_parms *cmd, void *mconfig, const char *arg);
const char *kvc_set_string_slot(cmd_parms *cmd, void *mconfig, const char *arg);
const char *kvc_set_word_slot(cmd_parms *cmd, void *mconfig, const char *arg);

/* The directives that do more than store one value. */
const char *kvc_set_enable(cmd_parms *cmd, void *mconfig, int on);
/** A flag slot whose On also starts the metrics scraper. */
const char *kvc_set_signals_flag(cmd_parms *cmd, void *mconfig, int on);
const char *kvc_set_fallback(cmd_parms *cmd, void *unused, const char *arg);
const char *kvc_set_breaker(cmd_parms *cmd, void *unused, const char *failures,
                            const char *recovery, const char *probes);
const char *kvc_set_retry(cmd_parms *cmd, void *unused, const char *attempts,
                          const char *base, const char *max);
const char *kvc_set_ca_file(cmd_parms *cmd, void *unused, const char *arg);
/** KVCachePin, KVCacheEvict (cmd->info: "pin", "evict"). */
const char *kvc_set_target(cmd_parms *cmd, void *mconfig, const char *instance,
                           const char *location);
const char *kvc_set_compress_target(cmd_parms *cmd, void *mconfig,
                                    const char *instance, const char *location,
                                    const char *method);

/** KVCacheFleetStore redis:HOST:PORT[/PREFIX]. */
const char *kvc_set_fleet_store(cmd_parms *cmd, void *unused, const char *arg);

/** KVCachePrefillRate auto|TOKENS_PER_SECOND. */
const char *kvc_set_prefill_rate(cmd_parms *cmd, void *unused, const char *arg);

/** The words of KVCacheTokenize, KVCacheEvictAPI and KVCachePolicy. */
extern const char *const kvc_tokenize_mode_words[];
extern const char *const kvc_evict_api_words[];
extern const char *const kvc_policy_words[];

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
apr_interval_time_t kvc_conf_request_timeout(const kvc_dir_conf *c);
apr_interval_time_t kvc_conf_lookup_budget(const kvc_dir_conf *c);
apr_interval_time_t kvc_conf_tokenize_budget(const kvc_dir_conf *c);
apr_off_t kvc_conf_max_body_size(const kvc_dir_conf *c);
long kvc_conf_min_match_tokens(const kvc_dir_conf *c);
double kvc_conf_load_weight(const kvc_dir_conf *c);
kvc_tokenize_mode kvc_conf_tokenize_mode(const kvc_dir_conf *c);
apr_uint32_t kvc_conf_hot_threshold(const kvc_dir_conf *c);
double kvc_conf_load_threshold(const kvc_dir_conf *c);
double kvc_conf_memory_threshold(const kvc_dir_conf *c);
kvc_policy kvc_conf_policy(const kvc_dir_conf *c);
apr_interval_time_t kvc_conf_session_margin(const kvc_dir_conf *c);
/** Whether any cache action (pin, compress, clear) is on. */
int kvc_conf_manages(const kvc_dir_conf *c);

/** The contexts with KVCacheEnable On, for the self-check: their number,
 *  and the merged settings of the i-th (NULL before check_config) with
 *  where its KVCacheEnable is (file:line). */
int kvc_config_enabled_count(void);
const kvc_dir_conf *kvc_config_enabled_site(int i, const char **where);

/** Registers the defaults (pre_config) and the cross-directive checks
 *  (check_config). */
void kvc_config_register_hooks(apr_pool_t *p);

#endif /* MOD_KVCACHE_CONFIG_H */
