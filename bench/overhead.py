#!/usr/bin/python3
# Licensed under the Apache License, Version 2.0 (the "License"); you may not
# use this file except in compliance with the License.  You may obtain a copy
# of the License at http://www.apache.org/licenses/LICENSE-2.0
"""Overhead benchmark: what mod_kvcache costs on the request path.

Side by side on loopback, with wrk: plain mod_proxy_balancer (byrequests),
mod_kvcache when the prompt's tokens are in the token cache (hit: one
/lookup per request) and when every request is a new prompt (miss: /tokenize
and /lookup per request; a wrk Lua script makes every body unique).  Each is
run once saturated (throughput, latency under load) and then with a single
connection (latency a request sees on an idle server, where added
milliseconds are the module's own): IDLE_ROUNDS short runs per path, taken
in turn (plain, hit, miss, plain, ...) so that a noisy neighbour on the
machine hurts every path alike, and the median of their p50s is reported.

The emulator must not be what is measured, so every upstream is its own
tools/kvc_emulator.py process with no shared state: three backends (time
scale 0: they answer at once), one for /tokenize and one LMCache controller
answering every /lookup with a fixed `lookup_override` that names all three
backends equally (so the kvcache lbmethod routes, ties to the least busy).
Each upstream alone is measured first and printed too.

Then the module's CPU per request for a 128k-token prompt: httpd's CPU time
(every thread of every httpd process, from /proc/PID/task/TID/schedstat)
over N such requests through mod_kvcache, minus the same through the plain
balancer, divided by N; for the token-cache hit path (the usual case: a
conversation's prompt is tokenized once) and the miss path, with httpd's
default memory settings and with MaxMemFree 0 (see MEMORY_SETTINGS).

With --fleet, only the cost of KVCacheFleetStore on the hit path: two
httpd instances side by side, the same location (pinning on, a session
header, so that every request counts its prompt in the fleet's hot window
and reads its session's member: two Redis round trips), one of them with a
fleet store (a redis-server started here), the other alone; saturated, then
IDLE_ROUNDS interleaved 1-connection runs, median p50 of each.

    /usr/bin/python3 bench/overhead.py [--run-dir DIR] [--duration S] [--fleet]
"""

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                                "tools"))
import workload  # noqa: E402
from kvcharness import client, emu, httpdconf, procs, report, vocab  # noqa: E402

BACKENDS = ("vllm-a", "vllm-b", "vllm-c")
CONNECTIONS = 16          # saturating on 2 cores; wrk uses 2 threads for them
IDLE_ROUNDS = 3
IDLE_SECONDS = 2
BIG_PROMPT_TOKENS = 128000
BIG_REQUESTS = 10         # per path; each moves ~1 MB through httpd
# A short chat turn, as in most wrk-style proxy benchmarks: what is measured
# is the per-request work, not the copying of long bodies (see the 128k test).
SMALL_WORDS = 100

# wrk script: POST a fixed body, or a body whose first word (MARKER) is
# replaced by one unique to this thread and request, so that every request
# is a token-cache miss.
MARKER = "hello"
WRK_SCRIPT = """
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = [==[%(body)s]==]
local unique = %(unique)s
local prefix, suffix = [==[%(prefix)s]==], [==[%(suffix)s]==]
local threads = 0
function setup(thread)
    threads = threads + 1
    thread:set("tid", threads)
end
local n = 0
function request()
    if not unique then
        return wrk.format()
    end
    n = n + 1
    return wrk.format(nil, nil, nil, prefix .. "t" .. tid .. "n" .. n .. suffix)
end
"""


def chat_body(words):
    text = " ".join([MARKER] + [f"w{i % 5000}" for i in range(words - 1)])
    return json.dumps({"model": workload.MODEL, "max_tokens": 16,
                       "messages": [{"role": "user", "content": text}]},
                      separators=(",", ":"))


def write_script(run_dir, name, body, unique=False):
    prefix, _, suffix = body.partition(MARKER) if unique else ("", "", "")
    path = os.path.join(run_dir, f"{name}.lua")
    with open(path, "w") as f:
        f.write(WRK_SCRIPT % {"body": body, "unique": "true" if unique else "false",
                              "prefix": prefix, "suffix": suffix})
    return path


LATENCY_LINE = re.compile(r"^\s*(50|99)%\s+([\d.]+)(us|ms|s)\s*$")
UNIT_MS = {"us": 0.001, "ms": 1.0, "s": 1000.0}


def wrk(url, script, connections, duration):
    """{"rps", "requests", "p50", "p99" (ms), "errors"} of one wrk run."""
    threads = min(2, connections)
    out = subprocess.run(
        [shutil.which("wrk"), f"-t{threads}", f"-c{connections}", f"-d{duration}s",
         "--latency", "-s", script, url],
        check=True, capture_output=True, text=True).stdout
    result = {"errors": 0}
    for line in out.splitlines():
        m = LATENCY_LINE.match(line)
        if m:
            result[f"p{m.group(1)}"] = float(m.group(2)) * UNIT_MS[m.group(3)]
        elif line.startswith("Requests/sec:"):
            result["rps"] = float(line.split()[1])
        elif " requests in " in line:
            result["requests"] = int(line.split()[0])
        elif "Non-2xx" in line or "Socket errors" in line:
            result["errors"] += sum(int(n) for n in re.findall(r"\d+", line))
    if "rps" not in result or "p50" not in result:
        raise RuntimeError(f"cannot parse wrk output:\n{out}")
    return result


class Setup:
    """The emulator processes and httpd of this benchmark."""

    def __init__(self, run_dir):
        self.run_dir = run_dir
        self.emulators = []
        quiet = dict(time_scale=0, capacity_tokens=1000000)
        for iid in BACKENDS:
            self.emulators.append(emu.Emulator(run_dir, f"backend-{iid}",
                                               emu.EmulatorOptions(instances=(iid,), **quiet)))
        self.backend_ports = {iid: e.ports[iid] for iid, e in zip(BACKENDS, self.emulators)}
        self.tokenizer = emu.Emulator(run_dir, "tokenizer",
                                      emu.EmulatorOptions(instances=("tokenizer",), **quiet))
        self.controller = emu.Emulator(run_dir, "controller", emu.EmulatorOptions(**quiet))
        self.emulators += [self.tokenizer, self.controller]
        self.httpd = None

    def start_httpd(self, server_directives=""):
        members = [(iid, self.backend_ports[iid]) for iid in BACKENDS]
        # Generous budgets: the upstreams are Python processes sharing two
        # cores with httpd and wrk.  With the default 50 ms, a starved
        # emulator would trip the fallback (and the circuit breakers), and
        # the fallback path would be measured instead; the call counts
        # printed with the table show that every request was routed.  The
        # 128k-token location gives the emulator time to tokenize and look
        # up a megabyte of prompt; only httpd's CPU is measured there.
        budgets = ("KVCacheEnable On", "KVCacheTokenizeTimeout 1s",
                   "KVCacheLookupTimeout 1s")
        big_budgets = ("KVCacheEnable On", "KVCacheTokenizeTimeout 10s",
                       "KVCacheLookupTimeout 10s", "KVCacheRequestTimeout 10s")
        stream = httpdconf.STREAM_BODIES
        self.httpd = workload.httpd(
            self.run_dir, "overhead-httpd",
            httpdconf.upstreams(self.tokenizer.ports["tokenizer"],
                                self.controller.ports[vocab.CONTROLLER]),
            server_directives,
            httpdconf.balancer("plain", members, "byrequests"),
            httpdconf.balancer("kv", members, "kvcache"),
            httpdconf.location("/plain/v1/", "plain", (stream,)),
            httpdconf.location("/kv/v1/", "kv", (stream, *budgets)),
            httpdconf.location("/kvbig/v1/", "kv", (stream, *big_budgets)))
        self.httpd.start(children=workload.STARTED_CHILDREN)

    def route_everything_equally(self, tokens):
        layout = {iid: [vocab.LOCATION, tokens] for iid in BACKENDS}
        self.controller.control.config(lookup_override={"layout_info": layout})

    def calls(self):
        """Counted /tokenize and /lookup calls since the last reset."""
        return (self.tokenizer.control.calls("tokenizer", "/tokenize"),
                self.controller.control.calls(vocab.CONTROLLER, "/lookup"))

    def reset_counts(self):
        for e in (self.tokenizer, self.controller):
            config = e.control.stats()["config"]
            e.control.reset()
            e.control.config(lookup_override=config["lookup_override"])

    def url(self, path):
        return f"http://{client.LOOPBACK}:{self.httpd.port}{path}"

    def stop(self):
        if self.httpd is not None:
            self.httpd.stop()
        for e in self.emulators:
            e.stop()


def decision(port, path, body):
    """The module's decision (X-KVCache-Decision) for one request."""
    response = client.request(port, "POST", path, body.encode())
    if response.status != 200:
        raise client.HTTPError(path, response)
    return response.headers.get(vocab.DECISION_HEADER, "-")


def throughput_table(setup, duration):
    small = chat_body(SMALL_WORDS)
    tokens = len(setup.tokenizer.control.tokenize(json.loads(small)))
    setup.route_everything_equally(tokens)
    hit = write_script(setup.run_dir, "hit", small)
    miss = write_script(setup.run_dir, "miss", small, unique=True)
    lookup = write_script(setup.run_dir, "lookup",
                          json.dumps({"tokens": list(range(1000, 1000 + tokens))}))
    backend = f"http://{client.LOOPBACK}:{setup.backend_ports['vllm-a']}/v1/chat/completions"
    controller = f"http://{client.LOOPBACK}:{setup.controller.ports[vocab.CONTROLLER]}/lookup"
    # Warm the token cache for the hit path and check what each path does.
    decision(setup.httpd.port, "/kv/v1/chat/completions", small)
    checks = {"hit": decision(setup.httpd.port, "/kv/v1/chat/completions", small),
              "miss": decision(setup.httpd.port, "/kv/v1/chat/completions",
                               small.replace(MARKER, "checkmiss", 1))}
    runs = [("emulator alone: one backend", backend, hit, None),
            ("emulator alone: controller /lookup", controller, lookup, None),
            ("plain mod_proxy_balancer", setup.url("/plain/v1/chat/completions"), hit, None),
            ("mod_kvcache, token cache hit", setup.url("/kv/v1/chat/completions"), hit, "hit"),
            ("mod_kvcache, miss (new prompt)", setup.url("/kv/v1/chat/completions"), miss,
             "miss")]
    results = {}
    pids = setup.httpd.pids()
    for name, url, script, kind in runs:
        report.log(f"overhead: wrk {name}, {CONNECTIONS} connections")
        setup.reset_counts()
        cpu_before = procs.cpu_seconds(pids)
        loaded = wrk(url, script, CONNECTIONS, duration)
        # httpd's CPU per request: what the module costs, whatever the
        # scheduling noise of a busy machine does to latencies.
        loaded["cpu_us"] = ((procs.cpu_seconds(pids) - cpu_before) * 1e6
                            / max(1, loaded["requests"]))
        results[name] = (loaded, [], setup.calls(), kind)
    report.log(f"overhead: wrk, 1 connection, {IDLE_ROUNDS} rounds over every path")
    for _ in range(IDLE_ROUNDS):
        for name, url, script, _ in runs:
            results[name][1].append(wrk(url, script, 1, IDLE_SECONDS))
    for name, (loaded, idle_runs, calls, kind) in results.items():
        idle = sorted(idle_runs, key=lambda r: r["p50"])[len(idle_runs) // 2]
        idle["errors"] = sum(r["errors"] for r in idle_runs)
        results[name] = (loaded, idle, calls, kind)
    return tokens, checks, results


def print_throughput(small_tokens, checks, results, duration):
    plain_loaded, plain_idle, _, _ = results["plain mod_proxy_balancer"]
    print(f"\n### Overhead\n\nwrk on loopback.  Saturated: 2 threads x {CONNECTIONS} "
          f"connections, {duration} s.  Idle: 1 connection, median of {IDLE_ROUNDS} "
          f"interleaved runs of {IDLE_SECONDS} s.  Chat request of "
          f"{small_tokens} prompt tokens ({len(chat_body(SMALL_WORDS))} bytes).\n")
    print(f"{'':<36} {'saturated':^33}   {'idle (1 connection)':^26}")
    print(f"{'path':<36} {'req/s':>7} {'x plain':>7} {'p50 ms':>7} {'p99 ms':>7} "
          f"{'httpd CPU':>10}   {'p50 ms':>7} {'p99 ms':>7} {'added p50':>10}")
    print("-" * 103)
    for name, (loaded, idle, calls, kind) in results.items():
        through_httpd = not name.startswith("emulator")
        ratio = f"{loaded['rps'] / plain_loaded['rps']:6.2f}x" if through_httpd else ""
        cpu = f"{loaded['cpu_us']:6.0f} us" if through_httpd else ""
        added = f"{idle['p50'] - plain_idle['p50']:+7.3f} ms" if kind is not None else ""
        print(f"{name:<36} {loaded['rps']:7.0f} {ratio:>7} {loaded['p50']:7.2f} "
              f"{loaded['p99']:7.2f} {cpu:>10}   {idle['p50']:7.3f} {idle['p99']:7.2f} "
              f"{added:>10}")
    print()
    for name, (loaded, idle, (tokenize, lookup), kind) in results.items():
        if kind is not None:
            print(f"  {name}: decision {checks[kind]}; the saturated run made {tokenize} "
                  f"/tokenize and {lookup} /lookup calls for {loaded['requests']} "
                  "requests")
        if loaded["errors"] or idle["errors"]:
            print(f"  {name}: {loaded['errors'] + idle['errors']} errors or non-2xx answers")


# httpd returns freed memory beyond MaxMemFree (2 MB by default) to the
# system; a 128k-token request allocates several MB (body, prompt text,
# tokens, /lookup JSON), so by default each one maps fresh pages and
# page-faults on them.  The CPU test runs with the default and with
# MaxMemFree 0 (keep what was freed) to show how much of the cost that is.
MEMORY_SETTINGS = (("default", ""), ("MaxMemFree 0", "MaxMemFree 0"))


def big_prompt_cpu(setup):
    """{"tokens", "bytes", "plain", "hit", "miss" (ms of httpd CPU per request),
    "hit_tokenize", "miss_tokenize" (calls), "decisions"} for 128k-token prompts."""
    words = BIG_PROMPT_TOKENS - 3  # role + end + generation prompt tokens
    big = chat_body(words)
    tokens = len(setup.tokenizer.control.tokenize(json.loads(big)))
    setup.route_everything_equally(tokens)
    conn = client.Connection(setup.httpd.port)
    pids = setup.httpd.pids()
    decisions = set()

    def cpu_per_request(path, bodies):
        before = procs.cpu_seconds(pids)
        for body in bodies:
            response = conn.request("POST", path, body)
            if response.status != 200:
                raise client.HTTPError(path, response)
            if path.startswith("/kv"):
                decisions.add(response.headers.get(vocab.DECISION_HEADER, "-"))
        return (procs.cpu_seconds(pids) - before) * 1000 / len(bodies)

    same = [big.encode()] * BIG_REQUESTS
    unique = [big.replace(MARKER, f"cold{i}", 1).encode() for i in range(BIG_REQUESTS)]
    cpu_per_request("/plain/v1/chat/completions", same[:1])  # warm connections
    cpu_per_request("/kvbig/v1/chat/completions", same[:1])  # fills the token cache
    result = {"tokens": tokens, "bytes": len(big)}
    result["plain"] = cpu_per_request("/plain/v1/chat/completions", same)
    setup.reset_counts()
    result["hit"] = cpu_per_request("/kvbig/v1/chat/completions", same)
    result["hit_tokenize"] = setup.calls()[0]
    setup.reset_counts()
    result["miss"] = cpu_per_request("/kvbig/v1/chat/completions", unique)
    result["miss_tokenize"] = setup.calls()[0]
    result["decisions"] = decisions
    conn.close()
    return result


def big_prompt_lines(by_setting):
    first = next(iter(by_setting.values()))
    lines = [f"\nhttpd CPU per request, {first['tokens']}-token prompt "
             f"({first['bytes'] / 1e6:.2f} MB), {BIG_REQUESTS} sequential requests per "
             "path: user + system time of every httpd thread "
             "(/proc/PID/task/TID/schedstat) before and after, divided by the requests.\n",
             f"{'':<32}" + "".join(f"{name:>24}" for name in by_setting),
             f"{'plain mod_proxy_balancer':<32}"
             + "".join(f"{r['plain']:21.2f} ms" for r in by_setting.values())]
    for kind, label in (("hit", "mod_kvcache, token cache hit"),
                        ("miss", "mod_kvcache, miss (new prompt)")):
        lines.append(f"{label:<32}" + "".join(
            f"{r[kind]:8.2f} ms, module {r[kind] - r['plain']:5.2f}"
            for r in by_setting.values()))
    for name, r in by_setting.items():
        lines.append(f"  {name}: decisions {', '.join(sorted(r['decisions']))}; "
                     f"{r['hit_tokenize']} /tokenize calls on the hit path, "
                     f"{r['miss_tokenize']} on the miss path")
    for name, r in by_setting.items():
        module = r["hit"] - r["plain"]
        lines.append(report.goal(module <= 5, f"module CPU on the token-cache hit path "
                                              f"{module:.2f} ms with {name} httpd memory "
                                              "settings (goal <= 5 ms)"))
    return lines


def goal_lines(results):
    plain_loaded, plain_idle, _, _ = results["plain mod_proxy_balancer"]
    hit_loaded, hit_idle, _, _ = results["mod_kvcache, token cache hit"]
    _, miss_idle, _, _ = results["mod_kvcache, miss (new prompt)"]
    checks = [
        (hit_loaded["rps"] >= 0.6 * plain_loaded["rps"],
         f"hit-path throughput {hit_loaded['rps'] / plain_loaded['rps']:.2f}x plain "
         "(goal >= 0.6x)"),
        (hit_idle["p50"] - plain_idle["p50"] <= 0.3,
         f"hit path adds {hit_idle['p50'] - plain_idle['p50']:.3f} ms at p50 (goal <= 0.3 ms)"),
        (miss_idle["p50"] - plain_idle["p50"] <= 0.6,
         f"miss path adds {miss_idle['p50'] - plain_idle['p50']:.3f} ms at p50 "
         "(goal <= 0.6 ms)"),
    ]
    hit_cpu = hit_loaded["cpu_us"] - plain_loaded["cpu_us"]
    miss_cpu = results["mod_kvcache, miss (new prompt)"][0]["cpu_us"] - plain_loaded["cpu_us"]
    return [report.goal(met, text) for met, text in checks] + [
        f"  (module CPU per request, saturated runs: hit {hit_cpu:.0f} us, "
        f"miss {miss_cpu:.0f} us over plain)"]


SESSION_HEADER = "X-Session-Id"


def start_redis(run_dir):
    port = procs.free_ports(1)[0]
    redis = procs.Process("redis-server",
                          ["/usr/bin/redis-server", "--port", str(port), "--bind",
                           client.LOOPBACK, "--save", "", "--appendonly", "no",
                           "--dir", run_dir],
                          os.path.join(run_dir, "redis.out"))
    redis.wait_ready(lambda: procs.listening(port))
    return redis, port


def fleet_table(setup, duration, redis_port):
    """{"single"|"fleet": (saturated, idle, fleet calls)} on the hit path."""
    members = [(iid, setup.backend_ports[iid]) for iid in BACKENDS]
    directives = (httpdconf.STREAM_BODIES, "KVCacheEnable On",
                  "KVCacheTokenizeTimeout 1s", "KVCacheLookupTimeout 1s",
                  "KVCachePinning On", "KVCacheHotThreshold 300",
                  "KVCachePin auto LocalCPUBackend",
                  f"KVCacheSessionHeader {SESSION_HEADER}")
    servers = {}
    for name, store in (("single", ""),
                        # A generous budget, as the other ones: saturated,
                        # two cores shared with wrk and five emulators delay
                        # some Redis replies past the default 20 ms, and the
                        # breaker would then measure the local fallback.
                        ("fleet", f"KVCacheFleetStore redis:{client.LOOPBACK}:"
                                  f"{redis_port}/bench\nKVCacheFleetTimeout 200ms\n")):
        servers[name] = workload.httpd(
            setup.run_dir, f"overhead-{name}",
            httpdconf.upstreams(setup.tokenizer.ports["tokenizer"],
                                setup.controller.ports[vocab.CONTROLLER]),
            store, httpdconf.balancer("kv", members, "kvcache"),
            httpdconf.location("/kv/v1/", "kv", directives),
            httpdconf.handler("/kvcache-status", "kvcache-status"))
        servers[name].start(children=workload.STARTED_CHILDREN)
    try:
        small = chat_body(SMALL_WORDS)
        setup.route_everything_equally(
            len(setup.tokenizer.control.tokenize(json.loads(small))))
        script = write_script(setup.run_dir, "fleet-hit", small)
        with open(script, "a") as f:
            f.write(f'wrk.headers["{SESSION_HEADER}"] = "bench-session"\n')
        urls = {}
        for name, server in servers.items():
            urls[name] = f"http://{client.LOOPBACK}:{server.port}/kv/v1/chat/completions"
            decision(server.port, "/kv/v1/chat/completions", small)  # token cache
        results = {}
        for name, url in urls.items():
            report.log(f"overhead: fleet, wrk {name}, {CONNECTIONS} connections")
            results[name] = [wrk(url, script, CONNECTIONS, duration), []]
        report.log(f"overhead: fleet, wrk, 1 connection, {IDLE_ROUNDS} rounds")
        for _ in range(IDLE_ROUNDS):
            for name, url in urls.items():
                results[name][1].append(wrk(url, script, 1, IDLE_SECONDS))
        table = {}
        for name, (loaded, idle_runs) in results.items():
            idle = sorted(idle_runs, key=lambda r: r["p50"])[len(idle_runs) // 2]
            idle["errors"] = sum(r["errors"] for r in idle_runs)
            status = json.loads(client.request(servers[name].port, "GET",
                                               "/kvcache-status").body)
            table[name] = (loaded, idle, status["upstreams"]["fleet"])
        return table
    finally:
        for server in servers.values():
            server.stop()


def print_fleet(table, duration):
    print(f"\n### Fleet store (KVCacheFleetStore) on the hit path\n\nwrk on loopback, "
          f"token cache hit, pinning on (threshold 300), a session header; "
          f"saturated: 2 threads x {CONNECTIONS} connections, {duration} s; idle: "
          f"1 connection, median of {IDLE_ROUNDS} interleaved runs of {IDLE_SECONDS} s.\n")
    print(f"{'mode':<26} {'req/s':>7} {'p50 ms':>7} {'p99 ms':>7}   {'idle p50':>8} "
          f"{'idle p99':>8}   {'Redis calls':>11} {'failed':>6}")
    print("-" * 92)
    for name, label in (("single", "single node (no store)"),
                        ("fleet", "fleet (Redis on loopback)")):
        loaded, idle, fleet = table[name]
        print(f"{label:<26} {loaded['rps']:7.0f} {loaded['p50']:7.2f} {loaded['p99']:7.2f}"
              f"   {idle['p50']:8.3f} {idle['p99']:8.2f}   {fleet['calls']:11d} "
              f"{fleet['errors'] + fleet['timeouts'] + fleet['rejected']:6d}")
        if loaded["errors"] or idle["errors"]:
            print(f"  {label}: {loaded['errors'] + idle['errors']} errors or non-2xx answers")
    added = table["fleet"][1]["p50"] - table["single"][1]["p50"]
    print(f"\nfleet mode adds {added:+.3f} ms at p50 (1 connection) and "
          f"{table['fleet'][0]['p50'] - table['single'][0]['p50']:+.3f} ms at p50 "
          "(saturated) on the hit path")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run-dir", help="where configs and logs go (default: temp)")
    parser.add_argument("--duration", type=int, default=5, help="seconds per wrk run")
    parser.add_argument("--fleet", action="store_true",
                        help="only fleet mode (KVCacheFleetStore) against a single node")
    args = parser.parse_args()
    if not shutil.which("wrk"):
        sys.exit("overhead: wrk is not installed (tools/install-deps.sh installs it)")
    run_dir = args.run_dir or tempfile.mkdtemp(prefix="kvcache-overhead.")
    os.makedirs(run_dir, exist_ok=True)
    report.log("overhead: starting 5 emulator processes and httpd")
    setup = Setup(run_dir)
    if args.fleet:
        redis = None
        try:
            redis, redis_port = start_redis(run_dir)
            table = fleet_table(setup, args.duration, redis_port)
        finally:
            setup.stop()
            if redis is not None:
                redis.stop()
        print_fleet(table, args.duration)
        return 0
    big = {}
    try:
        setup.start_httpd()
        small_tokens, checks, results = throughput_table(setup, args.duration)
        for name, directives in MEMORY_SETTINGS:
            if directives:
                setup.httpd.stop()
                setup.start_httpd(directives)
            report.log(f"overhead: {BIG_REQUESTS} x {BIG_PROMPT_TOKENS}-token requests "
                        f"per path, {name} memory settings")
            big[name] = big_prompt_cpu(setup)
    finally:
        setup.stop()
    print_throughput(small_tokens, checks, results, args.duration)
    print("\n".join(goal_lines(results)))
    print("\n".join(big_prompt_lines(big)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
