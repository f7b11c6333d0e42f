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

#include "kvc_fleet.h"
#include "kvc_parse.h"
#include "kvc_wire.h"
#include "mod_kvcache_config.h"

APLOG_USE_MODULE(kvcache);

/* Where KVCacheEnable On was seen, so that check_config can verify each
 * enabled context once the whole configuration has been read. */
typedef struct {
    server_rec *s;
    kvc_dir_conf *conf;
    const char *where;
    const kvc_dir_conf *merged; /* set by check_config */
} kvc_enable_site;

static apr_array_header_t *enable_sites;
static kvc_global_conf global_conf;

const char *const kvc_tokenize_mode_words[] = { "sync", "async", "off", NULL };
const char *const kvc_evict_api_words[] = { "clear", "evict", NULL };
/* In kvc_policy's order. */
const char *const kvc_policy_words[] = { "ttft", "share", "maxmatch", NULL };

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
    c->policy = -1;
    c->session_margin = -1;
    return c;
}

#define KVC_MERGE_PTR(f) c->f = add->f ? add->f : base->f
#define KVC_MERGE_NUM(f) c->f = add->f >= 0 ? add->f : base->f

void *kvc_config_merge_dir(apr_pool_t *p, void *basev, void *addv)
{
    const kvc_dir_conf *base = basev, *add = addv;
    kvc_dir_conf *c = apr_palloc(p, sizeof(*c));

    KVC_MERGE_NUM(enable);
    KVC_MERGE_PTR(vllm_endpoint);
    KVC_MERGE_PTR(lmcache_endpoint);
    KVC_MERGE_PTR(default_model);
    KVC_MERGE_NUM(request_timeout);
    KVC_MERGE_NUM(lookup_timeout);
    KVC_MERGE_NUM(tokenize_timeout);
    KVC_MERGE_NUM(token_cache);
    KVC_MERGE_NUM(max_body_size);
    KVC_MERGE_NUM(min_match_tokens);
    KVC_MERGE_NUM(load_weight);
    KVC_MERGE_NUM(tokenize_mode);
    KVC_MERGE_NUM(pinning);
    KVC_MERGE_NUM(compression);
    KVC_MERGE_NUM(eviction);
    KVC_MERGE_NUM(hot_threshold);
    KVC_MERGE_NUM(load_threshold);
    KVC_MERGE_NUM(memory_threshold);
    KVC_MERGE_PTR(pin);
    KVC_MERGE_PTR(compress);
    KVC_MERGE_PTR(evict);
    KVC_MERGE_NUM(evict_api);
    KVC_MERGE_NUM(policy);
    KVC_MERGE_PTR(session_header);
    KVC_MERGE_NUM(session_margin);
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

    KVC_MERGE_PTR(fallback_name);
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

/* ------------------------------------------------------------------ */
/* Effective values                                                   */
/* ------------------------------------------------------------------ */

#define KVC_OR_DEFAULT(v, d) ((v) >= 0 ? (v) : (d))

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
    return KVC_OR_DEFAULT(c->request_timeout, KVC_DEFAULT_REQUEST_TIMEOUT);
}

/* KVCacheRequestTimeout caps every upstream call, so a routing call gets the
 * smaller of its own budget and that cap. */
static apr_interval_time_t capped(const kvc_dir_conf *c, apr_interval_time_t t)
{
    apr_interval_time_t cap = kvc_conf_request_timeout(c);

    return t < cap ? t : cap;
}

apr_interval_time_t kvc_conf_lookup_budget(const kvc_dir_conf *c)
{
    return capped(
        c, KVC_OR_DEFAULT(c->lookup_timeout, KVC_DEFAULT_LOOKUP_TIMEOUT));
}

apr_interval_time_t kvc_conf_tokenize_budget(const kvc_dir_conf *c)
{
    return capped(
        c, KVC_OR_DEFAULT(c->tokenize_timeout, KVC_DEFAULT_TOKENIZE_TIMEOUT));
}

apr_off_t kvc_conf_max_body_size(const kvc_dir_conf *c)
{
    return KVC_OR_DEFAULT(c->max_body_size, KVC_DEFAULT_MAX_BODY_SIZE);
}

long kvc_conf_min_match_tokens(const kvc_dir_conf *c)
{
    return KVC_OR_DEFAULT(c->min_match_tokens, KVC_DEFAULT_MIN_MATCH_TOKENS);
}

double kvc_conf_load_weight(const kvc_dir_conf *c)
{
    return KVC_OR_DEFAULT(c->load_weight, KVC_DEFAULT_LOAD_WEIGHT);
}

kvc_tokenize_mode kvc_conf_tokenize_mode(const kvc_dir_conf *c)
{
    return (kvc_tokenize_mode)KVC_OR_DEFAULT(c->tokenize_mode,
                                             KVC_TOKENIZE_SYNC);
}

apr_uint32_t kvc_conf_hot_threshold(const kvc_dir_conf *c)
{
    return (apr_uint32_t)KVC_OR_DEFAULT(c->hot_threshold,
                                        KVC_DEFAULT_HOT_THRESHOLD);
}

double kvc_conf_load_threshold(const kvc_dir_conf *c)
{
    return KVC_OR_DEFAULT(c->load_threshold, KVC_DEFAULT_LOAD_THRESHOLD);
}

double kvc_conf_memory_threshold(const kvc_dir_conf *c)
{
    return KVC_OR_DEFAULT(c->memory_threshold, KVC_DEFAULT_MEMORY_THRESHOLD);
}

kvc_policy kvc_conf_policy(const kvc_dir_conf *c)
{
    return (kvc_policy)KVC_OR_DEFAULT(c->policy, KVC_POLICY_TTFT);
}

apr_interval_time_t kvc_conf_session_margin(const kvc_dir_conf *c)
{
    return KVC_OR_DEFAULT(c->session_margin, KVC_DEFAULT_SESSION_MARGIN);
}

/* The targets are checked together with the switches at startup; only
 * odd <Location> nesting can leave one unset here. */
int kvc_conf_manages(const kvc_dir_conf *c)
{
    return (c->pinning == 1 && c->pin) || (c->compression == 1 && c->compress)
           || (c->eviction == 1 && c->evict);
}

/* ------------------------------------------------------------------ */
/* Setters                                                            */
/* ------------------------------------------------------------------ */

/* Every rejection names the directive and says what is allowed. */
static const char *bad_value(cmd_parms *cmd, const char *arg,
                             const char *reason)
{
    return apr_psprintf(cmd->pool, "%s: invalid value '%s': %s", cmd->cmd->name,
                        arg, reason);
}

/* Where a slot's value goes, or NULL with *err set when the directive is
 * in a context its slot does not allow. */
static void *slot_field(cmd_parms *cmd, void *mconfig, const kvc_slot **slot,
                        const char **err)
{
    *slot = cmd->info;
    if ((*slot)->global) {
        if ((*err = ap_check_cmd_context(cmd, GLOBAL_ONLY))) {
            return NULL;
        }
        return (char *)&global_conf + (*slot)->offset;
    }
    *err = NULL;
    return (char *)mconfig + (*slot)->offset;
}

const char *kvc_set_flag_slot(cmd_parms *cmd, void *mconfig, int on)
{
    const kvc_slot *slot;
    const char *err;
    int *field = slot_field(cmd, mconfig, &slot, &err);

    if (field) {
        *field = on;
    }
    return err;
}

/* Compressing and clearing act on what the instances report: wherever
 * either is switched on, the scraper must run. */
const char *kvc_set_signals_flag(cmd_parms *cmd, void *mconfig, int on)
{
    if (on) {
        global_conf.signals_needed = 1;
    }
    return kvc_set_flag_slot(cmd, mconfig, on);
}

const char *kvc_set_count_slot(cmd_parms *cmd, void *mconfig, const char *arg)
{
    const kvc_slot *slot;
    const char *err;
    long *field = slot_field(cmd, mconfig, &slot, &err);
    long n;

    if (!field) {
        return err;
    }
    if ((err = kvc_parse_long(arg, (long)slot->min, (long)slot->max, &n))) {
        return bad_value(cmd, arg, err);
    }
    *field = n;
    return NULL;
}

const char *kvc_set_number_slot(cmd_parms *cmd, void *mconfig, const char *arg)
{
    const kvc_slot *slot;
    const char *err;
    double *field = slot_field(cmd, mconfig, &slot, &err);
    double v;

    if (!field) {
        return err;
    }
    if ((err = kvc_parse_double(arg, slot->min, slot->max, &v))) {
        return bad_value(cmd, arg, err);
    }
    *field = v;
    return NULL;
}

/* A duration of at least the slot's minimum (a zero timeout would mean "no
 * timeout" to libcurl, so no slot allows it). */
static const char *parse_duration(cmd_parms *cmd, const char *arg,
                                  apr_interval_time_t min,
                                  apr_interval_time_t *out)
{
    const char *why = kvc_parse_duration(arg, out);

    if (!why && *out < min) {
        why = min < apr_time_from_sec(1) ? "must be at least 1ms"
                                         : "must be at least 1s";
    }
    return why ? bad_value(cmd, arg, why) : NULL;
}

const char *kvc_set_duration_slot(cmd_parms *cmd, void *mconfig,
                                  const char *arg)
{
    const kvc_slot *slot;
    const char *err;
    apr_interval_time_t *field = slot_field(cmd, mconfig, &slot, &err);

    if (!field) {
        return err;
    }
    if ((err =
             parse_duration(cmd, arg, (apr_interval_time_t)slot->min, field))) {
        return err;
    }
    /* A budget on the request path must stay short to mean anything. */
    if (slot->max > 0 && *field > (apr_interval_time_t)slot->max) {
        return bad_value(
            cmd, arg,
            apr_psprintf(cmd->pool, "must be at most %" APR_TIME_T_FMT "ms",
                         apr_time_as_msec((apr_interval_time_t)slot->max)));
    }
    return NULL;
}

const char *kvc_set_size_slot(cmd_parms *cmd, void *mconfig, const char *arg)
{
    const kvc_slot *slot;
    const char *err;
    apr_off_t *field = slot_field(cmd, mconfig, &slot, &err);
    apr_off_t n;

    if (!field) {
        return err;
    }
    err = kvc_parse_size(arg, &n);
    if (!err && (n < (apr_off_t)slot->min || n > (apr_off_t)slot->max)) {
        err = "must be from 1 byte to 1G";
    }
    if (err) {
        return bad_value(cmd, arg, err);
    }
    *field = n;
    return NULL;
}

/* Upstream base URLs: http or https, a host, no query; the trailing '/' is
 * dropped so that "/tokenize" and "/lookup" can be appended. */
const char *kvc_set_url_slot(cmd_parms *cmd, void *mconfig, const char *arg)
{
    const kvc_slot *slot;
    const char *err;
    const char **field = slot_field(cmd, mconfig, &slot, &err);
    apr_uri_t uri;
    char *url;
    apr_size_t len;

    if (!field) {
        return err;
    }
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
    *field = url;
    return NULL;
}

const char *kvc_set_string_slot(cmd_parms *cmd, void *mconfig, const char *arg)
{
    const kvc_slot *slot;
    const char *err;
    const char **field = slot_field(cmd, mconfig, &slot, &err);

    if (field) {
        *field = arg;
    }
    return err;
}

const char *kvc_set_word_slot(cmd_parms *cmd, void *mconfig, const char *arg)
{
    const kvc_slot *slot;
    const char *err;
    int *field = slot_field(cmd, mconfig, &slot, &err);
    const char *allowed = NULL;
    int i;

    if (!field) {
        return err;
    }
    for (i = 0; slot->words[i]; i++) {
        if (!strcasecmp(arg, slot->words[i])) {
            *field = i;
            return NULL;
        }
        allowed = allowed ? apr_pstrcat(cmd->temp_pool, allowed,
                                        slot->words[i + 1] ? ", " : " or ",
                                        slot->words[i], NULL)
                          : slot->words[i];
    }
    return bad_value(cmd, arg,
                     apr_pstrcat(cmd->pool, "must be ", allowed, NULL));
}

const char *kvc_set_enable(cmd_parms *cmd, void *mconfig, int on)
{
    kvc_dir_conf *c = mconfig;
    kvc_enable_site *site;

    c->enable = on;
    if (on) {
        global_conf.enabled = 1;
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

/* The provider itself is looked up in check_config: LoadModule lines for the
 * stock lbmethods may come after this directive. */
const char *kvc_set_fallback(cmd_parms *cmd, void *unused, const char *arg)
{
    kvc_server_conf *c =
        ap_get_module_config(cmd->server->module_config, &kvcache_module);

    if (strcmp(arg, "byrequests") && strcmp(arg, "bybusyness")
        && strcmp(arg, "bytraffic")) {
        return bad_value(cmd, arg,
                         "must be byrequests, bybusyness or bytraffic");
    }
    c->fallback_name = arg;
    return NULL;
}

/* "FAILURES must be ..." names the argument that is wrong. */
static const char *check_count(cmd_parms *cmd, const char *name,
                               const char *arg, long min, long max, long *out)
{
    const char *why = kvc_parse_long(arg, min, max, out);

    return why ? bad_value(cmd, arg,
                           apr_pstrcat(cmd->pool, name, " ", why, NULL))
               : NULL;
}

const char *kvc_set_breaker(cmd_parms *cmd, void *unused, const char *failures,
                            const char *recovery, const char *probes)
{
    kvc_breaker_policy *b = &global_conf.breaker;
    const char *why = ap_check_cmd_context(cmd, GLOBAL_ONLY);
    long n, k;

    if (why || (why = check_count(cmd, "FAILURES", failures, 1, 1000, &n))
        || (why = parse_duration(cmd, recovery, apr_time_from_msec(1),
                                 &b->recovery))
        || (why = check_count(cmd, "HALF_OPEN_CALLS", probes, 1, 100, &k))) {
        return why;
    }
    b->failures = (apr_uint32_t)n;
    b->half_open_calls = (apr_uint32_t)k;
    return NULL;
}

const char *kvc_set_retry(cmd_parms *cmd, void *unused, const char *attempts,
                          const char *base, const char *max)
{
    kvc_global_conf *g = &global_conf;
    const char *why = ap_check_cmd_context(cmd, GLOBAL_ONLY);

    if (why
        || (why = check_count(cmd, "ATTEMPTS", attempts, 1, 10,
                              &g->retry_attempts))
        || (why = parse_duration(cmd, base, apr_time_from_msec(1),
                                 &g->retry_base))
        || (why = parse_duration(cmd, max, apr_time_from_msec(1),
                                 &g->retry_max))) {
        return why;
    }
    if (g->retry_max < g->retry_base) {
        return bad_value(cmd, max, "MAX must not be below BASE");
    }
    return NULL;
}

const char *kvc_set_prefill_rate(cmd_parms *cmd, void *unused, const char *arg)
{
    const char *why = ap_check_cmd_context(cmd, GLOBAL_ONLY);
    double rate;

    if (why) {
        return why;
    }
    if (!strcasecmp(arg, "auto")) {
        global_conf.prefill_rate = 0;
        return NULL;
    }
    if ((why = kvc_parse_double(arg, 1, 1e9, &rate))) {
        return bad_value(cmd, arg,
                         apr_pstrcat(cmd->pool, "must be auto or ",
                                     why + strlen("must be "), NULL));
    }
    global_conf.prefill_rate = rate;
    return NULL;
}

const char *kvc_set_fleet_store(cmd_parms *cmd, void *unused, const char *arg)
{
    const char *why = ap_check_cmd_context(cmd, GLOBAL_ONLY);
    kvc_fleet_spec spec;

    if (why) {
        return why;
    }
    if ((why = kvc_fleet_parse(arg, cmd->pool, &spec))) {
        return bad_value(cmd, arg, why);
    }
    global_conf.fleet_host = spec.host;
    global_conf.fleet_port = spec.port;
    global_conf.fleet_prefix = spec.prefix;
    return NULL;
}

const char *kvc_set_ca_file(cmd_parms *cmd, void *unused, const char *arg)
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
                         "must be a readable PEM file of CA certificates");
    }
    global_conf.upstream_ca_file = path;
    return NULL;
}

/* Instance ids and locations end up in JSON bodies and logs: the same
 * character rule as route ids. */
static const char *check_name(cmd_parms *cmd, const char *arg, const char *what)
{
    if (!kvc_route_id_valid(arg, strlen(arg))) {
        return bad_value(cmd, arg,
                         apr_pstrcat(cmd->pool, what,
                                     " must be 1 to 63 characters of "
                                     "A-Z a-z 0-9 . _ : @ -",
                                     NULL));
    }
    return NULL;
}

static const char *make_target(cmd_parms *cmd, const char *instance,
                               const char *location,
                               const kvc_action_target **out)
{
    kvc_action_target *t = apr_pcalloc(cmd->pool, sizeof(*t));
    const char *why;

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
    t->method = KVC_COMPRESS_METHOD;
    *out = t;
    return NULL;
}

const char *kvc_set_target(cmd_parms *cmd, void *mconfig, const char *instance,
                           const char *location)
{
    kvc_dir_conf *c = mconfig;
    int pin = !strcmp(cmd->info, "pin");

    if (!pin && !strcmp(instance, "auto")) {
        /* Memory pressure belongs to an instance, not to a prompt. */
        return bad_value(cmd, instance,
                         "INSTANCE must name an instance; auto is for "
                         "KVCachePin and KVCacheCompress");
    }
    return make_target(cmd, instance, location, pin ? &c->pin : &c->evict);
}

/* LMCache's engine implements cachegen only: any other method is logged
 * there as unsupported and compresses nothing, so it is refused here
 * rather than sent forever to no effect. */
const char *kvc_set_compress_target(cmd_parms *cmd, void *mconfig,
                                    const char *instance, const char *location,
                                    const char *method)
{
    kvc_dir_conf *c = mconfig;

    if (method && strcmp(method, KVC_COMPRESS_METHOD)) {
        return bad_value(cmd, method,
                         "METHOD must be cachegen, the only compression "
                         "method LMCache implements");
    }
    return make_target(cmd, instance, location, &c->compress);
}

/* ------------------------------------------------------------------ */
/* Defaults and cross-directive checks                                */
/* ------------------------------------------------------------------ */

static int kvc_config_pre_config(apr_pool_t *pconf, apr_pool_t *plog,
                                 apr_pool_t *ptemp)
{
    kvc_global_conf *g = &global_conf;

    memset(g, 0, sizeof(*g));
    g->token_cache_size = KVC_DEFAULT_TOKEN_CACHE_SIZE;
    g->token_cache_ttl = KVC_DEFAULT_TOKEN_CACHE_TTL;
    g->token_store = KVC_DEFAULT_TOKEN_STORE;
    g->breaker.failures = KVC_DEFAULT_BREAKER_FAILURES;
    g->breaker.recovery = KVC_DEFAULT_BREAKER_RECOVERY;
    g->breaker.half_open_calls = KVC_DEFAULT_BREAKER_PROBES;
    g->retry_attempts = KVC_DEFAULT_RETRY_ATTEMPTS;
    g->retry_base = KVC_DEFAULT_RETRY_BASE;
    g->retry_max = KVC_DEFAULT_RETRY_MAX;
    g->upstream_verify = 1;
    g->hot_window = KVC_DEFAULT_HOT_WINDOW;
    g->hot_max_records = KVC_DEFAULT_HOT_MAX_RECORDS;
    g->hot_max_keys = KVC_DEFAULT_HOT_MAX_KEYS;
    g->instance_capacity = KVC_DEFAULT_INSTANCE_CAPACITY;
    g->scrape_interval = KVC_DEFAULT_SCRAPE_INTERVAL;
    g->action_interval = KVC_DEFAULT_ACTION_INTERVAL;
    g->action_queue_size = KVC_DEFAULT_ACTION_QUEUE_SIZE;
    g->session_ttl = KVC_DEFAULT_SESSION_TTL;
    g->session_max_keys = KVC_DEFAULT_SESSION_KEYS;
    g->fleet_timeout = KVC_DEFAULT_FLEET_TIMEOUT;
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
static int kvc_config_check(apr_pool_t *pconf, apr_pool_t *plog,
                            apr_pool_t *ptemp, server_rec *main_s)
{
    server_rec *s;
    const char *err;
    int i;

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
        /* In pconf: the self-check reads the merged settings later in
         * this generation. */
        const kvc_dir_conf *c =
            site->conf == base ? base
                               : kvc_config_merge_dir(pconf, base, site->conf);

        site->merged = c;

        if ((err = incomplete(c))) {
            ap_log_error(APLOG_MARK, APLOG_EMERG, 0, site->s,
                         "[kvcache] KVCacheEnable On (%s) %s", site->where,
                         err);
            return HTTP_INTERNAL_SERVER_ERROR;
        }
    }
    return OK;
}

int kvc_config_enabled_count(void)
{
    return enable_sites ? enable_sites->nelts : 0;
}

const kvc_dir_conf *kvc_config_enabled_site(int i, const char **where)
{
    const kvc_enable_site *site;

    if (!enable_sites || i < 0 || i >= enable_sites->nelts) {
        return NULL;
    }
    site = &APR_ARRAY_IDX(enable_sites, i, kvc_enable_site);
    if (where) {
        *where = site->where;
    }
    return site->merged;
}

void kvc_config_register_hooks(apr_pool_t *p)
{
    ap_hook_pre_config(kvc_config_pre_config, NULL, NULL, APR_HOOK_MIDDLE);
    /* Before the other units' checks, which rely on the fallback. */
    ap_hook_check_config(kvc_config_check, NULL, NULL, APR_HOOK_FIRST);
}
