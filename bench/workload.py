#!/usr/bin/python3
"""Benchmark workloads for mod_kvcache, scaled to a 2-core machine.

Two request streams, both shaped after the published KV-aware routing
benchmarks (shared/docs/reference-lmcache-vllm-api.md §4):

multi-round chat (vLLM production-stack benchmarks/multi-round-qa)
    Users x rounds.  A user's first request is a shared system prompt, a
    private context and a question; every later round appends the previous
    answer and a new question and resends the whole history as chat
    `messages`, so each user's prefix grows every round.  Users join at a
    fixed interval and ask every `period_s` seconds (or as soon as the
    previous answer arrived, if that is later), like production-stack's
    per-user schedule.

shared-prefix groups (llm-d inference-perf `shared_prefix`)
    Groups x prompts per group.  Every prompt is its group's long system
    prompt plus its own question; the prompts of all groups arrive in a
    shuffled order at a constant rate (open loop).

Both are sized against the emulated cluster (`CLUSTER`) so that the prefix
working set exceeds the cluster's KV capacity: routing then decides which
prefixes survive, which is what separates the policies (llm-d sizes its
capacity tests the same way, e.g. ~73% resident).  The numbers and the
reasons for them are in docs/BENCHMARKS.md.

Prompts are made of random words because the emulator's tokenizer maps every
word to exactly one token: token counts are exact and known here, without
asking a tokenizer.  Answers are synthetic too (the emulator's reply is a
stub), so every policy replays byte-identical requests.  Everything derives
from a fixed seed.

    /usr/bin/python3 bench/workload.py      # print both workloads' sizing
"""

import json
import random
from dataclasses import dataclass

SEED = 20240806
MODEL = "bench-model"


@dataclass(frozen=True)
class Cluster:
    """The emulated vLLM instances (tools/kvc_emulator.py options)."""

    instances: tuple
    capacity_tokens: int        # KV store of each instance (--capacity-tokens)
    concurrency: int            # engine slots per instance (--concurrency)
    prefill_ms_per_token: float  # uncached prompt token (--prefill-ms-per-token)
    load_ms_per_token: float    # cached prompt token (--load-ms-per-token)
    decode_ms_per_token: float  # output token (--decode-ms-per-token)
    time_scale: float           # real seconds slept per simulated second
    chunk_size: int = 256       # LMCache's default chunk

    def emulator_args(self):
        return ["--capacity-tokens", str(self.capacity_tokens),
                "--concurrency", str(self.concurrency),
                "--prefill-ms-per-token", str(self.prefill_ms_per_token),
                "--load-ms-per-token", str(self.load_ms_per_token),
                "--decode-ms-per-token", str(self.decode_ms_per_token),
                "--time-scale", str(self.time_scale),
                "--chunk-size", str(self.chunk_size)]

    @property
    def total_capacity(self):
        return self.capacity_tokens * len(self.instances)


# Four engines of 32k KV tokens each, one prefill at a time (prefill is
# compute bound and vLLM schedules it about first come, first served),
# 10k prefill tokens/s, 100k loaded tokens/s and 10 ms per output token: an
# 8B model on a mid-range GPU with LMCache's CPU tier.  Decoding keeps a
# request in flight at the proxy (mod_proxy_balancer's busy count, which the
# load term reads) for about a second, as a real generation would.
# time_scale 0.5 runs the simulation twice as fast as real time; the replay
# compresses the workloads' schedules (in simulated seconds) alike.
CLUSTER = Cluster(instances=("vllm-a", "vllm-b", "vllm-c", "vllm-d"),
                  capacity_tokens=32000, concurrency=1,
                  prefill_ms_per_token=0.1, load_ms_per_token=0.01,
                  decode_ms_per_token=10.0, time_scale=0.5)


@dataclass(frozen=True)
class MultiRoundChat:
    """production-stack multi-round-qa knobs, scaled down."""

    name: str
    users: int
    rounds: int
    system_tokens: int      # --shared-system-prompt
    context_tokens: int     # --user-history-prompt
    question_tokens: int
    answer_tokens: int      # --answer-len
    active_users: int       # users in conversation at the same time
    period_s: float         # a user asks every period_s seconds


@dataclass(frozen=True)
class SharedPrefix:
    """inference-perf shared_prefix knobs, scaled down."""

    name: str
    groups: int
    prompts_per_group: int
    system_tokens: int
    question_tokens: int
    output_tokens: int
    rate_per_s: float       # constant arrival rate


MULTI_ROUND = MultiRoundChat(
    name="multi-round chat", users=48, rounds=10, system_tokens=1000,
    context_tokens=2000, question_tokens=40, answer_tokens=100,
    active_users=32, period_s=1.5)

SHARED_PREFIX = SharedPrefix(
    name="shared-prefix groups", groups=20, prompts_per_group=12,
    system_tokens=8000, question_tokens=200, output_tokens=100,
    rate_per_s=8.0)

WORKLOADS = (MULTI_ROUND, SHARED_PREFIX)


@dataclass
class Session:
    """Requests sent one after another by one client thread.

    Request i leaves at start_s + i * period_s (simulated seconds from the
    start of the run; the replay multiplies them by the time scale), or when
    the answer to request i-1 arrives if that is later.
    """

    name: str
    start_s: float
    period_s: float
    bodies: list            # encoded JSON request bodies
    prompt_tokens: list     # exact prompt length of each body, in tokens


def chat_tokens(messages):
    """Prompt length the emulator's chat template gives these messages.

    One token per word, a role token and an end token per message, and the
    generation prompt (see tools/kvc_emulator.py, "Tokenizer").
    """
    return sum(len(m["content"].split()) + 2 for m in messages) + 1


class Words:
    """Random filler words; a tag per use keeps unrelated texts from sharing."""

    def __init__(self, seed):
        self.rng = random.Random(seed)

    def text(self, n, tag):
        return " ".join(f"{tag}{self.rng.randrange(100000)}" for _ in range(n))


def encode(messages, max_tokens):
    body = {"model": MODEL, "messages": messages, "max_tokens": max_tokens}
    return json.dumps(body, separators=(",", ":")).encode()


def multi_round_sessions(w, seed=SEED):
    words = Words(seed)
    system = {"role": "system", "content": words.text(w.system_tokens, "sys")}
    # Users join evenly so that active_users converse at any one time.
    join_interval = w.rounds * w.period_s / w.active_users
    sessions = []
    for user in range(w.users):
        history = [system, {"role": "user",
                            "content": words.text(w.context_tokens, f"u{user}c")}]
        bodies, lengths = [], []
        for rnd in range(w.rounds):
            history.append({"role": "user",
                            "content": words.text(w.question_tokens, f"u{user}q")})
            bodies.append(encode(history, w.answer_tokens))
            lengths.append(chat_tokens(history))
            history.append({"role": "assistant",
                            "content": words.text(w.answer_tokens, f"u{user}a")})
        sessions.append(Session(f"user{user}", user * join_interval, w.period_s,
                                bodies, lengths))
    return sessions


def shared_prefix_sessions(w, seed=SEED):
    words = Words(seed)
    prompts = []
    for group in range(w.groups):
        system = {"role": "system", "content": words.text(w.system_tokens, f"g{group}s")}
        for i in range(w.prompts_per_group):
            messages = [system, {"role": "user",
                                 "content": words.text(w.question_tokens,
                                                       f"g{group}q{i}")}]
            prompts.append((f"group{group}-{i}", messages))
    words.rng.shuffle(prompts)
    # Open loop: every prompt is its own session with its own departure time.
    return [Session(name, i / w.rate_per_s, 0.0, [encode(m, w.output_tokens)],
                    [chat_tokens(m)])
            for i, (name, m) in enumerate(prompts)]


def sessions(workload, seed=SEED):
    if isinstance(workload, MultiRoundChat):
        return multi_round_sessions(workload, seed)
    return shared_prefix_sessions(workload, seed)


def sizing(workload, cluster=None):
    """Request count, tokens and the prefix working set against the cluster.

    The working set is every prefix a later request could reuse: the shared
    system prompt plus each user's whole conversation, or each group's
    system prompt.  The live set is what concurrently active users or the
    groups need at one time.
    """
    cluster = cluster or CLUSTER
    all_sessions = sessions(workload)
    lengths = [n for s in all_sessions for n in s.prompt_tokens]
    if isinstance(workload, MultiRoundChat):
        per_user = max(s.prompt_tokens[-1] for s in all_sessions) - workload.system_tokens
        working = workload.system_tokens + workload.users * per_user
        live = workload.system_tokens + workload.active_users * per_user
        duration = (all_sessions[-1].start_s
                    + workload.rounds * workload.period_s)
    else:
        working = live = workload.groups * workload.system_tokens
        duration = all_sessions[-1].start_s
    return {
        "requests": len(lengths),
        "prompt_tokens": sum(lengths),
        "mean_prompt_tokens": sum(lengths) / len(lengths),
        "max_prompt_tokens": max(lengths),
        "working_set_tokens": working,
        "live_set_tokens": live,
        "working_set_vs_capacity": working / cluster.total_capacity,
        "live_set_vs_capacity": live / cluster.total_capacity,
        "offered_rate_per_s": len(lengths) / duration,  # simulated seconds
        "schedule_s": duration,
    }


def describe_cluster(c=None):
    c = c or CLUSTER
    return (f"cluster: {len(c.instances)} emulated vLLM instances x {c.capacity_tokens} "
            f"KV tokens = {c.total_capacity}, {c.concurrency} prefill slot(s) each, "
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
