#!/bin/bash
# Licensed under the Apache License, Version 2.0 (the "License"); you may not
# use this file except in compliance with the License.  You may obtain a copy
# of the License at http://www.apache.org/licenses/LICENSE-2.0
#
# The Debian package, end to end, as root on a Debian 12 machine: builds it
# with dpkg-buildpackage in a scratch copy of this tree, runs lintian,
# installs it on this system, enables it with a2enmod, checks the system
# configuration with apache2ctl -t, routes one request through an httpd that
# loads the enabled modules the Debian way (mods-enabled) against
# tools/kvc_emulator.py, then removes, reinstalls and purges the package,
# checking what the maintainer scripts do at each step.  It leaves
# /etc/apache2 and /var/lib/apache2 exactly as it found them (compared, not
# assumed) and stops everything it started.  Two minutes or so, most of it
# dpkg-buildpackage.  KEEP_COPY=1 keeps the build and the logs.
set -euo pipefail
top=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# shellcheck source=suite-lib.sh
. "$top/tools/suite-lib.sh"

pkg=libapache2-mod-kvcache
checks=0

say() { echo "== package: $*"; }
fail() {
    echo "package test: FAIL: $*" >&2
    exit 1
}
ok() {
    checks=$((checks + 1))
    echo "ok $checks - $*"
}
# check DESCRIPTION COMMAND...: one assertion.
check() {
    local what=$1
    shift
    if "$@"; then ok "$what"; else fail "$what"; fi
}
# The exit status of a2query -m MODULE: 0 enabled, 1 unknown, 32 disabled
# by the admin, 33 disabled by a maintainer script.
module_state() {
    local rc=0
    a2query -q -m "$1" || rc=$?
    echo "$rc"
}

if [ "$(id -u)" != 0 ]; then
    fail "run as root: it installs and purges $pkg on this system"
fi
for tool in dpkg-buildpackage lintian a2enmod apache2ctl curl /usr/bin/python3; do
    command -v "$tool" >/dev/null || fail "$tool missing: run tools/install-deps.sh"
done
if dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q installed; then
    fail "$pkg is installed already; this test installs and purges it, so it runs only where it is not (dpkg --purge $pkg)"
fi
if [ -e /etc/apache2/mods-available/kvcache.load ]; then
    fail "/etc/apache2/mods-available/kvcache.load exists but belongs to no package (copied by hand from conf/?); remove it first"
fi

# What the package may touch, listed with checksums, before and after.
apache_state() {
    find /etc/apache2 /var/lib/apache2 -printf '%p %y %m %l\n' | sort
    find /etc/apache2 /var/lib/apache2 -type f -exec md5sum {} + | sort -k2
}

work=$(mktemp -d "${TMPDIR:-/tmp}/kvcache-package.XXXXXX")
chmod 755 "$work"
before=$(apache_state)
mods_before=$(ls /etc/apache2/mods-enabled)
state_dirs_before=$(find /var/lib/apache2 -type d | sort)
httpd_conf=$work/httpd/httpd.conf
emulator_pid=

stop_httpd() {
    local pid
    [ -s "$work/httpd/httpd.pid" ] || return 0
    pid=$(cat "$work/httpd/httpd.pid")
    (set +u && . /etc/apache2/envvars && /usr/sbin/apache2 -f "$httpd_conf" -k stop) \
        >/dev/null 2>&1 || true
    for _ in $(seq 100); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    rm -f "$work/httpd/httpd.pid"
}

stop_emulator() {
    [ -n "$emulator_pid" ] || return 0
    kill "$emulator_pid" 2>/dev/null || true
    wait "$emulator_pid" 2>/dev/null || true
    emulator_pid=
}

# The modules a2enmod enabled along with kvcache, disabled again and their
# a2enmod state forgotten, as before the test.
restore_modules() {
    local now m
    now=$(ls /etc/apache2/mods-enabled)
    for m in $(comm -13 <(echo "$mods_before" | sed -n 's/\.load$//p' | sort) \
                        <(echo "$now" | sed -n 's/\.load$//p' | sort)); do
        a2dismod -q -f -p "$m" >/dev/null 2>&1 || true
    done
    # a2enmod and a2dismod make the directories of their state markers
    # (enabled_by_admin, disabled_by_maint...) when they first need them.
    comm -13 <(echo "$state_dirs_before") <(find /var/lib/apache2 -type d | sort) \
        | sort -r | xargs -r rmdir --ignore-fail-on-non-empty
}

# On any exit: what this test started and installed goes away.  The
# comparison of the state is part of the test, at the end.
cleanup() {
    local rc=$?
    stop_httpd
    stop_emulator
    if dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q installed; then
        dpkg --purge "$pkg" >/dev/null 2>&1 || true
    fi
    restore_modules
    if [ $rc != 0 ] || [ "${KEEP_COPY:-0}" = 1 ]; then
        echo "test-package: build, logs and httpd configuration kept in $work" >&2
    else
        rm -rf "$work"
    fi
    exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

say "build (dpkg-buildpackage -us -uc -b)"
version=$(sed -n 's/^AC_INIT(\[mod_kvcache\], \[\([^]]*\)\].*/\1/p' "$top/configure.ac")
[ -n "$version" ] || fail "no version in configure.ac's AC_INIT"
src=$work/mod-kvcache-$version
mkdir "$src"
copy_tree "$src"
changelog_version=$(cd "$src" && dpkg-parsechangelog -S Version)
check "debian/changelog version $changelog_version is configure.ac's $version" \
    test "$changelog_version" = "$version"
start=$SECONDS
if ! (cd "$src" && nice dpkg-buildpackage -us -uc -b -j2) >"$work/build.log" 2>&1; then
    tail -40 "$work/build.log" >&2
    fail "dpkg-buildpackage failed (log: $work/build.log)"
fi
arch=$(dpkg --print-architecture)
deb=$work/${pkg}_${version}_${arch}.deb
check "built ${deb##*/} in $((SECONDS - start))s" test -f "$deb"

say "contents and dependencies"
contents=$(dpkg-deb -c "$deb" | awk '{print $6}')
for f in ./usr/lib/apache2/modules/mod_kvcache.so \
         ./etc/apache2/mods-available/kvcache.load \
         ./etc/apache2/mods-available/kvcache.conf \
         ./usr/share/doc/$pkg/README.Debian \
         ./usr/share/doc/$pkg/copyright \
         ./usr/share/doc/$pkg/examples/grafana/kvcache-dashboard.json \
         ./usr/share/doc/$pkg/examples/prometheus/kvcache-alerts.yml; do
    check "ships $f" grep -qxF "$f" <<<"$contents"
done
depends=$(dpkg-deb -f "$deb" Depends)
api=apache2-api-$(a2query -a)
check "Depends on $api (dh_apache2's module magic number)" \
    grep -qE "(^|, )$api(,|$)" <<<"$depends"
check "does not depend on apache2 itself (Debian's module policy)" \
    bash -c '! grep -qE "(^|, )apache2( |,|$)" <<<"$1"' _ "$depends"
conffiles=$(dpkg-deb --ctrl-tarfile "$deb" | tar -xOf - ./conffiles)
check "kvcache.load and kvcache.conf are conffiles" \
    test "$(sort <<<"$conffiles")" = "$(printf '%s\n' \
        /etc/apache2/mods-available/kvcache.conf \
        /etc/apache2/mods-available/kvcache.load)"

say "lintian"
# As an unprivileged user: lintian advises against running as root.
if ! runuser -u nobody -- lintian --fail-on error,warning --info \
        "$work/mod-kvcache_${version}_${arch}.changes" >"$work/lintian.log" 2>&1; then
    cat "$work/lintian.log" >&2
    fail "lintian reported errors or warnings"
fi
check "lintian: no error, no warning ($(grep -c '^[EWIPX]:' "$work/lintian.log" || true) other tags)" true

say "install"
dpkg -i "$deb" >"$work/dpkg.log" 2>&1 || { cat "$work/dpkg.log" >&2; fail "dpkg -i"; }
check "installed, not enabled (a2query -m kvcache: 1)" test "$(module_state kvcache)" = 1
load=/etc/apache2/mods-available/kvcache.load
check "kvcache.load declares its modules the a2enmod way" \
    grep -qx '# Depends: proxy proxy_http proxy_balancer slotmem_shm lbmethod_bybusyness socache_shmcb' "$load"

say "a2enmod kvcache, apache2ctl -t"
a2enmod kvcache >"$work/a2enmod.log" 2>&1 || { cat "$work/a2enmod.log" >&2; fail "a2enmod kvcache"; }
for m in kvcache proxy proxy_http proxy_balancer slotmem_shm lbmethod_bybusyness socache_shmcb; do
    check "a2enmod kvcache enabled $m" test "$(module_state "$m")" = 0
done
apache2ctl -t >"$work/configtest.log" 2>&1 || { cat "$work/configtest.log" >&2; fail "apache2ctl -t"; }
check "apache2ctl -t: $(tail -1 "$work/configtest.log")" grep -q 'Syntax OK' "$work/configtest.log"
check "the system configuration loads kvcache_module" \
    bash -c 'apache2ctl -t -D DUMP_MODULES 2>/dev/null | grep -q "kvcache_module (shared)"'

say "one routed request (tools/kvc_emulator.py, httpd with mods-enabled)"
free_port() {
    /usr/bin/python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}
mkdir "$work/emu" "$work/httpd"
chown nobody:nogroup "$work/emu"
# Port 0: the emulator picks free ports and reports them in its ready file.
# setpriv execs it as nobody, so that $! is the emulator itself.
setpriv --reuid=nobody --regid=nogroup --clear-groups \
    /usr/bin/python3 "$src/tools/kvc_emulator.py" \
    --controller-port 0 --instance vllm-a=0 --instance vllm-b=0 \
    --ready-file "$work/emu/ready" --log-file "$work/emu/access.log" \
    >"$work/emu/out.log" 2>&1 &
emulator_pid=$!
for _ in $(seq 100); do
    [ -s "$work/emu/ready" ] && break
    kill -0 "$emulator_pid" 2>/dev/null || { cat "$work/emu/out.log" >&2; fail "the emulator exited"; }
    sleep 0.1
done
[ -s "$work/emu/ready" ] || fail "the emulator did not start within 10s"
emu_port() {
    /usr/bin/python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))["ports"][sys.argv[2]])' \
        "$work/emu/ready" "$1"
}
ctl=$(emu_port controller)
port_a=$(emu_port vllm-a)
port_b=$(emu_port vllm-b)
port=$(free_port)
cat >"$httpd_conf" <<EOF
# The modules come from the system's mods-enabled, as a2enmod left them.
ServerRoot /etc/apache2
ServerName localhost
IncludeOptional mods-enabled/*.load
IncludeOptional mods-enabled/*.conf
<IfModule !mod_headers.c>
    LoadModule headers_module /usr/lib/apache2/modules/mod_headers.so
</IfModule>
User \${APACHE_RUN_USER}
Group \${APACHE_RUN_GROUP}
Listen 127.0.0.1:$port
PidFile $work/httpd/httpd.pid
ErrorLog $work/httpd/error.log
DefaultRuntimeDir $work/httpd
Mutex file:$work/httpd default
LogLevel warn kvcache:debug
LogFormat "%r %>s decision=%{KVCACHE_DECISION}e route=%{KVCACHE_ROUTE}e" kvcache
CustomLog $work/httpd/kvcache.log kvcache

KVCacheVLLMEndpoint http://127.0.0.1:$port_a
KVCacheLMCacheEndpoint http://127.0.0.1:$ctl
KVCacheDefaultModel kvemu-model
# Room for a loaded machine: the defaults are 50ms and 200ms.
KVCacheLookupTimeout 1s
KVCacheTokenizeTimeout 2s
Header always set X-KVCache-Decision "%{KVCACHE_DECISION}e" env=KVCACHE_DECISION
<Proxy "balancer://llm">
    BalancerMember "http://127.0.0.1:$port_a" route=vllm-a
    BalancerMember "http://127.0.0.1:$port_b" route=vllm-b
    ProxySet lbmethod=kvcache
</Proxy>
<Location "/v1/">
    ProxyPass "balancer://llm/v1/"
    KVCacheEnable On
</Location>
<Location "/kvcache-status">
    SetHandler kvcache-status
    Require ip 127.0.0.1
</Location>
EOF
# envvars defines APACHE_RUN_USER and the other variables Debian's module
# configuration files may use.
if ! (set +u && . /etc/apache2/envvars && /usr/sbin/apache2 -f "$httpd_conf" -k start) \
        >"$work/httpd/start.log" 2>&1; then
    cat "$work/httpd/start.log" "$work/httpd/error.log" >&2 2>/dev/null || true
    fail "httpd with the packaged module did not start"
fi
for _ in $(seq 100); do
    curl -s -o /dev/null "http://127.0.0.1:$port/kvcache-status" && break
    sleep 0.1
done

# A prompt vllm-b holds (seeded through the emulator's control API), then one
# nobody holds: the first must be routed there, the second must not.
prompt=$(for i in $(seq 200); do printf 'packaged%d ' "$i"; done)
body="{\"messages\": [{\"role\": \"user\", \"content\": \"$prompt\"}], \"max_tokens\": 4}"
curl -sf -o /dev/null -X POST -H 'Content-Type: application/json' \
    -d "{\"instance\": \"vllm-b\", \"body\": $body}" "http://127.0.0.1:$ctl/_emu/seed" \
    || fail "seeding vllm-b through the emulator failed"
chat() {
    curl -s -D - -o /dev/null -X POST -H 'Content-Type: application/json' \
        --data-binary "$1" "http://127.0.0.1:$port/v1/chat/completions" | tr -d '\r'
}
header() { sed -n "s/^$1: //Ip" <<<"$2"; }
answer=$(chat "$body")
check "HTTP 200 through the balancer" grep -q '^HTTP/1.1 200' <<<"$answer"
check "X-KVCache-Decision: routed (was '$(header X-KVCache-Decision "$answer")')" \
    test "$(header X-KVCache-Decision "$answer")" = routed
check "X-Kvemu-Served-By: vllm-b, the instance holding the prompt (was '$(header X-Kvemu-Served-By "$answer")')" \
    test "$(header X-Kvemu-Served-By "$answer")" = vllm-b
check "the module asked vllm-a's /tokenize and the controller's /lookup" \
    bash -c 'grep -q "vllm-a POST /tokenize 200" "$1" && grep -q "controller POST /lookup 200" "$1"' \
    _ "$work/emu/access.log"
cold=${body//packaged/cold}
answer=$(chat "$cold")
check "a prompt nobody holds: fallback:lookup-empty (was '$(header X-KVCache-Decision "$answer")')" \
    test "$(header X-KVCache-Decision "$answer")" = fallback:lookup-empty
metrics=$(curl -s "http://127.0.0.1:$port/kvcache-status?format=prometheus")
check "kvcache-status counts it: kvcache_routed_total{route=\"vllm-b\"} 1" \
    grep -qx 'kvcache_routed_total{route="vllm-b"} 1' <<<"$metrics"
stop_httpd
stop_emulator

say "remove, reinstall, purge"
dpkg -r "$pkg" >>"$work/dpkg.log" 2>&1 || { cat "$work/dpkg.log" >&2; fail "dpkg -r"; }
check "removal disabled the module (prerm; a2query -m kvcache: 33)" \
    test "$(module_state kvcache)" = 33
check "removal left no mods-enabled/kvcache.load" test ! -e /etc/apache2/mods-enabled/kvcache.load
dpkg -i "$deb" >>"$work/dpkg.log" 2>&1 || { cat "$work/dpkg.log" >&2; fail "dpkg -i (again)"; }
check "reinstalling enabled it again, as it was (postinst)" test "$(module_state kvcache)" = 0
a2dismod -q kvcache >/dev/null
dpkg -i "$deb" >>"$work/dpkg.log" 2>&1 || { cat "$work/dpkg.log" >&2; fail "dpkg -i (over itself)"; }
check "an upgrade leaves a module the admin disabled disabled (a2query -m kvcache: 32)" \
    test "$(module_state kvcache)" = 32 -a ! -e /etc/apache2/mods-enabled/kvcache.load
dpkg --purge "$pkg" >>"$work/dpkg.log" 2>&1 || { cat "$work/dpkg.log" >&2; fail "dpkg --purge"; }
check "purge forgot its state (a2query -m kvcache: 1)" \
    test "$(module_state kvcache)" = 1
check "purge removed the conffiles" \
    test ! -e /etc/apache2/mods-available/kvcache.load -a ! -e /etc/apache2/mods-available/kvcache.conf

say "the system as it was"
restore_modules
after=$(apache_state)
if [ "$before" != "$after" ]; then
    diff <(echo "$before") <(echo "$after") >&2 || true
    fail "/etc/apache2 or /var/lib/apache2 differ from before the test"
fi
ok "/etc/apache2 and /var/lib/apache2 are as before the test"
echo "package test: PASS ($checks checks)"
