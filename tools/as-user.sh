#!/bin/bash
# Licensed under the Apache License, Version 2.0 (the "License"); you may not
# use this file except in compliance with the License.  You may obtain a copy
# of the License at http://www.apache.org/licenses/LICENSE-2.0
#
# Runs one of this tree's scripts as the unprivileged user "kvctest", on a
# copy of the tree that user owns: Apache::Test refuses to run as root, and
# httpd is best not started as root for a demo either.  Installs what is
# missing first.  Run as a non-root user, it runs the script in place.
#   tools/as-user.sh tools/run-suite.sh [ARGS...]
set -euo pipefail
top=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
script=$1
shift

"$top/tools/install-deps.sh"

if [ "$(id -u)" != 0 ]; then
    exec "$top/$script" "$@"
fi

user=kvctest
if ! id -u "$user" >/dev/null 2>&1; then
    useradd --system --user-group --home-dir /nonexistent \
            --shell /usr/sbin/nologin "$user"
fi
work=$(mktemp -d /tmp/kvcache.XXXXXX)
trap 'rm -rf "$work"' EXIT
# shellcheck source=suite-lib.sh
. "$top/tools/suite-lib.sh"
copy_tree "$work"
chown -R "$user:$user" "$work"
chmod 755 "$work"
runuser -u "$user" -- "$work/$script" "$@"
