#!/bin/bash
# Licensed under the Apache License, Version 2.0 (the "License"); you may not
# use this file except in compliance with the License.  You may obtain a copy
# of the License at http://www.apache.org/licenses/LICENSE-2.0
#
# The fault soak (issue #7), from a fresh Debian 12 machine, as root:
# installs what is missing, builds the module, and (as the unprivileged user
# kvctest, on a copy of the tree) puts sustained concurrent load through
# httpd + mod_kvcache + the emulator on loopback while faults are injected
# in turn: a hung, failing, garbage-speaking and unreachable LMCache
# controller, a failing tokenizer, unknown instance ids, a member disabled
# through balancer-manager and a graceful restart.  Prints a report (requests
# per phase, statuses, decisions, altered bodies, crashes, httpd RSS,
# kvcache-status counters) and exits non-zero if a goal is missed.
#   bash tools/soak.sh [SECONDS]       (default 75; `tools/soak.sh 20` for CI)
set -euo pipefail
exec "$(dirname "${BASH_SOURCE[0]}")/as-user.sh" tools/soak-run.sh "$@"
