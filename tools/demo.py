#!/usr/bin/python3
# Licensed under the Apache License, Version 2.0 (the "License"); you may not
# use this file except in compliance with the License.  You may obtain a copy
# of the License at http://www.apache.org/licenses/LICENSE-2.0
"""The demo: the benchmark's multi-round chat through httpd + mod_kvcache,
under real cache pressure, against round-robin and pure max-match.

The emulated cluster and the workload are the routing benchmark's
(bench/workload.py CLUSTER and MULTI_ROUND, replayed by bench/quality.py's
own code): four emulated vLLM instances of 32,000 KV tokens each behind an
emulated LMCache controller; 48 users, 32 of them talking at once, each
sending ten rounds that resend a shared 1,000-word system prompt, a
private 2,000-word context and the growing history.  The prefixes worth
keeping add up to 1.26x what the four instances can hold, so routing
decides which survive.  The same conversations are played three times,
caches emptied and httpd restarted in between:

  kvcache     lbmethod=kvcache, the default policy (lowest predicted TTFT)
  maxmatch    lbmethod=kvcache with KVCachePolicy maxmatch (pure max-match)
  round-robin lbmethod=byrequests

Every figure comes from the run itself, as the instances report it: the
cached tokens they found, the longest prefix any of them held when the
request arrived, the simulated time to first token (queueing for the
engine + prefill of the uncached tokens + load of the cached ones).  The
picture (cached share, TTFT distribution per policy) is a PNG drawn with
python3-matplotlib; its path is printed at the end.

tools/demo.sh builds the module and runs this as an unprivileged user.
"""

import argparse
import json
import os
import shutil
import sys
import tempfile
import time

TOP = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(TOP, "bench"))
import quality  # noqa: E402
import workload  # noqa: E402
from kvcharness import emu, plot, report  # noqa: E402

# (label, bench/quality.py policy)
POLICIES = (("kvcache", "kvcache"), ("maxmatch", "kvcache-maxmatch"),
            ("round-robin", "byrequests"))
DEFAULT_PICTURE = "/tmp/kvcache-demo.png"


def first_decisions(run_dir, policy, name, n):
    """The first n requests of a policy's run, in the order they were sent."""
    path = os.path.join(run_dir, f"records-{policy}-{name.replace(' ', '-')}.json")
    with open(path) as f:
        records = sorted(json.load(f), key=lambda r: r["sent"])
    return records[:n]


def demo(args, run_dir):
    chat = workload.MULTI_ROUND
    sessions = workload.sessions(chat)
    print(f"== {workload.describe_cluster()}")
    print(f"== workload (bench/workload.py): {workload.describe(chat)}", flush=True)
    emulator = emu.Emulator(run_dir, "demo-emulator", workload.CLUSTER)
    tokenizer = emu.Emulator(run_dir, "demo-tokenizer",
                             emu.EmulatorOptions(instances=("tokenizer",)))
    results = {}
    try:
        for label, name in POLICIES:
            policy = next(p for p in quality.POLICIES if p.name == name)
            print(f"== {label}: {policy.description}", flush=True)
            started = time.monotonic()
            outcome = quality.run_policy(policy, emulator, tokenizer, run_dir,
                                         {chat.name: sessions})
            if outcome == quality.NOT_SUPPORTED:
                raise RuntimeError(f"this build lacks what {label} needs")
            results[name] = outcome[chat.name]
            print(f"   {results[name]['requests']} requests in "
                  f"{time.monotonic() - started:.0f} s", flush=True)
            if name == "kvcache":
                print("   its first requests (instance, decision, predicted/prompt "
                      "tokens, found cached, simulated TTFT):")
                for r in first_decisions(run_dir, name, chat.name, args.show):
                    print(f"     {r['session']:>8} round {r['turn'] + 1:<2} "
                          f"{r['served_by']:7} {r['decision']:22} {r['matched']:5}/"
                          f"{r['prompt']:<5} found {r['cached']:5}  "
                          f"TTFT {r['ttft']:6.0f} ms")
    finally:
        emulator.stop()
        tokenizer.stop()

    print("== result, from this run (tokens as the instances found them)")
    print(f"  {'policy':12} {'cached tokens':>14} {'of prompt':>10} {'of available':>13} "
          f"{'TTFT p50':>9} {'TTFT p90':>9}  answered")
    for label, name in POLICIES:
        s = results[name]
        print(f"  {label:12} {s['cached']:>14,} {quality.percent(s['cached'], s['prompt']):9.1f}% "
              f"{quality.percent(s['cached'], s['available']):12.1f}% "
              f"{s['ttft'][50]:6.0f} ms {s['ttft'][90]:6.0f} ms  "
              f"{s['requests'] - s['errors']}/{s['requests'] + s['unsent']}")
    kv, mm, rr = (results[name] for _, name in POLICIES)
    print(f"  kvcache: {quality.vs(kv, rr):.2f}x round-robin's cached tokens, "
          f"TTFT p90 {rr['ttft'][90] / max(kv['ttft'][90], 1e-9):.1f}x lower than "
          f"round-robin's")
    print(f"  maxmatch: {quality.vs(mm, rr):.2f}x round-robin's cached tokens, TTFT p90 "
          f"{mm['ttft'][90] / max(rr['ttft'][90], 1e-9):.1f}x round-robin's: every "
          "user piles onto the instance holding the system prompt")
    if mm["unsent"]:
        print(f"  maxmatch could not keep up: {mm['unsent']} requests were still unsent "
              f"when the run ended ({quality.DEADLINE_FACTOR}x the schedule), its users "
              "gave up")
    rows = quality.plot_rows(results, [p for _, n in POLICIES
                                       for p in quality.POLICIES if p.name == n])
    for row, (label, _) in zip(rows, POLICIES):
        row["label"] = label
    picture = plot.comparison(args.picture, "mod_kvcache demo: multi-round chat, "
                              "48 users, 4 instances (cache pressure 1.26x)", rows)
    print(f"== picture: {picture}")
    failed = any(results[n]["errors"] for _, n in POLICIES)
    return 1 if failed else 0


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--picture", default=os.environ.get("KVC_DEMO_PICTURE",
                                                            DEFAULT_PICTURE),
                        help=f"where the PNG goes (default {DEFAULT_PICTURE})")
    parser.add_argument("--show", type=int, default=6,
                        help="how many of kvcache's first decisions to print (6)")
    args = parser.parse_args()
    run_dir = tempfile.mkdtemp(prefix="kvcache-demo.")
    started = time.monotonic()
    try:
        return demo(args, run_dir)
    finally:
        shutil.rmtree(run_dir, ignore_errors=True)
        report.log(f"demo: {time.monotonic() - started:.0f} s")


if __name__ == "__main__":
    sys.exit(main())
