#!/bin/bash
# Licensed under the Apache License, Version 2.0 (the "License"); you may not
# use this file except in compliance with the License.  You may obtain a copy
# of the License at http://www.apache.org/licenses/LICENSE-2.0
#
# Builds and runs every test in this tree, as an unprivileged user: style,
# C unit tests, emulator tests, the Apache::Test suite, then the hardening
# checks (tools/ci-hardening.sh).  Arguments go to Apache::Test (e.g.
# t/routing.t -verbose).
set -euo pipefail
top=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$top"
# shellcheck source=suite-lib.sh
. tools/suite-lib.sh

echo "== style (clang-format, .clang-format)"
clang-format --dry-run --Werror mod_kvcache.c src/core/*.[ch] src/httpd/*.[ch] tests/unit/*.[ch]

echo "== build"
tools/build.sh

echo "== C unit tests"
make -s tests/unit/kvc_unit_tests >/dev/null
./tests/unit/kvc_unit_tests

echo "== emulator tests"
/usr/bin/python3 tools/test_kvc_emulator.py

echo "== Apache::Test suite"
apache_test "$@"

# Skipped with KVCACHE_HARDENING=0 (e.g. while iterating on one test).
if [ "${KVCACHE_HARDENING:-1}" != 0 ]; then
    echo "== hardening: fuzz regressions, short fuzzing, suite under ASan"
    tools/ci-hardening.sh
fi
