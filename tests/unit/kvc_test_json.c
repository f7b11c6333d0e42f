/* Licensed under the Apache License, Version 2.0 (the "License"); you may not
 * use this file except in compliance with the License.  You may obtain a copy
 * of the License at http://www.apache.org/licenses/LICENSE-2.0
 */

/**
 * @file kvc_test_json.c
 * @brief kvc_test_json_at(): reading back what the code under test wrote,
 *        with the project's own JSON scanner.
 */

#include "apr_strings.h"

#include "kvc_json.h"
#include "kvc_test.h"

/* The value of the member `name` (len bytes) of the object at s->p,
 * which sits depth levels deep; the last one if it repeats.  NULL if
 * there is none or s->p is not at an object. */
static const char *kvc_test_member(kvc_json_scan *s, int depth,
                                   const char *name, apr_size_t len,
                                   apr_pool_t *p)
{
    char *want = apr_pstrmemdup(p, name, len);
    const char *found = NULL;
    kvc_json_step step;
    kvc_json_str key;
    apr_size_t count = 0;

    if (*s->p != '{') {
        return NULL;
    }
    s->p++;
    while ((step = kvc_json_member(s, &count, &key)) == KVC_JSON_ITEM) {
        if (kvc_json_str_is(&key, want)) {
            found = s->p;
        }
        if (!kvc_json_skip_value(s, depth)) {
            return NULL;
        }
    }
    return step == KVC_JSON_END ? found : NULL;
}

const char *kvc_test_json_at(const char *text, const char *path, apr_pool_t *p)
{
    kvc_json_scan s;
    int depth = 1;

    if (text == NULL || !kvc_json_valid(text, strlen(text))) {
        return NULL;
    }
    s.p = text;
    s.end = text + strlen(text);
    kvc_json_skip_ws(&s);
    while (*path != '\0') {
        const char *dot = strchr(path, '.');
        apr_size_t len = dot ? (apr_size_t)(dot - path) : strlen(path);

        s.p = kvc_test_member(&s, depth++, path, len, p);
        if (s.p == NULL) {
            return NULL;
        }
        path += len + (dot != NULL);
    }
    if (*s.p == '"') {
        kvc_json_str str;
        char *out;

        kvc_json_string(&s, &str);
        out = apr_palloc(p, str.len + 1);
        out[kvc_json_decode(&str, out)] = '\0';
        return out;
    }
    {
        const char *start = s.p;

        kvc_json_skip_value(&s, depth - 1);
        return apr_pstrmemdup(p, start, (apr_size_t)(s.p - start));
    }
}
