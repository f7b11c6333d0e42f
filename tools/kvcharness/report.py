# Licensed under the Apache License, Version 2.0 (the "License"); you may not
# use this file except in compliance with the License.  You may obtain a copy
# of the License at http://www.apache.org/licenses/LICENSE-2.0
"""What the benchmarks and the soak print: progress, percentiles, goals."""

import sys
import time


def log(message):
    """A progress line on stderr: a long run should show what it is doing,
    without mixing into the tables on stdout."""
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def percentile(sorted_values, q):
    """Nearest-rank q-th percentile (0 < q <= 100) of an ascending list; 0 if empty."""
    if not sorted_values:
        return 0.0
    rank = max(1, -(-len(sorted_values) * q // 100))  # ceil(n * q / 100)
    return sorted_values[int(rank) - 1]


def goal(met, text):
    """A goal's line under a table: met or MISSED, then what was measured."""
    return f"  {'met   ' if met else 'MISSED'} {text}"
