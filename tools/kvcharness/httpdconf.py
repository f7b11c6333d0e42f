# Licensed under the Apache License, Version 2.0 (the "License"); you may not
# use this file except in compliance with the License.  You may obtain a copy
# of the License at http://www.apache.org/licenses/LICENSE-2.0
"""httpd configuration text for the harness's servers.

A configuration is server() (where the server keeps its files, and the
modules of tools/httpd-modules.txt) followed by the blocks of what it is
for: balancers, locations, the module's settings.  As a command, prints
server() for shell scripts (tools/sanitize-suite.sh):

    PYTHONPATH=tools python3 -m kvcharness.httpdconf [--mpm NAME] RUN_DIR NAME PORT
"""

import argparse
import os
import sys

from . import paths, procs
from .client import LOOPBACK
from .vocab import MODULE_VARIABLES


def module_list():
    """(the default MPM, [module names]) from tools/httpd-modules.txt."""
    mpm, modules = None, []
    with open(paths.MODULE_LIST) as f:
        for number, line in enumerate(f, 1):
            words = line.split("#", 1)[0].split()
            if not words:
                continue
            if len(words) != 2 or words[0] not in ("mpm", "module"):
                raise ValueError(f"{paths.MODULE_LIST}:{number}: expected "
                                 f"'mpm NAME' or 'module NAME', got {line.strip()!r}")
            if words[0] == "mpm":
                mpm = words[1]
            else:
                modules.append(words[1])
    return mpm, modules


def load_modules(mpm=None):
    """LoadModule lines: the MPM (the listed one unless `mpm` names another),
    the listed modules, then mod_kvcache from this tree's build."""
    listed_mpm, modules = module_list()
    lines = [f'LoadModule {name}_module "{paths.modules_dir()}/mod_{name}.so"'
             for name in [f"mpm_{mpm or listed_mpm}", *modules]]
    lines.append(f'LoadModule kvcache_module "{paths.MODULE}"')
    return "\n".join(lines)


def server(httpd, mpm=None, log_level="warn"):
    """Everything a procs.Httpd keeps in its run directory, and the modules."""
    run = httpd.run_dir
    return f"""\
ServerRoot "{run}"
ServerName localhost
Listen {LOOPBACK}:{httpd.port}
PidFile "{httpd.pid_file}"
ErrorLog "{httpd.error_log}"
LogLevel {log_level}
DefaultRuntimeDir "{run}"
Mutex file:{run} default

{load_modules(mpm)}
"""


def fixed_children(children, threads_per_child, server_limit=None):
    """mpm_event settings that start `children` processes at once and never
    stop or replace one, so that CPU time and memory read from /proc cover
    the same processes for the whole run.  server_limit above `children`
    leaves room for the old generation during a graceful restart."""
    workers = children * threads_per_child
    return f"""\
StartServers {children}
ServerLimit {server_limit or children}
ThreadsPerChild {threads_per_child}
MaxRequestWorkers {workers}
MinSpareThreads 1
MaxSpareThreads {workers}
MaxConnectionsPerChild 0
"""


def module_headers(*headers):
    """Response headers that show the module's decision to the client:
    `headers` (vocab.DECISION_HEADER, ...), or all of vocab.MODULE_VARIABLES."""
    return "\n".join(f'Header always set {header} "%{{{variable}}}e" env={variable}'
                     for header, variable in MODULE_VARIABLES.items()
                     if not headers or header in headers) + "\n"


def kvcache_log(path):
    """An access log of every request's routing (README "Configuration")."""
    return (f'LogFormat "\\"%r\\" %>s route=%{{KVCACHE_ROUTE}}e '
            "matched=%{KVCACHE_MATCHED_TOKENS}e prompt=%{KVCACHE_PROMPT_TOKENS}e "
            'decision=%{KVCACHE_DECISION}e %Dus" kvcache\n'
            f'CustomLog "{path}" kvcache\n')


def upstreams(tokenize_port, controller_port):
    """Where the module tokenizes (a vLLM instance) and looks up (LMCache)."""
    return (f"KVCacheVLLMEndpoint http://{LOOPBACK}:{tokenize_port}\n"
            f"KVCacheLMCacheEndpoint http://{LOOPBACK}:{controller_port}\n")


def balancer(name, members, lbmethod):
    """A <Proxy balancer://NAME> block; members: [(instance id, port)]."""
    lines = [f'<Proxy "balancer://{name}">']
    lines += [f'    BalancerMember "http://{LOOPBACK}:{port}" route={iid}'
              for iid, port in members]
    lines += [f"    ProxySet lbmethod={lbmethod}", "</Proxy>"]
    return "\n".join(lines) + "\n"


def location(path, balancer_name, directives=()):
    """A <Location PATH> proxying to the balancer's /v1/, with directives."""
    lines = [f'<Location "{path}">', f'    ProxyPass "balancer://{balancer_name}/v1/"']
    lines += [f"    {d}" for d in directives]
    lines.append("</Location>")
    return "\n".join(lines) + "\n"


def handler(path, name):
    """A <Location PATH> answered by handler NAME (kvcache-status, ...)."""
    return f'<Location "{path}">\n    SetHandler {name}\n</Location>\n'


def kvcache_front(httpd, members, tokenize_port, controller_port, default_model):
    """The module in front of instances, as the demo and the soak run it: its
    upstreams, balancer "llm" (lbmethod=kvcache) over `members` routed on
    /v1/, every decision in the response headers and in RUN_DIR/kvcache_log."""
    return "\n".join([upstreams(tokenize_port, controller_port),
                      f"KVCacheDefaultModel {default_model}\n",
                      kvcache_log(os.path.join(httpd.run_dir, KVCACHE_LOG)),
                      module_headers(),
                      balancer("llm", members, "kvcache"),
                      location("/v1/", "llm", ("KVCacheEnable On",))])


KVCACHE_LOG = "kvcache_log"  # kvcache_front's, in the server's run directory

# Bodies over 16 KiB are spooled to a temporary file by mod_proxy unless
# streamed chunked to the backend (README "Configuration").
STREAM_BODIES = "SetEnv proxy-sendchunked 1"


def main(argv=None):
    parser = argparse.ArgumentParser(description="Prints server() for RUN_DIR/NAME.")
    parser.add_argument("--mpm", help="instead of the listed MPM")
    parser.add_argument("run_dir")
    parser.add_argument("name")
    parser.add_argument("port", type=int)
    args = parser.parse_args(argv)
    sys.stdout.write(server(procs.Httpd(args.run_dir, args.name, args.port), args.mpm))
    return 0


if __name__ == "__main__":
    sys.exit(main())
