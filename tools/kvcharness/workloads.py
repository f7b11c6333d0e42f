# Licensed under the Apache License, Version 2.0 (the "License"); you may not
# use this file except in compliance with the License.  You may obtain a copy
# of the License at http://www.apache.org/licenses/LICENSE-2.0
"""Deterministic request streams: every prompt derives from a fixed seed.

Prompts are made of random words because the emulator's tokenizer maps every
word to exactly one token: prompt lengths are exact and known here, without
asking a tokenizer (chat_tokens).  Answers are synthetic too (the emulator's
reply is a stub), so every replay of a stream sends byte-identical requests.

A stream is a list of Sessions, each the Requests one client sends one after
another (replay.play sends them on their schedule).  Two generators:

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

agentic sessions (a coding or browsing agent's loop)
    Agents x turns.  An agent's first request is a shared system prompt
    (the tool definitions), its own task; every later turn appends the
    model's tool call and the tool's output, which is long and of varying
    length, and resends everything.  Turns come in bursts: within one the
    agent sends the next turn as soon as the answer arrives, between two
    it pauses.  Every request names its agent in a session header.
"""

import json
import random
from dataclasses import dataclass


class Words:
    """Random filler words; a tag per use keeps unrelated texts from sharing."""

    def __init__(self, seed):
        self.rng = random.Random(seed)

    def text(self, n, tag):
        return " ".join(f"{tag}{self.rng.randrange(100000)}" for _ in range(n))


def message(role, content):
    return {"role": role, "content": content}


def chat_tokens(messages):
    """Prompt length the emulator's chat template gives these messages.

    One token per word, a role token and an end token per message, and the
    generation prompt (see tools/kvc_emulator.py, "Tokenizer").
    """
    return sum(len(m["content"].split()) + 2 for m in messages) + 1


def encode(messages, model, max_tokens):
    body = {"model": model, "messages": messages, "max_tokens": max_tokens}
    return json.dumps(body, separators=(",", ":")).encode()


class Conversation:
    """One user's chat: a system prompt, a private context, then turns.

    Each turn adds a question, sends the whole history and then adds the
    answer, so a turn's prompt is a token prefix of the next turn's (the
    emulator's chat template, like vLLM's, is prefix-stable at message
    boundaries).
    """

    def __init__(self, system, context):
        self.history = [message("system", system), message("user", context)]

    def ask(self, question):
        """The messages of the next turn: the history and `question`."""
        self.history.append(message("user", question))
        return list(self.history)

    def answer(self, text):
        self.history.append(message("assistant", text))


@dataclass(frozen=True)
class Request:
    at_s: float          # earliest departure, in simulated seconds from the start
    body: bytes          # encoded JSON
    prompt_tokens: int   # exact prompt length, in tokens
    headers: tuple = ()  # (name, value) pairs sent with it


@dataclass(frozen=True)
class Session:
    """Requests sent one after another by one client: request i leaves at its
    at_s, or when the answer to request i-1 arrives if that is later."""

    name: str
    requests: tuple


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

    @property
    def join_interval_s(self):
        """Users join evenly, so that active_users converse at any one time."""
        return self.rounds * self.period_s / self.active_users

    def sessions(self, seed, model):
        words = Words(seed)
        system = words.text(self.system_tokens, "sys")
        sessions = []
        for user in range(self.users):
            chat = Conversation(system, words.text(self.context_tokens, f"u{user}c"))
            start_s = user * self.join_interval_s
            requests = []
            for rnd in range(self.rounds):
                messages = chat.ask(words.text(self.question_tokens, f"u{user}q"))
                requests.append(Request(start_s + rnd * self.period_s,
                                        encode(messages, model, self.answer_tokens),
                                        chat_tokens(messages)))
                chat.answer(words.text(self.answer_tokens, f"u{user}a"))
            sessions.append(Session(f"user{user}", tuple(requests)))
        return sessions


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

    def sessions(self, seed, model):
        words = Words(seed)
        prompts = []
        for group in range(self.groups):
            system = message("system", words.text(self.system_tokens, f"g{group}s"))
            for i in range(self.prompts_per_group):
                question = words.text(self.question_tokens, f"g{group}q{i}")
                prompts.append((f"group{group}-{i}", [system, message("user", question)]))
        words.rng.shuffle(prompts)
        # Open loop: every prompt is its own session with its own departure time.
        return [Session(name, (Request(i / self.rate_per_s,
                                       encode(messages, model, self.output_tokens),
                                       chat_tokens(messages)),))
                for i, (name, messages) in enumerate(prompts)]


SESSION_HEADER = "X-Session-Id"


@dataclass(frozen=True)
class AgenticSessions:
    """An agent's loop: tool calls and long tool outputs, in bursts."""

    name: str
    agents: int
    turns: int
    system_tokens: int       # the shared tool definitions
    task_tokens: int
    call_tokens: int         # the model's tool call (its answer)
    tool_output_tokens: tuple  # (fewest, most) tokens of a tool's output
    burst: int               # turns sent back to back
    pause_s: float           # between two bursts
    join_interval_s: float

    def sessions(self, seed, model):
        words = Words(seed)
        system = words.text(self.system_tokens, "tools")
        sessions = []
        for agent in range(self.agents):
            chat = Conversation(system, words.text(self.task_tokens, f"a{agent}t"))
            at_s = agent * self.join_interval_s
            requests = []
            for turn in range(self.turns):
                if turn == 0:
                    messages = list(chat.history)
                else:
                    low, high = self.tool_output_tokens
                    chat.history.append(message(
                        "user", words.text(words.rng.randint(low, high), f"a{agent}o")))
                    messages = list(chat.history)
                    if turn % self.burst == 0:
                        at_s += self.pause_s
                # Within a burst at_s stays put: the turn leaves as soon as
                # the previous answer is in.
                requests.append(Request(at_s, encode(messages, model, self.call_tokens),
                                        chat_tokens(messages),
                                        ((SESSION_HEADER, f"agent{agent}"),)))
                chat.answer(words.text(self.call_tokens, f"a{agent}c"))
            sessions.append(Session(f"agent{agent}", tuple(requests)))
        return sessions
