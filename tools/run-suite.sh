#!/bin/bash
# Builds and runs every test, as an unprivileged user, in this tree.
set -euo pipefail
top=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$top"

echo "== build"
autoreconf -fi >/dev/null 2>&1 || autoreconf -fi
./configure --enable-werror --quiet
make -j2 >/dev/null

echo "== C unit tests"
make -s tests/unit/kvc_unit_tests >/dev/null
./tests/unit/kvc_unit_tests

echo "== emulator tests"
/usr/bin/python3 tools/test_kvc_emulator.py

echo "== Apache::Test suite"
cd t
perl TEST.PL -apxs "$(command -v apxs || command -v apxs2)" "$@"
