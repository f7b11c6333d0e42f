#!/bin/bash
# Builds and runs every test in this tree, as an unprivileged user.
# Arguments go to Apache::Test (e.g. t/routing.t -verbose).
set -euo pipefail
top=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$top"

echo "== style (clang-format, .clang-format)"
clang-format --dry-run --Werror mod_kvcache.c src/*.[ch] tests/unit/*.[ch]

echo "== build"
tools/build.sh

echo "== C unit tests"
make -s tests/unit/kvc_unit_tests >/dev/null
./tests/unit/kvc_unit_tests

echo "== fuzz regressions and seed corpus, replayed under ASan + UBSan"
tools/fuzz.sh --replay

echo "== emulator tests"
/usr/bin/python3 tools/test_kvc_emulator.py

echo "== Apache::Test suite"
cd t
# -port select: another httpd on the default port must not stop the run.
# Apache::Test exits 0 when its server cannot start at all, so success is
# its own verdict line, not only its exit status.
out=$(mktemp)
trap 'rm -f "$out"' EXIT
perl TEST.PL -apxs "$(command -v apxs || command -v apxs2)" -port select \
    "$@" 2>&1 | tee "$out"
if ! grep -q "^Result: PASS" "$out"; then
    echo "run-suite: the Apache::Test suite did not pass" >&2
    exit 1
fi
