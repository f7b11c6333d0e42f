#!/bin/bash
# Licensed under the Apache License, Version 2.0 (the "License"); you may not
# use this file except in compliance with the License.  You may obtain a copy
# of the License at http://www.apache.org/licenses/LICENSE-2.0
#
# Runs the Apache::Test suite with every httpd under valgrind's memcheck:
# the main test server in one-process mode (-D ONE_PROCESS, Apache::Test's
# -one-process), and the extra servers t/lib/KVCache/Server.pm starts.  Fails if memcheck reports an
# invalid access, a use of uninitialised memory or a leak (definitely or
# indirectly lost) with a mod_kvcache frame in its stack; prints a count
# of everything else memcheck reported (httpd, APR, libcurl, OpenSSL).
# Arguments go to Apache::Test.
#
#   bash tools/valgrind-suite.sh [t/routing.t ...]
#
# The module is built -O1 in a private copy of the tree, kept (path
# printed) on failure or with KEEP_COPY=1.  Valgrind slows httpd down many
# times over, so the suite's own verdict is printed but does not decide
# this script's: timing-sensitive assertions (enough requests served
# during a graceful restart) can fail under memcheck, while every request
# still exercises the module.  About 5 minutes.
set -euo pipefail
top=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

if [ "$(id -u)" = 0 ]; then
    exec "$top/tools/as-user.sh" tools/valgrind-suite.sh "$@"
fi

t0=$(date +%s)
# shellcheck source=suite-lib.sh
. "$top/tools/suite-lib.sh"
private_copy valgrind

echo "== build (-g -O1)"
tools/build.sh CFLAGS="-g -O1"

apxs=$(command -v apxs || command -v apxs2)
httpd="$("$apxs" -q SBINDIR)/$("$apxs" -q TARGET)"
logs="$work/t/logs"
mkdir -p "$logs"
# --keep-debuginfo: httpd unloads the module before it exits, and leaks
# found then must still name mod_kvcache's functions.
memcheck="valgrind --tool=memcheck --leak-check=full \
    --show-leak-kinds=definite,indirect \
    --errors-for-leak-kinds=definite,indirect --keep-debuginfo=yes \
    --num-callers=40"

# memcheck_reports DIR: prints the reports in DIR/valgrind.* that name
# mod_kvcache, and a count of them and of the others; fails if any names
# mod_kvcache, or if no process finished under memcheck.
memcheck_reports() {
    python3 - "$1" <<'PY'
import glob, re, sys

ours = re.compile(r"mod_kvcache\.so|\bkvc_\w+ \(|\bmod_kvcache\.c")
kinds = re.compile(r"(Invalid |Conditional jump|Use of uninit|Syscall param"
                   r"|Mismatched free|Source and destination overlap"
                   r"|.* are (definitely|indirectly) lost)")
processes = mine = others = 0
for path in sorted(glob.glob(sys.argv[1] + "/valgrind.*")):
    text = open(path, errors="replace").read()
    if "ERROR SUMMARY" not in text:
        continue  # killed, or replaced by exec
    processes += 1
    # Reports are blank-line separated blocks of "==pid== " lines.
    for block in re.split(r"\n\s*\n", re.sub(r"(?m)^==\d+== ?", "", text)):
        if not kinds.match(block.strip()):
            continue
        if ours.search(block):
            mine += 1
            print("---- %s\n%s\n" % (path, block.strip()))
        else:
            others += 1
print("   %d processes finished under memcheck; reports naming mod_kvcache: "
      "%d; other reports (httpd, libraries): %d" % (processes, mine, others))
sys.exit(1 if mine or not processes else 0)
PY
}

echo "== canary: a leak and a bad read in a kvc_ function are caught"
canary="$work/canary"
mkdir -p "$canary"
cat >"$canary/canary.c" <<'C'
#include <stdlib.h>
int kvc_canary(int n)
{
    int *lost = malloc(n * sizeof *lost);
    return lost[n];
}
int main(void)
{
    return kvc_canary(4) == 42;
}
C
gcc -g -O0 -o "$canary/canary" "$canary/canary.c"
$memcheck --log-file="$canary/valgrind.%p" "$canary/canary" || true
if memcheck_reports "$canary" >"$canary/out" \
    || ! grep -q "^Invalid read" "$canary/out" \
    || ! grep -q "definitely lost" "$canary/out"; then
    cat "$canary/out"
    echo "valgrind-suite: the canary's reports were not seen" >&2
    exit 1
fi
tail -n 1 "$canary/out"

wrapper="$work/httpd-valgrind"
cat >"$wrapper" <<WRAP
#!/bin/sh
exec $memcheck --log-file="$logs/valgrind.%p" "$httpd" "\$@"
WRAP
chmod 755 "$wrapper"

echo "== Apache::Test suite (httpd under memcheck)"
suite="passed"
apache_test -httpd "$wrapper" -one-process -startup_timeout 180 "$@" \
    || suite="FAILED (see above)"

echo "== memcheck reports"
memcheck_reports "$logs"
echo "   Apache::Test under memcheck: $suite"
echo "== valgrind-suite took $(( $(date +%s) - t0 ))s"
