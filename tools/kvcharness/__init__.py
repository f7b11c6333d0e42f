# Licensed under the Apache License, Version 2.0 (the "License"); you may not
# use this file except in compliance with the License.  You may obtain a copy
# of the License at http://www.apache.org/licenses/LICENSE-2.0
"""The harness of mod_kvcache's demo, benchmarks, soak and emulator tests.

Standard library only, for Debian's /usr/bin/python3, but for plot
(Debian's python3-matplotlib).  Everything runs on
loopback as the calling (unprivileged) user.  Callers put tools/ on
sys.path (scripts in tools/ have it already) and import the modules they
need; each module uses only those listed above it:

  paths      where things are in this tree; httpd's directories (apxs)
  vocab      names shared with the module's configuration and the emulator
  client     the HTTP client: Response, keep-alive Connection, request()
  procs      child processes (start, wait until ready, stop), httpd, CPU time
  emu        the emulator: its options, its process, its control API
  httpdconf  httpd configuration text; the modules of tools/httpd-modules.txt
  workloads  deterministic request streams: multi-round chat, shared prefixes
  replay     sending a stream on its schedule; what each request got (Outcome)
  report     progress lines, percentiles, goals
  plot       pictures of a policy comparison (python3-matplotlib, Agg)
"""
