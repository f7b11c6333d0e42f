#!/usr/bin/python3
# Licensed under the Apache License, Version 2.0 (the "License"); you may not
# use this file except in compliance with the License.  You may obtain a copy
# of the License at http://www.apache.org/licenses/LICENSE-2.0
"""Fault soak (issue #7): sustained load through httpd + mod_kvcache while faults
are injected in turn; prints a report and exits 1 if a goal is missed.

Starts the emulator (three vLLM instances and the LMCache controller), a TCP
relay in front of the controller and httpd with mod_kvcache on loopback, in a
run directory /tmp/kvcache-soak.*, removed afterwards unless a goal was
missed or --keep is given.  tools/soak.sh builds the module and runs this as
an unprivileged user (through tools/soak-run.sh); standard library only.

  soak.py [--seconds 75] [--threads 12] [--seed 7] [--phases LIST]
          [--port PORT] [--relay-port PORT] [--log-level LEVEL] [--keep]
  soak.py --relay-serve LISTEN_PORT:TARGET_PORT      (the relay process itself)

The module's KVCacheLMCacheEndpoint is not the emulator's controller port but
the relay, which the ctl-refused phase kills (port closed, pooled connections
cut, as when the controller process dies) and starts again, so that routing
stays real in every other phase.  Its port and httpd's are free ones below the
kernel's ephemeral range (procs.free_ports), so that no outgoing connection
takes the relay's while it is down.

Load: --threads client threads send, back to back, a mix of chat and completion
bodies (conversation turns that extend each other, ~100 KB documents, bodies over
the soak locations' KVCacheMaxBodySize of 256K, repeated prompts for token-cache hits
and hot-prompt pins, streamed answers, invalid JSON of many kinds, a few GETs), a
quarter of them uploaded with Transfer-Encoding: chunked, to three locations: /v1/
(the demo's defaults), /soak/v1/ (pinning, compression and /clear on) and /soakc/v1/
(the same, streamed chunked to the backend, Pixiu's /evict).  Even threads keep
their connection alive, odd threads open a new connection per request.

Keep-alive race: httpd closes idle keep-alive connections: after KeepAliveTimeout,
in every old child during a graceful restart, and whenever all its worker threads
are busy (mpm_event: "All workers are busy or dying, will shutdown N keep-alive
connections", which the warm-up burst provokes on purpose).  Before
reusing a connection the client polls it and replaces it when the server has
already closed it ("stale"); if the server closes it in the instant between that
check and the arrival of the request, the send fails or no status line ever
comes.  Such an error on a reused connection, with not one byte of response, is a
client-side race ("keep-alive race", counted apart and retried once on a new
connection), not a failure of the module; the same error on a new connection, or
once part of a response has arrived, is a transport error and a missed goal.

Phases, in order (the warm-up ~12% of SECONDS, after a burst described below;
ctl-garbage two shares of the rest, every other phase one):
  warmup       first a burst (as many clients as httpd has worker threads, each with
               the largest bodies, so that every thread reaches its memory high-water
               mark), then normal traffic; RSS baseline at its end
  normal       normal traffic
  ctl-hung     every controller call held 5 s (the soak's KVCacheLookupTimeout is
               250 ms, the management calls' KVCacheRequestTimeout 2 s)
  ctl-5xx      the controller answers 500, 502, 503 or 504 (rotating)
  ctl-garbage  the controller answers 200 with non-JSON, truncated JSON, wrong types,
               negative, huge or fractional counts, duplicate or NUL-bearing ids,
               deep nesting, a 2 MB body (in turn: 0.25 s each, then 0.5 s healthy)
  ctl-refused  the relay in front of the controller is killed (port closed, pooled
               connections cut, as when the controller process dies), then restarted
  tok-down     vLLM /tokenize answers 500 or drops the connection (rotating)
  unknown-ids  /lookup names instances that are no BalancerMember (alone, or next to
               a real one), in both layout forms
  member-off   vllm-b disabled through balancer-manager (nonce from the page, then
               w_status_D=1), re-enabled at 3/4 of the phase
  graceful     `httpd -k graceful` at 1/4 of the phase; waits for the new children
  recovery     normal traffic; final RSS at its end
Not in the default sequence (--phases, KVC_SOAK_PHASES):
  ctl-oversized  /lookup answers a 2 MB body (over the module's 1 MB cap) for 0.25 s,
               then 0.5 s of health, in turn: each such answer leaves the worker
               thread that read it holding several MB (allocator high-water), so
               RSS climbs; ctl-garbage serves that answer only twice per turn
From the start, /_emu/instance overrides make vllm-b look loaded (running 6 of
KVCacheInstanceCapacity 10 >= KVCacheLoadThreshold 0.5: /compress) and vllm-c's
memory full (0.95 >= KVCacheMemoryThreshold 0.9: /clear, /evict), so the background
action path runs, and is faulted, all along.

Goals (exit 1 if one is missed): no 5xx caused by the module (any 5xx that does not
carry the emulator backend's X-Kvemu-Served-By), no other status from httpd itself,
no body altered (X-Kvemu-Body-Sha256, the hash of the bytes the backend received,
equals the hash of the bytes sent; the JSON answer's kvemu.body_sha256 too), no
answer without that proof or cut short, no transport error but keep-alive races, no
child crash ("exit signal" in the error log), flat RSS (sum of VmRSS over the parent
and children), no request that started after the disable took effect and ended
before the re-enable served by the disabled member, and every fault took effect
(each faulted phase shows the fallback decisions it must cause).
"""

import argparse
import collections
import hashlib
import http.client
import json
import os
import random
import re
import select
import shutil
import signal
import socket
import string
import sys
import tempfile
import threading
import time
import urllib.parse

from kvcharness import client, emu, httpdconf, procs, report, vocab, workloads

MODEL = "soak-model"
MEMBERS = ("vllm-a", "vllm-b", "vllm-c")
CHILDREN, THREADS_PER_CHILD = 2, 16  # httpd's; the warm-up burst fills every thread
LOCATIONS = (("/v1/", 2), ("/soak/v1/", 5), ("/soakc/v1/", 3))
CAPPED_LOCATIONS = ("/soak/v1/", "/soakc/v1/")  # KVCacheMaxBodySize 256K there
DISABLED_MEMBER = "vllm-b"
FALLBACK_GOALS = {  # phase -> fallback reasons of which at least one must be seen
    "ctl-hung": ("lookup-timeout", "lookup-breaker-open"),
    "ctl-5xx": ("lookup-error", "lookup-breaker-open"),
    "ctl-garbage": ("lookup-error", "lookup-breaker-open"),
    "ctl-refused": ("lookup-error", "lookup-breaker-open"),
    "ctl-oversized": ("lookup-error", "lookup-breaker-open"),
    "tok-down": ("tokenize-error", "tokenize-breaker-open"),
    "unknown-ids": ("unknown-instance",),
}
RSS_TOLERANCE_KB = 8 * 1024  # growth allowed on top of 10% of the baseline
PHASES = ("normal,ctl-hung,ctl-5xx,ctl-garbage:2,ctl-refused,tok-down,unknown-ids,"
          "member-off,graceful,recovery")
KNOWN_PHASES = {"normal", "ctl-hung", "ctl-5xx", "ctl-garbage", "ctl-refused", "tok-down",
                "unknown-ids", "member-off", "graceful", "recovery", "ctl-oversized"}


def base(label):
    """The phase a label names: ctl-garbage.2 -> ctl-garbage."""
    return label.split(".", 1)[0]


# ---------------------------------------------------------------- relay process

def relay_serve(listen_port, target_port):
    """A TCP relay in front of the controller; SIGTERM ends it at once (every
    socket closed by the kernel, as when the controller process dies)."""
    signal.signal(signal.SIGTERM, lambda *_: os._exit(0))
    parent = os.getppid()

    def orphan_watch():
        while os.getppid() == parent:
            time.sleep(0.5)
        os._exit(0)

    def pump(src, dst):
        try:
            while True:
                data = src.recv(65536)
                if not data:
                    break
                dst.sendall(data)
        except OSError:
            pass
        try:
            dst.shutdown(socket.SHUT_WR)
        except OSError:
            pass

    def serve(downstream):
        try:
            upstream = socket.create_connection((client.LOOPBACK, target_port), timeout=5)
        except OSError:
            downstream.close()
            return
        upstream.settimeout(None)
        for s in (downstream, upstream):
            s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        back = threading.Thread(target=pump, args=(upstream, downstream), daemon=True)
        back.start()
        pump(downstream, upstream)
        back.join()
        downstream.close()
        upstream.close()

    threading.Thread(target=orphan_watch, daemon=True).start()
    listener = socket.socket()
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind((client.LOOPBACK, listen_port))
    listener.listen(512)
    while True:
        downstream, _ = listener.accept()
        threading.Thread(target=serve, args=(downstream,), daemon=True).start()


class Relay:
    """The relay process (relay_serve) in front of the controller, which the
    ctl-refused phase stops and starts again."""

    def __init__(self, run_dir, listen, target):
        self.run_dir, self.listen, self.target = run_dir, listen, target
        self.process = None

    def start(self):
        self.process = procs.Process(
            "controller relay",
            [sys.executable, os.path.abspath(__file__), "--relay-serve",
             f"{self.listen}:{self.target}"],
            os.path.join(self.run_dir, "relay.out"))
        self.process.wait_ready(lambda: procs.listening(self.listen), timeout=10)

    def stop(self):
        if self.process is not None:
            self.process.stop()
            self.process = None


# ---------------------------------------------------------------- request mix

class Corpus:
    """Read-only texts shared by every thread (built once, deterministic)."""

    def __init__(self, seed):
        rng = random.Random(seed)
        self.vocab = ["".join(rng.choices(string.ascii_lowercase, k=rng.randint(2, 9)))
                      for _ in range(5000)]
        self.systems = [self.text(rng, 1200) for _ in range(4)]           # ~8 KB
        self.docs = [self.text(rng, 14500) for _ in range(3)]             # ~100 KB
        self.huge = [self.text(rng, 52000) for _ in range(2)]             # ~360 KB
        self.repeated = []                                                # exact bytes
        for i in range(40):
            if i % 2:
                body = {"model": MODEL, "max_tokens": 16,
                        "prompt": self.systems[i % 4] + " " + self.text(rng, 200)}
                self.repeated.append(("completions", json.dumps(body).encode()))
            else:
                body = {"model": MODEL, "max_tokens": 16, "messages": [
                    workloads.message("system", self.systems[i % 4]),
                    workloads.message("user", self.text(rng, 150))]}
                self.repeated.append(("chat/completions", json.dumps(body).encode()))

    def text(self, rng, n):
        return " ".join(rng.choices(self.vocab, k=n))


def invalid_bodies(rng, corpus):
    """(content type, extra headers, body) that mod_kvcache must pass untouched."""
    good = json.dumps({"model": MODEL, "prompt": corpus.text(rng, 300)}).encode()
    cases = [
        ("application/json", {}, good[:rng.randrange(1, len(good) - 1)]),  # truncated
        ("application/json", {}, good + b" trailing garbage"),
        ("application/json", {}, b'{"model": "m", "prompt": "caf\xe9 \xff\xfe bad utf-8"}'),
        ("application/json", {}, b""),
        ("application/json", {}, b"[1, 2, 3]"),
        ("application/json", {}, b'{"model": "soak-model", "max_tokens": 3}'),
        ("application/json", {}, b'{"model": "soak-model", "prompt": 12345}'),
        ("application/json", {}, b'{"model": "soak-model", "messages": "not a list"}'),
        ("application/json", {}, b'{"messages": [{"role": "user"}], "prompt": null}'),
        ("application/json", {}, b"[" * 5000 + b"]" * 5000),
        ("application/json", {}, b'{"prompt": "x", "max_tokens": 1e999999}'),
        ("application/json", {}, b'{"prompt": "a\\u0000b\\ud800 lone surrogate"}'),
        ("text/plain", {}, good),
        ("application/json", {"Content-Encoding": "gzip"}, os.urandom(200)),
        ("application/x-www-form-urlencoded", {}, b"a=1&b=2"),
    ]
    return rng.choice(cases)


class Mix:
    """Builds one request at a time for one thread."""

    KINDS = (("chat", 30), ("completion", 12), ("repeat", 20), ("large-chat", 6),
             ("large-completion", 4), ("over-cap", 3), ("stream", 5), ("invalid", 8),
             ("get", 2))

    def __init__(self, corpus, rng):
        self.corpus = corpus
        self.rng = rng
        self.chats = [None, None]  # workloads.Conversation
        self.kinds = [k for k, _ in self.KINDS]
        self.kind_weights = [w for _, w in self.KINDS]

    def location(self, capped=False):
        if capped:
            return self.rng.choice(CAPPED_LOCATIONS)
        return self.rng.choices([l for l, _ in LOCATIONS], [w for _, w in LOCATIONS])[0]

    def conversation(self):
        """The next turn of one of this thread's conversations (turn N's prompt is
        a prefix of turn N+1's)."""
        rng, c = self.rng, self.corpus
        i = rng.randrange(len(self.chats))
        if self.chats[i] is None or len(self.chats[i].history) > 12:
            self.chats[i] = workloads.Conversation(rng.choice(c.systems), c.text(rng, 300))
        messages = self.chats[i].ask(c.text(rng, rng.randint(10, 60)))
        self.chats[i].answer(c.text(rng, 30))
        return messages

    def next(self, kind=None):
        """-> dict(kind, method, path, headers, body, chunked)."""
        rng, c = self.rng, self.corpus
        kind = kind or rng.choices(self.kinds, self.kind_weights)[0]
        headers = {"Content-Type": "application/json"}
        capped = False
        if kind == "get":
            return {"kind": kind, "method": "GET", "path": self.location() + "models",
                    "headers": {}, "body": None, "chunked": False}
        if kind == "chat":
            endpoint = "chat/completions"
            body = {"model": MODEL, "max_tokens": 16, "messages": self.conversation()}
        elif kind == "stream":
            endpoint = "chat/completions"
            body = {"model": MODEL, "stream": True, "messages": self.conversation()}
        elif kind == "completion":
            endpoint = "completions"
            body = {"model": MODEL, "prompt": rng.choice(c.systems) + " "
                    + c.text(rng, rng.randint(20, 400))}
        elif kind == "repeat":
            endpoint, data = rng.choice(c.repeated)
        elif kind in ("large-chat", "large-completion", "over-cap"):
            doc = rng.choice(c.huge if kind == "over-cap" else c.docs)
            capped = kind == "over-cap"
            question = c.text(rng, 30)
            if kind == "large-completion" or (kind == "over-cap" and rng.random() < 0.5):
                endpoint = "completions"
                body = {"model": MODEL, "prompt": doc + " " + question}
            else:
                endpoint = "chat/completions"
                body = {"model": MODEL, "messages": [workloads.message("system", doc),
                                                     workloads.message("user", question)]}
        else:  # invalid
            endpoint = rng.choice(("completions", "chat/completions"))
            ctype, extra, data = invalid_bodies(rng, c)
            headers = {"Content-Type": ctype, **extra}
        if kind not in ("repeat", "invalid"):
            data = json.dumps(body).encode()
        chunked = rng.random() < 0.25 and len(data) > 0
        return {"kind": kind, "method": "POST", "path": self.location(capped) + endpoint,
                "headers": headers, "body": data, "chunked": chunked}

    def chunks(self, data):
        """Random chunk sizes, from 1 byte to 64 KB."""
        out, pos = [], 0
        while pos < len(data):
            size = self.rng.choice((1, 7, 100, 1000, 4096, 16384, 65536))
            out.append(data[pos:pos + size])
            pos += size
        return out


# ---------------------------------------------------------------- load threads

RACE_ERRORS = (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError,
               ConnectionAbortedError)


class Stats:
    def __init__(self):
        self.lock = threading.Lock()
        self.count = collections.defaultdict(collections.Counter)  # phase -> key -> n
        self.latency = collections.defaultdict(list)                # phase -> seconds
        self.samples = collections.defaultdict(list)                # problems, by kind
        self.member_off = []  # (start, end, served_by) during member-off

    def add(self, phase, keys, latency=None):
        with self.lock:
            for key in keys:
                self.count[phase][key] += 1
            if latency is not None:
                self.latency[phase].append(latency)

    def sample(self, what, detail):
        with self.lock:
            if len(self.samples[what]) < 5:
                self.samples[what].append(detail)


class Worker(threading.Thread):
    """One load thread.  It speaks http.client itself, not client.Connection,
    because it must see and count the keep-alive races that Connection
    would quietly retry."""

    def __init__(self, index, soak, burst=None):
        super().__init__(name=f"load-{index}", daemon=True)
        self.soak = soak
        self.burst = burst  # kinds to send, then stop (the warm-up burst)
        self.keepalive = index % 2 == 0
        self.mix = Mix(soak.corpus, random.Random(soak.args.seed * 1000 + index))
        self.conn = None
        self.used = 0  # requests completed on self.conn

    def connection(self):
        """-> (connection, reused?)."""
        if self.conn is not None and self.used and self.conn.sock is not None:
            readable, _, _ = select.select([self.conn.sock], [], [], 0)
            if readable:  # closed by the server (or stray bytes): do not reuse
                self.soak.stats.add(self.soak.phase, ["stale keep-alive replaced"])
                self.drop()
        if self.conn is None or self.conn.sock is None:
            self.drop()
            self.conn = http.client.HTTPConnection(client.LOOPBACK, self.soak.httpd.port,
                                                   timeout=30)
            self.conn.connect()
            self.used = 0
        return self.conn, self.used > 0

    def drop(self):
        if self.conn is not None:
            self.conn.close()
        self.conn = None
        self.used = 0

    def run(self):
        try:
            self.loop()
        except Exception as exc:  # noqa: BLE001 - a client bug must not go unseen
            self.soak.harness_errors.append(f"{self.name}: {exc!r}")
            raise

    def loop(self):
        soak = self.soak
        if self.burst:
            soak.burst_barrier.wait()
        while not soak.stop.is_set():
            if self.burst is not None:
                if not self.burst:
                    return
                spec = self.mix.next(self.burst.pop())
            else:
                spec = self.mix.next()
            phase = soak.phase
            retried = False
            while True:
                outcome = self.send(spec, phase)
                if outcome == "race" and not retried:
                    retried = True
                    continue
                break

    def send(self, spec, phase):
        stats = self.soak.stats
        headers = dict(spec["headers"])
        if not self.keepalive:
            headers["Connection"] = "close"
        body = spec["body"]
        stage, reused = "connect", False
        started = time.monotonic()
        wall_start = time.time()
        try:
            conn, reused = self.connection()
            stage = "send"
            if spec["chunked"]:
                headers["Transfer-Encoding"] = "chunked"
                conn.request(spec["method"], spec["path"], iter(self.mix.chunks(body)),
                             headers, encode_chunked=True)
            else:
                conn.request(spec["method"], spec["path"], body, headers)
            stage = "status"
            res = conn.getresponse()
            stage = "body"
            data = res.read()
        except (OSError, http.client.HTTPException) as exc:
            self.drop()
            if reused and stage in ("send", "status") and isinstance(exc, RACE_ERRORS):
                stats.add(phase, ["sent", "keep-alive race"])
                stats.sample("keep-alive race", f"{phase} {self.name} {spec['path']} "
                             f"{stage}: {exc!r}")
                return "race"
            key = f"transport error ({'reused' if reused else 'new'} connection)"
            stats.add(phase, ["sent", key, "transport error"])
            stats.sample("transport error", f"{phase} {spec['kind']} {spec['path']} "
                         f"chunked={spec['chunked']} reused={reused} stage={stage}: "
                         f"{exc!r}")
            return "error"
        latency = time.monotonic() - started
        self.used += 1
        if res.will_close:
            self.drop()
        self.check(spec, phase, res, data, latency, wall_start)
        return "ok"

    def check(self, spec, phase, res, data, latency, wall_start):
        stats = self.soak.stats
        served_by = res.headers.get(vocab.SERVED_BY_HEADER)
        decision = res.headers.get(vocab.DECISION_HEADER) or "(none)"
        keys = ["sent", f"status {res.status}", f"decision {decision}",
                f"kind {spec['kind']}", f"kd {spec['kind']}|{decision}",
                "location " + spec["path"][:spec["path"].index("v1/") + 3],
                f"connection {'kept alive' if self.keepalive else 'new per request'}"]
        if spec["chunked"]:
            keys.append("upload chunked")
        if served_by:
            keys.append(f"served {served_by}")
        problem = None
        if res.status >= 500 and not served_by:
            problem = "module 5xx"
        elif res.status != 200 and not served_by:
            problem = "httpd non-5xx error"
        elif spec["method"] == "POST" and res.status == 200:
            want = hashlib.sha256(spec["body"]).hexdigest()
            got = res.headers.get(vocab.BODY_SHA256_HEADER)
            if got is None:
                problem = "unverified answer"
            elif got != want:
                problem = "body altered"
            elif res.headers.get_content_type() == "text/event-stream":
                if not data.endswith(b"data: [DONE]\n\n"):
                    problem = "answer cut short"
            else:
                try:
                    if json.loads(data)["kvemu"]["body_sha256"] != want:
                        problem = "body altered"
                except (ValueError, KeyError, TypeError):
                    problem = "answer cut short"
        if problem:
            keys.append(problem)
            stats.sample(problem, f"{phase} {spec['kind']} {spec['path']} "
                         f"chunked={spec['chunked']} bytes={len(spec['body'] or b'')} "
                         f"status={res.status} decision={decision} "
                         f"served_by={served_by} body={data[:200]!r}")
        stats.add(phase, keys, latency)
        if base(phase) == "member-off" and served_by:
            with stats.lock:
                stats.member_off.append((wall_start, time.time(), served_by,
                                         spec["path"], decision))


# ---------------------------------------------------------------- httpd observations

def proc_status(pid):
    fields = {}
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                name, _, value = line.partition(":")
                fields[name] = value.strip()
    except OSError:
        return None
    return fields


def kb(value):
    return int(value.split()[0]) if value else 0


def rss(httpd):
    """Sums over parent + children: VmRSS, RssAnon, RssShmem, Pss (KB)."""
    total = collections.Counter()
    for pid in httpd.pids():
        st = proc_status(pid)
        if not st:
            continue
        total["processes"] += 1
        for name in ("VmRSS", "RssAnon", "RssFile", "RssShmem"):
            total[name] += kb(st.get(name))
        try:
            with open(f"/proc/{pid}/smaps_rollup") as f:
                for line in f:
                    if line.startswith("Pss:"):
                        total["Pss"] += kb(line.split(":", 1)[1])
        except OSError:
            pass
    return total


def manager_page(port):
    """The Referer the balancer-manager's forms need: the page itself."""
    return f"http://{client.LOOPBACK}:{port}/balancer-manager"


def manager_rows(port):
    """{route: (worker URL, status text, nonce)} of balancer llm, read from the
    balancer-manager page (one <tr> per member)."""
    response = client.request(port, "GET", "/balancer-manager",
                              headers={"Referer": manager_page(port)})
    if response.status != 200:
        raise client.HTTPError("balancer-manager", response)
    rows = {}
    for row in re.findall(r"<tr>(.*?)</tr>", response.body.decode("utf-8", "replace"),
                          re.S):
        link = re.search(r"[?&]b=llm&(?:amp;)?w=([^&'\"]+)&(?:amp;)?nonce=([0-9a-f-]+)",
                         row)
        if link:
            cells = [re.sub(r"<[^>]*>", "", c).strip()
                     for c in re.findall(r"<td>(.*?)</td>", row, re.S)]
            # Worker URL, Route, RouteRedir, Factor, Set, Status, ...
            rows[cells[1]] = (urllib.parse.unquote(link.group(1)), cells[5],
                              link.group(2))
    return rows


def balancer_manager(port, member, disable):
    """Sets or clears the Disabled flag of `member` in balancer llm the way the
    balancer-manager page does: the nonce from the page, then a POST of the worker
    form (w_status_D) with the page as Referer (httpd ignores the parameters of a
    request without one, AH10187).  Returns the member's status text afterwards."""
    rows = manager_rows(port)
    if member not in rows:
        raise RuntimeError(f"balancer-manager page: no member {member}: {rows}")
    worker, _, nonce = rows[member]
    form = urllib.parse.urlencode({"w": worker, "b": "llm", "nonce": nonce,
                                   "w_status_D": "1" if disable else "0"}).encode()
    response = client.request(port, "POST", "/balancer-manager", form, {
        "Content-Type": "application/x-www-form-urlencoded",
        "Referer": manager_page(port)})
    if response.status != 200:
        raise client.HTTPError("balancer-manager POST", response)
    return manager_rows(port)[member][1]


def kvcache_status(port):
    """The module's /kvcache-status counters, or None while httpd does not answer."""
    try:
        response = client.request(port, "GET", "/kvcache-status", timeout=10)
        return response.json() if response.status == 200 else None
    except (OSError, ValueError, http.client.HTTPException):
        return None


def flatten(value, prefix=""):
    """{'a': {'b': 1}} -> {'a.b': 1}; latency histograms left out."""
    out = {}
    if isinstance(value, dict):
        for k, v in value.items():
            if k in ("latency_seconds",):
                continue
            out.update(flatten(v, f"{prefix}{k}."))
    else:
        out[prefix[:-1]] = value
    return out


def error_log_summary(path, start_offset):
    """(crash lines, Counter of normalized messages) of the log after start_offset."""
    crashes, kinds = [], collections.Counter()
    try:
        with open(path, "rb") as f:
            f.seek(start_offset)
            text = f.read().decode("utf-8", "replace")
    except OSError:
        return crashes, kinds
    for line in text.splitlines():
        if "exit signal" in line:
            crashes.append(line)
        msg = re.sub(r"^\[[^\]]*\] ", "", line)                 # timestamp
        msg = re.sub(r"\[pid \d+(:tid \d+)?\] ", "", msg)
        msg = re.sub(r"\[client [^\]]*\] ", "", msg)
        msg = re.sub(r"\b\d+(\.\d+)?\b", "N", msg)
        msg = re.sub(r"[0-9a-f]{16,}", "H", msg)
        kinds[msg[:160]] += 1
    return crashes, kinds


# ---------------------------------------------------------------- the soak

class Soak:
    """The load, the phases and the report, against a running httpd and
    emulator; the relay it starts itself."""

    def __init__(self, args, httpd, emulator, relay):
        self.args = args
        self.httpd = httpd
        self.emulator = emulator
        self.emu = emulator.control
        self.relay = relay
        self.corpus = Corpus(args.seed)
        self.stats = Stats()
        self.stop = threading.Event()
        self.phase = "warmup"
        self.rss = {}        # phase -> rss() at its end
        self.goals_extra = []  # (goal, ok, detail)
        self.status_pre_restart = None
        self.snapshots = {}  # phase -> flattened kvcache-status at its end
        self.member_window = None
        self.restart_seconds = None
        self.graceful_started = False
        self.harness_errors = []

    def safely(self, phase, fn, *args):
        """Runs a phase step; a failure is reported (a missed goal), not fatal."""
        try:
            fn(*args)
        except Exception as exc:  # noqa: BLE001 - any harness failure is reported
            self.harness_errors.append(f"{phase} {fn.__name__}: {exc!r}")
            self.log(f"HARNESS ERROR in {phase} {fn.__name__}: {exc!r}")

    def log(self, text):
        print(f"   [{time.strftime('%H:%M:%S')}] {text}", flush=True)

    # -- phases: enter, tick every 0.25 s (rotating faults), leave

    def phase_plan(self):
        """[(label, length)]: the warm-up, then --phases (NAME[:SHARE], comma-separated;
        a repeated NAME is labelled NAME.2, NAME.3...) sharing the rest of --seconds."""
        total = self.args.seconds
        warm = max(2.0, 0.12 * total)
        weights, seen = [], collections.Counter()
        for item in self.args.phases.split(","):
            name, _, share = item.strip().partition(":")
            seen[name] += 1
            label = name if seen[name] == 1 else f"{name}.{seen[name]}"
            weights.append((label, float(share or 1)))
        unit = (total - warm) / sum(w for _, w in weights)
        return [("warmup", warm)] + [(n, w * unit) for n, w in weights]

    def rotate(self, items, tick, period_ticks=2):
        return items[(tick // period_ticks) % len(items)]

    def enter(self, name, length):
        name = base(name)
        if name == "ctl-hung":
            self.set_fault(role=vocab.CONTROLLER, delay_ms=5000)
        elif name == "ctl-refused":
            self.relay.stop()
        elif name == "member-off":
            state = balancer_manager(self.httpd.port, DISABLED_MEMBER, True)
            self.member_window = [time.time(), None, "Dis" in state.split()]
            self.log(f"balancer-manager: {DISABLED_MEMBER} disabled, status "
                     f"{state!r}")

    def tick(self, name, tick, elapsed, length):
        name = base(name)
        if name == "ctl-5xx" and tick % 2 == 0:
            status = self.rotate([500, 502, 503, 504], tick)
            self.set_fault(role=vocab.CONTROLLER, status=status,
                      body="" if status == 502 else '{"detail":"injected"}')
        elif name == "ctl-garbage" and tick % 3 == 0:
            # 0.25 s of one odd answer, then 0.5 s of health, so that the lookup
            # breaker (KVCacheCircuitBreaker 5 500ms 2) closes again and the next
            # odd answer meets requests rather than an open breaker.
            body = GARBAGE[(tick // 3) % len(GARBAGE)]
            # The oversized answer only twice: each one leaves the worker thread
            # that read it holding several MB more (see ctl-oversized).
            self.set_fault(role=vocab.CONTROLLER, status=200, body=body,
                      **({"times": 2} if body is OVERSIZED else {}))
        elif name == "ctl-oversized" and tick % 3 == 0:
            self.set_fault(role=vocab.CONTROLLER, path="/lookup", status=200, body=OVERSIZED)
        elif name in ("ctl-garbage", "ctl-oversized") and tick % 3 == 1:
            self.emu.clear_faults()
        elif name == "tok-down" and tick % 2 == 0:
            if self.rotate([0, 1], tick):
                self.set_fault(role="vllm-a", path="/tokenize", close=True)
            else:
                self.set_fault(role="vllm-a", path="/tokenize", status=500,
                          body='{"error":{"message":"injected","code":500}}')
        elif name == "unknown-ids" and tick % 2 == 0:
            self.emu.config(lookup_override=self.rotate(GHOSTS, tick))
        elif name == "member-off" and self.member_window \
                and self.member_window[1] is None and elapsed >= 0.75 * length:
            self.member_window[1] = time.time()
            state = balancer_manager(self.httpd.port, DISABLED_MEMBER, False)
            self.log(f"balancer-manager: {DISABLED_MEMBER} re-enabled, status "
                     f"{state!r}")
            self.goals_extra.append(("member re-enabled (status no longer Dis)",
                                     "Dis" not in state.split(), state))
        elif name == "graceful" and not self.graceful_started \
                and elapsed >= 0.25 * length:
            self.graceful_started = True
            self.graceful()

    def leave(self, name):
        name = base(name)
        if name == "ctl-refused":
            self.relay.start()
        elif name == "member-off" and self.member_window \
                and self.member_window[1] is None:
            self.member_window[1] = time.time()
            balancer_manager(self.httpd.port, DISABLED_MEMBER, False)
        self.heal()

    def set_fault(self, **spec):
        """The one fault in force from now on."""
        self.emu.clear_faults()
        self.emu.fault(**spec)

    def heal(self):
        """No fault, and /lookup answers from the cache index again."""
        self.emu.clear_faults()
        self.emu.config(lookup_override=None)

    def graceful(self):
        self.status_pre_restart = kvcache_status(self.httpd.port)
        old = set(self.httpd.children())
        started = time.monotonic()
        self.httpd.graceful()
        deadline = started + 30
        while time.monotonic() < deadline:
            now = set(self.httpd.children())
            if now and not (now & old) and len(now) == CHILDREN \
                    and kvcache_status(self.httpd.port) is not None:
                break
            time.sleep(0.1)
        else:
            raise RuntimeError("the new generation did not replace the old children")
        self.restart_seconds = time.monotonic() - started
        self.log(f"graceful restart: children {sorted(old)} -> {sorted(now)} in "
                 f"{self.restart_seconds:.1f} s")

    def run(self):
        args = self.args
        deadline = time.monotonic() + 20
        while kvcache_status(self.httpd.port) is None:
            if time.monotonic() > deadline:
                raise RuntimeError("httpd does not answer /kvcache-status")
            time.sleep(0.1)
        self.relay.start()
        self.emu.reset()
        # Background actions all along: vllm-b loaded (compress), vllm-c full (clear).
        self.emu.instance("vllm-b", running=6)
        self.emu.instance("vllm-c", kv_cache_usage=0.95)
        try:
            log_offset = os.path.getsize(self.httpd.error_log)
        except OSError:
            log_offset = 0
        plan = self.phase_plan()
        print(f"== soak: {args.threads} client threads, {len(plan)} phases, "
              f"~{sum(l for _, l in plan):.0f} s", flush=True)
        self.snapshots["start"] = flatten(kvcache_status(self.httpd.port) or {})
        # Warm-up burst: as many clients as httpd has worker threads, all at once,
        # each with the largest bodies, so that every thread reaches its memory
        # high-water mark (pools, per-thread upstream handles) before the baseline.
        burst = [Worker(1000 + i, self, ["over-cap", "large-chat", "large-completion",
                                         "stream", "large-chat", "over-cap"])
                 for i in range(CHILDREN * THREADS_PER_CHILD)]
        self.burst_barrier = threading.Barrier(len(burst))
        for w in burst:
            w.start()
        for w in burst:
            w.join(120)
        workers = [Worker(i, self) for i in range(args.threads)]
        for w in workers:
            w.start()
        try:
            for name, length in plan:
                self.phase = name
                self.log(f"phase {name} ({length:.1f} s)")
                started = time.monotonic()
                self.safely(name, self.enter, name, length)
                tick = 0
                while True:
                    elapsed = time.monotonic() - started
                    # The graceful phase lasts until the new children answer.
                    if elapsed >= length and (base(name) != "graceful"
                                              or self.restart_seconds is not None
                                              or elapsed >= length + 45):
                        break
                    self.safely(name, self.tick, name, tick, elapsed, length)
                    tick += 1
                    time.sleep(min(0.25, max(0.0, length - elapsed)) or 0.05)
                self.safely(name, self.leave, name)
                self.rss[name] = rss(self.httpd)
                self.snapshots[name] = flatten(kvcache_status(self.httpd.port) or {})
        finally:
            self.stop.set()
            for w in workers:
                w.join(60)
            self.safely("end", self.heal)
            self.relay.stop()
        time.sleep(0.5)  # the last access/error log lines
        return self.print_report(log_offset)

    # -- the report

    def print_report(self, log_offset):
        stats, plan = self.stats, [n for n, _ in self.phase_plan()]
        total = collections.Counter()
        for name in plan:
            total.update(stats.count[name])
        goals = []

        print("\n== requests per phase")
        cols = ["sent", "200", "other", "mod5xx", "altered", "ka-race", "t-err",
                "p50ms", "p99ms", "decisions (top)"]
        print(f"{'phase':<12}" + "".join(f"{c:>8}" for c in cols[:-1]) + "  " + cols[-1])
        for name in plan:
            c = stats.count[name]
            lat = sorted(stats.latency[name]) or [0]
            other = sum(n for k, n in c.items()
                        if k.startswith("status ") and k != "status 200")
            decisions = sorted(((n, k[9:]) for k, n in c.items()
                                if k.startswith("decision ")), reverse=True)
            top = ", ".join(f"{d.replace('fallback:', 'fb:')}={n}"
                            for n, d in decisions[:4])
            row = [c["sent"], c["status 200"], other, c["module 5xx"],
                   c["body altered"], c["keep-alive race"], c["transport error"],
                   round(report.percentile(lat, 50) * 1000),
                   round(report.percentile(lat, 99) * 1000)]
            print(f"{name:<12}" + "".join(f"{v:>8}" for v in row) + "  " + top)
        lat = sorted(x for n in plan for x in stats.latency[n]) or [0]
        print(f"{'total':<12}" + "".join(f"{v:>8}" for v in [
            total["sent"], total["status 200"],
            sum(n for k, n in total.items() if k.startswith("status ") and k != "status 200"),
            total["module 5xx"], total["body altered"], total["keep-alive race"],
            total["transport error"], round(report.percentile(lat, 50) * 1000),
            round(report.percentile(lat, 99) * 1000)]))

        def section(title, prefix):
            print(f"\n== {title}")
            for key, n in sorted(((k, n) for k, n in total.items() if k.startswith(prefix)),
                                 key=lambda kv: -kv[1]):
                print(f"   {key[len(prefix):]:<34} {n:>8}")

        section("responses by status", "status ")
        section("X-KVCache-Decision values seen (all phases)", "decision ")
        print("\n== request kinds, and the decisions each got")
        for key, n in sorted(((k, n) for k, n in total.items() if k.startswith("kind ")),
                             key=lambda kv: -kv[1]):
            kind = key[5:]
            got = sorted(((m, k.split("|", 1)[1]) for k, m in total.items()
                          if k.startswith(f"kd {kind}|")), reverse=True)
            print(f"   {kind:<17}{n:>7}  " + ", ".join(
                f"{d.replace('fallback:', 'fb:')}={m}" for m, d in got))
        section("served by (X-Kvemu-Served-By)", "served ")
        section("locations", "location ")
        section("connections", "connection ")
        print(f"   uploads sent with Transfer-Encoding: chunked  {total['upload chunked']:>8}")
        print(f"\n   keep-alive connections found closed before reuse (replaced, "
              f"not errors): {total['stale keep-alive replaced']}")
        print(f"   keep-alive races (reused connection closed by httpd as the request "
              f"went out; retried): {total['keep-alive race']}")
        for what, samples in sorted(stats.samples.items()):
            print(f"   samples of {what}:")
            for s in samples:
                print(f"      {s}")

        # what the module itself counted, phase by phase
        print("\n== kvcache-status counters per phase (deltas; lookup/tokenize/manage "
              "upstream calls, errors, timeouts, rejected by an open breaker; actions sent"
              " / failed / dropped)")
        roles = (("lookup", "lk"), ("tokenize", "tk"), ("manage", "mg"))
        head = "".join(f"{f'{a}:{x}':>8}" for _, a in roles for x in ("call", "err", "tmo", "rej"))
        print(f"   {'phase':<12}{head}{'pin':>6}{'cmpr':>6}{'clear':>6}{'failed':>7}"
              f"{'dropped':>8}")
        prev = self.snapshots.get("start", {})
        pre = flatten(self.status_pre_restart or {})
        for name in plan:
            cur = self.snapshots.get(name)
            if cur is None:
                continue

            def d(key):
                v = cur.get(key, 0) if isinstance(cur.get(key, 0), int) else 0
                p = prev.get(key, 0) if isinstance(prev.get(key, 0), int) else 0
                if base(name) == "graceful":  # a new segment started from zero
                    q = pre.get(key, 0) if isinstance(pre.get(key, 0), int) else 0
                    return q - p + v
                return v - p
            cells = "".join(f"{d(f'upstreams.{r}.{x}'):>8}" for r, _ in roles
                            for x in ("calls", "errors", "timeouts", "rejected"))
            acts = [d(f"actions.{a}.sent") for a in ("pin", "compress", "clear")]
            failed = sum(d(f"actions.{a}.failed") for a in ("pin", "compress", "clear"))
            dropped = sum(d(f"actions.{a}.dropped") for a in ("pin", "compress", "clear"))
            print(f"   {name:<12}{cells}" + "".join(f"{a:>6}" for a in acts)
                  + f"{failed:>7}{dropped:>8}")
            prev = cur

        # RSS
        print("\n== httpd memory (sums over parent + children, KB, under load at "
              "the end of each phase)")
        print(f"   {'phase':<12}{'procs':>6}{'VmRSS':>10}{'RssAnon':>10}{'RssShmem':>10}"
              f"{'Pss':>10}")
        for name in plan:
            r = self.rss.get(name)
            if r:
                print(f"   {name:<12}{r['processes']:>6}{r['VmRSS']:>10}{r['RssAnon']:>10}"
                      f"{r['RssShmem']:>10}{r['Pss']:>10}")
        before, after = self.rss.get("warmup"), self.rss.get(plan[-1])
        graceful = [i for i, n in enumerate(plan) if base(n) == "graceful"]
        pre = self.rss.get(plan[graceful[0] - 1]) if graceful else None
        if before and after:
            limit = RSS_TOLERANCE_KB + before["VmRSS"] // 10
            delta = after["VmRSS"] - before["VmRSS"]
            print(f"   VmRSS before (after warm-up) {before['VmRSS']} KB, after "
                  f"{after['VmRSS']} KB, delta {delta:+d} KB (allowed +{limit})")
            goals.append(("RSS flat: end vs warm-up", delta <= limit,
                          f"{delta:+d} KB of VmRSS"))
            if pre:  # same children as the warm-up: the graceful restart comes later
                d2 = pre["VmRSS"] - before["VmRSS"]
                print(f"   VmRSS just before the graceful restart (same children as "
                      f"the warm-up) {pre['VmRSS']} KB, delta {d2:+d} KB")
                goals.append(("RSS flat: same children, warm-up to pre-restart",
                              d2 <= limit, f"{d2:+d} KB of VmRSS"))

        # error log
        crashes, kinds = error_log_summary(self.httpd.error_log, log_offset)
        print(f"\n== error log: {sum(kinds.values())} lines, {len(crashes)} with "
              f"'exit signal'")
        for msg, n in kinds.most_common(15):
            print(f"   {n:>6}  {msg}")
        for line in crashes[:5]:
            print(f"   CRASH: {line}")

        # kvcache-status
        final = kvcache_status(self.httpd.port)
        print("\n== kvcache-status counters (non-zero; the graceful restart starts a new "
              "segment, so both generations are shown)")
        a, b = flatten(self.status_pre_restart or {}), flatten(final or {})
        print(f"   {'counter':<46}{'pre-restart':>12}{'final':>12}")
        for key in sorted(set(a) | set(b)):
            va, vb = a.get(key, 0), b.get(key, 0)
            if va or vb:
                print(f"   {key:<46}{va!s:>12}{vb!s:>12}")

        try:
            with open(self.emulator.output, errors="replace") as f:
                tracebacks = f.read().count("Traceback")
        except OSError:
            tracebacks = 0
        print(f"\n== emulator: {tracebacks} traceback(s) in its output (an emulator bug "
              f"would answer 500 without X-Kvemu-Served-By, counted against the module)")

        # emulator's side of the background actions
        try:
            seen = self.emu.stats()["calls"]
            calls = {k: v for k, v in seen.items() if k.startswith(f"{vocab.CONTROLLER}:")}
            print(f"\n== controller calls seen by the emulator since the start: {calls}")
        except (OSError, RuntimeError, ValueError):
            pass

        # goals
        goals += [
            ("requests sent in every phase", all(stats.count[n]["sent"] for n in plan), ""),
            ("routed decisions while healthy",
             stats.count["warmup"][f"decision {vocab.ROUTED}"] > 0,
             f"{stats.count['warmup'][f'decision {vocab.ROUTED}']} in the warm-up"),
            ("5xx caused by the module = 0", total["module 5xx"] == 0,
             str(total["module 5xx"])),
            ("other errors from httpd itself = 0", total["httpd non-5xx error"] == 0,
             str(total["httpd non-5xx error"])),
            ("bodies altered = 0", total["body altered"] == 0, str(total["body altered"])),
            ("answers without proof or cut short = 0",
             total["unverified answer"] + total["answer cut short"] == 0,
             str(total["unverified answer"] + total["answer cut short"])),
            ("transport errors (not keep-alive races) = 0",
             total["transport error"] == 0, str(total["transport error"])),
            ("child crashes = 0", not crashes, str(len(crashes))),
        ]
        if graceful:
            goals.append(("graceful restart completed", self.restart_seconds is not None,
                          f"{self.restart_seconds or 0:.1f} s"))
        for phase in plan:
            wanted = FALLBACK_GOALS.get(base(phase))
            if wanted:
                seen = sum(stats.count[phase][f"decision {vocab.fallback(reason)}"]
                           for reason in wanted)
                goals.append((f"fault took effect in {phase}", seen > 0,
                              f"{seen} x {'|'.join(wanted)}"))
        if self.member_window:
            t_off, t_on, shown = self.member_window
            bad = [m for m in stats.member_off
                   if m[2] == DISABLED_MEMBER and m[0] > t_off and m[1] < t_on]
            inside = sum(1 for m in stats.member_off if m[0] > t_off and m[1] < t_on)
            goals.append(("balancer-manager disable took effect (status Dis)",
                          shown, ""))
            goals.append((f"nothing served by disabled {DISABLED_MEMBER}", not bad,
                          f"{len(bad)} of {inside} requests inside the window"))
            for m in bad[:5]:
                print(f"   served by the disabled member: {m}")
        goals += self.goals_extra
        goals.append(("harness errors = 0 (fault injection, client threads)",
                      not self.harness_errors, "; ".join(self.harness_errors)[:600]))

        print("\n== goals")
        failed = 0
        for goal, ok, detail in goals:
            failed += not ok
            print(f"   {'ok  ' if ok else 'MISS'}  {goal}{'  (' + detail + ')' if detail else ''}")
        print(f"\n== soak {'PASSED' if not failed else 'FAILED'}: {total['sent']} requests"
              f" in {sum(l for _, l in self.phase_plan()):.0f} s, {failed} goal(s) missed")
        return 1 if failed else 0


OVERSIZED = '{"layout_info": {}, "pad": "' + "x" * (2 << 20) + '"}'  # over 1 MB
GARBAGE = [  # odd controller answers, errors and accepted ones in turn
    'kvemu garbage <<not JSON>> {"layout_info": [',
    '{"layout_info": {"vllm-a": ["LocalCPUBackend", 5], "vllm-a": ["LocalCPUBackend", 9000]}}',
    '{"event_id": "Lookup1", "layout_info": ',
    '{"layout_info": {"vllm-a\\u0000evil": ["LocalCPUBackend", 256]}}',
    '[' * 100000 + ']' * 100000,
    '{"layout_info": {"vllm-b": ["LocalCPUBackend", 12.5]}}',
    OVERSIZED,
    '{"layout_info": {"vllm-a": ["LocalCPUBackend", -7]}}',
    '',
    '{"layout_info": {"vllm-c": ["LocalCPUBackend", 18446744073709551617]}}',
    '[]',
    '{"layout_info": {"vllm-a": ["LocalCPUBackend", 1e309]}}',
    'null',
    '{"layout_info": {"' + "A" * 5000 + '": ["LocalCPUBackend", 5]}}',
    '{"layout_info": [1, 2, 3]}',
    '{"layout_info": {"vllm-b": {"0": null, "1": "12"}}}',
    '{"layout_info": "vllm-a"}',
    '{"layout_info": {"vllm-a": ["LocalCPUBackend"]}}',
]

GHOSTS = [
    {"layout_info": {"ghost-1": ["LocalCPUBackend", 512],
                     "vllm-z": ["LocalCPUBackend", 4096]}},
    {"layout_info": {"ghost-2": {"0": "LocalCPUBackend", "1": 300}}},
    {"layout_info": {"ghost-3": ["LocalCPUBackend", 999999],
                     "vllm-b": ["LocalCPUBackend", 256]}},
    {"layout_info": {"VLLM-A": ["LocalCPUBackend", 256], "vllm-a ": ["LocalCPUBackend", 9]}},
]


# ---------------------------------------------------------------- the servers

# Fast breakers, scraping and actions, so that every phase of a few seconds
# opens, probes and closes them and the background queue works under faults.
# The emulator is Python sharing the CPUs with httpd and the load: budgets
# the healthy phases keep (the hung controller still answers 5 s late).
SETTINGS = """\
KVCacheLookupTimeout 250ms
KVCacheTokenizeTimeout 1s
KVCacheCircuitBreaker 5 500ms 2
KVCacheScrapeInterval 1s
KVCacheActionInterval 1s
KVCacheActionQueueSize 16
KVCacheHotWindow 10s
KVCacheInstanceCapacity 10
"""


def managed(hot_threshold):
    """A location's routing with every cache-management action on."""
    return ("KVCacheEnable On", "KVCacheMaxBodySize 256K",
            "KVCachePinning On", f"KVCacheHotThreshold {hot_threshold}",
            f"KVCachePin auto {vocab.LOCATION}",
            "KVCacheCompression On", "KVCacheLoadThreshold 0.5",
            f"KVCacheCompress auto {vocab.LOCATION} cachegen",
            "KVCacheEviction On", "KVCacheMemoryThreshold 0.9",
            f"KVCacheEvict vllm-c {vocab.LOCATION}")


def configuration(httpd, emulator, relay_port, log_level):
    """The three LOCATIONS over one kvcache balancer, the status handler and
    balancer-manager; the module's LMCache endpoint is the relay."""
    members = [(iid, emulator.ports[iid]) for iid in MEMBERS]
    return "\n".join([
        httpdconf.server(httpd, log_level=log_level),
        # A fixed set of two children (RSS is summed over parent + children):
        # no child is started or stopped for spare threads.
        httpdconf.fixed_children(CHILDREN, THREADS_PER_CHILD, server_limit=2 * CHILDREN),
        # The demo's front (its /v1/), with the relay as the LMCache endpoint.
        httpdconf.kvcache_front(httpd, members, emulator.ports[MEMBERS[0]], relay_port,
                                "demo"),
        SETTINGS,
        # A token cache of 8 MB rather than 64: once its ring has wrapped
        # (during the warm-up) the shared pages each child has touched stop
        # growing, so VmRSS measures private memory growth, not cache fill.
        f'KVCacheTokenCacheStore "shmcb:{httpd.run_dir}/kvcache-tokens(8388608)"\n',
        httpdconf.location("/soak/v1/", "llm", managed(hot_threshold=3)),
        # The same, streaming bodies chunked to the backend, Pixiu's /evict API.
        httpdconf.location("/soakc/v1/", "llm", (httpdconf.STREAM_BODIES,
                                                 *managed(hot_threshold=2),
                                                 "KVCacheEvictAPI evict")),
        httpdconf.handler("/kvcache-status", "kvcache-status"),
        httpdconf.handler("/balancer-manager", "balancer-manager")])


def soak(args):
    """Starts the servers in a run directory of their own, soaks, stops them."""
    run_dir = tempfile.mkdtemp(prefix="kvcache-soak.", dir="/tmp")
    emulator = httpd = None
    status = 1
    try:
        # Every engine sleeps a tenth of its simulated prefill, so requests
        # stay in flight and queues form; /evict is served (/soakc/ uses it).
        print("== starting the emulator (ports picked by the kernel)", flush=True)
        emulator = emu.Emulator(run_dir, "emulator", emu.EmulatorOptions(
            instances=MEMBERS, time_scale=0.1, enable_evict=True,
            log_file=os.path.join(run_dir, "emulator.log")))
        free = procs.free_ports(2)
        port = args.port or free[0]
        relay_port = args.relay_port or next(p for p in free if p != port)
        controller = emulator.ports[vocab.CONTROLLER]
        print(f"   controller :{controller} (relay :{relay_port}), "
              + ", ".join(f"{iid} :{emulator.ports[iid]}" for iid in MEMBERS))
        httpd = procs.Httpd(run_dir, "httpd", port)
        httpd.configure(configuration(httpd, emulator, relay_port, args.log_level))
        print(f"== starting httpd with mod_kvcache on :{port}", flush=True)
        httpd.start(children=CHILDREN)
        status = Soak(args, httpd, emulator, Relay(run_dir, relay_port, controller)).run()
        if status:
            print(f"== last lines of the error log:\n{procs.tail(httpd.error_log, 30)}")
    finally:
        if httpd is not None:
            httpd.stop()
        if emulator is not None:
            emulator.stop()
        if status == 0 and not args.keep:
            shutil.rmtree(run_dir)
        else:
            print(f"== run directory kept: {run_dir} (httpd/httpd.conf, httpd/error_log, "
                  "httpd/kvcache_log, emulator.out, emulator.log)")
    return status


def main(argv=None):
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--relay-serve", metavar="LISTEN:TARGET")
    parser.add_argument("--seconds", type=int, default=75)
    parser.add_argument("--threads", type=int, default=12)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--phases", default=PHASES,
                        help="after the warm-up: NAME[:SHARE],... (default %(default)s);"
                             " member-off and graceful at most once")
    parser.add_argument("--port", type=int, help="httpd's (default: a free one)")
    parser.add_argument("--relay-port", type=int,
                        help="the controller relay's (default: a free one)")
    parser.add_argument("--log-level", default="warn kvcache:notice",
                        help="httpd's LogLevel (default: %(default)s: breaker openings "
                             "and closings are notices)")
    parser.add_argument("--keep", action="store_true",
                        help="keep the run directory even when every goal is met")
    args = parser.parse_args(argv)
    if args.relay_serve:
        listen, _, target = args.relay_serve.partition(":")
        relay_serve(int(listen), int(target))
        return 0
    if args.seconds < 10:
        parser.error("--seconds: at least 10")
    if args.threads < 2:
        parser.error("--threads: at least 2")
    names = [item.partition(":")[0].strip() for item in args.phases.split(",")]
    if not set(names) <= KNOWN_PHASES:
        parser.error(f"--phases: unknown {sorted(set(names) - KNOWN_PHASES)}")
    if names.count("member-off") > 1 or names.count("graceful") > 1:
        parser.error("--phases: member-off and graceful at most once each")
    return soak(args)


if __name__ == "__main__":
    sys.exit(main())
