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
} kvc_engine_load;

/** What a token of context being decoded costs a new request's prefill,
 *  against a token to prefill, at KVCacheLoadWeight 1: decoding shares
 *  every engine step with the prefill (and its KV stays resident), but
 *  costs far less than computing a prompt token. */
#define KVC_DECODE_TOKEN_COST 0.1

/**
 * The "share" score:
 * matched / prompt_tokens - weight * (busy - mean_busy) / max(1, mean_busy)
 * @param prompt_tokens  values below 1 count as 1
 */
double kvc_score_share(long matched, long prompt_tokens, double busy,
                       double mean_busy, double weight);

/**
 * The cost, in seconds, of sending a prompt to an engine that holds
 * @a matched of its tokens, when the best member holds @a best_matched:
 * its predicted time to first token, (backlog + uncached + decode_weight *
 * KVC_DECODE_TOKEN_COST * decode) / rate, plus the delay its avoidable
 * prefill (the tokens the best member holds and this one does not) puts on
 * the request queued behind it there, (best_matched - matched) / rate.
 * Without that second term every member that is queued looks worth
 * leaving, and a loaded cluster recomputes prefixes it holds, evicts
 * others for them and queues more; with it a prefix is left only when
 * its holder is behind by twice its length.  The decoding term keeps long
 * sessions spread over the engines: between members that would prefill
 * alike, the one decoding less wins.
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
