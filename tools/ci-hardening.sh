#!/bin/bash
# The short hardening run for CI: replays the fuzz regressions and seed
# corpus, fuzzes every parser for a few seconds (two at a time), then runs
# the C unit tests and the whole Apache::Test suite against the ASan +
# UBSan build (tools/sanitize-suite.sh, which re-runs itself as the
# unprivileged user when started as root).  Fails if any step does.
#
#   bash tools/ci-hardening.sh [FUZZ_SECONDS_PER_TARGET]   (default 8)
#
# tools/run-suite.sh runs it last.  What it needs (clang,
# libclang-rt-14-dev for libFuzzer and clang's sanitizer runtimes, llvm-14
# for readable crash reports) is in tools/install-deps.sh; gcc's libasan8
# and libubsan1 come with gcc.  About 4 minutes on 2 cores.
set -euo pipefail
top=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$top"
secs=${1:-8}
t0=$(date +%s)

echo "==== fuzz: regressions, then ${secs}s per target"
tools/fuzz.sh --jobs 2 "$secs"
t1=$(date +%s)

echo "==== unit tests and Apache::Test suite under ASan + UBSan"
tools/sanitize-suite.sh
t2=$(date +%s)

echo "==== ci-hardening passed: fuzz $((t1 - t0))s, sanitizers $((t2 - t1))s," \
     "total $((t2 - t0))s"
