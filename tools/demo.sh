#!/bin/bash
# Licensed under the Apache License, Version 2.0 (the "License"); you may not
# use this file except in compliance with the License.  You may obtain a copy
# of the License at http://www.apache.org/licenses/LICENSE-2.0
#
# The demo, from a fresh Debian 12 machine, as root: installs what is
# missing, builds the module, starts the emulated vLLM instances and LMCache
# controller and httpd with mod_kvcache, plays multi-turn conversations
# through it, prints each decision and a comparison with round-robin, and
# shuts everything down.
set -euo pipefail
exec "$(dirname "${BASH_SOURCE[0]}")/as-user.sh" tools/demo-run.sh "$@"
