#!/bin/bash
# Licensed under the Apache License, Version 2.0 (the "License"); you may not
# use this file except in compliance with the License.  You may obtain a copy
# of the License at http://www.apache.org/licenses/LICENSE-2.0
#
# The benchmark tables in one command, from a fresh Debian 12 machine, as
# root: installs what is missing, builds the module and runs the routing
# quality and overhead benchmarks as the unprivileged user kvctest (httpd
# is not run as root).  Tables go to stdout, progress to stderr:
#   bash bench/run.sh | tee results.md
set -euo pipefail
top=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
exec "$top/tools/as-user.sh" bench/run-benchmarks.sh "$@"
