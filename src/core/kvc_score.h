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
    double running;        /**< requests it is decoding */
    double capacity;       /**< requests it decodes at once (max_num_seqs) */
} kvc_engine_load;

/**
 * The "share" score:
 * matched / prompt_tokens - weight * (busy - mean_busy) / max(1, mean_busy)
 * @param prompt_tokens  values below 1 count as 1
 */
double kvc_score_share(long matched, long prompt_tokens, double busy,
                       double mean_busy, double weight);

/**
 * The predicted time to first token, in seconds, of a prompt on an engine
 * that holds @a matched of its tokens:
 * (backlog + uncached) / rate * (1 + decode_weight * running / capacity).
 * Decoding requests share every step with prefill, so they slow it in
 * proportion to how full the engine's batch is.
 */
double kvc_score_ttft(long matched, long prompt_tokens,
                      const kvc_engine_load *load, double decode_weight);

/**
 * Whether candidate a beats b: the higher score wins (a cost is scored
 * negated), a tie goes to the less busy one, then to the larger match; a
 * full tie keeps b (the earlier member), so choices are deterministic.
 */
int kvc_score_prefer(double score_a, double busy_a, long matched_a,
                     double score_b, double busy_b, long matched_b);

#endif /* KVC_SCORE_H */
