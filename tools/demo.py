#!/usr/bin/python3
# Licensed under the Apache License, Version 2.0 (the "License"); you may not
# use this file except in compliance with the License.  You may obtain a copy
# of the License at http://www.apache.org/licenses/LICENSE-2.0
"""The demo: multi-turn conversations through httpd + mod_kvcache.

Starts the emulator (three vLLM instances, vllm-a to vllm-c, and the LMCache
controller) and httpd with the module on loopback.  Users talk at the same
time; each shares one system prompt, has a private context and asks a new
question every round with the whole history, as chat clients do.  Prints
each request's routing decision, then replays the same conversations
through a round-robin balancer (after emptying every emulated cache) and
compares the cached prompt tokens the instances actually found, and the
simulated time to first token.  Stops everything at the end.

tools/demo.sh builds the module and runs this as an unprivileged user.
Ports: KVC_DEMO_PORT (httpd, 8888), KVC_DEMO_CONTROLLER_PORT (9000) and
KVC_DEMO_INSTANCE_PORT (8001: vllm-a, then vllm-b, vllm-c).
"""

import argparse
import collections
import os
import shutil
import sys
import tempfile

from kvcharness import emu, httpdconf, procs, replay, report, vocab, workloads

INSTANCES = ("vllm-a", "vllm-b", "vllm-c")
MODEL = "demo"


def ports():
    """({emulator role: port}, httpd's port) from the environment, or the defaults."""
    base = int(os.environ.get("KVC_DEMO_INSTANCE_PORT", 8001))
    emulator = {iid: base + i for i, iid in enumerate(INSTANCES)}
    emulator[vocab.CONTROLLER] = int(os.environ.get("KVC_DEMO_CONTROLLER_PORT", 9000))
    return emulator, int(os.environ.get("KVC_DEMO_PORT", 8888))


def start_httpd(run_dir, port, emulator):
    """httpd with two balancers over the same instances: kvcache on /v1/,
    round-robin on /rr/v1/ for the comparison."""
    httpd = procs.Httpd(run_dir, "httpd", port)
    members = [(iid, emulator.ports[iid]) for iid in INSTANCES]
    httpd.configure("\n".join([
        httpdconf.server(httpd),
        httpdconf.kvcache_front(httpd, members, emulator.ports[INSTANCES[0]],
                                emulator.ports[vocab.CONTROLLER], MODEL),
        httpdconf.balancer("llm-rr", members, "byrequests"),
        httpdconf.location("/rr/v1/", "llm-rr")]))
    httpd.start()
    return httpd


def print_outcome(o):
    print(f"  {o.session} round {o.turn + 1}: {o.served_by:7} {o.decision:26} "
          f"predicted {o.matched:5} / {o.prompt:5} tokens, instance found "
          f"{o.cached:5} cached, TTFT {o.ttft:6.1f} ms", flush=True)


def play(emulator, sessions, port, path, verbose):
    """Every user at once, each turn after the previous answer, as chat users
    talk: the instances' queues (and so httpd's busy counts) are real."""
    emulator.control.reset()
    # Engines take real (simulated) time, so concurrent users queue.
    emulator.control.config(time_scale=1.0)
    return replay.play(sessions, lambda: replay.HttpdRouter(port, path),
                       on_outcome=print_outcome if verbose else None)


def summary(outcomes):
    prompt = sum(o.prompt for o in outcomes) or 1
    ttfts = sorted(o.ttft for o in outcomes)
    spread = collections.Counter(o.served_by for o in outcomes)
    return {
        "hit": sum(o.cached for o in outcomes) / prompt,
        "ttft_mean": sum(ttfts) / len(ttfts),
        "ttft_p90": report.percentile(ttfts, 90),
        "errors": sum(not o.ok for o in outcomes),
        "spread": " ".join(f"{k}={v}" for k, v in sorted(spread.items())),
    }


def demo(args, run_dir):
    emulator_ports, httpd_port = ports()
    print(f"== starting the emulator: LMCache controller :{emulator_ports[vocab.CONTROLLER]}, "
          + ", ".join(f"{iid} :{emulator_ports[iid]}" for iid in INSTANCES), flush=True)
    emulator = emu.Emulator(run_dir, "emulator",
                            emu.EmulatorOptions(instances=INSTANCES, ports=emulator_ports))
    httpd = None
    try:
        print(f"== starting httpd with mod_kvcache on :{httpd_port}", flush=True)
        httpd = start_httpd(run_dir, httpd_port, emulator)
        chat = workloads.MultiRoundChat(
            name="demo", users=args.users, rounds=args.rounds, system_tokens=600,
            context_tokens=300, question_tokens=30, answer_tokens=80,
            active_users=args.users, period_s=0.0)
        sessions = chat.sessions(args.seed, MODEL)
        print(f"== {args.users} concurrent users x {args.rounds} rounds through "
              f"lbmethod=kvcache (shared {chat.system_tokens}-word system prompt, "
              "growing history)", flush=True)
        kv = summary(play(emulator, sessions, httpd.port, replay.CHAT_PATH, verbose=True))
        print("== the same conversations through lbmethod=byrequests "
              "(round-robin), caches emptied first", flush=True)
        rr = summary(play(emulator, sessions, httpd.port, "/rr" + replay.CHAT_PATH,
                          verbose=False))

        print("== result (cached tokens as found by the instances themselves)")
        for name, s in (("kvcache", kv), ("round-robin", rr)):
            print(f"  {name:12} prompt tokens hit {100 * s['hit']:5.1f}%   "
                  f"simulated TTFT mean {s['ttft_mean']:6.1f} ms, "
                  f"p90 {s['ttft_p90']:6.1f} ms   errors {s['errors']}   "
                  f"spread {s['spread']}")
        if rr["hit"] > 0:
            print(f"  kvcache hit {kv['hit'] / rr['hit']:.1f}x the cached tokens "
                  "of round-robin")
        with open(os.path.join(httpd.run_dir, httpdconf.KVCACHE_LOG)) as f:
            log = f.readlines()
        print("== per-request log (LogFormat with KVCACHE_* variables):")
        print("".join(log[:5]), end="")
        print(f"   ... ({len(log)} lines in all)")
        return 1 if kv["errors"] or rr["errors"] else 0
    finally:
        if httpd is not None:
            httpd.stop()
        emulator.stop()
        print("== stopped httpd and the emulator")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=6)
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    run_dir = tempfile.mkdtemp(prefix="kvcache-demo.")
    try:
        return demo(args, run_dir)
    finally:
        shutil.rmtree(run_dir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
