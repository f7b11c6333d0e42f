#!/bin/bash
# Licensed under the Apache License, Version 2.0 (the "License"); you may not
# use this file except in compliance with the License.  You may obtain a copy
# of the License at http://www.apache.org/licenses/LICENSE-2.0
#
# The demo proper (tools/demo.sh runs it as an unprivileged user, in a fresh
# copy of the tree): builds the module, then tools/demo.py starts the
# emulator and httpd, plays the conversations, prints the comparison, draws
# the picture and stops everything.  Arguments go to tools/demo.py
# (--picture, --show).
#
# The build is kept between runs in KVC_DEMO_BUILD (/tmp/kvcache-demo-build,
# if this user owns it or can create it): the tree is copied over it with
# its timestamps, so a second run only recompiles what changed, and only
# reconfigures when the build system did.
set -euo pipefail
top=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build=${KVC_DEMO_BUILD:-/tmp/kvcache-demo-build}

if mkdir -p "$build" 2>/dev/null && [ -O "$build" ] && [ -w "$build" ]; then
    cp -a "$top/." "$build/"
    top=$build
fi
cd "$top"
if [ -f Makefile ] && [ -f config.status ] \
        && [ Makefile -nt configure.ac ] && [ Makefile -nt Makefile.am ]; then
    echo "== building mod_kvcache (incremental, in $top)"
    make -j2 >/dev/null
else
    echo "== building mod_kvcache (in $top)"
    tools/build.sh
fi
exec /usr/bin/python3 "$top/tools/demo.py" "$@"
