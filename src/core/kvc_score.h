/* Licensed under the Apache License, Version 2.0 (the "License"); you may not
 * use this file except in compliance with the License.  You may obtain a copy
 * of the License at http://www.apache.org/licenses/LICENSE-2.0
 */

/**
 * @file kvc_score.h
 * @brief The load-aware routing score (see kvc_lbmethod.c for the policy
 *        and a worked example).  Pure arithmetic, unit tested.
 */
#ifndef KVC_SCORE_H
#define KVC_SCORE_H

/**
 * matched / prompt_tokens - weight * (busy - mean_busy) / max(1, mean_busy)
 * @param prompt_tokens  values below 1 count as 1
 */
double kvc_score(long matched, long prompt_tokens, double busy,
                 double mean_busy, double weight);

/**
 * Whether candidate a beats b: the higher score wins, a tie goes to the less
 * busy one, then to the larger match; a full tie keeps b (the earlier
 * member), so choices are deterministic.
 */
int kvc_score_prefer(double score_a, double busy_a, long matched_a,
                     double score_b, double busy_b, long matched_b);

#endif /* KVC_SCORE_H */
