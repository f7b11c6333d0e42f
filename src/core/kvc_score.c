/* Licensed under the Apache License, Version 2.0 (the "License"); you may not
 * use this file except in compliance with the License.  You may obtain a copy
 * of the License at http://www.apache.org/licenses/LICENSE-2.0
 */

#include "kvc_score.h"
#include "kvc_vocab.h"

/* Scores are ratios of small integers or seconds; differences below this
 * are ties. */
#define KVC_SCORE_EPSILON 1e-9

double kvc_score_share(long matched, long prompt_tokens, double busy,
                       double mean_busy, double weight)
{
    double hit =
        (double)matched / (double)(prompt_tokens > 0 ? prompt_tokens : 1);
    double relative_load =
        (busy - mean_busy) / (mean_busy > 1.0 ? mean_busy : 1.0);

    return hit - weight * relative_load;
}

double kvc_score_work(long matched, long prompt_tokens)
{
    long held = matched < 0               ? 0
                : matched > prompt_tokens ? prompt_tokens
                                          : matched;

    return (double)(prompt_tokens > held ? prompt_tokens - held : 0)
           + KVC_CACHED_TOKEN_COST * (double)held;
}

double kvc_score_ttft(long matched, long best_matched, long prompt_tokens,
                      const kvc_engine_load *load, double decode_weight)
{
    double uncached =
        (double)(prompt_tokens > matched ? prompt_tokens - matched : 0);
    double avoidable =
        (double)(best_matched > matched ? best_matched - matched : 0);
    double backlog = load->backlog_tokens > 0 ? load->backlog_tokens : 0;
    double decode = load->decode_tokens > 0 ? load->decode_tokens : 0;
    double rate = load->prefill_rate > 0 ? load->prefill_rate : 1;
    double full = load->cache_full < 0   ? 0
                  : load->cache_full > 1 ? 1
                                         : load->cache_full;

    return (backlog + kvc_score_work(matched, prompt_tokens) + full * uncached
            + avoidable + decode_weight * KVC_DECODE_TOKEN_COST * decode)
           / rate;
}

int kvc_score_prefer(double score_a, double busy_a, long matched_a,
                     double score_b, double busy_b, long matched_b)
{
    if (score_a > score_b + KVC_SCORE_EPSILON) {
        return 1;
    }
    if (score_a < score_b - KVC_SCORE_EPSILON) {
        return 0;
    }
    if (busy_a != busy_b) {
        return busy_a < busy_b;
    }
    return matched_a > matched_b;
}
