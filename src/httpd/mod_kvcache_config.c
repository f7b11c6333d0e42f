/* Licensed under the Apache License, Version 2.0 (the "License"); you may not
 * use this file except in compliance with the License.  You may obtain a copy
 * of the License at http://www.apache.org/licenses/LICENSE-2.0
 */

#include <stddef.h>

#include "httpd.h"
#include "apr_strings.h"
#include "apr_uri.h"
#include "ap_provider.h"
#include "http_log.h"
#include "mod_proxy.h"

#include "mod_kvcache_config.h"
#include "kvc_parse.h"
#include "mod_kvcache_tokstore.h"
#include "kvc_wire.h"

APLOG_USE_MODULE(kvcache);

/* Where KVCacheEnable On was seen, so that check_config can verify the
 * endpoints it needs once the whole configuration has been read. */
typedef struct {
    server_rec *s;
    kvc_dir_conf *conf;
    const char *where;
} kvc_enable_site;

static apr_array_header_t *enable_sites;
static kvc_global_conf global_conf;

static apr_status_t forget_enable_sites(void *unused)
{
    enable_sites = NULL;
    return APR_SUCCESS;
}

void *kvc_config_create_dir(apr_pool_t *p, char *dir)
{
    kvc_dir_conf *c = apr_pcalloc(p, sizeof(*c));

    c->enable = -1;
    c->request_timeout = -1;
    c->lookup_timeout = -1;
    c->tokenize_timeout = -1;
    c->token_cache = -1;
    c->max_body_size = -1;
    c->min_match_tokens = -1;
    c->load_weight = -1.0;
    c->tokenize_mode = -1;
    c->pinning = -1;
    c->compression = -1;
    c->eviction = -1;
    c->hot_threshold = -1;
    c->load_threshold = -1.0;
    c->memory_threshold = -1.0;
    c->evict_api = -1;
    return c;
}

#define KVC_MERGE_PTR(f) (add->f ? add->f : base->f)
#define KVC_MERGE_NUM(f) (add->f >= 0 ? add->f : base->f)

void *kvc_config_merge_dir(apr_pool_t *p, void *basev, void *addv)
{
    const kvc_dir_conf *base = basev, *add = addv;
    kvc_dir_conf *c = apr_palloc(p, sizeof(*c));

    c->enable = KVC_MERGE_NUM(enable);
    c->vllm_endpoint = KVC_MERGE_PTR(vllm_endpoint);
    c->lmcache_endpoint = KVC_MERGE_PTR(lmcache_endpoint);
    c->default_model = KVC_MERGE_PTR(default_model);
    c->request_timeout = KVC_MERGE_NUM(request_timeout);
    c->lookup_timeout = KVC_MERGE_NUM(lookup_timeout);
    c->tokenize_timeout = KVC_MERGE_NUM(tokenize_timeout);
    c->token_cache = KVC_MERGE_NUM(token_cache);
    c->max_body_size = KVC_MERGE_NUM(max_body_size);
    c->min_match_tokens = KVC_MERGE_NUM(min_match_tokens);
    c->load_weight = KVC_MERGE_NUM(load_weight);
    c->tokenize_mode = KVC_MERGE_NUM(tokenize_mode);
    c->pinning = KVC_MERGE_NUM(pinning);
    c->compression = KVC_MERGE_NUM(compression);
    c->eviction = KVC_MERGE_NUM(eviction);
    c->hot_threshold = KVC_MERGE_NUM(hot_threshold);
    c->load_threshold = KVC_MERGE_NUM(load_threshold);
    c->memory_threshold = KVC_MERGE_NUM(memory_threshold);
    c->pin = KVC_MERGE_PTR(pin);
    c->compress = KVC_MERGE_PTR(compress);
    c->evict = KVC_MERGE_PTR(evict);
    c->evict_api = KVC_MERGE_NUM(evict_api);
    return c;
}

void *kvc_config_create_server(apr_pool_t *p, server_rec *s)
{
    return apr_pcalloc(p, sizeof(kvc_server_conf));
}

void *kvc_config_merge_server(apr_pool_t *p, void *basev, void *addv)
{
    const kvc_server_conf *base = basev, *add = addv;
    kvc_server_conf *c = apr_pcalloc(p, sizeof(*c));

    c->fallback_name = KVC_MERGE_PTR(fallback_name);
    return c;
}

const kvc_dir_conf *kvc_config_dir(const request_rec *r)
{
    return ap_get_module_config(r->per_dir_config, &kvcache_module);
}

const kvc_server_conf *kvc_config_server(const server_rec *s)
{
    return ap_get_module_config(s->module_config, &kvcache_module);
}

const kvc_global_conf *kvc_config_global(void)
{
    return &global_conf;
}

int kvc_conf_enabled(const kvc_dir_conf *c)
{
    return c->enable == 1;
}

int kvc_conf_token_cache(const kvc_dir_conf *c)
{
    return c->token_cache != 0;
}

apr_interval_time_t kvc_conf_request_timeout(const kvc_dir_conf *c)
{
    return c->request_timeout >= 0 ? c->request_timeout
                                   : KVC_DEFAULT_REQUEST_TIMEOUT;
}

/* KVCacheRequestTimeout caps every upstream call, so a routing call gets the
 * smaller of its own budget and that cap. */
apr_interval_time_t kvc_conf_lookup_budget(const kvc_dir_conf *c)
{
    apr_interval_time_t t =
        c->lookup_timeout >= 0 ? c->lookup_timeout : KVC_DEFAULT_LOOKUP_TIMEOUT;
    return t < kvc_conf_request_timeout(c) ? t : kvc_conf_request_timeout(c);
}

apr_interval_time_t kvc_conf_tokenize_budget(const kvc_dir_conf *c)
{
    apr_interval_time_t t = c->tokenize_timeout >= 0
                                ? c->tokenize_timeout
                                : KVC_DEFAULT_TOKENIZE_TIMEOUT;
    return t < kvc_conf_request_timeout(c) ? t : kvc_conf_request_timeout(c);
}

apr_off_t kvc_conf_max_body_size(const kvc_dir_conf *c)
{
    return c->max_body_size >= 0 ? c->max_body_size : KVC_DEFAULT_MAX_BODY_SIZE;
}

long kvc_conf_min_match_tokens(const kvc_dir_conf *c)
{
    return c->min_match_tokens >= 0 ? c->min_match_tokens
                                    : KVC_DEFAULT_MIN_MATCH_TOKENS;
}

double kvc_conf_load_weight(const kvc_dir_conf *c)
{
    return c->load_weight >= 0 ? c->load_weight : KVC_DEFAULT_LOAD_WEIGHT;
}

kvc_tokenize_mode kvc_conf_tokenize_mode(const kvc_dir_conf *c)
{
    return c->tokenize_mode >= 0 ? (kvc_tokenize_mode)c->tokenize_mode
                                 : KVC_TOKENIZE_SYNC;
}

apr_uint32_t kvc_conf_hot_threshold(const kvc_dir_conf *c)
{
    return (apr_uint32_t)(c->hot_threshold >= 0 ? c->hot_threshold
                                                : KVC_DEFAULT_HOT_THRESHOLD);
}

double kvc_conf_load_threshold(const kvc_dir_conf *c)
{
    return c->load_threshold >= 0 ? c->load_threshold
                                  : KVC_DEFAULT_LOAD_THRESHOLD;
}

double kvc_conf_memory_threshold(const kvc_dir_conf *c)
{
    return c->memory_threshold >= 0 ? c->memory_threshold
                                    : KVC_DEFAULT_MEMORY_THRESHOLD;
}

/* Every rejection names the directive and says what is allowed. */
static const char *bad_value(cmd_parms *cmd, const char *arg,
                             const char *reason)
{
    return apr_psprintf(cmd->pool, "%s: invalid value '%s': %s", cmd->cmd->name,
                        arg, reason);
}

/* A duration of at least 1ms, for settings where 0 makes no sense. */
static const char *parse_positive_duration(cmd_parms *cmd, const char *arg,
                                           apr_interval_time_t *out)
{
    const char *why = kvc_parse_duration(arg, out);

    if (!why && *out < apr_time_from_msec(1)) {
        why = "must be at least 1ms";
    }
    return why ? bad_value(cmd, arg, why) : NULL;
}

static const char *set_enable(cmd_parms *cmd, void *mconfig, int on)
{
    kvc_dir_conf *c = mconfig;
    kvc_enable_site *site;

    c->enable = on;
    if (on) {
        if (!enable_sites) {
            enable_sites = apr_array_make(cmd->pool, 4, sizeof(*site));
            apr_pool_cleanup_register(cmd->pool, NULL, forget_enable_sites,
                                      apr_pool_cleanup_null);
        }
        site = apr_array_push(enable_sites);
        site->s = cmd->server;
        site->conf = c;
        site->where = apr_psprintf(cmd->pool, "%s:%d", cmd->directive->filename,
                                   cmd->directive->line_num);
    }
    return NULL;
}

/* Upstream base URLs: http or https, a host, no query; the trailing '/' is
 * dropped so that "/tokenize" and "/lookup" can be appended. */
static const char *set_endpoint(cmd_parms *cmd, void *mconfig, const char *arg)
{
    apr_uri_t uri;
    char *url;
    apr_size_t len;

    if (apr_uri_parse(cmd->pool, arg, &uri) != APR_SUCCESS || !uri.scheme
        || !uri.hostname || !*uri.hostname
        || (strcasecmp(uri.scheme, "http") && strcasecmp(uri.scheme, "https"))
        || uri.query || uri.fragment) {
        return bad_value(cmd, arg,
                         "must be an http:// or https:// URL "
                         "without query, e.g. http://127.0.0.1:8000");
    }
    url = apr_pstrdup(cmd->pool, arg);
    len = strlen(url);
    while (len > 0 && url[len - 1] == '/') {
        url[--len] = '\0';
    }
    if (cmd->info == (void *)0) {
        ((kvc_dir_conf *)mconfig)->vllm_endpoint = url;
    }
    else {
        ((kvc_dir_conf *)mconfig)->lmcache_endpoint = url;
    }
    return NULL;
}

static const char *set_default_model(cmd_parms *cmd, void *mconfig,
                                     const char *arg)
{
    ((kvc_dir_conf *)mconfig)->default_model = arg;
    return NULL;
}

/* A zero timeout would mean "no timeout" to libcurl, so it is refused. */
static const char *set_timeout(cmd_parms *cmd, void *mconfig, const char *arg)
{
    kvc_dir_conf *c = mconfig;
    apr_interval_time_t t;
    const char *why = parse_positive_duration(cmd, arg, &t);

    if (why) {
        return why;
    }
    switch ((int)(apr_uintptr_t)cmd->info) {
    case 0: c->request_timeout = t; break;
    case 1: c->lookup_timeout = t; break;
    default: c->tokenize_timeout = t; break;
    }
    return NULL;
}

static const char *set_token_cache(cmd_parms *cmd, void *mconfig, int on)
{
    ((kvc_dir_conf *)mconfig)->token_cache = on;
    return NULL;
}

static const char *set_token_cache_size(cmd_parms *cmd, void *unused,
                                        const char *arg)
{
    long n;
    const char *why = ap_check_cmd_context(cmd, GLOBAL_ONLY);

    if (why) {
        return why;
    }
    if ((why = kvc_parse_long(arg, 1, 10000000, &n))) {
        return bad_value(cmd, arg, why);
    }
    global_conf.token_cache_size = (apr_size_t)n;
    return NULL;
}

static const char *set_token_cache_ttl(cmd_parms *cmd, void *unused,
                                       const char *arg)
{
    apr_interval_time_t t;
    const char *why = ap_check_cmd_context(cmd, GLOBAL_ONLY);

    if (why) {
        return why;
    }
    why = kvc_parse_duration(arg, &t);
    if (!why && t < apr_time_from_sec(1)) {
        why = "must be at least 1s";
    }
    if (why) {
        return bad_value(cmd, arg, why);
    }
    global_conf.token_cache_ttl = t;
    return NULL;
}

static const char *set_max_body_size(cmd_parms *cmd, void *mconfig,
                                     const char *arg)
{
    apr_off_t n;
    const char *why = kvc_parse_size(arg, &n);

    if (!why && (n < 1 || n > APR_INT64_C(1) << 30)) {
        why = "must be from 1 byte to 1G";
    }
    if (why) {
        return bad_value(cmd, arg, why);
    }
    ((kvc_dir_conf *)mconfig)->max_body_size = n;
    return NULL;
}

static const char *set_min_match_tokens(cmd_parms *cmd, void *mconfig,
                                        const char *arg)
{
    long n;
    const char *why = kvc_parse_long(arg, 1, APR_INT32_MAX, &n);

    if (why) {
        return bad_value(cmd, arg, why);
    }
    ((kvc_dir_conf *)mconfig)->min_match_tokens = n;
    return NULL;
}

static const char *set_load_weight(cmd_parms *cmd, void *mconfig,
                                   const char *arg)
{
    double w;
    const char *why = kvc_parse_double(arg, 0.0, 100.0, &w);

    if (why) {
        return bad_value(cmd, arg, why);
    }
    ((kvc_dir_conf *)mconfig)->load_weight = w;
    return NULL;
}

/* The provider itself is looked up in check_config: LoadModule lines for the
 * stock lbmethods may come after this directive. */
static const char *set_fallback(cmd_parms *cmd, void *unused, const char *arg)
{
    kvc_server_conf *c =
        ap_get_module_config(cmd->server->module_config, &kvcache_module);

    if (strcmp(arg, "byrequests") && strcmp(arg, "bybusyness")
        && strcmp(arg, "bytraffic")) {
        return bad_value(cmd, arg,
                         "must be byrequests, bybusyness or "
                         "bytraffic");
    }
    c->fallback_name = arg;
    return NULL;
}

static const char *set_token_store(cmd_parms *cmd, void *unused,
                                   const char *arg)
{
    const char *why = ap_check_cmd_context(cmd, GLOBAL_ONLY);

    if (why) {
        return why;
    }
    global_conf.token_store = arg;
    return NULL;
}

static const char *set_breaker(cmd_parms *cmd, void *unused,
                               const char *failures, const char *recovery,
                               const char *probes)
{
    long n, k;
    const char *why = ap_check_cmd_context(cmd, GLOBAL_ONLY);

    if (why) {
        return why;
    }
    if ((why = kvc_parse_long(failures, 1, 1000, &n))) {
        return bad_value(cmd, failures,
                         apr_pstrcat(cmd->pool, "FAILURES ", why, NULL));
    }
    if ((why = parse_positive_duration(cmd, recovery,
                                       &global_conf.breaker.recovery))) {
        return why;
    }
    if ((why = kvc_parse_long(probes, 1, 100, &k))) {
        return bad_value(cmd, probes,
                         apr_pstrcat(cmd->pool, "HALF_OPEN_CALLS ", why, NULL));
    }
    global_conf.breaker.failures = (apr_uint32_t)n;
    global_conf.breaker.half_open_calls = (apr_uint32_t)k;
    return NULL;
}

static const char *set_retry(cmd_parms *cmd, void *unused, const char *attempts,
                             const char *base, const char *max)
{
    long n;
    const char *why = ap_check_cmd_context(cmd, GLOBAL_ONLY);

    if (why) {
        return why;
    }
    if ((why = kvc_parse_long(attempts, 1, 10, &n))) {
        return bad_value(cmd, attempts,
                         apr_pstrcat(cmd->pool, "ATTEMPTS ", why, NULL));
    }
    if ((why = parse_positive_duration(cmd, base, &global_conf.retry_base))
        || (why = parse_positive_duration(cmd, max, &global_conf.retry_max))) {
        return why;
    }
    if (global_conf.retry_max < global_conf.retry_base) {
        return bad_value(cmd, max, "MAX must not be below BASE");
    }
    global_conf.retry_attempts = (unsigned)n;
    return NULL;
}

static const char *set_ca_file(cmd_parms *cmd, void *unused, const char *arg)
{
    const char *why = ap_check_cmd_context(cmd, GLOBAL_ONLY);
    const char *path;
    apr_finfo_t finfo;

    if (why) {
        return why;
    }
    path = ap_server_root_relative(cmd->pool, arg);
    if (!path
        || apr_stat(&finfo, path, APR_FINFO_TYPE, cmd->temp_pool) != APR_SUCCESS
        || finfo.filetype != APR_REG) {
        return bad_value(cmd, arg,
                         "must be a readable PEM file of CA "
                         "certificates");
    }
    global_conf.upstream_ca_file = path;
    return NULL;
}

static const char *set_verify(cmd_parms *cmd, void *unused, int on)
{
    const char *why = ap_check_cmd_context(cmd, GLOBAL_ONLY);

    if (why) {
        return why;
    }
    global_conf.upstream_verify = on;
    return NULL;
}

/* Global counts and durations share one shape: a range, global context. */
static const char *set_global_count(cmd_parms *cmd, void *unused,
                                    const char *arg)
{
    const char *why = ap_check_cmd_context(cmd, GLOBAL_ONLY);
    long n;

    if (why) {
        return why;
    }
    if ((why = kvc_parse_long(arg, 1, 1000000, &n))) {
        return bad_value(cmd, arg, why);
    }
    *(apr_uint32_t *)((char *)&global_conf
                      + (apr_size_t)(apr_uintptr_t)cmd->info) = (apr_uint32_t)n;
    return NULL;
}

static const char *set_global_duration(cmd_parms *cmd, void *unused,
                                       const char *arg)
{
    const char *why = ap_check_cmd_context(cmd, GLOBAL_ONLY);

    if (why) {
        return why;
    }
    return parse_positive_duration(
        cmd, arg,
        (apr_interval_time_t *)((char *)&global_conf
                                + (apr_size_t)(apr_uintptr_t)cmd->info));
}

static const char *set_action_flag(cmd_parms *cmd, void *mconfig, int on)
{
    kvc_dir_conf *c = mconfig;

    *(int *)((char *)c + (apr_size_t)(apr_uintptr_t)cmd->info) = on;
    if (on
        && (apr_size_t)(apr_uintptr_t)cmd->info
               != offsetof(kvc_dir_conf, pinning)) {
        global_conf.signals_needed = 1;
    }
    return NULL;
}

static const char *set_threshold(cmd_parms *cmd, void *mconfig, const char *arg)
{
    double v;
    const char *why = kvc_parse_double(arg, 0.0, 1.0, &v);

    if (why) {
        return bad_value(cmd, arg, why);
    }
    *(double *)((char *)mconfig + (apr_size_t)(apr_uintptr_t)cmd->info) = v;
    return NULL;
}

static const char *set_hot_threshold(cmd_parms *cmd, void *mconfig,
                                     const char *arg)
{
    long n;
    const char *why = kvc_parse_long(arg, 1, 1000000, &n);

    if (why) {
        return bad_value(cmd, arg, why);
    }
    ((kvc_dir_conf *)mconfig)->hot_threshold = n;
    return NULL;
}

/* Instance ids and locations end up in JSON bodies and logs: the same
 * character rule as route ids. */
static const char *check_name(cmd_parms *cmd, const char *arg, const char *what)
{
    if (!kvc_route_id_valid(arg, strlen(arg))) {
        return bad_value(
            cmd, arg,
            apr_pstrcat(cmd->pool, what,
                        " must be 1 "
                        "to 63 characters of A-Z a-z 0-9 . _ : @ -",
                        NULL));
    }
    return NULL;
}

static const char *set_target(cmd_parms *cmd, void *mconfig,
                              const char *instance, const char *location,
                              const char *method)
{
    kvc_dir_conf *c = mconfig;
    kvc_action_target *t = apr_pcalloc(cmd->pool, sizeof(*t));
    const char *which = cmd->info;
    const char *why;

    if (!strcmp(instance, "auto") && !strcmp(which, "evict")) {
        /* Memory pressure belongs to an instance, not to a prompt. */
        return bad_value(cmd, instance,
                         "INSTANCE must name an instance; "
                         "auto is for KVCachePin and KVCacheCompress");
    }
    if (strcmp(instance, "auto")) {
        if ((why = check_name(cmd, instance, "INSTANCE"))) {
            return why;
        }
        t->instance = instance;
    }
    if ((why = check_name(cmd, location, "LOCATION"))) {
        return why;
    }
    t->location = location;
    if (method && (why = check_name(cmd, method, "METHOD"))) {
        return why;
    }
    t->method = method ? method : KVC_DEFAULT_COMPRESS_METHOD;
    if (!strcmp(which, "pin")) {
        c->pin = t;
    }
    else if (!strcmp(which, "compress")) {
        c->compress = t;
    }
    else {
        c->evict = t;
    }
    return NULL;
}

static const char *set_pin_or_evict(cmd_parms *cmd, void *mconfig,
                                    const char *instance, const char *location)
{
    return set_target(cmd, mconfig, instance, location, NULL);
}

static const char *set_evict_api(cmd_parms *cmd, void *mconfig, const char *arg)
{
    kvc_dir_conf *c = mconfig;

    if (!strcasecmp(arg, "clear")) {
        c->evict_api = KVC_EVICT_API_CLEAR;
    }
    else if (!strcasecmp(arg, "evict")) {
        c->evict_api = KVC_EVICT_API_EVICT;
    }
    else {
        return bad_value(cmd, arg, "must be clear or evict");
    }
    return NULL;
}

static const char *set_tokenize_mode(cmd_parms *cmd, void *mconfig,
                                     const char *arg)
{
    kvc_dir_conf *c = mconfig;

    if (!strcasecmp(arg, "sync")) {
        c->tokenize_mode = KVC_TOKENIZE_SYNC;
    }
    else if (!strcasecmp(arg, "async")) {
        c->tokenize_mode = KVC_TOKENIZE_ASYNC;
    }
    else if (!strcasecmp(arg, "off")) {
        c->tokenize_mode = KVC_TOKENIZE_OFF;
    }
    else {
        return bad_value(cmd, arg, "must be sync, async or off");
    }
    return NULL;
}

#define KVC_DIR_CONTEXT (RSRC_CONF | ACCESS_CONF)

const command_rec kvc_config_cmds[] = {
    AP_INIT_FLAG("KVCacheEnable", set_enable, NULL, KVC_DIR_CONTEXT,
                 "On to route POSTed LLM requests by cached KV prefix"),
    AP_INIT_TAKE1("KVCacheVLLMEndpoint", set_endpoint, (void *)0,
                  KVC_DIR_CONTEXT, "vLLM base URL (POST URL/tokenize)"),
    AP_INIT_TAKE1("KVCacheLMCacheEndpoint", set_endpoint, (void *)1,
                  KVC_DIR_CONTEXT, "LMCache controller base URL"),
    AP_INIT_TAKE1("KVCacheDefaultModel", set_default_model, NULL,
                  KVC_DIR_CONTEXT, "model name when the body has none"),
    AP_INIT_TAKE1("KVCacheRequestTimeout", set_timeout, (void *)0,
                  KVC_DIR_CONTEXT, "cap on any upstream call (2s)"),
    AP_INIT_TAKE1("KVCacheLookupTimeout", set_timeout, (void *)1,
                  KVC_DIR_CONTEXT, "budget of the routing /lookup (50ms)"),
    AP_INIT_TAKE1("KVCacheTokenizeTimeout", set_timeout, (void *)2,
                  KVC_DIR_CONTEXT,
                  "budget of the request-path /tokenize "
                  "(200ms)"),
    AP_INIT_FLAG("KVCacheTokenCache", set_token_cache, NULL, KVC_DIR_CONTEXT,
                 "On to cache tokenized prompts (On)"),
    AP_INIT_TAKE1("KVCacheTokenCacheSize", set_token_cache_size, NULL,
                  RSRC_CONF, "token cache entries per process (1024)"),
    AP_INIT_TAKE1("KVCacheTokenCacheTTL", set_token_cache_ttl, NULL, RSRC_CONF,
                  "token cache entry lifetime (10m)"),
    AP_INIT_TAKE1("KVCacheTokenCacheStore", set_token_store, NULL, RSRC_CONF,
                  "socache provider[:args] of the shared token "
                  "cache (shmcb)"),
    AP_INIT_TAKE3("KVCacheCircuitBreaker", set_breaker, NULL, RSRC_CONF,
                  "FAILURES RECOVERY HALF_OPEN_CALLS of each upstream's "
                  "breaker (5 10s 2)"),
    AP_INIT_TAKE3("KVCacheRetry", set_retry, NULL, RSRC_CONF,
                  "ATTEMPTS BASE MAX of LMCache calls (3 100ms 2s)"),
    AP_INIT_TAKE1("KVCacheUpstreamCACertificate", set_ca_file, NULL, RSRC_CONF,
                  "CA certificates for https upstreams"),
    AP_INIT_FLAG("KVCacheUpstreamVerify", set_verify, NULL, RSRC_CONF,
                 "Off to skip TLS verification of upstreams (On)"),
    AP_INIT_TAKE1("KVCacheMaxBodySize", set_max_body_size, NULL,
                  KVC_DIR_CONTEXT,
                  "larger bodies are forwarded unrouted "
                  "(16M)"),
    AP_INIT_TAKE1("KVCacheMinMatchTokens", set_min_match_tokens, NULL,
                  KVC_DIR_CONTEXT,
                  "below this match for every member, no "
                  "preference (1)"),
    AP_INIT_TAKE1("KVCacheLoadWeight", set_load_weight, NULL, KVC_DIR_CONTEXT,
                  "weight of the load term; 0 = pure "
                  "max-match (1.0)"),
    AP_INIT_TAKE1("KVCacheFallbackLBMethod", set_fallback, NULL, RSRC_CONF,
                  "lbmethod for requests without a preference "
                  "(bybusyness)"),
    AP_INIT_TAKE1("KVCacheTokenize", set_tokenize_mode, NULL, KVC_DIR_CONTEXT,
                  "sync, async (Pixiu's) or off (sync)"),
    AP_INIT_TAKE1("KVCacheHotWindow", set_global_duration,
                  (void *)offsetof(kvc_global_conf, hot_window), RSRC_CONF,
                  "window of the hot-content counts (5m)"),
    AP_INIT_TAKE1("KVCacheHotMaxRecords", set_global_count,
                  (void *)offsetof(kvc_global_conf, hot_max_records), RSRC_CONF,
                  "cap of each key's count (300)"),
    AP_INIT_TAKE1("KVCacheHotMaxKeys", set_global_count,
                  (void *)offsetof(kvc_global_conf, hot_max_keys), RSRC_CONF,
                  "keys in the shared hot table (4096)"),
    AP_INIT_TAKE1("KVCacheInstanceCapacity", set_global_count,
                  (void *)offsetof(kvc_global_conf, instance_capacity),
                  RSRC_CONF,
                  "requests an instance serves at once, the "
                  "unit of its load (256)"),
    AP_INIT_TAKE1("KVCacheScrapeInterval", set_global_duration,
                  (void *)offsetof(kvc_global_conf, scrape_interval), RSRC_CONF,
                  "how often instances' /metrics are read (5s)"),
    AP_INIT_TAKE1("KVCacheActionInterval", set_global_duration,
                  (void *)offsetof(kvc_global_conf, action_interval), RSRC_CONF,
                  "least time between two /compress or two "
                  "/clear to one instance (30s)"),
    AP_INIT_TAKE1("KVCacheActionQueueSize", set_global_count,
                  (void *)offsetof(kvc_global_conf, action_queue_size),
                  RSRC_CONF, "background calls waiting per process (64)"),
    AP_INIT_FLAG("KVCachePinning", set_action_flag,
                 (void *)offsetof(kvc_dir_conf, pinning), KVC_DIR_CONTEXT,
                 "On to pin hot content (Off)"),
    AP_INIT_FLAG("KVCacheCompression", set_action_flag,
                 (void *)offsetof(kvc_dir_conf, compression), KVC_DIR_CONTEXT,
                 "On to compress under load (Off)"),
    AP_INIT_FLAG("KVCacheEviction", set_action_flag,
                 (void *)offsetof(kvc_dir_conf, eviction), KVC_DIR_CONTEXT,
                 "On to clear under memory pressure (Off)"),
    AP_INIT_TAKE1("KVCacheHotThreshold", set_hot_threshold, NULL,
                  KVC_DIR_CONTEXT,
                  "requests in the window that make "
                  "content hot (10)"),
    AP_INIT_TAKE1("KVCacheLoadThreshold", set_threshold,
                  (void *)offsetof(kvc_dir_conf, load_threshold),
                  KVC_DIR_CONTEXT,
                  "instance load that triggers /compress "
                  "(0.7)"),
    AP_INIT_TAKE1("KVCacheMemoryThreshold", set_threshold,
                  (void *)offsetof(kvc_dir_conf, memory_threshold),
                  KVC_DIR_CONTEXT,
                  "KV-cache usage that triggers /clear "
                  "(0.85)"),
    AP_INIT_TAKE2("KVCachePin", set_pin_or_evict, "pin", KVC_DIR_CONTEXT,
                  "INSTANCE|auto LOCATION of /pin"),
    AP_INIT_TAKE23("KVCacheCompress", set_target, "compress", KVC_DIR_CONTEXT,
                   "INSTANCE|auto LOCATION [METHOD] of "
                   "/compress (cachegen)"),
    AP_INIT_TAKE2("KVCacheEvict", set_pin_or_evict, "evict", KVC_DIR_CONTEXT,
                  "INSTANCE LOCATION of /clear"),
    AP_INIT_TAKE1("KVCacheEvictAPI", set_evict_api, NULL, KVC_DIR_CONTEXT,
                  "clear (LMCache) or evict (Pixiu-style) (clear)"),
    { NULL }
};

static int kvc_pre_config(apr_pool_t *pconf, apr_pool_t *plog,
                          apr_pool_t *ptemp)
{
    global_conf.token_cache_size = KVC_DEFAULT_TOKEN_CACHE_SIZE;
    global_conf.token_cache_ttl = KVC_DEFAULT_TOKEN_CACHE_TTL;
    global_conf.token_store = KVC_DEFAULT_TOKEN_STORE;
    global_conf.breaker.failures = KVC_DEFAULT_BREAKER_FAILURES;
    global_conf.breaker.recovery = KVC_DEFAULT_BREAKER_RECOVERY;
    global_conf.breaker.half_open_calls = KVC_DEFAULT_BREAKER_PROBES;
    global_conf.retry_attempts = KVC_DEFAULT_RETRY_ATTEMPTS;
    global_conf.retry_base = KVC_DEFAULT_RETRY_BASE;
    global_conf.retry_max = KVC_DEFAULT_RETRY_MAX;
    global_conf.upstream_ca_file = NULL;
    global_conf.upstream_verify = 1;
    global_conf.hot_window = KVC_DEFAULT_HOT_WINDOW;
    global_conf.hot_max_records = KVC_DEFAULT_HOT_MAX_RECORDS;
    global_conf.hot_max_keys = KVC_DEFAULT_HOT_MAX_KEYS;
    global_conf.instance_capacity = KVC_DEFAULT_INSTANCE_CAPACITY;
    global_conf.scrape_interval = KVC_DEFAULT_SCRAPE_INTERVAL;
    global_conf.action_interval = KVC_DEFAULT_ACTION_INTERVAL;
    global_conf.action_queue_size = KVC_DEFAULT_ACTION_QUEUE_SIZE;
    global_conf.signals_needed = 0;
    return OK;
}

/* What an enabled context lacks, or NULL. */
static const char *incomplete(const kvc_dir_conf *c)
{
    if (!c->vllm_endpoint) {
        return "needs KVCacheVLLMEndpoint";
    }
    if (!c->lmcache_endpoint) {
        return "needs KVCacheLMCacheEndpoint";
    }
    if (c->pinning == 1 && !c->pin) {
        return "has KVCachePinning On but no KVCachePin";
    }
    if (c->compression == 1 && !c->compress) {
        return "has KVCacheCompression On but no KVCacheCompress";
    }
    if (c->eviction == 1 && !c->evict) {
        return "has KVCacheEviction On but no KVCacheEvict";
    }
    if (c->pinning == 1
        && kvc_conf_hot_threshold(c) > global_conf.hot_max_records) {
        /* Pixiu defect 18: a count capped below the threshold never
         * reaches it. */
        return "has a KVCacheHotThreshold above KVCacheHotMaxRecords, "
               "which can never be reached";
    }
    return NULL;
}

/* Runs before `apachectl -t` reports "Syntax OK", so whatever needs the
 * whole configuration (endpoints of an enabled context, the fallback
 * provider) is checked here rather than at startup. */
static int kvc_check_config(apr_pool_t *pconf, apr_pool_t *plog,
                            apr_pool_t *ptemp, server_rec *main_s)
{
    server_rec *s;
    const char *err;
    int i;

    if ((err = kvc_tokstore_configure(global_conf.token_store, pconf, ptemp))) {
        ap_log_error(APLOG_MARK, APLOG_EMERG, 0, main_s, "[kvcache] %s", err);
        return HTTP_INTERNAL_SERVER_ERROR;
    }
    for (s = main_s; s; s = s->next) {
        kvc_server_conf *sc =
            ap_get_module_config(s->module_config, &kvcache_module);
        const char *name =
            sc->fallback_name ? sc->fallback_name : KVC_DEFAULT_FALLBACK;

        sc->fallback = ap_lookup_provider(PROXY_LBMETHOD, name, "0");
        if (!sc->fallback) {
            ap_log_error(APLOG_MARK, APLOG_EMERG, 0, s,
                         "[kvcache] KVCacheFallbackLBMethod: lbmethod "
                         "provider '%s' is not loaded; add LoadModule "
                         "lbmethod_%s_module (mod_lbmethod_%s.so)",
                         name, name, name);
            return HTTP_INTERNAL_SERVER_ERROR;
        }
    }
    for (i = 0; enable_sites && i < enable_sites->nelts; i++) {
        kvc_enable_site *site =
            &APR_ARRAY_IDX(enable_sites, i, kvc_enable_site);
        kvc_dir_conf *base =
            ap_get_module_config(site->s->lookup_defaults, &kvcache_module);
        const kvc_dir_conf *c =
            site->conf == base ? base
                               : kvc_config_merge_dir(ptemp, base, site->conf);

        if ((err = incomplete(c))) {
            ap_log_error(APLOG_MARK, APLOG_EMERG, 0, site->s,
                         "[kvcache] KVCacheEnable On (%s) %s", site->where,
                         err);
            return HTTP_INTERNAL_SERVER_ERROR;
        }
    }
    return OK;
}

void kvc_config_register_hooks(apr_pool_t *p)
{
    ap_hook_pre_config(kvc_pre_config, NULL, NULL, APR_HOOK_MIDDLE);
    ap_hook_check_config(kvc_check_config, NULL, NULL, APR_HOOK_MIDDLE);
}
