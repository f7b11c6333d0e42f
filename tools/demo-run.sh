#!/bin/bash
# Licensed under the Apache License, Version 2.0 (the "License"); you may not
# use this file except in compliance with the License.  You may obtain a copy
# of the License at http://www.apache.org/licenses/LICENSE-2.0
#
# The demo proper (tools/demo.sh runs it as an unprivileged user): builds the
# module, then tools/demo.py starts the emulator and httpd, plays the
# conversations, prints the comparison and stops everything.  Arguments go
# to tools/demo.py (--users, --rounds, --seed).
set -euo pipefail
top=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

echo "== building mod_kvcache"
"$top/tools/build.sh"
exec /usr/bin/python3 "$top/tools/demo.py" "$@"
