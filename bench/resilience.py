#!/usr/bin/python3
# Licensed under the Apache License, Version 2.0 (the "License"); you may not
# use this file except in compliance with the License.  You may obtain a copy
# of the License at http://www.apache.org/licenses/LICENSE-2.0
"""Added latency when the cache plane misbehaves (issue: hard budgets).

Sequential requests through httpd to the emulator on loopback, one keep-alive
connection, the same small chat prompt each time (a token-cache hit), and the
latency the client sees in each situation:

  plain           a location without mod_kvcache: the baseline
  normal          mod_kvcache routing: token-cache hit + /lookup
  hung            the controller never answers /lookup; the breaker is set
                  never to open, so every request waits its lookup budget
  breaker-open    the same hung controller, breaker open: no call at all

Added latency = the situation's percentile minus plain's.  Goals: hung p99
within KVCacheLookupTimeout + 2 ms; breaker open p50 within 0.1 ms.
Run from bench/run.sh (as the unprivileged user), or directly after a build.
"""

import argparse
import json
import os
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                                "tools"))
import workload  # noqa: E402
from kvcharness import client, emu, httpdconf, report, vocab  # noqa: E402

LOOKUP_BUDGET_MS = 50
INSTANCES = ("vllm-a", "vllm-b", "vllm-c")


def measure(conn, path, body, n):
    """Latencies in ms of n sequential POSTs; every one must be a 200."""
    latencies = []
    for _ in range(n):
        start = time.perf_counter()
        response = conn.request("POST", path, body)
        latencies.append((time.perf_counter() - start) * 1000)
        if response.status != 200:
            raise client.HTTPError(path, response)
    return sorted(latencies)


def server(run_dir, name, emulator, breaker):
    members = [(i, emulator.ports[i]) for i in INSTANCES]
    stream = httpdconf.STREAM_BODIES
    httpd = workload.httpd(
        run_dir, name,
        httpdconf.upstreams(emulator.ports["vllm-a"], emulator.ports[vocab.CONTROLLER]),
        f"KVCacheLookupTimeout {LOOKUP_BUDGET_MS}ms\n"
        f"KVCacheCircuitBreaker {breaker}\n"
        "KVCacheRetry 1 10ms 10ms\n",
        httpdconf.balancer("llm", members, "kvcache"),
        httpdconf.location("/plain/v1/", "llm", (stream,)),
        httpdconf.location("/v1/", "llm", (stream, "KVCacheEnable On")))
    httpd.start(children=workload.STARTED_CHILDREN)
    return httpd


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=400)
    parser.add_argument("--run-dir", default=None)
    args = parser.parse_args()
    run_dir = args.run_dir or tempfile.mkdtemp(prefix="kvc-resilience.")
    os.makedirs(run_dir, exist_ok=True)
    body = json.dumps({"model": "m", "max_tokens": 8, "messages": [
        {"role": "user", "content": "resilience " * 200}]}).encode()
    override = {"layout_info": {"vllm-b": [vocab.LOCATION, 256]}}

    emulator = emu.Emulator(run_dir, "emulator", emu.EmulatorOptions(instances=INSTANCES))
    steady = open_ = None
    try:
        emulator.control.config(lookup_override=override)
        # Never opens within the run: every request meets the hung lookup.
        steady = server(run_dir, "steady", emulator, "1000 1h 1")
        # Opens on the first failure and stays open for the run.
        open_ = server(run_dir, "open", emulator, "1 1h 1")
        conn, conn_open = (client.Connection(steady.port),
                           client.Connection(open_.port))
        n = args.requests
        for c in (conn, conn_open):      # warm up: connections, token cache
            measure(c, "/v1/chat/completions", body, 20)
        report.log("measuring plain and normal")
        rows = {"plain": measure(conn, "/plain/v1/chat/completions", body, n),
                "normal": measure(conn, "/v1/chat/completions", body, n)}
        emulator.control.fault(role=vocab.CONTROLLER, path="/lookup", delay_ms=10000)
        report.log("measuring a hung controller (each request waits "
                   f"{LOOKUP_BUDGET_MS} ms)")
        rows["hung"] = measure(conn, "/v1/chat/completions", body,
                               max(50, n // 4))
        measure(conn_open, "/v1/chat/completions", body, 2)  # opens it
        report.log("measuring an open breaker")
        rows["breaker-open"] = measure(conn_open, "/v1/chat/completions",
                                       body, n)
        emulator.control.clear_faults()
    finally:
        for h in (steady, open_):
            if h:
                h.stop()
        emulator.stop()

    base50, base99 = (report.percentile(rows["plain"], 50),
                      report.percentile(rows["plain"], 99))
    print(f"\nAdded latency against plain mod_proxy_balancer "
          f"(KVCacheLookupTimeout {LOOKUP_BUDGET_MS}ms, {n} requests each, "
          "sequential, loopback)")
    print(f"{'situation':14} {'p50 ms':>8} {'p99 ms':>8} {'added p50':>10} "
          f"{'added p99':>10}")
    for name, ms in rows.items():
        p50, p99 = report.percentile(ms, 50), report.percentile(ms, 99)
        print(f"{name:14} {p50:8.3f} {p99:8.3f} {p50 - base50:10.3f} "
              f"{p99 - base99:10.3f}")
    hung99 = report.percentile(rows["hung"], 99) - base99
    open50 = report.percentile(rows["breaker-open"], 50) - base50
    print(report.goal(hung99 <= LOOKUP_BUDGET_MS + 2, f"a hung controller adds "
                      f"{hung99:.2f} ms at p99 (goal <= {LOOKUP_BUDGET_MS + 2} ms)"))
    print(report.goal(open50 <= 0.1, f"an open breaker adds {open50:.3f} ms at p50 "
                      "(goal <= 0.1 ms)"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
