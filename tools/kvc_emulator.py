#!/usr/bin/python3
# Licensed under the Apache License, Version 2.0 (the "License"); you may not
# use this file except in compliance with the License.  You may obtain a copy
# of the License at http://www.apache.org/licenses/LICENSE-2.0
"""Emulator of the vLLM and LMCache-controller HTTP APIs that mod_kvcache talks to.

The real upstreams need GPUs; this single stdlib-only process stands in for them in
tests and benchmarks.  It listens on several ports of one host, one role per port:
the LMCache controller (which also serves the control API under /_emu/) and any
number of vLLM instances, each named by its LMCache instance id.  Wire formats,
status codes and cache semantics follow the real projects (vLLM's OpenAI-compatible
server and its /tokenize, LMCache's controller API and its chunked token database),
not Pixiu's cruder mock.  The names it shares with the harness (roles, location,
answer headers) come from tools/kvcharness/vocab.py.

Command line
------------
  kvc_emulator.py --controller-port PORT --instance ID=PORT [--instance ID=PORT ...]
      [--instances ID=PORT,ID=PORT]   more instances, comma-separated
      [--host 127.0.0.1]              address of every listening socket
      [--chunk-size 256]              LMCache chunk size in tokens
      [--capacity-tokens 200000]      KV store capacity of each instance, in tokens
      [--concurrency 4]               engine slots per instance
      [--prefill-ms-per-token 0.05]   simulated prefill cost of an uncached token
      [--load-ms-per-token 0.005]     simulated load cost of a cached token
      [--decode-ms-per-token 0]       simulated decode time of an output token
      [--time-scale 0]                real seconds slept per simulated second (0: none)
      [--served-model NAME]           model name; requests naming another get 404
      [--layout-form array|object]    /lookup value form (object = Pixiu mock form)
      [--enable-evict]                serve the Pixiu-style /evict (real LMCache: 404)
      [--tls-controller-port PORT --tls-cert PEM --tls-key PEM]
                                      also serve the controller over HTTPS
      [--ready-file PATH]             written once every socket listens
      [--log-file PATH]               access log (nothing is logged per request otherwise)

A port of 0 picks a free port.  The ready file is written atomically:
{"pid": 1234, "host": "127.0.0.1", "ports": {"controller": 9000, "vllm-a": 8001}}.
SIGTERM or SIGINT shuts down cleanly with exit status 0.  Every port speaks HTTP/1.1
with keep-alive and accepts request bodies with Content-Length or chunked
Transfer-Encoding.

Tokenizer (deterministic, prefix-stable at message boundaries)
--------------------------------------------------------------
A word (str.split()) becomes 1000 + FNV-1a-32(UTF-8) % 100000.  Bodies without
"messages" use the completion form: "prompt" must be a string; BOS=1 is prepended
unless add_special_tokens is false.  Bodies with "messages" use the chat form:
  [BOS if add_special_tokens (default false)]
  [16 + words(json.dumps(chat_template_kwargs, sort_keys=True)) + END=2] if non-empty
  [15 + words(json.dumps(tools, sort_keys=True)) + END] if non-empty
  per message: ROLE (system 10, user 11, assistant 12, tool 13, other 14)
      + words of the content (a string, null, or parts: text parts in order, any
        other part such as image_url becomes 20)
      + words(json.dumps(tool_calls, sort_keys=True)) if the message has tool_calls
      + END (omitted for the last message when continue_final_message is true)
  [12] if add_generation_prompt (default true)
continue_final_message together with add_generation_prompt is a 400, as in vLLM.
Other fields (max_tokens, stream, ...) are ignored.  Because the generation prompt
equals the assistant role token, turn N's prompt is a token prefix of turn N+1's.

vLLM instance ports
-------------------
  POST /tokenize             {"count", "max_model_len": 131072, "tokens", "token_strs": null};
                             errors {"error": {"message", "type", "param", "code"}}:
                             400 bad JSON/validation, 404 unknown model.
  POST /v1/completions       OpenAI-shaped answer "ok <prompt_tokens>" plus a "kvemu"
  POST /v1/chat/completions  object: served_by, body_sha256 and body_bytes of the exact
                             received bytes, prompt_tokens, cached_tokens,
                             best_cached_tokens (the longest prefix any instance held
                             on arrival: what a perfect router could have used),
                             simulated_ttft_ms, queue_ms, transfer_encoding,
                             content_length, tokenize_error.  Headers X-Kvemu-Served-By,
                             X-Kvemu-Body-Sha256, X-Kvemu-Cached-Tokens, X-Kvemu-TTFT-Ms,
                             and on every answer X-Kvemu-Answer-Sha256 (of the body it
                             sends, a stream's events included).
                             Always 200 (even for invalid JSON, then without KV
                             accounting) except 404 for an unknown model.  "stream": true
                             answers text/event-stream: the first data event carries
                             "kvemu", the last is "data: [DONE]".  A completion prompt that
                             is a list of token ids is prefilled as is.
  GET /metrics               Prometheus text: vllm:num_requests_running,
                             vllm:num_requests_waiting, vllm:kv_cache_usage_perc,
                             vllm:gpu_cache_usage_perc, vllm:prefix_cache_queries_total,
                             vllm:prefix_cache_hits_total, vllm:prompt_tokens_total
                             (+ _created), the histograms (+Inf bucket, _count, _sum)
                             vllm:request_prefill_time_seconds (the slot held: service
                             time and delay_ms, in wall-clock seconds) and
                             vllm:time_to_first_token_seconds (that plus the wait for a
                             slot), labels {model_name="...",engine="0"} as vLLM v1
                             prints them.
  GET /health                200, empty body.      GET /v1/models  the served model.

Serving a completion: the prompt's tokens are split into --chunk-size chunks keyed by
chained prefix hashes (the unfull tail chunk too, like LMCache's save_unfull_chunk);
cached_tokens is the end of the instance's longest run of cached leading chunks.  The
chunks are then admitted into the instance's LRU store (hit chunks are refreshed, the
first chunk last, so suffixes go first; beyond --capacity-tokens the least recently
used unpinned chunks are evicted) and registered with / removed from the controller's
index, synchronously.  Each instance has
--concurrency slots (a semaphore).  simulated_ttft_ms = queue_ms + service_ms, where
service_ms = uncached * prefill_ms_per_token + cached * load_ms_per_token and queue_ms
is the real time spent waiting for a slot, divided by time_scale when it is not 0.
The request holds its slot while sleeping service_ms * time_scale plus the instance's
delay_ms (control API), so queues only form when something sleeps, as on a real engine
(a client that waits for each answer never queues).  Then, without a slot (decoding
is batched with other requests' work), the answer is held for max_tokens (or
max_completion_tokens; default 16) * decode_ms_per_token * time_scale, so requests
stay in flight at the proxy about as long as a real generation; simulated_ttft_ms
does not include it.

LMCache controller port (FastAPI conventions: 422 {"detail": [...]} for invalid
bodies, 500 {"detail": "..."} for internal errors such as an unknown instance_id)
------------------------------------------------------------------------------
  POST /lookup   {tokens} -> {"event_id": "Lookup<hex>", "layout_info":
                 {id: ["LocalCPUBackend", n]}} (or {"0": loc, "1": n} in object form).
                 Walks the chunks in order and stops at the first chunk nobody holds;
                 each chunk is credited to its FIRST registered holder, so n is the end
                 offset of the last chunk credited to that instance.  {} = no hit.
  POST /pin      {instance_id, location, tokens} -> {event_id, num_tokens}: pins the
                 instance's cached prefix of tokens (pinned chunks are never evicted,
                 and survive /clear as in LocalCPUBackend.clear).
  POST /compress {instance_id, method, location, tokens?}: "cachegen" is counted and
                 answers the cached prefix length; any other method answers 0.
  POST /clear    {instance_id, location} -> num_tokens cleared from that location.
  POST /evict    404 {"detail": "Not Found"} like real LMCache, unless enabled; then
                 Pixiu's {tokens, instance_id} evicts that cached prefix.
  POST /health   {instance_id} -> {"event_id", "error_codes": {"0": 0}}.
The only location that holds chunks is "LocalCPUBackend"; others are empty.

Control API (controller port, JSON in and out, never counted or faulted)
------------------------------------------------------------------------
  GET  /_emu/stats         {"calls": {"ROLE:PATH": n}, "connections": {ROLE: n},
                           "log": [last 1000 calls {"t", "role", "method", "path",
                           "status" (null: dropped), "body"}], "instances": {ID:
                           {used_tokens, capacity_tokens, chunks, pinned_chunks, running,
                           waiting, served, prompt_tokens_total, cached_tokens_total,
                           compressed_calls, overrides, port}}, "config", "faults",
                           "kv_pool_chunks"}.  "body" is the request JSON for /pin,
                           /compress, /clear, /evict and /health, {"tokens_len"} for
                           /lookup, {"bytes", "tokens_len"} for /tokenize, {"bytes",
                           "sha256", "prompt_tokens", "cached_tokens"} for completions.
                           A connection counts once it carries a counted call (again
                           after a reset).
  POST /_emu/reset         clears counters, log, stores, kv_pool, faults and overrides
                           and restores the command-line settings.
  POST /_emu/fault         {"role": "controller"|ID|"*", "path": "/lookup" (omit: any),
                           "delay_ms", "close", "garbage", "status", "body", "times"}:
                           for the next `times` matching calls (default: until cleared)
                           sleep delay_ms, then drop the connection (close), or answer
                           200 non-JSON (garbage), or answer status with body (default
                           {"detail":"injected"}); a delay alone just slows the call.
                           The first matching fault wins.
  POST /_emu/clear_faults
  POST /_emu/config        {"layout_form", "enable_evict", "lookup_override" (an object
                           returned verbatim by /lookup with a fresh event_id, or null),
                           "time_scale", "prefill_ms_per_token", "load_ms_per_token",
                           "decode_ms_per_token"}.
  POST /_emu/instance      {"id", "delay_ms", "kv_cache_usage", "running", "waiting",
                           "capacity_tokens"}; null restores the default.
  POST /_emu/seed          {"instance", "body": {request}} or {"instance", "tokens"}:
                           admit a prompt as if served -> {"tokens", "cached_tokens"}.
  POST /_emu/tokenize      /tokenize without counting.
  POST /_emu/match         {"body": {request}} or {"tokens"} -> {"prompt_tokens",
                           "instances": {ID: {cached_tokens, running, waiting}}}: each
                           instance's exact cached prefix of the prompt (what serving
                           it there would find, not /lookup's first-holder credit) and
                           live load, for benchmark oracles.  Changes nothing.
"""

import argparse
import collections
import hashlib
import json
import os
import signal
import socket
import socketserver
import ssl
import sys
import threading
import time
import traceback
import uuid
from functools import lru_cache
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

from kvcharness.vocab import (BODY_SHA256_HEADER, CACHED_TOKENS_HEADER, CONTROLLER,
                              LOCATION, SERVED_BY_HEADER, TTFT_HEADER)

MAX_MODEL_LEN = 131072
DEFAULT_MODEL = "kvemu-model"
LOG_ENTRIES = 1000
GARBAGE_BODY = b'kvemu garbage <<not JSON>> {"layout_info": ['

# ---------------------------------------------------------------- tokenizer

BOS, END = 1, 2
ROLE_TOKENS = {"system": 10, "user": 11, "assistant": 12, "tool": 13}
OTHER_ROLE = 14
TOOLS_TOKEN = 15
TEMPLATE_KWARGS_TOKEN = 16
MEDIA_TOKEN = 20
# The generation prompt opens an assistant turn, which is what keeps a turn's
# prompt a token prefix of the next turn's prompt.
GENERATION_PROMPT = ROLE_TOKENS["assistant"]


class TokenizeError(ValueError):
    """A request that vLLM's request validation rejects (HTTP 400)."""


@lru_cache(maxsize=1 << 17)
def word_token(word):
    """Token id of one word: 1000 + FNV-1a-32 of its UTF-8 bytes % 100000."""
    h = 0x811C9DC5
    # surrogatepass: JSON may carry lone surrogates, which vLLM also accepts.
    for byte in word.encode("utf-8", "surrogatepass"):
        h = ((h ^ byte) * 0x01000193) & 0xFFFFFFFF
    return 1000 + h % 100000


def text_tokens(text):
    return [word_token(word) for word in text.split()]


def _flag(body, name, default):
    value = body.get(name, default)
    if not isinstance(value, bool):
        raise TokenizeError(f"{name}: Input should be a valid boolean")
    return value


def tokenize_request(body):
    """Token ids vLLM's /tokenize returns for a parsed request body."""
    if not isinstance(body, dict):
        raise TokenizeError("Input should be a valid dictionary or object")
    if "messages" in body:
        return _tokenize_chat(body)
    if "prompt" not in body:
        raise TokenizeError("prompt: Field required")
    if not isinstance(body["prompt"], str):
        # TokenizeCompletionRequest.prompt is a single string in vLLM.
        raise TokenizeError("prompt: Input should be a valid string")
    tokens = text_tokens(body["prompt"])
    return [BOS] + tokens if _flag(body, "add_special_tokens", True) else tokens


def _tokenize_chat(body):
    messages = body["messages"]
    if not isinstance(messages, list):
        raise TokenizeError("messages: Input should be a valid list")
    add_generation_prompt = _flag(body, "add_generation_prompt", True)
    continue_final = _flag(body, "continue_final_message", False)
    if add_generation_prompt and continue_final:
        raise TokenizeError("Cannot set both `continue_final_message` and "
                            "`add_generation_prompt` to True.")
    tokens = [BOS] if _flag(body, "add_special_tokens", False) else []
    # Template options and tool schemas change the rendered prompt; sort_keys
    # keeps the rendering independent of the client's JSON key order.
    if body.get("chat_template_kwargs"):
        tokens += [TEMPLATE_KWARGS_TOKEN,
                   *text_tokens(json.dumps(body["chat_template_kwargs"], sort_keys=True)),
                   END]
    if body.get("tools"):
        tokens += [TOOLS_TOKEN,
                   *text_tokens(json.dumps(body["tools"], sort_keys=True)), END]
    for index, message in enumerate(messages):
        tokens += _message_tokens(message, index)
    if continue_final and messages:
        tokens.pop()  # leave the final message open so the model continues it
    if add_generation_prompt:
        tokens.append(GENERATION_PROMPT)
    return tokens


def _message_tokens(message, index):
    if not isinstance(message, dict) or not isinstance(message.get("role"), str):
        raise TokenizeError(f"messages.{index}: a message needs a string 'role'")
    tokens = [ROLE_TOKENS.get(message["role"], OTHER_ROLE)]
    content = message.get("content")
    if isinstance(content, str):
        tokens += text_tokens(content)
    elif isinstance(content, list):
        for part in content:
            tokens += _part_tokens(part, index)
    elif content is not None:
        raise TokenizeError(f"messages.{index}.content: expected a string, null "
                            "or a list of content parts")
    if message.get("tool_calls"):
        tokens += text_tokens(json.dumps(message["tool_calls"], sort_keys=True))
    tokens.append(END)
    return tokens


def _part_tokens(part, index):
    if isinstance(part, str):
        return text_tokens(part)
    if isinstance(part, dict) and isinstance(part.get("type"), str):
        if part["type"] != "text":
            return [MEDIA_TOKEN]  # image_url, input_audio, ...: one placeholder
        if isinstance(part.get("text"), str):
            return text_tokens(part["text"])
    raise TokenizeError(f"messages.{index}.content: invalid content part")


def engine_prompt_tokens(body):
    """Tokens an engine prefills for a /v1/completions or /v1/chat/completions body.

    Same as /tokenize (so forwarding the body to /tokenize predicts the prefill
    exactly), except that a completion prompt given as token ids is used as is.
    """
    if isinstance(body, dict) and "messages" not in body:
        prompt = body.get("prompt")
        if isinstance(prompt, list) and prompt and all(type(t) is int for t in prompt):
            return prompt
    return tokenize_request(body)


# ---------------------------------------------------------------- KV store

NONE_HASH = bytes(8)


def chunk_keys(tokens, chunk_size):
    """[(key, end_offset)] for each chunk of tokens, LMCache ChunkedTokenDatabase style.

    Keys are chained prefix hashes, key_i = H(key_{i-1}, chunk_i), so a key
    identifies the whole prefix up to the end of its chunk.  The unfull tail chunk
    gets a key too (save_unfull_chunk=True).  blake2b instead of Python's hash():
    stable across processes without PYTHONHASHSEED games.
    """
    keys = []
    prefix = NONE_HASH
    for start in range(0, len(tokens), chunk_size):
        chunk = tokens[start:start + chunk_size]
        prefix = hashlib.blake2b(prefix + repr(chunk).encode(), digest_size=8).digest()
        keys.append((prefix, start + len(chunk)))
    return keys


class Chunk:
    __slots__ = ("num_tokens", "pinned")

    def __init__(self, num_tokens):
        self.num_tokens = num_tokens
        self.pinned = False


class KVStore:
    """One instance's LMCache LocalCPUBackend: chunks in LRU order, oldest first."""

    def __init__(self, capacity):
        self.capacity = capacity
        self.chunks = collections.OrderedDict()
        self.used = 0

    def prefix_chunks(self, keys):
        """How many leading chunks of `keys` this store holds."""
        count = 0
        for key, _ in keys:
            if key not in self.chunks:
                break
            count += 1
        return count

    def admit(self, keys):
        """Store a served prompt; returns (cached prefix chunks, inserted, evicted)."""
        hits = self.prefix_chunks(keys)
        # LMCache touches hit chunks in reverse so the first, most shared chunk
        # becomes the most recently used and suffixes are evicted first.
        for key, _ in reversed(keys[:hits]):
            self.chunks.move_to_end(key)
        inserted = []
        start = keys[hits - 1][1] if hits else 0
        for key, end in keys[hits:]:
            if key not in self.chunks:  # an existing key is not refreshed by a put
                self.chunks[key] = Chunk(end - start)
                self.used += end - start
                inserted.append(key)
            start = end
        return hits, inserted, self.evict_to_capacity()

    def evict_to_capacity(self):
        """Evict least recently used unpinned chunks until within capacity."""
        excess = self.used - self.capacity
        victims = []
        for key, chunk in self.chunks.items():
            if excess <= 0:
                break
            if not chunk.pinned:
                victims.append(key)
                excess -= chunk.num_tokens
        for key in victims:
            self.used -= self.chunks.pop(key).num_tokens
        return victims

    def pin(self, keys):
        """Pin the cached prefix of `keys`; returns its length in tokens."""
        hits = self.prefix_chunks(keys)
        for key, _ in keys[:hits]:
            self.chunks[key].pinned = True
        return keys[hits - 1][1] if hits else 0

    def evict_prefix(self, keys):
        """Remove the unpinned chunks of the cached prefix of `keys`; (tokens, keys)."""
        return self._remove([key for key, _ in keys[:self.prefix_chunks(keys)]
                             if not self.chunks[key].pinned])

    def clear(self):
        """Remove every unpinned chunk, as LocalCPUBackend.clear does; (tokens, keys)."""
        return self._remove([key for key, chunk in self.chunks.items()
                             if not chunk.pinned])

    def _remove(self, keys):
        tokens = 0
        for key in keys:
            tokens += self.chunks.pop(key).num_tokens
        self.used -= tokens
        return tokens, keys


class ControllerIndex:
    """The LMCache controller's kv_pool: chunk key -> holders in registration order."""

    def __init__(self):
        self.kv_pool = {}

    def admit(self, instance_id, keys):
        for key in keys:
            holders = self.kv_pool.setdefault(key, [])
            if (instance_id, LOCATION) not in holders:
                holders.append((instance_id, LOCATION))

    def evict(self, instance_id, keys):
        for key in keys:
            holders = self.kv_pool.get(key)
            if holders and (instance_id, LOCATION) in holders:
                holders.remove((instance_id, LOCATION))
                if not holders:
                    del self.kv_pool[key]

    def lookup(self, keys):
        """KVController.lookup: {instance: (location, end)} crediting first holders."""
        layout = {}
        for key, end in keys:
            holders = self.kv_pool.get(key)
            if not holders:
                break
            instance_id, location = holders[0]
            layout[instance_id] = (location, end)
        return layout


class Instance:
    """One emulated vLLM engine with its LMCache worker."""

    def __init__(self, instance_id, port, settings):
        self.id = instance_id
        self.port = port
        self.slots = threading.Semaphore(settings.concurrency)
        self.running = 0  # live counts: they survive a reset, their requests too
        self.waiting = 0
        self.reset(settings)

    def reset(self, settings):
        self.store = KVStore(settings.capacity_tokens)
        self.overrides = {}
        self.served = 0
        self.prompt_tokens_total = 0
        self.cached_tokens_total = 0
        self.compressed_calls = 0
        # Wall-clock seconds, as a real engine measures them: what the
        # router learns a prefill rate from.
        self.prefill_seconds_total = 0.0
        self.ttft_seconds_total = 0.0

    def metric_values(self):
        usage = self.store.used / self.store.capacity if self.store.capacity else 0.0
        usage = self.overrides.get("kv_cache_usage", usage)
        return {
            "vllm:num_requests_running": self.overrides.get("running", self.running),
            "vllm:num_requests_waiting": self.overrides.get("waiting", self.waiting),
            "vllm:kv_cache_usage_perc": usage,
            "vllm:gpu_cache_usage_perc": usage,
            "vllm:prefix_cache_queries_total": self.prompt_tokens_total,
            "vllm:prefix_cache_hits_total": self.cached_tokens_total,
            "vllm:prompt_tokens_total": self.prompt_tokens_total,
            "vllm:request_prefill_time_seconds": (self.prefill_seconds_total,
                                                  self.served),
            "vllm:time_to_first_token_seconds": (self.ttft_seconds_total,
                                                 self.served),
        }

    def stats(self):
        return {
            "port": self.port,
            "used_tokens": self.store.used,
            "capacity_tokens": self.store.capacity,
            "chunks": len(self.store.chunks),
            "pinned_chunks": sum(c.pinned for c in self.store.chunks.values()),
            "running": self.running,
            "waiting": self.waiting,
            "served": self.served,
            "prompt_tokens_total": self.prompt_tokens_total,
            "cached_tokens_total": self.cached_tokens_total,
            "compressed_calls": self.compressed_calls,
            "overrides": dict(self.overrides),
        }


METRICS = (  # name, type, help text as vLLM prints them
    ("vllm:num_requests_running", "gauge",
     "Number of requests in model execution batches."),
    ("vllm:num_requests_waiting", "gauge", "Number of requests waiting to be processed."),
    ("vllm:kv_cache_usage_perc", "gauge", "KV-cache usage. 1 means 100 percent usage."),
    ("vllm:gpu_cache_usage_perc", "gauge",
     "GPU KV-cache usage. 1 means 100 percent usage."),
    ("vllm:prefix_cache_queries_total", "counter",
     "Prefix cache queries, in terms of number of queried tokens."),
    ("vllm:prefix_cache_hits_total", "counter",
     "Prefix cache hits, in terms of number of cached tokens."),
    ("vllm:prompt_tokens_total", "counter", "Number of prefill tokens processed."),
    ("vllm:request_prefill_time_seconds", "histogram",
     "Histogram of time spent in PREFILL phase for request."),
    ("vllm:time_to_first_token_seconds", "histogram",
     "Histogram of time to first token in seconds."),
)


# ---------------------------------------------------------------- replies and validation

class Reply:
    """An endpoint's answer; the HTTP layer turns it into bytes.

    payload: dict/list (sent as compact JSON like FastAPI), bytes, or None.
    events: SSE data strings, streamed instead of payload.
    summary: what the call log records about the request (None: derived from the body).
    """

    __slots__ = ("status", "payload", "content_type", "headers", "summary", "events")

    def __init__(self, status, payload, content_type="application/json", headers=(),
                 summary=None, events=None):
        self.status = status
        self.payload = payload
        self.content_type = content_type
        self.headers = headers
        self.summary = summary
        self.events = events

    def body_bytes(self):
        if self.payload is None:
            return b""
        if isinstance(self.payload, bytes):
            return self.payload
        return json.dumps(self.payload, separators=(",", ":")).encode()


NOT_FOUND = Reply(404, {"detail": "Not Found"})  # FastAPI's answer for unknown routes


def vllm_error(status, message, err_type="BadRequestError", param=None):
    return Reply(status, {"error": {"message": message, "type": err_type,
                                    "param": param, "code": status}})


class Request:
    __slots__ = ("role", "method", "path", "headers", "body")

    def __init__(self, role, method, path, headers, body):
        self.role = role
        self.method = method
        self.path = path
        self.headers = headers
        self.body = body


class ValidationFailed(Exception):
    """A FastAPI/pydantic request validation error (422); args[0] is the detail list."""


class InternalError(Exception):
    """An LMCache handler failure, answered 500 {"detail": message}."""


class ControlError(Exception):
    """A bad control-API call: args = (message, status)."""


def parse_json(raw):
    """(value, None) or (None, error message)."""
    try:
        return json.loads(raw), None
    except (ValueError, RecursionError) as exc:  # ValueError covers bad UTF-8
        return None, f"JSON decode error: {exc}"


REQUIRED = object()


def parse_model(raw, fields):
    """Validate a JSON body like a pydantic model; fields: {name: (kind, default)}.

    kind is "str" or "tokens" (a list of ints).  Errors collect into a FastAPI
    422 detail list.
    """
    if not raw:
        raise ValidationFailed([{"type": "missing", "loc": ["body"],
                                 "msg": "Field required", "input": None}])
    try:
        body = json.loads(raw)
    except (ValueError, RecursionError) as exc:
        raise ValidationFailed([{"type": "json_invalid",
                                 "loc": ["body", getattr(exc, "pos", 0)],
                                 "msg": "JSON decode error", "input": {},
                                 "ctx": {"error": getattr(exc, "msg", str(exc))}}])
    if not isinstance(body, dict):
        raise ValidationFailed([{"type": "model_attributes_type", "loc": ["body"],
                                 "msg": "Input should be a valid dictionary or object "
                                        "to extract fields from", "input": body}])
    values, errors = {}, []
    for name, (kind, default) in fields.items():
        loc = ["body", name]
        if name not in body:
            if default is REQUIRED:
                errors.append({"type": "missing", "loc": loc, "msg": "Field required",
                               "input": body})
            values[name] = default
            continue
        value = body[name]
        if kind == "str":
            if isinstance(value, str):
                values[name] = value
            else:
                errors.append({"type": "string_type", "loc": loc,
                               "msg": "Input should be a valid string", "input": value})
        elif not isinstance(value, list):
            errors.append({"type": "list_type", "loc": loc,
                           "msg": "Input should be a valid list", "input": value})
        elif set(map(type, value)) <= {int}:  # the common case, 10x faster than the loop
            values[name] = value
        else:
            values[name] = []
            for i, token in enumerate(value):
                # pydantic's lax int: ints, bools and integral floats.
                if isinstance(token, int) or (isinstance(token, float)
                                              and token.is_integer()):
                    values[name].append(int(token))
                else:
                    errors.append({"type": "int_type", "loc": loc + [i],
                                   "msg": "Input should be a valid integer",
                                   "input": token})
    if errors:
        raise ValidationFailed(errors)
    return values


def summarize(req):
    """What the call log keeps of a request body."""
    if not req.body:
        return None
    if req.path in ("/pin", "/compress", "/clear", "/evict", "/health"):
        body, error = parse_json(req.body)
        return body if error is None else {"bytes": len(req.body)}
    if req.path == "/lookup":
        body, error = parse_json(req.body)
        if error is None and isinstance(body, dict) and isinstance(body.get("tokens"), list):
            return {"tokens_len": len(body["tokens"])}
    return {"bytes": len(req.body)}


def event_id(prefix):
    return prefix + uuid.uuid4().hex


# ---------------------------------------------------------------- the emulator

def _non_negative(value):
    return type(value) in (int, float) and value >= 0


def _count(value):
    return type(value) is int and value >= 0


# Accepted fields of the control API's JSON objects, with their validators.
FAULT_FIELDS = {
    "path": lambda v: isinstance(v, str) and v.startswith("/"),
    "status": lambda v: type(v) is int and 100 <= v <= 599,
    "body": lambda v: isinstance(v, str),
    "garbage": lambda v: isinstance(v, bool),
    "close": lambda v: isinstance(v, bool),
    "delay_ms": _non_negative,
    "times": lambda v: type(v) is int and v >= 1,
}
CONFIG_FIELDS = {
    "layout_form": lambda v: v in ("array", "object"),
    "enable_evict": lambda v: isinstance(v, bool),
    "lookup_override": lambda v: v is None or isinstance(v, dict),
    "time_scale": _non_negative,
    "prefill_ms_per_token": _non_negative,
    "load_ms_per_token": _non_negative,
    "decode_ms_per_token": _non_negative,
}
INSTANCE_FIELDS = {  # null is accepted too: it removes the override
    "delay_ms": _non_negative,
    "kv_cache_usage": lambda v: _non_negative(v) and v <= 1,
    "running": _count,
    "waiting": _count,
    "capacity_tokens": _count,
}


class Emulator:
    """All shared state, behind one lock, and every endpoint's logic.

    Endpoint methods take a Request and return a Reply (None: drop the
    connection); they never hold the lock while sleeping.
    """

    def __init__(self, settings, instance_ports):
        self.settings = settings
        self.lock = threading.Lock()
        self.instances = {iid: Instance(iid, port, settings)
                          for iid, port in instance_ports.items()}
        self.index = ControllerIndex()
        self.default_config = {
            "layout_form": settings.layout_form,
            "enable_evict": settings.enable_evict,
            "lookup_override": None,
            "time_scale": settings.time_scale,
            "prefill_ms_per_token": settings.prefill_ms_per_token,
            "load_ms_per_token": settings.load_ms_per_token,
            "decode_ms_per_token": settings.decode_ms_per_token,
        }
        self.config = dict(self.default_config)
        self.faults = []
        self.calls = collections.Counter()
        self.connections = collections.Counter()
        self.log = collections.deque(maxlen=LOG_ENTRIES)
        self.generation = 0  # bumped by reset, so old connections count anew
        self.model = settings.served_model or DEFAULT_MODEL
        self.started = time.time()
        self.access_log = None
        if settings.log_file:
            self.access_log = open(settings.log_file, "a", buffering=1)  # line-buffered
        self.access_log_lock = threading.Lock()  # file I/O stays off the state lock
        self.routes = {
            CONTROLLER: {
                "/lookup": ("POST", self.lmc_lookup),
                "/pin": ("POST", self.lmc_pin),
                "/compress": ("POST", self.lmc_compress),
                "/clear": ("POST", self.lmc_clear),
                "/evict": ("POST", self.lmc_evict),
                "/health": ("POST", self.lmc_health),
            },
            "instance": {
                "/tokenize": ("POST", self.vllm_tokenize),
                "/v1/completions": ("POST", self.vllm_generate),
                "/v1/chat/completions": ("POST", self.vllm_generate),
                "/metrics": ("GET", self.vllm_metrics),
                "/health": ("GET", self.vllm_health),
                "/v1/models": ("GET", self.vllm_models),
            },
            "control": {
                "/_emu/stats": ("GET", self.ctl_stats),
                "/_emu/reset": ("POST", self.ctl_reset),
                "/_emu/fault": ("POST", self.ctl_fault),
                "/_emu/clear_faults": ("POST", self.ctl_clear_faults),
                "/_emu/config": ("POST", self.ctl_config),
                "/_emu/instance": ("POST", self.ctl_instance),
                "/_emu/seed": ("POST", self.ctl_seed),
                "/_emu/tokenize": ("POST", self.ctl_tokenize),
                "/_emu/match": ("POST", self.ctl_match),
            },
        }

    # -- dispatch, faults, accounting

    def note_connection(self, role):
        """Count a connection that carries a counted call; returns the generation."""
        with self.lock:
            self.connections[role] += 1
            return self.generation

    def handle(self, req):
        """Answer a counted (non-control) call, applying injected faults first."""
        fault = self.take_fault(req.role, req.path)
        if fault is not None:
            if fault.get("delay_ms"):
                time.sleep(fault["delay_ms"] / 1000)
            if fault.get("close"):
                self.record(req, None, summarize(req))
                return None
            if fault.get("garbage"):
                reply = Reply(fault.get("status", 200), GARBAGE_BODY)
            elif "status" in fault or "body" in fault:
                body = fault.get("body")
                reply = Reply(fault.get("status", 500),
                              b'{"detail":"injected"}' if body is None else body.encode())
            else:  # a delay alone: answer normally, late
                reply = self.route(req)
        else:
            reply = self.route(req)
        self.record(req, reply.status, reply.summary if reply.summary is not None
                    else summarize(req))
        return reply

    def route(self, req, kind=None):
        kind = kind or (CONTROLLER if req.role == CONTROLLER else "instance")
        entry = self.routes[kind].get(req.path)
        if entry is None:
            return NOT_FOUND
        if entry[0] != req.method:
            return Reply(405, {"detail": "Method Not Allowed"})
        try:
            return entry[1](req)
        except ValidationFailed as exc:
            return Reply(422, {"detail": exc.args[0]})
        except InternalError as exc:
            return Reply(500, {"detail": exc.args[0]})
        except ControlError as exc:
            return Reply(exc.args[1], {"error": exc.args[0]})

    def control(self, req):
        return self.route(req, "control")

    def take_fault(self, role, path):
        with self.lock:
            for fault in self.faults:
                if fault["role"] in ("*", role) and fault.get("path") in (None, path):
                    if "times" in fault:
                        fault["times"] -= 1
                        if fault["times"] <= 0:
                            self.faults.remove(fault)
                    return fault
        return None

    def record(self, req, status, summary):
        entry = {"t": time.time(), "role": req.role, "method": req.method,
                 "path": req.path, "status": status, "body": summary}
        with self.lock:
            self.calls[f"{req.role}:{req.path}"] += 1
            self.log.append(entry)

    def write_access_log(self, req, status, seconds):
        if self.access_log is None:
            return
        line = (f"{time.strftime('%Y-%m-%dT%H:%M:%S')} {req.role} {req.method} "
                f"{req.path} {status if status is not None else '-'} "
                f"{len(req.body)} {seconds * 1000:.3f}ms\n")
        with self.access_log_lock:
            self.access_log.write(line)

    # -- LMCache controller

    def instance_or_500(self, instance_id):
        instance = self.instances.get(instance_id)
        if instance is None:  # the real executor asserts on unknown instances
            raise InternalError(f"Instance {instance_id} is not registered")
        return instance

    def lmc_lookup(self, req):
        tokens = parse_model(req.body, {"tokens": ("tokens", REQUIRED)})["tokens"]
        keys = chunk_keys(tokens, self.settings.chunk_size)
        with self.lock:
            override = self.config["lookup_override"]
            layout = self.index.lookup(keys) if override is None else None
            form = self.config["layout_form"]
        summary = {"tokens_len": len(tokens)}
        if override is not None:
            payload = {"event_id": event_id("Lookup")}
            payload.update((k, v) for k, v in override.items() if k != "event_id")
            return Reply(200, payload, summary=summary)
        if form == "object":
            info = {iid: {"0": loc, "1": n} for iid, (loc, n) in layout.items()}
        else:
            info = {iid: [loc, n] for iid, (loc, n) in layout.items()}
        return Reply(200, {"event_id": event_id("Lookup"), "layout_info": info},
                     summary=summary)

    def lmc_pin(self, req):
        data = parse_model(req.body, {"instance_id": ("str", REQUIRED),
                                      "location": ("str", REQUIRED),
                                      "tokens": ("tokens", REQUIRED)})
        instance = self.instance_or_500(data["instance_id"])
        keys = chunk_keys(data["tokens"], self.settings.chunk_size)
        with self.lock:
            pinned = instance.store.pin(keys) if data["location"] == LOCATION else 0
        return Reply(200, {"event_id": event_id("Pin"), "num_tokens": pinned})

    def lmc_compress(self, req):
        data = parse_model(req.body, {"instance_id": ("str", REQUIRED),
                                      "method": ("str", REQUIRED),
                                      "location": ("str", REQUIRED),
                                      "tokens": ("tokens", [])})
        instance = self.instance_or_500(data["instance_id"])
        compressed = 0
        # The engine implements only cachegen; other methods log "Unsupported
        # compression method" and report 0 tokens.
        if data["method"] == "cachegen":
            keys = chunk_keys(data["tokens"], self.settings.chunk_size)
            with self.lock:
                if data["location"] == LOCATION:
                    hits = instance.store.prefix_chunks(keys)
                    compressed = keys[hits - 1][1] if hits else 0
                instance.compressed_calls += 1
        return Reply(200, {"event_id": event_id("Compress"), "num_tokens": compressed})

    def lmc_clear(self, req):
        data = parse_model(req.body, {"instance_id": ("str", REQUIRED),
                                      "location": ("str", REQUIRED)})
        instance = self.instance_or_500(data["instance_id"])
        cleared = 0
        if data["location"] == LOCATION:
            with self.lock:
                cleared, removed = instance.store.clear()
                self.index.evict(instance.id, removed)
        return Reply(200, {"event_id": event_id("Clear"), "num_tokens": cleared})

    def lmc_evict(self, req):
        with self.lock:
            enabled = self.config["enable_evict"]
        if not enabled:
            return NOT_FOUND  # LMCache has no /evict route
        data = parse_model(req.body, {"instance_id": ("str", REQUIRED),
                                      "tokens": ("tokens", REQUIRED)})
        instance = self.instance_or_500(data["instance_id"])
        keys = chunk_keys(data["tokens"], self.settings.chunk_size)
        with self.lock:
            evicted, removed = instance.store.evict_prefix(keys)
            self.index.evict(instance.id, removed)
        return Reply(200, {"event_id": event_id("Evict"), "num_tokens": evicted})

    def lmc_health(self, req):
        data = parse_model(req.body, {"instance_id": ("str", REQUIRED)})
        self.instance_or_500(data["instance_id"])
        return Reply(200, {"event_id": event_id("Health"), "error_codes": {"0": 0}})

    # -- vLLM instance

    def unknown_model(self, body):
        """vLLM's 404 for a request naming a model it does not serve, else None."""
        model = body.get("model") if isinstance(body, dict) else None
        if self.settings.served_model and model is not None \
                and model != self.settings.served_model:
            return vllm_error(404, f"The model `{model}` does not exist.",
                              "NotFoundError", "model")
        return None

    def vllm_tokenize(self, req):
        body, error = parse_json(req.body)
        if error is not None:
            return vllm_error(400, error)
        not_found = self.unknown_model(body)
        if not_found is not None:
            return not_found
        try:
            tokens = tokenize_request(body)
        except TokenizeError as exc:
            return vllm_error(400, str(exc))
        return Reply(200, {"count": len(tokens), "max_model_len": MAX_MODEL_LEN,
                           "tokens": tokens, "token_strs": None},
                     summary={"bytes": len(req.body), "tokens_len": len(tokens)})

    def admit(self, instance, keys):
        """Store a prompt's chunks on an instance and in kv_pool; returns cached tokens.

        Caller holds the lock.
        """
        hits, inserted, evicted = instance.store.admit(keys)
        self.index.admit(instance.id, inserted)
        self.index.evict(instance.id, evicted)
        return keys[hits - 1][1] if hits else 0

    def cached_prefixes(self, keys):
        """{instance id: tokens of the prompt's prefix it holds}; caller holds the lock."""
        found = {}
        for instance in self.instances.values():
            hits = instance.store.prefix_chunks(keys)
            found[instance.id] = keys[hits - 1][1] if hits else 0
        return found

    def serve(self, instance, keys, prompt_tokens):
        """Run one completion on an engine slot; returns (cached, queue_ms, ttft_ms)."""
        with self.lock:
            instance.waiting += 1
        waited_ms = 0.0
        if not instance.slots.acquire(blocking=False):
            wait_started = time.monotonic()
            instance.slots.acquire()
            waited_ms = (time.monotonic() - wait_started) * 1000
        try:
            with self.lock:
                instance.waiting -= 1
                instance.running += 1
                cached = self.admit(instance, keys)
                cfg = self.config
                service_ms = ((prompt_tokens - cached) * cfg["prefill_ms_per_token"]
                              + cached * cfg["load_ms_per_token"])
                # Queueing is real: a request waits only while the slots are
                # held by sleeping requests, so a client that waits for each
                # answer never queues, as on a real engine.  Real waits are
                # reported in simulated ms (as is when nothing is scaled).
                queue_ms = waited_ms / (cfg["time_scale"] or 1.0)
                sleep_s = (service_ms * cfg["time_scale"]
                           + instance.overrides.get("delay_ms", 0)) / 1000
                instance.served += 1
                instance.prompt_tokens_total += prompt_tokens
                instance.cached_tokens_total += cached
            if sleep_s > 0:
                time.sleep(sleep_s)
            with self.lock:
                instance.prefill_seconds_total += sleep_s
                instance.ttft_seconds_total += waited_ms / 1000 + sleep_s
        finally:
            with self.lock:
                instance.running -= 1
            instance.slots.release()
        return cached, round(queue_ms, 3), round(queue_ms + service_ms, 3)

    def decode(self, body):
        """Hold the answer for the simulated decode of its output tokens."""
        with self.lock:
            per_token_s = (self.config["decode_ms_per_token"]
                           * self.config["time_scale"] / 1000)
        if per_token_s > 0:
            body = body if isinstance(body, dict) else {}
            max_tokens = body.get("max_tokens", body.get("max_completion_tokens"))
            time.sleep(per_token_s * (max_tokens if type(max_tokens) is int
                                      and max_tokens > 0 else 16))

    def vllm_generate(self, req):
        instance = self.instances[req.role]
        chat = req.path == "/v1/chat/completions"
        digest = hashlib.sha256(req.body).hexdigest()
        body, problem = parse_json(req.body)
        if problem is None:
            not_found = self.unknown_model(body)
            if not_found is not None:
                return not_found
        tokens = []
        if problem is None:
            try:
                tokens = engine_prompt_tokens(body)
            except TokenizeError as exc:
                problem = str(exc)
        # Invalid bodies are still answered 200 (tests check that the proxy passes
        # them through byte for byte); they just do no KV accounting.
        keys = chunk_keys(tokens, self.settings.chunk_size)
        with self.lock:
            best_cached = max(self.cached_prefixes(keys).values(), default=0)
        cached, queue_ms, ttft_ms = self.serve(instance, keys, len(tokens))
        self.decode(body)
        kvemu = {
            "served_by": instance.id,
            "body_sha256": digest,
            "body_bytes": len(req.body),
            "cached_tokens": cached,
            "best_cached_tokens": best_cached,
            "prompt_tokens": len(tokens),
            "simulated_ttft_ms": ttft_ms,
            "queue_ms": queue_ms,
            "transfer_encoding": req.headers.get("Transfer-Encoding"),
            "content_length": req.headers.get("Content-Length"),
            "tokenize_error": problem,
        }
        headers = ((SERVED_BY_HEADER, instance.id),
                   (BODY_SHA256_HEADER, digest),
                   (CACHED_TOKENS_HEADER, str(cached)),
                   (TTFT_HEADER, str(ttft_ms)))
        summary = {"bytes": len(req.body), "sha256": digest,
                   "prompt_tokens": len(tokens), "cached_tokens": cached}
        body = body if isinstance(body, dict) else {}
        model = body.get("model") if isinstance(body.get("model"), str) else self.model
        answer = f"ok {len(tokens)}"
        usage = {"prompt_tokens": len(tokens), "completion_tokens": 2,
                 "total_tokens": len(tokens) + 2,
                 "prompt_tokens_details": {"cached_tokens": cached}}
        head = {"id": ("chatcmpl-" if chat else "cmpl-") + uuid.uuid4().hex,
                "created": int(time.time()), "model": model}
        if body.get("stream") is True:
            events = self.stream_events(head, chat, answer, usage, kvemu,
                                        body.get("stream_options"))
            return Reply(200, None, "text/event-stream", headers, summary, events)
        if chat:
            choice = {"index": 0, "message": {"role": "assistant", "content": answer},
                      "logprobs": None, "finish_reason": "stop"}
        else:
            choice = {"index": 0, "text": answer, "logprobs": None,
                      "finish_reason": "stop"}
        payload = {**head, "object": "chat.completion" if chat else "text_completion",
                   "choices": [choice], "usage": usage, "kvemu": kvemu}
        return Reply(200, payload, headers=headers, summary=summary)

    @staticmethod
    def stream_events(head, chat, answer, usage, kvemu, stream_options):
        """SSE data lines as vLLM streams them; the first one carries kvemu."""
        obj = "chat.completion.chunk" if chat else "text_completion"

        def chunk(delta, finish):
            if chat:
                choice = {"index": 0, "delta": delta, "logprobs": None,
                          "finish_reason": finish}
            else:
                choice = {"index": 0, "text": delta.get("content", ""),
                          "logprobs": None, "finish_reason": finish}
            return {**head, "object": obj, "choices": [choice]}

        chunks = [dict(chunk({"role": "assistant", "content": ""}, None), kvemu=kvemu),
                  chunk({"content": answer}, None),
                  chunk({}, "stop")]
        if isinstance(stream_options, dict) and stream_options.get("include_usage"):
            chunks.append({**head, "object": obj, "choices": [], "usage": usage})
        return [json.dumps(c, separators=(",", ":")) for c in chunks] + ["[DONE]"]

    def vllm_metrics(self, req):
        instance = self.instances[req.role]
        with self.lock:
            values = instance.metric_values()
        labels = f'{{model_name="{self.model}",engine="0"}}'
        lines = []
        for name, kind, help_text in METRICS:
            lines += [f"# HELP {name} {help_text}", f"# TYPE {name} {kind}"]
            if kind == "histogram":  # only what a reader of rates needs
                total, count = values[name]
                bucket = labels[:-1] + ',le="+Inf"}'
                lines += [f"{name}_bucket{bucket} {float(count)!r}",
                          f"{name}_count{labels} {float(count)!r}",
                          f"{name}_sum{labels} {float(total)!r}"]
                continue
            lines.append(f"{name}{labels} {float(values[name])!r}")
            if kind == "counter":  # prometheus_client adds a _created gauge
                created = name[:-len("_total")] + "_created"
                lines += [f"# HELP {created} {help_text}", f"# TYPE {created} gauge",
                          f"{created}{labels} {self.started!r}"]
        return Reply(200, ("\n".join(lines) + "\n").encode(),
                     "text/plain; version=0.0.4; charset=utf-8")

    def vllm_health(self, req):
        return Reply(200, None, None)

    def vllm_models(self, req):
        return Reply(200, {"object": "list", "data": [{
            "id": self.model, "object": "model", "created": int(self.started),
            "owned_by": "vllm", "root": self.model, "parent": None,
            "max_model_len": MAX_MODEL_LEN}]})

    # -- control API

    @staticmethod
    def control_body(req):
        if not req.body:
            return {}
        body, error = parse_json(req.body)
        if error is not None or not isinstance(body, dict):
            raise ControlError(error or "expected a JSON object", 400)
        return body

    def known_instance(self, instance_id):
        if instance_id not in self.instances:
            raise ControlError(f"unknown instance {instance_id!r}", 404)
        return self.instances[instance_id]

    def ctl_stats(self, req):
        with self.lock:
            return Reply(200, {
                "calls": dict(self.calls),
                "connections": dict(self.connections),
                "log": list(self.log),
                "instances": {iid: inst.stats() for iid, inst in self.instances.items()},
                "config": dict(self.config),
                "faults": [dict(f) for f in self.faults],
                "kv_pool_chunks": len(self.index.kv_pool),
            })

    def ctl_reset(self, req):
        with self.lock:
            self.generation += 1
            self.calls.clear()
            self.connections.clear()
            self.log.clear()
            self.faults.clear()
            self.config = dict(self.default_config)
            self.index = ControllerIndex()
            for instance in self.instances.values():
                instance.reset(self.settings)
        return Reply(200, {"ok": True})

    def ctl_fault(self, req):
        spec = self.control_body(req)
        role = spec.pop("role", None)
        if role not in ("*", CONTROLLER, *self.instances):
            raise ControlError(f"unknown role {role!r}", 400)
        fault = {"role": role}
        for name, value in spec.items():
            if name not in FAULT_FIELDS or not (value is None or FAULT_FIELDS[name](value)):
                raise ControlError(f"invalid fault field {name}: {value!r}", 400)
            if value is not None:
                fault[name] = value
        with self.lock:
            self.faults.append(fault)
            count = len(self.faults)
        return Reply(200, {"fault": fault, "faults": count})

    def ctl_clear_faults(self, req):
        with self.lock:
            self.faults.clear()
        return Reply(200, {"ok": True})

    def ctl_config(self, req):
        changes = self.control_body(req)
        for name, value in changes.items():
            if name not in CONFIG_FIELDS or not CONFIG_FIELDS[name](value):
                raise ControlError(f"invalid config {name}: {value!r}", 400)
        with self.lock:
            self.config.update(changes)
            return Reply(200, dict(self.config))

    def ctl_instance(self, req):
        spec = self.control_body(req)
        instance = self.known_instance(spec.pop("id", None))
        for name, value in spec.items():
            if name not in INSTANCE_FIELDS or not (value is None
                                                   or INSTANCE_FIELDS[name](value)):
                raise ControlError(f"invalid instance field {name}: {value!r}", 400)
        with self.lock:
            for name, value in spec.items():
                if value is None:
                    instance.overrides.pop(name, None)
                else:
                    instance.overrides[name] = value
            instance.store.capacity = instance.overrides.get(
                "capacity_tokens", self.settings.capacity_tokens)
            self.index.evict(instance.id, instance.store.evict_to_capacity())
            return Reply(200, instance.stats())

    @staticmethod
    def spec_tokens(spec, what):
        """The prompt tokens a control call names with "tokens" or a request "body"."""
        if "tokens" in spec:
            tokens = spec["tokens"]
            if not isinstance(tokens, list) or not all(type(t) is int for t in tokens):
                raise ControlError("tokens must be a list of integers", 400)
            return tokens
        if "body" in spec:
            try:
                return engine_prompt_tokens(spec["body"])
            except TokenizeError as exc:
                raise ControlError(str(exc), 400)
        raise ControlError(f"{what} needs 'tokens' or 'body'", 400)

    def ctl_seed(self, req):
        spec = self.control_body(req)
        instance = self.known_instance(spec.get("instance"))
        tokens = self.spec_tokens(spec, "seed")
        keys = chunk_keys(tokens, self.settings.chunk_size)
        with self.lock:
            cached = self.admit(instance, keys)
        return Reply(200, {"tokens": len(tokens), "cached_tokens": cached})

    def ctl_match(self, req):
        keys = chunk_keys(self.spec_tokens(self.control_body(req), "match"),
                          self.settings.chunk_size)
        with self.lock:
            found = {iid: {"cached_tokens": cached,
                           "running": self.instances[iid].running,
                           "waiting": self.instances[iid].waiting}
                     for iid, cached in self.cached_prefixes(keys).items()}
        return Reply(200, {"prompt_tokens": keys[-1][1] if keys else 0,
                           "instances": found})

    def ctl_tokenize(self, req):
        return self.vllm_tokenize(req)


# ---------------------------------------------------------------- HTTP layer

class BadRequestBody(Exception):
    """A request body that cannot be framed; the connection cannot be reused."""


class Handler(BaseHTTPRequestHandler):
    """One connection of one role; keep-alive loop from BaseHTTPRequestHandler."""

    protocol_version = "HTTP/1.1"
    server_version = "kvemu/1"
    # Headers and body leave in one send (buffered wfile, flushed after every
    # request), and Nagle off so small replies are not held for a delayed ACK.
    wbufsize = 1 << 16
    disable_nagle_algorithm = True
    counted_generation = None

    def version_string(self):
        return self.server_version

    def log_message(self, format, *args):
        """No per-request stderr line: it would dominate the cost of a request."""

    def handle_expect_100(self):
        # The buffered wfile would otherwise hold "100 Continue" until the response.
        ok = super().handle_expect_100()
        self.wfile.flush()
        return ok

    def do_GET(self):
        self.dispatch()

    do_POST = do_PUT = do_DELETE = do_PATCH = do_GET

    def dispatch(self):
        emu, role = self.server.emu, self.server.role
        started = time.monotonic()
        try:
            body = self.read_body()
        except BadRequestBody as exc:
            self.close_connection = True
            self.send_reply(Reply(400, {"detail": f"bad request body: {exc}"}))
            return
        req = Request(role, self.command, urlsplit(self.path).path, self.headers, body)
        try:
            if role == CONTROLLER and req.path.startswith("/_emu/"):
                self.send_reply(emu.control(req))
                return
            if self.counted_generation != emu.generation:
                self.counted_generation = emu.note_connection(role)
            reply = emu.handle(req)
        except Exception:  # a bug in the emulator: say so loudly, keep serving
            traceback.print_exc()
            reply = Reply(500, {"detail": "emulator error"})
        if reply is None:  # injected fault: drop the connection, answer nothing
            self.close_connection = True
        else:
            self.send_reply(reply)
        emu.write_access_log(req, reply and reply.status, time.monotonic() - started)

    def read_body(self):
        encoding = self.headers.get("Transfer-Encoding")
        if encoding is not None:
            if encoding.split(",")[-1].strip().lower() != "chunked":
                raise BadRequestBody(f"unsupported Transfer-Encoding {encoding!r}")
            return self.read_chunked()
        length = self.headers.get("Content-Length")
        if length is None:
            return b""
        if not length.strip().isdigit():
            raise BadRequestBody(f"invalid Content-Length {length!r}")
        body = self.rfile.read(int(length))
        if len(body) != int(length):
            raise BadRequestBody("body shorter than Content-Length")
        return body

    def read_chunked(self):
        """De-chunk a request body (RFC 9112 §7.1), discarding extensions and trailers."""
        parts = []
        while True:
            line = self.rfile.readline(1024)
            size = line.split(b";", 1)[0].strip()
            if not line.endswith(b"\n") or not size or \
                    size.strip(b"0123456789abcdefABCDEF"):
                raise BadRequestBody(f"invalid chunk size line {line[:40]!r}")
            size = int(size, 16)
            if size == 0:
                break
            data = self.rfile.read(size)
            if len(data) != size or self.rfile.readline(3) not in (b"\r\n", b"\n"):
                raise BadRequestBody("truncated chunk")
            parts.append(data)
        while True:  # trailer section, ended by an empty line
            line = self.rfile.readline(8192)
            if not line.endswith(b"\n"):
                raise BadRequestBody("truncated trailer section")
            if line in (b"\r\n", b"\n"):
                return b"".join(parts)

    def send_reply(self, reply):
        self.send_response(reply.status)
        if reply.content_type:
            self.send_header("Content-Type", reply.content_type)
        for name, value in reply.headers:
            self.send_header(name, value)
        if reply.events is not None:
            events = [f"data: {event}\n\n".encode() for event in reply.events]
            body = b"".join(events)
        else:
            body = reply.body_bytes()
        # The answer's own hash, so that a client can check that the proxy
        # passed on exactly what the engine sent.
        self.send_header("X-Kvemu-Answer-Sha256", hashlib.sha256(body).hexdigest())
        if reply.events is not None and self.request_version != "HTTP/1.0":
            self.send_header("Transfer-Encoding", "chunked")
            self.send_header("Cache-Control", "no-cache")
            self.end_headers()
            for data in events:
                self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
                self.wfile.flush()
            self.wfile.write(b"0\r\n\r\n")
            return
        self.send_header("Content-Length", str(len(body)))
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(body)


class RoleServer(ThreadingHTTPServer):
    """The listening socket of one role (the controller or one instance)."""

    daemon_threads = True
    request_queue_size = 1024  # load generators open many connections at once

    def __init__(self, host, port, role, emu, tls=None):
        self.role = role
        self.emu = emu
        self.tls = tls
        if ":" in host:
            self.address_family = socket.AF_INET6
        super().__init__((host, port), Handler)

    def handle_error(self, request, client_address):
        # Clients (load generators, the proxy under test) reset connections all
        # the time; only a real failure deserves a traceback.
        if not isinstance(sys.exc_info()[1],
                          (ConnectionError, TimeoutError, ssl.SSLError)):
            super().handle_error(request, client_address)

    def finish_request(self, request, client_address):
        # The TLS handshake runs in the connection's own thread, so a client
        # that refuses the certificate never stalls the accept loop.
        if self.tls is not None:
            request.settimeout(10)
            request = self.tls.wrap_socket(request, server_side=True)
            request.settimeout(None)
        super().finish_request(request, client_address)

    def server_bind(self):
        # HTTPServer.server_bind does a reverse DNS lookup (getfqdn): skip it.
        socketserver.TCPServer.server_bind(self)
        self.server_name, self.server_port = self.server_address[:2]


# ---------------------------------------------------------------- command line

def parse_instance(spec):
    instance_id, sep, port = spec.partition("=")
    if not sep or not instance_id or not port.isdigit() or int(port) > 65535:
        raise argparse.ArgumentTypeError(f"expected ID=PORT, got {spec!r}")
    if instance_id in (CONTROLLER, "*") or "," in instance_id:
        raise argparse.ArgumentTypeError(f"reserved instance id {instance_id!r}")
    return instance_id, int(port)


def parse_args(argv):
    def non_negative(kind):
        def convert(text):
            value = kind(text)
            if value < 0:
                raise argparse.ArgumentTypeError(f"must be >= 0: {text}")
            return value
        return convert

    def positive_int(text):
        value = int(text)
        if value < 1:
            raise argparse.ArgumentTypeError(f"must be >= 1: {text}")
        return value

    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--controller-port", type=non_negative(int), required=True)
    parser.add_argument("--instance", type=parse_instance, action="append", default=[],
                        metavar="ID=PORT")
    parser.add_argument("--instances", action="append", default=[],
                        metavar="ID=PORT,ID=PORT")
    parser.add_argument("--chunk-size", type=positive_int, default=256)
    parser.add_argument("--capacity-tokens", type=non_negative(int), default=200000)
    parser.add_argument("--concurrency", type=positive_int, default=4)
    parser.add_argument("--prefill-ms-per-token", type=non_negative(float), default=0.05)
    parser.add_argument("--load-ms-per-token", type=non_negative(float), default=0.005)
    parser.add_argument("--decode-ms-per-token", type=non_negative(float), default=0.0)
    parser.add_argument("--time-scale", type=non_negative(float), default=0.0)
    parser.add_argument("--served-model", default=None, metavar="NAME")
    parser.add_argument("--layout-form", choices=("array", "object"), default="array")
    parser.add_argument("--enable-evict", action="store_true")
    parser.add_argument("--tls-controller-port", type=non_negative(int),
                        metavar="PORT")
    parser.add_argument("--tls-cert", metavar="PEM")
    parser.add_argument("--tls-key", metavar="PEM")
    parser.add_argument("--ready-file", metavar="PATH")
    parser.add_argument("--log-file", metavar="PATH")
    args = parser.parse_args(argv)
    if args.tls_controller_port is not None and not (args.tls_cert and args.tls_key):
        parser.error("--tls-controller-port needs --tls-cert and --tls-key")
    instances = {}
    specs = list(args.instance)
    for group in args.instances:
        try:
            specs += [parse_instance(s) for s in group.split(",") if s]
        except argparse.ArgumentTypeError as exc:
            parser.error(f"--instances: {exc}")
    for instance_id, port in specs:
        if instance_id in instances:
            parser.error(f"duplicate instance id {instance_id!r}")
        instances[instance_id] = port
    return args, instances


def write_ready_file(path, host, servers):
    info = {"pid": os.getpid(), "host": host,
            "ports": {s.role + ("-tls" if s.tls else ""): s.server_address[1]
                      for s in servers}}
    temporary = f"{path}.tmp{os.getpid()}"
    with open(temporary, "w") as out:
        json.dump(info, out)
    os.replace(temporary, path)  # readers never see a half-written file


def main(argv=None):
    args, instance_ports = parse_args(argv)
    emu = Emulator(args, instance_ports)
    servers = []
    try:
        for role, port in [(CONTROLLER, args.controller_port), *instance_ports.items()]:
            servers.append(RoleServer(args.host, port, role, emu))
        if args.tls_controller_port is not None:
            port, role = args.tls_controller_port, CONTROLLER
            tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            tls.load_cert_chain(args.tls_cert, args.tls_key)
            servers.append(RoleServer(args.host, port, role, emu, tls))
    except OSError as exc:
        print(f"kvc_emulator: cannot listen on {args.host}:{port} ({role}): {exc}",
              file=sys.stderr)
        return 2
    for server in servers:
        if server.role != CONTROLLER:
            emu.instances[server.role].port = server.server_address[1]
        threading.Thread(target=server.serve_forever, name=f"serve-{server.role}",
                         daemon=True).start()
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    if args.ready_file:
        write_ready_file(args.ready_file, args.host, servers)
    stop.wait()
    for server in servers:
        server.shutdown()
        server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
