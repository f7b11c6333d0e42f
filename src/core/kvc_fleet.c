/* Licensed under the Apache License, Version 2.0 (the "License"); you may not
 * use this file except in compliance with the License.  You may obtain a copy
 * of the License at http://www.apache.org/licenses/LICENSE-2.0
 */

#include <string.h>

#include "apr_atomic.h"
#include "apr_lib.h"
#include "apr_strings.h"

#include "kvc_fleet.h"
#include "kvc_parse.h"

#define KVC_FLEET_SCHEME "redis:"

static int prefix_valid(const char *s)
{
    apr_size_t n = strlen(s), i;

    if (n == 0 || n > KVC_FLEET_PREFIX_MAX) {
        return 0;
    }
    for (i = 0; i < n; i++) {
        if (!apr_isalnum(s[i]) && s[i] != '.' && s[i] != '_' && s[i] != '-') {
            return 0;
        }
    }
    return 1;
}

/* Host names as DNS spells them, and IPv4 addresses; no '/' or ':' (the
 * separators), no blanks. */
static int host_valid(const char *s, apr_size_t n)
{
    apr_size_t i;

    if (n == 0 || n > 253) {
        return 0;
    }
    for (i = 0; i < n; i++) {
        if (!apr_isalnum(s[i]) && s[i] != '.' && s[i] != '-' && s[i] != '_') {
            return 0;
        }
    }
    return 1;
}

static int ipv6_valid(const char *s, apr_size_t n)
{
    apr_size_t i;

    if (n < 2 || n > 45) {
        return 0;
    }
    for (i = 0; i < n; i++) {
        if (!apr_isxdigit(s[i]) && s[i] != ':' && s[i] != '.') {
            return 0;
        }
    }
    return 1;
}

const char *kvc_fleet_parse(const char *value, apr_pool_t *p,
                            kvc_fleet_spec *out)
{
    static const char *const usage =
        "must be redis:HOST:PORT or redis:HOST:PORT/PREFIX (PREFIX: 1 to "
        "64 of A-Z a-z 0-9 . _ -), e.g. redis:127.0.0.1:6379/kvcache";
    const char *rest, *port, *slash;
    char *digits;
    long n;

    if (strncasecmp(value, KVC_FLEET_SCHEME, strlen(KVC_FLEET_SCHEME))) {
        return usage;
    }
    rest = value + strlen(KVC_FLEET_SCHEME);
    if (*rest == '[') {
        const char *close = strchr(rest, ']');

        if (!close || close[1] != ':'
            || !ipv6_valid(rest + 1, close - rest - 1)) {
            return usage;
        }
        out->host = apr_pstrmemdup(p, rest + 1, close - rest - 1);
        port = close + 2;
    }
    else {
        const char *colon = strchr(rest, ':');

        if (!colon || !host_valid(rest, colon - rest)) {
            return usage;
        }
        out->host = apr_pstrmemdup(p, rest, colon - rest);
        port = colon + 1;
    }
    slash = strchr(port, '/');
    digits =
        slash ? apr_pstrmemdup(p, port, slash - port) : apr_pstrdup(p, port);
    if (!*digits || kvc_parse_long(digits, 1, 65535, &n)) {
        return usage;
    }
    out->port = (int)n;
    out->prefix = KVC_FLEET_DEFAULT_PREFIX;
    if (slash) {
        if (!prefix_valid(slash + 1)) {
            return usage;
        }
        out->prefix = apr_pstrdup(p, slash + 1);
    }
    return NULL;
}

const char *kvc_fleet_key(apr_pool_t *p, const char *prefix,
                          kvc_fleet_kind kind, const unsigned char *key,
                          const char *instance)
{
    static const char hex[] = "0123456789abcdef";
    char text[2 * KVC_KEY_LEN + 1];
    const char *what;
    int i;

    switch (kind) {
    case KVC_FLEET_COMPRESS:
        return apr_pstrcat(p, prefix, ":compress:", instance, NULL);
    case KVC_FLEET_CLEAR:
        return apr_pstrcat(p, prefix, ":clear:", instance, NULL);
    case KVC_FLEET_HOT: what = ":hot:"; break;
    case KVC_FLEET_PIN: what = ":pin:"; break;
    default: what = ":session:"; break;
    }
    for (i = 0; i < KVC_KEY_LEN; i++) {
        text[2 * i] = hex[key[i] >> 4];
        text[2 * i + 1] = hex[key[i] & 0x0f];
    }
    text[2 * KVC_KEY_LEN] = '\0';
    return apr_pstrcat(p, prefix, what, text, NULL);
}

kvc_fleet_transition kvc_fleet_note(volatile apr_uint32_t *degraded,
                                    int success)
{
    apr_uint32_t want = success ? 0 : 1;

    /* The plain read keeps the common case (no change) free of a locked
     * instruction; the compare-and-swap elects one caller per flip. */
    if (*degraded == want) {
        return KVC_FLEET_UNCHANGED;
    }
    if (apr_atomic_cas32(degraded, want, !want) != !want) {
        return KVC_FLEET_UNCHANGED;
    }
    return success ? KVC_FLEET_REJOINED : KVC_FLEET_LEFT;
}
