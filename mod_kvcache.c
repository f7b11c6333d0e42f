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
 * work is done in src/kvc_*.c, one concept per unit.
 */

#include "httpd.h"
#include "http_config.h"

#include "mod_kvcache_body.h"
#include "mod_kvcache_config.h"
#include "mod_kvcache_lbmethod.h"
#include "mod_kvcache_route.h"
#include "mod_kvcache_scrape.h"
#include "mod_kvcache_shm.h"
#include "mod_kvcache_status.h"
#include "mod_kvcache_tokstore.h"

static void kvcache_register_hooks(apr_pool_t *p)
{
    kvc_config_register_hooks(p);
    kvc_shm_register_hooks(p);
    kvc_tokstore_register_hooks(p);
    kvc_body_register_hooks(p);
    kvc_route_register_hooks(p);
    kvc_lbmethod_register_hooks(p);
    kvc_status_register_hooks(p);
    kvc_scrape_register_hooks(p);
}

AP_DECLARE_MODULE(kvcache) = {
    STANDARD20_MODULE_STUFF,  kvc_config_create_dir,   kvc_config_merge_dir,
    kvc_config_create_server, kvc_config_merge_server, kvc_config_cmds,
    kvcache_register_hooks,   AP_MODULE_FLAG_NONE
};
