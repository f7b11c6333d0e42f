#!/usr/bin/python3
# Licensed under the Apache License, Version 2.0 (the "License"); you may not
# use this file except in compliance with the License.  You may obtain a copy
# of the License at http://www.apache.org/licenses/LICENSE-2.0
"""Routing-quality benchmark: the same workloads through every routing policy.

For each policy the emulated cluster (bench/workload.py CLUSTER: one
tools/kvc_emulator.py process for the engines and the LMCache controller,
which share the KV state, and one more for the module's /tokenize calls,
which need none, as vLLM's API server tokenizes beside its engine) is
reset, then each workload is replayed
with every session in its own thread, on the workload's schedule
(kvcharness.replay), so that requests overlap, hold engine slots for real
time (time scale > 0) and mod_proxy_balancer's busy counts differ between
members.  httpd is
restarted for each policy, so no policy inherits another's token cache or
balancer state.

Policies: httpd with `lbmethod=kvcache` (the default, KVCachePolicy ttft:
the lowest predicted time to first token; then KVCachePolicy share, the
earlier default score; KVCachePolicy maxmatch, Pixiu's choice; and
KVCacheTokenize async, Pixiu's timing), `byrequests` (round-robin),
`bybusyness`, and a client-side oracle that asks the emulator for every
instance's exact cached prefix of each request (/_emu/match) and sends it
straight to the best instance, ties to the least loaded.  A directive a
build lacks makes its policy's row "n/a".

Every kvcache location names KVCacheSessionHeader X-Session-Id; only the
agentic workload sends that header.  With --runs N every workload is
replayed N times and each run's table and goals printed, then the spread
of the goals' figures.

Everything measured comes from the instances themselves: cached tokens from
`kvemu.cached_tokens` (= usage.prompt_tokens_details.cached_tokens), the
simulated time to first token from `kvemu.simulated_ttft_ms` (queueing for
an engine slot + prefill of uncached tokens + load of cached ones), the
serving instance from X-Kvemu-Served-By; the module's decision and the
match it predicted for the member it chose from the X-KVCache-Decision and
X-KVCache-Matched headers the configuration adds (found/pred: the cached
tokens the engines found over those predicted, for the policies that
predict).

    /usr/bin/python3 bench/quality.py [--run-dir DIR] [--policy NAME ...]
                                      [--workload NAME ...] [--runs N]
                                      [--plot DIR]
"""

import argparse
import collections
import os
import sys
import tempfile
import time
from dataclasses import dataclass

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                                "tools"))
import workload  # noqa: E402
from kvcharness import client, emu, httpdconf, replay, report, vocab, workloads  # noqa: E402


@dataclass(frozen=True)
class Policy:
    name: str
    description: str
    lbmethod: str = ""      # empty: the client-side oracle, no httpd
    directives: tuple = ()  # extra directives in the routed <Location>

    @property
    def kvcache(self):
        return self.lbmethod == "kvcache"


POLICIES = (
    Policy("kvcache", "lbmethod=kvcache, lowest predicted TTFT (default)", "kvcache"),
    Policy("kvcache-share", "KVCachePolicy share: matched share minus relative load "
           "(the earlier default)", "kvcache", ("KVCachePolicy share",)),
    Policy("kvcache-maxmatch", "KVCachePolicy maxmatch: pure max-match (Pixiu's choice)",
           "kvcache", ("KVCachePolicy maxmatch",)),
    Policy("kvcache-async", "KVCacheTokenize async (Pixiu's timing)", "kvcache",
           ("KVCacheTokenize async",)),
    Policy("byrequests", "lbmethod=byrequests (round-robin)", "byrequests"),
    Policy("bybusyness", "lbmethod=bybusyness (least in flight)", "bybusyness"),
    Policy("oracle", "client-side: exact best cached prefix, ties to least loaded"),
)
NOT_SUPPORTED = "n/a (not supported by this build)"
# A new turn counts as routed when the module decided on its own tokens:
# it routed it, or its lookup found no prefix of it anywhere (every instance
# is as good as another; the fallback lbmethod picks).  Pixiu's async mode
# fails this on every new prompt: its tokens are not known in time.
ROUTED_DECISIONS = (vocab.ROUTED, vocab.fallback("lookup-empty"))
DEADLINE_FACTOR = 1.5
# Budgets of 1 s instead of 200 ms (tokenize) and 50 ms (lookup).  The
# upstreams here are Python processes sharing two cores with httpd and the
# client: tokenizing an 8,000-token prompt can take them a few hundred ms on
# a busy machine (real vLLM takes milliseconds), and with the defaults the
# timeouts open the circuit breakers and the run measures the fallback
# lbmethod instead of kvcache routing.  Simulated TTFT does not include the
# gateway's own time either way; bench/overhead.py measures that.
KVCACHE_BASE = ("KVCacheEnable On", "KVCacheTokenizeTimeout 1s", "KVCacheLookupTimeout 1s",
                f"KVCacheSessionHeader {workloads.SESSION_HEADER}")


# ---------------------------------------------------------------- the oracle

class OracleRouter:
    """Routes with perfect knowledge of the instances' caches.

    Asks the emulator (/_emu/match, which changes nothing) how long a prefix
    of this very prompt each instance holds, and sends the request straight
    to the instance holding the longest; ties go to the instance with the
    fewest requests holding or waiting for its prefill slot, then to the
    first listed.  This is
    the best available match at the moment of the request; it knows nothing
    about the future, so like any max-match policy it can pile requests
    onto one instance.
    """

    def __init__(self, emulator):
        self.emulator = emu.EmulatorControl(emulator.ports[vocab.CONTROLLER])
        self.instances = {iid: client.Connection(emulator.ports[iid])
                          for iid in workload.CLUSTER.instances}

    def send(self, request):
        found = self.emulator.match(request.body)["instances"]
        order = workload.CLUSTER.instances
        best = max(order, key=lambda iid: (found[iid]["cached_tokens"],
                                           -found[iid]["running"] - found[iid]["waiting"],
                                           -order.index(iid)))
        return replay.Outcome.of(self.instances[best].request("POST", replay.CHAT_PATH,
                                                              request.body))

    def close(self):
        self.emulator.close()
        for conn in self.instances.values():
            conn.close()


# ---------------------------------------------------------------- metrics

def summarize(policy, outcomes, scheduled):
    ok = [o for o in outcomes if o.ok]
    ttfts = sorted(o.ttft for o in ok)
    decisions = collections.Counter(o.decision for o in ok)
    served = collections.Counter(o.served_by for o in ok)
    return {
        "requests": len(outcomes),
        "unsent": scheduled - len(outcomes),
        "errors": len(outcomes) - len(ok),
        # The emulator's prompt length must equal the generator's count:
        # otherwise the workload is not what the sizing says.
        "length_mismatches": sum(o.prompt != o.expected_prompt for o in ok),
        "prompt": sum(o.prompt for o in ok),
        "cached": sum(o.cached for o in ok),
        "predicted": sum(o.matched for o in ok) if policy.kvcache else None,
        "available": sum(o.available for o in ok),
        "ttft": {q: report.percentile(ttfts, q) for q in (50, 90, 99)},
        "ttfts": ttfts,
        "routed": (sum(decisions[d] for d in ROUTED_DECISIONS)
                   if policy.kvcache else None),
        "fallbacks": collections.Counter(
            {vocab.fallback_reason(d): n for d, n in decisions.items()
             if vocab.fallback_reason(d)}) if policy.kvcache else None,
        "spread": [served[i] for i in workload.CLUSTER.instances],
    }


def percent(part, whole):
    return 100.0 * part / whole if whole else 0.0


def hit_rate(s):
    """Cached prompt tokens / prompt tokens, over the requests answered."""
    return s["cached"] / s["prompt"] if s["prompt"] else 0.0


def vs(s, other):
    """s's cached tokens relative to other's, as a ratio of token hit rates.

    When both sent every request (the same prompts) this is simply the ratio
    of cached tokens; it stays fair when a run was cut at its deadline.
    """
    return hit_rate(s) / hit_rate(other) if hit_rate(other) else float("inf")


def table(results):
    """The per-policy table of one workload, as text."""
    oracle = results.get("oracle")
    ids = "/".join(i.rsplit("-", 1)[-1] for i in workload.CLUSTER.instances)
    header = (f"{'policy':<16} {'cached':>8} {'cached':>7} {'token':>6} {'found':>6} "
              f"{'TTFT p50':>9} {'p90':>7} {'p99':>7} {'fall-':>6} {'turns':>7}  "
              f"{'load spread':<16}")
    header2 = (f"{'':<16} {'/oracle':>8} {'/avail':>7} {'hit':>6} {'/pred':>6} "
               f"{'(ms)':>9} {'(ms)':>7} {'(ms)':>7} {'backs':>6} {'routed':>7}  "
               f"{ids + ' (% req)':<16}")
    lines = [header, header2, "-" * len(header)]
    notes = []
    for p in POLICIES:
        s = results.get(p.name)
        if s is None:
            continue
        if s == NOT_SUPPORTED:
            lines.append(f"{p.name:<16} {NOT_SUPPORTED}")
            continue
        vs_oracle = (f"{100 * vs(s, oracle):7.1f}%"
                     if isinstance(oracle, dict) and oracle["cached"] else "     n/a")
        ok = s["requests"] - s["errors"]
        fallbacks = "-" if s["fallbacks"] is None else str(sum(s["fallbacks"].values()))
        routed = "-" if s["routed"] is None else f"{percent(s['routed'], ok):6.1f}%"
        spread = "/".join(f"{percent(n, ok):.0f}" for n in s["spread"])
        accuracy = ("     -" if not s["predicted"]
                    else f"{percent(s['cached'], s['predicted']):5.0f}%")
        lines.append(
            f"{p.name:<16} {vs_oracle:>8} {percent(s['cached'], s['available']):6.1f}% "
            f"{100 * hit_rate(s):5.1f}% {accuracy:>6} "
            f"{s['ttft'][50]:9.0f} {s['ttft'][90]:7.0f} {s['ttft'][99]:7.0f} "
            f"{fallbacks:>6} {routed:>7}  {spread:<16}")
        if s["fallbacks"]:
            notes.append(f"{p.name}: fallbacks " + ", ".join(
                f"{reason} {n}" for reason, n in s["fallbacks"].most_common()))
        if s["unsent"]:
            notes.append(f"{p.name}: could not keep up, {s['unsent']} of "
                         f"{s['unsent'] + s['requests']} requests still unsent at the "
                         f"deadline ({DEADLINE_FACTOR}x the schedule)")
        if s["errors"] or s["length_mismatches"]:
            notes.append(f"{p.name}: {s['errors']} failed requests, "
                         f"{s['length_mismatches']} prompt length mismatches")
    return "\n".join(lines + [f"  {note}" for note in notes])


def plot_rows(results, policies=POLICIES):
    """The policies' rows for kvcharness.plot.comparison()."""
    return [{"name": p.name, "prompt": s["prompt"], "cached": s["cached"],
             "available": s["available"], "ttfts": s["ttfts"]}
            for p in policies for s in [results.get(p.name)] if isinstance(s, dict)]


def plot(results, workload_name, directory):
    """Draws one workload's table as a PNG in directory; returns its path."""
    from kvcharness import plot as kvplot  # python3-matplotlib, only when asked

    os.makedirs(directory, exist_ok=True)
    path = os.path.join(directory, f"quality-{workload_name.replace(' ', '-')}.png")
    return kvplot.comparison(path, f"mod_kvcache routing quality: {workload_name}",
                             plot_rows(results))


def goal_figures(results):
    """The issue's goals for the default kvcache policy: [(name, value,
    target)], or [] when a run lacks the policies they compare."""
    kv, rr = results.get("kvcache"), results.get("byrequests")
    if not isinstance(kv, dict) or not isinstance(rr, dict):
        return []
    return [
        ("cached tokens, % of the prefix available at arrival",
         percent(kv["cached"], kv["available"]), 95),
        ("cached tokens vs round-robin's (x)", vs(kv, rr), 2),
        ("TTFT p90 lower than round-robin's (x)",
         rr["ttft"][90] / kv["ttft"][90] if kv["ttft"][90] else float("inf"), 5),
        ("new turns routed on their own tokens (%)",
         percent(kv["routed"], kv["requests"] - kv["errors"]), 95),
    ]


def goals(results):
    """The goals as text lines."""
    return [report.goal(value >= target, f"{name}: {value:.2f} (goal >= {target})")
            for name, value, target in goal_figures(results)]


def spread(runs):
    """Each goal's figure over several runs of one workload, as text lines."""
    lines = []
    per_run = [goal_figures(r) for r in runs]
    for i, (name, _, target) in enumerate(per_run[0] if per_run and per_run[0] else []):
        values = [figures[i][1] for figures in per_run if figures]
        lines.append(report.goal(all(v >= target for v in values),
                                 f"{name}: {min(values):.2f} to {max(values):.2f} "
                                 f"over {len(values)} runs (goal >= {target} in each)"))
    return lines


# ---------------------------------------------------------------- main

def httpd_for(policy, run_dir, emulator, tokenizer):
    ports = emulator.ports
    kv_directives = (KVCACHE_BASE + policy.directives) if policy.kvcache else ()
    members = [(i, ports[i]) for i in workload.CLUSTER.instances]
    return workload.httpd(
        run_dir, f"quality-{policy.name}",
        httpdconf.upstreams(tokenizer.ports["tokenizer"], ports[vocab.CONTROLLER]),
        httpdconf.balancer("llm", members, policy.lbmethod),
        httpdconf.location("/v1/", "llm", (httpdconf.STREAM_BODIES, *kv_directives)))


def run_policy(policy, emulator, tokenizer, run_dir, all_sessions):
    """{workload name: summary}, or NOT_SUPPORTED; httpd runs only meanwhile."""
    httpd = None
    if policy.lbmethod:
        httpd = httpd_for(policy, run_dir, emulator, tokenizer)
        ok, message = httpd.check()
        if not ok:
            if "Invalid command" in message:  # a directive this build lacks
                report.log(f"  {policy.name}: {NOT_SUPPORTED}: {message}")
                return NOT_SUPPORTED
            raise RuntimeError(f"httpd -t for {policy.name}: {message}")
        httpd.start(children=workload.STARTED_CHILDREN)
        new_router = lambda: replay.HttpdRouter(httpd.port)  # noqa: E731
    else:
        new_router = lambda: OracleRouter(emulator)  # noqa: E731
    try:
        results = {}
        for name, sessions in all_sessions.items():
            emulator.control.reset()
            scheduled = sum(len(s.requests) for s in sessions)
            report.log(f"  {policy.name}: {name} ({scheduled} requests)")
            started = time.monotonic()
            outcomes = replay.play(
                sessions, new_router, workload.CLUSTER.time_scale, DEADLINE_FACTOR,
                on_progress=lambda n, total: report.log(f"    {n}/{total} requests answered"))
            results[name] = summarize(policy, outcomes, scheduled)
            slug = name.replace(" ", "-")
            replay.save(outcomes, os.path.join(run_dir, f"records-{policy.name}-{slug}.json"))
            report.log(f"  {policy.name}: {name} done in "
                       f"{time.monotonic() - started:.0f} s")
        return results
    finally:
        if httpd is not None:
            httpd.stop()


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run-dir", help="where configs and logs go (default: temp)")
    parser.add_argument("--policy", action="append", choices=[p.name for p in POLICIES],
                        help="run only these policies (repeatable)")
    parser.add_argument("--workload", action="append",
                        choices=[w.name for w in workload.WORKLOADS],
                        help="run only these workloads (repeatable)")
    parser.add_argument("--runs", type=int, default=1,
                        help="replay every workload this many times (default 1)")
    parser.add_argument("--plot", metavar="DIR",
                        help="also draw each workload's table (first run) as a PNG "
                             "in DIR (python3-matplotlib)")
    args = parser.parse_args()
    run_dir = args.run_dir or tempfile.mkdtemp(prefix="kvcache-quality.")
    os.makedirs(run_dir, exist_ok=True)
    policies = [p for p in POLICIES if not args.policy or p.name in args.policy]
    workloads = [w for w in workload.WORKLOADS if not args.workload or w.name in args.workload]

    report.log(f"quality: generating workloads (seed {workload.SEED})")
    all_sessions = {w.name: workload.sessions(w) for w in workloads}
    emulator = emu.Emulator(run_dir, "quality-emulator", workload.CLUSTER)
    tokenizer = emu.Emulator(run_dir, "quality-tokenizer",
                             emu.EmulatorOptions(instances=("tokenizer",)))
    runs = [collections.defaultdict(dict) for _ in range(args.runs)]
    try:
        for n, by_workload in enumerate(runs, 1):
            for policy in policies:
                report.log(f"quality: run {n}/{args.runs}, policy {policy.name} "
                           f"({policy.description})")
                outcome = run_policy(policy, emulator, tokenizer, run_dir, all_sessions)
                for w in workloads:
                    by_workload[w.name][policy.name] = (
                        outcome if outcome == NOT_SUPPORTED else outcome[w.name])
    finally:
        emulator.stop()
        tokenizer.stop()

    print(f"\n### Routing quality\n\n{workload.describe_cluster()}\n")
    for w in workloads:
        print(f"{workload.describe(w)}\n")
        for n, by_workload in enumerate(runs, 1):
            if args.runs > 1:
                print(f"run {n} of {args.runs}:\n")
            print(table(by_workload[w.name]))
            print("\n".join(goals(by_workload[w.name])) + "\n")
        if args.runs > 1:
            print(f"{w.name}, the goals over the runs:")
            print("\n".join(spread([r[w.name] for r in runs])) + "\n")
    print("policies: " + "; ".join(f"{p.name} = {p.description}" for p in policies))
    if args.plot:
        for w in workloads:
            print(f"picture: {plot(runs[0][w.name], w.name, args.plot)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
