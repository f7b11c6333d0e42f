#!/usr/bin/python3
# Licensed under the Apache License, Version 2.0 (the "License"); you may not
# use this file except in compliance with the License.  You may obtain a copy
# of the License at http://www.apache.org/licenses/LICENSE-2.0
"""Benchmark workloads for mod_kvcache, scaled to a 2-core machine, and the
emulated cluster and httpd they run on.

The two request streams of tools/kvcharness/workloads.py, multi-round chat
(vLLM production-stack's multi-round-qa) and shared-prefix groups (llm-d
inference-perf's shared_prefix), both shaped after the published KV-aware
routing benchmarks and sized against the emulated cluster (`CLUSTER`) so
that the prefix working set exceeds the cluster's KV capacity: routing then
decides which prefixes survive, which is what separates the policies (llm-d
sizes its capacity tests the same way, e.g. ~73% resident).  The numbers
and the reasons for them are in docs/BENCHMARKS.md.  Everything derives
from a fixed seed.

    /usr/bin/python3 bench/workload.py      # print both workloads' sizing
"""

import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                                "tools"))
from kvcharness import httpdconf, procs, vocab  # noqa: E402
from kvcharness.emu import EmulatorOptions  # noqa: E402
from kvcharness.workloads import (AgenticSessions, MultiRoundChat,  # noqa: E402
                                  SharedPrefix)

SEED = 20240806
MODEL = "bench-model"

# Four engines of 32k KV tokens each, one prefill at a time (prefill is
# compute bound and vLLM schedules it about first come, first served),
# 10k prefill tokens/s, 100k loaded tokens/s and 10 ms per output token: an
# 8B model on a mid-range GPU with LMCache's CPU tier.  Decoding keeps a
# request in flight at the proxy (mod_proxy_balancer's busy count, which the
# load term reads) for about a second, as a real generation would.
# time_scale 0.5 runs the simulation twice as fast as real time; the replay
# compresses the workloads' schedules (in simulated seconds) alike.
# chunk_size 256 is LMCache's default chunk.
CLUSTER = EmulatorOptions(instances=("vllm-a", "vllm-b", "vllm-c", "vllm-d"),
                          capacity_tokens=32000, concurrency=1,
                          prefill_ms_per_token=0.1, load_ms_per_token=0.01,
                          decode_ms_per_token=10.0, time_scale=0.5, chunk_size=256)

MULTI_ROUND = MultiRoundChat(
    name="multi-round chat", users=48, rounds=10, system_tokens=1000,
    context_tokens=2000, question_tokens=40, answer_tokens=100,
    active_users=32, period_s=1.5)

SHARED_PREFIX = SharedPrefix(
    name="shared-prefix groups", groups=20, prompts_per_group=12,
    system_tokens=8000, question_tokens=200, output_tokens=100,
    rate_per_s=8.0)

# Agents that read files and run commands: a 1,500-token tool definition
# shared by all, a task, then turn after turn a short tool call and a tool
# output of 600 to 1,800 tokens, the whole history resent each time (about
# 15,000 tokens by the last of 12 turns).  Bursts of three turns sent back
# to back, then a pause of 2 simulated s; an agent joins every 1.6 s, so
# about 12 work at once: their live contexts fill about three quarters of
# the cluster's cache, the sizing llm-d's benchmarks use for agent loads.
AGENTIC = AgenticSessions(
    name="agentic sessions", agents=40, turns=12, system_tokens=1500,
    task_tokens=300, call_tokens=60, tool_output_tokens=(600, 1800),
    burst=3, pause_s=2.0, join_interval_s=1.6)

WORKLOADS = (MULTI_ROUND, SHARED_PREFIX, AGENTIC)

# httpd in front of the cluster: two worker processes for two cores, never
# stopped or replaced, so that the CPU time of their threads can be read
# from /proc for the whole run (bench/overhead.py); keep-alive connections
# that outlive every pause of a replay.
STARTED_CHILDREN = 2


def httpd(run_dir, name, *blocks):
    """A procs.Httpd configured for a benchmark, with `blocks` (balancers,
    locations, module settings) after the common part; not started."""
    server = procs.Httpd(run_dir, name, procs.free_ports(1)[0])
    server.configure("\n".join([
        httpdconf.server(server),
        httpdconf.fixed_children(STARTED_CHILDREN, 64),
        "KeepAliveTimeout 30\nMaxKeepAliveRequests 0\n",
        # What the module decided and the match it predicted, for the client.
        httpdconf.module_headers(vocab.DECISION_HEADER, vocab.MATCHED_HEADER),
        *blocks]))
    return server


def sessions(workload):
    return workload.sessions(SEED, MODEL)


def total_capacity(cluster=CLUSTER):
    return cluster.capacity_tokens * len(cluster.instances)


def sizing(workload, cluster=CLUSTER):
    """Request count, tokens and the prefix working set against the cluster.

    The working set is every prefix a later request could reuse: the shared
    system prompt plus each user's whole conversation, or each group's
    system prompt.  The live set is what concurrently active users or the
    groups need at one time.
    """
    all_sessions = sessions(workload)
    lengths = [r.prompt_tokens for s in all_sessions for r in s.requests]
    last_start_s = all_sessions[-1].requests[0].at_s
    if isinstance(workload, MultiRoundChat):
        per_user = (max(s.requests[-1].prompt_tokens for s in all_sessions)
                    - workload.system_tokens)
        working = workload.system_tokens + workload.users * per_user
        live = workload.system_tokens + workload.active_users * per_user
        duration = last_start_s + workload.rounds * workload.period_s
    elif isinstance(workload, AgenticSessions):
        # An agent's context until its last turn; about as many agents are
        # at work at once as join during one agent's pauses and bursts.
        per_agent = [s.requests[-1].prompt_tokens - workload.system_tokens
                     for s in all_sessions]
        working = workload.system_tokens + sum(per_agent)
        busy_s = all_sessions[0].requests[-1].at_s - all_sessions[0].requests[0].at_s
        at_once = min(workload.agents, busy_s / workload.join_interval_s + 1)
        live = workload.system_tokens + at_once * sum(per_agent) / len(per_agent)
        duration = all_sessions[-1].requests[-1].at_s
    else:
        working = live = workload.groups * workload.system_tokens
        duration = last_start_s
    return {
        "requests": len(lengths),
        "prompt_tokens": sum(lengths),
        "mean_prompt_tokens": sum(lengths) / len(lengths),
        "max_prompt_tokens": max(lengths),
        "working_set_tokens": working,
        "live_set_tokens": live,
        "working_set_vs_capacity": working / total_capacity(cluster),
        "live_set_vs_capacity": live / total_capacity(cluster),
        "offered_rate_per_s": len(lengths) / duration,  # simulated seconds
        "schedule_s": duration,
    }


def describe_cluster(c=CLUSTER):
    return (f"cluster: {len(c.instances)} emulated vLLM instances x {c.capacity_tokens} "
            f"KV tokens = {total_capacity(c)}, {c.concurrency} prefill slot(s) each, "
            f"prefill {c.prefill_ms_per_token} ms/token, cached {c.load_ms_per_token} "
            f"ms/token, decode {c.decode_ms_per_token} ms/token, time scale {c.time_scale}")


def describe(w):
    s = sizing(w)
    return (f"{w.name}: {s['requests']} requests, {s['prompt_tokens']} prompt tokens "
            f"(mean {s['mean_prompt_tokens']:.0f}, max {s['max_prompt_tokens']}); prefix "
            f"working set {s['working_set_tokens']} tokens = "
            f"{s['working_set_vs_capacity']:.2f}x the cluster's KV capacity, live set "
            f"{s['live_set_vs_capacity']:.2f}x; offered {s['offered_rate_per_s']:.1f} "
            f"req/s over {s['schedule_s']:.0f} simulated s")


def main():
    print(describe_cluster())
    for w in WORKLOADS:
        print(describe(w))


if __name__ == "__main__":
    main()
