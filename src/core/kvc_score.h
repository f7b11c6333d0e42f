/* Licensed under the Apache License, Version 2.0 (the "License"); you may not
 * use this file except in compliance with the License.  You may obtain a copy
 * of the License at http://www.apache.org/licenses/LICENSE-2.0
 */

/**
 * @file kvc_score.h
 * @brief The routing scores (see mod_kvcache_lbmethod.c for the policies
 *        and worked examples).  Pure arithmetic, unit tested.
 */
#ifndef KVC_SCORE_H
#define KVC_SCORE_H

/** The scores KVCachePolicy names. */
typedef enum {
    KVC_POLICY_TTFT,    /* lowest predicted time to first token */
    KVC_POLICY_SHARE,   /* matched share minus relative load */
    KVC_POLICY_MAXMATCH /* the longest match */
} kvc_policy;

/** What the cost model knows of a member's engine. */
typedef struct {
    double prefill_rate;   /**< tokens it prefills per second (> 0) */
    double backlog_tokens; /**< prefill work queued ahead of a new request */
    double decode_tokens;  /**< context of the requests it is decoding */
    double cache_full;     /**< share of its KV cache in use, 0..1 */
} kvc_engine_load;

/** What a token of context being decoded weighs, against a token to
 *  prefill, at KVCacheLoadWeight 1.  Decoding shares every engine step
 *  with prefill, and its KV stays resident while it runs, so a member
 *  decoding long contexts has less time and less room for a new one. */
#define KVC_DECODE_TOKEN_COST 0.2

/**
 * The "share" score:
 * matched / prompt_tokens - weight * (busy - mean_busy) / max(1, mean_busy)
 * @param prompt_tokens  values below 1 count as 1
 */
double kvc_score_share(long matched, long prompt_tokens, double busy,
                       double mean_busy, double weight);

/** The prefill work of a prompt of which @a matched tokens are cached:
 *  the rest to compute, and KVC_CACHED_TOKEN_COST of each cached one. */
double kvc_score_work(long matched, long prompt_tokens);

/**
 * The cost, in seconds, of sending a prompt of @a prompt_tokens to an
 * engine that holds @a matched of them, when the best usable member holds
 * @a best_matched:
 *
 *   (backlog + work + cache_full * uncached + (best_matched - matched)
 *    + decode_weight * KVC_DECODE_TOKEN_COST * decode_tokens) / rate
 *
 * The first two terms are the request's own time to first token: the work
 * queued ahead of it and its own (kvc_score_work()).  The next two are
 * what the choice costs the requests after it: the tokens it stores evict
 * as many from a full cache, prefixes others would have found; and a
 * prefix held elsewhere that it computes again is work the cluster does
 * twice.  Without them every queued member looks worth leaving, and a
 * loaded cluster recomputes the prefixes it holds, evicts others for them
 * and queues more; with them a prefix is left only when its holder is
 * behind by about three times its length.  The last term spreads live
 * sessions over the engines.
 */
double kvc_score_ttft(long matched, long best_matched, long prompt_tokens,
                      const kvc_engine_load *load, double decode_weight);

/**
 * Whether candidate a beats b: the higher score wins (a cost is scored
 * negated), a tie goes to the less busy one, then to the larger match; a
 * full tie keeps b (the earlier member), so choices are deterministic.
 */
int kvc_score_prefer(double score_a, double busy_a, long matched_a,
                     double score_b, double busy_b, long matched_b);

#endif /* KVC_SCORE_H */
