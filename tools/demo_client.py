#!/usr/bin/python3
"""Demo client: plays multi-turn conversations through httpd + mod_kvcache.

Users talk at the same time; each shares one system prompt, has a private
context and asks a new question every round with the whole history, as chat
clients do.  Prints each request's routing decision, then replays the same
conversations through a round-robin balancer (after emptying every emulated
cache) and compares the cached prompt tokens the instances actually found,
and the simulated time to first token.  Standard library only.
"""

import argparse
import http.client
import json
import random
import sys
import threading
import urllib.parse


def words(rng, n, tag):
    return " ".join(f"{tag}{rng.randrange(100000)}" for _ in range(n))


def conversations(users, rounds, seed):
    """One list of chat turns per user: a shared system prompt, a private
    context, then each round's question with the whole history so far."""
    rng = random.Random(seed)
    system = {"role": "system", "content": words(rng, 600, "sys")}
    result = []
    for u in range(users):
        history = [system, {"role": "user",
                            "content": words(rng, 300, f"ctx{u}-")}]
        turns = []
        for _ in range(rounds):
            history.append({"role": "user", "content": words(rng, 30, "q")})
            turns.append(list(history))
            history.append({"role": "assistant",
                            "content": words(rng, 80, "a")})
        result.append(turns)
    return result


class Client:
    def __init__(self, url):
        parts = urllib.parse.urlsplit(url)
        self.conn = http.client.HTTPConnection(parts.hostname, parts.port,
                                               timeout=30)

    def post(self, path, body):
        data = json.dumps(body).encode()
        self.conn.request("POST", path, data,
                          {"Content-Type": "application/json"})
        res = self.conn.getresponse()
        payload = res.read()
        return res.status, res.headers, payload


def control(url, path, body):
    client = Client(url)
    status, _, payload = client.post(path, body)
    if status != 200:
        sys.exit(f"emulator {path}: {status} {payload[:200]!r}")


def play(args, path, verbose):
    """Every user talks at the same time, each turn after the previous
    answer, as chat users do: the instances' queues (and so httpd's busy
    counts) are real.  Returns per-request results."""
    results = []
    lock = threading.Lock()

    def user_session(user, turns):
        client = Client(args.url)
        for rnd, messages in enumerate(turns):
            status, headers, payload = client.post(
                path, {"model": "demo", "messages": messages,
                       "max_tokens": 16})
            kvemu = (json.loads(payload).get("kvemu", {})
                     if status == 200 else {})
            row = {
                "status": status,
                "served_by": headers.get("X-Kvemu-Served-By", "?"),
                "decision": headers.get("X-KVCache-Decision", "-"),
                "matched": int(headers.get("X-KVCache-Matched") or 0),
                "prompt": kvemu.get("prompt_tokens", 0),
                "cached": kvemu.get("cached_tokens", 0),
                "ttft": kvemu.get("simulated_ttft_ms", 0.0),
            }
            with lock:
                results.append(row)
                if verbose:
                    print(f"  user {user + 1} round {rnd + 1}: "
                          f"{row['served_by']:7} {row['decision']:26} "
                          f"predicted {row['matched']:5} / {row['prompt']:5}"
                          f" tokens, instance found {row['cached']:5} "
                          f"cached, TTFT {row['ttft']:6.1f} ms", flush=True)

    threads = [threading.Thread(target=user_session, args=(u, turns))
               for u, turns in enumerate(conversations(args.users,
                                                       args.rounds,
                                                       args.seed))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return results


def summary(results):
    prompt = sum(r["prompt"] for r in results) or 1
    cached = sum(r["cached"] for r in results)
    ttfts = sorted(r["ttft"] for r in results)
    spread = {}
    for r in results:
        spread[r["served_by"]] = spread.get(r["served_by"], 0) + 1
    return {
        "hit": cached / prompt,
        "ttft_mean": sum(ttfts) / len(ttfts),
        "ttft_p90": ttfts[int(0.9 * (len(ttfts) - 1))],
        "errors": sum(1 for r in results if r["status"] != 200),
        "spread": " ".join(f"{k}={v}" for k, v in sorted(spread.items())),
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", required=True, help="httpd base URL")
    parser.add_argument("--control", required=True,
                        help="emulator controller base URL")
    parser.add_argument("--users", type=int, default=6)
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()

    control(args.control, "/_emu/reset", {})
    # Engines take real (simulated) time, so concurrent users queue.
    control(args.control, "/_emu/config", {"time_scale": 1.0})
    print(f"== {args.users} concurrent users x {args.rounds} rounds through "
          "lbmethod=kvcache (shared 600-word system prompt, growing history)",
          flush=True)
    kv = summary(play(args, "/v1/chat/completions", verbose=True))

    control(args.control, "/_emu/reset", {})
    control(args.control, "/_emu/config", {"time_scale": 1.0})
    print("== the same conversations through lbmethod=byrequests "
          "(round-robin), caches emptied first", flush=True)
    rr = summary(play(args, "/rr/v1/chat/completions", verbose=False))

    print("== result (cached tokens as found by the instances themselves)")
    for name, s in (("kvcache", kv), ("round-robin", rr)):
        print(f"  {name:12} prompt tokens hit {100 * s['hit']:5.1f}%   "
              f"simulated TTFT mean {s['ttft_mean']:6.1f} ms, "
              f"p90 {s['ttft_p90']:6.1f} ms   errors {s['errors']}   "
              f"spread {s['spread']}")
    if rr["hit"] > 0:
        print(f"  kvcache hit {kv['hit'] / rr['hit']:.1f}x the cached tokens "
              f"of round-robin")
    return 1 if kv["errors"] or rr["errors"] else 0


if __name__ == "__main__":
    sys.exit(main())
