#!/bin/bash
# Licensed under the Apache License, Version 2.0 (the "License"); you may not
# use this file except in compliance with the License.  You may obtain a copy
# of the License at http://www.apache.org/licenses/LICENSE-2.0
#
# The short hardening run for CI: replays the fuzz regressions and seed
# corpus, fuzzes every target for a fixed number of executions with a
# fixed seed from the same corpus (tools/fuzz.sh --ci: the same commit
# always gets the same verdict; open-ended exploration is
# tools/fuzz.sh SECONDS, by hand), then runs the C unit tests and the
# whole Apache::Test suite against the ASan + UBSan build
# (tools/sanitize-suite.sh, which re-runs itself as the unprivileged user
# when started as root).  Fails if any step does.
#
#   bash tools/ci-hardening.sh
#
# tools/run-suite.sh runs it last.  What it needs (clang,
# libclang-rt-14-dev for libFuzzer and clang's sanitizer runtimes, llvm-14
# for readable crash reports) is in tools/install-deps.sh; gcc's libasan8
# and libubsan1 come with gcc.  About 4 minutes on 2 cores.
set -euo pipefail
top=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$top"
t0=$(date +%s)

echo "==== fuzz: regressions, then fixed runs per target (seed 1)"
tools/fuzz.sh --ci
t1=$(date +%s)

echo "==== unit tests and Apache::Test suite under ASan + UBSan"
tools/sanitize-suite.sh
t2=$(date +%s)

echo "==== ci-hardening passed: fuzz $((t1 - t0))s, sanitizers $((t2 - t1))s," \
     "total $((t2 - t0))s"
