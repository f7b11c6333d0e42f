#!/bin/bash
# The fault soak proper (tools/soak.sh runs it as an unprivileged user):
# builds the module, starts the emulator (three vLLM instances and the LMCache
# controller), httpd with mod_kvcache on loopback, and tools/soak_client.py,
# which puts concurrent load through httpd while it injects one fault after
# another, then prints the report and exits non-zero if a goal was missed.
#   tools/soak-run.sh [SECONDS]        (default 75; 20 is a short CI run)
# Environment: KVC_SOAK_THREADS (client threads, 12), KVC_SOAK_PORT and
# KVC_SOAK_RELAY_PORT (httpd and controller relay ports; free ones by
# default), KVC_SOAK_NO_BUILD=1 (use the module already built here),
# KVC_SOAK_KEEP=1 (keep the run directory even when every goal is met),
# KVC_SOAK_LOGLEVEL (httpd LogLevel, "warn kvcache:notice"), KVC_SOAK_PHASES
# (another sequence of phases, e.g. "ctl-garbage:3,normal,ctl-garbage:3"; see
# soak_client.py).
#
# The module's KVCacheLMCacheEndpoint is not the emulator's controller port
# but a TCP relay in front of it that soak_client.py starts, kills (for the
# "controller connection refused" phase: port closed, pooled connections
# cut, as when the controller process dies) and starts again, so that
# routing stays real in every other phase.
set -euo pipefail
top=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
if [ "$(id -u)" = 0 ]; then
    echo "soak-run.sh: not as root; run tools/soak.sh, which runs this as kvctest" >&2
    exit 2
fi
seconds=${1:-75}
case "$seconds" in
    ''|*[!0-9]*) echo "soak-run.sh: SECONDS must be a whole number" >&2; exit 2 ;;
esac
if [ "$seconds" -lt 10 ]; then
    echo "soak-run.sh: SECONDS must be at least 10" >&2
    exit 2
fi
threads=${KVC_SOAK_THREADS:-12}
py=/usr/bin/python3
libexec=$(apxs -q LIBEXECDIR)
httpd="$(apxs -q SBINDIR)/$(apxs -q TARGET)"
run=$(mktemp -d /tmp/kvcache-soak.XXXXXX)
emulator_pid=
status=1

# A free port below the kernel's ephemeral range, so that no outgoing
# connection can take it while the relay is down (phase ctl-refused).
free_port() {
    "$py" - <<'PY'
import random, socket
low = int(open("/proc/sys/net/ipv4/ip_local_port_range").read().split()[0])
for port in random.sample(range(max(1024, low - 12000), low), 500):
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        s.bind(("127.0.0.1", port))
    except OSError:
        continue
    finally:
        s.close()
    print(port)
    break
PY
}

stop_all() {
    local pid
    pid=$(cat "$run/httpd.pid" 2>/dev/null || true)
    if [ -n "$pid" ]; then
        "$httpd" -f "$run/httpd.conf" -k stop >/dev/null 2>&1 || true
        for _ in $(seq 100); do
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.1
        done
    fi
    if [ -n "$emulator_pid" ]; then
        kill "$emulator_pid" 2>/dev/null || true
    fi
    wait 2>/dev/null || true
    if [ "$status" = 0 ] && [ -z "${KVC_SOAK_KEEP:-}" ]; then
        rm -rf "$run"
    else
        echo "== run directory kept: $run (httpd.conf, error_log," \
             "kvcache_log, emulator.out, emulator.log)"
    fi
}
trap stop_all EXIT

if [ -z "${KVC_SOAK_NO_BUILD:-}" ] || [ ! -f "$top/.libs/mod_kvcache.so" ]; then
    echo "== building mod_kvcache"
    "$top/tools/build.sh"
fi

# Every engine sleeps a tenth of its simulated prefill, so requests stay in
# flight and queues form; /evict is served (one location uses that API).
echo "== starting the emulator (ports picked by the kernel)"
"$py" "$top/tools/kvc_emulator.py" --controller-port 0 \
    --instance vllm-a=0 --instance vllm-b=0 --instance vllm-c=0 \
    --time-scale 0.1 --enable-evict --log-file "$run/emulator.log" \
    --ready-file "$run/emulator.ready" >"$run/emulator.out" 2>&1 &
emulator_pid=$!
for _ in $(seq 100); do
    [ -s "$run/emulator.ready" ] && break
    sleep 0.1
done
[ -s "$run/emulator.ready" ] || { cat "$run/emulator.out"; exit 1; }
read -r ctl a b c < <("$py" -c 'import json, sys
p = json.load(open(sys.argv[1]))["ports"]
print(p["controller"], p["vllm-a"], p["vllm-b"], p["vllm-c"])' \
    "$run/emulator.ready")
port=${KVC_SOAK_PORT:-$(free_port)}
relay=${KVC_SOAK_RELAY_PORT:-$(free_port)}
while [ "$relay" = "$port" ]; do relay=$(free_port); done
echo "   controller :$ctl (relay :$relay), vllm-a :$a, vllm-b :$b, vllm-c :$c"

# The demo's configuration (its @CTL@, the module's LMCache endpoint, is the
# relay), then the soak's own settings.
sed -e "s|@RUN@|$run|g" -e "s|@LIBEXEC@|$libexec|g" -e "s|@TOP@|$top|g" \
    -e "s|@PORT@|$port|g" -e "s|@CTL@|$relay|g" -e "s|@A@|$a|g" \
    -e "s|@B@|$b|g" -e "s|@C@|$c|g" "$top/tools/demo-httpd.conf.in" \
    >"$run/httpd.conf"
cat >>"$run/httpd.conf" <<EOF

# ---------------------------------------------- added by tools/soak-run.sh
LoadModule env_module "$libexec/mod_env.so"
# Breaker openings and closings (warn/notice) in the error log.
LogLevel ${KVC_SOAK_LOGLEVEL:-warn kvcache:notice}

# A fixed set of two children (RSS is summed over parent + children): no
# child is started or stopped for spare threads; ServerLimit leaves room for
# the old generation during the graceful restart.
StartServers 2
ServerLimit 4
ThreadsPerChild 16
MaxRequestWorkers 32
MinSpareThreads 1
MaxSpareThreads 32
MaxConnectionsPerChild 0

# Fast breakers, scraping and actions, so that every phase of a few seconds
# opens, probes and closes them and the background queue works under faults.
# The emulator is Python sharing the CPUs with httpd and the load: budgets
# the healthy phases keep (the hung controller still answers 5 s late).
KVCacheLookupTimeout 250ms
KVCacheTokenizeTimeout 1s
KVCacheCircuitBreaker 5 500ms 2
KVCacheScrapeInterval 1s
KVCacheActionInterval 1s
KVCacheActionQueueSize 16
KVCacheHotWindow 10s
KVCacheInstanceCapacity 10
# A token cache of 8 MB rather than 64: once its ring has wrapped (during the
# warm-up) the shared pages each child has touched stop growing, so VmRSS
# measures private memory growth, not cache fill.
KVCacheTokenCacheStore "shmcb:$run/kvcache-tokens(8388608)"

<Location "/soak/v1/">
    ProxyPass "balancer://llm/v1/"
    KVCacheEnable On
    KVCacheMaxBodySize 256K
    KVCachePinning On
    KVCacheHotThreshold 3
    KVCachePin auto LocalCPUBackend
    KVCacheCompression On
    KVCacheLoadThreshold 0.5
    KVCacheCompress auto LocalCPUBackend cachegen
    KVCacheEviction On
    KVCacheMemoryThreshold 0.9
    KVCacheEvict vllm-c LocalCPUBackend
</Location>
# The same, streaming bodies chunked to the backend, Pixiu's /evict API.
<Location "/soakc/v1/">
    ProxyPass "balancer://llm/v1/"
    KVCacheEnable On
    SetEnv proxy-sendchunked 1
    KVCacheMaxBodySize 256K
    KVCachePinning On
    KVCacheHotThreshold 2
    KVCachePin auto LocalCPUBackend
    KVCacheCompression On
    KVCacheLoadThreshold 0.5
    KVCacheCompress auto LocalCPUBackend cachegen
    KVCacheEviction On
    KVCacheMemoryThreshold 0.9
    KVCacheEvict vllm-c LocalCPUBackend
    KVCacheEvictAPI evict
</Location>
<Location "/kvcache-status">
    SetHandler kvcache-status
</Location>
<Location "/balancer-manager">
    SetHandler balancer-manager
</Location>
EOF

echo "== starting httpd with mod_kvcache on :$port"
"$httpd" -f "$run/httpd.conf" -k start
for _ in $(seq 100); do
    [ -s "$run/httpd.pid" ] && break
    sleep 0.1
done
[ -s "$run/httpd.pid" ] || { cat "$run/error_log"; exit 1; }

set +e
"$py" "$top/tools/soak_client.py" --url "http://127.0.0.1:$port" \
    --control "http://127.0.0.1:$ctl" --relay "$relay:$ctl" \
    --httpd "$httpd" --conf "$run/httpd.conf" --run "$run" \
    --seconds "$seconds" --threads "$threads" --httpd-threads 32 \
    ${KVC_SOAK_PHASES:+--phases "$KVC_SOAK_PHASES"}
status=$?
set -e
if [ "$status" != 0 ]; then
    echo "== last lines of the error log:"
    tail -n 30 "$run/error_log" || true
fi
exit "$status"
