"""Process plumbing shared by the benchmarks: emulators, httpd, HTTP, CPU time.

Everything runs on loopback as the calling (unprivileged) user, from files
in a private run directory.  Standard library only.
"""

import http.client
import json
import os
import shutil
import signal
import socket
import string
import subprocess
import sys
import time

BENCH = os.path.dirname(os.path.abspath(__file__))
TOP = os.path.dirname(BENCH)
EMULATOR = os.path.join(TOP, "tools", "kvc_emulator.py")
MODULE = os.path.join(TOP, ".libs", "mod_kvcache.so")
LOCATION = "LocalCPUBackend"
STARTED_CHILDREN = 2  # StartServers in httpd.conf.in


def log(message):
    """Progress line: the one-command run should show what it is doing."""
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def free_ports(n):
    """n distinct free loopback ports (held open together so they differ)."""
    socks = []
    try:
        for _ in range(n):
            s = socket.socket()
            s.bind(("127.0.0.1", 0))
            socks.append(s)
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


def wait_for(predicate, what, timeout=15.0):
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise RuntimeError(f"timed out waiting for {what}")
        time.sleep(0.05)


class Connection:
    """A keep-alive HTTP/1.1 client connection that reconnects when dropped."""

    def __init__(self, port, timeout=120):
        self.port = port
        self.timeout = timeout
        self.conn = None

    def request(self, method, path, body=None, headers=None):
        """(status, headers, body bytes); one retry on a stale keep-alive socket."""
        for attempt in (1, 2):
            if self.conn is None:
                self.conn = http.client.HTTPConnection("127.0.0.1", self.port,
                                                       timeout=self.timeout)
            try:
                self.conn.request(method, path, body,
                                  {"Content-Type": "application/json", **(headers or {})})
                resp = self.conn.getresponse()
                return resp.status, resp.headers, resp.read()
            except (ConnectionError, http.client.BadStatusLine):
                self.close()
                if attempt == 2:
                    raise

    def post_json(self, path, value):
        status, _, payload = self.request("POST", path, json.dumps(value).encode())
        if status != 200:
            raise RuntimeError(f"POST :{self.port}{path}: {status} {payload[:200]!r}")
        return json.loads(payload)

    def close(self):
        if self.conn is not None:
            self.conn.close()
            self.conn = None


class Emulator:
    """One tools/kvc_emulator.py process: a controller port and instance ports."""

    def __init__(self, run_dir, name, instances, extra_args=()):
        self.name = name
        ready = os.path.join(run_dir, f"{name}.ready")
        if os.path.exists(ready):  # a previous run's: its ports are stale
            os.unlink(ready)
        self.output = open(os.path.join(run_dir, f"{name}.out"), "w")
        self.proc = subprocess.Popen(
            [sys.executable, EMULATOR, "--controller-port", "0",
             *[f"--instance={i}=0" for i in instances],
             "--ready-file", ready, *extra_args],
            stdout=self.output, stderr=subprocess.STDOUT)
        wait_for(lambda: os.path.exists(ready) or self.proc.poll() is not None,
                 f"emulator {name}")
        if self.proc.poll() is not None:
            raise RuntimeError(f"emulator {name} exited; see {self.output.name}")
        with open(ready) as f:
            self.ports = json.load(f)["ports"]
        self.control_conn = Connection(self.ports["controller"])

    def control(self, path, body=None):
        if body is None:
            status, _, payload = self.control_conn.request("GET", path)
            if status != 200:
                raise RuntimeError(f"emulator {self.name} {path}: {status}")
            return json.loads(payload)
        return self.control_conn.post_json(path, body)

    def stop(self):
        self.control_conn.close()
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.output.close()


def apxs(name):
    apxs_bin = shutil.which("apxs") or shutil.which("apxs2") or "apxs"
    return subprocess.run([apxs_bin, "-q", name], check=True, capture_output=True,
                          text=True).stdout.strip()


class Httpd:
    """httpd run from bench/httpd.conf.in plus benchmark-specific blocks.

    `blocks` is the configuration text of the balancers and locations under
    test; `server` any extra server-wide directives.
    """

    binary = None

    def __init__(self, run_dir, name, port, blocks, server=""):
        if Httpd.binary is None:
            Httpd.binary = os.path.join(apxs("SBINDIR"), apxs("TARGET"))
        self.run_dir = os.path.join(run_dir, name)
        os.makedirs(self.run_dir, exist_ok=True)
        self.port = port
        self.conf = os.path.join(self.run_dir, "httpd.conf")
        with open(os.path.join(BENCH, "httpd.conf.in")) as f:
            text = string.Template(f.read()).substitute(
                RUN=self.run_dir, LIBEXEC=apxs("LIBEXECDIR"), MODULE=MODULE,
                PORT=port, SERVER=server, BLOCKS=blocks)
        with open(self.conf, "w") as f:
            f.write(text)
        self.pid_file = os.path.join(self.run_dir, "httpd.pid")

    def check(self):
        """(ok, message) of `httpd -t` on this configuration."""
        res = subprocess.run([self.binary, "-t", "-f", self.conf],
                             capture_output=True, text=True)
        return res.returncode == 0, (res.stderr + res.stdout).strip()

    def start(self):
        res = subprocess.run([self.binary, "-f", self.conf, "-k", "start"],
                             capture_output=True, text=True)
        if res.returncode != 0:
            raise RuntimeError(f"httpd did not start: {res.stderr.strip()}")
        wait_for(lambda: os.path.exists(self.pid_file), "httpd pid file")
        wait_for(self.listening, "httpd to listen")
        # Every child must be up before a CPU measurement enumerates them.
        wait_for(lambda: len(self.pids()) >= 1 + STARTED_CHILDREN, "httpd children")

    def listening(self):
        try:
            socket.create_connection(("127.0.0.1", self.port), 0.2).close()
            return True
        except OSError:
            return False

    def parent_pid(self):
        with open(self.pid_file) as f:
            return int(f.read())

    def pids(self):
        """The parent and its children (the MPM's worker processes)."""
        parent = self.parent_pid()
        pids = [parent]
        for entry in os.listdir("/proc"):
            if entry.isdigit():
                try:
                    with open(f"/proc/{entry}/stat") as f:
                        fields = f.read().rsplit(")", 1)[1].split()
                except OSError:
                    continue
                if int(fields[1]) == parent:  # fields[1] is the ppid
                    pids.append(int(entry))
        return pids

    def stop(self):
        if not os.path.exists(self.pid_file):
            return
        parent = self.parent_pid()
        subprocess.run([self.binary, "-f", self.conf, "-k", "stop"],
                       capture_output=True)
        wait_for(lambda: not os.path.exists(f"/proc/{parent}"), "httpd to stop")


def cpu_seconds(pids):
    """CPU time (user + system) so far of every thread of these processes.

    /proc/PID/task/TID/schedstat counts nanoseconds on the CPU, finer than
    the 10 ms ticks of /proc/PID/stat; threads that exited are lost, which
    is why the benchmark configures httpd never to stop its workers.
    """
    total = 0
    for pid in pids:
        try:
            tasks = os.listdir(f"/proc/{pid}/task")
        except OSError:
            continue
        for tid in tasks:
            try:
                with open(f"/proc/{pid}/task/{tid}/schedstat") as f:
                    total += int(f.read().split()[0])
            except OSError:
                pass
    return total / 1e9


def balancer(name, members, lbmethod):
    """A <Proxy balancer://> block; members: [(instance id, port)]."""
    lines = [f'<Proxy "balancer://{name}">']
    lines += [f'    BalancerMember "http://127.0.0.1:{port}" route={iid}'
              for iid, port in members]
    lines += [f"    ProxySet lbmethod={lbmethod}", "</Proxy>"]
    return "\n".join(lines)


def location(path, balancer_name, directives=()):
    """A <Location> proxying path to a balancer, with extra directives."""
    lines = [f'<Location "{path}">',
             f'    ProxyPass "balancer://{balancer_name}/v1/"',
             # Prompts are long: stream them to the backend rather than
             # let mod_proxy spool each one to a temporary file (README).
             "    SetEnv proxy-sendchunked 1"]
    lines += [f"    {d}" for d in directives]
    lines.append("</Location>")
    return "\n".join(lines)
