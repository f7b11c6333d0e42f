#!/usr/bin/python3
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

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402

LOOKUP_BUDGET_MS = 50
INSTANCES = ("vllm-a", "vllm-b", "vllm-c")


def percentile(sorted_ms, q):
    return sorted_ms[min(len(sorted_ms) - 1, int(q * len(sorted_ms)))]


def measure(conn, path, body, n):
    """Latencies in ms of n sequential POSTs; every one must be a 200."""
    latencies = []
    for _ in range(n):
        start = time.perf_counter()
        status, _, _ = conn.request("POST", path, body)
        latencies.append((time.perf_counter() - start) * 1000)
        if status != 200:
            raise RuntimeError(f"{path}: status {status}")
    return sorted(latencies)


def server(run_dir, name, emu, breaker):
    members = [(i, emu.ports[i]) for i in INSTANCES]
    blocks = "\n".join([
        harness.balancer("llm", members, "kvcache"),
        harness.location("/plain/v1/", "llm"),
        harness.location("/v1/", "llm", ["KVCacheEnable On"]),
    ])
    settings = "\n".join([
        f"KVCacheVLLMEndpoint http://127.0.0.1:{emu.ports['vllm-a']}",
        f"KVCacheLMCacheEndpoint http://127.0.0.1:{emu.ports['controller']}",
        f"KVCacheLookupTimeout {LOOKUP_BUDGET_MS}ms",
        f"KVCacheCircuitBreaker {breaker}",
        "KVCacheRetry 1 10ms 10ms",
    ])
    port = harness.free_ports(1)[0]
    httpd = harness.Httpd(run_dir, name, port, blocks, settings)
    httpd.start()
    return httpd


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=400)
    parser.add_argument("--run-dir", default=None)
    args = parser.parse_args()
    run_dir = args.run_dir or tempfile.mkdtemp(prefix="kvc-resilience.")
    body = json.dumps({"model": "m", "max_tokens": 8, "messages": [
        {"role": "user", "content": "resilience " * 200}]}).encode()
    override = {"lookup_override": {"layout_info": {
        "vllm-b": [harness.LOCATION, 256]}}}

    emu = harness.Emulator(run_dir, "emulator", INSTANCES)
    steady = open_ = None
    try:
        emu.control("/_emu/config", override)
        # Never opens within the run: every request meets the hung lookup.
        steady = server(run_dir, "steady", emu, "1000 1h 1")
        # Opens on the first failure and stays open for the run.
        open_ = server(run_dir, "open", emu, "1 1h 1")
        conn, conn_open = (harness.Connection(steady.port),
                           harness.Connection(open_.port))
        n = args.requests
        for c in (conn, conn_open):      # warm up: connections, token cache
            measure(c, "/v1/chat/completions", body, 20)
        harness.log("measuring plain and normal")
        rows = {"plain": measure(conn, "/plain/v1/chat/completions", body, n),
                "normal": measure(conn, "/v1/chat/completions", body, n)}
        emu.control("/_emu/fault", {"role": "controller", "path": "/lookup",
                                    "delay_ms": 10000})
        harness.log("measuring a hung controller (each request waits "
                    f"{LOOKUP_BUDGET_MS} ms)")
        rows["hung"] = measure(conn, "/v1/chat/completions", body,
                               max(50, n // 4))
        measure(conn_open, "/v1/chat/completions", body, 2)  # opens it
        harness.log("measuring an open breaker")
        rows["breaker-open"] = measure(conn_open, "/v1/chat/completions",
                                       body, n)
        emu.control("/_emu/clear_faults", {})
    finally:
        for h in (steady, open_):
            if h:
                h.stop()
        emu.stop()

    base50, base99 = (percentile(rows["plain"], 0.5),
                      percentile(rows["plain"], 0.99))
    print(f"\nAdded latency against plain mod_proxy_balancer "
          f"(KVCacheLookupTimeout {LOOKUP_BUDGET_MS}ms, {n} requests each, "
          "sequential, loopback)")
    print(f"{'situation':14} {'p50 ms':>8} {'p99 ms':>8} {'added p50':>10} "
          f"{'added p99':>10}")
    for name, ms in rows.items():
        p50, p99 = percentile(ms, 0.5), percentile(ms, 0.99)
        print(f"{name:14} {p50:8.3f} {p99:8.3f} {p50 - base50:10.3f} "
              f"{p99 - base99:10.3f}")
    hung99 = percentile(rows["hung"], 0.99) - base99
    open50 = percentile(rows["breaker-open"], 0.5) - base50
    print(f"goal: hung p99 added <= {LOOKUP_BUDGET_MS + 2} ms: "
          f"{'met' if hung99 <= LOOKUP_BUDGET_MS + 2 else 'MISSED'} "
          f"({hung99:.2f} ms)")
    print(f"goal: breaker open p50 added <= 0.1 ms: "
          f"{'met' if open50 <= 0.1 else 'MISSED'} ({open50:.3f} ms)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
