#!/usr/bin/python3
# Licensed under the Apache License, Version 2.0 (the "License"); you may not
# use this file except in compliance with the License.  You may obtain a copy
# of the License at http://www.apache.org/licenses/LICENSE-2.0
"""Two builds of mod_kvcache side by side, in one run, on long prompts.

    /usr/bin/python3 bench/compare.py long-prompt --module OLD.so --module NEW.so
    /usr/bin/python3 bench/compare.py contention  --module OLD.so --module NEW.so

Each build gets its own httpd in turn (OLD, NEW, OLD, NEW, ...: a noisy
neighbour on the machine hurts both alike) in front of bench/overhead.py's
upstreams, and the medians over the rounds are printed.  A build of an
earlier commit: `git worktree add /tmp/old COMMIT && (cd /tmp/old &&
tools/build.sh)`, then `--module /tmp/old/.libs/mod_kvcache.so`.

long-prompt: the module's CPU per 128k-token request (httpd's CPU over N
requests through mod_kvcache, minus the same through the plain balancer,
over N; every thread of every httpd process, from schedstat) and the page
faults per request, on the token-cache hit path and the miss path, with
httpd's default memory settings (MaxMemFree 2 MB).

contention: prefork with many children; clients sending distinct long
prompts the token cache holds (each hit copies a large entry out of shmcb)
while other clients send short prompts to a location that counts hot
content (which takes the shared-memory lock on every request): the short
requests' latency and both kinds' throughput.
"""

import argparse
import json
import os
import statistics
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                                "tools"))
import overhead  # noqa: E402
import workload  # noqa: E402
from kvcharness import client, httpdconf, paths, procs, report, vocab  # noqa: E402


def page_faults(pids):
    """Minor page faults so far of every thread of these processes."""
    total = 0
    for pid in pids:
        try:
            tasks = os.listdir(f"/proc/{pid}/task")
        except OSError:
            continue
        for tid in tasks:
            try:
                with open(f"/proc/{pid}/task/{tid}/stat") as f:
                    total += int(f.read().rsplit(")", 1)[1].split()[7])
            except OSError:
                pass
    return total


def use_module(path):
    """The build the next httpd loads."""
    paths.MODULE = os.path.abspath(path)


# ---------------------------------------------------------------- long prompts

def long_prompt_round(setup, requests):
    big = overhead.chat_body(overhead.BIG_PROMPT_TOKENS - 3)
    tokens = len(setup.tokenizer.control.tokenize(json.loads(big)))
    setup.route_everything_equally(tokens)
    conn = client.Connection(setup.httpd.port)
    pids = setup.httpd.pids()

    def per_request(path, bodies):
        conn.request("POST", path, bodies[0])  # warm: connection, token cache
        cpu, faults = procs.cpu_seconds(pids), page_faults(pids)
        for body in bodies:
            response = conn.request("POST", path, body)
            if response.status != 200:
                raise client.HTTPError(path, response)
        return ((procs.cpu_seconds(pids) - cpu) * 1000 / len(bodies),
                (page_faults(pids) - faults) / len(bodies))

    same = [big.encode()] * requests
    unique = [big.replace(overhead.MARKER, f"cold{i}", 1).encode()
              for i in range(requests + 1)]
    plain = per_request("/plain/v1/chat/completions", same)
    hit = per_request("/kvbig/v1/chat/completions", same)
    miss = per_request("/kvbig/v1/chat/completions", unique)
    conn.close()
    return {"hit_ms": hit[0] - plain[0], "miss_ms": miss[0] - plain[0],
            "hit_faults": hit[1] - plain[1], "miss_faults": miss[1] - plain[1]}


def long_prompt(args, run_dir):
    setup = overhead.Setup(run_dir)
    rounds = {m: [] for m in args.module}
    try:
        for n in range(args.rounds):
            for module in args.module:
                use_module(module)
                setup.start_httpd()
                rounds[module].append(long_prompt_round(setup, args.requests))
                setup.httpd.stop()
                report.log(f"long-prompt: round {n + 1}, {module}: {rounds[module][-1]}")
    finally:
        setup.stop()
    print(f"\nmodule CPU and page faults per {overhead.BIG_PROMPT_TOKENS}-token request, "
          f"httpd's default memory settings, {args.requests} requests per path, median "
          f"of {args.rounds} rounds (each: through mod_kvcache minus through the plain "
          "balancer)\n")
    print(f"{'build':<48} {'hit CPU':>9} {'hit faults':>11} {'miss CPU':>9} "
          f"{'miss faults':>12}")
    for module, results in rounds.items():
        med = {k: statistics.median(r[k] for r in results) for k in results[0]}
        print(f"{module:<48} {med['hit_ms']:6.2f} ms {med['hit_faults']:11.0f} "
              f"{med['miss_ms']:6.2f} ms {med['miss_faults']:12.0f}")


# ---------------------------------------------------------------- contention

CHILDREN = 16


def contention_httpd(setup, run_dir, name):
    members = [(iid, setup.backend_ports[iid]) for iid in overhead.BACKENDS]
    server = procs.Httpd(run_dir, name, procs.free_ports(1)[0])
    budgets = ("KVCacheEnable On", "KVCacheTokenizeTimeout 10s",
               "KVCacheLookupTimeout 10s", "KVCacheRequestTimeout 10s",
               httpdconf.STREAM_BODIES)
    server.configure("\n".join([
        httpdconf.server(server, mpm="prefork"),
        f"StartServers {CHILDREN}\nMinSpareServers {CHILDREN}\n"
        f"MaxSpareServers {CHILDREN}\nServerLimit {CHILDREN}\n"
        f"MaxRequestWorkers {CHILDREN}\nMaxConnectionsPerChild 0\n"
        "KeepAliveTimeout 30\nMaxKeepAliveRequests 0\n",
        httpdconf.upstreams(setup.tokenizer.ports["tokenizer"],
                            setup.controller.ports[vocab.CONTROLLER]),
        "KVCacheTokenCacheSize 4096\nKVCacheHotMaxRecords 1000000\n",
        httpdconf.balancer("kv", members, "kvcache"),
        httpdconf.location("/long/v1/", "kv", budgets),
        # Hot counting on every request: the shared-memory lock each time.
        httpdconf.location("/short/v1/", "kv", (
            *budgets, "KVCachePinning On", "KVCacheHotThreshold 1000000",
            "KVCachePin auto LocalCPUBackend"))]))
    return server


def contention_round(setup, run_dir, module, args):
    use_module(module)
    server = contention_httpd(setup, run_dir, "contention-httpd")
    server.start(children=CHILDREN)
    longs = [overhead.chat_body(args.long_tokens - 3).replace(
        overhead.MARKER, f"long{i}", 1).encode() for i in range(args.long_clients)]
    short = overhead.chat_body(200).encode()
    setup.route_everything_equally(args.long_tokens)
    for body in longs:  # into the token cache
        client.request(server.port, "POST", "/long/v1/chat/completions", body)
    client.request(server.port, "POST", "/short/v1/chat/completions", short)
    latencies, counts, stop = [], {"long": 0, "short": 0}, threading.Event()
    lock = threading.Lock()

    def loop(kind, path, body):
        conn = client.Connection(server.port)
        while not stop.is_set():
            t0 = time.monotonic()
            response = conn.request("POST", path, body)
            took = time.monotonic() - t0
            if response.status != 200:
                raise client.HTTPError(path, response)
            with lock:
                counts[kind] += 1
                if kind == "short":
                    latencies.append(took * 1000)
        conn.close()

    threads = [threading.Thread(target=loop, args=("long", "/long/v1/chat/completions", b),
                                daemon=True) for b in longs]
    threads += [threading.Thread(target=loop, args=("short", "/short/v1/chat/completions",
                                                    short), daemon=True)
                for _ in range(args.short_clients)]
    for t in threads:
        t.start()
    time.sleep(args.seconds)
    stop.set()
    for t in threads:
        t.join()
    server.stop()
    latencies.sort()
    return {"short_p50": report.percentile(latencies, 50),
            "short_p99": report.percentile(latencies, 99),
            "short_rps": counts["short"] / args.seconds,
            "long_rps": counts["long"] / args.seconds}


def contention(args, run_dir):
    setup = overhead.Setup(run_dir)
    rounds = {m: [] for m in args.module}
    try:
        for n in range(args.rounds):
            for module in args.module:
                rounds[module].append(contention_round(setup, run_dir, module, args))
                report.log(f"contention: round {n + 1}, {module}: {rounds[module][-1]}")
    finally:
        setup.stop()
    print(f"\nprefork, {CHILDREN} children; {args.long_clients} clients sending distinct "
          f"{args.long_tokens}-token prompts from the token cache and {args.short_clients} "
          "sending a short one to a location that counts hot content, "
          f"{args.seconds} s, median of {args.rounds} rounds\n")
    print(f"{'build':<48} {'short p50':>10} {'short p99':>10} {'short/s':>8} {'long/s':>7}")
    for module, results in rounds.items():
        med = {k: statistics.median(r[k] for r in results) for k in results[0]}
        print(f"{module:<48} {med['short_p50']:7.2f} ms {med['short_p99']:7.2f} ms "
              f"{med['short_rps']:8.1f} {med['long_rps']:7.1f}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("what", choices=("long-prompt", "contention"))
    parser.add_argument("--module", action="append", required=True,
                        help="a mod_kvcache.so to compare (repeatable)")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--requests", type=int, default=10,
                        help="long-prompt: requests per path and round")
    parser.add_argument("--long-tokens", type=int, default=64000)
    parser.add_argument("--long-clients", type=int, default=12)
    parser.add_argument("--short-clients", type=int, default=4)
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--run-dir", help="where configs and logs go (default: temp)")
    args = parser.parse_args()
    run_dir = args.run_dir or tempfile.mkdtemp(prefix="kvcache-compare.")
    os.makedirs(run_dir, exist_ok=True)
    (long_prompt if args.what == "long-prompt" else contention)(args, run_dir)
    return 0


if __name__ == "__main__":
    sys.exit(main())
