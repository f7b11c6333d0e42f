#!/bin/bash
# The demo proper (tools/demo.sh runs it as an unprivileged user): emulator
# + httpd with mod_kvcache on loopback, conversations, comparison, shutdown.
# Ports: KVC_DEMO_PORT (httpd, 8888), KVC_DEMO_CONTROLLER_PORT (9000) and
# KVC_DEMO_INSTANCE_PORT (8001: vllm-a, then vllm-b, vllm-c).
set -euo pipefail
top=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
port=${KVC_DEMO_PORT:-8888}
ctl=${KVC_DEMO_CONTROLLER_PORT:-9000}
base=${KVC_DEMO_INSTANCE_PORT:-8001}
a=$base b=$((base + 1)) c=$((base + 2))
libexec=$(apxs -q LIBEXECDIR)
httpd="$(apxs -q SBINDIR)/$(apxs -q TARGET)"
run=$(mktemp -d /tmp/kvcache-demo.XXXXXX)
emulator_pid=

stop_all() {
    [ -f "$run/httpd.pid" ] && "$httpd" -f "$run/httpd.conf" -k stop \
        >/dev/null 2>&1 || true
    [ -n "$emulator_pid" ] && kill "$emulator_pid" 2>/dev/null || true
    wait 2>/dev/null || true
    rm -rf "$run"
    echo "== stopped httpd and the emulator"
}
trap stop_all EXIT

echo "== building mod_kvcache"
"$top/tools/build.sh"

echo "== starting the emulator: LMCache controller :$ctl, vllm-a :$a," \
     "vllm-b :$b, vllm-c :$c"
/usr/bin/python3 "$top/tools/kvc_emulator.py" --controller-port "$ctl" \
    --instance "vllm-a=$a" --instance "vllm-b=$b" --instance "vllm-c=$c" \
    --ready-file "$run/emulator.ready" >"$run/emulator.out" 2>&1 &
emulator_pid=$!
for _ in $(seq 50); do
    [ -s "$run/emulator.ready" ] && break
    sleep 0.1
done
[ -s "$run/emulator.ready" ] || { cat "$run/emulator.out"; exit 1; }

echo "== starting httpd with mod_kvcache on :$port"
sed -e "s|@RUN@|$run|g" -e "s|@LIBEXEC@|$libexec|g" -e "s|@TOP@|$top|g" \
    -e "s|@PORT@|$port|g" -e "s|@CTL@|$ctl|g" -e "s|@A@|$a|g" \
    -e "s|@B@|$b|g" -e "s|@C@|$c|g" "$top/tools/demo-httpd.conf.in" \
    >"$run/httpd.conf"
"$httpd" -f "$run/httpd.conf" -k start
for _ in $(seq 50); do
    [ -s "$run/httpd.pid" ] && break
    sleep 0.1
done

/usr/bin/python3 "$top/tools/demo_client.py" --url "http://127.0.0.1:$port" \
    --control "http://127.0.0.1:$ctl"
echo "== per-request log (LogFormat with KVCACHE_* variables):"
head -n 5 "$run/kvcache_log"
echo "   ... ($(wc -l <"$run/kvcache_log") lines in all)"
