#!/bin/bash
# Licensed under the Apache License, Version 2.0 (the "License"); you may not
# use this file except in compliance with the License.  You may obtain a copy
# of the License at http://www.apache.org/licenses/LICENSE-2.0
#
# Builds the module in this tree (autoreconf, configure, make), quietly.
# Extra arguments go to configure.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
autoreconf -fi >/dev/null 2>&1 || autoreconf -fi
./configure --quiet --enable-werror "$@"
make -j2 >/dev/null
