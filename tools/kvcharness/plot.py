# Licensed under the Apache License, Version 2.0 (the "License"); you may not
# use this file except in compliance with the License.  You may obtain a copy
# of the License at http://www.apache.org/licenses/LICENSE-2.0
"""Pictures of a policy comparison (the demo's and bench/quality.py's), with
Debian's python3-matplotlib on its Agg backend (no display needed).

One figure per workload: on the left the cached prompt tokens of each
policy, as a share of all prompt tokens and of the prefix some instance
held when the request arrived; on the right the distribution of the
simulated time to first token (the share of requests answered within a
time, log scale), with the p50 and p90 of each policy marked.
"""

import os
import tempfile

# Its font cache, where the unprivileged users the demo and benchmarks run
# as (no home directory) can write it.
os.environ.setdefault("MPLCONFIGDIR",
                      os.path.join(tempfile.gettempdir(), f"kvcache-mpl-{os.getuid()}"))

import matplotlib  # noqa: E402

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

# One colour per policy, the same in both panels and in every picture.
COLOURS = {"kvcache": "#1f77b4", "kvcache-maxmatch": "#ff7f0e", "byrequests": "#7f7f7f",
           "kvcache-share": "#2ca02c", "kvcache-async": "#9467bd", "bybusyness": "#8c564b",
           "oracle": "#d62728"}


def percentile(sorted_values, q):
    if not sorted_values:
        return 0.0
    rank = max(1, -(-len(sorted_values) * q // 100))
    return sorted_values[int(rank) - 1]


def comparison(path, title, rows):
    """Draws rows [{"name", "label", "prompt", "cached", "available",
    "ttfts"}] (token counts summed over the requests answered, every
    request's simulated TTFT in ms) into the PNG at path; returns path."""
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4.2),
                                      gridspec_kw={"width_ratios": [1, 1.3]})
    names = [r.get("label", r["name"]) for r in rows]
    xs = range(len(rows))
    width = 0.38
    of_prompt = [100.0 * r["cached"] / r["prompt"] if r["prompt"] else 0 for r in rows]
    of_available = [100.0 * r["cached"] / r["available"] if r["available"] else 0
                    for r in rows]
    colours = [COLOURS.get(r["name"], "#17becf") for r in rows]
    bars = left.bar([x - width / 2 for x in xs], of_prompt, width, color=colours,
                    label="of all prompt tokens")
    left.bar([x + width / 2 for x in xs], of_available, width, color=colours, alpha=0.45,
             hatch="//", label="of the prefix available on arrival")
    for bar, value in zip(bars, of_prompt):
        left.annotate(f"{value:.0f}%", (bar.get_x() + bar.get_width() / 2, value),
                      ha="center", va="bottom", fontsize=9)
    left.set_xticks(list(xs))
    left.set_xticklabels(names, fontsize=9)
    left.set_ylim(0, 105)
    left.set_ylabel("cached prompt tokens (%)")
    left.set_title("KV cache reuse (found by the instances)", fontsize=10)
    left.legend(fontsize=8, loc="upper right")
    left.grid(axis="y", alpha=0.3)

    for r, name in zip(rows, names):
        ttfts = sorted(t for t in r["ttfts"] if t > 0) or [1.0]
        n = len(ttfts)
        colour = COLOURS.get(r["name"], "#17becf")
        p50, p90 = percentile(ttfts, 50), percentile(ttfts, 90)
        right.step(ttfts, [100.0 * (i + 1) / n for i in range(n)], where="post",
                   color=colour, label=f"{name}: p50 {p50:.0f} ms, p90 {p90:.0f} ms")
        right.plot([p90], [90], marker="o", color=colour)
        right.plot([p50], [50], marker="s", color=colour)
    right.set_xscale("log")
    right.set_ylim(0, 101)
    right.set_xlabel("simulated time to first token (ms, log scale)")
    right.set_ylabel("requests answered within (%)")
    right.set_title("TTFT distribution (squares p50, dots p90)", fontsize=10)
    right.axhline(90, color="#cccccc", linewidth=0.8, zorder=0)
    right.legend(fontsize=8, loc="lower right")
    right.grid(alpha=0.3, which="both")
    fig.suptitle(title, fontsize=11)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
