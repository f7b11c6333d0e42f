# Licensed under the Apache License, Version 2.0 (the "License"); you may not
# use this file except in compliance with the License.  You may obtain a copy
# of the License at http://www.apache.org/licenses/LICENSE-2.0
"""The emulator of vLLM and LMCache (tools/kvc_emulator.py) from the outside.

EmulatorOptions is its command line, Emulator the running process (its
ports from the ready file), EmulatorControl the client of its control API
(/_emu/..., documented in the emulator's docstring).
"""

import json
import os
import sys
from dataclasses import dataclass, field, fields
from typing import Optional

from . import client, paths, procs
from .vocab import CONTROLLER


@dataclass(frozen=True)
class EmulatorOptions:
    """An emulator's command line: a field per option, named as its flag
    (--chunk-size is chunk_size).  None (or False) leaves the emulator's
    default."""

    instances: tuple = ()          # instance ids, in this order
    # Fixed ports by role ("controller" or an instance id); the others get
    # one the kernel picks (the ready file says which).
    ports: dict = field(default_factory=dict)
    chunk_size: Optional[int] = None
    capacity_tokens: Optional[int] = None
    concurrency: Optional[int] = None
    prefill_ms_per_token: Optional[float] = None
    load_ms_per_token: Optional[float] = None
    decode_ms_per_token: Optional[float] = None
    time_scale: Optional[float] = None
    served_model: Optional[str] = None
    layout_form: Optional[str] = None
    enable_evict: bool = False
    log_file: Optional[str] = None

    def argv(self):
        args = ["--controller-port", str(self.ports.get(CONTROLLER, 0))]
        if self.instances:
            args += ["--instances",
                     ",".join(f"{iid}={self.ports.get(iid, 0)}" for iid in self.instances)]
        for option in fields(self):
            value = getattr(self, option.name)
            if option.name in ("instances", "ports") or value is None or value is False:
                continue
            flag = "--" + option.name.replace("_", "-")
            args += [flag] if value is True else [flag, str(value)]
        return args


class Emulator(procs.Process):
    """One emulator process, ready once every port listens.

    Output goes to RUN_DIR/NAME.out, the ready file is RUN_DIR/NAME.ready.
    """

    def __init__(self, run_dir, name, options):
        self.options = options
        self.control = None  # once it is ready
        ready = os.path.join(run_dir, f"{name}.ready")
        if os.path.exists(ready):  # a previous run's: its ports are stale
            os.unlink(ready)
        super().__init__(f"emulator {name}",
                         [sys.executable, paths.EMULATOR, *options.argv(),
                          "--ready-file", ready],
                         os.path.join(run_dir, f"{name}.out"))
        self.wait_ready(lambda: os.path.exists(ready))
        with open(ready) as f:
            self.ready_info = json.load(f)  # {"pid", "host", "ports"}
        self.ports = self.ready_info["ports"]
        self.control = EmulatorControl(self.ports[CONTROLLER])

    def stop(self, timeout=10):
        if self.control is not None:
            self.control.close()
        return super().stop(timeout)


class EmulatorControl:
    """The control API on one keep-alive connection; calls are never counted
    or faulted by the emulator.  Every call answers parsed JSON or raises
    client.HTTPError."""

    def __init__(self, port):
        self.conn = client.Connection(port)

    def call(self, path, body=None):
        """POST body to path, or GET path without one."""
        if body is None:
            response = self.conn.request("GET", path)
            if response.status != 200:
                raise client.HTTPError(f"emulator GET {path}", response)
            return response.json()
        return self.conn.post_json(path, body)

    def reset(self):
        """Empties counters, caches and faults; restores the command line's settings."""
        return self.call("/_emu/reset", {})

    def stats(self):
        return self.call("/_emu/stats")

    def calls(self, role, path):
        """How many ROLE:PATH calls the emulator counted since the last reset."""
        return self.stats()["calls"].get(f"{role}:{path}", 0)

    def fault(self, **spec):
        """Adds a fault: role, path, delay_ms, close, garbage, status, body, times."""
        return self.call("/_emu/fault", spec)

    def clear_faults(self):
        return self.call("/_emu/clear_faults", {})

    def config(self, **changes):
        """Changes run-time settings: layout_form, lookup_override, time_scale, ..."""
        return self.call("/_emu/config", changes)

    def instance(self, instance_id, **overrides):
        """Overrides an instance's delay_ms, kv_cache_usage, running, waiting,
        capacity_tokens; None restores one."""
        return self.call("/_emu/instance", {"id": instance_id, **overrides})

    def tokenize(self, body):
        """The token ids of a request body, as /tokenize answers them."""
        return self.call("/_emu/tokenize", body)["tokens"]

    def match(self, encoded_body):
        """Each instance's exact cached prefix of a request body (the JSON bytes
        as sent, spliced in rather than parsed again), and its load."""
        return self.call("/_emu/match", b'{"body":' + encoded_body + b"}")

    def close(self):
        self.conn.close()
