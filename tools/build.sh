#!/bin/bash
# Builds the module in this tree (autoreconf, configure, make), quietly.
# Extra arguments go to configure.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
autoreconf -fi >/dev/null 2>&1 || autoreconf -fi
./configure --quiet --enable-werror "$@"
make -j2 >/dev/null
