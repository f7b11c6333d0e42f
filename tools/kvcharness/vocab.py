# Licensed under the Apache License, Version 2.0 (the "License"); you may not
# use this file except in compliance with the License.  You may obtain a copy
# of the License at http://www.apache.org/licenses/LICENSE-2.0
"""The names the harness, the emulator and the module's configuration share.

The module's own words (KVCACHE_* variables, decisions) are spelled as in
src/core/kvc_vocab.h and the README; the emulator's (roles, its one KV
location, its X-Kvemu-* answer headers) as tools/kvc_emulator.py serves them,
which takes them from here.
"""

# -- the module

# The harness's httpd configurations copy these request environment variables
# of the module into response headers (httpdconf.module_headers), so that a
# client sees each decision.
DECISION_HEADER = "X-KVCache-Decision"
ROUTE_HEADER = "X-KVCache-Route"
MATCHED_HEADER = "X-KVCache-Matched"
PROMPT_TOKENS_HEADER = "X-KVCache-Prompt-Tokens"
MODULE_VARIABLES = {
    DECISION_HEADER: "KVCACHE_DECISION",
    ROUTE_HEADER: "KVCACHE_ROUTE",
    MATCHED_HEADER: "KVCACHE_MATCHED_TOKENS",
    PROMPT_TOKENS_HEADER: "KVCACHE_PROMPT_TOKENS",
}

ROUTED = "routed"
FALLBACK_PREFIX = "fallback:"


def fallback(reason):
    """The decision of a request that fell back for `reason` (kvc_reason_name)."""
    return FALLBACK_PREFIX + reason


def fallback_reason(decision):
    """"lookup-empty" for "fallback:lookup-empty"; None for any other decision."""
    if decision.startswith(FALLBACK_PREFIX):
        return decision[len(FALLBACK_PREFIX):]
    return None


# -- the emulator

CONTROLLER = "controller"       # the LMCache controller's role; others are instance ids
LOCATION = "LocalCPUBackend"    # the one LMCache location that holds chunks
SERVED_BY_HEADER = "X-Kvemu-Served-By"
BODY_SHA256_HEADER = "X-Kvemu-Body-Sha256"  # of the bytes the instance received
CACHED_TOKENS_HEADER = "X-Kvemu-Cached-Tokens"
TTFT_HEADER = "X-Kvemu-TTFT-Ms"
