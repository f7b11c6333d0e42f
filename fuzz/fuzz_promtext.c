/* Licensed under the Apache License, Version 2.0 (the "License"); you may not
 * use this file except in compliance with the License.  You may obtain a copy
 * of the License at http://www.apache.org/licenses/LICENSE-2.0
 */

/**
 * @file fuzz_promtext.c
 * @brief Fuzz target: Prometheus text exposition of a vLLM /metrics
 *        scrape (kvc_promtext_values).
 *
 * Names asked for: the vLLM load gauges, one of them twice, a NULL entry,
 * and the first word of the input (so that any metric name the fuzzer
 * invents is looked up too).  Invariants: the result counts the names
 * with samples; a name without any sums to +0.0; every sum is
 * finite; a name asked for twice gets the same answer twice; and the text
 * after the last newline never matters (an unterminated last line is
 * skipped), so the same call on the input cut after its last newline
 * gives bit-identical results.
 */

#include <math.h>
#include <string.h>

#include "kvc_promtext.h"

#include "fuzz_common.h"

#define FZ_N 8

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *names[FZ_N] = {
        "vllm:num_requests_running", "vllm:num_requests_waiting",
        "vllm:kv_cache_usage_perc",  "vllm:gpu_cache_usage_perc",
        "vllm:num_requests_running", NULL,
        "vllm:prompt_tokens_total",  NULL /* the input's first word */
    };
    double out[FZ_N], out2[FZ_N];
    int found[FZ_N], found2[FZ_N];
    char word[64];
    size_t wl = 0, cut;
    const uint8_t *last_nl = NULL;
    int n, n2, sum = 0, i;

    while (wl < size && wl < sizeof(word) - 1 && data[wl] != ' '
           && data[wl] != '{' && data[wl] != '\n' && data[wl] != '\0') {
        word[wl] = (char)data[wl];
        wl++;
    }
    word[wl] = '\0';
    names[7] = word;

    n = kvc_promtext_values((const char *)data, size, names, FZ_N, out, found);
    for (i = 0; i < FZ_N; i++) {
        FZ_CHECK(found[i] >= 0);
        FZ_CHECK(isfinite(out[i]));
        if (!found[i]) {
            FZ_CHECK(out[i] == 0.0 && !signbit(out[i]));
        }
        sum += found[i] > 0;
    }
    FZ_CHECK(n == sum);
    FZ_CHECK(found[5] == 0);
    FZ_CHECK(found[0] == found[4]);
    FZ_CHECK(memcmp(&out[0], &out[4], sizeof(double)) == 0);

    /* Only complete lines count. */
    for (i = (int)size - 1; i >= 0; i--) {
        if (data[i] == '\n') {
            last_nl = data + i;
            break;
        }
    }
    cut = last_nl ? (size_t)(last_nl - data) + 1 : 0;
    if (cut != size) {
        n2 = kvc_promtext_values((const char *)data, cut, names, FZ_N, out2,
                                 found2);
        FZ_CHECK(n2 == n);
        FZ_CHECK(memcmp(found, found2, sizeof(found)) == 0);
        FZ_CHECK(memcmp(out, out2, sizeof(out)) == 0);
    }
    /* NULL text finds nothing. */
    FZ_CHECK(kvc_promtext_values(NULL, 0, names, FZ_N, out2, found2) == 0);
    return 0;
}
