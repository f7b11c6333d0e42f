#!/bin/bash
# Installs, from Debian 12 packages, what the benchmarks need beyond
# tools/install-deps.sh (which bench/run.sh also runs): the wrk load
# generator.  Idempotent: skips apt when all is there.
set -euo pipefail

packages=(wrk)

missing=()
for p in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" \
        || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
    exit 0
fi
if [ "$(id -u)" != 0 ]; then
    echo "bench/install-deps: missing packages: ${missing[*]} (run as root)" >&2
    exit 1
fi
echo "bench/install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
