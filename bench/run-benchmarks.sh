#!/bin/bash
# Licensed under the Apache License, Version 2.0 (the "License"); you may not
# use this file except in compliance with the License.  You may obtain a copy
# of the License at http://www.apache.org/licenses/LICENSE-2.0
#
# The benchmarks proper (bench/run.sh runs this as an unprivileged user):
# build, describe the machine, routing quality, overhead.
set -euo pipefail
top=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$top"
log() { echo "[$(date +%H:%M:%S)] $*" >&2; }
started=$(date +%s)

log "bench: building mod_kvcache"
tools/build.sh

run=$(mktemp -d /tmp/kvcache-bench.XXXXXX)
trap 'rm -rf "$run"' EXIT

echo "## mod_kvcache benchmarks, $(date -u '+%Y-%m-%d %H:%M UTC')"
echo
echo "machine: $(nproc) cores, $(sed -n 's/^model name\s*: //p' /proc/cpuinfo | head -1)," \
     "$(free -g | awk '/^Mem:/ {print $2}') GB RAM, Linux $(uname -r);" \
     "$("$(apxs -q SBINDIR)/$(apxs -q TARGET)" -v | sed -n 's/^Server version: //p')," \
     "$(/usr/bin/python3 --version), $(wrk --version 2>&1 | head -1 | cut -d' ' -f1-2)"
echo "load average before the run: $(cut -d' ' -f1-3 /proc/loadavg)"
echo
# The pictures outlive the run (and the copy of the tree it runs in).
plots=${KVCACHE_PLOT_DIR:-/tmp/kvcache-bench-plots}
/usr/bin/python3 bench/quality.py --run-dir "$run/quality" --plot "$plots"
/usr/bin/python3 bench/overhead.py --run-dir "$run/overhead"
/usr/bin/python3 bench/overhead.py --run-dir "$run/fleet" --fleet
echo
echo "load average after the run: $(cut -d' ' -f1-3 /proc/loadavg)"
log "bench: done in $(( $(date +%s) - started )) s"
