/* Licensed under the Apache License, Version 2.0 (the "License"); you may not
 * use this file except in compliance with the License.  You may obtain a copy
 * of the License at http://www.apache.org/licenses/LICENSE-2.0
 */

/**
 * @file kvc_config.h
 * @brief mod_kvcache configuration: directives, defaults, merging and the
 *        cross-directive checks that make `apachectl -t` fail early.
 */
#ifndef KVC_CONFIG_H
#define KVC_CONFIG_H

#include "httpd.h"
#include "http_config.h"

#include "kvc_breaker.h"

struct proxy_balancer_method;

/** Per-directory (server, vhost, <Location>, <Proxy>) settings. */
typedef struct {
    int enable;                          /* -1 = unset */
    const char *vllm_endpoint;           /* base URL without trailing '/' */
    const char *lmcache_endpoint;
    const char *default_model;
    apr_interval_time_t request_timeout; /* -1 = unset */
    apr_interval_time_t lookup_timeout;
    apr_interval_time_t tokenize_timeout;
    int token_cache;                     /* -1 = unset */
    apr_off_t max_body_size;             /* -1 = unset */
    long min_match_tokens;               /* -1 = unset */
    double load_weight;                  /* < 0 = unset */
} kvc_dir_conf;

/** Per-server settings, merged from the main server into vhosts. */
typedef struct {
    const char *fallback_name;           /* NULL = unset */
    const struct proxy_balancer_method *fallback; /* set by check_config */
} kvc_server_conf;

/** Server-wide settings (global context only): the state they govern is
 *  shared by all processes and virtual hosts. */
typedef struct {
    apr_size_t token_cache_size;
    apr_interval_time_t token_cache_ttl;
    const char *token_store;             /* socache "provider[:args]" */
    kvc_breaker_policy breaker;          /* the same policy for each role */
    unsigned retry_attempts;
    apr_interval_time_t retry_base;
    apr_interval_time_t retry_max;
    const char *upstream_ca_file;        /* NULL: the system's CAs */
    int upstream_verify;
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

/** Registers the check_config hook (cross-directive validation). */
void kvc_config_register_hooks(apr_pool_t *p);

#endif /* KVC_CONFIG_H */
