#!/usr/bin/python3
# Licensed under the Apache License, Version 2.0 (the "License"); you may not
# use this file except in compliance with the License.  You may obtain a copy
# of the License at http://www.apache.org/licenses/LICENSE-2.0
"""Tests of tools/kvc_emulator.py, run against the emulator as a subprocess.

    /usr/bin/python3 -m unittest tools/test_kvc_emulator.py
    /usr/bin/python3 tools/test_kvc_emulator.py

The emulator starts and answers through the harness everybody uses
(kvcharness.emu, kvcharness.client); what it answers is checked here against
literals of its documented wire format, not against the harness's names.
Chunk size 8 keeps the token arithmetic small; every test starts from /_emu/reset.
"""

import hashlib
import http.client
import json
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
import unittest

from kvcharness import client, emu, paths

CHUNK = 8
MODEL = "test-model"
LOC = "LocalCPUBackend"


def fnv_token(word):
    """The documented word token, computed independently of the emulator."""
    h = 2166136261
    for byte in word.encode():
        h = ((h ^ byte) * 16777619) % 2 ** 32
    return 1000 + h % 100000


def raw_exchange(sock, data):
    """Send raw bytes and read one HTTP response from the same socket."""
    sock.sendall(data)
    resp = http.client.HTTPResponse(sock)
    resp.begin()
    return client.Response(resp.status, resp.headers, resp.read())


class EmulatorTestCase(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory()
        cls.emulator = emu.Emulator(cls.tmp.name, "emulator", emu.EmulatorOptions(
            instances=("vllm-a", "vllm-b"), chunk_size=CHUNK, served_model=MODEL))
        cls.ports = cls.emulator.ports

    @classmethod
    def tearDownClass(cls):
        cls.emulator.stop()
        cls.tmp.cleanup()

    def setUp(self):
        self.assertEqual(self.ctl("/_emu/reset").status, 200)

    # -- helpers

    def call(self, role, path, body=None, method="POST"):
        return client.request(self.ports[role], method, path, body, timeout=10)

    def ctl(self, path, body=None):
        return self.call("controller", path, body, "GET" if path == "/_emu/stats" else "POST")

    def stats(self):
        return self.ctl("/_emu/stats").json()

    def tokens(self, body):
        resp = self.ctl("/_emu/tokenize", body)
        self.assertEqual(resp.status, 200, resp.body)
        return resp.json()["tokens"]

    def seed(self, instance, tokens):
        resp = self.ctl("/_emu/seed", {"instance": instance, "tokens": tokens})
        self.assertEqual(resp.status, 200, resp.body)
        return resp.json()

    def lookup(self, tokens):
        resp = self.call("controller", "/lookup", {"tokens": tokens})
        self.assertEqual(resp.status, 200, resp.body)
        body = resp.json()
        self.assertTrue(body["event_id"].startswith("Lookup"))
        return body["layout_info"]

    def metrics(self, role):
        resp = self.call(role, "/metrics", method="GET")
        self.assertEqual(resp.status, 200)
        samples = {}
        for line in resp.body.decode().splitlines():
            if not line.startswith("#"):
                name_labels, value = line.rsplit(" ", 1)
                samples[name_labels.split("{")[0]] = float(value)
        return samples


def chat(*contents, **extra):
    """A chat body alternating user/assistant after a system prompt."""
    roles = ["system"] + ["user", "assistant"] * len(contents)
    return {"messages": [{"role": r, "content": c} for r, c in zip(roles, contents)],
            **extra}


def prompt_tokens(base, n):
    return list(range(base, base + n))


class TokenizerTest(EmulatorTestCase):
    def test_reference_hash(self):
        # FNV-1a-32("a") is 0xe40c292c; guards the test's own reference function.
        self.assertEqual(fnv_token("a"), 1000 + 0xE40C292C % 100000)

    def test_completion_form(self):
        t = fnv_token
        self.assertEqual(self.tokens({"prompt": "hello  big\nworld"}),
                         [1, t("hello"), t("big"), t("world")])
        self.assertEqual(self.tokens({"prompt": "hello", "add_special_tokens": False}),
                         [t("hello")])
        resp = self.call("vllm-a", "/tokenize", {"prompt": "x y", "max_tokens": 5})
        self.assertEqual(resp.json(), {"count": 3, "max_model_len": 131072,
                                       "tokens": [1, t("x"), t("y")], "token_strs": None})

    def test_chat_template(self):
        t = fnv_token
        body = {"messages": [{"role": "system", "content": "be brief"},
                             {"role": "user", "content": "hi"}]}
        self.assertEqual(self.tokens(body), [10, t("be"), t("brief"), 2, 11, t("hi"), 2, 12])
        parts = {"messages": [{"role": "user", "content": [
            {"type": "text", "text": "look"},
            {"type": "image_url", "image_url": {"url": "x"}},
            {"type": "text", "text": "here"}]},
            {"role": "tool", "content": None}, {"role": "critic", "content": ""}]}
        self.assertEqual(self.tokens(parts),
                         [11, t("look"), 20, t("here"), 2, 13, 2, 14, 2, 12])
        self.assertEqual(self.tokens(dict(body, add_generation_prompt=False,
                                          add_special_tokens=True))[:2], [1, 10])
        opened = self.tokens(dict(body, add_generation_prompt=False,
                                  continue_final_message=True))
        self.assertEqual(opened, [10, t("be"), t("brief"), 2, 11, t("hi")])

    def test_tools_and_template_kwargs_change_the_prompt(self):
        t = fnv_token
        base = chat("sys", "q")
        plain = self.tokens(base)
        tools = [{"type": "function", "function": {"name": "f"}}]
        with_tools = self.tokens(dict(base, tools=tools))
        words = json.dumps(tools, sort_keys=True).split()
        self.assertEqual(with_tools, [15, *map(t, words), 2] + plain)
        both = self.tokens(dict(base, tools=tools,
                                chat_template_kwargs={"enable_thinking": False}))
        self.assertEqual(both[0], 16)
        self.assertEqual(both[-len(with_tools):], with_tools)

    def test_turns_share_a_token_prefix(self):
        turn1 = self.tokens(chat("you are helpful", "what is KV cache?"))
        turn2 = self.tokens(chat("you are helpful", "what is KV cache?",
                                 "a cache of keys", "and prefix caching?"))
        self.assertGreater(len(turn2), len(turn1))
        self.assertEqual(turn2[:len(turn1)], turn1)

    def test_validation_errors_like_vllm(self):
        for body in ({"prompt": ["a", "b"]}, {"model": MODEL},
                     chat("s", "u", continue_final_message=True),
                     {"messages": "hi"}, {"messages": [{"content": "no role"}]}):
            resp = self.call("vllm-a", "/tokenize", body)
            self.assertEqual(resp.status, 400, body)
            self.assertEqual(resp.json()["error"]["type"], "BadRequestError")
            self.assertEqual(resp.json()["error"]["code"], 400)
        self.assertEqual(self.call("vllm-a", "/tokenize", b"{oops").status, 400)
        resp = self.call("vllm-b", "/tokenize", {"model": "other", "prompt": "x"})
        self.assertEqual(resp.status, 404)
        self.assertEqual(resp.json()["error"]["code"], 404)
        self.assertEqual(self.call("vllm-b", "/tokenize",
                                   {"model": MODEL, "prompt": "x"}).status, 200)

    def test_control_tokenize_is_not_counted(self):
        self.tokens({"prompt": "x"})
        self.call("vllm-a", "/tokenize", {"prompt": "x"})
        self.assertEqual(self.stats()["calls"], {"vllm-a:/tokenize": 1})


class BackendTest(EmulatorTestCase):
    def test_cached_tokens_and_ttft(self):
        body = chat("you are a careful assistant", "tell me about chunked prefix caches")
        n = len(self.tokens(body))
        first = self.call("vllm-a", "/v1/chat/completions", body)
        self.assertEqual(first.status, 200)
        kv = first.json()["kvemu"]
        self.assertEqual((kv["served_by"], kv["prompt_tokens"], kv["cached_tokens"]),
                         ("vllm-a", n, 0))
        self.assertAlmostEqual(kv["simulated_ttft_ms"], n * 0.05, places=3)
        second = self.call("vllm-a", "/v1/chat/completions", body)
        kv = second.json()["kvemu"]
        self.assertEqual(kv["cached_tokens"], n)  # the unfull tail chunk is cached too
        self.assertAlmostEqual(kv["simulated_ttft_ms"], n * 0.005, places=3)
        self.assertEqual(second.json()["usage"]["prompt_tokens_details"]["cached_tokens"], n)
        self.assertEqual(second.headers["X-Kvemu-Cached-Tokens"], str(n))
        self.assertEqual(second.headers["X-Kvemu-Served-By"], "vllm-a")
        self.assertEqual(self.lookup(self.tokens(body)), {"vllm-a": [LOC, n]})
        # The next turn shares only whole chunks: the old tail chunk's key differs.
        turn2 = chat("you are a careful assistant", "tell me about chunked prefix caches",
                     "they store chunks", "and then?")
        kv = self.call("vllm-a", "/v1/chat/completions", turn2).json()["kvemu"]
        self.assertEqual(kv["cached_tokens"], n // CHUNK * CHUNK)
        self.assertEqual(kv["best_cached_tokens"], n // CHUNK * CHUNK)
        kv = self.call("vllm-b", "/v1/chat/completions", turn2).json()["kvemu"]
        self.assertEqual(kv["cached_tokens"], 0)
        # vllm-a held all of turn2 when it reached vllm-b.
        self.assertEqual(kv["best_cached_tokens"], kv["prompt_tokens"])

    def test_completion_object_and_token_prompt(self):
        resp = self.call("vllm-b", "/v1/completions", {"prompt": [5, 6, 7], "model": MODEL})
        body = resp.json()
        self.assertEqual(body["object"], "text_completion")
        self.assertEqual(body["model"], MODEL)
        self.assertEqual(body["usage"]["prompt_tokens"], 3)
        self.assertEqual(self.lookup([5, 6, 7]), {"vllm-b": [LOC, 3]})
        self.assertEqual(self.call("vllm-b", "/v1/completions",
                                   {"prompt": "x", "model": "nope"}).status, 404)

    def test_invalid_json_is_answered_and_hashed(self):
        raw = b'{"messages": [ not json'
        resp = self.call("vllm-a", "/v1/chat/completions", raw)
        self.assertEqual(resp.status, 200)
        kv = resp.json()["kvemu"]
        self.assertEqual(kv["body_sha256"], hashlib.sha256(raw).hexdigest())
        self.assertEqual(resp.headers["X-Kvemu-Body-Sha256"], kv["body_sha256"])
        self.assertEqual((kv["body_bytes"], kv["prompt_tokens"]), (len(raw), 0))
        self.assertIsNotNone(kv["tokenize_error"])
        self.assertEqual(self.stats()["kv_pool_chunks"], 0)

    def test_chunked_request_body(self):
        body = json.dumps(chat("system words here", "user words")).encode()
        pieces = [body[:1], body[1:30], body[30:]]
        chunked = b"".join(b"%x;note=1\r\n%s\r\n" % (len(p), p) for p in pieces)
        with socket.create_connection(("127.0.0.1", self.ports["vllm-a"]), 5) as sock:
            resp = raw_exchange(sock, b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\n"
                                b"Transfer-Encoding: chunked\r\n\r\n" + chunked +
                                b"0\r\nX-Trailer: t\r\n\r\n")
            kv = json.loads(resp.body)["kvemu"]
            self.assertEqual(kv["body_sha256"], hashlib.sha256(body).hexdigest())
            self.assertEqual((kv["transfer_encoding"], kv["content_length"]),
                             ("chunked", None))
            self.assertEqual(kv["prompt_tokens"], len(self.tokens(json.loads(body))))
            # The connection stays in sync: a Content-Length request follows.
            resp = raw_exchange(sock, b"POST /tokenize HTTP/1.1\r\nHost: x\r\n"
                                b"Content-Length: 14\r\n\r\n{\"prompt\":\"a\"}")
            self.assertEqual(json.loads(resp.body)["count"], 2)
        with socket.create_connection(("127.0.0.1", self.ports["vllm-a"]), 5) as sock:
            resp = raw_exchange(sock, b"POST /tokenize HTTP/1.1\r\nHost: x\r\n"
                                b"Transfer-Encoding: chunked\r\n\r\nzz\r\n")
            self.assertEqual(resp.status, 400)
            self.assertEqual(resp.headers["Connection"], "close")

    def test_streaming(self):
        resp = self.call("vllm-a", "/v1/chat/completions",
                         chat("s", "u", stream=True, stream_options={"include_usage": True}))
        self.assertEqual(resp.headers["Content-Type"], "text/event-stream")
        self.assertEqual(resp.headers["Transfer-Encoding"], "chunked")
        self.assertEqual(resp.headers["X-Kvemu-Served-By"], "vllm-a")
        events = [line[len("data: "):] for line in resp.body.decode().split("\n\n") if line]
        self.assertEqual(events[-1], "[DONE]")
        first = json.loads(events[0])
        self.assertEqual(first["object"], "chat.completion.chunk")
        self.assertEqual(first["kvemu"]["served_by"], "vllm-a")
        self.assertEqual(json.loads(events[-2])["usage"]["prompt_tokens"],
                         first["kvemu"]["prompt_tokens"])
        self.assertEqual(resp.headers["X-Kvemu-Answer-Sha256"],
                         hashlib.sha256(resp.body).hexdigest())
        plain = self.call("vllm-a", "/v1/chat/completions", chat("s", "u"))
        self.assertEqual(plain.headers["X-Kvemu-Answer-Sha256"],
                         hashlib.sha256(plain.body).hexdigest())

    def test_delay_holds_a_slot_without_blocking_others(self):
        self.ctl("/_emu/instance", {"id": "vllm-b", "delay_ms": 400})
        results = []
        threads = [threading.Thread(target=lambda i=i: results.append(self.call(
            "vllm-b", "/v1/completions", {"prompt": f"p{i}"}).json()["kvemu"]))
            for i in range(5)]  # one more than the 4 slots
        started = time.monotonic()
        for th in threads:
            th.start()
        seen = {}
        while time.monotonic() - started < 0.35 and seen.get("vllm:num_requests_waiting") != 1:
            seen = self.metrics("vllm-b")
        self.assertEqual(seen["vllm:num_requests_running"], 4)
        self.assertEqual(seen["vllm:num_requests_waiting"], 1)
        t0 = time.monotonic()
        self.lookup([1, 2, 3])  # the global lock is free while requests sleep
        self.assertLess(time.monotonic() - t0, 0.2)
        for th in threads:
            th.join(5)
        self.assertGreaterEqual(time.monotonic() - started, 0.8)
        queued = sorted(r["queue_ms"] for r in results)
        self.assertLess(queued[3], 100)
        self.assertGreater(queued[4], 300)  # waited for a slot held by delay_ms

    def test_time_scale_sleeps_and_queues(self):
        # 10 tokens at 100 ms each: 1,000 simulated ms, slept for 500 real ms
        # at scale 0.5: long enough that the fifth request, however late a
        # loaded machine starts its thread, still waits a good while.
        self.ctl("/_emu/config", {"prefill_ms_per_token": 100, "time_scale": 0.5})
        results = []
        threads = [threading.Thread(target=lambda i=i: results.append(self.call(
            "vllm-a", "/v1/completions",
            {"prompt": " ".join(f"t{i}w{j}" for j in range(9))}).json()["kvemu"]))
            for i in range(5)]  # one more than the 4 slots
        started = time.monotonic()
        for th in threads:
            th.start()
        for th in threads:
            th.join(10)
        self.assertGreaterEqual(time.monotonic() - started, 1.0)  # two waves of 500 ms
        self.assertEqual({r["prompt_tokens"] for r in results}, {10})
        results.sort(key=lambda r: r["queue_ms"])
        self.assertLess(results[3]["queue_ms"], 200)
        self.assertGreater(results[4]["queue_ms"], 400)  # ~500 real ms = ~1,000 simulated
        for r in results:
            self.assertAlmostEqual(r["simulated_ttft_ms"], r["queue_ms"] + 1000, 2)
        # Without time scaling nothing sleeps, so sequential requests never queue.
        self.ctl("/_emu/config", {"time_scale": 0})
        for i in range(6):
            kv = self.call("vllm-a", "/v1/completions", {"prompt": f"seq{i}"}).json()["kvemu"]
            self.assertEqual((kv["queue_ms"], kv["simulated_ttft_ms"]), (0.0, 200.0))

    def test_decode_holds_the_answer_but_not_the_slot(self):
        # 20 output tokens at 50 ms, scale 0.5: each answer waits 0.5 s after
        # prefill, but 8 requests on 4 slots never queue for a slot.
        self.ctl("/_emu/config", {"decode_ms_per_token": 50, "time_scale": 0.5,
                                  "prefill_ms_per_token": 0, "load_ms_per_token": 0})
        results = []
        threads = [threading.Thread(target=lambda i=i: results.append(self.call(
            "vllm-a", "/v1/completions",
            {"prompt": f"decode {i}", "max_tokens": 20}).json()["kvemu"]))
            for i in range(8)]
        started = time.monotonic()
        for th in threads:
            th.start()
        for th in threads:
            th.join(5)
        self.assertGreaterEqual(time.monotonic() - started, 0.5)
        # Had decoding held the slots, four requests would have queued 0.5 s.
        self.assertEqual([r["simulated_ttft_ms"] for r in results], [0.0] * 8)


class ControllerTest(EmulatorTestCase):
    T = prompt_tokens(100, 40)

    def test_lookup_credits_first_holder(self):
        t = self.T
        self.seed("vllm-a", t[:20])  # chunks end at 8, 16 and a tail at 20
        self.seed("vllm-b", t)
        self.assertEqual(self.lookup(t), {"vllm-a": [LOC, 16], "vllm-b": [LOC, 40]})
        self.assertEqual(self.lookup(t[:20]), {"vllm-a": [LOC, 20]})
        self.assertEqual(self.lookup(t[:16] + [7] * 8 + t[24:]), {"vllm-a": [LOC, 16]})
        self.assertEqual(self.lookup([7] + t), {})
        self.ctl("/_emu/reset")
        self.seed("vllm-b", t)
        self.seed("vllm-a", t[:20])
        self.assertEqual(self.lookup(t), {"vllm-b": [LOC, 40]})
        self.assertEqual(self.lookup(t[:20]), {"vllm-a": [LOC, 20], "vllm-b": [LOC, 16]})

    def test_object_layout_form(self):
        self.seed("vllm-b", self.T)
        self.ctl("/_emu/config", {"layout_form": "object"})
        self.assertEqual(self.lookup(self.T), {"vllm-b": {"0": LOC, "1": 40}})

    def test_lookup_override(self):
        override = {"layout_info": {"ghost": [LOC, 5]}, "extra": 1}
        self.ctl("/_emu/config", {"lookup_override": override})
        first = self.call("controller", "/lookup", {"tokens": [1]}).json()
        second = self.call("controller", "/lookup", {"tokens": [1]}).json()
        self.assertNotEqual(first.pop("event_id"), second.pop("event_id"))
        self.assertEqual(first, override)
        self.ctl("/_emu/config", {"lookup_override": None})
        self.assertEqual(self.lookup([1]), {})

    def test_validation_422(self):
        cases = [({}, "missing"), ({"tokens": "abc"}, "list_type"),
                 ({"tokens": [1, "x"]}, "int_type"), (b"{bad", "json_invalid"),
                 (b"", "missing"), ([1, 2], "model_attributes_type")]
        for body, error_type in cases:
            resp = self.call("controller", "/lookup", body)
            self.assertEqual(resp.status, 422, body)
            self.assertEqual(resp.json()["detail"][0]["type"], error_type, body)
        resp = self.call("controller", "/pin", {"instance_id": "vllm-a"})
        self.assertEqual({d["loc"][1] for d in resp.json()["detail"]}, {"location", "tokens"})
        self.assertEqual(self.call("controller", "/lookup", method="GET").status, 405)
        self.assertEqual(self.call("controller", "/nothing", {}).status, 404)

    def test_lru_eviction_at_capacity(self):
        p1, p2, p3 = (prompt_tokens(1000 * i, 16) for i in (1, 2, 3))
        self.ctl("/_emu/instance", {"id": "vllm-a", "capacity_tokens": 32})
        self.seed("vllm-a", p1)
        self.seed("vllm-a", p2)
        self.assertEqual(self.seed("vllm-a", p1)["cached_tokens"], 16)  # refreshes p1
        self.seed("vllm-a", p3)
        self.assertEqual(self.lookup(p2), {})  # least recently used, evicted
        self.assertEqual(self.lookup(p1), {"vllm-a": [LOC, 16]})
        self.assertEqual(self.lookup(p3), {"vllm-a": [LOC, 16]})
        self.assertEqual(self.stats()["instances"]["vllm-a"]["used_tokens"], 32)
        # Lowering the capacity evicts at once.
        self.ctl("/_emu/instance", {"id": "vllm-a", "capacity_tokens": 8})
        self.assertEqual(self.stats()["instances"]["vllm-a"]["used_tokens"], 8)

    def test_pin_protects_from_eviction(self):
        p1, p2, p3 = (prompt_tokens(1000 * i, 16) for i in (1, 2, 3))
        self.ctl("/_emu/instance", {"id": "vllm-a", "capacity_tokens": 32})
        self.seed("vllm-a", p1)
        pin = {"instance_id": "vllm-a", "location": LOC, "tokens": p1 + [5] * 8}
        resp = self.call("controller", "/pin", pin)
        self.assertTrue(resp.json()["event_id"].startswith("Pin"))
        self.assertEqual(resp.json()["num_tokens"], 16)
        self.seed("vllm-a", p2)
        self.seed("vllm-a", p3)
        self.assertEqual(self.lookup(p1), {"vllm-a": [LOC, 16]})
        self.assertEqual(self.lookup(p2), {})
        self.assertEqual(self.stats()["instances"]["vllm-a"]["pinned_chunks"], 2)
        other = dict(pin, location="LocalDiskBackend")
        self.assertEqual(self.call("controller", "/pin", other).json()["num_tokens"], 0)
        resp = self.call("controller", "/pin", dict(pin, instance_id="nope"))
        self.assertEqual(resp.status, 500)
        self.assertIsInstance(resp.json()["detail"], str)

    def test_clear(self):
        p1, p2, p3 = (prompt_tokens(1000 * i, 16) for i in (1, 2, 3))
        self.seed("vllm-a", p1)
        self.seed("vllm-a", p2)
        self.seed("vllm-b", p3)
        self.call("controller", "/pin", {"instance_id": "vllm-a", "location": LOC,
                                         "tokens": p1})
        resp = self.call("controller", "/clear", {"instance_id": "vllm-a", "location": LOC})
        self.assertEqual(resp.json()["num_tokens"], 16)  # pinned p1 survives
        self.assertEqual(self.lookup(p1), {"vllm-a": [LOC, 16]})
        self.assertEqual(self.lookup(p2), {})
        self.assertEqual(self.lookup(p3), {"vllm-b": [LOC, 16]})
        resp = self.call("controller", "/clear", {"instance_id": "vllm-b",
                                                  "location": "LocalDiskBackend"})
        self.assertEqual(resp.json()["num_tokens"], 0)
        self.assertEqual(self.call("controller", "/clear", {"instance_id": "x",
                                                            "location": LOC}).status, 500)

    def test_evict_is_404_unless_enabled(self):
        self.seed("vllm-a", self.T)
        body = {"instance_id": "vllm-a", "tokens": self.T[:16]}
        resp = self.call("controller", "/evict", body)
        self.assertEqual((resp.status, resp.json()), (404, {"detail": "Not Found"}))
        self.ctl("/_emu/config", {"enable_evict": True})
        self.assertEqual(self.call("controller", "/evict", body).json()["num_tokens"], 16)
        self.assertEqual(self.lookup(self.T), {})

    def test_compress(self):
        self.seed("vllm-a", self.T)
        body = {"instance_id": "vllm-a", "location": LOC, "tokens": self.T[:20],
                "method": "cachegen"}
        self.assertEqual(self.call("controller", "/compress", body).json()["num_tokens"], 16)
        self.assertEqual(self.call("controller", "/compress", dict(body, method="zstd"))
                         .json()["num_tokens"], 0)
        self.assertEqual(self.stats()["instances"]["vllm-a"]["compressed_calls"], 1)

    def test_health(self):
        resp = self.call("controller", "/health", {"instance_id": "vllm-b"})
        self.assertEqual(resp.json()["error_codes"], {"0": 0})
        self.assertEqual(self.call("controller", "/health", {"instance_id": "z"}).status, 500)
        resp = self.call("vllm-a", "/health", method="GET")
        self.assertEqual((resp.status, resp.body), (200, b""))


class ControlApiTest(EmulatorTestCase):
    def test_faults(self):
        lookup = {"tokens": [1, 2]}
        self.ctl("/_emu/fault", {"role": "controller", "path": "/lookup", "status": 503,
                                 "body": "boom", "times": 2})
        self.ctl("/_emu/fault", {"role": "controller", "path": "/lookup", "status": 502})
        for _ in range(2):  # the first matching fault wins while it lasts
            resp = self.call("controller", "/lookup", lookup)
            self.assertEqual((resp.status, resp.body), (503, b"boom"))
        self.assertEqual(self.call("controller", "/lookup", lookup).status, 502)
        self.ctl("/_emu/clear_faults")
        self.assertEqual(self.call("controller", "/lookup", lookup).status, 200)

        self.ctl("/_emu/fault", {"role": "*", "garbage": True, "times": 1})
        resp = self.call("vllm-b", "/tokenize", {"prompt": "x"})
        self.assertEqual(resp.status, 200)
        self.assertRaises(ValueError, json.loads, resp.body)

        self.ctl("/_emu/fault", {"role": "vllm-a", "delay_ms": 300, "times": 1})
        t0 = time.monotonic()
        resp = self.call("vllm-a", "/tokenize", {"prompt": "x"})
        self.assertGreaterEqual(time.monotonic() - t0, 0.3)
        self.assertEqual(resp.json()["count"], 2)

        self.ctl("/_emu/fault", {"role": "controller", "path": "/pin", "close": True,
                                 "times": 1})
        with self.assertRaises((http.client.RemoteDisconnected, ConnectionError)):
            self.call("controller", "/pin", {})
        self.assertEqual(self.call("controller", "/pin", {}).status, 422)

        stats = self.stats()
        self.assertEqual(stats["calls"]["controller:/lookup"], 4)  # faulted calls count
        self.assertEqual(stats["faults"], [])
        self.assertIsNone(next(e for e in stats["log"] if e["path"] == "/pin")["status"])
        bad = self.ctl("/_emu/fault", {"role": "nobody"})
        self.assertEqual(bad.status, 400)

    def test_keepalive_connections_are_counted_once(self):
        conn = http.client.HTTPConnection("127.0.0.1", self.ports["vllm-a"], timeout=5)
        for i in range(10):
            conn.request("POST", "/tokenize", json.dumps({"prompt": f"w{i}"}))
            self.assertEqual(conn.getresponse().read()[:9], b'{"count":')
        stats = self.stats()
        self.assertEqual(stats["connections"], {"vllm-a": 1})
        self.assertEqual(stats["calls"], {"vllm-a:/tokenize": 10})
        self.call("vllm-a", "/tokenize", {"prompt": "y"})
        self.assertEqual(self.stats()["connections"], {"vllm-a": 2})
        self.ctl("/_emu/reset")  # a connection that outlives a reset counts again
        conn.request("POST", "/tokenize", json.dumps({"prompt": "z"}))
        conn.getresponse().read()
        conn.close()
        self.assertEqual(self.stats()["connections"], {"vllm-a": 1})

    def test_metrics(self):
        resp = self.call("vllm-a", "/metrics", method="GET")
        lines = resp.body.decode().splitlines()
        declared = {}
        for line in lines:
            if line.startswith("# TYPE "):
                _, _, name, kind = line.split()
                declared[name] = kind
            elif not line.startswith("#"):
                name = line.split("{")[0]
                for suffix in ("_bucket", "_count", "_sum"):
                    base = name[:-len(suffix)]
                    if name.endswith(suffix) and declared.get(base) == "histogram":
                        name = base
                self.assertIn(name, declared, "sample before its # TYPE line")
                self.assertIn(f'model_name="{MODEL}"', line)
        self.assertEqual(declared["vllm:prefix_cache_hits_total"], "counter")
        self.assertEqual(declared["vllm:kv_cache_usage_perc"], "gauge")
        self.assertTrue(any(line.startswith("# HELP vllm:num_requests_waiting ")
                            for line in lines))

        self.ctl("/_emu/instance", {"id": "vllm-a", "capacity_tokens": 160})
        body = {"prompt": " ".join(f"w{i}" for i in range(15))}  # 16 tokens with BOS
        self.call("vllm-a", "/v1/completions", body)
        self.call("vllm-a", "/v1/completions", body)
        m = self.metrics("vllm-a")
        self.assertAlmostEqual(m["vllm:kv_cache_usage_perc"], 0.1)
        self.assertAlmostEqual(m["vllm:gpu_cache_usage_perc"], 0.1)
        self.assertEqual(m["vllm:prefix_cache_queries_total"], 32)
        self.assertEqual(m["vllm:prefix_cache_hits_total"], 16)
        # What a router learns a prefill rate from: tokens and the wall-clock
        # seconds of the prefills (and the time to first token) per request.
        self.assertEqual(m["vllm:prompt_tokens_total"], 32)
        self.assertEqual(m["vllm:request_prefill_time_seconds_count"], 2)
        self.assertEqual(m["vllm:time_to_first_token_seconds_count"], 2)
        self.assertGreaterEqual(m["vllm:time_to_first_token_seconds_sum"],
                                m["vllm:request_prefill_time_seconds_sum"])
        self.ctl("/_emu/instance", {"id": "vllm-a", "kv_cache_usage": 0.9, "running": 3,
                                    "waiting": 2})
        m = self.metrics("vllm-a")
        self.assertEqual((m["vllm:kv_cache_usage_perc"], m["vllm:num_requests_running"],
                          m["vllm:num_requests_waiting"]), (0.9, 3, 2))
        self.ctl("/_emu/instance", {"id": "vllm-a", "kv_cache_usage": None})
        self.assertAlmostEqual(self.metrics("vllm-a")["vllm:kv_cache_usage_perc"], 0.1)

    def test_call_log(self):
        pin = {"instance_id": "vllm-a", "location": LOC, "tokens": [1, 2, 3]}
        self.call("controller", "/pin", pin)
        self.call("controller", "/lookup", {"tokens": [1, 2, 3, 4]})
        log = self.stats()["log"]
        self.assertEqual([(e["role"], e["path"], e["status"]) for e in log],
                         [("controller", "/pin", 200), ("controller", "/lookup", 200)])
        self.assertEqual(log[0]["body"], pin)
        self.assertEqual(log[1]["body"], {"tokens_len": 4})

    def test_seed_body_and_reset(self):
        body = chat("seeded system prompt", "question")
        n = len(self.tokens(body))
        resp = self.ctl("/_emu/seed", {"instance": "vllm-b", "body": body})
        self.assertEqual(resp.json(), {"tokens": n, "cached_tokens": 0})
        self.assertEqual(self.lookup(self.tokens(body)), {"vllm-b": [LOC, n]})
        self.assertEqual(self.stats()["calls"], {"controller:/lookup": 1})
        self.assertEqual(self.ctl("/_emu/seed", {"instance": "zz", "tokens": []}).status, 404)

        initial = self.stats()["config"]
        self.ctl("/_emu/config", {"layout_form": "object", "enable_evict": True,
                                  "time_scale": 0.5})
        self.ctl("/_emu/fault", {"role": "*", "status": 500})
        self.ctl("/_emu/instance", {"id": "vllm-b", "delay_ms": 50})
        self.ctl("/_emu/reset")
        stats = self.stats()
        self.assertEqual(stats["config"], initial)
        self.assertEqual(stats["faults"], [])
        self.assertEqual(stats["instances"]["vllm-b"]["overrides"], {})
        self.assertEqual(stats["instances"]["vllm-b"]["used_tokens"], 0)
        self.assertEqual(self.lookup(self.tokens(body)), {})
        self.assertEqual(self.ctl("/_emu/config", {"layout_form": "tree"}).status, 400)

    def test_match_reports_exact_prefixes_without_side_effects(self):
        t = prompt_tokens(100, 40)
        self.seed("vllm-a", t[:20])  # registered first: /lookup credits it
        self.seed("vllm-b", t)
        resp = self.ctl("/_emu/match", {"tokens": t})
        self.assertEqual(resp.status, 200, resp.body)
        idle = {"running": 0, "waiting": 0}
        self.assertEqual(resp.json(), {"prompt_tokens": 40, "instances": {
            "vllm-a": {"cached_tokens": 16, **idle},
            "vllm-b": {"cached_tokens": 40, **idle}}})
        body = chat("matched by body", "question")
        self.seed("vllm-a", self.tokens(body))
        found = self.ctl("/_emu/match", {"body": body}).json()
        self.assertEqual(found["instances"]["vllm-a"]["cached_tokens"],
                         found["prompt_tokens"])
        self.assertEqual(found["instances"]["vllm-b"]["cached_tokens"], 0)
        self.assertEqual(self.stats()["calls"], {})
        self.assertEqual(self.ctl("/_emu/match", {}).status, 400)
        self.assertEqual(self.ctl("/_emu/match", {"tokens": "x"}).status, 400)


class CommandLineTest(unittest.TestCase):
    def test_options_log_file_and_sigterm(self):
        with tempfile.TemporaryDirectory() as tmp:
            log = os.path.join(tmp, "access.log")
            emulator = emu.Emulator(tmp, "emulator", emu.EmulatorOptions(
                instances=("x", "y"), layout_form="object", enable_evict=True,
                log_file=log))
            try:
                self.assertEqual(emulator.ready_info["pid"], emulator.popen.pid)
                self.assertEqual(set(emulator.ports), {"controller", "x", "y"})
                controller = emulator.ports["controller"]
                seed = {"instance": "y", "tokens": list(range(300))}
                client.request(controller, "POST", "/_emu/seed", seed)
                resp = client.request(controller, "POST", "/lookup",
                                      {"tokens": list(range(600))})
                self.assertEqual(resp.json()["layout_info"], {"y": {"0": LOC, "1": 256}})
                resp = client.request(controller, "POST", "/evict",
                                      {"instance_id": "y", "tokens": list(range(300))})
                self.assertEqual(resp.json()["num_tokens"], 300)
            finally:
                # SIGTERM ends it cleanly, within the 5 s before a SIGKILL.
                self.assertEqual(emulator.stop(timeout=5), 0)
            with open(log) as f:
                self.assertIn("controller POST /lookup 200", f.read())

    def test_bad_arguments(self):
        result = subprocess.run([sys.executable, paths.EMULATOR, "--controller-port", "0",
                                 "--instances", "a=0,a=0"], capture_output=True)
        self.assertEqual(result.returncode, 2)
        self.assertIn(b"duplicate instance id", result.stderr)


if __name__ == "__main__":
    unittest.main()
