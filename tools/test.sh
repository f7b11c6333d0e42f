#!/bin/bash
# The whole test suite, from a fresh Debian 12 machine, as root: installs
# what is missing, builds, and runs the C unit tests, the emulator's own
# tests and the Apache::Test suite (as the unprivileged user kvctest).
set -euo pipefail
exec "$(dirname "${BASH_SOURCE[0]}")/as-user.sh" tools/run-suite.sh "$@"
