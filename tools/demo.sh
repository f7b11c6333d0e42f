#!/bin/bash
# The demo, from a fresh Debian 12 machine, as root: installs what is
# missing, builds the module, starts the emulated vLLM instances and LMCache
# controller and httpd with mod_kvcache, plays multi-turn conversations
# through it, prints each decision and a comparison with round-robin, and
# shuts everything down.
set -euo pipefail
exec "$(dirname "${BASH_SOURCE[0]}")/as-user.sh" tools/demo-run.sh "$@"
