#!/bin/bash
# Licensed under the Apache License, Version 2.0 (the "License"); you may not
# use this file except in compliance with the License.  You may obtain a copy
# of the License at http://www.apache.org/licenses/LICENSE-2.0
#
# Installs, from Debian 12 packages, everything mod_kvcache needs to build,
# test, benchmark and run its demo.  Idempotent: skips apt when all is there.
set -euo pipefail

packages=(
    # build
    autoconf automake libtool pkg-config make gcc git clang-format
    apache2 apache2-dev libcurl4-openssl-dev libjson-c-dev libssl-dev
    libhiredis-dev
    # tests and the emulator (Debian's own python3, stdlib only)
    libapache2-mod-perl2 libwww-perl libhttp-daemon-perl python3 curl openssl
    redis-server
    # hardening (tools/ci-hardening.sh, tools/valgrind-suite.sh): libFuzzer
    # and clang's sanitizer runtimes, llvm-symbolizer, valgrind
    clang libclang-rt-14-dev llvm-14 valgrind
    # benchmarks (bench/run.sh), and the pictures of the demo and the
    # benchmarks (tools/kvcharness/plot.py)
    wrk python3-matplotlib
    # the Debian package (tools/test-package.sh: dpkg-buildpackage, lintian)
    # and the contrib/ checks (t/contrib.t: promtool, YAML::XS)
    build-essential debhelper dpkg-dev lintian prometheus libyaml-libyaml-perl
)

missing=()
for p in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" \
        || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
    exit 0
fi
if [ "$(id -u)" != 0 ]; then
    echo "install-deps: missing packages: ${missing[*]} (run as root)" >&2
    exit 1
fi
echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
# Debian starts the stock apache2 and redis services on install; the
# project runs its own servers on other ports and needs neither.
pgrep -x apache2 >/dev/null && apache2ctl stop >/dev/null 2>&1 || true
pgrep -x redis-server >/dev/null && pkill -x redis-server || true
# Nor a Prometheus server: only its promtool is used.
pgrep -x prometheus >/dev/null && service prometheus stop >/dev/null 2>&1 || true
