/* Licensed under the Apache License, Version 2.0 (the "License"); you may not
 * use this file except in compliance with the License.  You may obtain a copy
 * of the License at http://www.apache.org/licenses/LICENSE-2.0
 */

#include "kvc_vocab.h"

static const char *const reason_names[KVC_REASON_COUNT] = {
    "none",
    "not-json",
    "encoded-body",
    "body-too-large",
    "invalid-json",
    "not-object",
    "empty-prompt",
    "internal-error",
    "not-configured",
    "tokenize-timeout",
    "tokenize-error",
    "tokenize-breaker-open",
    "tokenize-pending",
    "tokenize-off",
    "lookup-timeout",
    "lookup-error",
    "lookup-breaker-open",
    "lookup-empty",
    "unknown-instance",
    "member-unusable",
    "below-min-match",
    "no-usable-member",
    "bad-matches-note"
};

static const char *const role_names[KVC_ROLE_COUNT] = { "tokenize", "lookup",
                                                        "manage", "fleet" };

static const char *const action_names[KVC_ACTION_COUNT] = { "pin", "compress",
                                                            "clear" };

static const char *const outcome_names[KVC_ACTION_OUTCOME_COUNT] = {
    "sent", "failed", "dropped"
};

const char *kvc_reason_name(kvc_reason reason)
{
    return (unsigned)reason < KVC_REASON_COUNT ? reason_names[reason]
                                               : "unknown";
}

const char *kvc_role_name(kvc_role role)
{
    return (unsigned)role < KVC_ROLE_COUNT ? role_names[role] : "unknown";
}

const char *kvc_action_name(kvc_action action)
{
    return (unsigned)action < KVC_ACTION_COUNT ? action_names[action]
                                               : "unknown";
}

const char *kvc_action_outcome_name(kvc_action_outcome outcome)
{
    return (unsigned)outcome < KVC_ACTION_OUTCOME_COUNT ? outcome_names[outcome]
                                                        : "unknown";
}
