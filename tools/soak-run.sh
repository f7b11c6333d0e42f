#!/bin/bash
# Licensed under the Apache License, Version 2.0 (the "License"); you may not
# use this file except in compliance with the License.  You may obtain a copy
# of the License at http://www.apache.org/licenses/LICENSE-2.0
#
# The fault soak proper (tools/soak.sh runs it as an unprivileged user):
# builds the module, then tools/soak.py starts the emulator (three vLLM
# instances and the LMCache controller), a relay in front of the controller
# and httpd with mod_kvcache on loopback, puts concurrent load through httpd
# while it injects one fault after another, prints the report and exits
# non-zero if a goal was missed.
#   tools/soak-run.sh [SECONDS]        (default 75; 20 is a short CI run)
# Environment: KVC_SOAK_THREADS (client threads, 12), KVC_SOAK_PORT and
# KVC_SOAK_RELAY_PORT (httpd and controller relay ports; free ones by
# default), KVC_SOAK_NO_BUILD=1 (use the module already built here),
# KVC_SOAK_KEEP=1 (keep the run directory even when every goal is met),
# KVC_SOAK_LOGLEVEL (httpd LogLevel, "warn kvcache:notice"), KVC_SOAK_PHASES
# (another sequence of phases, e.g. "ctl-garbage:3,normal,ctl-garbage:3"; see
# tools/soak.py).
set -euo pipefail
top=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
if [ "$(id -u)" = 0 ]; then
    echo "soak-run.sh: not as root; run tools/soak.sh, which runs this as kvctest" >&2
    exit 2
fi

if [ -z "${KVC_SOAK_NO_BUILD:-}" ] || [ ! -f "$top/.libs/mod_kvcache.so" ]; then
    echo "== building mod_kvcache"
    "$top/tools/build.sh"
fi

exec /usr/bin/python3 "$top/tools/soak.py" --seconds "${1:-75}" \
    --threads "${KVC_SOAK_THREADS:-12}" \
    ${KVC_SOAK_PORT:+--port "$KVC_SOAK_PORT"} \
    ${KVC_SOAK_RELAY_PORT:+--relay-port "$KVC_SOAK_RELAY_PORT"} \
    ${KVC_SOAK_LOGLEVEL:+--log-level "$KVC_SOAK_LOGLEVEL"} \
    ${KVC_SOAK_PHASES:+--phases "$KVC_SOAK_PHASES"} \
    ${KVC_SOAK_KEEP:+--keep}
