#!/bin/bash
# Licensed under the Apache License, Version 2.0 (the "License"); you may not
# use this file except in compliance with the License.  You may obtain a copy
# of the License at http://www.apache.org/licenses/LICENSE-2.0
#
# The whole test suite, from a fresh Debian 12 machine, as root: installs
# what is missing, builds, and runs the C unit tests, the emulator's own
# tests and the Apache::Test suite (as the unprivileged user kvctest).
set -euo pipefail
top=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

# First, as root: the Debian package built, installed, used and purged
# (tools/test-package.sh), which leaves the system's apache2 configuration
# as it was for the rest.  KVCACHE_PACKAGE=0 skips it.
if [ "${KVCACHE_PACKAGE:-1}" = 0 ]; then
    echo "== Debian package: skipped (KVCACHE_PACKAGE=0)"
elif [ "$(id -u)" != 0 ]; then
    echo "== Debian package: skipped (it installs the package: run as root)"
else
    "$top/tools/install-deps.sh"
    echo "== Debian package (tools/test-package.sh)"
    "$top/tools/test-package.sh"
fi

exec "$top/tools/as-user.sh" tools/run-suite.sh "$@"
