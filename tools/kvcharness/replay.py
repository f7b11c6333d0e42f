# Licensed under the Apache License, Version 2.0 (the "License"); you may not
# use this file except in compliance with the License.  You may obtain a copy
# of the License at http://www.apache.org/licenses/LICENSE-2.0
"""Sending a request stream (workloads.Session) and recording what came back.

Every session runs in its own thread, on its schedule, so requests overlap
as real clients' do: engines hold slots for real time (when the emulator's
time scale is above 0) and mod_proxy_balancer's busy counts differ between
members.  A router sends one request and says what became of it (Outcome);
HttpdRouter sends through httpd, others (bench/quality.py's oracle) choose
the instance themselves.  A router's send() gets the workloads.Request
itself, so that whatever a request comes to carry reaches the router.
"""

import http.client
import json
import threading
import time
from dataclasses import dataclass

from . import client
from .vocab import DECISION_HEADER, MATCHED_HEADER, SERVED_BY_HEADER

CHAT_PATH = "/v1/chat/completions"


@dataclass
class Outcome:
    """One request's fate, as the instance that served it tells (its "kvemu"
    answer object and headers) and as the module decided (the headers
    httpdconf.module_headers adds)."""

    status: object         # the HTTP status, or "error: ..." when none came
    served_by: str = "?"   # the instance id
    decision: str = ""     # the module's; "" where the module did not look
    matched: int = 0       # the tokens the module expected the instance to hold
    prompt: int = 0        # prompt tokens, as the instance counted them
    cached: int = 0        # of those, the ones it found in its KV cache
    available: int = 0     # the longest prefix any instance held on arrival
    ttft: float = 0.0      # simulated time to first token, ms
    queue: float = 0.0     # of which waiting for an engine slot, ms
    # Where in its stream the request was, filled in by play().
    session: str = ""
    turn: int = 0
    expected_prompt: int = 0
    sent: float = 0.0      # seconds from the start of the replay
    answered: float = 0.0

    @classmethod
    def of(cls, response):
        kv = response.json().get("kvemu", {}) if response.status == 200 else {}
        return cls(status=response.status,
                   served_by=response.headers.get(SERVED_BY_HEADER, "?"),
                   decision=response.headers.get(DECISION_HEADER, ""),
                   matched=int(response.headers.get(MATCHED_HEADER) or 0),
                   prompt=kv.get("prompt_tokens", 0),
                   cached=kv.get("cached_tokens", 0),
                   available=kv.get("best_cached_tokens", 0),
                   ttft=kv.get("simulated_ttft_ms", 0.0),
                   queue=kv.get("queue_ms", 0.0))

    @property
    def ok(self):
        return self.status == 200


class HttpdRouter:
    """Sends through httpd on one keep-alive connection (one per session)."""

    def __init__(self, port, path=CHAT_PATH):
        self.conn = client.Connection(port)
        self.path = path

    def send(self, request):
        return Outcome.of(self.conn.request("POST", self.path, request.body,
                                            dict(request.headers)))

    def close(self):
        self.conn.close()


def play(sessions, new_router, time_scale=1.0, deadline_factor=None,
         on_outcome=None, on_progress=None):
    """Replays every session in its own thread; returns one Outcome per request.

    The schedules are in simulated seconds: the replay runs them at the
    emulator's `time_scale` (0 counts as 1), as the engines' sleeps are.
    With a `deadline_factor`, like production-stack's --time, the run has a
    fixed length: a request not sent deadline_factor times the schedule's
    length after the start is not sent at all (its user gave up), so a
    policy that piles every conversation onto one engine cannot stretch the
    run indefinitely.  on_outcome(outcome) is called as each answer
    arrives, one call at a time; on_progress(answered, total) every 10 s.
    """
    scale = time_scale or 1.0
    outcomes = []
    lock = threading.Lock()
    total = sum(len(s.requests) for s in sessions)
    start = time.monotonic() + 0.5  # every thread is waiting by then
    schedule = max(s.requests[-1].at_s for s in sessions)
    deadline = None if deadline_factor is None else start + deadline_factor * schedule * scale

    def run(session):
        router = new_router()
        try:
            for turn, request in enumerate(session.requests):
                delay = start + request.at_s * scale - time.monotonic()
                if delay > 0:
                    time.sleep(delay)
                sent = time.monotonic()
                if deadline is not None and sent > deadline:
                    break
                try:
                    outcome = router.send(request)
                except (OSError, ValueError, RuntimeError, http.client.HTTPException) as exc:
                    outcome = Outcome(status=f"error: {exc}")
                outcome.session, outcome.turn = session.name, turn
                outcome.expected_prompt = request.prompt_tokens
                outcome.sent, outcome.answered = sent - start, time.monotonic() - start
                with lock:
                    outcomes.append(outcome)
                    if on_outcome is not None:
                        on_outcome(outcome)
        finally:
            router.close()

    threads = [threading.Thread(target=run, args=(s,), daemon=True) for s in sessions]
    for t in threads:
        t.start()
    last_report = time.monotonic()
    for t in threads:
        while t.is_alive():
            t.join(1.0)
            if on_progress is not None and time.monotonic() - last_report >= 10:
                on_progress(len(outcomes), total)
                last_report = time.monotonic()
    return outcomes


def save(outcomes, path):
    """Every request's outcome as JSON, for whoever wants to dig further."""
    with open(path, "w") as f:
        json.dump([vars(o) for o in outcomes], f)
