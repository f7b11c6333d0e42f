#!/bin/bash
# Licensed under the Apache License, Version 2.0 (the "License"); you may not
# use this file except in compliance with the License.  You may obtain a copy
# of the License at http://www.apache.org/licenses/LICENSE-2.0
#
# Builds mod_kvcache with ./configure --enable-sanitizers (ASan + UBSan,
# -fno-sanitize-recover=undefined) and runs the C unit tests and the whole
# Apache::Test suite against that build.  Fails if a test fails or if any
# sanitizer report was written.  Arguments go to Apache::Test.
#
#   bash tools/sanitize-suite.sh [t/routing.t ...]
#
# As root it re-runs itself through tools/as-user.sh (Apache::Test refuses
# to run as root).  The build happens in a private copy of the tree, so the
# tree's own build is neither used nor disturbed; the copy is removed on
# success and kept (path printed) on failure or with KEEP_COPY=1.
#
# httpd is not instrumented, so the suite runs it through a wrapper that
# preloads the sanitizer runtimes the module links against (LD_PRELOAD) and
# sets ASAN_OPTIONS / UBSAN_OPTIONS (detect_leaks=0: httpd does not free
# its pools at exit; reports go to t/logs/asan.<pid> and
# t/logs/ubsan.<pid>).  Apache::Test is given the wrapper as its httpd
# (-httpd), so the main test server, "httpd -t" in t/config.t and the extra
# servers t/lib/KVCache/Server.pm starts (vars->{httpd}) all go through it.
# Before the suite, a canary httpd started the same way is sent SIGSEGV
# and must leave an ASan report in its log directory: that proves the
# preload and the report path reach forked children, so a clean run means
# no report, not a report channel that was never wired.
#
# SANITIZE_ASAN_OPTIONS / SANITIZE_UBSAN_OPTIONS are appended to httpd's
# options (e.g. SANITIZE_ASAN_OPTIONS=use_sigaltstack=0).  CC=clang
# builds with clang instead of gcc.
set -euo pipefail
top=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

if [ "$(id -u)" = 0 ]; then
    exec "$top/tools/as-user.sh" tools/sanitize-suite.sh "$@"
fi

t0=$(date +%s)
# shellcheck source=suite-lib.sh
. "$top/tools/suite-lib.sh"
private_copy asan

echo "== build (--enable-sanitizers)"
tools/build.sh --enable-sanitizers
make -s tests/unit/kvc_unit_tests >/dev/null

mod="$work/.libs/mod_kvcache.so"
apxs=$(command -v apxs || command -v apxs2)
httpd="$("$apxs" -q SBINDIR)/$("$apxs" -q TARGET)"
# The runtimes the module was linked against, ASan first (it must be the
# first library loaded: the module aborts otherwise).
runtimes=$(ldd "$mod" | awk '/lib(clang_rt\.)?asan/ { print $3 }')
runtimes="$runtimes $(ldd "$mod" | awk '/lib(clang_rt\.)?ubsan/ { print $3 }')"
runtimes=$(echo $runtimes)
# A clang-built module links no runtime: it leaves __asan_* to the
# preloaded one, clang's shared ASan runtime (which includes UBSan).
if [ -z "$runtimes" ] \
    && nm -D --undefined-only "$mod" | grep __asan_ >/dev/null; then
    cc=$(sed -n 's/^CC = //p' Makefile)
    runtimes=$($cc -print-file-name="libclang_rt.asan-$(uname -m).so")
fi
if [ -z "$runtimes" ] || [ ! -f "${runtimes%% *}" ]; then
    echo "sanitize-suite: $mod links no sanitizer runtime" >&2
    exit 1
fi
echo "   preloading into httpd: $runtimes"

logs="$work/t/logs"
mkdir -p "$logs"
# allow_user_segv_handler=0: httpd installs its own SIGSEGV handler, which
# would otherwise replace ASan's and turn a wild access into a bare
# "exit signal Segmentation fault" without a report.
san_env() {
    local dir=$1
    cat <<EOF
export LD_PRELOAD="$runtimes\${LD_PRELOAD:+ \$LD_PRELOAD}"
export ASAN_OPTIONS="detect_leaks=0:abort_on_error=1:allow_user_segv_handler=0:log_path=$dir/asan${SANITIZE_ASAN_OPTIONS:+:$SANITIZE_ASAN_OPTIONS}"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1:abort_on_error=1:log_path=$dir/ubsan${SANITIZE_UBSAN_OPTIONS:+:$SANITIZE_UBSAN_OPTIONS}"
EOF
}
wrapper="$work/httpd-sanitized"
{
    echo '#!/bin/sh'
    echo '# httpd with the sanitizer runtimes of mod_kvcache preloaded.'
    san_env "$logs"
    echo "exec \"$httpd\" \"\$@\""
} >"$wrapper"
chmod 755 "$wrapper"

reports() {
    find "$1" -maxdepth 1 -type f \( -name 'asan.*' -o -name 'ubsan.*' \) \
        | sort
}

echo "== canary: a report from a forked httpd child reaches $logs"
canary="$work/canary"
mkdir -p "$canary"
port=$(PYTHONPATH="$work/tools" python3 -c \
    'from kvcharness import procs; print(procs.free_ports(1)[0])')
{
    # The modules of every test server (tools/httpd-modules.txt), under
    # prefork like t/lib/KVCache/Server.pm's, and mod_kvcache from $work.
    PYTHONPATH="$work/tools" python3 -m kvcharness.httpdconf --mpm prefork \
        "$work" canary "$port"
    echo "StartServers 1"
} >"$canary/httpd.conf"
{
    echo '#!/bin/sh'
    san_env "$canary"
    echo "exec \"$httpd\" \"\$@\""
} >"$canary/httpd"
chmod 755 "$canary/httpd"
"$canary/httpd" -f "$canary/httpd.conf" -k start
child=
for _ in $(seq 100); do
    if [ -s "$canary/httpd.pid" ]; then
        child=$(pgrep -P "$(cat "$canary/httpd.pid")" | head -n 1 || true)
        [ -n "$child" ] && break
    fi
    sleep 0.1
done
[ -n "$child" ] && grep -q "${runtimes%% *}" "/proc/$child/maps" \
    && kill -SEGV "$child"
for _ in $(seq 50); do
    [ -n "$(reports "$canary")" ] && break
    sleep 0.1
done
"$canary/httpd" -f "$canary/httpd.conf" -k stop >/dev/null 2>&1 || true
if ! reports "$canary" | xargs -r grep -l AddressSanitizer | grep -q .; then
    echo "sanitize-suite: the canary httpd child (pid ${child:-none}) left" \
         "no ASan report in $canary: reports would go unseen" >&2
    for f in $(reports "$canary") "$canary/error_log"; do
        echo "---- $f" >&2
        cat "$f" >&2 || true
    done
    exit 1
fi
echo "   ok: $(reports "$canary" | head -n 1 | xargs -r head -n 3 \
               | grep -m1 AddressSanitizer)"

echo "== C unit tests (ASan + UBSan, leak checks on)"
ASAN_OPTIONS="detect_leaks=1:abort_on_error=1:log_path=$logs/asan" \
UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1:log_path=$logs/ubsan" \
    ./tests/unit/kvc_unit_tests || unit_rc=$?

echo "== Apache::Test suite (httpd: $wrapper)"
suite_rc=0
apache_test -httpd "$wrapper" "$@" || suite_rc=$?

echo "== sanitizer reports"
found=$(reports "$logs")
# A runtime that could not open its log file writes to stderr instead,
# which httpd sends to the error logs.
stray=$(grep -l -E 'AddressSanitizer|LeakSanitizer|runtime error:' \
             "$logs/error_log" "$logs"/server-*/error_log 2>/dev/null || true)
for f in $found $stray; do
    echo "---- $f"
    cat "$f"
done
failed=0
if [ -n "$found$stray" ]; then
    echo "sanitize-suite: FAILED: sanitizer reports above" >&2
    failed=1
else
    echo "   none"
fi
if [ "${unit_rc:-0}" != 0 ]; then
    echo "sanitize-suite: FAILED: unit tests (exit $unit_rc)" >&2
    failed=1
fi
if [ "$suite_rc" != 0 ]; then
    echo "sanitize-suite: FAILED: Apache::Test suite (exit $suite_rc)" >&2
    failed=1
fi
echo "== sanitize-suite took $(( $(date +%s) - t0 ))s"
exit $failed
