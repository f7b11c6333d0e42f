#!/bin/bash
# The whole test suite, from a fresh Debian 12 machine, as root:
#   installs what is missing, builds, runs the C unit tests, the emulator's
#   own tests and the Apache::Test suite.
# Apache::Test refuses to run as root, so the suite runs as the unprivileged
# user "kvctest" on a copy of the tree that user owns.  Run as any other user,
# it runs in place as that user (packages must then be installed already).
set -euo pipefail
top=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

"$top/tools/install-deps.sh"

if [ "$(id -u)" != 0 ]; then
    exec "$top/tools/run-suite.sh"
fi

user=kvctest
if ! id -u "$user" >/dev/null 2>&1; then
    useradd --system --user-group --home-dir /nonexistent \
            --shell /usr/sbin/nologin "$user"
fi
work=$(mktemp -d /tmp/kvcache-test.XXXXXX)
trap 'rm -rf "$work"' EXIT
# The files git knows of (tracked or new), not a previous build's output.
git -C "$top" ls-files -z --cached --others --exclude-standard \
    | (cd "$top" && xargs -0 tar cf - --no-recursion) | tar xf - -C "$work"
chown -R "$user:$user" "$work"
chmod 755 "$work"
runuser -u "$user" -- "$work/tools/run-suite.sh"
