# Licensed under the Apache License, Version 2.0 (the "License"); you may not
# use this file except in compliance with the License.  You may obtain a copy
# of the License at http://www.apache.org/licenses/LICENSE-2.0
"""Processes the harness starts: wait until they are ready, stop them.

Process is any child with its output in a file (the emulator, emu.Emulator,
is one; so will a redis-server be).  Httpd runs httpd from a configuration
file (httpdconf builds the text) the way apachectl does: -k start detaches,
the pid file names the parent.
"""

import os
import random
import signal
import socket
import subprocess
import time

from . import paths
from .client import LOOPBACK


def wait_for(predicate, what, timeout=15.0):
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise RuntimeError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(0.05)


def free_ports(n):
    """n distinct free loopback ports below the kernel's ephemeral range.

    Below it, no outgoing connection can take a port while its server is
    down (the soak stops the controller's relay and starts it again).
    """
    with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
        ephemeral = int(f.read().split()[0])
    found = []
    for port in random.sample(range(max(1024, ephemeral - 12000), ephemeral), 2000):
        probe = socket.socket()
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((LOOPBACK, port))
        except OSError:
            continue
        finally:
            probe.close()
        found.append(port)
        if len(found) == n:
            return found
    raise RuntimeError(f"fewer than {n} free ports below {ephemeral}")


def listening(port):
    try:
        socket.create_connection((LOOPBACK, port), 0.2).close()
        return True
    except OSError:
        return False


def tail(path, lines=20):
    try:
        with open(path, errors="replace") as f:
            return "".join(f.readlines()[-lines:])
    except OSError:
        return ""


class Process:
    """A child process writing stdout and stderr to `output` (a path)."""

    def __init__(self, name, argv, output):
        self.name = name
        self.output = output
        with open(output, "w") as out:
            self.popen = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=out,
                                          stderr=subprocess.STDOUT)

    def wait_ready(self, ready, timeout=15.0):
        """Waits until ready() is true; fails at once if the process exits, and
        stops a process that is not ready in time."""
        try:
            wait_for(lambda: ready() or self.popen.poll() is not None, self.name, timeout)
        except RuntimeError:
            self.stop()
            raise
        if self.popen.poll() is not None:
            raise RuntimeError(f"{self.name} exited with status {self.popen.returncode}; "
                               f"the end of {self.output}:\n{tail(self.output)}")

    def stop(self, timeout=10):
        """SIGTERM, then SIGKILL after `timeout`; returns the exit status."""
        if self.popen.poll() is None:
            self.popen.send_signal(signal.SIGTERM)
            try:
                self.popen.wait(timeout)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait()
        return self.popen.returncode


def children(parent):
    """The pids of the processes whose parent is `parent`."""
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as f:
                    # The command name may hold spaces and parentheses; the
                    # fields after its closing parenthesis do not.
                    fields = f.read().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == parent:  # fields[1] is the ppid
                found.append(int(entry))
    return found


def cpu_seconds(pids):
    """CPU time (user + system) so far of every thread of these processes.

    /proc/PID/task/TID/schedstat counts nanoseconds on the CPU, finer than
    the 10 ms ticks of /proc/PID/stat; threads that exited are lost, which
    is why the benchmarks configure httpd never to stop its workers
    (httpdconf.fixed_children).
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


class Httpd:
    """One httpd with a run directory of its own: configuration, pid file, logs.

    The configuration (httpdconf.server and what follows it) must put the
    pid file and the error log where this class looks: pid_file, error_log.
    """

    def __init__(self, run_dir, name, port):
        self.name = name
        self.port = port
        self.run_dir = os.path.join(run_dir, name)
        os.makedirs(self.run_dir, exist_ok=True)
        self.conf = os.path.join(self.run_dir, "httpd.conf")
        self.pid_file = os.path.join(self.run_dir, "httpd.pid")
        self.error_log = os.path.join(self.run_dir, "error_log")
        self.binary = paths.httpd_binary()

    def configure(self, text):
        with open(self.conf, "w") as f:
            f.write(text)

    def control(self, *args):
        return subprocess.run([self.binary, "-f", self.conf, *args],
                              capture_output=True, text=True)

    def check(self):
        """(ok, message) of `httpd -t` on this configuration."""
        res = self.control("-t")
        return res.returncode == 0, (res.stderr + res.stdout).strip()

    def start(self, children=1):
        """Starts httpd; returns once it listens with `children` children."""
        if os.path.exists(self.pid_file):  # a previous run's
            os.unlink(self.pid_file)
        res = self.control("-k", "start")
        if res.returncode != 0:
            raise RuntimeError(f"httpd {self.name} did not start: {res.stderr.strip()}\n"
                               f"{tail(self.error_log)}")
        try:
            wait_for(lambda: os.path.exists(self.pid_file), f"httpd {self.name}'s pid file")
            wait_for(lambda: listening(self.port), f"httpd {self.name} to listen")
            # A CPU or memory measurement must find every child up.
            wait_for(lambda: len(self.children()) >= children,
                     f"httpd {self.name}'s children")
        except RuntimeError:
            self.stop()  # a detached server nobody would stop otherwise
            raise

    def graceful(self):
        """`httpd -k graceful`; the caller waits for what it needs of the new children."""
        res = self.control("-k", "graceful")
        if res.returncode != 0:
            raise RuntimeError(f"graceful restart of httpd {self.name} failed: "
                               f"{res.stdout}{res.stderr}")

    def parent_pid(self):
        try:
            with open(self.pid_file) as f:
                return int(f.read())
        except (OSError, ValueError):
            return None

    def children(self):
        parent = self.parent_pid()
        return children(parent) if parent else []

    def pids(self):
        """The parent and its children (the MPM's worker processes)."""
        parent = self.parent_pid()
        return [parent, *children(parent)] if parent else []

    def stop(self):
        parent = self.parent_pid()
        if parent is None:
            return
        self.control("-k", "stop")
        wait_for(lambda: not os.path.exists(f"/proc/{parent}"), f"httpd {self.name} to stop")
