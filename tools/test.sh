#!/bin/bash
# Licensed under the Apache License, Version 2.0 (the "License"); you may not
# use this file except in compliance with the License.  You may obtain a copy
# of the License at http://www.apache.org/licenses/LICENSE-2.0
#
# The whole test suite, from a fresh Debian 12 machine, as root: installs
# what is missing, builds, and runs the C unit tests, the emulator's own
# tests and the Apache::Test suite (as the unprivileged user kvctest).
set -euo pipefail
exec "$(dirname "${BASH_SOURCE[0]}")/as-user.sh" tools/run-suite.sh "$@"
